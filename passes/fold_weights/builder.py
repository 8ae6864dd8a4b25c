"""The scalar DAG builder of hardcore-fold-weights: ops with exact widths, shared when identical.

`_DagBuilder` creates `hardcore.*` scalar ops whose result type is the
narrowest two's complement width that holds their value range, reuses an
identical op made in the same layer or a lower one, and counts what the
figures of `hardcore.layers` need.  A value not yet built is a `_Lin`:
`sign * (value << shift) + const`, so shifts and constants can move into the
next rounding or bias before they cost an adder.  It keeps the ops it made in
order and which of them each layer's figures counted (`since`), so that the
sweep of dead ops (`sweep.py`) can take those it removes out of the figures.
"""

from __future__ import annotations

import collections
from typing import NamedTuple

import numpy as np

from hardcore.adder_graph import signed_width
from hardcore.irutil import create_op, dense_attr, i64_attr, int_type

__all__ = ["_Lin", "_DagBuilder", "ADDERS", "COUNTERS"]

ADDERS = frozenset({"hardcore.add", "hardcore.sub", "hardcore.neg"})
# The builder's running totals that a layer's figures are the growth of (`_DagBuilder.snapshot`).
COUNTERS = ("adders", "adder_bits", "multipliers", "multiplier_bits", "tables", "table_entries")


class _Lin(NamedTuple):
    """sign * (value << shift) + const, not yet built; value None means const alone."""

    value: object
    shift: int
    sign: int
    const: int


