"""Pipelined circuits (hardcore-pipeline), the '*' baseline and the report."""

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

import hardcore
from hardcore.baseline import baseline_verilog
from hardcore.report import format_table, plot, synthesize
from hardcore.sim import simulate, tool_available

from conftest import extreme_inputs


@pytest.fixture(scope="module")
def deep_mlp():
    """The issue's 16-64-32-32-5 MLP, trained briefly."""
    from mlp import train_mlp

    model, (inputs, _) = train_mlp(sizes=(16, 64, 32, 32, 5), steps=200)
    return model, inputs


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("depth", [2, 8])
def test_streaming_bit_exact(deep_mlp, depth, tmp_path):
    model, inputs = deep_mlp
    circuit = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(),
                               max_adder_depth=depth, clock_enable=depth == 2)
    assert circuit.latency >= 1 and circuit.report["latency_cycles"] == circuit.latency
    low, high = circuit.in_range
    vectors = np.concatenate([circuit.quantize_input(inputs[-1000:].numpy()),
                              extreme_inputs(circuit.n_in, low, high)])
    # simulate() checks that out_valid first rises exactly `latency` cycles after the first input.
    result = simulate(circuit.verilog, circuit.name, vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, latency=circuit.latency,
                      clock_enable=circuit.clock_enable, workdir=tmp_path)
    assert result.throughput == 1.0 and result.cycles == len(vectors) + circuit.latency
    assert np.array_equal(result.outputs, circuit.reference(vectors))
    print(f"\nmax-adder-depth {depth}: latency {circuit.latency}, {len(vectors)} vectors back to back, bit-exact")


def test_deeper_budget_means_fewer_stages(deep_mlp):
    model, inputs = deep_mlp
    latencies = [hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:256].numpy(),
                                  max_adder_depth=d).latency for d in (2, 4, 8, 64)]
    assert latencies == sorted(latencies, reverse=True) and latencies[-1] == 1


@pytest.mark.parametrize("depth", [1, 3, None])
def test_repipeline_gives_what_compile_gives(mlp_circuit, trained_mlp, depth, tmp_path):
    """repipeline(circuit, d) from the written directory equals compile(max_adder_depth=d), byte for byte."""
    from hardcore.compiler import Circuit, repipeline

    model, (inputs, _) = trained_mlp
    compiled = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(), max_adder_depth=depth)
    mlp_circuit.write(tmp_path)
    again = repipeline(Circuit.load(tmp_path), depth)
    assert again.verilog == compiled.verilog
    assert json.dumps(again.report, sort_keys=True) == json.dumps(compiled.report, sort_keys=True)
    assert again.stages.keys() == compiled.stages.keys() and again.latency == compiled.latency


def test_repipeline_takes_only_fully_parallel_circuits(trained_mlp):
    from hardcore.compiler import repipeline

    model, (inputs, _) = trained_mlp
    circuit = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:64].numpy(), reuse=2)
    with pytest.raises(hardcore.UsageError, match=r"^mlp: only a fully parallel circuit \(not a decoder, "
                       r"streamed or time-multiplexed one\) can be pipelined again$"):
        repipeline(circuit, 2)


def _modules(verilog: str) -> list[str]:
    return re.findall(r"^module (\w+)\(", verilog, re.MULTILINE)


def test_baseline_has_the_folded_circuits_modules(mlp_circuit):
    verilog = baseline_verilog(mlp_circuit.stages["quantized"], "plain", mlp_circuit.out_width)
    assert _modules(verilog) == ["plain", "plain_layer0", "plain_layer1", "plain_layer2"]
    assert [name.replace(mlp_circuit.name, "plain") for name in _modules(mlp_circuit.verilog)] == _modules(verilog)
    top = verilog[verilog.index("module plain("):verilog.index("module plain_layer0(")]
    assert re.findall(r"^  (\w+) (\w+) \(", top, re.MULTILINE) == [
        ("plain_layer0", "layer0"), ("plain_layer1", "layer1"), ("plain_layer2", "layer2")]
    assert " * " not in top  # the top only wires the layers


def test_baseline_output_width_too_narrow(mlp_circuit):
    with pytest.raises(ValueError, match=r"^the outputs need 8 bits, not 4$"):
        baseline_verilog(mlp_circuit.stages["quantized"], "plain", 4)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
