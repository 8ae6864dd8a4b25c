"""The quantized layer ops, the specification of a step: their intervals over the step's input box, their
exact values for Z3, and their values on integer batches.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from torch_mlir import ir

from hardcore.formal.segments import _Segment, _flat_size
from hardcore.formal.terms import _Unsupported, _Value, _affine, _linear, _sum_interval
from hardcore.interpreter import qnorm, qsoftmax
from hardcore.irutil import array_attr, int_attr, requant_shifts


def _shifts(op) -> list[int]:
    """A requant's shift per element (one for all, or per-channel weight scales)."""
    count = _flat_size(op.results[0])
    try:
        return requant_shifts(op, count)
    except ValueError as exc:
        raise _Unsupported(op, str(exc)) from None


def _index_map(op) -> np.ndarray:
    """A data-movement op's result element i is element map[i] of its operands, flattened and
    concatenated in operand order."""
    name = op.operation.name
    if name == "hardcore.reshape":
        return np.arange(_flat_size(op.results[0]))
    if name == "hardcore.gather":
        indices = array_attr(op, "indices").reshape(-1).astype(np.int64)
        if len(indices) != _flat_size(op.results[0]) or indices.size and (
                indices.min() < 0 or indices.max() >= _flat_size(op.operands[0])):
            raise _Unsupported(op, "gather indices outside the operand")
        return indices
    shapes = [list(ir.RankedTensorType(v.type).shape) for v in op.operands]  # hardcore.concat
    dim, offset, parts = int_attr(op, "dim"), 0, []
    for shape in shapes:
        size = int(np.prod(shape))
        parts.append(np.arange(offset, offset + size).reshape(shape))
        offset += size
    try:
        return np.concatenate(parts, axis=dim).reshape(-1)
    except (ValueError, np.exceptions.AxisError) as exc:
        raise _Unsupported(op, f"concat of shapes {shapes} on dim {dim}: {exc}") from None


_MOVES = frozenset({"hardcore.reshape", "hardcore.gather", "hardcore.concat"})


def _check_same_size(op):
    sizes = [_flat_size(v) for v in op.operands]
    if len(set(sizes)) != 1 or sizes[0] != _flat_size(op.results[0]):
        raise _Unsupported(op, f"operands of {sizes} elements for {_flat_size(op.results[0])} (no broadcasting)")


def _run_segment(segment: _Segment, inputs, apply, take):
    """The step's result: `take(inputs, offset, size)` gives each external tensor, `apply(op, operand
    results)` each op's."""
    env = {value: take(inputs, offset, _flat_size(value)) for value, _, offset in segment.externals}
    for op in segment.ops:
        env[op.results[0]] = apply(op, [env[v] for v in op.operands])
    return env[segment.result]


def _apply_intervals(op, args):
    name = op.operation.name
    if name in _MOVES:
        flat = [x for arg in args for x in arg]
        return [flat[i] for i in _index_map(op)]
    if name == "hardcore.add_tensors":
        _check_same_size(op)
        return [(a[0] + b[0], a[1] + b[1]) for a, b in zip(*args)]
    if name == "hardcore.sub_tensors":
        _check_same_size(op)
        return [(a[0] - b[1], a[1] - b[0]) for a, b in zip(*args)]
    if name == "hardcore.mul_tensors":
        _check_same_size(op)
        return [_product_interval(a, b) for a, b in zip(*args)]
    if name == "hardcore.matmul":
        return [_sum_interval([_product_interval(args[0][i], args[1][j]) for i, j in pairs])
                for pairs in _matmul_pairs(op)]
    return _INTERVALS[name](op, args[0])


def _product_interval(a, b):
    corners = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
    return (min(corners), max(corners))


def _matmul_pairs(op) -> list[list[tuple[int, int]]]:
    """For each output element of a matmul, the (lhs, rhs) element pairs whose products it sums."""
    lhs, rhs = (list(ir.RankedTensorType(v.type).shape) for v in op.operands)
    if len(lhs) < 2 or len(lhs) != len(rhs) or lhs[:-2] != rhs[:-2] or lhs[-1] != rhs[-2]:
        raise _Unsupported(op, f"a matmul of {lhs} by {rhs}")
    rows, depth, columns = lhs[-2], lhs[-1], rhs[-1]
    return [[((b * rows + i) * depth + k, (b * depth + k) * columns + j) for k in range(depth)]
            for b in range(int(np.prod(lhs[:-2]))) for i in range(rows) for j in range(columns)]


