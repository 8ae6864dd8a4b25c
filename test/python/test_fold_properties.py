"""Property-based: random quantized networks fold to DAGs that compute the same integers.

Networks are drawn with hypothesis: layer sizes, weight widths 2-8, weights with
all-zero rows and columns, ±2^k entries and extreme values, biases, ReLU or
not, requantization shifts of either sign.  Each is folded, run through the
reference interpreter on random and extreme inputs (which also checks every
width holds its value), and a few are simulated in Icarus.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardcore import backend
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.pipeline import run_pipeline
from hardcore.sim import simulate, tool_available

from conftest import extreme_inputs


def _dense_text(array) -> str:
    return "[" + ", ".join(_dense_text(a) if np.ndim(a) else str(int(a)) for a in array) + "]"


@st.composite
def matrices(draw, rows, cols, bits):
    kind = draw(st.sampled_from(["uniform", "powers", "sparse", "extreme"]))
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        matrix = rng.integers(low, high + 1, (rows, cols))
    elif kind == "powers":
        matrix = rng.choice([-1, 1], (rows, cols)) * (1 << rng.integers(0, bits - 1, (rows, cols)))
    elif kind == "sparse":
        matrix = rng.integers(low, high + 1, (rows, cols)) * (rng.random((rows, cols)) < 0.2)
    else:
        matrix = rng.choice([low, high, 0, -1, 1], (rows, cols))
    if draw(st.booleans()):
        matrix[rng.integers(0, rows)] = 0  # an all-zero row
    if cols > 1 and draw(st.booleans()):
        matrix[:, rng.integers(0, cols)] = 0  # an all-zero column
    return matrix


@st.composite
def networks(draw):
    act_bits = draw(st.integers(2, 8))
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    lines, value, width = [], "%q", act_bits
    low, high = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    lines.append(f'%q = "hardcore.quantize"(%arg0) {{frac_bits = 0 : i64, min = {low} : i64, max = {high} : i64}} '
                 f': (tensor<{sizes[0]}xf32>) -> tensor<{sizes[0]}xi{act_bits}>')
    for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        weight_bits = draw(st.integers(2, 8))
        matrix = draw(matrices(fan_out, fan_in, weight_bits))
        bias = draw(st.lists(st.integers(-5000, 5000), min_size=fan_out, max_size=fan_out))
        relu = draw(st.booleans())
        shift = draw(st.integers(-2, 10))
        out_low, out_high = (0, (1 << act_bits) - 1) if relu else (low, high)
        out_width = act_bits + 1 if relu else act_bits
        lines.append(f'%d{index} = "hardcore.dense"({value}) {{weight = dense<{_dense_text(matrix)}> : '
                     f'tensor<{fan_out}x{fan_in}xi8>, bias = dense<{_dense_text(bias)}> : tensor<{fan_out}xi64>}} '
                     f': (tensor<{fan_in}xi{width}>) -> tensor<{fan_out}xi64>')
        value = f"%d{index}"
        if relu:
            lines.append(f'%r{index} = "hardcore.relu"({value}) : (tensor<{fan_out}xi64>) -> tensor<{fan_out}xi64>')
            value = f"%r{index}"
        lines.append(f'%s{index} = "hardcore.requant"({value}) {{shift = {shift} : i64, min = {out_low} : i64, '
                     f'max = {out_high} : i64}} : (tensor<{fan_out}xi64>) -> tensor<{fan_out}xi{out_width}>')
        value, width = f"%s{index}", out_width
    lines.append(f'%f = "hardcore.dequantize"({value}) {{frac_bits = 0 : i64}} '
                 f': (tensor<{sizes[-1]}xi{width}>) -> tensor<{sizes[-1]}xf32>')
    body = "\n  ".join(lines)
    text = (f"func.func @net(%arg0: tensor<{sizes[0]}xf32>) -> tensor<{sizes[-1]}xf32> {{\n  {body}\n"
            f"  return %f : tensor<{sizes[-1]}xf32>\n}}\n")
    return text, sizes, (low, high)


def fold(text):
    quantized = parse_module(text, new_context())
    folded = parse_module(text, new_context())
    run_pipeline(folded, "hardcore-fold-weights")
    return quantized, folded


def inputs_for(sizes, bounds, seed):
    low, high = bounds
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(low, high + 1, (200, sizes[0])), extreme_inputs(sizes[0], low, high)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 1000))
def test_fold_preserves_the_integers(network, seed):
    text, sizes, bounds = network
    quantized, folded = fold(text)
    x = inputs_for(sizes, bounds, seed)
    expected = run_function(find_function(quantized.operation), x, from_quantized=True)
    actual = run_function(find_function(folded.operation), x)  # raises on any too-narrow width
    assert np.array_equal(actual.reshape(expected.shape), expected)


@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(network=networks())
def test_folded_verilog_matches_in_icarus(network, tmp_path):
    text, sizes, bounds = network
    quantized, folded = fold(text)
    out_width = find_function(folded.operation).type.results[0].element_type.width
    verilog = backend.export_verilog(run_pipeline(folded, "hardcore-to-hw").module)
    x = inputs_for(sizes, bounds, 0)
    expected = run_function(find_function(quantized.operation), x, from_quantized=True)
    sim = simulate(verilog, "net", x, n_in=sizes[0], in_width=bounds[1].bit_length() + 1, n_out=sizes[-1],
                   out_width=out_width, workdir=tmp_path / f"net{abs(hash(text))}", simulator="icarus")
    assert np.array_equal(sim.outputs, expected.reshape(sim.outputs.shape))
