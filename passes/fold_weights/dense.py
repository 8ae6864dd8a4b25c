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

from hardcore import cmvm
from hardcore.adder_graph import AdderGraph, AdderNode, signed_width
from hardcore.csd import per_weight_graph
from hardcore.irutil import array_attr
from hardcore.scale.parallel import SolveJob, solve_all
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin

__all__ = ["ALGORITHMS", "BLOCK_COLUMNS", "BLOCK_MIN_COLUMNS", "DIRECT_NONZEROS", "DIRECT_PLANS", "fold_dense",
           "input_width", "solve_jobs", "constant_rows", "value_ranges"]

# A matrix of more than BLOCK_MIN_COLUMNS columns is solved as column blocks of BLOCK_COLUMNS, each a job
# of its own (in parallel on a pool), and each row sums its blocks' outputs.  The solver's time grows
# faster than the columns at a fixed number of rows (1024 rows: 16 s at 128 columns, 58 s at 256,
# measured), so blocks bound it per nonzero weight; they cost some sharing (+4.7% adders at 256 x 256,
# +8.8% at 512 x 512: docs/scale.md), so only wider matrices are split.  Every matrix of the README MLP,
# the digits CNN and the tests is narrower: solved whole, as before.
BLOCK_COLUMNS = 128
BLOCK_MIN_COLUMNS = 512
# A solve (a whole matrix or a column block) of more than DIRECT_NONZEROS nonzero weights tries only
# cmvm's direct plan (DIRECT_PLANS: "direct tie=b digits=0", the only direct plan cmvm runs on so large a
# matrix), without restarts: on a 1024 x 128 block the three row-difference plans took 83% of the solve
# and the direct plan won, with 1.4% fewer adders than the best of them (docs/scale.md).  Every matrix of
# the README MLP, the digits CNN and the tests is far smaller: all plans, as before.
DIRECT_NONZEROS = 100_000
DIRECT_PLANS = (0,)


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


