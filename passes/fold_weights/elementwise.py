"""hardcore-fold-weights for the elementwise and wiring ops: relu, requant, lut, residual add, concat.

A ReLU followed by a requantization with `min >= 0` is the requantization's
clamp; a requantization is a rounding constant joined to the bias, a right
shift and a clamp (a left shift that cannot saturate is a wire); a lookup
table one `hardcore.table` per element, trimmed to what the element's range
reaches.  A residual add is a layer of its own: one adder per element.  A
concat, a gather and a reshape are wires: the elements in their new order.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.irutil import array_attr, int_attr, requant_shifts
from hardcore.passes.fold_weights.arith import add_lins, lookup, negate
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin

__all__ = ["fold_add_tensors", "fold_sub_tensors", "fold_concat", "fold_gather", "fold_relu", "fold_requant", "fold_lut", "fold_reshape",
           "requant_lin"]


def fold_gather(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """The operand's elements at `indices`: wires."""
    return [operands[0][int(i)] for i in array_attr(op, "indices").reshape(-1)], None


def fold_reshape(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """The same elements in the same order: nothing."""
    return operands[0], None


def fold_add_tensors(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """A residual add: one adder per element (none where an operand is a constant), a layer of its own.

    Operands at one scale are `±(v << m) + c`: the shift both have in common is
    applied after the adder (narrower), the constants join the next rounding.
    """
    lhs, rhs = operands
    before = builder.snapshot()
    inputs = {lin.value for lin in lhs + rhs if lin.value is not None}
    saved_depths = {v: builder.depths.get(v, 0) for v in inputs}
    for v in inputs:  # depth is counted from this layer's inputs
        builder.depths[v] = 0
    result, depth = [], 0
    for a, b in zip(lhs, rhs):
        result.append(add_lins(builder, a, b))
        if a.value is not None and b.value is not None:
            depth = max(depth, builder.depths.get(result[-1].value, 0))
    for v, d in saved_depths.items():
        builder.depths[v] = d
    made = builder.since(before)
    stats = {"inputs": len(lhs) + len(rhs), "outputs": len(result), "weights": 0, "nonzero_weights": 0,
             "adders": made["adders"], "adder_bits": made["adder_bits"], "adder_depth": depth}
    if "hardcore.kind" in op.attributes:
        stats["kind"] = ir.StringAttr(op.attributes["hardcore.kind"]).value
    return result, stats


def fold_sub_tensors(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """a - b per element: a residual add of -b (one subtractor per element), a layer of its own."""
    lhs, rhs = operands
    result, stats = fold_add_tensors(options, builder, op, [lhs, [negate(lin) for lin in rhs]])
    if "kind" not in stats:
        stats["kind"] = f"subtract {'x'.join(str(d) for d in ir.RankedTensorType(op.results[0].type).shape)}"
    return result, stats


def fold_concat(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """lhs and rhs joined along `dim`: the elements in their new row-major order (wires)."""
    lhs, rhs = operands
    dim = int_attr(op, "dim")
    lhs_shape = list(ir.RankedTensorType(op.operands[0].type).shape)
    rhs_shape = list(ir.RankedTensorType(op.operands[1].type).shape)
    order = np.concatenate([np.arange(len(lhs)).reshape(lhs_shape),
                            len(lhs) + np.arange(len(rhs)).reshape(rhs_shape)], axis=dim)
    elements = lhs + rhs
    return [elements[int(i)] for i in order.reshape(-1)], None


def fold_relu(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """max(x, 0): a clamp per element, or nothing when a requantization with min >= 0 follows."""
    source = operands[0]
    uses = list(op.results[0].uses)
    if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.requant" \
            and int_attr(uses[0].owner, "min") >= 0:
        # requant clamps at min >= 0 anyway, and rounding commutes with relu
        # (relu(x + h) >> s == (relu(x) + h) >> s for 0 <= h < 2^s).
        return source, None
    result = []
    for lin in source:
        if lin.value is None:
            result.append(_Lin(None, 0, 1, max(lin.const, 0)))
            continue
        value = builder.materialize(lin)
        result.append(_Lin(builder.clamp(value, 0, max(builder.ranges[value][1], 0)), 0, 1, 0))
    return result, None


def fold_lut(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """One `hardcore.table` per element, trimmed to the inputs its range reaches."""
    low = int_attr(op, "min")
    entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
    return [lookup(builder, lin, low, entries) for lin in operands[0]], None


def fold_requant(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """Round half up (a constant joined to the bias), shift and saturate, per element."""
    source = operands[0]
    low, high = int_attr(op, "min"), int_attr(op, "max")
    shifts = requant_shifts(op, len(source))  # one shift per element
    return [requant_lin(builder, lin, shift, low, high) for lin, shift in zip(source, shifts)], None


def requant_lin(builder: _DagBuilder, lin: _Lin, shift: int, low: int, high: int) -> _Lin:
    """`hardcore.requant` of one element: clamp(floor((x + 2^(s-1)) / 2^s), low, high), or x << -s for s <= 0."""
    if lin.value is None:
        c = lin.const
        c = ((c + (1 << (shift - 1))) >> shift) if shift > 0 else c << -shift
        return _Lin(None, 0, 1, min(max(c, low), high))
    lin_low, lin_high = builder.lin_range(lin)
    if shift <= 0 and low <= lin_low << -shift and lin_high << -shift <= high:
        # An exact left shift that cannot saturate (aligning a residual add's operands,
        # or a concat's): a wire, left for the op that uses it to build.
        return _Lin(lin.value, lin.shift - shift, lin.sign, lin.const << -shift)
    s = shift
    if s > 0:
        # Round half up for free: the constant joins the bias.  Then
        # floor((±v·2^m + C) / 2^s) == floor((±v·2^(m-k) + floor(C/2^k)) / 2^(s-k))
        # for k = min(m, s): the adder drops k low bits it never needed.
        const = lin.const + (1 << (s - 1))
        common = min(lin.shift, s)
        lin = _Lin(lin.value, lin.shift - common, lin.sign, const >> common)
        s -= common
    value = builder.materialize(lin)
    value = builder.shr(value, s) if s > 0 else builder.shl(value, -s)
    return _Lin(builder.clamp(value, low, high), 0, 1, 0)
