"""hardcore-to-hw: the scalar DAG to a CIRCT `hw.module` of `comb` ops (as text).

Each DAG op keeps its exact width: operands are sign-extended or truncated to
the result's width (truncation is exact, because the result's width holds the
value and two's complement addition is exact modulo 2^width), shifts are
wires (`comb.concat` with zeros, `comb.extract` of the high bits), a clamp is
a compare and a mux per side that can be exceeded.

Ports follow the convention in README: input `x` packs element i at bits
[i*W +: W], output `y` likewise.  The result is CIRCT IR text: CIRCT's MLIR
is a separate copy of MLIR, and `hardcore.backend.to_circt` is the one place
that parses it there.  In a torch-mlir PassManager this pass cannot run;
`hardcore-opt` and `hardcore.compile` run it at the crossing.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from torch_mlir import ir

from hardcore.irutil import body_ops, functions, int_attr
from hardcore.pass_base import ModulePass, PassFailed

__all__ = ["ToHwPass", "lower_function", "LoweringError"]


class LoweringError(ValueError):
    """An op (or function) hardcore-to-hw cannot lower; `where` has the location."""

    def __init__(self, where, message: str):
        super().__init__(message)
        self.where = where


_SCALAR_OPS = frozenset({"hardcore.extract", "hardcore.constant", "hardcore.sext", "hardcore.reg", "hardcore.shl",
                         "hardcore.shr", "hardcore.add", "hardcore.sub", "hardcore.neg", "hardcore.clamp"})


def _width(value_type) -> int:
    return ir.IntegerType(value_type).width


def _integer_tensor(value_type) -> bool:
    return isinstance(value_type, ir.RankedTensorType) and isinstance(value_type.element_type, ir.IntegerType)


class _HwText:
    """Accumulates the body of one hw.module; SSA names are %vN."""

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0
        self.memo: dict = {}

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
        if width == 1:
            value = -1 if value & 1 else 0
        return self.emit(f"hw.constant {value} : i{width}", ("const", value, width))

    def extract(self, name: str, width: int, low: int, out: int) -> str:
        if low == 0 and out == width:
            return name
        return self.emit(f"comb.extract {name} from {low} : (i{width}) -> i{out}", ("extract", name, low, out))

    def resize(self, name: str, width: int, out: int) -> str:
        """Sign-extend or truncate `name` from `width` to `out` bits."""
        if out <= width:
            return self.extract(name, width, 0, out)
        sign = self.extract(name, width, width - 1, 1)
        fill = self.emit(f"comb.replicate {sign} : (i1) -> i{out - width}", ("replicate", sign, out - width))
        if width == 1:
            return self.emit(f"comb.replicate {sign} : (i1) -> i{out}", ("replicate", sign, out))
        return self.emit(f"comb.concat {fill}, {name} : i{out - width}, i{width}", ("sext", name, out))


def _sanitize(name: str) -> str:
    name = re.sub(r"\W", "_", name)
    return name if re.match(r"[A-Za-z_]", name) else "m_" + name


def lower_function(function, module_name: str | None = None) -> str:
    """One DAG func.func as `hw.module` text; raises LoweringError at what it cannot lower."""
    block = function.regions[0].blocks[0]
    signature = function.type
    if len(block.arguments) != 1 or len(signature.results) != 1 or \
            not _integer_tensor(block.arguments[0].type) or not _integer_tensor(signature.results[0]):
        raise LoweringError(function, "hardcore-to-hw: expected one integer tensor input and result "
                            "(run hardcore-fold-weights first)")
    in_type = ir.RankedTensorType(block.arguments[0].type)
    out_type = ir.RankedTensorType(function.type.results[0])
    in_elem, out_elem = _width(in_type.element_type), _width(out_type.element_type)
    in_bits = in_elem * int(np.prod(in_type.shape))
    out_count = int(np.prod(out_type.shape))
    hw = _HwText()
    latency = int_attr(function, "hardcore.latency") if "hardcore.latency" in function.attributes else 0
    clock_enable = latency > 0 and ir.BoolAttr(function.attributes["hardcore.clock_enable"]).value
    enable = ", %ce" if clock_enable else ""
    register = "seq.compreg.ce" if clock_enable else "seq.compreg"
    names: dict = {block.arguments[0]: "%x"}
    widths: dict = {block.arguments[0]: in_bits}
    output = None
    for op in body_ops(function):
        name = op.operation.name
        if name == "func.return":
            continue
        if name == "hardcore.pack":
            parts = [hw.resize(names[v], widths[v], out_elem) for v in op.operands]
            if len(parts) == 1:
                output = parts[0]
            else:
                joined = ", ".join(reversed(parts))
                output = hw.emit(f"comb.concat {joined} : {', '.join([f'i{out_elem}'] * len(parts))}")
            continue
        if name not in _SCALAR_OPS:
            raise LoweringError(op, f"hardcore-to-hw cannot lower '{name}'")
        result = op.results[0]
        width = _width(result.type)
        operands = [(names[v], widths[v]) for v in op.operands]
        if name == "hardcore.extract":
            index = int_attr(op, "index")
            element = hw.extract("%x", in_bits, index * in_elem, in_elem)
            text = hw.resize(element, in_elem, width)
        elif name == "hardcore.reg":
            value, _ = operands[0]
            text = hw.emit(f"{register} {hw.resize(value, operands[0][1], width)}, %clk{enable} : i{width}")
        elif name == "hardcore.sext":
            text = hw.resize(*operands[0], width)
        elif name == "hardcore.constant":
            text = hw.constant(int_attr(op, "value"), width)
        elif name == "hardcore.shl":
            amount = int_attr(op, "amount")
            value, value_width = operands[0]
            if width <= amount:
                text = hw.constant(0, width)
            else:
                inner = hw.resize(value, value_width, width - amount)
                zeros = hw.constant(0, amount)
                text = hw.emit(f"comb.concat {inner}, {zeros} : i{width - amount}, i{amount}")
        elif name == "hardcore.shr":
            amount = int_attr(op, "amount")
            value, value_width = operands[0]
            if amount >= value_width:
                text = hw.resize(hw.extract(value, value_width, value_width - 1, 1), 1, width)
            else:
                high = hw.extract(value, value_width, amount, value_width - amount)
                text = hw.resize(high, value_width - amount, width)
        elif name in ("hardcore.add", "hardcore.sub"):
            lhs = hw.resize(*operands[0], width)
            rhs = hw.resize(*operands[1], width)
            text = hw.emit(f"comb.{name.split('.')[1]} {lhs}, {rhs} : i{width}")
        elif name == "hardcore.neg":
            zero = hw.constant(0, width)
            text = hw.emit(f"comb.sub {zero}, {hw.resize(*operands[0], width)} : i{width}")
        else:  # hardcore.clamp
            text = _clamp(hw, *operands[0], int_attr(op, "min"), int_attr(op, "max"), width)
        names[result] = text
        widths[result] = width
    if output is None:
        raise LoweringError(function, "hardcore-to-hw: no hardcore.pack result drives the output")
    module_name = _sanitize(module_name or function.name.value)
    y_bits = out_elem * out_count
    if latency == 0:
        header = f"hw.module @{module_name}(in %x : i{in_bits}, out y : i{y_bits}) {{"
        return "\n".join([header] + hw.lines + [f"    hw.output {output} : i{y_bits}", "}"])
    # The valid chain: L registers, the only ones with a (synchronous) reset.
    false = hw.constant(0, 1)
    valid = "%in_valid"
    for _ in range(latency):
        valid = hw.emit(f"{register} {valid}, %clk{enable} reset %rst, {false} : i1")
    ce_port = ", in %ce : i1" if clock_enable else ""
    header = (f"hw.module @{module_name}(in %clk : !seq.clock, in %rst : i1, in %in_valid : i1, "
              f"in %x : i{in_bits}{ce_port}, out out_valid : i1, out y : i{y_bits}) {{")
    return "\n".join([header] + hw.lines + [f"    hw.output {valid}, {output} : i1, i{y_bits}", "}"])


def _clamp(hw: _HwText, value: str, width: int, low: int, high: int, out: int) -> str:
    """min(max(value, low), high), skipping a side the type cannot exceed."""
    if low > -(1 << (width - 1)):
        if low == 0:  # the sign bit is the whole comparison
            below = hw.extract(value, width, width - 1, 1)
        else:
            bound = hw.constant(low, width)
            below = hw.emit(f"comb.icmp slt {value}, {bound} : i{width}")
        value = hw.emit(f"comb.mux {below}, {hw.constant(low, width)}, {value} : i{width}")
    if high < (1 << (width - 1)) - 1:
        bound = hw.constant(high, width)
        above = hw.emit(f"comb.icmp sgt {value}, {bound} : i{width}")
        value = hw.emit(f"comb.mux {above}, {bound}, {value} : i{width}")
    return hw.resize(value, width, out)


@dataclasses.dataclass(frozen=True)
class ToHwPass(ModulePass):
    name = "hardcore-to-hw"

    def lower(self, module: ir.Operation) -> str:
        """The module's DAG functions as CIRCT IR text; errors are diagnostics."""
        modules = []
        failed = False
        for function in functions(module):
            try:
                modules.append(lower_function(function))
            except LoweringError as exc:
                exc.where.location.emit_error(str(exc))
                failed = True
        if failed:
            raise PassFailed()
        return "module {\n" + "\n".join(modules) + "\n}\n"

    def run(self, module: ir.Operation) -> None:
        module.location.emit_error(
            "hardcore-to-hw produces CIRCT IR, which torch-mlir's MLIR cannot hold: "
            "run it through hardcore-opt or hardcore.backend.lower_to_hw")
        raise PassFailed()
