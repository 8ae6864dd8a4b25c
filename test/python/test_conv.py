"""Small CNNs: convolutions unrolled into dense layers, batch norms folded, dropouts removed.

The float checks prove that hardcore-import's unrolled matrix is the same
convolution as torch's; the Verilator checks that the compiled circuits
compute the reference integers bit for bit.
"""

import json

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import hardcore
from hardcore.frontend import import_model
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context
from hardcore.passes.import_ import unrolled_convolution
from hardcore.pipeline import run_pipeline
from hardcore.sim import simulate, tool_available

from conftest import assert_dag_is_reference, extreme_inputs


def with_batch_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random running statistics and affine parameters, so folding a batch norm changes something."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                channels = module.num_features
                module.running_mean.copy_(torch.rand(channels, generator=generator) - 0.5)
                module.running_var.copy_(0.5 + 1.5 * torch.rand(channels, generator=generator))
                if module.affine:
                    module.weight.copy_(0.5 + torch.rand(channels, generator=generator))
                    module.bias.copy_(torch.rand(channels, generator=generator) - 0.5)
    return model.eval()


class SmallCNN(nn.Module):
    """Conv2d (stride 2, padding 1) + BatchNorm2d + ReLU + Dropout + Flatten + Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.dropout = nn.Dropout(0.25)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.dropout(torch.relu(self.bn(self.conv(x)))), 1))


def depthwise():
    return nn.Sequential(nn.Conv2d(3, 3, 3, padding=1, groups=3), nn.ReLU(), nn.Identity())


def dilated_conv1d():
    return nn.Sequential(nn.Conv1d(2, 3, 3, dilation=2), nn.BatchNorm1d(3), nn.ReLU(),
                         nn.Dropout1d(0.5), nn.Flatten(), nn.Linear(3 * 8, 4))


# name -> (model factory, input shape without the batch)
CNNS = {
    "small_cnn": (SmallCNN, (1, 6, 6)),
    "depthwise": (depthwise, (3, 5, 5)),
    "dilated_conv1d": (dilated_conv1d, (2, 12)),
}

# More shapes for the float check only: every convolution option and batch-norm placement.
FLOAT_ONLY = {
    "conv2d_every_option": (lambda: nn.Sequential(
        nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2, bias=False),
        nn.BatchNorm2d(6), nn.BatchNorm2d(6)), (4, 7, 6)),
    "conv1d_stride_padding": (lambda: nn.Sequential(nn.Conv1d(2, 3, 4, stride=3, padding=2)), (2, 11)),
    "conv2d_padding_same": (lambda: nn.Sequential(nn.Conv2d(2, 2, 3, padding="same"), nn.ReLU()), (2, 4, 5)),
    "conv3d": (lambda: nn.Sequential(nn.Conv3d(2, 2, (2, 3, 1), stride=(1, 2, 1), padding=(0, 1, 0))),
               (2, 3, 5, 2)),
    "batchnorm_after_relu": (lambda: nn.Sequential(nn.Conv2d(2, 3, 2), nn.ReLU(), nn.BatchNorm2d(3)), (2, 4, 4)),
    "batchnorm_without_affine": (lambda: nn.Sequential(nn.BatchNorm1d(3, affine=False), nn.Linear(3, 2),
                                                       nn.BatchNorm1d(2)), (3,)),
    "every_dropout": (lambda: nn.Sequential(nn.Conv1d(2, 2, 1), nn.Dropout(0.5), nn.Dropout1d(0.5),
                                            nn.AlphaDropout(0.5), nn.FeatureAlphaDropout(0.5)), (2, 3)),
}


def imported(model, shape):
    """The model after hardcore-import: a module of float hardcore layer ops."""
    module = import_model(model, torch.zeros(1, *shape), new_context())
    run_pipeline(module, "hardcore-import")
    return module


@pytest.mark.parametrize("name", sorted(CNNS) + sorted(FLOAT_ONLY))
def test_import_is_the_torch_model(name):
    """The imported float IR equals the torch model on random inputs (f32 tolerance)."""
    factory, shape = {**CNNS, **FLOAT_ONLY}[name]
    torch.manual_seed(0)
    model = with_batch_statistics(factory())
    module = imported(model, shape)
    inputs = np.random.default_rng(0).standard_normal((128,) + shape).astype(np.float32)
    actual = run_function(find_function(module.operation), inputs)
    expected = model(torch.from_numpy(inputs)).detach().numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    text = str(module)
    assert "torch." not in text  # every op lowered; dropout and batch norm leave nothing behind


def test_exported_program_with_dropouts_imports():
    """A torch.export program (what `hardcore compile model.pt2` loads) loses its dropouts too."""
    torch.manual_seed(0)
    model = with_batch_statistics(dilated_conv1d())
    program = torch.export.export(model, (torch.zeros(1, 2, 12),))
    assert "feature_dropout" in str(program.graph)  # Dropout1d, which torch-mlir cannot import
    module = import_model(program, torch.zeros(1, 2, 12), new_context())
    run_pipeline(module, "hardcore-import")
    inputs = np.random.default_rng(0).standard_normal((16, 2, 12)).astype(np.float32)
    expected = model(torch.from_numpy(inputs)).detach().numpy()
    np.testing.assert_allclose(run_function(find_function(module.operation), inputs), expected,
                               rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_batch_norm_folds_into_the_convolution():
    torch.manual_seed(0)
    module = imported(with_batch_statistics(SmallCNN()), (1, 6, 6))
    ops = [op.operation.name for op in find_function(module.operation).regions[0].blocks[0].operations]
    # reshape to the flat input, the conv with its batch norm, its ReLU, the linear layer.
    assert ops == ["hardcore.reshape", "hardcore.dense", "hardcore.relu", "hardcore.dense", "func.return"]


@given(channels=st.integers(1, 3), groups=st.integers(1, 3), out_per_group=st.integers(1, 2),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 3), st.integers(1, 2)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 1)), dilation=st.tuples(st.integers(1, 2), st.integers(1, 3)),
       size=st.tuples(st.integers(1, 7), st.integers(1, 6)), spatial=st.sampled_from([1, 2]))
@settings(max_examples=150, deadline=None)
def test_unrolled_convolution_matches_torch(channels, groups, out_per_group, kernel, stride, padding, dilation,
                                            size, spatial):
    """The unrolled matrix times the flat input is torch's convolution, for any options."""
    kernel, stride, padding, dilation, size = (v[:spatial] for v in (kernel, stride, padding, dilation, size))
    in_channels, out_channels = channels * groups, out_per_group * groups
    # The kernel must fit the padded input (torch rejects the rest too).
    assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in zip(size, padding, dilation, kernel)))
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((out_channels, channels, *kernel))
    x = rng.standard_normal((in_channels, *size))
    matrix, out_positions = unrolled_convolution(weight, x.shape, stride, padding, dilation, groups)
    convolve = torch.nn.functional.conv1d if spatial == 1 else torch.nn.functional.conv2d
    expected = convolve(torch.from_numpy(x[None]), torch.from_numpy(weight), stride=stride, padding=padding,
                        dilation=dilation, groups=groups)[0].numpy()
    assert [out_channels] + out_positions == list(expected.shape)
    np.testing.assert_allclose(matrix @ x.reshape(-1), expected.reshape(-1), atol=1e-12)
    # Every entry is a kernel tap or zero: at most one tap per (output, input) pair.
    assert np.count_nonzero(matrix) <= out_channels * np.prod(out_positions) * channels * np.prod(kernel)


