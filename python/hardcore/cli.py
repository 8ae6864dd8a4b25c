"""Command lines: `hardcore-opt` (opt-style pass driver) and `hardcore` (compile, sim, report, verify, fpga).

Exit codes: 0 success, 1 a compile/tool error (a message naming the place),
2 a usage error (bad option, unknown pass, missing file); `verify --formal`:
1 a counterexample, 3 a layer not proven (unknown).  Output files are
written atomically: on failure nothing is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path
from typing import Iterator

from hardcore.errors import CompileError, HardcoreError, UsageError

__all__ = ["main", "opt_main"]

_EXPECTED = re.compile(r"//\s*expected-(error|warning|note|remark)\s*(?:@([+-]\d+|above|below))?\s*\{\{(.*?)\}\}")
_SPLIT = re.compile(r"^// -----\s*$", re.M)


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2 with one line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _read_input(path: str) -> tuple[str, str]:
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(), path
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def _write_output(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    from hardcore.compiler import write_files_atomically
    from hardcore.scale import timing

    target = Path(path)
    with timing.stage("write"):
        write_files_atomically(target.parent if str(target.parent) else Path("."), {target.name: text})


def _chunks(text: str, split: bool) -> list[tuple[str, int]]:
    """(chunk text, line offset of the chunk in the file)."""
    if not split:
        return [(text, 0)]
    chunks, offset, start = [], 0, 0
    for match in _SPLIT.finditer(text):
        chunks.append((text[start:match.start()], offset))
        offset += text[start:match.end()].count("\n") + 1
        start = match.end() + 1
    chunks.append((text[start:], offset))
    return chunks


def _expected_diagnostics(chunk: str, offset: int) -> list[tuple[int, str, str]]:
    expected = []
    for index, line in enumerate(chunk.splitlines()):
        for match in _EXPECTED.finditer(line):
            severity, where, message = match.groups()
            target = index + 1 + offset
            if where in ("above", None) and where == "above":
                target -= 1
            elif where == "below":
                target += 1
            elif where:
                target += int(where)
            expected.append((target, severity, message))
    return expected


def _check_diagnostics(filename: str, expected, diagnostics) -> list[str]:
    problems = []
    remaining = list(diagnostics)
    for line, severity, message in expected:
        match = next((d for d in remaining if d.line == line and d.severity == severity
                      and message in d.message), None)
        if match is None:
            problems.append(f"{filename}:{line}: expected {severity} \"{message}\" was not produced")
        else:
            remaining.remove(match)
    for diagnostic in remaining:
        if diagnostic.severity in ("error", "warning"):
            problems.append(f"{diagnostic}: unexpected {diagnostic.severity}")
    return problems


def _run_chunk(chunk: str, offset: int, filename: str, pipeline: str | None, emit: str,
               verify_each: bool = False) -> str:
    from hardcore import backend
    from hardcore.mlir import new_context, parse_module
    from hardcore.pipeline import run_pipeline
    from hardcore.scale import timing

    with timing.stage("parse"):
        module = parse_module(chunk, new_context(), filename, offset)
    if not pipeline:
        with timing.stage("print IR"):
            return str(module)
    result = run_pipeline(module, pipeline, filename=filename, line_offset=offset, verify_each=verify_each,
                          verify_report=lambda line: print(f"hardcore-opt: verify-each: {line}", file=sys.stderr))
    if emit == "verilog":
        if not result.in_circt:
            raise UsageError("--emit=verilog needs a pipeline that ends after hardcore-to-hw")
        return backend.export_verilog(result.module)
    with timing.stage("print IR"):
        return result.text()


def opt_main(argv: list[str] | None = None) -> int:
    parser = _ArgumentParser(prog="hardcore-opt", description=(
        "Run a pass pipeline on MLIR: hardcore passes (hardcore-import, hardcore-quantize, "
        "hardcore-fold-weights, hardcore-to-hw) mixed with upstream and CIRCT passes."))
    parser.add_argument("input", nargs="?", default="-", help="input .mlir file, or - for stdin")
    parser.add_argument("-o", dest="output", help="output file (default: stdout)")
    parser.add_argument("--pass-pipeline", default="", help="e.g. 'builtin.module(hardcore-import,canonicalize)'")
    parser.add_argument("--split-input-file", action="store_true", help="run each '// -----' chunk on its own")
    parser.add_argument("--verify-diagnostics", action="store_true",
                        help="check diagnostics against '// expected-error @+N {{...}}' comments")
    parser.add_argument("--emit", choices=("mlir", "verilog"), default="mlir",
                        help="print IR (default) or, after hardcore-to-hw, SystemVerilog")
    parser.add_argument("--verify-each", action="store_true",
                        help="run the reference interpreter before and after every pass; stop at the first "
                             "pass that changes the results (docs/verification.md)")
    parser.add_argument("--workers", default="auto", metavar="N",
                        help="where hardcore-fold-weights' CMVM solves run: auto (the default: a pool of this "
                             "machine's processes when the work pays for it), serial, or a number of processes")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="solve on an existing Dask cluster instead, e.g. tcp://host:8786 (docs/scale.md)")
    parser.add_argument("--timing", action="store_true",
                        help="print each stage's wall time and peak memory to stderr, like --mlir-timing")
    args = parser.parse_args(argv)
    with _timed(args.timing, "hardcore-opt"):
        return _opt(args)


def _opt(args) -> int:
    try:
        from hardcore.pipeline import parse_pipeline
        from hardcore.passes import PASSES
        from hardcore.scale import parallel

        solves_on = parallel.executor(args.workers, args.scheduler, "--scheduler:")  # checked before any work

        text, filename = _read_input(args.input)
        for step in parse_pipeline(args.pass_pipeline):  # option errors before any work
            if step.is_hardcore:
                PASSES[step.name].from_options(step.options)
        outputs, problems = [], []
        with parallel.session(solves_on):
            for chunk, offset in _chunks(text, args.split_input_file):
                try:
                    outputs.append(_run_chunk(chunk, offset, filename, args.pass_pipeline, args.emit,
                                              args.verify_each))
                    diagnostics = []
                except UsageError:
                    raise
                except CompileError as error:
                    if not args.verify_diagnostics:
                        raise
                    diagnostics = error.diagnostics
                if args.verify_diagnostics:
                    problems += _check_diagnostics(filename, _expected_diagnostics(chunk, offset), diagnostics)
        if problems:
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1
        _write_output(args.output, "// -----\n".join(outputs))
        return 0
    except HardcoreError as error:
        _print_error("hardcore-opt", error)
        return error.exit_code


@contextlib.contextmanager
def _timed(enabled: bool, prog: str) -> Iterator[None]:
    """With `enabled` (--timing), the stages run inside the block as a table on stderr at its end."""
    if not enabled:
        yield
        return
    from hardcore.scale import timing

    with timing.recording() as rows:
        try:
            yield
        finally:
            print(timing.table(rows, title=f"{prog} timing"), end="", file=sys.stderr)


def _print_error(prog: str, error: HardcoreError) -> None:
    if error.diagnostics:
        for diagnostic in error.diagnostics:
            print(diagnostic, file=sys.stderr)
    else:
        print(f"{prog}: error: {error}", file=sys.stderr)


def _shape(text: str) -> list[int]:
    try:
        shape = [int(d) for d in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of sizes") from None
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"'{text}': sizes must be positive")
    return shape


def _compile(args) -> int:
    import torch

    import hardcore
    from hardcore.frontend import load_model_file

    from hardcore.onnx_frontend import is_onnx_model

    say = (lambda message: None) if args.quiet else (lambda message: print(f"hardcore: {message}", file=sys.stderr))
    onnx_model = is_onnx_model(args.model)
    if onnx_model and args.state_dict:
        raise UsageError("--state-dict applies to a PyTorch model class; an ONNX model carries its weights")
    if not onnx_model and args.input_shape is None:
        raise UsageError("--input-shape is required for a PyTorch model (an ONNX model brings its own)")
    model = args.model if onnx_model else load_model_file(args.model)
    if args.state_dict:
        try:
            model.load_state_dict(torch.load(args.state_dict, map_location="cpu", weights_only=True))
        except Exception as exc:
            reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())  # one line
            raise CompileError(f"{args.state_dict}: cannot load the state dict: {type(exc).__name__}: {reason}") from None
    shapes = args.input_shape or []
    if onnx_model and len(shapes) > 1:
        raise UsageError("--input-shape: an ONNX model takes one input shape")
    for shape in shapes:
        if shape[0] != 1:
            raise UsageError(f"--input-shape: the first (batch) dimension must be 1, got {shape[0]}")
    calibration = _calibration(args.calibration, shapes) if args.calibration else None
    dtype = torch.long if (args.input_dtype or ("int64" if args.decoder else "float32")) == "int64" else torch.float32
    example_input = tuple(torch.zeros(shape, dtype=dtype) for shape in shapes) if len(shapes) > 1 else \
        torch.zeros(shapes[0], dtype=dtype) if shapes else None
    with _timed(args.timing, "hardcore compile"):
        circuit = hardcore.compile(model, example_input, weight_bits=args.weight_bits,
                                   act_bits=args.act_bits, calibration=calibration, algorithm=args.algorithm,
                                   max_depth=args.max_depth, max_adder_depth=args.max_adder_depth,
                                   clock_enable=args.clock_enable, name=args.name, output=args.output,
                                   weight_scale=args.weight_scale, quant_config=args.quant_config,
                                   act_percentile=args.act_percentile, table_codes=args.table_codes, progress=say,
                                   verify_each=args.verify_each, decoder=args.decoder, reuse=args.reuse,
                                   stream=args.stream, pixels_per_clock=args.pixels_per_clock,
                                   workers=args.workers, scheduler=args.scheduler, recurrent=args.recurrent)
        files = circuit.write(args.output_dir)
    report = circuit.report
    if args.recurrent == "stateful":
        print(f"{circuit.name}: stateful recurrent circuit, x {report['ports']['x']['elements']}x{circuit.in_width} "
              f"bits (a time step) -> y {report['ports']['y']['elements']}x{circuit.out_width} bits, "
              f"{'one step a clock' if circuit.interval == 1 else f'one step every {circuit.interval} cycles'}, "
              f"{circuit.steps * circuit.interval} cycles per sequence, latency {circuit.latency} "
              f"cycle{'s' if circuit.latency > 1 else ''}; {report['adders']} adders, "
              f"{report.get('multipliers', 0)} multipliers, {report['register_bits']} register bits")
    elif args.decoder:
        print(f"{circuit.name}: decoder of {circuit.positions} positions, x {circuit.in_width} bits (a token) -> "
              f"y {circuit.out_width} bits (the next token){', logits' if circuit.logits_width else ''}, "
              f"one token a clock, latency 1 cycle; {report['adders']} adders, "
              f"{report.get('multipliers', 0)} multipliers, {report['cache_bits']} cache register bits")
    else:
        ins = ", ".join(f"{p.name} {report['ports'][p.name]['elements']}x{p.width}" for p in circuit.inputs)
        outs = ", ".join(f"{p.name} {report['ports'][p.name]['elements']}x{p.width}" for p in circuit.outputs)
        print(f"{circuit.name}: {ins} bits -> {outs} bits"
              f"{'' if circuit.out_signed else ' (argmax index)'}, "
              f"{report['adders']} adders ({report['adder_bits']} adder bits), "
              f"adder depth {report['adder_depth']}, "
              + (f"latency {circuit.latency} cycles" if circuit.latency else
                 "" if args.stream else "combinational")
              + (f", one input every {circuit.reuse} cycles" if "time_multiplex" in report else "")
              + (f"streamed: {_pixels_a_clock(circuit)}, {circuit.cycles_per_frame} cycles per image, "
                 f"{report['line_buffer_bits']} line-buffer bits" if args.stream else ""))
    for path in files:
        if path.suffix in (".sv", ".json"):
            print(f"wrote {path}")
    return 0


def _calibration(path: str, shapes: list):
    """`--calibration`: an .npy array for one input; for several (--input-shape repeated), an .npz of
    one array per input, in the order they were saved (np.savez(path, x0, x1, ...))."""
    import numpy as np

    try:
        data = np.load(path)
        arrays = [data[name] for name in data.files] if isinstance(data, np.lib.npyio.NpzFile) else [data]
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read calibration data: {getattr(exc, 'strerror', None) or exc}") from None
    if len(shapes) > 1 and len(arrays) != len(shapes):
        raise UsageError(f"{path}: calibration data for {len(shapes)} inputs (--input-shape given {len(shapes)} "
                         f"times) must be an .npz of {len(shapes)} arrays, one per input, got {len(arrays)}")
    if len(shapes) <= 1 and len(arrays) != 1:
        raise UsageError(f"{path}: calibration data for one input must be one array, got {len(arrays)}")
    for index, calibration in enumerate(arrays):
        which = f" (input {index})" if len(shapes) > 1 else ""
        if not np.issubdtype(calibration.dtype, np.number):
            raise UsageError(f"{path}: calibration data{which} holds {calibration.dtype}, not numbers")
        if shapes:  # an ONNX model's shape is checked when it is loaded
            sample = shapes[index][1:]
            if calibration.size == 0 or calibration.size % int(np.prod(sample)):
                raise UsageError(f"{path}: calibration data{which} of shape {list(calibration.shape)} "
                                 f"does not hold samples of shape {sample} (--input-shape)")
        if not np.all(np.isfinite(calibration)):
            raise UsageError(f"{path}: calibration data{which} contains NaN or infinity")
    return tuple(arrays) if len(shapes) > 1 else arrays[0]


def _sim(args) -> int:
    import numpy as np

    from hardcore.compiler import Circuit

    circuit = Circuit.load(args.directory)
    rng = np.random.default_rng(args.seed)
    if circuit.options.get("decoder"):
        return _sim_decoder(args, circuit, rng)
    if "time_multiplex" in circuit.report:
        return _sim_time_multiplexed(args, circuit, rng)
    if circuit.options.get("stream"):
        return _sim_streamed(args, circuit, rng)
    if "recurrent" in circuit.report:
        return _sim_recurrent(args, circuit, rng)
    ports = []
    for port in circuit.inputs:  # x, or x0, x1, ... of a model with several inputs
        (low, high), count = port.range, port.elements
        inputs = rng.integers(low, high + 1, size=(args.vectors, count))
        inputs[: min(3, args.vectors)] = [[low] * count, [high] * count,
                                           [low if i % 2 else high for i in range(count)]][: min(3, args.vectors)]
        ports.append(inputs)
    inputs = tuple(ports) if len(ports) > 1 else ports[0]
    expected = circuit.reference(inputs)
    workdir = Path(args.directory) / "sim"
    result = circuit.simulate(inputs, workdir, simulator=args.simulator or "verilator",
                              progress=lambda message: print(f"hardcore: {message}", file=sys.stderr))
    pairs = zip(result.outputs, expected) if isinstance(expected, tuple) else [(result.outputs, expected)]
    mismatches = int(sum(np.any(got != want, axis=1) for got, want in pairs).astype(bool).sum())
    timing = (f"latency {result.latency} cycles, {result.cycles} cycles, "
              f"throughput {result.throughput:.2f} inferences/cycle, " if circuit.latency else "combinational, ")
    print(f"{args.vectors} vectors, {mismatches} mismatches ({timing}"
          f"build {result.build_seconds:.1f} s, run {result.run_seconds:.2f} s)")
    return 1 if mismatches else 0


def _sim_time_multiplexed(args, circuit, rng) -> int:
    """A time-multiplexed circuit in Verilator (else Icarus), in_valid low in random cycles (`--stall`):
    every output against the reference."""
    import numpy as np

    from hardcore.time_multiplex import default_simulator, simulate_stream

    low, high = circuit.in_range
    inputs = rng.integers(low, high + 1, size=(args.vectors, circuit.n_in))
    simulator = args.simulator or default_simulator()
    result = simulate_stream(circuit, inputs, Path(args.directory) / "sim", simulator=simulator, stall=args.stall,
                             seed=args.seed, progress=lambda message: print(f"hardcore: {message}", file=sys.stderr))
    mismatches = int(np.any(result.outputs != circuit.reference(inputs), axis=1).sum())
    print(f"{args.vectors} vectors, {mismatches} mismatches ({'Verilator' if simulator == 'verilator' else 'Icarus'}; "
          f"in_valid low in {args.stall:.0%} of cycles at random; latency {result.latency} cycles, "
          f"one input every {circuit.reuse} cycles at most, {result.interval:.2f} on average; {result.cycles} cycles, "
          f"build {result.build_seconds:.1f} s, run {result.run_seconds:.2f} s)")
    return 1 if mismatches else 0


def _pixels_a_clock(circuit) -> str:
    pixels = circuit.pixels_per_clock
    return "one pixel a clock" if pixels == 1 else f"{pixels} pixels a clock"


def _sim_streamed(args, circuit, rng) -> int:
    """A streamed circuit: random images P pixels a transfer, the source idling and the sink stalling at random."""
    import numpy as np

    from hardcore.stream import simulate_frames

    low, high = circuit.in_range
    images = rng.integers(low, high + 1, size=(args.vectors, circuit.n_in))
    images[: min(2, args.vectors)] = [[low] * circuit.n_in, [high] * circuit.n_in][: min(2, args.vectors)]
    if not 0 <= args.stall < 1:
        raise UsageError(f"--stall: a probability in [0, 1), got {args.stall}")
    simulator = args.simulator or "verilator"
    result = simulate_frames(circuit, images, Path(args.directory) / "sim", simulator=simulator,
                             stall=round(100 * args.stall), seed=args.seed + 1)
    mismatches = int(np.any(result.outputs != circuit.reference(images), axis=1).sum())
    print(f"{args.vectors} images, {mismatches} mismatches ({simulator}, the source idling and the sink stalling "
          f"in {args.stall:.0%} of cycles at random; {result.cycles_per_frame:g} cycles per image, the first output "
          f"{result.latency} cycles after the first pixel, {result.cycles} cycles"
          f"{'; frame_error' if result.frame_error else ''})")
    return 1 if mismatches or result.frame_error else 0


def _sim_recurrent(args, circuit, rng) -> int:
    """A stateful recurrent circuit on random sequences back to back (`--vectors` of them), idle cycles between:
    every output against the step reference, each sequence's last against the unrolled reference."""
    from hardcore.recurrent.sim import check_sequences

    sequences = tuple(rng.integers(port.range[0], port.range[1] + 1, size=(args.vectors, port.elements))
                      for port in circuit.inputs)  # the sequence (and the initial state's ports)
    sequences = sequences if len(sequences) > 1 else sequences[0]
    mismatches, wrong = check_sequences(circuit, sequences, Path(args.directory) / "sim", rng)
    print(f"{args.vectors} sequences of {circuit.steps} steps ({circuit.steps * circuit.interval} cycles per "
          f"sequence): "
          f"{mismatches} mismatching cycles, {wrong} last outputs unlike the unrolled reference")
    return 1 if mismatches or wrong else 0


