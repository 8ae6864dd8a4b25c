"""The tiny GPT as a window circuit: greedy generation and held-out accuracy, float vs reference vs RTL.

Compiles `TinyLMWindow` (the trained weights of out/tinylm/, the last
position only) with `output="argmax"`: the circuit takes a window of
`context` token ids on port x and puts the id of the most likely next
character on port y.  Activation scales are calibrated on windows of the
training split.  Then:

1. greedy generation from each prompt, three ways: the PyTorch float model,
   the circuit's reference (`Circuit.reference`, the quantized IR in numpy)
   and the circuit itself in Verilator.  Generation is sequential, so the
   RTL runs one step at a time: step k simulates the windows of every prompt
   as one batch of vectors, on one Verilator build (`hardcore.sim.simulate`
   rebuilds nothing when the design in its workdir is unchanged).  The RTL's
   id must equal the reference's at every step; the circuit's text is its
   own (each window holds the circuit's earlier outputs), the float text
   the model's.  Prompts shorter than the window are padded on the left
   with spaces;
2. teacher forcing on held-out text: every window's next character from
   the float model, the reference and the RTL (one batch), so float
   accuracy, quantized accuracy and their agreement (same argmax);
3. the circuit's figures: adders, multipliers, lookup tables and their
   bits, and when pipelined (`--max-adder-depth`) its latency and the
   tokens per clock it sustains.

    .venv/bin/python examples/tinylm/generate.py            # 8 bits; the first Verilator build is long (README)
    .venv/bin/python examples/tinylm/generate.py --quick    # fewer windows and characters
    .venv/bin/python examples/tinylm/generate.py --weight-bits 6 --act-bits 6 --no-sim

Writes the circuit (.sv, .json, the IR of every stage) and results.json to
out/tinylm-window/ (or --out); the Verilator build stays in its sim/
folder, so a second run of the same circuit skips it.  The exit status is
1 if the RTL ever differs from the reference.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hardcore  # noqa: E402
from hardcore.compiler import Circuit  # noqa: E402
from hardcore.sim import simulate, tool_available  # noqa: E402

from corpus import decode, encode, splits  # noqa: E402
from model import TinyLM, TinyLMWindow  # noqa: E402
from train import PROMPTS  # noqa: E402

__all__ = ["calibration_windows", "heldout_windows", "compile_window", "Rtl", "Generation", "generate",
           "TeacherForcing", "teacher_forced", "table_bits", "circuit_figures", "first_difference", "main"]

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "tinylm-window"
SEED = 0
CALIBRATION_WINDOWS = 512
GENERATED_CHARS = 64
BATCH = 4096   # windows per call of the float model and of the reference (bounds their memory)
QUICK = {"heldout_windows": 1000, "chars": 16}
PAD = " "   # a short prompt's left padding: the corpus's commonest symbol, a word boundary
_TABLE_LINE = re.compile(r'"hardcore\.table"\(.*tensor<(\d+)xi\d+>\}? : \(i\d+\) -> i(\d+)')


# -- data -------------------------------------------------------------------------------------------

def calibration_windows(train_ids: np.ndarray, context: int, count: int = CALIBRATION_WINDOWS,
                        seed: int = SEED) -> np.ndarray:
    """`count` random windows of `context` ids from the training split, (count, context) int64."""
    starts = np.random.default_rng(seed).integers(0, len(train_ids) - context, count)
    return np.stack([train_ids[start:start + context] for start in starts])


def heldout_windows(heldout_ids: np.ndarray, context: int, count: int | None = None,
                    seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Held-out windows (count, context) and the character after each (count,): every one, or `count` at random."""
    available = len(heldout_ids) - context
    starts = np.arange(available) if count is None or count >= available else \
        np.sort(np.random.default_rng(seed + 1).choice(available, count, replace=False))
    windows = np.stack([heldout_ids[start:start + context] for start in starts])
    return windows, heldout_ids[starts + context]


def _padded(prompt: str, context: int) -> list[int]:
    return encode(prompt.rjust(context, PAD))


# -- compiling --------------------------------------------------------------------------------------

def compile_window(model: TinyLM, calibration: np.ndarray, *, weight_bits: int = 8, act_bits: int = 8,
                   weight_scale: str = "per-layer", act_percentile: float | None = None,
                   table_codes: str = "magnitude", max_adder_depth: int | None = None, name: str = "tinylm_window",
                   progress=None) -> Circuit:
    """`model` (last position only) as a circuit from a window of ids to the id of the likeliest next one."""
    return hardcore.compile(model, torch.zeros(1, model.context, dtype=torch.long), calibration=calibration,
                            weight_bits=weight_bits, act_bits=act_bits, weight_scale=weight_scale,
                            act_percentile=act_percentile, table_codes=table_codes,
                            max_adder_depth=max_adder_depth, output="argmax", name=name, progress=progress)


