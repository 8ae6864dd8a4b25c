"""A time-multiplexed circuit: the step of every layer (hardcore-time-multiplex) between its registers, and its reference.

`hardcore.compile(model, x, reuse=R)` runs `hardcore-time-multiplex{reuse=R}`
after quantization instead of hardcore-fold-weights: layer k becomes a step
function computing S_k = ceil(N_k/R) of its N_k outputs in cycle c (rows
c*S_k .. c*S_k + S_k - 1).  `hardcore-to-hw` makes each step a combinational
module `<name>_stepK` (ports x, cycle -> y), and `wrapper_text` wraps them in
the top module `<name>` (docs/streaming.md, "Time-multiplexed dense layers"):

    clk, rst (synchronous), in_valid, x  ->  in_ready, out_valid, y

A free-running cycle counter c in [0, R-1]; `in_ready` is high when c = R-1.
At a rising edge with in_valid and in_ready, x goes into the input register;
the next R cycles layer 0 computes from it, storing its slots' outputs of
cycles 0..R-2 in *filling* registers, and at the edge that ends the period
the whole output (the filling registers and cycle R-1's slots) goes into the
layer's *output* register, which layer 1 reads the next R cycles, and so on:
the layers form a pipeline with one stage of R cycles each.  One input every
R cycles (II = R).  The result of the input taken at edge E is in the last
layer's output register from edge E + L*R (L layers) for R cycles, and
`out_valid` is high in the first of those cycles: `latency` = L*R + 1 cycles
after the cycle whose edge took x (a pipelined circuit's convention).

`TimeMultiplexedCircuit` is the result: its `reference` is `Circuit`'s (the
quantized function: the same function as the fully parallel circuit);
`run_steps` runs the steps cycle by cycle as the circuit does, and
`simulate_stream` runs the Verilog in Verilator or Icarus, inputs back to back
or with random stalls (in_valid low in random cycles).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch_mlir import ir

from hardcore import backend
from hardcore.compiler import Circuit, _layer_figures, dag_figures
from hardcore.errors import CompileError, HardcoreError, UsageError
from hardcore.interpreter import find_function, run_reuse_steps
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import collect_diagnostics, new_context, parse_module
from hardcore.passes.time_multiplex import step_functions
from hardcore.passes.to_hw import LoweringError, lower_function
from hardcore.sim.icarus import icarus_reset
from hardcore.sim.tools import (DESIGN_FILE, INPUTS_FILE, RESET_CYCLES, fill_template, run_tool, tool_available,
                                write_if_changed)
from hardcore.sim.vectors import decode_hex, encode_hex
from hardcore.sim.verilator import HARNESS, VERILATOR_MAKEFLAGS, VERILATOR_PREFIX, verilator_get, verilator_set

__all__ = ["TimeMultiplexedCircuit", "StepLayout", "build_time_multiplexed", "wrapper_text", "run_steps", "steps_hw",
           "simulate_stream", "default_simulator", "StreamResult", "SIMULATORS"]


@dataclass(frozen=True)
class StepLayout:
    """One layer's step: N rows over `reuse` cycles by `slots` slots, each `width` bits; its input's bits."""

    rows: int
    slots: int
    width: int
    in_bits: int
    reuse: int

    @property
    def cycle_bits(self) -> int:
        """The width of the step's `cycle` port: 0..reuse-1 unsigned (0 bits for reuse 1: no port in Verilog)."""
        return (self.reuse - 1).bit_length()

    def rows_in_cycle(self, cycle: int) -> int:
        """How many of cycle `cycle`'s slots compute a row (the last cycles may compute fewer, or none)."""
        return max(0, min(self.slots, self.rows - cycle * self.slots))


