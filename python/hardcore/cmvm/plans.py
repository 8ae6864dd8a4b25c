"""The plans (direct CSE, row differences, the transpose, in each digit form), run and compared; restarts.

The tuning constants here are read at each solve: set them on this module
(`hardcore.cmvm.plans`), not on the package.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import numpy as np

from hardcore.cmvm.builder import _Builder, _canonical_rows, _expand_rows, _Infeasible, _sum_terms
from hardcore.cmvm.core import _pilot_cse
from hardcore.cmvm.digits import _ceil_log2, _naf_weight, min_depth
from hardcore.cmvm.native import _C_MAX_DEPTH, _c_core_fits, _c_cse, _c_cse_deep, _c_module, _core
from hardcore.cmvm.signs import _signed

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


# The digit forms every plan is tried with; above FORMS_NONZEROS nonzero weights only the first
# (CSD): the second doubles the first pass's time, which on large matrices is most of a compile's
# (Linear(512, 512) int8 compiled in 87.5 s with both forms, against 60-64 s with CSD alone:
# bench/scale.py), for about 0.5% of the adders (bench/cmvm.py).
PLAN_FORMS = (0, 1)
FORMS_NONZEROS = 20000


# CMVM_DEBUG=1 prints every plan's cost.
_DEBUG = bool(os.environ.get("CMVM_DEBUG"))


class PlansInfeasible(ValueError):
    """None of the plans `solve` was asked to try meets its depth bound."""


def _best_plan(W: np.ndarray, magnitudes: list[int], max_depth: Optional[int],
               restarts: Optional[int], free_rows: frozenset, lookahead: int = 0,
               wanted: Optional[list[int]] = None):
    """Try every plan (or the codes wanted), then rerun the best one on shuffled matrices; keep the cheapest graph.

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
    scores, first = _run_plans(W, magnitudes, max_depth, wanted, None, use_c)
    if first is None:
        raise PlansInfeasible(f"none of the plans {wanted} meets max_depth={max_depth}")
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
