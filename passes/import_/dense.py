"""hardcore-import's layers with weights: Linear, convolutions (unrolled into dense matrices, or with
stream=true 2-D ones a `hardcore.conv`), batch norm."""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.irutil import dense_attr
from hardcore.passes.import_.importer import KIND, WEIGHT_FRAC_BITS, dims_text

__all__ = ["convolution_positions", "unrolled_convolution", "lower_linear", "lower_convolution", "lower_batch_norm"]


def convolution_positions(weight_shape, in_shape, stride, padding, dilation, groups: int) -> list[int]:
    """A convolution's output positions, after checking that its options fit its input.

    `weight_shape` is torch's (out_channels, in_channels / groups, *kernel) and
    `in_shape` the input's (in_channels, *positions).
    """
    out_channels, group_in, *kernel = weight_shape
    channels, *positions = in_shape
    spatial = len(kernel)
    if len(positions) != spatial:
        raise ValueError(f"a {spatial}-D convolution needs an input of {spatial + 1} dimensions "
                         f"per sample, got {list(in_shape)}")
    if groups < 1 or out_channels % groups or channels != group_in * groups:
        raise ValueError(f"convolution weight {list(weight_shape)} with groups={groups} does not fit "
                         f"{channels} input channels")
    stride, padding, dilation = (np.array(v, dtype=np.int64) for v in (stride, padding, dilation))
    if np.any(stride < 1) or np.any(dilation < 1) or np.any(padding < 0):
        raise ValueError(f"convolution stride {stride.tolist()} and dilation {dilation.tolist()} must be "
                         f"positive, padding {padding.tolist()} not negative")
    out_positions = [int(n + 2 * p - d * (k - 1) - 1) // int(s) + 1
                     for n, p, d, k, s in zip(positions, padding, dilation, kernel, stride)]
    if min(out_positions, default=1) < 1:
        raise ValueError(f"convolution kernel {dims_text(kernel)} does not fit the padded input {dims_text(positions)}")
    return out_positions


