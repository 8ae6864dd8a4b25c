"""Models whose graph is a DAG, and shape ops.

Residual adds become `hardcore.add_tensors` (a layer of adders), `torch.cat` a
chain of `hardcore.concat` (wires after one requantization to a common scale),
`x.mean(dims)` a `hardcore.avgpool` over those dims, and permute/transpose a
`hardcore.gather` (wires).  The float checks prove the import is torch's model;
the Verilator checks that the circuits, combinational and pipelined (skip
paths balanced by registers), compute the reference integers bit for bit; the
Icarus checks that the '*' baseline (`hardcore report --synth`) does too,
max pools and argmax included.
"""

import re

import numpy as np
import pytest
import torch
from torch import nn

import hardcore
from hardcore.baseline import baseline_verilog
from hardcore.frontend import import_model
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.pipeline import run_pipeline
from hardcore.sim import simulate, tool_available

from conftest import assert_dag_is_reference, extreme_inputs, simulated

requires_verilator = pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
requires_icarus = pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")


class ResidualBlock(nn.Module):
    """A ResNet basic block, relu(conv2(relu(conv1(x))) + x), then a linear layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 3 * 3, 3)

    def forward(self, x):
        y = torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)
        return self.fc(torch.flatten(y, 1))


class TwoBranches(nn.Module):
    """Two convolutions of the input, concatenated on channels, and the input itself on width."""

    def __init__(self):
        super().__init__()
        self.wide = nn.Conv2d(2, 2, 1)
        self.narrow = nn.Conv2d(2, 1, 3, padding=1)
        self.fc = nn.Linear(3 * 3 * 3 + 2 * 3 * 6, 2)

    def forward(self, x):
        branches = torch.cat([self.wide(x), torch.relu(self.narrow(x))], dim=1)
        side = torch.cat([x, x], dim=-1)
        return self.fc(torch.cat([torch.flatten(branches, 1), torch.flatten(side, 1)], dim=1))


class SpatialMean(nn.Module):
    """A global average over 3x4 positions (a multiplier: 12 is no power of two)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3 + 4, 2)

    def forward(self, x):
        features = torch.relu(self.conv(x))
        return self.fc(torch.cat([features.mean((2, 3)), torch.flatten(features.mean(dim=(1, 2), keepdim=True), 1)], 1))


class Permuted(nn.Module):
    """Shape shuffles: channels last, then rows and columns swapped."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)
        self.fc = nn.Linear(3 * 3 * 4, 2)

    def forward(self, x):
        y = torch.relu(self.conv(x)).permute(0, 2, 3, 1).transpose(1, 2)  # (4, 3, 3): column, row, channel
        return self.fc(torch.flatten(y, 1))


def pooled_classifier():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 5))


# name -> (model factory, input shape without the batch)
MODELS = {
    "residual": (ResidualBlock, (2, 3, 3)),
    "concat": (TwoBranches, (2, 3, 3)),
    "mean": (SpatialMean, (1, 3, 4)),
    "permute": (Permuted, (2, 3, 4)),
}


def model_for(name):
    factory, shape = {**MODELS, "pooled": (pooled_classifier, (1, 6, 6))}[name]
    torch.manual_seed(0)
    return factory().eval(), shape


_compiled: dict = {}


def compiled(name: str, max_adder_depth=None, output="logits"):
    """The model `name` compiled once per options (8-bit weights and activations)."""
    key = (name, max_adder_depth, output)
    if key not in _compiled:
        model, shape = model_for(name)
        calibration = np.random.default_rng(1).standard_normal((256,) + shape)
        _compiled[key] = (model, shape, hardcore.compile(model, torch.zeros(1, *shape), calibration=calibration,
                                                         max_adder_depth=max_adder_depth, output=output))
    return _compiled[key]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_import_is_the_torch_model(name):
    """The imported float IR equals the torch model on random inputs (f32 tolerance)."""
    model, shape = model_for(name)
    module = import_model(model, torch.zeros(1, *shape), new_context())
    run_pipeline(module, "hardcore-import")
    inputs = np.random.default_rng(0).standard_normal((128,) + shape).astype(np.float32)
    actual = run_function(find_function(module.operation), inputs)
    expected = model(torch.from_numpy(inputs)).detach().numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert "torch." not in str(module)


def test_the_new_ops_are_there():
    ops = {name: set(re.findall(r'"(hardcore\.\w+)"', compiled(name)[2].stages["hardcore"])) for name in MODELS}
    assert "hardcore.add_tensors" in ops["residual"]
    assert "hardcore.concat" in ops["concat"]
    assert "hardcore.avgpool" in ops["mean"]
    assert "hardcore.gather" in ops["permute"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_circuit_tracks_float_and_dag_matches_reference(name, rng):
    model, shape, circuit = compiled(name)
    inputs = np.random.default_rng(2).standard_normal((500,) + shape)
    expected = model(torch.from_numpy(inputs).float()).detach().numpy().reshape(len(inputs), -1)
    error = np.abs(circuit.predict(inputs) - expected).max()
    assert error < 0.1 * np.abs(expected).max(), error
    assert_dag_is_reference(circuit, rng)


def test_residual_add_is_a_layer():
    _, _, circuit = compiled("residual")
    assert [layer["kind"] for layer in circuit.layers] == [
        "conv2d 2->2 3x3 padding 1, 3x3->3x3 positions (dense 18x18)",
        "conv2d 2->2 3x3 padding 1, 3x3->3x3 positions (dense 18x18)",
        "residual add 2x3x3", "linear 18->3"]
    add = circuit.layers[2]
    # One adder per element, one level; no weights.
    assert {k: add[k] for k in ("inputs", "outputs", "weights", "adders", "adder_depth")} == \
        {"inputs": 36, "outputs": 18, "weights": 0, "adders": 18, "adder_depth": 1}
    quantized = circuit.stages["quantized"]
    # The sum is requantized once, its ReLU absorbed: unsigned 8 bits.
    assert re.search(r'"hardcore.add_tensors".*\n.*"hardcore.relu".*\n.*"hardcore.requant".*max = 255', quantized)
    mean = compiled("mean")[2].layers
    assert [layer["kind"] for layer in mean][1:3] == ["mean over dims 2,3, 3x3x4->3, sum x 683 >> 13",
                                                      "mean over dims 1,2, 3x3x4->4, sum x 455 >> 12"]


def test_concat_chain_has_one_scale():
    """A cat of branches at different scales: each branch requantized once, to the output's scale."""
    _, _, circuit = compiled("concat")
    module = parse_module(circuit.stages["quantized"], new_context())
    ops = [op for op in find_function(module.operation).regions[0].blocks[0].operations]
    concats = [op for op in ops if op.operation.name == "hardcore.concat"]
    assert len(concats) == 3
    for concat in concats:
        types = {str(operand.type).split("x")[-1] for operand in concat.operands}
        assert len(types) == 1, types  # one element type (and scale) on both sides
    requants_into_concats = [op for op in ops if op.operation.name == "hardcore.requant"
                             and any(use.owner.operation.name == "hardcore.concat" for use in op.results[0].uses)]
    # Only the ReLU branch (unsigned, i9) needs a requantization to the chain's signed scale.
    assert [(str(op.operands[0].type), str(op.results[0].type)) for op in requants_into_concats] == \
        [("tensor<1x3x3xi9>", "tensor<1x3x3xi8>")]


