"""examples/tinylm: the corpus is deterministic and small-alphabet, the model trains, slices and exports."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "tinylm"))

from corpus import HELD_OUT_FRACTION, VOCAB, decode, encode, load_text, splits  # noqa: E402
from model import CONFIG, TinyLM, TinyLMWindow  # noqa: E402
from train import heldout_accuracy, random_windows, train  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus_splits():
    return splits()


def test_corpus_is_deterministic_and_within_vocabulary():
    text = load_text()
    assert text == load_text()
    assert len(VOCAB) == len(set(VOCAB)) <= 32
    assert set(text) <= set(VOCAB)
    assert len(text) > 300_000
    assert "  " not in text and " ." not in text


def test_splits_hold_out_the_end_of_the_text(corpus_splits):
    train_ids, heldout_ids = corpus_splits
    assert train_ids.dtype == heldout_ids.dtype == np.int64
    assert decode(np.concatenate([train_ids, heldout_ids])) == load_text()
    assert len(heldout_ids) / (len(train_ids) + len(heldout_ids)) == pytest.approx(HELD_OUT_FRACTION, abs=1e-3)


def test_encode_decode_round_trip():
    text = "the value of x, isn't it."
    assert decode(encode(text)) == text
    assert decode(np.array(encode(VOCAB))) == VOCAB
    assert encode(VOCAB) == list(range(len(VOCAB)))


def test_last_only_is_the_last_position_of_the_full_output():
    torch.manual_seed(0)
    full = TinyLM().eval()
    last = TinyLM(last_only=True).eval()
    last.load_state_dict(full.state_dict())
    ids = torch.randint(0, len(VOCAB), (3, CONFIG["context"]))
    with torch.no_grad():
        logits = full(ids)
        assert logits.shape == (3, CONFIG["context"], len(VOCAB))
        # equal up to rounding: the head's matrix product runs on [3, V] rows instead of [3, T, V]
        torch.testing.assert_close(last(ids), logits[:, -1], rtol=1e-6, atol=1e-6)


def test_attention_is_causal():
    torch.manual_seed(0)
    model = TinyLM().eval()
    ids = torch.randint(0, len(VOCAB), (1, CONFIG["context"]))
    changed_last = ids.clone()
    changed_last[0, -1] = (ids[0, -1] + 1) % len(VOCAB)
    with torch.no_grad():
        assert torch.equal(model(ids)[:, :-1], model(changed_last)[:, :-1])


def test_a_few_training_steps_lower_the_loss(corpus_splits):
    train_ids, heldout_ids = corpus_splits
    torch.manual_seed(0)
    model = TinyLM()
    before = heldout_accuracy(model.eval(), heldout_ids[:2000])
    losses = train(model, train_ids, steps=60, seed=0)
    after = heldout_accuracy(model, heldout_ids[:2000])
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.5
    assert after["loss_all_positions"] < before["loss_all_positions"] - 0.5


def test_random_windows_are_targets_shifted_by_one():
    ids = np.arange(100, dtype=np.int64)
    inputs, targets = random_windows(ids, 8, 5, np.random.default_rng(0))
    assert inputs.shape == targets.shape == (5, 8) and inputs.dtype == torch.int64
    assert torch.equal(targets, inputs + 1)


def test_window_model_exports_at_batch_one_with_int64_ids():
    model = TinyLMWindow().eval()
    ids = torch.zeros(1, model.context, dtype=torch.long)
    program = torch.export.export(model, (ids,), strict=False)
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert {"aten.embedding.default", "aten.linear.default", "aten.layer_norm.default", "aten.softmax.int",
            "aten.gelu.default", "aten.masked_fill.Scalar"} <= targets
    ids = torch.randint(0, len(VOCAB), (1, model.context))
    with torch.no_grad():
        assert program.module()(ids).shape == (1, len(VOCAB))
        assert torch.equal(program.module()(ids), model(ids))
