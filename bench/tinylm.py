"""What the tiny GPT's window circuit costs to build: compile time and memory per stage, Yosys LUTs per layer.

    python bench/tinylm.py                    # 8 bits; compile, then Yosys on the attention layers of block 0
    python bench/tinylm.py --no-synth         # compile only (about two minutes)
    python bench/tinylm.py --layers 7 --synth-timeout 1200     # one dense layer: 10 minutes, 6 GB

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
3. Cycles per token of the decoder circuit: `decoder_cycles_per_token`, a
   hook for the KV-cache decoder (branch `dechw`), which the lead connects.

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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "tinylm"))

from corpus import splits  # noqa: E402
from generate import CALIBRATION_WINDOWS, calibration_windows, circuit_figures, compile_window  # noqa: E402
from model import TinyLMWindow  # noqa: E402

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


# -- the decoder (connected by the lead) -------------------------------------------------------------

def decoder_cycles_per_token(model, calibration, weight_bits: int, act_bits: int) -> dict | None:
    """LEAD: CONNECT ME to the KV-cache decoder circuit of branch `dechw` (one position per step).

    Should compile `model` as a decoder step circuit, run a greedy generation
    of a few tokens in Verilator, and return {"cycles_per_token": ...,
    "latency_cycles": ..., "adders": ...}.  Until then it returns None and the
    report says "not connected".
    """
    return None


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

    decoder = decoder_cycles_per_token(model, calibration, args.weight_bits, args.act_bits)
    results["decoder"] = decoder if decoder is not None else "not connected"
    print(f"  decoder cycles per token: {'not connected (branch dechw)' if decoder is None else decoder}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tinylm.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"bench/tinylm: wrote {args.out / 'tinylm.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
