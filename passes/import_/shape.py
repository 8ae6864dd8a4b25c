"""hardcore-import's element maps: flip, nearest upsampling and constant padding to gathers (and constants);
bilinear upsampling to a dense layer of constant weights.

Each moves or repeats the elements of its operand, which is wiring: a
`hardcore.gather` with the constant index map (`FunctionImport.gather`).
Padding adds elements of a constant value besides: the operand is joined to
a one-element constant (a `hardcore.dense` of zero weights and the value as
its bias, which folds to a constant) and the gather picks that element for
every padded position.

Bilinear upsampling (`nn.UpsamplingBilinear2d`, `F.interpolate(mode="bilinear")`)
mixes neighbours with constant weights, so it is a `hardcore.dense` whose
matrix is the interpolation (one row per output element: at most four nonzero
weights), its weights quantized and folded like any layer's.
"""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op, dense_attr, tensor_type
from hardcore.passes.import_.importer import KIND, dims_text, full_shape

__all__ = ["lower_flip", "lower_interpolate", "lower_upsample_bilinear", "lower_constant_pad"]


def _elements(op) -> np.ndarray:
    """The flat indices of `op`'s first operand, in its full torch shape."""
    shape = full_shape(op.operands[0])
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def lower_flip(importer, op):
    """aten.flip(x, dims): the elements in reverse order along each of `dims`."""
    elements = _elements(op)
    dims = importer.full_dims(importer.constant(op.operands[1], "flip dims"), elements.ndim, "flip")
    return importer.gather(op, importer.source(op), np.flip(elements, dims))


def _nearest_sources(out_size: int, in_size: int, scale_factor: float | None) -> np.ndarray:
    """For each output position, the input position torch's nearest upsampling reads.

    torch (`nearest_idx`): the scale is a float32, 1 / scale_factor when one is given, else
    in / out; the source is floor(i · scale), at most in - 1.
    """
    if scale_factor is not None and scale_factor > 0:
        scale = np.float32(1.0 / scale_factor)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    positions = np.arange(out_size, dtype=np.float32)
    return np.minimum(np.floor(positions * scale).astype(np.int64), in_size - 1)


def lower_interpolate(importer, op):
    """aten.__interpolate(x, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    with mode "nearest" (nn.Upsample, F.interpolate): each output element is an input element, a
    gather of the spatial dims (every dim after the channels'); with mode "bilinear" a dense layer
    (`lower_upsample_bilinear`)."""
    mode = importer.constant(op.operands[3], "interpolate mode")
    if mode == "bilinear":
        recompute = importer.constant(op.operands[5], "interpolate recompute_scale_factor")
        factors = None if recompute else importer.constant(op.operands[2], "interpolate scale_factor")
        return _bilinear(importer, op, bool(importer.constant(op.operands[4], "interpolate align_corners")), factors)
    if mode != "nearest":
        raise ValueError(f"interpolate mode '{mode}' is not supported (only 'nearest' and 'bilinear')")
    elements = _elements(op)
    out_shape = full_shape(op.results[0])
    spatial = elements.ndim - 2
    factors = importer.constant(op.operands[2], "interpolate scale_factor")
    if importer.constant(op.operands[5], "interpolate recompute_scale_factor"):
        factors = None  # torch then scales by in / out, the size it computed
    factors = [None] * spatial if factors is None else list(factors) * (spatial if len(factors) == 1 else 1)
    for axis, factor in zip(range(2, elements.ndim), factors):
        elements = np.take(elements, _nearest_sources(out_shape[axis], elements.shape[axis], factor), axis=axis)
    if list(elements.shape) != out_shape:
        raise ValueError(f"interpolate of {full_shape(op.operands[0])} gives {list(elements.shape)}, "
                         f"not the {out_shape} torch-mlir says")
    return importer.gather(op, importer.source(op), elements)


def _linear_weights(in_size: int, out_size: int, align_corners: bool, scale: float | None) -> np.ndarray:
    """The out_size x in_size matrix of torch's 1-D linear interpolation (one axis of bilinear)."""
    import torch

    basis = torch.eye(in_size, dtype=torch.float64).reshape(in_size, 1, in_size, 1)
    options = {"size": (out_size, 1)} if scale is None else {"scale_factor": (scale, 1.0)}
    with torch.no_grad():
        out = torch.nn.functional.interpolate(basis, mode="bilinear", align_corners=align_corners, **options)
    return out.reshape(in_size, out_size).T.numpy()