def _sim_decoder(args, circuit, rng) -> int:
    """A decoder on a random token stream: every emitted token against the window function's argmax."""
    from hardcore.decoder_sim import compare, expected_outputs, random_stream, simulate_decoder

    stream = random_stream(circuit, args.vectors, rng)
    expected = expected_outputs(circuit, stream)
    trace = simulate_decoder(circuit, stream, Path(args.directory) / "sim", simulator=args.simulator or "verilator",
                             progress=lambda message: print(f"hardcore: {message}", file=sys.stderr))
    mismatches, notes = compare(expected, trace)
    for note in notes:
        print(f"mismatch: {note}", file=sys.stderr)
    tokens = int(expected.out_valid.sum())
    sequences = int(((stream[:, 0] == 1) & (stream[:, 1] == 1)).sum())
    print(f"{tokens} tokens taken in {sequences} sequences, {len(stream)} cycles: {mismatches} mismatches "
          f"(1 cycle per token, latency 1 cycle, {'with logits, ' if circuit.logits_width else ''}"
          f"build {trace.build_seconds:.1f} s, run {trace.run_seconds:.2f} s)")
    return 1 if mismatches else 0


def _report(args) -> int:
    import json

    from hardcore.compiler import Circuit
    from hardcore.report import format_table, plot, synthesize

    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout:g}")
    from hardcore.scale import parallel

    parallel.local_workers(args.workers, 1)  # a bad --workers is a usage error before Yosys starts
    circuit = Circuit.load(args.directory)
    directory = Path(args.directory)
    if args.synth:
        try:
            synthesize(circuit, directory / "synth", timeout=args.timeout, workers=args.workers,
                       progress=lambda message: print(f"hardcore: {message}", file=sys.stderr))
        except ValueError as exc:  # the '*' baseline has no form for an op (none hardcore-quantize makes)
            raise CompileError(f"{directory}: report --synth: {exc}") from None
        circuit.write(directory, stages=False)  # the report JSON now carries the synthesis figures
    if args.asic:
        from hardcore.physical.asic import asic_figures

        try:
            asic_figures(circuit, directory / "asic", timeout=args.timeout,
                         progress=lambda message: print(f"hardcore: {message}", file=sys.stderr))
        except ValueError as exc:
            raise CompileError(f"{directory}: report --asic: {exc}") from None
        circuit.write(directory, stages=False)
    report = circuit.report
    print(format_table(report))
    if args.plot:
        print(f"wrote {plot(report, directory / f'{circuit.name}.png')}")
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def _verify(args) -> int:
    from hardcore import formal

    if not args.formal:
        raise UsageError("verify: choose a method: --formal (the only one so far)")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout:g}")
    say = (lambda message: None) if args.quiet else (lambda message: print(f"hardcore: {message}", file=sys.stderr))
    options = {"timeout": args.timeout or formal.DEFAULT_TIMEOUT,
               "max_weights": formal.DEFAULT_MAX_WEIGHTS if args.max_weights is None else args.max_weights}
    if args.directory is not None:
        if args.quantized or args.dag:
            raise UsageError("verify: give either a compiled directory or --quantized and --dag")
        report = formal.verify_directory(args.directory, progress=say, **options)
    elif args.quantized and args.dag:
        (quantized, quantized_name), (dag, dag_name) = _read_input(args.quantized), _read_input(args.dag)
        report = formal.verify(quantized, dag, quantized_name=quantized_name, dag_name=dag_name,
                               progress=say, **options)
    else:
        raise UsageError("verify: give a 'hardcore compile' output directory, or --quantized and --dag")
    print(report.summary())
    return report.exit_code