class _Text:
    """SSA lines of one hw.module body; a register takes its Verilog name."""

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0

    def emit(self, text: str, name: str | None = None) -> str:
        if name is not None:
            value = f"%{name}"
        else:
            value = f"%t{self.count}"
            self.count += 1
        self.lines.append(f"    {value} = {text}")
        return value

    def line(self, text: str) -> None:
        self.lines.append(f"    {text}")


def wrapper_text(name: str, reuse: int, x_bits: int, layers: list[StepLayout]) -> str:
    """The top module `name` as CIRCT text (hw, comb, sv) around instances of `<name>_step0..`.

    `reuse` is the period: the largest of the layers' reuse.  A step of that
    reuse gets the counter itself on its `cycle` port (ceil(log2 R) bits,
    unsigned); a step of a smaller reuse R_k gets min(counter, R_k - 1): it
    computes its cycles 0..R_k - 1 in the first R_k cycles of the period and
    holds its last cycle's rows to the end of the period.
    """
    count_bits = max((reuse - 1).bit_length(), 1)
    body = _Text()
    false = body.emit("hw.constant false")
    counter = body.emit(f"sv.reg : !hw.inout<i{count_bits}>", "cycle")
    cycle = body.emit(f"sv.read_inout {counter} : !hw.inout<i{count_bits}>")
    zero = body.emit(f"hw.constant 0 : i{count_bits}")
    last = body.emit(f"comb.icmp eq {cycle}, {body.emit(f'hw.constant {reuse - 1} : i{count_bits}')} : i{count_bits}")
    following = body.emit(f"comb.add {cycle}, {body.emit(f'hw.constant 1 : i{count_bits}')} : i{count_bits}")
    wrapped = body.emit(f"comb.mux {last}, {zero}, {following} : i{count_bits}")
    take = body.emit(f"comb.and %in_valid, {last} : i1")
    at = [body.emit(f"comb.icmp eq {cycle}, {body.emit(f'hw.constant {c} : i{count_bits}')} : i{count_bits}")
          for c in range(reuse - 1)]
    x_register = body.emit(f"sv.reg : !hw.inout<i{x_bits}>", "x_held")
    valid_registers = [body.emit("sv.reg : !hw.inout<i1>", f"valid{k}") for k in range(len(layers) + 1)]
    valids = [body.emit(f"sv.read_inout {register} : !hw.inout<i1>") for register in valid_registers]
    source = body.emit(f"sv.read_inout {x_register} : !hw.inout<i{x_bits}>")
    on_last = [f"sv.passign {valid_registers[0]}, %in_valid : i1"] + \
        [f"sv.passign {valid_registers[k + 1]}, {valids[k]} : i1" for k in range(len(layers))]
    per_cycle: list[list[str]] = [[] for _ in range(reuse - 1)]
    step_cycles = {reuse: cycle}  # a layer's reuse -> its step's cycle port
    for k, layer in enumerate(layers):
        if layer.reuse not in step_cycles:
            step_cycles[layer.reuse] = _held_cycle(body, cycle, count_bits, layer)
        slots_bits = layer.slots * layer.width
        step = body.emit(f'hw.instance "step{k}" @{name}_step{k}(x: {source}: i{layer.in_bits}, '
                         f"cycle: {step_cycles[layer.reuse]}: i{layer.cycle_bits}) -> (y: i{slots_bits})")
        parts = []  # (value, bits), row 0 first
        for c in range(layer.reuse):
            bits = layer.rows_in_cycle(c) * layer.width
            if not bits:
                continue
            rows = step if bits == slots_bits else \
                body.emit(f"comb.extract {step} from 0 : (i{slots_bits}) -> i{bits}")
            if c == layer.reuse - 1:
                parts.append((rows, bits))
                continue
            filling = body.emit(f"sv.reg : !hw.inout<i{bits}>", f"layer{k}_cycle{c}")
            per_cycle[c].append(f"sv.passign {filling}, {rows} : i{bits}")
            parts.append((body.emit(f"sv.read_inout {filling} : !hw.inout<i{bits}>"), bits))
        out_bits = layer.rows * layer.width
        output = body.emit(f"sv.reg : !hw.inout<i{out_bits}>", f"layer{k}_out")
        whole = parts[0][0] if len(parts) == 1 else body.emit(
            f"comb.concat {', '.join(v for v, _ in reversed(parts))} : {', '.join(f'i{b}' for _, b in reversed(parts))}")
        on_last.append(f"sv.passign {output}, {whole} : i{out_bits}")
        source = body.emit(f"sv.read_inout {output} : !hw.inout<i{out_bits}>")
    blocks = [f"      sv.if {take} {{\n        sv.passign {x_register}, %x : i{x_bits}\n      }}",
              f"      sv.if {last} {{\n" + "\n".join(f"        {line}" for line in on_last) + "\n      }"]
    blocks += [f"      sv.if {at[c]} {{\n" + "\n".join(f"        {line}" for line in lines) + "\n      }"
               for c, lines in enumerate(per_cycle) if lines]
    resets = [f"      sv.passign {counter}, {zero} : i{count_bits}"] + \
        [f"      sv.passign {register}, {false} : i1" for register in valid_registers]
    body.line("sv.alwaysff(posedge %clk) {\n" + f"      sv.passign {counter}, {wrapped} : i{count_bits}\n" +
              "\n".join(blocks) + "\n    }(syncreset : posedge %rst) {\n" + "\n".join(resets) + "\n    }")
    first = body.emit(f"comb.icmp eq {cycle}, {zero} : i{count_bits}")
    out_valid = body.emit(f"comb.and {valids[-1]}, {first} : i1")
    y_bits = layers[-1].rows * layers[-1].width
    header = (f"hw.module @{name}(in %clk : i1, in %rst : i1, in %in_valid : i1, in %x : i{x_bits}, "
              f"out in_ready : i1, out out_valid : i1, out y : i{y_bits}) {{")
    return "\n".join([header] + body.lines + [f"    hw.output {last}, {out_valid}, {source} : i1, i1, i{y_bits}",
                                              "}"])


