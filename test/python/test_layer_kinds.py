"""hls4ml's remaining layer kinds: ELU, Threshold, Softplus, PReLU, minimum/maximum, a dot product (a sum), flip,
upsampling, padding.

Each kind is a small model of one input.  The import checks prove that
hardcore-import's float IR is torch's model; the compiled circuit's DAG
computes the quantized reference bit for bit, and so does its SystemVerilog in
Verilator, combinational and pipelined, and the plain '*' baseline of
`hardcore report --synth` in Icarus.
"""

import numpy as np
import pytest
import torch
from torch import nn

import hardcore
from hardcore.baseline import baseline_verilog
from hardcore.frontend import import_model
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context
from hardcore.pipeline import run_pipeline
from hardcore.sim import simulate, tool_available

from conftest import assert_dag_is_reference, extreme_inputs, simulated

torch.set_num_threads(1)


class Apply(nn.Module):
    """A function of the input and this module's layers."""

    def __init__(self, function, **layers):
        super().__init__()
        self.function = function
        for name, layer in layers.items():
            setattr(self, name, layer)

    def forward(self, x):
        return self.function(self, x)


def prelu(slopes) -> nn.PReLU:
    layer = nn.PReLU(len(slopes))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(slopes))
    return layer


def branches(merge) -> nn.Module:
    """Two Linear(4, 5) branches of one input, merged."""
    return Apply(lambda m, x: merge(m.a(x), m.b(x)), a=nn.Linear(4, 5), b=nn.Linear(4, 5))


# kind -> (model factory, example input shape, what the import makes of the kind)
KINDS = {
    "elu": (lambda: nn.Sequential(nn.Linear(4, 6), nn.ELU()), (1, 4), "hardcore.activation"),
    "threshold": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Threshold(0.25, -0.5)), (1, 4), "hardcore.activation"),
    "softplus": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Softplus()), (1, 4), "hardcore.activation"),
    "prelu": (lambda: nn.Sequential(nn.Linear(4, 6), nn.PReLU()), (1, 4), "hardcore.activation"),
    "prelu_channels": (lambda: nn.Sequential(nn.Conv1d(1, 3, 2), prelu([0.1, 0.3, 0.1])), (1, 1, 5),
                       "hardcore.concat"),
    "maximum": (lambda: branches(torch.maximum), (1, 4), "hardcore.maxpool"),
    "minimum": (lambda: branches(torch.minimum), (1, 4), "hardcore.minpool"),
    "dot": (lambda: branches(lambda a, b: (a * b).sum(-1, keepdim=True)), (1, 4), "hardcore.avgpool"),
    "flip": (lambda: Apply(lambda m, x: torch.flip(m.conv(x), [2, 3]), conv=nn.Conv2d(1, 2, 2)), (1, 1, 3, 3),
             "hardcore.gather"),
    "upsample1d": (lambda: nn.Sequential(nn.Conv1d(1, 2, 2), nn.Upsample(scale_factor=2)), (1, 1, 4),
                   "hardcore.gather"),
    "upsample2d": (lambda: nn.Sequential(nn.Conv2d(1, 1, 2), nn.Upsample(scale_factor=2)), (1, 1, 3, 3),
                   "hardcore.gather"),
    "upsample_bilinear": (lambda: nn.Sequential(nn.Conv2d(1, 1, 2), nn.UpsamplingBilinear2d(scale_factor=2)),
                          (1, 1, 3, 3), "hardcore.dense"),
    "pad1d": (lambda: nn.Sequential(nn.ConstantPad1d((1, 2), 0.5), nn.Conv1d(1, 2, 2)), (1, 1, 4),
              "hardcore.gather"),
    "pad2d": (lambda: nn.Sequential(nn.Conv2d(1, 1, 2), nn.ConstantPad2d((1, 0, 0, 1), 0.0)), (1, 1, 3, 3),
              "hardcore.gather"),
}