@pytest.mark.sim
@requires_verilator
@pytest.mark.parametrize("max_adder_depth", [None, 2], ids=["combinational", "pipelined"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_bit_exact_in_verilator(name, max_adder_depth, tmp_path, rng):
    _, shape, circuit = compiled(name, max_adder_depth)
    assert (circuit.latency > 0) == (max_adder_depth is not None)
    low, high = circuit.in_range
    real = circuit.quantize_input(np.random.default_rng(3).standard_normal((200,) + shape))
    vectors = np.concatenate([real, rng.integers(low, high + 1, (200, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    outputs = simulated(circuit, vectors, tmp_path)
    mismatches = int(np.any(outputs != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"


@pytest.mark.sim
@requires_icarus
@pytest.mark.parametrize("name,output", [("pooled", "argmax"), ("pooled", "logits"), ("residual", "logits"),
                                         ("concat", "logits"), ("mean", "logits"), ("permute", "argmax")])
def test_baseline_computes_the_same_integers(name, output, tmp_path, rng):
    """The '*' baseline expresses max pools, argmax, residual adds, concats, means and gathers, exactly."""
    _, shape, circuit = compiled(name, output=output)
    verilog = baseline_verilog(circuit.stages["quantized"], "plain", circuit.out_width)
    assert " * " in verilog
    if name == "pooled":
        assert re.search(r" > \w+ \? ", verilog)  # comparisons with their muxes
    low, high = circuit.in_range
    vectors = np.concatenate([circuit.quantize_input(np.random.default_rng(3).standard_normal((100,) + shape)),
                              rng.integers(low, high + 1, (150, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    result = simulate(verilog, "plain", vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, workdir=tmp_path, simulator="icarus")
    outputs = circuit.from_port(result.outputs)
    reference = circuit.reference(vectors)
    if output == "argmax":
        assert len(set(reference[:, 0])) > 1
    mismatches = int(np.any(outputs != reference, axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"


def test_baseline_layers_follow_the_folded_circuit():
    """One baseline module per folded layer module, so per-layer LUTs compare like with like."""
    for name in ("residual", "concat"):
        circuit = compiled(name)[2]
        verilog = baseline_verilog(circuit.stages["quantized"], "plain", circuit.out_width)
        plain = re.findall(r"^module (\w+)\(", verilog, re.MULTILINE)
        folded = re.findall(r"^module (\w+)\(", circuit.verilog, re.MULTILINE)
        assert plain == [m.replace(circuit.name, "plain") for m in folded]


# -- what is not supported -----------------------------------------------------

class Add(nn.Module):
    def __init__(self, forward):
        super().__init__()
        self.function = forward

    def forward(self, x):
        return self.function(x)


@pytest.mark.parametrize("function,shape,message", [
    (lambda x: torch.add(x, x, alpha=2), (1, 4),
     "hardcore-import: add.Tensor with alpha 2 is not supported (only a + b)"),
    (lambda x: x + torch.exp(x), (1, 4),
     "hardcore-import: unsupported op 'torch.aten.exp'"),
    (lambda x: x + x.mean(dim=1, keepdim=True), (1, 4),
     "hardcore-import: add.Tensor of shapes [4] and [1] is not supported "
     "(no broadcasting: both operands must have one shape)"),
    (lambda x: x + torch.arange(8.0).reshape(2, 4), (1, 2, 4),
     "hardcore-import: add.Tensor of a constant tensor of shape [2, 4] is not supported (only a constant that is "
     "the same for every row of the last dimension, or a position embedding added to a token embedding)"),
    (lambda x: torch.cat([x, x], dim=0).mean(0, keepdim=True), (1, 4),
     "hardcore-import: cat over the batch dimension is not supported"),
    (lambda x: x.mean(dim=0, keepdim=True), (1, 4), "hardcore-import: mean over the batch dimension is not supported"),
])
def test_unsupported_graphs_are_errors(function, shape, message):
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(Add(function).eval(), torch.zeros(*shape))
    assert [d.message for d in info.value.diagnostics] == [message]
