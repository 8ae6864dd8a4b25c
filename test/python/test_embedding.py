"""hardcore passes inside a caller's own torch-mlir PassManager and context."""

import numpy as np
import pytest
from torch_mlir import ir, passmanager
from torch_mlir.dialects import irdl
from torch_mlir.dialects import torch as torch_dialect

from hardcore.dialects import IRDL_PATH
from hardcore.errors import UsageError
from hardcore.interpreter import find_function, run_function
from hardcore.pipeline import add_hardcore_passes

TORCH_IR = """
func.func @tiny(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,1],f32> {
  %w = torch.vtensor.literal(dense<[[0.75, -0.5]]> : tensor<1x2xf32>) : !torch.vtensor<[1,2],f32>
  %b = torch.vtensor.literal(dense<[0.25]> : tensor<1xf32>) : !torch.vtensor<[1],f32>
  %0 = torch.aten.linear %arg0, %w, %b : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>, !torch.vtensor<[1],f32> -> !torch.vtensor<[1,1],f32>
  return %0 : !torch.vtensor<[1,1],f32>
}
"""


def test_passes_in_a_foreign_pass_manager():
    context = ir.Context()  # the caller's own context: torch dialect + hardcore from its IRDL file
    torch_dialect.register_dialect(context)
    with context, ir.Location.unknown():
        irdl.load_dialects(ir.Module.parse(IRDL_PATH.read_text()))
        module = ir.Module.parse(TORCH_IR)
        manager = passmanager.PassManager("builtin.module")
        manager.add("canonicalize")
        add_hardcore_passes(manager, "hardcore-import,hardcore-quantize{act-bits=6},cse,hardcore-fold-weights")
        manager.run(module.operation)
        function = find_function(module.operation)
        assert str(function.type) == "(tensor<2xi6>) -> tensor<1xi6>"
        inputs = np.array([[-32, -32], [31, 31], [-32, 31], [31, -32], [0, 0]])
        outputs = run_function(function, inputs)
        assert outputs.shape == (5, 1)


def test_to_hw_is_refused_in_a_torch_mlir_pass_manager():
    manager = passmanager.PassManager("builtin.module", context=ir.Context())
    with pytest.raises(UsageError, match=r"^hardcore-to-hw produces CIRCT IR"):
        add_hardcore_passes(manager, "hardcore-to-hw")
