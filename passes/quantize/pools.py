"""Float pools and argmax to integers: max pool and argmax exact, an average pool a dense layer and a requant.

- a max pool compares integers at its input's scale (`hardcore.maxpool`);
- an average pool becomes a dense layer of integer multipliers over its
  windows and a requantization (`avgpool_multipliers` says how it divides
  exactly), absorbing a following ReLU;
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
    """A max of integers at the input's scale: exact, no requantization."""
    source, frac, in_range = lowering.quantized[op.operands[0]]
    element = ir.RankedTensorType(source.type).element_type
    attributes = {key: op.attributes[key] for key in ("windows", KIND) if key in op.attributes}
    pool = create_op("hardcore.maxpool", [source], [tensor_type(shape_of(op.results[0]), element)], attributes,
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
    """sum(window) / d as a dense layer with weights M_i on row i's window, requantized by q more."""
    relu = following_relu(op)
    if relu is not None:
        lowering.absorbed.add(relu)
    source, in_frac, in_range = lowering.quantized[op.operands[0]]
    out_shape = shape_of(op.results[0])
    settings = lowering.settings(op)
    act_bits = settings.act_bits
    windows = array_attr(op, "windows").astype(np.int64)
    multipliers, shift = avgpool_multipliers(array_attr(op, "divisors"), act_bits)
    n_in = math.prod(ir.RankedTensorType(source.type).shape)
    weight = np.zeros((windows.shape[0], n_in), dtype=np.int64)
    rows, taps = np.nonzero(windows >= 0)
    weight[rows, windows[rows, taps]] = np.array(multipliers, dtype=np.int64)[rows]
    in_bound = max(abs(in_range[0]), abs(in_range[1]))
    bound = int(np.abs(weight).sum(axis=1).max(initial=0)) * in_bound
    acc_type = tensor_type(out_shape, int_type(acc_width(bound)))
    kind = ir.StringAttr(op.attributes[KIND]).value if KIND in op.attributes else "avgpool"
    if len(set(multipliers)) == 1:
        kind += f", sum >> {shift}" if multipliers[0] == 1 else f", sum x {multipliers[0]} >> {shift}"
    else:
        kind += f", sum x round(2^{shift}/divisor) >> {shift}"
    container = integer_dtype(signed_width(0, max(multipliers)))[0]
    dense = create_op("hardcore.dense", [source], [acc_type], {
        "weight": dense_attr(weight, int_type(container)),
        "bias": dense_attr(np.zeros(weight.shape[0], dtype=np.int64), int_type(64)),
        KIND: ir.StringAttr.get(kind)}, op.location)
    value = dense.results[0]
    if relu is not None:
        value = create_op("hardcore.relu", [value], [acc_type], None, relu.location).results[0]
    if relu is not None or in_range[0] >= 0:
        # An average of values >= 0 is >= 0: unsigned, one more bit of precision.
        out_low, out_high = 0, (1 << act_bits) - 1
        out_frac = frac_bits_for(lowering.magnitude((relu or op).results[0], settings), act_bits, False)
        out_width = act_bits + 1
    else:
        out_low, out_high = signed_range(act_bits)
        out_frac = frac_bits_for(lowering.magnitude(op.results[0], settings), act_bits, True)
        out_width = act_bits
    requant = create_op("hardcore.requant", [value], [tensor_type(out_shape, int_type(out_width))],
                        {"shift": i64_attr(in_frac + shift - out_frac), "min": i64_attr(out_low),
                         "max": i64_attr(out_high)}, (relu or op).location)
    lowering.quantized[(relu or op).results[0]] = (requant.results[0], out_frac, (out_low, out_high))
    return True