def solve_jobs(matrix, input_ranges, max_depth, free_rows=(), block_columns: int | None = None) -> list[SolveJob]:
    """The CMVM solves (`hardcore.scale.parallel`) whose graphs `_combine` joins into the matrix's graph.

    A matrix of more than BLOCK_MIN_COLUMNS columns is solved in column blocks
    of BLOCK_COLUMNS (of `block_columns`, when given, whatever the matrix's
    width), one job each, when the depth bound leaves room for the sums of
    the blocks' outputs; any other matrix is one job.  `free_rows`: the
    outputs whose sign an adder after them absorbs (`cmvm.solve`'s
    free_negation_rows).  A job of more than DIRECT_NONZEROS nonzero weights
    tries only DIRECT_PLANS."""
    bits, signed = input_width(input_ranges)
    matrix = np.asarray(matrix)
    columns = matrix.shape[1]
    if block_columns is None:
        block_columns = BLOCK_COLUMNS if columns > BLOCK_MIN_COLUMNS else columns
    starts = range(0, columns, max(block_columns, 1))
    if len(starts) < 2:
        return [SolveJob.of(matrix, bits, signed, max_depth, free_rows=free_rows, plans=_plans(matrix))]
    blocks = [matrix[:, start:start + block_columns] for start in starts]
    if max_depth is not None:
        block_depth = max_depth - _ceil_log2(len(blocks))
        if block_depth < max(cmvm.min_depth(block) for block in blocks):
            return [SolveJob.of(matrix, bits, signed, max_depth, free_rows=free_rows, plans=_plans(matrix))]
        max_depth = block_depth
    # The blocks share the restarts (reruns on shuffled blocks) that the solver would give the whole matrix.
    budget = cmvm.plans.RESTART_BUDGET // max(int(np.count_nonzero(matrix)), 1)
    # A block's output is summed with another block's, which absorbs its sign, unless the row's
    # only nonzero weights are in that block: then the row's own freedom holds.
    shared = np.count_nonzero([np.any(block != 0, axis=1) for block in blocks], axis=0) > 1
    free = shared.copy()
    free[list(free_rows)] = True
    return [SolveJob.of(block, bits, signed, max_depth, free_rows=np.flatnonzero(free),
                        restarts=min(cmvm.plans.MAX_RESTARTS,
                                     int(np.count_nonzero(block)) // cmvm.plans.RESTART_NONZEROS, budget),
                        plans=_plans(block))
            for block in blocks]


def _plans(matrix: np.ndarray):
    """The cmvm plans a solve of `matrix` tries: DIRECT_PLANS above DIRECT_NONZEROS nonzero weights, else all (None)."""
    return DIRECT_PLANS if np.count_nonzero(matrix) > DIRECT_NONZEROS else None


def _ceil_log2(count: int) -> int:
    return max(count - 1, 0).bit_length()


def _combine(jobs: list[SolveJob], graphs: list[AdderGraph]) -> AdderGraph:
    """The matrix's graph from its jobs' graphs: one job's as it is, column blocks' summed per row."""
    if len(graphs) == 1:
        return graphs[0]
    return _ColumnBlocks(graphs)


class _ColumnBlocks(AdderGraph):
    """The graph of [W_1 W_2 ... W_k] from the column blocks' graphs: row i sums the blocks' outputs i.

    The blocks' nodes come first, block after block (inputs renumbered to
    their columns), then a balanced tree of sums per row (ceil(log2 k) adder
    levels at most, over the rows' nonzero block outputs).  The blocks read
    disjoint inputs, so a sum's exact range is the sum of its operands'
    ranges: `value_ranges` takes each block's on its own (the blocks' forms
    are k times narrower than the whole matrix's).
    """

    def __init__(self, graphs: list[AdderGraph]):
        n_inputs = sum(graph.n_inputs for graph in graphs)
        super().__init__(n_inputs=n_inputs, input_bits=tuple(bits for graph in graphs for bits in graph.input_bits),
                         signed=graphs[0].signed)
        self.blocks = graphs
        parts: list[list] = [[] for _ in graphs[0].outputs]
        column = 0
        for graph in graphs:
            inputs, offset = graph.n_inputs, n_inputs + len(self.nodes) - graph.n_inputs
            # Input j is column + j, node k is after the nodes so far (a million nodes: no call per value).
            self.nodes.extend([AdderNode(node.a + (column if node.a < inputs else offset), node.a_shift,
                                         node.b + (column if node.b < inputs else offset), node.b_shift, node.sign)
                               for node in graph.nodes])
            for row, output in enumerate(graph.outputs):
                if output is not None:
                    value = output[0]
                    parts[row].append((value + (column if value < inputs else offset), output[1], output[2]))
            column += graph.n_inputs
        self.block_nodes = len(self.nodes)
        self.outputs = [self._sum(row_parts) for row_parts in parts]

    def _sum(self, row_parts: list):
        """sign * (value << shift) of the row's parts summed pairwise, level by level; None for no part."""
        while len(row_parts) > 1:
            row_parts = [self._add(*row_parts[k:k + 2]) if k + 1 < len(row_parts) else row_parts[k]
                         for k in range(0, len(row_parts), 2)]
        return row_parts[0] if row_parts else None

    def _add(self, first, second):
        (a, a_shift, a_sign), (b, b_shift, b_sign) = (first, second) if first[2] > 0 or second[2] < 0 \
            else (second, first)
        shift = min(a_shift, b_shift)  # common to both: left on the output, where shifts are wires
        self.nodes.append(AdderNode(a, a_shift - shift, b, b_shift - shift, a_sign * b_sign))
        return self.n_inputs + len(self.nodes) - 1, shift, a_sign

    def value_ranges(self, ranges):
        ranges = [(int(low), int(high)) for low, high in ranges]
        result = list(ranges)
        column = 0
        for graph in self.blocks:
            result.extend(value_ranges(graph, ranges[column:column + graph.n_inputs])[graph.n_inputs:])
            column += graph.n_inputs
        for node in self.nodes[self.block_nodes:]:
            (a_low, a_high), (b_low, b_high) = result[node.a], result[node.b]
            a_low, a_high, b_low, b_high = (a_low << node.a_shift, a_high << node.a_shift, b_low << node.b_shift,
                                            b_high << node.b_shift)
            result.append((a_low + b_low, a_high + b_high) if node.sign > 0 else (a_low - b_high, a_high - b_low))
        return result


def value_ranges(graph: AdderGraph, ranges) -> list[tuple[int, int]]:
    """`graph.value_ranges(ranges)` (the exact range of every value, inputs first), on narrow arrays.

    The same linear forms (a row of input coefficients per node, built a depth
    level at a time, the inputs in column blocks), held as int16 or int32 when
    the coefficients' bound allows, and each node's extremes (the sum of its
    terms' extremes) as two float64 matrix-vector products, exact while every
    partial sum stays below 2^53: a quarter of the memory traffic of the
    graph's int64 forms.  A column-blocks graph sums its blocks' on their own;
    any other graph whose coefficients are too wide gets `graph.value_ranges`.
    """
    if isinstance(graph, _ColumnBlocks):
        return graph.value_ranges(ranges)
    ranges = [(int(low), int(high)) for low, high in ranges]
    n_in, n_nodes = graph.n_inputs, len(graph.nodes)
    if not n_nodes:
        return ranges
    nodes = np.array([(node.a, node.a_shift, node.b, node.b_shift, node.sign) for node in graph.nodes],
                     dtype=np.int64)
    a, a_shift, b, b_shift, sign = nodes.T
    depths = np.array(graph.value_depths(), dtype=np.int64)[n_in:]
    order = np.argsort(depths, kind="stable")
    levels = np.split(order, np.flatnonzero(np.diff(depths[order])) + 1)
    bounds = np.ones(n_in + n_nodes)  # |coefficient| of each value at most (float64: only compared)
    for level in levels:
        bounds[n_in + level] = np.ldexp(bounds[a[level]], a_shift[level]) + np.ldexp(bounds[b[level]], b_shift[level])
    top = float(bounds.max())
    reach = top * max(max(abs(low), abs(high)) for low, high in ranges) * n_in
    dtype = np.int16 if top < 2 ** 14 else np.int32 if top < 2 ** 30 else None
    if dtype is None or reach >= 2 ** 52:
        return graph.value_ranges(ranges)
    lows = np.array([low for low, _ in ranges], dtype=np.float64)
    highs = np.array([high for _, high in ranges], dtype=np.float64)
    a_shift, b_shift, negated = a_shift.astype(dtype), b_shift.astype(dtype), sign < 0
    node_lows, node_highs = np.zeros(n_nodes), np.zeros(n_nodes)
    block = max(1, min(n_in, (1 << 24) // (n_in + n_nodes)))
    for start in range(0, n_in, block):
        stop = min(n_in, start + block)
        forms = np.zeros((n_in + n_nodes, stop - start), dtype=dtype)
        forms[start:stop] = np.eye(stop - start, dtype=dtype)
        for level in levels:
            first, second = forms[a[level]], forms[b[level]]
            first <<= a_shift[level, None]
            second <<= b_shift[level, None]
            second[negated[level]] *= -1
            first += second
            forms[n_in + level] = first
        rows = max(1, (1 << 22) // (stop - start))
        for row in range(0, n_nodes, rows):
            form = forms[n_in + row:n_in + min(n_nodes, row + rows)].astype(np.float64)
            positive = np.maximum(form, 0)
            form -= positive  # the negative coefficients
            node_lows[row:row + rows] += positive @ lows[start:stop] + form @ highs[start:stop]
            node_highs[row:row + rows] += positive @ highs[start:stop] + form @ lows[start:stop]
    return ranges + list(zip(node_lows.astype(np.int64).tolist(), node_highs.astype(np.int64).tolist()))


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
    node_ranges = value_ranges(graph, ranges)
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
