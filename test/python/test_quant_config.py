"""Per-channel weight scales, per-layer quantization settings, and quantization-aware trained models.

- `weight_scale="per-channel"`: one power-of-two scale per output channel; the
  requantization shifts each output by its own amount (`hardcore.requant` with
  a shift array), and the folded circuit computes exactly the reference.
- `quant_config` (a dictionary or a JSON file; `hardcore compile --quant-config`):
  weight bits, activation bits and weight scale per layer; bad configs are
  errors that name the file or the layer.
- QAT: torch's fake quantization with power-of-two scales sets the codes and
  scales, so the circuit computes what the fake-quantized model computes (up
  to float rounding and ties), checked in Verilator bit for bit.
"""

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hardcore
from hardcore.baseline import baseline_verilog
from hardcore.errors import CompileError, UsageError
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.passes.quantize import weight_codes
from hardcore.sim import simulate, tool_available

from conftest import extreme_inputs

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def uneven_rows() -> nn.Module:
    """A layer whose rows differ in magnitude by up to 2^6: one scale for all wastes bits on the small ones."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)).eval()
    with torch.no_grad():
        model[0].weight.mul_(torch.tensor([[1.0], [0.25], [1 / 16], [1 / 64]]))
    return model


def folded_outputs(circuit, x: np.ndarray) -> np.ndarray:
    """The folded DAG (hardcore-fold-weights' output) run by the interpreter."""
    dag = parse_module(circuit.stages["dag"], new_context())
    return run_function(find_function(dag.operation), x).reshape(len(x), -1)


def quantized_error(circuit, model, x: np.ndarray) -> float:
    with torch.no_grad():
        expected = model(torch.from_numpy(x).float()).numpy()
    y = circuit.dequantize_output(circuit.reference(circuit.quantize_input(x)))
    return float(np.sqrt(np.mean((y - expected) ** 2)))


# -- per-channel weight scales ----------------------------------------------
def test_per_channel_shifts_each_row_and_folds_exactly(rng):
    model = uneven_rows()
    circuit = hardcore.compile(model, torch.zeros(1, 6), weight_bits=4, weight_scale="per-channel")
    quantized = circuit.stages["quantized"]
    # Layer 0's rows get 3, 5, 7 and 9 more fractional bits than the largest row's
    # scale would leave them: one shift per row.
    shifts = re.search(r'"hardcore.requant"\(%\w+\) \{max = 255 : i64, min = 0 : i64, '
                       r'shift = dense<\[(-?\d+), (-?\d+), (-?\d+), (-?\d+)\]> : tensor<4xi64>\}', quantized)
    assert shifts, quantized
    steps = np.diff([int(s) for s in shifts.groups()])
    assert list(steps) == [2, 2, 2], shifts.groups()
    low, high = circuit.in_range
    x = np.concatenate([rng.integers(low, high + 1, (300, 6)), extreme_inputs(6, low, high)])
    assert np.array_equal(folded_outputs(circuit, x), circuit.reference(x))
    assert circuit.options["weight_scale"] == "per-channel"


def test_per_channel_is_more_accurate_on_uneven_rows():
    model = uneven_rows()
    x = np.random.default_rng(5).standard_normal((500, 6)).astype(np.float32)
    # 12-bit activations, so that the weights' rounding dominates the error.
    errors = {scale: quantized_error(hardcore.compile(model, torch.zeros(1, 6), weight_bits=4, act_bits=12,
                                                      weight_scale=scale, calibration=x), model, x)
              for scale in ("per-layer", "per-channel")}
    assert errors["per-channel"] < 0.75 * errors["per-layer"], errors


def test_per_channel_is_more_accurate_on_the_trained_mlp(trained_mlp):
    # Measured: rms error against the float model 0.4947 (per-layer) -> 0.4466 (per-channel) at 4 bits.
    model, (inputs, _) = trained_mlp
    x = inputs[2048:2560].numpy()
    errors = {scale: quantized_error(hardcore.compile(model, torch.zeros(1, 16), weight_bits=4, weight_scale=scale,
                                                      calibration=inputs[:512].numpy()), model, x)
              for scale in ("per-layer", "per-channel")}
    assert errors["per-channel"] < 0.95 * errors["per-layer"], errors


def test_per_channel_frac_bits_at_most_16_above_the_layers():
    weight = np.array([[1.0, -0.5], [1e-3, 2e-3], [1e-12, 0.0], [0.0, 0.0]])
    codes, frac = weight_codes(weight, 8, "per-channel", 4)
    # the layer's: 7 (1.0 -> 128, saturated to 127); row 1: 15 (2e-3 -> 66); row 2 capped
    # at 7 + 16 (1e-12 would get 46); an all-zero row gets 7, like an all-zero layer
    assert frac.tolist() == [7, 15, 23, 7]
    assert codes.tolist() == [[127, -64], [33, 66], [0, 0], [0, 0]]
    codes, frac = weight_codes(weight, 8, "per-layer", 4)
    assert frac.tolist() == [7] * 4 and codes[1].tolist() == [0, 0]


def test_per_channel_convolution_scales_whole_channels():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)).eval()
    with torch.no_grad():
        model[0].weight[1].mul_(0.1)
    circuit = hardcore.compile(model, torch.zeros(1, 1, 4, 4), weight_scale="per-channel")
    shift = re.search(r'shift = dense<\[([-\d, ]+)\]> : tensor<32xi64>', circuit.stages["quantized"])
    shifts = [int(s) for s in shift.group(1).split(", ")]
    # 16 positions a channel, each position one row: one shift per channel.
    assert len(set(shifts[:16])) == 1 and len(set(shifts[16:])) == 1 and shifts[0] != shifts[16]


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
def test_baseline_shifts_each_row_like_the_circuit(tmp_path, rng):
    circuit = hardcore.compile(uneven_rows(), torch.zeros(1, 6), weight_bits=4, weight_scale="per-channel")
    verilog = baseline_verilog(circuit.stages["quantized"], "plain", circuit.out_width)
    low, high = circuit.in_range
    vectors = np.concatenate([rng.integers(low, high + 1, (200, 6)), extreme_inputs(6, low, high)])
    result = simulate(verilog, "plain", vectors, n_in=6, in_width=circuit.in_width, n_out=3,
                      out_width=circuit.out_width, workdir=tmp_path, simulator="icarus")
    assert np.array_equal(result.outputs, circuit.reference(vectors))


