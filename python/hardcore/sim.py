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

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from hardcore.errors import HardcoreError

__all__ = [
    "SimResult",
    "SimulationError",
    "simulate",
    "simulate_ports",
    "prepare_yosys_workdir",
    "synth_report",
    "tool_available",
]

SIMULATORS = ("verilator", "icarus")

# Executables each name in `tool_available` needs: Verilator's --build runs
# make and a C++ compiler; Icarus is a compiler (iverilog) plus a runtime (vvp).
TOOL_EXECUTABLES = {
    "verilator": (("verilator",), ("make",), ("c++", "g++", "clang++")),
    "iverilog": (("iverilog",), ("vvp",)),
    "icarus": (("iverilog",), ("vvp",)),
    "yosys": (("yosys",),),
}

# Rising edges with rst=1 before the first input.
RESET_CYCLES = 2

# Verilator's default -O2/-O3 C++ build of narrow-width designs takes minutes;
# -O0 builds in seconds and a simulation of a few thousand vectors does not
# notice the difference.
VERILATOR_MAKEFLAGS = ("OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")

# The Verilator model class is always Vdut (via --prefix) so the harness does
# not depend on the design's module name.
VERILATOR_PREFIX = "Vdut"

# Lines of a failing tool's output quoted in a SimulationError.
ERROR_TAIL_LINES = 40

# File names inside workdir.
DESIGN_FILE = "design.sv"
INPUTS_FILE = "inputs.hex"
OUTPUTS_FILE = "outputs.txt"

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# ASCII code -> nibble value, -1 for anything that is not a hex digit (such as
# Icarus' x and z).
_HEX_VALUE = np.full(256, -1, dtype=np.int16)
for _digit, _char in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_char] = _digit
for _digit, _char in enumerate(b"ABCDEF"):
    _HEX_VALUE[_char] = 10 + _digit

# Elements handled per numpy chunk while encoding/decoding hex, to bound the
# memory of the per-bit intermediate arrays.
_CHUNK_BITS = 1 << 22

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")

Progress = Optional[Callable[[str], None]]


class SimulationError(HardcoreError):
    """A simulator or synthesis tool failed, or the design broke its contract."""


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


def tool_available(name: str) -> bool:
    """True if `name` ("verilator", "iverilog"/"icarus" or "yosys") can run here.

    Checks every executable the tool needs on PATH, not only its own: a
    Verilator build also needs make and a C++ compiler, Icarus needs vvp.
    """
    try:
        needs = TOOL_EXECUTABLES[name]
    except KeyError:
        return shutil.which(name) is not None
    return all(any(shutil.which(exe) for exe in choices) for choices in needs)


# -- simulate ------------------------------------------------------------------


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
    _check_identifier(top)
    for name, width in (("in_width", in_width), ("out_width", out_width)):
        if not 1 <= width <= 64:
            raise ValueError(f"{name} must be between 1 and 64, got {width}")
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be positive, got {n_in} and {n_out}")
    if latency is not None and latency < 0:
        raise ValueError(f"latency must be >= 0, got {latency}")
    vectors = _check_inputs(inputs, n_in, in_width)
    n_vectors = len(vectors)

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    spec = _HarnessSpec(
        top=top,
        in_bits=n_in * in_width,
        out_bits=n_out * out_width,
        latency=latency,
        clock_enable=clock_enable,
    )
    # Enough edges for every output to come out, plus slack so a design that
    # is a little slow fails on its latency check rather than the cycle cap.
    max_cycles = 0 if latency is None else n_vectors + latency + max(16, latency)

    _write_if_changed(workdir / DESIGN_FILE, sv_text)
    (workdir / INPUTS_FILE).write_bytes(_encode_hex(vectors, in_width))
    outputs_path = workdir / OUTPUTS_FILE
    outputs_path.unlink(missing_ok=True)

    if simulator == "verilator":
        build_seconds, run_seconds = _run_verilator(spec, workdir, n_vectors, max_cycles, progress)
    else:
        build_seconds, run_seconds = _run_icarus(spec, workdir, n_vectors, max_cycles, progress)

    cycles, outputs = _read_outputs(outputs_path, n_out, out_width)
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
    arrays = [_check_inputs(values, n, w) for values, (_, n, w) in zip(inputs, in_ports)]
    wrapper = f"{top}_ports"
    _check_identifier(wrapper)
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