def _fpga(args) -> int:
    import json

    from hardcore.compiler import Circuit
    from hardcore.physical.flow import build_fpga, format_report

    directory = Path(args.directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout:g}")
    say = (lambda message: None) if args.quiet else (lambda message: print(f"hardcore: {message}", file=sys.stderr))
    circuit = Circuit.load(directory)
    output_dir = Path(args.output_dir) if args.output_dir else directory / f"fpga-{args.device}"
    report = build_fpga(circuit, output_dir, device=args.device, package=args.package, target_mhz=args.target_mhz,
                        serial=args.serial, timeout=args.timeout, vectors=args.vectors, pcf=args.pcf, seed=args.seed,
                        progress=say, repipeline=not args.keep_pipeline)
    print(format_report(report))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    print(f"wrote {output_dir}")
    check = report["netlist_check"]
    return 1 if check.get("mismatches") or check.get("uart", {}).get("mismatches") else 0


def main(argv: list[str] | None = None) -> int:
    parser = _ArgumentParser(prog="hardcore", description="Compile a neural network into a hardwired circuit.")
    commands = parser.add_subparsers(dest="command", required=True)
    compile_parser = commands.add_parser("compile", help="PyTorch or ONNX model -> SystemVerilog + JSON report")
    compile_parser.add_argument("model", help="path/model.py:ClassName, path/model.pt2 (torch.export) "
                                "or path/model.onnx")
    compile_parser.add_argument("--input-shape", type=_shape, action="append",
                                help="e.g. 1,16 (batch first, batch 1); once per input, in order, for a model "
                                     "with several (ports x0, x1, ...); an ONNX model brings its own")
    compile_parser.add_argument("--input-dtype", choices=("float32", "int64"),
                                help="the example input's type: float32 (the default) or int64 for token ids "
                                     "(a language model's input; the default with --decoder)")
    compile_parser.add_argument("-o", "--output-dir", required=True, help="output directory")
    compile_parser.add_argument("--weight-bits", type=int, default=8)
    compile_parser.add_argument("--act-bits", type=int, default=8)
    compile_parser.add_argument("--weight-scale", choices=("per-layer", "per-channel"), default="per-layer",
                                help="one power-of-two weight scale per layer (default) or per output channel")
    compile_parser.add_argument("--act-percentile", type=float,
                                help="activation scales from this percentile of |x| on the calibration inputs "
                                     "(e.g. 99.9; the few values above it saturate) instead of the largest")
    compile_parser.add_argument("--table-codes", choices=("magnitude", "wide"), default="magnitude",
                                help="a signed activation table's output codes (GELU, tanh): act-bits (default) or "
                                     "wide, act-bits + 1 (one more fractional bit, as wide as a ReLU's output)")
    compile_parser.add_argument("--quant-config", help="JSON: weight bits, activation bits and weight scale "
                                                       "per layer (docs/quantization.md)")
    compile_parser.add_argument("--calibration", help=".npy of float inputs (batch, *shape) for activation scales; "
                                "for several inputs an .npz of one array per input (np.savez order)")
    compile_parser.add_argument("--state-dict", help="a torch.save'd state_dict to load into the model")
    compile_parser.add_argument("--algorithm", default="cse", choices=["cse", "csd"],
                                help="weight folding: cse (shared subexpressions, default) or csd (each weight on its own)")
    compile_parser.add_argument("--max-depth", type=int, help="maximum adder depth per layer")
    compile_parser.add_argument("--max-adder-depth", type=int,
                                help="pipeline: registers every N adder levels, one inference per clock")
    compile_parser.add_argument("--clock-enable", action="store_true", help="add a clock enable port ce (pipelined)")
    compile_parser.add_argument("--name", help="Verilog module name (default: the class name in snake case)")
    compile_parser.add_argument("--output", choices=("logits", "argmax"),
                                help="y: the model's outputs (the default), or the index of the largest (a "
                                     "classifier); with --decoder y is the next token and logits adds a logits port")
    compile_parser.add_argument("--decoder", action="store_true",
                                help="a KV-cache decoder of a causal sequence model (logits at every position): "
                                     "a token a clock in, the next token out (docs/decoder.md)")
    compile_parser.add_argument("--recurrent", choices=("unrolled", "stateful"),
                                help="a model whose one RNN/GRU/LSTM reads the input sequence: the whole sequence "
                                     "in at once, or one step a clock with the state in registers "
                                     "(docs/recurrent.md)")
    compile_parser.add_argument("--reuse", type=int, default=1, metavar="R",
                                help="each dense layer's outputs over R cycles, one input every R cycles, in "
                                     "less logic (docs/streaming.md); 1: fully parallel; per layer: 'reuse' "
                                     "in --quant-config")
    compile_parser.add_argument("--stream", action="store_true",
                                help="a CNN taking its image one pixel a clock on AXI4-Stream ports: each kernel "
                                     "folded once, line buffers (docs/streaming.md)")
    compile_parser.add_argument("--pixels-per-clock", type=int, default=1, metavar="P",
                                help="with --stream: P pixels of a row a transfer, P output pixels a clock "
                                     "through P instances of each kernel (1, 2, 4 or 8, dividing the width)")
    compile_parser.add_argument("--verify-each", action="store_true",
                                help="check every pass with the reference interpreter (docs/verification.md)")
    compile_parser.add_argument("--workers", default="auto", metavar="N",
                                help="where the layers' CMVM solves run: auto (the default: a pool of this machine's "
                                     "processes when the work pays for it), serial, or a number of processes")
    compile_parser.add_argument("--scheduler", metavar="ADDRESS",
                                help="solve on an existing Dask cluster instead, e.g. tcp://host:8786 (hardcore's "
                                     "'distributed' extra; docs/scale.md); the SystemVerilog is the same")
    compile_parser.add_argument("--timing", action="store_true",
                                help="print each stage's wall time and peak memory to stderr, like --mlir-timing")
    compile_parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    sim_parser = commands.add_parser("sim", help="simulate a compiled circuit against its reference")
    sim_parser.add_argument("directory", help="an output directory of 'hardcore compile'")
    sim_parser.add_argument("--vectors", type=int, default=1000, help="input vectors (a decoder: tokens offered)")
    sim_parser.add_argument("--seed", type=int, default=0)
    sim_parser.add_argument("--simulator", choices=("verilator", "icarus"),
                            help="default: verilator (a time-multiplexed circuit: icarus where verilator is missing)")
    sim_parser.add_argument("--stall", type=float, default=0.25, metavar="P",
                            help="a time-multiplexed circuit: in_valid low in each cycle with probability P; a "
                                 "streamed one: the source idles and the sink stalls each with probability P; "
                                 "seeded by --seed (default 0.25; 0: no stalls)")
    report_parser = commands.add_parser("report", help="per-layer figures; Yosys area against plain '*'")
    report_parser.add_argument("directory", help="an output directory of 'hardcore compile'")
    report_parser.add_argument("--synth", action="store_true",
                               help="run Yosys on the circuit and the '*' baseline, one module per layer each")
    report_parser.add_argument("--asic", action="store_true",
                               help="transistors (Yosys' CMOS estimate) and sky130 cells and µm² of the circuit "
                                    "and the '*' baseline, per layer and per weight (docs/asic.md)")
    report_parser.add_argument("--plot", action="store_true",
                               help="write <name>.png: adders, folded and plain '*' LUTs per layer "
                                    "(with --asic: transistors per weight too)")
    report_parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    report_parser.add_argument("--timeout", type=float, help="seconds Yosys may take per design (--synth, --asic)")
    report_parser.add_argument("--workers", default="auto", metavar="N",
                               help="--synth: Yosys runs at once (the folded circuit and the '*' baseline): auto "
                                    "(the default: as many as this machine has cores), serial, or a number")
    verify_parser = commands.add_parser(
        "verify", help="prove the folded circuit equal to the quantized network (--formal: Z3, layer by layer)")
    verify_parser.add_argument("directory", nargs="?", help="an output directory of 'hardcore compile'")
    verify_parser.add_argument("--formal", action="store_true",
                               help="prove every layer with Z3 for every input in its range (docs/formal.md)")
    verify_parser.add_argument("--quantized", help="instead of a directory: the IR after hardcore-quantize (.mlir)")
    verify_parser.add_argument("--dag", help="... and the IR after hardcore-fold-weights or hardcore-pipeline")
    verify_parser.add_argument("--timeout", type=float,
                               help="seconds Z3 may take per layer (default 60; a layer that needs more is unknown)")
    verify_parser.add_argument("--max-weights", type=int,
                               help="skip layers with more nonzero weights as too large (default 16384)")
    verify_parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    fpga_parser = commands.add_parser(
        "fpga", help="a Lattice iCE40 bitstream: synth_ice40, nextpnr-ice40, icepack; utilization, Fmax, "
                     "the post-synthesis netlist against the reference (docs/fpga.md)")
    fpga_parser.add_argument("directory", help="an output directory of 'hardcore compile'")
    fpga_parser.add_argument("--device", default="up5k", help="up5k (the default), hx8k or hx1k")
    fpga_parser.add_argument("--package", help="the device's package (default: up5k sg48, hx8k ct256, hx1k tq144)")
    fpga_parser.add_argument("--target-mhz", type=float, metavar="F",
                             help="the clock to meet: a fully parallel circuit is pipelined again, the fewest "
                                  "registers that meet F after place-and-route (see --keep-pipeline); nextpnr "
                                  "places and routes for F and the report checks it (default 12)")
    fpga_parser.add_argument("--keep-pipeline", action="store_true",
                             help="with --target-mhz: keep the circuit's pipeline as compiled, only check it")
    fpga_parser.add_argument("--serial", choices=("auto", "uart", "none"), default="auto",
                             help="uart: the circuit behind a UART (four pins); auto (the default): when its "
                                  "ports exceed the package's pins; none: never")
    fpga_parser.add_argument("--pcf", metavar="FILE", help="pin constraints (default: a template is written and used)")
    fpga_parser.add_argument("--timeout", type=float, metavar="S", help="seconds for the whole tool flow")
    fpga_parser.add_argument("-o", "--output-dir", help="default: DIR/fpga-<device>")
    fpga_parser.add_argument("--vectors", type=int, default=200,
                             help="random vectors for the post-synthesis netlist simulation (default 200)")
    fpga_parser.add_argument("--seed", type=int, default=1, help="nextpnr's placement seed")
    fpga_parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    fpga_parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    args = parser.parse_args(argv)
    try:
        return {"compile": _compile, "sim": _sim, "report": _report, "verify": _verify,
                "fpga": _fpga}[args.command](args)
    except HardcoreError as error:
        _print_error("hardcore", error)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