def _held_cycle(body: _Text, cycle: str, count_bits: int, layer: StepLayout) -> str:
    """min(counter, R_k - 1) in the step's cycle bits: a layer of reuse R_k below the period."""
    last = body.emit(f"hw.constant {layer.reuse - 1} : i{layer.cycle_bits}")
    if layer.reuse == 1:
        return last
    before = body.emit(f"comb.icmp ult {cycle}, {body.emit(f'hw.constant {layer.reuse - 1} : i{count_bits}')} "
                       f": i{count_bits}")
    low = body.emit(f"comb.extract {cycle} from 0 : (i{count_bits}) -> i{layer.cycle_bits}")
    return body.emit(f"comb.mux {before}, {low}, {last} : i{layer.cycle_bits}")


def _reuse_attr(step, key: str) -> int:
    return int(ir.IntegerAttr(ir.DictAttr(step.attributes["hardcore.reuse"])[key]).value)


def run_steps(steps_text: str, x_int) -> np.ndarray:
    """The steps (stage "steps") run cycle by cycle as the circuit runs them: (batch, n_in) -> (batch, n_out)."""
    module = parse_module(steps_text, new_context(), "steps")
    return run_reuse_steps(step_functions(module.operation), x_int)


@dataclass
class TimeMultiplexedCircuit(Circuit):
    """A compiled circuit whose dense layers each take `reuse` cycles: one input every `reuse` cycles.

    `steps` lists each layer's rows, slots (outputs a cycle) and realization.
    The reference is the fully parallel circuit's (`Circuit.reference`).
    """

    reuse: int = 1
    steps: list = field(default_factory=list)

    @property
    def report(self) -> dict:
        report = super().report
        report["control_ports"] = {
            "clk": "clock, rising edge",
            "rst": "synchronous, active high: the cycle counter to 0, the valid chain to 0",
            "in_valid": "x holds an input",
            "in_ready": f"high one cycle in {self.reuse}: x is taken at a rising edge where in_valid and in_ready",
            "out_valid": f"high for one cycle, the first of the {self.reuse} cycles y holds the result of the "
                         f"input taken in the cycle {self.latency} cycles earlier"}
        report["time_multiplex"] = {"reuse": self.reuse, "cycles_per_inference": self.reuse,
                                    "latency_cycles": self.latency, "steps": self.steps}
        return report


