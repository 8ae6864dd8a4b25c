"""The folded DAG's ops as exact integers (Z3) and as the hardware computes them (numpy): equal while every
value fits its type (docs/formal.md, op by op).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from torch_mlir import ir

from hardcore.errors import CompileError
from hardcore.formal.terms import _Unsupported, _Value, _affine, _linear, _scaled, _sum_interval, _type_range, _wrap_int
from hardcore.irutil import array_attr, body_ops, int_attr

__all__ = ["evaluate_dag"]


@dataclasses.dataclass
class _LayerContext:
    z3: object
    bounds: list  # each input element's interval
    filename: str  # the DAG's, for locations

    @staticmethod
    def width(value) -> int:
        return ir.IntegerType(value.type).width


def _dag_constant(op, operands, ctx):
    return _linear({}, int_attr(op, "value"), ctx.bounds)


def _dag_wire(op, operands, ctx):  # sext; reg (a register is the identity: combinational equivalence)
    return operands[0]


def _dag_shl(op, operands, ctx):
    factor = 1 << int_attr(op, "amount")
    return _affine(ctx.z3, operands, [factor], ctx.bounds, _scaled(operands[0].interval, factor))


def _dag_shr(op, operands, ctx):
    amount = int_attr(op, "amount")
    (lo, hi), (value,) = operands[0].interval, operands
    return _Value((lo >> amount, hi >> amount), build=lambda terms: terms.term(value) / (1 << amount))  # floor


def _dag_add(op, operands, ctx):
    return _affine(ctx.z3, operands, [1, 1], ctx.bounds, _sum_interval([v.interval for v in operands]))


def _dag_sub(op, operands, ctx):
    return _affine(ctx.z3, operands, [1, -1], ctx.bounds,
                   _sum_interval([operands[0].interval, _scaled(operands[1].interval, -1)]))


def _dag_neg(op, operands, ctx):
    return _affine(ctx.z3, operands, [-1], ctx.bounds, _scaled(operands[0].interval, -1))


def _clamp_bounds(op, width: int) -> tuple[int | None, int | None]:
    """The bounds hardcore-to-hw compares with, as its constants of the operand's width hold them;
    None for a side the operand's type cannot exceed (no comparator)."""
    low, high = int_attr(op, "min"), int_attr(op, "max")
    type_low, type_high = _type_range(width)
    return (_wrap_int(low, width) if low > type_low else None,
            _wrap_int(high, width) if high < type_high else None)


def _dag_clamp(op, operands, ctx):
    z3 = ctx.z3
    low, high = _clamp_bounds(op, ctx.width(op.operands[0]))
    (lo, hi), (value,) = operands[0].interval, operands
    if low is not None:
        lo, hi = max(lo, low), max(hi, low)
    if high is not None:
        lo, hi = min(lo, high), min(hi, high)

    def build(terms):
        term = terms.term(value)
        if low is not None:
            term = z3.If(term < low, z3.IntVal(low), term)
        if high is not None:
            term = z3.If(term > high, z3.IntVal(high), term)
        return term
    return _Value((lo, hi), build=build)


def _table_leaves(op) -> tuple[int, list[int]]:
    """The mux tree's select bits and leaves (`to_hw._table`): leaf p is the entry of v ≡ p (mod 2^k)."""
    entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
    low = int_attr(op, "min")
    bits = max((len(entries) - 1).bit_length(), 1)
    size = 1 << bits
    leaves = [0] * size
    for offset in range(size):
        leaves[(low + offset) % size] = entries[min(offset, len(entries) - 1)]
    return bits, leaves


def _dag_table(op, operands, ctx):
    z3 = ctx.z3
    bits, leaves = _table_leaves(op)
    if bits > ctx.width(op.operands[0]):
        raise _Unsupported(op, f"a table of {len(leaves)} leaves on an i{ctx.width(op.operands[0])} input")
    (lo, hi), (value,) = operands[0].interval, operands
    reached = leaves if hi - lo + 1 >= len(leaves) else [leaves[v % len(leaves)] for v in range(lo, hi + 1)]

    def build(terms):
        index = terms.term(value) % len(leaves)  # the low k bits (Int mod is non-negative)
        term = z3.IntVal(leaves[-1])
        for position in range(len(leaves) - 2, -1, -1):
            term = z3.If(index == position, z3.IntVal(leaves[position]), term)
        return term
    return _Value((min(reached), max(reached)), build=build)


def _dag_max(op, operands, ctx):
    z3 = ctx.z3
    (lo_a, hi_a), (lo_b, hi_b) = operands[0].interval, operands[1].interval

    def build(terms):
        a, b = terms(*operands)
        return z3.If(b > a, b, a)
    return _Value((max(lo_a, lo_b), max(hi_a, hi_b)), build=build)


def _dag_pick(op, operands, ctx):
    z3 = ctx.z3
    (lo_c, hi_c), (lo_d, hi_d) = operands[2].interval, operands[3].interval

    def build(terms):
        a, b, c, d = terms(*operands)
        return z3.If(b > a, d, c)
    return _Value((min(lo_c, lo_d), max(hi_c, hi_d)), build=build)


