"""Time-multiplexed dense layers on the README's MLP: figures against R for each realization, every one checked.

    python bench/reuse.py                      # R = 1, 2, 4, 8; mux and rom; 300 vectors each in Icarus
    python bench/reuse.py --reuse 4 --vectors 50 --realizations mux
    python bench/reuse.py --synth              # and Yosys LUTs: out/reuse/reuse.{json,csv,png}

The 16-64-32-5 MLP of `examples/mlp.py`, trained as in the tests
(`train_mlp(seed=0, steps=300)`, calibrated on 512 of its inputs).  R = 1 is
the fully parallel circuit (`hardcore.compile` without reuse), simulated in
Icarus one vector a clock through `hardcore.sim`; every other row is
`hardcore-time-multiplex{reuse=R realization=...}` wrapped by
`hardcore.time_multiplex`, its inputs back to back in Icarus (a new one at
every in_ready).  Every output is compared with `Circuit.reference` bit for
bit; a mismatch exits 1.  Register bits count the wrapper's registers (the
cycle counter, x, the filling and output registers, the valid chain); the
fully parallel circuit has none.  Prints a Markdown table (docs/streaming.md).

`--synth` runs Yosys on each design, one at a time: `synth -flatten -top mlp;
abc -fast -lut 6` (the full `abc -lut 6` of `hardcore report --synth` does not
finish the larger designs), each bounded by `--timeout` seconds; a design that
runs out of time is recorded as "timeout".  After every design it rewrites
`reuse.json` (every figure), `reuse.csv` (the table) and `reuse.png` (adders and
LUTs against R, a line per realization, R = 1 the fully parallel point) in `--out`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import hardcore  # noqa: E402
from hardcore.mlir import new_context, parse_module  # noqa: E402
from hardcore.passes import TimeMultiplexPass  # noqa: E402
from hardcore.pipeline import run_pipeline  # noqa: E402
from hardcore.sim import SimulationError, simulate  # noqa: E402
from hardcore.sim.tools import run_tool  # noqa: E402
from hardcore.time_multiplex import build_time_multiplexed, simulate_stream  # noqa: E402
from mlp import train_mlp  # noqa: E402


def _multiplexed(circuit, reuse: int, realization: str):
    """The fully parallel circuit's quantized stage through hardcore-time-multiplex, wrapped."""
    module = parse_module(circuit.stages["quantized"], new_context())
    instance = TimeMultiplexPass(reuse=reuse, realization=realization)
    run_pipeline(module, instance.name, overrides={instance.name: instance})
    stages = {"quantized": circuit.stages["quantized"], "steps": str(module)}
    return build_time_multiplexed(module, circuit.name, stages, {**circuit.options, "reuse": reuse})


_YOSYS = "read_verilog -sv design.sv; synth -flatten -top {top}; abc -fast -lut 6; tee -q -o stat.json stat -json"
COLUMNS = ("R", "realization", "adders", "adder_bits", "muxes", "multipliers", "multiplier_bits", "tables",
           "table_entries", "register_bits", "luts", "ffs", "yosys_seconds", "cycles_per_inference", "latency",
           "vectors", "mismatches")


