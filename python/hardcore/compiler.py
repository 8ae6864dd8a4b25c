"""One call from a PyTorch model to SystemVerilog: `hardcore.compile` (its `Circuit` is in `hardcore.circuit`), and
the report's figures of a DAG."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from torch_mlir import ir

from hardcore import backend
from hardcore.circuit import Circuit, Port, write_files_atomically
from hardcore.errors import HardcoreError, UsageError
from hardcore.interpreter import find_function
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import new_context, parse_module
from hardcore.passes import (FoldWeightsPass, ImportPass, KvDecodePass, PipelinePass, QuantizePass, StreamPass,
                             TimeMultiplexPass)
from hardcore.pipeline import run_pipeline
from hardcore.scale import parallel
from hardcore.scale import timing as timings

__all__ = ["compile", "Circuit", "Port", "write_files_atomically", "dag_figures"]

_ADDER_OPS = ("hardcore.add", "hardcore.sub", "hardcore.neg")
_LAYER_KEYS = ("inputs", "outputs", "weights", "nonzero_weights", "adders", "adder_bits", "adder_depth")
_COMPARATOR_KEYS = ("comparators", "comparator_depth")  # max-pool and argmax layers
# Layers with products of activations or tables (sequence models), when they have any.
_OPTIONAL_KEYS = _COMPARATOR_KEYS + ("multipliers", "multiplier_bits", "tables", "table_entries", "muxes")
_COMPARATOR_OPS = ("hardcore.max", "hardcore.pick")
_PIPELINE_KEYS = ("layer", "registers", "register_bits", "first_stage", "last_stage")


def dag_figures(dag_text: str) -> dict:
    """Adders, adder bits, critical adder depth (adders only), clamps and comparators of a DAG module.

    `comparators` (only when there are any) counts the max-pool and argmax
    comparators: one per pair of values a `hardcore.max` or `hardcore.pick`
    compares, since a max and a pick of the same pair share one.  Also its
    lookup tables (`hardcore.table`) with their entries in all, and (only
    when there are any) its multipliers (`hardcore.mul`, products of two
    activations) with their result bits in all, and its muxes (`hardcore.mux`,
    a decoder step's selections by position).
    """
    adders = adder_bits = comparators = tables = table_entries = multipliers = multiplier_bits = muxes = 0
    comparisons: set = set()  # (lhs, rhs) of max and pick: one comparator each pair
    depth: dict[str, int] = {}
    line_pattern = re.compile(r'^\s*(%\S+) = "(hardcore\.\w+)"\(([^)]*)\).*-> (i(\d+)|tensor)')
    critical = 0
    for line in dag_text.splitlines():
        match = line_pattern.match(line)
        if not match:
            continue
        result, name, operands = match.group(1), match.group(2), match.group(3)
        level = max((depth.get(o.strip(), 0) for o in operands.split(",") if o.strip()), default=0)
        if name in _ADDER_OPS:
            level += 1
            adders += 1
            adder_bits += int(match.group(5))
        elif name == "hardcore.clamp":
            comparators += 1
        elif name == "hardcore.table":
            tables += 1
            table_entries += int(re.search(r"tensor<(\d+)xi\d+>", line).group(1))
        elif name in _COMPARATOR_OPS:
            comparisons.add(tuple(o.strip() for o in operands.split(",")[:2]))
        elif name == "hardcore.mul":
            multipliers += 1
            multiplier_bits += int(match.group(5))
        elif name == "hardcore.mux":
            muxes += 1
        depth[result] = level
        critical = max(critical, level)
    figures = {"adders": adders, "adder_bits": adder_bits, "adder_depth": critical, "clamps": comparators,
               "tables": tables, "table_entries": table_entries}
    if comparisons:
        figures["comparators"] = len(comparisons)
    if multipliers:
        figures["multipliers"], figures["multiplier_bits"] = multipliers, multiplier_bits
    if muxes:
        figures["muxes"] = muxes
    return figures


def _layer_figures(dictionary) -> dict:
    """One entry of `hardcore.layers`: the figures, and the layer's kind when the import named it."""
    figures = {key: int(ir.IntegerAttr(dictionary[key]).value) for key in _LAYER_KEYS + _OPTIONAL_KEYS
               if key in _LAYER_KEYS or key in dictionary}
    if "kind" in dictionary:
        figures = {"kind": ir.StringAttr(dictionary["kind"]).value, **figures}
    return figures


def _module_name(name: str | None, model) -> str:
    """A Verilog-safe module name: the given one, else the model class's in snake case."""
    if name is None:
        cls = type(model).__name__ if not hasattr(model, "graph_module") else "model"
        name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls).lower()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"module name '{name}' is not a Verilog identifier")
    return name


