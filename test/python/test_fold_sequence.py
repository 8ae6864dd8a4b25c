"""Sequence-model ops through hardcore-fold-weights, -pipeline and -to-hw, on hand-written integer IR.

Each op (embedding, sub/mul_tensors, matmul, qsoftmax, qnorm, dense over rows)
is folded on its own and the DAG must equal the reference interpreter on the
quantized IR, on random and extreme inputs.  A small language model
(embedding -> qnorm -> Q, K, V as denses over rows -> Q·Kᵀ -> causal qsoftmax
-> P·V -> the last position -> logits -> argmax) runs in Verilator,
combinational and pipelined, with token ids on the unsigned port x: bit-exact
with the reference, ids past V - 1 reading row V - 1.  The tables follow the
quantization rules of docs/dialect.md ("Sequence models").
"""

import math

import numpy as np
import pytest
import torch

import hardcore
from hardcore import backend, formal
from hardcore.adder_graph import signed_width
from hardcore.baseline import baseline_verilog
from hardcore.compiler import Circuit, dag_figures
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import new_context, parse_module
from hardcore.pipeline import run_pipeline
from hardcore.sim import simulate, tool_available

from conftest import extreme_inputs, simulated

torch.set_num_threads(1)
requires_verilator = pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
requires_icarus = pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")


# -- quantized IR by hand -------------------------------------------------------------------------

def dense_text(values, element: str = "i64") -> str:
    values = np.asarray(values)
    body = np.array2string(values, separator=", ", threshold=1 << 30, max_line_width=1 << 30).replace("\n", "")
    return f"dense<{body}> : tensor<{'x'.join(str(d) for d in values.shape)}x{element}>"


def round_half_up(x) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def qsoftmax_attributes(n: int, act_bits: int, scale: float, low: int, high: int, causal: bool) -> str:
    """qsoftmax's attributes as hardcore-quantize chooses them, for rows of n at input scale `scale`."""
    f_e = act_bits
    d = np.arange(low - high, 1)
    zero = d[round_half_up(np.exp(scale * d) * 2.0 ** f_e) == 0]
    exp_min = max(low - high, -4095, int(zero.max()) if zero.size else low - high)
    exp_table = round_half_up(np.exp(scale * np.arange(exp_min, 1)) * 2.0 ** f_e)
    sum_shift = max(0, (n << f_e).bit_length() - (act_bits + 2))
    f_r = f_e + act_bits + 1 + math.ceil(math.log2(n))
    k = np.arange(((n << f_e) >> sum_shift) + 1)
    recip_table = round_half_up(2.0 ** f_r / np.maximum(k << sum_shift, 1 << f_e))
    return (f"causal = {int(causal)} : i64, exp_table = {dense_text(exp_table)}, exp_min = {exp_min} : i64, "
            f"sum_shift = {sum_shift} : i64, recip_table = {dense_text(recip_table)}, "
            f"shift = {f_r - act_bits} : i64, min = 0 : i64, max = {(1 << act_bits) - 1} : i64")


def qnorm_attributes(size: int, act_bits: int, q_max: int, rms: bool, f_y: int, eps: float = 1e-5) -> str:
    """qnorm's attributes as hardcore-quantize chooses them, for rows of `size` at frac bits 0."""
    sq_shift = max(0, q_max.bit_length() - (act_bits + 2))
    q = np.arange((q_max >> sq_shift) + 1) * 2.0 ** sq_shift
    if sq_shift:
        q[0] = 2.0 ** (sq_shift - 1)
    ratio = math.sqrt(size) / np.sqrt(np.maximum(q + eps * (size if rms else size ** 3), 1))
    f_r = 0
    while round_half_up(2.0 ** f_r * ratio[-1]) < 1 << (act_bits + 1):
        f_r += 1
    return (f"rms = {int(rms)} : i64, sq_shift = {sq_shift} : i64, "
            f"rsqrt_table = {dense_text(round_half_up(2.0 ** f_r * ratio))}, shift = {f_r - f_y} : i64, "
            f"min = {-(1 << (act_bits - 1))} : i64, max = {(1 << (act_bits - 1)) - 1} : i64")


