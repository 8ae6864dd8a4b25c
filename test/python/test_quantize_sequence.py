"""hardcore-quantize on sequence-model ops: each quantized op against its float op, within its stated bound.

Every test starts from hand-written float layer IR (the import of transformers
is tested elsewhere), quantizes it, and runs both in the reference
interpreter on inputs of the quantized input's grid (x = code * 2^-f_in), so
the input's own rounding is exact and what is measured is the op's error,
which docs/dialect.md ("Sequence models") bounds.  `--verify-each` checks
the same bounds layer by layer; the tests at the end break the pass on
purpose and pin what it says.
"""

import re

import numpy as np
import pytest
import torch

from hardcore.errors import CompileError
from hardcore.interpreter import causal_mask, find_function, run_function
from hardcore.irutil import array_attr, body_ops, dense_attr, i64_attr, int_attr, int_type
from hardcore.mlir import new_context, parse_module
from hardcore.passes import QuantizePass
from hardcore.pipeline import run_pipeline
from hardcore.verify import VerificationError, qnorm_bound, qsoftmax_bound

torch.set_num_threads(1)

ROWS = 2000  # rows of random inputs each bound is measured on


def quantized(text: str, **options):
    """(float module, quantized module) of `text`; options go to QuantizePass (calibration_data, config_data...)."""
    float_module = parse_module(text, new_context())
    module = parse_module(text, new_context())
    run_pipeline(module, "hardcore-quantize", overrides={"hardcore-quantize": QuantizePass(**options)})
    return float_module, module


def ops_of(module) -> dict:
    """The ops of the module's function by name (the last of each name)."""
    return {op.operation.name: op for op in body_ops(find_function(module.operation))}


def grid_inputs(module, shape, rng, scale=None):
    """Inputs on the quantized input's grid: uniform codes, or scale * standard normal rounded to codes."""
    quantize = ops_of(module)["hardcore.quantize"]
    frac, low, high = (int_attr(quantize, key) for key in ("frac_bits", "min", "max"))
    if scale is None:
        codes = rng.integers(low, high + 1, shape)
    else:
        codes = np.clip(np.floor(rng.standard_normal(shape) * scale * 2.0 ** frac + 0.5), low, high)
    return codes * 2.0 ** -frac


def both(float_module, module, x):
    return run_function(find_function(float_module.operation), x), run_function(find_function(module.operation), x)


def out_frac(module) -> int:
    return int_attr(ops_of(module)["hardcore.dequantize"], "frac_bits")


# -- token inputs and embeddings -----------------------------------------------------------------

EMBEDDING = '''func.func @embed(%arg0: tensor<3xi64>) -> tensor<3x2xf32> {
  %0 = "hardcore.embedding"(%arg0) {table = dense<[[[0.5, -1.0], [0.25, 0.75], [-0.125, 0.0], [1.5, 0.5], [0.0, 0.3]],
    [[0.1, -0.2], [0.25, 0.7], [-0.9, 0.0], [1.2, 0.5], [0.0, 0.3]], [[0.5, -1.0], [0.2, 0.7], [-0.1, 0.0], [1.1, 0.5],
    [0.0, 0.3]]]> : tensor<3x5x2xf32>} : (tensor<3xi64>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}'''


def test_token_ids_pass_unchanged_and_read_their_rows():
    """frac bits 0 in [0, V-1] (i4 for V = 5); every id, and ids past the vocabulary (they read row V - 1 in
    both), gives the float table's row within half a step (the largest entry saturating by one at most)."""
    float_module, module = quantized(EMBEDDING)
    quantize = ops_of(module)["hardcore.quantize"]
    assert [int_attr(quantize, key) for key in ("frac_bits", "min", "max")] == [0, 0, 4]
    assert str(quantize.results[0].type) == "tensor<3xi4>"
    ids = np.array([[a, b, c] for a in range(5) for b in range(5) for c in range(5)] + [[7, 5, 9]])
    expected, actual = both(float_module, module, ids)
    step = 2.0 ** -out_frac(module)
    assert out_frac(module) == 6  # 1.5 at 8 signed bits
    assert np.abs(actual - expected).max() <= 0.5 * step
    assert np.array_equal(actual[-1], actual[np.flatnonzero((ids == [4, 4, 4]).all(axis=1))[0]])


