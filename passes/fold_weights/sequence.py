"""hardcore-fold-weights for the sequence-model layers: embedding, products of activations, matmul.

- `hardcore.embedding`: one `hardcore.table` per output element over its
  token's id, with one entry per id its range reaches (an id past V - 1
  reads row V - 1; a range reaching below 0 or past 2V is clamped to
  [0, V - 1] first); a column that is one value is that constant.
- `hardcore.mul_tensors`: one `hardcore.mul` per element.
- `hardcore.matmul`: per output, `K` multipliers and a balanced adder tree.

A constant operand never reaches a multiplier: it is a shift/add constant
multiply (`arith.times_constant`).  Each op is a layer of its own.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.irutil import array_attr
from hardcore.passes.fold_weights.arith import depths_from, layer_stats, lookup, product, sum_lins
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin

__all__ = ["fold_embedding", "fold_mul_tensors", "fold_matmul", "embedding_table", "token_lookup"]


def _shape(value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def fold_embedding(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """y[t, :] = table[p, clip(x[t], 0, V-1), :]: a table per output element over token t's id."""
    table = embedding_table(op)
    positions, vocabulary, dimension = table.shape
    ids = operands[0]
    if positions not in (1, len(ids)):
        raise ValueError(f"the table has {positions} positions for {len(ids)} tokens")
    before = builder.snapshot()
    result = []
    with depths_from(builder, ids):
        for t, lin in enumerate(ids):
            result += token_lookup(builder, lin, table[t if positions > 1 else 0])
        kind = f"embedding {vocabulary}x{dimension}" + (f", {positions} positions" if positions > 1 else "")
        stats = layer_stats(builder, op, before, len(ids), result, kind, table)
    return result, stats


def embedding_table(op) -> np.ndarray:
    """An embedding's integer table, positions x vocabulary x dimension (ValueError otherwise)."""
    table = array_attr(op, "table")
    if not np.issubdtype(table.dtype, np.integer):
        raise ValueError("the table is not integer (run hardcore-quantize first)")
    if table.ndim != 3:
        raise ValueError(f"the table has shape {list(table.shape)}, not positions x vocabulary x dimension")
    return table.astype(np.int64)


def token_lookup(builder: _DagBuilder, lin: _Lin, columns: np.ndarray) -> list[_Lin]:
    """Row clip(id, 0, V-1) of `columns` (V x D) for the token id `lin`: a table per element."""
    vocabulary, dimension = columns.shape
    low, high = builder.lin_range(lin)
    if not 0 <= low <= high < 2 * vocabulary:  # clamp first: the table covers [0, V-1]
        value = builder.clamp(builder.materialize(lin), 0, vocabulary - 1)
        lin, (low, high) = _Lin(value, 0, 1, 0), builder.ranges[value]
    # One entry per id the range reaches; an id past V - 1 reads row V - 1 (the ids
    # of an unsigned port up to 2^bits - 1: the mux tree repeats its last entry anyway).
    rows = np.minimum(np.arange(low, high + 1), vocabulary - 1)
    return [lookup(builder, lin, low, [int(v) for v in columns[rows, d]]) for d in range(dimension)]


def fold_mul_tensors(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """a · b per element: one multiplier each (a shift/add constant multiply where one is a constant)."""
    lhs, rhs = operands
    if len(lhs) != len(rhs):
        raise ValueError(f"operands of {len(lhs)} and {len(rhs)} elements (no broadcasting)")
    before = builder.snapshot()
    with depths_from(builder, lhs + rhs):
        result = [product(options, builder, a, b) for a, b in zip(lhs, rhs)]
        stats = layer_stats(builder, op, before, len(lhs) + len(rhs), result,
                            f"multiply {_shape_text(_shape(op.results[0]))}")
    return result, stats


def fold_matmul(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """[..., M, K] x [..., K, N]: per output, K products and a balanced adder tree."""
    lhs, rhs = operands
    lhs_shape, rhs_shape = _shape(op.operands[0]), _shape(op.operands[1])
    if len(lhs_shape) < 2 or lhs_shape[:-2] != rhs_shape[:-2] or len(rhs_shape) != len(lhs_shape) \
            or lhs_shape[-1] != rhs_shape[-2]:
        raise ValueError(f"cannot multiply {_shape_text(lhs_shape)} by {_shape_text(rhs_shape)} "
                         "(expected ...xMxK and ...xKxN)")
    rows, depth = lhs_shape[-2:]
    columns = rhs_shape[-1]
    batch = int(np.prod(lhs_shape[:-2]))
    before = builder.snapshot()
    result = []
    with depths_from(builder, lhs + rhs):
        for b in range(batch):
            for i in range(rows):
                for j in range(columns):
                    terms = [product(options, builder, lhs[(b * rows + i) * depth + k],
                                     rhs[(b * depth + k) * columns + j]) for k in range(depth)]
                    result.append(sum_lins(builder, terms))
        stats = layer_stats(builder, op, before, len(lhs) + len(rhs), result,
                            f"matmul {_shape_text(lhs_shape)} x {_shape_text(rhs_shape)}")
    return result, stats
