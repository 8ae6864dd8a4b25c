"""Pass pipelines that mix hardcore's Python passes with upstream and CIRCT passes.

`builtin.module(hardcore-import, canonicalize, hardcore-quantize{act-bits=4},
hardcore-fold-weights, hardcore-to-hw, hw.module(cse))`: everything before
`hardcore-to-hw` runs in one torch-mlir PassManager (hardcore passes added as
Python passes, the rest by their registered names); `hardcore-to-hw` crosses
to CIRCT's MLIR; what follows runs in a CIRCT PassManager.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir, passmanager

from hardcore import backend
from hardcore.errors import CompileError, UsageError
from hardcore.mlir import collect_diagnostics, make_diagnostic
from hardcore.pass_base import ModulePass, PassFailed
from hardcore.passes import PASSES, ToHwPass
from hardcore.scale import timing

__all__ = ["PipelineStep", "parse_pipeline", "run_pipeline", "add_hardcore_passes", "PipelineResult"]


def _mlir_pipeline_error(element: str, error: Exception) -> str:
    """The one line of MLIR's pipeline parser error that says what is wrong (not its source excerpt)."""
    for line in str(error).splitlines():
        if "error: " in line:
            return line.split("error: ", 1)[1].strip()
    return f"bad pipeline element '{element}'"


@dataclass(frozen=True)
class PipelineStep:
    text: str  # as written, e.g. `hardcore-quantize{act-bits=4}` or `func.func(cse)`
    name: str  # the pass or anchor name
    options: str  # text inside {...}, empty when none

    @property
    def is_hardcore(self) -> bool:
        return self.name in PASSES

    def make_pass(self) -> ModulePass:
        return PASSES[self.name].from_options(self.options)


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
            if depth < 0:
                raise UsageError(f"unbalanced ')' or '}}' in pass pipeline '{text}'")
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    if depth != 0:
        raise UsageError(f"unbalanced '(' or '{{' in pass pipeline '{text}'")
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def parse_pipeline(text: str) -> list[PipelineStep]:
    """Split a textual pipeline into top-level steps (`builtin.module(...)` is optional)."""
    text = text.strip()
    if text.startswith("builtin.module(") and text.endswith(")"):
        text = text[len("builtin.module("):-1]
    steps = []
    for part in _split_top_level(text):
        name = part.split("{", 1)[0].split("(", 1)[0].strip()
        options = ""
        if "{" in part and not part.split("{", 1)[0].count("("):
            if not part.endswith("}"):
                raise UsageError(f"malformed pass options in '{part}'")
            options = part[part.index("{") + 1:-1].strip()
        steps.append(PipelineStep(part, name, options))
    return steps


def add_hardcore_passes(manager: passmanager.PassManager, pipeline: str | list[PipelineStep],
                        overrides: dict | None = None, verify_each: bool = False) -> None:
    """Add hardcore passes (and upstream ones) to a caller's torch-mlir PassManager.

    For embedding in other MLIR toolchains: the caller's context must have the
    hardcore dialect (`hardcore.mlir.new_context`, or load
    dialects/hardcore.irdl.mlir with `irdl.load_dialects`).
    `hardcore-to-hw` cannot run there (its output is CIRCT IR): use
    `run_pipeline` or `hardcore.backend`.  With `verify_each`, every hardcore
    pass checks itself with the reference interpreter (`hardcore.verify`;
    upstream passes in the manager are not checked).
    """
    steps = parse_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    overrides = overrides or {}
    for step in steps:
        if step.name == ToHwPass.name:
            raise UsageError("hardcore-to-hw produces CIRCT IR and cannot run in a torch-mlir "
                             "PassManager; use hardcore.pipeline.run_pipeline")
        if step.is_hardcore:
            instance = overrides.get(step.name) or step.make_pass()
            if verify_each:
                from hardcore.verify import VerifyingPass
                instance = VerifyingPass(instance)
            manager.add(instance, name=step.name)
        else:
            try:
                manager.add(step.text)
            except ValueError as error:
                raise UsageError(f"--pass-pipeline: {_mlir_pipeline_error(step.text, error)}") from None


