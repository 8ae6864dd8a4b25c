"""ONNX input: models exported with torch.onnx (or built with onnx.helper) compile like their PyTorch form.

The float checks compare the circuit's reference with onnx's own reference
evaluator on the same file; the Verilator checks compare the circuits bit for
bit with the reference; and the same weights compiled from PyTorch and from
ONNX give the same SystemVerilog.
"""

import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from torch import nn

import hardcore
from hardcore.errors import CompileError, UsageError
from hardcore.sim import simulate, tool_available

from conftest import extreme_inputs


def export(model: nn.Module, shape, path, batch_symbolic: bool = True):
    """torch.onnx's TorchScript exporter (the default one needs onnxscript); batch dimension 'batch'."""
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if batch_symbolic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns that it is the legacy exporter
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes=axes)
    return path


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4)).eval()


def small_cnn():
    """Conv (stride 2, groups) + ReLU + MaxPool + AveragePool (padded) + Flatten + Gemm, ReLU6 and LeakyReLU."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2), nn.ReLU6(),
                         nn.AvgPool2d(2, stride=2, padding=1), nn.LeakyReLU(0.125),
                         nn.Flatten(), nn.Linear(4 * 2 * 2, 5)).eval()


# name -> (model factory, input shape without the batch)
MODELS = {"mlp": (mlp, (6,)), "small_cnn": (small_cnn, (1, 8, 8))}


@pytest.fixture(scope="module")
def onnx_circuits(tmp_path_factory):
    """Each model exported to ONNX and compiled from the file, combinational and pipelined."""
    folder = tmp_path_factory.mktemp("onnx")
    circuits = {}
    for name, (factory, shape) in MODELS.items():
        model = factory()
        path = export(model, shape, folder / f"{name}.onnx")
        calibration = np.random.default_rng(1).standard_normal((256,) + shape)
        circuits[name] = (model, shape, path, hardcore.compile(path, calibration=calibration),
                          hardcore.compile(path, calibration=calibration, max_adder_depth=3))
    return circuits


def test_onnx_circuit_names_its_layers(onnx_circuits):
    *_, circuit, _ = onnx_circuits["small_cnn"]
    assert circuit.name == "small_cnn"
    assert circuit.in_shape == [1, 8, 8]
    assert [layer["kind"] for layer in circuit.report["layers"]] == [
        "conv2d 1->4 3x3 padding 1, 8x8->8x8 positions (dense 256x64)",
        "maxpool2d 2x2, 4 channels 8x8->4x4 positions",
        "conv2d 4->4 3x3 stride 2 padding 1 groups 2, 4x4->2x2 positions (dense 16x64)",
        "avgpool2d 2x2 padding 1, 4 channels 2x2->2x2 positions, sum >> 2",
        "linear 16->5"]
    *_, mlp_circuit, _ = onnx_circuits["mlp"]
    assert [layer["kind"] for layer in mlp_circuit.report["layers"]] == ["linear 6->12", "linear 12->4"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_circuit_tracks_the_onnx_model(name, onnx_circuits):
    _, shape, path, circuit, _ = onnx_circuits[name]
    inputs = np.random.default_rng(2).standard_normal((200,) + shape).astype(np.float32)
    evaluator = ReferenceEvaluator(str(path))
    expected = np.concatenate([evaluator.run(None, {"x": x[None]})[0] for x in inputs])
    predicted = circuit.predict(inputs)
    error = np.abs(predicted - expected.reshape(len(inputs), -1)).max()
    assert error < 0.05 * np.abs(expected).max(), error


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_circuit_from_torch_and_from_onnx(name, onnx_circuits):
    model, shape, _, circuit, _ = onnx_circuits[name]
    calibration = np.random.default_rng(1).standard_normal((256,) + shape)
    from_torch = hardcore.compile(model, torch.zeros(1, *shape), calibration=calibration, name=circuit.name)
    assert from_torch.stages["quantized"] == circuit.stages["quantized"]
    assert from_torch.verilog == circuit.verilog



@pytest.mark.parametrize("name", ["residual", "concat", "mean", "permute"])
def test_graph_models_from_onnx_match_torch(name, tmp_path):
    """Add, Concat, ReduceMean and Transpose of computed tensors give the PyTorch path's circuit."""
    import test_graph

    factory, shape = test_graph.MODELS[name]
    torch.manual_seed(0)
    model = factory().eval()
    path = export(model, shape, tmp_path / f"{name}.onnx")
    node_types = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert node_types & {"Add", "Concat", "ReduceMean", "Transpose"}, node_types
    calibration = np.random.default_rng(1).standard_normal((256,) + shape)
    from_onnx = hardcore.compile(path, calibration=calibration)
    from_torch = hardcore.compile(model, torch.zeros(1, *shape), calibration=calibration, name=from_onnx.name)
    assert from_torch.verilog == from_onnx.verilog

