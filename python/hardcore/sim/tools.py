"""Running the simulators and Yosys: the tools' names, the work folder's files, `run` with its log's tail
on failure, progress messages, and the harness's port contract (`HarnessSpec`)."""

from __future__ import annotations

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

from hardcore.errors import HardcoreError

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

# Lines of a failing tool's output quoted in a SimulationError.
ERROR_TAIL_LINES = 40

# File names inside workdir.
DESIGN_FILE = "design.sv"
INPUTS_FILE = "inputs.hex"
OUTPUTS_FILE = "outputs.txt"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")

Progress = Optional[Callable[[str], None]]


class SimulationError(HardcoreError):
    """A simulator or synthesis tool failed, or the design broke its contract."""



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



@dataclass(frozen=True)
class HarnessSpec:
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


def check_identifier(top: str) -> None:
    if not _IDENTIFIER.match(top):
        raise ValueError(f"top must be a plain Verilog identifier, got {top!r}")


def write_if_changed(path: Path, text: str) -> None:
    # Leaving an unchanged file untouched keeps its mtime, so a second
    # simulate() of the same design in the same workdir skips Verilator's
    # rebuild (its --build checks dependencies).
    if path.exists() and path.read_text() == text:
        return
    path.write_text(text)



def run_tool(
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
                f"log: {tail_path}\n{log_tail(tail_path)}"
            ) from None
    if returncode != 0:
        raise SimulationError(
            f"{what} failed (exit {returncode}): {shlex.join(command)} (in {cwd})\n"
            f"log: {tail_path}\n{log_tail(tail_path)}"
        )
    return time.monotonic() - start


def log_tail(path: Path, lines: int = ERROR_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def tell(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def fill_template(template: str, **values) -> str:
    """Replace @NAME@ markers ($ and {} are taken by Verilog and C++)."""
    def replace(match: re.Match) -> str:
        return str(values[match.group(1).lower()])

    return re.sub(r"@([A-Z_]+)@", replace, template)

