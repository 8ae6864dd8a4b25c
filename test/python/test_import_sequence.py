"""hardcore-import on sequence models: transformer layers, attention, embeddings, norms, gated MLPs.

Each model is imported from PyTorch (torch-mlir, then hardcore-import) and its float hardcore IR
runs in the reference interpreter (f64) on random inputs (random token ids for language models):
it must match the float32 model within 1e-4.  The IR checks pin what each model becomes
(a causal softmax, a position table folded into the embedding, no batch-moving gathers).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hardcore
from hardcore.frontend import import_model
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import array_attr, body_ops, float_attr, int_attr
from hardcore.mlir import new_context
from hardcore.pipeline import run_pipeline

torch.set_num_threads(1)

TOLERANCE = 1e-4
VOCABULARY = 27


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """The model in eval mode, every parameter drawn again (norms' γ and β too, so they are not the identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


# -- the models -------------------------------------------------------------------
class EncoderClassifier(nn.Module):
    """nn.TransformerEncoderLayer (post-norm, ReLU) + the mean over positions + Linear."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True,
                                                dropout=0.0)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.layer(x).mean(1))


class CausalAttention(nn.Module):
    """Hand-written single-head causal attention after a LayerNorm: split, q·kᵀ / √d, masked_fill, softmax."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.width = width

    def forward(self, x):
        q, k, v = self.qkv(self.norm(x)).split(self.width, dim=-1)
        scores = q @ k.transpose(1, 2) / math.sqrt(self.width)
        length = x.shape[1]
        keep = torch.tril(torch.ones(length, length, dtype=torch.bool))
        return F.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1) @ v


class AdditiveMaskAttention(nn.Module):
    """Scores scaled by mul.Scalar, then a constant mask of 0 and -inf added (triu of -inf)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.width = width

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        length = x.shape[1]
        mask = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        return torch.softmax(torch.bmm(q, k.transpose(1, 2)) * 0.25 + mask, dim=-1).bmm(v)


class CausalSdpa(nn.Module):
    """F.scaled_dot_product_attention(is_causal=True) on two heads, then GELU and the heads merged."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x):
        q, k, v = self.qkv(x).view(1, 4, 3, 2, 4).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.gelu(attended).transpose(1, 2).reshape(1, 4, 8)


class MultiheadAttention(nn.Module):
    """nn.MultiheadAttention (batch_first, eval), self-attention, optionally with a causal bool mask."""

    def __init__(self, need_weights: bool = False, causal: bool = False):
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)
        self.need_weights, self.causal = need_weights, causal

    def forward(self, x):
        length = x.shape[1]
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1) if self.causal else None
        return self.attention(x, x, x, attn_mask=mask, need_weights=self.need_weights)[0]


class EmbeddingLast(nn.Module):
    """Token embedding + learned positions `pos[:T]` (longer than T) + Linear, the last position only."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY, 8)
        self.positions = nn.Parameter(torch.randn(16, 8))
        self.head = nn.Linear(8, VOCABULARY)

    def forward(self, ids):
        return self.head(self.embedding(ids) + self.positions[:ids.shape[1]])[:, -1]


class PositionIds(nn.Module):
    """nanoGPT's positions: a second embedding of arange(T), added to the token embedding."""

    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCABULARY, 8)
        self.positions = nn.Embedding(8, 8)
        self.head = nn.Linear(8, 5)

    def forward(self, ids):
        positions = torch.arange(0, ids.shape[1], dtype=torch.long)
        return self.head(self.tokens(ids) + self.positions(positions))


def mlp(activation: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), activation, nn.Linear(16, 8))


class RMSNormWrittenOut(nn.Module):
    """x * rsqrt(mean(x²) + eps) * w, as Llama writes it, after an nn.RMSNorm."""

    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(16)
        self.weight = nn.Parameter(torch.randn(16))
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        y = self.norm(x)
        return self.head(y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight)


