"""hardcore fpga: tiny MLPs through synth_ice40, nextpnr-ice40 and icepack; the post-synthesis netlist and the
UART wrapper in Icarus against the reference; the fit check and the command line's errors."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import hardcore
from hardcore.cli import main
from hardcore.errors import UsageError
from hardcore.physical.ice40 import DEVICES, DoesNotFitError, run_ice40, tools_available
from hardcore.physical.netlist_sim import _ICARUS_PREAMBLE, cells_sim_path, check_netlist, random_vectors
from hardcore.physical.pcf import package_pins, pcf_template
from hardcore.physical.serial import pack_vectors, simulate_uart, unpack_vectors, uart_wrapper
from hardcore.sim import SimulationError, tool_available

pytestmark = [pytest.mark.fpga,
              pytest.mark.skipif(not (tools_available() and tool_available("icarus")),
                                 reason="needs yosys, nextpnr-ice40, icepack and iverilog")]

torch.set_num_threads(1)


def _tiny_mlp(max_adder_depth=None, name="tiny"):
    """A 4-3-2 ReLU MLP at 3-bit weights and activations."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    calibration = torch.randn(64, 4).numpy()
    return hardcore.compile(model, torch.zeros(1, 4), weight_bits=3, act_bits=3, calibration=calibration,
                            name=name, max_adder_depth=max_adder_depth)


@pytest.fixture(scope="module")
def tiny():
    return _tiny_mlp()


@pytest.fixture(scope="module")
def tiny_pipelined():
    return _tiny_mlp(max_adder_depth=1, name="tiny_p")


@pytest.fixture(scope="module")
def tiny_flow(tiny, tmp_path_factory):
    return run_ice40(tiny.verilog, tiny.name, workdir=tmp_path_factory.mktemp("tiny-up5k"))


def test_tiny_mlp_to_a_bitstream(tiny_flow):
    bitstream = Path(tiny_flow["files"]["bitstream"])
    assert bitstream.stat().st_size > 0 and Path(tiny_flow["files"]["asc"]).exists()
    assert tiny_flow["luts"] > 0 and tiny_flow["carries"] > 0 and tiny_flow["logic_cells"] >= tiny_flow["luts"]
    assert tiny_flow["ffs"] == 0 and tiny_flow["fits"] and tiny_flow["overflow"] == {}
    assert tiny_flow["io"] == 4 * 3 + 2 * 3  # x and y, nothing else
    assert tiny_flow["capacity"] == {"logic_cells": 5280, "brams": 30, "dsps": 8, "sprams": 4, "io": 39}
    # No clock: nextpnr's longest input-to-output path instead of an Fmax.
    assert tiny_flow["fmax_mhz"] is None and tiny_flow["critical_path_ns"] > 0


def test_post_synthesis_netlist_is_bit_exact(tiny, tiny_flow, tmp_path):
    # Before the signed comparisons were lowered ahead of synth_ice40, Yosys 0.23's cmp2lut made this netlist
    # wrong on every one of these vectors (YosysHQ/yosys#6085).
    result = check_netlist(tiny_flow["files"]["netlist"], tiny, 200, tmp_path)
    assert result == {"vectors": 200, "mismatches": 0, "first_mismatch": None}


@pytest.mark.slow
def test_pipelined_circuit_reports_a_higher_fmax(tiny, tiny_pipelined, tiny_flow, tmp_path):
    figures = run_ice40(tiny_pipelined.verilog, tiny_pipelined.name, workdir=tmp_path / "flow", target_mhz=40)
    assert figures["ffs"] > 0 and figures["fits"]
    assert figures["fmax_mhz"] > 1000.0 / tiny_flow["critical_path_ns"] and figures["icetime_ns"] > 0
    assert figures["target_mhz"] == 40 and figures["meets"] == (figures["fmax_mhz"] >= 40)
    assert figures["slack_ns"] == pytest.approx(1000 / 40 - 1000 / figures["fmax_mhz"], abs=1e-3)
    result = check_netlist(figures["files"]["netlist"], tiny_pipelined, 200, tmp_path / "sim")
    assert result["mismatches"] == 0