@dataclass(frozen=True)
class _HarnessSpec:
    top: str
    in_bits: int
    out_bits: int
    latency: Optional[int]
    clock_enable: bool

    @property
    def pipelined(self) -> bool:
        return self.latency is not None

    def ports(self) -> dict[str, tuple[str, int]]:
        """Port name -> (direction, width) the harness expects."""
        ports = {"x": ("input", self.in_bits), "y": ("output", self.out_bits)}
        if self.pipelined:
            ports.update(
                clk=("input", 1), rst=("input", 1), in_valid=("input", 1), out_valid=("output", 1)
            )
            if self.clock_enable:
                ports["ce"] = ("input", 1)
        return ports


def _check_identifier(top: str) -> None:
    if not _IDENTIFIER.match(top):
        raise ValueError(f"top must be a plain Verilog identifier, got {top!r}")


def _check_inputs(inputs, n_in: int, in_width: int) -> np.ndarray:
    """The inputs as an int64 (N, n_in) array, or ValueError if they don't fit."""
    values = np.asarray(inputs)
    if values.ndim != 2 or values.shape[1] != n_in:
        raise ValueError(f"inputs must have shape (N, {n_in}), got {values.shape}")
    if len(values) == 0:
        raise ValueError("inputs must hold at least one vector")
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
        raise ValueError(f"inputs must be integers, got dtype {values.dtype}")
    lo, hi = -(1 << (in_width - 1)), (1 << (in_width - 1)) - 1
    # Out-of-range values would be silently truncated by the port.
    if values.min() < lo or values.max() > hi:
        raise ValueError(
            f"inputs must lie in [{lo}, {hi}] for in_width={in_width}, "
            f"got [{values.min()}, {values.max()}]"
        )
    return values.astype(np.int64)


def _write_if_changed(path: Path, text: str) -> None:
    # Leaving an unchanged file untouched keeps its mtime, so a second
    # simulate() of the same design in the same workdir skips Verilator's
    # rebuild (its --build checks dependencies).
    if path.exists() and path.read_text() == text:
        return
    path.write_text(text)


# -- hex vectors ---------------------------------------------------------------


