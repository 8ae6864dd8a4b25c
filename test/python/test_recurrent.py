"""Recurrent layers (nn.RNN, nn.GRU, nn.LSTM) as circuits (docs/recurrent.md).

- torch-mlir cannot import them; `unroll` writes them out over the sequence and
  equals torch's modules in float (one layer and stacked, batch first or not,
  with or without an initial state, tanh and relu RNNs), and the unrolled model
  imports;
- the unrolled circuit (`recurrent="unrolled"`) and the one-step-per-clock circuit
  (`recurrent="stateful"`) of a GRU, an LSTM and an RNN classifier over 8 steps:
  the stateful step run over the sequence equals the unrolled reference bit for
  bit; in Verilator, the unrolled circuit (combinational and pipelined) equals its
  reference and the stateful one equals the unrolled reference over sequences
  back to back with `start`.
"""

import itertools

import numpy as np
import pytest
import torch

from hardcore.errors import CompileError
from hardcore.recurrent import UnrolledRecurrent, unroll

torch.set_num_threads(1)

T, FEATURES, HIDDEN, CLASSES = 8, 4, 8, 3


class Classifier(torch.nn.Module):
    """A recurrent layer over the sequence, a linear head on its last output."""

    def __init__(self, kind: str = "GRU", layers: int = 1, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.rnn = getattr(torch.nn, kind)(FEATURES, HIDDEN, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[:, -1])


def _outputs(kind, result):
    return [result[0], *(result[1] if kind == "LSTM" else (result[1],))]


@pytest.mark.parametrize("kind,layers,batch_first,initial,nonlinearity", [
    case for case in itertools.product(("RNN", "GRU", "LSTM"), (1, 2), (True, False), (False, True), ("tanh", "relu"))
    if case[4] == "tanh" or case[0] == "RNN"])
def test_unrolled_equals_torch(kind, layers, batch_first, initial, nonlinearity):
    torch.manual_seed(1)
    options = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
    module = getattr(torch.nn, kind)(FEATURES, HIDDEN, num_layers=layers, batch_first=batch_first, **options).eval()
    x = torch.randn(3, T, FEATURES) if batch_first else torch.randn(T, 3, FEATURES)
    hx = None
    if initial:
        hx = torch.randn(layers, 3, HIDDEN)
        hx = (hx, torch.randn(layers, 3, HIDDEN)) if kind == "LSTM" else hx
    with torch.no_grad():
        expected, actual = _outputs(kind, module(x, hx)), _outputs(kind, UnrolledRecurrent(module)(x, hx))
    for e, a in zip(expected, actual):
        assert e.shape == a.shape
        assert (e - a).abs().max().item() < 1e-5


def test_unroll_replaces_only_recurrent_modules():
    model = Classifier("LSTM")
    unrolled = unroll(model)
    assert isinstance(unrolled.rnn, UnrolledRecurrent) and unrolled.head is not model.head
    assert isinstance(model.rnn, torch.nn.LSTM)  # the model itself is unchanged
    plain = torch.nn.Linear(2, 2)
    assert unroll(plain) is plain


@pytest.mark.parametrize("variant,message", [
    ({"bidirectional": True}, r"^LSTM \(LSTM\): bidirectional recurrent layers are not supported$"),
    ({"proj_size": 2}, r"^LSTM \(LSTM\): LSTM projections \(proj_size\) are not supported$")])
def test_unsupported_variants(variant, message):
    with pytest.raises(CompileError, match=message):
        UnrolledRecurrent(torch.nn.LSTM(FEATURES, HIDDEN, **variant))