def steps_hw(module, steps: list) -> str:
    """Each of `steps` (functions of `module`) as an hw module named after its function (hardcore-to-hw, one
    flat module per step): a time-multiplexed circuit's layers, a streamed circuit's nodes."""
    texts = []
    with module.context, collect_diagnostics(module.context, "model") as log:
        try:
            for step in steps:
                texts.append(lower_function(step, module_name=step.name.value, hierarchy=False))
            return "\n".join(texts)
        except LoweringError as exc:
            exc.where.location.emit_error(str(exc))
    errors = log.errors or log.diagnostics
    raise CompileError("\n".join(str(d) for d in errors) or "hardcore-to-hw failed", log.diagnostics)


def _tensor_bits(value_type) -> int:
    tensor = ir.RankedTensorType(value_type)
    return int(np.prod(tensor.shape)) * ir.IntegerType(tensor.element_type).width


def build_time_multiplexed(module, name: str, stages: dict, options: dict) -> TimeMultiplexedCircuit:
    """The circuit around the steps in `module` (after hardcore-time-multiplex)."""
    steps = step_functions(module.operation)
    layouts = []
    for step in steps:
        out_type = ir.RankedTensorType(step.type.results[0])
        layouts.append(StepLayout(rows=_reuse_attr(step, "rows"), slots=_reuse_attr(step, "slots"),
                                  width=ir.IntegerType(out_type.element_type).width,
                                  in_bits=_tensor_bits(step.type.inputs[0]), reuse=_reuse_attr(step, "reuse")))
    reuse = max(layout.reuse for layout in layouts)  # the period: one input every `reuse` cycles
    in_type = ir.RankedTensorType(steps[0].type.inputs[0])
    hw_text = steps_hw(module, step_functions(module.operation))
    wrapper = wrapper_text(name, reuse, layouts[0].in_bits, layouts)
    circt_module = backend.to_circt("module {\n" + wrapper + "\n" + hw_text + "\n}\n")
    backend.run_circt_pipeline(circt_module, "builtin.module(hw.module(cse))")
    stages["hw"] = str(circt_module)
    verilog = backend.export_verilog(circt_module)

    quantized = parse_module(stages["quantized"], new_context())
    function = find_function(quantized.operation)
    quantize = body_ops(function)[0]
    in_low, in_high = int_attr(quantize, "min"), int_attr(quantize, "max")
    layers = [_layer_figures(step.attributes["hardcore.layers"][0]) for step in steps]
    for layer, step in zip(layers, steps):
        figures = ir.DictAttr(step.attributes["hardcore.layers"][0])
        layer.update({key: int(ir.IntegerAttr(figures[key]).value)
                      for key in ("muxes", "tables", "table_entries", "multipliers", "multiplier_bits")})
        layer["realization"] = ir.StringAttr(ir.DictAttr(step.attributes["hardcore.reuse"])["realization"]).value
    figures = dag_figures(stages["steps"])
    count_bits = max((reuse - 1).bit_length(), 1)
    filling = sum(layout.rows_in_cycle(c) * layout.width for layout in layouts for c in range(layout.reuse - 1))
    outputs = sum(layout.rows * layout.width for layout in layouts)
    figures["register_bits"] = count_bits + layouts[0].in_bits + filling + outputs + len(layouts) + 1
    figures["cycles_per_inference"] = reuse
    last = layouts[-1]
    return TimeMultiplexedCircuit(
        name=name, verilog=verilog, stages=stages,
        in_shape=list(ir.RankedTensorType(function.type.inputs[0]).shape),
        in_width=ir.IntegerType(in_type.element_type).width,
        in_frac_bits=int_attr(steps[0], "hardcore.input_frac_bits"), in_range=(in_low, in_high),
        out_shape=list(ir.RankedTensorType(function.type.results[0]).shape), out_width=last.width,
        out_frac_bits=int_attr(steps[-1], "hardcore.output_frac_bits"),
        layers=layers, options=options, figures=figures, latency=len(layouts) * reuse + 1,
        reuse=reuse,
        steps=[{"layer": k, "reuse": layout.reuse, "rows": layout.rows, "slots": layout.slots,
                "realization": layer["realization"]}
               for k, (layout, layer) in enumerate(zip(layouts, layers))])