def function_text(name: str, in_shape, low: int, high: int, body: str, result: str, result_type: str,
                  tokens: bool = False) -> str:
    """func @name: quantize (float in, or token ids: i64) -> body -> dequantize of `result`.

    `X` in the body stands for the quantized input's type.
    """
    shape = "x".join(str(d) for d in in_shape)
    argument = f"tensor<{shape}x{'i64' if tokens else 'f32'}>"
    quantized = f"tensor<{shape}xi{signed_width(low, high)}>"
    out_shape = result_type[len("tensor<"):].rsplit("x", 1)[0]
    return f'''func.func @{name}(%arg0: {argument}) -> tensor<{out_shape}xf32> {{
  %x = "hardcore.quantize"(%arg0) {{frac_bits = 0 : i64, min = {low} : i64, max = {high} : i64}} : ({argument}) -> {quantized}
{body.replace("X", quantized)}
  %out = "hardcore.dequantize"({result}) {{frac_bits = 0 : i64}} : ({result_type}) -> tensor<{out_shape}xf32>
  return %out : tensor<{out_shape}xf32>
}}
'''


def language_model(seed: int = 0, tokens: int = 4, vocabulary: int = 6, dim: int = 4) -> str:
    """embedding (with positions) -> qnorm -> Q, K, V (denses over rows) -> Q·Kᵀ -> causal qsoftmax -> P·V
    -> the last position -> a dense to the vocabulary -> argmax."""
    rng = np.random.default_rng(seed)
    t, v, d = tokens, vocabulary, dim
    table = rng.integers(-20, 21, (t, v, d))
    (wq, wk, wv), (bq, bk, bv) = ([rng.integers(-8, 8, (d, d)) for _ in range(3)],
                                  [rng.integers(-16, 17, d) for _ in range(3)])
    wo, bo = rng.integers(-8, 8, (v, d)), rng.integers(-16, 17, v)
    transpose = [j * d + i for i in range(d) for j in range(d)]
    row = f"tensor<{t}x{d}x"
    attention = 32 * 32 * d
    body = f'''  %e = "hardcore.embedding"(%x) {{table = {dense_text(table, "i8")}}} : (X) -> {row}i8>
  %n = "hardcore.qnorm"(%e) {{{qnorm_attributes(d, 6, d * (2 * 20 * (d - 1)) ** 2, False, 4)}}} : ({row}i8>) -> {row}i6>
  %q0 = "hardcore.dense"(%n) {{weight = {dense_text(wq, "i8")}, bias = {dense_text(bq, "i32")}}} : ({row}i6>) -> {row}i32>
  %q = "hardcore.requant"(%q0) {{shift = 5 : i64, min = -32 : i64, max = 31 : i64}} : ({row}i32>) -> {row}i6>
  %k0 = "hardcore.dense"(%n) {{weight = {dense_text(wk, "i8")}, bias = {dense_text(bk, "i32")}}} : ({row}i6>) -> {row}i32>
  %k = "hardcore.requant"(%k0) {{shift = 5 : i64, min = -32 : i64, max = 31 : i64}} : ({row}i32>) -> {row}i6>
  %kt = "hardcore.gather"(%k) {{indices = {dense_text(transpose)}}} : ({row}i6>) -> tensor<{d}x{t}xi6>
  %s = "hardcore.matmul"(%q, %kt) : ({row}i6>, tensor<{d}x{t}xi6>) -> tensor<{t}x{t}xi32>
  %p = "hardcore.qsoftmax"(%s) {{{qsoftmax_attributes(t, 6, 1 / 64, -attention, attention, True)}}} : (tensor<{t}x{t}xi32>) -> tensor<{t}x{t}xi7>
  %v0 = "hardcore.dense"(%n) {{weight = {dense_text(wv, "i8")}, bias = {dense_text(bv, "i32")}}} : ({row}i6>) -> {row}i32>
  %v = "hardcore.requant"(%v0) {{shift = 5 : i64, min = -32 : i64, max = 31 : i64}} : ({row}i32>) -> {row}i6>
  %a0 = "hardcore.matmul"(%p, %v) : (tensor<{t}x{t}xi7>, {row}i6>) -> {row}i32>
  %a = "hardcore.requant"(%a0) {{shift = 6 : i64, min = -32 : i64, max = 31 : i64}} : ({row}i32>) -> {row}i6>
  %last = "hardcore.gather"(%a) {{indices = {dense_text(list(range((t - 1) * d, t * d)))}}} : ({row}i6>) -> tensor<{d}xi6>
  %logits = "hardcore.dense"(%last) {{weight = {dense_text(wo, "i8")}, bias = {dense_text(bo, "i32")}}} : (tensor<{d}xi6>) -> tensor<{v}xi32>
  %y = "hardcore.argmax"(%logits) : (tensor<{v}xi32>) -> tensor<1xi4>'''
    return function_text("language_model", [t], 0, v - 1, body, "%y", "tensor<1xi4>", tokens=True)


