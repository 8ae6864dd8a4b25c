"""Simulate a decoder circuit on token streams and compare every emitted token with the window reference.

A stream is one line per clock cycle: `in_valid start x`.  `random_stream`
writes sequences of random lengths (each begun by `start`, so a new
sequence often begins before the last one filled the window), idle cycles
(`in_valid` low, with `start` and `x` set at random: they must be ignored),
tokens past the window's `T` without `start` (ignored, `full` high) and ids
past `V - 1` (read as `V - 1`).  `expected_outputs` is the decoder's
specification (docs/decoder.md): which tokens are taken and, one cycle
later, `out_valid`, `y` = the window function's argmax at the token's row on
its sequence's prefix, `logits` = that row, and `full` on every cycle.
`simulate_decoder` runs the Verilog under Verilator (a generated C++
harness) or Icarus (a generated testbench) and `compare` counts the
mismatches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardcore.sim.icarus import icarus_reset
from hardcore.sim.tools import RESET_CYCLES, SimulationError, fill_template, run_tool, write_if_changed
from hardcore.sim.verilator import VERILATOR_MAKEFLAGS, VERILATOR_PREFIX, verilator_get

__all__ = ["random_stream", "expected_outputs", "simulate_decoder", "compare", "DecoderTrace", "STREAM_FILE",
           "TRACE_FILE"]

STREAM_FILE = "stream.txt"  # in workdir: `in_valid start x(hex)` per cycle
TRACE_FILE = "trace.txt"  # `out_valid y(hex) full logits(hex)` per cycle, and after the last edge
DESIGN_FILE = "design.sv"


@dataclass
class DecoderTrace:
    """What the decoder's outputs are on each cycle of a stream, and one cycle after its last.

    out_valid, full: (cycles + 1,) of 0/1; y: (cycles + 1,) the next token (meaningful where
    out_valid); logits: (cycles + 1, V) integers, or None without a logits port.
    """

    out_valid: np.ndarray
    y: np.ndarray
    full: np.ndarray
    logits: np.ndarray | None
    build_seconds: float = 0.0
    run_seconds: float = 0.0


def random_stream(circuit, tokens: int, rng: np.random.Generator) -> np.ndarray:
    """(cycles, 3) of `in_valid, start, x` holding `tokens` tokens taken or offered (see the module doc)."""
    positions, id_bits = circuit.positions, circuit.in_width
    low, high = circuit.in_range
    cycles = []
    offered = 0
    while offered < tokens:
        length = int(rng.integers(1, positions + 1))
        if rng.random() < 0.25:  # to the end of the window, and past it: the extra tokens are ignored
            length = positions + int(rng.integers(1, 3))
        for index in range(length):
            while rng.random() < 0.25:  # idle: start and x must not matter
                cycles.append((0, int(rng.integers(0, 2)), int(rng.integers(0, 1 << id_bits))))
            token = int(rng.integers(low, high + 1)) if rng.random() < 0.9 else int(rng.integers(0, 1 << id_bits))
            cycles.append((1, int(index == 0), token))
            offered += 1
    return np.array(cycles, dtype=np.int64)


def expected_outputs(circuit, stream: np.ndarray) -> DecoderTrace:
    """The decoder's specification on `stream`: its outputs on every cycle and after the last edge."""
    positions = circuit.positions
    low, high = circuit.in_range
    pos, valid = 0, 0
    out_valid, full, taken = [], [], []  # taken: (cycle, prefix) of each token taken
    sequence: list[int] = []
    for cycle, (in_valid, start, token) in enumerate(stream.tolist()):
        out_valid.append(valid)
        full.append(int(pos == positions))
        valid = int(bool(in_valid) and (bool(start) or pos < positions))
        if valid:
            if start:
                sequence, pos = [], 0
            sequence.append(min(max(token, low), high))  # an id past V - 1 reads row V - 1
            taken.append(list(sequence))
            pos += 1
    out_valid.append(valid)
    full.append(int(pos == positions))
    y = np.zeros(len(out_valid), dtype=np.int64)
    logits = np.zeros((len(out_valid), circuit.vocabulary), dtype=np.int64) if circuit.logits_width else None
    if taken:
        padded = np.zeros((len(taken), positions), dtype=np.int64)
        rows = np.array([len(prefix) - 1 for prefix in taken])
        for index, prefix in enumerate(taken):
            padded[index, :len(prefix)] = prefix
        reference = circuit.reference(padded)[np.arange(len(taken)), rows]  # (tokens, V)
        cycles = np.flatnonzero(np.array(out_valid))  # the cycle after each token taken
        y[cycles] = np.argmax(reference, axis=1)
        if logits is not None:
            logits[cycles] = reference
    return DecoderTrace(np.array(out_valid), y, np.array(full), logits)


