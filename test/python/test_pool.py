"""Pooling layers and the argmax output.

Max pools become `hardcore.maxpool` (comparator trees), average pools a dense
layer of integer multipliers and a requantization, AdaptiveAvgPool to 1x1 an
average over the whole input; `output="argmax"` ends a classifier with a
comparator tree that yields the index of its largest output.  The float checks
prove the import is torch's pooling; the Verilator checks that the circuits,
combinational and pipelined, compute the reference integers bit for bit.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import hardcore
from hardcore.frontend import import_model
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.passes.import_ import pooling_windows
from hardcore.passes.quantize import avgpool_multipliers
from hardcore.pipeline import run_pipeline
from hardcore.sim import tool_available

from conftest import assert_dag_is_reference, extreme_inputs, simulated

BIN = Path(sys.executable).parent
requires_verilator = pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")


def conv_relu_maxpool():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 5))


def conv_avgpool2():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.AvgPool2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 5))


def avgpool3():
    # count_include_pad=False: the border windows divide by 4 or 6, the inner ones by 9.
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.ReLU(), nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 3))


def global_avgpool():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def pools1d():
    # A max pool before the ReLU (the ReLU stays a clamp of its own), padding, ceil_mode, then an average.
    return nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True),
                         nn.ReLU(), nn.AvgPool1d(3), nn.Flatten(), nn.Linear(3 * 2, 4))


# name -> (model factory, input shape without the batch)
CIRCUITS = {
    "conv_relu_maxpool": (conv_relu_maxpool, (1, 6, 6)),
    "conv_avgpool2": (conv_avgpool2, (1, 6, 6)),
    "avgpool3": (avgpool3, (2, 4, 4)),
    "global_avgpool": (global_avgpool, (1, 5, 5)),
    "pools1d": (pools1d, (2, 12)),
}

# More pooling options, checked in float only.
FLOAT_ONLY = {
    "maxpool2d_every_option": (lambda: nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1),
                                                    ceil_mode=True), (2, 7, 6)),
    "maxpool_functional_stride": (lambda: FunctionalMaxPool(), (2, 5, 4)),
    "maxpool3d": (lambda: nn.MaxPool3d(2), (1, 2, 4, 4)),
    "avgpool2d_ceil_mode": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 6, 6)),
    "avgpool2d_ceil_mode_exclude_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                                             count_include_pad=False), (1, 6, 6)),
    "avgpool2d_divisor_override": (lambda: nn.AvgPool2d(2, divisor_override=3), (2, 4, 4)),
    "avgpool1d_padding": (lambda: nn.AvgPool1d(4, stride=3, padding=2), (2, 11)),
    "avgpool3d": (lambda: nn.AvgPool3d(2, padding=1), (1, 2, 4, 4)),
    "adaptive_avgpool1d": (lambda: nn.AdaptiveAvgPool1d(1), (3, 5)),
    "adaptive_avgpool2d_dividing": (lambda: nn.AdaptiveAvgPool2d(2), (3, 4, 6)),
    "adaptive_maxpool2d": (lambda: nn.AdaptiveMaxPool2d(1), (3, 4, 5)),
    "adaptive_maxpool2d_dividing": (lambda: nn.AdaptiveMaxPool2d((2, 1)), (2, 4, 3)),
}


class FunctionalMaxPool(nn.Module):
    def forward(self, x):
        return torch.nn.functional.max_pool2d(x, 2)  # no stride: torch uses the kernel


def model_for(name):
    factory, shape = {**CIRCUITS, **FLOAT_ONLY}[name]
    torch.manual_seed(0)
    return factory().eval(), shape


@pytest.mark.parametrize("name", sorted(CIRCUITS) + sorted(FLOAT_ONLY))
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


@given(channels=st.integers(1, 2), kernel=st.tuples(st.integers(1, 4), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.tuples(st.integers(0, 2), st.integers(0, 1)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), size=st.tuples(st.integers(1, 8), st.integers(1, 6)),
       spatial=st.sampled_from([1, 2]), ceil_mode=st.booleans(), count_include_pad=st.booleans())
@settings(max_examples=200, deadline=None)
def test_pooling_windows_match_torch(channels, kernel, stride, padding, dilation, size, spatial, ceil_mode,
                                     count_include_pad):
    """Windows gathered from the flat input give torch's max pool; with the divisors, its avg pool."""
    kernel, stride, padding, dilation, size = (v[:spatial] for v in (kernel, stride, padding, dilation, size))
    functional = torch.nn.functional
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, channels, *size)))
    max_pool, avg_pool = ((functional.max_pool1d, functional.avg_pool1d) if spatial == 1
                          else (functional.max_pool2d, functional.avg_pool2d))
    try:  # torch rejects paddings over half the kernel and kernels larger than the padded input
        expected_max = max_pool(x, kernel, stride, padding, dilation, ceil_mode)[0].numpy()
    except RuntimeError:
        assume(False)
    windows, out_positions, padded = pooling_windows((channels, *size), kernel, stride, padding, dilation,
                                                     ceil_mode)
    assert [channels] + out_positions == list(expected_max.shape)
    flat = x[0].numpy().reshape(-1)
    taps = np.where(windows >= 0, flat[np.maximum(windows, 0)], -np.inf)
    np.testing.assert_array_equal(taps.max(axis=1), expected_max.reshape(-1))
    if dilation == [1] * spatial:
        try:
            expected_avg = avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad)[0].numpy()
        except RuntimeError:
            return
        inside = windows >= 0
        divisors = np.tile(padded, channels) if count_include_pad else np.maximum(inside.sum(axis=1), 1)
        average = np.where(inside, taps, 0).sum(axis=1) / divisors
        np.testing.assert_allclose(average, expected_avg.reshape(-1), atol=1e-12)