# -- per-layer settings -------------------------------------------------------
CONFIG = {"weight_bits": 6, "layers": {"0": {"weight_bits": 3, "weight_scale": "per-channel"}, "1": {"act_bits": 5}}}


def _dense_weights(quantized: str) -> list[np.ndarray]:
    module = parse_module(quantized, new_context())
    ops = find_function(module.operation).regions[0].blocks[0].operations
    return [np.array(op.attributes["weight"]).astype(np.int64) for op in ops if op.operation.name == "hardcore.dense"]


def test_config_sets_each_layer(rng):
    circuit = hardcore.compile(uneven_rows(), torch.zeros(1, 6), quant_config=CONFIG)
    first, second = _dense_weights(circuit.stages["quantized"])
    # 3 bits, per channel: every row's largest code is 2 or 3 (its magnitude times 2^f is in (2, 4])
    assert first.min() >= -4 and first.max() <= 3 and np.abs(first).max(axis=1).min() >= 2
    assert second.min() >= -32 and second.max() <= 31 and np.abs(second).max() >= 16  # 6 bits (top level)
    # layer 1's output: signed 5 bits; layer 0's (after the ReLU): unsigned 8 (the default)
    assert re.search(r"max = 15 : i64, min = -16 : i64, shift = -?\d+ : i64\} : \(tensor<3xi32>\) -> tensor<3xi5>",
                     circuit.stages["quantized"])
    assert "max = 255 : i64, min = 0 : i64, shift = dense<" in circuit.stages["quantized"]
    assert circuit.out_width == 5 and circuit.in_width == 8
    low, high = circuit.in_range
    x = np.concatenate([rng.integers(low, high + 1, (200, 6)), extreme_inputs(6, low, high)])
    assert np.array_equal(folded_outputs(circuit, x), circuit.reference(x))


def test_config_file_and_dictionary_agree(tmp_path):
    path = tmp_path / "quant.json"
    path.write_text(json.dumps(CONFIG))
    from_file = hardcore.compile(uneven_rows(), torch.zeros(1, 6), quant_config=path)
    from_dict = hardcore.compile(uneven_rows(), torch.zeros(1, 6), quant_config={
        "weight_bits": 6, "layers": {0: {"weight_bits": 3, "weight_scale": "per-channel"}, 1: {"act_bits": 5}}})
    assert from_file.verilog == from_dict.verilog
    assert from_file.stages["quantized"] == from_dict.stages["quantized"]