def circuit_of(text: str, max_adder_depth: int | None = None) -> Circuit:
    """A Circuit from quantized IR: hardcore-fold-weights, [-pipeline], -to-hw and the Verilog export
    (its ports and figures; no per-layer entries)."""
    module = parse_module(text, new_context())
    quantized = parse_module(text, new_context())
    quantize = body_ops(find_function(quantized.operation))[0]
    stages = {"quantized": text}
    run_pipeline(module, "hardcore-fold-weights")
    stages["dag"] = module.operation.get_asm(large_elements_limit=None)
    if max_adder_depth is not None:
        run_pipeline(module, f"hardcore-pipeline{{max-adder-depth={max_adder_depth}}}")
        stages["pipelined"] = module.operation.get_asm(large_elements_limit=None)
    function = find_function(module.operation)
    in_type, out_type = function.type.inputs[0], function.type.results[0]
    in_unsigned = "hardcore.input_unsigned" in function.attributes
    out_unsigned = "hardcore.output_unsigned" in function.attributes
    latency = int_attr(function, "hardcore.latency") if max_adder_depth is not None else 0
    verilog = backend.export_verilog(run_pipeline(module, "hardcore-to-hw,hw.module(cse)").module)
    return Circuit(name=function.name.value, verilog=verilog, stages=stages, in_shape=list(in_type.shape),
                   in_width=in_type.element_type.width - in_unsigned, in_frac_bits=0,
                   in_range=(int_attr(quantize, "min"), int_attr(quantize, "max")), out_shape=list(out_type.shape),
                   out_width=out_type.element_type.width - out_unsigned, out_frac_bits=0, layers=[], options={},
                   figures=dag_figures(stages["dag"]), latency=latency, out_signed=not out_unsigned,
                   in_signed=not in_unsigned)


def assert_folds_exactly(text: str, rng, count: int = 300):
    """The DAG after hardcore-fold-weights equals the quantized IR on random and extreme inputs, bit for bit;
    returns the folded module."""
    module = parse_module(text, new_context())
    quantized = find_function(module.operation)
    low, high = int_attr(body_ops(quantized)[0], "min"), int_attr(body_ops(quantized)[0], "max")
    size = int(np.prod(quantized.type.inputs[0].shape))
    x = np.concatenate([rng.integers(low, high + 1, (count, size)), extreme_inputs(size, low, high)])
    expected = run_function(quantized, x, from_quantized=True).reshape(len(x), -1)
    run_pipeline(module, "hardcore-fold-weights")
    dag = run_function(find_function(module.operation), x).reshape(len(x), -1)
    assert np.array_equal(dag, expected)
    return module


def dag_ops(module, name: str) -> int:
    return sum(op.operation.name == name for op in body_ops(find_function(module.operation)))


# -- each op on its own: the DAG is the reference ----------------------------------------------------

