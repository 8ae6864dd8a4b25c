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
  step-for-step port of `plans._plans` and `core._PairCse` giving the same
  graphs; HARDCORE_CMVM_CORE=python selects the Python code itself, the
  reference.

Rows that are equal up to sign and a power of two share one value (output
shifts are wires).  A negated output costs an adder unless its row is in
`free_negation_rows` (a bias or rounding adder absorbs the sign); the plans
are compared by adders plus those negations, and `signs._normalize_signs`
chooses for every adder whether it computes v or -v so that few are needed
(and subtractors pass their low bits as wires where they can).

The modules: `digits` (digit forms, weight checks, `min_depth`), `builder`
(the graph under construction, minimal-depth sums), `core` (the Python
pair-pattern CSE and its look-ahead), `native` (the C core's glue), `plans`
(the plans, their tuning constants, the restarts) and `signs` (output
signs).  This package holds the public API: `solve` and the names in
`__all__`.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, Union

import numpy as np

from hardcore.adder_graph import AdderGraph, AdderNode
from hardcore.cmvm.builder import _Builder, _sum_rows
from hardcore.cmvm.digits import (DIGIT_FORMS, _as_int_matrix, _check_depth_feasible, csd_planes, digit_planes,
                                  min_depth)
from hardcore.cmvm.plans import PlansInfeasible, _best_plan
from hardcore.cmvm.signs import _normalize_signs

__all__ = ["solve", "ALGORITHMS", "DIGIT_FORMS", "PlansInfeasible", "csd_planes", "digit_planes", "min_depth"]

ALGORITHMS = ("cse", "csd")
# The most look-ahead work solve accepts (the C core's limit).
MAX_LOOKAHEAD = 1 << 20


def solve(W, input_bits: Union[int, Sequence[int]] = 8, signed: bool = True,
          max_depth: Optional[int] = None, algorithm: str = "cse",
          restarts: Optional[int] = None, free_negation_rows: Iterable[int] = (),
          lookahead: int = 0, plans: Optional[Iterable[int]] = None) -> AdderGraph:
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
    see docs/cmvm.md).  plans: the codes of the plans to try (see
    `plans._plan_label`; None: every plan), for `algorithm="cse"`; a
    `PlansInfeasible` error if none of them meets max_depth.  The returned graph
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
    if plans is not None and algorithm != "cse":
        raise ValueError(f"plans are those of algorithm 'cse', not {algorithm!r}")
    if max_depth is not None:
        if max_depth < 0:
            raise ValueError(f"max_depth must be >= 0, got {max_depth}")
        _check_depth_feasible(W, max_depth)

    wanted = None if plans is None else [int(code) for code in plans]
    magnitudes = [(1 << (b - 1)) if signed else (1 << b) - 1 for b in bits]
    if algorithm == "csd":
        builder = _Builder(n, magnitudes)
        outputs = _sum_rows(builder, csd_planes(W).transpose(1, 0, 2), [dict() for _ in range(m)],
                            list(range(n)))
        best_nodes = [(x.a, x.a_shift, x.b, x.b_shift, x.sign) for x in builder.nodes]
    else:
        best_nodes, outputs = _best_plan(W, magnitudes, max_depth, restarts, free_rows, int(lookahead),
                                         wanted)
    graph = AdderGraph(n_inputs=n, nodes=[AdderNode(*node) for node in best_nodes], outputs=outputs,
                       input_bits=bits, signed=bool(signed))
    best_nodes, outputs = _normalize_signs(n, best_nodes, outputs, free_rows,
                                           graph.value_ranges(graph.input_ranges()))
    return AdderGraph(n_inputs=n, nodes=[AdderNode(*node) for node in best_nodes], outputs=outputs,
                      input_bits=bits, signed=bool(signed))
