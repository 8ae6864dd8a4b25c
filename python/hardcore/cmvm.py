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
  of the queue is ever recounted.  Counts of patterns of two inputs are kept
  exact in dense tables (matrix products to start, numpy updates after);
  patterns of a new value are counted when the value could hold the best
  pattern.  A depth bound is exact: a row whose remaining terms have depths
  d_i can be summed within depth D iff sum 2^d_i <= 2^D (Kraft), so a
  substitution is taken only where it keeps that true.

  Around that core, several plans are built and the one with fewest adders
  kept: CSE on W; CSE on row differences along a spanning tree of similar
  rows (y_i = y_parent ± (w_i - w_parent)·x, the idea of H_cmvm and da4ml's
  decomposition); and the transpose of a CSE graph for W^T (Tellegen: a
  graph for W^T with A adders gives one for W with A + (columns - rows)).
  Each plan runs on the CSD digits and on a second minimal signed-digit
  form (`digit_planes`: 3 = 2 + 1 rather than 4 - 1), which shares
  differently.  See docs/cmvm.md.

  The plans and the pair-pattern core run in C (the extension
  hardcore._pair_cse, built by ./setup.sh: _cmvm_plans.c and _pair_cse.c), a
  step-for-step port of `_plans` and `_PairCse` giving the same graphs;
  HARDCORE_CMVM_CORE=python selects the Python code itself, the reference.

