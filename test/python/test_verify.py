"""--verify-each: every pass checked by the reference interpreter; each pass broken on purpose is caught.

Also the proof by testing that widths do not overflow: an adder made one bit
narrower than interval arithmetic says is caught by the interpreter's width
check and, in Verilator, as a mismatch.
"""

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from torch import nn
from torch_mlir import ir, passmanager

import hardcore
from hardcore import backend
from hardcore.adder_graph import signed_width
from hardcore.cli import opt_main
from hardcore.frontend import import_model
from hardcore.fuzz import FuzzNetwork, batches, run_batch
from hardcore.interpreter import InterpreterError, find_function, run_function
from hardcore.irutil import array_attr, body_ops, create_op, dense_attr, i64_attr, int_attr, int_type
from hardcore.mlir import new_context, parse_module
from hardcore.passes import FoldWeightsPass, ImportPass, PipelinePass, QuantizePass
from hardcore.passes import fold_weights, to_hw
from hardcore.pipeline import add_hardcore_passes, run_pipeline
from hardcore.sim import simulate, tool_available
from hardcore.verify import VerificationError, input_vectors, run_stream

# A quantized two-layer network: dense + ReLU + requant, then dense + requant.
QUANTIZED = '''func.func @net(%arg0: tensor<3xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<3xf32>) -> tensor<3xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<[[3, 5, -7], [1, 0, 6]]> : tensor<2x3xi8>, bias = dense<[100, -3]> : tensor<2xi64>} : (tensor<3xi8>) -> tensor<2xi32>
  %2 = "hardcore.relu"(%1) : (tensor<2xi32>) -> tensor<2xi32>
  %3 = "hardcore.requant"(%2) {shift = 2 : i64, min = 0 : i64, max = 255 : i64} : (tensor<2xi32>) -> tensor<2xi9>
  %4 = "hardcore.dense"(%3) {weight = dense<[[7, -3]]> : tensor<1x2xi8>, bias = dense<[5]> : tensor<1xi64>} : (tensor<2xi9>) -> tensor<1xi32>
  %5 = "hardcore.requant"(%4) {shift = 3 : i64, min = -128 : i64, max = 127 : i64} : (tensor<1xi32>) -> tensor<1xi8>
  %6 = "hardcore.dequantize"(%5) {frac_bits = 4 : i64} : (tensor<1xi8>) -> tensor<1xf32>
  return %6 : tensor<1xf32>
}
'''
# The float layer IR of test/Passes/quantize.mlir.
FLOAT = '''func.func @two_layers(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, -1.5], [0.5, 0.25]]> : tensor<2x2xf32>, bias = dense<[0.5, -0.25]> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.relu"(%0) : (tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.dense"(%1) {weight = dense<[[0.75, -0.5]]> : tensor<1x2xf32>, bias = dense<[0.125]> : tensor<1xf32>} : (tensor<2xf32>) -> tensor<1xf32>
  return %2 : tensor<1xf32>
}
'''
FULL_PIPELINE = ("builtin.module(canonicalize,hardcore-quantize{weight-bits=4 act-bits=5},hardcore-fold-weights,"
                 "hardcore-pipeline{max-adder-depth=1},hardcore-to-hw,hw.module(cse))")


def break_pass(monkeypatch, pass_class, edit):
    """Make `pass_class` run as usual and then `edit` its function: a pass broken on purpose."""
    original = pass_class.run

    def broken(self, module):
        original(self, module)
        edit(find_function(module))

    monkeypatch.setattr(pass_class, "run", broken)


def first(function, name):
    return next(op for op in body_ops(function) if op.operation.name == name)


def flip_constant(function):
    op = first(function, "hardcore.constant")
    op.attributes["value"] = i64_attr(int_attr(op, "value") ^ 1)


def drop_adder(function):
    """x + y becomes x: one adder fewer."""
    add = first(function, "hardcore.add")
    with ir.InsertionPoint(add):
        kept = create_op("hardcore.sext", [add.operands[0]], [add.results[0].type], None, add.location)
    add.results[0].replace_all_uses_with(kept.results[0])
    add.operation.erase()