def test_pooling_windows_reject_bad_options():
    with pytest.raises(ValueError, match=r"^pooling kernel \[2\], stride \[0\] and dilation \[1\] must be positive, "
                                         r"padding \[0\] not negative$"):
        pooling_windows((1, 4), [2], [0], [0], [1])
    with pytest.raises(ValueError, match=r"^pooling kernel 5 does not fit the padded input 3$"):
        pooling_windows((1, 3), [5], [1], [0], [1])
    with pytest.raises(ValueError, match=r"^a 2-D pooling needs an input of 3 dimensions per sample, got \[1, 8\]$"):
        pooling_windows((1, 8), [2, 2], [2, 2], [0, 0], [1, 1])


def test_avgpool_multipliers():
    # Windows of 2^p: a plain shift.  Others: round(2^q / d) with q = act_bits + 1 + ceil(log2 max d),
    # lowered while all are even.
    assert avgpool_multipliers([4, 4], 8) == ([1, 1], 2)
    assert avgpool_multipliers([1], 8) == ([1], 0)
    assert avgpool_multipliers([9], 8) == ([455], 12)
    assert avgpool_multipliers([4, 6, 9], 8) == ([2048, 1365, 910], 13)
    assert avgpool_multipliers([4, 6, 9], 4) == ([128, 85, 57], 9)
    for act_bits in (2, 4, 8, 16):
        for divisor in range(1, 200):
            (multiplier,), shift = avgpool_multipliers([divisor], act_bits)
            # The multiplier's relative error is at most 2^-(act_bits+2): a quarter step of the output.
            assert abs(multiplier * divisor / 2 ** shift - 1) <= 2.0 ** -(act_bits + 2)


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