Rows that are equal up to sign and a power of two share one value (output
shifts are wires).  A negated output costs an adder unless its row is in
`free_negation_rows` (a bias or rounding adder absorbs the sign); the plans
are compared by adders plus those negations, and `_normalize_signs` chooses
for every adder whether it computes v or -v so that few are needed (and
subtractors pass their low bits as wires where they can).
"""

from __future__ import annotations

import heapq
import importlib
import math
import os
import sys
from itertools import chain
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from hardcore.adder_graph import AdderGraph, AdderNode, signed_width

__all__ = ["solve", "ALGORITHMS", "csd_planes", "digit_planes", "min_depth"]

ALGORITHMS = ("cse", "csd")
# Path bounds tried for the row-difference plan (see _difference_tree).
DIFFERENCE_PATHS = (3, 4, 6)
# A difference plan is tried only if its tree costs at most this share of the rows' digits.
DIFFERENCE_GAIN = 0.98
# Up to this many nonzero weights both tie-breaks are tried; up to the next
# many the transposed problem too.
SMALL_NONZEROS = 1024
TRANSPOSE_NONZEROS = 20000

# Restarts on shuffled matrices (see _best_plan) of the RESTART_PLANS best
# plans: one per RESTART_NONZEROS nonzero weights, at most MAX_RESTARTS, and
# at most RESTART_BUDGET // nonzeros.  A restart costs about 3 us per nonzero
# weight, so tiny matrices get few (a fixed count would dominate their solve
# time) and large ones few again (they hold most of the total time).
RESTART_NONZEROS = 6
MAX_RESTARTS = 64
RESTART_BUDGET = 1 << 18
RESTART_PLANS = 1
RESTART_SEED = 20261125
# The most look-ahead work solve accepts (the C core's limit).
MAX_LOOKAHEAD = 1 << 20
# Digit forms (see digit_planes): 0 CSD, 1 minimal signed digits preferring +1.
DIGIT_FORMS = (0, 1)
# The digit forms every plan is tried with; above FORMS_NONZEROS nonzero weights only the first
# (CSD): the second doubles the first pass's time, which on large matrices is most of a compile's
# (Linear(512, 512) int8 compiled in 87.5 s with both forms, against 60-64 s with CSD alone:
# bench/scale.py), for about 0.5% of the adders (bench/cmvm.py).
PLAN_FORMS = (0, 1)
FORMS_NONZEROS = 20000

# Weights beyond this magnitude would overflow the int64 digit recoding.
_MAX_WEIGHT = 1 << 62
# An expansion materializes the patterns whose count is at least this
# fraction of the current best; the rest wait behind a placeholder.
_EXPAND_FRACTION = 0.8
# Input pairs are queued down to this fraction of the best count, then the next band.
_RECOUNT_FRACTION = 0.8
# The look-ahead on pattern choice (see _pilot_cse) tries, at a step, the patterns the greedy
# would build next up to this rank, whose count is at least the best one's minus _TIE_SLACK
# (measured on the benchmark matrices: 4 ranks within 1 found less than 8 within 3, 16 within
# any count no more).
LOOKAHEAD_RANKS = 8
_TIE_SLACK = 3
# CMVM_DEBUG=1 prints every plan's cost.
_DEBUG = bool(os.environ.get("CMVM_DEBUG"))

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


def digit_planes(values: np.ndarray, form: int = 0) -> np.ndarray:
    """Signed digits of an int64 array in one of DIGIT_FORMS: shape values.shape + (S,), digits in {-1, 0, 1}.

    Form 0 is the canonical signed digits (CSD, the non-adjacent form,
    `csd_planes`).  Form 1 is another minimal signed-digit (MSD) form, as
    few nonzero digits as CSD (so the depth bounds do not change), chosen
    from the lowest up: where an odd remainder r may take digit +1 or -1 and
    both leave (r - digit) / 2 with one digit fewer, it takes +1 (3 = 2 + 1
    rather than 4 - 1: binary-like runs that share as x + (x << 1)).  A
    negative value gets its magnitude's digits negated.
    """
    if form not in DIGIT_FORMS:
        raise ValueError(f"unknown digit form {form!r}; expected one of {DIGIT_FORMS}")
    values = np.array(values, dtype=np.int64)
    negative = values < 0
    remainder = np.abs(values)
    planes = []
    while np.any(remainder):
        odd = (remainder & 1).astype(bool)
        digit = np.where(odd, 2 - (remainder & 3), 0)
        if form == 1:
            weight = _naf_weight(remainder)
            plus_minimal = _naf_weight((remainder - 1) >> 1) < weight
            minus_minimal = _naf_weight((remainder + 1) >> 1) < weight
            digit = np.where(odd & plus_minimal & minus_minimal, 1, digit)
        planes.append(np.where(negative, -digit, digit).astype(np.int8))
        remainder = (remainder - digit) >> 1
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
          max_depth: Optional[int] = None, algorithm: str = "cse",
          restarts: Optional[int] = None, free_negation_rows: Iterable[int] = (),
          lookahead: int = 0) -> AdderGraph:
    """An adder graph computing y = W·x exactly, for x of the given widths.

    W: integer matrix (m×n).  input_bits: the width of every input, or one
    width per input.  max_depth: the most adders on any input-to-output path
    (None: unbounded).  restarts: how many times the best plans are run
    again on the matrix with its rows and columns shuffled (seeded, so the
    result is deterministic); each run breaks the greedy's ties differently
    and the best graph is kept.  None: as many as the size allows (see
    RESTART_BUDGET), 0: none.  free_negation_rows: the rows whose output
    may be negated for free, because an adder follows that absorbs the sign
    (a bias or rounding constant: c - v costs what c + v does); every other
    negated output costs an adder, and the solver minimizes adders plus those
    negations (default: none free, the bare CMVM).  lookahead: extra search
    after the restarts, off by default: the best graph's plan runs again with
    a look-ahead on pattern choice (`_pilot_cse`), lookahead times the
    greedy's own work in rollouts, and is kept if it scores better (a few
    adders on some matrices, for about lookahead / 30 times the solve time,
    see docs/cmvm.md).  The returned graph
    carries `input_bits` and `signed`, so `graph.adder_bits` is its cost at
    those widths, and `graph.negations(free_negation_rows)` its negations.
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
    if restarts is not None and (not isinstance(restarts, (int, np.integer)) or restarts < 0):
        raise ValueError(f"restarts must be a whole number >= 0, got {restarts!r}")
    if not isinstance(lookahead, (int, np.integer)) or not 0 <= lookahead <= MAX_LOOKAHEAD:
        raise ValueError(f"lookahead must be a whole number in [0, {MAX_LOOKAHEAD}], got {lookahead!r}")
    free_rows = frozenset(int(i) for i in free_negation_rows)
    if any(not 0 <= i < m for i in free_rows):
        raise ValueError(f"free_negation_rows must be row indices in [0, {m})")
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
        best_nodes = [(x.a, x.a_shift, x.b, x.b_shift, x.sign) for x in builder.nodes]
    else:
        best_nodes, outputs = _best_plan(W, magnitudes, max_depth, restarts, free_rows, int(lookahead))
    graph = AdderGraph(n_inputs=n, nodes=[AdderNode(*node) for node in best_nodes], outputs=outputs,
                       input_bits=bits, signed=bool(signed))
    best_nodes, outputs = _normalize_signs(n, best_nodes, outputs, free_rows,
                                           graph.value_ranges(graph.input_ranges()))
    return AdderGraph(n_inputs=n, nodes=[AdderNode(*node) for node in best_nodes], outputs=outputs,
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


def _best_plan(W: np.ndarray, magnitudes: list[int], max_depth: Optional[int],
               restarts: Optional[int], free_rows: frozenset, lookahead: int = 0):
    """Try every plan, then rerun the best one on shuffled matrices; keep the cheapest graph.

    Score: (adders + output negations, adder width sum), the negations
    counted after `_normalize_signs` and only on rows not in free_rows.  A
    plan's adders alone are a lower bound of its score, so only plans whose
    adders could still win are normalized.  A shuffle permutes W's rows and
    columns, which changes every tie the greedy breaks by value number and
    the difference trees' ties, not the problem: the graph found for the
    shuffled matrix is relabeled back to W's inputs and rows.  lookahead:
    the best graph's plan and shuffle run once more with that look-ahead
    (see _pilot_cse).
    Returns (nodes as (a, a_shift, b, b_shift, sign) tuples, output triples).
    """
    m, n = W.shape
    # A shuffle keeps the weights and magnitudes, so the core chosen here serves the restarts too.
    use_c = _c_core_fits(W, magnitudes, max_depth)
    scores, first = _run_plans(W, magnitudes, max_depth, None, None, use_c)
    best_code = first[0]
    best = _signed(first[1], first[2], first[3], n, free_rows)
    for code, score in scores:
        if code != best_code and score < best[0]:
            _, found = _run_plans(W, magnitudes, max_depth, [code], None, use_c)
            candidate = _signed(found[1], found[2], found[3], n, free_rows)
            if candidate[0] < best[0]:
                best_code, best = code, candidate
    nonzeros = int(np.count_nonzero(W))
    if restarts is None:
        restarts = min(MAX_RESTARTS, nonzeros // RESTART_NONZEROS, RESTART_BUDGET // max(nonzeros, 1))
    best_order = np.arange(m), np.arange(n)
    if restarts and nonzeros > 1:
        rng = np.random.default_rng(RESTART_SEED)
        for _ in range(restarts):
            rows, columns = rng.permutation(m), rng.permutation(n)
            candidate = _rerun(W, magnitudes, max_depth, best_code, best[0], use_c, free_rows, rows, columns)
            if candidate is not None:
                best, best_order = candidate, (rows, columns)
    if lookahead:
        candidate = _rerun(W, magnitudes, max_depth, best_code, best[0], use_c, free_rows, *best_order,
                           lookahead)
        if candidate is not None:
            best = candidate
    return best[1], best[2]


def _rerun(W: np.ndarray, magnitudes: list[int], max_depth: Optional[int], code: int, bound: tuple,
           use_c: bool, free_rows: frozenset, rows: np.ndarray, columns: np.ndarray, lookahead: int = 0):
    """Plan code on W[rows][:, columns], as _signed's triple for W if it scores below bound, else None."""
    shuffled = np.ascontiguousarray(W[rows][:, columns])
    # below the bound: fewer adders than best's score, or as many and narrower
    _, found = _run_plans(shuffled, [magnitudes[j] for j in columns], max_depth, [code], bound, use_c,
                          lookahead)
    if found is None:
        return None
    candidate = _signed(found[1], *_relabel(found[2], found[3], columns, rows, W.shape[1]), W.shape[1],
                        free_rows)
    return candidate if candidate[0] < bound else None


def _signed(score: tuple, nodes: list, outputs: list, n: int, free_rows: frozenset):
    """A plan's graph with its signs normalized, scored: ((adders + negations, width), nodes, outputs)."""
    adders, width = score
    if not any(o is not None and o[2] < 0 for i, o in enumerate(outputs) if i not in free_rows):
        return (adders, width), nodes, outputs
    nodes, outputs = _normalize_signs(n, nodes, outputs, free_rows)
    return (adders + _negations(outputs, free_rows), width), nodes, outputs


def _negations(outputs: list, free_rows) -> int:
    """Negation adders the outputs need: one per negated (value, shift) of a row not in free_rows."""
    return len({(o[0], o[1]) for i, o in enumerate(outputs)
                if o is not None and o[2] < 0 and i not in free_rows})


# How far one flip of a value's sign may spread (values flipped) and how many choices it may try.
_FLIP_LIMIT = 16
_FLIP_TRIES = 1000


def _normalize_signs(n: int, nodes: list, outputs: list, free_rows,
                     ranges: Optional[list] = None) -> tuple[list, list]:
    """The same graph with each adder computing v or -v, so fewer outputs need a negation.

    An adder computes p·A + q·B of its operands' stored values: (+, +) is an
    add, (+, -) a subtract, (-, +) a subtract with swapped operands, and only
    (-, -) is impossible.  Flipping a value's polarity negates its own
    coefficients and its coefficient in every adder reading it; a flip that
    makes an adder (-, -) is repaired by flipping that adder or one of its
    operands, searched depth-first within _FLIP_LIMIT values and _FLIP_TRIES
    choices.  The first set of flips that saves negations of outputs not in
    free_rows is kept.  Values that need a negation are tried in value order, then,
    if some are left, in reverse; the better result is kept (deterministic).
    ranges: every value's range (inputs first); given, adders are then also
    flipped where that saves bits without adding a negation: a subtractor
    whose subtrahend is the unshifted operand computes its low bits (a borrow
    chain), its flip (operands swapped) passes them as wires (see _bit_cost).
    Returns (nodes, outputs) as tuples; the matrix computed is unchanged.
    """
    widths = None
    if ranges is not None:
        widths = [(signed_width(lo, hi), signed_width(-hi, -lo)) for lo, hi in ranges[n:]]
    results = []
    for order in (1, -1):
        polarity = _polarities(n, nodes, outputs, free_rows, order, widths)
        new_nodes = []
        for k, (a, a_shift, b, b_shift, sign) in enumerate(nodes):
            p = polarity[n + k]
            coef_a, coef_b = p * polarity[a], p * sign * polarity[b]
            new_nodes.append((a, a_shift, b, b_shift, coef_b) if coef_a > 0 else (b, b_shift, a, a_shift, -1))
        new_outputs = [None if o is None else (o[0], o[1], o[2] * polarity[o[0]]) for o in outputs]
        results.append((_negations(new_outputs, free_rows), new_nodes, new_outputs))
        if results[-1][0] == 0:
            break
    best = min(results, key=lambda r: r[0])
    return best[1], best[2]


def _polarities(n: int, nodes: list, outputs: list, free_rows, order: int,
                widths: Optional[list] = None) -> list[int]:
    """Each value's polarity (+1: computed as is, -1: negated) chosen by _normalize_signs.

    widths: each adder's result width as is and negated; given, a second
    phase then flips adders to save bits (see _bit_cost) where no negation is added.
    """
    polarity = [1] * (n + len(nodes))
    readers: list[list[int]] = [[] for _ in polarity]
    for k, (a, _, b, _, _) in enumerate(nodes):
        readers[a].append(n + k)
        if b != a:
            readers[b].append(n + k)
    shifts_of: dict[int, list] = {}
    for i, o in enumerate(outputs):
        if o is not None and i not in free_rows:
            shifts_of.setdefault(o[0], []).append((o[1], o[2]))

    def cost(v: int, p: int) -> int:
        return len({shift for shift, sign in shifts_of.get(v, ()) if sign * p < 0})

    reads: set = set()  # the values whose polarity a search read

    def impossible(c: int, flipped) -> bool:
        a, _, b, _, sign = nodes[c - n]
        reads.update((c, a, b))
        p = -polarity[c] if c in flipped else polarity[c]
        p_a = -polarity[a] if a in flipped else polarity[a]
        p_b = -polarity[b] if b in flipped else polarity[b]
        return p * p_a < 0 and p * sign * p_b < 0

    def closures(flipped: frozenset, pending: list, tries: list):
        """Sets of flips containing `flipped` that leave no adder (-, -), depth-first."""
        pending = list(pending)
        while pending:
            c = pending.pop()
            if c < n or not impossible(c, flipped):
                continue
            a, _, b, _, _ = nodes[c - n]
            # repair c by flipping c itself (when not yet flipped) or one of its operands
            choices = [] if c in flipped else [c]
            choices += sorted((o for o in {a, b} if o >= n and o not in flipped),
                              key=lambda o: (impossible(o, flipped | {o}), len(readers[o]), o))
            for o in choices:
                tries[0] -= 1
                if tries[0] < 0 or len(flipped) >= _FLIP_LIMIT:
                    return
                yield from closures(flipped | {o}, pending + [o] + readers[o], tries)
            return
        yield flipped

    def gain(flipped) -> int:
        reads.update(flipped)
        return sum(cost(u, polarity[u]) - cost(u, -polarity[u]) for u in flipped)

    # A search that failed is not repeated while no polarity it read has changed
    # (it would read the same and fail again): failed[v] = (flips so far, values read).
    flips = 0
    flipped_at = [0] * len(polarity)
    failed: dict[int, tuple] = {}
    for _ in range(len(nodes) + 1):
        changed = False
        for v in sorted(shifts_of, reverse=order < 0):
            if v < n or cost(v, polarity[v]) == 0:
                continue
            if v in failed and all(flipped_at[u] <= failed[v][0] for u in failed[v][1]):
                continue
            reads.clear()
            found = closures(frozenset((v,)), [v] + readers[v], [_FLIP_TRIES])
            flipped = next((f for f in found if gain(f) > 0), None)
            if flipped is None:
                failed[v] = (flips, frozenset(reads))
                continue
            flips += 1
            for u in flipped:
                polarity[u] = -polarity[u]
                flipped_at[u] = flips
            changed = True
        if not changed:
            break
    if widths is None:
        return polarity

    def bits(c: int, flipped) -> int:
        a, a_shift, b, b_shift, sign = nodes[c - n]
        p = -polarity[c] if c in flipped else polarity[c]
        p_a = -polarity[a] if a in flipped else polarity[a]
        p_b = -polarity[b] if b in flipped else polarity[b]
        return _bit_cost(p * p_a, a_shift, p * sign * p_b, b_shift, widths[c - n][p < 0])

    for c in range(n, n + len(nodes)):
        if bits(c, ()) <= bits(c, (c,)):
            continue  # its own flip saves nothing: not worth a search
        found = closures(frozenset((c,)), [c] + readers[c], [_FLIP_TRIES // 10])
        for flipped in found:
            touched = set(flipped).union(*(readers[u] for u in flipped))
            saved = sum(bits(u, ()) - bits(u, flipped) for u in touched)
            if saved > 0 and gain(flipped) >= 0:
                for u in flipped:
                    polarity[u] = -polarity[u]
                break
    return polarity


def _bit_cost(coef_a: int, a_shift: int, coef_b: int, b_shift: int, width: int) -> int:
    """An adder's result width, plus the low bits it must compute though one operand is shifted.

    Below the shifted operand's lowest bit the result is the other operand's
    bits, wires, when that operand is added; when it is subtracted they are
    a negation's borrow chain.
    """
    if coef_b < 0 and b_shift == 0 and a_shift > 0:
        return width + a_shift
    if coef_a < 0 and a_shift == 0 and b_shift > 0:
        return width + b_shift
    return width


def _c_core_fits(W: np.ndarray, magnitudes: list[int], max_depth: Optional[int]) -> bool:
    """Whether the plans run in C: the core is C and the figures fit its types."""
    return (_core() == "c" and W.size > 0 and (max_depth is None or max_depth <= _C_MAX_DEPTH)
            and int(np.abs(W).max()) < _C_MAX_WEIGHT and max(magnitudes) < _C_MAX_MAGNITUDE)


def _run_plans(W: np.ndarray, magnitudes: list[int], max_depth: Optional[int],
               wanted: Optional[list[int]], bound: Optional[tuple], use_c: bool, lookahead: int = 0):
    """Run the plans (all, or the codes wanted) on W.

    Returns (scores, best): (code, (adders, width sum)) per feasible plan in
    the order run, and (code, score, nodes, outputs) of the first best plan
    if it scores below bound (None: no bound), else None.  In C when use_c
    (see _c_core_fits) and C's magnitude bounds hold, else in Python (the reference).
    """
    if use_c:
        config = (SMALL_NONZEROS, TRANSPOSE_NONZEROS, DIFFERENCE_GAIN, DIFFERENCE_PATHS,
                  _plan_forms(wanted, int(np.count_nonzero(W))), lookahead)
        c_bound = bound if bound is not None else (1 << 62, 0)
        result = _c_module().plans(np.ascontiguousarray(W, dtype=np.int64), magnitudes,
                                   -1 if max_depth is None else max_depth, wanted, c_bound, config)
        if result is not None:
            scores, best = result
            scores = [(code, (adders, width)) for code, adders, width in scores]
            if _DEBUG:
                for code, score in scores:
                    print("cmvm", _plan_label(code), score, file=sys.stderr, flush=True)
            if best is not None:
                code, nodes, outputs = best
                best = (code, dict(scores)[code], nodes, outputs)
            return scores, best
    scores, best = [], None
    for code, plan in _plans(W, transposed=True, wanted=wanted):
        builder = _Builder(W.shape[1], magnitudes)
        try:
            outputs = plan(builder, max_depth, lookahead)
        except _Infeasible:
            continue
        score = (len(builder.nodes), builder.width_sum())
        if _DEBUG:
            print("cmvm", _plan_label(code), score, file=sys.stderr, flush=True)
        scores.append((code, score))
        if (best is None or score < best[1]) and (bound is None or score < bound):
            best = (code, score, [(x.a, x.a_shift, x.b, x.b_shift, x.sign) for x in builder.nodes], outputs)
    return scores, best


def _relabel(nodes: list, outputs: list, columns: np.ndarray, rows: np.ndarray, n: int):
    """A graph of W[rows][:, columns] as a graph of W: (nodes, outputs)."""
    columns = columns.tolist()

    def value(v):
        return columns[v] if v < n else v

    relabeled = [(value(a), a_shift, value(b), b_shift, sign) for a, a_shift, b, b_shift, sign in nodes]
    placed: list = [None] * len(outputs)
    for i, out in zip(rows.tolist(), outputs):
        placed[i] = None if out is None else (value(out[0]), out[1], out[2])
    return relabeled, placed


# Plan codes (the C plans use the same): digit form (see digit_planes) * _FORM,
# + _TRANSPOSED for W^T, kind * 10 (0 direct, k: the difference tree of
# DIFFERENCE_PATHS[k - 1]), + tie (0 b, 1 a).
_FORM = 1000
_TRANSPOSED = 100
_TIES = ("b", "a")


def _plan_label(code: int) -> str:
    form, code = divmod(code, _FORM)
    transposed, kind, tie = code >= _TRANSPOSED, code % _TRANSPOSED // 10, code % 10
    what = "direct" if kind == 0 else f"rows-differences path<={DIFFERENCE_PATHS[kind - 1]}"
    return ("transposed " if transposed else "") + f"{what} tie={_TIES[tie]} digits={form}"


def _plan_forms(wanted: Optional[list[int]], nonzeros: int) -> list[int]:
    """The digit forms the plans run with: those of the codes wanted, or PLAN_FORMS (CSD alone on a
    matrix of more than FORMS_NONZEROS nonzero weights)."""
    if wanted is not None:
        return sorted({code // _FORM for code in wanted})
    return list(PLAN_FORMS) if nonzeros <= FORMS_NONZEROS else list(PLAN_FORMS[:1])


def _plans(W: np.ndarray, transposed: bool, wanted: Optional[list[int]] = None):
    """Candidate constructions: (code, function (builder, max_depth) -> outputs), form by form."""
    for form in _plan_forms(wanted, int(np.count_nonzero(W))):
        yield from _form_plans(W, transposed, wanted, form)


def _form_plans(W: np.ndarray, transposed: bool, wanted: Optional[list[int]], form: int):
    """The constructions with one digit form (see digit_planes).

    Small problems try more: both tie-breaks, and the transposed problem.
    Row-difference plans are tried when the difference tree promises to save
    digits at all.  wanted: only these codes (None: all).
    """
    base = form * _FORM
    offset = base + (0 if transposed else _TRANSPOSED)

    def want(low, high):
        return wanted is None or any(low <= code < high for code in wanted)

    nonzeros = int(np.count_nonzero(W))
    ties = _TIES if nonzeros <= SMALL_NONZEROS else _TIES[:1]
    for t, tie in enumerate(ties):
        if want(offset + t, offset + t + 1):
            yield offset + t, (lambda builder, max_depth, lookahead, tie=tie:
                               _cse_rows(builder, W, list(range(W.shape[1])), max_depth, tie, form, lookahead))
    canonical, row_of, scale = _canonical_rows(W)
    if canonical.shape[0] >= 3:
        direct_digits = int(_naf_weight(canonical).sum())
        trees = set()
        for k, max_path in enumerate(DIFFERENCE_PATHS, start=1):
            if not want(offset + 10 * k, offset + _TRANSPOSED):
                break  # nothing wanted from here on
            parent, sign, path, digits = _difference_tree(canonical, max_path)
            if digits > DIFFERENCE_GAIN * direct_digits:
                break  # looser bounds only save a little more
            tree = parent.tobytes() + sign.tobytes()
            if tree in trees:
                break  # a looser bound found the same tree
            trees.add(tree)
            for t, tie in enumerate(ties):
                if not want(offset + 10 * k + t, offset + 10 * k + t + 1):
                    continue

                def plan(builder, max_depth, lookahead, parent=parent, sign=sign, path=path, tie=tie):
                    outputs = _two_stage(builder, canonical, parent, sign, path, max_depth, tie, form,
                                         lookahead)
                    return _expand_rows(outputs, row_of, scale)
                yield offset + 10 * k + t, plan
            if path.max() < max_path:
                break  # a looser bound gives the same tree
    if transposed and nonzeros <= TRANSPOSE_NONZEROS and want(base + _TRANSPOSED, base + 2 * _TRANSPOSED):
        for code, plan in _form_plans(np.ascontiguousarray(W.T), False, wanted, form):
            def transposed_plan(builder, max_depth, lookahead, plan=plan):
                inner = _Builder(W.shape[0], [1 << 7] * W.shape[0])
                inner_outputs = plan(inner, max_depth, lookahead)
                return _transpose_into(builder, inner, inner_outputs, max_depth)
            yield code, transposed_plan


def _transpose_into(builder: _Builder, inner: _Builder, inner_outputs: list,
                    max_depth: Optional[int]) -> list:
    """Build W·x from a graph of W^T·u by transposition (Tellegen).

    Every edge is reversed: a value of the inner graph used f times becomes
    a sum of f terms (f - 1 adders), so the adder count is the inner one
    plus (its outputs - its inputs).  Sums are minimal-depth trees.
    """
    uses: list[list] = [[] for _ in range(inner.n_inputs + len(inner.nodes))]
    for j, out in enumerate(inner_outputs):
        if out is not None:
            value, shift, sign = out
            uses[value].append((None, j, shift, sign))
    for k, node in enumerate(inner.nodes):
        target = inner.n_inputs + k
        uses[node.a].append((target, None, node.a_shift, 1))
        uses[node.b].append((target, None, node.b_shift, node.sign))
    sums: list = [None] * len(uses)
    for v in range(len(uses) - 1, -1, -1):
        terms = []
        for target, column, shift, sign in uses[v]:
            if target is None:
                value, total_shift, total_sign = column, shift, sign
            else:
                if sums[target] is None:
                    continue
                value, base_shift, base_sign = sums[target]
                total_shift, total_sign = base_shift + shift, base_sign * sign
            terms.append((builder.depth[value], total_shift, value, total_sign))
        sums[v] = _sum_terms(builder, terms)
    outputs = sums[:inner.n_inputs]
    if max_depth is not None and any(o is not None and builder.depth[o[0]] > max_depth for o in outputs):
        raise _Infeasible
    return outputs


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
              max_depth: Optional[int], tie: str = "b", form: int = 0, lookahead: int = 0) -> list:
    """CSE of y = matrix · v[input_values] into builder; output triples per row.

    lookahead: the work of the look-ahead on pattern choice (see _pilot_cse).
    """
    canonical, row_of, scale = _canonical_rows(matrix)
    depths = [builder.depth[v] for v in input_values]
    outputs = None
    if _core() == "c":
        if max_depth is None or max_depth <= _C_MAX_DEPTH:
            outputs = _c_cse(builder, canonical, input_values, depths, max_depth, tie, form, lookahead)
        else:
            outputs = _c_cse_deep(builder, canonical, input_values, depths, max_depth, tie, form,
                                  lookahead)
    if outputs is None:
        magnitudes = [builder.magnitude[v] for v in input_values]
        solver = _pilot_cse(canonical, depths, magnitudes, max_depth, tie, form, lookahead)
        outputs = solver.export(builder, input_values)
    return _expand_rows(outputs, row_of, scale)


def _pilot_cse(matrix: np.ndarray, depths: list[int], magnitudes: list[int], max_depth: Optional[int],
               tie: str, form: int, lookahead: int) -> "_PairCse":
    """The pair-pattern CSE with a look-ahead on pattern choice (a pilot method); the finished solver.

    Step by step from the first, each near-tie of the pattern the greedy
    builds (rank 1 .. LOOKAHEAD_RANKS - 1 in the greedy's own order) is
    built instead, the greedy finishes from there, and the choice whose
    graph has fewest adders is kept for that step.  lookahead: the work
    allowed, in adders built by the rollouts, as a multiple of the greedy's
    own (0: the plain greedy).
    """
    def greedy(deviations):
        solver = _PairCse(matrix, depths, magnitudes, max_depth, tie, form)
        solver.run(deviations)
        return solver

    best = greedy({})
    if not lookahead:
        return best
    best_adders = best.adders()
    work, budget = 0, lookahead * max(len(best.nodes), 1)
    deviations: dict = {}
    step = 0
    while step < len(best.nodes) and work < budget:
        chosen = 0
        for rank in range(1, LOOKAHEAD_RANKS):
            trial = greedy({**deviations, step: rank})
            work += len(trial.nodes)
            if trial.missing:
                break
            adders = trial.adders()
            if adders < best_adders:
                best, best_adders, chosen = trial, adders, rank
            if work >= budget:
                break
        if chosen:
            deviations[step] = chosen
        step += 1
    return best


# -- the C core ------------------------------------------------------------------

# HARDCORE_CMVM_CORE selects the pair-pattern CSE core: "c" (default, the
# extension hardcore._pair_cse) or "python" (_PairCse, the reference).
_CORES = ("c", "python")
# The C core's Kraft sums are int64: deeper bounds go through _c_cse_deep.
_C_MAX_DEPTH = 60
# The C plans keep weights' differences and digit sums in int64 and
# magnitude bounds in 128 bits: beyond these the Python plans run.
_C_MAX_WEIGHT = 1 << 60
_C_MAX_MAGNITUDE = 1 << 63
_MISSING_CORE = ("hardcore._pair_cse (the C core of the CMVM solver) is not built or cannot be "
                 "loaded: re-run ./setup.sh to build it, or set HARDCORE_CMVM_CORE=python for the "
                 "slow pure-Python core")


def _core() -> str:
    core = os.environ.get("HARDCORE_CMVM_CORE", "c").strip().lower() or "c"
    if core not in _CORES:
        raise ValueError(f"HARDCORE_CMVM_CORE={core!r}: expected one of {', '.join(_CORES)}")
    return core


def _c_module():
    try:
        return importlib.import_module("hardcore._pair_cse")
    except ImportError as error:
        raise ImportError(_MISSING_CORE, name="hardcore._pair_cse") from error


def _c_cse(builder: _Builder, canonical: np.ndarray, input_values: list[int], depths: list[int],
           max_depth: Optional[int], tie: str, form: int = 0, lookahead: int = 0) -> list:
    """_PairCse's CSE in C: its adders into builder, each row's rest summed; output triples."""
    core = _c_module()
    m, n = canonical.shape
    planes = digit_planes(canonical, form) if canonical.size else np.zeros((m, n, 1), np.int8)
    if planes.shape[2] >= 1 << (_SHIFT_BITS - 1):
        raise ValueError("weights too wide for the CSE solver")
    rows, columns, shifts = np.nonzero(planes)
    terms = np.stack([rows, columns, shifts, planes[rows, columns, shifts]], axis=1).astype(np.int32)
    result = core.solve(n, depths, m, np.ascontiguousarray(terms),
                        -1 if max_depth is None else max_depth, tie == "b", lookahead)
    if result is None:
        raise _Infeasible
    nodes, rows_left = result
    values = list(input_values)
    for a, a_shift, b, b_shift, sign in nodes:
        values.append(builder.add(values[a], a_shift, values[b], b_shift, sign))
    depth = builder.depth
    outputs = []
    for row in rows_left:
        outputs.append(_sum_terms(builder, [(depth[values[v]], s, values[v], g) for v, s, g in row]))
    return outputs


def _c_cse_deep(builder: _Builder, canonical: np.ndarray, input_values: list[int], depths: list[int],
                max_depth: int, tie: str, form: int, lookahead: int) -> Optional[list]:
    """A bound beyond _C_MAX_DEPTH: solve unbounded, keep it if it meets the bound.

    Otherwise None (the Python core then runs; it takes no 64-bit shortcuts).
    """
    trial = _Builder(builder.n_inputs, builder.magnitude[:builder.n_inputs])
    trial.nodes, trial.depth, trial.magnitude = (list(builder.nodes), list(builder.depth),
                                                 list(builder.magnitude))
    outputs = _c_cse(trial, canonical, input_values, depths, None, tie, form, lookahead)
    if any(o is not None and trial.depth[o[0]] > max_depth for o in outputs):
        return None
    builder.nodes, builder.depth, builder.magnitude = trial.nodes, trial.depth, trial.magnitude
    return outputs


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
    Returns (parent or -1, sign of the parent's row, path length) per row and
    the tree's total cost in digits.
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
    return parent, sign, path, int(best_cost.sum())


def _two_stage(builder: _Builder, rows: np.ndarray, parent: np.ndarray, sign: np.ndarray,
               path: np.ndarray, max_depth: Optional[int], tie: str, form: int, lookahead: int) -> list:
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
    z = _cse_rows(builder, differences, list(range(n)), stage0_depth, tie, form, lookahead)
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
    return _cse_rows(builder, stage1, list(columns), max_depth, tie, form, lookahead)


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

class _PairCse:
    """Lazy greedy extraction of the most frequent two-term pattern.

    Values: 0..n-1 are the inputs, n.. the adders built so far.  A pattern
    key is (a, b, d, sign) with a <= b: the terms x_a << s and sign·x_b << (s+d)
    (d > 0 when a == b).  Inputs' digits live in a dense int8 array
    `planes[j, row, shift]`, and the counts of every pattern of two different
    inputs are kept exact in dense tables, updated with numpy as digits are
    used up.  Adder values' terms live in per-row dicts and code lists; their
    patterns are counted when the value is expanded and recounted lazily.

    The reference for the C core (_pair_cse.c), which follows it step for
    step, down to the order occurrences are found in: change both together
    (test_c_core_matches_python_core checks they give the same graphs).
    """

    def __init__(self, matrix: np.ndarray, depths: list[int], magnitudes: list[int],
                 max_depth: Optional[int], tie: str = "b", form: int = 0):
        self.tie_b_first = tie == "b"
        self.n = n = matrix.shape[1]
        self.m = m = matrix.shape[0]
        planes = digit_planes(matrix, form) if matrix.size else np.zeros((m, n, 1), np.int8)
        self.S = S = planes.shape[2]
        if S >= 1 << (_SHIFT_BITS - 1):
            raise ValueError("weights too wide for the CSE solver")
        self.planes = np.ascontiguousarray(planes.transpose(1, 0, 2))  # (n, m, S)
        self.max_depth = max_depth
        self.depth_budget = None if max_depth is None else 1 << max_depth
        # Kraft sum of each row: sum over its terms of 2^depth.
        weights = np.array([1 << d for d in depths], dtype=np.int64)
        digits = np.count_nonzero(self.planes, axis=2)  # (n, m)
        self.kraft = (weights @ digits).tolist() if n else [0] * m
        if self.depth_budget is not None and max(self.kraft, default=0) > self.depth_budget:
            raise _Infeasible
        self.uniform_inputs = len(set(depths)) <= 1
        self.new_terms: list[dict] = [dict() for _ in range(m)]  # row: {value: {shift: sign}}
        self.codes: list[list[int]] = [[] for _ in range(m)]  # row: term codes, any order
        self.code_pos: list[dict] = [dict() for _ in range(m)]  # row: {code: index in codes}
        # per value (None for inputs): {row: number of its terms in that row}
        self.occ: list[Optional[dict]] = [None] * n
        self.depth = list(depths)
        self.magnitude = list(magnitudes)
        self.nodes: list[AdderNode] = []
        self.heap: list = []
        self.same, self.opposite = self._count_input_pairs()
        self.input_threshold = math.inf  # input pairs counted >= this are in the heap
        self._push_input_self_pairs()

    # Queue entries are (-priority, key): priority = count << 42 | placeholder bit << 41 | tie,
    # key a packed pattern or -1 - value for a placeholder.  Among equal counts a
    # placeholder comes first (it may hide a pattern of that count), then the
    # pattern with the newest operand b (or a, the other tie-break tried): growing
    # the latest shared value further beats starting a fresh one (measured: about
    # 2% fewer adders than oldest-first).
    def _tie(self, a, b):
        return (b << 20) | a if self.tie_b_first else (a << 20) | b

    def _entry(self, count, a, b, d, sign):
        return (-((count << 42) | self._tie(a, b)), _pack(a, b, d, sign))

    @staticmethod
    def _placeholder(count, v):
        return (-((count << 42) | (1 << 41)), -1 - v)

    def _best(self) -> int:
        """An upper bound on every pattern's count."""
        top = (-self.heap[0][0]) >> 42 if self.heap else 0
        return max(top, self.input_threshold - 1 if self.input_threshold > 2 else 0)

    def run(self, deviations: Optional[dict] = None) -> None:
        """The lazy greedy.  deviations {step: rank}: at that step (adders built so far) pass over
        the rank best patterns (put back after the step) and build the next; if fewer than that
        are within _TIE_SLACK of the best count, stop there with self.missing set."""
        heap = self.heap
        deviations = deviations or {}
        held: list = []  # (count, a, b, d, sign) of the patterns passed over at this step
        self.missing = False
        while True:
            best = (-heap[0][0]) >> 42 if heap else 0
            if self.input_threshold > 2 and best < self.input_threshold:
                self._materialize_input_pairs(best)
                continue
            if held and best < held[0][0] - _TIE_SLACK:
                self.missing = True  # fewer near-ties than the rank asked: the rollout is void
                return
            if best < 2:
                break
            _, key = heapq.heappop(heap)
            if key < 0:
                self._expand(-1 - key)
                continue
            a, b, d, sign = _unpack(key)
            matches = None
            if b < self.n and a != b:
                count = int((self.same if sign > 0 else self.opposite)[a, b, d + self.S - 1])
                if not (self.uniform_inputs or self.depth_budget is None) and count >= 2:
                    matches = self._matches(a, b, d, sign)
                    count = len(matches)
            else:
                matches = self._matches(a, b, d, sign)
                count = len(matches)
            if count < 2:
                continue
            if count < best and count < self._best():
                heapq.heappush(heap, self._entry(count, a, b, d, sign))
                continue
            if held and count < held[0][0] - _TIE_SLACK:
                self.missing = True
                return
            if len(held) < deviations.get(len(self.nodes), 0):
                held.append((count, a, b, d, sign))
                continue
            if matches is None:
                matches = self._matches(a, b, d, sign)
            self._apply(a, b, d, sign, matches)
            for entry in held:
                heapq.heappush(heap, self._entry(*entry))
            held.clear()

    def adders(self) -> int:
        """The adders of the graph when every row's remaining terms are summed."""
        terms = np.count_nonzero(self.planes, axis=(0, 2))
        for r, values in enumerate(self.new_terms):
            terms[r] += sum(len(shifts) for shifts in values.values())
        return len(self.nodes) + int(np.maximum(terms - 1, 0).sum())

    # -- counting ------------------------------------------------------------
    def _count_input_pairs(self):
        """Tables same/opposite[a, b, d + S - 1]: #(a at s, b at s + d) with equal/opposite signs."""
        n, m, S = self.n, self.m, self.S
        same = np.zeros((n, n, 2 * S - 1), dtype=np.int32)
        opposite = np.zeros_like(same)
        self.self_pairs = []
        if not (n and m):
            return same, opposite
        planes = self.planes.astype(np.float32)
        for d in range(S):
            lo = planes[:, :, :S - d].reshape(n, -1)
            hi = planes[:, :, d:].reshape(n, -1)
            signed_sum = lo @ hi.T
            total = np.abs(lo) @ np.abs(hi).T
            equal = np.rint((total + signed_sum) / 2).astype(np.int32)
            unequal = np.rint((total - signed_sum) / 2).astype(np.int32)
            if d > 0:
                self.self_pairs.append((d, np.diagonal(equal).copy(), np.diagonal(unequal).copy()))
            same[:, :, S - 1 + d] = equal
            opposite[:, :, S - 1 + d] = unequal
            same[:, :, S - 1 - d] = equal.T
            opposite[:, :, S - 1 - d] = unequal.T
        diagonal = np.arange(n)
        same[diagonal, diagonal] = 0
        opposite[diagonal, diagonal] = 0
        return same, opposite

    def _push_input_self_pairs(self) -> None:
        """x_a ± (x_a << d): counted with overlaps, an upper bound recounted when popped."""
        for d, equal, unequal in self.self_pairs:
            for sign, counts in ((1, equal), (-1, unequal)):
                for a in np.flatnonzero(counts >= 2).tolist():
                    self.heap.append(self._entry(int(counts[a]), a, a, d, sign))
        heapq.heapify(self.heap)

    def _materialize_input_pairs(self, best_other: int) -> None:
        """Queue the input pairs whose exact count lies in [new threshold, old threshold)."""
        n, S = self.n, self.S
        upper = np.triu(np.ones((n, n), dtype=bool), 1)[:, :, None]
        best = 0
        for table in (self.same, self.opposite):
            if table.size:
                best = max(best, int(np.max(np.where(upper, table, 0))))
        threshold = max(2, int(max(best, best_other) * _RECOUNT_FRACTION))
        parts = []
        for sign, table in ((1, self.same), (-1, self.opposite)):
            band = upper & (table >= threshold)
            if self.input_threshold != math.inf:
                band &= table < self.input_threshold
            a, b, dd = np.nonzero(band)
            parts.append((table[a, b, dd].astype(np.int64), a, b, dd - (S - 1),
                          np.full(len(a), sign)))
        counts, a, b, d, sign = (np.concatenate(c) for c in zip(*parts))
        priority = -((counts << 42) | self._tie(a, b))
        self.heap.extend(zip(priority.tolist(), _pack(a, b, d, sign).tolist()))
        heapq.heapify(self.heap)
        self.input_threshold = threshold

    def _input_correlation(self, rows, shifts, signs):
        """For terms (row, shift, sign): #(input u at shift + d) of equal/opposite sign.

        Returns two (n, 2S-1) tables indexed [u, d + S - 1].
        """
        S, n = self.S, self.n
        k = len(rows)
        gathered = self.planes[:, rows, :].reshape(n, k * S).astype(np.float32)
        # scatter[(k, s), s - shift_k + S - 1] = sign_k
        scatter = np.zeros((k * S, 2 * S - 1), dtype=np.float32)
        cols = (np.arange(S)[None, :] - np.asarray(shifts)[:, None] + (S - 1)).ravel()
        scatter[np.arange(k * S), cols] = np.repeat(np.asarray(signs, dtype=np.float32), S)
        signed_sum = gathered @ scatter
        total = np.abs(gathered) @ np.abs(scatter)
        return (np.rint((total + signed_sum) / 2).astype(np.int32),
                np.rint((total - signed_sum) / 2).astype(np.int32))

    def _expand(self, v: int) -> None:
        """Count the patterns of adder value v; queue those that may soon be best."""
        rows, shifts, signs = [], [], []
        for r in self.occ[v]:
            for s, g in self.new_terms[r][v].items():
                rows.append(r)
                shifts.append(s)
                signs.append(g)
        if len(rows) < 2:
            return
        S = self.S
        limit = None if self.max_depth is None else self.max_depth - 1
        if limit is not None and self.depth[v] > limit:
            return
        keys, counts = [], []
        if self.n:
            # key (u, v, d) with v at s_u + d: d = -(column - (S - 1))
            for sign, table in zip((1, -1), self._input_correlation(rows, shifts, signs)):
                u, col = np.nonzero(table >= 2)
                keys.append(_pack(u, np.full(len(u), v), (S - 1) - col, np.full(len(u), sign)))
                counts.append(table[u, col].astype(np.int64))
        lengths = np.array([len(self.codes[r]) for r in rows])
        if lengths.sum():
            code = np.array(list(chain.from_iterable(self.codes[r] for r in rows)), dtype=np.int64)
            s_v = np.repeat(np.array(shifts, dtype=np.int64), lengths)
            g_v = np.repeat(np.array(signs, dtype=np.int64), lengths)
            w = code >> _SHIFT_BITS
            s_w = (code >> 1) & ((1 << (_SHIFT_BITS - 1)) - 1)
            g_w = 1 - 2 * (code & 1)
            keep = (w != v) | (s_w > s_v)
            if limit is not None:
                keep &= np.array(self.depth, dtype=np.int64)[w] <= limit
            w, s_w, g_w, s_v, g_v = w[keep], s_w[keep], g_w[keep], s_v[keep], g_v[keep]
            below = w < v
            packed = _pack(np.where(below, w, v), np.where(below, v, w),
                           np.where(below, s_v - s_w, s_w - s_v), g_v * g_w)
            unique, unique_counts = np.unique(packed, return_counts=True)
            keys.append(unique)
            counts.append(unique_counts.astype(np.int64))
        if not keys:
            return
        keys, counts = np.concatenate(keys), np.concatenate(counts)
        threshold = max(2, int(self._best() * _EXPAND_FRACTION))
        now = counts >= threshold
        keys_now = keys[now]
        a_now = keys_now >> (1 + 10 + _VALUE_BITS)
        b_now = (keys_now >> 11) & ((1 << _VALUE_BITS) - 1)
        priority = -((counts[now] << 42) | self._tie(a_now, b_now))
        for entry in zip(priority.tolist(), keys_now.tolist()):
            heapq.heappush(self.heap, entry)
        later = counts[~now]
        deferred = int(later.max()) if later.size else 0
        if deferred >= 2:
            heapq.heappush(self.heap, self._placeholder(deferred, v))

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

    def _remove_input_digits(self, a: int, rows: list, shifts: list, signs: list) -> None:
        """Clear digits of input a, keeping the input-pair counts exact."""
        same, opposite = self._input_correlation(rows, shifts, signs)
        same[a] = 0
        opposite[a] = 0
        self.same[a] -= same
        self.opposite[a] -= opposite
        self.same[:, a] -= same[:, ::-1]
        self.opposite[:, a] -= opposite[:, ::-1]
        self.planes[a, rows, shifts] = 0

    def _add_term(self, value: int, r: int, s: int, g: int) -> None:
        self.new_terms[r].setdefault(value, {})[s] = g
        code = (value << _SHIFT_BITS) | (s << 1) | (g < 0)
        codes = self.codes[r]
        self.code_pos[r][code] = len(codes)
        codes.append(code)
        occ = self.occ[value]
        occ[r] = occ.get(r, 0) + 1

    def _remove_term(self, value: int, r: int, s: int) -> None:
        terms = self.new_terms[r][value]
        g = terms.pop(s)
        if not terms:
            del self.new_terms[r][value]
        code = (value << _SHIFT_BITS) | (s << 1) | (g < 0)
        codes, positions = self.codes[r], self.code_pos[r]
        index = positions.pop(code)
        last = codes.pop()
        if index < len(codes):
            codes[index] = last
            positions[last] = index
        occ = self.occ[value]
        occ[r] -= 1
        if not occ[r]:
            del occ[r]

    def _apply(self, a: int, b: int, d: int, sign: int, matches: list) -> None:
        n = self.n
        a_shift, b_shift = max(0, -d), max(0, d)
        v = n + len(self.nodes)
        self.nodes.append(AdderNode(a, a_shift, b, b_shift, sign))
        depth_v = max(self.depth[a], self.depth[b]) + 1
        self.depth.append(depth_v)
        self.magnitude.append((self.magnitude[a] << a_shift) + (self.magnitude[b] << b_shift))
        delta = (1 << depth_v) - (1 << self.depth[a]) - (1 << self.depth[b])
        self.occ.append({})
        rows = [mt[0] for mt in matches]
        s_as = [mt[1] for mt in matches]
        s_bs = [mt[2] for mt in matches]
        g_as = [mt[3] for mt in matches]
        g_bs = [g * sign for g in g_as]
        if a == b:
            removals = [(a, rows + rows, s_as + s_bs, g_as + g_bs)]
        else:
            removals = [(a, rows, s_as, g_as), (b, rows, s_bs, g_bs)]
        for value, value_rows, value_shifts, value_signs in removals:
            if value < n:
                self._remove_input_digits(value, value_rows, value_shifts, value_signs)
            else:
                for r, s in zip(value_rows, value_shifts):
                    self._remove_term(value, r, s)
        for r, s_a, s_b, g_a in matches:
            self._add_term(v, r, min(s_a, s_b), g_a)
            self.kraft[r] += delta
        heapq.heappush(self.heap, self._placeholder(len(matches), v))

    def export(self, builder: _Builder, input_values: list[int]) -> list:
        """Add the extracted adders and each row's final tree to builder; output triples."""
        values = list(input_values)
        for node in self.nodes:
            values.append(builder.add(values[node.a], node.a_shift, values[node.b],
                                      node.b_shift, node.sign))
        return _sum_rows(builder, self.planes, self.new_terms, values)


_SHIFT_BITS = 8  # a term code is value << 8 | shift << 1 | (sign < 0)
_D_OFFSET = 1 << 9  # pattern keys pack d + _D_OFFSET in 10 bits
_VALUE_BITS = 21


def _pack(a, b, d, sign):
    return ((((a << _VALUE_BITS) | b) << 10 | (d + _D_OFFSET)) << 1) | (sign < 0)


def _unpack(key: int):
    sign = -1 if key & 1 else 1
    key >>= 1
    d = (key & 1023) - _D_OFFSET
    key >>= 10
    return key >> _VALUE_BITS, key & ((1 << _VALUE_BITS) - 1), d, sign
