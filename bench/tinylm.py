"""What the tiny GPT's circuits cost: the window's compile time, memory and Yosys LUTs; the decoder's cycles per token.

    python bench/tinylm.py                    # 8 bits; compile, then Yosys on the attention layers of block 0
    python bench/tinylm.py --no-synth         # compile, then the decoder in Verilator
    python bench/tinylm.py --layers 7 --synth-timeout 1200     # one dense layer: 10 minutes, 6 GB
    python bench/tinylm.py --no-synth --no-decoder             # the window circuit's compile only

1. Compile: `examples/tinylm`'s `TinyLMWindow` (trained weights of
   out/tinylm/) with `output="argmax"`, calibrated as generate.py does; the
   wall time of each stage (the compiler's progress messages mark them) and
   its peak resident memory (Linux's VmHWM, reset at each stage by writing 5
   to /proc/self/clear_refs).
2. LUTs: the whole window circuit (about 200,000 adders) is far past what
   Yosys maps in a bounded time and memory here (the 8,152-adder projection
   of one attention took 614 s and 6 GB alone, a layer norm 481 s and
   8.5 GB), so each of a few layers is
   mapped on its own: its module (`<name>_layer<k>`, one per layer in the
   Verilog) with `synth -flatten; abc -fast -lut 6`, under a time limit and
   an address-space limit; a layer over either is reported as such, not
   waited for.  By default the first block's attention without its dense
   layers: layer norm, its diagonal weight, Q·Kᵀ, softmax, P·V, residual add.
3. The KV-cache decoder (docs/decoder.md) of the same weights
   (`decoder_figures`): compiled with `decoder=True`, run in Verilator on
   teacher-forced held-out windows and greedy generations, one token a
   clock, every output compared with the reference bit for bit (a mismatch
   is an error, exit status 1); its cycles per token and latency as the
   simulation shows them, adders, multipliers, cache bits, compile time.
   The Verilator build (about 4 minutes at -O0) stays in
   tinylm-decoder/ beside the JSON: a second run of the same circuit skips it.

Writes out/bench/tinylm.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import hardcore
from hardcore.decoder_sim import compare, expected_outputs, simulate_decoder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "tinylm"))

from corpus import splits  # noqa: E402
from generate import CALIBRATION_WINDOWS, calibration_windows, circuit_figures, compile_window  # noqa: E402
from model import TinyLM, TinyLMWindow  # noqa: E402

OUT = ROOT / "out" / "bench"
# Layer indices in the report (0 is the embedding): block 0's norm, norm weight, Q·Kᵀ, softmax, P·V, residual add.
ATTENTION_LAYERS = (1, 2, 4, 5, 6, 8)
SYNTH_TIMEOUT = 900.0                      # seconds per layer
# Bytes of address space per Yosys run (the machine is shared): the layer norm took 8.5 GB resident, and ABC
# crashed (exit 139) under an 8 GB limit.
SYNTH_MEMORY = 16 << 30
_YOSYS_SCRIPT = """\
read_verilog -sv {design}
synth -flatten -top {top}
abc -fast -lut 6
opt_clean
tee -q -o {stat} stat -json
"""
DECODER_SEQUENCES = 64                     # teacher-forced windows, and as many greedy generations
SEED = 0
_MODULE = re.compile(r"^module (\w+)\(.*?^endmodule\n", re.MULTILINE | re.DOTALL)


# -- compile time and memory -------------------------------------------------------------------------

def _peak_rss_mb() -> float:
    """The process's peak resident memory since the last reset (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def profile_compile(model, calibration, **options):
    """(circuit, stages): each stage's name, wall seconds and peak resident MB, in compile order."""
    stages = []
    mark = {"name": "start", "time": time.perf_counter()}

    def close_stage():
        now = time.perf_counter()
        stages.append({"stage": mark["name"], "seconds": round(now - mark["time"], 1),
                       "peak_rss_mb": round(_peak_rss_mb())})
        _reset_peak_rss()
        mark["time"] = now

    def progress(message: str) -> None:
        close_stage()
        mark["name"] = message

    _reset_peak_rss()
    circuit = compile_window(model, calibration, progress=progress, **options)
    close_stage()
    return circuit, stages[1:]   # the first one is the time before the first message