def _check_stream(stream: bool, multiplexed: bool, decoder: bool, max_adder_depth, clock_enable: bool,
                  pixels_per_clock=1) -> None:
    """UsageError for stream=True with an option it excludes, or pixels_per_clock without it."""
    if not stream:
        if pixels_per_clock != 1:
            raise UsageError("compile: pixels_per_clock applies to a streamed circuit (stream=True)")
        return
    if isinstance(pixels_per_clock, bool) or pixels_per_clock not in (1, 2, 4, 8):
        raise UsageError(f"compile: pixels_per_clock is 1, 2, 4 or 8, got {pixels_per_clock!r}")
    if decoder or multiplexed:
        raise UsageError("compile: stream=True does not combine with " + ("decoder" if decoder else "reuse"))
    if max_adder_depth is not None or clock_enable:
        raise UsageError("compile: a streamed circuit registers every layer's output itself; "
                         "max_adder_depth and clock_enable do not apply")


def _check_reuse(multiplex: TimeMultiplexPass, decoder: bool, max_adder_depth, clock_enable: bool) -> bool:
    """Whether the circuit is time-multiplexed (`reuse` or the config's reuse above 1 somewhere);
    UsageError when an other option excludes it."""
    if multiplex.quant.default.reuse == 1 and all(layer.reuse == 1 for layer in multiplex.quant.layers.values()):
        return False
    if decoder:
        raise UsageError("compile: reuse does not apply to a decoder (it takes a token a clock)")
    if max_adder_depth is not None or clock_enable:
        raise UsageError("compile: reuse takes several cycles an input through its own registers; "
                         "max_adder_depth and clock_enable do not apply")
    return True


def _reproducer(stage_text: str, instance, error: HardcoreError, verify_each: bool = False) -> str:
    folder = Path(tempfile.mkdtemp(prefix="hardcore-failure-"))
    (folder / "input.mlir").write_text(stage_text)
    pipeline = instance.pipeline_text()
    if getattr(instance, "config_data", None) is not None:  # a quant_config dictionary: as a file
        config = folder / "quant_config.json"
        config.write_text(json.dumps(instance.config_data, indent=1) + "\n")
        pipeline = replace(instance, config=str(config), config_data=None).pipeline_text()
    (folder / "reproduce.sh").write_text(
        f"hardcore-opt {shlex.quote(str(folder / 'input.mlir'))} "
        f"--pass-pipeline={shlex.quote(pipeline)}{' --verify-each' if verify_each else ''}\n")
    (folder / "error.txt").write_text(str(error) + "\n")
    return str(folder)


def _recorded(function):
    """`function(..., timing=rows)`: its stages' times and peak memory go to the list `rows` (`hardcore.scale.timing`)."""
    @functools.wraps(function)
    def recorded(*args, timing: list | None = None, **kwargs):
        if timing is None:
            return function(*args, **kwargs)
        if not isinstance(timing, list):
            raise UsageError(f"compile: timing must be a list that receives the stages' rows, got {timing!r}")
        with timings.recording(timing):
            return function(*args, **kwargs)
    return recorded