def drop_register(function):
    reg = first(function, "hardcore.reg")
    reg.results[0].replace_all_uses_with(reg.operands[0])
    reg.operation.erase()


def bump_weight(function):
    dense = first(function, "hardcore.dense")
    weight = array_attr(dense, "weight").astype(np.int64)
    weight[0, 1] += 3
    dense.attributes["weight"] = dense_attr(weight, int_type(8))


def bump_last_shift(function):
    op = [op for op in body_ops(function) if op.operation.name == "hardcore.requant"][-1]
    op.attributes["shift"] = i64_attr(int_attr(op, "shift") + 1)


def bump_bias(function):
    dense = first(function, "hardcore.dense")
    bias = array_attr(dense, "bias").astype(np.int64)
    bias[1] += 40
    dense.attributes["bias"] = dense_attr(bias, int_type(64))


def quantized_reference(codes):
    module = parse_module(QUANTIZED, new_context())
    return run_function(find_function(module.operation), codes, from_quantized=True)


def run_verified(text, pipeline):
    return run_pipeline(parse_module(text, new_context()), pipeline, verify_each=True)


# -- a clean pipeline passes, one line per pass ------------------------------------------------

def test_clean_passes_are_checked(capsys):
    lines = []
    run_pipeline(parse_module(FLOAT, new_context()), FULL_PIPELINE.replace(",hardcore-to-hw,hw.module(cse)", ""),
                 verify_each=True, verify_report=lines.append)
    assert lines == [
        "canonicalize: equal to 1e-09 relative on 69 input vectors",
        "hardcore-quantize: each of 2 layers within its rounding bound on 69 input vectors of the input grid",
        "hardcore-fold-weights: bit-exact on 69 input vectors",
        "hardcore-pipeline: bit-exact on 69 input vectors",
    ]


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="no iverilog")
def test_cli_verify_each_including_to_hw(tmp_path, capsys):
    (tmp_path / "net.mlir").write_text(FLOAT)
    assert opt_main([str(tmp_path / "net.mlir"), "--verify-each", f"--pass-pipeline={FULL_PIPELINE}",
                     "-o", str(tmp_path / "out.mlir")]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == \
        "hardcore-opt: verify-each: hardcore-to-hw: bit-exact on 69 input vectors (its Verilog in Icarus)"
    assert "hw.module @two_layers" in (tmp_path / "out.mlir").read_text()


# -- each pass broken on purpose --------------------------------------------------------------

def test_fold_weights_with_a_changed_constant(monkeypatch):
    break_pass(monkeypatch, FoldWeightsPass, flip_constant)
    with pytest.raises(VerificationError, match=r"^hardcore-fold-weights changed the result \(--verify-each\): on "
                       r"input vector 25 \(random #20\) \[87, 48, 52\]: before \[15\], after \[16\] "
                       r"\(output element 0: 15 before, 16 after\)$"):
        run_verified(QUANTIZED, "hardcore-fold-weights")


def test_fold_weights_without_one_adder(monkeypatch):
    break_pass(monkeypatch, FoldWeightsPass, drop_adder)
    with pytest.raises(VerificationError, match=r"^hardcore-fold-weights changed the result \(--verify-each\): on "
                       r"input vector 0 \(all-minimum\) \[-128, -128, -128\]: before \[1\], after \[107\] "
                       r"\(output element 0: 1 before, 107 after\)$"):
        run_verified(QUANTIZED, "hardcore-fold-weights")


def test_pipeline_without_one_register(monkeypatch):
    """The interpreter runs the pipelined DAG as a stream: a missing register mixes two inputs."""
    break_pass(monkeypatch, PipelinePass, drop_register)
    with pytest.raises(VerificationError, match=r"^hardcore-pipeline changed the result \(--verify-each\): on "
                       r"input vector 1 \(all-maximum\) \[127, 127, 127\]: before \[-33\], after \[-83\] "
                       r"\(output element 0: -33 before, -83 after\)$"):
        run_verified(QUANTIZED, "hardcore-fold-weights,hardcore-pipeline{max-adder-depth=1}")


def test_pipeline_streams_are_needed():
    """Without the stream (registers as wires) the broken pipeline above would look correct."""
    module = parse_module(QUANTIZED, new_context())
    run_pipeline(module, "hardcore-fold-weights,hardcore-pipeline{max-adder-depth=1}")
    with module.context:
        drop_register(find_function(module.operation))
    function = find_function(module.operation)
    codes, _ = input_vectors(3, -128, 127, 64, 0)
    reference = quantized_reference(codes)
    assert np.array_equal(run_function(function, codes), reference)  # wires: no difference
    assert not np.array_equal(run_stream(function, codes), reference)  # a stream: caught


def test_quantize_with_a_weight_three_steps_off(monkeypatch):
    break_pass(monkeypatch, QuantizePass, bump_weight)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 0 \('hardcore.requant' at <stdin>:3:8\): weight \[0, 1\] is -93 \* 2\^-6 = -1.45312, "
                       r"the float weight -1.5 \(more than one step\)$"):
        run_verified(FLOAT, "hardcore-quantize")