def model_of(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return KINDS[kind][0]().eval()


def inputs_of(kind: str, count: int, seed: int) -> np.ndarray:
    return 2 * np.random.default_rng(seed).standard_normal((count, *KINDS[kind][1][1:]))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_import_is_the_torch_model(kind):
    """The imported float IR equals the torch model on random inputs, through the kind's ops."""
    model = model_of(kind)
    module = import_model(model, torch.zeros(KINDS[kind][1]), new_context())
    run_pipeline(module, "hardcore-import")
    text = str(module)
    assert "torch." not in text and f'"{KINDS[kind][2]}"' in text
    inputs = inputs_of(kind, 256, 0).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(inputs)).numpy()
    actual = run_function(find_function(module.operation), inputs.reshape(len(inputs), -1))
    np.testing.assert_allclose(actual.reshape(expected.shape), expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def circuits():
    """kind, max-adder-depth -> the kind's circuit, compiled on first use (verify_each: every pass checked)."""
    compiled = {}

    def circuit(kind: str, depth: int | None):
        if (kind, depth) not in compiled:
            compiled[(kind, depth)] = hardcore.compile(model_of(kind), torch.zeros(KINDS[kind][1]),
                                                       calibration=inputs_of(kind, 256, 1), max_adder_depth=depth,
                                                       verify_each=depth is None)
        return compiled[(kind, depth)]
    return circuit


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_dag_is_the_reference_and_tracks_the_model(kind, circuits, rng):
    circuit = circuits(kind, None)
    assert_dag_is_reference(circuit, rng, 300)
    inputs = inputs_of(kind, 300, 2)
    with torch.no_grad():
        expected = model_of(kind)(torch.from_numpy(inputs).float()).numpy().reshape(len(inputs), -1)
    error = np.abs(circuit.predict(inputs) - expected)
    if kind == "threshold":  # a step at 0.25: an input that rounds across it jumps by 0.75
        error = error[np.abs(expected - 0.25) > 0.1]
    assert error.max() < 0.05 * np.abs(expected).max()


def test_minimum_is_one_comparator_per_element(circuits):
    """Each element's minimum is one comparator (a pick), a layer of its own; no adder."""
    layers = circuits("minimum", None).layers
    assert layers[-1]["kind"] == "minimum of two tensors 5"
    assert (layers[-1]["comparators"], layers[-1]["adders"]) == (5, 0)


def test_padding_costs_no_logic(circuits):
    """The padded positions are a constant and the others wires: the pad's layer has no adder."""
    layer = circuits("pad1d", None).layers[0]
    assert layer["kind"] == "constant 0.5 (padding 1x4->1x7)" and layer["adders"] == 0


def test_bicubic_upsampling_is_an_error():
    """torch-mlir cannot lower bicubic upsampling (upsample_bicubic2d): its error, with the input's shape."""
    model = nn.Sequential(nn.Upsample(scale_factor=2, mode="bicubic"))
    with pytest.raises(hardcore.CompileError,
                       match=r"^torch-mlir could not import the model for an input of shape \[1, 1, 2, 2\]: "
                             r"TorchMlirCompilerError: Lowering TorchFX IR -> Torch Backend IR failed"):
        hardcore.compile(model, torch.zeros(1, 1, 2, 2))


def test_maximum_with_a_constant_is_an_error():
    model = Apply(lambda m, x: torch.maximum(x, m.floor), floor=nn.Buffer(torch.zeros(4)))
    with pytest.raises(hardcore.CompileError,
                       match=r"^\S*test_layer_kinds\.py:\d+:\d+: error: hardcore-import: maximum of a constant tensor "
                             r"is not supported \(only of tensors the model computes\)\n"
                             r"\(the IR and a command that reproduces this are in \S+\)$"):
        hardcore.compile(model, torch.zeros(1, 4))


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("depth", [None, 1])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_bit_exact_in_verilator(kind, depth, circuits, tmp_path, rng):
    circuit = circuits(kind, depth)
    assert (circuit.latency > 0) == (depth is not None)
    low, high = circuit.in_range
    vectors = np.concatenate([circuit.quantize_input(inputs_of(kind, 200, 3)),
                              rng.integers(low, high + 1, (200, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    outputs = simulated(circuit, vectors, tmp_path)
    mismatches = int(np.any(outputs != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_baseline_computes_the_same_integers(kind, circuits, tmp_path, rng):
    """The '*' baseline (`hardcore report --synth`) writes each kind exactly: tables, comparisons, wires."""
    circuit = circuits(kind, None)
    verilog = baseline_verilog(circuit.stages["quantized"], "plain", circuit.out_width)
    low, high = circuit.in_range
    vectors = np.concatenate([circuit.quantize_input(inputs_of(kind, 100, 4)),
                              rng.integers(low, high + 1, (100, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    result = simulate(verilog, "plain", vectors, n_in=circuit.n_in, in_width=circuit.in_width, n_out=circuit.n_out,
                      out_width=circuit.out_width, workdir=tmp_path, simulator="icarus")
    mismatches = int(np.any(circuit.from_port(result.outputs) != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"
