"""A character-level GPT small enough to hardwire: token and position embeddings, pre-norm blocks, a vocabulary head.

Written with plain standard modules and tensor ops (one packed q/k/v
`nn.Linear`, hand-written causal attention, `nn.LayerNorm`, `nn.GELU`) so
that `torch.export` and torch-mlir import it without custom operators.

`TinyLM(last_only=True)` returns only the last position's logits: the
next-character prediction for a window of `context` characters, which is
what a window circuit computes. `TinyLMWindow` is that model with the
default `CONFIG`, built with no arguments and loading the trained weights
from `out/tinylm/tinylm.pt` when they exist (with the configuration the
trainer wrote beside them, `tinylm.json`), so the compiler's CLI can name it
as `examples/tinylm/model.py:TinyLMWindow`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CONFIG", "WEIGHTS", "WEIGHTS_CONFIG", "CausalSelfAttention", "Block", "TinyLM", "TinyLMWindow"]

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "out" / "tinylm" / "tinylm.pt"
WEIGHTS_CONFIG = WEIGHTS.with_suffix(".json")   # the trainer's record; its "config" is the model's shape
CONFIG = {"vocab_size": 30, "d_model": 32, "n_layer": 2, "n_head": 2, "context": 8}


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees itself and the positions before it."""

    def __init__(self, d_model: int, n_head: int, context: int):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model {d_model} is not a multiple of n_head {n_head}")
        self.d_model, self.n_head = d_model, n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.register_buffer("causal", torch.tril(torch.ones(context, context)))

    def forward(self, x):
        B, T, _ = x.shape
        head_dim = self.d_model // self.n_head
        q, k, v = self.qkv(x).split(self.d_model, dim=-1)
        q = q.view(B, T, self.n_head, head_dim).transpose(1, 2)
        k = k.view(B, T, self.n_head, head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_head, head_dim).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(head_dim))
        scores = scores.masked_fill(self.causal[:T, :T] == 0, float("-inf"))
        heads = F.softmax(scores, dim=-1) @ v
        return self.proj(heads.transpose(1, 2).reshape(B, T, self.d_model))


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x)) with a 4x GELU hidden layer."""

    def __init__(self, d_model: int, n_head: int, context: int):
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, n_head, context)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        x = x + self.attention(self.norm_attention(x))
        return x + self.mlp(self.norm_mlp(x))


class TinyLM(nn.Module):
    """Token ids [B, T] (T <= context) -> next-token logits [B, T, V], or [B, V] (last position) if `last_only`."""

    def __init__(self, vocab_size: int = CONFIG["vocab_size"], d_model: int = CONFIG["d_model"],
                 n_layer: int = CONFIG["n_layer"], n_head: int = CONFIG["n_head"], context: int = CONFIG["context"],
                 last_only: bool = False):
        super().__init__()
        self.context, self.last_only = context, last_only
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.zeros(context, d_model))
        self.blocks = nn.Sequential(*(Block(d_model, n_head, context) for _ in range(n_layer)))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok(ids) + self.pos[:T]
        x = self.norm(self.blocks(x))
        if self.last_only:
            x = x[:, -1]
        return self.head(x)


class TinyLMWindow(TinyLM):
    """`TinyLM(last_only=True)` with the trained weights of `WEIGHTS` if that file exists, else untrained `CONFIG`."""

    def __init__(self):
        config = json.loads(WEIGHTS_CONFIG.read_text())["config"] if WEIGHTS_CONFIG.exists() else CONFIG
        super().__init__(**config, last_only=True)
        if WEIGHTS.exists():
            self.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