def test_quantize_with_a_wrong_bias(monkeypatch):
    break_pass(monkeypatch, QuantizePass, bump_bias)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 0 \('hardcore.requant' at <stdin>:3:8\): bias \[1\] is -472 \* 2\^-11 = -0.230469, "
                       r"the float bias -0.25 \(more than half a step\)$"):
        run_verified(FLOAT, "hardcore-quantize")


def test_quantize_with_a_saturation_too_low(monkeypatch):
    def lower_the_first_maximum(function):
        op = first(function, "hardcore.requant")
        op.attributes["max"] = i64_attr(int_attr(op, "max") // 4)

    break_pass(monkeypatch, QuantizePass, lower_the_first_maximum)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 0 \('hardcore.requant' at <stdin>:3:8\): on input vector 0 \(all-minimum\) \[-4, -4\]: "
                       r"the float layer gives 2.5 \(saturated to \[0, 7.96875\]\), the quantized one 63 \* 2\^-5 = "
                       r"1.96875 \(output element 0\), more than the rounding bound 0.03125$"):
        run_verified(FLOAT, "hardcore-quantize")


def test_quantize_with_a_wrong_output_scale(monkeypatch):
    break_pass(monkeypatch, QuantizePass, bump_last_shift)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 1 \('hardcore.requant' at <stdin>:4:8\): the last layer's scale is 2\^-\d+, the "
                       r"dequantize's 2\^-\d+$"):
        run_verified(FLOAT, "hardcore-quantize")


# -- hardcore-quantize on graphs: each float value paired with its quantized value through the DAG ---

# A residual add of the input (5 frac bits) and a dense layer (2 frac bits: the pass aligns it
# with a left shift by 3), with a ReLU, then a concat of that with the input, then a dense layer.
GRAPH = '''func.func @residual(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[2.0, -4.0], [1.0, 3.0]]> : tensor<2x2xf32>, bias = dense<[0.5, -1.0]> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.add_tensors"(%arg0, %0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.relu"(%1) : (tensor<2xf32>) -> tensor<2xf32>
  %3 = "hardcore.concat"(%2, %arg0) {dim = 0 : i64} : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  %4 = "hardcore.dense"(%3) {weight = dense<[[0.5, -0.25, 1.0, 0.75], [0.25, 0.5, -0.5, 0.125]]> : tensor<2x4xf32>, bias = dense<[0.0, 0.25]> : tensor<2xf32>} : (tensor<4xf32>) -> tensor<2xf32>
  return %4 : tensor<2xf32>
}
'''