class _DagBuilder:
    """Creates scalar ops with exact widths, reusing identical ops."""

    def __init__(self, location):
        self.location = location
        self.layer = -1  # the layer the ops made now belong to (their location says so)
        self.layer_of: dict = {}  # op result -> the layer it was made in
        self.ranges: dict = {}
        self.depths: dict = {}
        self.memo: dict = {}
        self.adders = 0
        self.adder_bits = 0
        self.tables = 0
        self.table_entries = 0
        self.multipliers = 0
        self.multiplier_bits = 0
        self.made: collections.Counter = collections.Counter()  # new ops by name
        # Every op it made, in program order, as (result, op), and the values each reads: the sweep of
        # dead ops (`sweep.py`) walks these, much faster than the block's operations through the bindings.
        self.created: list = []
        self.reads: dict = {}
        self.counted: list[tuple[int, int, int]] = []  # (layer, first, end) of `created` a layer's figures count
        # Result types and attributes made once each (a binding call costs about a microsecond; a large
        # layer makes millions of ops, of a few dozen widths and shift amounts).
        self._int_types: dict = {}
        self._i64_attrs: dict = {}

    def _int_type(self, width: int):
        if width not in self._int_types:
            self._int_types[width] = int_type(width)
        return self._int_types[width]

    def _i64_attr(self, value: int):
        if value not in self._i64_attrs:
            self._i64_attrs[value] = i64_attr(value)
        return self._i64_attrs[value]

    def _emit(self, name, operands, value_range, attributes=None):
        key = (name, tuple(operands), tuple(sorted((attributes or {}).items())))
        if self._reusable(key):
            return self.memo[key]
        low, high = value_range
        attrs = {k: self._i64_attr(v) for k, v in (attributes or {}).items()}
        op = create_op(name, operands, [self._int_type(signed_width(low, high))], attrs, self.location)
        self.made[name] += 1
        result = op.results[0]
        self._made(result, op, operands)
        self.ranges[result] = (low, high)
        depth = max((self.depths.get(v, 0) for v in operands), default=0)
        if name in ADDERS:
            depth += 1
            self.adders += 1
            self.adder_bits += signed_width(low, high)
        elif name == "hardcore.mul":
            self.multipliers += 1
            self.multiplier_bits += signed_width(low, high)
        self.depths[result] = depth
        self.memo[key] = result
        self.layer_of[result] = self.layer
        return result

    def _made(self, result, op, operands) -> None:
        self.created.append((result, op))
        self.reads[result] = tuple(operands)

    def _reusable(self, key) -> bool:
        """Whether an identical op was made, in this layer or a lower one.

        One made in a higher layer is not reused: an op of a lower layer (a
        requantization of an earlier value, processed after a later layer)
        would then read a higher layer, and layers must only read lower ones
        (hardcore-to-hw keeps one module per layer).
        """
        return key in self.memo and self.layer_of[self.memo[key]] <= self.layer

    def sext(self, value, width: int):
        if signed_width(*self.ranges[value]) == width:
            return value
        op = create_op("hardcore.sext", [value], [int_type(width)], None, self.location)
        self.ranges[op.results[0]] = self.ranges[value]
        self._made(op.results[0], op, [value])
        return op.results[0]

    def constant(self, value: int):
        return self._emit("hardcore.constant", [], (value, value), {"value": value})

    def shl(self, value, amount: int):
        if amount == 0:
            return value
        low, high = self.ranges[value]
        return self._emit("hardcore.shl", [value], (low << amount, high << amount), {"amount": amount})

    def shr(self, value, amount: int):
        if amount == 0:
            return value
        low, high = self.ranges[value]
        return self._emit("hardcore.shr", [value], (low >> amount, high >> amount), {"amount": amount})

    def add(self, lhs, rhs, value_range=None):
        if value_range is None:
            (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
            value_range = (a + c, b + d)
        return self._emit("hardcore.add", [lhs, rhs], value_range)

    def sub(self, lhs, rhs, value_range=None):
        if value_range is None:
            (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
            value_range = (a - d, b - c)
        return self._emit("hardcore.sub", [lhs, rhs], value_range)

    def mul(self, lhs, rhs):
        """lhs * rhs: one multiplier, as wide as the product's interval (a square when lhs is rhs).

        For products of two values; a constant factor is a shift/add constant
        multiply instead (`hardcore.passes.fold_weights.products`).
        """
        (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
        if lhs == rhs:
            value_range = (0 if a <= 0 <= b else min(a * a, b * b), max(a * a, b * b))
        else:
            corners = (a * c, a * d, b * c, b * d)
            value_range = (min(corners), max(corners))
        return self._emit("hardcore.mul", [lhs, rhs], value_range)

    def neg(self, value):
        low, high = self.ranges[value]
        return self._emit("hardcore.neg", [value], (-high, -low))

    def clamp(self, value, low: int, high: int):
        a, b = self.ranges[value]
        if low <= a and b <= high:
            return value
        clamped = (min(max(a, low), high), max(min(b, high), low))
        if clamped[0] == clamped[1]:  # the whole range lies on one side of [low, high]: a constant
            return self.constant(clamped[0])
        # A side the value cannot exceed gets its type's bound, so no comparator is built for it.
        width = signed_width(a, b)
        low = low if a < low else -(1 << (width - 1))
        high = high if b > high else (1 << (width - 1)) - 1
        return self._emit("hardcore.clamp", [value], clamped, {"min": low, "max": high})

    def table(self, value, low: int, entries: list[int]) -> _Lin:
        """entries[value - low], for a value whose range lies in [low, low + len(entries) - 1]."""
        a, b = self.ranges[value]
        if a < low or b >= low + len(entries):
            raise ValueError(f"input range [{a}, {b}] is not inside the table's inputs "
                             f"[{low}, {low + len(entries) - 1}]")
        reached = entries[a - low:b - low + 1]  # only what this value can index
        if min(reached) == max(reached):
            return _Lin(None, 0, 1, reached[0])
        key = ("hardcore.table", (value,), (a, tuple(reached)))
        if not self._reusable(key):
            op = create_op("hardcore.table", [value], [int_type(signed_width(min(reached), max(reached)))],
                           {"min": i64_attr(a), "table": dense_attr(np.array(reached), int_type(64))},
                           self.location)
            self.ranges[op.results[0]] = (min(reached), max(reached))
            self.depths[op.results[0]] = self.depths.get(value, 0)
            self._made(op.results[0], op, [value])
            self.tables += 1
            self.table_entries += len(reached)
            self.memo[key] = op.results[0]
            self.layer_of[op.results[0]] = self.layer
        return _Lin(self.memo[key], 0, 1, 0)

    def max(self, lhs, rhs):
        """max(lhs, rhs); no comparator when the ranges decide it."""
        (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
        if c >= b:
            return rhs
        if a >= d:
            return lhs
        return self._emit("hardcore.max", [lhs, rhs], (max(a, c), max(b, d)))

    def min(self, lhs, rhs):
        """min(lhs, rhs): `hardcore.pick(rhs, lhs, lhs, rhs)` (lhs > rhs ? rhs : lhs), at the min's range;
        no comparator when the ranges decide it."""
        (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
        if c >= b:
            return lhs
        if a >= d:
            return rhs
        return self._emit("hardcore.pick", [rhs, lhs, lhs, rhs], (min(a, c), min(b, d)))

    def pick(self, lhs, rhs, if_lhs, if_rhs):
        """rhs > lhs ? if_rhs : if_lhs; no comparator when the ranges decide it."""
        (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
        if c > b:
            return if_rhs
        if d <= a:
            return if_lhs
        (e, f), (g, h) = self.ranges[if_lhs], self.ranges[if_rhs]
        return self._emit("hardcore.pick", [lhs, rhs, if_lhs, if_rhs], (min(e, g), max(f, h)))

    def mux(self, select, low: int, high: int, if_in, if_out):
        """low <= select <= high ? if_in : if_out; no comparison when the select's range decides it.

        A side the select's range cannot fail gets its type's bound, so hardcore-to-hw compares
        only the other (equality when both are left and equal).
        """
        a, b = self.ranges[select]
        if low <= a and b <= high or if_in == if_out:
            return if_in
        if b < low or a > high:
            return if_out
        width = signed_width(a, b)
        low = low if a < low else -(1 << (width - 1))
        high = high if b > high else (1 << (width - 1)) - 1
        (e, f), (g, h) = self.ranges[if_in], self.ranges[if_out]
        return self._emit("hardcore.mux", [select, if_in, if_out], (min(e, g), max(f, h)), {"min": low, "max": high})

    def materialize(self, lin: _Lin):
        if lin.value is None:
            return self.constant(lin.const)
        shifted = self.shl(lin.value, lin.shift)
        if lin.sign > 0:
            return shifted if lin.const == 0 else self.add(shifted, self.constant(lin.const))
        return self.neg(shifted) if lin.const == 0 else self.sub(self.constant(lin.const), shifted)

    def lin_range(self, lin: _Lin) -> tuple[int, int]:
        if lin.value is None:
            return lin.const, lin.const
        low, high = self.ranges[lin.value]
        low, high = (low << lin.shift, high << lin.shift)
        if lin.sign < 0:
            low, high = -high, -low
        return low + lin.const, high + lin.const

    def snapshot(self) -> dict:
        """The running totals (COUNTERS) and the comparators made so far: a layer's figures are their growth."""
        totals = {name: getattr(self, name) for name in COUNTERS}
        totals["comparators"] = sum(self.made[name] for name in ("hardcore.max", "hardcore.pick", "hardcore.clamp"))
        totals["muxes"] = self.made["hardcore.mux"]
        totals["created"] = len(self.created)
        return totals

    def since(self, snapshot: dict) -> dict:
        """What was made after `snapshot`, by its keys; those ops count in the current layer's figures."""
        now = self.snapshot()
        self.counted.append((self.layer, snapshot["created"], now["created"]))
        return {name: now[name] - snapshot[name] for name in snapshot}
