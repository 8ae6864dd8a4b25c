"""The shape every hardcore pass has: a name, typed options, a run method.

A pass is a frozen dataclass (xDSL's ModulePass shape): its fields are its
options, `weight_bits` spelled `weight-bits` on the command line.  An instance
is also the callable an upstream PassManager takes (`pm.add(pass_, name=...)`).
"""

from __future__ import annotations

import dataclasses
import traceback
from typing import Any, ClassVar

from torch_mlir import ir

from hardcore.errors import UsageError

__all__ = ["ModulePass", "PassFailed", "Rejected", "parse_options"]


class PassFailed(Exception):
    """Raised inside `run` after errors were emitted as diagnostics."""


class Rejected(Exception):
    """A function the pass cannot rewrite; `message` says why, at `op` (`ModulePass.rewrite_each`)."""

    def __init__(self, op, message: str):
        super().__init__(message)
        self.op, self.message = op, message


def _convert(text: str, field: dataclasses.Field, pass_name: str) -> Any:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    try:
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
        if kind.startswith("bool"):
            if text not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text in ("true", "1")
        return text
    except ValueError:
        raise UsageError(
            f"{pass_name}: option '{field.name.replace('_', '-')}' expects {kind}, got '{text}'") from None


def parse_options(cls, text: str) -> dict:
    """`weight-bits=8 act-bits=4` -> {"weight_bits": 8, "act_bits": 4}."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("cli", True)}
    options = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        name = key.replace("-", "_")
        if not sep or name not in fields:
            known = ", ".join(n.replace("_", "-") for n in fields) or "none"
            raise UsageError(f"{cls.name}: unknown option '{key}' (options: {known})")
        options[name] = _convert(value, fields[name], cls.name)
    return options


@dataclasses.dataclass(frozen=True)
class ModulePass:
    name: ClassVar[str] = ""

    @classmethod
    def from_options(cls, text: str = "") -> "ModulePass":
        instance = cls(**parse_options(cls, text))
        instance.validate()
        return instance

    def validate(self) -> None:
        """Raise UsageError for option values out of range."""

    def run(self, module: ir.Operation) -> None:
        raise NotImplementedError

    def error(self, op, message: str) -> None:
        op.location.emit_error(message)

    def rewrite_each(self, functions, rewrite) -> None:
        """`rewrite(function)` for each function; each `Rejected` becomes an error at its op
        ("<pass>: <message>"), and PassFailed is raised after all of them ran."""
        ok = True
        for function in functions:
            try:
                rewrite(function)
            except Rejected as rejected:
                self.error(rejected.op, f"{self.name}: {rejected.message}")
                ok = False
        if not ok:
            raise PassFailed()

    def __call__(self, op: ir.Operation, pass_) -> None:
        try:
            with op.context, op.location:
                self.run(op)
        except PassFailed:
            pass_.signal_pass_failure()
        except Exception as exc:  # a bug in the pass: report it at the module, do not abort
            op.location.emit_error(
                f"internal error in {self.name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            pass_.signal_pass_failure()

    def pipeline_text(self) -> str:
        options = []
        for field in dataclasses.fields(self):
            if not field.metadata.get("cli", True):
                continue
            value = getattr(self, field.name)
            if value is None or value == field.default:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            options.append(f"{field.name.replace('_', '-')}={value}")
        return self.name + ("{" + " ".join(options) + "}" if options else "")
