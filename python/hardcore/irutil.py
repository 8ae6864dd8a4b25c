"""Small helpers for reading and building ops in torch-mlir's MLIR context."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import func

__all__ = [
    "LAYER_OPS",
    "FLOAT_LAYER_OPS",
    "functions",
    "body_ops",
    "int_attr",
    "float_attr",
    "array_attr",
    "i64_attr",
    "dense_attr",
    "tensor_type",
    "int_type",
    "create_op",
    "replace_function",
    "integer_dtype",
    "requant_shifts",
]

# Ops that start a layer of their own; the ops after one (relu, requant, reshape) belong to it.
# Integer layers (after hardcore-quantize; hardcore-kv-decode makes the `_at` and `insert_row` ops): each
# is a `layerK` location and an entry of `hardcore.layers` after hardcore-fold-weights.
LAYER_OPS = frozenset({"hardcore.dense", "hardcore.conv", "hardcore.maxpool", "hardcore.minpool", "hardcore.argmax",
                       "hardcore.add_tensors",
                       "hardcore.embedding", "hardcore.sub_tensors", "hardcore.mul_tensors", "hardcore.matmul",
                       "hardcore.qsoftmax", "hardcore.qnorm", "hardcore.embedding_at", "hardcore.insert_row",
                       "hardcore.qsoftmax_at"})
# Float layers (before hardcore-quantize): each becomes one integer layer, in order (an average pool a
# dense layer, a softmax a qsoftmax, a layer norm a qnorm), and a quantization config addresses them by
# that index.
FLOAT_LAYER_OPS = frozenset({"hardcore.dense", "hardcore.conv", "hardcore.avgpool", "hardcore.maxpool", "hardcore.minpool",
                             "hardcore.argmax",
                             "hardcore.add_tensors", "hardcore.embedding", "hardcore.sub_tensors",
                             "hardcore.mul_tensors", "hardcore.matmul", "hardcore.softmax", "hardcore.layernorm"})


def functions(module: ir.Operation) -> list:
    """The func.func ops directly inside a module op, in order."""
    region = module.regions[0]
    return [op for op in region.blocks[0].operations if op.operation.name == "func.func"]


def body_ops(function) -> list:
    return list(function.regions[0].blocks[0].operations)


def int_attr(op, name: str) -> int:
    return int(ir.IntegerAttr(op.attributes[name]).value)


def float_attr(op, name: str) -> float:
    return float(ir.FloatAttr(op.attributes[name]).value)


def array_attr(op, name: str) -> np.ndarray:
    attribute = op.attributes[name]
    try:
        return np.array(attribute)
    except TypeError:  # widths that are not a byte multiple (i6) have no buffer view
        shape = list(ir.RankedTensorType(attribute.type).shape)
        if attribute.is_splat:
            return np.full(shape, int(attribute.get_splat_value().value), dtype=np.int64)
        return np.array([int(attribute[i]) for i in range(len(attribute))], dtype=np.int64).reshape(shape)


def requant_shifts(op, count: int) -> list[int]:
    """A `hardcore.requant`'s shift for each of its `count` elements (row-major).

    `shift` is one integer for all, or a dense array of one per element
    (per-channel weight scales); ValueError when the array's size is not `count`.
    """
    attribute = op.attributes["shift"]
    if isinstance(attribute, ir.IntegerAttr):
        return [int(attribute.value)] * count
    shifts = [int(v) for v in np.asarray(array_attr(op, "shift")).reshape(-1)]
    if len(shifts) != count:
        raise ValueError(f"'hardcore.requant' has {len(shifts)} shifts for {count} elements")
    return shifts


def i64_attr(value: int) -> ir.IntegerAttr:
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(value))


def int_type(width: int) -> ir.IntegerType:
    return ir.IntegerType.get_signless(int(width))


def tensor_type(shape: Sequence[int], element: ir.Type) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), element)


def integer_dtype(width: int):
    for bits, dtype in ((8, np.int8), (16, np.int16), (32, np.int32), (64, np.int64)):
        if width <= bits:
            return bits, dtype
    raise ValueError(f"no numpy integer type holds {width} bits")


def dense_attr(array: np.ndarray, element: ir.Type) -> ir.DenseElementsAttr:
    """A dense attribute of `element` type holding `array` (exact for integers)."""
    array = np.asarray(array)
    shaped = tensor_type(array.shape, element)
    if isinstance(element, ir.IntegerType):
        width = ir.IntegerType(element).width
        bits, dtype = integer_dtype(width)
        if bits != width:
            # MLIR packs only byte-multiple widths from buffers: go through i64 text-free path.
            values = [ir.IntegerAttr.get(element, int(v)) for v in array.reshape(-1)]
            return ir.DenseElementsAttr.get(values, type=shaped)
        return ir.DenseElementsAttr.get(np.ascontiguousarray(array.astype(dtype)), type=shaped)
    return ir.DenseElementsAttr.get(np.ascontiguousarray(array.astype(np.float32)), type=shaped)


def create_op(name: str, operands: Iterable[ir.Value], result_types: Sequence[ir.Type],
              attributes: dict | None, location: ir.Location) -> ir.Operation:
    """Create a (dynamic, IRDL-defined) op at the current insertion point."""
    return ir.Operation.create(name, results=list(result_types), operands=list(operands),
                               attributes=attributes or {}, loc=location)


def replace_function(old, name: str, input_types: Sequence[ir.Type],
                     result_types: Sequence[ir.Type], attributes: dict | None = None):
    """A new empty func.func right before `old`, with an entry block; `old` stays."""
    with ir.InsertionPoint(old), old.location:
        new = func.FuncOp(name, (list(input_types), list(result_types)))
        for key, value in (attributes or {}).items():
            new.attributes[key] = value
        new.add_entry_block()
    return new
