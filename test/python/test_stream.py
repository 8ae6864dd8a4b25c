"""Streamed CNNs (`stream=True`): the steps equal the layers, the Verilog equals the reference under stalls.

- hardcore-stream on quantized CNNs written as layer IR (`hardcore.stream_nets.Net`: a
  digits-like net with a flatten tail; a residual network with a 1x1 stride-2
  shortcut, an identity skip and a global average pool; dilation, a max pool with
  padding, a depthwise conv and a streamed output): the steps applied at every
  pixel (`run_steps`) equal the interpreter's reference and an independent numpy
  evaluation, bit for bit;
- in Icarus, images pixel by pixel with the source idling and the sink stalling
  in 30% of the cycles at random: every output equals the reference, m_axis_tlast
  on each image's last output, frame_error low; the same at 2 and 4 pixels a
  clock (the geometry net 12 pixels wide, so that 4 divides it), one image in
  (padded rows) x ceil(padded width / P) cycles;
- the FIFO depths of the joins; usage errors of stream=True; --verify-each and the
  formal check per node; a dozen random networks from `hardcore.fuzz_stream`.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

import hardcore
from hardcore.errors import UsageError
from hardcore.fuzz_stream import run_stream_network, stream_networks
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.passes.stream import stream_steps
from hardcore.pipeline import run_pipeline
from hardcore.sim import tool_available
from hardcore.stream import build_streamed, run_steps, simulate_frames

from hardcore.stream_nets import Net

requires_icarus = pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")


def _digits_like():
    net = Net([1, 8, 8], 0, 16)
    first = net.conv(net.input, 4, 3, padding=1)
    second = net.conv(first, 8, 3, stride=2, padding=1)
    return net, net.dense(net.flatten(second), 10)


def _residual():
    net = Net([3, 8, 8], seed=1)
    stem = net.conv(net.input, 4, 3, padding=1)
    main = net.conv(net.conv(stem, 8, 3, stride=2, padding=1), 8, 3, padding=1, relu=False)
    block = net.add(main, net.conv(stem, 8, 1, stride=2, relu=False))
    main = net.conv(net.conv(block, 8, 3, padding=1), 8, 3, padding=1, relu=False)
    block = net.add(main, block, align=0)
    return net, net.dense(net.global_pool(block), 5)


def _geometry(width: int = 7):
    net = Net([2, 9, width], seed=2)
    dilated = net.maxpool(net.conv(net.input, 4, 3, padding=2, dilation=2), 2, 2, padding=1)
    depthwise = net.conv(dilated, 4, 3, padding=1, groups=4)
    return net, net.conv(depthwise, 3, 2, relu=False)


NETS = {"digits_like": _digits_like, "residual": _residual, "geometry": _geometry}


def _streamed(make, pixels: int = 1):
    net, output = make()
    text = net.text(output)
    module = parse_module(text, new_context(), "quantized")
    stages = {"quantized": text}
    run_pipeline(module, "builtin.module(hardcore-stream)")
    stages["streamed"] = module.operation.get_asm(large_elements_limit=None)
    run_pipeline(module, "builtin.module(hardcore-fold-weights)")
    stages["dag"] = module.operation.get_asm(large_elements_limit=None)
    return net, module, build_streamed(module, "net", stages, {"pixels_per_clock": pixels} if pixels > 1 else {})


@pytest.fixture(scope="module", params=sorted(NETS))
def streamed(request):
    return _streamed(NETS[request.param])


def test_steps_equal_the_reference(streamed):
    net, module, circuit = streamed
    images = net.images(20)
    reference = circuit.reference(images.reshape(len(images), -1))
    quantized = parse_module(circuit.stages["quantized"], new_context())
    interpreted = run_function(find_function(quantized.operation), images.reshape(len(images), -1),
                               from_quantized=True).reshape(len(images), -1)
    np.testing.assert_array_equal(reference, interpreted)
    np.testing.assert_array_equal(reference, net.evaluate(images))
    steps = run_steps(stream_steps(module.operation), images).reshape(len(images), -1)
    np.testing.assert_array_equal(steps, reference)
    extremes = np.stack([np.full(net.in_shape, net.in_range[0]), np.full(net.in_shape, net.in_range[1])])
    np.testing.assert_array_equal(run_steps(stream_steps(module.operation), extremes).reshape(2, -1),
                                  circuit.reference(extremes.reshape(2, -1)))


@requires_icarus
def test_icarus_with_stalls(streamed, tmp_path):
    net, _, circuit = streamed
    images = net.images(4, seed=3).reshape(4, -1)
    result = simulate_frames(circuit, images, tmp_path, simulator="icarus", stall=30, seed=5)
    np.testing.assert_array_equal(result.outputs, circuit.reference(images))
    assert not result.frame_error
    steady = simulate_frames(circuit, images, tmp_path / "steady", simulator="icarus", stall=0)
    np.testing.assert_array_equal(steady.outputs, result.outputs)
    # one image every (padded grid of the first window layer) cycles: it walks its padding too
    assert steady.cycles_per_frame <= circuit.cycles_per_frame + 1
    assert result.cycles > steady.cycles


# P pixels a clock: the geometry net 12 wide (its output 6 wide: 2 pixels a transfer at P = 2, one at P = 4)
PARALLEL_NETS = {"digits_like": _digits_like, "residual": _residual, "geometry": lambda: _geometry(12)}


@requires_icarus
@pytest.mark.parametrize("pixels", [2, 4])
@pytest.mark.parametrize("name", sorted(PARALLEL_NETS))
def test_icarus_pixels_per_clock(name, pixels, tmp_path):
    net, _, circuit = _streamed(PARALLEL_NETS[name], pixels)
    images = net.images(4, seed=3).reshape(4, -1)
    result = simulate_frames(circuit, images, tmp_path, simulator="icarus", stall=30, seed=5)
    np.testing.assert_array_equal(result.outputs, circuit.reference(images))
    assert not result.frame_error
    steady = simulate_frames(circuit, images, tmp_path / "steady", simulator="icarus", stall=0)
    np.testing.assert_array_equal(steady.outputs, result.outputs)
    # the first window layer's padded rows, each ceil(padded width / P) groups (a streamed output: plus
    # the latency, over 4 images)
    first = circuit.nodes[0]
    rows, columns = (size + 2 * pad for size, pad in zip(net.in_shape[1:], first["padding"]))
    assert circuit.cycles_per_frame == rows * -(-columns // pixels)
    assert steady.cycles_per_frame <= circuit.cycles_per_frame * 1.1


@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("pixels", [2, 4])
@pytest.mark.parametrize("name", ["digits_like", "residual"])
def test_pixels_per_clock_is_lint_clean(name, pixels, tmp_path):
    """verilator --lint-only -Wall: nothing (the geometry net's depthwise step leaves input bits unused
    at any P, a warning of its step module, not of the wrapper)."""
    import subprocess

    _, _, circuit = _streamed(PARALLEL_NETS[name], pixels)
    (tmp_path / "net.sv").write_text(circuit.verilog)
    lint = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "net", "net.sv"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert lint.stdout + lint.stderr == ""


def test_report_counts_every_instance():
    """P = 4: a stride-1 kernel has 4 instances, a stride-2 one 2 (only every other slot of a group of 4
    positions ever holds an output column), the tail 1; `adders` counts every instance's."""
    _, _, single = _streamed(_residual)
    _, _, parallel = _streamed(_residual, 4)
    instances = [node.get("instances") for node in parallel.nodes]
    # stem 3x3 s1; 3x3 s2; 3x3 s1; 1x1 s2 shortcut; join; 3x3 s1; 3x3 s1; join; tail
    assert instances == [4, 2, 4, 2, 4, 4, 4, 4, 1]
    assert [node["adders"] for node in parallel.nodes] == [
        node["adders"] * count for node, count in zip(single.nodes, instances)]
    assert parallel.figures["adders"] == sum(node["adders"] for node in parallel.nodes)
    assert parallel.report["stream"]["pixels_per_clock"] == 4
    assert parallel.cycles_per_frame == 10 * 3