def graph_float_ir(name):
    """test_graph's model `name` imported to float layer IR."""
    from test_graph import model_for

    model, shape = model_for(name)
    module = import_model(model, torch.zeros(1, *shape), new_context())
    run_pipeline(module, "hardcore-import,canonicalize")
    return module.operation.get_asm(large_elements_limit=None)


def requant_after(function, name):
    """The requant of the `name` op's result (through its ReLU)."""
    for op in body_ops(function):
        if op.operation.name == "hardcore.requant":
            owner = op.operands[0].owner
            owner = owner.operands[0].owner if owner.name == "hardcore.relu" else owner
            if owner.name == name:
                return op


def requant_into(function, name):
    """The first requant that is an operand of a `name` op."""
    op = first(function, name)
    return next(v.owner for v in op.operands if v.owner.name == "hardcore.requant")


@pytest.mark.parametrize("name, layers", [("concat", 12), ("mean", 6), ("permute", 5), ("residual", 6)])
def test_quantize_of_graphs_is_checked(name, layers):
    """Residual adds, concat chains, means and permutes: every layer output within its bound."""
    lines = []
    run_pipeline(parse_module(graph_float_ir(name), new_context()), "hardcore-quantize", verify_each=True,
                 verify_report=lines.append)
    assert lines == [f"hardcore-quantize: each of {layers} layers within its rounding bound on 69 input vectors "
                     f"of the input grid"]


def test_quantize_of_an_aligned_residual_add_is_checked():
    lines = []
    run_pipeline(parse_module(GRAPH, new_context()), "hardcore-quantize", verify_each=True, verify_report=lines.append)
    assert lines == ["hardcore-quantize: each of 4 layers within its rounding bound on 69 input vectors of the input "
                     "grid"]


@pytest.mark.parametrize("layer", [0, 1])  # the first dense layer, the residual add
def test_quantize_with_per_layer_act_bits_is_checked(layer, tmp_path):
    """A layer's act-bits from a quantization config: its saturation is checked at its own act-bits."""
    (tmp_path / "quant.json").write_text(f'{{"layers": {{"{layer}": {{"act_bits": 12}}}}}}')
    lines = []
    run_pipeline(parse_module(GRAPH, new_context()), f"hardcore-quantize{{config={tmp_path / 'quant.json'}}}",
                 verify_each=True, verify_report=lines.append)
    assert lines == ["hardcore-quantize: each of 4 layers within its rounding bound on 69 input vectors of the input "
                     "grid"]


def test_quantize_with_an_add_saturating_too_early(monkeypatch):
    def lower_the_maximum(function):
        op = requant_after(function, "hardcore.add_tensors")
        op.attributes["max"] = i64_attr(int_attr(op, "max") // 4)

    break_pass(monkeypatch, QuantizePass, lower_the_maximum)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 4 \('hardcore.requant' at <stdin>:9:10\): on input vector 1 \(all-maximum\) "
                       r"\[3.96875, .+\]: the float layer gives 4.28125 \(saturated to \[-2, 3.98438\]\), the "
                       r"quantized one 63 \* 2\^-6 = 0.984375 \(output element 0\), more than the rounding bound "
                       r"0.0078125$"):
        run_verified(graph_float_ir("residual"), "hardcore-quantize")


def test_quantize_with_an_add_output_scale_off(monkeypatch):
    """The add's output scale is not in the IR: a shift off by one shows at the next layer's scales."""
    def bump_the_shift(function):
        op = requant_after(function, "hardcore.add_tensors")
        op.attributes["shift"] = i64_attr(int_attr(op, "shift") + 1)

    break_pass(monkeypatch, QuantizePass, bump_the_shift)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 5 \('hardcore.requant' at <stdin>:10:10\): its outputs are at different scales "
                       r"2\^-\[5, 6\]$"):
        run_verified(graph_float_ir("residual"), "hardcore-quantize")


