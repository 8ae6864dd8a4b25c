"""hardcore-fold-weights for `hardcore.dense`: the weight matrix to an adder graph of shifts and add/sub.

The matrix goes to a solver (`ALGORITHMS`): `cse`, the CMVM solver of
`hardcore.cmvm`, which shares subexpressions across the whole matrix, or
`csd`, each weight's canonical signed digits on their own (the baseline).
Either way zero weights vanish and ±2^k weights are wires.  The graph's
nodes become `hardcore.shl` + `hardcore.add`/`sub` ops, each as wide as its
exact value range; each output is left as a `_Lin` whose constant is the
bias, so the requantization's rounding constant joins it.  A negated output
costs an adder (`hardcore.neg`) unless that constant is nonzero (c - v): the
solver is told which outputs have a bias, and avoids negating the others.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import AdderGraph, signed_width
from hardcore.csd import per_weight_graph
from hardcore.irutil import array_attr
from hardcore.scale.parallel import SolveJob, solve_all
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin

__all__ = ["ALGORITHMS", "fold_dense", "input_width", "solve_jobs", "constant_rows"]


def _csd(matrix, input_ranges, max_depth, free_rows):
    graph = per_weight_graph(matrix)
    if max_depth is not None and graph.depth > max_depth:
        raise ValueError(f"per-weight folding needs adder depth {graph.depth}, "
                         f"more than max-depth={max_depth}")
    return graph


def input_width(input_ranges) -> tuple[int, bool]:
    """The one input width and signedness the solver takes for inputs in these (lo, hi) ranges."""
    low = min((lo for lo, _ in input_ranges), default=0)
    high = max((hi for _, hi in input_ranges), default=0)
    signed = low < 0
    return (signed_width(low, high) if signed else max(high.bit_length(), 1)), signed


def solve_jobs(matrix, input_ranges, max_depth, free_rows=()) -> list[SolveJob]:
    """The CMVM solves (`hardcore.scale.parallel`) whose graphs `_combine` joins into the matrix's graph.

    `free_rows`: the outputs whose sign an adder after them absorbs (`cmvm.solve`'s free_negation_rows)."""
    bits, signed = input_width(input_ranges)
    return [SolveJob.of(matrix, bits, signed, max_depth, free_rows=free_rows)]


def _combine(jobs: list[SolveJob], graphs: list[AdderGraph]) -> AdderGraph:
    (graph,) = graphs
    return graph


def _cse(matrix, input_ranges, max_depth, free_rows):
    jobs = solve_jobs(matrix, input_ranges, max_depth, free_rows)
    return _combine(jobs, solve_all(jobs))


# algorithm name -> solver(matrix, input ranges, max depth, rows whose sign is free) -> AdderGraph
ALGORITHMS = {"csd": _csd, "cse": _cse}


def constant_rows(weight, bias: list, kept: tuple, members: list) -> list[int]:
    """The outputs that keep a constant term in every row of inputs: there `materialize` builds
    c - v, one subtractor as c + v would be, so a negated output is free.

    An estimate from this layer alone (docs/cmvm.md, Cost model): a requantization's rounding
    constant joins later and frees the other rows too.
    """
    dropped = [j for j in range(weight.shape[1]) if j not in kept]
    rows = []
    for i, b in enumerate(bias):
        if all(b + sum(int(weight[i, j]) * row[j].const for j in dropped) != 0 for row in members):
            rows.append(i)
    return rows


def build_graph(builder: _DagBuilder, graph: AdderGraph, values: list, ranges: list) -> list:
    """The graph's nodes as shl + add/sub ops on `values` (its inputs, in `ranges`): every value, inputs first."""
    node_ranges = graph.value_ranges(ranges)
    built = list(values)
    for k, node in enumerate(graph.nodes):
        a = builder.shl(built[node.a], node.a_shift)
        b = builder.shl(built[node.b], node.b_shift)
        value_range = node_ranges[graph.n_inputs + k]
        built.append(builder.add(a, b, value_range) if node.sign > 0 else builder.sub(a, b, value_range))
    return built


def fold_dense(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """y[r] = W x[r] + b for each row r of K inputs: the matrix solved once per pattern of constant
    inputs (one, as a rule), its adder graph built once per row."""
    source = operands[0]
    weight = array_attr(op, "weight").astype(np.int64)
    bias = [int(b) for b in array_attr(op, "bias").astype(np.int64)]
    columns = weight.shape[1]
    if columns == 0 or len(source) % columns:
        raise ValueError(f"an operand of {len(source)} elements is not rows of the weight's {columns} columns")
    rows = [source[start:start + columns] for start in range(0, len(source), columns)]
    # A constant input only moves the bias: the rows whose constant inputs are the same
    # columns share one solved graph, over the union of their inputs' ranges.
    patterns: dict = {}
    for row in rows:
        kept = tuple(j for j, lin in enumerate(row) if lin.value is not None)
        patterns.setdefault(kept, []).append(row)
    graphs = {}
    for kept, members in patterns.items():
        ranges = [(min(builder.lin_range(row[j])[0] for row in members),
                   max(builder.lin_range(row[j])[1] for row in members)) for j in kept]
        graphs[kept] = ALGORITHMS[options.algorithm](weight[:, list(kept)], ranges, options.max_depth,
                                                     constant_rows(weight, bias, kept, members))
    before = builder.snapshot()
    result, depth = [], 0
    for row in rows:
        kept = tuple(j for j, lin in enumerate(row) if lin.value is not None)
        row_bias = list(bias)
        for j, lin in enumerate(row):
            if lin.value is None:
                row_bias = [b + int(weight[i, j]) * lin.const for i, b in enumerate(row_bias)]
        values = [builder.materialize(row[j]) for j in kept]
        saved_depths = {v: builder.depths.get(v, 0) for v in values}
        for v in values:  # depth is counted from this layer's inputs
            builder.depths[v] = 0
        built = build_graph(builder, graphs[kept], values, [builder.ranges[v] for v in values])
        for i, out in enumerate(graphs[kept].outputs):
            if out is None:
                result.append(_Lin(None, 0, 1, row_bias[i]))
            else:
                value, shift, sign = out
                result.append(_Lin(built[value], shift, sign, row_bias[i]))
                depth = max(depth, builder.depths.get(built[value], 0))
        for v, d in saved_depths.items():
            builder.depths[v] = d
    made = builder.since(before)
    stats = {
        "inputs": len(source), "outputs": len(result),
        "weights": int(weight.size), "nonzero_weights": int(np.count_nonzero(weight)),
        "adders": made["adders"], "adder_bits": made["adder_bits"], "adder_depth": depth,
    }
    if "hardcore.kind" in op.attributes:  # set by hardcore-import: "linear 16->64", "conv2d ..."
        stats["kind"] = ir.StringAttr(op.attributes["hardcore.kind"]).value
    return result, stats
