"""The scalar DAG builder of hardcore-fold-weights: ops with exact widths, shared when identical, built as text.

`_DagBuilder` makes `hardcore.*` scalar ops whose result type is the
narrowest two's complement width that holds their value range, reuses an
identical op made in the same layer or a lower one, and counts what the
figures of `hardcore.layers` need.  A value is an integer, its index in the
builder's records (a function argument or an op's result); a value not yet
built is a `_Lin`: `sign * (value << shift) + const`, so shifts and
constants can move into the next rounding or bias before they cost an
adder.  It keeps the ops it made in order and which of them each layer's
figures counted (`since`), so that the sweep of dead ops (`sweep.py`) can
take those it removes out of the figures.

The ops are records, not MLIR operations: a large layer makes millions of
them, and an op made through the bindings costs microseconds.  `function`
prints the function they make (generic form, each op with its layer's
location) and parses it once, in the C++ parser.
"""

from __future__ import annotations

import collections
from typing import NamedTuple

from torch_mlir import ir

from hardcore.adder_graph import signed_width

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
    """Makes scalar ops with exact widths, reusing identical ops; `function` turns them into a func.func."""

    def __init__(self, location: ir.Location):
        self.layer = -1  # the layer the ops made now belong to (their location says so)
        # Per value (an argument or an op's result, by its number): its op as (name, operands, attributes
        # text, location number), None for an argument; its type's text; its range; the layer it was made in.
        self.ops: list = []
        self.types: list[str] = []
        self.ranges: list = []
        self.layer_of: list[int] = []
        self.depths: dict = {}
        self.memo: dict = {}
        self.adders = 0
        self.adder_bits = 0
        self.tables = 0
        self.table_entries = 0
        self.multipliers = 0
        self.multiplier_bits = 0
        self.made: collections.Counter = collections.Counter()  # new ops by name
        self.counted: list[tuple[int, int, int]] = []  # (layer, first, end) of the values a layer's figures count
        self._locations: dict[str, int] = {}  # a location's text -> its number (an alias in the text)
        self._int_types: dict[int, str] = {}
        self._attribute_texts: dict = {}
        self.entries: dict[int, int] = {}  # a table's value -> its entries
        self.dead: set[int] = set()  # the ops `function` leaves out (`sweep.py`)
        self.location = location

    @property
    def location(self) -> ir.Location:
        return self._location

    @location.setter
    def location(self, location: ir.Location) -> None:
        """The location of the ops made from now on."""
        self._location = location
        self._location_number = self._locations.setdefault(str(location), len(self._locations))

    def argument(self, type_: ir.Type) -> int:
        """A new function argument of this type (the function's arguments come in the order they are made)."""
        return self._value(None, str(type_), None)

    def set_type(self, argument: int, type_: ir.Type) -> None:
        self.types[argument] = str(type_)

    def _value(self, op, type_text: str, value_range) -> int:
        self.ops.append(op)
        self.types.append(type_text)
        self.ranges.append(value_range)
        self.layer_of.append(self.layer)
        return len(self.ops) - 1

    def _op(self, name: str, operands, type_text: str, value_range, attributes: str = "") -> int:
        return self._value((name, tuple(operands), attributes, self._location_number), type_text, value_range)

    def _int_type(self, width: int) -> str:
        text = self._int_types.get(width)
        if text is None:
            text = self._int_types[width] = f"i{width}"
        return text

    def _attributes(self, items: tuple) -> str:
        """The text of integer attributes (sorted (name, value) pairs), made once each."""
        text = self._attribute_texts.get(items)
        if text is None:
            text = self._attribute_texts[items] = \
                " {" + ", ".join(f"{key} = {value} : i64" for key, value in items) + "}" if items else ""
        return text

    def _emit(self, name, operands, value_range, attributes=None):
        # The hot path of a large layer (an adder graph's millions of nodes): no call it can save.
        items = tuple(sorted(attributes.items())) if attributes else ()
        operands = tuple(operands)
        key = (name, operands, items)
        found = self.memo.get(key)
        if found is not None and self.layer_of[found] <= self.layer:
            return found
        low, high = int(value_range[0]), int(value_range[1])
        width = signed_width(low, high)
        type_text = self._int_types.get(width) or self._int_type(width)
        attribute_text = self._attribute_texts.get(items)
        if attribute_text is None:
            attribute_text = self._attributes(items)
        ops = self.ops
        result = len(ops)
        ops.append((name, operands, attribute_text, self._location_number))
        self.types.append(type_text)
        self.ranges.append((low, high))
        self.layer_of.append(self.layer)
        self.made[name] += 1
        depths = self.depths
        if len(operands) == 2:
            depth = max(depths.get(operands[0], 0), depths.get(operands[1], 0))
        else:
            depth = max((depths.get(v, 0) for v in operands), default=0)
        if name in ADDERS:
            depth += 1
            self.adders += 1
            self.adder_bits += width
        elif name == "hardcore.mul":
            self.multipliers += 1
            self.multiplier_bits += width
        depths[result] = depth
        self.memo[key] = result
        return result

    def _reusable(self, key) -> bool:
        """Whether an identical op was made, in this layer or a lower one.

        One made in a higher layer is not reused: an op of a lower layer (a
        requantization of an earlier value, processed after a later layer)
        would then read a higher layer, and layers must only read lower ones
        (hardcore-to-hw keeps one module per layer).
        """
        found = self.memo.get(key)
        return found is not None and self.layer_of[found] <= self.layer

    def width(self, value: int) -> int:
        return signed_width(*self.ranges[value])

    def sext(self, value, width: int):
        if signed_width(*self.ranges[value]) == width:
            return value
        return self._op("hardcore.sext", [value], self._int_type(width), self.ranges[value])

    def pack(self, values: list, type_: ir.Type, location: ir.Location) -> int:
        """A tensor of `values` (a result of the function), at `location`."""
        saved = self.location
        self.location = location
        result = self._op("hardcore.pack", values, str(type_), None)
        self.location = saved
        return result

    def function(self, old, name: str, results: list[int], location: ir.Location):
        """A func.func `name` right before `old` (at its location): the builder's arguments, its ops
        but those in `dead`, and a func.return of `results` at `location`.

        Printed in MLIR's generic form (each location once, as an alias) and parsed in `old`'s context:
        the C++ parser makes the millions of ops of a large layer far faster than the bindings.
        """
        function_location = self._locations.setdefault(str(old.location), len(self._locations))
        return_location = self._locations.setdefault(str(location), len(self._locations))
        types, ops = self.types, self.ops
        lines = [f"#fold{number} = {text}" for text, number in self._locations.items()]
        arguments = ", ".join(f"%{value}: {types[value]} loc(#fold{function_location})"
                              for value, op in enumerate(ops) if op is None)
        symbol = ir.StringAttr.get(name, context=old.context)
        lines.append(f"func.func @{symbol}({arguments}) -> ({', '.join(types[value] for value in results)}) {{")
        dead = self.dead
        for value, op in enumerate(ops):
            if op is None or value in dead:
                continue
            op_name, operands, attributes, op_location = op
            lines.append(f"%{value} = \"{op_name}\"({', '.join([f'%{v}' for v in operands])}){attributes} : "
                         f"({', '.join([types[v] for v in operands])}) -> {types[value]} loc(#fold{op_location})")
        lines.append(f"\"func.return\"({', '.join(f'%{value}' for value in results)}) : "
                     f"({', '.join(types[value] for value in results)}) -> () loc(#fold{return_location})")
        lines.append(f"}} loc(#fold{function_location})")
        new = ir.Operation.parse("\n".join(lines), context=old.context)
        ir.InsertionPoint(old).insert(new.operation)
        return new

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
            entries_text = ", ".join(str(entry) for entry in reached)
            result = self._op("hardcore.table", [value], self._int_type(signed_width(min(reached), max(reached))),
                              (min(reached), max(reached)),
                              f" {{min = {a} : i64, table = dense<[{entries_text}]> : tensor<{len(reached)}xi64>}}")
            self.depths[result] = self.depths.get(value, 0)
            self.entries[result] = len(reached)
            self.tables += 1
            self.table_entries += len(reached)
            self.memo[key] = result
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
        totals["created"] = len(self.ops)
        return totals

    def since(self, snapshot: dict) -> dict:
        """What was made after `snapshot`, by its keys; those ops count in the current layer's figures."""
        now = self.snapshot()
        self.counted.append((self.layer, snapshot["created"], now["created"]))
        return {name: now[name] - snapshot[name] for name in snapshot}