class ViewNet(nn.Module):
    """x.view(x.size(0), -1): torch.onnx writes Shape, Gather, Unsqueeze, Concat and Reshape."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 4 * 4, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).view(x.size(0), -1))


@pytest.mark.parametrize("batch_norm", ["folded", "kept"])
def test_batch_norm_and_view_give_the_torch_circuit(batch_norm, tmp_path):
    """torch.onnx folds an eval batch norm into the convolution (in float32); kept, it is a
    BatchNormalization node that hardcore-import folds (in float64).  Either way the circuit is
    the one the PyTorch model gives."""
    torch.manual_seed(0)
    model = ViewNet().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.5, 0.5)
    path = tmp_path / "view.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = ({} if batch_norm == "folded" else
                   {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False})
        torch.onnx.export(model, (torch.zeros(1, 1, 4, 4),), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, **options)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ("BatchNormalization" in ops) == (batch_norm == "kept") and "Shape" in ops
    calibration = np.random.default_rng(1).standard_normal((256, 1, 4, 4))
    from_onnx = hardcore.compile(path, calibration=calibration)
    from_torch = hardcore.compile(model, torch.zeros(1, 1, 4, 4), calibration=calibration, name="view")
    assert from_onnx.verilog == from_torch.verilog


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("pipelined", [False, True], ids=["combinational", "pipelined"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_circuit_bit_exact_in_verilator(name, pipelined, onnx_circuits, tmp_path, rng):
    _, shape, _, combinational, pipelined_circuit = onnx_circuits[name]
    circuit = pipelined_circuit if pipelined else combinational
    assert (circuit.latency > 0) == pipelined
    low, high = circuit.in_range
    real = circuit.quantize_input(np.random.default_rng(3).standard_normal((100,) + shape))
    vectors = np.concatenate([real, rng.integers(low, high + 1, (100, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    result = simulate(circuit.verilog, circuit.name, vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, workdir=tmp_path,
                      latency=circuit.latency or None)
    mismatches = int(np.any(result.outputs != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"


# -- graphs built with onnx.helper: forms torch.onnx does not write ----------------------------

def make_model(nodes, initializers, in_shape, out_shape, name="g"):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              initializer=[numpy_helper.from_array(np.asarray(a, dtype=np.float32), n)
                                           for n, a in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def evaluate(proto, inputs):
    evaluator = ReferenceEvaluator(proto)
    return np.concatenate([evaluator.run(None, {"x": x[None].astype(np.float32)})[0] for x in inputs])


def test_matmul_add_and_gemm_forms_compile_as_linear_layers():
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((5, 7)) * 0.4, rng.standard_normal(7) * 0.1
    w2, b2 = rng.standard_normal((7, 3)) * 0.4, rng.standard_normal((1, 3)) * 0.1
    proto = make_model([
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="matmul"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="bias"),
        helper.make_node("Clip", ["hb", "lo", "hi"], ["c"], name="clip"),
        helper.make_node("Gemm", ["c", "w2", "b2"], ["y"], name="gemm", alpha=0.5, beta=2.0)],
        {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "lo": np.array(-1.0), "hi": np.array(1.5)},
        ["N", 5], ["N", 3])
    inputs = rng.standard_normal((200, 5))
    circuit = hardcore.compile(proto, calibration=inputs, name="forms")
    assert [layer["kind"] for layer in circuit.report["layers"]] == ["linear 5->7", "linear 7->3"]
    expected = evaluate(proto, inputs)
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.05 * np.abs(expected).max()


def test_batch_norm_global_pool_and_squeeze():
    rng = np.random.default_rng(0)
    proto = make_model([
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
        helper.make_node("Squeeze", ["p", "axes"], ["y"], name="squeeze")],
        {"w": rng.standard_normal((3, 2, 3, 3)) * 0.3, "s": [1.5, 0.5, 1.0], "b": [0.1, -0.2, 0.0],
         "m": [0.1, 0.0, -0.1], "v": [1.0, 2.0, 0.5]}, [1, 2, 4, 4], [1, 3])
    proto.graph.initializer.append(numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"))
    inputs = rng.standard_normal((200, 2, 4, 4))
    circuit = hardcore.compile(proto, calibration=inputs)
    assert circuit.name == "g"
    assert [layer["kind"] for layer in circuit.report["layers"]] == [
        "conv2d 2->3 3x3 padding 1, 4x4->4x4 positions (dense 48x32) + batchnorm",
        "avgpool2d 4x4 stride 1, 3 channels 4x4->1x1 positions, sum >> 4"]
    expected = evaluate(proto, inputs)
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.05 * np.abs(expected).max()


def test_activations_global_max_pool_and_shape_ops():
    rng = np.random.default_rng(0)
    proto = make_model([
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c"], ["s"], name="sigmoid"),
        helper.make_node("Dropout", ["s"], ["d"], name="dropout"),
        helper.make_node("GlobalMaxPool", ["d"], ["p"], name="gmp"),
        helper.make_node("Reshape", ["p", "shape"], ["r"], name="reshape"),
        helper.make_node("Identity", ["r"], ["i"], name="identity"),
        helper.make_node("Gemm", ["i", "w2", "b2"], ["g"], name="fc", transB=1),
        helper.make_node("Tanh", ["g"], ["t"], name="tanh"),
        helper.make_node("HardSwish", ["t"], ["y"], name="hardswish")],
        {"w": rng.standard_normal((4, 2, 3, 3)) * 0.5, "b": rng.standard_normal(4) * 0.1,
         "w2": rng.standard_normal((3, 4)), "b2": rng.standard_normal(3) * 0.1}, ["batch", 2, 3, 3], ["batch", 3])
    proto.graph.initializer.append(numpy_helper.from_array(np.array([-1, 4], dtype=np.int64), "shape"))
    inputs = rng.standard_normal((200, 2, 3, 3))
    circuit = hardcore.compile(proto, calibration=inputs)
    assert [layer["kind"] for layer in circuit.report["layers"]] == [
        "conv2d 2->4 3x3 padding 1, 3x3->3x3 positions (dense 36x18)",
        "maxpool2d 3x3 stride 1, 4 channels 3x3->1x1 positions", "linear 4->3"]
    assert circuit.report["tables"] == 36 + 3 + 3  # one a value: sigmoid (36), tanh (3), hardswish (3)
    expected = evaluate(proto, inputs)
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.05 * np.abs(expected).max()


def test_auto_pad_becomes_explicit_padding():
    rng = np.random.default_rng(0)
    proto = make_model([
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3], auto_pad="SAME_UPPER"),
        helper.make_node("MaxPool", ["c"], ["m"], name="max", kernel_shape=[3, 3], auto_pad="SAME_LOWER"),
        helper.make_node("AveragePool", ["m"], ["y"], name="avg", kernel_shape=[2, 2], strides=[2, 2],
                         auto_pad="VALID")],
        {"w": rng.standard_normal((2, 1, 3, 3))}, [1, 1, 4, 4], [1, 2, 2, 2])
    inputs = rng.standard_normal((100, 1, 4, 4))
    circuit = hardcore.compile(proto, calibration=inputs)
    assert [layer["kind"] for layer in circuit.report["layers"]] == [
        "conv2d 1->2 3x3 padding 1, 4x4->4x4 positions (dense 32x16)",
        "maxpool2d 3x3 stride 1 padding 1, 2 channels 4x4->4x4 positions",
        "avgpool2d 2x2, 2 channels 4x4->2x2 positions, sum >> 2"]
    expected = evaluate(proto, inputs).reshape(len(inputs), -1)
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.05 * np.abs(expected).max()


# -- errors ----------------------------------------------------------------------------------

def test_unsupported_ops_are_listed_with_their_nodes(tmp_path):
    proto = make_model([
        helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
        helper.make_node("Sin", ["h"], ["s"], name="sine"),
        helper.make_node("Softmax", ["s"], ["y"], name="probabilities")],
        {"w": np.ones((3, 4))}, [1, 4], [1, 3])
    onnx.save(proto, tmp_path / "net.onnx")
    with pytest.raises(CompileError) as error:
        hardcore.compile(str(tmp_path / "net.onnx"))
    assert [str(d) for d in error.value.diagnostics] == [
        f"{tmp_path / 'net.onnx'}: node 'sine' (Sin): error: unsupported ONNX op 'Sin'",
        f"{tmp_path / 'net.onnx'}: node 'probabilities' (Softmax): error: unsupported ONNX op 'Softmax'"]
    assert str(error.value).endswith("(supported ONNX ops: Add, AveragePool, BatchNormalization, Clip, Concat, "
                                     "Constant, Conv, Dropout, Flatten, Gather, Gemm, GlobalAveragePool, "
                                     "GlobalMaxPool, HardSwish, Identity, LeakyRelu, MatMul, MaxPool, ReduceMean, "
                                     "Relu, Reshape, Shape, Sigmoid, Squeeze, Tanh, Transpose, Unsqueeze)")


def test_gemm_with_a_computed_weight_is_rejected_at_its_node():
    proto = make_model([
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("MatMul", ["x", "r"], ["m"], name="square"),
        helper.make_node("Gemm", ["x", "m"], ["y"], name="fc")],
        {}, [1, 1], [1, 1])
    with pytest.raises(CompileError) as error:
        hardcore.compile(proto)
    assert [str(d) for d in error.value.diagnostics] == [
        "ONNX model 'g': node 'square' (MatMul): error: MatMul is supported only as a 2-D input times a 2-D "
        "initializer (a linear layer)",
        "ONNX model 'g': node 'fc' (Gemm): error: the Gemm weight B must be a 2-D initializer (a constant)"]


def test_hardcore_import_errors_name_the_onnx_node():
    proto = make_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv_same", kernel_shape=[2],
                                         auto_pad="SAME_UPPER")],
                       {"w": np.ones((1, 1, 2))}, [1, 1, 5], [1, 1, 5])
    with pytest.raises(CompileError) as error:
        hardcore.compile(proto)
    # An even kernel pads one side more: torch-mlir imports that as an aten.pad, which hardcore-import
    # does not lower
    assert [str(d) for d in error.value.diagnostics] == [
        "ONNX model 'g': node 'conv_same' (Conv): error: hardcore-import: unsupported op 'torch.aten.pad'"]


def test_malformed_file_is_named(tmp_path):
    (tmp_path / "garbage.onnx").write_bytes(b"\x08\x07this is not a protobuf \xff\xff")
    with pytest.raises(CompileError, match=r"^" + str(tmp_path / "garbage.onnx").replace(".", r"\.")
                       + r": not a readable ONNX model: DecodeError: .+$"):
        hardcore.compile(str(tmp_path / "garbage.onnx"))
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(CompileError, match=r"^.+empty\.onnx: not a valid ONNX model: .+$"):
        hardcore.compile(str(tmp_path / "empty.onnx"))
    with pytest.raises(UsageError, match=r"^.+missing\.onnx: no such model file$"):
        hardcore.compile(str(tmp_path / "missing.onnx"))


def test_batch_and_shape_errors(tmp_path):
    linear = {"w": np.ones((2, 4))}
    gemm = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)]
    with pytest.raises(CompileError, match=r"^ONNX model 'g': input 'x' has batch size 3: hardcore compiles one "
                                           r"sample, the first dimension must be 1 \(or symbolic\)$"):
        hardcore.compile(make_model(gemm, linear, [3, 4], [3, 2]))
    with pytest.raises(CompileError, match=r"^ONNX model 'g': input 'x' has shape \['N', 'K'\]: only the first "
                                           r"\(batch\) dimension may be symbolic$"):
        hardcore.compile(make_model(gemm, linear, ["N", "K"], ["N", 2]))
    with pytest.raises(UsageError, match=r"^ONNX model 'g': the input shape \[1, 5\] differs from the model's "
                                         r"input 'x' \[1, 4\]$"):
        hardcore.compile(make_model(gemm, linear, ["N", 4], ["N", 2]), torch.zeros(1, 5))
    circuit = hardcore.compile(make_model(gemm, linear, ["N", 4], ["N", 2]), torch.zeros(1, 4))
    assert circuit.in_shape == [4] and circuit.out_shape == [2]