def test_quantize_with_an_add_operand_at_another_scale(monkeypatch):
    def bump_the_operand_shift(function):
        op = requant_into(function, "hardcore.add_tensors")  # conv2's requant: no alignment needed
        op.attributes["shift"] = i64_attr(int_attr(op, "shift") + 1)

    break_pass(monkeypatch, QuantizePass, bump_the_operand_shift)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 4 \('hardcore.requant' at <stdin>:9:10\): its operands are added at different "
                       r"scales 2\^-\[5, 6\]$"):
        run_verified(graph_float_ir("residual"), "hardcore-quantize")


def test_quantize_with_an_inexact_alignment(monkeypatch):
    def saturate_the_alignment(function):
        op = requant_into(function, "hardcore.add_tensors")
        op.attributes["max"] = i64_attr(100)

    break_pass(monkeypatch, QuantizePass, saturate_the_alignment)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 1 \('hardcore.requant' at <stdin>:4:8\): operand 1 aligned to 2\^-5 is 3.125, not "
                       r"its input 8.5 \(input vector 0, element 0\): the alignment must be exact$"):
        run_verified(GRAPH, "hardcore-quantize")


def test_quantize_with_an_add_of_the_wrong_operand(monkeypatch):
    def add_the_input_twice(function):
        add = first(function, "hardcore.add_tensors")
        add.operands[1] = add.operands[0]

    break_pass(monkeypatch, QuantizePass, add_the_input_twice)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 1 \('hardcore.requant' at <stdin>:4:8\): its operand 1 is not the quantized value "
                       r"of the float operand 1$"):
        run_verified(GRAPH, "hardcore-quantize")


def test_quantize_dequantizing_the_wrong_value(monkeypatch):
    def dequantize_the_first_layer(function):
        dequantize = first(function, "hardcore.dequantize")
        dequantize.operands[0] = first(function, "hardcore.requant").results[0]  # same type as the last
        dequantize.attributes["frac_bits"] = i64_attr(2)  # and its scale: only the pairing tells

    break_pass(monkeypatch, QuantizePass, dequantize_the_first_layer)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): the "
                       r"dequantize at <stdin>:\d+:\d+: its input is not the quantized value of the float result$"):
        run_verified(GRAPH, "hardcore-quantize")


def test_quantize_with_a_concat_operand_at_another_scale(monkeypatch):
    def bump_the_rescaling(function):
        op = requant_into(function, "hardcore.concat")
        op.attributes["shift"] = i64_attr(int_attr(op, "shift") + 1)

    break_pass(monkeypatch, QuantizePass, bump_the_rescaling)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 6 \('hardcore.concat' at <stdin>:10:10\): its operands are at different scales "
                       r"2\^-\[4, 5\]$"):
        run_verified(graph_float_ir("concat"), "hardcore-quantize")


def test_quantize_with_a_concat_saturating_too_early(monkeypatch):
    def lower_the_maximum(function):
        op = requant_into(function, "hardcore.concat")
        op.attributes["max"] = i64_attr(int_attr(op, "max") // 4)

    break_pass(monkeypatch, QuantizePass, lower_the_maximum)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 2 \('hardcore.concat' at <stdin>:5:8\): on input vector 1 \(all-maximum\) "
                       r"\[3.96875, 3.96875\]: the float layer gives 19 \(saturated to \[-32, 31.75\]\), the "
                       r"quantized one 31 \* 2\^-2 = 7.75 \(output element 1\), more than the rounding bound 0.125$"):
        run_verified(GRAPH, "hardcore-quantize")


def qat_float_ir():
    """test/Passes/quantize-qat.mlir: the input's fake_quant (after a reshape), a dense layer with the
    model's weight codes, ReLU and fake_quant, a reshape, and a fake_quant of its own."""
    return (Path(__file__).parents[1] / "Passes" / "quantize-qat.mlir").read_text()


def test_quantize_of_fake_quant_is_checked():
    lines = []
    run_pipeline(parse_module(qat_float_ir(), new_context()), "hardcore-quantize", verify_each=True,
                 verify_report=lines.append)
    assert lines == ["hardcore-quantize: each of 4 layers within its rounding bound on 69 input vectors of the input "
                     "grid"]


