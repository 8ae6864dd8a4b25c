"""A TransformerEncoderLayer compiled end to end: float agreement and bit-exact Verilator runs."""

import numpy as np
import pytest
import torch

import hardcore
from conftest import simulated
from hardcore.sim import tool_available

torch.set_num_threads(1)


class EncoderClassifier(torch.nn.Module):
    """The issue's model: a TransformerEncoderLayer, a mean over the sequence and a Linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = torch.nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True,
                                                        dropout=0.0)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


@pytest.fixture(scope="module")
def model_and_data():
    model = EncoderClassifier().eval()
    rng = np.random.default_rng(7)
    calibration = rng.standard_normal((256, 8, 16))
    tests = rng.standard_normal((1000, 8, 16))
    return model, calibration, tests


def _compile(model, calibration, **options):
    return hardcore.compile(model, torch.zeros(1, 8, 16), weight_bits=8, act_bits=8, calibration=calibration,
                            **options)


def test_encoder_layer_agrees_with_float(model_and_data):
    model, calibration, tests = model_and_data
    circuit = _compile(model, calibration)
    with torch.no_grad():
        expected = model(torch.tensor(tests, dtype=torch.float32)).numpy()
    predicted = circuit.predict(tests.reshape(len(tests), -1))
    agreement = float(np.mean(predicted.argmax(axis=1) == expected.argmax(axis=1)))
    print(f"argmax agreement {agreement:.3f}, largest error {np.abs(predicted - expected).max():.4f}")
    assert agreement >= 0.90


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.skipif(not tool_available("verilator"), reason="needs Verilator")
@pytest.mark.parametrize("depth", [None, 4])
def test_encoder_layer_is_bit_exact(model_and_data, depth, tmp_path):
    model, calibration, tests = model_and_data
    circuit = _compile(model, calibration, max_adder_depth=depth)
    vectors = circuit.quantize_input(tests[:200].reshape(200, -1))
    assert np.array_equal(simulated(circuit, vectors, tmp_path), circuit.reference(vectors))
