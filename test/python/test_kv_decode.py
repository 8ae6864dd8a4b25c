"""hardcore-kv-decode: the decoder step, run position by position with a cache, equals the window model bit for bit."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch_mlir import ir

from hardcore.errors import CompileError
from hardcore.interpreter import InterpreterError, find_function, qsoftmax, run_decoder, run_function
from hardcore.irutil import body_ops, i64_attr
from hardcore.mlir import new_context, parse_module
from hardcore.pipeline import run_pipeline
from hardcore.tiny_gpt import random_gpt

torch.set_num_threads(1)

LIT_FILE = Path(__file__).resolve().parents[1] / "Passes" / "kv-decode.mlir"
SEQUENCES = 32

# Tiny GPTs: with and without a position table, LayerNorm or RMSNorm, ReLU or a GELU table,
# one to three heads, one or two layers, other sizes.
MODELS = [
    dict(seed=0),
    dict(seed=1, position_table=False, rms=True, activation="lut"),
    dict(seed=2, layers=2, heads=1),
    dict(seed=3, layers=2, heads=2, activation="lut", position_table=False),
    dict(seed=4, positions=6, width=6, heads=3, vocabulary=7, act_bits=5),
    dict(seed=5, positions=3, width=8, heads=2, vocabulary=11, rms=True, weight_bits=3),
    dict(seed=6, positions=8, width=4, heads=2, vocabulary=4, layers=2, act_bits=3),
]


def _window_and_step(text: str):
    """(window module, step module): the module as written and after hardcore-kv-decode."""
    window = parse_module(text, new_context(), "window")
    step = parse_module(text, new_context(), "step")
    run_pipeline(step, "hardcore-kv-decode")
    return window, step


def _tokens(rng, model: dict, count: int) -> np.ndarray:
    return rng.integers(0, model.get("vocabulary", 5), size=(count, model.get("positions", 4)))


@pytest.mark.parametrize("model", MODELS, ids=[f"seed{m['seed']}" for m in MODELS])
def test_step_equals_window_bit_for_bit(model):
    """Every step's logits are the window's row t, as integers and as floats, from zero and from stale caches."""
    window_module, step_module = _window_and_step(random_gpt(**model))
    window, step = find_function(window_module.operation), find_function(step_module.operation)
    rng = np.random.default_rng(model["seed"])
    tokens = _tokens(rng, model, SEQUENCES)
    expected = run_function(window, tokens, from_quantized=True)
    decoded, caches = run_decoder(step, tokens, from_quantized=True)
    assert np.array_equal(decoded.reshape(expected.shape), expected)
    assert len(np.unique(expected)) > 8  # the models are not degenerate
    # Stale caches: the hardware keeps what the previous sequence wrote.
    tokens = _tokens(rng, model, SEQUENCES)
    decoded, _ = run_decoder(step, tokens, caches=caches, from_quantized=True)
    assert np.array_equal(decoded.reshape(expected.shape), run_function(window, tokens, from_quantized=True))
    floats, _ = run_decoder(step, tokens)
    assert np.array_equal(floats.reshape(expected.shape), run_function(window, tokens))


@st.composite
def _gpts(draw):
    heads = draw(st.integers(1, 3))
    return dict(seed=draw(st.integers(0, 2 ** 31)), positions=draw(st.integers(2, 6)), heads=heads,
                width=heads * draw(st.integers(1, 3)), vocabulary=draw(st.integers(2, 8)),
                layers=draw(st.integers(1, 2)), act_bits=draw(st.integers(3, 6)), weight_bits=draw(st.integers(2, 5)),
                position_table=draw(st.booleans()), rms=draw(st.booleans()),
                activation=draw(st.sampled_from(["relu", "lut"])))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=_gpts())
def test_random_gpts_decode_exactly(model):
    window_module, step_module = _window_and_step(random_gpt(**model))
    window, step = find_function(window_module.operation), find_function(step_module.operation)
    rng = np.random.default_rng(model["seed"])
    _, stale = run_decoder(step, _tokens(rng, model, 16), from_quantized=True)
    tokens = _tokens(rng, model, 16)
    decoded, _ = run_decoder(step, tokens, caches=stale, from_quantized=True)
    expected = run_function(window, tokens, from_quantized=True)
    assert np.array_equal(decoded.reshape(expected.shape), expected)


def test_caches_are_k_and_v_of_every_layer():
    model = dict(seed=7, positions=4, width=4, heads=2, layers=2)
    _, step_module = _window_and_step(random_gpt(**model))
    step = find_function(step_module.operation)
    types = [str(t) for t in step.type.inputs]
    # token, position (0..3 in 3 bits), then per layer kᵀ [H, dh, T] and v [H, T, dh] at act-bits
    assert types == ["tensor<1xi64>", "tensor<1xi3>"] + ["tensor<2x2x4xi4>", "tensor<2x4x2xi4>"] * 2
    assert [str(t) for t in step.type.results] == ["tensor<1x5xf32>"] + ["tensor<2x2x1xi4>", "tensor<2x1x2xi4>"] * 2
    assert str(step.attributes["hardcore.decoder"]) == "{cache_axes = [2, 1, 2, 1], positions = 4 : i64}"
    names = [op.operation.name for op in body_ops(step)]
    assert names.count("hardcore.insert_row") == 4 and names.count("hardcore.qsoftmax_at") == 2
    assert names.count("hardcore.embedding_at") == 1 and "hardcore.qsoftmax" not in names


def test_prefixes():
    """Step t's output depends on tokens 0..t only: decoding a prefix gives the window's rows for any
    continuation, and the window's row t does not change with a later token."""
    model = dict(seed=8, layers=2)
    window_module, step_module = _window_and_step(random_gpt(**model))
    window, step = find_function(window_module.operation), find_function(step_module.operation)
    rng = np.random.default_rng(8)
    tokens = _tokens(rng, model, SEQUENCES)
    expected = run_function(window, tokens, from_quantized=True)
    for steps in range(1, 4):
        decoded, _ = run_decoder(step, tokens[:, :steps], from_quantized=True)
        assert np.array_equal(decoded.reshape(expected[:, :steps].shape), expected[:, :steps])
        changed = tokens.copy()
        changed[:, steps:] = (changed[:, steps:] + 1) % 5
        again = run_function(window, changed, from_quantized=True)
        assert np.array_equal(again[:, :steps], expected[:, :steps])


