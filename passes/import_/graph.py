"""hardcore-import's graph and shape ops: residual adds, concatenation, means, permutations, reshapes."""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op, dense_attr, tensor_type
from hardcore.passes.import_.importer import KIND, dims_text

__all__ = ["lower_add_tensor", "lower_cat", "lower_mean_dim", "lower_permute", "lower_transpose", "lower_reshape",
           "lower_dropout", "lower_runtime_assert"]


def lower_add_tensor(importer, op):
    # aten.add.Tensor(a, b, alpha): a + alpha * b
    alpha = importer.constant(op.operands[2], "add.Tensor alpha")
    if alpha != 1:
        raise ValueError(f"add.Tensor with alpha {alpha} is not supported (only a + b)")
    lhs = importer.model_value(op.operands[0], "add.Tensor")
    rhs = importer.model_value(op.operands[1], "add.Tensor")
    shapes = [importer.model_shape(v) for v in (op.operands[0], op.operands[1], op.results[0])]
    if not shapes[0] == shapes[1] == shapes[2]:
        raise ValueError(f"add.Tensor of shapes {shapes[0]} and {shapes[1]} is not supported "
                         f"(no broadcasting: both operands must have one shape)")
    flat_lhs, flat_rhs = importer.flat(lhs, op.location), importer.flat(rhs, op.location)
    kind = f"residual add {dims_text(shapes[2]) or '1'}"
    add = create_op("hardcore.add_tensors", [flat_lhs, flat_rhs], [flat_lhs.type],
                    {KIND: ir.StringAttr.get(kind)}, op.location)
    return importer.reshaped(add.results[0], shapes[2], op.location)


def lower_cat(importer, op):
    # aten.cat(list of tensors, dim)
    items = op.operands[0].owner if isinstance(op.operands[0], ir.OpResult) else None
    if items is None or items.name != "torch.prim.ListConstruct":
        raise ValueError("cat needs a list of tensors")
    out_shape = importer.model_shape(op.results[0])
    (dim,) = importer.sample_dims([importer.constant(op.operands[1], "cat dim")], len(out_shape) + 1, "cat")
    inputs = [importer.model_value(item, "cat") for item in items.operands]
    inputs = [importer.reshaped(value, importer.model_shape(item), op.location)
              for value, item in zip(inputs, items.operands)]
    # A chain of binary concats, left to right.
    result = inputs[0]
    for value in inputs[1:]:
        shape = list(ir.RankedTensorType(result.type).shape)
        shape[dim] += ir.RankedTensorType(value.type).shape[dim]
        result = create_op("hardcore.concat", [result, value], [tensor_type(shape, ir.F32Type.get())],
                           {"dim": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), dim)},
                           op.location).results[0]
    if list(ir.RankedTensorType(result.type).shape) != out_shape:
        raise ValueError(f"cat result {out_shape} is not the concatenation of its inputs")
    return result


def lower_mean_dim(importer, op):
    # aten.mean.dim(input, dims, keepdim, dtype): an average pool with one window per output element
    source = importer.source(op)
    in_shape = importer.model_shape(op.operands[0])
    dims = importer.constant(op.operands[1], "mean dims")
    if importer.constant(op.operands[3], "mean dtype") is not None:
        raise ValueError("mean with a dtype is not supported")
    if not dims:  # torch: no dims means all of them, the batch's too
        dims = list(range(len(in_shape) + 1))
    axes = sorted(set(importer.sample_dims(dims, len(in_shape) + 1, "mean")))
    kept = [d for d in range(len(in_shape)) if d not in axes]
    flat_index = np.arange(math.prod(in_shape), dtype=np.int64).reshape(in_shape)
    # Kept dims first, in order (the output's row-major order), the averaged ones last.
    windows = flat_index.transpose(kept + axes).reshape(math.prod([in_shape[d] for d in kept]), -1)
    divisors = np.full(windows.shape[0], windows.shape[1], dtype=np.int64)
    kind = (f"mean over dims {','.join(str(d + 1) for d in axes)}, {dims_text(in_shape)}->"
            f"{dims_text([in_shape[d] for d in kept]) or '1'}")
    flat = importer.flat(source, op.location)
    i64 = ir.IntegerType.get_signless(64)
    pool = create_op("hardcore.avgpool", [flat], [tensor_type([windows.shape[0]], ir.F32Type.get())], {
        "windows": dense_attr(windows, i64), "divisors": dense_attr(divisors, i64),
        KIND: ir.StringAttr.get(kind)}, op.location)
    return importer.reshaped(pool.results[0], importer.model_shape(op.results[0]), op.location)


def _permuted(importer, op, order: list[int]):
    """The source with its sample dims in `order` (a `hardcore.gather`; nothing when in order)."""
    source = importer.source(op)
    in_shape = importer.model_shape(op.operands[0])
    if order == list(range(len(in_shape))):
        return source
    indices = np.arange(math.prod(in_shape), dtype=np.int64).reshape(in_shape).transpose(order).reshape(-1)
    flat = importer.flat(source, op.location)
    gather = create_op("hardcore.gather", [flat], [flat.type],
                       {"indices": dense_attr(indices, ir.IntegerType.get_signless(64))}, op.location)
    return importer.reshaped(gather.results[0], importer.model_shape(op.results[0]), op.location)


def lower_permute(importer, op):
    dims = importer.constant(op.operands[1], "permute dims")
    rank = len(importer.model_shape(op.operands[0])) + 1
    if len(dims) != rank or sorted(d % rank for d in dims) != list(range(rank)):
        raise ValueError(f"permute dims {dims} are not a permutation of {rank} dimensions")
    if dims[0] % rank != 0:
        raise ValueError("permute that moves the batch dimension is not supported")
    return _permuted(importer, op, importer.sample_dims(dims[1:], rank, "permute"))


def lower_transpose(importer, op):
    rank = len(importer.model_shape(op.operands[0])) + 1
    first, second = importer.sample_dims([importer.constant(op.operands[1], "transpose dim0"),
                                          importer.constant(op.operands[2], "transpose dim1")], rank, "transpose")
    order = list(range(rank - 1))
    order[first], order[second] = second, first
    return _permuted(importer, op, order)


def lower_reshape(importer, op):
    return importer.reshaped(importer.source(op), importer.model_shape(op.results[0]), op.location)


def lower_dropout(importer, op):
    source = importer.source(op)
    if importer.constant(op.operands[2], "dropout 'train'"):
        raise ValueError("dropout in training mode is random: compile the model in eval mode")
    return source


def lower_runtime_assert(importer, op):
    # torch-mlir's decompositions leave a failing assert where they cannot express
    # the op (AdaptiveAvgPool2d to sizes that do not divide the input).
    if importer.constant(op.operands[0], "runtime.assert condition") is False:
        raise ValueError(f"torch-mlir could not lower an op of the model: "
                         f"{ir.StringAttr(op.attributes['message']).value}")
    return None
