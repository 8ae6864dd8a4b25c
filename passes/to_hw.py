"""hardcore-to-hw: the scalar DAG to a CIRCT `hw.module` of `comb` ops (as text).

Each DAG op keeps its exact width: operands are sign-extended or truncated to
the result's width (truncation is exact, because the result's width holds the
value and two's complement addition is exact modulo 2^width), shifts are
wires (`comb.concat` with zeros, `comb.extract` of the high bits; a left
shift that an adder sign-extends is one `comb.concat` of the sign bits, the
value and the zeros, see `_HwText`), a clamp is
a compare and a mux per side that can be exceeded, `max` and `pick` a signed
compare (shared when both compare the same values) and a mux, and a table is a
tree of `comb.mux` over the input's low bits (see `_table`).

Each op is computed at the width its users read, which may be below its
type's (the low bits of a sum are exact modulo 2^width): no wire has bits
that nothing reads, and ops that no output bit depends on are left out.  The
top module comes first, then one module per layer.  A register that only
ReLU-like clamps read keeps just the sign and the low bits they read.  docs/errors.md says why
the Verilog has two Verilator lint exceptions (SHIFTED_OUT below).

Ports follow the convention in README: input `x` packs element i at bits
[i*W +: W], output `y` likewise; a `hardcore.output_unsigned` function (an
argmax index) drops the always-zero sign bit from the port, and a
`hardcore.input_unsigned` one (token ids) from `x`, whose elements are then
zero-extended.  A `hardcore.mul` is a `comb.mul` of its operands
sign-extended (or truncated) to the width it is computed at.

The result is CIRCT IR text: CIRCT's MLIR is a separate copy of MLIR, and
`hardcore.backend.to_circt` is the one place that parses it there.  In a
torch-mlir PassManager this pass cannot run; `hardcore-opt` and
`hardcore.compile` run it at the crossing.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import re

import numpy as np
from torch_mlir import ir

from hardcore.irutil import array_attr, body_ops, functions, int_attr
from hardcore.pass_base import ModulePass, PassFailed
from hardcore.passes.pipeline import layer_index

__all__ = ["ToHwPass", "lower_function", "LoweringError", "SHIFTED_OUT"]


class LoweringError(ValueError):
    """An op (or function) hardcore-to-hw cannot lower; `where` has the location."""

    def __init__(self, where, message: str):
        super().__init__(message)
        self.where = where


# The name of every wire or register whose low bits only a right shift drops (a
# requantization's sum): Verilator's lint reports them as unused bits, though
# they carry into the rest; `hardcore.backend` marks these declarations alone.
SHIFTED_OUT = "shifted_out"

_SCALAR_OPS = frozenset({"hardcore.extract", "hardcore.constant", "hardcore.sext", "hardcore.reg", "hardcore.shl",
                         "hardcore.shr", "hardcore.add", "hardcore.sub", "hardcore.neg", "hardcore.mul",
                         "hardcore.clamp", "hardcore.table", "hardcore.max", "hardcore.pick", "hardcore.mux"})


def _width(value_type) -> int:
    return ir.IntegerType(value_type).width


def _integer_tensor(value_type) -> bool:
    return isinstance(value_type, ir.RankedTensorType) and isinstance(value_type.element_type, ir.IntegerType)


class _HwText:
    """Accumulates the body of one hw.module; SSA names are %vN.

    A left shift is not a wire of its own unless something reads it as it is
    (`shifted`, `value`): its readers sign-extend it (an adder's operand), and
    that extension and the shift are one `comb.concat` of the sign bits, the
    shifted value and the zeros (see docs/scale.md, round three).
    """

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0
        self.memo: dict = {}
        self.extracted: dict = {}  # the name of an extract -> (its source, the source's width, its low bit)
        self.packed: dict = {}  # the name of a value kept as sign + low bits -> (its register, its low bits)
        # the name of a left shift not emitted yet -> (its value, that value's width, the amount, the shift's width):
        # the shift is the value sign-extended to width - amount bits, then amount zeros
        self.shifted: dict = {}
        self.extended: dict = {}  # (name, bits, zeros) -> its `_extend`
        self.signs: dict = {}  # name -> its sign bit

    def emit(self, text: str, key=None) -> str:
        if key is not None and key in self.memo:
            return self.memo[key]
        name = f"%v{self.count}"
        self.count += 1
        self.lines.append(f"    {name} = {text}")
        if key is not None:
            self.memo[key] = name
        return name

    def constant(self, value: int, width: int) -> str:
        value = _wrap(value, width)
        return self.emit(f"hw.constant {value} : i{width}", ("const", value, width))

    def shift_left(self, name: str, width: int, amount: int, out: int) -> str:
        """`name` (`width` bits) shifted left by `amount` in `out` > amount bits, as a name that `value` emits."""
        if name in self.shifted:  # a shift of a shift: one concat
            source, source_width, source_amount, _ = self.shifted[name]
            if out - amount >= width:
                name, width, amount = source, source_width, source_amount + amount
        if width > out - amount:
            name, width = self.extract(name, width, 0, out - amount), out - amount
        virtual = f"%shl{len(self.shifted)}"  # never in the IR as such: `value` gives its wire
        self.shifted[virtual] = (name, width, amount, out)
        return virtual

    def value(self, name: str) -> str:
        """The wire of `name`: a left shift's concat the first time something reads it whole."""
        if name not in self.shifted:
            return name
        source, width, amount, out = self.shifted[name]
        return self._extend(source, width, out - amount, amount)

    def extract(self, name: str, width: int, low: int, out: int) -> str:
        if name in self.shifted:  # bits of a left shift: from its source and zeros, not its whole wire
            source, source_width, amount, _ = self.shifted[name]
            high = low + out
            if high <= amount:
                return self.constant(0, out)
            if high - amount <= source_width:  # no sign bits above the source read
                if low >= amount:
                    return self.extract(source, source_width, low - amount, out)
                part = self.extract(source, source_width, 0, high - amount)
                return self._extend(part, high - amount, high - amount, amount - low)
        name = self.value(name)
        if low == 0 and out == width:
            return name
        if name in self.packed:  # a register holding only the sign and the low bits (see _sign_and_low_registers)
            register, low_bits = self.packed[name]
            if low == width - 1 and out == 1:
                return self.extract(register, low_bits + 1, low_bits, 1)
            assert low + out <= low_bits, "a read outside the bits the register keeps"
            return self.extract(register, low_bits + 1, low, out)
        if name in self.extracted:  # bits of bits: straight from the source, no wire in between
            source, source_width, source_low = self.extracted[name]
            return self.extract(source, source_width, source_low + low, out)
        result = self.emit(f"comb.extract {name} from {low} : (i{width}) -> i{out}", ("extract", name, low, out))
        self.extracted[result] = (name, width, low)
        return result

    def resize(self, name: str, width: int, out: int) -> str:
        """Sign-extend or truncate `name` from `width` to `out` bits."""
        if out == width and name not in self.shifted:  # most adders' operands
            return name
        if out <= width:
            return self.extract(name, width, 0, out)
        if name in self.shifted:  # the sign bits, the shifted value and its zeros: one concat
            source, source_width, amount, _ = self.shifted[name]
            return self._extend(source, source_width, out - amount, amount)
        return self._extend(name, width, out, 0)

    def _extend(self, name: str, width: int, bits: int, zeros: int) -> str:
        """`name` sign-extended from `width` to `bits` >= width bits, then `zeros` zero bits below: one concat
        (and a replicate for more than one sign bit)."""
        key = (name, bits, zeros)
        found = self.extended.get(key)
        if found is not None:
            return found
        fill = bits - width
        if width == 1 and fill:  # a 1-bit value is its own sign: replicated whole
            name, width, fill = self.emit(f"comb.replicate {name} : (i1) -> i{bits}", ("replicate", name, bits)), bits, 0
        parts, types = [name], [f"i{width}"]
        if fill:
            sign = self.signs.get(name)
            if sign is None:
                sign = self.signs[name] = self.extract(name, width, width - 1, 1)
            if fill > 1:
                sign = self.emit(f"comb.replicate {sign} : (i1) -> i{fill}", ("replicate", sign, fill))
            parts.insert(0, sign)
            types.insert(0, f"i{fill}")
        if zeros:
            parts.append(self.constant(0, zeros))
            types.append(f"i{zeros}")
        result = self.emit(f"comb.concat {', '.join(parts)} : {', '.join(types)}") if len(parts) > 1 else name
        self.extended[key] = result
        return result


# The attributes each op's lowering reads, as integers (`_Op.attrs`); a table's entries are read from its op.
_INT_ATTRS = {"hardcore.extract": ("index",), "hardcore.constant": ("value",), "hardcore.shl": ("amount",),
              "hardcore.shr": ("amount",), "hardcore.clamp": ("min", "max"), "hardcore.mux": ("min", "max"),
              "hardcore.table": ("min",)}
_NO_ATTRS: dict = {}  # shared by the ops without any (most of them), never written


class _Op:
    """One DAG op as plain Python data, read from the bindings once (each binding call costs about a
    microsecond, and a large DAG has millions of ops).  Values are numbered: op k's result is k, the
    function's argument i is -1 - i."""

    __slots__ = ("op", "name", "result", "operands", "width", "attrs", "layer")

    def __init__(self, op, name: str, result: int, operands: tuple, width: int, attrs: dict, layer: int):
        self.op, self.name, self.result, self.operands = op, name, result, operands
        self.width, self.attrs, self.layer = width, attrs, layer


def _records(function, body: list, hierarchy: bool) -> list[_Op]:
    """The function's ops (all but its return) as `_Op`s; LoweringError at an op hardcore-to-hw cannot lower."""
    numbers = {argument: -1 - index for index, argument in enumerate(function.regions[0].blocks[0].arguments)}
    records = []
    for index, op in enumerate(body[:-1]):
        name = op.operation.name
        if name not in _SCALAR_OPS and name != "hardcore.pack":
            raise LoweringError(op, f"hardcore-to-hw cannot lower '{name}'")
        result = op.results[0]
        numbers[result] = index
        attrs = {key: int_attr(op, key) for key in _INT_ATTRS[name]} if name in _INT_ATTRS else _NO_ATTRS
        layer = layer_index(op.location) if hierarchy and name != "hardcore.extract" else -1
        records.append(_Op(op, name, index, tuple(map(numbers.__getitem__, op.operands)),
                           0 if name == "hardcore.pack" else _width(result.type), attrs, layer))
    return records


def _wrap(value: int, width: int) -> int:
    """`value` modulo 2^width, read as a signed `width`-bit integer: the low bits of its two's complement."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


# Ops whose low `width` result bits need only the operands' low `width` bits.
_MODULAR_OPS = frozenset({"hardcore.add", "hardcore.sub", "hardcore.neg", "hardcore.mul", "hardcore.sext",
                          "hardcore.reg"})


def _read_bits(op, name: str, width: int, operand_widths: list[int]) -> list[int]:
    """How many low bits of each operand an op computed at `width` bits (maybe below its type's) reads.

    Two's complement addition, negation, multiplication, shifts and sign
    extension are exact modulo 2^width, so the low `width` bits of the result
    need only the low bits of the operands; comparisons need all of theirs.  A right shift by
    `a` reads bits up to `a + width` (the bits below `a` are dropped by the op
    itself); a table reads only the low bits that tell its entries apart.
    """
    if name in _MODULAR_OPS:
        return [min(w, width) for w in operand_widths]
    if name == "hardcore.shl":
        return [min(operand_widths[0], max(width - op.attrs["amount"], 0))]
    if name == "hardcore.shr":
        return [min(operand_widths[0], op.attrs["amount"] + width)]
    if name == "hardcore.table":
        return [min(operand_widths[0], _table_select_bits(op))]
    if name == "hardcore.pick":
        return operand_widths[:2] + [min(w, width) for w in operand_widths[2:]]
    if name == "hardcore.mux":
        return operand_widths[:1] + [min(w, width) for w in operand_widths[1:]]
    return list(operand_widths)  # clamp, max: comparisons read every bit


def _shifted_out(ops, packs) -> set:
    """The sums (and registers) whose every reader is a right shift: their low bits are read by nothing.

    Those bits are not waste: they carry into the bits the shift keeps (the
    requantization's round-half-up division by 2^shift needs the exact sum).
    """
    # The sums right shifts read, less those any other op reads: a few among millions of ops.
    shifted = {op.operands[0] for op in ops if op.name == "hardcore.shr" and op.attrs["amount"] > 0}
    candidates = {op.result for op in ops if op.result in shifted and op.name in
                  ("hardcore.add", "hardcore.sub", "hardcore.neg", "hardcore.mul", "hardcore.reg")}
    for op in itertools.chain(ops, packs):
        if not candidates.isdisjoint(op.operands) and (op.name != "hardcore.shr" or op.attrs["amount"] <= 0):
            candidates.difference_update(op.operands)
    return candidates


def _sign_and_low_registers(ops, packs, demand: dict) -> dict:
    """Registers whose readers are all ReLU-like clamps (a lower bound of 0, no upper side): register -> k.

    Such a clamp reads the sign bit and the k low bits its result keeps, not
    the bits between (the value's range makes them redundant); the register
    keeps only the bits read, so no flip-flop holds a bit that nothing reads.
    Readers must be in the register's layer module (they read it by extracts),
    and y must not read it.
    """
    outputs = {value for pack in packs for value in pack.operands}
    kept = {op.result: op for op in ops if op.name == "hardcore.reg" and op.result in demand and op.result not in outputs}
    readers: dict = {}  # of those registers only
    for op in ops:
        if not kept.keys().isdisjoint(op.operands):
            for value in op.operands:
                if value in kept:
                    readers.setdefault(value, []).append(op)
    registers = {}
    for result, op in kept.items():
        if not readers.get(result):
            continue
        width = min(op.width, demand[result])
        low_bits = 0
        for reader in readers[result]:
            if (reader.name != "hardcore.clamp" or reader.result not in demand
                    or reader.layer != op.layer or reader.attrs["min"] != 0
                    or reader.attrs["max"] < (1 << (width - 1)) - 1):
                break
            low_bits = max(low_bits, min(reader.width, demand[reader.result]))
        else:
            if low_bits < width - 1:
                registers[result] = low_bits
    return registers


def _table_select_bits(op: _Op) -> int:
    """The low input bits that tell a table's entries apart (see `_table`)."""
    return max((array_attr(op.op, "table").size - 1).bit_length(), 1)


def _demanded_bits(ops, packs, out_elems: list[int], width_of: list[int]) -> tuple[dict, dict]:
    """Each value's bits that its users read (bits [0, n)), and the operands each op (by its result) reads at all.

    A value absent from the first has no user.  The exact widths of the DAG
    are the widths of the values, but a user may keep fewer bits (a sum whose
    result type is narrower than an operand, a clamp's result in fewer bits, a
    table's select bits, a left shift past the result's width, which reads
    nothing).  Computing each op at the width its users read leaves no bit
    that nothing reads: no wasted logic, and a Verilog without unused signal
    bits.
    """
    demand: dict = {}
    read_operands: dict = {}
    for pack, out_elem in zip(packs, out_elems):
        for value in pack.operands:
            demand[value] = max(demand.get(value, 0), min(width_of[value], out_elem))
    for op in reversed(ops):
        result = op.result
        need = demand.get(result)
        if need is None or op.name == "hardcore.extract":  # x's element: always whole
            continue
        width = op.width if op.width < need else need
        if op.name in _MODULAR_OPS:  # nearly every op: _read_bits, inline
            read_operands[result] = op.operands
            for value in op.operands:
                bits = width_of[value] if width_of[value] < width else width
                if demand.get(value, 0) < bits:
                    demand[value] = bits
            continue
        operand_widths = [width_of[v] for v in op.operands]
        read = read_operands[result] = []
        for value, bits in zip(op.operands, _read_bits(op, op.name, width, operand_widths)):
            if bits > 0:
                demand[value] = max(demand.get(value, 0), bits)
                read.append(value)
    return demand, read_operands


def _sanitize(name: str) -> str:
    name = re.sub(r"\W", "_", name)
    return name if re.match(r"[A-Za-z_]", name) else "m_" + name


@dataclasses.dataclass
class _Context:
    """What every op's lowering needs to know about the module being built."""

    inputs: dict  # argument -> its port
    register: str  # seq.compreg or seq.compreg.ce
    enable: str  # ", %ce" or ""
    demand: dict = dataclasses.field(default_factory=dict)  # value -> the low bits its users read
    read_operands: dict = dataclasses.field(default_factory=dict)  # op's result -> the operands it reads
    shifted_out: set = dataclasses.field(default_factory=set)  # values whose low bits only right shifts drop
    sign_and_low: dict = dataclasses.field(default_factory=dict)  # register -> the low bits it keeps


def _lower_op(hw: _HwText, op: _Op, name: str, operands: list[tuple[str, int]], width: int, context: _Context) -> str:
    """One scalar DAG op as comb/seq text; returns the SSA name of its result."""
    # The adders and shifts first: nearly every op of a large DAG is one of them.
    if name in ("hardcore.add", "hardcore.sub", "hardcore.mul"):
        # A product too: its low `width` bits are those of the operands' low bits, sign-extended.
        lhs, rhs = hw.resize(*operands[0], width), hw.resize(*operands[1], width)
        return hw.emit(f"{_ADD_SUB.get(name, 'comb.mul')} {lhs}, {rhs} : i{width}")
    if name == "hardcore.shl":
        amount = op.attrs["amount"]
        if width <= amount:
            return hw.constant(0, width)
        return hw.shift_left(*operands[0], amount, width)
    if name == "hardcore.extract":
        port = context.inputs[op.operands[0]]
        element = hw.extract(f"%{port.name}", port.bits, op.attrs["index"] * port.elem, port.elem)
        if port.unsigned and width > port.elem:  # a token id: zero-extended
            zeros = hw.constant(0, width - port.elem)
            return hw.emit(f"comb.concat {zeros}, {element} : i{width - port.elem}, i{port.elem}")
        return hw.resize(element, port.elem, width)
    if name == "hardcore.reg":
        value = hw.resize(*operands[0], width)
        low_bits = context.sign_and_low.get(op.result)
        if low_bits is None:
            return hw.emit(f"{context.register} {value}, %clk{context.enable} : i{width}")
        kept = hw.emit(f"comb.concat {hw.extract(value, width, width - 1, 1)}, {hw.extract(value, width, 0, low_bits)}"
                       f" : i1, i{low_bits}")
        register = hw.emit(f"{context.register} {kept}, %clk{context.enable} : i{low_bits + 1}")
        virtual = f"{register}_full"  # never in the IR: its readers only extract (HwText.packed)
        hw.packed[virtual] = (register, low_bits)
        return virtual
    if name == "hardcore.sext":
        return hw.resize(*operands[0], width)
    if name == "hardcore.constant":
        return hw.constant(op.attrs["value"], width)
    if name == "hardcore.shr":
        amount = op.attrs["amount"]
        value, value_width = operands[0]
        if amount >= value_width:
            return hw.resize(hw.extract(value, value_width, value_width - 1, 1), 1, width)
        if amount + width <= value_width:  # one extract: no intermediate wire with unread bits
            return hw.extract(value, value_width, amount, width)
        high = hw.extract(value, value_width, amount, value_width - amount)
        return hw.resize(high, value_width - amount, width)
    if name == "hardcore.neg":
        return hw.emit(f"comb.sub {hw.constant(0, width)}, {hw.resize(*operands[0], width)} : i{width}")
    if name == "hardcore.table":
        entries = [int(v) for v in array_attr(op.op, "table").reshape(-1)]
        return _table(hw, *operands[0], op.attrs["min"], entries, width)
    if name == "hardcore.max":
        rhs_greater = _greater(hw, operands[0], operands[1])[3]
        lhs, rhs = hw.resize(*operands[0], width), hw.resize(*operands[1], width)
        return hw.emit(f"comb.mux {rhs_greater}, {rhs}, {lhs} : i{width}")
    if name == "hardcore.pick":
        rhs_greater = _greater(hw, operands[0], operands[1])[3]
        if_lhs, if_rhs = hw.resize(*operands[2], width), hw.resize(*operands[3], width)
        return hw.emit(f"comb.mux {rhs_greater}, {if_rhs}, {if_lhs} : i{width}")
    if name == "hardcore.mux":
        condition = _in_range(hw, *operands[0], op.attrs["min"], op.attrs["max"])
        if_in, if_out = hw.resize(*operands[1], width), hw.resize(*operands[2], width)
        return hw.emit(f"comb.mux {condition}, {if_in}, {if_out} : i{width}")
    return _clamp(hw, *operands[0], op.attrs["min"], op.attrs["max"], width)  # hardcore.clamp


def _in_range(hw: _HwText, value: str, width: int, low: int, high: int) -> str:
    """low <= value <= high (signed) as one bit: equality when low = high, else a comparison for each side
    the type can pass.  Keyed, so the muxes on one test (a decoder step's position) share it."""
    bottom, top = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if low > min(high, top) or high < bottom:
        return hw.constant(0, 1)
    value = hw.value(value)
    if low == high:
        return hw.emit(f"comb.icmp eq {value}, {hw.constant(low, width)} : i{width}", ("eq", value, low))
    tests = []
    if low > bottom:
        tests.append(hw.emit(f"comb.icmp sge {value}, {hw.constant(low, width)} : i{width}", ("sge", value, low)))
    if high < top:
        tests.append(hw.emit(f"comb.icmp sle {value}, {hw.constant(high, width)} : i{width}", ("sle", value, high)))
    if not tests:
        return hw.constant(1, 1)
    if len(tests) == 1:
        return tests[0]
    return hw.emit(f"comb.and {tests[0]}, {tests[1]} : i1", ("and", *tests))


def _greater(hw: _HwText, lhs: tuple[str, int], rhs: tuple[str, int]) -> tuple[str, str, int, str]:
    """Both operands at their common width, and `rhs > lhs` (signed): one comparator.

    Keyed, so a `hardcore.max` and a `hardcore.pick` of the same operands in one
    module share it.
    """
    common = max(lhs[1], rhs[1])
    lhs_name, rhs_name = hw.resize(*lhs, common), hw.resize(*rhs, common)
    greater = hw.emit(f"comb.icmp sgt {rhs_name}, {lhs_name} : i{common}", ("sgt", rhs_name, lhs_name))
    return lhs_name, rhs_name, common, greater


@dataclasses.dataclass(frozen=True)
class _Port:
    """A port of the top module: its name, element width and element count."""

    name: str
    elem: int
    count: int
    unsigned: bool = False  # token ids (in) or an index (out): no sign bit

    @property
    def bits(self) -> int:
        return self.elem * self.count


def _ports(function) -> tuple[list[_Port], list[_Port]]:
    """The input ports (one per argument) and output ports (one per result) of a DAG function.

    One argument and one result: `x` and `y`; several: `x0`, `x1`, ... and `y0`, `y1`, ....
    A decoder step (`hardcore.decoder`, combinational):
    `x` (the token), `pos`, `cache0`..; `y`, the fresh rows `fresh0`.., and with output=both `logits`.
    A time-multiplexed layer's step (`hardcore.reuse`): `x` and `cycle`; `y`.
    """
    block = function.regions[0].blocks[0]
    inputs = [argument.type for argument in block.arguments]
    results = list(function.type.results)
    integers = all(_integer_tensor(t) for t in inputs + results)
    if "hardcore.decoder" in function.attributes and integers:
        in_names = ["x", "pos"] + [f"cache{i}" for i in range(len(inputs) - 2)]
        out_names = ["y"] + [f"fresh{i}" for i in range(len(inputs) - 2)] + ["logits"][:len(results) - len(inputs) + 1]
        if len(in_names) != len(inputs) or len(out_names) != len(results):
            raise LoweringError(function, f"hardcore-to-hw: a decoder step with {len(inputs) - 2} caches has "
                                          f"{len(inputs) - 1} or {len(inputs)} results, got {len(results)}")
        if "hardcore.latency" in function.attributes:
            raise LoweringError(function, "hardcore-to-hw: a decoder step is combinational (its caches take the "
                                          "fresh rows the next clock): it cannot be pipelined")
    elif "hardcore.reuse" in function.attributes and integers and len(inputs) == 2 and len(results) == 1:
        in_names, out_names = ["x", "cycle"], ["y"]  # a time-multiplexed layer's step (hardcore-time-multiplex)
    elif not inputs or not results or not integers:
        raise LoweringError(function, "hardcore-to-hw: expected integer tensor inputs and results "
                            "(run hardcore-fold-weights first)")
    else:  # x and y; a model with several inputs (results) has x0, x1, ... (y0, y1, ...), in their order
        in_names = ["x"] if len(inputs) == 1 else [f"x{i}" for i in range(len(inputs))]
        out_names = ["y"] if len(results) == 1 else [f"y{i}" for i in range(len(results))]
    in_unsigned = "hardcore.input_unsigned" in function.attributes  # token ids: the DAG's sign bit always 0
    out_unsigned = "hardcore.output_unsigned" in function.attributes  # an index (argmax): the same
    unsigned = [in_unsigned and not i or name == "cycle" for i, name in enumerate(in_names)]  # cycle: 0..R-1
    in_ports = [_Port(name, _width(t.element_type) - unsigned[i], int(np.prod(t.shape)), unsigned[i])
                for i, (name, t) in enumerate(zip(in_names, inputs))]
    out_ports = [_Port(name, _width(t.element_type) - (out_unsigned and not i), int(np.prod(t.shape)),
                       out_unsigned and not i) for i, (name, t) in enumerate(zip(out_names, results))]
    return in_ports, out_ports


def lower_function(function, module_name: str | None = None, hierarchy: bool = True) -> str:
    """One DAG func.func as `hw.module` text; raises LoweringError at what it cannot lower.

    With `hierarchy`, each layer (the `layerK` location names from
    hardcore-fold-weights) becomes a module of its own, instantiated by the
    top module: synthesis then reports area per layer, and the Verilog reads
    layer by layer.  Constants are repeated in each module that uses them.
    A decoder step has a port per argument and per result (`_ports`).
    """
    in_ports, out_ports = _ports(function)
    block = function.regions[0].blocks[0]
    latency = int_attr(function, "hardcore.latency") if "hardcore.latency" in function.attributes else 0
    clock_enable = latency > 0 and ir.BoolAttr(function.attributes["hardcore.clock_enable"]).value
    context = _Context({-1 - index: port for index, port in enumerate(in_ports)},
                       "seq.compreg.ce" if clock_enable else "seq.compreg", ", %ce" if clock_enable else "")
    module_name = _sanitize(module_name or function.name.value)

    body = body_ops(function)
    records = _records(function, body, hierarchy)
    numbers = {op.op.results[0]: op.result for op in records if op.name == "hardcore.pack"}
    packs = [records[numbers[value]] if value in numbers else None for value in body[-1].operands]
    if not packs or None in packs:
        raise LoweringError(function, "hardcore-to-hw: no hardcore.pack result drives the output")
    width_of = [op.width for op in records]
    ops = [op for op in records if op.name != "hardcore.pack"]
    context.demand, context.read_operands = _demanded_bits(ops, packs, [port.elem for port in out_ports], width_of)
    # Ops whose result no bit of y depends on (a value only shifted out entirely) are left out.
    ops = [op for op in ops if op.result in context.demand]
    context.shifted_out = _shifted_out(ops, packs)
    context.sign_and_low = _sign_and_low_registers(ops, packs, context.demand)

    top = _HwText()
    names: dict = {}
    widths: dict = {}
    modules = []
    constants = {op.result: op for op in ops if op.name == "hardcore.constant"}
    results = {value for pack in packs for value in pack.operands}
    layers = _Layers(ops, records, constants, context.read_operands)
    for unit in _emission_order(ops, function):
        if isinstance(unit, int):
            module = _layer_module(f"{module_name}_layer{unit}", unit, layers, records, constants, results,
                                   names, widths, top, context)
            if module:
                modules.append(module)
        else:
            _lower_into(top, unit, names, widths, context)
    outputs = [_pack(top, pack, names, widths, port.elem) for pack, port in zip(packs, out_ports)]
    in_text = ", ".join(f"in %{port.name} : i{port.bits}" for port in in_ports)
    out_text = ", ".join(f"out {port.name} : i{port.bits}" for port in out_ports)
    output_line = (f"    hw.output {', '.join(outputs)} : {', '.join(f'i{port.bits}' for port in out_ports)}")
    if latency == 0:
        header = f"hw.module @{module_name}({in_text}, {out_text}) {{"
        return "\n".join([header] + top.lines + [output_line, "}"] + modules)
    # The valid chain: L registers, the only ones with a (synchronous) reset.
    false = top.constant(0, 1)
    valid = "%in_valid"
    for _ in range(latency):
        valid = top.emit(f"{context.register} {valid}, %clk{context.enable} reset %rst, {false} : i1")
    ce_port = ", in %ce : i1" if clock_enable else ""
    # All inputs enter with one in_valid, all outputs leave with one out_valid.
    header = (f"hw.module @{module_name}(in %clk : !seq.clock, in %rst : i1, in %in_valid : i1, "
              f"{in_text}{ce_port}, out out_valid : i1, {out_text}) {{")
    output_line = (f"    hw.output {', '.join([valid] + outputs)} : "
                   f"{', '.join(['i1'] + [f'i{port.bits}' for port in out_ports])}")
    return "\n".join([header] + top.lines + [output_line, "}"] + modules)


def _emission_order(ops, function) -> list:
    """Top-level ops and layers (as their index) in an order where each comes after what it uses.

    A layer is emitted as one unit (its instance), so it must come after
    every top-level value it reads, such as an input delayed by pipeline
    registers, even when some of its ops stand before those in program
    order.  Among the units ready at once, program order decides.
    """
    unit_of, first = {}, {}
    for index, op in enumerate(ops):
        unit = op.layer if op.layer >= 0 else op
        unit_of[op.result] = unit
        first.setdefault(unit, index)
    needs: dict = {unit: set() for unit in first}
    for op in ops:
        unit = op.layer if op.layer >= 0 else op
        for value in op.operands:
            source = unit_of.get(value)
            if source is not None and source != unit:
                needs[unit].add(source)
    users: dict = {unit: [] for unit in first}
    for unit, sources in needs.items():
        for source in sources:
            users[source].append(unit)
    waiting = {unit: len(sources) for unit, sources in needs.items()}
    # a unit is known by the index of its first op: unique, and program order
    unit_at = {index: unit for unit, index in first.items()}
    ready = [first[unit] for unit, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        unit = unit_at[heapq.heappop(ready)]
        order.append(unit)
        for user in users[unit]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, first[user])
    if len(order) < len(first):
        stuck = sorted((u for u, count in waiting.items() if count), key=first.get)
        names = ", ".join(f"layer {u}" if isinstance(u, int) else f"'{u.name}'" for u in stuck[:4])
        raise LoweringError(function, f"hardcore-to-hw: layers and top-level ops depend on each other "
                                      f"in a cycle ({names}): cannot keep one module per layer")
    return order


_ADD_SUB = {"hardcore.add": "comb.add", "hardcore.sub": "comb.sub"}  # the adders' comb ops (`_lower_into`, `_lower_op`)


def _lower_into(hw: _HwText, op: _Op, names: dict, widths: dict, context: _Context,
                width: int | None = None) -> None:
    """Lower `op` at `width` bits, by default the bits its users read (`context.demand`)."""
    result = op.result
    if width is None:
        width = min(op.width, context.demand.get(result, op.width))
    if op.name in _ADD_SUB and result not in context.shifted_out:  # nearly every op: `_lower_op`'s first case, inline
        lhs, rhs = op.operands
        lhs, rhs = hw.resize(names[lhs], widths[lhs], width), hw.resize(names[rhs], widths[rhs], width)
        names[result] = hw.emit(f"{_ADD_SUB[op.name]} {lhs}, {rhs} : i{width}")
        widths[result] = width
        return
    # an operand the op does not read (a left shift past its width) may have no name here
    operands = [(names.get(v, ""), widths.get(v, 0)) for v in op.operands]
    names[result] = _lower_op(hw, op, op.name, operands, width, context)
    widths[result] = width
    if result in context.shifted_out and hw.lines and hw.lines[-1].startswith(f"    {names[result]} = "):
        # Name the wire (or register) so that the back end can mark it: see SHIFTED_OUT.
        attribute = "name" if op.name == "hardcore.reg" else "sv.namehint"
        head, _, result_type = hw.lines[-1].rpartition(" : ")
        hw.lines[-1] = f'{head} {{{attribute} = "{SHIFTED_OUT}"}} : {result_type}'


def _pack(hw: _HwText, pack, names: dict, widths: dict, out_elem: int) -> str:
    parts = [hw.resize(names[v], widths[v], out_elem) for v in pack.operands]
    if len(parts) == 1:
        return parts[0]
    return hw.emit(f"comb.concat {', '.join(reversed(parts))} : {', '.join([f'i{out_elem}'] * len(parts))}")


class _Layers:
    """The ops of each layer, and the values read in a layer other than their own (constants aside), from
    one walk of the ops."""

    def __init__(self, ops, records: list, constants: dict, read_operands: dict):
        self.members: dict = {}
        self.crossing: set = set()
        for op in ops:
            self.members.setdefault(op.layer, []).append(op)
            for value in read_operands.get(op.result, ()):
                if value >= 0 and records[value].layer != op.layer and value not in constants:
                    self.crossing.add(value)

    def used_outside(self, value: int) -> bool:
        """Whether an op outside `value`'s layer reads it."""
        return value in self.crossing


def _layer_module(name: str, layer: int, layers: _Layers, records: list, constants: dict, results: set,
                  names: dict, widths: dict, top: _HwText, context: _Context) -> str:
    """The hw.module of one layer, and its instance in `top` (which defines its outputs there)."""
    members = layers.members[layer]
    defined = {op.result for op in members}
    inputs, seen = [], set()
    for op in members:
        for value in context.read_operands.get(op.result, ()):
            if value not in defined and value not in constants and value not in seen:
                inputs.append(value)
                seen.add(value)
    # Other layers repeat the constants they use: a constant leaves a layer only to reach y.
    outputs = [op.result for op in members if op.result in results or layers.used_outside(op.result)]
    if not outputs:
        return ""  # nothing of this layer reaches the output (all-zero weights downstream)
    missing = [value for value in inputs if value not in names]
    if missing:
        raise LoweringError(records[missing[0]].op, f"hardcore-to-hw: layer {layer} uses a value defined after it")
    clocked = any(op.name == "hardcore.reg" for op in members)
    hw = _HwText()
    local_names = {value: f"%i{index}" for index, value in enumerate(inputs)}
    local_widths = {value: widths[value] for value in inputs}
    # A constant this module repeats is as wide as its readers here read it (others may read more).
    constant_bits: dict = {}
    for op in members:
        if constants.keys().isdisjoint(op.operands):
            continue
        width = min(op.width, context.demand[op.result])
        read = _read_bits(op, op.name, width, [records[v].width if v >= 0 else 0 for v in op.operands])
        for value, bits in zip(op.operands, read):
            if value in constants:
                constant_bits[value] = max(constant_bits.get(value, 0), bits)
    for value in outputs:  # a constant of this layer that reaches y: as y reads it
        if value in constants:
            constant_bits[value] = max(constant_bits.get(value, 0), min(records[value].width, context.demand[value]))
    for op in members:
        for value in context.read_operands.get(op.result, ()):
            if value in constants and value not in local_names:
                _lower_into(hw, constants[value], local_names, local_widths, context, constant_bits[value])
        if op.result not in local_names:
            _lower_into(hw, op, local_names, local_widths, context, constant_bits.get(op.result))
    ports = []
    arguments = []
    if clocked:
        ports.append("in %clk : !seq.clock")
        arguments.append("clk: %clk: !seq.clock")
        if context.enable:
            ports.append("in %ce : i1")
            arguments.append("ce: %ce: i1")
    ports += [f"in %i{index} : i{widths[value]}" for index, value in enumerate(inputs)]
    arguments += [f"i{index}: {top.value(names[value])}: i{widths[value]}" for index, value in enumerate(inputs)]
    ports += [f"out o{index} : i{local_widths[value]}" for index, value in enumerate(outputs)]
    results = ", ".join(f"o{index}: i{local_widths[value]}" for index, value in enumerate(outputs))
    returned = [hw.value(local_names[v]) for v in outputs]
    body = hw.lines + [f"    hw.output {', '.join(returned)} : "
                       f"{', '.join(f'i{local_widths[v]}' for v in outputs)}"]
    instance = f"%layer{layer}"
    count = f":{len(outputs)}" if len(outputs) > 1 else ""
    top.lines.append(f'    {instance}{count} = hw.instance "layer{layer}" @{name}({", ".join(arguments)}) '
                     f"-> ({results})")
    for index, value in enumerate(outputs):
        names[value] = f"{instance}#{index}" if len(outputs) > 1 else instance
        widths[value] = local_widths[value]
    return "\n".join([f"hw.module @{name}({', '.join(ports)}) {{"] + body + ["}"])


def _clamp(hw: _HwText, value: str, width: int, low: int, high: int, out: int) -> str:
    """min(max(value, low), high) in `out` bits, skipping a side the type cannot exceed.

    Both comparisons read the whole input; the muxes choose among `out` bits
    (the result fits them, or its users read no more), so no mux computes bits
    that nothing reads.
    """
    result = hw.resize(value, width, out)
    if low > -(1 << (width - 1)):
        if low == 0:  # the sign bit is the whole comparison
            below = hw.extract(value, width, width - 1, 1)
        else:
            below = hw.emit(f"comb.icmp slt {hw.value(value)}, {hw.constant(low, width)} : i{width}")
        result = hw.emit(f"comb.mux {below}, {hw.constant(low, out)}, {result} : i{out}")
    if high < (1 << (width - 1)) - 1:
        above = hw.emit(f"comb.icmp sgt {hw.value(value)}, {hw.constant(high, width)} : i{width}")
        result = hw.emit(f"comb.mux {above}, {hw.constant(high, out)}, {result} : i{out}")
    return result


def _table(hw: _HwText, value: str, width: int, low: int, entries: list[int], out: int) -> str:
    """entries[value - low] as a tree of 2:1 muxes on the low k bits of `value`.

    The value lies in [low, low + n - 1] with n = len(entries) <= 2^k, so its low
    k bits tell its n possible values apart: no subtraction.  Position p of the
    2^k leaves holds the entry of the value v ≡ p (mod 2^k) in [low, low + 2^k - 1],
    the last entry for those v past the table (they never occur).  The tree splits
    on the highest bit first; a subtree whose leaves are all equal is that
    constant, and equal subtrees are built once: the tree shrinks where the
    function is flat (the saturated ends of sigmoid and tanh).
    """
    bits = min(max((len(entries) - 1).bit_length(), 1), width)  # = _table_select_bits
    size = 1 << bits
    leaves = [0] * size
    for offset in range(size):
        leaves[(low + offset) % size] = entries[min(offset, len(entries) - 1)]
    selects = [hw.extract(value, width, bit, 1) for bit in range(bits)]
    entries = [_wrap(entry, out) for entry in entries]

    def subtree(level: int, start: int) -> str:
        chunk = tuple(leaves[start:start + (1 << level)])
        if min(chunk) == max(chunk):
            return hw.constant(chunk[0], out)
        key = ("table", value, level, chunk, out)
        if key not in hw.memo:
            half = 1 << (level - 1)
            upper, lower = subtree(level - 1, start + half), subtree(level - 1, start)
            hw.emit(f"comb.mux {selects[level - 1]}, {upper}, {lower} : i{out}", key)
        return hw.memo[key]

    return subtree(bits, 0)


@dataclasses.dataclass(frozen=True)
class ToHwPass(ModulePass):
    name = "hardcore-to-hw"
    hierarchy: bool = True  # one hw.module per layer; false: one flat module

    def lower(self, module: ir.Operation) -> str:
        """The module's DAG functions as CIRCT IR text; errors are diagnostics."""
        modules = []
        failed = False
        for function in functions(module):
            try:
                modules.append(lower_function(function, hierarchy=self.hierarchy))
            except LoweringError as exc:
                exc.where.location.emit_error(str(exc))
                failed = True
        if failed:
            raise PassFailed()
        return "module {\n" + "\n".join(modules) + "\n}\n"

    def run(self, module: ir.Operation) -> None:
        module.location.emit_error(
            "hardcore-to-hw produces CIRCT IR, which torch-mlir's MLIR cannot hold: "
            "run it through hardcore-opt or hardcore.pipeline.run_pipeline")
        raise PassFailed()
