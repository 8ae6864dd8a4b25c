"""Float pools and argmax to integers: max pool and argmax exact, an average pool a dense layer and a requant.

- a max pool compares integers at its input's scale (`hardcore.maxpool`), and so does a min
  (`hardcore.minpool`, torch.minimum);
- an average pool becomes a dense layer of integer multipliers over its
  windows and a requantization (`avgpool_multipliers` says how it divides
  exactly), absorbing a following ReLU; one that carries its geometry
  (`hardcore.window`, stream=true) with one divisor everywhere a depthwise
  `hardcore.conv` with the multiplier at every tap (padding reads 0, as the
  dense layer's zero entries), the same function;
- an argmax (`hardcore.argmax`) yields an integer index at scale 2^0.
"""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.irutil import array_attr, create_op, dense_attr, i64_attr, int_type, integer_dtype, tensor_type
from hardcore.passes.quantize.common import (KIND, Lowering, acc_width, frac_bits_for, following_relu, shape_of,
                                             signed_range)

# A 2-D pool's geometry (hardcore-import{stream=true}), kept on the depthwise conv an average pool becomes.
WINDOW = "hardcore.window"

__all__ = ["avgpool_multipliers", "lower_maxpool", "lower_avgpool", "lower_argmax"]


def avgpool_multipliers(divisors, act_bits: int) -> tuple[list[int], int]:
    """(M_i, q) with M_i = round(2^q / d_i) (half up): dividing by d_i is x · M_i / 2^q.

    q = act_bits + 1 + ceil(log2(max d)), then lowered while every M_i is even,
    so windows of 2^p elements get M = 1, q = p: a plain shift.  Otherwise
    |M_i · d_i / 2^q - 1| <= 2^-(act_bits + 2), so on an output of at most
    2^act_bits steps the multiplier errs by at most a quarter step before the
    requantization rounds.
    """
    divisors = [int(d) for d in divisors]
    shift = act_bits + 1 + (max(divisors) - 1).bit_length()
    multipliers = [((1 << (shift + 1)) // d + 1) // 2 for d in divisors]
    while shift > 0 and all(m % 2 == 0 for m in multipliers):
        multipliers = [m // 2 for m in multipliers]
        shift -= 1
    return multipliers, shift


def lower_maxpool(lowering: Lowering, op) -> bool:
    """A max (`hardcore.maxpool`) or min (`hardcore.minpool`) of integers at the input's scale: exact, no
    requantization."""
    source, frac, in_range = lowering.quantized[op.operands[0]]
    element = ir.RankedTensorType(source.type).element_type
    # its geometry (`hardcore.window`, hardcore-import{stream=true}) stays for hardcore-stream
    attributes = {key: op.attributes[key] for key in ("windows", KIND, "hardcore.window") if key in op.attributes}
    pool = create_op(op.operation.name, [source], [tensor_type(shape_of(op.results[0]), element)], attributes,
                     op.location)
    lowering.quantized[op.results[0]] = (pool.results[0], frac, in_range)
    return True


def lower_argmax(lowering: Lowering, op) -> bool:
    """The index at scale 2^0, in [0, N-1]: as wide as that range needs, read signed."""
    source = lowering.quantized[op.operands[0]][0]
    size = math.prod(ir.RankedTensorType(source.type).shape)
    attributes = {KIND: op.attributes[KIND]} if KIND in op.attributes else {}
    index = create_op("hardcore.argmax", [source],
                      [tensor_type(shape_of(op.results[0]), int_type((size - 1).bit_length() + 1))],
                      attributes, op.location)
    lowering.quantized[op.results[0]] = (index.results[0], 0, (0, size - 1))
    return True


def lower_avgpool(lowering: Lowering, op) -> bool:
    """sum(window) / d as a dense layer with weights M_i on row i's window, requantized by q more; a
    depthwise `hardcore.conv` with M at every tap instead when the pool carries its geometry
    (`hardcore.window`, hardcore-import{stream=true}) and every divisor is the same."""
    relu = following_relu(op)
    if relu is not None:
        lowering.absorbed.add(relu)
    source, in_frac, in_range = lowering.quantized[op.operands[0]]
    out_shape = shape_of(op.results[0])
    settings = lowering.settings(op)
    act_bits = settings.act_bits
    windows = array_attr(op, "windows").astype(np.int64)
    divisors = array_attr(op, "divisors")
    multipliers, shift = avgpool_multipliers(divisors, act_bits)
    in_bound = max(abs(in_range[0]), abs(in_range[1]))
    kind = ir.StringAttr(op.attributes[KIND]).value if KIND in op.attributes else "avgpool"
    if len(set(multipliers)) == 1:
        kind += f", sum >> {shift}" if multipliers[0] == 1 else f", sum x {multipliers[0]} >> {shift}"
    else:
        kind += f", sum x round(2^{shift}/divisor) >> {shift}"
    container = int_type(integer_dtype(signed_width(0, max(multipliers)))[0])
    attributes = {KIND: ir.StringAttr.get(kind)}
    geometry = _depthwise_geometry(op, windows.shape[0]) if len(set(multipliers)) == 1 else None
    if geometry is not None:
        (channels, kernel), result_shape, conv_attributes = geometry
        weight = np.full((channels, 1, *kernel), multipliers[0], dtype=np.int64)
        bound = multipliers[0] * math.prod(kernel) * in_bound
        attributes.update(conv_attributes, weight=dense_attr(weight, container),
                          bias=dense_attr(np.zeros(channels, dtype=np.int64), int_type(64)))
        layer = create_op("hardcore.conv", [source], [tensor_type(result_shape, int_type(acc_width(bound)))],
                          attributes, op.location)
    else:
        result_shape = out_shape
        n_in = math.prod(ir.RankedTensorType(source.type).shape)
        weight = np.zeros((windows.shape[0], n_in), dtype=np.int64)
        rows, taps = np.nonzero(windows >= 0)
        weight[rows, windows[rows, taps]] = np.array(multipliers, dtype=np.int64)[rows]
        bound = int(np.abs(weight).sum(axis=1).max(initial=0)) * in_bound
        attributes.update(weight=dense_attr(weight, container),
                          bias=dense_attr(np.zeros(weight.shape[0], dtype=np.int64), int_type(64)))
        layer = create_op("hardcore.dense", [source], [tensor_type(out_shape, int_type(acc_width(bound)))],
                          attributes, op.location)
    value = layer.results[0]
    if relu is not None:
        value = create_op("hardcore.relu", [value], [value.type], None, relu.location).results[0]
    if relu is not None or in_range[0] >= 0:
        # An average of values >= 0 is >= 0: unsigned, one more bit of precision.
        out_low, out_high = 0, (1 << act_bits) - 1
        out_frac = frac_bits_for(lowering.magnitude((relu or op).results[0], settings), act_bits, False)
        out_width = act_bits + 1
    else:
        out_low, out_high = signed_range(act_bits)
        out_frac = frac_bits_for(lowering.magnitude(op.results[0], settings), act_bits, True)
        out_width = act_bits
    requant = create_op("hardcore.requant", [value], [tensor_type(result_shape, int_type(out_width))],
                        {"shift": i64_attr(in_frac + shift - out_frac), "min": i64_attr(out_low),
                         "max": i64_attr(out_high)}, (relu or op).location)
    value = requant.results[0]
    if result_shape != out_shape:  # a global mean's C x 1 x 1, as the pool's C
        value = create_op("hardcore.reshape", [value], [tensor_type(out_shape, int_type(out_width))], None,
                          op.location).results[0]
    lowering.quantized[(relu or op).results[0]] = (value, out_frac, (out_low, out_high))
    return True


def _depthwise_geometry(op, outputs: int):
    """For an average pool with `hardcore.window` on C x H x W whose output is the convolution's (no
    ceil_mode window past the floor formula's): ((C, kernel), the conv's result shape C x Ho x Wo, its
    geometry attributes with `hardcore.window`); else None."""
    if WINDOW not in op.attributes or len(shape_of(op.operands[0])) != 3:
        return None
    window = ir.DictAttr(op.attributes[WINDOW])
    kernel, stride, padding, dilation = (np.array(window[name]).reshape(-1).tolist()
                                         for name in ("kernel", "stride", "padding", "dilation"))
    channels, *positions = shape_of(op.operands[0])
    out_positions = [(n + 2 * p - d * (k - 1) - 1) // s + 1
                     for n, k, s, p, d in zip(positions, kernel, stride, padding, dilation)]
    if min(out_positions) < 1 or channels * math.prod(out_positions) != outputs:
        return None
    i64 = int_type(64)
    attributes = {name: dense_attr(np.array(values, dtype=np.int64), i64)
                  for name, values in (("stride", stride), ("padding", padding), ("dilation", dilation))}
    attributes.update(groups=i64_attr(channels), **{WINDOW: op.attributes[WINDOW]})
    return (channels, kernel), [channels] + out_positions, attributes