@_recorded
def compile(model, example_input=None, *, weight_bits: int = 8, act_bits: int = 8, calibration=None,
            algorithm: str = "cse", max_depth: int | None = None, max_adder_depth: int | None = None,
            clock_enable: bool = False, name: str | None = None, output: str | None = None,
            weight_scale: str = "per-layer", quant_config: dict | str | os.PathLike | None = None,
            act_percentile: float | None = None, table_codes: str = "magnitude",
            progress: Callable[[str], None] | None = None, verify_each: bool = False,
            decoder: bool = False, reuse: int = 1, stream: bool = False, pixels_per_clock: int = 1,
            workers: str | int | None = "auto", scheduler: str | None = None,
            recurrent: str | None = None) -> Circuit:
    """Compile a PyTorch model (nn.Module or torch.export ExportedProgram) or an ONNX model to a Circuit.

    `example_input` fixes the shape (batch 1): a tensor, or a tuple of tensors
    for a model with several inputs (ports `x0`, `x1`, ...; several outputs make
    `y0`, `y1`, ...; `calibration` is then a tuple of arrays too, one per input).  An ONNX model (a path ending
    in `.onnx`, or an `onnx.ModelProto`) brings its input shape, batch fixed
    to 1: `example_input` may then be None, else its shape must match.  `calibration` is an array of
    float inputs (batch, *shape) used to choose activation scales; without it
    256 seeded standard-normal samples are used.  `max_adder_depth` pipelines
    the circuit (no path crosses more adder levels between registers; one
    inference per clock); None keeps it combinational.  `output="argmax"`
    makes the circuit a classifier: y is the index of the largest output
    (ties to the lowest index, like torch.argmax), ceil(log2 N) bits unsigned.
    `weight_scale` is "per-layer" (one power-of-two scale per weight matrix)
    or "per-channel" (one per output channel).  `quant_config` sets weight
    bits, activation bits and weight scales per layer: a dictionary or the
    path of a JSON file (`hardcore.quant_config` describes it).
    `act_percentile` (e.g. 99.9) takes the activation scales from that
    percentile of |x| on the calibration inputs instead of the largest |x|
    (the few values above it saturate).  `table_codes="wide"` makes the
    tables of signed activations (GELU, tanh) act-bits + 1 wide, one more
    fractional bit, as wide as an unsigned act-bits output (docs/quantization.md).
    `verify_each` checks every pass with the reference interpreter
    (`hardcore.verify`; the import against the PyTorch model itself) and raises
    `hardcore.verify.VerificationError` at the first pass that changes the results.

    `decoder=True` compiles a causal sequence model whose output has a row
    per position (a language model's logits at every position, `[1, T, V]`)
    into a KV-cache decoder (`hardcore.decoder`, docs/decoder.md): one token a
    clock on x, the next token (the argmax of its row) on y one cycle later; a
    `hardcore.decoder.DecoderCircuit`.  Its `output` is "argmax" (the default:
    y alone) or "logits" (a logits port too).

    `reuse=R` (R > 1) computes each dense layer's N outputs over R cycles,
    ceil(N/R) a cycle, with its constants selected by a cycle counter: one
    input every R cycles, in less logic (`hardcore.time_multiplex`,
    docs/streaming.md); a `hardcore.time_multiplex.TimeMultiplexedCircuit`.
    R = 1 is the fully parallel circuit.  A `reuse` in `quant_config` sets it
    per layer (`{"layers": {"0": {"reuse": 8}}}`); the circuit takes one input
    every max R_k cycles, and is fully parallel when every layer's reuse is 1.

    `stream=True` compiles a CNN whose input is one image (C x H x W) into a
    circuit that takes it one pixel a clock on AXI4-Stream ports: each
    convolution's kernel is folded once and applied at every position through
    line buffers (`hardcore.stream`, docs/streaming.md); a
    `hardcore.stream.StreamedCircuit`.  `pixels_per_clock=P` (2, 4 or 8, a
    divisor of the image's width) takes P pixels of a row a transfer and
    computes P output pixels a clock, through P instances of each kernel.

    `recurrent="unrolled"` or `"stateful"` compiles a model whose one nn.RNN,
    nn.GRU or nn.LSTM reads the input sequence (`example_input` [1, T, F]) and
    whose output reads its last step: the whole sequence in at once, or one
    step a clock with the state in registers (`hardcore.recurrent`,
    docs/recurrent.md); both compute the same integers.  Without it, a model
    with recurrent layers is compiled unrolled like any model, each step with
    scales of its own.

    `workers` says where the layers' CMVM solves run (`hardcore.scale.parallel`):
    "auto" (a pool of this machine's processes when the work pays for it),
    "serial", or a number of processes; `scheduler` (e.g. "tcp://host:8786")
    sends them to an existing Dask cluster instead.  The SystemVerilog is the
    same, byte for byte, whichever runs them.  `progress` receives messages per
    stage, and per solve with an ETA on long compiles.

    `timing`, a list, receives a `hardcore.scale.timing.StageTime` row (stage,
    wall seconds, peak MB of this process) per stage: the torch-mlir import,
    each pass, the IR printed after it, hardcore-to-hw, the CIRCT passes, the
    Verilog export and the figures; `timing.table(rows)` prints them.
    """
    from hardcore.frontend import example_inputs, import_model  # torch is heavy: only when compiling a model
    from hardcore.onnx_frontend import import_onnx, is_onnx_model, onnx_module_name

    say = progress or (lambda message: None)
    output = output or ("argmax" if decoder else "logits")
    config_path = os.fspath(quant_config) if isinstance(quant_config, (str, os.PathLike)) else None
    quantize = QuantizePass(weight_bits=weight_bits, act_bits=act_bits, calibration_data=calibration,
                            weight_scale=weight_scale, config=config_path,
                            config_data=None if config_path else quant_config, act_percentile=act_percentile,
                            table_codes=table_codes)
    quantize.validate()
    fold = FoldWeightsPass(algorithm=algorithm, max_depth=max_depth)
    fold.validate()
    importer = ImportPass(output=output, stream=bool(stream))
    importer.validate()
    if isinstance(reuse, bool) or not isinstance(reuse, (int, np.integer)) or reuse < 1:
        raise UsageError(f"compile: reuse must be an integer of at least 1, got {reuse!r}")
    multiplex = TimeMultiplexPass(reuse=int(reuse), config=config_path,
                                  config_data=None if config_path else quant_config)
    multiplex.validate()
    multiplexed = _check_reuse(multiplex, decoder=decoder, max_adder_depth=max_adder_depth,
                               clock_enable=clock_enable)
    _check_stream(stream, multiplexed, decoder=decoder, max_adder_depth=max_adder_depth, clock_enable=clock_enable,
                  pixels_per_clock=pixels_per_clock)
    if decoder:
        if max_adder_depth is not None or clock_enable:
            raise UsageError("compile: a decoder takes a token a clock through a combinational step; "
                             "max_adder_depth and clock_enable do not apply")
        kv_decode = KvDecodePass(output="both" if output == "logits" else "argmax")
        importer = ImportPass()  # the window function's logits; kv-decode adds the argmax
    options = {"weight_bits": weight_bits, "act_bits": act_bits, "algorithm": algorithm,
               "max_depth": max_depth, "max_adder_depth": max_adder_depth, "clock_enable": clock_enable,
               "output": output,
               **({"weight_scale": weight_scale} if weight_scale != "per-layer" else {}),
               **({"act_percentile": act_percentile} if act_percentile is not None else {}),
               **({"table_codes": table_codes} if table_codes != "magnitude" else {}),
               **({"quant_config": config_path or quant_config} if quant_config is not None else {}),
               **({"decoder": True} if decoder else {}), **({"reuse": int(reuse)} if reuse > 1 else {}),
               **({"stream": True} if stream else {}),
               **({"pixels_per_clock": int(pixels_per_clock)} if pixels_per_clock != 1 else {})}
    if recurrent is not None:
        if decoder or stream or multiplexed or is_onnx_model(model):
            raise UsageError("compile: recurrent applies to a PyTorch model's fully parallel circuit, not to a "
                             "decoder, a streamed, a time-multiplexed or an ONNX model")
        from hardcore.recurrent.circuit import compile_recurrent
        with parallel.session(parallel.executor(workers, scheduler, "compile: scheduler must be"), say=progress):
            return compile_recurrent(model, example_input, form=recurrent, name=_module_name(name, model),
                                     output=output, quantize=quantize, fold=fold, act_bits=act_bits,
                                     calibration=calibration, max_adder_depth=max_adder_depth,
                                     clock_enable=clock_enable, verify_each=verify_each, options=options, say=say)
    context = new_context()
    if is_onnx_model(model):
        if isinstance(example_input, (tuple, list)):
            raise UsageError("compile: an ONNX model takes one example_input (its one input's shape), not a tuple")
        say("importing the ONNX model with torch-mlir")
        with timings.stage("import (torch-mlir)"):
            module, _ = import_onnx(model, context, None if example_input is None else list(np.shape(example_input)))
        name = _module_name(name if name is not None else onnx_module_name(model), model)
    elif example_input is None:
        raise UsageError("compile: a PyTorch model needs an example_input (batch 1) for its shape")
    else:
        from hardcore.recurrent.unroll import check_plain_inputs

        _check_inputs(example_inputs(model, example_input), calibration, decoder=decoder, stream=stream,
                      multiplexed=multiplexed)
        check_plain_inputs(model, example_input)
        say("importing the model with torch-mlir")
        with timings.stage("import (torch-mlir)"):
            module = import_model(model, example_input, context)
        name = _module_name(name, model)
    with context:
        find_function(module.operation).attributes["sym_name"] = ir.StringAttr.get(name)
    with timings.stage("print IR"):
        stages = {"torch": module.operation.get_asm(large_elements_limit=None)}
    steps = [("hardcore", importer), ("quantized", quantize)] + ([("step", kv_decode)] if decoder else []) + \
        ([("steps", multiplex)] if multiplexed else
         [("streamed", StreamPass()), ("dag", fold)] if stream else [("dag", fold)])
    solves_on = parallel.executor(workers, scheduler, "compile: scheduler must be")  # checked before any work
    if max_adder_depth is not None:
        pipeline = PipelinePass(max_adder_depth=max_adder_depth, clock_enable=clock_enable)
        pipeline.validate()
        steps.append(("pipelined", pipeline))
    elif clock_enable:
        raise UsageError("clock_enable needs a pipelined circuit (max_adder_depth)")
    with parallel.session(solves_on, say=progress):
        _run_steps(model, example_input, module, stages, steps, output=output, verify_each=verify_each, say=say)
    if decoder:
        from hardcore.decoder import build_decoder
        say("running hardcore-to-hw, wrapping the step in its registers and exporting SystemVerilog")
        return build_decoder(module, name, stages, options)
    if stream:
        from hardcore.stream import build_streamed
        say("running hardcore-to-hw on every node's step, wrapping them in line buffers and exporting SystemVerilog")
        return build_streamed(module, name, stages, options)
    if multiplexed:
        from hardcore.time_multiplex import build_time_multiplexed
        say("running hardcore-to-hw on every step, wrapping the steps in their registers and exporting SystemVerilog")
        return build_time_multiplexed(module, name, stages, options)
    return _build_circuit(module, name, stages, options, max_adder_depth=max_adder_depth, clock_enable=clock_enable,
                          verify_each=verify_each, say=say)


