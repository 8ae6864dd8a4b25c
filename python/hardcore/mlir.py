"""torch-mlir's MLIR context with the hardcore dialect, parsing and diagnostics.

Everything up to `hardcore-to-hw` lives in torch-mlir's copy of MLIR; this
module is the one place that makes such a context, so the dialect is loaded
exactly once per context (loading twice raises).
"""

from __future__ import annotations

import re
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
    "DiagnosticLog",
]

_SEVERITY = {"ERROR": "error", "WARNING": "warning", "NOTE": "note", "REMARK": "remark"}
_PARSER_LOCATION = re.compile(r'^"-":(\d+):(\d+)')


def new_context() -> ir.Context:
    """A torch-mlir context with the torch dialect and hardcore (from its IRDL file)."""
    context = ir.Context()
    torch_dialect.register_dialect(context)
    with context, ir.Location.unknown():
        irdl.load_dialects(ir.Module.parse(IRDL_PATH.read_text()))
    return context


def location_text(location: ir.Location, filename: str | None = None) -> str:
    """`file:line:col` for a location; for a call site, the user's caller.

    torch-mlir's importer gives layer ops `callsite(torch/nn/... at model.py:L)`:
    the caller is the line in the user's `forward`, the place worth showing.
    """
    if isinstance(location, ir.CallSiteLoc):
        return location_text(location.caller, filename)
    if isinstance(location, ir.FileLineColLoc):
        name = location.filename
        if name == "-" and filename:
            name = filename
        return f"{name}:{location.start_line}:{location.start_col}"
    if isinstance(location, ir.NameLoc):
        return location_text(location.child_loc, filename)
    if isinstance(location, ir.FusedLoc):
        inner = location.locations
        return location_text(inner[0], filename) if inner else "<unknown>"
    return "<unknown>"


class DiagnosticLog:
    """Diagnostics caught from a context while a `collect_diagnostics` block runs."""

    def __init__(self, filename: str | None):
        self.filename = filename
        self.diagnostics: list[Diagnostic] = []

    def _handle(self, diagnostic) -> bool:
        severity = _SEVERITY.get(str(diagnostic.severity).rsplit(".", 1)[-1], "error")
        self.diagnostics.append(Diagnostic(
            location_text(diagnostic.location, self.filename), severity, diagnostic.message))
        for note in diagnostic.notes:
            self._handle(note)
        return True

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


@contextmanager
def collect_diagnostics(context: ir.Context, filename: str | None = None) -> Iterator[DiagnosticLog]:
    """Route the context's diagnostics into a log instead of stderr."""
    log = DiagnosticLog(filename)
    handler = context.attach_diagnostic_handler(log._handle)
    try:
        yield log
    finally:
        handler.detach()


def parse_module(text: str, context: ir.Context, filename: str = "<stdin>") -> ir.Module:
    """Parse MLIR text; a syntax or verifier error becomes a CompileError at its line."""
    with context, ir.Location.unknown():
        try:
            return ir.Module.parse(text)
        except ir.MLIRError as error:
            diagnostics = [_parser_diagnostic(d, filename) for d in error.error_diagnostics]
            first = diagnostics[0] if diagnostics else Diagnostic(filename, "error", str(error))
            raise CompileError(str(first), diagnostics) from None


def _parser_diagnostic(diagnostic, filename: str) -> Diagnostic:
    return Diagnostic(location_text(diagnostic.location, filename), "error", diagnostic.message)
