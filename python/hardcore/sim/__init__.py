"""Simulate and synthesize generated circuits: SystemVerilog text in, numbers out.

`simulate` runs a design under Verilator (a generated C++ harness) or Icarus
Verilog (a generated SystemVerilog testbench) on a batch of integer input
vectors and returns the outputs as a numpy array; `synth_report` runs Yosys
and returns cell, LUT and logic-level counts.

Every design follows one port convention.  The top module has a packed input
`x` of `n_in * in_width` bits, element i at `x[i*in_width +: in_width]`, and a
packed output `y` of `n_out * out_width` bits laid out the same way; both
hold two's complement integers.  A combinational design has only `x` and `y`.
A pipelined design adds `clk`, `rst` (synchronous, active high, clears the
valid chain), `in_valid`, `out_valid` and optionally `ce` (clock enable); an
input taken with `in_valid` at a rising edge is on `y` with `out_valid` set
`latency` rising edges later, and a new input may enter at every edge.

A design with several input ports (`x0`, `x1`, ...) or output ports (`y0`, ...),
each of its own element width, goes through `simulate_ports`: a wrapper module
packs them into one `x` and one `y` of the widest element, and the outputs come
back one array per port.

Vectors travel through files in `workdir` (one hex line per vector, most
significant digit first, element 0 in the lowest bits), so both simulators
read and write the same format and every build product stays in `workdir`.
"""


from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from hardcore.sim.icarus import run_icarus
from hardcore.sim.tools import (DESIGN_FILE, INPUTS_FILE, OUTPUTS_FILE, RESET_CYCLES, SIMULATORS, TOOL_EXECUTABLES,
                                HarnessSpec, Progress, SimulationError, check_identifier, tool_available,
                                write_if_changed)
from hardcore.sim.vectors import check_inputs, encode_hex, read_outputs
from hardcore.sim.verilator import VERILATOR_MAKEFLAGS, VERILATOR_PREFIX, run_verilator
from hardcore.sim.yosys import ABC_FRAIG_CONFLICTS, prepare_yosys_workdir, synth_report

__all__ = [
    "ABC_FRAIG_CONFLICTS",
    "DESIGN_FILE",
    "INPUTS_FILE",
    "OUTPUTS_FILE",
    "Progress",
    "RESET_CYCLES",
    "SIMULATORS",
    "SimResult",
    "TOOL_EXECUTABLES",
    "VERILATOR_MAKEFLAGS",
    "VERILATOR_PREFIX",
    "SimulationError",
    "simulate",
    "simulate_ports",
    "prepare_yosys_workdir",
    "synth_report",
    "tool_available",
]


@dataclass
class SimResult:
    """The outcome of `simulate`.

    outputs: int64 array (N, n_out), each element sign-extended from out_width.
    cycles: rising edges from the one that takes the first input through the
        one at which the last output is read, inclusive: N + latency for a
        design that takes inputs back to back.  0 for combinational designs.
    throughput: outputs per cycle while outputs were coming out,
        N / (cycle of last output - cycle of first output + 1); 1.0 for a
        design that accepts (and so delivers) one vector per cycle.  For a
        combinational design, 1.0 by definition (one vector per evaluation).
    latency: the measured latency (equal to the requested one, or simulate
        raises); None for combinational designs.
    build_seconds, run_seconds: wall time of the build and of the run.
    """

    outputs: np.ndarray
    cycles: int
    throughput: float
    latency: Optional[int]
    build_seconds: float
    run_seconds: float