def test_unrolled_convolution_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"^convolution weight \[4, 2, 3\] with groups=3 does not fit 6 input channels$"):
        unrolled_convolution(np.zeros((4, 2, 3)), (6, 8), [1], [0], [1], 3)
    with pytest.raises(ValueError, match=r"^convolution kernel 5 does not fit the padded input 3$"):
        unrolled_convolution(np.zeros((1, 1, 5)), (1, 3), [1], [0], [1], 1)
    with pytest.raises(ValueError, match=r"^a 2-D convolution needs an input of 3 dimensions per sample, "
                                         r"got \[1, 8\]$"):
        unrolled_convolution(np.zeros((1, 1, 3, 3)), (1, 8), [1, 1], [0, 0], [1, 1], 1)


class TransposedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose1d(1, 1, 2)

    def forward(self, x):
        return self.up(x)


def test_unsupported_convolution_is_reported_at_the_model_line():
    with pytest.raises(hardcore.CompileError, match=r"^\S*test_conv\.py:\d+:\d+: error: hardcore-import: "
                                                    r"transposed convolution is not supported\n"
                                                    r"\(the IR and a command that reproduces this are in \S+\)$"):
        hardcore.compile(TransposedConv(), torch.zeros(1, 1, 3))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_even_kernel_with_padding_same_is_rejected():
    # torch-mlir imports padding="same" with an even kernel as a symmetric padding of 0,
    # with the result shape of the asymmetric padding: the import must not guess.
    model = nn.Sequential(nn.Conv2d(1, 1, 2, padding="same"))
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(model, torch.zeros(1, 1, 4, 4))
    assert [d.message for d in info.value.diagnostics] == [
        "hardcore-import: convolution result [1, 4, 4] is not the [1, 3, 3] that padding [0, 0] gives "
        "(padding='same' with an even kernel pads asymmetrically, which torch-mlir's import loses)"]


