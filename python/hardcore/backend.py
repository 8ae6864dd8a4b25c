"""CIRCT side: the one crossing from torch-mlir's MLIR to CIRCT's, and Verilog export.

The two Python packages each bundle their own copy of MLIR; IR objects never
pass between them.  `to_circt` parses hw/comb text (made by hardcore-to-hw in
torch-mlir's context) into a fresh CIRCT context, and everything after that
runs there.
"""

from __future__ import annotations

import io
import re
import sys
import types

from hardcore.errors import CompileError, Diagnostic
from hardcore.passes.to_hw import SHIFTED_OUT
from hardcore.scale import timing

# CIRCT's builders retry a failing `import circt.dialects.builtin` for every
# op they create (~10x slower); an empty module under that name stops it.
sys.modules.setdefault("circt.dialects.builtin", types.ModuleType("circt.dialects.builtin"))

import circt  # noqa: E402
from circt import ir as circt_ir  # noqa: E402
from circt import passmanager as circt_passmanager  # noqa: E402

__all__ = ["to_circt", "run_circt_pipeline", "export_verilog", "mark_lint_exceptions", "LOWERING_OPTIONS"]

# Clean, tool-friendly SystemVerilog: no source locations, no local variables
# in procedural blocks (Yosys 0.23 and Icarus read the result).
LOWERING_OPTIONS = "locationInfoStyle=none,disallowLocalVariables"


# The two warnings of `verilator --lint-only -Wall` that the circuit cannot avoid,
# each switched off around exactly the declarations it concerns (docs/errors.md):
# - UNUSEDSIGNAL on a sum whose low bits a right shift drops (hardcore-to-hw names
#   them SHIFTED_OUT): the bits are needed, they carry into the bits the
#   requantization keeps.
# - DECLFILENAME on the layer modules: they live in the file named after the top
#   module, one file per circuit.
# A layer module's first line, or a SHIFTED_OUT declaration's, anywhere in the text ([^\S\n]: a blank but a newline).
_MARKED_LINE = re.compile(rf"^(?:(?P<module>module \w+\()|[^\S\n]*(?:wire|reg)[^\S\n]+(?:\[\d+:\d+\][^\S\n]+)?"
                          rf"{SHIFTED_OUT}(?:_\d+)?\b)", re.M)
_UNUSEDSIGNAL_OFF = ("  // the low bits only carry into the bits a right shift keeps\n"
                      "  // verilator lint_off UNUSEDSIGNAL\n")
_DECLFILENAME_OFF = ("// a layer module, in the file of its top module\n"
                     "// verilator lint_off DECLFILENAME\n")


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


def export_verilog(module, registers: bool = True) -> str:
    """SystemVerilog for a CIRCT module; an empty or failed export is an error, not a file.

    CIRCT's export prints its errors and raises nothing when it fails (for
    example on unlowered `seq` ops), leaving an empty result: checked here.
    Export rewrites the module in place.  `registers=False` says the module
    has no `seq` ops (a combinational circuit): no pass to lower them (a walk
    of every op, seconds on a million-adder circuit).
    """
    with timing.stage("export-verilog"):
        if registers:
            run_circt_pipeline(module, "builtin.module(lower-seq-to-sv)")  # registers to always_ff
        buffer = io.StringIO()
        with module.context:
            circt.export_verilog(module, buffer)
        text = buffer.getvalue()
        buffer.close()  # its copy of the text goes before the lint marks make another (the export's peak)
        if "endmodule" not in text:
            raise CompileError("CIRCT's Verilog export produced no module (unlowered ops left?)")
        return mark_lint_exceptions(text)


def mark_lint_exceptions(verilog: str) -> str:
    """CIRCT's Verilog with Verilator lint comments around the two unavoidable warnings.

    Every module after the first (the top module) is a layer module: its
    name cannot match the file's.  A declaration named SHIFTED_OUT holds a sum
    whose low bits only carry into the bits a right shift keeps.  Both get a
    `lint_off` for that one warning, switched back on right after.
    """
    # Only the lines these patterns find change: the text between them is copied in slices, not
    # split into lines (a million-adder circuit's Verilog has millions).
    marked, position, modules = [], 0, 0
    for match in _MARKED_LINE.finditer(verilog):
        start = match.start()
        if start < position:  # a line of a declaration already marked
            continue
        end = _line_end(verilog, start)
        if match.group("module"):
            modules += 1
            if modules > 1:
                marked += [verilog[position:start], _DECLFILENAME_OFF, verilog[start:end],
                           "// verilator lint_on DECLFILENAME\n"]
                position = end
            continue
        marked += [verilog[position:start], _UNUSEDSIGNAL_OFF]
        line = start
        while not verilog[line:end].rstrip().endswith(";") and end < len(verilog):
            line, end = end, _line_end(verilog, end)  # the declaration goes on: its next line
        marked.append(verilog[start:end])
        if verilog[line:end].rstrip().endswith(";"):
            marked.append("  // verilator lint_on UNUSEDSIGNAL\n")
        position = end
    marked.append(verilog[position:])
    return "".join(marked)


def _line_end(text: str, start: int) -> int:
    """Where the line starting at `start` ends, past its newline."""
    end = text.find("\n", start)
    return len(text) if end < 0 else end + 1
