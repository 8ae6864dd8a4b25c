"""The Python API: compile, Circuit, the reference model and each pass checked against it."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hardcore
from hardcore.interpreter import InterpreterError, find_function, run_function
from hardcore.mlir import new_context, parse_module

from conftest import extreme_inputs


def run_stage(circuit, stage, inputs, **kwargs):
    module = parse_module(circuit.stages[stage], new_context())
    return run_function(find_function(module.operation), inputs, **kwargs)


def test_ports_and_report(mlp_circuit):
    report = mlp_circuit.report
    assert mlp_circuit.name == "mlp"
    assert (mlp_circuit.n_in, mlp_circuit.in_width) == (16, 8)
    assert (mlp_circuit.n_out, mlp_circuit.out_width) == (5, 8)
    assert re.search(r"input\s+\[127:0\] x,\s+output \[39:0\]\s+y", mlp_circuit.verilog)
    assert [layer["outputs"] for layer in report["layers"]] == [64, 32, 5]
    assert [layer["weights"] for layer in report["layers"]] == [1024, 2048, 160]
    # the total also counts each output's bias (+ rounding) adder
    assert sum(layer["adders"] for layer in report["layers"]) <= report["adders"] \
        <= sum(layer["adders"] + layer["outputs"] for layer in report["layers"])
    assert report["adder_depth"] >= max(layer["adder_depth"] for layer in report["layers"])
    assert "*" not in re.sub(r"//.*|/\*.*?\*/", "", mlp_circuit.verilog)  # no multipliers


def test_each_pass_preserves_the_reference(mlp_circuit, rng):
    """The quantized layer IR and the folded DAG agree bit for bit, on random and extreme inputs."""
    low, high = mlp_circuit.in_range
    inputs = np.concatenate([rng.integers(low, high + 1, (2000, 16)), extreme_inputs(16, low, high)])
    reference = mlp_circuit.reference(inputs)
    dag = run_stage(mlp_circuit, "dag", inputs)
    assert dag.dtype == np.int64 and np.array_equal(dag, reference)


def test_import_matches_float_model(trained_mlp, mlp_circuit):
    model, (inputs, _) = trained_mlp
    expected = model(inputs[:256]).detach().numpy()
    imported = run_stage(mlp_circuit, "hardcore", inputs[:256].numpy())
    assert np.abs(imported - expected).max() < 1e-5


def test_quantized_tracks_float(trained_mlp, mlp_circuit):
    model, (inputs, labels) = trained_mlp
    test_inputs = inputs[-1024:]
    expected = model(test_inputs).detach().numpy()
    predicted = mlp_circuit.predict(test_inputs.numpy())
    scale = np.abs(expected).max()
    max_error = np.abs(predicted - expected).max()
    print(f"max |dequantized - float| = {max_error:.4f} (outputs up to {scale:.2f})")
    assert max_error < 0.05 * scale
    agreement = (predicted.argmax(1) == expected.argmax(1)).mean()
    assert agreement > 0.97


def test_quantize_and_dequantize(mlp_circuit):
    frac = mlp_circuit.in_frac_bits
    x = np.array([[0.0, 1.0, -1.0, 2.0 ** -frac, 1000.0, -1000.0] + [0.0] * 10])
    q = mlp_circuit.quantize_input(x)
    assert q.tolist()[0][:6] == [0, 2 ** frac, -2 ** frac, 1, 127, -128]
    assert mlp_circuit.dequantize_output(np.array([2 ** mlp_circuit.out_frac_bits])) == 1.0


def test_write_and_load(tmp_path, mlp_circuit):
    files = mlp_circuit.write(tmp_path / "out")
    names = sorted(path.name for path in files)
    assert "mlp.sv" in names and "mlp.json" in names and "mlp.dag.mlir" in names
    report = json.loads((tmp_path / "out" / "mlp.json").read_text())
    assert report["ports"]["x"]["bits"] == 128 and report["ports"]["y"]["element_width"] == 8
    loaded = hardcore.Circuit.load(tmp_path / "out")
    inputs = np.arange(-8, 8)[None, :] * 8
    assert np.array_equal(loaded.reference(inputs), mlp_circuit.reference(inputs))
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporaries


def test_deterministic_verilog(trained_mlp, mlp_circuit):
    model, (inputs, _) = trained_mlp
    again = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy())
    assert again.verilog == mlp_circuit.verilog
    assert json.dumps(again.report, sort_keys=True) == json.dumps(mlp_circuit.report, sort_keys=True)


def test_hw_stage_is_the_ir_the_verilog_is_exported_from(mlp_circuit):
    from hardcore import backend

    module = backend.to_circt(mlp_circuit.stages["hw"])
    assert backend.export_verilog(module) == mlp_circuit.verilog


def test_narrow_bits_still_exact(trained_mlp, rng):
    model, (inputs, _) = trained_mlp
    circuit = hardcore.compile(model, torch.zeros(1, 16), weight_bits=4, act_bits=5,
                               calibration=inputs[:512].numpy())
    assert circuit.in_width == 5 and circuit.out_width == 5
    low, high = circuit.in_range
    x = np.concatenate([rng.integers(low, high + 1, (500, 16)), extreme_inputs(16, low, high)])
    assert np.array_equal(run_stage(circuit, "dag", x), circuit.reference(x))


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cos(torch.sin(self.fc(x)))


def test_unsupported_ops_are_listed_with_locations():
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(Unsupported(), torch.zeros(1, 4))
    message = str(info.value)
    assert "unsupported op 'torch.aten.sin'" in message
    assert "unsupported op 'torch.aten.cos'" in message
    assert re.search(r"test_api\.py:\d+:\d+: error: hardcore-import: unsupported op 'torch.aten.sin'", message)
    assert "reproduces this are in" in message


def test_a_reproducer_lands_in_the_system_temp_directory(system_temp):
    """The error names the reproducer's folder, made in `tempfile.gettempdir()`: conftest's `system_temp`."""
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(Unsupported(), torch.zeros(1, 4))
    folder = Path(re.search(r"reproduces this are in (\S+)\)$", str(info.value)).group(1))
    assert folder.parent == system_temp and folder.name.startswith("hardcore-failure-")
    assert sorted(p.name for p in folder.iterdir()) == ["error.txt", "input.mlir", "reproduce.sh"]
    assert "unsupported op 'torch.aten.sin'" in (folder / "error.txt").read_text()


def test_bad_options():
    with pytest.raises(hardcore.UsageError, match=r"^hardcore-quantize: weight-bits must be between 2 and 16, got 1$"):
        hardcore.compile(Unsupported(), torch.zeros(1, 4), weight_bits=1)
    with pytest.raises(hardcore.UsageError, match=r"^hardcore-fold-weights: unknown algorithm 'best' \(one of: csd, cse\)$"):
        hardcore.compile(Unsupported(), torch.zeros(1, 4), algorithm="best")
    with pytest.raises(hardcore.UsageError, match=r"^module name '1st' is not a Verilog identifier$"):
        hardcore.compile(Unsupported(), torch.zeros(1, 4), name="1st")


def test_reference_rejects_out_of_range(mlp_circuit):
    with pytest.raises(hardcore.UsageError, match=r"^reference: inputs must lie in \[-128, 127\]$"):
        mlp_circuit.reference(np.full((1, 16), 128))


NARROWED_DAG = """
func.func @narrowed(%x: tensor<2xi8>) -> tensor<1xi8> {
  %a = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %b = "hardcore.extract"(%x) {index = 1 : i64} : (tensor<2xi8>) -> i8
  %s = "hardcore.add"(%a, %b) : (i8, i8) -> i%WIDTH%
  %c = "hardcore.clamp"(%s) {min = -128 : i64, max = 127 : i64} : (i%WIDTH%) -> i8
  %y = "hardcore.pack"(%c) : (i8) -> tensor<1xi8>
  return %y : tensor<1xi8>
}
"""


@pytest.mark.parametrize("width", [8, 9])
def test_interpreter_catches_a_narrowed_width(width):
    """x0 + x1 needs 9 bits: at 8, the extreme inputs overflow and the interpreter says so."""
    module = parse_module(NARROWED_DAG.replace("%WIDTH%", str(width)), new_context())
    inputs = extreme_inputs(2, -128, 127)
    if width == 9:
        result = run_function(find_function(module.operation), inputs)
        assert result[:, 0].tolist() == [-128, 127, -1, -1, 0]
    else:
        with pytest.raises(InterpreterError, match=r"'hardcore.add' produced -256, outside its type i8 \(overflow\)$"):
            run_function(find_function(module.operation), inputs)