@pytest.fixture(scope="module")
def cnn_circuits():
    """Each CNN compiled once (8-bit weights and activations), with its float model."""
    circuits = {}
    for name, (factory, shape) in CNNS.items():
        torch.manual_seed(0)
        model = with_batch_statistics(factory())
        calibration = np.random.default_rng(1).standard_normal((256,) + shape)
        circuits[name] = (model, shape, hardcore.compile(model, torch.zeros(1, *shape), calibration=calibration))
    return circuits


def test_report_names_the_unrolled_layers(cnn_circuits, tmp_path):
    _, _, circuit = cnn_circuits["small_cnn"]
    layers = circuit.report["layers"]
    assert [layer["kind"] for layer in layers] == [
        "conv2d 1->4 3x3 stride 2 padding 1, 6x6->3x3 positions (dense 36x36) + batchnorm", "linear 36->5"]
    # Unrolled: 4 channels x 3x3 positions by 6x6 inputs.  With padding 1 at stride 2, the
    # 3-tap kernel reaches 2, 3 and 3 rows (and columns) for the three output rows: 8 x 8 taps
    # per channel are nonzero (none of this model's weights quantizes to 0).
    assert (layers[0]["weights"], layers[0]["nonzero_weights"]) == (36 * 36, 4 * 8 * 8)
    circuit.write(tmp_path)
    written = json.loads((tmp_path / "small_cnn.json").read_text())
    assert written["layers"][0]["kind"] == layers[0]["kind"]
    _, _, depthwise_circuit = cnn_circuits["depthwise"]
    assert depthwise_circuit.report["layers"][0]["kind"] == \
        "conv2d 3->3 3x3 padding 1 groups 3, 5x5->5x5 positions (dense 75x75)"
    _, _, conv1d_circuit = cnn_circuits["dilated_conv1d"]
    assert [layer["kind"] for layer in conv1d_circuit.report["layers"]] == [
        "conv1d 2->3 3 dilation 2, 12->8 positions (dense 24x24) + batchnorm", "linear 24->4"]


@pytest.mark.parametrize("name", sorted(CNNS))
def test_cnn_tracks_float_and_dag_matches_reference(name, cnn_circuits, rng):
    model, shape, circuit = cnn_circuits[name]
    inputs = np.random.default_rng(2).standard_normal((500,) + shape)
    expected = model(torch.from_numpy(inputs).float()).detach().numpy().reshape(len(inputs), -1)
    predicted = circuit.predict(inputs)
    assert np.abs(predicted - expected).max() < 0.1 * np.abs(expected).max()
    assert_dag_is_reference(circuit, rng)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("name", sorted(CNNS))
def test_cnn_bit_exact_in_verilator(name, cnn_circuits, tmp_path, rng):
    model, shape, circuit = cnn_circuits[name]
    low, high = circuit.in_range
    real = circuit.quantize_input(np.random.default_rng(3).standard_normal((300,) + shape))
    vectors = np.concatenate([real, rng.integers(low, high + 1, (300, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    result = simulate(circuit.verilog, circuit.name, vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, workdir=tmp_path)
    mismatches = int(np.any(result.outputs != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"
    print(f"\n{name}: {circuit.report['adders']} adders, {len(vectors)} vectors bit-exact, "
          f"build {result.build_seconds:.1f} s")
