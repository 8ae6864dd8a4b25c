"""hardcore-import's elementwise maximum and minimum of two tensors the model computes: pools of pairs.

aten.maximum(a, b) and aten.minimum(a, b), broadcast as torch does: the two
operands joined (`hardcore.concat`, which hardcore-quantize puts at one scale)
and a `hardcore.maxpool` or `hardcore.minpool` whose window `i` is the pair
[i, N + i]: one comparator per element, a layer of its own.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op, dense_attr, tensor_type
from hardcore.passes.import_.importer import KIND, dims_text, full_shape

__all__ = ["lower_maximum", "lower_minimum"]


def _pairwise(importer, op, pool: str, what: str):
    out = full_shape(op.results[0])
    lhs, rhs = (importer.flat(importer.broadcast(op, importer.model_value(value, what), full_shape(value), out),
                              op.location) for value in op.operands[:2])
    size = ir.RankedTensorType(lhs.type).shape[0]
    both = create_op("hardcore.concat", [lhs, rhs], [tensor_type([2 * size], ir.F32Type.get())],
                     {"dim": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), 0)}, op.location).results[0]
    windows = np.stack([np.arange(size), size + np.arange(size)], axis=1)
    shape = importer.model_shape(op.results[0])
    attributes = {"windows": dense_attr(windows, ir.IntegerType.get_signless(64)),
                  KIND: ir.StringAttr.get(f"{what} of two tensors {dims_text(shape) or '1'}")}
    result = create_op(pool, [both], [tensor_type([size], ir.F32Type.get())], attributes, op.location).results[0]
    return importer.reshaped(result, shape, op.location)


def lower_maximum(importer, op):
    return _pairwise(importer, op, "hardcore.maxpool", "maximum")


def lower_minimum(importer, op):
    return _pairwise(importer, op, "hardcore.minpool", "minimum")
