"""The errors hardcore raises, each naming the place it concerns."""

from __future__ import annotations

__all__ = ["HardcoreError", "CompileError", "UsageError", "Diagnostic"]

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One MLIR diagnostic: where, how bad, what."""

    location: str
    severity: str
    message: str
    line: int | None = None  # the line in the input file, when the location has one

    def __str__(self) -> str:
        return f"{self.location}: {self.severity}: {self.message}"


class HardcoreError(Exception):
    """Base class: a failure the user can act on (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.diagnostics = list(diagnostics or [])


class CompileError(HardcoreError):
    """A pass, the parser or a tool rejected the input."""


class UsageError(HardcoreError):
    """Bad options or arguments (exit code 2)."""

    exit_code = 2