def test_default_config_changes_nothing():
    plain = hardcore.compile(uneven_rows(), torch.zeros(1, 6))
    configured = hardcore.compile(uneven_rows(), torch.zeros(1, 6), weight_scale="per-layer",
                                  quant_config={"layers": {}})
    assert plain.verilog == configured.verilog
    assert "shift = dense" not in plain.stages["quantized"]
    assert "weight_scale" not in plain.options and "quant_config" not in plain.options


def test_cli_quant_config(tmp_path):
    path = tmp_path / "quant.json"
    path.write_text(json.dumps({"layers": {"1": {"act_bits": 6}}}))
    result = subprocess.run([str(BIN / "hardcore"), "compile", str(ROOT / "examples" / "mlp.py:MLP"),
                             "--input-shape", "1,16", "-o", str(tmp_path / "out"), "-q",
                             "--quant-config", str(path), "--weight-scale", "per-channel"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "mlp.json").read_text())
    assert report["options"]["weight_scale"] == "per-channel"
    assert report["options"]["quant_config"] == str(path)
    # layer 1 (ReLU): unsigned 6 bits
    assert re.search(r"max = 63 : i64, min = 0 : i64, shift = \d+ : i64\} : \(tensor<32xi32>\) -> tensor<32xi7>",
                     (tmp_path / "out" / "mlp.quantized.mlir").read_text())


def test_cli_unreadable_config(tmp_path):
    result = subprocess.run([str(BIN / "hardcore"), "compile", str(ROOT / "examples" / "mlp.py:MLP"),
                             "--input-shape", "1,16", "-o", str(tmp_path / "out"), "-q",
                             "--quant-config", str(tmp_path / "missing.json")], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"cannot read quantization config '{tmp_path / 'missing.json'}': No such file or directory" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("config, message", [
    ({"layers": {"first": {"act_bits": 6}}},
     "quant_config: layer key 'first' is not a layer index (0, 1, ...: the layers hardcore-fold-weights "
     "reports, in order)"),
    ({"layers": {"0": {"weight_bits": 17}}}, "quant_config: layer 0: weight_bits must be an integer between 2 and 16, got 17"),
    ({"layers": {"0": {"act_bits": "8"}}}, "quant_config: layer 0: act_bits must be an integer between 2 and 16, got '8'"),
    ({"layers": {"0": {"weight_bits": True}}}, "quant_config: layer 0: weight_bits must be an integer between 2 and 16, got True"),
    ({"layers": {"0": {"bits": 4}}}, "quant_config: layer 0: unknown setting 'bits' (settings: weight_bits, act_bits, weight_scale, act_percentile, reuse)"),
    ({"weight_scale": "per-row"}, "quant_config: weight_scale must be one of per-layer, per-channel, got 'per-row'"),
    ({"layers": [4, 4]}, "quant_config: 'layers' must map layer indices to settings, got [4, 4]"),
    ({"layers": {"0": 4}}, "quant_config: layer 0: expected an object of settings, got 4"),
    ({"layers": {"0": {}, 0: {}}}, "quant_config: layer 0 is given twice"),
    ([("layers", {})], "quant_config: expected an object with the keys weight_bits, act_bits, weight_scale, act_percentile, reuse, layers; got list"),
])
def test_bad_configs(config, message):
    with pytest.raises(UsageError, match=f"^{re.escape(message)}$"):
        hardcore.compile(uneven_rows(), torch.zeros(1, 6), quant_config=config)


def test_bad_weight_scale():
    with pytest.raises(UsageError, match=r"^hardcore-quantize: weight-scale must be one of per-layer, per-channel, "
                                         r"got 'per-tensor'$"):
        hardcore.compile(uneven_rows(), torch.zeros(1, 6), weight_scale="per-tensor")


@pytest.mark.parametrize("text, message", [
    (None, "cannot read quantization config '{path}': No such file or directory"),
    ("{\"layers\": ", "quantization config '{path}' is not valid JSON: Expecting value: line 1 column 12 (char 11)"),
    ("[1]", "{path}: expected an object with the keys weight_bits, act_bits, weight_scale, act_percentile, reuse, layers; got list"),
])
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "quant.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match=f"^{re.escape(message.format(path=path))}$"):
        hardcore.compile(uneven_rows(), torch.zeros(1, 6), quant_config=path)


def test_config_layer_past_the_last():
    with pytest.raises(CompileError, match=r"^.+: error: hardcore-quantize: the quantization config sets layer 2, "
                                           r"but the model has 2 layers \(0 to 1\)\n") as raised:
        hardcore.compile(uneven_rows(), torch.zeros(1, 6), quant_config={"layers": {"2": {"act_bits": 6}}})
    # The reproducer holds the config as a file, and its command reads it (and fails the same way).
    folder = Path(re.search(r"are in (\S+)\)$", str(raised.value)).group(1))
    assert json.loads((folder / "quant_config.json").read_text()) == {"layers": {"2": {"act_bits": 6}}}
    command = (folder / "reproduce.sh").read_text()
    assert f"hardcore-quantize{{config={folder / 'quant_config.json'}}}" in command
    result = subprocess.run(["sh", str(folder / "reproduce.sh")], capture_output=True, text=True,
                            env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"})
    assert result.returncode == 1
    assert "hardcore-quantize: the quantization config sets layer 2, but the model has 2 layers (0 to 1)" in result.stderr


def test_config_weight_bits_of_a_max_pool():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)).eval()
    with pytest.raises(CompileError, match=r"^.+: error: hardcore-quantize: the quantization config sets "
                                           r"weight_bits of layer 1, a max pool, which has no weights or "
                                           r"requantization\n"):
        hardcore.compile(model, torch.zeros(1, 1, 6, 6), quant_config={"layers": {"1": {"weight_bits": 4}}})


