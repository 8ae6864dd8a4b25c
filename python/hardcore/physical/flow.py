"""A compiled circuit to a checked iCE40 bitstream in an output folder: what `hardcore fpga` runs.

`build_fpga` chooses the design that goes on the board (the circuit, or the
circuit behind the UART wrapper when its ports exceed the package's pins),
runs `run_ice40` in a hidden build folder, simulates the post-synthesis
netlist against the reference, and renames the folder into place only when
everything worked: a design too large leaves nothing behind, a tool failure
leaves the build folder its error names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

from hardcore.errors import HardcoreError, UsageError
from hardcore.physical.ice40 import DoesNotFitError, resolve_device, run_ice40
from hardcore.physical.netlist_sim import _ICARUS_PREAMBLE, cells_sim_path, check_netlist, random_vectors
from hardcore.physical.serial import (DEFAULT_BAUD, DEFAULT_CLOCK_HZ, check_serial_support, simulate_uart,
                                      uart_wrapper, wrapper_name)
from hardcore.sim.tools import Progress, tell

__all__ = ["build_fpga", "format_report", "SERIAL_CHOICES", "REPORT_JSON", "REPORT_TEXT"]

SERIAL_CHOICES = ("auto", "uart", "none")
REPORT_JSON = "fpga-report.json"
REPORT_TEXT = "fpga-report.txt"

# Post-synthesis vectors through the UART wrapper: each takes (in + out bytes) x 10 bit times of gate-level
# simulation, at CLOCK_HZ / BAUD clocks a bit (104 at 12 MHz): a few, not hundreds.
SERIAL_NETLIST_VECTORS = 3


def _plain(circuit) -> bool:
    """A combinational or pipelined circuit: ports x, y (and clk, rst, in_valid, out_valid, ce)."""
    return not (circuit.options.get("decoder") or circuit.options.get("stream") or "time_multiplex" in circuit.report)


def _port_bits(circuit) -> int:
    bits = circuit.n_in * circuit.in_width + circuit.n_out * circuit.out_width
    if circuit.latency:
        bits += 4 + int(circuit.clock_enable)  # clk, rst, in_valid, out_valid (, ce)
    return bits


def build_fpga(circuit, output_dir, *, device: str = "up5k", package: Optional[str] = None,
               target_mhz: Optional[float] = None, serial: str = "auto", timeout: Optional[float] = None,
               vectors: int = 200, pcf: Optional[str] = None, seed: int = 1, progress: Progress = None,
               repipeline: bool = True) -> dict:
    """Bitstream, PCF, netlist, logs and report of `circuit` on an iCE40, in `output_dir`; the report dict.

    With `target_mhz`, a fully parallel circuit (combinational or pipelined)
    is first pipelined again for the target (`hardcore.physical.timing`:
    the fewest registers whose placed-and-routed design meets it, or the
    fastest when none does); the report's `pipeline_search` holds the runs,
    and the circuit on the board goes into the folder's `circuit/`, a compiled
    folder like `hardcore compile`'s (`timeout` then bounds each run).
    `repipeline=False` keeps the circuit as compiled and only checks it
    against the target.
    """
    part, package = resolve_device(device, package)
    if serial not in SERIAL_CHOICES:
        raise UsageError(f"--serial: expected one of {', '.join(SERIAL_CHOICES)}, got '{serial}'")
    if vectors < 1:
        raise UsageError(f"--vectors must be positive, got {vectors}")
    if pcf is not None and not Path(pcf).is_file():
        raise UsageError(f"{pcf}: no such PCF file")
    output_dir = Path(output_dir)
    _check_output_dir(output_dir)
    pins = part.packages[package]
    use_uart = serial == "uart" or (serial == "auto" and _plain(circuit) and _port_bits(circuit) > pins)
    clock_hz = round(target_mhz * 1e6) if target_mhz else DEFAULT_CLOCK_HZ
    if use_uart:
        check_serial_support(circuit)
        tell(progress, f"{_port_bits(circuit)} port bits, the {device}-{package} has {pins} pins: "
                          f"{wrapper_name(circuit)}, the circuit behind a UART ({clock_hz / 1e6:g} MHz, "
                          f"{DEFAULT_BAUD} baud)" if serial == "auto" else f"{wrapper_name(circuit)}: the circuit behind a UART")
    search_pipeline = bool(target_mhz) and repipeline and _plain(circuit)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.build.", dir=output_dir.parent))
    search = None
    try:
        if search_pipeline:
            from hardcore.physical.timing import pipeline_for_target

            def place(candidate, workdir) -> dict:
                top, verilog = _board_design(candidate, use_uart, clock_hz)
                try:
                    figures = run_ice40(verilog, top, device=device, package=package, target_mhz=target_mhz,
                                        workdir=workdir, timeout=timeout, progress=progress, pcf=pcf, seed=seed,
                                        keep_hierarchy=(candidate.name,) if use_uart else ())
                except DoesNotFitError as error:
                    return {**error.figures, "fits": False, "message": str(error)}
                if figures["fmax_mhz"] is None and figures["critical_path_ns"]:
                    # registers only at the outputs of a bare circuit: no path from a register to a register,
                    # so the longest path, from the input pins to the output registers, sets the clock
                    figures = dict(figures, fmax_mhz=round(1000.0 / figures["critical_path_ns"], 2))
                return figures

            circuit, _, search = pipeline_for_target(circuit, target_mhz, place=place, workdir=build / "search",
                                                     progress=progress)
            shutil.rmtree(build / "search", ignore_errors=True)  # each run's files; the report keeps the figures
            tell(progress, f"target {target_mhz:g} MHz: max-adder-depth {search['max_adder_depth']} "
                              f"(latency {circuit.latency}); the final build and its checks...")
        top, verilog = _board_design(circuit, use_uart, clock_hz)
        # Behind the UART the clock is CLOCK_HZ whether or not a target was asked for: the report checks it.
        figures = run_ice40(verilog, top, device=device, package=package,
                            target_mhz=target_mhz or (clock_hz / 1e6 if use_uart else None), workdir=build,
                            timeout=timeout, progress=progress, pcf=pcf, seed=seed,
                            keep_hierarchy=(circuit.name,) if use_uart else ())
    except (DoesNotFitError, UsageError):
        shutil.rmtree(build, ignore_errors=True)
        raise
    except HardcoreError as error:
        raise HardcoreError(f"{error}\n(the build folder is kept: {build})") from None

    report = {"circuit": circuit.name, "top": top, "serial": None, **figures}
    if search is not None:
        report["pipeline_search"] = search
        circuit.write(build / "circuit")  # a compiled folder of its own: `hardcore sim` and `report` take it
        report["files"]["circuit"] = str(build / "circuit")
    if use_uart:
        report["serial"] = {"kind": "uart", "clock_hz": clock_hz, "baud": DEFAULT_BAUD, "frame": "8N1",
                            "in_bytes": -(-circuit.n_in * circuit.in_width // 8),
                            "out_bytes": -(-circuit.n_out * circuit.out_width // 8),
                            "byte_order": "least significant byte first"}
        (build / f"{top}.sv").write_text(verilog)
    start = time.monotonic()
    report["netlist_check"] = _check(circuit, figures, build, use_uart, clock_hz, vectors, progress)
    report["seconds"]["netlist_sim"] = round(time.monotonic() - start, 2)
    # The paths the files will have once the build folder is renamed.
    report["files"] = {name: str(output_dir / Path(path).relative_to(build)) if Path(path).is_relative_to(build)
                       else path for name, path in report["files"].items()}
    report["files"]["report"] = str(output_dir / REPORT_JSON)
    (build / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (build / REPORT_TEXT).write_text(format_report(report) + "\n")
    _move_into_place(build, output_dir)
    return report


def _board_design(circuit, use_uart: bool, clock_hz: int) -> tuple[str, str]:
    """(top, SystemVerilog) of what goes on the board: the circuit, or the circuit behind the UART wrapper."""
    if use_uart:
        return wrapper_name(circuit), uart_wrapper(circuit, clock_hz=clock_hz) + "\n" + circuit.verilog
    return circuit.name, circuit.verilog


def _check(circuit, figures: dict, build: Path, use_uart: bool, clock_hz: int, vectors: int,
           progress: Progress) -> dict:
    """The post-synthesis netlist against the reference: the circuit's ports directly, through its own handshake
    (a time-multiplexed or streamed circuit, with the testbench `hardcore sim` uses), or through the UART."""
    if circuit.options.get("decoder"):
        return {"simulated": False, "reason": "a decoder's netlist is not simulated yet"}
    netlist = Path(figures["files"]["netlist"])
    if not _plain(circuit):
        inputs = random_vectors(circuit, vectors)
        gates = dataclasses.replace(circuit, verilog=_ICARUS_PREAMBLE + cells_sim_path().read_text() + "\n"
                                    + netlist.read_text())
        tell(progress, f"icarus: the post-synthesis netlist on {vectors} inputs through its handshake...")
        if circuit.options.get("stream"):
            from hardcore.stream import simulate_frames
            outputs = simulate_frames(gates, inputs, build / "netlist-sim", simulator="icarus").outputs
        else:
            from hardcore.time_multiplex import simulate_stream
            outputs = simulate_stream(gates, inputs, build / "netlist-sim", simulator="icarus").outputs
        wrong = int((outputs != circuit.reference(inputs)).any(axis=1).sum())
        through = "its AXI4-Stream ports" if circuit.options.get("stream") else "its in_valid/in_ready handshake"
        return {"simulated": True, "through": through, "vectors": vectors, "mismatches": wrong}
    # Behind the UART the circuit stays a module of its own in the netlist (keep_hierarchy): it runs on its
    # ports like a bare circuit's, then the whole wrapper runs on a few vectors through uart_rx and uart_tx.
    tell(progress, f"icarus: the post-synthesis netlist on {vectors} vectors...")
    result = {"simulated": True, **check_netlist(netlist, circuit, vectors, build / "netlist-sim", progress=None)}
    if use_uart:
        count = min(vectors, SERIAL_NETLIST_VECTORS)
        inputs = random_vectors(circuit, count)
        design = _ICARUS_PREAMBLE + cells_sim_path().read_text() + "\n" + netlist.read_text()
        outputs = simulate_uart(circuit, inputs, build / "netlist-sim-uart", design=design,
                                clocks_per_bit=clock_hz // DEFAULT_BAUD, progress=progress)
        wrong = int((outputs != circuit.reference(inputs)).any(axis=1).sum())
        result["uart"] = {"vectors": count, "mismatches": wrong}
    return result


def _check_output_dir(output_dir: Path) -> None:
    """The output folder may be new, empty or an earlier `hardcore fpga` output (which it replaces), nothing else."""
    if not output_dir.exists():
        return
    if not output_dir.is_dir():
        raise HardcoreError(f"{output_dir}: cannot create the output directory: it is a file")
    if any(output_dir.iterdir()) and not (output_dir / REPORT_JSON).exists():
        raise UsageError(f"{output_dir}: the output directory holds other files (no {REPORT_JSON} of an earlier "
                         f"'hardcore fpga'); choose another with -o")


def _move_into_place(build: Path, output_dir: Path) -> None:
    """The finished build folder becomes `output_dir`, replacing an earlier one."""
    old = None
    if output_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.old.", dir=output_dir.parent))
        os.rename(output_dir, old / "previous")
    os.rename(build, output_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _use(used: int, capacity: int) -> str:
    share = f"{100 * used / capacity:5.1f}%" if capacity else ""
    return f"{used:>8,} / {capacity:<8,} {share}"


def format_report(report: dict) -> str:
    """The report as a text table."""
    capacity = report["capacity"]
    lines = [f"{report['top']} on the iCE40 {report['device'].upper()} ({report['package']})"
             + (f": {report['circuit']} behind a UART, {report['serial']['clock_hz'] / 1e6:g} MHz, "
                f"{report['serial']['baud']} baud" if report["serial"] else ""),
             f"  LUT4s          {_use(report['luts'], capacity['logic_cells'])}",
             f"  carry cells    {_use(report['carries'], capacity['logic_cells'])}",
             f"  flip-flops     {_use(report['ffs'], capacity['logic_cells'])}",
             f"  logic cells    {_use(report['logic_cells'], capacity['logic_cells'])}  (packed by nextpnr)",
             f"  block RAMs     {_use(report['brams'], capacity['brams'])}",
             f"  DSPs           {_use(report['dsps'], capacity['dsps'])}",
             f"  I/O pins       {_use(report['io'], capacity['io'])}"]
    if report["fmax_mhz"] is not None:
        timing = f"  Fmax           {report['fmax_mhz']:.2f} MHz (nextpnr, clock to clock)"
    else:
        timing = f"  critical path  {report['critical_path_ns']:.2f} ns (no clock: input to output, nextpnr)"
    if "target_mhz" in report:
        timing += (f"; target {report['target_mhz']:g} MHz {'met' if report['meets'] else 'MISSED'}, "
                   f"slack {report['slack_ns']:+.2f} ns")
    lines.append(timing)
    search = report.get("pipeline_search")
    if search:
        runs = ", ".join(f"depth {run['max_adder_depth']}: "
                         + (f"{run['fmax_mhz']:.1f} MHz" if run["fmax_mhz"] else "does not fit")
                         for run in search["runs"])
        outcome = (f"max-adder-depth {search['max_adder_depth']} meets it" if search["meets"] else
                   f"no depth meets it: misses by {search['miss_mhz']:.2f} MHz at max-adder-depth "
                   f"{search['max_adder_depth']}, the fastest")
        lines.append(f"  pipelining     for {search['target_mhz']:g} MHz ({search['levels']} adder levels): {outcome}; "
                     f"place-and-route runs: {runs}")
    if report.get("icetime_ns"):
        delay = report["icetime_ns"]
        lines.append(f"  icetime        {delay:.2f} ns longest path ({1000 / delay:.2f} MHz; "
                     f"icestorm's timing model, a second opinion)")
    if search and not search["meets"]:
        lines.append(f"  no pipeline depth meets {search['target_mhz']:g} MHz on the {report['device']}"
                     + (f" ({search['limit']})" if search.get("limit") else "")
                     + f": ask for at most {report['fmax_mhz']:.1f} MHz, or a larger device")
    elif report["serial"] and not report.get("meets", True):
        lines.append(f"  the UART's {report['serial']['clock_hz'] / 1e6:g} MHz clock is too fast for this circuit: "
                     f"compile it pipelined (--max-adder-depth) so that it meets the clock")
    check = report["netlist_check"]
    if check["simulated"]:
        through = f" through {check['through']}" if check.get("through") else ""
        uart = (f"; the wrapper through the UART: {check['uart']['vectors']} vectors, "
                f"{check['uart']['mismatches']} mismatches" if "uart" in check else "")
        lines.append(f"  post-synthesis netlist: {check['vectors']} vectors{through}, {check['mismatches']} "
                     f"mismatches{uart} (Icarus, Yosys' iCE40 cell models, against the reference)")
    else:
        lines.append(f"  post-synthesis netlist: not simulated ({check['reason']})")
    seconds = report["seconds"]
    lines.append("  seconds        " + ", ".join(f"{step} {value:g}" for step, value in seconds.items()))
    lines.append(f"  bitstream      {report['files']['bitstream']}")
    return "\n".join(lines)