# -- Yosys LUTs ----------------------------------------------------------------------------------------

def layer_modules(verilog: str) -> dict[str, str]:
    """Each module's text by its name (a compiled circuit's layers are `<name>_layer<k>`, each self-contained)."""
    return {match.group(1): match.group(0) for match in _MODULE.finditer(verilog)}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (SYNTH_MEMORY, SYNTH_MEMORY))


def synth_luts(module_text: str, top: str, timeout: float) -> dict:
    """6-LUTs of one module (`synth -flatten; abc -fast -lut 6`); {"timeout": s} or {"error": ...} if it fails."""
    with tempfile.TemporaryDirectory(prefix="tinylm-yosys-") as folder:
        folder = Path(folder)
        (folder / "design.sv").write_text(module_text)
        (folder / "synth.ys").write_text(_YOSYS_SCRIPT.format(design="design.sv", top=top, stat="stat.json"))
        start = time.perf_counter()
        try:
            subprocess.run(["yosys", "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=folder, check=True,
                           capture_output=True, timeout=timeout, preexec_fn=_limit_memory)
        except subprocess.TimeoutExpired:
            return {"timeout": timeout}
        except subprocess.CalledProcessError as error:
            message = (error.stderr.decode(errors="replace") or f"exit status {error.returncode}")[-400:]
            return {"error": f"{message.strip()} (address space limited to {SYNTH_MEMORY >> 30} GB)"}
        seconds = time.perf_counter() - start
        stat = json.loads((folder / "stat.json").read_text())
    design = stat.get("design") or next(iter(stat["modules"].values()))
    cells = design.get("num_cells_by_type", {})
    return {"luts": int(cells.get("$lut", 0)),
            "ffs": sum(int(n) for kind, n in cells.items() if "DFF" in kind),
            "seconds": round(seconds, 1)}


# -- the KV-cache decoder --------------------------------------------------------------------------

def all_positions_model(model: TinyLM) -> TinyLM:
    """`model` (last position only) with the same weights, giving the logits of every position: the decoder's input."""
    attention = model.blocks[0].attention
    full = TinyLM(vocab_size=model.tok.num_embeddings, d_model=model.tok.embedding_dim, n_layer=len(model.blocks),
                  n_head=attention.n_head, context=model.context).eval()
    full.load_state_dict(model.state_dict())
    return full


def decoder_stream(heldout_ids: np.ndarray, positions: int, sequences: int,
                   next_tokens) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, 3) of `in_valid, start, x`, one token a cycle back to back, and (cycles,) True where `x` is a
    generated token fed back.

    First `sequences` teacher-forced windows of held-out text (`positions`
    tokens each), then `sequences` greedy generations: a held-out prompt of
    `positions // 2` tokens, then each next token fed back as the host does
    (`x` = the `y` of the cycle, `in_valid` = `out_valid`) until the window is
    full.  The generated tokens come from `next_tokens` (the reference); the
    simulation must put each of them on `y` in the very cycle it is fed back.
    """
    starts = np.random.default_rng(SEED).choice(len(heldout_ids) - positions, 2 * sequences, replace=False)
    windows = np.stack([heldout_ids[start:start + positions] for start in starts])
    forced, greedy = windows[:sequences], windows[sequences:].copy()
    prompt = positions // 2
    for index in range(prompt, positions):
        greedy[:, index] = next_tokens(greedy[:, :index])[:, -1]
    tokens = np.concatenate([forced, greedy]).reshape(-1)
    first = np.zeros((2 * sequences, positions), dtype=np.int64)
    first[:, 0] = 1
    stream = np.stack([np.ones_like(tokens), first.reshape(-1), tokens], axis=1)
    fed_back = np.zeros((2 * sequences, positions), dtype=bool)
    fed_back[sequences:, prompt:] = True
    return stream, fed_back.reshape(-1)


def _stream_timing(stream: np.ndarray, trace) -> dict:
    """Cycles per token and latency as the trace shows them: the clocks from the first token out to the last,
    over the tokens out; the clocks from the first token in to the first out_valid."""
    offered = np.flatnonzero(stream[:, 0] == 1)
    out = np.flatnonzero(trace.out_valid == 1)
    if not len(out):
        raise RuntimeError("decoder: out_valid never rose in the simulation")
    latency = int(out[0] - offered[0])
    return {"tokens_in": len(offered), "tokens_out": len(out), "cycles": int(out[-1] - offered[0]),
            "cycles_per_token": round(float(out[-1] - out[0] + 1) / len(out), 4),
            "latency_cycles": latency}


def decoder_figures(model, calibration, weight_bits: int, act_bits: int, workdir: Path,
                    sequences: int = DECODER_SEQUENCES) -> dict:
    """Compile `model`'s KV-cache decoder (docs/decoder.md), run it in Verilator and measure it.

    The stream (`decoder_stream`): teacher-forced held-out windows and greedy
    generations, one token a clock.  Every cycle's `out_valid`, `full` and `y`
    must equal the specification (`hardcore.decoder_sim.expected_outputs`: the
    window function's argmax at the token's row, bit for bit), else
    RuntimeError.  Cycles per token and latency come from the simulated trace;
    adders, multipliers, tables and cache bits from the compiled circuit.  The
    Verilator build stays in `workdir`: a second run of the same circuit skips it.
    """
    _, heldout_ids = splits()
    start = time.perf_counter()
    _reset_peak_rss()
    circuit = hardcore.compile(all_positions_model(model), torch.zeros(1, model.context, dtype=torch.long),
                               calibration=calibration, weight_bits=weight_bits, act_bits=act_bits, decoder=True,
                               name="tinylm_decoder")
    compile_seconds = time.perf_counter() - start
    compile_rss = _peak_rss_mb()
    stream, fed_back = decoder_stream(heldout_ids, circuit.positions, sequences, circuit.next_tokens)
    expected = expected_outputs(circuit, stream)
    trace = simulate_decoder(circuit, stream, workdir)
    mismatches, notes = compare(expected, trace)
    if mismatches:
        raise RuntimeError(f"decoder: the RTL differs from the reference on {mismatches} cycles: " + "; ".join(notes))
    fed_back = np.flatnonzero(fed_back)   # y in the cycle a generated token goes back in is that token
    if not np.array_equal(trace.y[fed_back], stream[fed_back, 2]):
        raise RuntimeError("decoder: the RTL's y is not the greedy token fed back")
    report = circuit.report
    return {"positions": circuit.positions, "vocabulary": circuit.vocabulary,
            **_stream_timing(stream, trace),
            "sequences": {"teacher_forced": sequences, "greedy": sequences, "mismatches": mismatches},
            **{key: report.get(key, 0) for key in ("adders", "adder_bits", "adder_depth", "multipliers",
                                                   "multiplier_bits", "tables", "table_entries", "muxes",
                                                   "cache_bits", "register_bits")},
            "verilog_bytes": len(circuit.verilog),
            "compile": {"seconds": round(compile_seconds, 1), "peak_rss_mb": round(compile_rss)},
            "verilator": {"build_seconds": round(trace.build_seconds, 1), "run_seconds": round(trace.run_seconds, 1)}}


# -- the command line ----------------------------------------------------------------------------------

def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weight-bits", type=int, default=8)
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument("--max-adder-depth", type=int, default=None)
    parser.add_argument("--calibration", type=int, default=CALIBRATION_WINDOWS)
    parser.add_argument("--layers", type=int, nargs="*", default=list(ATTENTION_LAYERS),
                        help="the layers to synthesize, by index in the report (default: %(default)s, block 0's "
                             "attention without its dense layers)")
    parser.add_argument("--synth-timeout", type=float, default=SYNTH_TIMEOUT, help="seconds per layer")
    parser.add_argument("--no-synth", action="store_true")
    parser.add_argument("--no-decoder", action="store_true", help="skip the KV-cache decoder")
    parser.add_argument("--out", type=Path, default=OUT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _arguments(argv)
    torch.set_num_threads(1)
    train_ids, _ = splits()
    model = TinyLMWindow().eval()
    calibration = calibration_windows(train_ids, model.context, args.calibration)
    print(f"bench/tinylm: compiling the window circuit at {args.weight_bits}-bit weights, "
          f"{args.act_bits}-bit activations ...")
    circuit, stages = profile_compile(model, calibration, weight_bits=args.weight_bits, act_bits=args.act_bits,
                                      max_adder_depth=args.max_adder_depth)
    print(f"  {'stage':55s} {'seconds':>8s} {'peak MB':>8s}")
    for stage in stages:
        print(f"  {stage['stage']:55s} {stage['seconds']:8.1f} {stage['peak_rss_mb']:8d}")
    total = sum(stage["seconds"] for stage in stages)
    print(f"  {'total':55s} {total:8.1f} {max(stage['peak_rss_mb'] for stage in stages):8d}")
    figures = circuit_figures(circuit)
    results = {"options": {"weight_bits": args.weight_bits, "act_bits": args.act_bits,
                           "max_adder_depth": args.max_adder_depth, "calibration_windows": len(calibration)},
               "compile": {"stages": stages, "seconds": round(total, 1)},
               "figures": figures, "verilog_bytes": len(circuit.verilog)}

    if not args.no_synth:
        modules = layer_modules(circuit.verilog)
        layers = []
        print(f"  Yosys, each layer alone (synth -flatten; abc -fast -lut 6; {args.synth_timeout:.0f} s at most):")
        for index in args.layers:
            top = f"{circuit.name}_layer{index}"
            layer = circuit.layers[index]
            entry = {"layer": index, "kind": layer.get("kind", ""), "adders": layer["adders"],
                     "multipliers": layer.get("multipliers", 0), "tables": layer.get("tables", 0),
                     **synth_luts(modules[top], top, args.synth_timeout)}
            layers.append(entry)
            outcome = (f"{entry['luts']:8d} LUTs in {entry['seconds']:.0f} s" if "luts" in entry else
                       f"over {args.synth_timeout:.0f} s" if "timeout" in entry else "yosys failed")
            print(f"    {index:3d} {entry['kind'][:44]:44s} {entry['adders']:7d} adders  {outcome}", flush=True)
        mapped = [entry for entry in layers if "luts" in entry]
        results["synthesis"] = {"script": "synth -flatten; abc -fast -lut 6", "layers": layers,
                                "luts_of_mapped_layers": sum(entry["luts"] for entry in mapped),
                                "adders_of_mapped_layers": sum(entry["adders"] for entry in mapped)}
        print(f"  {len(mapped)} of {len(layers)} layers mapped: {results['synthesis']['luts_of_mapped_layers']:,} "
              f"LUTs for {results['synthesis']['adders_of_mapped_layers']:,} adders")

    if not args.no_decoder:
        print("  the KV-cache decoder: compile, then Verilator ...", flush=True)
        try:
            decoder = decoder_figures(model, calibration, args.weight_bits, args.act_bits,
                                      args.out / "tinylm-decoder")
        except RuntimeError as error:
            print(f"bench/tinylm: {error}", file=sys.stderr)
            return 1
        results["decoder"] = decoder
        print(f"  decoder: {decoder['tokens_out']} tokens out ({decoder['sequences']['teacher_forced']} teacher-forced "
              f"windows, {decoder['sequences']['greedy']} greedy generations), 0 mismatches; "
              f"{decoder['cycles_per_token']} cycles per token, latency {decoder['latency_cycles']} "
              f"cycle{'' if decoder['latency_cycles'] == 1 else 's'}; "
              f"{decoder['adders']:,} adders, {decoder['multipliers']:,} multipliers, {decoder['cache_bits']:,} cache "
              f"bits; compile {decoder['compile']['seconds']} s, Verilator build "
              f"{decoder['verilator']['build_seconds']} s, run {decoder['verilator']['run_seconds']} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tinylm.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"bench/tinylm: wrote {args.out / 'tinylm.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
