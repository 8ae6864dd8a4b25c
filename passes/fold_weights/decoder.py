"""hardcore-fold-weights for a decoder step's position ops: insert_row and embedding_at, muxes on pos.

A decoder step (`hardcore-kv-decode`) has an operand `pos`, the step's
position `p` (docs/dialect.md, "Decoder steps"):

- `hardcore.insert_row`: per element of the cache, `p == n ? row : cache`
  (`hardcore.mux`), `n` its index along the cache's axis; the comparison
  with `n` is shared by the row's elements and every cache.
- `hardcore.embedding_at`: per output element, one table over the token's
  id for each position `p` can take (the embedding's table at that position,
  as `hardcore.embedding` folds it), and a balanced tree of muxes on `p`
  (`p <= q ? left : right`); positions with the same entries share one.

`hardcore.qsoftmax_at` folds with `qsoftmax` (`normalize.py`).  Each op is a
layer of its own.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.passes.fold_weights.arith import depths_from, layer_stats
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin
from hardcore.passes.fold_weights.sequence import embedding_table, token_lookup

__all__ = ["fold_insert_row", "fold_embedding_at", "row_index", "insert_row_layout"]


def _shape(value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def row_index(shape, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """For each element of a tensor of `shape` (row-major): its index along `axis`, and the flat index of
    the element it is in a row (the tensor with `axis` cut to 1)."""
    coordinates = list(np.indices(shape).reshape(len(shape), -1))
    along = coordinates[axis].copy()
    coordinates[axis] = np.zeros_like(along)
    row_shape = list(shape)
    row_shape[axis] = 1
    return along, np.ravel_multi_index(coordinates, row_shape).astype(np.int64)


def insert_row_layout(op) -> tuple[list[int], int]:
    """An insert_row's cache shape and axis; ValueError when the axis or the row does not fit the cache."""
    shape = _shape(op.operands[0])
    axis = int(ir.IntegerAttr(op.attributes["axis"]).value)
    if not 0 <= axis < len(shape):
        raise ValueError(f"axis {axis} is not an axis of the cache's shape {shape}")
    row = int(np.prod(_shape(op.operands[1])))
    if row * shape[axis] != int(np.prod(shape)):
        raise ValueError(f"a row of {row} elements does not fit axis {axis} of the cache's shape {shape}")
    return shape, axis


def fold_insert_row(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """The cache with the row written at index p of `axis`: a mux per element on p == its index."""
    cache, row, (pos,) = operands
    shape, axis = insert_row_layout(op)
    along, in_row = row_index(shape, axis)
    before = builder.snapshot()
    select = builder.materialize(pos)
    with depths_from(builder, cache + row):
        result = [_Lin(builder.mux(select, int(n), int(n), builder.materialize(row[j]), builder.materialize(old)),
                       0, 1, 0) for old, n, j in zip(cache, along, in_row)]
        stats = layer_stats(builder, op, before, len(cache) + len(row), result,
                            f"cache {'x'.join(map(str, shape))}, rows on axis {axis}")
    return result, stats


def fold_embedding_at(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """table[clip(p, 0, P-1), clip(x[j], 0, V-1), :]: per element, a table for each position p can take
    and a balanced tree of muxes on p."""
    ids, (pos,) = operands
    table = embedding_table(op)
    positions, vocabulary, dimension = table.shape
    select = builder.materialize(pos)
    low, high = builder.ranges[select]
    before = builder.snapshot()
    result = []
    with depths_from(builder, ids):
        for lin in ids:
            # the elements of this token at each position p can take: [position][d]
            columns = [token_lookup(builder, lin, table[min(max(p, 0), positions - 1)]) for p in range(low, high + 1)]
            for d in range(dimension):
                result.append(_position_tree(builder, select, low, [column[d] for column in columns]))
        stats = layer_stats(builder, op, before, len(ids) + 1, result,
                            f"embedding {vocabulary}x{dimension}, {positions} positions, at the step's position",
                            table)
    return result, stats


def _position_tree(builder: _DagBuilder, select, first: int, values: list[_Lin]) -> _Lin:
    """values[p - first] for the position p = select: a balanced tree of `p <= q ? left : right`."""
    if all(value == values[0] for value in values):
        return values[0]
    half = len(values) // 2
    left = _position_tree(builder, select, first, values[:half])
    right = _position_tree(builder, select, first + half, values[half:])
    if left == right:
        return left
    # p <= q only: within this subtree p >= first already
    chosen = builder.mux(select, builder.ranges[select][0], first + half - 1, builder.materialize(left),
                         builder.materialize(right))
    return _Lin(chosen, 0, 1, 0)