@dataclass
class PipelineResult:
    """Where a pipeline ended: a torch-mlir module, or CIRCT IR after hardcore-to-hw."""

    module: object  # torch_mlir.ir.Module or circt.ir.Module
    in_circt: bool
    # In CIRCT with no pass after hardcore-to-hw: the module's IR, as the text hardcore-to-hw made and CIRCT parsed.
    hw_text: str | None = None

    def text(self) -> str:
        return str(self.module)


def run_pipeline(module: ir.Module, pipeline: str | list[PipelineStep], filename: str = "<stdin>",
                 overrides: dict | None = None, line_offset: int = 0, verify_each: bool = False,
                 verify_report=None, release: bool = False) -> PipelineResult:
    """Run a mixed pipeline; a failing pass raises CompileError with its diagnostics.

    `verify_each` runs one step at a time and checks each with the reference
    interpreter (`hardcore.verify.run_verified`): the first pass that changes
    the results raises `VerificationError`.  `verify_report` gets one line per
    checked step.

    `overrides` maps a hardcore pass name to a ready pass instance (the Python
    API uses it to hand over calibration data, which has no textual form).
    With `release`, a pipeline through hardcore-to-hw empties `module` once it
    is lowered (the caller needs it no more), so that the CIRCT stages have
    its memory: a large DAG holds gigabytes.  Not with `verify_each`.
    """
    steps = parse_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    if verify_each:
        from hardcore.verify import run_verified
        for step in steps:  # option errors before any work
            if step.is_hardcore and step.name not in (overrides or {}):
                step.make_pass()
        return run_verified(module, steps, filename, overrides, line_offset, report=verify_report)
    split = next((i for i, s in enumerate(steps) if s.name == ToHwPass.name), len(steps))
    before, after = steps[:split], steps[split + 1:]
    for step in after:
        if step.is_hardcore:
            raise UsageError(f"{step.name} must run before hardcore-to-hw")
    context = module.context
    with context, collect_diagnostics(context, filename, line_offset) as log:
        # Timed, each pass runs in a manager of its own, so that each has its row.
        groups = _one_by_one(before)
        managers = []
        for group in groups:
            managers.append(passmanager.PassManager("builtin.module"))
            add_hardcore_passes(managers[-1], group, overrides)  # bad options fail here, before any work
        for group, manager in zip(groups, managers):
            try:
                with timing.stage(_stage_name(group)):
                    manager.run(module.operation)
            except ir.MLIRError as error:
                # A failing run hands its diagnostics to the exception, not the handler.
                log.diagnostics += [make_diagnostic(d, filename, line_offset) for d in error.error_diagnostics]
                _raise_failure(log, "the pass pipeline failed")
        if split == len(steps):
            return PipelineResult(module, False)
        try:
            with timing.stage(ToHwPass.name):
                text = steps[split].make_pass().lower(module.operation)
                if release:
                    for op in list(module.body.operations):
                        op.erase()
        except PassFailed:
            _raise_failure(log, "hardcore-to-hw failed")
    with timing.stage("parse hw IR in CIRCT"):
        circt_module = backend.to_circt(text)
    if after:
        text = None  # the passes make it stale: its memory goes to them
    for group in _one_by_one(after):
        with timing.stage(_stage_name(group)):
            backend.run_circt_pipeline(circt_module, "builtin.module(" + ",".join(s.text for s in group) + ")")
    return PipelineResult(circt_module, True, text)


def _one_by_one(steps: list[PipelineStep]) -> list[list[PipelineStep]]:
    """The steps as the pass managers that run them: one for all, or one each when timed."""
    if not steps:
        return []
    return [[step] for step in steps] if timing.active() else [steps]


def _stage_name(group: list[PipelineStep]) -> str:
    if len(group) > 1:
        return "passes"
    return group[0].name if group[0].is_hardcore else group[0].text


def _raise_failure(log, fallback: str):
    errors = log.errors or log.diagnostics
    message = "\n".join(str(d) for d in errors) or fallback
    raise CompileError(message, log.diagnostics) from None
