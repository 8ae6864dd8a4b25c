"""bench/tinylm.py's decoder figures: measured in Verilator on a small TinyLM, and a wrong output is an error."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from hardcore.decoder_sim import expected_outputs
from hardcore.sim import tool_available

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
requires_verilator = pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")


def _bench():
    spec = importlib.util.spec_from_file_location("bench_tinylm", ROOT / "bench" / "tinylm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture(scope="module")
def small(bench):
    """A small TinyLM (the corpus's 30 symbols, T = 4), last position only, and calibration windows."""
    torch.manual_seed(0)
    model = bench.TinyLM(vocab_size=30, d_model=4, n_layer=1, n_head=1, context=4, last_only=True).eval()
    return model, np.random.default_rng(0).integers(0, 30, (32, 4))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One Verilator build for the module's tests (the same circuit)."""
    return tmp_path_factory.mktemp("decoder")


@pytest.mark.slow
@pytest.mark.sim
@requires_verilator
def test_decoder_figures_come_from_the_simulation(bench, small, workdir):
    model, calibration = small
    figures = bench.decoder_figures(model, calibration, 4, 4, workdir, sequences=4)
    # 4 teacher-forced windows and 4 greedy generations of 4 tokens, back to back: one token a clock
    assert figures["tokens_in"] == figures["tokens_out"] == 32 and figures["cycles"] == 32
    assert figures["cycles_per_token"] == 1.0 and figures["latency_cycles"] == 1
    assert figures["sequences"] == {"teacher_forced": 4, "greedy": 4, "mismatches": 0}
    assert figures["positions"] == 4 and figures["vocabulary"] == 30
    # kᵀ [1, 4, 4] and v [1, 4, 4] at 4 bits
    assert figures["cache_bits"] == 128 and figures["adders"] > 0 and figures["multipliers"] > 0
    assert figures["verilator"]["build_seconds"] > 0 and figures["compile"]["seconds"] > 0


def test_the_greedy_stream_feeds_back_the_next_token(bench, small):
    """Each fed-back token is the reference's next token after the tokens before it."""
    positions, sequences = 4, 3
    _, heldout = bench.splits()

    def next_tokens(tokens):
        return (tokens.sum(axis=1, keepdims=True) + np.arange(tokens.shape[1])) % 30

    stream, fed_back = bench.decoder_stream(heldout, positions, sequences, next_tokens)
    assert stream.shape == (2 * sequences * positions, 3) and (stream[:, 0] == 1).all()
    assert list(stream[:, 1]) == [1, 0, 0, 0] * 2 * sequences
    greedy = stream[sequences * positions:, 2].reshape(sequences, positions)
    for index in (2, 3):
        assert np.array_equal(greedy[:, index], next_tokens(greedy[:, :index])[:, -1])
    assert list(fed_back) == [False] * sequences * positions + [False, False, True, True] * sequences


@pytest.mark.slow
@pytest.mark.sim
@requires_verilator
def test_a_wrong_token_is_an_error(bench, small, workdir, monkeypatch):
    def one_wrong(circuit, stream):
        expected = expected_outputs(circuit, stream)
        cycle = int(np.flatnonzero(expected.out_valid)[5])
        expected.y[cycle] = (expected.y[cycle] + 1) % circuit.vocabulary
        return expected

    monkeypatch.setattr(bench, "expected_outputs", one_wrong)
    model, calibration = small
    with pytest.raises(RuntimeError, match=r"^decoder: the RTL differs from the reference on 1 cycles: cycle 6: "):
        bench.decoder_figures(model, calibration, 4, 4, workdir, sequences=2)
