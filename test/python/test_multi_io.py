"""Models with several inputs and several outputs, and einsum of two operands.

A model's inputs become ports `x0`, `x1`, ... and its outputs `y0`, `y1`, ...,
each with its own scale and width (one input and one output stay `x` and `y`).
Each input is calibrated on its own and quantized by its own `hardcore.quantize`;
pipelined, all inputs enter with one `in_valid` and all outputs leave with one
`out_valid`.  torch-mlir decomposes `torch.einsum` of two operands into
permutes, views and a `bmm`, which hardcore-import makes a `hardcore.matmul`:
an outer product, a batch matrix product and a dot product are products of
activations, like attention's.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from torch import nn

import hardcore
from hardcore.baseline import baseline_verilog
from hardcore.compiler import Circuit, repipeline
from hardcore.errors import UsageError
from hardcore.fuzz import batches, run_batch
from hardcore.sim import simulate_ports, tool_available

torch.set_num_threads(1)

requires_verilator = pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")


class TwoBranches(nn.Module):
    """Two inputs, each through Linear+ReLU; their sum is one output, a head over their concatenation the other."""

    def __init__(self):
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        self.left, self.right, self.head = nn.Linear(4, 3), nn.Linear(5, 3), nn.Linear(6, 2)
        torch.random.set_rng_state(generator_state)

    def forward(self, x, z):
        u, v = torch.relu(self.left(x)), torch.relu(self.right(z))
        return u + v, self.head(torch.cat([u, v], -1))


class Einsum(nn.Module):
    def __init__(self, equation: str):
        super().__init__()
        self.equation = equation

    def forward(self, a, b):
        return torch.einsum(self.equation, a, b)


EINSUMS = {"outer": ("bi,bj->bij", (1, 3), (1, 4)), "batch_matmul": ("bij,bjk->bik", (1, 2, 3), (1, 3, 4)),
           "dot": ("bi,bi->b", (1, 3), (1, 3))}
_COMPILED: dict = {}


def two_branches(max_adder_depth=None) -> Circuit:
    if "two" not in _COMPILED:
        _COMPILED["two"] = hardcore.compile(TwoBranches(), (torch.zeros(1, 4), torch.zeros(1, 5)), workers="serial")
    circuit = _COMPILED["two"]
    return circuit if max_adder_depth is None else repipeline(circuit, max_adder_depth)


def einsum(name: str) -> Circuit:
    if name not in _COMPILED:
        equation, *shapes = EINSUMS[name]
        _COMPILED[name] = hardcore.compile(Einsum(equation), tuple(torch.zeros(s) for s in shapes), workers="serial")
    return _COMPILED[name]


def random_inputs(circuit: Circuit, rng, count: int = 200) -> tuple:
    """Integer inputs per port: quantized normal floats, uniform codes and each port's extremes."""
    real = circuit.quantize_input(tuple(rng.standard_normal((count, port.elements)) for port in circuit.inputs))
    real = real if isinstance(real, tuple) else (real,)
    ports = []
    for port, quantized in zip(circuit.inputs, real):
        low, high = port.range
        extremes = np.array([[low] * port.elements, [high] * port.elements])
        ports.append(np.concatenate([quantized, rng.integers(low, high + 1, (count, port.elements)), extremes]))
    return tuple(ports)


def test_two_inputs_two_outputs_track_the_model(rng):
    circuit = two_branches()
    model = TwoBranches()
    # (half the calibration's spread: nothing saturates)
    inputs = (0.5 * rng.standard_normal((300, 4)), 0.5 * rng.standard_normal((300, 5)))
    with torch.no_grad():
        expected = model(*(torch.from_numpy(x).float() for x in inputs))
    predicted = circuit.predict(inputs)
    assert isinstance(predicted, tuple) and len(predicted) == 2
    for got, want in zip(predicted, expected):
        assert got.shape == tuple(want.shape)
        assert np.abs(got - want.numpy()).max() < 0.1 * np.abs(want.numpy()).max()