def test_quantize_with_the_input_off_its_fake_quant(monkeypatch):
    def bump_the_input_scale(function):
        op = first(function, "hardcore.quantize")
        op.attributes["frac_bits"] = i64_attr(int_attr(op, "frac_bits") + 1)

    break_pass(monkeypatch, QuantizePass, bump_the_input_scale)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): the "
                       r"input's fake_quant at <stdin>:4:10: the input is quantized at 2\^-5 to \[-128, 127\], the "
                       r"model's fake_quant at 2\^-4 to \[-128, 127\]$"):
        run_verified(qat_float_ir(), "hardcore-quantize")


def test_quantize_with_a_layer_off_its_fake_quant(monkeypatch):
    def bump_the_shifts(function):
        op = first(function, "hardcore.requant")
        op.attributes["shift"] = dense_attr(array_attr(op, "shift") + 1, int_type(64))

    break_pass(monkeypatch, QuantizePass, bump_the_shifts)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 1 \('hardcore.requant' at <stdin>:25:8\): its scale is 2\^-2, the model's "
                       r"fake_quant's 2\^-3$"):
        run_verified(qat_float_ir(), "hardcore-quantize")


def test_quantize_with_a_fake_quant_saturating_too_early(monkeypatch):
    def lower_the_last_maximum(function):
        op = [op for op in body_ops(function) if op.operation.name == "hardcore.requant"][-1]
        op.attributes["max"] = i64_attr(int_attr(op, "max") // 4)

    break_pass(monkeypatch, QuantizePass, lower_the_last_maximum)
    with pytest.raises(VerificationError, match=r"^hardcore-quantize changed the result \(--verify-each\): layer "
                       r"output 3 \('hardcore.requant' at <stdin>:27:8\): on input vector 3 \(alternating min/max\) "
                       r"\[-8, 7.9375, -8, 7.9375\]: the float layer gives 3 \(saturated to \[-inf, inf\]\), the "
                       r"quantized one 3 \* 2\^-1 = 1.5 \(output element 1\), more than the rounding bound 0.5$"):
        run_verified(qat_float_ir(), "hardcore-quantize")


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="no iverilog")
def test_to_hw_with_a_sub_made_an_add(monkeypatch):
    """hardcore-to-hw's output has no interpreter: its Verilog runs in Icarus."""

    class FirstSubAnAdd(dict):  # hardcore-to-hw's adders (`_ADD_SUB`), but its first sub lowered as an add
        broken = False

        def __getitem__(self, name):
            if name == "hardcore.sub" and not self.broken:
                self.broken = True
                return "comb.add"
            return super().__getitem__(name)

    monkeypatch.setattr(to_hw, "_ADD_SUB", FirstSubAnAdd(to_hw._ADD_SUB))
    with pytest.raises(VerificationError, match=r"^hardcore-to-hw changed the result \(--verify-each, its Verilog "
                       r"in Icarus\): on input vector \d+ \(.+\) \[.+\]: before \[-?\d+\], after \[-?\d+\]$"):
        run_verified(QUANTIZED, "hardcore-fold-weights,hardcore-to-hw")


def test_pass_manager_level(monkeypatch):
    """add_hardcore_passes(verify_each=True) in a caller's own PassManager: a diagnostic and a failed run."""
    break_pass(monkeypatch, FoldWeightsPass, drop_adder)
    module = parse_module(QUANTIZED, new_context())
    with module.context:
        manager = passmanager.PassManager("builtin.module")
        add_hardcore_passes(manager, "hardcore-fold-weights", verify_each=True)
        with pytest.raises(ir.MLIRError) as caught:
            manager.run(module.operation)
    messages = [d.message for d in caught.value.error_diagnostics]
    assert messages == ["hardcore-fold-weights changed the result (--verify-each): on input vector 0 (all-minimum) "
                        "[-128, -128, -128]: before [1], after [107] (output element 0: 1 before, 107 after)"]