def test_too_large_stops_before_place_and_route(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(DEVICES, "hx1k", dataclasses.replace(DEVICES["hx1k"], logic_cells=50))
    with pytest.raises(DoesNotFitError) as caught:
        run_ice40(tiny.verilog, tiny.name, device="hx1k", workdir=tmp_path)
    luts = caught.value.figures["luts"]
    assert str(caught.value) == f"does not fit the hx1k: needs {luts} LUT4s, the hx1k has 50 ({100 * luts / 50:.0f}%)"
    assert caught.value.overflow == {"luts": luts - 50} and not caught.value.figures["fits"]
    assert not (tmp_path / "nextpnr.log").exists() and not (tmp_path / f"{tiny.name}.bin").exists()


def test_too_many_cells_once_packed(tmp_path):
    # 1,100 flip-flops in a shift register and the 369 LUT4s of their parity: each count fits the hx1k's 1,280
    # logic cells, but no LUT feeds a flip-flop, so none share a cell; nextpnr's packing is what overflows.
    verilog = ("module over(input clk, input d, output y);\n  reg [1099:0] s;\n"
               "  always @(posedge clk) s <= {s[1098:0], d};\n  assign y = ^s;\nendmodule\n")
    with pytest.raises(DoesNotFitError) as caught:
        run_ice40(verilog, "over", device="hx1k", workdir=tmp_path)
    assert str(caught.value) == ("does not fit the hx1k: nextpnr packed 1,471 logic cells (a LUT4, a flip-flop and a "
                                 "carry each), the hx1k has 1,280 (115%)")
    assert caught.value.overflow == {"logic_cells": 191} and caught.value.figures["ffs"] == 1100
    assert not (tmp_path / "over.bin").exists()


def test_cli_too_large_leaves_no_output(tiny, tmp_path, monkeypatch, capsys):
    tiny.write(tmp_path / "tiny")
    monkeypatch.setitem(DEVICES, "hx1k", dataclasses.replace(DEVICES["hx1k"], packages={"tq144": 10}))
    before = sorted(os.listdir(tmp_path / "tiny"))
    assert main(["fpga", str(tmp_path / "tiny"), "--device", "hx1k", "--serial", "none", "-q"]) == 1
    assert capsys.readouterr().err == (
        "hardcore: error: does not fit the hx1k: needs 18 I/O pins (port bits), the hx1k-tq144 has 10 (180%); "
        "wrap it in the serial wrapper (hardcore fpga --serial uart, docs/fpga.md)\n")
    assert sorted(os.listdir(tmp_path / "tiny")) == before


def test_cli_writes_bitstream_pcf_and_report(tiny_pipelined, tmp_path, capsys):
    tiny_pipelined.write(tmp_path / "p")
    assert main(["fpga", str(tmp_path / "p"), "--vectors", "50", "--json", "-q"]) == 0
    out = tmp_path / "p" / "fpga-up5k"
    report = json.loads((out / "fpga-report.json").read_text())
    assert report["netlist_check"] == {"simulated": True, "vectors": 50, "mismatches": 0, "first_mismatch": None}
    assert (out / "tiny_p.bin").stat().st_size > 0 and report["files"]["bitstream"] == str(out / "tiny_p.bin")
    pcf = (out / "tiny_p.pcf").read_text()
    assert "set_io clk 2  # input" in pcf and pcf.count("set_io ") == report["io"] == 4 * 3 + 2 * 3 + 4
    assert "Fmax" in (out / "fpga-report.txt").read_text()
    assert [p for p in os.listdir(tmp_path / "p") if p.startswith(".")] == []


@pytest.mark.slow
def test_cli_target_mhz_pipelines_for_the_target(tiny, tmp_path, capsys):
    """--target-mhz re-pipelines the combinational circuit from place-and-route runs; the chosen circuit, its
    bitstream and its netlist (bit-exact) land in the output; --keep-pipeline only checks."""
    from hardcore.compiler import Circuit, repipeline

    tiny.write(tmp_path / "t")
    assert main(["fpga", str(tmp_path / "t"), "--serial", "none", "--target-mhz", "60", "--vectors", "50", "-q"]) == 0
    out = tmp_path / "t" / "fpga-up5k"
    report = json.loads((out / "fpga-report.json").read_text())
    search = report["pipeline_search"]
    depths = [run["max_adder_depth"] for run in search["runs"]]
    assert depths[0] == search["levels"] and len(depths) == len(set(depths)) <= 6
    board = Circuit.load(out / "circuit")
    assert board.options["max_adder_depth"] == search["max_adder_depth"] and board.latency >= 1
    assert board.verilog == repipeline(tiny, search["max_adder_depth"]).verilog
    chosen = [run for run in search["runs"] if run["max_adder_depth"] == search["max_adder_depth"]][0]
    # the final build reproduces the chosen run (same seed); with registers only at the outputs, the
    # search clocks the pin-to-register path
    assert chosen["fmax_mhz"] == report["fmax_mhz"] or (
        report["fmax_mhz"] is None and chosen["fmax_mhz"] == round(1000 / report["critical_path_ns"], 2))
    if search["meets"]:
        assert report["meets"] and chosen["fmax_mhz"] >= 60 and all(run["fmax_mhz"] < 60 for run in search["runs"]
                                       if run["max_adder_depth"] > search["max_adder_depth"])
    else:
        assert search["miss_mhz"] == pytest.approx(60 - chosen["fmax_mhz"], abs=0.01)
    assert report["netlist_check"]["mismatches"] == 0 and report["netlist_check"]["vectors"] == 50
    assert "pipelining     for 60 MHz" in (out / "fpga-report.txt").read_text()

    assert main(["fpga", str(tmp_path / "t"), "--serial", "none", "--target-mhz", "60", "--keep-pipeline",
                 "--vectors", "10", "-q", "-o", str(tmp_path / "kept")]) == 0
    kept = json.loads((tmp_path / "kept" / "fpga-report.json").read_text())
    assert "pipeline_search" not in kept and kept["fmax_mhz"] is None and kept["target_mhz"] == 60
    assert not (tmp_path / "kept" / "circuit").exists()


def test_cli_time_multiplexed_netlist_through_its_handshake(tmp_path, capsys):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    circuit = hardcore.compile(model, torch.zeros(1, 4), weight_bits=3, act_bits=3, reuse=2, name="tm",
                               calibration=torch.randn(32, 4).numpy())
    circuit.write(tmp_path / "tm")
    assert main(["fpga", str(tmp_path / "tm"), "--vectors", "40", "-q"]) == 0
    report = json.loads((tmp_path / "tm" / "fpga-up5k" / "fpga-report.json").read_text())
    assert report["netlist_check"] == {"simulated": True, "through": "its in_valid/in_ready handshake",
                                       "vectors": 40, "mismatches": 0}
    assert report["fmax_mhz"] > 0 and report["ffs"] > 0


@pytest.mark.slow
def test_cli_streamed_netlist_through_its_axi_stream_ports(tmp_path, capsys):
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(2 * 4 * 4, 3))
    circuit = hardcore.compile(cnn, torch.zeros(1, 1, 4, 4), weight_bits=3, act_bits=3, stream=True, name="scnn",
                               calibration=torch.randn(32, 1, 4, 4).numpy())
    circuit.write(tmp_path / "s")
    assert main(["fpga", str(tmp_path / "s"), "--vectors", "10", "-q"]) == 0
    report = json.loads((tmp_path / "s" / "fpga-up5k" / "fpga-report.json").read_text())
    assert report["netlist_check"] == {"simulated": True, "through": "its AXI4-Stream ports", "vectors": 10,
                                       "mismatches": 0}
    assert report["serial"] is None and report["io"] < 39 and report["fmax_mhz"] > 0