def _check_inputs(inputs: tuple, calibration, *, decoder: bool, stream: bool, multiplexed: bool) -> None:
    """A model with several inputs: a calibration tuple of as many arrays, and the fully parallel circuit."""
    if len(inputs) == 1:
        return
    kinds = [kind for kind, on in (("decoder", decoder), ("stream", stream), ("reuse", multiplexed)) if on]
    if kinds:
        raise UsageError(f"compile: {kinds[0]} takes a model with one input, got {len(inputs)} inputs")
    if calibration is not None and (not isinstance(calibration, (tuple, list)) or len(calibration) != len(inputs)):
        got = f"{len(calibration)} arrays" if isinstance(calibration, (tuple, list)) else "one array"
        raise UsageError(f"compile: the model has {len(inputs)} inputs: calibration must be a tuple of "
                         f"{len(inputs)} arrays, one per input, got {got}")


def _run_steps(model, example_input, module, stages: dict, steps: list, *, output: str, verify_each: bool,
               say: Callable[[str], None]) -> None:
    """Run each (stage, pass) of `steps` on `module`, keeping each stage's IR text in `stages`."""
    from hardcore.onnx_frontend import is_onnx_model

    for stage, instance in steps:
        say(f"running {instance.name}")
        try:
            run_pipeline(module, instance.name, filename="model", overrides={instance.name: instance},
                         verify_each=verify_each, verify_report=say if stage != "hardcore" else None)
            if verify_each and stage == "hardcore" and is_onnx_model(model):
                say("hardcore-import: not checked against the ONNX model (no reference evaluator here)")
            elif verify_each and stage == "hardcore":
                from hardcore.verify import check_import
                say(check_import(model, example_input, module.operation.get_asm(large_elements_limit=None),
                                 output=output))
        except HardcoreError as error:
            folder = _reproducer(stages[list(stages)[-1]], instance, error, verify_each)
            raise type(error)(f"{error}\n(the IR and a command that reproduces this are in {folder})",
                              error.diagnostics) from None
        # The DAG keeps its `layerK` locations: hardcore-to-hw builds a module per layer from them,
        # so `repipeline` can take the DAG from the file and give compile's Verilog.
        with timings.stage("print IR"):
            stages[stage] = module.operation.get_asm(large_elements_limit=None, enable_debug_info=stage == "dag")