def test_cli_stops_at_the_broken_pass(monkeypatch, tmp_path, capsys):
    break_pass(monkeypatch, FoldWeightsPass, drop_adder)
    (tmp_path / "net.mlir").write_text(QUANTIZED)
    output = tmp_path / "out.mlir"
    assert opt_main([str(tmp_path / "net.mlir"), "--verify-each", "-o", str(output),
                     "--pass-pipeline=builtin.module(hardcore-fold-weights,hardcore-pipeline)"]) == 1
    assert capsys.readouterr().err == (
        "hardcore-opt: error: hardcore-fold-weights changed the result (--verify-each): on input vector 0 "
        "(all-minimum) [-128, -128, -128]: before [1], after [107] (output element 0: 1 before, 107 after)\n")
    assert not output.exists()


# -- hardcore.compile(verify_each=True): the import against the PyTorch model --------------------

def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.Hardtanh()).eval()


def test_compile_verify_each_checks_every_stage():
    lines = []
    hardcore.compile(small_model(), torch.zeros(1, 4), weight_bits=6, act_bits=6, max_adder_depth=2,
                     verify_each=True, progress=lines.append)
    checked = [line for line in lines if not line.startswith(("running", "importing", "solving:", "folding:"))]
    assert checked[:4] == [
        "hardcore-import: within 0.001 relative of the PyTorch model on 69 input vectors",
        "hardcore-quantize: each of 2 layers within its rounding bound on 69 input vectors of the input grid",
        "hardcore-fold-weights: bit-exact on 69 input vectors",
        "hardcore-pipeline: bit-exact on 69 input vectors",
    ]
    assert checked[4].startswith("hardcore-to-hw: ") and len(checked) == 5


def test_compile_catches_a_broken_import(monkeypatch):
    def halve_a_bias(function):
        dense = first(function, "hardcore.dense")
        bias = array_attr(dense, "bias").astype(np.float64)
        bias[0] = bias[0] * 0.5 + 1.0
        dense.attributes["bias"] = dense_attr(bias, ir.F32Type.get())

    break_pass(monkeypatch, ImportPass, halve_a_bias)
    with pytest.raises(VerificationError, match=r"^hardcore-import changed the result \(--verify-each\): on input "
                       r"vector \d+ \(.+\) \[.+\]: the model gives \[.+\], the IR \[.+\] \(tolerance .+\)\n"
                       r"\(the IR and a command that reproduces this are in .+\)$"):
        hardcore.compile(small_model(), torch.zeros(1, 4), verify_each=True)


# -- no overflow, proven by testing: a width one bit too narrow is caught -----------------------

def narrow_first_adder(monkeypatch):
    """fold-weights' width computation gives the first adder one bit less than interval arithmetic."""
    original = fold_weights._DagBuilder._emit
    state = {"narrowed": None}

    def emit(self, name, operands, value_range, attributes=None):
        if name == "hardcore.add" and state["narrowed"] is None:
            width = signed_width(*value_range) - 1
            value_range = (max(value_range[0], -(1 << (width - 1))), min(value_range[1], (1 << (width - 1)) - 1))
            state["narrowed"] = width
        return original(self, name, operands, value_range, attributes)

    monkeypatch.setattr(fold_weights._DagBuilder, "_emit", emit)
    return state


