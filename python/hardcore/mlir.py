"""torch-mlir's MLIR context with the hardcore dialect, parsing and diagnostics.

Everything up to `hardcore-to-hw` lives in torch-mlir's copy of MLIR; this
module is the one place that makes such a context, so the dialect is loaded
exactly once per context (loading twice raises).
"""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from typing import Iterator

from torch_mlir import ir
from torch_mlir.dialects import irdl
from torch_mlir.dialects import torch as torch_dialect

from hardcore.dialects import IRDL_PATH
from hardcore.errors import CompileError, Diagnostic

__all__ = [
    "new_context",
    "parse_module",
    "collect_diagnostics",
    "location_text",
    "location_line",
    "make_diagnostic",
    "DiagnosticLog",
]

# The hardcore dialect comes from IRDL and has no Python module.  MLIR's bindings look for
# `torch_mlir.dialects.<namespace>` whenever they wrap an op, and a module that is missing is
# searched for on every op (two failed imports each, about 50 µs: 28 of 75 s of a 267k-weight
# compile).  An empty module in sys.modules is found at once; ops stay generic OpViews.
sys.modules.setdefault("torch_mlir.dialects.hardcore", types.ModuleType("torch_mlir.dialects.hardcore"))

_SEVERITY = {"ERROR": "error", "WARNING": "warning", "NOTE": "note", "REMARK": "remark"}


def new_context() -> ir.Context:
    """A torch-mlir context with the torch dialect and hardcore (from its IRDL file)."""
    context = ir.Context()
    torch_dialect.register_dialect(context)
    with context, ir.Location.unknown():
        irdl.load_dialects(ir.Module.parse(IRDL_PATH.read_text()))
    return context



def _downcast(location: ir.Location) -> ir.Location:
    """Diagnostics may carry a plain Location; find its concrete kind."""
    for kind in (ir.FileLineColLoc, ir.CallSiteLoc, ir.NameLoc, ir.FusedLoc):
        if isinstance(location, kind):
            return location
    for kind in (ir.FileLineColLoc, ir.CallSiteLoc, ir.NameLoc, ir.FusedLoc):
        try:
            return kind(location)
        except (ValueError, TypeError):
            continue
    return location


def location_line(location: ir.Location) -> int | None:
    """The line of a location (a call site's caller), or None."""
    location = _downcast(location)
    if isinstance(location, ir.CallSiteLoc):
        return location_line(location.caller)
    if isinstance(location, ir.FileLineColLoc):
        return location.start_line
    if isinstance(location, ir.NameLoc):
        return location_line(location.child_loc)
    if isinstance(location, ir.FusedLoc) and location.locations:
        return location_line(location.locations[0])
    return None


def location_text(location: ir.Location, filename: str | None = None, line_offset: int = 0) -> str:
    """`file:line:col` for a location; for a call site, the user's caller.

    torch-mlir's importer gives layer ops `callsite(torch/nn/... at model.py:L)`:
    the caller is the line in the user's `forward`, the place worth showing.
    """
    location = _downcast(location)
    if isinstance(location, ir.CallSiteLoc):
        return location_text(location.caller, filename, line_offset)
    if isinstance(location, ir.FileLineColLoc):
        name = location.filename
        if name == "-":
            return f"{filename or '<stdin>'}:{location.start_line + line_offset}:{location.start_col}"
        return f"{name}:{location.start_line}:{location.start_col}"
    if isinstance(location, ir.NameLoc):
        if str(location.child_loc) == "loc(unknown)":  # a name alone (the ONNX frontend's nodes)
            return location.name_str
        return location_text(location.child_loc, filename, line_offset)
    if isinstance(location, ir.FusedLoc):
        inner = location.locations
        return location_text(inner[0], filename, line_offset) if inner else filename or "<unknown>"
    return filename or "<unknown>"


class DiagnosticLog:
    """Diagnostics caught from a context while a `collect_diagnostics` block runs."""

    def __init__(self, filename: str | None, line_offset: int = 0):
        self.filename = filename
        self.line_offset = line_offset
        self.diagnostics: list[Diagnostic] = []

    def _handle(self, diagnostic) -> bool:
        self.diagnostics.append(make_diagnostic(diagnostic, self.filename, self.line_offset))
        for note in diagnostic.notes:
            self._handle(note)
        return True

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def make_diagnostic(diagnostic, filename: str | None, line_offset: int = 0) -> Diagnostic:
    severity = _SEVERITY.get(str(diagnostic.severity).rsplit(".", 1)[-1], "error")
    line = location_line(diagnostic.location)
    return Diagnostic(location_text(diagnostic.location, filename, line_offset), severity,
                      diagnostic.message, None if line is None else line + line_offset)


@contextmanager
def collect_diagnostics(context: ir.Context, filename: str | None = None,
                        line_offset: int = 0) -> Iterator[DiagnosticLog]:
    """Route the context's diagnostics into a log instead of stderr."""
    log = DiagnosticLog(filename, line_offset)
    handler = context.attach_diagnostic_handler(log._handle)
    try:
        yield log
    finally:
        handler.detach()


def parse_module(text: str, context: ir.Context, filename: str = "<stdin>",
                 line_offset: int = 0) -> ir.Module:
    """Parse MLIR text; a syntax or verifier error becomes a CompileError at its line."""
    with context, ir.Location.unknown():
        try:
            return ir.Module.parse(text)
        except ir.MLIRError as error:
            diagnostics = [make_diagnostic(d, filename, line_offset) for d in error.error_diagnostics]
            first = diagnostics[0] if diagnostics else Diagnostic(filename, "error", str(error))
            raise CompileError(str(first), diagnostics) from None