def repipeline(circuit: Circuit, max_adder_depth: int | None, *, clock_enable: bool = False,
               progress: Callable[[str], None] | None = None) -> Circuit:
    """The same circuit pipelined at `max_adder_depth` (None: combinational), from its folded DAG.

    Gives what `compile(..., max_adder_depth=max_adder_depth)` gives, Verilog
    byte for byte, without importing, quantizing and folding again: the DAG of
    `circuit.stages["dag"]` goes through hardcore-pipeline and hardcore-to-hw.
    For the plain (fully parallel, not streamed) circuits of `compile`.
    """
    say = progress or (lambda message: None)
    kinds = [kind for kind in ("decoder", "stream", "reuse") if circuit.options.get(kind)]
    if kinds or "dag" not in circuit.stages:
        raise UsageError(f"{circuit.name}: only a fully parallel circuit (not a decoder, streamed or "
                         f"time-multiplexed one) can be pipelined again")
    stages = {stage: text for stage, text in circuit.stages.items() if stage not in ("pipelined", "hw")}
    module = parse_module(stages["dag"], new_context(), "dag")
    if max_adder_depth is not None:
        pipeline = PipelinePass(max_adder_depth=max_adder_depth, clock_enable=clock_enable)
        pipeline.validate()
        say(f"running {pipeline.name} at max-adder-depth {max_adder_depth}")
        run_pipeline(module, pipeline.name, filename="dag", overrides={pipeline.name: pipeline})
        stages["pipelined"] = module.operation.get_asm(large_elements_limit=None)
    elif clock_enable:
        raise UsageError("clock_enable needs a pipelined circuit (max_adder_depth)")
    options = dict(circuit.options, max_adder_depth=max_adder_depth, clock_enable=clock_enable)
    return _build_circuit(module, circuit.name, stages, options, max_adder_depth=max_adder_depth,
                          clock_enable=clock_enable, verify_each=False, say=say)


