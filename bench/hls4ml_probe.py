"""hls4ml-style layer kinds through `hardcore.compile`: one line per kind, compiled / bit-exact / error.

    python bench/hls4ml_probe.py                 # every kind: compile, the DAG against the reference
    python bench/hls4ml_probe.py --verilator     # and each circuit in Verilator, combinational
    python bench/hls4ml_probe.py elu prelu       # only these kinds

One small model per layer kind (two inputs where hls4ml tests a merge of two), shaped as hls4ml's PyTorch tests build them
(batch 1; 1-D features of 8-16, sequences of 8 steps x 4 features, images
1-3 x 8 x 8).  For each kind the line says whether `hardcore.compile` accepts
the model, whether the folded DAG (and, with --verilator, the SystemVerilog)
computes the quantized reference bit for bit on random and extreme inputs,
how far the circuit's float outputs are from the model's (largest error over
largest output), or the first line of the error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

# -- the models: each a function of its input tensors ------------------------------------------


class Apply(nn.Module):
    """An nn.Module around a function of the input (and this module's layers)."""

    def __init__(self, function, **layers):
        super().__init__()
        self.function = function
        for name, layer in layers.items():
            setattr(self, name, layer)

    def forward(self, x):
        return self.function(self, x)


class Apply2(Apply):
    """An nn.Module around a function of two inputs (and this module's layers)."""

    def forward(self, x, y):
        return self.function(self, x, y)


def two_inputs(merge):
    """Two inputs, each through its own Linear(16, 8), merged: hls4ml's merge tests (two inputs)."""
    return Apply2(lambda m, x, y: merge(m.a(x), m.b(y)), a=nn.Linear(16, 8), b=nn.Linear(16, 8))


def after_linear(layer, features=16, width=8):
    """Linear(features, width) -> layer, the way hls4ml tests an activation."""
    return nn.Sequential(nn.Linear(features, width), layer)


def prelu(channels: int) -> nn.PReLU:
    """nn.PReLU with a slope per channel, each different (0.05, 0.1, ...): a trained one's."""
    layer = nn.PReLU(channels)
    with torch.no_grad():
        layer.weight.copy_(0.05 * torch.arange(1, channels + 1))
    return layer


def branches(merge):
    """Two Linear(16, 8) branches of one input, merged: hls4ml's merge tests with one input."""
    return Apply(lambda m, x: merge(m.a(x), m.b(x)), a=nn.Linear(16, 8), b=nn.Linear(16, 8))


# kind -> (model factory, example input shape)
KINDS = {
    "linear": (lambda: nn.Linear(16, 8), (1, 16)),
    "relu": (lambda: after_linear(nn.ReLU()), (1, 16)),
    "leaky_relu": (lambda: after_linear(nn.LeakyReLU(0.1)), (1, 16)),
    "elu": (lambda: after_linear(nn.ELU(1.0)), (1, 16)),
    "prelu": (lambda: after_linear(nn.PReLU()), (1, 16)),
    "prelu_channel": (lambda: after_linear(prelu(8)), (1, 16)),
    "prelu_conv": (lambda: nn.Sequential(nn.Conv1d(2, 4, 3), prelu(4)), (1, 2, 8)),
    "sigmoid": (lambda: after_linear(nn.Sigmoid()), (1, 16)),
    "tanh": (lambda: after_linear(nn.Tanh()), (1, 16)),
    "hardtanh": (lambda: after_linear(nn.Hardtanh()), (1, 16)),
    "softmax": (lambda: after_linear(nn.Softmax(dim=-1)), (1, 16)),
    "threshold": (lambda: after_linear(nn.Threshold(0.5, 0.0)), (1, 16)),
    "softplus": (lambda: after_linear(nn.Softplus()), (1, 16)),
    "conv1d": (lambda: nn.Conv1d(4, 8, 3), (1, 4, 8)),
    "conv2d": (lambda: nn.Conv2d(3, 4, 3), (1, 3, 8, 8)),
    "maxpool1d": (lambda: nn.MaxPool1d(2), (1, 4, 8)),
    "maxpool2d": (lambda: nn.MaxPool2d(2), (1, 3, 8, 8)),
    "avgpool1d": (lambda: nn.AvgPool1d(2), (1, 4, 8)),
    "avgpool2d": (lambda: nn.AvgPool2d(2), (1, 3, 8, 8)),
    "batchnorm1d": (lambda: nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8)), (1, 16)),
    "batchnorm2d": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), (1, 3, 8, 8)),
    "flatten": (lambda: nn.Sequential(nn.Conv1d(4, 2, 3), nn.Flatten(), nn.Linear(12, 4)), (1, 4, 8)),
    "squeeze": (lambda: Apply(lambda m, x: m.fc(x.unsqueeze(1)).squeeze(1), fc=nn.Linear(16, 8)), (1, 16)),
    "unsqueeze": (lambda: Apply(lambda m, x: m.conv(x.unsqueeze(1)), conv=nn.Conv1d(1, 2, 3)), (1, 16)),
    "flip": (lambda: Apply(lambda m, x: m.fc(torch.flip(x, [-1]))[:, :4] + m.fc(x)[:, 4:],
                           fc=nn.Linear(16, 8)), (1, 16)),
    "flip_2d": (lambda: Apply(lambda m, x: torch.flip(m.conv(x), [2, 3]), conv=nn.Conv2d(1, 2, 3)), (1, 1, 8, 8)),
    "upsample1d": (lambda: nn.Sequential(nn.Conv1d(4, 2, 3), nn.Upsample(scale_factor=2, mode="nearest")),
                   (1, 4, 8)),
    "upsample2d": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2, mode="nearest")),
                   (1, 1, 8, 8)),
    "pad1d": (lambda: nn.Sequential(nn.ConstantPad1d((2, 1), 0.5), nn.Conv1d(4, 2, 3)), (1, 4, 8)),
    "pad2d": (lambda: nn.Sequential(nn.ConstantPad2d((1, 1, 2, 0), 0.0), nn.Conv2d(1, 2, 3)), (1, 1, 8, 8)),
    "add": (lambda: branches(torch.add), (1, 16)),
    "sub": (lambda: branches(torch.sub), (1, 16)),
    "mul": (lambda: branches(torch.mul), (1, 16)),
    "minimum": (lambda: branches(torch.minimum), (1, 16)),
    "maximum": (lambda: branches(torch.maximum), (1, 16)),
    "cat": (lambda: branches(lambda a, b: torch.cat([a, b], -1)), (1, 16)),
    "dot": (lambda: branches(lambda a, b: (a * b).sum(-1, keepdim=True)), (1, 16)),
    "bmm": (lambda: Apply(lambda m, x: torch.bmm(m.a(x), m.b(x).transpose(1, 2)),
                          a=nn.Linear(4, 4), b=nn.Linear(4, 4)), (1, 8, 4)),
    "einsum_outer": (lambda: branches(lambda a, b: torch.einsum("bi,bj->bij", a, b)), (1, 16)),
    "einsum_bmm": (lambda: Apply(lambda m, x: torch.einsum("bij,bjk->bik", m.a(x), m.b(x).transpose(1, 2)),
                                 a=nn.Linear(4, 4), b=nn.Linear(4, 4)), (1, 8, 4)),
    "einsum_dot": (lambda: branches(lambda a, b: torch.einsum("bi,bi->b", a, b)[:, None]), (1, 16)),
    "rnn": (lambda: Apply(lambda m, x: m.rnn(x)[0], rnn=nn.RNN(4, 8, batch_first=True)), (1, 8, 4)),
    "gru": (lambda: Apply(lambda m, x: m.rnn(x)[0], rnn=nn.GRU(4, 8, batch_first=True)), (1, 8, 4)),
    "lstm": (lambda: Apply(lambda m, x: m.rnn(x)[0], rnn=nn.LSTM(4, 8, batch_first=True)), (1, 8, 4)),
    "layernorm": (lambda: after_linear(nn.LayerNorm(8)), (1, 16)),
    "view": (lambda: Apply(lambda m, x: m.fc(m.conv(x).view(x.shape[0], -1)), conv=nn.Conv1d(4, 2, 3),
                           fc=nn.Linear(12, 4)), (1, 4, 8)),
    "upsample_bilinear": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.UpsamplingBilinear2d(scale_factor=2)),
                          (1, 1, 8, 8)),
    "add_2in": (lambda: two_inputs(torch.add), ((1, 16), (1, 16))),
    "sub_2in": (lambda: two_inputs(torch.sub), ((1, 16), (1, 16))),
    "mul_2in": (lambda: two_inputs(torch.mul), ((1, 16), (1, 16))),
    "minimum_2in": (lambda: two_inputs(torch.minimum), ((1, 16), (1, 16))),
    "maximum_2in": (lambda: two_inputs(torch.maximum), ((1, 16), (1, 16))),
    "cat_2in": (lambda: two_inputs(lambda a, b: torch.cat([a, b], -1)), ((1, 16), (1, 16))),
    "einsum_outer_2in": (lambda: Apply2(lambda m, x, y: torch.einsum("bi,bj->bij", x, y)), ((1, 4), (1, 6))),
    "einsum_bmm_2in": (lambda: Apply2(lambda m, x, y: torch.einsum("bij,bjk->bik", x, y)), ((1, 3, 4), (1, 4, 5))),
    "two_heads": (lambda: Apply2(lambda m, x, y: (m.a(x) + m.b(y), m.c(torch.relu(m.a(x)))),
                                 a=nn.Linear(16, 8), b=nn.Linear(16, 8), c=nn.Linear(8, 3)), ((1, 16), (1, 16))),
    "rnn_stacked": (lambda: Apply(lambda m, x: m.rnn(x)[0][:, -1], rnn=nn.RNN(4, 8, num_layers=2, batch_first=True)),
                    (1, 8, 4)),
    "gru_last": (lambda: Apply(lambda m, x: m.fc(m.rnn(x)[0][:, -1]), rnn=nn.GRU(4, 8, batch_first=True),
                               fc=nn.Linear(8, 3)), (1, 8, 4)),
    "lstm_last": (lambda: Apply(lambda m, x: m.fc(m.rnn(x)[1][0][-1]), rnn=nn.LSTM(4, 8, batch_first=True),
                                fc=nn.Linear(8, 3)), (1, 8, 4)),
    "constant_add": (lambda: Apply(lambda m, x: m.fc(x) + m.c, fc=nn.Linear(16, 8),
                                   c=nn.Buffer(torch.linspace(-1, 1, 8))), (1, 16)),
    "constant_mul": (lambda: Apply(lambda m, x: m.fc(x) * m.c, fc=nn.Linear(16, 8),
                                   c=nn.Buffer(torch.linspace(-1, 1, 8))), (1, 16)),
    "mha": (lambda: Apply(lambda m, x: m.mha(x, x, x, need_weights=False)[0],
                          mha=nn.MultiheadAttention(8, 2, batch_first=True)), (1, 4, 8)),
}


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def probe(kind: str, verilator: bool) -> str:
    """One kind's line: compiled / bit-exact / float error, or where it failed."""
    import hardcore
    from hardcore.interpreter import find_function, run_function
    from hardcore.mlir import new_context, parse_module
    from hardcore.verify import extreme_inputs

    factory, shape = KINDS[kind]
    shapes = shape if isinstance(shape[0], tuple) else (shape,)  # one shape per model input
    several = len(shapes) > 1
    torch.manual_seed(0)
    model = factory().eval()
    rng = np.random.default_rng(0)
    calibration = tuple(2 * rng.standard_normal((256, *s[1:])) for s in shapes)
    example = tuple(torch.zeros(s) for s in shapes)
    start = time.monotonic()
    try:
        circuit = hardcore.compile(model, example if several else example[0],
                                   calibration=calibration if several else calibration[0])
    except Exception as exc:  # the probe reports every failure, whatever its kind
        return f"{kind:14} error     {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    seconds = time.monotonic() - start
    floats = tuple(2 * rng.standard_normal((200, *s[1:])) for s in shapes)
    quantized = _as_tuple(circuit.quantize_input(floats if several else floats[0]))
    vectors = []
    for port, codes in zip(circuit.inputs, quantized):
        low, high = port.range
        vectors.append(np.concatenate([codes, rng.integers(low, high + 1, (200, port.elements)),
                                       extreme_inputs(port.elements, low, high)]))
    vectors = tuple(vectors) if several else vectors[0]
    expected = _as_tuple(circuit.reference(vectors))
    dag = parse_module(circuit.stages["dag"], new_context())
    got = _as_tuple(run_function(find_function(dag.operation), vectors))
    exact = all(np.array_equal(g.reshape(len(e), -1), e) for g, e in zip(got, expected))
    where = "dag"
    if exact and verilator:
        with tempfile.TemporaryDirectory() as workdir:
            result = circuit.simulate(vectors, workdir)
        exact = all(np.array_equal(g, e) for g, e in zip(_as_tuple(result.outputs), expected))
        where = "verilator"
    inputs = tuple(2 * np.random.default_rng(1).standard_normal((200, *s[1:])) for s in shapes)
    with torch.no_grad():
        reference = _as_tuple(model(*(torch.from_numpy(x).float() for x in inputs)))
    predicted = _as_tuple(circuit.predict(inputs if several else inputs[0]))
    error = max(np.abs(p - r.numpy().reshape(len(p), -1)).max() / max(np.abs(r.numpy()).max(), 1e-9)
                for p, r in zip(predicted, reference))
    return (f"{kind:14} compiled  {'bit-exact' if exact else 'MISMATCH'} ({where})  "
            f"float error {error:.3f} of max, {circuit.report['adders']} adders, {seconds:.1f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kinds", nargs="*", help=f"kinds to probe (default all: {', '.join(KINDS)})")
    parser.add_argument("--verilator", action="store_true", help="simulate each compiled circuit too")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    unknown = [kind for kind in args.kinds if kind not in KINDS]
    if unknown:
        parser.error(f"unknown kinds: {', '.join(unknown)}")
    for kind in args.kinds or KINDS:
        print(probe(kind, args.verilator), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
