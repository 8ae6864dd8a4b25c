"""hardcore-import's pools: max and average pools over windows of the flattened tensor."""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op, dense_attr, tensor_type
from hardcore.passes.import_.importer import KIND, WINDOW, dims_text

__all__ = ["pooling_windows", "window_attr", "lower_max_pool", "lower_avg_pool"]


def _pool_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling output size (ATen's pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def pooling_windows(in_shape, kernel, stride, padding, dilation, ceil_mode: bool = False
                    ) -> tuple[np.ndarray, list[int], np.ndarray]:
    """The windows of a pooling over the flattened (row-major) input, channel by channel.

    `in_shape` is (channels, *positions).  Returns `windows`, an int64 array
    with one row per output element (channel, then position, row-major) that
    lists the flat input indices its window covers, -1 where a window tap
    falls outside the input (padding, or beyond it with ceil_mode); the output
    positions; and for each output position the number of taps inside the
    padded input, torch's divisor for `count_include_pad=True`.
    """
    channels, *positions = in_shape
    spatial = len(kernel)
    if len(positions) != spatial:
        raise ValueError(f"a {spatial}-D pooling needs an input of {spatial + 1} dimensions "
                         f"per sample, got {list(in_shape)}")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"pooling kernel {list(kernel)}, stride {list(stride)} and dilation {list(dilation)} "
                         f"must be positive, padding {list(padding)} not negative")
    out_positions = [_pool_out_size(*options, ceil_mode)
                     for options in zip(positions, kernel, stride, padding, dilation)]
    if min(out_positions) < 1:
        raise ValueError(f"pooling kernel {dims_text(kernel)} does not fit the padded input {dims_text(positions)}")
    grid = np.indices(out_positions).reshape(spatial, -1)                        # (spatial, P_out)
    starts = grid * np.array(stride)[:, None] - np.array(padding)[:, None]
    offsets = np.indices(kernel).reshape(spatial, -1) * np.array(dilation)[:, None]  # (spatial, taps)
    sources = starts[:, :, None] + offsets[:, None, :]                           # (spatial, P_out, taps)
    limits = np.array(positions)[:, None, None]
    inside = np.all((sources >= 0) & (sources < limits), axis=0)                 # (P_out, taps)
    flat = np.ravel_multi_index(tuple(np.clip(sources, 0, limits - 1)), positions)
    per_position = np.where(inside, flat, -1)
    # Taps inside the padded input (never beyond it, which only ceil_mode reaches).
    padded = np.all(sources < limits + np.array(padding)[:, None, None], axis=0).sum(axis=1)
    n_in = math.prod(positions)
    offsets_by_channel = np.arange(channels)[:, None, None] * n_in
    windows = np.where(per_position[None] >= 0, per_position[None] + offsets_by_channel, -1)
    return windows.reshape(channels * per_position.shape[0], -1).astype(np.int64), out_positions, padded


def window_attr(kernel, stride, padding, dilation, ceil_mode: bool) -> ir.DictAttr:
    """A 2-D pool's geometry as `hardcore.window` (for hardcore-stream): each option a dense<[h, w]>."""
    i64 = ir.IntegerType.get_signless(64)
    return ir.DictAttr.get({
        **{name: dense_attr(np.array(values, dtype=np.int64), i64)
           for name, values in (("kernel", kernel), ("stride", stride), ("padding", padding), ("dilation", dilation))},
        "ceil_mode": ir.IntegerAttr.get(i64, int(bool(ceil_mode)))})


def _pool_options(importer, op, names, kind: str) -> tuple[dict, list[int], list[int]]:
    """The list options of a pooling op (operands 1...), each with one entry per spatial dimension."""
    in_shape = importer.model_shape(op.operands[0])
    spatial = len(in_shape) - 1
    options = {}
    for index, option in enumerate(names, start=1):
        values = importer.constant(op.operands[index], f"{kind} {option}")
        if option == "stride" and not values:
            values = options["kernel"]  # F.max_pool2d(x, 2) leaves the stride to the kernel
        if len(values) == 1:
            values = values * spatial
        if len(values) != spatial:
            raise ValueError(f"{kind} {option} {values} does not have {spatial} entries")
        options[option] = values
    return options, in_shape, importer.model_shape(op.results[0])



def _pool_kind(name: str, options: dict, in_shape, out_positions, ceil_mode: bool) -> str:
    spatial = len(in_shape) - 1
    defaults = {"stride": options["kernel"], "padding": [0] * spatial, "dilation": [1] * spatial}
    details = "".join(f" {option} {dims_text(values) if len(set(values)) > 1 else values[0]}"
                      for option, values in options.items()
                      if option != "kernel" and values != defaults[option])
    details += " ceil_mode" if ceil_mode else ""
    channels = f"{in_shape[0]} channel" + ("s" if in_shape[0] != 1 else "")
    return (f"{name}{spatial}d {dims_text(options['kernel'])}{details}, {channels} "
            f"{dims_text(in_shape[1:])}->{dims_text(out_positions)} positions")


