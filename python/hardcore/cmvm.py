"""Constant matrix-vector products (CMVM) as shared shift/add adder graphs.

`solve(W, input_bits, signed, max_depth)` turns an integer matrix W (m×n)
into an `AdderGraph` computing y = W·x exactly, with shifts and add/sub only.

Two algorithms:

- ``"csd"``: each nonzero weight's canonical-signed-digit (CSD) digits become
  shifted copies of its input, each row's terms are summed by an adder tree of
  minimal depth.  Nothing is shared; this is the baseline.
- ``"cse"`` (default): common-subexpression elimination over the whole matrix.
  Every row is the set of its CSD terms ``±(x_j << s)``.  A *pattern* is a
  pair of terms at a relative shift and sign, ``x_a ± (x_b << d)``; the
  solver repeatedly builds the pattern that occurs most often across all rows
  as one adder, substitutes it everywhere (non-overlapping), and lets the new
  value take part in later patterns.  Each extraction of a pattern found c
  times saves c - 1 adders.  The loop is a lazy greedy: counts only ever
  fall, so a stale count is an upper bound and only the pattern at the top
  of the queue is ever recounted.  Patterns of two inputs are counted all at
  once with matrix products (cross-correlations of the digit planes);
  patterns of a new value are counted when the value could hold the best
  pattern.  A depth bound is exact: a row whose remaining terms have depths
  d_i can be summed within depth D iff sum 2^d_i <= 2^D (Kraft), so a
  substitution is taken only where it keeps that true.  See docs/cmvm.md.

Rows that are equal up to sign and a power of two share one value (output
shifts and signs are free).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from typing import Optional, Sequence, Union

import numpy as np

from hardcore.adder_graph import AdderGraph, AdderNode

__all__ = ["solve", "ALGORITHMS", "csd_planes", "min_depth"]

ALGORITHMS = ("cse", "csd")
# Path bounds tried for the row-difference plan (see _difference_tree).
DIFFERENCE_PATHS = (2, 3, 4, 6, 8, 16, 1 << 30)

# Weights beyond this magnitude would overflow the int64 digit recoding.
_MAX_WEIGHT = 1 << 62
# An expansion materializes the patterns whose count is at least this
# fraction of the current best; the rest wait behind a placeholder.
_EXPAND_FRACTION = 0.5
# A recount of input pairs materializes counts down to this fraction of the best.
_RECOUNT_FRACTION = 0.5

import os
_DEBUG = bool(os.environ.get("CMVM_DEBUG"))

# Queue entry kinds: a placeholder (patterns of a value not yet counted) pops
# before a pattern of equal count, so no pattern is missed.
_PLACEHOLDER, _PATTERN = 0, 1


def csd_planes(values: np.ndarray) -> np.ndarray:
    """CSD digits of an int64 array: shape values.shape + (S,), entries in {-1, 0, 1}."""
    values = np.array(values, dtype=np.int64)
    planes = []
    while np.any(values):
        odd = (values & 1).astype(bool)
        digit = np.where(odd, 2 - (values & 3), 0)
        planes.append(digit.astype(np.int8))
        values = (values - digit) >> 1
    if not planes:
        return np.zeros(values.shape + (1,), dtype=np.int8)
    return np.stack(planes, axis=-1)


def min_depth(W) -> int:
    """The least adder depth any shift/add graph computing W·x can have.

    A sum of k signed shifted inputs needs ceil(log2 k) levels, and the CSD
    digit count is the fewest such terms any row needs (each adder at most
    doubles the nonzero digits of a linear form's coefficients).
    """
    W = _as_int_matrix(W)
    if W.size == 0:
        return 0
    digits = np.count_nonzero(csd_planes(W), axis=(1, 2))
    return max((_ceil_log2(int(k)) for k in digits), default=0)


def solve(W, input_bits: Union[int, Sequence[int]] = 8, signed: bool = True,
          max_depth: Optional[int] = None, algorithm: str = "cse") -> AdderGraph:
    """An adder graph computing y = W·x exactly, for x of the given widths.

    W: integer matrix (m×n).  input_bits: the width of every input, or one
    width per input.  max_depth: the most adders on any input-to-output path
    (None: unbounded).  The returned graph carries `input_bits` and `signed`,
    so `graph.adder_bits` is its cost at those widths.
    """
    W = _as_int_matrix(W)
    m, n = W.shape
    if isinstance(input_bits, (int, np.integer)):
        bits = (int(input_bits),) * n
    else:
        bits = tuple(int(b) for b in input_bits)
        if len(bits) != n:
            raise ValueError(f"input_bits has {len(bits)} widths for {n} inputs")
    if any(b < 1 for b in bits):
        raise ValueError("input widths must be at least 1 bit")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
    if max_depth is not None:
        if max_depth < 0:
            raise ValueError(f"max_depth must be >= 0, got {max_depth}")
        _check_depth_feasible(W, max_depth)

    magnitudes = [(1 << (b - 1)) if signed else (1 << b) - 1 for b in bits]
    if algorithm == "csd":
        builder = _Builder(n, magnitudes)
        outputs = _sum_rows(builder, csd_planes(W).transpose(1, 0, 2), [dict() for _ in range(m)],
                            list(range(n)))
    else:
        builder, outputs = _best_plan(W, magnitudes, max_depth)
    return AdderGraph(n_inputs=n, nodes=builder.nodes, outputs=outputs,
                      input_bits=bits, signed=bool(signed))


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


def _best_plan(W: np.ndarray, magnitudes: list[int], max_depth: Optional[int]):
    """Try the direct CSE and row-difference plans; keep the one with fewest adders."""
    n = W.shape[1]
    best = None
    for plan in _plans(W):
        builder = _Builder(n, magnitudes)
        try:
            outputs = plan(builder, max_depth)
        except _Infeasible:
            continue
        score = (len(builder.nodes), builder.width_sum())
        if _DEBUG:
            print("plan", getattr(plan, "label", "direct"), score, flush=True)
        if best is None or score < best[0]:
            best = (score, builder, outputs)
    return best[1], best[2]


def _plans(W: np.ndarray):
    """Candidate constructions, each a function (builder, max_depth) -> outputs."""
    yield lambda builder, max_depth: _cse_rows(builder, W, list(range(W.shape[1])), max_depth)
    canonical, row_of, scale = _canonical_rows(W)
    if canonical.shape[0] < 3:
        return
    for max_path in DIFFERENCE_PATHS:
        parent, sign, path = _difference_tree(canonical, max_path)
        if not np.any(parent >= 0):
            continue

        def plan(builder, max_depth, parent=parent, sign=sign, path=path):
            outputs = _two_stage(builder, canonical, parent, sign, path, max_depth)
            return _expand_rows(outputs, row_of, scale)
        plan.label = f"path<={max_path} (max {path.max()}, roots {np.sum(parent < 0)})"
        yield plan
        if path.max() < max_path:
            break  # a looser bound gives the same tree


# -- input checks and row canonicalization -------------------------------------

def _as_int_matrix(W) -> np.ndarray:
    array = np.asarray(W)
    if array.ndim != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {array.shape}")
    if array.dtype == object or array.dtype.kind == "f":
        as_int = np.array([[int(v) for v in row] for row in array.tolist()], dtype=object)
        if array.size and np.any(as_int != array):
            raise ValueError("W must hold integers")
        array = as_int
    elif array.dtype.kind not in "iub":
        raise ValueError(f"W must hold integers, got dtype {array.dtype}")
    if array.size and max(abs(int(v)) for v in array.ravel().tolist()) >= _MAX_WEIGHT:
        raise ValueError("weights must be smaller than 2**62 in magnitude")
    return array.astype(np.int64)


def _ceil_log2(k: int) -> int:
    return (k - 1).bit_length() if k > 1 else 0


def _check_depth_feasible(W: np.ndarray, max_depth: int) -> None:
    digits = np.count_nonzero(csd_planes(W), axis=(1, 2)) if W.size else np.zeros(W.shape[0], int)
    for row, k in enumerate(digits.tolist()):
        if _ceil_log2(k) > max_depth:
            raise ValueError(f"max_depth={max_depth} is infeasible: row {row} has {k} canonical "
                             f"signed digits and needs adder depth >= {_ceil_log2(k)}")


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


# -- plans: direct CSE, and CSE on row differences --------------------------------

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


def _cse_rows(builder: _Builder, matrix: np.ndarray, input_values: list[int],
              max_depth: Optional[int]) -> list:
    """CSE of y = matrix · v[input_values] into builder; output triples per row."""
    canonical, row_of, scale = _canonical_rows(matrix)
    depths = [builder.depth[v] for v in input_values]
    magnitudes = [builder.magnitude[v] for v in input_values]
    solver = _PairCse(canonical, depths, magnitudes, max_depth)
    solver.run()
    return _expand_rows(solver.export(builder, input_values), row_of, scale)


def _naf_weight(values: np.ndarray) -> np.ndarray:
    """Number of nonzero canonical signed digits of each int64."""
    a = np.abs(values)
    half = a >> 1
    return np.bitwise_count(half ^ (a + half))


def _difference_tree(rows: np.ndarray, max_path: int):
    """A spanning tree over the rows: each row is its parent's row ± a cheap difference.

    Prim's algorithm from a virtual zero row; a row's cost is the CSD digit
    count of its difference with its parent (plus one adder to add the parent
    back), or of itself at the root.  No root-to-row path holds more than
    max_path rows, which bounds the second stage's depth.
    Returns (parent or -1, sign of the parent's row, path length) per row.
    """
    k = rows.shape[0]
    weights = _naf_weight(rows).sum(axis=1)
    best_cost = weights.astype(np.int64)
    best_parent = np.full(k, -1)
    best_sign = np.ones(k, dtype=np.int64)
    in_tree = np.zeros(k, dtype=bool)
    parent = np.full(k, -1)
    sign = np.ones(k, dtype=np.int64)
    path = np.zeros(k, dtype=np.int64)
    for _ in range(k):
        i = int(np.argmin(np.where(in_tree, np.iinfo(np.int64).max, best_cost)))
        in_tree[i] = True
        parent[i], sign[i] = best_parent[i], best_sign[i]
        path[i] = 1 if parent[i] < 0 else path[parent[i]] + 1
        if path[i] >= max_path:
            continue
        minus = _naf_weight(rows - rows[i]).sum(axis=1) + 1
        plus = _naf_weight(rows + rows[i]).sum(axis=1) + 1
        cost = np.minimum(minus, plus)
        better = ~in_tree & (cost < best_cost)
        best_cost[better] = cost[better]
        best_parent[better] = i
        best_sign[better] = np.where(minus <= plus, 1, -1)[better]
    return parent, sign, path


def _two_stage(builder: _Builder, rows: np.ndarray, parent: np.ndarray, sign: np.ndarray,
               path: np.ndarray, max_depth: Optional[int]) -> list:
    """Rows as differences along a tree: z = M0·x by CSE, then y = M1·z by CSE."""
    k, n = rows.shape
    differences = rows.copy()
    has_parent = parent >= 0
    differences[has_parent] -= sign[has_parent, None] * rows[parent[has_parent]]
    stage0_depth = None
    if max_depth is not None:
        stage0_depth = max_depth - _ceil_log2(int(path.max()))
        if stage0_depth < 0 or min_depth(differences) > stage0_depth:
            raise _Infeasible
    z = _cse_rows(builder, differences, list(range(n)), stage0_depth)
    # y_i = z_i + sign_i * y_parent(i): the path's z's, each z a shifted, signed value
    order = np.argsort(path, kind="stable")
    paths: list[dict] = [dict() for _ in range(k)]
    for i in order.tolist():
        if parent[i] >= 0:
            paths[i] = {j: sign[i] * c for j, c in paths[parent[i]].items()}
        paths[i][i] = 1
    columns: dict[int, int] = {}
    entries = []
    for i in range(k):
        row: dict[int, int] = {}
        for j, c in paths[i].items():
            value, shift, z_sign = z[j]
            col = columns.setdefault(value, len(columns))
            row[col] = row.get(col, 0) + int(c) * z_sign * (1 << shift)
        entries.append(row)
    stage1 = np.zeros((k, len(columns)), dtype=np.int64)
    for i, row in enumerate(entries):
        for col, c in row.items():
            stage1[i, col] = c
    if max_depth is not None:
        depth_of = {v: builder.depth[v] for v in columns}
        for i in range(k):
            digits = [(depth_of[v], int(_naf_weight(np.array([stage1[i, c]]))[0]))
                      for v, c in columns.items() if stage1[i, c]]
            if sum(count << d for d, count in digits) > (1 << max_depth):
                raise _Infeasible
    return _cse_rows(builder, stage1, list(columns), max_depth)


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


# -- the pair-pattern CSE ------------------------------------------------------

def _tie(depth, width, overlap, a, b, d):
    """Order among patterns of equal count (smaller first); works on arrays too."""
    return -b, -a


class _PairCse:
    """Lazy greedy extraction of the most frequent two-term pattern.

    Values: 0..n-1 are the inputs, n.. the adders built so far.  A pattern
    key is (a, b, d, sign) with a <= b: the terms x_a << s and sign·x_b << (s+d)
    (d > 0 when a == b).  Inputs' digits live in a dense int8 array
    `planes[j, row, shift]`; adder values' terms in per-row dicts.
    """

    def __init__(self, matrix: np.ndarray, depths: list[int], magnitudes: list[int],
                 max_depth: Optional[int]):
        self.n = matrix.shape[1]
        self.m = matrix.shape[0]
        planes = csd_planes(matrix) if matrix.size else np.zeros((self.m, self.n, 1), np.int8)
        self.S = planes.shape[2]
        self.planes = np.ascontiguousarray(planes.transpose(1, 0, 2))  # (n, m, S)
        self.max_depth = max_depth
        self.depth_budget = None if max_depth is None else 1 << max_depth
        # Kraft sum of each row: sum over its terms of 2^depth.
        weights = np.array([1 << d for d in depths], dtype=np.int64)
        digits = np.count_nonzero(self.planes, axis=2)  # (n, m)
        self.kraft = (weights @ digits).tolist() if self.n else [0] * self.m
        if self.depth_budget is not None and max(self.kraft, default=0) > self.depth_budget:
            raise _Infeasible
        self.new_terms: list[dict] = [dict() for _ in range(self.m)]
        # per value (None for inputs): {row: number of its terms in that row}
        self.occ: list[Optional[dict]] = [None] * self.n
        self.occ_total: list[int] = [0] * self.n
        self.depth = list(depths)
        self.magnitude = list(magnitudes)
        self.nodes: list[AdderNode] = []
        self.heap: list = []
        self.stream: list = []
        self.stream_pos = 0
        self.stream_threshold = math.inf  # input pairs counted >= this are materialized

    # priority of a pattern: (-count, kind, tie-break, tie-break, key)
    def _entry(self, count, a, b, d, sign):
        depth = max(self.depth[a], self.depth[b])
        width = max(self.magnitude[a] << max(0, -d), self.magnitude[b] << max(0, d)).bit_length()
        overlap = min(self.magnitude[a], self.magnitude[b]).bit_length()
        t1, t2 = _tie(depth, width, overlap, a, b, d)
        return (-count, _PATTERN, t1, t2, a, b, d, sign)

    def _top(self):
        heap_top = self.heap[0] if self.heap else None
        stream_top = self.stream[self.stream_pos] if self.stream_pos < len(self.stream) else None
        if stream_top is None:
            return heap_top, False
        if heap_top is None or stream_top < heap_top:
            return stream_top, True
        return heap_top, False

    def _pop(self, from_stream: bool):
        if from_stream:
            entry = self.stream[self.stream_pos]
            self.stream_pos += 1
            return entry
        return heapq.heappop(self.heap)

    def _best_count(self) -> int:
        top, _ = self._top()
        return -top[0] if top is not None else 0

    def _unmaterialized_bound(self) -> int:
        return self.stream_threshold - 1 if self.stream_threshold > 2 else 0

    def run(self) -> None:
        while True:
            top, from_stream = self._top()
            best = -top[0] if top is not None else 0
            if best < self.stream_threshold and self.stream_threshold > 2:
                self._recount_inputs(best)
                continue
            if top is None or best < 2:
                break
            entry = self._pop(from_stream)
            if entry[1] == _PLACEHOLDER:
                self._expand(entry[4])
                continue
            _, _, _, _, a, b, d, sign = entry
            matches = self._matches(a, b, d, sign)
            count = len(matches)
            if count < 2:
                continue
            if count < best and count < max(self._best_count(), self._unmaterialized_bound()):
                heapq.heappush(self.heap, self._entry(count, a, b, d, sign))
                continue
            self._apply(a, b, d, sign, matches)

    # -- counting ------------------------------------------------------------
    def _recount_inputs(self, best_other: int) -> None:
        """Count every pattern of two inputs at once; materialize the frequent ones."""
        n, m, S = self.n, self.m, self.S
        tables = []  # (d, sign, C) with C[a, b] = #(a at s, b at s+d, sign)
        best = 0
        if n and m:
            planes = self.planes.astype(np.float32)
            for d in range(S):
                lo = planes[:, :, :S - d].reshape(n, -1)
                hi = planes[:, :, d:].reshape(n, -1)
                signed_sum = lo @ hi.T
                total = np.abs(lo) @ np.abs(hi).T
                same = np.rint((total + signed_sum) / 2).astype(np.int64)
                opposite = np.rint((total - signed_sum) / 2).astype(np.int64)
                if d == 0:
                    same, opposite = np.triu(same, 1), np.triu(opposite, 1)
                tables += [(d, 1, same), (d, -1, opposite)]
                best = max(best, int(same.max()), int(opposite.max()))
        threshold = max(2, int(max(best, best_other) * _RECOUNT_FRACTION))
        parts = []
        for d, sign, table in tables:
            a_idx, b_idx = np.nonzero(table >= threshold)
            counts = table[a_idx, b_idx]
            # C[a, b] at +d is the key (a, b, d) if a <= b, else (b, a, -d)
            swap = a_idx > b_idx
            lo_idx, hi_idx = np.where(swap, b_idx, a_idx), np.where(swap, a_idx, b_idx)
            rel = np.where(swap, -d, d)
            parts.append((counts, lo_idx, hi_idx, rel, np.full(len(counts), sign)))
        counts, a_idx, b_idx, rel, signs = (np.concatenate(c) for c in zip(*parts)) if parts else \
            (np.zeros(0, np.int64),) * 5
        depth = np.array(self.depth[:n], dtype=np.int64)
        mags = np.array([mg.bit_length() for mg in self.magnitude[:n]], dtype=np.int64)
        width = np.maximum(mags[a_idx] + np.maximum(0, -rel), mags[b_idx] + np.maximum(0, rel))
        overlap = np.minimum(mags[a_idx], mags[b_idx])
        t1, t2 = _tie(np.maximum(depth[a_idx], depth[b_idx]), width, overlap, a_idx, b_idx, rel)
        t1 = np.broadcast_to(t1, counts.shape)
        t2 = np.broadcast_to(t2, counts.shape)
        order = np.lexsort((signs, rel, b_idx, a_idx, t2, t1, -counts))
        columns = [(-counts)[order].tolist(), [_PATTERN] * len(order), t1[order].tolist(),
                   t2[order].tolist(), a_idx[order].tolist(), b_idx[order].tolist(),
                   rel[order].tolist(), signs[order].tolist()]
        self.stream = list(zip(*columns))
        self.stream_pos = 0
        self.stream_threshold = threshold

    def _expand(self, v: int) -> None:
        """Count the patterns of adder value v; materialize those that may soon be best."""
        rows, shifts, signs = [], [], []
        for r in self.occ[v]:
            for s, g in self.new_terms[r][v].items():
                rows.append(r)
                shifts.append(s)
                signs.append(g)
        if len(rows) < 2:
            return
        counts: Counter = Counter()
        S = self.S
        limit = None if self.max_depth is None else self.max_depth - 1
        # with inputs: key (u, v, d) where v sits at s_u + d
        if self.n and (limit is None or self.depth[v] <= limit):
            r_idx = np.array(rows)
            s_idx = np.array(shifts)
            g_idx = np.array(signs, dtype=np.int8)
            gathered = self.planes[:, r_idx, :] * g_idx[None, :, None]  # (n, c, S)
            k = len(rows)
            # d = s_v - s_u in [-(S-1), s_v]; column = d + (S-1)
            width = S + int(s_idx.max())
            aligned = np.zeros((self.n, k, width), dtype=np.int8)
            cols = s_idx[:, None] - np.arange(S)[None, :] + (S - 1)
            aligned[:, np.arange(k)[:, None], cols] = gathered
            same = np.count_nonzero(aligned == 1, axis=1)
            opposite = np.count_nonzero(aligned == -1, axis=1)
            for sign, table in ((1, same), (-1, opposite)):
                u_idx, col_idx = np.nonzero(table >= 2)
                for u, col, c in zip(u_idx.tolist(), col_idx.tolist(), table[u_idx, col_idx].tolist()):
                    counts[(u, v, col - (S - 1), sign)] = c
        # with other adder values and with itself
        for r, s_v, g_v in zip(rows, shifts, signs):
            for w, terms in self.new_terms[r].items():
                if limit is not None and max(self.depth[v], self.depth[w]) > limit:
                    continue
                if w == v:
                    for s_w, g_w in terms.items():
                        if s_w > s_v:
                            counts[(v, v, s_w - s_v, g_v * g_w)] += 1
                elif w < v:
                    for s_w, g_w in terms.items():
                        counts[(w, v, s_v - s_w, g_v * g_w)] += 1
                else:
                    for s_w, g_w in terms.items():
                        counts[(v, w, s_w - s_v, g_v * g_w)] += 1
        current = max(self._best_count(), self._unmaterialized_bound())
        threshold = max(2, int(current * _EXPAND_FRACTION))
        deferred = 0
        for (a, b, d, sign), c in counts.items():
            if c >= threshold:
                heapq.heappush(self.heap, self._entry(c, a, b, d, sign))
            elif c > deferred:
                deferred = c
        if deferred >= 2:
            heapq.heappush(self.heap, (-deferred, _PLACEHOLDER, 0, 0, v, 0, 0, 0))

    # -- matching and substitution ------------------------------------------------
    def _kraft_ok(self, r: int, delta: int, pending: dict) -> bool:
        if self.depth_budget is None or delta == 0:
            return True
        total = self.kraft[r] + pending.get(r, 0) + delta
        if total > self.depth_budget:
            return False
        pending[r] = pending.get(r, 0) + delta
        return True

    def _matches(self, a: int, b: int, d: int, sign: int) -> list:
        """Non-overlapping occurrences (row, s_a, s_b, sign of a) within the depth budget."""
        n, S = self.n, self.S
        depth_new = max(self.depth[a], self.depth[b]) + 1
        if self.max_depth is not None and depth_new > self.max_depth:
            return []
        delta = (1 << depth_new) - (1 << self.depth[a]) - (1 << self.depth[b])
        pending: dict = {}
        result = []
        if b < n and a != b:
            A, B = self.planes[a], self.planes[b]
            if d >= 0:
                rs, sa = np.nonzero(A[:, :S - d] * B[:, d:] == sign)
            else:
                rs, sa = np.nonzero(A[:, -d:] * B[:, :S + d] == sign)
                sa = sa - d
            ga = A[rs, sa]
            found = zip(rs.tolist(), sa.tolist(), (sa + d).tolist(), ga.tolist())
            if self.depth_budget is None or delta == 0:
                return list(found)
            return [mt for mt in found if self._kraft_ok(mt[0], delta, pending)]
        if b < n:  # an input with itself
            A = self.planes[a]
            rows = np.unique(np.nonzero(A[:, :S - d] * A[:, d:] == sign)[0]).tolist()
            for r in rows:
                used = set()
                row = A[r].tolist()
                for s in range(S - d):
                    if s in used or s + d in used or row[s] == 0 or row[s] * row[s + d] != sign:
                        continue
                    if self._kraft_ok(r, delta, pending):
                        used.update((s, s + d))
                        result.append((r, s, s + d, row[s]))
            return result
        if a < n:  # an input with an adder value
            plane = self.planes[a]
            for r in self.occ[b]:
                for s_b, g_b in self.new_terms[r][b].items():
                    s_a = s_b - d
                    if 0 <= s_a < S and plane[r, s_a] == sign * g_b:
                        if self._kraft_ok(r, delta, pending):
                            result.append((r, s_a, s_b, sign * g_b))
            return result
        if a == b:
            for r in self.occ[a]:
                terms = self.new_terms[r][a]
                if len(terms) < 2:
                    continue
                used = set()
                for s in sorted(terms):
                    t = s + d
                    if s in used or t in used or t not in terms or terms[s] * terms[t] != sign:
                        continue
                    if self._kraft_ok(r, delta, pending):
                        used.update((s, t))
                        result.append((r, s, t, terms[s]))
            return result
        occ_a, occ_b = self.occ[a], self.occ[b]
        if len(occ_b) < len(occ_a):
            occ_a, occ_b = occ_b, occ_a
        for r in occ_a:
            if r in occ_b:
                terms_a = self.new_terms[r][a]
                terms_b = self.new_terms[r][b]
                for s_a, g_a in terms_a.items():
                    g_b = terms_b.get(s_a + d)
                    if g_b is not None and g_a * g_b == sign and self._kraft_ok(r, delta, pending):
                        result.append((r, s_a, s_a + d, g_a))
        return result

    def _remove(self, value: int, r: int, s: int) -> None:
        if value < self.n:
            self.planes[value, r, s] = 0
            return
        terms = self.new_terms[r][value]
        del terms[s]
        if not terms:
            del self.new_terms[r][value]
        occ = self.occ[value]
        occ[r] -= 1
        if not occ[r]:
            del occ[r]
        self.occ_total[value] -= 1

    def _apply(self, a: int, b: int, d: int, sign: int, matches: list) -> None:
        n = self.n
        a_shift, b_shift = max(0, -d), max(0, d)
        v = n + len(self.nodes)
        self.nodes.append(AdderNode(a, a_shift, b, b_shift, sign))
        depth_v = max(self.depth[a], self.depth[b]) + 1
        self.depth.append(depth_v)
        self.magnitude.append((self.magnitude[a] << a_shift) + (self.magnitude[b] << b_shift))
        delta = (1 << depth_v) - (1 << self.depth[a]) - (1 << self.depth[b])
        occ: dict = {}
        self.occ.append(occ)
        self.occ_total.append(len(matches))
        if b < n:  # both inputs: clear digits in one go
            rs = np.array([mt[0] for mt in matches])
            self.planes[a, rs, np.array([mt[1] for mt in matches])] = 0
            self.planes[b, rs, np.array([mt[2] for mt in matches])] = 0
        for r, s_a, s_b, g_a in matches:
            if b >= n:
                self._remove(a, r, s_a)
                self._remove(b, r, s_b)
            self.new_terms[r].setdefault(v, {})[min(s_a, s_b)] = g_a
            occ[r] = occ.get(r, 0) + 1
            self.kraft[r] += delta
        heapq.heappush(self.heap, (-len(matches), _PLACEHOLDER, 0, 0, v, 0, 0, 0))

    def export(self, builder: _Builder, input_values: list[int]) -> list:
        """Add the extracted adders and each row's final tree to builder; output triples."""
        values = list(input_values)
        for node in self.nodes:
            values.append(builder.add(values[node.a], node.a_shift, values[node.b],
                                      node.b_shift, node.sign))
        return _sum_rows(builder, self.planes, self.new_terms, values)
