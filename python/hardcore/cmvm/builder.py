"""The graph under construction (`_Builder`), rows merged up to sign and shift, and minimal-depth sums of terms."""

from __future__ import annotations

import heapq

import numpy as np

from hardcore.adder_graph import AdderNode

class _Infeasible(Exception):
    """A plan cannot meet the depth budget."""


class _Builder:
    """The graph under construction: nodes, and each value's depth and magnitude bound."""

    def __init__(self, n_inputs: int, magnitudes: list[int]):
        self.n_inputs = n_inputs
        self.nodes: list[AdderNode] = []
        self.depth = [0] * n_inputs
        self.magnitude = list(magnitudes)

    def add(self, a: int, a_shift: int, b: int, b_shift: int, sign: int) -> int:
        self.nodes.append(AdderNode(a, a_shift, b, b_shift, sign))
        self.depth.append(1 + max(self.depth[a], self.depth[b]))
        self.magnitude.append((self.magnitude[a] << a_shift) + (self.magnitude[b] << b_shift))
        return self.n_inputs + len(self.nodes) - 1

    def width_sum(self) -> int:
        return sum(m.bit_length() + 1 for m in self.magnitude[self.n_inputs:])


def _canonical_rows(W: np.ndarray):
    """Rows equal up to sign and a power of two, merged.

    Returns (unique canonical rows, index of each row's canonical row or -1
    for a zero row, (shift, sign) with row = sign * (canonical << shift)).
    """
    index: dict[bytes, int] = {}
    unique: list[np.ndarray] = []
    row_of, scale = [], []
    for row in W:
        nonzero = row[row != 0]
        if nonzero.size == 0:
            row_of.append(-1)
            scale.append((0, 1))
            continue
        shift = min(_trailing_zeros(int(v)) for v in nonzero)
        sign = 1 if nonzero[0] > 0 else -1
        canonical = (row >> shift) * sign
        key = canonical.tobytes()
        if key not in index:
            index[key] = len(unique)
            unique.append(canonical)
        row_of.append(index[key])
        scale.append((shift, sign))
    matrix = np.array(unique, dtype=np.int64).reshape(len(unique), W.shape[1])
    return matrix, row_of, scale


def _trailing_zeros(v: int) -> int:
    return (v & -v).bit_length() - 1


def _expand_rows(canonical_outputs: list, row_of: list[int], scale: list) -> list:
    outputs = []
    for index, (row_shift, row_sign) in zip(row_of, scale):
        out = canonical_outputs[index] if index >= 0 else None
        if out is None:
            outputs.append(None)
        else:
            value, shift, sign = out
            outputs.append((value, shift + row_shift, sign * row_sign))
    return outputs


# -- final adder trees ---------------------------------------------------------


def _sum_rows(builder: _Builder, input_planes: np.ndarray, new_terms: list[dict],
              values: list[int]) -> list:
    """Sum each row's remaining terms with a minimal-depth tree; returns output triples.

    input_planes: (n, rows, S) digits of the inputs still in each row;
    new_terms[r]: {local value: {shift: sign}} of the adder values still in
    row r; values maps local value numbers to the builder's.  Trees join the
    two shallowest terms first (least depth); among equal depths the two
    lowest-shifted, so operands are aligned and adders narrow.
    """
    n_rows = input_planes.shape[1]
    js, rs, ss = np.nonzero(input_planes)
    signs = input_planes[js, rs, ss]
    per_row: list[list] = [[] for _ in range(n_rows)]
    depth = builder.depth
    for j, r, s, g in zip(js.tolist(), rs.tolist(), ss.tolist(), signs.tolist()):
        value = values[j]
        per_row[r].append((depth[value], s, value, g))
    outputs = []
    for r in range(n_rows):
        terms = per_row[r]
        for local, shifts in new_terms[r].items():
            value = values[local]
            for s, g in shifts.items():
                terms.append((depth[value], s, value, g))
        outputs.append(_sum_terms(builder, terms))
    return outputs


def _sum_terms(builder: _Builder, terms: list):
    if not terms:
        return None
    heapq.heapify(terms)
    while len(terms) > 1:
        depth_a, shift_a, a, sign_a = heapq.heappop(terms)
        depth_b, shift_b, b, sign_b = heapq.heappop(terms)
        if sign_a < 0 < sign_b:  # a - b rather than -a + b
            shift_a, a, sign_a, shift_b, b, sign_b = shift_b, b, sign_b, shift_a, a, sign_a
        common = min(shift_a, shift_b)
        value = builder.add(a, shift_a - common, b, shift_b - common, sign_a * sign_b)
        heapq.heappush(terms, (builder.depth[value], common, value, sign_a))
    _, shift, value, sign = terms[0]
    return (value, shift, sign)