def _encode_hex(values: np.ndarray, width: int) -> bytes:
    """One line per row: the row's elements packed element 0 lowest, in hex."""
    n_rows, n_elems = values.shape
    total_bits = n_elems * width
    n_digits = -(-total_bits // 4)
    shifts = np.arange(width, dtype=np.uint64)
    place = np.array([1, 2, 4, 8], dtype=np.uint8)
    # Two's complement bits of each element: int64 viewed as uint64 is the
    # 64-bit pattern; its low `width` bits are the width-bit pattern.
    patterns = values.astype(np.int64).view(np.uint64)
    lines = []
    step = max(1, _CHUNK_BITS // max(1, total_bits))
    for start in range(0, n_rows, step):
        chunk = patterns[start : start + step]
        bits = ((chunk[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8)
        bits = bits.reshape(len(chunk), total_bits)
        bits = np.pad(bits, ((0, 0), (0, n_digits * 4 - total_bits)))
        nibbles = bits.reshape(len(chunk), n_digits, 4) @ place
        text = _HEX_DIGITS[nibbles[:, ::-1]]
        newline = np.full((len(chunk), 1), ord("\n"), dtype=np.uint8)
        lines.append(np.concatenate([text, newline], axis=1).tobytes())
    return b"".join(lines)


def _decode_hex(texts: Sequence[bytes], n_elems: int, width: int) -> np.ndarray:
    """Inverse of _encode_hex: hex strings -> int64 (N, n_elems), sign-extended."""
    total_bits = n_elems * width
    n_digits = -(-total_bits // 4)
    bad = [i for i, t in enumerate(texts) if len(t) != n_digits]
    if bad:
        raise SimulationError(
            f"output {bad[0]} is {texts[bad[0]]!r}; expected {n_digits} hex digits"
        )
    if not texts:
        return np.zeros((0, n_elems), dtype=np.int64)
    ascii_codes = np.frombuffer(b"".join(texts), dtype=np.uint8).reshape(len(texts), n_digits)
    nibbles = _HEX_VALUE[ascii_codes]
    unknown = np.flatnonzero((nibbles < 0).any(axis=1))
    if len(unknown):
        raise SimulationError(
            f"y has unknown (x/z) bits in {len(unknown)} outputs; "
            f"first: output {unknown[0]} = {texts[unknown[0]].decode(errors='replace')}"
        )
    # Least significant digit first, then bits within each digit.
    nibbles = nibbles[:, ::-1].astype(np.uint8)
    shifts = np.arange(width, dtype=np.uint64)
    sign = np.uint64(1 << (width - 1))
    rows = []
    step = max(1, _CHUNK_BITS // max(1, n_digits * 4))
    for start in range(0, len(texts), step):
        chunk = nibbles[start : start + step]
        bits = (chunk[:, :, None] >> np.arange(4, dtype=np.uint8)) & 1
        bits = bits.reshape(len(chunk), n_digits * 4)[:, :total_bits]
        bits = bits.reshape(len(chunk), n_elems, width).astype(np.uint64)
        unsigned = (bits << shifts).sum(axis=2, dtype=np.uint64)
        # (v ^ s) - s sign-extends a width-bit v, modulo 2**64.
        rows.append(((unsigned ^ sign) - sign).view(np.int64))
    return np.concatenate(rows)


def _read_outputs(path: Path, n_out: int, out_width: int) -> tuple[np.ndarray, np.ndarray]:
    """(cycle or vector index per output, outputs) from a harness' outputs file."""
    if not path.exists():
        raise SimulationError(f"the simulation wrote no {path}")
    tokens = path.read_bytes().split()
    if len(tokens) % 2:
        raise SimulationError(f"{path} is malformed: expected '<cycle> <hex>' lines")
    cycles = np.array([int(t) for t in tokens[0::2]], dtype=np.int64)
    return cycles, _decode_hex(tokens[1::2], n_out, out_width)


# -- running tools -------------------------------------------------------------


def _run(
    command: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    what: str,
    timeout: Optional[float] = None,
    tail_path: Optional[Path] = None,
) -> float:
    """Run `command` in `cwd`, output to `log_path`; seconds taken, or SimulationError.

    The error quotes the end of `tail_path` (default: `log_path`), for tools
    that write their own, fuller log.
    """
    tail_path = tail_path or log_path
    start = time.monotonic()
    with open(log_path, "wb") as log:
        # A new session lets a timeout kill the whole tree (make's compilers,
        # yosys-abc), not just the direct child.
        process = subprocess.Popen(
            list(command), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise SimulationError(
                f"{what} timed out after {timeout} s: {shlex.join(command)} (in {cwd})\n"
                f"log: {tail_path}\n{_tail(tail_path)}"
            ) from None
    if returncode != 0:
        raise SimulationError(
            f"{what} failed (exit {returncode}): {shlex.join(command)} (in {cwd})\n"
            f"log: {tail_path}\n{_tail(tail_path)}"
        )
    return time.monotonic() - start


def _tail(path: Path, lines: int = ERROR_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _report(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _fill(template: str, **values) -> str:
    """Replace @NAME@ markers ($ and {} are taken by Verilog and C++)."""
    def replace(match: re.Match) -> str:
        return str(values[match.group(1).lower()])

    return re.sub(r"@([A-Z_]+)@", replace, template)


# -- Verilator -----------------------------------------------------------------

_VERILATOR_HARNESS = r"""// Generated by hardcore.sim for module @TOP@: reads hex vectors, writes
// "<cycle> <hex y>" for every output read.  Regenerated on every run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "verilated.h"
#include "@PREFIX@.h"

static const int IN_BITS = @IN_BITS@;
static const int IN_WORDS = (IN_BITS + 31) / 32;
static const int IN_DIGITS = (IN_BITS + 3) / 4;
static const int OUT_BITS = @OUT_BITS@;
static const int OUT_WORDS = (OUT_BITS + 31) / 32;
static const int OUT_DIGITS = (OUT_BITS + 3) / 4;
static const int RESET_CYCLES = @RESET_CYCLES@;

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// One line of IN_DIGITS hex digits, most significant first -> 32-bit words,
// least significant first (Verilator's layout of wide ports).
static bool parse_vector(const std::string& line, uint32_t* words) {
    if ((int)line.size() != IN_DIGITS) return false;
    for (int w = 0; w < IN_WORDS; ++w) words[w] = 0;
    for (int d = 0; d < IN_DIGITS; ++d) {
        int v = hex_value(line[IN_DIGITS - 1 - d]);
        if (v < 0) return false;
        words[d / 8] |= (uint32_t)v << (4 * (d % 8));
    }
    return true;
}

static void format_output(const uint32_t* words, char* text) {
    for (int d = 0; d < OUT_DIGITS; ++d)
        text[OUT_DIGITS - 1 - d] = "0123456789abcdef"[(words[d / 8] >> (4 * (d % 8))) & 0xf];
    text[OUT_DIGITS] = '\0';
}

// The C++ type of a port depends on its width (CData/SData/IData/QData or
// VlWide<N>), so these two are generated per design.
static void set_x(@PREFIX@* dut, const uint32_t* words) {
@SET_X@
}

static void get_y(@PREFIX@* dut, uint32_t* words) {
@GET_Y@
}

int main(int argc, char** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s INPUTS.hex OUTPUTS.txt N_VECTORS MAX_CYCLES\n", argv[0]);
        return 2;
    }
    const long n_vectors = atol(argv[3]);
    const long max_cycles = atol(argv[4]);
    std::vector<uint32_t> vectors((size_t)n_vectors * IN_WORDS);
    std::ifstream in(argv[1]);
    std::string line;
    for (long i = 0; i < n_vectors; ++i) {
        if (!std::getline(in, line) || !parse_vector(line, &vectors[i * IN_WORDS])) {
            fprintf(stderr, "%s:%ld: expected %d hex digits\n", argv[1], i + 1, IN_DIGITS);
            return 1;
        }
    }
    FILE* out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    auto context = std::make_unique<VerilatedContext>();
    auto dut = std::make_unique<@PREFIX@>(context.get());
    uint32_t y_words[OUT_WORDS];
    char y_text[OUT_DIGITS + 1];
    (void)max_cycles;
    (void)RESET_CYCLES;
@BODY@
    dut->final();
    fclose(out);
    return 0;
}
"""

_VERILATOR_COMBINATIONAL_BODY = r"""    for (long i = 0; i < n_vectors; ++i) {
        set_x(dut.get(), &vectors[i * IN_WORDS]);
        dut->eval();
        get_y(dut.get(), y_words);
        format_output(y_words, y_text);
        fprintf(out, "%ld %s\n", i, y_text);
    }"""

# Each cycle: drive inputs with clk low, settle, read the outputs the coming
# rising edge would sample, then clock.  An output read in cycle c therefore
# left the design c edges after the first input was taken.
_VERILATOR_PIPELINED_BODY = r"""    const std::vector<uint32_t> idle(IN_WORDS, 0);
    dut->clk = 0;
    dut->rst = 1;
    dut->in_valid = 0;
@CE@    set_x(dut.get(), idle.data());
    dut->eval();
    for (int i = 0; i < RESET_CYCLES; ++i) {
        dut->clk = 1;
        dut->eval();
        dut->clk = 0;
        dut->eval();
    }
    dut->rst = 0;
    long taken = 0;
    for (long cycle = 0; cycle < max_cycles && taken < n_vectors; ++cycle) {
        const bool feeding = cycle < n_vectors;
        dut->in_valid = feeding;
        set_x(dut.get(), feeding ? &vectors[cycle * IN_WORDS] : idle.data());
        dut->eval();
        if (dut->out_valid) {
            get_y(dut.get(), y_words);
            format_output(y_words, y_text);
            fprintf(out, "%ld %s\n", cycle, y_text);
            ++taken;
        }
        dut->clk = 1;
        dut->eval();
        dut->clk = 0;
        dut->eval();
    }"""

_VERILATOR_PORT = re.compile(r"VL_(IN|OUT)(?:8|16|64|W)?\(&(\w+),(\d+),(\d+)")


def _verilator_set(port: str, bits: int) -> str:
    if bits <= 32:
        ctype = "uint8_t" if bits <= 8 else "uint16_t" if bits <= 16 else "uint32_t"
        return f"    dut->{port} = static_cast<{ctype}>(words[0]);"
    if bits <= 64:
        return f"    dut->{port} = (uint64_t)words[0] | ((uint64_t)words[1] << 32);"
    return f"    for (int i = 0; i < {(bits + 31) // 32}; ++i) dut->{port}[i] = words[i];"


def _verilator_get(port: str, bits: int) -> str:
    if bits <= 32:
        return f"    words[0] = dut->{port};"
    if bits <= 64:
        return (
            f"    const uint64_t value = dut->{port};\n"
            "    words[0] = (uint32_t)value;\n"
            "    words[1] = (uint32_t)(value >> 32);"
        )
    return f"    for (int i = 0; i < {(bits + 31) // 32}; ++i) words[i] = dut->{port}[i];"


def _verilator_harness(spec: _HarnessSpec) -> str:
    if spec.pipelined:
        body = _fill(_VERILATOR_PIPELINED_BODY, ce="    dut->ce = 1;\n" if spec.clock_enable else "")
    else:
        body = _VERILATOR_COMBINATIONAL_BODY
    return _fill(
        _VERILATOR_HARNESS,
        top=spec.top,
        prefix=VERILATOR_PREFIX,
        in_bits=spec.in_bits,
        out_bits=spec.out_bits,
        reset_cycles=RESET_CYCLES,
        set_x=_verilator_set("x", spec.in_bits),
        get_y=_verilator_get("y", spec.out_bits),
        body=body,
    )


def _check_verilator_ports(spec: _HarnessSpec, header: Path) -> Optional[str]:
    """A description of how the model's ports differ from spec's, or None."""
    if not header.exists():
        return None
    found = {
        name: ("input" if direction == "IN" else "output", int(msb) - int(lsb) + 1)
        for direction, name, msb, lsb in _VERILATOR_PORT.findall(header.read_text())
    }
    expected = spec.ports()
    problems = []
    for name, (direction, bits) in expected.items():
        if name not in found:
            problems.append(f"missing {direction} {name}")
        elif found[name] != (direction, bits):
            problems.append(
                f"{name} is a {found[name][1]}-bit {found[name][0]}, expected {bits}-bit {direction}"
            )
    for name, (direction, bits) in found.items():
        if name not in expected and direction == "input":
            problems.append(f"{bits}-bit input {name} would be left undriven")
    if not problems:
        return None
    return f"ports of module {spec.top} do not match: " + "; ".join(problems)


def _run_verilator(
    spec: _HarnessSpec, workdir: Path, n_vectors: int, max_cycles: int, progress: Progress
) -> tuple[float, float]:
    harness = "verilator_harness.cpp"
    _write_if_changed(workdir / harness, _verilator_harness(spec))
    mdir = "verilator_obj"
    executable = f"{VERILATOR_PREFIX}_sim"
    command = [
        "verilator", "--cc", "--exe", "--build",
        "-Wno-fatal", "-Wno-lint", "-Wno-style",
        "--top-module", spec.top,
        "--prefix", VERILATOR_PREFIX,
        "--Mdir", mdir,
        "-o", executable,
        "-j", str(os.cpu_count() or 1),
    ]
    for flag in VERILATOR_MAKEFLAGS:
        command += ["-MAKEFLAGS", flag]
    command += [DESIGN_FILE, harness]

    _report(progress, f"verilator: building {spec.top} ({len(spec.ports())} ports)...")
    header = workdir / mdir / f"{VERILATOR_PREFIX}.h"
    try:
        build_seconds = _run(
            command, cwd=workdir, log_path=workdir / "verilator_build.log", what="verilator build"
        )
    except SimulationError as error:
        # A port mismatch surfaces as a C++ compile error in the harness;
        # name the real cause instead.
        mismatch = _check_verilator_ports(spec, header)
        if mismatch:
            raise SimulationError(f"verilator: {mismatch}\n{error}") from None
        raise
    mismatch = _check_verilator_ports(spec, header)
    if mismatch:
        raise SimulationError(f"verilator: {mismatch}")

    _report(progress, f"simulating {n_vectors} vectors...")
    run_seconds = _run(
        [str(workdir / mdir / executable), INPUTS_FILE, OUTPUTS_FILE, str(n_vectors), str(max_cycles)],
        cwd=workdir,
        log_path=workdir / "verilator_run.log",
        what="verilator simulation",
    )
    return build_seconds, run_seconds


# -- Icarus Verilog ------------------------------------------------------------

_ICARUS_TESTBENCH = r"""// Generated by hardcore.sim for module @TOP@: reads @INPUTS@, writes
// "<cycle> <hex y>" to @OUTPUTS@ for every output read.
module hardcore_sim_tb;
  localparam integer N_VECTORS = @N_VECTORS@;
  localparam integer MAX_CYCLES = @MAX_CYCLES@;
  logic [@IN_BITS@-1:0] vectors [0:N_VECTORS-1];
  logic [@IN_BITS@-1:0] x;
  wire [@OUT_BITS@-1:0] y;
  integer out_file, cycle, taken;
@DECLARATIONS@
  @TOP@ dut (@CONNECTIONS@);

  initial begin
    // Icarus only warns when a port's width differs from its connection.
    if ($bits(dut.x) != @IN_BITS@ || $bits(dut.y) != @OUT_BITS@)
      $fatal(1, "ports of module @TOP@ do not match: x has %0d bits, y has %0d; expected @IN_BITS@ and @OUT_BITS@",
             $bits(dut.x), $bits(dut.y));
    $readmemh("@INPUTS@", vectors);
    out_file = $fopen("@OUTPUTS@", "w");
@BODY@
    $fclose(out_file);
    $finish;
  end
endmodule
"""

_ICARUS_COMBINATIONAL_BODY = r"""    for (cycle = 0; cycle < N_VECTORS; cycle = cycle + 1) begin
      x = vectors[cycle];
      #1;
      $fwrite(out_file, "%0d %h\n", cycle, y);
    end"""

# An Icarus testbench's reset (here and in hardcore.decoder_sim): rst high,
# clk, in_valid and x low, the design's other inputs as @OTHER_INPUTS@ sets
# them; RESET_CYCLES rising edges; then rst low, clk low.
_ICARUS_RESET = r"""    clk = 0;
    rst = 1;
    in_valid = 0;
@OTHER_INPUTS@
    x = 0;
    #1;
    repeat (@RESET_CYCLES@) begin
      clk = 1;
      #1;
      clk = 0;
      #1;
    end
    rst = 0;"""


def _icarus_reset(other_inputs: str) -> str:
    """The reset statements of an Icarus testbench; `other_inputs` sets the design's other inputs (one line)."""
    return _fill(_ICARUS_RESET, other_inputs=other_inputs, reset_cycles=RESET_CYCLES)


# Same cycle protocol as the Verilator harness: drive with clk low, settle,
# read, then a rising edge.
_ICARUS_PIPELINED_BODY = r"""@RESET@
    taken = 0;
    for (cycle = 0; cycle < MAX_CYCLES && taken < N_VECTORS; cycle = cycle + 1) begin
      if (cycle < N_VECTORS) begin
        in_valid = 1;
        x = vectors[cycle];
      end else begin
        in_valid = 0;
        x = 0;
      end
      #1;
      if (out_valid === 1'b1) begin
        $fwrite(out_file, "%0d %h\n", cycle, y);
        taken = taken + 1;
      end else if (out_valid !== 1'b0) begin
        $fatal(1, "out_valid is %b at cycle %0d", out_valid, cycle);
      end
      clk = 1;
      #1;
      clk = 0;
    end"""


def _icarus_testbench(spec: _HarnessSpec, n_vectors: int, max_cycles: int) -> str:
    connections = [".x(x)", ".y(y)"]
    declarations = ""
    body = _ICARUS_COMBINATIONAL_BODY
    if spec.pipelined:
        declarations = "  logic clk, rst, in_valid, ce;\n  wire out_valid;"
        connections += [".clk(clk)", ".rst(rst)", ".in_valid(in_valid)", ".out_valid(out_valid)"]
        if spec.clock_enable:
            connections.append(".ce(ce)")
        body = _fill(_ICARUS_PIPELINED_BODY, reset=_icarus_reset("    ce = 1;"))
    return _fill(
        _ICARUS_TESTBENCH,
        top=spec.top,
        inputs=INPUTS_FILE,
        outputs=OUTPUTS_FILE,
        n_vectors=n_vectors,
        max_cycles=max_cycles,
        in_bits=spec.in_bits,
        out_bits=spec.out_bits,
        declarations=declarations,
        connections=", ".join(connections),
        body=body,
    )


def _run_icarus(
    spec: _HarnessSpec, workdir: Path, n_vectors: int, max_cycles: int, progress: Progress
) -> tuple[float, float]:
    testbench = "icarus_tb.sv"
    (workdir / testbench).write_text(_icarus_testbench(spec, n_vectors, max_cycles))
    image = "icarus_sim.vvp"
    _report(progress, f"icarus: building {spec.top} ({len(spec.ports())} ports)...")
    build_seconds = _run(
        ["iverilog", "-g2012", "-s", "hardcore_sim_tb", "-o", image, DESIGN_FILE, testbench],
        cwd=workdir,
        log_path=workdir / "icarus_build.log",
        what="iverilog build",
    )
    _report(progress, f"simulating {n_vectors} vectors...")
    run_seconds = _run(
        ["vvp", "-n", image],
        cwd=workdir,
        log_path=workdir / "icarus_run.log",
        what="icarus simulation",
    )
    return build_seconds, run_seconds


# -- Yosys ---------------------------------------------------------------------

# Yosys 0.23's own `abc -lut` script (ABC_COMMAND_LUT and the lutpack it
# appends), except that SAT sweeping (&fraig) gives up on a node after
# ABC_FRAIG_CONFLICTS conflicts instead of ABC's default of 1,000,000.  On
# constant multipliers (the `*` baseline of hardcore.report) the default spent
# 98 of 100 s of one 32-input neuron on nodes it could neither prove nor
# refute, and more than 15 minutes on a 160-weight layer; with 1000 that layer
# takes 27 s.  The LUTs came out the same: 2005 for that neuron at limits of
# 100, 1000, 10000 and the default, and 75,067 LUTs, 19,562 FFs, 20 levels
# either way for a pipelined 16-64-32-32-5 MLP (which took 312 s instead of 578).
ABC_FRAIG_CONFLICTS = 1000
_ABC_LUT_SCRIPT = (f"strash; &get -n; &fraig -x -C {ABC_FRAIG_CONFLICTS}; &put; scorr; dc2; dretime; strash; "
                   "dch -f; if; mfs2; lutpack -S 1\n")

_YOSYS_SCRIPT = """\
# Generated by hardcore.sim.synth_report.
read_verilog -sv @DESIGN@
synth @FLATTEN@ -top @TOP@
tee -q -o @GENERIC_STAT@ stat -json
abc -lut @LUT_SIZE@ -script @ABC_SCRIPT@
opt_clean
tee -q -o @LUT_STAT@ stat -json
flatten
tee -q -o @LTP@ ltp -noff
"""

_LTP_LENGTH = re.compile(r"Longest topological path in \S+ \(length=(\d+)\)")


def synth_report(
    sv_text: str,
    top: str,
    *,
    workdir: str | os.PathLike,
    lut_size: int = 6,
    timeout: Optional[float] = None,
    progress: Progress = None,
    flatten: bool = True,
) -> dict:
    """Synthesize module `top` with Yosys and count what it takes.

    With `flatten=False` the hierarchy is kept through synthesis (each module
    is mapped on its own: much faster on large designs, and the result has a
    `modules` entry: per module, its `cells` and `luts`); the LUT netlist is
    flattened only for the logic-level count.

    Runs `synth -flatten -top TOP`, then `abc -lut LUT_SIZE` with Yosys' own
    LUT script but a bounded SAT sweep (see ABC_FRAIG_CONFLICTS); the
    scripts, log and statistics files are left in `workdir`.  Returns a dict:

    cells: cells after the generic synth (Yosys' internal gates and FFs).
    cells_by_type: those cells by type.
    luts: $lut cells after abc -lut.
    ffs: flip-flop cells after abc -lut (abc leaves them alone).
    logic_levels: cells on the longest combinational path of the LUT
        netlist, from Yosys' `ltp -noff` (flip-flops cut paths).  After
        abc -lut every combinational cell is a $lut, so this is LUT depth.
    seconds: Yosys' wall time.
    log: path of the Yosys log.

    Raises SimulationError if Yosys fails or runs longer than `timeout` s.
    """
    _check_identifier(top)
    files = dict(generic_stat="yosys_generic_stat.json", lut_stat="yosys_lut_stat.json", ltp="yosys_ltp.txt")
    abc_script = "abc_lut.abc"
    workdir = prepare_yosys_workdir(workdir, sv_text, files.values(), {abc_script: _ABC_LUT_SCRIPT})
    script = "synth.ys"
    (workdir / script).write_text(
        _fill(_YOSYS_SCRIPT, design=DESIGN_FILE, top=top, lut_size=lut_size, abc_script=abc_script,
              flatten="-flatten" if flatten else "", **files)
    )
    log_path = workdir / "yosys.log"
    _report(progress, f"yosys: synthesizing {top} (abc -lut {lut_size})...")
    # -q keeps warnings and errors on the terminal; the full log goes to the file.
    command = ["yosys", "-q", "-l", log_path.name, "-s", script]
    seconds = _run(
        command, cwd=workdir, log_path=workdir / "yosys.out", what="yosys",
        timeout=timeout, tail_path=log_path,
    )

    generic = _yosys_stat(workdir / files["generic_stat"], top)
    lut = _yosys_stat(workdir / files["lut_stat"], top)
    ltp_text = (workdir / files["ltp"]).read_text()
    match = _LTP_LENGTH.search(ltp_text)
    if match is None:
        raise SimulationError(f"yosys: no 'Longest topological path' in {workdir / files['ltp']}")
    lut_types = lut.get("num_cells_by_type", {})
    modules = {}
    if not flatten:
        generic_modules = _read_stat_json(workdir / files["generic_stat"]).get("modules", {})
        lut_modules = _read_stat_json(workdir / files["lut_stat"]).get("modules", {})
        for name, figures in lut_modules.items():
            modules[name.lstrip("\\")] = {
                "cells": int(generic_modules.get(name, {}).get("num_cells", 0)),
                "luts": int(figures.get("num_cells_by_type", {}).get("$lut", 0)),
            }
    return {
        "modules": modules,
        "cells": int(generic["num_cells"]),
        "cells_by_type": dict(generic.get("num_cells_by_type", {})),
        "luts": int(lut_types.get("$lut", 0)),
        "ffs": sum(int(n) for kind, n in lut_types.items() if "DFF" in kind or "DLATCH" in kind),
        "logic_levels": int(match.group(1)),
        "seconds": seconds,
        "log": str(log_path),
    }


def prepare_yosys_workdir(workdir, sv_text: str, outputs, scripts: dict) -> Path:
    """`workdir` made and resolved, the design written as DESIGN_FILE, the `outputs` of an earlier run
    removed (a failed run must not leave old figures to be read), and `scripts` (name -> text) written."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / DESIGN_FILE).write_text(sv_text)
    for name in outputs:
        (workdir / name).unlink(missing_ok=True)
    for name, text in scripts.items():
        (workdir / name).write_text(text)
    return workdir


# Yosys 0.23's `stat -json` of a hierarchy more than one level deep (a stateful recurrent
# circuit: top -> step -> layers) prints the hierarchy's instance counts, `  name   1`, as
# plain text inside the JSON; those lines are dropped before parsing.
_STAT_HIERARCHY_LINE = re.compile(r'^\s*[^\s"{}\[\],:]+\s+\d+\s*$', re.M)


def _read_stat_json(path: Path) -> dict:
    """A `stat -json` file, without the instance-count lines Yosys 0.23 writes into it."""
    try:
        return json.loads(_STAT_HIERARCHY_LINE.sub("", path.read_text()))
    except (OSError, ValueError) as error:
        raise SimulationError(f"yosys: cannot read statistics {path}: {error}") from None


def _yosys_stat(path: Path, top: str) -> dict:
    """The statistics of `top` from a `stat -json` file."""
    stat = _read_stat_json(path)
    # After -flatten only the top module is left; "design" sums the hierarchy
    # and is the safer total should anything stay unflattened (blackboxes).
    if "design" in stat:
        return stat["design"]
    modules = stat.get("modules", {})
    for name in (f"\\{top}", top):
        if name in modules:
            return modules[name]
    raise SimulationError(f"yosys: no statistics for module {top} in {path}")