def test_ports_in_the_report_and_the_verilog(tmp_path):
    circuit = two_branches()
    ports = circuit.report["ports"]
    assert sorted(ports) == ["x0", "x1", "y0", "y1"]
    assert [ports[name]["shape"] for name in ("x0", "x1", "y0", "y1")] == [[4], [5], [3], [2]]
    for name in ports:
        assert {"frac_bits", "element_width", "signed"} <= set(ports[name])
    assert {"min", "max"} <= set(ports["x0"]) and "min" not in ports["y0"]
    header = circuit.verilog[circuit.verilog.index("module two_branches("):]
    header = header[:header.index(");")]
    assert re.findall(r"(input|output)\s+\[(\d+):0\] (\w+)", header) == [
        ("input", str(4 * ports["x0"]["element_width"] - 1), "x0"),
        ("input", str(5 * ports["x1"]["element_width"] - 1), "x1"),
        ("output", str(3 * ports["y0"]["element_width"] - 1), "y0"),
        ("output", str(2 * ports["y1"]["element_width"] - 1), "y1")]
    circuit.write(tmp_path)
    loaded = Circuit.load(tmp_path)
    assert loaded.inputs == circuit.inputs and loaded.outputs == circuit.outputs
    assert json.loads((tmp_path / "two_branches.json").read_text())["ports"] == json.loads(json.dumps(ports))


def test_each_input_has_its_own_calibration():
    """Scaling one input's calibration by 16 moves its scale by 4 bits and leaves the other's."""
    rng = np.random.default_rng(0)
    calibration = (rng.standard_normal((64, 4)), rng.standard_normal((64, 5)))
    plain = hardcore.compile(TwoBranches(), (torch.zeros(1, 4), torch.zeros(1, 5)), calibration=calibration,
                             workers="serial")
    scaled = hardcore.compile(TwoBranches(), (torch.zeros(1, 4), torch.zeros(1, 5)),
                              calibration=(calibration[0] * 16, calibration[1]), workers="serial")
    assert scaled.inputs[0].frac_bits == plain.inputs[0].frac_bits - 4
    assert scaled.inputs[1].frac_bits == plain.inputs[1].frac_bits


def test_reference_checks_each_port():
    circuit = two_branches()
    with pytest.raises(UsageError, match=r"^reference: the circuit has 2 inputs \(x0, x1\): expected a tuple of 2 "
                                         r"arrays, got one array$"):
        circuit.reference(np.zeros((1, 4), dtype=np.int64))
    with pytest.raises(UsageError, match=r"^reference: expected inputs of x1 of 5 elements, got 4$"):
        circuit.reference((np.zeros((1, 4), dtype=np.int64), np.zeros((1, 4), dtype=np.int64)))


@pytest.mark.parametrize("example_input,message", [
    ((torch.zeros(1, 4),), r"^compile: the model's forward\(x, z\) takes 2 inputs, got an example_input of 1 "
                           r"tensor$"),
    ((torch.zeros(1, 4), torch.zeros(1, 5), torch.zeros(1, 5)),
     r"^compile: the model's forward\(x, z\) takes 2 inputs, got an example_input of 3 tensors$"),
    ((torch.zeros(1, 4), [0.0] * 5), r"^compile: example_input element 1 must be a torch.Tensor, got list$"),
    (np.zeros((1, 4)), r"^compile: example_input must be a torch.Tensor, got ndarray$"),
])
def test_a_wrong_example_input_is_a_usage_error(example_input, message):
    with pytest.raises(UsageError, match=message):
        hardcore.compile(TwoBranches(), example_input)


@pytest.mark.parametrize("calibration,got", [(np.zeros((8, 4)), "one array"), ((np.zeros((8, 4)),), "1 arrays")])
def test_calibration_of_the_wrong_arity_is_a_usage_error(calibration, got):
    with pytest.raises(UsageError, match=rf"^compile: the model has 2 inputs: calibration must be a tuple of 2 "
                                         rf"arrays, one per input, got {got}$"):
        hardcore.compile(TwoBranches(), (torch.zeros(1, 4), torch.zeros(1, 5)), calibration=calibration)