def test_report_describes_every_node():
    _, _, circuit = _streamed(_residual)
    kinds = [node["kind"] for node in circuit.nodes]
    assert kinds == ["window", "window", "window", "window", "join", "window", "window", "join", "tail"]
    joins = [node for node in circuit.nodes if node["kind"] == "join"]
    assert all(depth >= 2 and depth & (depth - 1) == 0 for node in joins for depth in node["fifo_depths"])
    first = circuit.nodes[0]
    # 3x3 taps over 8 + 2 columns of 3 channels at 8 bits: (2 * 10 + 3) pixels of 24 bits
    assert first["line_buffer_bits"] == (2 * 10 + 3) * 3 * 8
    assert first["cycles_per_frame"] == 10 * 10
    assert circuit.report["stream"]["cycles_per_frame"] == 100
    # each adder once: the kernels' adders, however many pixels use them
    assert circuit.figures["adders"] == sum(node["adders"] for node in circuit.nodes)
    assert circuit.figures["line_buffer_bits"] == sum(node.get("line_buffer_bits", 0) for node in circuit.nodes)


@pytest.mark.parametrize("options, message", [
    ({"reuse": 2}, "compile: stream=True does not combine with reuse"),
    ({"pixels_per_clock": 3}, "compile: pixels_per_clock is 1, 2, 4 or 8, got 3"),
    ({"pixels_per_clock": 2, "stream": False}, "compile: pixels_per_clock applies to a streamed circuit (stream=True)"),
    ({"pixels_per_clock": 2}, "compile: pixels_per_clock=2 does not divide the image's width 5"),
    ({"max_adder_depth": 4}, "compile: a streamed circuit registers every layer's output itself; "
                             "max_adder_depth and clock_enable do not apply"),
])
def test_stream_usage_errors(options, message):
    import torch
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    with pytest.raises(UsageError) as error:
        hardcore.compile(model, torch.zeros(1, 1, 5, 5), **{"stream": True, **options})
    assert str(error.value) == message


