"""Adder graphs: shift/add/sub networks that compute y = W·x exactly.

An `AdderGraph` is the one representation every weight-folding algorithm
produces (per-weight canonical signed digits, shared-subexpression CMVM
solvers) and that `hardcore-fold-weights` turns into scalar DAG ops.

Values are numbered: 0 .. n_inputs-1 are the inputs x_j, and value
n_inputs + k is node k.  Node k computes

    v[n_inputs + k] = (v[a] << a_shift) + sign * (v[b] << b_shift)

with a_shift, b_shift >= 0 and sign in {+1, -1}; each node is one adder
(or subtractor).  Output i is `None` (the row of W is zero) or a triple
(value, shift, sign) meaning y_i = sign * (v[value] << shift).  Shifts on
outputs are wires.  A negative sign is free only where an adder follows that
absorbs it (a bias or rounding constant c: c - v costs what c + v does);
elsewhere it is a negation, one adder per negated (value, shift):
`negations(free_rows)` counts them, `adders_with_negations(free_rows)` adds
them to the adders.

A graph may carry the widths of its inputs (`input_bits`, `signed`), as the
CMVM solver's graphs do; `adder_bits` then costs it at those widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

__all__ = ["AdderNode", "AdderGraph", "signed_width", "input_range"]


def signed_width(lo: int, hi: int) -> int:
    """Narrowest two's complement width holding every integer in [lo, hi] (w bits hold -2^(w-1) .. 2^(w-1) - 1)."""
    lo, hi = math.floor(lo), math.ceil(hi)
    return 1 + max((~lo).bit_length() if lo < 0 else 0, hi.bit_length() if hi >= 0 else 0)


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
    # Input widths the graph is costed at: None means 8 bits each.
    input_bits: Optional[tuple[int, ...]] = None
    signed: bool = True

    # -- structure ---------------------------------------------------------
    @property
    def adders(self) -> int:
        return len(self.nodes)

    def negations(self, free_rows: Sequence[int] = ()) -> int:
        """Negation adders the outputs need: one per negated (value, shift) of a row not in free_rows."""
        free = set(free_rows)
        return len({(o[0], o[1]) for i, o in enumerate(self.outputs)
                    if o is not None and o[2] < 0 and i not in free})

    def adders_with_negations(self, free_rows: Sequence[int] = ()) -> int:
        """Adders plus the output negations not absorbed by a following adder (see `negations`)."""
        return self.adders + self.negations(free_rows)

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
        lows = [int(r[0]) for r in ranges]
        highs = [int(r[1]) for r in ranges]
        result = [(lo, hi) for lo, hi in zip(lows, highs)]
        if not self.nodes:
            return result
        input_bound = max(map(abs, lows + highs), default=0)
        node_ranges = self._node_ranges_int64(lows, highs, input_bound)
        if node_ranges is None:  # coefficients too wide for int64: exact Python ints
            for form in self.coefficients()[self.n_inputs:]:
                lo = hi = 0
                for j, c in form.items():
                    a, b = c * lows[j], c * highs[j]
                    lo += min(a, b)
                    hi += max(a, b)
                result.append((lo, hi))
            return result
        result.extend(node_ranges)
        return result

    def _node_ranges_int64(self, lows, highs, input_bound) -> Optional[list[tuple[int, int]]]:
        """Node ranges from dense int64 linear forms, or None if they could overflow.

        Nodes of equal depth are built together, and the inputs are taken in
        column blocks (linearity), so time and memory stay near-linear.
        """
        n_in, n_nodes = self.n_inputs, len(self.nodes)
        a = np.fromiter((nd.a for nd in self.nodes), np.int64, n_nodes)
        b = np.fromiter((nd.b for nd in self.nodes), np.int64, n_nodes)
        a_shift = np.fromiter((nd.a_shift for nd in self.nodes), np.int64, n_nodes)
        b_shift = np.fromiter((nd.b_shift for nd in self.nodes), np.int64, n_nodes)
        sign = np.fromiter((nd.sign for nd in self.nodes), np.int64, n_nodes)
        # |coefficient| of a value is at most the sum of its operands' bounds.
        bounds = [1] * n_in
        limit = (1 << 62) // max(1, input_bound * max(1, n_in))
        for nd in self.nodes:
            bound = (bounds[nd.a] << nd.a_shift) + (bounds[nd.b] << nd.b_shift)
            if bound > limit:
                return None
            bounds.append(bound)
        depths = np.array(self.value_depths(), dtype=np.int64)
        node_depths = depths[n_in:]
        order = np.argsort(node_depths, kind="stable")
        levels = np.split(order, np.flatnonzero(np.diff(node_depths[order])) + 1)
        node_lows = np.zeros(n_nodes, dtype=np.int64)
        node_highs = np.zeros(n_nodes, dtype=np.int64)
        block = max(1, min(n_in, (1 << 23) // max(1, n_in + n_nodes)))
        for start in range(0, n_in, block):
            stop = min(n_in, start + block)
            forms = np.zeros((n_in + n_nodes, stop - start), dtype=np.int64)
            forms[start:stop] = np.eye(stop - start, dtype=np.int64)
            for level in levels:
                forms[n_in + level] = ((forms[a[level]] << a_shift[level, None])
                                       + sign[level, None] * (forms[b[level]] << b_shift[level, None]))
            low_vec = np.array(lows[start:stop], dtype=np.int64)
            high_vec = np.array(highs[start:stop], dtype=np.int64)
            at_low, at_high = forms[n_in:] * low_vec, forms[n_in:] * high_vec
            node_lows += np.minimum(at_low, at_high).sum(axis=1)
            node_highs += np.maximum(at_low, at_high).sum(axis=1)
        return list(zip(map(int, node_lows), map(int, node_highs)))

    def input_ranges(self, input_bits=None, signed: Optional[bool] = None) -> list[tuple[int, int]]:
        """Each input's range at `input_bits` (an int or one per input; default: the graph's)."""
        if input_bits is None:
            input_bits = self.input_bits if self.input_bits is not None else 8
        if signed is None:
            signed = self.signed
        if isinstance(input_bits, (int, np.integer)):
            input_bits = [int(input_bits)] * self.n_inputs
        if len(input_bits) != self.n_inputs:
            raise ValueError(f"expected {self.n_inputs} input widths, got {len(input_bits)}")
        return [input_range(int(bits), signed) for bits in input_bits]

    def adder_bits_at(self, input_bits: Union[int, Sequence[int]] = 8, signed: bool = True) -> int:
        """Sum over adders of the width of each adder's result, at the given input widths."""
        ranges = self.value_ranges(self.input_ranges(input_bits, signed))
        return sum(signed_width(*r) for r in ranges[self.n_inputs:])

    @property
    def adder_bits(self) -> int:
        """Sum over adders of the width of each adder's result, at the graph's input widths."""
        return self.adder_bits_at(8 if self.input_bits is None else self.input_bits, self.signed)

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