@pytest.mark.parametrize("positions", [1, 3])
@pytest.mark.parametrize("ids", [(0, 4), (0, 9), (-3, 4)], ids=["vocabulary", "past-V", "negative"])
def test_embedding(positions, ids, rng):
    table = rng.integers(-50, 51, (positions, 5, 2))
    table[:, :, 1] = 7  # a column that is one value: a constant, no table
    body = f'''  %y = "hardcore.embedding"(%x) {{table = {dense_text(table, "i8")}}} : (X) -> tensor<3x2xi8>'''
    module = assert_folds_exactly(function_text("embedding", [3], *ids, body, "%y", "tensor<3x2xi8>"), rng)
    assert dag_ops(module, "hardcore.table") == 3  # one per token: column 1 is the constant 7
    assert dag_ops(module, "hardcore.clamp") == (3 if ids[0] < 0 else 0)  # ids past V - 1 read row V - 1


def test_token_ids_take_an_unsigned_port(rng):
    """Ids of a 6-word vocabulary: port x holds 3 unsigned bits each; the DAG reads 6 and 7 as 5."""
    table = rng.integers(-50, 51, (1, 6, 2))
    body = f'''  %y = "hardcore.embedding"(%x) {{table = {dense_text(table, "i8")}}} : (X) -> tensor<2x2xi8>'''
    text = function_text("tokens", [2], 0, 5, body, "%y", "tensor<2x2xi8>", tokens=True)
    circuit = circuit_of(text)
    assert (circuit.in_signed, circuit.in_width, circuit.report["ports"]["x"]["signed"]) == (False, 3, False)
    assert "input  [5:0]  x," in circuit.verilog
    module = parse_module(circuit.stages["dag"], new_context())
    ids = np.array([[0, 5], [6, 7], [7, 3]])
    assert np.array_equal(run_function(find_function(module.operation), ids).reshape(3, -1),
                          circuit.reference(np.minimum(ids, 5)))
    assert np.array_equal(circuit.to_port([[0, 3, 4, 7]]), [[0, 3, -4, -1]])


def test_sub_and_mul_tensors(rng):
    """A product with a constant operand (a neuron of zero weights) is a shift/add constant multiply."""
    weight = rng.integers(-3, 4, (4, 4))
    weight[1] = 0  # d[1] is its bias, 3: 3 * s[1] is a shift and an add, not a multiplier
    body = f'''  %d = "hardcore.dense"(%x) {{weight = {dense_text(weight, "i8")}, bias = {dense_text([1, 3, -2, 0], "i32")}}} : (X) -> tensor<4xi32>
  %s = "hardcore.sub_tensors"(%d, %x) : (tensor<4xi32>, X) -> tensor<4xi32>
  %p = "hardcore.mul_tensors"(%d, %s) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>'''
    module = assert_folds_exactly(function_text("sub_mul", [4], -16, 15, body, "%p", "tensor<4xi32>"), rng)
    assert dag_ops(module, "hardcore.mul") == 3
    layers = find_function(module.operation).attributes["hardcore.layers"]
    assert [str(layer["kind"]) for layer in list(layers)[1:]] == ['"subtract 4"', '"multiply 4"']
    assert int(layers[2]["multipliers"].value) == 3


def test_matmul_batched(rng):
    """[2, 3, 4] x [2, 4, 2]: per output 4 multipliers and 3 adders (exact widths: 5-bit operands)."""
    body = '''  %l = "hardcore.gather"(%x) {indices = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]> : tensor<24xi64>} : (X) -> tensor<2x3x4xi5>
  %r = "hardcore.gather"(%x) {indices = dense<[24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39]> : tensor<16xi64>} : (X) -> tensor<2x4x2xi5>
  %y = "hardcore.matmul"(%l, %r) : (tensor<2x3x4xi5>, tensor<2x4x2xi5>) -> tensor<2x3x2xi32>'''
    module = assert_folds_exactly(function_text("matmul", [40], -16, 15, body, "%y", "tensor<2x3x2xi32>"), rng)
    assert (dag_ops(module, "hardcore.mul"), dag_ops(module, "hardcore.add")) == (48, 36)
    layer = find_function(module.operation).attributes["hardcore.layers"][0]
    assert {key: int(layer[key].value) for key in ("multipliers", "multiplier_bits", "adders", "adder_depth")} == \
        {"multipliers": 48, "multiplier_bits": 48 * 10, "adders": 36, "adder_depth": 2}


