"""Activations: clamps as exact saturations, the other functions as exact lookup tables.

The float checks prove that hardcore-import's `hardcore.activation` is torch's
function; the table checks that the quantized function is the float function
rounded at the output's scale on every input code; the Verilator checks that
the compiled circuits (combinational and pipelined) compute the reference
integers bit for bit.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import hardcore
from hardcore import backend
from hardcore.frontend import import_model
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import array_attr, body_ops, int_attr
from hardcore.mlir import new_context, parse_module
from hardcore.pipeline import run_pipeline
from hardcore.sim import simulate, tool_available

from conftest import assert_dag_is_reference, extreme_inputs


class Clamp(nn.Module):
    def __init__(self, low=None, high=None):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x):
        return torch.clamp(x, self.low, self.high)


class Relu6Function(nn.Module):
    """F.relu6 exports as aten.relu6 (nn.ReLU6 as aten.hardtanh)."""

    def forward(self, x):
        return torch.nn.functional.relu6(x)


# name -> (activation factory, what the quantized IR holds for it: "clamp" or "table")
ACTIVATIONS = {
    "relu6": (nn.ReLU6, "clamp"),
    "relu6_function": (Relu6Function, "clamp"),
    "hardtanh": (lambda: nn.Hardtanh(-0.5, 1.5), "clamp"),
    "clamp": (lambda: Clamp(-1.0, 0.75), "clamp"),
    "clamp_min": (lambda: Clamp(low=0.25), "clamp"),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), "table"),
    "hardsigmoid": (nn.Hardsigmoid, "table"),
    "hardswish": (nn.Hardswish, "table"),
    "sigmoid": (nn.Sigmoid, "table"),
    "tanh": (nn.Tanh, "table"),
}
# The activations Verilator runs in a Linear -> activation -> Linear model (each of the
# seven the issue names; the clamp variants share relu6's and hardtanh's lowering).
SIMULATED = ["relu6", "leaky_relu", "hardtanh", "hardsigmoid", "hardswish", "sigmoid", "tanh"]


def sandwich(name: str) -> nn.Module:
    """Linear(4, 6) -> activation -> Linear(6, 3), seeded."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), ACTIVATIONS[name][0](), nn.Linear(6, 3)).eval()


def quantized_ops(circuit) -> list[str]:
    module = parse_module(circuit.stages["quantized"], new_context())
    return [op.operation.name for op in body_ops(find_function(module.operation))]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_import_is_the_torch_function(name):
    """The imported float IR equals the torch model, through the activation, on random inputs."""
    model = sandwich(name)
    module = import_model(model, torch.zeros(1, 4), new_context())
    run_pipeline(module, "hardcore-import")
    assert "torch." not in str(module)
    ops = [op.operation.name for op in body_ops(find_function(module.operation))]
    assert ops == ["hardcore.dense", "hardcore.activation", "hardcore.dense", "func.return"]
    inputs = 3 * np.random.default_rng(0).standard_normal((256, 4)).astype(np.float32)
    expected = model(torch.from_numpy(inputs)).detach().numpy()
    actual = run_function(find_function(module.operation), inputs)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("act_bits", [8, 5])
