"""Time-multiplexed dense layers on the README's MLP: figures against R for each realization, every one checked.

    python bench/reuse.py                      # R = 1, 2, 4, 8; mux and rom; 300 vectors each in Icarus
    python bench/reuse.py --reuse 4 --vectors 50 --realizations mux

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
"""

from __future__ import annotations

import argparse
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
from hardcore.sim import simulate  # noqa: E402
from hardcore.time_multiplex import build_time_multiplexed, simulate_stream  # noqa: E402
from mlp import train_mlp  # noqa: E402


def _multiplexed(circuit, reuse: int, realization: str):
    """The fully parallel circuit's quantized stage through hardcore-time-multiplex, wrapped."""
    module = parse_module(circuit.stages["quantized"], new_context())
    instance = TimeMultiplexPass(reuse=reuse, realization=realization)
    run_pipeline(module, instance.name, overrides={instance.name: instance})
    stages = {"quantized": circuit.stages["quantized"], "steps": str(module)}
    return build_time_multiplexed(module, circuit.name, stages, {**circuit.options, "reuse": reuse})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--realizations", nargs="+", default=["mux", "rom"])
    parser.add_argument("--vectors", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, (inputs, _) = train_mlp(seed=0, steps=300)
    parallel = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy())
    rng = np.random.default_rng(0)
    low, high = parallel.in_range
    x = rng.integers(low, high + 1, (args.vectors, parallel.n_in))
    expected = parallel.reference(x)
    print("| R | realization | adders | adder bits | muxes | multipliers (bits) | tables (entries) | register bits "
          "| cycles per inference | latency | Icarus: vectors, mismatches |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    failed = False
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
            print(f"| {reuse} | {label} | {f['adders']} | {f['adder_bits']} | {f.get('muxes', 0)} | "
                  f"{f.get('multipliers', 0)} ({f.get('multiplier_bits', 0)}) | {f['tables']} ({f['table_entries']}) | "
                  f"{f.get('register_bits', 0)} | {cycles} | {latency} | {len(outputs)}, {mismatches} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
