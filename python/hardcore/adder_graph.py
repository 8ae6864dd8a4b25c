"""Adder graphs: shift/add/sub networks that compute y = W·x exactly.

An `AdderGraph` is the one representation every weight-folding algorithm
produces (per-weight canonical signed digits, shared-subexpression CMVM
solvers) and that `hardcore-fold-weights` turns into scalar DAG ops.

Values are numbered: 0 .. n_inputs-1 are the inputs x_j, and value
n_inputs + k is node k.  Node k computes

    v[n_inputs + k] = (v[a] << a_shift) + sign * (v[b] << b_shift)

with a_shift, b_shift >= 0 and sign in {+1, -1}; each node is one adder
(or subtractor).  Output i is `None` (the row of W is zero) or a triple
(value, shift, sign) meaning y_i = sign * (v[value] << shift).  Shifts and
signs on outputs are free: wires, or folded into the bias adder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

__all__ = ["AdderNode", "AdderGraph", "signed_width", "input_range"]


def signed_width(lo: int, hi: int) -> int:
    """Narrowest two's complement width holding every integer in [lo, hi]."""
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def input_range(bits: int, signed: bool) -> tuple[int, int]:
    """The integer range of a `bits`-wide input."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


@dataclass(frozen=True)
class AdderNode:
    a: int
    a_shift: int
    b: int
    b_shift: int
    sign: int  # +1: add, -1: subtract the b operand


@dataclass
class AdderGraph:
    n_inputs: int
    nodes: list[AdderNode] = field(default_factory=list)
    outputs: list[Optional[tuple[int, int, int]]] = field(default_factory=list)

    # -- structure ---------------------------------------------------------
    @property
    def adders(self) -> int:
        return len(self.nodes)

    def value_depths(self) -> list[int]:
        depths = [0] * self.n_inputs
        for node in self.nodes:
            depths.append(1 + max(depths[node.a], depths[node.b]))
        return depths

    @property
    def depth(self) -> int:
        depths = self.value_depths()
        return max((depths[o[0]] for o in self.outputs if o is not None), default=0)

    def coefficients(self) -> list[dict[int, int]]:
        """Each value as an exact sparse linear form {input j: coefficient}."""
        forms: list[dict[int, int]] = [{j: 1} for j in range(self.n_inputs)]
        for node in self.nodes:
            form = {j: c << node.a_shift for j, c in forms[node.a].items()}
            for j, c in forms[node.b].items():
                form[j] = form.get(j, 0) + node.sign * (c << node.b_shift)
            forms.append({j: c for j, c in form.items() if c != 0})
        return forms

    def matrix(self) -> np.ndarray:
        """The integer matrix this graph computes (object dtype, exact)."""
        forms = self.coefficients()
        result = np.zeros((len(self.outputs), self.n_inputs), dtype=object)
        for i, out in enumerate(self.outputs):
            if out is None:
                continue
            value, shift, sign = out
            for j, c in forms[value].items():
                result[i, j] = sign * (c << shift)
        return result

    def value_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Exact range of every value, given independent input ranges.

        Each value is a linear form in the inputs, so its extremes are the sums
        of each term's extremes: tighter than interval arithmetic on the
        nodes (x - x is 0, not [lo-hi, hi-lo]).
        """
        result = []
        for form in self.coefficients():
            lo = hi = 0
            for j, c in form.items():
                a, b = c * ranges[j][0], c * ranges[j][1]
                lo += min(a, b)
                hi += max(a, b)
            result.append((lo, hi))
        return result

    def adder_bits(self, input_bits: int = 8, signed: bool = True) -> int:
        """Sum over adders of the width of each adder's result."""
        ranges = self.value_ranges([input_range(input_bits, signed)] * self.n_inputs)
        return sum(signed_width(*r) for r in ranges[self.n_inputs:])

    # -- evaluation --------------------------------------------------------
    def evaluate(self, X) -> np.ndarray:
        """y = W·X for X of shape (n_inputs, batch), exact (object ints)."""
        X = np.asarray(X, dtype=object)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[0] != self.n_inputs:
            raise ValueError(f"expected {self.n_inputs} input rows, got {X.shape[0]}")
        values = [X[j] for j in range(self.n_inputs)]
        for node in self.nodes:
            values.append((values[node.a] * (1 << node.a_shift))
                          + node.sign * (values[node.b] * (1 << node.b_shift)))
        zero = np.zeros(X.shape[1], dtype=object)
        rows = []
        for out in self.outputs:
            if out is None:
                rows.append(zero)
            else:
                value, shift, sign = out
                rows.append(sign * values[value] * (1 << shift))
        return np.array(rows, dtype=object).reshape(len(self.outputs), X.shape[1])