def lower_max_pool(importer, op):
    # aten.max_poolNd(input, kernel_size, stride, padding, dilation, ceil_mode)
    source = importer.source(op)
    options, in_shape, out_shape = _pool_options(importer, op, ("kernel", "stride", "padding", "dilation"),
                                                  "max_pool")
    ceil_mode = importer.constant(op.operands[5], "max_pool ceil_mode")
    windows, out_positions, _ = pooling_windows(in_shape, options["kernel"], options["stride"],
                                                options["padding"], options["dilation"], ceil_mode)
    if out_shape != [in_shape[0]] + out_positions:
        raise ValueError(f"max_pool result {out_shape} is not the {[in_shape[0]] + out_positions} "
                         f"its options give")
    empty = np.flatnonzero(np.all(windows < 0, axis=1))
    if empty.size:
        raise ValueError(f"max_pool window of output element {int(empty[0])} covers no input element")
    kind = _pool_kind("maxpool", options, in_shape, out_positions, ceil_mode)
    attributes = {"windows": dense_attr(windows, ir.IntegerType.get_signless(64)), KIND: ir.StringAttr.get(kind)}
    if importer.stream and len(in_shape) == 3:
        attributes[WINDOW] = window_attr(options["kernel"], options["stride"], options["padding"],
                                         options["dilation"], ceil_mode)
    operand, result_shape = _pool_shapes(importer, source, in_shape, out_shape, op.location)
    pool = create_op("hardcore.maxpool", [operand], [tensor_type(result_shape, ir.F32Type.get())], attributes,
                     op.location)
    return importer.reshaped(pool.results[0], out_shape, op.location)


def _pool_shapes(importer, source, in_shape, out_shape, location):
    """(operand, result shape) of a pool: flat, or with stream=true a 2-D pool's C x H x W -> C x Ho x Wo
    (the stream pass reads the geometry there; the windows index the row-major elements alike)."""
    if importer.stream and len(in_shape) == 3:
        return importer.reshaped(source, in_shape, location), out_shape
    return importer.flat(source, location), [math.prod(out_shape)]


def lower_avg_pool(importer, op):
    # aten.avg_poolNd(input, kernel_size, stride, padding, ceil_mode, count_include_pad
    #                 [, divisor_override]); avg_pool1d has no divisor_override.
    source = importer.source(op)
    options, in_shape, out_shape = _pool_options(importer, op, ("kernel", "stride", "padding"), "avg_pool")
    ceil_mode = importer.constant(op.operands[4], "avg_pool ceil_mode")
    count_include_pad = importer.constant(op.operands[5], "avg_pool count_include_pad")
    divisor_override = importer.constant(op.operands[6], "avg_pool divisor_override") \
        if len(op.operands) > 6 else None
    spatial = len(in_shape) - 1
    windows, out_positions, padded = pooling_windows(in_shape, options["kernel"], options["stride"],
                                                     options["padding"], [1] * spatial, ceil_mode)
    if out_shape != [in_shape[0]] + out_positions:
        raise ValueError(f"avg_pool result {out_shape} is not the {[in_shape[0]] + out_positions} "
                         f"its options give")
    if divisor_override is not None:
        if divisor_override < 1:
            raise ValueError(f"avg_pool divisor_override must be positive, got {divisor_override}")
        divisors = np.full(windows.shape[0], divisor_override)
    elif count_include_pad:
        divisors = np.tile(padded, in_shape[0])
    else:
        divisors = np.maximum((windows >= 0).sum(axis=1), 1)  # an empty window averages to 0
    kind = _pool_kind("avgpool", options, in_shape, out_positions, ceil_mode)
    if not count_include_pad and any(options["padding"]):
        kind += " count_include_pad=False"
    if divisor_override is not None:
        kind += f" divisor {divisor_override}"
    i64 = ir.IntegerType.get_signless(64)
    attributes = {"windows": dense_attr(windows, i64), "divisors": dense_attr(divisors.astype(np.int64), i64),
                  KIND: ir.StringAttr.get(kind)}
    if importer.stream and spatial == 2:
        attributes[WINDOW] = window_attr(options["kernel"], options["stride"], options["padding"], [1, 1],
                                         ceil_mode)
    operand, result_shape = _pool_shapes(importer, source, in_shape, out_shape, op.location)
    pool = create_op("hardcore.avgpool", [operand], [tensor_type(result_shape, ir.F32Type.get())], attributes,
                     op.location)
    return importer.reshaped(pool.results[0], out_shape, op.location)
