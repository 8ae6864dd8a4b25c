"""The SystemVerilog hardcore writes is clean: no warning from `verilator --lint-only -Wall`, none from Yosys.

(The pipelined README MLP has a register that a ReLU reads only the sign and low
bits of: hardcore-to-hw keeps just those, else Verilator reports 2 unused bits.)

A spread of circuits: the README MLP (combinational, pipelined, pipelined
with a clock enable), a CNN with a max pool and an argmax output, a CNN with an
average pool (and per-channel weight scales), activation tables, and a
residual block with a concat.  Each is written as `<name>.sv` (as
`Circuit.write` names it) and linted as it stands.  The only lint exceptions
are the two `lint_off` comments `hardcore.backend` places around single
declarations (docs/errors.md says why), and the test checks that nothing else
is switched off.
"""

import re
import subprocess

import pytest
import torch
from torch import nn

import hardcore
from hardcore.sim import tool_available

pytestmark = pytest.mark.skipif(not (tool_available("verilator") and tool_available("yosys")),
                                reason="verilator and yosys are needed")


def cnn_maxpool():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 3 * 3, 4)).eval()


def cnn_avgpool():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.ReLU(), nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 3)).eval()


def tables():
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 3), nn.Tanh()).eval()


def residual():
    """A residual block (a skip path the pipeline delays) with a concat of two branches."""
    torch.manual_seed(3)

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
            self.side = nn.Conv2d(2, 1, 1)
            self.fc = nn.Linear(3 * 3 * 3, 3)

        def forward(self, x):
            y = torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)
            return self.fc(torch.flatten(torch.cat([y, self.side(x)], dim=1), 1))

    return Residual().eval()


# name -> (model factory, input shape, compile options)
CIRCUITS = {
    "residual_concat": (residual, (1, 2, 3, 3), {}),
    "residual_concat_pipelined": (residual, (1, 2, 3, 3), {"max_adder_depth": 2}),
    "per_channel_pipelined": (cnn_avgpool, (1, 2, 4, 4), {"weight_scale": "per-channel", "max_adder_depth": 3}),
    "cnn_maxpool_argmax": (cnn_maxpool, (1, 1, 6, 6), {"output": "argmax"}),
    "cnn_maxpool_pipelined": (cnn_maxpool, (1, 1, 6, 6), {"max_adder_depth": 2, "clock_enable": True}),
    "cnn_avgpool": (cnn_avgpool, (1, 2, 4, 4), {}),
    "tables": (tables, (1, 4), {"act_bits": 6}),
    "tables_pipelined": (tables, (1, 4), {"act_bits": 6, "max_adder_depth": 3}),
}


def lint(verilog: str, top: str, directory) -> tuple[str, str]:
    """(Verilator's warnings, Yosys' warnings) for `verilog` written as `<top>.sv`."""
    path = directory / f"{top}.sv"
    path.write_text(verilog)
    verilator = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, path.name],
                               cwd=directory, capture_output=True, text=True)
    yosys = subprocess.run(["yosys", "-q", "-p", f"read_verilog -sv {path.name}; hierarchy -check -top {top}; proc"],
                           cwd=directory, capture_output=True, text=True)
    assert yosys.returncode == 0, yosys.stderr
    return verilator.stdout + verilator.stderr, yosys.stdout + yosys.stderr


def assert_clean(circuit, directory):
    verilator, yosys = lint(circuit.verilog, circuit.name, directory)
    assert verilator == ""
    assert yosys == ""
    # the only switched-off checks are the documented ones, each switched back on
    switched_off = re.findall(r"verilator lint_off (\w+)", circuit.verilog)
    assert set(switched_off) <= {"UNUSEDSIGNAL", "DECLFILENAME"}
    assert len(re.findall(r"verilator lint_on (\w+)", circuit.verilog)) == len(switched_off)


@pytest.mark.parametrize("options", [{}, {"max_adder_depth": 3}, {"max_adder_depth": 3, "clock_enable": True}],
                         ids=["combinational", "pipelined", "clock_enable"])
def test_readme_mlp_is_lint_clean(options, trained_mlp, tmp_path):
    model, (inputs, _) = trained_mlp
    circuit = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(), **options)
    assert_clean(circuit, tmp_path)


@pytest.mark.parametrize("name", CIRCUITS)
def test_small_circuits_are_lint_clean(name, tmp_path):
    factory, shape, options = CIRCUITS[name]
    circuit = hardcore.compile(factory(), torch.zeros(shape), name=name, **options)
    assert_clean(circuit, tmp_path)


def test_lint_reports_what_it_should(tmp_path):
    """The check can fail: the same tools flag an unused input and an implicit wire."""
    verilator, yosys = lint("module bad(input [3:0] a, output [3:0] y);\n  assign y = 4'd0;\n"
                            "  assign q = a[0];\nendmodule\n", "bad", tmp_path)
    assert "%Warning-UNUSEDSIGNAL" in verilator
    assert "Warning: Identifier `\\q' is implicitly declared." in yosys
