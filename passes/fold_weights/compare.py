"""hardcore-fold-weights for the comparator layers: max pool, min pool and argmax, trees of `hardcore.max`
and `hardcore.pick`.

Each is a layer of its own, with comparators instead of adders.  A min pool
(torch.minimum) is a tree of `hardcore.pick`s that take the smaller value.  A
comparison that the value ranges decide costs nothing.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.irutil import array_attr
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin

__all__ = ["fold_maxpool", "fold_minpool", "fold_argmax", "comparator_stats", "max_tree"]


def fold_maxpool(options, builder: _DagBuilder, op, operands: list[list[_Lin]], smallest: bool = False):
    """Each window's maximum: a balanced tree of `hardcore.max` (a comparator and a mux each); with
    `smallest`, its minimum, a tree of `hardcore.pick`."""
    source = operands[0]
    windows = array_attr(op, "windows").astype(np.int64)
    if windows.ndim != 2 or np.any(windows >= len(source)) or np.any(np.all(windows < 0, axis=1)):
        raise ValueError(f"{op.operation.name} windows must list indices of its {len(source)} inputs "
                         f"(-1 for padding), each window at least one")
    made = "hardcore.pick" if smallest else "hardcore.max"
    made_before = builder.made[made]
    result, depth = [], 0
    for row in windows:
        value, row_depth = max_tree(builder, [builder.materialize(source[j]) for j in row if j >= 0], smallest)
        result.append(_Lin(value, 0, 1, 0))
        depth = max(depth, row_depth)
    comparators = builder.made[made] - made_before
    return result, comparator_stats(op, windows.shape[0], len(source), comparators, depth)


def fold_minpool(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """Each window's minimum: a balanced tree of `hardcore.pick` (a comparator and a mux each)."""
    return fold_maxpool(options, builder, op, operands, smallest=True)


def max_tree(builder: _DagBuilder, values: list, smallest: bool = False) -> tuple[object, int]:
    """The largest of `values` (the smallest with `smallest`): a balanced tree of `hardcore.max`
    (`builder.min`), neighbours paired level by level (an odd one out waits for the next level); and
    its comparator depth."""
    level = [(value, 0) for value in values]
    while len(level) > 1:
        paired = []
        for (a, depth_a), (b, depth_b) in zip(level[0::2], level[1::2]):
            value = builder.min(a, b) if smallest else builder.max(a, b)
            paired.append((value, depth_a if value == a else depth_b if value == b else max(depth_a, depth_b) + 1))
        level = paired + level[len(paired) * 2:]
    return level[0]


def fold_argmax(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """The first largest element's index: a comparator tree over (value, index) pairs.

    Neighbours are paired level by level, the lower indices on the left; a
    pair keeps the right one only when its value is strictly larger, so
    every subtree yields its first largest element, like torch.argmax.
    The pair's `hardcore.pick` (index) and `hardcore.max` (value, for the
    next level; the root needs none) share one comparator in hardware.
    """
    source = operands[0]
    made_before = builder.made["hardcore.pick"]
    level = [(builder.materialize(lin), builder.constant(i), 0) for i, lin in enumerate(source)]
    while len(level) > 1:
        paired = []
        for (value_a, index_a, depth_a), (value_b, index_b, depth_b) in zip(level[0::2], level[1::2]):
            index = builder.pick(value_a, value_b, index_a, index_b)
            value = builder.max(value_a, value_b) if len(level) > 2 else None
            depth = depth_a if index == index_a else depth_b if index == index_b else max(depth_a, depth_b) + 1
            paired.append((value, index, depth))
        level = paired + level[len(paired) * 2:]
    comparators = builder.made["hardcore.pick"] - made_before
    return [_Lin(level[0][1], 0, 1, 0)], comparator_stats(op, 1, len(source), comparators, level[0][2])


def comparator_stats(op, outputs: int, inputs: int, comparators: int, depth: int) -> dict:
    stats = {"inputs": inputs, "outputs": outputs, "weights": 0, "nonzero_weights": 0, "adders": 0,
             "adder_bits": 0, "adder_depth": 0, "comparators": comparators, "comparator_depth": depth}
    if "hardcore.kind" in op.attributes:
        stats["kind"] = ir.StringAttr(op.attributes["hardcore.kind"]).value
    return stats
