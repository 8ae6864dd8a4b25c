"""examples/edge: the QAT digits MLP for the UP5K trains, compiles to the classifier the board gets, and the
circuit classifies as the trained torch model does (the FPGA flow itself: test_fpga.py)."""

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "edge"))

import edge  # noqa: E402

torch.set_num_threads(1)


def test_edge_example_trains_and_compiles(tmp_path, capsys):
    assert edge.main(["--no-fpga", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["weights"] == 64 * 16 + 16 * 10 and results["builds"] == []
    assert results["torch_accuracy"] >= 0.93 and results["circuit_accuracy"] >= 0.93
    # QAT at power-of-two scales: the circuit's classes are torch's but for rounding ties
    assert abs(results["circuit_accuracy"] - results["torch_accuracy"]) <= 0.01
    from hardcore.compiler import Circuit

    circuit = Circuit.load(tmp_path / "circuit")
    assert circuit.n_in == 64 and circuit.n_out == 1 and circuit.out_width == 4 and circuit.in_range == (0, 15)
    data = edge.load_digits_split()
    model = edge.train_edge_mlp(data)
    images = data.test_images.reshape(len(data.test_images), -1)
    with torch.no_grad():
        torch_classes = model(torch.from_numpy(images)).argmax(1).numpy()
    circuit_classes = circuit.reference(circuit.quantize_input(images)).reshape(-1)
    assert np.mean(torch_classes == circuit_classes) >= 0.99
    assert f"held-out accuracy {100 * results['torch_accuracy']:.1f}% (torch)" in capsys.readouterr().out
