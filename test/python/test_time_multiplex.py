"""Time-multiplexed dense layers (`reuse=R`): the steps equal the layers, the Verilog equals the reference.

- hardcore-time-multiplex on the README's MLP, both realizations, R = 2, 3
  (rows not a multiple of R), 4, 8, 64 (more cycles than rows): the steps run
  cycle by cycle (`run_steps`) equal `Circuit.reference` bit for bit;
- `hardcore.compile(..., reuse=R)`: the report, figures, loading it back; R = 1
  gives the fully parallel circuit's Verilog byte for byte; the Verilog is lint clean;
- reuse per layer in the quant config (8, 2, 1): run_steps and Icarus bit-exact,
  II the largest reuse; every layer at 1 is the fully parallel circuit; its errors;
- the formal check per cycle (`hardcore.formal.reuse`): each step with its cycle
  fixed proven equal to its layer's rows of that cycle; a wrong table entry is a
  counterexample at its cycle; `rom`'s products are not covered;
- usage errors name the option; a layer kind without a time-multiplexed form is an
  MLIR diagnostic naming the op;
- in Icarus, inputs back to back at R = 2, 4, 8: every output equals the
  reference, one input every R cycles, out_valid L*R + 1 cycles after the input;
  with random stalls (in_valid low at random, seeded) in Icarus and in Verilator
  (slow): one output per input, each equal to the reference;
  `hardcore compile --reuse` and `hardcore sim`.
"""

import json
import re
import subprocess

import numpy as np
import pytest
import torch

import hardcore
from hardcore.cli import main
from hardcore.compiler import Circuit
from hardcore.errors import CompileError, UsageError
from hardcore.formal import verify_directory
from hardcore.formal.reuse import verify_steps
from hardcore.mlir import new_context, parse_module
from hardcore.passes import TimeMultiplexPass
from hardcore.pipeline import run_pipeline
from hardcore.sim import tool_available
from hardcore.time_multiplex import TimeMultiplexedCircuit, run_steps, simulate_stream

from conftest import ROOT, extreme_inputs

torch.set_num_threads(1)
requires_icarus = pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")


@pytest.fixture(scope="module")
def reuse_circuits(trained_mlp):
    model, (inputs, _) = trained_mlp
    return {reuse: hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(), reuse=reuse)
            for reuse in (2, 4, 8)}


def _inputs(circuit, rng, count: int) -> np.ndarray:
    low, high = circuit.in_range
    return np.concatenate([rng.integers(low, high + 1, (count, circuit.n_in)),
                           extreme_inputs(circuit.n_in, low, high)])


@pytest.mark.parametrize("realization", ["mux", "rom"])
@pytest.mark.parametrize("reuse", [2, 3, 4, 8, 64])
def test_steps_equal_the_reference(mlp_circuit, rng, reuse, realization):
    module = parse_module(mlp_circuit.stages["quantized"], new_context())
    instance = TimeMultiplexPass(reuse=reuse, realization=realization)
    run_pipeline(module, instance.name, overrides={instance.name: instance})
    x = _inputs(mlp_circuit, rng, 300)
    assert np.array_equal(run_steps(str(module), x), mlp_circuit.reference(x))


def test_compile_reuse(reuse_circuits, mlp_circuit, tmp_path):
    circuit = reuse_circuits[4]
    assert isinstance(circuit, TimeMultiplexedCircuit)
    assert circuit.reuse == 4 and circuit.latency == 3 * 4 + 1
    assert [step["slots"] for step in circuit.steps] == [16, 8, 2]
    report = circuit.report
    assert report["time_multiplex"]["cycles_per_inference"] == 4
    assert set(report["control_ports"]) == {"clk", "rst", "in_valid", "in_ready", "out_valid"}
    assert report["adders"] == sum(layer["adders"] for layer in circuit.layers)
    assert report["register_bits"] > 0 and circuit.options["reuse"] == 4
    assert "hw.module @mlp_step0" not in circuit.verilog and "module mlp_step0(" in circuit.verilog
    # the report's adders: each adder of the Verilog once, fewer than the fully parallel circuit's at R >= 4
    assert reuse_circuits[8].figures["adders"] < circuit.figures["adders"] \
        < mlp_circuit.figures["adders"]
    circuit.write(tmp_path / "out")
    loaded = Circuit.load(tmp_path / "out")
    assert isinstance(loaded, TimeMultiplexedCircuit) and loaded.reuse == 4 and loaded.latency == circuit.latency
    assert json.loads((tmp_path / "out" / "mlp.json").read_text())["time_multiplex"]["steps"] == circuit.steps