# -- quantization-aware training ------------------------------------------------
class FakeQuant(nn.Module):
    """torch's fake quantization at scale 2^-frac_bits, zero point 0, codes in [low, high]."""

    def __init__(self, frac_bits: int, low: int = -128, high: int = 127):
        super().__init__()
        self.scale, self.low, self.high = 2.0 ** -frac_bits, low, high

    def forward(self, x):
        return torch.fake_quantize_per_tensor_affine(x, self.scale, 0, self.low, self.high)


class WeightFakeQuant(nn.Module):
    """Per-output-channel fake quantization of a weight, scales 2^-frac_bits[c]."""

    def __init__(self, frac_bits, low: int = -128, high: int = 127):
        super().__init__()
        self.register_buffer("scale", torch.tensor([2.0 ** -f for f in frac_bits]))
        self.register_buffer("zero_point", torch.zeros(len(frac_bits), dtype=torch.int32))
        self.low, self.high = low, high

    def forward(self, w):
        return torch.fake_quantize_per_channel_affine(w, self.scale, self.zero_point, 0, self.low, self.high)


class QatCNN(nn.Module):
    """Input 4 frac bits; a 3x3 convolution with per-channel power-of-two weight scales, ReLU,
    unsigned 8-bit activations; a linear layer with one weight scale; a signed 8-bit output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, stride=2, padding=1)
        self.fc = nn.Linear(3 * 3 * 3, 4)
        self.quant_input = FakeQuant(4)  # the calibration would give 5
        self.quant_conv_weight = WeightFakeQuant([6, 7, 5])
        self.quant_hidden = FakeQuant(4, 0, 255)
        self.quant_fc_weight = WeightFakeQuant([7] * 4)
        self.quant_output = FakeQuant(4)

    def forward(self, x):
        x = self.quant_input(x)
        x = nn.functional.conv2d(x, self.quant_conv_weight(self.conv.weight), self.conv.bias, stride=2, padding=1)
        x = self.quant_hidden(torch.relu(x))
        x = nn.functional.linear(torch.flatten(x, 1), self.quant_fc_weight(self.fc.weight), self.fc.bias)
        return self.quant_output(x)


def train_qat_cnn(steps: int = 40) -> tuple[nn.Module, torch.Tensor]:
    """A few Adam steps through the fake quantizers (straight-through gradients)."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = QatCNN()
    inputs = torch.randn(512, 1, 6, 6, generator=generator)
    labels = (inputs[:, 0, :3].sum(dim=(1, 2)) > 0).long() + 2 * (inputs[:, 0, :, :3].sum(dim=(1, 2)) > 0).long()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        batch = slice((step * 64) % 512, (step * 64) % 512 + 64)
        loss = nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), inputs


@pytest.fixture(scope="module")
def qat_cnn():
    model, inputs = train_qat_cnn()
    return model, inputs, hardcore.compile(model, torch.zeros(1, 1, 6, 6))