# -- simulation ------------------------------------------------------------------------------------------

SIMULATORS = ("verilator", "icarus")
VALID_FILE = "in_valid.txt"  # in workdir: whether the producer offers its next input, a 0/1 line per cycle
TRACE_FILE = "trace.txt"  # "in <cycle>" per input taken, "out <cycle> <y hex>" per out_valid

# The body of hardcore.sim's Verilator harness (its `vectors`, `out`, `dut`, `set_x`, `get_y`):
# each cycle drive in_valid and x with clk low, settle, record what the rising edge will see, clock.
# A cycle without an offer drives another vector on x: the circuit must not take it.
_VERILATOR_BODY = r"""    std::string offers;
    std::ifstream offers_file("@VALID_FILE@");
    for (char bit; offers_file >> bit;) offers.push_back(bit);
    if ((long)offers.size() < max_cycles) {
        fprintf(stderr, "@VALID_FILE@: expected %ld cycles\n", max_cycles);
        return 1;
    }
    dut->clk = 0;
    dut->rst = 1;
    dut->in_valid = 0;
    dut->eval();
    for (int i = 0; i < RESET_CYCLES; ++i) {
        dut->clk = 1;
        dut->eval();
        dut->clk = 0;
        dut->eval();
    }
    dut->rst = 0;
    long sent = 0, received = 0, last = max_cycles;
    for (long cycle = 0; cycle < max_cycles && cycle < last; ++cycle) {
        const bool offer = sent < n_vectors && offers[cycle] == '1';
        dut->in_valid = offer;
        set_x(dut.get(), &vectors[((offer ? sent : sent + 1) % n_vectors) * IN_WORDS]);
        dut->eval();
        if (dut->out_valid) {
            get_y(dut.get(), y_words);
            format_output(y_words, y_text);
            fprintf(out, "out %ld %s\n", cycle, y_text);
            if (++received == n_vectors) last = cycle + 1 + @DRAIN@;  // and no more outputs after it
        }
        if (offer && dut->in_ready) {
            fprintf(out, "in %ld\n", cycle);
            ++sent;
        }
        dut->clk = 1;
        dut->eval();
        dut->clk = 0;
        dut->eval();
    }"""

