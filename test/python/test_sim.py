"""Tests for hardcore.sim: simulate hand-written designs and compare with numpy.

Each design computes y[i] = x[i] + x[i+1] on signed elements (one bit wider
out than in, so nothing overflows).  Verilator builds are the slow part
(~5 s each at -O0); there are three: narrow combinational, wide (>64-bit ports)
combinational, and pipelined, whose build the wrong-latency tests reuse.
"""

from __future__ import annotations

import numpy as np
import pytest

from hardcore.sim import SimulationError, simulate, synth_report, tool_available
from hardcore.sim.vectors import decode_hex, encode_hex

SIMULATORS = [
    pytest.param(
        "verilator",
        marks=[pytest.mark.sim, pytest.mark.skipif(not tool_available("verilator"), reason="no verilator")],
    ),
    pytest.param(
        "icarus",
        marks=[pytest.mark.sim, pytest.mark.skipif(not tool_available("icarus"), reason="no iverilog")],
    ),
]

PIPELINE_LATENCY = 2


def pair_sum_sv(name: str, n_in: int, in_width: int) -> str:
    """Combinational y[i] = x[i] + x[i+1], out_width = in_width + 1."""
    out_width = in_width + 1
    return f"""
module {name} (
  input  logic [{n_in * in_width - 1}:0] x,
  output logic [{(n_in - 1) * out_width - 1}:0] y
);
  for (genvar i = 0; i < {n_in - 1}; i++) begin : pair
    assign y[i*{out_width} +: {out_width}] =
        $signed(x[i*{in_width} +: {in_width}]) + $signed(x[(i+1)*{in_width} +: {in_width}]);
  end
endmodule
"""


def pair_sum_pipelined_sv(name: str, n_in: int, in_width: int) -> str:
    """Two register stages (x, then the sums), with ce; latency 2."""
    out_width = in_width + 1
    in_bits, out_bits = n_in * in_width, (n_in - 1) * out_width
    return f"""
module {name} (
  input  logic clk,
  input  logic rst,
  input  logic ce,
  input  logic in_valid,
  input  logic [{in_bits - 1}:0] x,
  output logic out_valid,
  output logic [{out_bits - 1}:0] y
);
  logic [{in_bits - 1}:0] x_q;
  logic [{out_bits - 1}:0] sums;
  logic valid_q;
  for (genvar i = 0; i < {n_in - 1}; i++) begin : pair
    assign sums[i*{out_width} +: {out_width}] =
        $signed(x_q[i*{in_width} +: {in_width}]) + $signed(x_q[(i+1)*{in_width} +: {in_width}]);
  end
  always_ff @(posedge clk) begin
    if (rst) begin
      valid_q <= 1'b0;
      out_valid <= 1'b0;
    end else if (ce) begin
      valid_q <= in_valid;
      out_valid <= valid_q;
    end
    if (ce) begin
      x_q <= x;
      y <= sums;
    end
  end
endmodule
"""


def make_vectors(n_in: int, in_width: int, n_random: int = 61, seed: int = 0) -> np.ndarray:
    """Random vectors plus the extremes: all min, all max, alternating."""
    lo, hi = -(1 << (in_width - 1)), (1 << (in_width - 1)) - 1
    rng = np.random.default_rng(seed)
    alternating = np.where(np.arange(n_in) % 2 == 0, lo, hi)
    extremes = np.array([[lo] * n_in, [hi] * n_in, alternating, -alternating - 1, [0] * n_in, [-1] * n_in])
    return np.concatenate([extremes, rng.integers(lo, hi, size=(n_random, n_in), endpoint=True)])




def pair_sums(x: np.ndarray) -> np.ndarray:
    return x[:, :-1] + x[:, 1:]


# -- no tools needed -----------------------------------------------------------


@pytest.mark.parametrize("width", [1, 3, 8, 9, 17, 33, 63, 64])
def test_hex_round_trip(width):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    rng = np.random.default_rng(width)
    values = np.concatenate([[[lo] * 3, [hi] * 3], rng.integers(lo, hi, size=(20, 3), endpoint=True)])
    lines = encode_hex(values, width).split()
    assert all(len(line) == -(-3 * width // 4) for line in lines)
    np.testing.assert_array_equal(decode_hex(lines, 3, width), values)


def test_hex_layout_element_zero_lowest():
    # x = {x[1], x[0]} = {8'h80, 8'h01} for x[0] = 1, x[1] = -128.
    assert encode_hex(np.array([[1, -128]]), 8) == b"8001\n"


def test_inputs_out_of_range_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"^inputs must lie in \[-128, 127\] for in_width=8, got \[0, 128\]$"):
        simulate("", "m", [[0, 128, 5]], n_in=3, in_width=8, n_out=2, out_width=9, workdir=tmp_path)


def test_inputs_wrong_shape_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"^inputs must have shape \(N, 3\), got \(2, 2\)$"):
        simulate("", "m", [[0, 1], [2, 3]], n_in=3, in_width=8, n_out=2, out_width=9, workdir=tmp_path)