def test_qat_weights_are_the_models_codes(qat_cnn):
    model, _, circuit = qat_cnn
    conv, fc = _dense_weights(circuit.stages["quantized"])
    codes = torch.round(model.conv.weight.detach() / model.quant_conv_weight.scale[:, None, None, None])
    codes = codes.clamp(-128, 127).to(torch.int64).numpy()
    # Every nonzero of the unrolled convolution is one of its channel's kernel codes.
    for channel in range(3):
        rows = conv[channel * 9:(channel + 1) * 9]
        assert set(rows[rows != 0].tolist()) <= set(codes[channel].reshape(-1).tolist())
        assert set(codes[channel].reshape(-1).tolist()) - {0} <= set(rows[rows != 0].tolist())
    fc_codes = torch.clamp(torch.round(model.fc.weight.detach() * 2 ** 7), -128, 127).to(torch.int64).numpy()
    assert np.array_equal(fc, fc_codes)
    assert circuit.in_frac_bits == 4 and circuit.out_frac_bits == 4 and circuit.out_width == 8
    assert "shift = dense<" in circuit.stages["quantized"]  # the conv's channels: 6, 7 and 5 frac bits


def test_qat_circuit_computes_the_fake_quantized_model(qat_cnn):
    model, inputs, circuit = qat_cnn
    x = inputs.numpy()
    with torch.no_grad():
        expected = model(inputs).numpy()
    y = circuit.dequantize_output(circuit.reference(circuit.quantize_input(x)))
    steps = np.abs(y - expected) * 2 ** circuit.out_frac_bits
    # The model's outputs are codes at 2^-4 too; they differ where float rounding of the
    # accumulator (and torch's unrounded bias) or a tie (torch rounds half to even, the
    # circuit half up) moves a code: measured 1 step at most, in 35 outputs of 2048 (1.7%).
    assert np.all(steps == np.round(steps))
    assert steps.max() <= 1 and np.mean(steps > 0) < 0.03, (steps.max(), np.mean(steps > 0))
    print(f"\nQAT CNN: {np.mean(steps > 0):.4%} of {steps.size} outputs differ, by at most {steps.max():.0f} step")


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("max_adder_depth", [None, 3])
def test_qat_cnn_bit_exact_in_verilator(qat_cnn, max_adder_depth, tmp_path, rng):
    model, inputs, circuit = qat_cnn
    if max_adder_depth is not None:
        circuit = hardcore.compile(model, torch.zeros(1, 1, 6, 6), max_adder_depth=max_adder_depth)
        assert circuit.latency > 1
    low, high = circuit.in_range
    vectors = np.concatenate([circuit.quantize_input(inputs[:150].numpy()),
                              rng.integers(low, high + 1, (150, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    result = simulate(circuit.verilog, circuit.name, vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, latency=circuit.latency or None,
                      workdir=tmp_path)
    mismatches = int(np.any(result.outputs != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"


def _ao_model(qconfig):
    import torch.ao.quantization as tq

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
            self.fc, self.relu, self.fc2 = nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)

        def forward(self, x):
            return self.dequant(self.fc2(self.relu(self.fc(self.quant(x)))))

    torch.manual_seed(0)
    model = Net()
    model.qconfig = qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = tq.prepare_qat(model.train())
    model(torch.randn(64, 4))
    return model.eval()


def _power_of_two(observer):
    """A torch.ao observer whose scales are rounded to powers of two, zero point 0."""

    class PowerOfTwo(observer):
        def calculate_qparams(self):
            scale, zero_point = super().calculate_qparams()
            return torch.exp2(torch.round(torch.log2(scale))), torch.zeros_like(zero_point)

    return PowerOfTwo


def test_torch_ao_fake_quantizers_with_power_of_two_scales():
    import torch.ao.quantization as tq

    activation = tq.FakeQuantize.with_args(observer=_power_of_two(tq.MovingAverageMinMaxObserver), quant_min=-128,
                                           quant_max=127, dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    weight = tq.FakeQuantize.with_args(observer=_power_of_two(tq.MovingAveragePerChannelMinMaxObserver),
                                       quant_min=-128, quant_max=127, dtype=torch.qint8,
                                       qscheme=torch.per_channel_symmetric)
    model = _ao_model(tq.QConfig(activation=activation, weight=weight))
    model.apply(tq.disable_observer)  # the end of QAT: the scales stay
    circuit = hardcore.compile(model, torch.zeros(1, 4))
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    y = circuit.dequantize_output(circuit.reference(circuit.quantize_input(x.numpy())))
    steps = np.abs(y - expected) * 2 ** circuit.out_frac_bits
    assert 2.0 ** -circuit.in_frac_bits == float(model.quant.activation_post_process.scale)
    assert 2.0 ** -circuit.out_frac_bits == float(model.fc2.activation_post_process.scale)
    assert steps.max() <= 1 and np.mean(steps > 0) < 0.02, (steps.max(), np.mean(steps > 0))
    assert isinstance(model.quant.activation_post_process, tq.FakeQuantize)  # the model is left as it was


def test_torch_default_qat_qconfig_is_an_error():
    import torch.ao.quantization as tq

    model = _ao_model(tq.get_default_qat_qconfig("fbgemm"))
    scale = float(model.quant.activation_post_process.scale[0])
    with pytest.raises(CompileError, match=rf"^.+: error: hardcore-import: fake_quantize_per_tensor_affine with "
                                           rf"scale {re.escape(f'{scale:.9g}')}: hardcore supports only "
                                           rf"power-of-two scales \(2\^-k\) with zero point 0\n"):
        hardcore.compile(model, torch.zeros(1, 4))


def test_qat_zero_point_is_an_error():
    model = nn.Sequential(nn.Linear(3, 2))
    model.forward = lambda x: torch.fake_quantize_per_tensor_affine(model[0](x), 0.25, 3, 0, 255)
    with pytest.raises(CompileError, match=r"^.+: error: hardcore-import: fake_quantize_per_tensor_affine with "
                                           r"zero point 3: hardcore supports only power-of-two scales \(2\^-k\) "
                                           r"with zero point 0\n"):
        hardcore.compile(model, torch.zeros(1, 3))


def test_config_cannot_change_qat_weights(qat_cnn):
    model, _, _ = qat_cnn
    with pytest.raises(CompileError, match=r"^.+: error: hardcore-quantize: the quantization config sets "
                                           r"weight_bits of layer 0, whose weights the model fake-quantizes "
                                           r"\(QAT sets them\)\n"):
        hardcore.compile(model, torch.zeros(1, 1, 6, 6), quant_config={"layers": {"0": {"weight_bits": 4}}})


def test_config_average_pool_takes_act_bits_only():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 2)).eval()
    circuit = hardcore.compile(model, torch.zeros(1, 1, 6, 6), quant_config={"layers": {"1": {"act_bits": 5}}})
    assert re.search(r'"hardcore.requant"\(%\w+\) \{max = 15 : i64, min = -16 : i64, shift = -?\d+ : i64\} : '
                     r'\(tensor<8xi32>\) -> tensor<8xi5>', circuit.stages["quantized"]), circuit.stages["quantized"]
    with pytest.raises(CompileError, match=r"^.+: error: hardcore-quantize: the quantization config sets "
                                           r"weight_scale of layer 1, an average pool, which has no weights\n"):
        hardcore.compile(model, torch.zeros(1, 1, 6, 6), quant_config={"layers": {"1": {"weight_scale": "per-channel"}}})


def test_config_addresses_a_residual_add_by_its_report_index():
    from test_graph import ResidualBlock

    torch.manual_seed(0)
    config = {"layers": {"2": {"act_bits": 5}, "3": {"weight_bits": 4}}}
    circuit = hardcore.compile(ResidualBlock().eval(), torch.zeros(1, 2, 3, 3), quant_config=config)
    assert circuit.layers[2]["kind"] == "residual add 2x3x3" and circuit.layers[3]["kind"] == "linear 18->3"
    quantized = circuit.stages["quantized"]
    # layer 2, the add with its ReLU: unsigned 5 bits; layer 3's weights: 4 bits
    assert re.search(r'"hardcore.add_tensors".*\n.*"hardcore.relu".*\n.*"hardcore.requant".*max = 31 : i64, min = 0',
                     quantized), quantized
    assert np.abs(_dense_weights(quantized)[2]).max() <= 8
    with pytest.raises(CompileError, match=r"^.+: error: hardcore-quantize: the quantization config sets "
                                           r"weight_bits of layer 2, a residual add, which has no weights\n"):
        hardcore.compile(ResidualBlock().eval(), torch.zeros(1, 2, 3, 3),
                         quant_config={"layers": {"2": {"weight_bits": 4}}})