def test_a_wrong_step_is_caught():
    """The comparison fails when the step's softmax also keeps the next, not yet written, key."""
    model = dict(seed=9)
    window_module, step_module = _window_and_step(random_gpt(**model))
    window, step = find_function(window_module.operation), find_function(step_module.operation)
    with step_module.context:
        for op in body_ops(step):
            if op.operation.name == "hardcore.qsoftmax_at":
                op.attributes["offset"] = i64_attr(1)
    tokens = _tokens(np.random.default_rng(9), model, SEQUENCES)
    decoded, _ = run_decoder(step, tokens, from_quantized=True)
    expected = run_function(window, tokens, from_quantized=True)
    assert not np.array_equal(decoded.reshape(expected.shape), expected)


def test_non_causal_model_is_rejected():
    text = random_gpt(seed=10, causal=False)
    window = find_function((module := parse_module(text, new_context(), "window")).operation)
    tokens = _tokens(np.random.default_rng(10), {}, SEQUENCES)
    changed = tokens.copy()
    changed[:, 3] = (changed[:, 3] + 1) % 5
    # The window's first row sees the last token ...
    assert not np.array_equal(run_function(window, tokens, from_quantized=True)[:, 0],
                              run_function(window, changed, from_quantized=True)[:, 0])
    # ... and the pass names the op that lets it.
    with pytest.raises(CompileError, match=r"^gpt\.mlir:16:11: error: hardcore-kv-decode: 'hardcore\.qsoftmax' "
                                           r"breaks causality: its result at position 0 depends on position 3 "
                                           r"\(it has no causal mask\)$"):
        run_pipeline(parse_module(text, new_context(), "gpt.mlir"), "hardcore-kv-decode", filename="gpt.mlir")
    del module


def _lit_functions():
    return [part for part in LIT_FILE.read_text().split("// -----") if "func.func" in part]


@pytest.mark.parametrize("index", range(len(_lit_functions())))
def test_lit_examples_decode_exactly(index):
    """kv-decode.mlir's functions, on every token sequence."""
    window_module, step_module = _window_and_step(_lit_functions()[index])
    window, step = find_function(window_module.operation), find_function(step_module.operation)
    quantize = body_ops(window)[0]
    vocabulary = int(ir.IntegerAttr(quantize.attributes["max"]).value) + 1
    positions = int(np.prod(ir.RankedTensorType(window.type.inputs[0]).shape))
    tokens = np.array(list(itertools.product(range(vocabulary), repeat=positions)))
    expected = run_function(window, tokens, from_quantized=True)
    decoded, _ = run_decoder(step, tokens, from_quantized=True)
    assert np.array_equal(decoded.reshape(expected.shape), expected)


