"""Per-stage wall time and peak memory of a compile: `--timing` on `hardcore compile` and `hardcore-opt`.

Inside a `recording()` block, every `stage(name)` block (the torch-mlir
import, each pass, hardcore-to-hw, the CIRCT passes, the Verilog export,
writing the files) appends a `StageTime` row to the recorder's list:

    with timing.recording() as rows:
        circuit = hardcore.compile(model, x)        # or compile(model, x, timing=rows)
        circuit.write("out/")
    print(timing.table(rows), file=sys.stderr)

Outside a `recording()` block `stage` costs nothing.  The peak memory of a
stage is this process's peak resident set during it: on Linux the
high-water mark is reset at the stage's start (`/proc/self/clear_refs`) and
read at its end (`VmHWM`); elsewhere it is the process's peak so far.  The
processes of a solver pool (`hardcore.scale.parallel`) are not counted.
A stage inside another stage is part of the outer one (no row of its own).
"""

from __future__ import annotations

import contextlib
import contextvars
import resource
import sys
import time
from typing import Iterator, NamedTuple, Optional

__all__ = ["StageTime", "recording", "stage", "active", "table"]


class StageTime(NamedTuple):
    """One stage's row: its name, wall seconds and peak resident memory in MB (of this process)."""

    stage: str
    seconds: float
    peak_mb: float


class _Recorder:
    def __init__(self, rows: list):
        self.rows = rows
        self.open = False  # a stage is running: nested stages are part of it


_CURRENT: contextvars.ContextVar[Optional[_Recorder]] = contextvars.ContextVar("hardcore_timing", default=None)


@contextlib.contextmanager
def recording(rows: Optional[list] = None) -> Iterator[list]:
    """Record the stages run inside the block into `rows` (a new list if None), which the block receives.

    Inside an open recording, the outer one keeps recording (the rows go to it)."""
    current = _CURRENT.get()
    if current is not None:
        yield current.rows
        return
    rows = [] if rows is None else rows
    token = _CURRENT.set(_Recorder(rows))
    try:
        yield rows
    finally:
        _CURRENT.reset(token)


def active() -> bool:
    """Whether a recording is open (a caller then runs its passes one at a time, to time each)."""
    return _CURRENT.get() is not None


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage `name` (a row in the open recording; nothing without one)."""
    current = _CURRENT.get()
    if current is None or current.open:
        yield
        return
    current.open = True
    exact = _reset_peak()
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        current.open = False
        current.rows.append(StageTime(name, seconds, _peak_mb(exact)))


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM to the current resident set
        return True
    except OSError:
        return False


def _peak_mb(exact: bool) -> float:
    if exact:
        try:
            with open("/proc/self/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def table(rows: list, title: str = "hardcore timing") -> str:
    """The rows as a table in the manner of `--mlir-timing`: time, share of the total and peak MB per stage.

    Rows of the same stage name (a pass run on several functions, or IR printed
    after every stage) are summed, their peak is the largest; stages keep the
    order they first ran in."""
    merged: dict[str, list[float]] = {}
    for row in rows:
        seconds, peak = merged.get(row.stage, (0.0, 0.0))
        merged[row.stage] = [seconds + row.seconds, max(peak, row.peak_mb)]
    total = sum(seconds for seconds, _ in merged.values())
    peak = max((peak for _, peak in merged.values()), default=0.0)
    width = max([len(name) for name in merged] + [len("Total")])
    rule = "=" * (width + 34)
    lines = [rule, f"  ... {title} ...".center(width + 34).rstrip(), rule,
             f"  Total Execution Time: {total:.3f} seconds; peak memory {peak:.0f} MB "
             "(this process; solver pool workers not included)", "",
             f"  {'Wall Time':>10}  {'(%)':>7}  {'Peak MB':>9}  Name",
             f"  {'-' * 10}  {'-' * 7}  {'-' * 9}  {'-' * width}"]
    for name, (seconds, stage_peak) in merged.items():
        share = 100 * seconds / total if total else 0.0
        lines.append(f"  {seconds:10.4f}  {share:6.1f}%  {stage_peak:9.0f}  {name}")
    lines.append(f"  {total:10.4f}  {100.0 if total else 0.0:6.1f}%  {peak:9.0f}  Total")
    return "\n".join(lines) + "\n"