def test_reuse_one_is_the_fully_parallel_circuit(trained_mlp, mlp_circuit):
    model, (inputs, _) = trained_mlp
    circuit = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(), reuse=1)
    assert type(circuit) is Circuit and circuit.verilog == mlp_circuit.verilog


MIXED = {"layers": {"0": {"reuse": 8}, "1": {"reuse": 2}, "2": {"reuse": 1}}}


@pytest.fixture(scope="module")
def mixed_circuit(trained_mlp):
    model, (inputs, _) = trained_mlp
    return hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(), quant_config=MIXED)


def test_reuse_per_layer(mixed_circuit, rng):
    circuit = mixed_circuit
    assert isinstance(circuit, TimeMultiplexedCircuit)
    # the period is the largest reuse: one input every 8 cycles, three stages of 8 cycles
    assert circuit.reuse == 8 and circuit.latency == 3 * 8 + 1
    assert [(step["reuse"], step["slots"]) for step in circuit.steps] == [(8, 8), (2, 16), (1, 5)]
    # layer 1 holds its cycle 1 from cycle 1 of the period to its end: min(counter, 1)
    assert ".cycle (cycle < 3'h1 ? cycle[0] : 1'h1)" in circuit.verilog
    x = _inputs(circuit, rng, 300)
    assert np.array_equal(run_steps(circuit.stages["steps"], x), circuit.reference(x))


def test_config_reuse_one_is_the_fully_parallel_circuit(trained_mlp, mlp_circuit):
    model, (inputs, _) = trained_mlp
    circuit = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(), reuse=4,
                               quant_config={"reuse": 1, "layers": {"1": {"reuse": 1}}})
    assert type(circuit) is Circuit and circuit.verilog == mlp_circuit.verilog


def test_config_reuse_errors(trained_mlp):
    model, _ = trained_mlp
    with pytest.raises(UsageError, match=r"^quant_config: layer 1: reuse must be an integer of at least 1, got 0$"):
        hardcore.compile(model, torch.zeros(1, 16), quant_config={"layers": {"1": {"reuse": 0}}})
    with pytest.raises(UsageError, match=r"^quant_config: layer 0: reuse must be an integer of at least 1, got '2'$"):
        hardcore.compile(model, torch.zeros(1, 16), quant_config={"layers": {"0": {"reuse": "2"}}})
    # a layer the model does not have: hardcore-quantize's diagnostic, before any time-multiplexing
    with pytest.raises(CompileError, match=r"hardcore-quantize: the quantization config sets layer 3, "
                                           r"but the model has 3 layers \(0 to 2\)"):
        hardcore.compile(model, torch.zeros(1, 16), quant_config={"layers": {"3": {"reuse": 2}}})
    with pytest.raises(UsageError, match=r"^compile: reuse does not apply to a decoder \(it takes a token a clock\)$"):
        hardcore.compile(model, torch.zeros(1, 16), decoder=True, quant_config={"layers": {"0": {"reuse": 2}}})


@pytest.mark.parametrize("options, message", [
    (dict(reuse=0), "compile: reuse must be an integer of at least 1, got 0"),
    (dict(reuse=2.5), "compile: reuse must be an integer of at least 1, got 2.5"),
    (dict(reuse=True), "compile: reuse must be an integer of at least 1, got True"),
    (dict(reuse=2, decoder=True), "compile: reuse does not apply to a decoder (it takes a token a clock)"),
    (dict(reuse=2, max_adder_depth=4), "compile: reuse takes several cycles an input through its own registers; "
                                       "max_adder_depth and clock_enable do not apply"),
])
def test_reuse_usage_errors(trained_mlp, options, message):
    model, _ = trained_mlp
    with pytest.raises(UsageError, match=rf"^{re.escape(message)}$"):
        hardcore.compile(model, torch.zeros(1, 16), **options)


def test_pass_option_errors():
    with pytest.raises(UsageError, match=r"^hardcore-time-multiplex: reuse must be an integer of at least 1, got -1$"):
        TimeMultiplexPass.from_options("reuse=-1")
    with pytest.raises(UsageError, match=r"^hardcore-time-multiplex: unknown realization 'lut' "
                                         r"\(one of: mux, rom\)$"):
        TimeMultiplexPass.from_options("realization=lut")


