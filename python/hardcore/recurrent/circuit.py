"""A recurrent model -> its unrolled circuit (the whole sequence in) or its stateful circuit (a step a clock).

`hardcore.compile(model, torch.zeros(1, T, F), recurrent="unrolled" | "stateful")`
splits the model into its step and head models (`split.py`), imports and
quantizes both as hardcore does any model, and builds:

- `unrolled`: the quantized unrolled function (`compose.py`: T steps and the
  head), folded, pipelined with `max_adder_depth`, lowered as any circuit: a
  plain `Circuit` whose port x holds the whole sequence ([T, F] row-major);
- `stateful`: the folded step (`<name>_step`) and head (`<name>_head`) as hw
  modules inside the top module `<name>` (`wrapper_text`):

      clk, rst (synchronous), in_valid, start, x (one step, F elements)  ->  out_valid, y, last

  At the rising edge that takes a step (in_valid), the state register takes
  the step's state from x and the state (the initial state instead with
  `start`), y the head of that new state and `last` whether it was the T-th
  step since the start.  One step a clock, y one cycle later: T cycles a
  sequence.  `rst` sets the initial state and out_valid 0.  With
  `max_adder_depth` the step and the head are pipelined
  (`pipelined_wrapper_text`): with a step of latency L, a step is taken every
  L + 1 cycles (`in_ready`), T (L + 1) cycles a sequence.

Both are the same integer function: the stateful circuit's y after the T-th
step of a sequence equals the unrolled circuit's y (and `Circuit.reference`)
on that sequence, bit for bit.  `RecurrentCircuit.run_steps` runs the step and
the head in the reference interpreter on a stream, as the circuit does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch_mlir import ir

from hardcore import backend
from hardcore.compiler import Circuit, Port, _build_circuit, _layer_figures, _run_steps, dag_figures
from hardcore.decoder import _step_hw, _Text
from hardcore.errors import UsageError
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import int_attr
from hardcore.mlir import new_context, parse_module
from hardcore.passes import ImportPass, PipelinePass
from hardcore.recurrent.compose import body_of, unrolled_text
from hardcore.recurrent.split import split
from hardcore.scale import timing as timings

__all__ = ["FORMS", "RecurrentCircuit", "compile_recurrent", "wrapper_text"]

FORMS = ("unrolled", "stateful")


@dataclass
class RecurrentCircuit(Circuit):
    """A stateful recurrent circuit: one time step a clock on x, the head of the state on y a cycle later.

    `reference` (of `Circuit`) is the unrolled function on whole sequences
    ((batch, T * F) codes); `run_steps` the step and the head on a stream.
    """

    steps: int = 0  # T: the sequence length, the cycles a sequence takes
    state_size: int = 0
    state_width: int = 0
    initial_codes: list = field(default_factory=list)
    initial_inputs: list = field(default_factory=list)  # "h0" (and "c0"): the initial state's ports; []: constant
    sequence: bool = False  # y after every step is the model's output row of that step, not only after the last
    step_latency: int = 0  # a pipelined step (max_adder_depth): its registers' cycles; 0: combinational
    head_latency: int = 0

    @property
    def interval(self) -> int:
        """Cycles between two steps: the step's latency and the state register's cycle."""
        return self.step_latency + 1

    def _functions(self):
        if not hasattr(self, "_step_function"):
            self._modules = [parse_module(self.stages[stage], new_context(), stage)
                             for stage in ("recurrent_step", "recurrent_head")]
            self._step_function, self._head_function = (find_function(m.operation) for m in self._modules)
        return self._step_function, self._head_function

    def run_steps(self, stream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The circuit's outputs after every cycle of `stream` ((cycles, 2 + F [+ S]): in_valid, start, x codes
        [, the initial state's codes: h0 (and c0) when they are ports]): out_valid, y (cycles, outputs) and last,
        each as the cycle's rising edge leaves them."""
        stream = np.asarray(stream, dtype=np.int64)
        step, head = self._functions()
        inputs = self.n_in // self.steps
        state = np.array(self.initial_codes, dtype=np.int64)
        count, y = 0, np.zeros(self.n_out, dtype=np.int64)
        out_valid, ys, last = [], [], []
        delay = self.step_latency + self.head_latency  # rows from a step's x to its y, beyond y's one cycle
        ready_at, results = 0, {}  # row -> (y, last) of the step taken `delay` rows before
        for row, (in_valid, start, *x) in enumerate(stream.tolist()):
            if in_valid and row >= ready_at:  # in_ready: no step in flight
                if start:
                    initial = x[inputs:] if self.initial_inputs else self.initial_codes
                    state, count = np.array(initial, dtype=np.int64), 0
                z = np.concatenate([np.asarray(x[:inputs], dtype=np.int64), state])[None]
                state = np.asarray(run_function(step, z, from_quantized=True)).reshape(-1)
                count = min(count + 1, self.steps + 1)
                results[row + delay] = (np.asarray(run_function(head, state[None], from_quantized=True)).reshape(-1),
                                        int(count == self.steps))
                ready_at = row + self.interval
            result = results.pop(row, None)
            y = result[0] if result is not None else y  # y holds between steps
            out_valid.append(int(result is not None))
            ys.append(y)
            # last: held between steps by a combinational step; a pipelined one's is read with out_valid only
            last.append(int(count == self.steps) if delay == 0 else result[1] if result is not None else 0)
        return np.array(out_valid), np.array(ys).reshape(len(stream), -1), np.array(last)

    @property
    def report(self) -> dict:
        report = super().report
        x = report["ports"]["x"]
        inputs = self.n_in // self.steps
        x.update(elements=inputs, shape=[inputs], bits=inputs * self.in_width)
        initial = " and ".join(self.initial_inputs) if self.initial_inputs else "the initial state"
        report["ports"]["last"] = {"elements": 1, "element_width": 1, "signed": False,
                                   "layout": f"1: y is the output after the {self.steps}th step since the start"}
        y_meaning = "the model's output row of the step taken at the previous edge" if self.sequence else \
            "the head of the state after the step taken at the previous edge"
        report["latency_cycles"] = self.latency
        report["clocked"] = True
        report["control_ports"] = {
            "clk": "clock, rising edge",
            "rst": "synchronous, active high: the initial state, out_valid 0",
            "in_valid": "x holds a time step this cycle",
            "start": f"with in_valid: x is step 0 of a new sequence (from {initial})",
            "out_valid": f"y holds {y_meaning}",
            "last": f"y is the output after step {self.steps} of the sequence: the model's output"}
        if self.step_latency or self.head_latency:  # a pipelined step: a step every `interval` cycles
            report["control_ports"].update({
                "in_ready": "a step is taken this cycle if in_valid: no step in flight (every "
                            f"{self.interval} cycles at most)",
                "out_valid": f"y holds {y_meaning.replace('at the previous edge', f'{self.latency} cycles earlier')}",
                "last": f"with out_valid: y is the output after step {self.steps} of the sequence"})
        report["recurrent"] = {"form": "stateful", "steps": self.steps, "sequence_shape": self.in_shape,
                               "cycles_per_sequence": self.steps * self.interval, "state_size": self.state_size,
                               "state_width": self.state_width,
                               "state_bits": self.state_size * self.state_width, "initial_state": self.initial_codes,
                               "initial_inputs": self.initial_inputs, "sequence": self.sequence,
                               **({"interval_cycles": self.interval, "step_latency": self.step_latency,
                                   "head_latency": self.head_latency} if self.step_latency or self.head_latency
                                  else {})}
        return report


