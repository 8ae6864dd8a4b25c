"""Determinism: compiles in separate processes with different PYTHONHASHSEED give identical files.

String hashing is randomized per process unless PYTHONHASHSEED fixes it, so
any output that followed the iteration order of a set or dict of strings, a
hash-based name, a temporary path or a timestamp would differ between the two
runs.  The model covers convolution, average and max pools, an activation
table, pipelining with a clock enable and the argmax output.
"""

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent

MODEL = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(),
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3 * 3 * 3, 6), nn.Sigmoid(), nn.Linear(6, 4))

    def forward(self, x):
        return self.net(x)
'''


def run(seed: int, *args) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONHASHSEED": str(seed)}
    result = subprocess.run([str(BIN / "hardcore"), *map(str, args)], capture_output=True, text=True,
                            env=environment)
    assert result.returncode == 0, result.stderr
    return result


def test_two_processes_with_different_hash_seeds_write_the_same_bytes(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    outputs = {}
    for seed in (0, 12345):
        out = tmp_path / f"out{seed}"
        compiled = run(seed, "compile", f"{tmp_path / 'model.py'}:Net", "--input-shape", "1,1,6,6", "-o", out,
                       "--act-bits", "6", "--max-adder-depth", "2", "--clock-enable", "--output", "argmax", "-q")
        report = run(seed, "report", out, "--json")
        files = {path.name: path.read_bytes() for path in sorted(out.iterdir())}
        outputs[seed] = (compiled.stdout.replace(str(out), "OUT"), report.stdout, files)
    assert sorted(outputs[0][2]) == ["net.dag.mlir", "net.hardcore.mlir", "net.hw.mlir", "net.json",
                                     "net.pipelined.mlir", "net.quantized.mlir", "net.sv", "net.torch.mlir"]
    assert outputs[0][0] == outputs[12345][0]  # the summary line
    assert outputs[0][1] == outputs[12345][1]  # the report: table and JSON
    for name, content in outputs[0][2].items():
        assert content == outputs[12345][2][name], f"{name} differs between the two processes"