class Rtl:
    """The circuit in a simulator, one batch of windows at a time, on one build in `workdir`.

    Keeps each call's build seconds (Verilator's first, then its check that the
    build is up to date), the run seconds in all, and the clocks of the last call.
    """

    def __init__(self, circuit: Circuit, workdir: Path, simulator: str):
        self.circuit, self.workdir, self.simulator = circuit, workdir, simulator
        self.build_seconds: list[float] = []
        self.run_seconds = 0.0
        self.cycles = 0

    def __call__(self, windows: np.ndarray):
        circuit = self.circuit
        result = simulate(circuit.verilog, circuit.name, circuit.to_port(windows), n_in=circuit.n_in,
                          in_width=circuit.in_width, n_out=circuit.n_out, out_width=circuit.out_width,
                          latency=circuit.latency or None, workdir=self.workdir, simulator=self.simulator)
        self.build_seconds.append(result.build_seconds)
        self.run_seconds += result.run_seconds
        self.cycles = result.cycles
        return circuit.from_port(result.outputs)[:, 0]


# -- generation -------------------------------------------------------------------------------------

@dataclass
class Generation:
    """Greedy continuations of each prompt: ids after the padded prompt, the float model's and the circuit's."""

    prompts: list[str]
    float_ids: list[list[int]]
    circuit_ids: list[list[int]]
    rtl_steps: int = 0                # steps at which the RTL's id was compared with the reference's
    rtl_mismatches: list = field(default_factory=list)   # (prompt index, step, RTL id, reference id)

    def texts(self, which: str) -> list[str]:
        ids = self.float_ids if which == "float" else self.circuit_ids
        return [prompt + decode(generated) for prompt, generated in zip(self.prompts, ids)]


def first_difference(a: str, b: str) -> int | None:
    """The first index at which `a` and `b` differ (the shorter one's length if one is a prefix), None if equal."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


@torch.no_grad()
def generate(model: TinyLM, circuit: Circuit, prompts, chars: int, rtl=None) -> Generation:
    """`chars` greedy characters after each prompt from the float model and from the circuit.

    The circuit's ids come from the reference; with `rtl` (a callable from a
    batch of windows to ids, such as the simulator) also from the RTL on the
    same windows, which must agree (mismatches are recorded, and the RTL's
    id is the one the text continues with).
    """
    context = model.context
    prompts = list(prompts)
    float_windows = [_padded(prompt, context) for prompt in prompts]
    circuit_windows = [list(window) for window in float_windows]
    generation = Generation(prompts, [[] for _ in prompts], [[] for _ in prompts])
    for step in range(chars):
        logits = model(torch.tensor([window[-context:] for window in float_windows]))
        for generated, window, token in zip(generation.float_ids, float_windows, logits.argmax(-1).tolist()):
            generated.append(token)
            window.append(token)
        windows = np.array([window[-context:] for window in circuit_windows], dtype=np.int64)
        tokens = circuit.reference(windows)[:, 0]
        if rtl is not None:
            rtl_tokens = rtl(windows)
            generation.rtl_steps += 1
            generation.rtl_mismatches += [(index, step, int(r), int(q)) for index, (r, q)
                                          in enumerate(zip(rtl_tokens, tokens)) if r != q]
            tokens = rtl_tokens
        for generated, window, token in zip(generation.circuit_ids, circuit_windows, tokens.tolist()):
            generated.append(token)
            window.append(token)
    return generation


# -- teacher forcing --------------------------------------------------------------------------------

@dataclass
class TeacherForcing:
    """Next-character predictions on held-out windows: the truth, the float model, the reference, the RTL."""

    targets: np.ndarray
    float_ids: np.ndarray
    reference_ids: np.ndarray
    rtl_ids: np.ndarray | None = None

    def accuracy(self, which: str) -> float | None:
        ids = getattr(self, f"{which}_ids")
        return None if ids is None else float(np.mean(ids == self.targets))

    @property
    def agreement(self) -> float:
        """How often the circuit picks the float model's character."""
        return float(np.mean(self.reference_ids == self.float_ids))

    @property
    def rtl_mismatches(self) -> int | None:
        return None if self.rtl_ids is None else int(np.sum(self.rtl_ids != self.reference_ids))


@torch.no_grad()
def teacher_forced(model: TinyLM, circuit: Circuit, windows: np.ndarray, targets: np.ndarray,
                   rtl=None) -> TeacherForcing:
    chunks = [windows[start:start + BATCH] for start in range(0, len(windows), BATCH)]
    float_ids = np.concatenate([model(torch.from_numpy(chunk)).argmax(-1).numpy() for chunk in chunks])
    reference_ids = np.concatenate([circuit.reference(chunk)[:, 0] for chunk in chunks])
    return TeacherForcing(targets, float_ids, reference_ids, None if rtl is None else rtl(windows))