def _quantized(torch_model, example, *, calibration, output: str, name: str, quantize, verify_each: bool,
               say) -> dict:
    """The torch, hardcore and quantized stages of a float model (compile's first passes)."""
    from hardcore.frontend import import_model

    context = new_context()
    with timings.stage("import (torch-mlir)"):
        module = import_model(torch_model, example, context)
    with context:
        find_function(module.operation).attributes["sym_name"] = ir.StringAttr.get(name)
    stages = {"torch": module.operation.get_asm(large_elements_limit=None)}
    quantize = replace(quantize, calibration_data=calibration)
    _run_steps(torch_model, example, module, stages, [("hardcore", ImportPass(output=output)), ("quantized", quantize)],
               output=output, verify_each=verify_each, say=say)
    return stages


def compile_recurrent(model, example_input, *, form: str, name: str, output: str, quantize, fold,
                      act_bits: int, calibration, max_adder_depth, clock_enable: bool, verify_each: bool,
                      options: dict, say) -> Circuit:
    """The unrolled or stateful circuit of `model` (module doc)."""
    if form not in FORMS:
        raise UsageError(f"compile: recurrent must be one of {', '.join(FORMS)}, got {form!r}")
    if form == "stateful" and clock_enable:
        raise UsageError("compile: the stateful recurrent circuit has no clock enable (clock_enable); its "
                         "in_valid and in_ready pace the steps")
    say("splitting the model into its step and its head")
    parts = split(model, example_input, calibration, act_bits)
    step_stages = _quantized(parts.step, torch.zeros(1, parts.inputs + parts.state_size),
                             calibration=parts.step_calibration, output="logits", name=f"{name}_step",
                             quantize=quantize, verify_each=verify_each, say=say)
    head_stages = _quantized(parts.head, torch.zeros(1, parts.state_size), calibration=parts.head_calibration,
                             output=output, name=f"{name}_head", quantize=quantize, verify_each=verify_each, say=say)
    step_body, head_body = body_of(step_stages["quantized"], "step"), body_of(head_stages["quantized"], "head")
    unrolled = unrolled_text(name, step_body, head_body, parts.steps, parts.inputs, parts.initial_codes,
                             parts.x_frac_bits, parts.initial_inputs, parts.sequence)
    options = dict(options, recurrent=form)
    if form == "unrolled":
        module = parse_module(unrolled, new_context(), "unrolled")
        stages = {"quantized": module.operation.get_asm(large_elements_limit=None)}
        steps = [("dag", fold)]
        if max_adder_depth is not None:
            pipeline = PipelinePass(max_adder_depth=max_adder_depth, clock_enable=clock_enable)
            pipeline.validate()
            steps.append(("pipelined", pipeline))
        _run_steps(model, example_input, module, stages, steps, output=output, verify_each=verify_each, say=say)
        circuit = _build_circuit(module, name, stages, options, max_adder_depth=max_adder_depth,
                                 clock_enable=clock_enable, verify_each=verify_each, say=say)
        circuit.figures["cycles_per_sequence"] = 1
        return circuit
    return _stateful(name, parts, step_stages, head_stages, unrolled, fold, max_adder_depth, options, verify_each,
                     say)