def simulate(
    sv_text: str,
    top: str,
    inputs,
    *,
    n_in: int,
    in_width: int,
    n_out: int,
    out_width: int,
    latency: Optional[int] = None,
    clock_enable: bool = False,
    workdir: str | os.PathLike,
    simulator: str = "verilator",
    progress: Progress = None,
) -> SimResult:
    """Run `inputs` (N, n_in) through module `top` of `sv_text`; see the module doc.

    latency=None simulates a combinational design: each vector is applied to
    `x` and `y` read after it settles.  An integer simulates a pipelined one:
    RESET_CYCLES edges with rst=1, then one vector per rising edge with
    in_valid=1, back to back, clocking on until N outputs with out_valid=1
    have been read.  Raises SimulationError if out_valid first rises other
    than `latency` edges after the first input, or if fewer than N outputs
    come out within latency + max(16, latency) edges after the last input.
    With clock_enable the design's `ce` is held at 1.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; expected one of {SIMULATORS}")
    check_identifier(top)
    for name, width in (("in_width", in_width), ("out_width", out_width)):
        if not 1 <= width <= 64:
            raise ValueError(f"{name} must be between 1 and 64, got {width}")
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be positive, got {n_in} and {n_out}")
    if latency is not None and latency < 0:
        raise ValueError(f"latency must be >= 0, got {latency}")
    vectors = check_inputs(inputs, n_in, in_width)
    n_vectors = len(vectors)

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    spec = HarnessSpec(
        top=top,
        in_bits=n_in * in_width,
        out_bits=n_out * out_width,
        latency=latency,
        clock_enable=clock_enable,
    )
    # Enough edges for every output to come out, plus slack so a design that
    # is a little slow fails on its latency check rather than the cycle cap.
    max_cycles = 0 if latency is None else n_vectors + latency + max(16, latency)

    write_if_changed(workdir / DESIGN_FILE, sv_text)
    (workdir / INPUTS_FILE).write_bytes(encode_hex(vectors, in_width))
    outputs_path = workdir / OUTPUTS_FILE
    outputs_path.unlink(missing_ok=True)

    if simulator == "verilator":
        build_seconds, run_seconds = run_verilator(spec, workdir, n_vectors, max_cycles, progress)
    else:
        build_seconds, run_seconds = run_icarus(spec, workdir, n_vectors, max_cycles, progress)

    cycles, outputs = read_outputs(outputs_path, n_out, out_width)
    if latency is None:
        if len(outputs) != n_vectors:
            raise SimulationError(
                f"{simulator}: expected {n_vectors} outputs in {outputs_path}, got {len(outputs)}"
            )
        return SimResult(outputs, 0, 1.0, None, build_seconds, run_seconds)

    if len(cycles) == 0:
        raise SimulationError(
            f"{simulator}: out_valid never rose within {max_cycles} cycles "
            f"(expected latency {latency})"
        )
    if cycles[0] != latency:
        raise SimulationError(
            f"{simulator}: out_valid first rose {cycles[0]} cycles after the first input; "
            f"expected latency {latency}"
        )
    if len(outputs) != n_vectors:
        raise SimulationError(
            f"{simulator}: only {len(outputs)} of {n_vectors} outputs had out_valid "
            f"within {max_cycles} cycles"
        )
    last_cycle = int(cycles[-1])
    throughput = n_vectors / (last_cycle - int(cycles[0]) + 1)
    return SimResult(outputs, last_cycle + 1, throughput, int(cycles[0]), build_seconds, run_seconds)


def simulate_ports(sv_text: str, top: str, inputs: Sequence, *, in_ports: Sequence[tuple[str, int, int]],
                   out_ports: Sequence[tuple[str, int, int]], latency: Optional[int] = None,
                   clock_enable: bool = False, workdir: str | os.PathLike, simulator: str = "verilator",
                   progress: Progress = None) -> SimResult:
    """`simulate` for a design with several input or output ports; its `outputs` a tuple, one array per port.

    `in_ports` and `out_ports` are (name, elements, element width) in port order;
    `inputs` one array (N, elements) per input port.  A wrapper module, `<top>_ports`,
    gives the harness one `x` and one `y` whose elements are the widest of the
    ports': input element i of port p is the low bits of wrapper element
    (p's offset + i), and each output element is sign-extended to the wrapper's.
    """
    if len(inputs) != len(in_ports):
        raise ValueError(f"expected {len(in_ports)} input arrays, one per port, got {len(inputs)}")
    in_width, out_width = max(w for _, _, w in in_ports), max(w for _, _, w in out_ports)
    arrays = [check_inputs(values, n, w) for values, (_, n, w) in zip(inputs, in_ports)]
    wrapper = f"{top}_ports"
    check_identifier(wrapper)
    n_in, n_out = sum(n for _, n, _ in in_ports), sum(n for _, n, _ in out_ports)
    lines = [f"module {wrapper} ("]
    ports = []
    if latency is not None:
        ports += ["input wire clk", "input wire rst", "input wire in_valid", "output wire out_valid"]
        ports += ["input wire ce"] if clock_enable else []
    ports += [f"input wire [{n_in * in_width - 1}:0] x", f"output wire [{n_out * out_width - 1}:0] y"]
    lines.append(",\n".join(f"  {port}" for port in ports) + "\n);")
    connections = [f".{name}({name})" for name in ("clk", "rst", "in_valid", "out_valid")] if latency is not None \
        else []
    connections += [".ce(ce)"] if latency is not None and clock_enable else []
    offset = 0
    for name, count, width in in_ports:
        lines.append(f"  wire [{count * width - 1}:0] {name}_port;")
        lines += [f"  assign {name}_port[{i * width + width - 1}:{i * width}] = "
                  f"x[{(offset + i) * in_width + width - 1}:{(offset + i) * in_width}];" for i in range(count)]
        connections.append(f".{name}({name}_port)")
        offset += count
    offset = 0
    for name, count, width in out_ports:
        lines.append(f"  wire [{count * width - 1}:0] {name}_port;")
        for i in range(count):
            element = f"{name}_port[{i * width + width - 1}:{i * width}]"
            sign = f"{{{out_width - width}{{{name}_port[{i * width + width - 1}]}}}}, " if out_width > width else ""
            lines.append(f"  assign y[{(offset + i) * out_width + out_width - 1}:{(offset + i) * out_width}] = "
                         f"{{{sign}{element}}};")
        connections.append(f".{name}({name}_port)")
        offset += count
    lines += [f"  {top} wrapped ({', '.join(connections)});", "endmodule", ""]
    result = simulate(sv_text + "\n" + "\n".join(lines), wrapper, np.concatenate(arrays, axis=1), n_in=n_in,
                      in_width=in_width, n_out=n_out, out_width=out_width, latency=latency,
                      clock_enable=clock_enable, workdir=workdir, simulator=simulator, progress=progress)
    outputs, start = [], 0
    for _, count, width in out_ports:
        outputs.append(result.outputs[:, start:start + count])
        start += count
    result.outputs = tuple(outputs)
    return result