@pytest.mark.parametrize("shape,causal", [((3, 5), False), ((3, 5), True), ((4, 4), True), ((6,), False)])
@pytest.mark.parametrize("act_bits,scale", [(4, 1 / 4), (6, 1 / 16)])
def test_qsoftmax(shape, causal, act_bits, scale, rng):
    """Per row: the max tree, subtractors, clamps, exp tables, sum, reciprocal table, products."""
    n, text_shape = shape[-1], "x".join(str(d) for d in shape)
    body = f'''  %r = "hardcore.reshape"(%x) : (X) -> tensor<{text_shape}xi6>
  %y = "hardcore.qsoftmax"(%r) {{{qsoftmax_attributes(n, act_bits, scale, -32, 31, causal)}}} : (tensor<{text_shape}xi6>) -> tensor<{text_shape}xi{act_bits + 1}>'''
    text = function_text("qsoftmax", [int(np.prod(shape))], -32, 31, body, "%y", f"tensor<{text_shape}xi{act_bits + 1}>")
    module = assert_folds_exactly(text, rng)
    rows = int(np.prod(shape[:-1]))
    kept = int(np.sum(np.tril(np.ones((rows, n)), n - rows))) if causal else rows * n
    single = sum(1 for i in range(rows) if causal and i + n - rows == 0)  # a row of one entry: constants
    assert dag_ops(module, "hardcore.mul") == kept - single


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("size", [3, 4])
def test_qnorm(rms, size, rng):
    """Per row: centring (sum tree, D·x_j a constant multiply, one subtractor), squares, sum, rsqrt table, products."""
    rows = 2
    q_max = size * (2 * 16 * (size - 1) if not rms else 16) ** 2
    body = f'''  %r = "hardcore.reshape"(%x) : (X) -> tensor<{rows}x{size}xi6>
  %y = "hardcore.qnorm"(%r) {{{qnorm_attributes(size, 6, q_max, rms, 3)}}} : (tensor<{rows}x{size}xi6>) -> tensor<{rows}x{size}xi6>'''
    module = assert_folds_exactly(function_text("qnorm", [rows * size], -16, 15, body, "%y",
                                                f"tensor<{rows}x{size}xi6>"), rng)
    assert dag_ops(module, "hardcore.mul") == 2 * rows * size  # the squares and the products
    assert dag_ops(module, "hardcore.table") == rows


def test_dense_over_rows(rng):
    """Rows of one dense share the solved matrix; a row with a constant input gets its own graph."""
    weight = rng.integers(-7, 8, (3, 4))
    first = rng.integers(-3, 4, (8, 8))
    first[6] = 0  # element 6, row 1's column 2, is a constant
    body = f'''  %a = "hardcore.dense"(%x) {{weight = {dense_text(first, "i8")}, bias = {dense_text(np.arange(8) - 4, "i32")}}} : (X) -> tensor<8xi32>
  %b = "hardcore.requant"(%a) {{shift = 2 : i64, min = -16 : i64, max = 15 : i64}} : (tensor<8xi32>) -> tensor<8xi5>
  %r = "hardcore.reshape"(%b) : (tensor<8xi5>) -> tensor<2x4xi5>
  %y = "hardcore.dense"(%r) {{weight = {dense_text(weight, "i8")}, bias = {dense_text([5, -5, 0], "i32")}}} : (tensor<2x4xi5>) -> tensor<2x3xi32>'''
    module = assert_folds_exactly(function_text("rows", [8], -16, 15, body, "%y", "tensor<2x3xi32>"), rng)
    layer = find_function(module.operation).attributes["hardcore.layers"][1]
    assert {key: int(layer[key].value) for key in ("inputs", "outputs", "weights")} == \
        {"inputs": 8, "outputs": 6, "weights": 12}


