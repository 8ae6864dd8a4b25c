"""The KV-cache decoder as a circuit: the folded decoder step between its state registers, and its reference.

`hardcore.compile(model, torch.zeros(1, T, dtype=torch.long), decoder=True)`
runs `hardcore-kv-decode{output=argmax}` (or `both`, for a logits port) after
quantization, folds the step, lowers it to the hw module `<name>_step` and
wraps it in the stateful top module `<name>` (`wrapper_text`, docs/decoder.md):

    clk, rst (synchronous), in_valid, start, x  ->  out_valid, y[, logits], full

One token a clock: the step is combinational; at the rising edge that
accepts a token, every cache's row `p` takes the step's fresh row, the
position counter `p + 1`, and `y` (and `logits`) the step's outputs:
`y` is valid one cycle after its token.  The caches are registers without a
reset, initialized to 0 (rows past the position are never read, but in a
4-state simulation `0 * X` would still be X).

`DecoderCircuit` is the result: the Verilog, every stage's IR, and two
references: `run_decoder` (the step, position by position, as the circuit
runs it) and `next_tokens` (the window function's argmax at every row,
what the step must equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch_mlir import ir

from hardcore import backend
from hardcore.compiler import Circuit, _layer_figures, dag_figures
from hardcore.errors import CompileError, UsageError
from hardcore.interpreter import find_function, run_decoder, run_function
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import collect_diagnostics, new_context, parse_module
from hardcore.passes.to_hw import LoweringError, lower_function

__all__ = ["DecoderCircuit", "build_decoder", "wrapper_text", "CacheLayout"]


@dataclass(frozen=True)
class CacheLayout:
    """One cache of the step: its shape, the axis of its positions, its element width."""

    shape: tuple[int, ...]
    axis: int
    width: int

    @property
    def row_elements(self) -> int:
        return int(np.prod(self.shape)) // self.shape[self.axis]

    @property
    def bits(self) -> int:
        return int(np.prod(self.shape)) * self.width

    def segments(self) -> list[tuple[int, int, int]]:
        """The cache port's elements (row-major, element 0 lowest) as runs (row, first element in the
        row, length) of elements that lie next to each other in one row register."""
        coordinates = list(np.indices(self.shape).reshape(len(self.shape), -1))
        rows = coordinates[self.axis].copy()
        coordinates[self.axis] = np.zeros_like(rows)
        row_shape = list(self.shape)
        row_shape[self.axis] = 1
        in_row = np.ravel_multi_index(coordinates, row_shape)
        runs: list[list[int]] = []
        for row, element in zip(rows.tolist(), in_row.tolist()):
            if runs and runs[-1][0] == row and runs[-1][1] + runs[-1][2] == element:
                runs[-1][2] += 1
            else:
                runs.append([row, element, 1])
        return [tuple(run) for run in runs]


class _Text:
    """SSA lines of one hw.module body; %nN names, or the name of a register or wire in the Verilog."""

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0

    def emit(self, text: str, name: str | None = None) -> str:
        if name is not None and text.startswith("sv.reg"):
            value = f"%{name}"  # a register takes its SSA name
        else:
            value = f"%n{self.count}"
            self.count += 1
            if name is not None:
                head, _, result_type = text.rpartition(" : ")
                text = f'{head} {{sv.namehint = "{name}"}} : {result_type}'
        self.lines.append(f"    {value} = {text}")
        return value

    def line(self, text: str) -> None:
        self.lines.append(f"    {text}")


def wrapper_text(name: str, step: str, positions: int, x_bits: int, pos_bits: int, caches: list[CacheLayout],
                 y_bits: int, logits_bits: int = 0) -> str:
    """The decoder's top module `name` as CIRCT text (hw, comb and sv), around an instance of `step`.

    `step` has ports (x, pos, cache0.. -> y, fresh0.., [logits]) as
    hardcore-to-hw makes them for a decoder step.  Cache i is `positions`
    row registers, each the width of its fresh row; the cache port puts their
    elements in the cache tensor's row-major order.
    """
    count_bits = max(positions.bit_length(), 1)  # pos counts 0..T
    body = _Text()
    true, false = body.emit("hw.constant true"), body.emit("hw.constant false")
    zero, one = body.emit(f"hw.constant 0 : i{count_bits}"), body.emit(f"hw.constant 1 : i{count_bits}")
    last = body.emit(f"hw.constant {positions} : i{count_bits}")
    pos_register = body.emit(f"sv.reg : !hw.inout<i{count_bits}>", "position")
    pos = body.emit(f"sv.read_inout {pos_register} : !hw.inout<i{count_bits}>")
    full = body.emit(f"comb.icmp eq {pos}, {last} : i{count_bits}", "taken_all")
    room = body.emit(f"comb.xor {full}, {true} : i1")
    taken = body.emit(f"comb.or %start, {room} : i1")
    accept = body.emit(f"comb.and %in_valid, {taken} : i1", "accept")
    p = body.emit(f"comb.mux %start, {zero}, {pos} : i{count_bits}", "step_position")
    following = body.emit(f"comb.add {p}, {one} : i{count_bits}")
    if pos_bits <= count_bits:
        step_pos = body.emit(f"comb.extract {p} from 0 : (i{count_bits}) -> i{pos_bits}")
    else:
        pad = body.emit(f"hw.constant 0 : i{pos_bits - count_bits}")
        step_pos = body.emit(f"comb.concat {pad}, {p} : i{pos_bits - count_bits}, i{count_bits}")
    # The caches: a register per row, 0 until written.
    rows = []
    for cache in caches:
        row_bits = cache.row_elements * cache.width
        initial = body.emit(f"hw.constant 0 : i{row_bits}")
        registers = [body.emit(f"sv.reg init {initial} : !hw.inout<i{row_bits}>", f"cache{len(rows)}_row{n}")
                     for n in range(positions)]
        rows.append([(register, body.emit(f"sv.read_inout {register} : !hw.inout<i{row_bits}>"))
                     for register in registers])
    ports = []
    for cache, registers in zip(caches, rows):
        row_bits = cache.row_elements * cache.width
        parts = []
        for row, first, length in cache.segments():
            parts.append((body.emit(f"comb.extract {registers[row][1]} from {first * cache.width} : "
                                    f"(i{row_bits}) -> i{length * cache.width}"), length * cache.width))
        if len(parts) == 1:
            ports.append(parts[0][0])
        else:
            ports.append(body.emit(f"comb.concat {', '.join(n for n, _ in reversed(parts))} : "
                                   f"{', '.join(f'i{w}' for _, w in reversed(parts))}"))
    arguments = [f"x: %x: i{x_bits}", f"pos: {step_pos}: i{pos_bits}"] + \
        [f"cache{i}: {port}: i{cache.bits}" for i, (cache, port) in enumerate(zip(caches, ports))]
    results = [("y", y_bits)] + [(f"fresh{i}", cache.row_elements * cache.width) for i, cache in enumerate(caches)]
    if logits_bits:
        results.append(("logits", logits_bits))
    count = f":{len(results)}" if len(results) > 1 else ""
    body.line(f'%step{count} = hw.instance "step" @{step}({", ".join(arguments)}) -> '
              f"({', '.join(f'{n}: i{w}' for n, w in results)})")
    outputs = {n: (f"%step#{i}" if len(results) > 1 else "%step", w) for i, (n, w) in enumerate(results)}
    y_register = body.emit(f"sv.reg : !hw.inout<i{y_bits}>", "next_token")
    registers = [(y_register, outputs["y"][0], y_bits)]
    if logits_bits:
        logits_register = body.emit(f"sv.reg : !hw.inout<i{logits_bits}>", "logits_row")
        registers.append((logits_register, outputs["logits"][0], logits_bits))
    valid_register = body.emit("sv.reg : !hw.inout<i1>", "valid")
    writes = "\n".join(f"        sv.passign {register}, {value} : i{width}" for register, value, width in registers)
    body.line(f"sv.alwaysff(posedge %clk) {{\n      sv.if {accept} {{\n        sv.passign {pos_register}, "
              f"{following} : i{count_bits}\n{writes}\n      }}\n      sv.passign {valid_register}, {accept} : i1\n"
              f"    }}(syncreset : posedge %rst) {{\n      sv.passign {pos_register}, {zero} : i{count_bits}\n"
              f"      sv.passign {valid_register}, {false} : i1\n    }}")
    # Row n of every cache takes its fresh row at the edge that accepts a token at position n.
    enables = []
    for n in range(positions):
        at = body.emit(f"comb.icmp eq {p}, {body.emit(f'hw.constant {n} : i{count_bits}')} : i{count_bits}")
        enables.append(body.emit(f"comb.and {accept}, {at} : i1"))
    cache_writes = []
    for n, enable in enumerate(enables):
        assigns = "\n".join(f"        sv.passign {row_registers[n][0]}, {outputs[f'fresh{i}'][0]} : "
                            f"i{cache.row_elements * cache.width}"
                            for i, (cache, row_registers) in enumerate(zip(caches, rows)))
        if assigns:
            cache_writes.append(f"      sv.if {enable} {{\n{assigns}\n      }}")
    if cache_writes:
        body.line("sv.alwaysff(posedge %clk) {\n" + "\n".join(cache_writes) + "\n    }")
    read = {register: body.emit(f"sv.read_inout {register} : !hw.inout<i{width}>")
            for register, _, width in registers}
    valid = body.emit(f"sv.read_inout {valid_register} : !hw.inout<i1>")
    out_names = [valid, read[y_register]] + ([read[registers[1][0]]] if logits_bits else []) + [full]
    out_types = ["i1", f"i{y_bits}"] + ([f"i{logits_bits}"] if logits_bits else []) + ["i1"]
    out_ports = ", ".join(["out out_valid : i1", f"out y : i{y_bits}"] +
                          ([f"out logits : i{logits_bits}"] if logits_bits else []) + ["out full : i1"])
    header = (f"hw.module @{name}(in %clk : i1, in %rst : i1, in %in_valid : i1, in %start : i1, "
              f"in %x : i{x_bits}, {out_ports}) {{")
    return "\n".join([header] + body.lines + [f"    hw.output {', '.join(out_names)} : {', '.join(out_types)}", "}"])


@dataclass
class DecoderCircuit(Circuit):
    """A compiled decoder: a token a clock in, the next token out (docs/decoder.md).

    Port x takes one position's input (a token id), y gives the next token
    one cycle later; `logits_width` > 0 when a `logits` port gives the step's
    logits row too (`logits_frac_bits` fractional bits).  `caches` lists each
    cache's shape, axis of positions, element width and bits.
    """

    positions: int = 0
    caches: list = field(default_factory=list)
    logits_width: int = 0
    logits_frac_bits: int = 0

    @property
    def vocabulary(self) -> int:
        """The logits row's size: the tokens y can name."""
        return int(np.prod(self._window().type.results[0].shape)) // self.positions

    @property
    def cache_bits(self) -> int:
        return sum(cache["bits"] for cache in self.caches)

    def _window(self):
        if not hasattr(self, "_window_module"):
            self._window_module = parse_module(self.stages["quantized"], new_context(), "window")
        return find_function(self._window_module.operation)

    def _tokens(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 2 or not 1 <= tokens.shape[1] <= self.positions:
            raise UsageError(f"expected token sequences (batch, steps) of 1 to {self.positions} steps, "
                             f"got shape {list(tokens.shape)}")
        low, high = self.in_range
        if tokens.size and (tokens.min() < low or tokens.max() > high):
            raise UsageError(f"tokens must lie in [{low}, {high}]")
        return tokens

    def reference(self, tokens) -> np.ndarray:
        """The window function's logits rows (integers) of token sequences (batch, steps): (batch, steps, V).

        Row t depends on tokens 0..t only (the model is causal); a sequence
        shorter than the window is padded with token 0 for the window.
        """
        tokens = self._tokens(tokens)
        padded = np.zeros((len(tokens), self.positions), dtype=np.int64)
        padded[:, :tokens.shape[1]] = tokens
        rows = run_function(self._window(), padded, from_quantized=True)
        return rows.reshape(len(tokens), self.positions, -1)[:, :tokens.shape[1]]

    def next_tokens(self, tokens) -> np.ndarray:
        """The window's next token after every prefix (argmax of each row, ties to the lowest): (batch, steps)."""
        return np.argmax(self.reference(tokens), axis=2)

    def run_decoder(self, tokens) -> np.ndarray:
        """The decoder step run position by position with its caches, as the circuit runs it: the next
        token after every prefix, (batch, steps).  Equal to `next_tokens`."""
        tokens = self._tokens(tokens)
        module = parse_module(self.stages["step"], new_context(), "step")
        outputs, _ = run_decoder(find_function(module.operation), tokens[:, :, None], from_quantized=True)
        return outputs.reshape(len(tokens), tokens.shape[1])

    @property
    def report(self) -> dict:
        report = super().report
        if self.logits_width:
            report["ports"]["logits"] = {
                "elements": self.vocabulary, "element_width": self.logits_width,
                "bits": self.vocabulary * self.logits_width, "frac_bits": self.logits_frac_bits, "signed": True,
                "layout": "element i at bits [i*element_width +: element_width], two's complement: the logits "
                          "row of the token that y follows"}
        report["latency_cycles"] = 1
        report["control_ports"] = {
            "clk": "clock, rising edge",
            "rst": "synchronous, active high: position 0, out_valid 0 (the caches keep their rows)",
            "in_valid": "x holds a token this cycle",
            "start": "with in_valid: x is position 0 of a new sequence",
            "out_valid": "y holds the next token after the token taken at the previous edge",
            "full": f"{self.positions} tokens taken since the sequence started: only a start is taken"}
        report["decoder"] = {"positions": self.positions, "vocabulary": self.vocabulary, "cycles_per_token": 1,
                             "caches": self.caches, "cache_bits": self.cache_bits,
                             "logits_frac_bits": self.logits_frac_bits}
        return report


def _step_hw(module, function, name: str) -> str:
    """The folded step as hw modules (hardcore-to-hw), its top module named `name`."""
    with module.context, collect_diagnostics(module.context, "model") as log:
        try:
            return lower_function(function, module_name=name)
        except LoweringError as exc:
            exc.where.location.emit_error(str(exc))
    errors = log.errors or log.diagnostics
    raise CompileError("\n".join(str(d) for d in errors) or "hardcore-to-hw failed", log.diagnostics)


def _width(value_type) -> int:
    return ir.IntegerType(ir.RankedTensorType(value_type).element_type).width


def _elements(value_type) -> int:
    return int(np.prod(ir.RankedTensorType(value_type).shape))


def build_decoder(module, name: str, stages: dict, options: dict) -> DecoderCircuit:
    """The decoder circuit around the folded step in `module` (after hardcore-fold-weights)."""
    function = find_function(module.operation)
    decoder = ir.DictAttr(function.attributes["hardcore.decoder"])
    positions = int(ir.IntegerAttr(decoder["positions"]).value)
    axes = [int(ir.IntegerAttr(axis).value) for axis in ir.ArrayAttr(decoder["cache_axes"])]
    inputs, results = list(function.type.inputs), list(function.type.results)
    caches = [CacheLayout(tuple(ir.RankedTensorType(t).shape), axis, _width(t)) for t, axis in zip(inputs[2:], axes)]
    in_unsigned = "hardcore.input_unsigned" in function.attributes
    x_elem = _width(inputs[0]) - in_unsigned
    y_elem = _width(results[0]) - ("hardcore.output_unsigned" in function.attributes)
    logits = results[-1] if len(results) > 1 + len(caches) else None
    logits_width = _width(logits) if logits is not None else 0
    step = _step_hw(module, function, f"{name}_step")
    wrapper = wrapper_text(name, f"{name}_step", positions, x_elem * _elements(inputs[0]), _width(inputs[1]), caches,
                           y_elem, logits_width * _elements(logits) if logits is not None else 0)
    circt_module = backend.to_circt("module {\n" + wrapper + "\n" + step + "\n}\n")
    backend.run_circt_pipeline(circt_module, "builtin.module(hw.module(cse))")
    stages["hw"] = str(circt_module)
    verilog = backend.export_verilog(circt_module)

    window = parse_module(stages["quantized"], new_context())
    quantize = body_ops(find_function(window.operation))[0]
    figures = dag_figures(stages["dag"])
    figures["cache_bits"] = sum(cache.bits for cache in caches)
    # the caches, the position counter (0..T), y, the logits row and out_valid
    figures["register_bits"] = figures["cache_bits"] + max(positions.bit_length(), 1) + y_elem + \
        (logits_width * _elements(logits) if logits is not None else 0) + 1
    return DecoderCircuit(
        name=name, verilog=verilog, stages=stages,
        in_shape=list(ir.RankedTensorType(inputs[0]).shape), in_width=x_elem,
        in_frac_bits=int_attr(function, "hardcore.input_frac_bits"),
        in_range=(int_attr(quantize, "min"), int_attr(quantize, "max")),
        out_shape=[1], out_width=y_elem, out_frac_bits=0,
        layers=[_layer_figures(dictionary) for dictionary in function.attributes["hardcore.layers"]],
        options=options, figures=figures, latency=1, out_signed=False, in_signed=not in_unsigned,
        positions=positions,
        caches=[{"shape": list(cache.shape), "axis": cache.axis, "width": cache.width, "bits": cache.bits}
                for cache in caches],
        logits_width=logits_width,
        logits_frac_bits=int_attr(function, "hardcore.logits_frac_bits") if logits is not None else 0)