def test_quantized_activation_is_the_rounded_function(name, act_bits):
    """On every input code, the quantized activation is f(x) at the output scale within half an LSB.

    The model is the activation alone, so its input is the quantized input port: every
    code of the act-bits range goes through it.  Output codes at the end of the range
    may saturate (by the one step that frac_bits_for allows).
    """
    torch.manual_seed(0)
    model = nn.Sequential(ACTIVATIONS[name][0]()).eval()
    calibration = 3 * np.random.default_rng(0).standard_normal((256, 1))
    circuit = hardcore.compile(model, torch.zeros(1, 1), act_bits=act_bits, calibration=calibration)
    assert ("hardcore.lut" in quantized_ops(circuit)) == (ACTIVATIONS[name][1] == "table")
    low, high = circuit.in_range
    codes = np.arange(low, high + 1)[:, None]
    x = torch.from_numpy(codes * 2.0 ** -circuit.in_frac_bits)  # float64: torch's function, exactly
    expected = model(x).detach().numpy()[:, 0] * 2.0 ** circuit.out_frac_bits
    actual = circuit.reference(codes)[:, 0]
    # signed act-bits when the function goes negative on some code, else unsigned
    out_low, out_high = (-(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1) if expected.min() < 0 else \
        (0, (1 << act_bits) - 1)
    assert actual.min() >= out_low and actual.max() <= out_high
    assert np.abs(actual - np.clip(expected, out_low, out_high)).max() <= 0.5 + 1e-9
    assert np.abs(actual - expected).max() <= 1.0  # saturation costs one step at most


def test_sigmoid_table_is_unsigned_and_uses_the_functions_range():
    """sigmoid on [-4, 4) stays in (0.018, 0.982): unsigned 8 bits at 2^-8, no saturation."""
    model = nn.Sequential(nn.Sigmoid()).eval()
    circuit = hardcore.compile(model, torch.zeros(1, 1), calibration=np.array([[-3.9], [3.9]]))
    assert circuit.in_frac_bits == 5 and circuit.out_frac_bits == 8
    module = parse_module(circuit.stages["quantized"], new_context())
    lut = next(op for op in body_ops(find_function(module.operation)) if op.operation.name == "hardcore.lut")
    table = array_attr(lut, "table")
    assert int_attr(lut, "min") == -128 and table.size == 256
    assert table[0] == 5 and table[128] == 128 and table[-1] == 251  # 0.0180, 0.5, 0.9813 at 2^-8
    assert np.all(np.diff(table) >= 0)
    assert str(lut.attributes["hardcore.kind"]) == '"sigmoid, 256 entries, frac bits 5 -> 8"'


def test_clamp_after_a_dense_layer_is_its_requantization():
    """Hardtanh(-0.5, 1.5) after a linear layer: no table, the requant saturates at the bounds."""
    model = nn.Sequential(nn.Linear(4, 6), nn.Hardtanh(-0.5, 1.5)).eval()
    torch.manual_seed(0)
    circuit = hardcore.compile(model, torch.zeros(1, 4),
                               calibration=3 * np.random.default_rng(0).standard_normal((256, 4)))
    module = parse_module(circuit.stages["quantized"], new_context())
    ops = body_ops(find_function(module.operation))
    assert [op.operation.name for op in ops] == ["hardcore.quantize", "hardcore.dense", "hardcore.requant",
                                                 "hardcore.dequantize", "func.return"]
    frac = circuit.out_frac_bits
    assert frac == 6  # 1.5 fits 8 signed bits at 2^-6 (96)
    assert (int_attr(ops[2], "min"), int_attr(ops[2], "max")) == (-32, 96)
    x = circuit.quantize_input(3 * np.random.default_rng(1).standard_normal((500, 4)))
    y = circuit.reference(x)
    assert y.min() == -32 and y.max() == 96  # both bounds reached, never passed


def test_relu6_after_a_dense_layer_is_unsigned():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU6()).eval()
    torch.manual_seed(0)
    circuit = hardcore.compile(model, torch.zeros(1, 4),
                               calibration=10 * np.random.default_rng(0).standard_normal((256, 4)))
    module = parse_module(circuit.stages["quantized"], new_context())
    requant = next(op for op in body_ops(find_function(module.operation)) if op.operation.name == "hardcore.requant")
    # 6 in unsigned 8 bits: 2^-5 (192 of 255)
    assert circuit.out_frac_bits == 5 and (int_attr(requant, "min"), int_attr(requant, "max")) == (0, 192)


class MutatedRead(nn.Module):
    """An in-place ReLU whose mutated tensor is read afterwards: the read must see relu(y)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        torch.relu_(y)
        return y


IN_PLACE = {
    "relu_relu6_hardswish": lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 6),
                                                  nn.ReLU6(inplace=True), nn.Linear(6, 3), nn.Hardswish(inplace=True)),
    "leaky_relu_hardtanh": lambda: nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.2, inplace=True), nn.Linear(6, 3),
                                                 nn.Hardtanh(-1.0, 1.0, inplace=True)),
    "mutated_read": MutatedRead,
}


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_activations_import_as_functions(name):
    """inplace=True activations (which torch-mlir cannot import) become their functional form."""
    torch.manual_seed(0)
    model = IN_PLACE[name]().eval()
    module = import_model(model, torch.zeros(1, 4), new_context())
    run_pipeline(module, "hardcore-import")
    inputs = 3 * np.random.default_rng(0).standard_normal((256, 4)).astype(np.float32)
    expected = model(torch.from_numpy(inputs)).detach().numpy()
    np.testing.assert_allclose(run_function(find_function(module.operation), inputs), expected, rtol=1e-5, atol=1e-6)
    circuit = hardcore.compile(model, torch.zeros(1, 4), calibration=inputs)
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.1 * np.abs(expected).max()


class LinearSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


def test_table_is_too_large_for_wide_activations():
    """act-bits 14: the table would need one entry per 14-bit code; the error is at the model's line."""
    model = LinearSigmoid().eval()
    with pytest.raises(hardcore.CompileError,
                       match=r"^\S*test_activations\.py:\d+:\d+: error: hardcore-quantize: a 'sigmoid' table on "
                             r"inputs \[-8192, 8191\] would have 16384 entries, more than the 4096 a table may "
                             r"hold \(act-bits 12 at most\)\n"
                             r"\(the IR and a command that reproduces this are in \S+\)$"):
        hardcore.compile(model, torch.zeros(1, 2), act_bits=14)


