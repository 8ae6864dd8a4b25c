"""CIRCT side: the one crossing from torch-mlir's MLIR to CIRCT's, and Verilog export.

The two Python packages each bundle their own copy of MLIR; IR objects never
pass between them.  `to_circt` parses hw/comb text (made by hardcore-to-hw in
torch-mlir's context) into a fresh CIRCT context, and everything after that
runs there.
"""

from __future__ import annotations

import io
import sys
import types

from hardcore.errors import CompileError, Diagnostic

# CIRCT's builders retry a failing `import circt.dialects.builtin` for every
# op they create (~10x slower); an empty module under that name stops it.
sys.modules.setdefault("circt.dialects.builtin", types.ModuleType("circt.dialects.builtin"))

import circt  # noqa: E402
from circt import ir as circt_ir  # noqa: E402
from circt import passmanager as circt_passmanager  # noqa: E402

__all__ = ["to_circt", "run_circt_pipeline", "export_verilog", "LOWERING_OPTIONS"]

# Clean, tool-friendly SystemVerilog: no source locations, no local variables
# in procedural blocks (Yosys 0.23 and Icarus read the result).
LOWERING_OPTIONS = "locationInfoStyle=none,disallowLocalVariables"


def _new_context():
    context = circt_ir.Context()
    circt.register_dialects(context)
    return context


def _diagnostics(error) -> list[Diagnostic]:
    return [Diagnostic(str(d.location), "error", d.message)
            for d in getattr(error, "error_diagnostics", [])]


def to_circt(text: str):
    """Parse CIRCT IR text into a new CIRCT context: the crossing between the two MLIRs."""
    context = _new_context()
    with context, circt_ir.Location.unknown():
        try:
            module = circt_ir.Module.parse(text)
        except circt_ir.MLIRError as error:
            diagnostics = _diagnostics(error)
            raise CompileError(f"CIRCT rejected the hw IR: {diagnostics[0] if diagnostics else error}",
                               diagnostics) from None
        module.operation.attributes["circt.loweringOptions"] = circt_ir.StringAttr.get(LOWERING_OPTIONS)
    return module


def run_circt_pipeline(module, pipeline: str) -> None:
    """Run a CIRCT/upstream pass pipeline, e.g. `builtin.module(hw.module(cse))`."""
    with module.context:
        try:
            manager = circt_passmanager.PassManager.parse(pipeline)
        except ValueError as error:
            raise CompileError(f"bad CIRCT pass pipeline '{pipeline}': {error}") from None
        try:
            manager.run(module.operation)
        except circt_ir.MLIRError as error:
            diagnostics = _diagnostics(error)
            raise CompileError(f"CIRCT pipeline '{pipeline}' failed: "
                               f"{diagnostics[0] if diagnostics else error}", diagnostics) from None


def export_verilog(module) -> str:
    """SystemVerilog for a CIRCT module; an empty or failed export is an error, not a file.

    CIRCT's export prints its errors and raises nothing when it fails (for
    example on unlowered `seq` ops), leaving an empty result: checked here.
    Export rewrites the module in place.
    """
    run_circt_pipeline(module, "builtin.module(lower-seq-to-sv)")  # registers to always_ff
    buffer = io.StringIO()
    with module.context:
        circt.export_verilog(module, buffer)
    text = buffer.getvalue()
    if "endmodule" not in text:
        raise CompileError("CIRCT's Verilog export produced no module (unlowered ops left?)")
    return text
