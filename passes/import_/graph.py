"""hardcore-import's graph and shape ops: concatenation, means, permutations, slices, reshapes."""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op, dense_attr, tensor_type
from hardcore.passes.import_.importer import KIND, WINDOW, dims_text, full_shape
from hardcore.passes.import_.pool import window_attr

__all__ = ["lower_cat", "lower_mean_dim", "lower_picked", "lower_reshape",
           "lower_dropout", "lower_runtime_assert", "RESHAPES", "PICKS", "picked_indices"]


def lower_cat(importer, op):
    # aten.cat(list of tensors, dim)
    items = op.operands[0].owner if isinstance(op.operands[0], ir.OpResult) else None
    if items is None or items.name != "torch.prim.ListConstruct":
        raise ValueError("cat needs a list of tensors")
    out_shape = importer.model_shape(op.results[0])
    (dim,) = importer.sample_dims(items.operands[0], [importer.constant(op.operands[1], "cat dim")], "cat")
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
    """aten.mean.dim(input, dims, keepdim, dtype): an average pool with one window per output element;
    aten.sum.dim_IntList (the same operands): the same pool with divisors 1."""
    what = "sum" if op.operation.name == "torch.aten.sum.dim_IntList" else "mean"
    source = importer.source(op)
    in_shape = importer.model_shape(op.operands[0])
    dims = importer.constant(op.operands[1], f"{what} dims")
    if importer.constant(op.operands[3], f"{what} dtype") is not None:
        raise ValueError(f"{what} with a dtype is not supported")
    if not dims:  # torch: no dims means all of them, the batch's too
        dims = list(range(len(full_shape(op.operands[0]))))
    axes = sorted(set(importer.sample_dims(op.operands[0], dims, what)))
    kept = [d for d in range(len(in_shape)) if d not in axes]
    flat_index = np.arange(math.prod(in_shape), dtype=np.int64).reshape(in_shape)
    # Kept dims first, in order (the output's row-major order), the averaged ones last.
    windows = flat_index.transpose(kept + axes).reshape(math.prod([in_shape[d] for d in kept]), -1)
    divisors = np.full(windows.shape[0], windows.shape[1] if what == "mean" else 1, dtype=np.int64)
    kind = (f"{what} over dims {','.join(str(d + 1) for d in axes)}, {dims_text(in_shape)}->"
            f"{dims_text([in_shape[d] for d in kept]) or '1'}")
    i64 = ir.IntegerType.get_signless(64)
    attributes = {"windows": dense_attr(windows, i64), "divisors": dense_attr(divisors, i64),
                  KIND: ir.StringAttr.get(kind)}
    operand = importer.flat(source, op.location)
    if importer.stream and what == "mean" and len(in_shape) == 3 and axes == [1, 2]:  # a global average pool
        attributes[WINDOW] = window_attr(in_shape[1:], in_shape[1:], [0, 0], [1, 1], False)
        operand = importer.reshaped(source, in_shape, op.location)
    pool = create_op("hardcore.avgpool", [operand], [tensor_type([windows.shape[0]], ir.F32Type.get())],
                     attributes, op.location)
    return importer.reshaped(pool.results[0], importer.model_shape(op.results[0]), op.location)


def _slice(importer, op, elements: np.ndarray) -> np.ndarray:
    # aten.slice.Tensor(x, dim, start, end, step): x[..., start:end:step, ...], Python's bounds
    (dim,) = importer.full_dims([importer.constant(op.operands[1], "slice dim")], elements.ndim, "slice")
    start, end = (importer.constant(op.operands[i], "slice bounds") for i in (2, 3))
    step = importer.constant(op.operands[4], "slice step")
    if step is not None and step < 1:
        raise ValueError(f"slice step must be positive, got {step}")
    return elements[(slice(None),) * dim + (slice(start, end, step),)]


def _select(importer, op, elements: np.ndarray) -> np.ndarray:
    # aten.select.int(x, dim, index): x[..., index, ...], the dim dropped
    (dim,) = importer.full_dims([importer.constant(op.operands[1], "select dim")], elements.ndim, "select")
    index = importer.constant(op.operands[2], "select index")
    if not -elements.shape[dim] <= index < elements.shape[dim]:
        raise ValueError(f"select index {index} is out of range for a dimension of {elements.shape[dim]}")
    return np.take(elements, index, axis=dim)


def _expand(importer, op, elements: np.ndarray) -> np.ndarray:
    # aten.expand(x, sizes, implicit) and aten.broadcast_to(x, sizes): -1 keeps a size
    sizes = importer.constant(op.operands[1], "expand sizes")
    kept = [0] * (len(sizes) - elements.ndim) + list(elements.shape)
    target = [old if new == -1 else new for new, old in zip(sizes, kept)]
    try:
        return np.broadcast_to(elements, target)
    except ValueError:
        raise ValueError(f"expand of {list(elements.shape)} to {sizes} is not a broadcast") from None


def _permute(importer, op, elements: np.ndarray) -> np.ndarray:
    dims = importer.constant(op.operands[1], "permute dims")
    rank = elements.ndim
    if len(dims) != rank or sorted(d % rank for d in dims) != list(range(rank)):
        raise ValueError(f"permute dims {dims} are not a permutation of {rank} dimensions")
    return elements.transpose([d % rank for d in dims])


def _transpose(importer, op, elements: np.ndarray) -> np.ndarray:
    first, second = importer.full_dims([importer.constant(op.operands[1], "transpose dim0"),
                                        importer.constant(op.operands[2], "transpose dim1")],
                                       elements.ndim, "transpose")
    return elements.swapaxes(first, second)


# Ops that keep the elements in order, in another shape.
RESHAPES = frozenset({
    "torch.aten.view", "torch.aten.reshape", "torch.aten.flatten.using_ints", "torch.aten.unflatten.int",
    "torch.aten._unsafe_view", "torch.aten.unsqueeze", "torch.aten.squeeze", "torch.aten.squeeze.dim",
    "torch.aten.contiguous", "torch.aten.clone", "torch.aten.alias", "torch.aten.detach",
})
# Ops whose result picks elements of their first operand: name -> picks(importer, op, the
# operand's element indices, in its full shape) -> the indices of the result's elements.
PICKS = {
    "torch.aten.slice.Tensor": _slice,
    "torch.aten.select.int": _select,
    "torch.aten.expand": _expand,
    "torch.aten.broadcast_to": _expand,
    "torch.aten.permute": _permute,
    "torch.aten.transpose.int": _transpose,
}


def picked_indices(importer, op) -> np.ndarray:
    """For each element of `op`'s result (a `PICKS` op), the flat index of the operand element it is."""
    shape = full_shape(op.operands[0])
    indices = PICKS[op.operation.name](importer, op, np.arange(math.prod(shape), dtype=np.int64).reshape(shape))
    if list(indices.shape) != full_shape(op.results[0]):
        raise ValueError(f"{op.operation.name.removeprefix('torch.aten.')} of {shape} gives {list(indices.shape)}, "
                         f"not the {full_shape(op.results[0])} torch-mlir says")
    return indices


def lower_picked(importer, op):
    """permute, transpose, slice, select (`x[:, -1]`), expand: a `hardcore.gather` of the elements
    picked, or nothing when that is every element in order (the identity, a move of dims of size 1).

    Any dim may move, the batch's too: it has size 1, so the result holds the sample's elements.
    """
    return importer.gather(op, importer.source(op), picked_indices(importer, op))


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