# -- figures ----------------------------------------------------------------------------------------

def table_bits(dag_text: str) -> int:
    """The bits of every lookup table of a DAG: entries times entry width, summed."""
    return sum(int(entries) * int(width) for entries, width in _TABLE_LINE.findall(dag_text))


def circuit_figures(circuit: Circuit) -> dict:
    """Adders, multipliers, tables and their bits, registers, latency, and tokens per clock.

    A pipelined circuit takes one window per clock: that many tokens per clock
    while independent windows (teacher forcing, or as many interleaved
    generations as its latency) keep it full.  One greedy generation must wait
    for each token before it can form the next window: one token every
    `latency` clocks.  A combinational circuit does one window per clock, its
    clock period the whole path.
    """
    report = circuit.report
    latency = circuit.latency
    figures = {key: report.get(key, 0) for key in ("adders", "adder_bits", "adder_depth", "multipliers",
                                                    "multiplier_bits", "tables", "table_entries", "comparators",
                                                    "clamps", "registers", "register_bits")}
    figures.update(table_bits=table_bits(circuit.stages["dag"]), latency_cycles=latency,
                   windows_per_clock=1.0, tokens_per_clock_one_stream=1.0 / max(latency, 1))
    return figures


# -- the command line -------------------------------------------------------------------------------

def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weight-bits", type=int, default=8)
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument("--weight-scale", choices=("per-layer", "per-channel"), default="per-layer")
    parser.add_argument("--act-percentile", type=float, default=None,
                        help="activation scales from this percentile of |x| on the calibration windows (e.g. 99.9; "
                             "default: the largest |x|)")
    parser.add_argument("--table-codes", choices=("magnitude", "wide"), default="magnitude",
                        help="GELU tables: signed act-bits (default) or wide, act-bits + 1 (one more fractional bit)")
    parser.add_argument("--max-adder-depth", type=int, default=None,
                        help="pipeline with at most N adder levels between registers (default: combinational)")
    parser.add_argument("--calibration", type=int, default=CALIBRATION_WINDOWS,
                        help="training windows that set the activation scales (default %(default)s)")
    parser.add_argument("--windows", type=int, default=None,
                        help=f"held-out windows for teacher forcing, at random (default: all of them, "
                             f"--quick {QUICK['heldout_windows']})")
    parser.add_argument("--chars", type=int, default=None,
                        help=f"characters to generate per prompt (default {GENERATED_CHARS}, --quick {QUICK['chars']})")
    parser.add_argument("--prompt", action="append", help=f"a prompt (repeatable; default {list(PROMPTS)})")
    parser.add_argument("--quick", action="store_true", help="fewer held-out windows and generated characters")
    parser.add_argument("--no-sim", action="store_true", help="skip the RTL (reference and float only)")
    parser.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                        help="icarus compiles the design again at every step: small circuits only")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default out/tinylm-window)")
    args = parser.parse_args(argv)
    args.windows = args.windows or (QUICK["heldout_windows"] if args.quick else None)
    args.chars = args.chars or (QUICK["chars"] if args.quick else GENERATED_CHARS)
    args.prompt = args.prompt or list(PROMPTS)
    return args


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _print_generation(generation: Generation) -> None:
    for float_text, circuit_text in zip(generation.texts("float"), generation.texts("circuit")):
        where = first_difference(float_text, circuit_text)
        print(f"  float  : {float_text}")
        print(f"  circuit: {circuit_text}")
        if where is None:
            print("           the same text")
        else:
            print(f"           {' ' * where}^ parts at character {where}")