def test_narrow_adder_caught_by_the_interpreter(monkeypatch):
    state = narrow_first_adder(monkeypatch)
    with pytest.raises(VerificationError, match=r"^hardcore-fold-weights broke the IR \(--verify-each\): on input "
                       r"vector 0 \(all-minimum\) \[-128, -128, -128\] the IR after it fails: <stdin>:3:8: "
                       r"'hardcore.add' produced -640, outside its type i10 \(overflow\)$"):
        run_verified(QUANTIZED, "hardcore-fold-weights")
    assert state["narrowed"] == 10


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="no verilator")
def test_narrow_adder_caught_in_verilator(monkeypatch, tmp_path):
    """The same narrowed circuit, built without the check: Verilator's outputs differ from the reference."""
    narrow_first_adder(monkeypatch)
    module = parse_module(QUANTIZED, new_context())
    run_pipeline(module, "hardcore-fold-weights")
    with pytest.raises(InterpreterError, match=r"'hardcore.add' produced -640, outside its type i10 \(overflow\)"):
        run_function(find_function(module.operation), np.full((1, 3), -128))
    verilog = backend.export_verilog(run_pipeline(module, "hardcore-to-hw").module)
    codes, labels = input_vectors(3, -128, 127, 64, 0)
    reference = quantized_reference(codes)
    result = simulate(verilog, "net", codes, n_in=3, in_width=8, n_out=1, out_width=8, workdir=tmp_path)
    wrong = [labels[i] for i in np.flatnonzero(result.outputs[:, 0] != reference[:, 0])]
    assert "all-minimum" in wrong
    print(f"\nnarrowed adder: {len(wrong)} of {len(codes)} vectors differ in Verilator: {wrong[:6]}")


# -- fuzzing: random networks in Verilator (CI-sized; `python -m hardcore.fuzz --minutes N` for more) --

FUZZ_SETTINGS = settings(max_examples=4, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fuzz(batch, vectors=100):
    nets, depth, clock_enable = batch
    with tempfile.TemporaryDirectory(prefix="hardcore-fuzz-") as workdir:
        result = run_batch(nets, depth, clock_enable, Path(workdir), vectors=vectors)
    assert result.mismatches == 0, result.first_mismatch
    assert result.vectors >= len(nets) * (vectors + 5)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="no verilator")
@FUZZ_SETTINGS
@given(batch=batches(min_networks=3, max_networks=6, pipelined=False))
def test_fuzz_combinational(batch):
    fuzz(batch)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="no verilator")
@FUZZ_SETTINGS
@given(batch=batches(min_networks=3, max_networks=6, pipelined=True))
def test_fuzz_pipelined(batch):
    fuzz(batch)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="no verilator")
@settings(FUZZ_SETTINGS, max_examples=3)
@given(batch=batches(min_networks=3, max_networks=5, graph=True))
def test_fuzz_graph(batch):
    """Every network with a concat and a gather (and a residual add where a size repeats)."""
    assert all({"concat", "gather"} <= net.features for net in batch[0])
    fuzz(batch)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="no verilator")
@settings(FUZZ_SETTINGS, max_examples=2)
@given(batch=batches(min_networks=3, max_networks=4, sequence=True))
def test_fuzz_sequence(batch):
    """Tiny GPTs (embedding, norms, causal attention, MLP) beside the other networks."""
    fuzz(batch, vectors=50)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("icarus") and not tool_available("verilator"), reason="no simulator")
@settings(FUZZ_SETTINGS, max_examples=3)
@given(batch=batches(min_networks=2, max_networks=3, reuse=True))
def test_fuzz_reuse(batch):
    """Chains of dense layers time-multiplexed, a reuse in 1..4 per layer: run_steps and the Verilog."""
    assert all(net.reuse and max(net.reuse) > 1 for net in batch[0])
    fuzz(batch)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="no verilator")
def test_fuzz_finds_a_broken_to_hw(monkeypatch, tmp_path):
    """The fuzzing harness itself fails when the circuit is wrong (a sub lowered as an add)."""
    monkeypatch.setattr(to_hw, "_ADD_SUB", {"hardcore.add": "comb.add", "hardcore.sub": "comb.add"})
    nets = [FuzzNetwork(text=QUANTIZED.replace("@net", f"@net{k}"), name=f"net{k}", n_in=3, act_bits=8,
                        first_weight=np.array([[3, 5, -7], [1, 0, 6]])) for k in range(2)]
    result = run_batch(nets, None, False, tmp_path, vectors=50)
    assert result.mismatches > 0 and result.first_mismatch.startswith("net0 (cse, max-adder-depth None): input ")