def test_argmax_is_not_time_multiplexed(trained_mlp):
    model, _ = trained_mlp
    with pytest.raises(CompileError, match=r"hardcore-time-multiplex: cannot time-multiplex 'hardcore.argmax' "
                                           r"\(only a chain of dense layers with relu and requant\)"):
        hardcore.compile(model, torch.zeros(1, 16), output="argmax", reuse=2)


def test_lint_clean(reuse_circuits, tmp_path):
    if not tool_available("verilator"):
        pytest.skip("verilator is not installed")
    path = tmp_path / "mlp.sv"
    path.write_text(reuse_circuits[2].verilog)
    run = subprocess.run(["verilator", "--lint-only", "-Wall", str(path), "--top-module", "mlp"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.sim
@requires_icarus
@pytest.mark.parametrize("reuse", [2, 4, 8])
def test_icarus_back_to_back(reuse_circuits, rng, tmp_path, reuse):
    circuit = reuse_circuits[reuse]
    x = _inputs(circuit, rng, 100)
    result = simulate_stream(circuit, x, tmp_path, simulator="icarus")
    assert np.array_equal(result.outputs, circuit.reference(x))
    assert result.interval == reuse and result.latency == circuit.latency == 3 * reuse + 1


@pytest.mark.sim
@requires_icarus
def test_icarus_reuse_per_layer(mixed_circuit, rng, tmp_path):
    x = _inputs(mixed_circuit, rng, 100)
    result = simulate_stream(mixed_circuit, x, tmp_path, simulator="icarus")
    assert np.array_equal(result.outputs, mixed_circuit.reference(x))
    assert result.interval == 8 and result.latency == mixed_circuit.latency == 25


@pytest.mark.sim
@requires_icarus
def test_icarus_random_stalls(reuse_circuits, rng, tmp_path):
    circuit = reuse_circuits[4]
    x = _inputs(circuit, rng, 100)
    result = simulate_stream(circuit, x, tmp_path, simulator="icarus", stall=0.5, seed=3)
    # one output per input (simulate_stream raises otherwise), each L*R + 1 cycles after it was taken
    assert np.array_equal(result.outputs, circuit.reference(x))
    assert result.latency == circuit.latency and result.interval > 4


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
def test_verilator_random_stalls(mixed_circuit, rng, tmp_path):
    x = _inputs(mixed_circuit, rng, 200)
    result = simulate_stream(mixed_circuit, x, tmp_path, simulator="verilator", stall=0.3, seed=5)
    assert np.array_equal(result.outputs, mixed_circuit.reference(x))
    assert result.latency == mixed_circuit.latency == 25 and result.interval > 8


def test_simulate_stream_errors(mixed_circuit, tmp_path):
    with pytest.raises(UsageError, match=r"^simulate_stream: stall must be a probability in \[0, 1\), got 1$"):
        simulate_stream(mixed_circuit, np.zeros((1, 16)), tmp_path, stall=1)
    with pytest.raises(UsageError, match=r"^simulate_stream: unknown simulator 'xcelium' \(one of: verilator, "
                                         r"icarus\)$"):
        simulate_stream(mixed_circuit, np.zeros((1, 16)), tmp_path, simulator="xcelium")


@pytest.mark.sim
@requires_icarus
def test_cli_compile_and_sim(tmp_path, capsys):
    out = tmp_path / "mlp"
    assert main(["compile", str(ROOT / "examples" / "mlp.py:MLP"), "--input-shape", "1,16", "-o", str(out), "--reuse", "8", "-q"]) == 0
    assert "latency 25 cycles, one input every 8 cycles" in capsys.readouterr().out
    assert main(["sim", str(out), "--vectors", "40", "--simulator", "icarus"]) == 0
    assert "40 vectors, 0 mismatches (Icarus; in_valid low in 25% of cycles at random; latency 25 cycles, " \
           "one input every 8 cycles at most, " in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    assert "latency 25 cycles, register bits 1835, one inference every 8 cycles" in capsys.readouterr().out
    assert main(["compile", str(ROOT / "examples" / "mlp.py:MLP"), "--input-shape", "1,16", "-o", str(tmp_path / "x"),
                 "--reuse", "0", "-q"]) == 2


TWO_LAYERS = """
func.func @two_layers(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 2 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.dense"(%0) {bias = dense<[1, -2, 0]> : tensor<3xi64>, weight = dense<[[3, 0], [1, -1], [0, 2]]> : tensor<3x2xi8>} : (tensor<2xi3>) -> tensor<3xi8>
  %2 = "hardcore.relu"(%1) : (tensor<3xi8>) -> tensor<3xi8>
  %3 = "hardcore.requant"(%2) {shift = 1 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3xi8>) -> tensor<3xi4>
  %4 = "hardcore.dense"(%3) {bias = dense<[5]> : tensor<1xi64>, weight = dense<[[1, -3, 2]]> : tensor<1x3xi8>} : (tensor<3xi4>) -> tensor<1xi8>
  %5 = "hardcore.dequantize"(%4) {frac_bits = 0 : i64} : (tensor<1xi8>) -> tensor<1xf32>
  return %5 : tensor<1xf32>
}
"""


def test_verify_each_catches_a_wrong_step():
    from hardcore.verify import VerificationError, verify_pass

    module = parse_module(TWO_LAYERS, new_context())
    instance = TimeMultiplexPass(reuse=2, realization="mux")
    run_pipeline(module, instance.name, overrides={instance.name: instance})
    steps = str(module)
    assert verify_pass(instance.name, TWO_LAYERS, module.operation) == \
        "hardcore-time-multiplex: bit-exact on 69 input vectors"
    assert "table = dense<[2, 1]>" in steps  # step 0's biases (and rounding) in cycles 0 and 1
    wrong = parse_module(steps.replace("table = dense<[2, 1]>", "table = dense<[2, 3]>"), new_context())
    with pytest.raises(VerificationError, match=r"^hardcore-time-multiplex changed the result \(--verify-each\): on input vector "):
        verify_pass(instance.name, TWO_LAYERS, wrong.operation)


def _steps(text: str, reuse: int, realization: str = "mux") -> str:
    module = parse_module(text, new_context())
    instance = TimeMultiplexPass(reuse=reuse, realization=realization)
    run_pipeline(module, instance.name, overrides={instance.name: instance})
    return str(module)


@pytest.mark.parametrize("reuse", [2, 3])
def test_formal_per_cycle(reuse):
    report = verify_steps(TWO_LAYERS, _steps(TWO_LAYERS, reuse))
    # layer 0's 3 rows over `reuse` cycles, layer 1's one row in cycle 0 (the others compute no row)
    assert [(layer.index, layer.kind.split(", ")[1]) for layer in report.layers] == \
        [(0, f"cycle {c} of {reuse}: rows {r}") for c, r in enumerate(["0..1", "2..2"] if reuse == 2 else
                                                                       ["0..0", "1..1", "2..2"])] + \
        [(1, f"cycle 0 of {reuse}: rows 0..0")]
    assert report.proven and report.exit_code == 0


def test_formal_per_cycle_counterexample():
    steps = _steps(TWO_LAYERS, 2)
    wrong = steps.replace("table = dense<[2, 1]>", "table = dense<[2, 3]>")  # row 2's bias + rounding, in cycle 1
    report = verify_steps(TWO_LAYERS, wrong)
    assert [layer.status for layer in report.layers] == ["proven", "counterexample", "proven"]
    assert report.layers[1].kind == "dense 2->1, cycle 1 of 2: rows 2..2" and report.exit_code == 1


def test_formal_per_cycle_rom_not_covered():
    report = verify_steps(TWO_LAYERS, _steps(TWO_LAYERS, 2, "rom"))
    assert {layer.status for layer in report.layers} == {"not covered"} and report.exit_code == 3


def test_formal_mixed_reuse(mixed_circuit, tmp_path):
    mixed_circuit.write(tmp_path / "out")
    report = verify_directory(tmp_path / "out")
    assert [layer.index for layer in report.layers] == [0] * 8 + [1] * 2 + [2]
    assert report.proven, report.summary()


@pytest.mark.sim
@requires_icarus
def test_fuzz_harness_finds_a_wrong_held_cycle(monkeypatch, tmp_path):
    """A layer below the period given the counter's low bits instead of min(counter, R_k - 1):
    the fuzzer's simulation catches it (run_steps, which does not see the wrapper, does not)."""
    from hardcore import time_multiplex
    from hardcore.fuzz import FuzzNetwork, run_time_multiplexed

    monkeypatch.setattr(time_multiplex, "_held_cycle", lambda body, cycle, count_bits, layer: body.emit(
        f"comb.extract {cycle} from 0 : (i{count_bits}) -> i{layer.cycle_bits}"))
    net = FuzzNetwork(text=TWO_LAYERS, name="two_layers", n_in=2, act_bits=3,
                      first_weight=np.array([[3, 0], [1, -1], [0, 2]]), reuse=(2, 3))
    mismatches, first = run_time_multiplexed(net, tmp_path, net.vectors(50, 0))
    assert mismatches > 0 and ", icarus [" in first and ", run_steps [" not in first