@pytest.mark.slow
def test_cli_serial_checks_the_circuit_and_the_wrapper(tiny_pipelined, tmp_path, capsys):
    tiny_pipelined.write(tmp_path / "p")
    assert main(["fpga", str(tmp_path / "p"), "--serial", "uart", "--vectors", "30", "-q"]) == 0
    report = json.loads((tmp_path / "p" / "fpga-up5k" / "fpga-report.json").read_text())
    assert report["top"] == "tiny_p_uart" and report["io"] == 3 and report["target_mhz"] == 12.0
    assert report["serial"] == {"kind": "uart", "clock_hz": 12_000_000, "baud": 115_200, "frame": "8N1",
                                "in_bytes": 2, "out_bytes": 1, "byte_order": "least significant byte first"}
    # The circuit kept whole in the netlist, on its own ports; then the wrapper, bit by bit at 104 clocks a bit.
    assert report["netlist_check"] == {"simulated": True, "vectors": 30, "mismatches": 0, "first_mismatch": None,
                                       "uart": {"vectors": 3, "mismatches": 0}}
    assert (tmp_path / "p" / "fpga-up5k" / "tiny_p_uart.sv").read_text().startswith("// Generated by hardcore fpga")


@pytest.mark.parametrize("pipelined", [False, True])
def test_uart_wrapper_round_trip(tiny, tiny_pipelined, pipelined, tmp_path):
    circuit = tiny_pipelined if pipelined else tiny
    inputs = random_vectors(circuit, 200, seed=3)
    assert np.array_equal(simulate_uart(circuit, inputs, tmp_path), circuit.reference(inputs))