def main(argv=None) -> int:
    args = _arguments(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    train_ids, heldout_ids = splits()
    model = TinyLMWindow().eval()
    context = model.context
    calibration = calibration_windows(train_ids, context, args.calibration)
    settings = (f"{args.weight_bits}-bit weights ({args.weight_scale}), {args.act_bits}-bit activations"
                + (f" (scales from the {args.act_percentile:g}th percentile)" if args.act_percentile else "")
                + (f", {args.table_codes} table codes" if args.table_codes != "magnitude" else "")
                + (f", pipelined at {args.max_adder_depth} adder levels" if args.max_adder_depth else ""))
    print(f"tinylm: compiling the window circuit ({context} ids -> the next id), {settings}, "
          f"calibrated on {len(calibration)} training windows ...")
    compile_start = time.perf_counter()
    circuit = compile_window(model, calibration, weight_bits=args.weight_bits, act_bits=args.act_bits,
                             weight_scale=args.weight_scale, act_percentile=args.act_percentile,
                             table_codes=args.table_codes, max_adder_depth=args.max_adder_depth,
                             progress=lambda message: print(f"    {time.perf_counter() - compile_start:6.1f} s  "
                                                            f"{message}"))
    compile_seconds = time.perf_counter() - compile_start
    circuit.write(args.out)
    figures = circuit_figures(circuit)
    print(f"    {figures['adders']:,} adders, {figures['multipliers']:,} multipliers, {figures['tables']:,} tables "
          f"({figures['table_entries']:,} entries, {figures['table_bits']:,} bits) in {compile_seconds:.0f} s")

    rtl = None
    if not args.no_sim:
        if tool_available(args.simulator):
            rtl = Rtl(circuit, args.out / "sim", args.simulator)
            print(f"tinylm: {args.simulator}: building the circuit ({args.out / 'sim'}; the first build of the "
                  f"8-bit circuit takes tens of minutes, later runs reuse it) ...")
        else:
            print(f"tinylm: {args.simulator} not found: no RTL")

    windows, targets = heldout_windows(heldout_ids, context, args.windows)
    print(f"tinylm: teacher forcing on {len(windows)} held-out windows ...")
    forced = teacher_forced(model, circuit, windows, targets, rtl)
    print(f"    accuracy: float {_percent(forced.accuracy('float'))}, "
          f"quantized {_percent(forced.accuracy('reference'))}, RTL {_percent(forced.accuracy('rtl'))}; "
          f"circuit = float on {_percent(forced.agreement)}"
          + ("" if rtl is None else f"; RTL = reference on {len(windows) - forced.rtl_mismatches} of {len(windows)}"
             f" (build {rtl.build_seconds[0]:.0f} s, run {rtl.run_seconds:.1f} s"
             + (f", {rtl.cycles} clocks" if circuit.latency else "") + ")"))
    if rtl is not None and circuit.latency:
        figures["measured_clocks"] = {"windows": len(windows), "clocks": rtl.cycles}

    print(f"tinylm: greedy generation, {args.chars} characters from each of {len(args.prompt)} prompts ...")
    generation = generate(model, circuit, args.prompt, args.chars, rtl)
    _print_generation(generation)
    if rtl is not None:
        print(f"    RTL = reference at {generation.rtl_steps * len(args.prompt) - len(generation.rtl_mismatches)} of "
              f"{generation.rtl_steps * len(args.prompt)} generated tokens ({generation.rtl_steps} simulations)")

    print(f"tinylm: the circuit: {figures['adders']:,} adders ({figures['adder_bits']:,} bits), "
          f"{figures['multipliers']:,} multipliers ({figures['multiplier_bits']:,} bits), {figures['tables']:,} tables "
          f"({figures['table_bits']:,} bits), {figures['comparators']:,} comparators")
    if circuit.latency:
        print(f"    pipelined: latency {circuit.latency} clocks, {figures['registers']:,} registers "
              f"({figures['register_bits']:,} bits); 1 window per clock (1 token per clock with {circuit.latency} "
              f"interleaved generations), one generation 1 token per {circuit.latency} clocks")
    else:
        print(f"    combinational: adder depth {figures['adder_depth']} (pipeline it with --max-adder-depth)")

    results = {
        "options": {"weight_bits": args.weight_bits, "act_bits": args.act_bits, "weight_scale": args.weight_scale,
                    "act_percentile": args.act_percentile, "table_codes": args.table_codes,
                    "max_adder_depth": args.max_adder_depth, "calibration_windows": len(calibration),
                    "simulator": None if rtl is None else args.simulator},
        "compile_seconds": round(compile_seconds, 1),
        "teacher_forced": {"windows": len(windows), "float_accuracy": forced.accuracy("float"),
                           "quantized_accuracy": forced.accuracy("reference"), "rtl_accuracy": forced.accuracy("rtl"),
                           "agreement": forced.agreement, "rtl_mismatches": forced.rtl_mismatches},
        "generation": {"chars": args.chars, "float": generation.texts("float"),
                       "circuit": generation.texts("circuit"), "rtl_steps": generation.rtl_steps,
                       "rtl_mismatches": generation.rtl_mismatches},
        "figures": figures,
        "rtl_seconds": None if rtl is None else {"builds": [round(s, 1) for s in rtl.build_seconds],
                                                 "runs": round(rtl.run_seconds, 1)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"tinylm: wrote {args.out} in {results['seconds']:.0f} s")
    exact = rtl is None or (forced.rtl_mismatches == 0 and not generation.rtl_mismatches)
    if not exact:
        print("tinylm: the RTL differs from the reference")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
