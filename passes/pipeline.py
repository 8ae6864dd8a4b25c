"""hardcore-pipeline: registers in the scalar DAG so no path crosses more than N adder levels.

An adder level is one carry chain: `hardcore.add`, `sub`, `neg`, or a
comparator and its mux: `clamp`, `max` or `pick` (a comparison is a
subtraction's carry chain); a `hardcore.table` (a mux tree over at most 12
input bits) counts as one level too.  A `hardcore.mul` counts as
ceil(log2 w) levels (at least 1), w the narrower operand's width: the w
partial products summed by a balanced adder tree.  Shifts, extensions,
extracts and constants are wires.  Each op gets its ASAP level; levels
1..N form segment 1, N+1..2N segment 2, and so on (inputs belong to segment
1).  A multiplier of more than N levels cannot be split: it ends its segment
(its readers start the next), so its stage has its levels, more than N.  A value made in segment
a and used in segment b passes through b - a registers (`hardcore.reg`),
shared by all its users (so a skip path of a graph, such as a residual add's
input, is delayed to the stage of the adder that uses it); every output is
registered once more after the last segment L (the outputs of a function with several
results all leave in that cycle).  So every path from input to output crosses exactly L registers:
the latency is L cycles and a new input can enter every cycle.

The function gets `hardcore.latency = L` (and `hardcore.clock_enable`);
`hardcore-to-hw` then adds the clock, the synchronous reset of the valid
chain (`in_valid` -> `out_valid`, L registers) and the optional clock enable.
Data registers have no reset.
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from hardcore.errors import UsageError
from hardcore.irutil import body_ops, create_op, functions, i64_attr
from hardcore.pass_base import ModulePass, PassFailed

__all__ = ["PipelinePass", "LEVEL_OPS", "layer_index", "op_levels"]


def layer_index(location: ir.Location) -> int:
    """K of a `layerK` location name (hardcore-fold-weights names them), else -1."""
    if isinstance(location, ir.NameLoc) and location.name_str.startswith("layer"):
        return int(location.name_str[5:])
    return -1

# Ops that cost one adder level: adders, comparators with their mux, a table's mux tree.
LEVEL_OPS = frozenset({"hardcore.add", "hardcore.sub", "hardcore.neg", "hardcore.clamp",
                       "hardcore.max", "hardcore.pick", "hardcore.mux", "hardcore.table"})


def op_levels(op) -> int:
    """The adder levels an op's carry chains stack up: 1 for LEVEL_OPS, ceil(log2 w) for a multiplier
    whose narrower operand has w bits (its w partial products summed by a balanced adder tree;
    at least 1), 0 for a wire."""
    name = op.operation.name
    if name == "hardcore.mul":
        narrower = min(ir.IntegerType(value.type).width for value in op.operands)
        return max(1, (narrower - 1).bit_length())
    return int(name in LEVEL_OPS)


# Wires that only widen a value: a delayed copy registers their operand instead.
_WIDENING_WIRES = frozenset({"hardcore.sext", "hardcore.shl"})


@dataclasses.dataclass(frozen=True)
class PipelinePass(ModulePass):
    name = "hardcore-pipeline"
    max_adder_depth: int = 4
    clock_enable: bool = False

    def validate(self) -> None:
        if self.max_adder_depth < 1:
            raise UsageError(f"{self.name}: max-adder-depth must be at least 1, got {self.max_adder_depth}")

    def run(self, module: ir.Operation) -> None:
        ok = True
        for function in functions(module):
            if "hardcore.latency" in function.attributes:
                self.error(function, "hardcore-pipeline: the function is already pipelined")
                ok = False
                continue
            if "hardcore.decoder" in function.attributes:
                self.error(function, "hardcore-pipeline: a decoder step stays combinational (the next step reads "
                                     "its fresh cache rows the next clock)")
                ok = False
                continue
            ops = body_ops(function)
            if any(op.operation.name in ("hardcore.dense", "hardcore.quantize") for op in ops):
                self.error(function, "hardcore-pipeline: expected a scalar DAG (run hardcore-fold-weights first)")
                ok = False
                continue
            self._pipeline(function, ops)
        if not ok:
            raise PassFailed()

    def _layer_figures(self, function) -> ir.ArrayAttr:
        """Per layer (from the `layerK` location names fold-weights gives): registers and stages."""
        figures: dict[int, dict] = {}
        stage = {}
        for op in body_ops(function):
            name = op.operation.name
            if name in ("func.return", "hardcore.pack", "hardcore.constant"):
                continue
            layer = layer_index(op.location)
            entry = figures.setdefault(layer, {"registers": 0, "register_bits": 0, "first_stage": None,
                                               "last_stage": 0})
            if name == "hardcore.reg":
                entry["registers"] += 1
                entry["register_bits"] += ir.IntegerType(op.results[0].type).width
                stage[op.results[0]] = stage.get(op.operands[0], 1) + 1
                continue
            here = max((stage.get(v, 1) for v in op.operands), default=1)
            stage[op.results[0]] = here
            entry["first_stage"] = here if entry["first_stage"] is None else min(entry["first_stage"], here)
            entry["last_stage"] = max(entry["last_stage"], here)
        return ir.ArrayAttr.get([
            ir.DictAttr.get({"layer": i64_attr(layer), **{k: i64_attr(v or 0) for k, v in entry.items()}})
            for layer, entry in sorted(figures.items())])

    def _segment(self, level: int) -> int:
        return max(1, -(-level // self.max_adder_depth))

    def _pipeline(self, function, ops) -> None:
        level: dict = {}
        constant: set = set()
        delayed: dict = {}  # (value, registers) -> value that many cycles later

        def delay(value, registers: int, before):
            if registers <= 0 or value in constant:
                return value
            key = (value, registers)
            if key not in delayed:
                owner = value.owner
                with ir.InsertionPoint(before):
                    if owner.operation.name in _WIDENING_WIRES:
                        # Register the narrower operand and widen after: fewer register bits.
                        inner = delay(owner.operands[0], registers, before)
                        attributes = {k: owner.attributes[k] for k in owner.attributes}
                        result = create_op(owner.operation.name, [inner], [value.type], attributes, owner.location)
                    else:
                        earlier = delay(value, registers - 1, before)
                        result = create_op("hardcore.reg", [earlier], [value.type], None, owner.location)
                delayed[key] = result.results[0]
            return delayed[key]

        packs = []  # one per result: all leave in the same cycle
        for op in ops:
            name = op.operation.name
            if name == "func.return":
                continue
            if name == "hardcore.pack":
                packs.append(op)
                continue
            if name == "hardcore.constant":
                constant.add(op.results[0])
                level[op.results[0]] = 0
                continue
            operands = [v for v in op.operands if v in level]
            if name == "hardcore.extract":
                result_level = 0
            else:
                cost = op_levels(op)
                result_level = max((level[v] for v in operands), default=0) + cost
                if cost > self.max_adder_depth:
                    # A multiplier deeper than a stage cannot be split: its stage holds it
                    # alone (its operands registered before it), and its readers start the next.
                    result_level = self._segment(result_level) * self.max_adder_depth
            segment = self._segment(result_level)
            for index, value in enumerate(list(op.operands)):
                if value in level and value not in constant:
                    needed = segment - self._segment(level[value])
                    if needed > 0:
                        op.operands[index] = delay(value, needed, op)
            level[op.results[0]] = result_level
        values = [v for pack in packs for v in pack.operands if v not in constant]
        latency = max((self._segment(level[v]) for v in values), default=1)
        for pack in packs:
            for index, value in enumerate(list(pack.operands)):
                if value in constant:
                    continue
                # Constants need no register; every other output crosses L registers in all.
                pack.operands[index] = delay(value, latency - self._segment(level[value]) + 1, pack)
        for op in reversed(body_ops(function)):  # wires the rewiring left unused
            if op.operation.name != "func.return" and op.results and not list(op.results[0].uses):
                op.operation.erase()
        function.attributes["hardcore.pipeline_layers"] = self._layer_figures(function)
        function.attributes["hardcore.latency"] = i64_attr(latency)
        function.attributes["hardcore.clock_enable"] = ir.BoolAttr.get(self.clock_enable)
        function.attributes["hardcore.max_adder_depth"] = i64_attr(self.max_adder_depth)