def test_clamp_with_min_above_max_is_rejected():
    with pytest.raises(hardcore.CompileError,
                       match=r"^\S*test_activations\.py:\d+:\d+: error: hardcore-import: clamp min 2\.0 is greater "
                             r"than max 1\.0\n\(the IR and a command that reproduces this are in \S+\)$"):
        hardcore.compile(Clamp(2.0, 1.0), torch.zeros(1, 2))


def test_report_counts_the_tables():
    circuit = hardcore.compile(sandwich("sigmoid"), torch.zeros(1, 4))
    report = circuit.report
    # one table per hidden element, each trimmed to the inputs its element can reach
    assert report["tables"] == 6 and 6 < report["table_entries"] <= 6 * 256
    assert hardcore.compile(sandwich("relu6"), torch.zeros(1, 4)).report["tables"] == 0


@pytest.fixture(scope="module")
def circuits():
    """Each simulated activation's sandwich, compiled combinational and pipelined (max_adder_depth=2)."""
    calibration = 2 * np.random.default_rng(1).standard_normal((256, 4))
    return {(name, depth): hardcore.compile(sandwich(name), torch.zeros(1, 4), calibration=calibration,
                                            max_adder_depth=depth)
            for name in SIMULATED for depth in (None, 2)}


@pytest.mark.parametrize("name", SIMULATED)
def test_dag_matches_reference_and_tracks_float(name, circuits, rng):
    circuit = circuits[(name, None)]
    assert_dag_is_reference(circuit, rng, 500)
    inputs = 2 * np.random.default_rng(2).standard_normal((500, 4))
    expected = sandwich(name)(torch.from_numpy(inputs).float()).detach().numpy()
    assert np.abs(circuit.predict(inputs) - expected).max() < 0.05 * np.abs(expected).max()


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("depth", [None, 2])
@pytest.mark.parametrize("name", SIMULATED)
def test_bit_exact_in_verilator(name, depth, circuits, tmp_path, rng):
    circuit = circuits[(name, depth)]
    assert (circuit.latency >= 2) == (depth is not None)
    low, high = circuit.in_range
    real = circuit.quantize_input(2 * np.random.default_rng(3).standard_normal((300, 4)))
    vectors = np.concatenate([real, rng.integers(low, high + 1, (300, 4)), extreme_inputs(4, low, high)])
    result = simulate(circuit.verilog, circuit.name, vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, latency=circuit.latency or None,
                      workdir=tmp_path)
    mismatches = int(np.any(result.outputs != circuit.reference(vectors), axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"
    print(f"\n{name} (max-adder-depth {depth}): {circuit.report['adders']} adders, "
          f"{circuit.report['tables']} tables of {circuit.report['table_entries']} entries, "
          f"latency {circuit.latency}, {len(vectors)} vectors bit-exact")


# -- random tables: fold-weights' trimming and to-hw's mux trees, property-based ------------

@st.composite
def table_networks(draw):
    """quantize -> dense -> [relu] -> requant -> lut [-> lut] -> dequantize, with random tables.

    The dense layer gives each element its own value range, so fold-weights trims each
    element's table differently; a second table reads the first's outputs.
    """
    act_bits = draw(st.integers(2, 7))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    low, high = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weight = rng.integers(-3, 4, (n_out, n_in))
    bias = rng.integers(-20, 21, n_out)
    relu = draw(st.booleans())
    shift = draw(st.integers(-1, 3))
    out_low, out_high = (0, (1 << act_bits) - 1) if relu else (low, high)
    width = act_bits + relu

    def entries(size):
        kind = draw(st.sampled_from(["random", "monotone", "steps", "constant"]))
        if kind == "random":
            return rng.integers(-40, 41, size)
        if kind == "monotone":
            return np.sort(rng.integers(-40, 41, size))
        if kind == "steps":
            return np.repeat(rng.integers(-3, 4, -(-size // 4)), 4)[:size]
        return np.full(size, int(rng.integers(-5, 6)))

    def text(array):
        return "[" + ", ".join(str(int(v)) for v in np.ravel(array)) + "]"

    lines = [f'%q = "hardcore.quantize"(%arg0) {{frac_bits = 0 : i64, min = {low} : i64, max = {high} : i64}} '
             f': (tensor<{n_in}xf32>) -> tensor<{n_in}xi{act_bits}>',
             f'%d = "hardcore.dense"(%q) {{weight = dense<[{", ".join(text(row) for row in weight)}]> : '
             f'tensor<{n_out}x{n_in}xi8>, bias = dense<{text(bias)}> : tensor<{n_out}xi64>}} '
             f': (tensor<{n_in}xi{act_bits}>) -> tensor<{n_out}xi32>']
    value = "%d"
    if relu:
        lines.append(f'%r = "hardcore.relu"(%d) : (tensor<{n_out}xi32>) -> tensor<{n_out}xi32>')
        value = "%r"
    lines.append(f'%s = "hardcore.requant"({value}) {{shift = {shift} : i64, min = {out_low} : i64, '
                 f'max = {out_high} : i64}} : (tensor<{n_out}xi32>) -> tensor<{n_out}xi{width}>')
    first = entries(out_high - out_low + 1)
    lines.append(f'%t = "hardcore.lut"(%s) {{min = {out_low} : i64, table = dense<{text(first)}> : '
                 f'tensor<{first.size}xi64>}} : (tensor<{n_out}xi{width}>) -> tensor<{n_out}xi7>')
    value = "%t"
    if draw(st.booleans()):
        second = entries(int(first.max() - first.min()) + 1)
        lines.append(f'%u = "hardcore.lut"(%t) {{min = {int(first.min())} : i64, table = dense<{text(second)}> : '
                     f'tensor<{second.size}xi64>}} : (tensor<{n_out}xi7>) -> tensor<{n_out}xi7>')
        value = "%u"
    lines.append(f'%f = "hardcore.dequantize"({value}) {{frac_bits = 0 : i64}} '
                 f': (tensor<{n_out}xi7>) -> tensor<{n_out}xf32>')
    body = "\n  ".join(lines)
    module = (f"func.func @net(%arg0: tensor<{n_in}xf32>) -> tensor<{n_out}xf32> {{\n  {body}\n"
              f"  return %f : tensor<{n_out}xf32>\n}}\n")
    return module, n_in, (low, high)


def _all_inputs(n_in, bounds, seed):
    """Every input code on every element (and random mixes): each table sees its whole range."""
    low, high = bounds
    codes = np.arange(low, high + 1)
    rng = np.random.default_rng(seed)
    return np.concatenate([np.repeat(codes[:, None], n_in, axis=1), rng.integers(low, high + 1, (100, n_in))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_networks(), st.integers(0, 1000))
def test_fold_preserves_random_tables(network, seed):
    text, n_in, bounds = network
    quantized = parse_module(text, new_context())
    folded = parse_module(text, new_context())
    run_pipeline(folded, "hardcore-fold-weights")
    x = _all_inputs(n_in, bounds, seed)
    expected = run_function(find_function(quantized.operation), x, from_quantized=True)
    actual = run_function(find_function(folded.operation), x)  # checks every width too
    assert np.array_equal(actual.reshape(expected.shape), expected)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(network=table_networks(), pipelined=st.booleans())
def test_random_tables_match_in_icarus(network, pipelined, tmp_path):
    """The mux trees (any table minimum, size and contents; trimmed; combinational or pipelined)."""
    text, n_in, bounds = network
    quantized = parse_module(text, new_context())
    folded = parse_module(text, new_context())
    run_pipeline(folded, "hardcore-fold-weights" + (",hardcore-pipeline{max-adder-depth=1}" if pipelined else ""))
    function = find_function(folded.operation)
    latency = int_attr(function, "hardcore.latency") if pipelined else None
    out_type = function.type.results[0]
    verilog = backend.export_verilog(run_pipeline(folded, "hardcore-to-hw").module)
    x = _all_inputs(n_in, bounds, 0)
    expected = run_function(find_function(quantized.operation), x, from_quantized=True)
    sim = simulate(verilog, "net", x, n_in=n_in, in_width=bounds[1].bit_length() + 1,
                   n_out=out_type.shape[0], out_width=out_type.element_type.width, latency=latency,
                   workdir=tmp_path / f"net{abs(hash((text, pipelined)))}", simulator="icarus")
    assert np.array_equal(sim.outputs, expected.reshape(sim.outputs.shape))
