"""Float graph ops (residual adds, concats, gathers, reshapes, ReLUs) to integers at aligned scales.

- a residual add (`hardcore.add_tensors`) shifts the operand with fewer
  fractional bits left to the other's scale (exact), adds exactly, and
  requantizes the sum to act-bits at the scale of its calibrated range,
  absorbing a following ReLU (unsigned then) like a dense layer; a
  difference (`hardcore.sub_tensors`) likewise;
- a concat (`hardcore.concat`, a chain of them for a cat of more than two)
  requantizes every input to one scale, from the calibrated range of the
  chain's output (signed when any input can be negative), rounding half up
  and saturating; inputs already at that scale pass unchanged;
- a gather (`hardcore.gather`, permute), a reshape and a ReLU on its own keep
  their input's integers and scale (a ReLU raises the range's ends to 0).
"""

from __future__ import annotations

from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.irutil import create_op, i64_attr, int_type, tensor_type
from hardcore.passes.quantize.common import (KIND, Lowering, frac_bits_for, following_relu, rescaled, shape_of,
                                             signed_range)

__all__ = ["lower_add_tensors", "lower_concat", "lower_reshape", "lower_gather", "lower_relu"]


def lower_reshape(lowering: Lowering, op) -> bool:
    source, frac, value_range = lowering.quantized[op.operands[0]]
    element = ir.RankedTensorType(source.type).element_type
    reshape = create_op("hardcore.reshape", [source], [tensor_type(shape_of(op.results[0]), element)], None,
                        op.location)
    lowering.quantized[op.results[0]] = (reshape.results[0], frac, value_range)
    return True


def lower_gather(lowering: Lowering, op) -> bool:
    source, frac, value_range = lowering.quantized[op.operands[0]]
    element = ir.RankedTensorType(source.type).element_type
    gather = create_op("hardcore.gather", [source], [tensor_type(shape_of(op.results[0]), element)],
                       {"indices": op.attributes["indices"]}, op.location)
    lowering.quantized[op.results[0]] = (gather.results[0], frac, value_range)
    return True


def lower_relu(lowering: Lowering, op) -> bool:
    """A ReLU no layer absorbed: on the integers, at their scale."""
    source, frac, (low, high) = lowering.quantized[op.operands[0]]
    element = ir.RankedTensorType(source.type).element_type
    relu = create_op("hardcore.relu", [source], [tensor_type(shape_of(op.results[0]), element)], None, op.location)
    lowering.quantized[op.results[0]] = (relu.results[0], frac, (max(low, 0), max(high, 0)))
    return True


def lower_add_tensors(lowering: Lowering, op) -> bool:
    """a + b (`add_tensors`) or a - b (`sub_tensors`): both exactly at the finer of their scales
    (left shifts), added or subtracted, then requantized.

    The sum is exact; the requantization to act-bits at the scale of the sum's
    calibrated range (unsigned when a ReLU follows, which it absorbs) rounds half
    up and saturates, like a dense layer's.
    """
    subtract = op.operation.name == "hardcore.sub_tensors"
    relu = following_relu(op)
    if relu is not None:
        lowering.absorbed.add(relu)
    settings = lowering.settings(op)
    act_bits = settings.act_bits
    operands = [lowering.quantized[v] for v in op.operands]
    frac = max(f for _, f, _ in operands)
    aligned, low, high = [], 0, 0
    for k, (value, value_frac, (a, b)) in enumerate(operands):
        shift = frac - value_frac
        if shift:
            value, _ = rescaled(value, value_frac, (a, b), frac, a << shift, b << shift, op.location)
        aligned.append(value)
        if subtract and k == 1:
            low, high = low - (b << shift), high - (a << shift)
        else:
            low, high = low + (a << shift), high + (b << shift)
    out_shape = shape_of(op.results[0])
    sum_type = tensor_type(out_shape, int_type(signed_width(low, high)))
    attributes = {KIND: op.attributes[KIND]} if KIND in op.attributes else {}
    value = create_op(op.operation.name, aligned, [sum_type], attributes, op.location).results[0]
    if relu is not None:
        value = create_op("hardcore.relu", [value], [sum_type], None, relu.location).results[0]
        out_low, out_high = 0, (1 << act_bits) - 1
        out_frac = frac_bits_for(lowering.magnitude(relu.results[0], settings), act_bits, False)
    else:
        out_low, out_high = signed_range(act_bits)
        out_frac = frac_bits_for(lowering.magnitude(op.results[0], settings), act_bits, True)
    requant = create_op("hardcore.requant", [value], [tensor_type(out_shape, int_type(signed_width(out_low, out_high)))],
                        {"shift": i64_attr(frac - out_frac), "min": i64_attr(out_low),
                         "max": i64_attr(out_high)}, (relu or op).location)
    lowering.quantized[(relu or op).results[0]] = (requant.results[0], out_frac, (out_low, out_high))
    return True


def _concat_root(op):
    """The last concat of the chain `op` is in (a cat of n tensors is n - 1 binary concats)."""
    while True:
        uses = list(op.results[0].uses)
        if len(uses) != 1 or uses[0].owner.operation.name != "hardcore.concat":
            return op
        op = uses[0].owner


def lower_concat(lowering: Lowering, op) -> bool:
    """Both operands requantized to one scale, from the calibrated range of the whole chain's output.

    Signed act-bits when any input of the chain can be negative, unsigned
    otherwise.  An operand already at that scale and type passes unchanged (so
    the inner concats of a chain, at the same scale, are never requantized
    twice); others are shifted, rounding half up, and saturated.
    """
    root = _concat_root(op)
    leaves, pending = [], [root]
    while pending:
        current = pending.pop()
        for value in current.operands:
            owner = value.owner if isinstance(value, ir.OpResult) else None
            if owner is not None and owner.operation.name == "hardcore.concat" and _concat_root(owner) == root:
                pending.append(owner)
            else:
                leaves.append(lowering.quantized[value])
    act_bits = lowering.quant.default.act_bits
    signed = any(low < 0 for _, _, (low, _) in leaves)
    out_low, out_high = signed_range(act_bits) if signed else (0, (1 << act_bits) - 1)
    out_frac = frac_bits_for(lowering.magnitude(root.results[0], lowering.quant.default), act_bits, signed)
    operands, low, high = [], None, None
    for value in op.operands:
        source, frac, value_range = lowering.quantized[value]
        source, (a, b) = rescaled(source, frac, value_range, out_frac, out_low, out_high, op.location)
        operands.append(source)
        low, high = (a, b) if low is None else (min(low, a), max(high, b))
    concat = create_op("hardcore.concat", operands,
                       [tensor_type(shape_of(op.results[0]), int_type(signed_width(out_low, out_high)))],
                       {"dim": op.attributes["dim"]}, op.location)
    lowering.quantized[op.results[0]] = (concat.results[0], out_frac, (low, high))
    return True
