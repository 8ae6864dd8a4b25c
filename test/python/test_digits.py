"""examples/digits, reduced: a smaller CNN trained briefly, compiled at one bit width, run in Verilator.

The full example (README) trains longer and sweeps weight bits 2..8; these
check that what it reports holds: the RTL's outputs on the held-out digits
are the reference's bit for bit, so their accuracies are equal.
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn (pip install -e '.[examples]') is not installed")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "digits"))

import digits  # noqa: E402
from hardcore.sim import tool_available  # noqa: E402

CHANNELS = (2, 4)
EPOCHS = 15


@pytest.fixture(scope="module")
def trained():
    data = digits.load_digits_split()
    return digits.train_cnn(data, CHANNELS, EPOCHS), data


def test_split_is_stratified_and_disjoint():
    data = digits.load_digits_split()
    assert data.train_images.shape == (1347, 1, 8, 8) and data.test_images.shape == (450, 1, 8, 8)
    assert data.train_images.min() == 0.0 and data.train_images.max() == 1.0
    assert np.array_equal(np.unique(data.test_labels), np.arange(10))
    held_out, total = np.bincount(data.test_labels), np.bincount(data.test_labels) + np.bincount(data.train_labels)
    assert np.abs(held_out - 0.25 * total).max() <= 1  # every class held out in proportion
    train = {image.tobytes() for image in data.train_images}
    assert sum(image.tobytes() in train for image in data.test_images) < 5  # the dataset has a few duplicates


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
def test_rtl_is_the_reference_on_held_out_digits(trained, tmp_path):
    model, data = trained
    measurement = digits.compile_and_measure(model, data, weight_bits=6, act_bits=8, workdir=tmp_path,
                                             say=lambda message: None)
    circuit = measurement.circuit
    assert measurement.float_accuracy > 0.85, "the reduced training no longer learns the digits"
    assert measurement.quantized_accuracy >= measurement.float_accuracy - 0.03
    reference = circuit.reference(circuit.quantize_input(data.test_images))
    assert np.array_equal(measurement.reference_outputs, reference)
    mismatches = np.flatnonzero(np.any(measurement.rtl_outputs != reference, axis=1))
    assert mismatches.size == 0, f"{mismatches.size} of {len(reference)} held-out images differ, first {mismatches[:5]}"
    assert measurement.rtl_mismatches == 0
    assert measurement.rtl_accuracy == measurement.quantized_accuracy
    row = measurement.row()
    assert row["adders"] == sum(row["adders_per_layer"]) + row["constant_adders"] == circuit.report["adders"]
    assert 0 <= row["constant_adders"] <= sum(layer["outputs"] for layer in circuit.report["layers"])
    assert (tmp_path / "digits_cnn.sv").read_text() == circuit.verilog


@pytest.mark.slow
def test_sweep_writes_table_and_plot(tmp_path, capsys):
    """The command line without Verilator: every weight width, its JSON, CSV and PNG."""
    status = digits.main(["--sweep", "--no-sim", "--epochs", "3", "--channels", ",".join(map(str, CHANNELS)),
                          "--out", str(tmp_path)])
    assert status == 0
    rows = json.loads((tmp_path / "sweep.json").read_text())
    assert [row["weight_bits"] for row in rows] == list(range(2, 9))
    assert all(row["act_bits"] == 8 and row["rtl_accuracy"] is None for row in rows)
    assert len({row["float_accuracy"] for row in rows}) == 1  # one trained model, compiled seven times
    with open(tmp_path / "sweep.csv") as stream:
        assert [int(row["adders"]) for row in csv.DictReader(stream)] == [row["adders"] for row in rows]
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["weight_bits"] == 8 and results["sweep"] == rows
    assert "weight bits  act bits" in capsys.readouterr().out