def test_report_names_the_pooling_layers():
    _, _, circuit = compiled("conv_relu_maxpool")
    layers = circuit.report["layers"]
    assert [layer["kind"] for layer in layers] == [
        "conv2d 1->4 3x3 padding 1, 6x6->6x6 positions (dense 144x36)",
        "maxpool2d 2x2, 4 channels 6x6->3x3 positions", "linear 36->5"]
    # 36 windows of 4: three comparators each, two levels; no adders.
    assert {k: layers[1][k] for k in ("inputs", "outputs", "adders", "comparators", "comparator_depth")} == \
        {"inputs": 144, "outputs": 36, "adders": 0, "comparators": 108, "comparator_depth": 2}
    assert circuit.report["comparators"] == 108
    _, _, circuit = compiled("conv_avgpool2")
    assert circuit.layers[1]["kind"] == "avgpool2d 2x2, 4 channels 6x6->3x3 positions, sum >> 2"
    assert circuit.layers[1]["adders"] == 36 * 3  # a sum of 4 per output, the division a shift
    _, _, circuit = compiled("avgpool3")
    assert circuit.layers[1]["kind"] == ("avgpool2d 3x3 stride 1 padding 1, 3 channels 4x4->4x4 positions "
                                         "count_include_pad=False, sum x round(2^13/divisor) >> 13")
    _, _, circuit = compiled("global_avgpool")
    assert circuit.layers[1]["kind"] == "avgpool2d 3x3, 4 channels 3x3->1x1 positions, sum x 455 >> 12"


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_circuit_tracks_float_and_dag_matches_reference(name, rng):
    model, shape, circuit = compiled(name)
    inputs = np.random.default_rng(2).standard_normal((500,) + shape)
    expected = model(torch.from_numpy(inputs).float()).detach().numpy().reshape(len(inputs), -1)
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.1 * np.abs(expected).max()
    assert_dag_is_reference(circuit, rng)