@pytest.mark.slow
def test_uart_wrapper_post_synthesis(tiny_pipelined, tmp_path):
    circuit = tiny_pipelined
    figures = run_ice40(uart_wrapper(circuit, clock_hz=8, baud=1) + circuit.verilog, "tiny_p_uart",
                        workdir=tmp_path / "flow")
    assert figures["io"] == 3  # clk, uart_rx, uart_tx
    netlist = _ICARUS_PREAMBLE + cells_sim_path().read_text() + Path(figures["files"]["netlist"]).read_text()
    inputs = random_vectors(circuit, 20, seed=4)
    assert np.array_equal(simulate_uart(circuit, inputs, tmp_path / "sim", design=netlist),
                          circuit.reference(inputs))


def test_bytes_round_trip(tiny):
    inputs = random_vectors(tiny, 50, seed=5)
    data = pack_vectors(tiny, inputs)
    assert data.shape == (50, 2)  # 12 bits of x
    assert data[0].tolist() == [0x24, 0x09]  # x = -4 four times: 100 100 100 100
    y = tiny.reference(inputs)
    packed = [sum((int(v) & 7) << (3 * i) for i, v in enumerate(row)).to_bytes(1, "little") for row in y]
    assert np.array_equal(unpack_vectors(tiny, np.array([list(b) for b in packed])), y)


def test_pcf_template_assigns_package_pins():
    pins = package_pins("5k", "sg48")
    assert pins[:4] == ["2", "3", "4", "6"] and pins[-3:] == ["39", "40", "41"] and len(pins) == 39
    text = pcf_template({"x": ("input", 2), "clk": ("input", 1), "y": ("output", 1)}, "m", "up5k", "sg48", "5k")
    assert text.splitlines()[4:] == ["set_io clk 2  # input", "set_io x[0] 3  # input", "set_io x[1] 4  # input",
                                    "set_io y 6  # output"]
    crowded = pcf_template({"x": ("input", 40)}, "m", "up5k", "sg48", "5k")
    assert "# set_io x[39] PIN  # input" in crowded and "need 40 pins, the package has 39" in crowded


def test_timeout_bounds_the_flow(tiny, tmp_path):
    with pytest.raises(SimulationError, match=r"^the iCE40 flow ran out of its 0\.01 s \(--timeout\) in yosys "
                                              r"synth_ice40\nyosys synth_ice40 timed out after"):
        run_ice40(tiny.verilog, tiny.name, workdir=tmp_path, timeout=0.01)


@pytest.mark.parametrize("args, message", [
    (["--device", "up6k"], "hardcore: error: unknown iCE40 device 'up6k'; expected one of: up5k, hx8k, hx1k\n"),
    (["--package", "qn84"], "hardcore: error: unknown package 'qn84' for the up5k; expected one of: sg48, uwg30\n"),
    (["--timeout", "0"], "hardcore: error: --timeout must be positive, got 0\n"),
    (["--vectors", "0"], "hardcore: error: --vectors must be positive, got 0\n"),
    (["--pcf", "missing.pcf"], "hardcore: error: missing.pcf: no such PCF file\n"),
])
def test_cli_usage_errors(tiny, tmp_path, capsys, args, message):
    tiny.write(tmp_path / "tiny")
    assert main(["fpga", str(tmp_path / "tiny"), *args]) == 2
    assert capsys.readouterr().err == message
    assert not (tmp_path / "tiny" / "fpga-up5k").exists()


def test_cli_does_not_replace_other_folders(tiny, tmp_path, capsys):
    tiny.write(tmp_path / "tiny")
    before = sorted(os.listdir(tmp_path / "tiny"))
    assert main(["fpga", str(tmp_path / "tiny"), "-o", str(tmp_path / "tiny"), "-q"]) == 2
    assert capsys.readouterr().err == (
        f"hardcore: error: {tmp_path / 'tiny'}: the output directory holds other files (no fpga-report.json of an "
        f"earlier 'hardcore fpga'); choose another with -o\n")
    assert sorted(os.listdir(tmp_path / "tiny")) == before
    (tmp_path / "file").write_text("keep me")
    assert main(["fpga", str(tmp_path / "tiny"), "-o", str(tmp_path / "file"), "-q"]) == 1
    assert capsys.readouterr().err == (
        f"hardcore: error: {tmp_path / 'file'}: cannot create the output directory: it is a file\n")
    assert (tmp_path / "file").read_text() == "keep me"


def test_cli_missing_directory(tmp_path, capsys):
    assert main(["fpga", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"hardcore: error: {tmp_path / 'nowhere'}: no such directory\n"


def test_unknown_device_from_python():
    with pytest.raises(UsageError, match=r"^unknown iCE40 device 'ecp5'; expected one of: up5k, hx8k, hx1k$"):
        run_ice40("module m; endmodule", "m", device="ecp5", workdir="unused")
