"""examples/tinylm: the corpus is deterministic and small-alphabet, the model trains, slices and exports."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "tinylm"))

from corpus import HELD_OUT_FRACTION, VOCAB, decode, encode, load_text, splits  # noqa: E402
from model import CONFIG, TinyLM, TinyLMWindow  # noqa: E402
from circuit_noise import fake_quantize, noisy_logits  # noqa: E402
from train import finetune, heldout_accuracy, random_windows, train  # noqa: E402

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


def test_fake_quantize_rounds_half_up_at_a_power_of_two_with_straight_through_gradients():
    x = torch.tensor([0.3, -1.0, 0.126, 0.0625, 0.99], requires_grad=True)
    # 4 bits signed: the largest magnitude 1.0 fits 8 codes at scale 2^3; codes floor(8x + 0.5)
    # are 2, -8, 1, 1 (0.5 rounds up) and 8, saturated to 7.
    y = fake_quantize(x, 4)
    assert y.tolist() == [0.25, -1.0, 0.125, 0.125, 0.875]
    y.sum().backward()
    assert x.grad.tolist() == [1.0] * 5
    # unsigned: 4 bits reach 16 codes, so the scale is 2^4 (the negative value saturates at 0)
    assert fake_quantize(torch.tensor([0.5, -0.25, 0.96875]), 4, signed=False).tolist() == [0.5, 0.0, 0.9375]


def test_noisy_logits_are_the_model_at_many_bits_and_near_it_at_8():
    torch.manual_seed(0)
    model = TinyLM(d_model=16, n_layer=1, n_head=2, context=4).eval()
    ids = torch.randint(0, len(VOCAB), (64, 4))
    with torch.no_grad():
        exact = model(ids)
        assert torch.allclose(noisy_logits(model, ids, act_bits=24, weight_bits=24), exact, atol=1e-3)
        at_8 = noisy_logits(model, ids)
    error = (at_8 - exact).abs()
    assert 0 < error.max() < 0.25 * exact.abs().max()


def test_finetuning_makes_the_float_choice_survive_the_rounding(corpus_splits):
    train_ids, _ = corpus_splits
    torch.manual_seed(0)
    model = TinyLM(d_model=16, n_layer=1, n_head=2, context=4)
    train(model, train_ids, steps=200, seed=0)
    ids, _ = random_windows(train_ids, 4, 1024, np.random.default_rng(5))

    def agreement_and_divergence():  # at 5 bits, where the rounding flips many choices
        with torch.no_grad():
            exact, noisy = model(ids), noisy_logits(model, ids, act_bits=5, weight_bits=5)
        divergence = torch.nn.functional.kl_div(torch.log_softmax(noisy, -1), torch.log_softmax(exact, -1),
                                                log_target=True, reduction="batchmean").item()
        return (exact.argmax(-1) == noisy.argmax(-1)).float().mean().item(), divergence

    agreement, divergence = agreement_and_divergence()
    losses = finetune(model, train_ids, 40, bits=5, batch=64)
    assert len(losses) == 40 and np.all(np.isfinite(losses))
    tuned_agreement, tuned_divergence = agreement_and_divergence()
    assert tuned_agreement > agreement + 0.05    # measured: 0.765 -> 0.926
    assert tuned_divergence < divergence


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