# -- simulators ----------------------------------------------------------------


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_combinational_narrow(simulator, tmp_path):
    x = make_vectors(3, 8)
    messages = []
    result = simulate(
        pair_sum_sv("pair_sum", 3, 8), "pair_sum", x,
        n_in=3, in_width=8, n_out=2, out_width=9,
        workdir=tmp_path, simulator=simulator, progress=messages.append,
    )
    assert result.outputs.dtype == np.int64
    np.testing.assert_array_equal(result.outputs, pair_sums(x))
    assert (result.cycles, result.throughput, result.latency) == (0, 1.0, None)
    assert messages == [f"{simulator}: building pair_sum (2 ports)...", f"simulating {len(x)} vectors..."]

    # N = 1 is an edge case of both harnesses; the same workdir reuses the build.
    result = simulate(
        pair_sum_sv("pair_sum", 3, 8), "pair_sum", [[-128, 127, -1]],
        n_in=3, in_width=8, n_out=2, out_width=9, workdir=tmp_path, simulator=simulator,
    )
    np.testing.assert_array_equal(result.outputs, [[-1, 126]])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_combinational_wide_ports(simulator, tmp_path):
    # x is 5 x 16 = 80 bits and y 4 x 17 = 68 bits: VlWide on both sides.
    x = make_vectors(5, 16)
    result = simulate(
        pair_sum_sv("pair_sum_wide", 5, 16), "pair_sum_wide", x,
        n_in=5, in_width=16, n_out=4, out_width=17,
        workdir=tmp_path, simulator=simulator,
    )
    np.testing.assert_array_equal(result.outputs, pair_sums(x))


@pytest.fixture(scope="module")
def pipelined_workdir(tmp_path_factory):
    """One workdir per simulator, shared so the Verilator build happens once."""
    workdirs = {}

    def workdir_for(simulator):
        if simulator not in workdirs:
            workdirs[simulator] = tmp_path_factory.mktemp(f"pipelined_{simulator}")
        return workdirs[simulator]

    return workdir_for


def simulate_pipelined(simulator, workdir, x, latency):
    # x is 5 x 8 = 40 bits and y 4 x 9 = 36 bits: QData on both sides.
    return simulate(
        pair_sum_pipelined_sv("pair_sum_pipe", 5, 8), "pair_sum_pipe", x,
        n_in=5, in_width=8, n_out=4, out_width=9, latency=latency, clock_enable=True,
        workdir=workdir, simulator=simulator,
    )


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_pipelined(simulator, pipelined_workdir):
    x = make_vectors(5, 8)
    result = simulate_pipelined(simulator, pipelined_workdir(simulator), x, PIPELINE_LATENCY)
    np.testing.assert_array_equal(result.outputs, pair_sums(x))
    assert result.latency == PIPELINE_LATENCY
    assert result.cycles == len(x) + PIPELINE_LATENCY
    assert result.throughput == 1.0


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("wrong_latency", [1, 3])
def test_pipelined_wrong_latency_raises(simulator, wrong_latency, pipelined_workdir):
    x = make_vectors(5, 8, n_random=4)
    message = (
        rf"^{simulator}: out_valid first rose {PIPELINE_LATENCY} cycles after the first input; "
        rf"expected latency {wrong_latency}$"
    )
    with pytest.raises(SimulationError, match=message):
        simulate_pipelined(simulator, pipelined_workdir(simulator), x, wrong_latency)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("icarus"), reason="no iverilog")
def test_port_width_mismatch_raises(tmp_path):
    with pytest.raises(SimulationError, match=r"ports of module pair_sum do not match"):
        simulate(
            pair_sum_sv("pair_sum", 3, 8), "pair_sum", [[1, 2, 3, 4]],
            n_in=4, in_width=8, n_out=3, out_width=9, workdir=tmp_path, simulator="icarus",
        )


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("icarus"), reason="no iverilog")
def test_build_failure_names_command(tmp_path):
    with pytest.raises(SimulationError, match=r"^iverilog build failed \(exit \d+\): iverilog -g2012 "):
        simulate(
            "module broken(input x, output y); assign y = ; endmodule", "broken", [[0]],
            n_in=1, in_width=1, n_out=1, out_width=1, workdir=tmp_path, simulator="icarus",
        )


# -- Yosys ---------------------------------------------------------------------


@pytest.mark.synth
@pytest.mark.skipif(not tool_available("yosys"), reason="no yosys")
def test_synth_report_combinational(tmp_path):
    messages = []
    report = synth_report(pair_sum_sv("pair_sum", 3, 8), "pair_sum", workdir=tmp_path, progress=messages.append)
    assert report["cells"] > 0
    assert report["luts"] > 0
    assert report["ffs"] == 0
    # Two 8-bit sums: more than one LUT deep, far less than a ripple of 9.
    assert 1 < report["logic_levels"] < 9
    assert report["seconds"] > 0
    assert messages == ["yosys: synthesizing pair_sum (abc -lut 6)..."]
    # Yosys' own LUT script, with the SAT sweep bounded (constant multipliers stall it otherwise)
    assert (tmp_path / "abc_lut.abc").read_text() == ("strash; &get -n; &fraig -x -C 1000; &put; scorr; dc2; dretime; "
                                                      "strash; dch -f; if; mfs2; lutpack -S 1\n")


@pytest.mark.synth
@pytest.mark.skipif(not tool_available("yosys"), reason="no yosys")
def test_synth_report_pipelined_counts_flip_flops(tmp_path):
    report = synth_report(pair_sum_pipelined_sv("pair_sum_pipe", 3, 8), "pair_sum_pipe", workdir=tmp_path)
    # x_q (24) + y (18) + two valid bits.
    assert report["ffs"] == 24 + 18 + 2
    assert report["luts"] > 0
    # Flip-flops cut the paths: only the adders between x_q and y count.
    assert 1 < report["logic_levels"] < 9


@pytest.mark.synth
@pytest.mark.skipif(not tool_available("yosys"), reason="no yosys")
def test_synth_report_failure_raises(tmp_path):
    with pytest.raises(SimulationError, match=r"^yosys failed \(exit \d+\): yosys -q -l yosys.log -s synth.ys"):
        synth_report("module broken(input x, output y); assign y = ; endmodule", "broken", workdir=tmp_path)
