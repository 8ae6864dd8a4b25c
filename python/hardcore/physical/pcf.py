"""A design's ports to an iCE40 pin constraint file (PCF): one `set_io` line per port bit.

The pins come from icestorm's own pin database (`icebox.py` of the
`fpga-icestorm` package), in the package's order (the UP5K's LED driver pins
last).  When the ports need more pins than the package has, or icestorm's
database is not installed, every line is a comment with a placeholder pin
for the user to fill in.
"""

from __future__ import annotations

import ast
import re
import shutil
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Optional

from hardcore.errors import UsageError

__all__ = ["pcf_template", "package_pins", "read_pcf_pins"]

# Pins assigned last: the UP5K's RGB LED driver pins (24 mA open-drain sinks on a board; nextpnr takes them
# as plain I/O).
_LAST = {"5k-sg48": ("39", "40", "41"), "5k-uwg30": ("A5", "B5", "C5")}

_SET_IO = re.compile(r"^\s*set_io\s+(?:-\S+\s+)*(\S+)\s+(\S+)")


@lru_cache(maxsize=None)
def _pinloc_db() -> Optional[dict]:
    """icestorm's package pin table (package -> [(pin, x, y, z)]), or None if fpga-icestorm is not installed.

    Read as a literal from icebox.py's source, not imported: the module is not ours to run."""
    candidates = [Path("/usr/share/fpga-icestorm/python/icebox.py")]
    icepack = shutil.which("icepack")
    if icepack:
        candidates.insert(0, Path(icepack).resolve().parent.parent / "share" / "fpga-icestorm" / "python" / "icebox.py")
    for path in candidates:
        try:
            with warnings.catch_warnings():  # its regular expressions' escapes warn under Python 3.12+
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pinloc_db" for t in node.targets):
                try:
                    return ast.literal_eval(node.value)
                except ValueError:
                    break
    return None


def package_pins(icebox: str, package: str) -> Optional[list[str]]:
    """The package's pins a port bit may take, in icestorm's order; None when icestorm's table is missing."""
    table = _pinloc_db()
    key = f"{icebox}-{package}"
    if table is None or key not in table:
        return None
    last = _LAST.get(key, ())
    pins = [entry[0] for entry in table[key]]
    return [pin for pin in pins if pin not in last] + [pin for pin in pins if pin in last]


def _bit_names(ports: dict) -> list[tuple[str, str]]:
    """(PCF name, direction) of every port bit: `clk` first (a one-bit port by its name), then `x[0]` ..."""
    names = []
    for name in sorted(ports, key=lambda port: port != "clk"):  # a stable sort: the others keep their order
        direction, width = ports[name]
        if width == 1:
            names.append((name, direction))
        else:
            names.extend((f"{name}[{bit}]", direction) for bit in range(width))
    return names


def pcf_template(ports: dict, top: str, device: str, package: str, icebox: str) -> str:
    """The PCF for `ports` (name -> (direction, width)) of module `top` on `device`-`package`."""
    bits = _bit_names(ports)
    pins = package_pins(icebox, package)
    assigned = pins is not None and len(bits) <= len(pins)
    header = [
        f"# Pin constraints for {top} on the iCE40 {device.upper()} ({package}), written by hardcore fpga.",
        "# EDIT THE PINS FOR YOUR BOARD: the ones below are the package's user I/O pins in order",
        "# (icestorm's pin table), not your board's wiring.  Give this file back with --pcf FILE.",
    ]
    if not assigned:
        why = ("icestorm's pin table (fpga-icestorm) is not installed" if pins is None else
               f"the ports need {len(bits)} pins, the package has {len(pins)}: use the serial wrapper "
               f"(hardcore fpga --serial uart)")
        header.append(f"# No pins assigned ({why}); every line is a placeholder to fill in and uncomment.")
    lines = header + [""]
    for index, (name, direction) in enumerate(bits):
        if assigned:
            lines.append(f"set_io {name} {pins[index]}  # {direction}")
        else:
            lines.append(f"# set_io {name} PIN  # {direction}")
    return "\n".join(lines) + "\n"


def read_pcf_pins(path) -> dict[str, str]:
    """Port bit -> pin of the `set_io` lines of a PCF file; UsageError if it cannot be read."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read the PCF: {getattr(error, 'strerror', None) or error}") from None
    pins = {}
    for line in text.splitlines():
        match = _SET_IO.match(line.split("#", 1)[0])
        if match:
            pins[match.group(1)] = match.group(2)
    return pins