def _spec_intervals(segment: _Segment, inputs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The interval of each output element of a step, from its input elements' intervals."""
    return _run_segment(segment, inputs, _apply_intervals, lambda x, offset, size: x[offset:offset + size])


def _dense_rows(op, inputs: list) -> list:
    """The operand's rows of K elements (a dense over R rows maps each; R = 1 for a vector)."""
    columns = array_attr(op, "weight").shape[1]
    if columns == 0 or len(inputs) % columns:
        raise _Unsupported(op, f"an operand of {len(inputs)} elements is not rows of {columns}")
    return [inputs[start:start + columns] for start in range(0, len(inputs), columns)]


def _dense_intervals(op, inputs):
    """Exact: the extremes of each row's W·x + b over the box are at its corners."""
    weight = array_attr(op, "weight").astype(np.int64)
    bias = [int(b) for b in array_attr(op, "bias").reshape(-1)]
    result = []
    for inputs_row in _dense_rows(op, inputs):
        for row, b in zip(weight, bias):
            low = high = b
            for w, (lo, hi) in zip(row.tolist(), inputs_row):
                if w:
                    low += min(w * lo, w * hi)
                    high += max(w * lo, w * hi)
            result.append((low, high))
    return result


def _requant_value(shift: int, value: int) -> int:
    """The requantization of one value before its saturation."""
    return (value + (1 << (shift - 1))) >> shift if shift > 0 else value << -shift


def _clip(value: int, op) -> int:
    return min(max(value, int_attr(op, "min")), int_attr(op, "max"))


def _requant_intervals(op, inputs):  # monotone
    return [(_clip(_requant_value(s, lo), op), _clip(_requant_value(s, hi), op))
            for s, (lo, hi) in zip(_shifts(op), inputs)]


def _lut_intervals(op, inputs):
    entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
    low = int_attr(op, "min")
    result = []
    for lo, hi in inputs:
        if lo < low or hi >= low + len(entries):
            raise _Unsupported(op, f"input range [{lo}, {hi}] is not inside the "
                               f"table's inputs [{low}, {low + len(entries) - 1}]")
        reached = entries[lo - low:hi - low + 1]
        result.append((min(reached), max(reached)))
    return result


def _embedding_columns(op, token: int, count: int) -> np.ndarray:
    """Token `token`'s rows of the table (V x D): its position's, or the one position's."""
    table = array_attr(op, "table").astype(np.int64)
    if table.shape[0] not in (1, count):
        raise _Unsupported(op, f"a table of {table.shape[0]} positions for {count} tokens")
    return table[token if table.shape[0] > 1 else 0]


def _embedding_intervals(op, inputs):
    result = []
    for token, (lo, hi) in enumerate(inputs):
        columns = _embedding_columns(op, token, len(inputs))
        reached = columns[np.clip(np.arange(lo, hi + 1), 0, len(columns) - 1)]
        result += [(int(reached[:, d].min()), int(reached[:, d].max())) for d in range(columns.shape[1])]
    return result


def _maxpool_intervals(op, inputs):  # monotone in each tap
    windows = array_attr(op, "windows").astype(np.int64)
    pick = min if op.operation.name == "hardcore.minpool" else max
    result = []
    for row in windows:
        taps = [inputs[j] for j in row if j >= 0]
        result.append((pick(lo for lo, _ in taps), pick(hi for _, hi in taps)))
    return result


# op name -> (op, input element intervals) -> output element intervals (sound; exact for dense).
_INTERVALS: dict[str, Callable] = {
    "hardcore.dense": _dense_intervals,
    "hardcore.relu": lambda op, inputs: [(max(lo, 0), max(hi, 0)) for lo, hi in inputs],
    "hardcore.requant": _requant_intervals,
    "hardcore.lut": _lut_intervals,
    "hardcore.reshape": lambda op, inputs: list(inputs),
    "hardcore.maxpool": _maxpool_intervals,
    "hardcore.minpool": _maxpool_intervals,
    "hardcore.argmax": lambda op, inputs: [(0, len(inputs) - 1)],
    "hardcore.embedding": _embedding_intervals,
    # requantized outputs in [min, max]; a masked softmax entry is 0
    "hardcore.qsoftmax": lambda op, inputs: [(min(int_attr(op, "min"), 0), max(int_attr(op, "max"), 0))] * len(inputs),
    "hardcore.qnorm": lambda op, inputs: [(int_attr(op, "min"), int_attr(op, "max"))] * len(inputs),
}


def _spec_dense(op, operands, intervals, ctx):
    weight = array_attr(op, "weight").astype(np.int64)
    bias = [int(b) for b in array_attr(op, "bias").reshape(-1)]
    result = []
    for operands_row in _dense_rows(op, operands):
        for row, b in zip(weight, bias):
            taps = [(int(w), x) for w, x in zip(row, operands_row) if w]
            result.append(_affine(ctx.z3, [x for _, x in taps] + [_linear({}, b, ctx.bounds)],
                                  [w for w, _ in taps] + [1], ctx.bounds, intervals[len(result)]))
    return result


def _spec_embedding(op, operands, intervals, ctx):
    z3 = ctx.z3

    def build(terms, x, column):  # ids past the table read its last row, below it its first
        lo, hi = x.interval
        term = z3.IntVal(int(column[min(max(hi, 0), len(column) - 1)]))
        for value in range(hi - 1, lo - 1, -1):
            term = z3.If(terms.term(x) == value, z3.IntVal(int(column[min(max(value, 0), len(column) - 1)])), term)
        return term
    result = []
    for token, x in enumerate(operands):
        columns = _embedding_columns(op, token, len(operands))
        result += [_Value(intervals[len(result)], build=lambda terms, x=x, c=columns[:, d]: build(terms, x, c))
                   for d in range(columns.shape[1])]
    return result


def _spec_relu(op, operands, intervals, ctx):
    z3 = ctx.z3
    return [_Value(interval, build=lambda terms, x=x: z3.If(terms.term(x) > 0, terms.term(x), z3.IntVal(0)))
            for x, interval in zip(operands, intervals)]


def _spec_requant(op, operands, intervals, ctx):
    z3 = ctx.z3
    low, high = int_attr(op, "min"), int_attr(op, "max")

    def build(terms, x, shift):
        x = terms.term(x)
        x = (x + (1 << (shift - 1))) / (1 << shift) if shift > 0 else x * (1 << -shift)  # Int div: floor
        return z3.If(x < low, z3.IntVal(low), z3.If(x > high, z3.IntVal(high), x))
    return [_Value(interval, build=lambda terms, x=x, s=s: build(terms, x, s))
            for x, interval, s in zip(operands, intervals, _shifts(op))]


def _spec_lut(op, operands, intervals, ctx):
    z3 = ctx.z3
    entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
    low = int_attr(op, "min")

    def build(terms, x):  # _lut_intervals checked that x's interval lies in the table
        lo, hi = x.interval
        term = z3.IntVal(entries[hi - low])
        for value in range(hi - 1, lo - 1, -1):
            term = z3.If(terms.term(x) == value, z3.IntVal(entries[value - low]), term)
        return term
    return [_Value(interval, build=lambda terms, x=x: build(terms, x)) for x, interval in zip(operands, intervals)]


def _spec_maxpool(op, operands, intervals, ctx):
    z3 = ctx.z3
    smallest = op.operation.name == "hardcore.minpool"

    def build(terms, taps):
        best = terms.term(taps[0])
        for tap in terms(*taps[1:]):
            best = z3.If(tap < best if smallest else tap > best, tap, best)
        return best
    windows = array_attr(op, "windows").astype(np.int64)
    return [_Value(interval, build=lambda terms, taps=[operands[j] for j in row if j >= 0]: build(terms, taps))
            for row, interval in zip(windows, intervals)]


def _spec_argmax(op, operands, intervals, ctx):
    z3 = ctx.z3

    def build(terms):
        values = terms(*operands)
        best, index = values[0], z3.IntVal(0)
        for position, value in enumerate(values[1:], start=1):
            greater = value > best  # strictly: ties keep the lower index, like torch.argmax
            index = z3.If(greater, z3.IntVal(position), index)
            best = z3.If(greater, value, best)
        return index
    return [_Value(intervals[0], build=build)]


# op name -> encode(op, operand _Values, their result intervals, context) -> result _Values (exact).
_SPEC_SEMANTICS: dict[str, Callable] = {
    "hardcore.dense": _spec_dense,
    "hardcore.relu": _spec_relu,
    "hardcore.requant": _spec_requant,
    "hardcore.lut": _spec_lut,
    "hardcore.reshape": lambda op, operands, intervals, ctx: list(operands),
    "hardcore.maxpool": _spec_maxpool,
    "hardcore.minpool": _spec_maxpool,
    "hardcore.argmax": _spec_argmax,
    "hardcore.embedding": _spec_embedding,
}


def _batch_dense(op, x):
    weight = array_attr(op, "weight").astype(np.int64)
    bias = array_attr(op, "bias").reshape(-1).astype(np.int64)
    rows = x.reshape(len(x), -1, weight.shape[1])  # a dense over rows: each row of K on its own
    bound = int(np.abs(weight).sum(axis=1).max(initial=0)) * int(np.abs(x).max(initial=0))
    if bound + int(np.abs(bias).max(initial=0)) < 1 << 62:
        return (rows.astype(np.int64) @ weight.T + bias).reshape(len(x), -1)
    return (rows.astype(object) @ weight.T.astype(object) + bias.astype(object)).reshape(len(x), -1)  # exact


def _batch_requant(op, x):
    shift = np.array(_shifts(op), dtype=np.int64)
    rounding = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    x = np.where(shift > 0, (x + rounding) >> np.maximum(shift, 0), x << np.maximum(-shift, 0))
    return np.clip(x, int_attr(op, "min"), int_attr(op, "max"))


def _batch_embedding(op, x):
    ids = np.clip(x, 0, array_attr(op, "table").shape[1] - 1)
    return np.concatenate([_embedding_columns(op, token, x.shape[1])[ids[:, token]] for token in range(x.shape[1])],
                          axis=1)


def _batch_rows(op, x, function):
    """A function of the operand's shape (batch first) on flat points (points, elements)."""
    shape = list(ir.RankedTensorType(op.operands[0].type).shape)
    return function(x.reshape([len(x)] + shape)).reshape(len(x), -1)


def _batch_maxpool(op, x):
    pick = np.min if op.operation.name == "hardcore.minpool" else np.max
    return np.stack([pick(x[:, [j for j in row if j >= 0]], axis=1)
                     for row in array_attr(op, "windows").astype(np.int64)], axis=1)


# The same ops on integer batches (points, elements), for sample runs and counterexamples.
_SPEC_BATCH: dict[str, Callable] = {
    "hardcore.dense": _batch_dense,
    "hardcore.relu": lambda op, x: np.maximum(x, 0),
    "hardcore.requant": _batch_requant,
    "hardcore.lut": lambda op, x: array_attr(op, "table").reshape(-1).astype(np.int64)[x - int_attr(op, "min")],
    "hardcore.reshape": lambda op, x: x,
    "hardcore.maxpool": _batch_maxpool,
    "hardcore.minpool": _batch_maxpool,
    "hardcore.argmax": lambda op, x: np.argmax(x, axis=1)[:, None],  # the first largest, like torch.argmax
    "hardcore.embedding": _batch_embedding,
    "hardcore.qsoftmax": lambda op, x: _batch_rows(op, x, lambda rows: qsoftmax(
        rows, bool(int_attr(op, "causal")), array_attr(op, "exp_table"), int_attr(op, "exp_min"),
        int_attr(op, "sum_shift"), array_attr(op, "recip_table"), int_attr(op, "shift"), int_attr(op, "min"),
        int_attr(op, "max"))),
    "hardcore.qnorm": lambda op, x: _batch_rows(op, x, lambda rows: qnorm(
        rows, bool(int_attr(op, "rms")), int_attr(op, "sq_shift"), array_attr(op, "rsqrt_table"),
        int_attr(op, "shift"), int_attr(op, "min"), int_attr(op, "max"))),
}


def _spec_values(segment: _Segment, operands: list, intervals: list, ctx) -> list:
    """The step's outputs as exact `_Value`s over its inputs."""
    def apply(op, args):
        name = op.operation.name
        result_intervals = _apply_intervals(op, [i for _, i in args])
        if name in _MOVES:
            flat = [x for values, _ in args for x in values]
            return [flat[i] for i in _index_map(op)], result_intervals
        if name in ("hardcore.add_tensors", "hardcore.sub_tensors"):
            sign = 1 if name == "hardcore.add_tensors" else -1
            return [_affine(ctx.z3, [a, b], [1, sign], ctx.bounds, interval)
                    for a, b, interval in zip(args[0][0], args[1][0], result_intervals)], result_intervals
        return _SPEC_SEMANTICS[name](op, args[0][0], result_intervals, ctx), result_intervals
    return _run_segment(segment, (operands, intervals), apply,
                        lambda x, offset, size: (x[0][offset:offset + size], x[1][offset:offset + size]))[0]


def _apply_batch(op, args):
    name = op.operation.name
    if name in _MOVES:
        return np.concatenate(args, axis=1)[:, _index_map(op)]
    if name == "hardcore.add_tensors":
        _check_same_size(op)
        return args[0] + args[1]
    if name == "hardcore.sub_tensors":
        _check_same_size(op)
        return args[0] - args[1]
    if name == "hardcore.mul_tensors":
        _check_same_size(op)
        return args[0] * args[1]
    if name == "hardcore.matmul":
        pairs = np.array(_matmul_pairs(op), dtype=np.int64)  # (outputs, K, 2)
        return (args[0][:, pairs[:, :, 0]] * args[1][:, pairs[:, :, 1]]).sum(axis=2)
    return _SPEC_BATCH[name](op, args[0])


def _spec_batch(segment: _Segment, points: np.ndarray) -> np.ndarray:
    """The quantized step on integer input points (points, elements) -> (points, outputs)."""
    return _run_segment(segment, np.asarray(points, dtype=np.int64), _apply_batch,
                        lambda x, offset, size: x[:, offset:offset + size])