def _synth(circuit, workdir: Path, timeout: float) -> dict:
    """Yosys LUTs and flip-flops of the circuit, or {"luts": "timeout"} past `timeout` seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "design.sv").write_text(circuit.verilog)
    command = ["yosys", "-q", "-l", "yosys.log", "-p", _YOSYS.format(top=circuit.name)]
    try:
        seconds = run_tool(command, cwd=workdir, log_path=workdir / "yosys.out", what="yosys", timeout=timeout)
    except SimulationError as error:
        if "timed out" not in str(error):
            raise
        return {"luts": "timeout", "ffs": "timeout", "yosys_seconds": f">{timeout:g}"}
    stat = json.loads((workdir / "stat.json").read_text())["design"]["num_cells_by_type"]
    return {"luts": int(stat.get("$lut", 0)), "ffs": sum(int(n) for kind, n in stat.items() if "DFF" in kind),
            "yosys_seconds": round(seconds)}


def _write(rows: list[dict], out: Path) -> None:
    """reuse.json, reuse.csv and reuse.png in `out` from the rows so far."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "reuse.json").write_text(json.dumps(rows, indent=1) + "\n")
    with open(out / "reuse.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    parallel = [row for row in rows if row["R"] == 1]
    for axis, key, title in ((axes[0], "adders", "adders"), (axes[1], "luts", "LUTs (Yosys, abc -fast -lut 6)")):
        for realization, marker in (("mux", "o"), ("rom", "s")):
            points = [(row["R"], row[key]) for row in parallel + [r for r in rows if r["realization"] == realization]
                      if isinstance(row.get(key), int)]
            if len(points) > (1 if parallel else 0):
                axis.plot(*zip(*points), marker=marker, label=realization)
        for row in parallel:
            if isinstance(row.get(key), int):
                axis.plot([1], [row[key]], "k*", markersize=10, label="fully parallel")
        axis.set_xscale("log", base=2)
        axis.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
        axis.set_xlabel("reuse R (cycles per inference)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    figure.suptitle("16-64-32-5 MLP, 8-bit: time-multiplexed dense layers")
    figure.tight_layout()
    figure.savefig(out / "reuse.png", dpi=80)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--realizations", nargs="+", default=["mux", "rom"])
    parser.add_argument("--vectors", type=int, default=300)
    parser.add_argument("--synth", action="store_true", help="Yosys LUTs of every design, one at a time")
    parser.add_argument("--timeout", type=float, default=420, help="seconds Yosys may take per design")
    parser.add_argument("--skip", nargs="*", default=[], metavar="R:REALIZATION",
                        help="designs not to synthesize (e.g. 2:rom), recorded as 'not run'")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "reuse")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, (inputs, _) = train_mlp(seed=0, steps=300)
    parallel = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy())
    rng = np.random.default_rng(0)
    low, high = parallel.in_range
    x = rng.integers(low, high + 1, (args.vectors, parallel.n_in))
    expected = parallel.reference(x)
    print("| R | realization | adders | adder bits | muxes | multipliers (bits) | tables (entries) | register bits "
          + ("| LUTs " if args.synth else "") + "| cycles per inference | latency | Icarus: vectors, mismatches |")
    print("|" + " --- |" * (12 if args.synth else 11))
    failed = False
    records = []
    for reuse in args.reuse:
        with tempfile.TemporaryDirectory() as workdir:
            if reuse == 1:
                circuit = parallel
                result = simulate(circuit.verilog, circuit.name, x, n_in=circuit.n_in, in_width=circuit.in_width,
                                  n_out=circuit.n_out, out_width=circuit.out_width, workdir=workdir,
                                  simulator="icarus")
                rows = [("fully parallel (cse)", circuit, result.outputs, 1, 0)]
            else:
                rows = []
                for realization in args.realizations:
                    circuit = _multiplexed(parallel, reuse, realization)
                    start = time.time()
                    result = simulate_stream(circuit, x, Path(workdir) / realization, simulator="icarus")
                    print(f"R = {reuse} {realization}: Icarus {time.time() - start:.0f} s", file=sys.stderr)
                    if result.interval != reuse or result.latency != circuit.latency:
                        print(f"R = {reuse} {realization}: interval {result.interval}, latency {result.latency}",
                              file=sys.stderr)
                        failed = True
                    rows.append((realization, circuit, result.outputs, reuse, circuit.latency))
        for label, circuit, outputs, cycles, latency in rows:
            mismatches = int(np.any(outputs != expected, axis=1).sum())
            failed |= mismatches > 0
            f = circuit.figures
            record = {"R": reuse, "realization": label, "adders": f["adders"], "adder_bits": f["adder_bits"],
                      "muxes": f.get("muxes", 0), "multipliers": f.get("multipliers", 0),
                      "multiplier_bits": f.get("multiplier_bits", 0), "tables": f["tables"],
                      "table_entries": f["table_entries"], "register_bits": f.get("register_bits", 0),
                      "cycles_per_inference": cycles, "latency": latency, "vectors": len(outputs),
                      "mismatches": mismatches}
            if args.synth:
                if f"{reuse}:{label}" in args.skip:
                    record.update(luts="not run", ffs="not run", yosys_seconds="")
                else:
                    with tempfile.TemporaryDirectory() as workdir:
                        record.update(_synth(circuit, Path(workdir), args.timeout))
                    print(f"R = {reuse} {label}: Yosys {record['yosys_seconds']} s", file=sys.stderr)
            records.append(record)
            if args.synth:
                _write(records, args.out)
            print(f"| {reuse} | {label} | {f['adders']} | {f['adder_bits']} | {f.get('muxes', 0)} | "
                  f"{f.get('multipliers', 0)} ({f.get('multiplier_bits', 0)}) | {f['tables']} ({f['table_entries']}) | "
                  f"{f.get('register_bits', 0)} | " + (f"{record['luts']} | " if args.synth else "") +
                  f"{cycles} | {latency} | {len(outputs)}, {mismatches} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