class GatedMlp(nn.Module):
    """silu(a(x)) * b(x), then down: a product of two activations."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.down = nn.Linear(16, 32), nn.Linear(16, 32, bias=False), nn.Linear(32, 16)

    def forward(self, x):
        return self.down(F.silu(self.a(x)) * self.b(x))


class BroadcastProduct(nn.Module):
    """A [T, 1] gate times a [T, D] value, minus a [D] constant: broadcasting gathers and a bias."""

    def __init__(self):
        super().__init__()
        self.gate, self.value = nn.Linear(8, 1), nn.Linear(8, 8)
        self.offset = nn.Parameter(torch.randn(8))

    def forward(self, x):
        return torch.sigmoid(self.gate(x)) * self.value(x) - self.offset


class Block(nn.Module):
    """A pre-norm GPT block: causal self-attention with a packed qkv and heads, then a GELU MLP."""

    def __init__(self, width: int, heads: int, length: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.qkv, self.proj = nn.LayerNorm(width), nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.norm2, self.up, self.down = nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.register_buffer("tril", torch.tril(torch.ones(length, length)))

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(width, -1)
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(width // self.heads))
        scores = scores.masked_fill(self.tril[:length, :length] == 0, float("-inf"))
        y = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(batch, length, width)
        x = x + self.proj(y)
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class CharGpt(nn.Module):
    """A tiny character GPT: embedding + learned positions, two pre-norm blocks, LayerNorm, Linear to V."""

    def __init__(self, last: bool = False, width: int = 16, length: int = 8):
        super().__init__()
        self.last = last
        self.tokens = nn.Embedding(VOCABULARY, width)
        self.positions = nn.Parameter(torch.randn(length, width) * 0.1)
        self.blocks = nn.Sequential(Block(width, 2, length), Block(width, 2, length))
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, VOCABULARY)

    def forward(self, ids):
        length = ids.shape[1]
        logits = self.head(self.norm(self.blocks(self.tokens(ids) + self.positions[:length])))
        return logits[:, -1] if self.last else logits


def tokens(length: int) -> torch.Tensor:
    return torch.zeros(1, length, dtype=torch.long)


# name -> (model factory, example input)
MODELS = {
    "encoder_layer": (EncoderClassifier, torch.zeros(1, 8, 16)),
    "causal_attention": (CausalAttention, torch.zeros(1, 4, 8)),
    "additive_mask": (AdditiveMaskAttention, torch.zeros(1, 5, 8)),
    "sdpa_causal": (CausalSdpa, torch.zeros(1, 4, 8)),
    "multihead_attention": (MultiheadAttention, torch.zeros(1, 4, 16)),
    "multihead_attention_weights": (lambda: MultiheadAttention(need_weights=True), torch.zeros(1, 4, 16)),
    "multihead_attention_causal": (lambda: MultiheadAttention(causal=True), torch.zeros(1, 4, 16)),
    "embedding_last": (EmbeddingLast, tokens(8)),
    "position_ids": (PositionIds, tokens(6)),
    "gelu_mlp": (lambda: mlp(nn.GELU()), torch.zeros(1, 5, 8)),
    "gelu_tanh_mlp": (lambda: mlp(nn.GELU(approximate="tanh")), torch.zeros(1, 5, 8)),
    "silu_mlp": (lambda: mlp(nn.SiLU()), torch.zeros(1, 5, 8)),
    "rms_norm": (lambda: nn.Sequential(nn.RMSNorm(16), nn.Linear(16, 4)), torch.zeros(1, 3, 16)),
    "rms_norm_written_out": (RMSNormWrittenOut, torch.zeros(1, 3, 16)),
    "gated_mlp": (GatedMlp, torch.zeros(1, 4, 16)),
    "broadcast_product": (BroadcastProduct, torch.zeros(1, 4, 8)),
    "char_gpt": (CharGpt, tokens(8)),
    "char_gpt_last": (lambda: CharGpt(last=True), tokens(8)),
    "char_gpt_shorter": (lambda: CharGpt(last=True), tokens(5)),
}


def imported(model: nn.Module, example: torch.Tensor):
    """The float hardcore IR of `model` (torch-mlir, then hardcore-import): the module and its function."""
    module = import_model(model, example, new_context())
    run_pipeline(module, "hardcore-import")
    return module, find_function(module.operation)


def random_inputs(example: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if example.dtype == torch.long:
        return torch.randint(0, VOCABULARY, (count, *example.shape[1:]), generator=generator)
    return torch.randn((count, *example.shape[1:]), generator=generator)


def ops_named(function, name: str) -> list:
    return [op for op in body_ops(function) if op.operation.name == name]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_import_matches_torch(name):
    factory, example = MODELS[name]
    model = randomized(factory())
    module, function = imported(model, example)
    inputs = random_inputs(example, 16, seed=1)
    with torch.no_grad():
        expected = torch.cat([model(sample[None]) for sample in inputs]).numpy().reshape(len(inputs), -1)
    got = run_function(function, inputs.numpy()).reshape(len(inputs), -1)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) < TOLERANCE


def softmaxes(function) -> list[tuple[int, float]]:
    return [(int_attr(op, "causal"), round(float_attr(op, "scale"), 6))
            for op in ops_named(function, "hardcore.softmax")]


# name -> (argument type, softmaxes (causal, scale), LayerNorms' rms, embedding tables' shapes, products)
SHAPES = {
    "encoder_layer": ("tensor<8x16xf32>", [(0, round(8 ** -0.5, 6))], [0, 0], [], 0),
    "causal_attention": ("tensor<4x8xf32>", [(1, round(8 ** -0.5, 6))], [0], [], 0),
    "additive_mask": ("tensor<5x8xf32>", [(1, 0.25)], [], [], 0),
    "multihead_attention_causal": ("tensor<4x16xf32>", [(1, round(8 ** -0.5, 6))], [], [], 0),
    # need_weights scales q before q·kᵀ: the factor folds into the softmax too
    "multihead_attention_weights": ("tensor<4x16xf32>", [(0, round(8 ** -0.5, 6))], [], [], 0),
    "embedding_last": ("tensor<8xi64>", [], [], [(8, VOCABULARY, 8)], 0),
    "position_ids": ("tensor<6xi64>", [], [], [(6, VOCABULARY, 8)], 0),
    "rms_norm_written_out": ("tensor<3x16xf32>", [], [1, 1], [], 0),
    "gated_mlp": ("tensor<4x16xf32>", [], [], [], 1),
    "char_gpt_last": ("tensor<8xi64>", [(1, round(8 ** -0.5, 6))] * 2, [0] * 5, [(8, VOCABULARY, 16)], 0),
    "char_gpt_shorter": ("tensor<5xi64>", [(1, round(8 ** -0.5, 6))] * 2, [0] * 5, [(5, VOCABULARY, 16)], 0),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_what_each_model_becomes(name):
    """Masks and scales (of the scores, or of q) fold into the softmaxes, positions into the embedding's
    table (one per position), LayerNorms and RMSNorms are one op each, and the batch dimension is gone
    from the argument."""
    argument, expected_softmaxes, rms, tables, products = SHAPES[name]
    factory, example = MODELS[name]
    _, function = imported(randomized(factory()), example)
    assert str(function.type.inputs[0]) == argument
    assert softmaxes(function) == expected_softmaxes
    assert [int_attr(op, "rms") for op in ops_named(function, "hardcore.layernorm")] == rms
    assert [array_attr(op, "table").shape for op in ops_named(function, "hardcore.embedding")] == tables
    assert len(ops_named(function, "hardcore.mul_tensors")) == products


class Function(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function(x)


def scores(x):
    return x @ x.transpose(1, 2)


@pytest.mark.parametrize("function,message", [
    (lambda x: F.softmax(scores(x).masked_fill(torch.tril(torch.ones(4, 4, dtype=torch.bool)), float("-inf")), -1),
     "hardcore-import: where.self: only a causal mask of softmax scores is supported (query i keeps the keys "
     "j <= i + N - M); this one masks key 0 of query 0"),
    (lambda x: F.softmax(scores(x).masked_fill(x[:, :, :4] > 0, float("-inf")), -1),
     "hardcore-import: 'torch.aten.gt.Scalar' is supported on constants only, not on a tensor the model computes"),
    (lambda x: F.softmax(scores(x) + torch.arange(16.0).reshape(4, 4), -1),
     "hardcore-import: add.Tensor of softmax scores and a constant other than a mask of 0 and -inf is not supported"),
    (lambda x: F.softmax(x, 1), "hardcore-import: softmax over dim 1 of 3 is not supported (only over the last one)"),
    (lambda x: F.scaled_dot_product_attention(x, x, x, dropout_p=0.1),
     "hardcore-import: scaled_dot_product_attention with dropout_p > 0 is random: compile the model in eval mode, "
     "with dropout_p=0"),
    (lambda x: F.scaled_dot_product_attention(x, x, x, attn_mask=torch.eye(4, dtype=torch.bool)),
     "hardcore-import: scaled_dot_product_attention attn_mask: only a causal mask of softmax scores is supported "
     "(query i keeps the keys j <= i + N - M); this one masks key 0 of query 1"),
    (lambda x: F.dropout(x, 0.1, training=True),
     "hardcore-import: dropout in training mode is random: compile the model in eval mode"),
    (lambda x: torch.multinomial(F.softmax(x[:, -1], -1), 1),
     "hardcore-import: unsupported op 'torch.aten.multinomial'"),
    (lambda x: x * torch.arange(32.0).reshape(4, 8),
     "hardcore-import: mul.Tensor of a constant tensor of shape [4, 8] is not supported (only a constant that is the "
     "same for every row of the last dimension, or a position embedding added to a token embedding)"),
    (lambda x: x * torch.cos(torch.arange(32.0).reshape(4, 8)), "hardcore-import: unsupported op 'torch.aten.cos'"),
    (lambda x: F.layer_norm(x, (4, 8)),
     "hardcore-import: layer_norm over [4, 8] is not supported (only over the last dimension, [8])"),
    (lambda x: x / torch.sigmoid(x),
     "hardcore-import: div.Tensor by a tensor the model computes is not supported (only by constants)"),
])
def test_unsupported_sequence_models_are_errors(function, message):
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(Function(function).eval(), torch.zeros(1, 4, 8))
    assert [d.message for d in info.value.diagnostics] == [message]


def test_token_ids_feed_only_embeddings():
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(Function(lambda ids: ids.float() * 2).eval(), tokens(4))
    assert [d.message for d in info.value.diagnostics] == [
        "hardcore-import: 'torch.aten.to.dtype' is supported on constants only, not on a tensor the model computes"]


def test_dynamic_sequence_length_is_an_error():
    model = CausalAttention().eval()
    program = torch.export.export(model, (torch.zeros(1, 4, 8),),
                                  dynamic_shapes={"x": {1: torch.export.Dim("length", min=2, max=16)}})
    with pytest.raises(hardcore.CompileError) as info:
        hardcore.compile(program, torch.zeros(1, 4, 8))
    assert [d.message for d in info.value.diagnostics] == [
        "hardcore-import: dynamic shapes are not supported: !torch.vtensor<[1,?,8],f32>"]