def unrolled_convolution(weight: np.ndarray, in_shape, stride, padding, dilation,
                         groups: int) -> tuple[np.ndarray, list[int]]:
    """A convolution as the matrix of a dense layer on the flattened (row-major) tensors.

    `weight` is torch's (out_channels, in_channels / groups, *kernel) and
    `in_shape` the input's (in_channels, *positions).  Returns the matrix, of
    shape (out_channels · out positions, in_channels · in positions), and the
    output positions.  Entry [o·P_out + q, c·P_in + p] is the weight that input
    element (c, p) gets in output element (o, q), zero where the kernel does
    not reach (and outside the group).
    """
    out_positions = convolution_positions(weight.shape, in_shape, stride, padding, dilation, groups)
    out_channels, group_in, *kernel = weight.shape
    channels, *positions = in_shape
    spatial = len(kernel)
    stride, padding, dilation = (np.array(v, dtype=np.int64) for v in (stride, padding, dilation))
    n_in, n_out = math.prod(positions), math.prod(out_positions)
    matrix = np.zeros((out_channels * n_out, channels * n_in))
    group_out = out_channels // groups
    out_channel = np.arange(out_channels)[:, None, None]                             # (O, 1, 1)
    in_channel = (out_channel // group_out) * group_in + np.arange(group_in)[:, None]  # (O, Cg, 1)
    grid = np.indices(out_positions).reshape(spatial, -1)                             # (spatial, P_out)
    for offset in np.ndindex(*kernel):
        source = grid * stride[:, None] - padding[:, None] + np.array(offset)[:, None] * dilation[:, None]
        inside = np.all((source >= 0) & (source < np.array(positions)[:, None]), axis=0)
        if not inside.any():
            continue
        rows = out_channel * n_out + np.flatnonzero(inside)
        columns = in_channel * n_in + np.ravel_multi_index(tuple(source[:, inside]), positions)
        # Each (row, column) pair occurs for one kernel offset only (a dilation ≥ 1 moves
        # the source), so plain assignment is exact.
        matrix[rows, columns] = weight[(slice(None), slice(None)) + offset][:, :, None]
    return matrix, out_positions


def lower_linear(importer, op):
    source = importer.source(op)
    weight = importer.tensor(op.operands[1], "linear weight")
    in_shape = list(ir.RankedTensorType(source.type).shape)
    if not in_shape or weight.ndim != 2 or weight.shape[1] != in_shape[-1]:
        raise ValueError(f"linear of input {in_shape} and weight {list(weight.shape)} "
                         f"is not a matrix-vector product per sample")
    bias = importer.tensor(op.operands[2], "linear bias", optional=True)
    bias = np.zeros(weight.shape[0]) if bias is None else bias
    kind = f"linear {weight.shape[1]}->{weight.shape[0]}"
    weight_quant = importer.weight_quant.get(op.operands[1])
    norm_affine = importer.norm_affines.pop(op.operands[0], None)
    if norm_affine is not None:  # W·(γ·n + β) + b = (W·diag γ)·n + (W·β + b): one rounding fewer
        gamma, beta, norm = norm_affine
        weight, bias = weight * gamma[None, :], bias + weight @ beta
        kind += f" with the {norm} weight"
    if len(in_shape) == 1:
        return importer.dense(op, source, weight, bias, kind, weight_quant=weight_quant)
    # On a sequence [T, K] (or any [..., K]): the same weights on each row.
    return importer.dense_rows(op, source, weight, bias, kind, weight_quant=weight_quant)


def lower_convolution(importer, op):
    # aten.convolution(input, weight, bias, stride, padding, dilation, transposed,
    #                  output_padding, groups)
    source = importer.source(op)
    weight = importer.tensor(op.operands[1], "convolution weight")
    bias = importer.tensor(op.operands[2], "convolution bias", optional=True)
    if importer.constant(op.operands[6], "convolution 'transposed'"):
        raise ValueError("transposed convolution is not supported")
    spatial = weight.ndim - 2
    options = {}
    for index, option in ((3, "stride"), (4, "padding"), (5, "dilation")):
        values = importer.constant(op.operands[index], f"convolution {option}")
        if len(values) == 1:
            values = values * spatial
        if len(values) != spatial:
            raise ValueError(f"convolution {option} {values} does not have {spatial} entries")
        options[option] = values
    groups = importer.constant(op.operands[8], "convolution groups")
    in_shape = importer.model_shape(op.operands[0])
    if importer.stream and spatial != 2:
        raise ValueError(f"stream=true supports 2-D convolutions only, got a conv{spatial}d")
    if importer.stream:
        out_positions = convolution_positions(weight.shape, in_shape, groups=groups, **options)
    else:
        matrix, out_positions = unrolled_convolution(weight, in_shape, groups=groups, **options)
    out_shape = importer.model_shape(op.results[0])
    if out_shape != [weight.shape[0]] + out_positions:
        raise ValueError(f"convolution result {out_shape} is not the {[weight.shape[0]] + out_positions} "
                         f"that padding {options['padding']} gives (padding='same' with an even kernel "
                         f"pads asymmetrically, which torch-mlir's import loses)")
    bias = np.zeros(weight.shape[0]) if bias is None else bias
    details = "".join(f" {option} {dims_text(values) if len(set(values)) > 1 else values[0]}"
                      for option, values in options.items()
                      if values != [0 if option == "padding" else 1] * spatial)
    details += f" groups {groups}" if groups != 1 else ""
    kind = (f"conv{spatial}d {in_shape[0]}->{weight.shape[0]} {dims_text(weight.shape[2:])}{details}, "
            f"{dims_text(in_shape[1:])}->{dims_text(out_positions)} positions")
    weight_quant = importer.weight_quant.get(op.operands[1])
    if importer.stream:
        return importer.conv(op, source, weight, bias, f"{kind} (kernel)", groups=groups,
                             weight_quant=weight_quant, **options)
    kind += f" (dense {matrix.shape[0]}x{matrix.shape[1]})"
    return importer.dense(op, source, matrix, np.repeat(bias, math.prod(out_positions)), kind,
                          channels=weight.shape[0], weight_quant=weight_quant)


def lower_batch_norm(importer, op):
    # aten.batch_norm(input, weight, bias, running_mean, running_var, training,
    #                 momentum, eps, cudnn_enabled)
    source = importer.source(op)
    if importer.constant(op.operands[5], "batch_norm 'training'"):
        raise ValueError("batch_norm in training mode normalizes by the batch's statistics: "
                         "compile the model in eval mode")
    mean = importer.tensor(op.operands[3], "batch_norm running_mean", optional=True)
    variance = importer.tensor(op.operands[4], "batch_norm running_var", optional=True)
    if mean is None or variance is None:
        raise ValueError("batch_norm without running statistics (track_running_stats=False) "
                         "normalizes by the batch's statistics: not supported")
    eps = importer.constant(op.operands[7], "batch_norm eps")
    if np.any(variance + eps <= 0):
        raise ValueError("batch_norm running_var + eps must be positive")
    shape = importer.model_shape(op.operands[0])
    channels = shape[0] if shape else 0
    gamma = importer.tensor(op.operands[1], "batch_norm weight", optional=True)
    beta = importer.tensor(op.operands[2], "batch_norm bias", optional=True)
    gamma = np.ones(channels) if gamma is None else gamma
    beta = np.zeros(channels) if beta is None else beta
    if any(np.shape(a) != (channels,) for a in (gamma, beta, mean, variance)):
        raise ValueError(f"batch_norm parameters do not have one entry per channel of {shape}")
    # y = (x - mean) / sqrt(var + eps) · gamma + beta = x · scale + shift, per channel
    # (dimension 0 of a sample), repeated over the positions of the flat tensor.
    scale = gamma / np.sqrt(variance + eps)
    positions = math.prod(shape[1:])
    scale_flat = np.repeat(scale, positions)
    shift_flat = np.repeat(beta - mean * scale, positions)
    layer = importer.layers.get(op.operands[0])
    if layer is not None and WEIGHT_FRAC_BITS in layer.op.attributes:
        raise ValueError("batch_norm after a layer with fake-quantized weights would change the "
                         "quantized weights: fold the batch norm into the layer before quantization-aware "
                         "training (torch.ao.quantization.fuse_modules_qat)")
    if layer is not None and layer.rows == 1 and len(list(op.operands[0].uses)) == 1:
        # A dense layer has a row per output element, a hardcore.conv a kernel per channel.
        row_scale, row_shift = ((scale, beta - mean * scale) if layer.op.name == "hardcore.conv"
                                else (scale_flat, shift_flat))
        layer.weight = layer.weight * row_scale.reshape((-1,) + (1,) * (layer.weight.ndim - 1))
        layer.bias = layer.bias * row_scale + row_shift
        layer.kind += " + batchnorm"
        layer.op.attributes["weight"] = dense_attr(layer.weight, ir.F32Type.get())
        layer.op.attributes["bias"] = dense_attr(layer.bias, ir.F32Type.get())
        layer.op.attributes[KIND] = ir.StringAttr.get(layer.kind)
        importer.layers[op.results[0]] = layer
        return source
    size = scale_flat.size
    return importer.dense(op, source, np.diag(scale_flat), shift_flat,
                          f"batchnorm {channels} channels (diagonal {size}x{size})")
