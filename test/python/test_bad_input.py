"""Bad input: one clear message naming the place, exit code 1 (2 for usage errors), no output left behind.

Each row of the table in docs/errors.md is one case here, its message pinned
exactly.  The commands run in this process (`hardcore.cli.main`), which is
what the `hardcore` and `hardcore-opt` scripts call; test_cli.py runs them as
processes.  After each failure the output path must not exist, nor any
hidden staging directory beside it.
"""

import os
import tempfile
from pathlib import Path

import pytest

from hardcore import backend, circuit
from hardcore.cli import main, opt_main
from hardcore.errors import CompileError

MODELS = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, weight=None, bias=None):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            if weight is not None:
                self.fc.weight[1, 2] = weight
            if bias is not None:
                self.fc.bias[0] = bias

    def forward(self, x):
        return self.fc(x)


class NanWeight(Net):
    def __init__(self):
        super().__init__(weight=float("nan"))


class InfBias(Net):
    def __init__(self):
        super().__init__(bias=float("inf"))


class HugeBias(Net):
    def __init__(self):
        super().__init__(bias=1e30)


class HugeWeight(Net):
    def __init__(self):
        super().__init__(weight=1e30)


class TinyWeights(Net):
    def __init__(self):
        super().__init__()
        with torch.no_grad():
            self.fc.weight[:] = 1e-30


class Sine(Net):
    def forward(self, x):
        return torch.sin(self.fc(x))