# The same protocol in Icarus.
_ICARUS_TESTBENCH = r"""// Generated by hardcore.time_multiplex for module @TOP@ (see its Verilator harness).
module hardcore_stream_tb;
  localparam integer N_VECTORS = @N_VECTORS@;
  localparam integer MAX_CYCLES = @MAX_CYCLES@;
  logic clk, rst, in_valid;
  logic [@X_BITS@-1:0] x;
  wire in_ready, out_valid;
  wire [@Y_BITS@-1:0] y;
  logic [@X_BITS@-1:0] vectors [0:N_VECTORS-1];
  logic offers [0:MAX_CYCLES-1];
  integer file, cycle, sent, received, last;
  @TOP@ dut(.clk(clk), .rst(rst), .in_valid(in_valid), .x(x), .in_ready(in_ready), .out_valid(out_valid), .y(y));
  initial begin
    $readmemh("@INPUTS@", vectors);
    $readmemb("@VALID_FILE@", offers);
    file = $fopen("@TRACE@", "w");
@RESET@
    sent = 0;
    received = 0;
    last = MAX_CYCLES;
    for (cycle = 0; cycle < MAX_CYCLES && cycle < last; cycle = cycle + 1) begin
      in_valid = sent < N_VECTORS && offers[cycle] == 1'b1;
      x = vectors[(in_valid ? sent : sent + 1) % N_VECTORS];
      #1;
      if (out_valid === 1'b1) begin
        $fwrite(file, "out %0d %h\n", cycle, y);
        received = received + 1;
        if (received == N_VECTORS) last = cycle + 1 + @DRAIN@;
      end else if (out_valid !== 1'b0) begin
        $fatal(1, "out_valid is %b at cycle %0d", out_valid, cycle);
      end
      if (in_valid && in_ready === 1'b1) begin
        $fwrite(file, "in %0d\n", cycle);
        sent = sent + 1;
      end
      clk = 1;
      #1;
      clk = 0;
    end
    $fclose(file);
    $finish;
  end
endmodule
"""


@dataclass
class StreamResult:
    """What `simulate_stream` measured: the outputs (batch, n_out); the cycles from an input taken to
    its output (`latency`, the same for every input), the mean cycles between outputs, the cycles from
    the first input taken to the last output; and the simulator's build and run seconds."""

    outputs: np.ndarray
    latency: int
    interval: float
    cycles: int
    build_seconds: float = 0.0
    run_seconds: float = 0.0


def default_simulator() -> str:
    """Verilator where it can run, else Icarus."""
    return "verilator" if tool_available("verilator") else "icarus"


def _build_and_run(circuit: TimeMultiplexedCircuit, workdir: Path, simulator: str, count: int, max_cycles: int,
                   drain: int, progress) -> tuple[float, float]:
    if simulator == "verilator":
        body = fill_template(_VERILATOR_BODY, valid_file=VALID_FILE, drain=drain)
        harness = fill_template(HARNESS, top=circuit.name, prefix=VERILATOR_PREFIX,
                                in_bits=circuit.n_in * circuit.in_width, out_bits=circuit.n_out * circuit.out_width,
                                reset_cycles=RESET_CYCLES, set_x=verilator_set("x", circuit.n_in * circuit.in_width),
                                get_y=verilator_get("y", circuit.n_out * circuit.out_width), body=body)
        write_if_changed(workdir / "stream_harness.cpp", harness)
        command = ["verilator", "--cc", "--exe", "--build", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                   "--top-module", circuit.name, "--prefix", VERILATOR_PREFIX, "--Mdir", "verilator_obj",
                   "-o", f"{VERILATOR_PREFIX}_stream", "-j", str(os.cpu_count() or 1)]
        for flag in VERILATOR_MAKEFLAGS:
            command += ["-MAKEFLAGS", flag]
        command += [DESIGN_FILE, "stream_harness.cpp"]
        if progress:
            progress(f"verilator: building {circuit.name}...")
        build = run_tool(command, cwd=workdir, log_path=workdir / "verilator_build.log", what="verilator build")
        run = [str(workdir / "verilator_obj" / f"{VERILATOR_PREFIX}_stream"), INPUTS_FILE, TRACE_FILE, str(count),
               str(max_cycles)]
    else:
        testbench = fill_template(_ICARUS_TESTBENCH, top=circuit.name, n_vectors=count, max_cycles=max_cycles,
                                  x_bits=circuit.n_in * circuit.in_width, y_bits=circuit.n_out * circuit.out_width,
                                  inputs=INPUTS_FILE, valid_file=VALID_FILE, trace=TRACE_FILE, drain=drain,
                                  reset=icarus_reset(""))
        (workdir / "stream_tb.sv").write_text(testbench)
        if progress:
            progress(f"icarus: building {circuit.name}...")
        build = run_tool(["iverilog", "-g2012", "-s", "hardcore_stream_tb", "-o", "stream.vvp", DESIGN_FILE,
                      "stream_tb.sv"], cwd=workdir, log_path=workdir / "icarus_build.log", what="iverilog build")
        run = ["vvp", "-n", "stream.vvp"]
    if progress:
        progress(f"simulating {count} vectors...")
    return build, run_tool(run, cwd=workdir, log_path=workdir / f"{simulator}_run.log",
                           what=f"{simulator} simulation")