def test_several_outputs_with_argmax_are_an_error():
    with pytest.raises(hardcore.CompileError, match=r"hardcore-fold-weights: an argmax result \(output=argmax\) is "
                                                    r"supported only as a model's one result"):
        hardcore.compile(TwoBranches(), (torch.zeros(1, 4), torch.zeros(1, 5)), output="argmax", workers="serial")


@pytest.mark.parametrize("name", sorted(EINSUMS))
def test_einsum_is_a_matmul_that_tracks_torch(name, rng):
    equation, *shapes = EINSUMS[name]
    circuit = einsum(name)
    assert [layer["kind"].split()[0] for layer in circuit.layers] == ["matmul"]
    inputs = tuple(0.5 * rng.standard_normal((300,) + shape[1:]) for shape in shapes)
    with torch.no_grad():
        expected = torch.einsum(equation, *(torch.from_numpy(x).float() for x in inputs)).numpy().reshape(300, -1)
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.1 * np.abs(expected).max()


@pytest.mark.sim
@requires_verilator
@pytest.mark.parametrize("max_adder_depth", [None, 2], ids=["combinational", "pipelined"])
@pytest.mark.parametrize("name", ["two_branches"] + sorted(EINSUMS))
def test_bit_exact_in_verilator(name, max_adder_depth, tmp_path, rng):
    circuit = two_branches() if name == "two_branches" else einsum(name)
    if max_adder_depth is not None:
        circuit = repipeline(circuit, max_adder_depth)
        assert circuit.latency > 0
    vectors = random_inputs(circuit, rng)
    result = circuit.simulate(vectors, tmp_path)
    if circuit.latency:
        assert result.throughput == 1.0 and result.cycles == len(vectors[0]) + circuit.latency
    reference = circuit.reference(vectors)
    outputs = result.outputs if isinstance(result.outputs, tuple) else (result.outputs,)
    reference = reference if isinstance(reference, tuple) else (reference,)
    for got, want in zip(outputs, reference, strict=True):
        mismatches = int(np.any(got != want, axis=1).sum())
        assert mismatches == 0, f"{mismatches} of {len(got)} vectors differ"


TWO_BRANCHES_FILE = '''
import torch
from torch import nn


class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.left, self.right, self.head = nn.Linear(4, 3), nn.Linear(5, 3), nn.Linear(6, 2)

    def forward(self, x, z):
        u, v = torch.relu(self.left(x)), torch.relu(self.right(z))
        return u + v, self.head(torch.cat([u, v], -1))
'''


def hardcore_cli(*args):
    return subprocess.run([str(Path(sys.executable).parent / "hardcore")] + [str(a) for a in args],
                          capture_output=True, text=True)


