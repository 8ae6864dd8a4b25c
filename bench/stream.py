"""Streamed ResNet-8 (examples/resnet8.py): compile time and memory against image size, and the circuit's figures.

    python bench/stream.py                         # 16x16, 32x32 and 64x64 inputs, one process each
    python bench/stream.py --sizes 32 --verilator 100 --stall 25   # ... and 100 images through Verilator
    python bench/stream.py --sizes 32 --synth --timeout 900        # ... and Yosys LUTs per node (slow)

`--synth` runs Yosys (`synth; abc -lut 6`, as `hardcore report --synth`) on each node's
step module alone, smallest first, each within `--timeout` seconds; the wrapper (line
buffers, FIFOs, handshake) is registers and counters, not counted there.

Each size compiles in a fresh process (peak RSS is per process) with
`hardcore.compile(..., stream=True)` and 64 CIFAR-like calibration images.
Prints, per size: compile seconds, peak RSS, adders, line-buffer and FIFO
bits, cycles per image, images/s at 200 MHz, and the *fully parallel
estimate*: each node's adders times the positions it is applied at (what
unrolling the convolutions would cost, before any sharing across positions).
With `--verilator N`, N images go through the Verilog pixel by pixel with
`--stall` percent random stalls on both sides and every output is compared
with the reference.  Writes out/stream/bench.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "stream"


def parallel_estimate(nodes: list[dict]) -> int:
    """Adders if every node's step were built at every position it serves (the unrolled circuit, unshared)."""
    total = 0
    for node in nodes:
        if node["kind"] == "tail":
            total += node["adders"]
        else:
            _, rows, columns = node["grid"]
            total += node["adders"] * rows * columns
    return total


def measure(size: int, verilator: int, stall: int, synth: bool, timeout: float | None) -> dict:
    """One compile of ResNet8 at size x size, in this process."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT / "examples"))
    import hardcore
    from resnet8 import ResNet8, calibration

    shape = (3, size, size)
    model = ResNet8()
    marks = []  # (seconds, what hardcore.compile started then)
    start = time.time()
    circuit = hardcore.compile(model, torch.zeros(1, *shape), calibration=calibration(64, shape), stream=True,
                               name=f"resnet8_{size}",
                               progress=lambda message: marks.append((time.time() - start, message)))
    seconds = time.time() - start
    marks.append((seconds, "done"))
    stages = {what: round(marks[k + 1][0] - when, 1) for k, (when, what) in enumerate(marks[:-1])}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = OUT / f"resnet8_{size}"
    circuit.write(out)
    report = circuit.report
    row = {"size": size, "compile_seconds": round(seconds, 1), "stage_seconds": stages, "peak_rss_mb": round(rss),
           "adders": report["adders"], "parallel_estimate_adders": parallel_estimate(circuit.nodes),
           "line_buffer_bits": report["line_buffer_bits"], "fifo_bits": report["fifo_bits"],
           "cycles_per_image": circuit.cycles_per_frame,
           "images_per_second_200mhz": round(200e6 / circuit.cycles_per_frame),
           "verilog_bytes": len(circuit.verilog),
           "nodes": [{k: node[k] for k in ("node", "kind", "adders", "grid", "line_buffer_bits", "fifo_depths",
                                             "kinds") if k in node} for node in circuit.nodes]}
    if verilator:
        from hardcore.stream import simulate_frames
        x = circuit.quantize_input(calibration(verilator, shape, seed=7))
        sim_start = time.time()
        result = simulate_frames(circuit, x, out / "sim", stall=stall)
        row.update(verilator_images=verilator, stall_percent=stall,
                   mismatches=int(np.any(result.outputs != circuit.reference(x), axis=1).sum()),
                   frame_error=result.frame_error, simulated_cycles_per_image=round(result.cycles_per_frame, 1),
                   verilator_seconds=round(time.time() - sim_start, 1))
    if synth:
        row["node_luts"] = node_luts(circuit, out / "synth", timeout)
    return row


def node_luts(circuit, workdir: Path, timeout: float | None) -> list[dict]:
    """Yosys LUTs of each node's step module on its own (the same flow as `hardcore report --synth`),
    smallest first; a node Yosys does not finish within `timeout` seconds is recorded as such."""
    from hardcore.sim import SimulationError, synth_report

    results = []
    for node in sorted(circuit.nodes, key=lambda n: n["adders"]):
        module = f"{circuit.name}_node{node['node']}"
        entry = {"node": node["node"], "kind": node["kind"], "adders": node["adders"],
                 "adder_bits": node["adder_bits"]}
        try:
            figures = synth_report(circuit.verilog, module, workdir=workdir / module, timeout=timeout)
            entry.update(luts=figures["luts"], logic_levels=figures["logic_levels"],
                         yosys_seconds=round(figures["seconds"]))
        except SimulationError as error:
            entry["luts"] = "timeout" if "timed out" in str(error) else "failed"
        print(f"  node {node['node']} ({node['kind']}, {node['adders']} adders): {entry['luts']} LUTs",
              file=sys.stderr, flush=True)
        results.append(entry)
    return sorted(results, key=lambda entry: entry["node"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16,32,64", help="image sizes (default %(default)s)")
    parser.add_argument("--verilator", type=int, default=0, metavar="N", help="simulate N images (default none)")
    parser.add_argument("--stall", type=int, default=25, help="percent of random stalls in simulation")
    parser.add_argument("--synth", action="store_true", help="Yosys LUTs per node, folded and '*' (slow)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds Yosys may take per design")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size here
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one, args.verilator, args.stall, args.synth, args.timeout)))
        return 0
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--one", str(size), "--verilator", str(args.verilator),
                   "--stall", str(args.stall)] + (["--synth"] if args.synth else []) + \
            (["--timeout", str(args.timeout)] if args.timeout else [])
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode:
            print(run.stderr[-3000:], file=sys.stderr)
            return 1
        row = json.loads(run.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{size}x{size}: compile {row['compile_seconds']} s, peak RSS {row['peak_rss_mb']} MB, "
              f"{row['adders']} adders (fully parallel estimate {row['parallel_estimate_adders']}, "
              f"{row['parallel_estimate_adders'] / row['adders']:.0f}x), line buffers {row['line_buffer_bits']} bits, "
              f"FIFOs {row['fifo_bits']} bits, {row['cycles_per_image']} cycles per image "
              f"({row['images_per_second_200mhz']:,} images/s at 200 MHz)"
              + (f"; Verilator: {row['verilator_images'] - row['mismatches']} of {row['verilator_images']} images "
                 f"bit-exact with {row['stall_percent']}% stalls, {row['simulated_cycles_per_image']} cycles per image"
                 if "mismatches" in row else "")
              + "\n    stages: " + ", ".join(f"{what} {sec} s" for what, sec in row["stage_seconds"].items())
              + ("\n    Yosys LUTs per node: " + ", ".join(f"{n['node']}: {n['luts']}" for n in row["node_luts"])
                 if "node_luts" in row else ""), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {OUT / 'bench.json'}")
    failed = any(row.get("mismatches") or row.get("frame_error") for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