def compare(expected: DecoderTrace, actual: DecoderTrace) -> tuple[int, list[str]]:
    """(mismatching cycles, a description of the first few)."""
    bad = (expected.out_valid != actual.out_valid) | (expected.full != actual.full)
    valid = expected.out_valid.astype(bool)
    bad |= valid & (expected.y != actual.y)
    if expected.logits is not None:
        bad |= valid & (expected.logits != actual.logits).any(axis=1)
    notes = []
    for cycle in np.flatnonzero(bad)[:4]:
        what = f"cycle {cycle}: out_valid {actual.out_valid[cycle]} (expected {expected.out_valid[cycle]}), " \
               f"full {actual.full[cycle]} (expected {expected.full[cycle]})"
        if valid[cycle]:
            what += f", y {actual.y[cycle]} (expected {expected.y[cycle]})"
        notes.append(what)
    return int(bad.sum()), notes


# -- simulators ------------------------------------------------------------------------------------

_VERILATOR_HARNESS = r"""// Generated by hardcore.decoder_sim for decoder @TOP@: reads "in_valid start x" per
// cycle, writes "out_valid y full logits" per cycle and after the last edge (hex).
#include <cstdint>
#include <cstdio>
#include <memory>

#include "verilated.h"
#include "@PREFIX@.h"

static const int LOGITS_WORDS = @LOGITS_WORDS@;

static void get_logits(@PREFIX@* dut, uint32_t* words) {
@GET_LOGITS@
}

static void line(@PREFIX@* dut, FILE* out) {
    uint32_t words[LOGITS_WORDS + 1];
    get_logits(dut, words);
    fprintf(out, "%d %llx %d ", (int)dut->out_valid, (unsigned long long)dut->y, (int)dut->full);
    for (int i = LOGITS_WORDS - 1; i >= 0; --i) fprintf(out, "%08x", words[i]);
    fprintf(out, "%s\n", LOGITS_WORDS ? "" : "0");
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s STREAM TRACE\n", argv[0]);
        return 2;
    }
    FILE* in = fopen(argv[1], "r");
    FILE* out = fopen(argv[2], "w");
    if (!in || !out) {
        perror("open");
        return 1;
    }
    auto context = std::make_unique<VerilatedContext>();
    auto dut = std::make_unique<@PREFIX@>(context.get());
    dut->clk = 0;
    dut->rst = 1;
    dut->in_valid = 0;
    dut->start = 0;
    dut->x = 0;
    dut->eval();
    for (int i = 0; i < @RESET_CYCLES@; ++i) {
        dut->clk = 1;
        dut->eval();
        dut->clk = 0;
        dut->eval();
    }
    dut->rst = 0;
    unsigned in_valid, start;
    unsigned long long x;
    while (fscanf(in, "%u %u %llx", &in_valid, &start, &x) == 3) {
        dut->in_valid = in_valid;
        dut->start = start;
        dut->x = x;
        dut->eval();
        line(dut.get(), out);
        dut->clk = 1;
        dut->eval();
        dut->clk = 0;
        dut->eval();
    }
    line(dut.get(), out);
    dut->final();
    fclose(out);
    return 0;
}
"""

_ICARUS_TESTBENCH = r"""// Generated by hardcore.decoder_sim for decoder @TOP@ (see the Verilator harness).
module hardcore_decoder_tb;
  logic clk, rst, in_valid, start;
  logic [@X_BITS@-1:0] x;
  wire out_valid, full;
  wire [@Y_BITS@-1:0] y;
@LOGITS_WIRE@
  integer stream, trace, code, valid_in, start_in;
  logic [63:0] token;
  @TOP@ dut (.clk(clk), .rst(rst), .in_valid(in_valid), .start(start), .x(x), .out_valid(out_valid), .y(y),
@LOGITS_PORT@ .full(full));

  initial begin
    stream = $fopen("@STREAM@", "r");
    trace = $fopen("@TRACE@", "w");
@RESET@
    code = $fscanf(stream, "%d %d %h\n", valid_in, start_in, token);
    while (code == 3) begin
      in_valid = valid_in[0];
      start = start_in[0];
      x = token[@X_BITS@-1:0];
      #1;
      $fwrite(trace, "%0d %h %0d %h\n", out_valid, y, full, @LOGITS@);
      clk = 1;
      #1;
      clk = 0;
      code = $fscanf(stream, "%d %d %h\n", valid_in, start_in, token);
    end
    #1;
    $fwrite(trace, "%0d %h %0d %h\n", out_valid, y, full, @LOGITS@);
    $fclose(trace);
    $finish;
  end
endmodule
"""


def _logits_bits(circuit) -> int:
    return circuit.logits_width * circuit.vocabulary