# -- a small language model: DAG, figures, Verilog ---------------------------------------------------

@pytest.fixture(scope="module")
def language_model_text():
    return language_model()


def test_language_model_folds_exactly(language_model_text, rng):
    module = assert_folds_exactly(language_model_text, rng)
    function = find_function(module.operation)
    assert "hardcore.input_unsigned" in function.attributes and "hardcore.output_unsigned" in function.attributes
    assert [str(layer["kind"]) if "kind" in layer else None for layer in function.attributes["hardcore.layers"]] == [
        '"embedding 6x4, 4 positions"', '"qnorm 4x4, layernorm"', None, None, '"matmul 4x4 x 4x4"',
        '"qsoftmax 4x4, causal"', None, '"matmul 4x4 x 4x4"', None, None]
    figures = dag_figures(module.operation.get_asm(large_elements_limit=None))
    # qnorm of every row (the keys and values read them); Q·Kᵀ, the softmax and P·V of the last row only:
    # the other rows reach no output, and the sweep of dead ops left them out.
    assert figures["multipliers"] == dag_ops(module, "hardcore.mul") == 32 + 16 + 4 + 16


def test_language_model_figures_in_the_report(language_model_text):
    circuit = circuit_of(language_model_text)
    report = circuit.report
    assert report["ports"]["x"] == {"elements": 4, "shape": [4], "element_width": 3, "bits": 12, "frac_bits": 0,
                                    "min": 0, "max": 5, "signed": False,
                                    "layout": "element i at bits [i*element_width +: element_width], "
                                              "unsigned: a token id"}
    assert report["multipliers"] == 68 and report["multiplier_bits"] > 0


@pytest.mark.sim
@requires_verilator
@pytest.mark.parametrize("max_adder_depth", [None, 4], ids=["combinational", "pipelined"])
def test_language_model_bit_exact_in_verilator(language_model_text, max_adder_depth, tmp_path, rng):
    """Token ids on the unsigned port: the Verilog equals the reference; ids 6 and 7 read row 5."""
    circuit = circuit_of(language_model_text, max_adder_depth)
    ids = np.concatenate([rng.integers(0, 6, (400, 4)), extreme_inputs(4, 0, 5), rng.integers(0, 8, (100, 4))])
    outputs = simulated(circuit, ids, tmp_path)
    assert np.array_equal(outputs, circuit.reference(np.minimum(ids, 5)))
    assert len(np.unique(outputs)) > 2  # the ids decide the answer


@pytest.mark.sim
@requires_icarus
def test_baseline_computes_the_same_integers(language_model_text, tmp_path, rng):
    """The '*' baseline of `hardcore report --synth` writes every sequence op out (products as `*`, tables
    as comparisons) and takes token ids on the same unsigned port: the same integers, in Icarus."""
    circuit = circuit_of(language_model_text)
    verilog = baseline_verilog(language_model_text, "plain", circuit.out_width)
    assert "input  [11:0] x," in verilog and verilog.count(" * ") >= 141
    ids = np.concatenate([rng.integers(0, 6, (150, 4)), rng.integers(0, 8, (50, 4))])
    result = simulate(verilog, "plain", circuit.to_port(ids), n_in=4, in_width=circuit.in_width, n_out=1,
                      out_width=circuit.out_width, workdir=tmp_path, simulator="icarus")
    assert np.array_equal(circuit.from_port(result.outputs), circuit.reference(np.minimum(ids, 5)))


