"""Per-stage time and peak memory (hardcore.scale.timing): `compile(timing=...)`, `--timing` on both commands.

Which stages get a row, and that bad values are usage errors; never how long they take."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hardcore
from hardcore.errors import UsageError
from hardcore.scale import timing

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

COMPILE_STAGES = ["import (torch-mlir)", "print IR", "hardcore-import", "hardcore-quantize", "hardcore-fold-weights",
                  "hardcore-pipeline", "figures", "hardcore-to-hw", "parse hw IR in CIRCT", "export-verilog",
                  "write"]


def run(*args, stdin=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, input=stdin)


def _table_stages(text: str) -> list[str]:
    """The stage names of a timing table, in order (without Total)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("----------"))
    names = [line.split(None, 3)[3] for line in lines[start + 1:]]
    assert names[-1] == "Total"
    return names[:-1]


def test_compile_rows_cover_every_stage(trained_mlp, tmp_path):
    torch.set_num_threads(1)
    model, _ = trained_mlp
    rows = []
    circuit = hardcore.compile(model, torch.zeros(1, 16), max_adder_depth=4, timing=rows)
    with timing.recording(rows):
        circuit.write(tmp_path)
    stages = list(dict.fromkeys(row.stage for row in rows))
    assert stages == COMPILE_STAGES
    assert all(isinstance(row, timing.StageTime) and row.seconds >= 0 and row.peak_mb > 0 for row in rows)
    assert _table_stages(timing.table(rows)) == COMPILE_STAGES


def test_no_rows_outside_a_recording():
    with timing.stage("outside"):
        assert not timing.active()
    rows = []
    with timing.recording(rows):
        with timing.stage("outer"):
            with timing.stage("inner"):  # part of the outer stage
                pass
    assert [row.stage for row in rows] == ["outer"]


def test_table_sums_a_repeated_stage():
    rows = [timing.StageTime("print IR", 1.0, 100.0), timing.StageTime("pass", 2.0, 300.0),
            timing.StageTime("print IR", 1.0, 200.0)]
    text = timing.table(rows)
    assert "Total Execution Time: 4.000 seconds; peak memory 300 MB (this process; solver pool workers not " \
           "included)" in text
    assert "      2.0000    50.0%        200  print IR" in text.splitlines()
    assert _table_stages(text) == ["print IR", "pass"]


def test_compile_rejects_a_bad_timing(trained_mlp):
    model, _ = trained_mlp
    with pytest.raises(UsageError, match=r"^compile: timing must be a list that receives the stages' rows, "
                                         r"got 'yes'$"):
        hardcore.compile(model, torch.zeros(1, 16), timing="yes")


def test_compile_command_prints_the_table(tmp_path):
    result = run(BIN / "hardcore", "compile", ROOT / "examples" / "mlp.py:MLP", "--input-shape", "1,16",
                 "-o", tmp_path / "out", "-q", "--timing")
    assert result.returncode == 0, result.stderr
    assert "... hardcore compile timing ..." in result.stderr
    assert _table_stages(result.stderr) == [stage for stage in COMPILE_STAGES if stage != "hardcore-pipeline"]


def test_opt_prints_the_table(tmp_path):
    dag = tmp_path / "dag.mlir"
    result = run(BIN / "hardcore", "compile", ROOT / "examples" / "mlp.py:MLP", "--input-shape", "1,16",
                 "-o", tmp_path / "out", "-q")
    assert result.returncode == 0, result.stderr
    dag.write_text((tmp_path / "out" / "mlp.quantized.mlir").read_text())
    result = run(BIN / "hardcore-opt", dag, "--timing", "--emit=verilog", "-o", tmp_path / "mlp.sv",
                 "--pass-pipeline=builtin.module(hardcore-fold-weights,canonicalize,hardcore-to-hw,hw.module(cse))")
    assert result.returncode == 0, result.stderr
    assert "... hardcore-opt timing ..." in result.stderr
    assert _table_stages(result.stderr) == ["parse", "hardcore-fold-weights", "canonicalize", "hardcore-to-hw",
                                            "parse hw IR in CIRCT", "hw.module(cse)", "export-verilog", "write"]


def test_timing_takes_no_value():
    for command in (["hardcore-opt", "--timing=yes"], ["hardcore", "compile", "m.py:M", "-o", "out", "--timing=1"]):
        result = run(BIN / command[0], *command[1:], stdin="module {}")
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1].endswith("error: argument --timing: ignored explicit argument "
                                                       f"'{command[-1].split('=')[1]}'")