def _folded(stages: dict, fold, max_adder_depth, verify_each: bool, say):
    """The folded (and with `max_adder_depth`, pipelined) module of a quantized step or head."""
    module = parse_module(stages["quantized"], new_context(), "quantized")
    steps = [("dag", fold)]
    if max_adder_depth is not None:
        pipeline = PipelinePass(max_adder_depth=max_adder_depth)
        pipeline.validate()
        steps.append(("pipelined", pipeline))
    _run_steps(None, None, module, stages, steps, output="logits", verify_each=verify_each, say=say)
    return module


def _latency(function) -> int:
    return int_attr(function, "hardcore.latency") if "hardcore.latency" in function.attributes else 0


def _stateful(name, parts, step_stages, head_stages, unrolled: str, fold, max_adder_depth, options, verify_each,
              say) -> Circuit:
    step_module = _folded(step_stages, fold, max_adder_depth, verify_each, say)
    head_module = _folded(head_stages, fold, max_adder_depth, verify_each, say)
    step_function, head_function = find_function(step_module.operation), find_function(head_module.operation)
    step_latency, head_latency = _latency(step_function), _latency(head_function)
    width = parts.bits
    step_out = ir.IntegerType(ir.RankedTensorType(step_function.type.results[0]).element_type).width
    y_type = ir.RankedTensorType(head_function.type.results[0])
    unsigned = "hardcore.output_unsigned" in head_function.attributes
    y_elem = ir.IntegerType(y_type.element_type).width - unsigned
    y_bits = y_elem * int(np.prod(y_type.shape))
    layers = [dict(_layer_figures(d), kind="step: " + _layer_figures(d).get("kind", "")) for d in
              step_function.attributes["hardcore.layers"]] + \
             [dict(_layer_figures(d), kind="head: " + _layer_figures(d).get("kind", "")) for d in
              head_function.attributes["hardcore.layers"]]
    say("running hardcore-to-hw on the step and the head, wrapping them in the state registers")
    step_hw = _step_hw(step_module, step_function, f"{name}_step")
    head_hw = _step_hw(head_module, head_function, f"{name}_head")
    if max_adder_depth is None:
        wrapper = wrapper_text(name, parts.inputs, parts.state_size, width, step_out, y_bits, parts.initial_codes,
                               parts.steps, parts.initial_inputs)
    else:
        wrapper = pipelined_wrapper_text(name, parts.inputs, parts.state_size, width, step_out, y_bits,
                                         parts.initial_codes, parts.steps, parts.initial_inputs, step_latency,
                                         head_latency)
    circt_module = backend.to_circt("module {\n" + wrapper + "\n" + step_hw + "\n" + head_hw + "\n}\n")
    backend.run_circt_pipeline(circt_module, "builtin.module(hw.module(cse))")
    stages = {"torch": step_stages["torch"], "quantized": unrolled, "recurrent_step": step_stages["quantized"],
              "recurrent_head": head_stages["quantized"], "recurrent_step_dag": step_stages["dag"],
              "recurrent_head_dag": head_stages["dag"], "hw": str(circt_module)}
    figures = {}
    for dag in (step_stages["dag"], head_stages["dag"]):
        for key, value in dag_figures(dag).items():
            figures[key] = max(figures.get(key, 0), value) if key == "adder_depth" else figures.get(key, 0) + value
    count_bits = (parts.steps + 1).bit_length()
    if max_adder_depth is None:
        figures["register_bits"] = parts.state_size * width + y_bits + count_bits + 1
    else:  # the state, the step count, busy, updated, last's delay and the pipelines' own registers
        figures["register_bits"] = parts.state_size * width + count_bits + 2 + head_latency + sum(
            int(ir.IntegerAttr(ir.DictAttr(entry)["register_bits"]).value) for function in (step_function, head_function)
            if "hardcore.pipeline_layers" in function.attributes for entry in function.attributes["hardcore.pipeline_layers"])
    figures["cycles_per_sequence"] = parts.steps * (step_latency + 1)
    in_shape = [parts.steps, parts.inputs]
    in_range = (-(1 << (width - 1)), (1 << (width - 1)) - 1)
    in_ports = [Port("x", in_shape, width, parts.x_frac_bits, True, in_range)] + \
        [Port(input_name, [parts.state_size // len(parts.initial_inputs)], width, parts.frac_bits, True, in_range)
         for input_name in parts.initial_inputs] if parts.initial_inputs else []
    return RecurrentCircuit(
        name=name, verilog=backend.export_verilog(circt_module), stages=stages, in_shape=in_shape, in_width=width,
        in_frac_bits=parts.x_frac_bits, in_range=(-(1 << (width - 1)), (1 << (width - 1)) - 1),
        out_shape=list(y_type.shape), out_width=y_elem,
        out_frac_bits=int_attr(head_function, "hardcore.output_frac_bits"), layers=layers, options=options,
        figures=figures, latency=step_latency + head_latency + 1, out_signed=not unsigned, steps=parts.steps, state_size=parts.state_size,
        state_width=width, initial_codes=[int(v) for v in parts.initial_codes], in_ports=in_ports,
        initial_inputs=list(parts.initial_inputs), sequence=parts.sequence, step_latency=step_latency,
        head_latency=head_latency)


def _widened(body: _Text, step: str, state_size: int, width: int, step_width: int) -> str:
    """The step's state codes, each element sign-extended to the state's width."""
    if step_width == width:
        return step
    parts = []
    for i in reversed(range(state_size)):
        element = body.emit(f"comb.extract {step} from {i * step_width} : (i{state_size * step_width}) -> "
                            f"i{step_width}")
        sign = body.emit(f"comb.extract {element} from {step_width - 1} : (i{step_width}) -> i1")
        extension = body.emit(f"comb.replicate {sign} : (i1) -> i{width - step_width}")
        parts += [extension, element]
    types = ", ".join(f"i{width - step_width}, i{step_width}" for _ in range(state_size))
    return body.emit(f"comb.concat {', '.join(parts)} : {types}", "fresh_state")


def _start_state(body: _Text, initial: str, initial_inputs, state_bits: int) -> str:
    """The state a `start` step begins from: the constant, or the h0 (and c0) ports."""
    if len(initial_inputs) == 1:
        return f"%{initial_inputs[0]}"
    if initial_inputs:  # the state is h of every layer, then c: c0 holds the upper bits
        part_bits = state_bits // len(initial_inputs)
        return body.emit(f"comb.concat {', '.join('%' + n for n in reversed(initial_inputs))} : "
                         f"{', '.join(f'i{part_bits}' for _ in initial_inputs)}", "initial_state")
    return initial


def wrapper_text(name: str, inputs: int, state_size: int, width: int, step_width: int, y_bits: int,
                 initial_codes, steps: int, initial_inputs=()) -> str:
    """The stateful top module `name` as CIRCT text around instances of `<name>_step` and `<name>_head`;
    with `initial_inputs` ("h0", or "h0" and "c0"), `start` takes the initial state from those ports."""
    state_bits, x_bits = state_size * width, inputs * width
    count_bits = (steps + 1).bit_length()  # the steps since the start, 0..T+1
    body = _Text()
    false = body.emit("hw.constant false")
    packed = sum((int(code) & ((1 << width) - 1)) << (i * width) for i, code in enumerate(initial_codes))
    initial = body.emit(f"hw.constant {packed} : i{state_bits}")
    zero, one = body.emit(f"hw.constant 0 : i{count_bits}"), body.emit(f"hw.constant 1 : i{count_bits}")
    final = body.emit(f"hw.constant {steps} : i{count_bits}")
    past = body.emit(f"hw.constant {steps + 1} : i{count_bits}")
    state_register = body.emit(f"sv.reg : !hw.inout<i{state_bits}>", "state")
    state = body.emit(f"sv.read_inout {state_register} : !hw.inout<i{state_bits}>")
    count_register = body.emit(f"sv.reg : !hw.inout<i{count_bits}>", "steps_taken")
    count = body.emit(f"sv.read_inout {count_register} : !hw.inout<i{count_bits}>")
    start_state = _start_state(body, initial, initial_inputs, state_bits)
    current = body.emit(f"comb.mux %start, {start_state}, {state} : i{state_bits}", "step_state")
    z = body.emit(f"comb.concat {current}, %x : i{state_bits}, i{x_bits}")
    body.line(f'%step = hw.instance "step" @{name}_step(x: {z}: i{x_bits + state_bits}) -> '
              f"(y: i{state_size * step_width})")
    fresh = _widened(body, "%step", state_size, width, step_width)
    body.line(f'%head = hw.instance "head" @{name}_head(x: {fresh}: i{state_bits}) -> (y: i{y_bits})')
    from_count = body.emit(f"comb.mux %start, {zero}, {count} : i{count_bits}")
    saturated = body.emit(f"comb.icmp eq {from_count}, {past} : i{count_bits}")
    incremented = body.emit(f"comb.add {from_count}, {one} : i{count_bits}")
    following = body.emit(f"comb.mux {saturated}, {past}, {incremented} : i{count_bits}")
    y_register = body.emit(f"sv.reg : !hw.inout<i{y_bits}>", "output")
    valid_register = body.emit("sv.reg : !hw.inout<i1>", "valid")
    body.line(f"sv.alwaysff(posedge %clk) {{\n      sv.if %in_valid {{\n"
              f"        sv.passign {state_register}, {fresh} : i{state_bits}\n"
              f"        sv.passign {count_register}, {following} : i{count_bits}\n"
              f"        sv.passign {y_register}, %head : i{y_bits}\n      }}\n"
              f"      sv.passign {valid_register}, %in_valid : i1\n"
              f"    }}(syncreset : posedge %rst) {{\n"
              f"      sv.passign {state_register}, {initial} : i{state_bits}\n"
              f"      sv.passign {count_register}, {zero} : i{count_bits}\n"
              f"      sv.passign {valid_register}, {false} : i1\n    }}")
    y = body.emit(f"sv.read_inout {y_register} : !hw.inout<i{y_bits}>")
    valid = body.emit(f"sv.read_inout {valid_register} : !hw.inout<i1>")
    last = body.emit(f"comb.icmp eq {count}, {final} : i{count_bits}", "last_step")
    initial_ports = "".join(f", in %{n} : i{state_bits // len(initial_inputs)}" for n in initial_inputs)
    header = (f"hw.module @{name}(in %clk : i1, in %rst : i1, in %in_valid : i1, in %start : i1, in %x : i{x_bits}"
              f"{initial_ports}, out out_valid : i1, out y : i{y_bits}, out last : i1) {{")
    return "\n".join([header] + body.lines + [f"    hw.output {valid}, {y}, {last} : i1, i{y_bits}, i1", "}"])


def _instance(body: _Text, instance: str, module: str, latency: int, valid: str, x: str, x_bits: int,
              y_bits: int) -> tuple[str, str]:
    """An instance of a pipelined (latency > 0) or combinational step or head: (its out_valid, its y)."""
    if latency == 0:
        body.line(f'%{instance} = hw.instance "{instance}" @{module}(x: {x}: i{x_bits}) -> (y: i{y_bits})')
        return valid, f"%{instance}"
    body.line(f'%{instance}_valid, %{instance} = hw.instance "{instance}" @{module}(clk: %clock: !seq.clock, '
              f"rst: %rst: i1, in_valid: {valid}: i1, x: {x}: i{x_bits}) -> (out_valid: i1, y: i{y_bits})")
    return f"%{instance}_valid", f"%{instance}"


def pipelined_wrapper_text(name: str, inputs: int, state_size: int, width: int, step_width: int, y_bits: int,
                           initial_codes, steps: int, initial_inputs, step_latency: int, head_latency: int) -> str:
    """The stateful top module `name` around a pipelined step (`step_latency` cycles) and head.

    A step is taken when in_valid and in_ready (no step in flight); the state register takes the step's
    result at the edge after the step's out_valid, so the next step may be taken that cycle: one step every
    step_latency + 1 cycles.  The head reads the state register (its in_valid: the state was just
    updated); y, out_valid and last leave its pipeline head_latency cycles later."""
    state_bits, x_bits = state_size * width, inputs * width
    count_bits = (steps + 1).bit_length()  # the steps since the start, 0..T+1
    body = _Text()
    body.line("%clock = seq.to_clock %clk")
    false, true = body.emit("hw.constant false"), body.emit("hw.constant true")
    packed = sum((int(code) & ((1 << width) - 1)) << (i * width) for i, code in enumerate(initial_codes))
    initial = body.emit(f"hw.constant {packed} : i{state_bits}")
    zero, one = body.emit(f"hw.constant 0 : i{count_bits}"), body.emit(f"hw.constant 1 : i{count_bits}")
    final = body.emit(f"hw.constant {steps} : i{count_bits}")
    past = body.emit(f"hw.constant {steps + 1} : i{count_bits}")
    registers = {}
    for register, bits in (("state", state_bits), ("steps_taken", count_bits), ("busy", 1), ("updated", 1)):
        registers[register] = body.emit(f"sv.reg : !hw.inout<i{bits}>", register)
    state, count, busy, updated = (body.emit(f"sv.read_inout {registers[r]} : !hw.inout<i{bits}>") for r, bits in
                                   (("state", state_bits), ("steps_taken", count_bits), ("busy", 1), ("updated", 1)))
    ready = body.emit(f"comb.xor {busy}, {true} : i1", "ready")
    take = body.emit(f"comb.and %in_valid, {ready} : i1", "take")
    start_state = _start_state(body, initial, initial_inputs, state_bits)
    current = body.emit(f"comb.mux %start, {start_state}, {state} : i{state_bits}", "step_state")
    z = body.emit(f"comb.concat {current}, %x : i{state_bits}, i{x_bits}")
    step_valid, step = _instance(body, "step", f"{name}_step", step_latency, take, z, x_bits + state_bits,
                                 state_size * step_width)
    fresh = _widened(body, step, state_size, width, step_width)
    head_valid, head = _instance(body, "head", f"{name}_head", head_latency, updated, state, state_bits, y_bits)
    from_count = body.emit(f"comb.mux %start, {zero}, {count} : i{count_bits}")
    saturated = body.emit(f"comb.icmp eq {from_count}, {past} : i{count_bits}")
    incremented = body.emit(f"comb.add {from_count}, {one} : i{count_bits}")
    following = body.emit(f"comb.mux {saturated}, {past}, {incremented} : i{count_bits}")
    waiting = body.emit(f"comb.mux {take}, {true}, {busy} : i1")
    busy_next = body.emit(f"comb.mux {step_valid}, {false}, {waiting} : i1")
    last = body.emit(f"comb.icmp eq {count}, {final} : i{count_bits}", "last_step")
    delays = []  # last, along the head's pipeline
    for stage in range(head_latency):
        delays.append(body.emit("sv.reg : !hw.inout<i1>", f"last_{stage}"))
    shifts = ""
    for stage, register in enumerate(delays):
        shifts += f"      sv.passign {register}, {last} : i1\n"
        last = body.emit(f"sv.read_inout {register} : !hw.inout<i1>")
    body.line(f"sv.alwaysff(posedge %clk) {{\n      sv.if {take} {{\n"
              f"        sv.passign {registers['steps_taken']}, {following} : i{count_bits}\n      }}\n"
              f"      sv.if {step_valid} {{\n        sv.passign {registers['state']}, {fresh} : i{state_bits}\n      }}\n"
              f"      sv.passign {registers['busy']}, {busy_next} : i1\n"
              f"      sv.passign {registers['updated']}, {step_valid} : i1\n{shifts}"
              f"    }}(syncreset : posedge %rst) {{\n"
              f"      sv.passign {registers['state']}, {initial} : i{state_bits}\n"
              f"      sv.passign {registers['steps_taken']}, {zero} : i{count_bits}\n"
              f"      sv.passign {registers['busy']}, {false} : i1\n"
              f"      sv.passign {registers['updated']}, {false} : i1\n    }}")
    initial_ports = "".join(f", in %{n} : i{state_bits // len(initial_inputs)}" for n in initial_inputs)
    header = (f"hw.module @{name}(in %clk : i1, in %rst : i1, in %in_valid : i1, in %start : i1, in %x : i{x_bits}"
              f"{initial_ports}, out in_ready : i1, out out_valid : i1, out y : i{y_bits}, out last : i1) {{")
    return "\n".join([header] + body.lines + [f"    hw.output {ready}, {head_valid}, {head}, {last} : i1, i1, "
                                               f"i{y_bits}, i1", "}"])
