"""A Yosys iCE40 netlist (SB_LUT4, SB_CARRY, SB_DFF* cells) in Icarus against the circuit's reference.

The netlist `write_verilog` leaves after `synth_ice40` is simulated with
Yosys' own models of the iCE40 cells (`cells_sim.v`) through the same
testbench `hardcore.sim.simulate` gives the RTL, on random vectors (the
first three the all-minimum, all-maximum and alternating inputs, as
`hardcore sim` uses), and compared bit for bit with `Circuit.reference`:
the gate-level check that synthesis kept the function.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import numpy as np

from hardcore.errors import UsageError
from hardcore.sim import Progress, SimulationError, simulate

__all__ = ["cells_sim_path", "random_vectors", "simulate_netlist", "check_netlist"]

# The cell models' default port values are SystemVerilog that Icarus 11 rejects; the netlist drives every
# input it uses, so the models go without them.
_ICARUS_PREAMBLE = "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n"


def cells_sim_path() -> Path:
    """Yosys' iCE40 cell models: `<yosys prefix>/share/yosys/ice40/cells_sim.v`."""
    candidates = []
    yosys = shutil.which("yosys")
    if yosys:
        candidates.append(Path(yosys).resolve().parent.parent / "share" / "yosys" / "ice40" / "cells_sim.v")
    candidates.append(Path("/usr/share/yosys/ice40/cells_sim.v"))
    for path in candidates:
        if path.exists():
            return path
    raise SimulationError("cannot find Yosys' iCE40 cell models (share/yosys/ice40/cells_sim.v beside yosys)")


def random_vectors(circuit, count: int, seed: int = 0) -> np.ndarray:
    """`count` inputs in the circuit's range: the all-minimum, all-maximum and alternating ones, then random."""
    if count < 1:
        raise UsageError(f"--vectors must be positive, got {count}")
    rng = np.random.default_rng(seed)
    low, high = circuit.in_range
    inputs = rng.integers(low, high + 1, size=(count, circuit.n_in))
    extremes = [[low] * circuit.n_in, [high] * circuit.n_in, [low if i % 2 else high for i in range(circuit.n_in)]]
    inputs[: min(3, count)] = extremes[: min(3, count)]
    return inputs


def simulate_netlist(netlist: str, circuit, inputs, workdir, progress: Progress = None) -> np.ndarray:
    """The netlist's outputs for `inputs` (what `reference` takes), as `reference` returns them."""
    design = _ICARUS_PREAMBLE + cells_sim_path().read_text() + "\n" + netlist
    result = simulate(design, circuit.name, circuit.to_port(inputs), n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, latency=circuit.latency or None,
                      clock_enable=circuit.clock_enable, workdir=workdir, simulator="icarus", progress=progress)
    return circuit.from_port(result.outputs)


def check_netlist(netlist_path, circuit, vectors: int, workdir, seed: int = 0,
                  progress: Progress = None) -> dict:
    """Simulate the netlist at `netlist_path` on `vectors` inputs; {"vectors", "mismatches", "first_mismatch"}."""
    inputs = random_vectors(circuit, vectors, seed)
    outputs = simulate_netlist(Path(netlist_path).read_text(), circuit, inputs, workdir, progress)
    expected = circuit.reference(inputs)
    wrong = np.flatnonzero(np.any(outputs != expected, axis=1))
    first: Optional[dict] = None
    if len(wrong):
        index = int(wrong[0])
        first = {"vector": index, "x": inputs[index].tolist(), "netlist": outputs[index].tolist(),
                 "reference": expected[index].tolist()}
    return {"vectors": vectors, "mismatches": int(len(wrong)), "first_mismatch": first}