@pytest.mark.sim
@requires_verilator
def test_cli_takes_an_input_shape_per_input_and_simulates_every_port(tmp_path):
    (tmp_path / "two.py").write_text(TWO_BRANCHES_FILE)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calibration.npz", rng.standard_normal((32, 4)), rng.standard_normal((32, 5)))
    result = hardcore_cli("compile", f"{tmp_path / 'two.py'}:TwoBranches", "--input-shape", "1,4", "--input-shape",
                          "1,5", "--calibration", tmp_path / "calibration.npz", "--max-adder-depth", "2", "-q",
                          "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads((tmp_path / "out" / "two_branches.json").read_text())["ports"]) == ["x0", "x1", "y0", "y1"]
    result = hardcore_cli("sim", tmp_path / "out", "--vectors", "50")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("50 vectors, 0 mismatches (latency ")
    result = hardcore_cli("report", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    result = hardcore_cli("verify", "--formal", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("quantized: the formal check takes a model of one input and one output; "
                                          "@two_branches has 2 inputs and 2 outputs (--verify-each and "
                                          "`hardcore sim` check it)")


def test_cli_calibration_needs_an_array_per_input(tmp_path):
    (tmp_path / "two.py").write_text(TWO_BRANCHES_FILE)
    np.save(tmp_path / "calibration.npy", np.zeros((8, 4)))
    result = hardcore_cli("compile", f"{tmp_path / 'two.py'}:TwoBranches", "--input-shape", "1,4", "--input-shape",
                          "1,5", "--calibration", tmp_path / "calibration.npy", "-o", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        f"{tmp_path / 'calibration.npy'}: calibration data for 2 inputs (--input-shape given 2 times) must be an .npz "
        f"of 2 arrays, one per input, got 1")
    result = hardcore_cli("compile", f"{tmp_path / 'two.py'}:TwoBranches", "--input-shape", "1,4", "-o",
                          tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("compile: the model's forward(x, z) takes 2 inputs, got an example_input "
                                          "of 1 tensor")


@pytest.mark.parametrize("name", ["two_branches", "outer"])
def test_verify_each_checks_every_pass_on_every_port(name):
    """--verify-each with several ports: the import against the model, each pass in the interpreter,
    hardcore-to-hw's Verilog in Icarus (where installed), every input and output side by side."""
    model, example = (TwoBranches(), (torch.zeros(1, 4), torch.zeros(1, 5))) if name == "two_branches" else \
        (Einsum(EINSUMS[name][0]), tuple(torch.zeros(s) for s in EINSUMS[name][1:]))
    messages = []
    hardcore.compile(model, example, verify_each=True, max_adder_depth=2, workers="serial",
                     progress=messages.append)
    checks = [m for m in messages if m.startswith("hardcore-") and ": " in m]
    assert [c.split(":")[0] for c in checks] == ["hardcore-import", "hardcore-quantize", "hardcore-fold-weights",
                                                 "hardcore-pipeline", "hardcore-to-hw"]
    assert checks[0] == "hardcore-import: within 0.001 relative of the PyTorch model on 69 input vectors"
    assert re.fullmatch(r"hardcore-quantize: each of \d+ layers within its rounding bound on 69 input vectors of "
                        r"the input grid", checks[1])
    assert checks[2:4] == ["hardcore-fold-weights: bit-exact on 69 input vectors",
                           "hardcore-pipeline: bit-exact on 69 input vectors"]
    if tool_available("iverilog"):
        assert checks[4] == "hardcore-to-hw: bit-exact on 69 input vectors (its Verilog in Icarus)"


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
@pytest.mark.parametrize("name", ["two_branches", "batch_matmul"])
def test_baseline_has_the_same_ports_and_integers(name, tmp_path, rng):
    """The '*' baseline (`hardcore report --synth`) has the folded circuit's ports and computes its integers."""
    circuit = two_branches() if name == "two_branches" else einsum(name)
    verilog = baseline_verilog(circuit.stages["quantized"], "plain", [port.width for port in circuit.outputs])
    assert " * " in verilog
    vectors = random_inputs(circuit, rng, count=60)
    result = simulate_ports(verilog, "plain", list(vectors),
                            in_ports=[(p.name, p.elements, p.width) for p in circuit.inputs],
                            out_ports=[(p.name, p.elements, p.width) for p in circuit.outputs],
                            workdir=tmp_path, simulator="icarus")
    reference = circuit.reference(vectors)
    reference = reference if isinstance(reference, tuple) else (reference,)
    for got, want in zip(result.outputs, reference, strict=True):
        assert np.array_equal(got, want)


@pytest.mark.sim
@requires_verilator
@settings(max_examples=3, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches(min_networks=2, max_networks=4, two_ports=True))
def test_fuzz_two_inputs_and_outputs(batch, tmp_path_factory):
    """Random networks with a second input (read by later skip connections and concats, or not at all)
    and a second output, folded and maybe pipelined under --verify-each, bit-exact in Verilator."""
    nets, depth, clock_enable = batch
    assert all(len(net.in_ports) == 2 and "two inputs and outputs" in net.features for net in nets)
    result = run_batch(nets, depth, clock_enable, tmp_path_factory.mktemp("fuzz"), vectors=60)
    assert result.mismatches == 0, result.first_mismatch
    assert all(len(net.out_ports) == 2 for net in nets)
