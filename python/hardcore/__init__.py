"""hardcore: compile a trained neural network into a hardwired circuit.

Every weight becomes a constant folded into shift/add logic; the result is
SystemVerilog with no weight memory and no multipliers.
"""

from hardcore import cmvm
from hardcore.compiler import Circuit, compile
from hardcore.errors import CompileError, HardcoreError, UsageError

__all__ = ["compile", "Circuit", "cmvm", "HardcoreError", "CompileError", "UsageError"]
__version__ = "0.1.0"