def test_baseline_computes_the_same_integers(mlp_circuit, tmp_path, rng):
    verilog = baseline_verilog(mlp_circuit.stages["quantized"], "plain", mlp_circuit.out_width)
    assert " * " in verilog
    low, high = mlp_circuit.in_range
    vectors = np.concatenate([rng.integers(low, high + 1, (200, 16)), extreme_inputs(16, low, high)])
    result = simulate(verilog, "plain", vectors, n_in=16, in_width=8, n_out=5, out_width=mlp_circuit.out_width,
                      workdir=tmp_path, simulator="icarus")
    assert np.array_equal(result.outputs, mlp_circuit.reference(vectors))


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
def test_baseline_passes_constant_neurons_as_constants(tmp_path, rng):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    with torch.no_grad():  # neuron 1 of the first layer: always negative, so ReLU makes it 0
        model[0].weight[1] = 0.0
        model[0].bias[1] = -1.0
    circuit = hardcore.compile(model, torch.zeros(1, 4), weight_bits=6, act_bits=6)
    verilog = baseline_verilog(circuit.stages["quantized"], "plain", circuit.out_width)
    layer0 = verilog[verilog.index("module plain_layer0("):verilog.index("module plain_layer1(")]
    assert re.findall(r"^  output signed \[\d+:0\] (\w+)", layer0, re.MULTILINE) == ["o0", "o2"]
    layer1 = verilog[verilog.index("module plain_layer1("):]
    assert re.findall(r"^  input signed \[\d+:0\] (\w+)", layer1, re.MULTILINE) == ["i0", "i2"]
    low, high = circuit.in_range
    vectors = np.concatenate([rng.integers(low, high + 1, (300, 4)), extreme_inputs(4, low, high)])
    result = simulate(verilog, "plain", vectors, n_in=4, in_width=circuit.in_width, n_out=2,
                      out_width=circuit.out_width, workdir=tmp_path, simulator="icarus")
    assert np.array_equal(result.outputs, circuit.reference(vectors))


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Hardswish])
def test_baseline_writes_tables_as_comparisons(activation, tmp_path, rng):
    """A table (hardcore.lut) is one comparison per reachable input code in the baseline."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 3), activation(), nn.Linear(3, 2)).eval()
    circuit = hardcore.compile(model, torch.zeros(1, 4), weight_bits=6, act_bits=6)
    assert "hardcore.lut" in circuit.stages["quantized"]
    verilog = baseline_verilog(circuit.stages["quantized"], "plain", circuit.out_width)
    assert re.search(r" == -?\d+'sd\d+ \? ", verilog)
    low, high = circuit.in_range
    vectors = np.concatenate([rng.integers(low, high + 1, (300, 4)), extreme_inputs(4, low, high)])
    result = simulate(verilog, "plain", vectors, n_in=4, in_width=circuit.in_width, n_out=2,
                      out_width=circuit.out_width, workdir=tmp_path, simulator="icarus")
    assert np.array_equal(result.outputs, circuit.reference(vectors))


@pytest.mark.synth
@pytest.mark.skipif(not tool_available("yosys"), reason="yosys is not installed")
def test_report_with_synthesis_and_plot(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).eval()
    circuit = hardcore.compile(model, torch.zeros(1, 4), weight_bits=4, act_bits=4, max_adder_depth=3)
    messages = []
    figures = synthesize(circuit, tmp_path / "synth", progress=messages.append)
    name = re.escape(circuit.name)
    patterns = [rf"yosys: synthesizing {name} \(abc -lut 6\)\.\.\.", rf"yosys: {name}: \d+ LUTs in \d+ s",
                rf"yosys: synthesizing {name}_plain \(abc -lut 6\)\.\.\.", rf"yosys: {name}_plain: \d+ LUTs in \d+ s"]
    # The two Yosys runs go at once (workers="auto"), so their messages interleave in any order.
    assert len(messages) == len(patterns), messages
    assert all(sum(bool(re.fullmatch(pattern, message)) for message in messages) == 1 for pattern in patterns), \
        messages
    assert figures["folded"]["luts"] > 0 and figures["plain"]["luts"] > 0
    assert figures["folded"]["ffs"] > 0  # the pipeline registers
    assert all(layer["luts"] > 0 for layer in circuit.layers)
    # the baseline is synthesized per layer too, and its layers add up to its total
    assert all(layer["plain_luts"] > 0 for layer in circuit.layers)
    assert sum(layer["plain_luts"] for layer in circuit.layers) == figures["plain"]["luts"]
    assert [layer["lut_ratio"] for layer in circuit.layers] == [
        layer["plain_luts"] / layer["luts"] for layer in circuit.layers]
    report = circuit.report
    assert report["synthesis"]["lut_ratio"] == figures["plain"]["luts"] / figures["folded"]["luts"]
    table = format_table(report)
    assert table.splitlines()[0].split() == ["layer", "weights", "nonzero", "adders", "adder", "bits", "depth",
                                             "reg", "bits", "stages", "LUTs", "plain", "LUTs", "plain/folded"]
    assert table.splitlines()[1].split()[-3:] == [str(circuit.layers[0]["luts"]), str(circuit.layers[0]["plain_luts"]),
                                                  f"{circuit.layers[0]['lut_ratio']:.2f}"]
    assert "plain/folded LUTs" in table
    png = plot(report, tmp_path / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    circuit.write(tmp_path / "out")
    assert json.loads((tmp_path / "out" / f"{circuit.name}.json").read_text())["synthesis"]["folded"]["luts"] > 0