@pytest.mark.parametrize("max_adder_depth", [None, 4], ids=["combinational", "pipelined"])
def test_formal_proves_what_it_covers(language_model_text, max_adder_depth):
    """`hardcore verify --formal`: the embedding by enumeration and the dense layers and the argmax by Z3
    are proven; layers with products of activations say plainly that they are not covered (exit 3)."""
    circuit = circuit_of(language_model_text, max_adder_depth)
    report = formal.verify(language_model_text, circuit.stages["pipelined" if max_adder_depth else "dag"])
    assert [(layer.kind, layer.status) for layer in report.layers] == [
        ("embedding", "proven"), ("qnorm", "not covered"), ("dense 4->4", "proven"), ("dense 4->4", "proven"),
        ("matmul", "not covered"), ("qsoftmax", "not covered"), ("dense 4->4", "proven"), ("matmul", "not covered"),
        ("dense 4->6", "proven"), ("argmax", "proven")]
    assert report.layers[0].method == "enumerated 24 input values"
    assert report.layers[2].checked == 4  # only the last position's query reaches the output
    assert report.layers[4].summary() == (
        "layer 4 (matmul): not covered: products of two activations (hardcore.mul) are outside the linear "
        "integer arithmetic this proof works in (--verify-each and simulation check this layer)")
    assert (report.proven, report.exit_code) == (False, 3)
    assert report.summary().endswith("10 layers: 6 proven, 4 not covered")


def test_formal_finds_a_changed_embedding_entry(language_model_text):
    circuit = circuit_of(language_model_text)
    dag = circuit.stages["dag"]
    entries = dag.index("dense<[", dag.index('"hardcore.table"')) + len("dense<[")
    changed = dag[:entries] + "99" + dag[dag.index(",", entries):]  # the first token's first column, id 0
    report = formal.verify(language_model_text, changed)
    layer = report.layers[0]
    assert (layer.status, layer.reason) == ("counterexample", "the folded step computes another function")
    assert (layer.inputs, layer.mismatches, layer.expected[0], report.exit_code) == ([0, 0, 0, 0], [0], 14, 1)


# -- errors ---------------------------------------------------------------------------------------

QSOFTMAX_WITHOUT_ZERO = ("causal = 0 : i64, exp_table = dense<[1, 2, 4]> : tensor<3xi64>, exp_min = -3 : i64, "
                         "sum_shift = 0 : i64, recip_table = dense<[1]> : tensor<1xi64>, shift = 0 : i64, "
                         "min = 0 : i64, max = 7 : i64")


@pytest.mark.parametrize("in_shape,body,result_type,message", [
    ((4,), '"hardcore.embedding"(%x) {table = dense<0.5> : tensor<2x3x1xf32>} : (X) -> tensor<4x1xf32>',
     "tensor<4x1xf32>", "the table is not integer (run hardcore-quantize first)"),
    ((4,), '"hardcore.embedding"(%x) {table = dense<1> : tensor<2x3x1xi8>} : (X) -> tensor<4x1xi8>',
     "tensor<4x1xi8>", "the table has 2 positions for 4 tokens"),
    ((2, 3), '"hardcore.matmul"(%x, %x) : (X, X) -> tensor<2x3xi32>',
     "tensor<2x3xi32>", "cannot multiply 2x3 by 2x3 (expected ...xMxK and ...xKxN)"),
    ((4,), f'"hardcore.qsoftmax"(%x) {{{QSOFTMAX_WITHOUT_ZERO}}} : (X) -> tensor<4xi4>',
     "tensor<4xi4>", "the exp table covers [-3, -1], not [exp_min, 0]"),
    ((4,), '"hardcore.dense"(%x) {weight = dense<1> : tensor<2x3xi8>, bias = dense<0> : tensor<2xi32>} '
           ': (X) -> tensor<2xi32>',
     "tensor<2xi32>", "an operand of 4 elements is not rows of the weight's 3 columns"),
], ids=["float-table", "positions", "matmul-shapes", "exp-table", "dense-rows"])
def test_fold_errors(in_shape, body, result_type, message):
    text = function_text("bad", list(in_shape), -8, 7, f"  %y = {body}", "%y", result_type)
    with pytest.raises(hardcore.CompileError) as info:
        run_pipeline(parse_module(text, new_context()), "hardcore-fold-weights")
    assert [d.message for d in info.value.diagnostics] == [f"hardcore-fold-weights: {message}"]