def simulate_stream(circuit: TimeMultiplexedCircuit, vectors, workdir, simulator: str | None = None,
                    stall: float = 0.0, seed: int = 0, progress=None) -> StreamResult:
    """Run the Verilog on `vectors` (what `reference` takes): y at each out_valid, one output per input.

    The producer offers its next input (in_valid with x) in each cycle, or, with probability `stall`
    (seeded by `seed`), does not (in_valid low, another vector on x); an offered input is taken at a
    rising edge with in_ready.  `stall=0`: back to back.  `simulator` "verilator" or "icarus" (None:
    Verilator where it can run, else Icarus).  Raises HardcoreError unless every input is taken and
    gives exactly one output, each `latency` cycles after it was taken.
    """
    if isinstance(stall, bool) or not isinstance(stall, (int, float)) or not 0 <= stall < 1:
        raise UsageError(f"simulate_stream: stall must be a probability in [0, 1), got {stall!r}")
    simulator = simulator or default_simulator()
    if simulator not in SIMULATORS:
        raise UsageError(f"simulate_stream: unknown simulator '{simulator}' (one of: {', '.join(SIMULATORS)})")
    if not tool_available(simulator):
        raise UsageError(f"simulate_stream: {simulator} cannot run here (not on PATH)")
    vectors = circuit.to_port(np.asarray(vectors, dtype=np.int64))
    count = len(vectors)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    write_if_changed(workdir / DESIGN_FILE, circuit.verilog)
    (workdir / INPUTS_FILE).write_bytes(encode_hex(vectors, circuit.in_width))
    max_cycles = int((count + 4) * circuit.reuse / (1 - stall) * 2) + circuit.latency + 64
    offers = np.random.default_rng(seed).random(max_cycles) >= stall
    (workdir / VALID_FILE).write_text("".join("1\n" if o else "0\n" for o in offers))
    (workdir / TRACE_FILE).unlink(missing_ok=True)
    drain = circuit.latency + circuit.reuse  # cycles after the last output in which no other may come
    build, run = _build_and_run(circuit, workdir, simulator, count, max_cycles, drain, progress)
    fields = [line.split() for line in (workdir / TRACE_FILE).read_text().splitlines()]
    taken = [int(f[1]) for f in fields if f[0] == "in"]
    given = [(int(f[1]), f[2]) for f in fields if f[0] == "out"]
    if len(taken) != count or len(given) != count:
        raise HardcoreError(f"simulate_stream ({simulator}): {len(taken)} of {count} inputs taken, {len(given)} "
                            f"outputs, within {max_cycles} cycles ({workdir})")
    latencies = sorted({out - into for (out, _), into in zip(given, taken)})
    if len(latencies) != 1:
        raise HardcoreError(f"simulate_stream ({simulator}): outputs {', '.join(map(str, latencies))} cycles after "
                            f"their inputs, not always the same ({workdir})")
    outputs = decode_hex([text.encode() for _, text in given], circuit.n_out, circuit.out_width)
    interval = (given[-1][0] - given[0][0]) / max(count - 1, 1)
    return StreamResult(circuit.from_port(outputs), latencies[0], interval, given[-1][0] - taken[0] + 1, build, run)