def lower_upsample_bilinear(importer, op):
    """aten.upsample_bilinear2d.vec(x, output_size, align_corners, scale_factors): a dense layer
    whose weights are the interpolation, per channel the Kronecker product of the two axes'."""
    align_corners = bool(importer.constant(op.operands[2], "upsample_bilinear2d align_corners"))
    return _bilinear(importer, op, align_corners, importer.constant(op.operands[3], "upsample_bilinear2d scale_factors"))


def _bilinear(importer, op, align_corners: bool, factors):
    shape, out_shape = full_shape(op.operands[0]), full_shape(op.results[0])
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"bilinear upsampling of {shape}: expected batch 1 x C x H x W")
    factors = [None, None] if factors is None else [float(f) for f in factors] * (2 if len(factors) == 1 else 1)
    rows = _linear_weights(shape[2], out_shape[2], align_corners, factors[0])
    columns = _linear_weights(shape[3], out_shape[3], align_corners, factors[1])
    if rows.shape[0] != out_shape[2] or columns.shape[0] != out_shape[3]:
        raise ValueError(f"bilinear upsampling of {shape} gives {[rows.shape[0], columns.shape[0]]} spatially, "
                         f"not the {out_shape[2:]} torch-mlir says")
    channels = shape[1]
    weight = np.kron(np.eye(channels), np.kron(rows, columns))
    return importer.dense(op, importer.source(op), weight, np.zeros(weight.shape[0]),
                          f"bilinear upsampling {dims_text(shape[1:])}->{dims_text(out_shape[1:])}")


def lower_constant_pad(importer, op):
    """aten.constant_pad_nd(x, pad, value) (ConstantPad1d/2d/3d, ZeroPad, F.pad mode "constant"): pad
    holds (before, after) for the last dim, then the one before it, ...; a negative amount crops.
    A gather of the operand's elements and, at each padded position, of the constant."""
    elements = _elements(op)
    pad = importer.constant(op.operands[1], "constant_pad_nd pad")
    value = float(importer.constant(op.operands[2], "constant_pad_nd value"))
    if len(pad) % 2 or len(pad) // 2 > elements.ndim:
        raise ValueError(f"constant_pad_nd pad {pad} must be (before, after) pairs for at most "
                         f"{elements.ndim} dims")
    if not math.isfinite(value):
        raise ValueError(f"constant_pad_nd value must be a finite number, got {value}")
    if len(pad) // 2 == elements.ndim and elements.shape[0] == 1 and (pad[-2] or pad[-1]):
        raise ValueError("constant_pad_nd over the batch dimension is not supported")
    constant_index = elements.size  # the constant, joined after the operand's elements
    for pair in range(len(pad) // 2):
        axis = elements.ndim - 1 - pair
        before, after = pad[2 * pair], pad[2 * pair + 1]
        kept = elements[(slice(None),) * axis + (slice(max(-before, 0), elements.shape[axis] - max(-after, 0)),)]
        widths = [(0, 0)] * elements.ndim
        widths[axis] = (max(before, 0), max(after, 0))
        elements = np.pad(kept, widths, constant_values=constant_index)
    if list(elements.shape) != full_shape(op.results[0]):
        raise ValueError(f"constant_pad_nd of {full_shape(op.operands[0])} by {pad} gives {list(elements.shape)}, "
                         f"not the {full_shape(op.results[0])} torch-mlir says")
    source = importer.flat(importer.source(op), op.location)
    if np.any(elements == constant_index):
        size = ir.RankedTensorType(source.type).shape[0]
        in_shape, out_shape = importer.model_shape(op.operands[0]), importer.model_shape(op.results[0])
        kind = f"constant {value:g} (padding {dims_text(in_shape)}->{dims_text(out_shape)})"
        attributes = {"weight": dense_attr(np.zeros((1, size)), ir.F32Type.get()),
                      "bias": dense_attr(np.array([value]), ir.F32Type.get()), KIND: ir.StringAttr.get(kind)}
        constant = create_op("hardcore.dense", [source], [tensor_type([1], ir.F32Type.get())], attributes,
                             op.location).results[0]
        source = create_op("hardcore.concat", [source, constant], [tensor_type([size + 1], ir.F32Type.get())],
                           {"dim": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), 0)}, op.location).results[0]
    return importer.gather(op, source, elements)
