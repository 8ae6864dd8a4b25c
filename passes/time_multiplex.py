"""hardcore-time-multiplex: a quantized chain of dense layers -> one step function per layer, ceil(N/R) outputs a cycle.

The input is a quantized function (it starts with `hardcore.quantize`) whose
body is a chain of layers: `dense` on a vector, each followed by any of
`relu` and `requant`, and a closing `dequantize`.  With `reuse=R`, layer k's
N outputs are computed over R cycles by S = ceil(N/R) *slots*: in cycle c,
slot j computes output row c*S + j (a row past N-1 computes a zero row, which
the caller never stores).  Layer k becomes the step function

    @f_stepK(%x: tensor<n x iA>, %cycle: tensor<1 x iB>) -> tensor<S x iC>
        attributes {hardcore.reuse = {layer = K, reuse = R, rows = N, slots = S}}

R is per layer: a quantization config's `reuse` settings (`config`, the
file hardcore-quantize reads: `{"layers": {"0": {"reuse": 8}}}`) replace the
option `reuse` for the layers they name (a layer the chain does not have is an
error at the function).  The step is
a scalar DAG like hardcore-fold-weights' (exact widths from value ranges),
whose constants are selected by the cycle `%cycle` in [0, R-1]: its inputs
are the previous step's outputs, all N of them (or the quantized input), and
its outputs S slots after the layer's relu and requant.  `f` itself goes.

Two realizations of the products (`realization`):

- `mux`, a multiplexed adder graph: each weight in canonical signed digits;
  the t-th digit of the weight that input i meets in slot j is, in cycle c,
  ±(x_i << s) or nothing: a chain of `hardcore.mux` on the cycle selects
  among the shifted input and its negation (one `neg` per input, shared).
  Each slot is an adder tree over those terms, one adder per term, used in
  every cycle: `max_c digits(W[row, i])` terms per input and slot.
- `rom`, a constant table feeding a multiply-accumulate: the weights of
  (slot j, input i) over the R cycles are a `hardcore.table` on the cycle,
  and a `hardcore.mul` multiplies it with x_i (a fixed weight, the same in
  every cycle, stays a shift/add constant product).

A layer of reuse 1 (a per-layer reuse) has nothing to select: its rows are
the CSE solver's adder graph, as hardcore-fold-weights builds them
(`realization = "cse"` in its `hardcore.reuse`).

`mux` is the default: in Yosys LUTs it is the smaller at every R measured
(docs/streaming.md: a generic multiplier of an activation by a table costs more
than the mux terms it replaces).

The biases (with the requantization's rounding constant) are a table on the
cycle.  A per-element requant shift is a mux among the shifted sums.  The
reference is unchanged: run in cycles 0..R-1, step K's slots give exactly the
quantized layer's rows (`hardcore.time_multiplex.run_steps`).  What the
wrapper around the steps does with them is in docs/streaming.md.

Left alone (an error naming the op): everything that is not such a chain
(convolutions, pooling, residual adds, argmax, sequence models): their
time-multiplexed forms are later pieces of docs/streaming.md's plan.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.csd import csd_digits
from hardcore.errors import UsageError
from hardcore.irutil import (array_attr, body_ops, functions, i64_attr, int_attr, int_type, requant_shifts,
                             tensor_type)
from hardcore.pass_base import ModulePass, Rejected
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin
from hardcore.passes.fold_weights.dense import ALGORITHMS, build_graph
from hardcore.quant_config import LayerQuant, load_quant_config, parse_quant_config

__all__ = ["TimeMultiplexPass", "REALIZATIONS", "step_functions"]

REALIZATIONS = ("mux", "rom")
_TAIL_OPS = ("hardcore.relu", "hardcore.requant")

@dataclasses.dataclass(frozen=True)
class TimeMultiplexPass(ModulePass):
    name = "hardcore-time-multiplex"
    # the reuse of every layer the quantization config does not give one
    reuse: int = 2
    realization: str = "mux"
    # A quantization config (hardcore.quant_config) whose `reuse` settings replace `reuse`:
    # the same file as hardcore-quantize's `config`; its other settings are hardcore-quantize's.
    config: str | None = None
    # The Python API's config (a dictionary, `quant_config`): instead of the file `config`.
    config_data: Any = dataclasses.field(default=None, metadata={"cli": False}, compare=False)

    def validate(self) -> None:
        if isinstance(self.reuse, bool) or not isinstance(self.reuse, int) or self.reuse < 1:
            raise UsageError(f"{self.name}: reuse must be an integer of at least 1, got {self.reuse!r}")
        if self.realization not in REALIZATIONS:
            raise UsageError(f"{self.name}: unknown realization '{self.realization}' "
                             f"(one of: {', '.join(REALIZATIONS)})")
        config, source = self.config_data, "quant_config"
        if config is None and self.config is not None:
            config, source = load_quant_config(self.config), self.config
        # read and checked once, before any work
        object.__setattr__(self, "_quant", parse_quant_config(config, LayerQuant(reuse=self.reuse), source))

    @property
    def quant(self):
        """The config's settings (`hardcore.quant_config.QuantConfig`), `reuse` the default reuse."""
        if not hasattr(self, "_quant"):
            self.validate()
        return self._quant

    def layer_reuse(self, index: int) -> int:
        """Layer `index`'s reuse: the config's for it, else the config's top-level one, else `reuse`."""
        return self.quant.layer(index).reuse

    def run(self, module: ir.Operation) -> None:
        # a function with hardcore.reuse is already a step
        self.rewrite_each([f for f in functions(module) if "hardcore.reuse" not in f.attributes], self._multiplex)

    def _multiplex(self, function) -> None:
        ops = body_ops(function)
        block = function.regions[0].blocks[0]
        if len(block.arguments) != 1 or not ops or ops[0].operation.name != "hardcore.quantize":
            raise Rejected(function, "expected a quantized function of one argument starting with "
                                      "hardcore.quantize (run hardcore-quantize first)")
        quantize, ret = ops[0], ops[-1]
        layers = _chain(ops[1:-1], quantize, function)
        named = sorted(index for index, names in self.quant.named.items() if "reuse" in names)
        if named and named[-1] >= len(layers):
            raise Rejected(function, f"the quantization config sets the reuse of layer {named[-1]} to "
                                     f"{self.layer_reuse(named[-1])}, but the chain has {len(layers)} dense "
                                     f"layers (0 to {len(layers) - 1})")
        if len(ret.operands) != 1 or ret.operands[0].owner != ops[-2] or \
                ops[-2].operation.name != "hardcore.dequantize":
            raise Rejected(ret, "expected the result to be a hardcore.dequantize")
        low, high = int_attr(quantize, "min"), int_attr(quantize, "max")
        name = function.name.value
        steps = []
        for index, (dense, tail) in enumerate(layers):
            steps.append(self._step(function, f"{name}_step{index}", index, dense, tail, (low, high)))
            low, high = steps[-1][1]
        first, last = steps[0][0], steps[-1][0]
        first.attributes["hardcore.input_frac_bits"] = i64_attr(int_attr(quantize, "frac_bits"))
        last.attributes["hardcore.output_frac_bits"] = i64_attr(int_attr(ops[-2], "frac_bits"))
        function.operation.erase()

    def _step(self, function, step_name: str, index: int, dense, tail: list, in_range: tuple[int, int]):
        """Layer `index` as a step function; returns it and its outputs' value range."""
        weight = array_attr(dense, "weight").astype(np.int64)
        bias = array_attr(dense, "bias").astype(np.int64).reshape(-1)
        rows, columns = weight.shape
        reuse = self.layer_reuse(index)
        slots = -(-rows // reuse)
        in_type = tensor_type([columns], int_type(signed_width(*in_range)))
        cycle_type = tensor_type([1], int_type(signed_width(0, reuse - 1)))
        # The rows each slot computes, cycle by cycle; a row past N-1 is a zero row.
        padded = np.zeros((slots * reuse, columns), dtype=np.int64)
        padded[:rows] = weight
        schedule = [[c * slots + j for c in range(reuse)] for j in range(slots)]
        location = ir.Location.name(f"layer{index}", childLoc=dense.location)
        builder = _DagBuilder(location)
        builder.layer = index
        arguments = [builder.argument(in_type), builder.argument(cycle_type)]
        inputs = [builder._emit("hardcore.extract", [arguments[0]], in_range, {"index": i}) for i in range(columns)]
        cycle = builder._emit("hardcore.extract", [arguments[1]], (0, reuse - 1), {"index": 0})
        before = builder.snapshot()
        realization = "cse" if reuse == 1 else self.realization
        # reuse 1: nothing to select, slot j is row j of the fully parallel layer's adder graph
        row_terms = _cse_terms(builder, inputs, weight, in_range) if reuse == 1 else None
        outputs = []
        for j, slot_rows in enumerate(schedule):
            terms = row_terms[j] if row_terms is not None else \
                _terms(builder, realization, cycle, inputs, padded[slot_rows])
            outputs.append(_tail(builder, cycle, terms, slot_rows, bias, tail, rows))
        width = max(signed_width(*builder.ranges[v]) for v in outputs)
        outputs = [builder.sext(v, width) for v in outputs]
        out_type = tensor_type([slots], int_type(width))
        pack = builder.pack(outputs, out_type, location)
        step = builder.function(function, step_name, [pack], location)
        step.attributes["hardcore.reuse"] = ir.DictAttr.get({
            "layer": i64_attr(index), "reuse": i64_attr(reuse), "rows": i64_attr(rows), "slots": i64_attr(slots),
            "realization": ir.StringAttr.get(realization)})
        figures = builder.since(before)
        stats = {"inputs": columns, "outputs": rows, "weights": int(weight.size),
                 "nonzero_weights": int(np.count_nonzero(weight)),
                 **{key: figures[key] for key in ("adders", "adder_bits", "muxes", "tables", "table_entries",
                                                  "multipliers", "multiplier_bits")},
                 "adder_depth": max((builder.depths.get(v, 0) for v in outputs), default=0)}
        if "hardcore.kind" in dense.attributes:
            stats["kind"] = ir.StringAttr(dense.attributes["hardcore.kind"]).value
        step.attributes["hardcore.layers"] = ir.ArrayAttr.get([ir.DictAttr.get(
            {k: (ir.StringAttr.get(v) if isinstance(v, str) else i64_attr(v)) for k, v in stats.items()})])
        ranges = [builder.ranges[v] for v in outputs]
        return step, (min(r[0] for r in ranges), max(r[1] for r in ranges))


def _chain(ops, quantize, function) -> list:
    """The layers: (dense, [relu/requant ops after it]), each reading the one before; Rejected otherwise."""
    layers: list = []
    current = quantize.results[0]
    for op in ops:
        name = op.operation.name
        if name == "hardcore.dequantize":
            if not layers:
                raise Rejected(function, "no dense layer to time-multiplex")
            if op.operands[0] != current:
                raise Rejected(op, "expected one hardcore.dequantize of the last layer's output")
            continue
        if name != "hardcore.dense" and name not in _TAIL_OPS:
            raise Rejected(op, f"cannot time-multiplex '{name}' (only a chain of dense layers "
                                "with relu and requant)")
        if len(op.operands) != 1 or op.operands[0] != current:
            raise Rejected(op, f"'{name}' does not read the layer before it (only a chain of layers)")
        if name == "hardcore.dense":
            weight_shape = list(ir.RankedTensorType(op.attributes["weight"].type).shape)
            in_shape = list(ir.RankedTensorType(op.operands[0].type).shape)
            if int(np.prod(in_shape)) != weight_shape[1]:
                raise Rejected(op, "cannot time-multiplex a dense layer over rows of its input "
                                    "(only a vector)")
            layers.append((op, []))
        elif not layers:
            raise Rejected(op, f"'{name}' before the first dense layer")
        else:
            layers[-1][1].append(op)
        current = op.results[0]
    return layers


def _select(builder: _DagBuilder, cycle, values: list):
    """values[c] in cycle c: the most frequent one, and a mux for each run of cycles with another."""
    common = collections.Counter(values).most_common(1)[0][0]
    result = common
    start = 0
    for c in range(1, len(values) + 1):
        if c == len(values) or values[c] != values[start]:
            if values[start] != common:
                result = builder.mux(cycle, start, c - 1, values[start], result)
            start = c
    return result


def _terms(builder: _DagBuilder, realization: str, cycle, inputs: list, weights: np.ndarray) -> list:
    """The products of one slot (weights: cycles x inputs) as values whose sum is the slot's dot product."""
    terms = []
    for i, column in enumerate(weights.T.tolist()):
        if realization == "rom" and len(set(column)) > 1:
            table = builder.table(cycle, 0, column)
            terms.append(builder.mul(inputs[i], table.value))
            continue
        digits = [sorted(csd_digits(w), reverse=True) for w in column]
        for t in range(max(len(d) for d in digits)):
            choices = []
            for cycle_digits in digits:
                if t >= len(cycle_digits):
                    choices.append(builder.constant(0))
                    continue
                shift, sign = cycle_digits[t]
                source = inputs[i] if sign > 0 else builder.neg(inputs[i])
                choices.append(builder.shl(source, shift))
            terms.append(_select(builder, cycle, choices))
    return terms


def _cse_terms(builder: _DagBuilder, inputs: list, weight: np.ndarray, in_range: tuple[int, int]) -> list[list]:
    """A layer of reuse 1: each row's product as the fully parallel circuit makes it (the CSE solver's
    adder graph over the whole matrix, hardcore-fold-weights' `cse`): a list of one term a row (none
    for a zero row)."""
    ranges = [in_range] * len(inputs)
    graph = ALGORITHMS["cse"](weight, ranges, None, ())
    built = build_graph(builder, graph, inputs, ranges)
    return [[] if out is None else [builder.materialize(_Lin(built[out[0]], out[1], out[2], 0))]
            for out in graph.outputs]


def _sum(builder: _DagBuilder, values: list):
    """A balanced adder tree; None for no values."""
    values = [v for v in values if builder.ranges[v] != (0, 0)]
    while len(values) > 1:
        values = [builder.add(values[k], values[k + 1]) if k + 1 < len(values) else values[k]
                  for k in range(0, len(values), 2)]
    return values[0] if values else None


def _add_per_cycle(builder: _DagBuilder, cycle, value, constants: list[int]):
    """value + constants[c] in cycle c (a table on the cycle when they differ); value may be None (0)."""
    lin = builder.table(cycle, 0, constants)
    addend = lin.value if lin.value is not None else (builder.constant(lin.const) if lin.const else None)
    if value is None:
        return addend if addend is not None else builder.constant(0)
    return value if addend is None else builder.add(value, addend)


def _tail(builder: _DagBuilder, cycle, terms: list, slot_rows: list[int], bias: np.ndarray, tail: list,
          rows: int):
    """The slot's sum plus its bias, then the layer's relu and requant ops, the bias (and the first
    requantization's rounding constant) added once, as a table on the cycle."""
    offsets = [int(bias[r]) if r < rows else 0 for r in slot_rows]
    total = _sum(builder, terms)
    pending = True  # the offsets are not added yet
    for position, op in enumerate(tail):
        if op.operation.name == "hardcore.relu":
            following = tail[position + 1] if position + 1 < len(tail) else None
            if following is not None and following.operation.name == "hardcore.requant" \
                    and int_attr(following, "min") >= 0:
                continue  # requant clamps at min >= 0, and rounding commutes with relu (fold_weights' fold_relu)
            if pending:
                total, pending = _add_per_cycle(builder, cycle, total, offsets), False
            total = builder.clamp(total, 0, max(builder.ranges[total][1], 0))
            continue
        shifts = requant_shifts(op, rows)
        cycle_shifts = [shifts[r] if r < rows else shifts[0] for r in slot_rows]
        rounding = [1 << (s - 1) if s > 0 else 0 for s in cycle_shifts]
        if pending:
            total, pending = _add_per_cycle(builder, cycle, total, [a + b for a, b in zip(offsets, rounding)]), False
        elif any(rounding):
            total = _add_per_cycle(builder, cycle, total, rounding)
        shifted = [builder.shr(total, s) if s > 0 else builder.shl(total, -s) for s in cycle_shifts]
        total = builder.clamp(_select(builder, cycle, shifted), int_attr(op, "min"), int_attr(op, "max"))
    if pending:
        total = _add_per_cycle(builder, cycle, total, offsets)
    return total


def step_functions(module: ir.Operation) -> list:
    """The step functions of a time-multiplexed module, in layer order."""
    steps = [f for f in functions(module) if "hardcore.reuse" in f.attributes]
    return sorted(steps, key=lambda f: int(ir.IntegerAttr(ir.DictAttr(f.attributes["hardcore.reuse"])["layer"]).value))