def test_verify_each_checks_the_steps():
    """--verify-each runs the steps at every pixel against the pass's input: a wrong kernel weight is caught."""
    import re

    from hardcore.verify import VerificationError, verify_pass

    net, output = _digits_like()
    text = net.text(output)
    lines = []
    run_pipeline(parse_module(text, new_context(), "quantized"), "builtin.module(hardcore-stream,hardcore-fold-weights)",
                 verify_each=True, verify_report=lines.append)
    assert lines == ["hardcore-stream: bit-exact on 69 input vectors",
                     "hardcore-fold-weights: bit-exact on 69 input vectors"]
    streamed = parse_module(text, new_context(), "quantized")
    run_pipeline(streamed, "builtin.module(hardcore-stream)")
    asm = streamed.operation.get_asm(large_elements_limit=None)
    # the first kernel weight of the first window step, changed by 64
    broken = re.sub(r"weight = dense<\[\[(-?\d+)", lambda m: f"weight = dense<[[{int(m.group(1)) + 64}", asm, count=1)
    assert broken != asm
    with pytest.raises(VerificationError):
        verify_pass("hardcore-stream", text, parse_module(broken, new_context(), "broken").operation)


def test_formal_proves_every_node(tmp_path):
    """hardcore verify --formal on a streamed circuit: each node's folded step equals its layer-level step."""
    pytest.importorskip("z3")
    from hardcore.formal import verify_directory

    _, _, circuit = _streamed(_residual)
    circuit.write(tmp_path)
    report = verify_directory(tmp_path)
    assert [layer.index for layer in report.layers] == list(range(len(report.layers)))
    assert len(report.layers) >= len(circuit.nodes)
    assert report.proven, [layer.summary() for layer in report.layers]


@requires_icarus
@settings(max_examples=12, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(network=stream_networks())
def test_fuzzed_networks(network, tmp_path_factory):
    """Random small CNNs (`hardcore.fuzz_stream`): steps, reference, numpy and Icarus with stalls agree."""
    problem = run_stream_network(network, tmp_path_factory.mktemp("fuzz"), images=3)
    assert problem is None, problem


class _PoolsAndTables(torch.nn.Module):
    """Conv + BatchNorm + sigmoid (a table), a 2x2 average pool, a conv, a padded max pool, flatten, linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv1 = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(3)
        self.conv2 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(3, stride=2, padding=1)
        self.linear = torch.nn.Linear(4 * 2 * 2, 3)
        with torch.no_grad():
            self.norm.running_mean.uniform_(-0.2, 0.2)
            self.norm.running_var.uniform_(0.5, 2.0)
        self.eval()

    def forward(self, x):
        x = torch.nn.functional.avg_pool2d(torch.sigmoid(self.norm(self.conv1(x))), 2)
        x = self.pool(torch.relu(self.conv2(x)))
        return self.linear(torch.flatten(x, 1))


@requires_icarus
def test_torch_model_streamed_equals_unrolled(tmp_path):
    """A PyTorch model through hardcore.compile(stream=True): the same reference as the unrolled circuit, and
    the Verilog equal to it in Icarus with stalls (a sigmoid table, an average pool, a padded max pool)."""
    torch.set_num_threads(1)
    model = _PoolsAndTables()
    rng = np.random.default_rng(0)
    calibration = rng.uniform(-1, 1, size=(64, 2, 8, 8)).astype(np.float32)
    streamed = hardcore.compile(model, torch.zeros(1, 2, 8, 8), calibration=calibration, stream=True)
    unrolled = hardcore.compile(model, torch.zeros(1, 2, 8, 8), calibration=calibration)
    images = streamed.quantize_input(rng.uniform(-1, 1, size=(6, 2, 8, 8)).astype(np.float32))
    np.testing.assert_array_equal(streamed.reference(images), unrolled.reference(images))
    assert [node["kind"] for node in streamed.nodes] == ["window", "window", "window", "window", "tail"]
    result = simulate_frames(streamed, images, tmp_path, simulator="icarus", stall=30)
    np.testing.assert_array_equal(result.outputs, streamed.reference(images))
    assert streamed.report["adders"] < unrolled.report["adders"]


@pytest.mark.skipif(not (tool_available("verilator") and tool_available("yosys")), reason="needs verilator and yosys")
def test_streamed_verilog_is_lint_clean(tmp_path):
    """No warning from `verilator --lint-only -Wall` nor Yosys on a streamed circuit with joins (its FIFOs are
    unpacked arrays: Yosys 0.23 does not read packed two-dimensional ones)."""
    from test_lint import assert_clean

    _, _, circuit = _streamed(_residual)
    assert "node4_fifo0[0:" in circuit.verilog
    assert_clean(circuit, tmp_path)