# op name -> lower(op, operand _Values, context) -> _Value: the op's exact integer.  It equals what
# hardcore-to-hw builds whenever every value fits its type (docs/formal.md says why, op by op).
_DAG_SEMANTICS: dict[str, Callable] = {
    "hardcore.constant": _dag_constant,
    "hardcore.sext": _dag_wire,
    "hardcore.reg": _dag_wire,
    "hardcore.shl": _dag_shl,
    "hardcore.shr": _dag_shr,
    "hardcore.add": _dag_add,
    "hardcore.sub": _dag_sub,
    "hardcore.neg": _dag_neg,
    "hardcore.clamp": _dag_clamp,
    "hardcore.table": _dag_table,
    "hardcore.max": _dag_max,
    "hardcore.pick": _dag_pick,
}


def _wrap(values: np.ndarray, width: int) -> np.ndarray:
    """Integers read as `width`-bit two's complement."""
    half = 1 << (width - 1)
    return ((values + half) & ((1 << width) - 1)) - half


def _eval_table(op, value, width):
    bits, leaves = _table_leaves(op)
    return np.array(leaves, dtype=np.int64)[value & ((1 << bits) - 1)]


def _eval_clamp(op, value, value_width):
    low, high = _clamp_bounds(op, value_width)
    if low is not None:
        value = np.where(value < low, low, value)
    if high is not None:
        value = np.where(value > high, high, value)
    return value


# The same semantics on numpy int64 batches: the exact result wrapped to the result width
# is what the wires and the modulo-2^w adders give (shr: the high bits of the wrapped operand).
_DAG_NUMPY: dict[str, Callable] = {
    "hardcore.constant": lambda op, a, w: np.int64(int_attr(op, "value")),
    "hardcore.sext": lambda op, a, w: a[0][0],
    "hardcore.reg": lambda op, a, w: a[0][0],
    "hardcore.shl": lambda op, a, w: a[0][0] << int_attr(op, "amount") if int_attr(op, "amount") < 63 else 0 * a[0][0],
    "hardcore.shr": lambda op, a, w: a[0][0] >> min(int_attr(op, "amount"), 63),
    "hardcore.add": lambda op, a, w: _wrap(a[0][0], w) + _wrap(a[1][0], w),
    "hardcore.sub": lambda op, a, w: _wrap(a[0][0], w) - _wrap(a[1][0], w),
    "hardcore.neg": lambda op, a, w: -_wrap(a[0][0], w),
    "hardcore.mul": lambda op, a, w: _wrap(a[0][0], w) * _wrap(a[1][0], w),
    "hardcore.clamp": lambda op, a, w: _eval_clamp(op, a[0][0], a[0][1]),
    "hardcore.table": lambda op, a, w: _eval_table(op, a[0][0], w),
    "hardcore.max": lambda op, a, w: np.where(a[1][0] > a[0][0], a[1][0], a[0][0]),
    "hardcore.pick": lambda op, a, w: np.where(a[1][0] > a[0][0], _wrap(a[3][0], w), _wrap(a[2][0], w)),
}


def evaluate_dag(function, inputs: np.ndarray, trace: dict | None = None) -> np.ndarray:
    """Run a DAG function on integer inputs (batch, n) with hardware semantics: values wrap, no range check.

    Returns the port values (batch, m) as the port is read (unsigned for an argmax index);
    `trace`, when given, receives every scalar op's values (batch,) keyed by its result.
    """
    inputs = np.asarray(inputs, dtype=np.int64).reshape(len(inputs), -1)
    block = function.regions[0].blocks[0]
    in_width = ir.IntegerType(ir.RankedTensorType(block.arguments[0].type).element_type).width
    values: dict = {}
    for op in body_ops(function):
        name = op.operation.name
        if name == "func.return":
            break
        if name == "hardcore.pack":
            width = _port_width(function)
            outputs = [_wrap(values[v][0], width) for v in op.operands]
            result = np.stack(outputs, axis=1)
            return result if _port_signed(function) else result & ((1 << width) - 1)
        width = ir.IntegerType(op.results[0].type).width
        if name == "hardcore.extract":
            result = _wrap(inputs[:, int_attr(op, "index")], in_width)
        else:
            result = _DAG_NUMPY[name](op, [values[v] for v in op.operands], width)
        result = _wrap(np.broadcast_to(result, (len(inputs),)).astype(np.int64), width)
        values[op.results[0]] = (result, width)
        if trace is not None:
            trace[op.results[0]] = result
    raise CompileError(f"@{function.name.value}: no hardcore.pack result")


def _port_signed(function) -> bool:
    return "hardcore.output_unsigned" not in function.attributes


def _port_width(function) -> int:
    element = ir.RankedTensorType(function.type.results[0]).element_type
    return ir.IntegerType(element).width - (not _port_signed(function))