def test_token_calibration_data_must_be_ids():
    """Calibration data of ids: integers in [0, V-1], else an error at the function."""
    _, module = quantized(EMBEDDING, calibration_data=np.array([[0, 1, 2], [4, 3, 0]]))
    assert int_attr(ops_of(module)["hardcore.quantize"], "max") == 4
    for data, bad in ((np.array([[0, 1.5, 2]]), "1.5"), (np.array([[0, 5, 2]]), "5"), (np.array([[-1, 0, 2]]), "-1")):
        with pytest.raises(CompileError, match=rf"^<stdin>:1:1: error: hardcore-quantize: calibration data for token "
                                               rf"ids must hold integers in \[0, 4\] \(the vocabulary\), got {bad}$"):
            quantized(EMBEDDING, calibration_data=data)


def test_a_quantized_token_function_is_left_alone():
    """Its input is integer, but so is a function of token ids: what says "quantized" is the hardcore.quantize."""
    _, module = quantized(EMBEDDING)
    text = str(module)
    run_pipeline(module, "hardcore-quantize")
    assert str(module) == text


# -- dense over rows, differences, products ------------------------------------------------------

def test_dense_over_rows_is_the_dense_on_each_row():
    """A dense over [4, 3] is, row by row, bit for bit the dense over [3] calibrated on the same rows
    (per-channel weight scales: the shift array repeats for each row)."""
    weight = "dense<[[1.0, -1.5, 0.25], [0.0625, 0.03125, -0.1]]> : tensor<2x3xf32>"
    rows_text = f'''func.func @rows(%arg0: tensor<4x3xf32>) -> tensor<4x2xf32> {{
  %0 = "hardcore.dense"(%arg0) {{weight = {weight}, bias = dense<[0.5, -0.25]> : tensor<2xf32>}} : (tensor<4x3xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}}'''
    row_text = rows_text.replace("tensor<4x3xf32>", "tensor<3xf32>").replace("tensor<4x2xf32>", "tensor<2xf32>")
    calibration = np.random.default_rng(0).standard_normal((64, 4, 3))
    _, rows = quantized(rows_text, calibration_data=calibration, weight_scale="per-channel")
    _, row = quantized(row_text, calibration_data=calibration.reshape(-1, 3), weight_scale="per-channel")
    assert array_attr(ops_of(rows)["hardcore.requant"], "shift").tolist() == [7, 11] * 4
    x = grid_inputs(rows, (100, 4, 3), np.random.default_rng(1))
    by_rows = run_function(find_function(rows.operation), x)
    by_row = run_function(find_function(row.operation), x.reshape(-1, 3)).reshape(by_rows.shape)
    assert np.array_equal(by_rows, by_row)


@pytest.mark.parametrize("op, relu", [("sub_tensors", False), ("sub_tensors", True), ("mul_tensors", False),
                                       ("mul_tensors", True), ("matmul", False)])
def test_exact_operands_give_half_a_step(op, relu):
    """x - perm(x), x * perm(x) (after a ReLU: unsigned) and x @ x^T: the operands are the input itself, so
    the only rounding is the requantization's, half an output step (saturated to act-bits)."""
    perm = "dense<[5, 4, 3, 2, 1, 0]> : tensor<6xi64>" if op != "matmul" else \
        "dense<[0, 3, 1, 4, 2, 5]> : tensor<6xi64>"
    shape, out = ("2x3", "2x3") if op != "matmul" else ("2x3", "2x2")
    rhs_shape = shape if op != "matmul" else "3x2"
    source = "%r" if relu else "%arg0"
    text = f'''func.func @f(%arg0: tensor<{shape}xf32>) -> tensor<{out}xf32> {{
  %r = "hardcore.relu"(%arg0) : (tensor<{shape}xf32>) -> tensor<{shape}xf32>
  %0 = "hardcore.gather"({source}) {{indices = {perm}}} : (tensor<{shape}xf32>) -> tensor<{rhs_shape}xf32>
  %1 = "hardcore.{op}"({source}, %0) : (tensor<{shape}xf32>, tensor<{rhs_shape}xf32>) -> tensor<{out}xf32>
  return %1 : tensor<{out}xf32>
}}'''
    float_module, module = quantized(text)
    requant = [o for o in body_ops(find_function(module.operation)) if o.operation.name == "hardcore.requant"][-1]
    unsigned = relu and op == "mul_tensors"
    assert (int_attr(requant, "min"), int_attr(requant, "max")) == ((0, 255) if unsigned else (-128, 127))
    x = grid_inputs(module, (ROWS, 2, 3), np.random.default_rng(2))
    expected, actual = both(float_module, module, x)
    step = 2.0 ** -out_frac(module)
    assert np.abs(actual - np.clip(expected, -128 * step, (255 if unsigned else 127) * step)).max() <= 0.5 * step