def _build_circuit(module, name: str, stages: dict, options: dict, *, max_adder_depth, clock_enable: bool,
                   verify_each: bool, say) -> Circuit:
    """The Circuit of a folded (and maybe pipelined) DAG: hardcore-to-hw, SystemVerilog and the figures."""
    say("running hardcore-to-hw and exporting SystemVerilog")
    with timings.stage("figures"):  # from the DAG's function, before hardcore-to-hw releases it
        circuit = _circuit(find_function(module.operation), name, "", stages, options,
                           max_adder_depth=max_adder_depth, clock_enable=clock_enable)
    # No CIRCT `cse`: hardcore-to-hw emits each value once; cse only dropped the few dead extracts that the
    # export drops too (the same Verilog, byte for byte; docs/scale.md).  The hw stage is the text CIRCT
    # parsed: printing the CIRCT module again took as long as parsing it.
    result = run_pipeline(module, "hardcore-to-hw", filename="model", verify_each=verify_each,
                          verify_report=say, release=True)
    stages["hw"] = result.hw_text
    circuit.verilog = backend.export_verilog(result.module, registers=max_adder_depth is not None)
    return circuit


def _circuit(function, name: str, verilog: str, stages: dict, options: dict, *, max_adder_depth,
             clock_enable: bool) -> Circuit:
    """The Circuit of a DAG's function and its Verilog: ports, layers' figures and the whole circuit's."""
    quantized_module = parse_module(stages["quantized"], new_context())
    block_type = function.type
    arguments = len(block_type.inputs)
    quantize_ops = body_ops(find_function(quantized_module.operation))[:arguments]  # one per input
    in_type, out_type = block_type.inputs[0], block_type.results[0]
    layers = [_layer_figures(dictionary) for dictionary in function.attributes["hardcore.layers"]]
    unsigned = "hardcore.output_unsigned" in function.attributes  # the port drops the sign bit
    in_unsigned = "hardcore.input_unsigned" in function.attributes  # token ids: so does x
    figures = dag_figures(stages["dag"])
    if max_adder_depth is not None:
        # Registers of the input extraction (layer -1) are counted with the first layer.
        for dictionary in function.attributes["hardcore.pipeline_layers"]:
            entry = {key: int(ir.IntegerAttr(dictionary[key]).value) for key in _PIPELINE_KEYS}
            target = layers[max(entry.pop("layer"), 0)]
            target["registers"] = target.get("registers", 0) + entry["registers"]
            target["register_bits"] = target.get("register_bits", 0) + entry["register_bits"]
            if entry["registers"] or "stages" not in target:
                target["first_stage"] = min(target.get("first_stage", entry["first_stage"]), entry["first_stage"])
                target["last_stage"] = max(target.get("last_stage", 0), entry["last_stage"])
                target["stages"] = target["last_stage"] - target["first_stage"] + 1
        figures["register_bits"] = sum(layer.get("register_bits", 0) for layer in layers)
        figures["registers"] = sum(layer.get("registers", 0) for layer in layers)
    in_fracs = _frac_bits(function, "hardcore.input_frac_bits")
    out_fracs = _frac_bits(function, "hardcore.output_frac_bits")
    in_ports = [Port(f"x{i}", list(t.shape), t.element_type.width, frac, True,
                     (int_attr(q, "min"), int_attr(q, "max")))
                for i, (t, frac, q) in enumerate(zip(block_type.inputs, in_fracs, quantize_ops))]
    out_ports = [Port(f"y{i}", list(t.shape), t.element_type.width, frac)
                 for i, (t, frac) in enumerate(zip(block_type.results, out_fracs))]
    return Circuit(
        name=name,
        verilog=verilog,
        stages=stages,
        in_shape=list(in_type.shape), in_width=in_type.element_type.width - in_unsigned,
        in_frac_bits=in_fracs[0],
        in_range=(int_attr(quantize_ops[0], "min"), int_attr(quantize_ops[0], "max")),
        out_shape=list(out_type.shape), out_width=out_type.element_type.width - unsigned,
        out_frac_bits=out_fracs[0],
        layers=layers,
        options=options,
        figures=figures,
        latency=int_attr(function, "hardcore.latency") if max_adder_depth is not None else 0,
        clock_enable=clock_enable,
        out_signed=not unsigned,
        in_signed=not in_unsigned,
        in_ports=in_ports if len(in_ports) > 1 else [],
        out_ports=out_ports if len(out_ports) > 1 else [],
    )


def _frac_bits(function, name: str) -> list[int]:
    """A DAG function's `hardcore.input_frac_bits` or `output_frac_bits`: one integer, or a list (several ports)."""
    attribute = function.attributes[name]
    if isinstance(attribute, ir.ArrayAttr):
        return [int(ir.IntegerAttr(a).value) for a in attribute]
    return [int(ir.IntegerAttr(attribute).value)]

if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `hardcore` command")