def test_verify_each_checks_the_step():
    module = parse_module(random_gpt(seed=11), new_context(), "gpt")
    lines = []
    run_pipeline(module, "hardcore-kv-decode", verify_each=True, verify_report=lines.append)
    assert lines == ["hardcore-kv-decode: bit-exact on 69 input vectors"]


# -- the step ops in the interpreter -------------------------------------------------------------

STEP_OPS = """
func.func @step(%x: tensor<3x2xi4>, %row: tensor<1x2xi4>, %pos: tensor<1xi3>, %ids: tensor<2xi3>)
    -> (tensor<3x2xi4>, tensor<2x2xi4>, tensor<3x2xi5>) {
  %0 = "hardcore.insert_row"(%x, %row, %pos) {axis = 0 : i64} : (tensor<3x2xi4>, tensor<1x2xi4>, tensor<1xi3>) -> tensor<3x2xi4>
  %1 = "hardcore.embedding_at"(%ids, %pos) {table = dense<[[[1, 2], [3, 4]], [[5, 6], [7, -8]]]> : tensor<2x2x2xi8>} : (tensor<2xi3>, tensor<1xi3>) -> tensor<2x2xi4>
  %2 = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi4>) -> tensor<2x3xi4>
  %3 = "hardcore.qsoftmax_at"(%2, %pos) {offset = -1 : i64, exp_table = dense<[1, 2, 4, 8]> : tensor<4xi32>, exp_min = -3 : i64, sum_shift = 0 : i64, recip_table = dense<[8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 6, 6, 5, 5, 5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3]> : tensor<25xi32>, shift = 3 : i64, min = 0 : i64, max = 15 : i64} : (tensor<2x3xi4>, tensor<1xi3>) -> tensor<2x3xi5>
  %4 = "hardcore.gather"(%3) {indices = dense<[0, 3, 1, 4, 2, 5]> : tensor<6xi64>} : (tensor<2x3xi5>) -> tensor<3x2xi5>
  return %0, %1, %4 : tensor<3x2xi4>, tensor<2x2xi4>, tensor<3x2xi5>
}
"""


def _run_step_ops(pos: int):
    module = parse_module(STEP_OPS, new_context(), "ops")
    x = np.array([[[1, 2], [3, 4], [5, 6]]])
    return run_function(find_function(module.operation), [x, np.array([[[-7, 7]]]), np.array([[pos]]),
                                                          np.array([[1, 3]])])


def test_insert_row():
    assert _run_step_ops(1)[0].tolist() == [[[1, 2], [-7, 7], [5, 6]]]
    assert _run_step_ops(3)[0].tolist() == [[[1, 2], [3, 4], [5, 6]]]  # no such row: the cache as it was


def test_embedding_at():
    assert _run_step_ops(0)[1].tolist() == [[[3, 4], [3, 4]]]  # ids clip to V - 1 = 1
    assert _run_step_ops(1)[1].tolist() == [[[7, -8], [7, -8]]]
    assert _run_step_ops(3)[1].tolist() == [[[7, -8], [7, -8]]]  # positions clip to P - 1 = 1


def test_qsoftmax_at():
    """Keeps the j <= pos + offset of every row of the last axis; a row that keeps nothing is all zeros."""
    rows = np.array([[[1, 3, 5], [2, 4, 6]]])
    table = dict(exp_table=[1, 2, 4, 8], exp_min=-3, sum_shift=0,
                 recip_table=[8] * 9 + [7, 6, 6, 5, 5, 5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3], shift=3, low=0, high=15)
    assert _run_step_ops(0)[2].transpose(0, 2, 1).tolist() == np.zeros((1, 2, 3)).tolist()
    for pos in (1, 2, 3):
        expected = qsoftmax(rows[:, :, :pos], False, **table)
        assert _run_step_ops(pos)[2].transpose(0, 2, 1)[:, :, :pos].tolist() == expected.tolist()
        assert not _run_step_ops(pos)[2].transpose(0, 2, 1)[:, :, pos:].any()


def test_run_function_checks_the_number_of_inputs():
    module = parse_module(STEP_OPS, new_context(), "ops")
    with pytest.raises(InterpreterError, match=r"^@step: takes 4 arguments, got 2 inputs$"):
        run_function(find_function(module.operation), [np.zeros((1, 6)), np.zeros((1, 2))])