def _run_verilator(circuit, workdir: Path, progress) -> tuple[float, float]:
    logits_bits = _logits_bits(circuit)
    get_logits = verilator_get("logits", logits_bits) if logits_bits else "    (void)dut;\n    (void)words;"
    harness = fill_template(_VERILATOR_HARNESS, top=circuit.name, prefix=VERILATOR_PREFIX, reset_cycles=RESET_CYCLES,
                            logits_words=(logits_bits + 31) // 32, get_logits=get_logits)
    write_if_changed(workdir / "decoder_harness.cpp", harness)
    command = ["verilator", "--cc", "--exe", "--build", "-Wno-fatal", "-Wno-lint", "-Wno-style",
               "--top-module", circuit.name, "--prefix", VERILATOR_PREFIX, "--Mdir", "verilator_obj",
               "-o", f"{VERILATOR_PREFIX}_decoder", "-j", str(os.cpu_count() or 1)]
    for flag in VERILATOR_MAKEFLAGS:
        command += ["-MAKEFLAGS", flag]
    command += [DESIGN_FILE, "decoder_harness.cpp"]
    if progress:
        progress(f"verilator: building decoder {circuit.name}...")
    build = run_tool(command, cwd=workdir, log_path=workdir / "verilator_build.log", what="verilator build")
    if progress:
        progress("simulating...")
    run = run_tool([str(workdir / "verilator_obj" / f"{VERILATOR_PREFIX}_decoder"), STREAM_FILE, TRACE_FILE],
                   cwd=workdir, log_path=workdir / "verilator_run.log", what="verilator simulation")
    return build, run


def _run_icarus(circuit, workdir: Path, progress) -> tuple[float, float]:
    logits_bits = _logits_bits(circuit)
    testbench = fill_template(_ICARUS_TESTBENCH, top=circuit.name,
                              x_bits=circuit.in_width * int(np.prod(circuit.in_shape)), y_bits=circuit.out_width,
                              stream=STREAM_FILE, trace=TRACE_FILE,
                              reset=icarus_reset("    start = 0;"),
                              logits_wire=f"  wire [{logits_bits}-1:0] logits;" if logits_bits else "",
                              logits_port="    .logits(logits)," if logits_bits else "",
                              logits="logits" if logits_bits else "1'b0")
    (workdir / "decoder_tb.sv").write_text(testbench)
    if progress:
        progress(f"icarus: building decoder {circuit.name}...")
    build = run_tool(["iverilog", "-g2012", "-s", "hardcore_decoder_tb", "-o", "decoder.vvp", DESIGN_FILE,
                  "decoder_tb.sv"], cwd=workdir, log_path=workdir / "icarus_build.log", what="iverilog build")
    if progress:
        progress("simulating...")
    run = run_tool(["vvp", "-n", "decoder.vvp"], cwd=workdir, log_path=workdir / "icarus_run.log",
                   what="icarus simulation")
    return build, run


def _signed(values: np.ndarray, width: int) -> np.ndarray:
    return np.where(values >= 1 << (width - 1), values - (1 << width), values)


def _read_trace(circuit, path: Path, cycles: int) -> DecoderTrace:
    lines = path.read_text().split("\n")[:cycles + 1]
    if len(lines) != cycles + 1:
        raise SimulationError(f"{path}: {len(lines)} lines, expected {cycles + 1}")
    fields = [line.split() for line in lines]
    unknown = [i for i, f in enumerate(fields) if len(f) != 4 or not f[0].isdigit() or not f[2].isdigit() or
               (f[0] == "1" and any(c in f[1] + f[3] for c in "xXzZ"))]
    if unknown:
        raise SimulationError(f"{path}: cycle {unknown[0]} has unknown (x/z) outputs: '{lines[unknown[0]]}'")
    out_valid = np.array([int(f[0]) for f in fields])
    y = np.array([int(f[1], 16) if f[0] == "1" else 0 for f in fields], dtype=np.int64)
    logits = None
    if circuit.logits_width:
        width, size = circuit.logits_width, circuit.vocabulary
        logits = np.zeros((len(fields), size), dtype=np.int64)
        for i, f in enumerate(fields):
            if f[0] == "1":
                value = int(f[3], 16)
                logits[i] = [(value >> (k * width)) & ((1 << width) - 1) for k in range(size)]
        logits = _signed(logits, width)
    return DecoderTrace(out_valid, y, np.array([int(f[2]) for f in fields]), logits)


def simulate_decoder(circuit, stream: np.ndarray, workdir, simulator: str = "verilator",
                     progress=None) -> DecoderTrace:
    """Run the decoder's Verilog on `stream` ((cycles, 3): in_valid, start, x) after RESET_CYCLES edges of rst."""
    if simulator not in ("verilator", "icarus"):
        raise ValueError(f"unknown simulator {simulator!r}; expected verilator or icarus")
    x_bits = circuit.in_width * int(np.prod(circuit.in_shape))
    if x_bits > 64 or circuit.out_width > 64:
        raise SimulationError(f"decoder simulation drives x and reads y of at most 64 bits, not {x_bits} and "
                              f"{circuit.out_width}")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    write_if_changed(workdir / DESIGN_FILE, circuit.verilog)
    (workdir / STREAM_FILE).write_text("".join(f"{v} {s} {x & ((1 << x_bits) - 1):x}\n" for v, s, x in stream.tolist()))
    (workdir / TRACE_FILE).unlink(missing_ok=True)
    run = _run_verilator if simulator == "verilator" else _run_icarus
    build_seconds, run_seconds = run(circuit, workdir, progress)
    trace = _read_trace(circuit, workdir / TRACE_FILE, len(stream))
    trace.build_seconds, trace.run_seconds = build_seconds, run_seconds
    return trace