# -- softmax ---------------------------------------------------------------------------------------

def softmax_text(rows: int, length: int, scale: float, causal: int) -> str:
    shape = f"tensor<{rows}x{length}xf32>"
    return f'''func.func @softmax(%arg0: {shape}) -> {shape} {{
  %0 = "hardcore.softmax"(%arg0) {{scale = {scale:.6e} : f64, causal = {causal} : i64}} : ({shape}) -> {shape}
  return %0 : {shape}
}}'''


def softmax_static_bound(module, length: int) -> float:
    """docs/dialect.md's bound on |p - output| in output steps: 1/2 + max(V, 1), V for a row of `length`."""
    op = ops_of(module)["hardcore.qsoftmax"]
    exp_frac = int(array_attr(op, "exp_table")[-1]).bit_length() - 1
    act_bits, sum_shift = int_attr(op, "max").bit_length(), int_attr(op, "sum_shift")
    recip_frac = int_attr(op, "shift") + act_bits
    largest = ((length << exp_frac) + ((1 << sum_shift) >> 1)) >> sum_shift
    clipped = largest > array_attr(op, "recip_table").size - 1
    return 0.5 + max(float(qsoftmax_bound(length, exp_frac, recip_frac, sum_shift, act_bits, clipped)), 1.0)


# (rows, length, scale, causal, act-bits, the largest error measured on 2000 rows in output steps,
# docs/dialect.md's bound): a short, a long and a peaked row (scale 2), causal ones, other act-bits.
SOFTMAX_CASES = [
    (4, 8, 0.35, 0, 8, 0.57, 1.53),
    (4, 8, 2.0, 0, 8, 0.98, 1.53),
    (4, 64, 2.0, 0, 8, 3.05, 5.00),
    (8, 8, 2.0, 1, 8, 1.0, 1.53),
    (8, 8, 2.0, 1, 6, 1.0, 1.53),
    (4, 16, 0.35, 0, 10, 1.49, 5.02),
]


