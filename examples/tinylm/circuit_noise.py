"""TinyLM's forward with the window circuit's rounding in it: fake quantization for fine-tuning.

hardcore rounds every activation to `act_bits` at a power-of-two scale (its
requantizations: after the embedding, each norm, each linear, the scores,
the softmax, the attention products, the residual adds and the GELU table;
docs/quantization.md) and every weight to `weight_bits`.  `noisy_logits`
computes the model's logits with that rounding simulated in PyTorch: each
such value is rounded half up at the finest power-of-two scale at which the
batch's largest magnitude fits (or its `percentile`-th percentile, the
outliers saturating, like `hardcore.compile(..., act_percentile=...)`),
with straight-through gradients.  It mirrors where the compiler rounds, not
its exact integers (the compiler's scales come from its calibration set,
its softmax and norms are integer units of their own): a model whose
decisions survive this noise survives the circuit's.

`consistency_loss` is what `train.py --finetune-steps` adds to the float
model's loss: the cross-entropy of the noisy logits, the KL divergence of
the noisy from the float distribution, and a hinge on the float model's
choice winning in the noisy logits by `margin`.  The fine-tuned model is
still a plain float model: nothing of this is in its `forward`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from model import TinyLM

__all__ = ["fake_quantize", "noisy_logits", "consistency_loss"]

PERCENTILE_SAMPLE = 8192   # elements a percentile is estimated from


def fake_quantize(x: torch.Tensor, bits: int, signed: bool = True, percentile: float | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """`x` rounded half up to `bits` at the finest power-of-two scale its magnitude fits, saturated;
    the gradient passes straight through."""
    magnitude = x.detach().abs().reshape(-1)
    if percentile is not None and magnitude.numel() > PERCENTILE_SAMPLE:
        sample = magnitude[torch.randint(0, magnitude.numel(), (PERCENTILE_SAMPLE,), generator=generator)]
        largest = torch.quantile(sample, percentile / 100)
    else:
        largest = magnitude.max()
    top = 2.0 ** (bits - 1 if signed else bits)
    scale = 2.0 ** torch.floor(torch.log2(top / largest.clamp_min(1e-12)))
    low, high = (-top, top - 1) if signed else (0.0, top - 1)
    rounded = torch.clamp(torch.floor(x * scale + 0.5), low, high) / scale
    return x + (rounded - x).detach()


def noisy_logits(model: TinyLM, ids: torch.Tensor, act_bits: int = 8, weight_bits: int = 8,
                 percentile: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """`model(ids)` with every activation and weight rounded where the window circuit rounds them."""
    def act(x, signed=True):
        return fake_quantize(x, act_bits, signed, percentile, generator)

    def linear(layer, x):
        return F.linear(x, fake_quantize(layer.weight, weight_bits), layer.bias)

    def norm(layer, x):  # an integer norm rounds its output; γ and β fold into the linear after it
        mean = x.mean(-1, keepdim=True)
        variance = x.var(-1, keepdim=True, unbiased=False)
        return act((x - mean) / torch.sqrt(variance + layer.eps)) * layer.weight + layer.bias

    batch, length = ids.shape
    x = act(model.tok(ids) + model.pos[:length])
    for block in model.blocks:
        attention = block.attention
        heads, width = attention.n_head, attention.d_model // attention.n_head
        qkv = act(linear(attention.qkv, norm(block.norm_attention, x)))
        q, k, v = (part.view(batch, length, heads, width).transpose(1, 2)
                   for part in qkv.split(attention.d_model, dim=-1))
        scores = act(q @ k.transpose(-2, -1) * (1 / math.sqrt(width)))
        scores = scores.masked_fill(attention.causal[:length, :length] == 0, float("-inf"))
        attended = act(act(F.softmax(scores, dim=-1), signed=False) @ v)
        x = act(x + act(linear(attention.proj, attended.transpose(1, 2).reshape(batch, length, attention.d_model))))
        hidden = act(F.gelu(act(linear(block.mlp[0], norm(block.norm_mlp, x)))))
        x = act(x + act(linear(block.mlp[2], hidden)))
    x = norm(model.norm, x)
    if model.last_only:
        x = x[:, -1]
    return act(linear(model.head, x))


def consistency_loss(logits: torch.Tensor, noisy: torch.Tensor, targets: torch.Tensor, *, kl_weight: float,
                     margin: float, margin_weight: float) -> torch.Tensor:
    """Cross-entropy of the noisy logits + kl_weight · KL(float ‖ noisy) + margin_weight · the mean
    shortfall of the float model's choice from leading the noisy logits by `margin`."""
    classes = logits.shape[-1]
    logits, noisy, targets = logits.reshape(-1, classes), noisy.reshape(-1, classes), targets.reshape(-1)
    loss = F.cross_entropy(noisy, targets)
    loss = loss + kl_weight * F.kl_div(F.log_softmax(noisy, -1), F.log_softmax(logits, -1), log_target=True,
                                       reduction="batchmean")
    if margin_weight:
        choice = logits.detach().argmax(-1, keepdim=True)
        chosen = noisy.gather(-1, choice).squeeze(-1)
        rival = noisy.scatter(-1, choice, float("-inf")).max(-1).values
        loss = loss + margin_weight * F.relu(margin - (chosen - rival)).mean()
    return loss