'''
FORWARD_LINE = MODELS.splitlines().index("        return self.fc(x)") + 1
SINE_LINE = MODELS.splitlines().index("        return torch.sin(self.fc(x))") + 1


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def compile_cli(capsys, *args):
    """(exit code, stderr) of `hardcore compile ... -q`."""
    code = main(["compile", *map(str, args), "-q"])
    return code, capsys.readouterr().err


def assert_no_output(out: Path):
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")] == []


# (model spec relative to the models file, extra options) -> (exit code, message with {models} and {line})
MODEL_CASES = {
    "nan_weight": ("NanWeight", [], 1,
                   "{models}:{forward}:0: error: hardcore-import: linear weight contains NaN or infinity"),
    "inf_bias": ("InfBias", [], 1,
                 "{models}:{forward}:0: error: hardcore-import: linear bias contains NaN or infinity"),
    "bias_too_large": ("HugeBias", [], 1,
                       "{models}:{forward}:0: error: hardcore-quantize: bias too large for a 62-bit accumulator "
                       "at 13 fractional bits"),
    "weight_too_large": ("HugeWeight", [], 1,
                         "{models}:{forward}:0: error: hardcore-quantize: the largest weight magnitude, 1e+30, "
                         "needs -93 fractional bits at weight-bits 8; the supported range is -64 to 64"),
    "weights_too_small": ("TinyWeights", [], 1,
                          "{models}:{forward}:0: error: hardcore-quantize: the largest weight magnitude, 1e-30, "
                          "needs 106 fractional bits at weight-bits 8; the supported range is -64 to 64"),
    "unsupported_op": ("Sine", [], 1, "{models}:{sine}:0: error: hardcore-import: unsupported op 'torch.aten.sin'"),
    "wrong_input_shape": ("Net", ["--input-shape", "1,5"], 1,
                          "hardcore: error: torch-mlir could not import the model for an input of shape [1, 5]: "
                          "RuntimeError: a and b must have same reduction dim, but got [1, 5] X [4, 3]."),
    "batch_not_one": ("Net", ["--input-shape", "2,4"], 2,
                      "hardcore: error: --input-shape: the first (batch) dimension must be 1, got 2"),
    "bad_option_value": ("Net", ["--weight-bits", "40"], 2,
                         "hardcore: error: hardcore-quantize: weight-bits must be between 2 and 16, got 40"),
    "no_such_class": ("Nope", [], 2, "hardcore: error: {models}: no class 'Nope'"),
}


@pytest.mark.parametrize("case", MODEL_CASES)
def test_model_errors(case, models, tmp_path, capsys):
    cls, options, code, message = MODEL_CASES[case]
    out = tmp_path / "out"
    if "--input-shape" not in options:
        options = options + ["--input-shape", "1,4"]
    result = compile_cli(capsys, f"{models}:{cls}", *options, "-o", out)
    assert result == (code, message.format(models=models, forward=FORWARD_LINE, sine=SINE_LINE) + "\n")
    assert_no_output(out)


def test_missing_model_file(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_cli(capsys, tmp_path / "nope.py:Net", "--input-shape", "1,4", "-o", out) == (
        2, f"hardcore: error: {tmp_path / 'nope.py'}: no such model file\n")
    assert_no_output(out)


def test_unreadable_model_file(tmp_path, capsys):
    (tmp_path / "folder.py").mkdir()  # readable by nobody as a file (permissions do not stop root)
    out = tmp_path / "out"
    assert compile_cli(capsys, tmp_path / "folder.py:Net", "--input-shape", "1,4", "-o", out) == (
        2, f"hardcore: error: {tmp_path / 'folder.py'}: cannot read the model file: Is a directory\n")
    assert_no_output(out)


def test_model_file_that_does_not_load(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("import torch\nclass Net(:\n")
    out = tmp_path / "out"
    assert compile_cli(capsys, tmp_path / "broken.py:Net", "--input-shape", "1,4", "-o", out) == (
        1, f"hardcore: error: {tmp_path / 'broken.py'}: error while loading: "
           f"SyntaxError: invalid syntax (broken.py, line 2)\n")
    assert_no_output(out)


def test_corrupt_exported_program(tmp_path, capsys):
    (tmp_path / "model.pt2").write_bytes(b"not a zip archive")
    out = tmp_path / "out"
    assert compile_cli(capsys, tmp_path / "model.pt2", "--input-shape", "1,4", "-o", out) == (
        1, f"hardcore: error: {tmp_path / 'model.pt2'}: cannot load the exported program: "
           f"BadZipFile: File is not a zip file\n")
    assert_no_output(out)


def test_output_directory_under_a_file(models, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out"
    assert compile_cli(capsys, f"{models}:Net", "--input-shape", "1,4", "-o", out) == (
        1, f"hardcore: error: {out}: cannot create the output directory: Not a directory\n")
    assert (tmp_path / "file").read_text() == ""


def test_output_directory_is_a_file(models, tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("mine")
    assert compile_cli(capsys, f"{models}:Net", "--input-shape", "1,4", "-o", out) == (
        1, f"hardcore: error: {out}: cannot create the output directory: it is a file\n")
    assert out.read_text() == "mine"


def test_failure_in_the_last_stage_leaves_nothing(models, tmp_path, capsys, monkeypatch):
    """Verilog export, the last step of the compile, fails: no directory, no staging directory."""
    def failing_export(module, registers=True):
        raise CompileError("CIRCT's Verilog export produced no module (unlowered ops left?)")
    monkeypatch.setattr(backend, "export_verilog", failing_export)
    out = tmp_path / "out"
    assert compile_cli(capsys, f"{models}:Net", "--input-shape", "1,4", "-o", out) == (
        1, "hardcore: error: CIRCT's Verilog export produced no module (unlowered ops left?)\n")
    assert_no_output(out)


@pytest.mark.parametrize("existing", [False, True], ids=["new_directory", "existing_directory"])
def test_failure_while_writing_the_last_file_leaves_nothing(existing, models, tmp_path, capsys, monkeypatch):
    """The disk fills up at the last output file: no file of this compile is left, half-written or whole."""
    write = circuit._write_text

    def fail_on_the_last(path, text):
        if path.name.startswith(".net.hw.mlir.") or path.name == "net.hw.mlir":  # the last file written
            Path(path).write_text(text[: len(text) // 2])  # half of it reaches the disk
            raise OSError(28, os.strerror(28))
        write(path, text)
    monkeypatch.setattr(circuit, "_write_text", fail_on_the_last)
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "keep.txt").write_text("kept")
    assert compile_cli(capsys, f"{models}:Net", "--input-shape", "1,4", "-o", out) == (
        1, f"hardcore: error: {out}: cannot write the output: No space left on device\n")
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    else:
        assert_no_output(out)


def test_pass_failure_reproducer_goes_to_the_temp_directory(models, tmp_path, capsys, monkeypatch):
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    code, _ = compile_cli(capsys, f"{models}:Sine", "--input-shape", "1,4", "-o", out)
    assert code == 1
    [folder] = system_temp.iterdir()
    assert folder.name.startswith("hardcore-failure-")
    assert sorted(p.name for p in folder.iterdir()) == ["error.txt", "input.mlir", "reproduce.sh"]
    assert list(out.parent.iterdir()) == []


def opt(capsys, *args):
    code = opt_main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_malformed_mlir(tmp_path, capsys):
    (tmp_path / "bad.mlir").write_text('func.func @f() {\n  %0 = "hardcore.relu"(\n}\n')
    assert opt(capsys, tmp_path / "bad.mlir", "-o", tmp_path / "out.mlir") == (
        1, f"{tmp_path / 'bad.mlir'}:2:24: error: expected ')' to end operand list\n")
    assert not (tmp_path / "out.mlir").exists()


def test_unknown_pass(tmp_path, capsys):
    (tmp_path / "in.mlir").write_text("module {}\n")
    assert opt(capsys, tmp_path / "in.mlir", "--pass-pipeline=builtin.module(hardcore-bogus)",
               "-o", tmp_path / "out.mlir") == (
        2, "hardcore-opt: error: --pass-pipeline: 'hardcore-bogus' does not refer to a registered pass "
           "or pass pipeline\n")
    assert not (tmp_path / "out.mlir").exists()


def test_unknown_pass_option(tmp_path, capsys):
    (tmp_path / "in.mlir").write_text("module {}\n")
    assert opt(capsys, tmp_path / "in.mlir", "--pass-pipeline=builtin.module(hardcore-quantize{bits=4})",
               "-o", tmp_path / "out.mlir") == (
        2, "hardcore-opt: error: hardcore-quantize: unknown option 'bits' (options: weight-bits, act-bits, "
           "calibration, weight-scale, config, act-percentile, table-codes)\n")
    assert not (tmp_path / "out.mlir").exists()


def test_bad_pass_option_value(tmp_path, capsys):
    (tmp_path / "in.mlir").write_text("module {}\n")
    assert opt(capsys, tmp_path / "in.mlir", "--pass-pipeline=builtin.module(hardcore-quantize{act-bits=x})",
               "-o", tmp_path / "out.mlir") == (
        2, "hardcore-opt: error: hardcore-quantize: option 'act-bits' expects int, got 'x'\n")
    assert not (tmp_path / "out.mlir").exists()


def test_calibration_errors(models, tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "wrong.npy", np.zeros((10, 5)))
    with_nan = np.zeros((10, 4))
    with_nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    out = tmp_path / "out"
    cases = {
        "missing.npy": "cannot read calibration data: No such file or directory",
        "wrong.npy": "calibration data of shape [10, 5] does not hold samples of shape [4] (--input-shape)",
        "nan.npy": "calibration data contains NaN or infinity",
    }
    for name, message in cases.items():
        assert compile_cli(capsys, f"{models}:Net", "--input-shape", "1,4", "-o", out,
                           "--calibration", tmp_path / name) == (2, f"hardcore: error: {tmp_path / name}: {message}\n")
        assert_no_output(out)


def test_state_dict_that_does_not_fit(models, tmp_path, capsys):
    import torch

    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "weights.pt")
    out = tmp_path / "out"
    assert compile_cli(capsys, f"{models}:Net", "--input-shape", "1,4", "-o", out,
                       "--state-dict", tmp_path / "weights.pt") == (
        1, f"hardcore: error: {tmp_path / 'weights.pt'}: cannot load the state dict: RuntimeError: Error(s) in "
           f"loading state_dict for Net: Missing key(s) in state_dict: \"fc.bias\". size mismatch for fc.weight: "
           f"copying a param with shape torch.Size([2, 2]) from checkpoint, the shape in current model is "
           f"torch.Size([3, 4]).\n")
    assert_no_output(out)