@pytest.mark.parametrize("rows, length, scale, causal, act_bits, measured, bound", SOFTMAX_CASES)
def test_qsoftmax_is_within_its_bound(rows, length, scale, causal, act_bits, measured, bound):
    """|qsoftmax - softmax| over 2000 random rows, in output steps 2^-act_bits: the largest is the figure
    docs/dialect.md gives, below the bound it derives (the causal rows' 1.0 is row 0's probability 1,
    which saturates to 1 - 2^-A)."""
    float_module, module = quantized(softmax_text(rows, length, scale, causal), config_data={"act_bits": act_bits})
    assert softmax_static_bound(module, length) == pytest.approx(bound, abs=0.005)
    x = grid_inputs(module, (ROWS // rows, rows, length), np.random.default_rng(3))
    expected, actual = both(float_module, module, x)
    error = np.abs(actual - expected).max() * 2.0 ** act_bits
    assert error == pytest.approx(measured, abs=0.005)
    assert error <= bound


def test_qsoftmax_rows_sum_to_one_and_masked_ones_are_zero():
    """A row sums to 1 within n/2 + 5/4 + 2^(sum_shift - ceil(log2 N) - 1) output steps (each output
    rounds by half a step; the sum's reciprocal errs by the rest); masked outputs are exactly 0."""
    rows, length, act_bits = 8, 8, 8
    _, module = quantized(softmax_text(rows, length, 2.0, 1))
    x = grid_inputs(module, (ROWS // rows, rows, length), np.random.default_rng(4))
    actual = run_function(find_function(module.operation), x)
    keep = causal_mask([rows, length])
    assert (actual[:, ~keep] == 0).all()
    kept = keep.sum(axis=1)
    sum_shift = int_attr(ops_of(module)["hardcore.qsoftmax"], "sum_shift")
    allowed = (kept / 2 + 1.25 + 2.0 ** (sum_shift - 3 - 1)) * 2.0 ** -act_bits
    assert (np.abs(actual.sum(axis=2) - 1) <= allowed).all()


# -- layer norm ------------------------------------------------------------------------------------

def norm_text(rows: int, size: int, rms: int) -> str:
    shape = f"tensor<{rows}x{size}xf32>"
    return f'''func.func @norm(%arg0: {shape}) -> {shape} {{
  %0 = "hardcore.layernorm"(%arg0) {{eps = 1.0e-05 : f64, rms = {rms} : i64}} : ({shape}) -> {shape}
  return %0 : {shape}
}}'''


# (size, rms, act-bits, the largest error measured on 2000 rows in output steps): rows of standard-normal
# values, like the calibration's.
NORM_CASES = [(16, 0, 8, 3.87), (16, 1, 8, 2.45), (64, 0, 8, 0.53), (64, 1, 8, 0.53), (8, 0, 8, 7.72),
              (16, 0, 6, 1.03)]


@pytest.mark.parametrize("size, rms, act_bits, measured", NORM_CASES)
def test_qnorm_is_within_its_bound(size, rms, act_bits, measured):
    """|qnorm - layernorm| over 2000 random rows: within half an output step plus `qnorm_bound` (the
    table's rounding and its index's, docs/dialect.md) on every element; the largest error is the figure
    docs/dialect.md gives."""
    rows = 4
    float_module, module = quantized(norm_text(rows, size, rms), config_data={"act_bits": act_bits})
    x = grid_inputs(module, (ROWS // rows, rows, size), np.random.default_rng(5), scale=1.0)
    quantize = ops_of(module)["hardcore.quantize"]
    expected, actual = both(float_module, module, x)
    op = ops_of(module)["hardcore.qnorm"]
    step = 2.0 ** -out_frac(module)
    recip_frac = int_attr(op, "shift") + out_frac(module)
    in_frac = int_attr(quantize, "frac_bits")
    offset = 1e-5 * (size if rms else size ** 3) * 2.0 ** (2 * in_frac)
    codes = np.round(x * 2.0 ** in_frac).astype(np.int64)
    bound = 0.5 * step + qnorm_bound(codes, bool(rms), int_attr(op, "sq_shift"), array_attr(op, "rsqrt_table").size,
                                     recip_frac, offset)
    error = np.abs(actual - np.clip(expected, -(1 << (act_bits - 1)) * step, ((1 << (act_bits - 1)) - 1) * step))
    assert (error <= bound * (1 + 1e-9)).all()
    assert np.abs(actual - expected).max() / step == pytest.approx(measured, abs=0.005)


def test_qnorm_sizes_its_table_on_the_integers_it_reads():
    """Q_cal is the largest sum of squares of the integers the qnorm reads on the calibration inputs
    (here a dense layer's requantized output), not of the float values rounded."""
    text = '''func.func @f(%arg0: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, -0.7, 0.2, 0.1], [0.3, 0.9, -0.5, 0.0], [0.0, 0.2, 0.8, -1.1],
    [0.6, 0.6, 0.6, 0.6]]> : tensor<4x4xf32>, bias = dense<0.1> : tensor<4xf32>} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %1 = "hardcore.layernorm"(%0) {eps = 1.0e-05 : f64, rms = 0 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %1 : tensor<2x4xf32>
}'''
    calibration = np.random.default_rng(6).standard_normal((256, 2, 4))
    _, module = quantized(text, calibration_data=calibration)
    trace: dict = {}
    run_function(find_function(module.operation), calibration, trace=trace)
    op = ops_of(module)["hardcore.qnorm"]
    codes = trace[op.operands[0]]
    centred = 4 * codes - codes.sum(axis=-1, keepdims=True)
    largest = int((centred * centred).sum(axis=-1).max())
    assert int_attr(op, "sq_shift") == largest.bit_length() - 10
    assert array_attr(op, "rsqrt_table").size == min(((largest + (1 << (int_attr(op, "sq_shift") - 1)))
                                                      >> int_attr(op, "sq_shift")) + 1, 1024)


# -- GELU, SiLU ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, torch_fn", [("gelu", lambda x: torch.nn.functional.gelu(x)),
                                          ("gelu_tanh", lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
                                          ("silu", torch.nn.functional.silu)])
@pytest.mark.parametrize("act_bits", [8, 5])
def test_activation_tables_are_torchs_function(fn, torch_fn, act_bits):
    """On every input code the table is torch's function (float64) at the output scale within half a step
    (saturated to act-bits), within one step unsaturated."""
    text = f'''func.func @f(%arg0: tensor<1xf32>) -> tensor<1xf32> {{
  %0 = "hardcore.activation"(%arg0) {{fn = "{fn}", params = {{}}}} : (tensor<1xf32>) -> tensor<1xf32>
  return %0 : tensor<1xf32>
}}'''
    calibration = 3 * np.random.default_rng(0).standard_normal((256, 1))
    _, module = quantized(text, calibration_data=calibration, act_bits=act_bits)
    quantize, lut = ops_of(module)["hardcore.quantize"], ops_of(module)["hardcore.lut"]
    codes = np.arange(int_attr(quantize, "min"), int_attr(quantize, "max") + 1)
    table = array_attr(lut, "table")
    assert int_attr(lut, "min") == codes[0] and table.size == codes.size
    x = torch.from_numpy(codes * 2.0 ** -int_attr(quantize, "frac_bits"))
    expected = torch_fn(x).numpy() * 2.0 ** out_frac(module)
    low, high = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1  # both go below 0
    assert np.abs(table - np.clip(expected, low, high)).max() <= 0.5 + 1e-9
    assert np.abs(table - expected).max() <= 1.0


# -- per-layer settings ----------------------------------------------------------------------------

BLOCK = '''func.func @block(%arg0: tensor<2xi64>) -> tensor<2x2xf32> {
  %0 = "hardcore.embedding"(%arg0) {table = dense<[[[0.5, -1.0], [0.25, 0.75], [-0.125, 0.0]]]> : tensor<1x3x2xf32>} : (tensor<2xi64>) -> tensor<2x2xf32>
  %1 = "hardcore.layernorm"(%0) {eps = 1.0e-05 : f64, rms = 0 : i64} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %2 = "hardcore.gather"(%1) {indices = dense<[0, 2, 1, 3]> : tensor<4xi64>} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %3 = "hardcore.matmul"(%1, %2) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %4 = "hardcore.softmax"(%3) {scale = 0.5 : f64, causal = 1 : i64} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %5 = "hardcore.mul_tensors"(%4, %1) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %6 = "hardcore.sub_tensors"(%5, %0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %6 : tensor<2x2xf32>
}'''


def test_each_sequence_op_is_a_layer_with_act_bits():
    """Layers 0..5: embedding, layer norm, matmul, softmax, mul_tensors, sub_tensors; each takes act_bits."""
    config = {"layers": {str(k): {"act_bits": 4 + k} for k in range(6)}}
    _, module = quantized(BLOCK, config_data=config)
    ops = body_ops(find_function(module.operation))
    widths = {op.operation.name: str(op.results[0].type) for op in ops if op.results}
    assert widths["hardcore.embedding"] == "tensor<2x2xi4>"  # codes -8..6 of 4 signed bits
    assert widths["hardcore.qnorm"] == "tensor<2x2xi5>"
    assert widths["hardcore.qsoftmax"] == "tensor<2x2xi8>"  # unsigned 7 bits
    requants = [str(op.results[0].type) for op in ops if op.operation.name == "hardcore.requant"]
    assert requants[0] == "tensor<2x2xi6>" and requants[-1] == "tensor<2x2xi9>"


@pytest.mark.parametrize("layer, kind", [(0, "an embedding, a table without weights"),
                                         (1, "a layer norm, which has no weights (its affine part is a dense layer)"),
                                         (2, "a matrix product of two activations, which has no weights"),
                                         (3, "a softmax, which has no weights"),
                                         (4, "a product of two activations, which has no weights"),
                                         (5, "a subtraction, which has no weights")])
def test_weight_settings_of_a_sequence_op_are_errors(layer, kind):
    line = [2, 3, 5, 6, 7, 8][layer]  # BLOCK's gather (line 4) is no layer
    with pytest.raises(CompileError, match=rf"^<stdin>:{line}:8: error: hardcore-quantize: the "
                                           rf"quantization config sets weight_bits of layer {layer}, "
                                           rf"{re.escape(kind)}$"):
        quantized(BLOCK, config_data={"layers": {layer: {"weight_bits": 4}}})


# -- --verify-each: the checks of the sequence ops, and the pass broken on purpose -----------------

def test_verify_each_checks_every_sequence_op():
    lines = []
    run_pipeline(parse_module(BLOCK, new_context()), "hardcore-quantize", verify_each=True, verify_report=lines.append)
    assert lines == ["hardcore-quantize: each of 7 layers within its rounding bound on 69 input vectors of the "
                     "input grid"]


def break_quantize(monkeypatch, edit):
    """hardcore-quantize as usual, then `edit(op by name)` on its function."""
    original = QuantizePass.run

    def broken(self, module):
        original(self, module)
        function = find_function(module)
        edit({op.operation.name: op for op in body_ops(function)})

    monkeypatch.setattr(QuantizePass, "run", broken)


def set_int(op, name: str, by: int):
    """Integer attribute `name` of `op` moved by `by`."""
    op.attributes[name] = i64_attr(int_attr(op, name) + by)


def bump(op, name: str, index: int, by: int = 1):
    values = array_attr(op, name).astype(np.int64)
    values.reshape(-1)[index] += by
    op.attributes[name] = dense_attr(values, int_type(64 if name != "table" else 8))


BROKEN = [
    ("an exp entry", lambda ops: bump(ops["hardcore.qsoftmax"], "exp_table", -3),
     r"layer output 4 \('hardcore.qsoftmax' at <stdin>:6:8\): its exp table's entry for -2 is 505, "
     r"exp\(0.5 \* -2 \* 2\^-6\) \* 2\^9 = 504.062 \(more than half a unit\)"),
    ("a reciprocal entry", lambda ops: bump(ops["hardcore.qsoftmax"], "recip_table", 300),
     r"layer output 4 \('hardcore.qsoftmax' at <stdin>:6:8\): its reciprocal table's entry 300 is 875, "
     r"2\^19 / 600 = 873.813 \(more than half a unit\)"),
    # the reciprocal table's scale is the shift's plus the output's: a wrong shift makes it wrong
    ("the qsoftmax's shift", lambda ops: set_int(ops["hardcore.qsoftmax"], "shift", 1),
     r"layer output 4 \('hardcore.qsoftmax' at <stdin>:6:8\): its reciprocal table's entry 0 is 1024, "
     r"2\^20 / 512 = 2048 \(more than half a unit\)"),
    ("the qsoftmax saturating early", lambda ops: set_int(ops["hardcore.qsoftmax"], "max", -128),
     r"layer output 4 \('hardcore.qsoftmax' at <stdin>:6:8\): on input vector 0 \(all-minimum\) \[0, 0\]: "
     r"the float layer gives 1 \(saturated to \[0, 0.996094\]\), the quantized one 127 \* 2\^-8 = 0.496094 "
     r"\(output element 0\), more than the rounding bound 0.00537157"),
    ("the causal mask", lambda ops: set_int(ops["hardcore.qsoftmax"], "causal", -1),
     r"layer output 4 \('hardcore.qsoftmax' at <stdin>:6:8\): its causal mask is 0, the float softmax's 1"),
    ("an rsqrt entry", lambda ops: bump(ops["hardcore.qnorm"], "rsqrt_table", 5),
     r"layer output 1 \('hardcore.qnorm' at <stdin>:3:8\): its inverse square-root table's entry 5 is 7321, "
     r"2\^17 \* sqrt\(2\) / sqrt\(max\(640 \+ 1.31072, 1\)\) = 7319.66 \(more than half a unit\)"),
    ("an embedding code", lambda ops: bump(ops["hardcore.embedding"], "table", 3, by=2),
     r"layer output 0 \('hardcore.embedding' at <stdin>:2:8\): its table's entry \[0, 1, 1\] is 98 \* 2\^-7 = "
     r"0.765625, the float entry 0.75 \(more than half a step\)"),
    # a product's scale follows from its shift: one off is seen where the result is read at its scale
    ("the matmul's shift", lambda ops: set_int(next(iter(ops["hardcore.matmul"].results[0].uses)).owner, "shift", 1),
     r"layer output 4 \('hardcore.qsoftmax' at <stdin>:6:8\): its exp table's entry for -254 is 70, "
     r"exp\(0.5 \* -254 \* 2\^-5\) \* 2\^9 = 9.67528 \(more than half a unit\)"),
]


@pytest.mark.parametrize("what, edit, message", BROKEN, ids=[case[0] for case in BROKEN])
def test_verify_each_catches_a_broken_sequence_op(monkeypatch, what, edit, message):
    break_quantize(monkeypatch, edit)
    with pytest.raises(VerificationError, match=rf"^hardcore-quantize changed the result \(--verify-each\): "
                                                rf"{message}$"):
        run_pipeline(parse_module(BLOCK, new_context()), "hardcore-quantize", verify_each=True)