@pytest.mark.sim
@requires_verilator
@pytest.mark.parametrize("max_adder_depth", [None, 2], ids=["combinational", "pipelined"])
@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_bit_exact_in_verilator(name, max_adder_depth, tmp_path, rng):
    _, shape, circuit = compiled(name, max_adder_depth)
    assert (circuit.latency > 0) == (max_adder_depth is not None)
    low, high = circuit.in_range
    real = circuit.quantize_input(np.random.default_rng(3).standard_normal((300,) + shape))
    vectors = np.concatenate([real, rng.integers(low, high + 1, (300, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    outputs = simulated(circuit, vectors, tmp_path)
    mismatches = int(np.any(outputs != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"


# -- argmax ------------------------------------------------------------------

class TiedClassifier(nn.Module):
    """Logits 0 and 2 are always equal: argmax must never answer 2."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x)


@pytest.fixture(scope="module")
def classifier():
    """conv_relu_maxpool trained briefly on five Gaussian clusters of 6x6 images, and a compiler for it."""
    from mlp import synthetic_task

    inputs, labels = synthetic_task(4096, seed=0, n_in=36, classes=5)
    inputs = inputs.reshape(-1, 1, 6, 6)
    model, _ = model_for("conv_relu_maxpool")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(150):
        batch = slice((step * 256) % 3584, (step * 256) % 3584 + 256)
        loss = nn.functional.cross_entropy(model.train()(inputs[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    circuits = {}

    def compiled_classifier(output="logits", max_adder_depth=None):
        if (output, max_adder_depth) not in circuits:
            circuits[output, max_adder_depth] = hardcore.compile(
                model, torch.zeros(1, 1, 6, 6), calibration=inputs[:512].numpy(), output=output,
                max_adder_depth=max_adder_depth)
        return circuits[output, max_adder_depth]

    return model, (inputs[3584:].numpy(), labels[3584:].numpy()), compiled_classifier


def test_argmax_output_is_the_index_of_the_largest_logit(classifier, rng):
    model, (inputs, labels), compiled_classifier = classifier
    logits, argmax = compiled_classifier(), compiled_classifier("argmax")
    # The same quantized network, with the argmax after it: 5 classes, a 3-bit unsigned port.
    assert (argmax.out_shape, argmax.out_width, argmax.out_signed, argmax.out_frac_bits) == ([1], 3, False, 0)
    assert argmax.report["ports"]["y"]["signed"] is False
    assert argmax.layers[-1]["kind"] == "argmax of 5" and argmax.layers[-1]["comparators"] == 4
    assert argmax.options["output"] == "argmax"
    low, high = argmax.in_range
    x = np.concatenate([argmax.quantize_input(inputs), rng.integers(low, high + 1, (300, argmax.n_in)),
                        extreme_inputs(argmax.n_in, low, high)])
    reference_logits = logits.reference(x)
    indices = argmax.reference(x)[:, 0]
    assert np.array_equal(indices, np.argmax(reference_logits, axis=1))
    assert np.array_equal(indices, torch.argmax(torch.from_numpy(reference_logits), dim=1).numpy())
    assert set(indices) == {0, 1, 2, 3, 4}
    dag_module = parse_module(argmax.stages["dag"], new_context())
    assert np.array_equal(run_function(find_function(dag_module.operation), x).reshape(len(x), -1),
                          argmax.reference(x))
    # Float: the imported IR's argmax is torch's on the float model.
    float_module = parse_module(argmax.stages["hardcore"], new_context())
    float_index = run_function(find_function(float_module.operation), inputs.astype(np.float32))[:, 0]
    float_predictions = model(torch.from_numpy(inputs)).argmax(dim=1).numpy()
    assert np.array_equal(float_index, float_predictions)
    # predict gives the index as a float (scale 2^0); the quantized classifier agrees with the float one.
    predictions = argmax.predict(inputs)[:, 0]
    assert np.array_equal(predictions, indices[:len(inputs)])
    assert np.mean(predictions == float_predictions) > 0.95
    print(f"\naccuracy: float {np.mean(float_predictions == labels):.3f}, "
          f"circuit {np.mean(predictions == labels):.3f}")


def test_argmax_ties_go_to_the_lowest_index():
    model = TiedClassifier().eval()
    circuit = hardcore.compile(model, torch.zeros(1, 3), output="argmax")
    x = np.array([[5, 1, 1], [5, 5, 5], [0, 0, 0], [-3, -3, -4], [127, 127, 127], [-128, -128, -128]])
    assert circuit.reference(x)[:, 0].tolist() == [0, 0, 0, 0, 0, 0]
    assert circuit.reference(np.array([[1, 2, 3], [1, 3, 2]]))[:, 0].tolist() == [3, 1]


@pytest.mark.sim
@requires_verilator
@pytest.mark.parametrize("max_adder_depth", [None, 2], ids=["combinational", "pipelined"])
def test_argmax_bit_exact_in_verilator(classifier, max_adder_depth, tmp_path, rng):
    _, (inputs, _), compiled_classifier = classifier
    logits, argmax = compiled_classifier(), compiled_classifier("argmax", max_adder_depth)
    low, high = argmax.in_range
    vectors = np.concatenate([argmax.quantize_input(inputs), rng.integers(low, high + 1, (300, argmax.n_in)),
                              extreme_inputs(argmax.n_in, low, high)])
    reference_logits = logits.reference(vectors)
    largest = reference_logits.max(axis=1, keepdims=True)
    indices = simulated(argmax, vectors, tmp_path)[:, 0]
    assert set(indices) == {0, 1, 2, 3, 4}  # index 4 needs the 3-bit port read unsigned
    assert np.array_equal(indices, np.argmax(reference_logits, axis=1))
    assert np.array_equal(indices, argmax.reference(vectors)[:, 0])
    print(f"\n{len(vectors)} vectors, {int((np.sum(reference_logits == largest, axis=1) > 1).sum())} with tied "
          f"logits, latency {argmax.latency}: the index is argmax of the reference logits on every one")


@pytest.mark.sim
@requires_verilator
def test_argmax_ties_in_verilator(tmp_path):
    circuit = hardcore.compile(TiedClassifier().eval(), torch.zeros(1, 3), output="argmax", max_adder_depth=1)
    low, high = circuit.in_range
    vectors = np.random.default_rng(5).integers(low, high + 1, (400, 3))
    vectors[::2, 1] = vectors[::2, 0]  # ties between logits 0 and 1 too
    vectors[::4, 2] = vectors[::4, 0]  # and four-way ones
    indices = simulated(circuit, vectors, tmp_path)[:, 0]
    reference_logits = hardcore.compile(TiedClassifier().eval(), torch.zeros(1, 3)).reference(vectors)
    assert np.array_equal(reference_logits[:, 0], reference_logits[:, 2])
    assert 2 not in indices and set(indices) == {0, 1, 3}
    assert np.array_equal(indices, np.argmax(reference_logits, axis=1))


CLASSIFIER_FILE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 2, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * 2 * 2, 6)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))
'''


@pytest.mark.sim
@requires_verilator
def test_cli_output_argmax(tmp_path):
    (tmp_path / "net.py").write_text(CLASSIFIER_FILE)
    out = tmp_path / "out"
    result = subprocess.run([BIN / "hardcore", "compile", f"{tmp_path / 'net.py'}:Net", "--input-shape", "1,1,6,6",
                             "-o", out, "--output", "argmax", "--max-adder-depth", "3", "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "net: x 36x8 bits -> y 1x3 bits (argmax index), " in result.stdout
    report = json.loads((out / "net.json").read_text())
    assert report["ports"]["y"] == {**report["ports"]["y"], "elements": 1, "element_width": 3, "signed": False}
    assert report["options"]["output"] == "argmax"
    assert hardcore.Circuit.load(out).out_signed is False
    sim = subprocess.run([BIN / "hardcore", "sim", out, "--vectors", "300"], capture_output=True, text=True)
    assert sim.returncode == 0, sim.stderr
    assert sim.stdout.startswith("300 vectors, 0 mismatches (latency ")


def test_cli_rejects_an_unknown_output(tmp_path):
    result = subprocess.run([BIN / "hardcore", "compile", "model.py:Net", "--input-shape", "1,4", "-o",
                             tmp_path / "out", "--output", "index"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "argument --output: invalid choice: 'index' (choose from 'logits', 'argmax')" in result.stderr


def test_unknown_output_is_a_usage_error():
    with pytest.raises(hardcore.UsageError, match=r"^hardcore-import: unknown output 'index' "
                                                  r"\(one of: logits, argmax\)$"):
        hardcore.compile(nn.Linear(2, 2), torch.zeros(1, 2), output="index")


def test_argmax_of_one_output_is_an_error():
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(nn.Sequential(nn.Linear(2, 1)), torch.zeros(1, 2), output="argmax")
    assert [d.message for d in info.value.diagnostics] == [
        "hardcore-import: output=argmax needs a result of at least 2 elements, got 1"]


def test_uneven_adaptive_avgpool_is_reported():
    # torch-mlir lowers AdaptiveAvgPool2d only where its windows are one size; else it leaves failing asserts.
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(nn.Sequential(nn.AdaptiveAvgPool2d((2, 3))), torch.zeros(1, 1, 5, 5))
    assert [d.message for d in info.value.diagnostics] == [
        "hardcore-import: torch-mlir could not lower an op of the model: "
        "unimplemented: only support cases with fixed stride size."]


@pytest.mark.synth
@pytest.mark.skipif(not tool_available("yosys"), reason="yosys is not installed")
def test_report_synth_has_a_baseline_for_max_pools_and_argmax(tmp_path):
    # The plain '*' baseline writes max pools and the argmax as comparisons (test_graph.py checks its integers).
    model = nn.Sequential(nn.MaxPool1d(2), nn.Flatten(), nn.Linear(2, 2)).eval()
    hardcore.compile(model, torch.zeros(1, 1, 4), name="pooled", output="argmax").write(tmp_path)
    result = subprocess.run([BIN / "hardcore", "report", tmp_path, "--synth", "--json"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert [layer["kind"] for layer in report["layers"]] == ["maxpool1d 2, 1 channel 4->2 positions", "linear 2->2",
                                                             "argmax of 2"]
    assert all(layer["plain_luts"] >= 0 for layer in report["layers"])
    assert report["synthesis"]["plain"]["luts"] > 0
