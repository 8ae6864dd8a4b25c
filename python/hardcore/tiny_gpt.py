"""Random tiny quantized GPTs: integer layer IR of a causal language model, for tests of sequence passes.

`random_gpt(seed)` writes the MLIR text of a function `@gpt` from T token ids
(`tensor<Txi64>`) to the logits of every position (`tensor<TxVxf32>`), made only of
the contract's integer layer ops (docs/dialect.md, "Sequence models"):

    quantize -> embedding (P = T: learned positions folded in, or P = 1)
      -> layers x [qnorm -> dense q, k, v -> requant -> gather (heads, kᵀ)
                   -> matmul q·kᵀ -> requant -> qsoftmax (causal) -> matmul ·v -> requant
                   -> gather (merge heads) -> dense -> requant -> add_tensors -> requant
                   -> qnorm -> dense -> requant -> relu | lut -> dense -> requant
                   -> add_tensors -> requant]
      -> qnorm -> dense (logits) -> dequantize

Weights, biases, embedding tables and the tables of `qsoftmax`, `qnorm` and the
`lut` are random or follow the quantization rules loosely; every result type
is the narrowest that interval arithmetic proves safe, so the reference
interpreter never reports an overflow.  `causal=False` makes the attention
see every position (a model `hardcore-kv-decode` must reject).
"""

from __future__ import annotations

import math

import numpy as np

from hardcore.adder_graph import signed_width

__all__ = ["random_gpt"]


def _dense_text(array: np.ndarray, element: str) -> str:
    shape = "x".join(str(d) for d in array.shape)
    return f"dense<{np.asarray(array).tolist()}> : tensor<{shape}x{element}>"


class _Writer:
    """Emits one op a line and tracks each value's shape and integer range."""

    def __init__(self, rng: np.random.Generator, act_bits: int, weight_bits: int):
        self.rng, self.act_bits, self.weight_bits = rng, act_bits, weight_bits
        self.lines: list[str] = []
        self.info: dict[str, tuple[tuple[int, ...], int, int]] = {}
        self.arguments: dict[str, str] = {}  # argument name -> its type
        self.count = 0
        self.low, self.high = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1

    def type_of(self, name: str) -> str:
        if name in self.arguments:
            return self.arguments[name]
        shape, low, high = self.info[name]
        return f"tensor<{'x'.join(map(str, shape))}xi{signed_width(low, high)}>"

    def emit(self, op: str, operands: list[str], attributes: str, shape, low: int, high: int) -> str:
        name = f"%{self.count}"
        self.count += 1
        self.info[name] = (tuple(shape), int(low), int(high))
        operand_types = ", ".join(self.type_of(o) for o in operands)
        attributes = f" {{{attributes}}}" if attributes else ""
        self.lines.append(f'    {name} = "hardcore.{op}"({", ".join(operands)}){attributes} : '
                          f"({operand_types}) -> {self.type_of(name)}")
        return name

    def requant(self, x: str, unsigned: bool = False, headroom: int = 2) -> str:
        """To act-bits (signed, or unsigned after a ReLU): a right shift that lets the largest
        `headroom` bits of the worst case saturate (typical values are far below it)."""
        shape, low, high = self.info[x]
        magnitude = max(abs(low), abs(high), 1)
        shift = max(0, magnitude.bit_length() - (self.act_bits - 1) - headroom + int(self.rng.integers(0, 2)))
        low_out, high_out = (0, (1 << self.act_bits) - 1) if unsigned else (self.low, self.high)
        return self.emit("requant", [x], f"shift = {shift} : i64, min = {low_out} : i64, max = {high_out} : i64",
                         shape, low_out, high_out)

    def dense(self, x: str, outputs: int) -> str:
        shape, low, high = self.info[x]
        bound = (1 << (self.weight_bits - 1)) - 1
        weight = self.rng.integers(-bound, bound + 1, size=(outputs, shape[-1]))
        bias = self.rng.integers(-4, 5, size=outputs)
        rows_low = np.minimum(weight * low, weight * high).sum(axis=1) + bias
        rows_high = np.maximum(weight * low, weight * high).sum(axis=1) + bias
        attributes = f"weight = {_dense_text(weight, 'i8')}, bias = {_dense_text(bias, 'i64')}"
        return self.emit("dense", [x], attributes, shape[:-1] + (outputs,), rows_low.min(), rows_high.max())

    def gather(self, x: str, shape, indices: np.ndarray) -> str:
        _, low, high = self.info[x]
        return self.emit("gather", [x], f"indices = {_dense_text(indices.reshape(-1), 'i64')}", shape, low, high)

    def matmul(self, lhs: str, rhs: str) -> str:
        lhs_shape, lhs_low, lhs_high = self.info[lhs]
        rhs_shape, rhs_low, rhs_high = self.info[rhs]
        corners = [a * b for a in (lhs_low, lhs_high) for b in (rhs_low, rhs_high)]
        depth = lhs_shape[-1]
        return self.emit("matmul", [lhs, rhs], "", lhs_shape[:-1] + rhs_shape[-1:],
                         depth * min(corners), depth * max(corners))

    def add(self, lhs: str, rhs: str) -> str:
        shape, lhs_low, lhs_high = self.info[lhs]
        _, rhs_low, rhs_high = self.info[rhs]
        return self.emit("add_tensors", [lhs, rhs], "", shape, lhs_low + rhs_low, lhs_high + rhs_high)

    def qnorm(self, x: str, rms: bool) -> str:
        """Tables as hardcore-quantize makes them (eps = 0), the output at act-bits - 3 frac bits."""
        shape, low, high = self.info[x]
        size = shape[-1]
        magnitude = max(abs(low), abs(high), 1)
        centred = magnitude if rms else 2 * size * magnitude
        largest = size * centred * centred
        sq_shift = max(0, largest.bit_length() - (self.act_bits + 2))
        sums = [max(k << sq_shift, 1) for k in range((largest >> sq_shift) + 1)]
        frac_r = self.act_bits + 1 + math.ceil(math.log2(math.sqrt(sums[-1] / size) + 1))
        table = [round(2.0 ** frac_r * math.sqrt(size) / math.sqrt(q)) for q in sums]
        attributes = (f"rms = {int(rms)} : i64, sq_shift = {sq_shift} : i64, "
                      f"rsqrt_table = {_dense_text(np.array(table), 'i32')}, "
                      f"shift = {frac_r - (self.act_bits - 3)} : i64, min = {self.low} : i64, max = {self.high} : i64")
        return self.emit("qnorm", [x], attributes, shape, self.low, self.high)

    def qsoftmax(self, x: str, causal: bool) -> str:
        shape, low, high = self.info[x]
        bits = self.act_bits
        exp_min = max(low - high, -4095)
        exp_table = [round(math.exp(d / 4.0) * (1 << bits)) for d in range(exp_min, 1)]
        columns = shape[-1]
        sum_shift = max(0, (columns << bits).bit_length() - (bits + 2))
        frac_r = 2 * bits + 1 + math.ceil(math.log2(columns))
        recip_table = [round(2.0 ** frac_r / max(k << sum_shift, 1 << bits))
                       for k in range((columns << bits >> sum_shift) + 1)]
        attributes = (f"causal = {int(causal)} : i64, exp_table = {_dense_text(np.array(exp_table), 'i32')}, "
                      f"exp_min = {exp_min} : i64, sum_shift = {sum_shift} : i64, "
                      f"recip_table = {_dense_text(np.array(recip_table), 'i32')}, shift = {frac_r - bits} : i64, "
                      f"min = 0 : i64, max = {(1 << bits) - 1} : i64")
        return self.emit("qsoftmax", [x], attributes, shape, 0, (1 << bits) - 1)

    def lut(self, x: str) -> str:
        """A GELU-like table over x's range, at act-bits signed."""
        shape, low, high = self.info[x]
        unit = 1 << max(self.act_bits - 2, 0)
        codes = np.arange(low, high + 1) / unit
        table = np.clip(np.round(0.5 * codes * (1 + np.tanh(0.8 * codes)) * unit), self.low, self.high).astype(int)
        return self.emit("lut", [x], f"table = {_dense_text(table, 'i32')}, min = {low} : i64",
                         shape, int(table.min()), int(table.max()))


def _attention(writer: _Writer, x: str, positions: int, width: int, heads: int, causal: bool) -> str:
    head = width // heads
    q, k, v = (writer.requant(writer.dense(x, width)) for _ in range(3))
    # q, v: [T, D] -> [H, T, dh]; kᵀ: [T, D] -> [H, dh, T]
    h, t, d = np.meshgrid(np.arange(heads), np.arange(positions), np.arange(head), indexing="ij")
    split = t * width + h * head + d
    q_heads = writer.gather(q, (heads, positions, head), split)
    v_heads = writer.gather(v, (heads, positions, head), split)
    k_heads = writer.gather(k, (heads, head, positions), split.transpose(0, 2, 1))
    scores = writer.requant(writer.matmul(q_heads, k_heads))
    weights = writer.qsoftmax(scores, causal)
    mixed = writer.requant(writer.matmul(weights, v_heads))
    # [H, T, dh] -> [T, D]: element (t, h*dh + d) is (h, t, d)
    t, h, d = np.meshgrid(np.arange(positions), np.arange(heads), np.arange(head), indexing="ij")
    merged = writer.gather(mixed, (positions, width), h * positions * head + t * head + d)
    return writer.requant(writer.dense(merged, width))


def random_gpt(seed: int, positions: int = 4, width: int = 4, heads: int = 2, vocabulary: int = 5,
               layers: int = 1, act_bits: int = 4, weight_bits: int = 4, position_table: bool = True,
               rms: bool = False, activation: str = "relu", causal: bool = True) -> str:
    """MLIR text of a random quantized GPT `@gpt`: T token ids -> logits of every position (T x V)."""
    if width % heads:
        raise ValueError(f"width {width} is not a multiple of heads {heads}")
    rng = np.random.default_rng(seed)
    writer = _Writer(rng, act_bits, weight_bits)
    writer.arguments["%ids"] = f"tensor<{positions}xi64>"
    ids = writer.emit("quantize", ["%ids"], f"frac_bits = 0 : i64, min = 0 : i64, max = {vocabulary - 1} : i64",
                      (positions,), 0, vocabulary - 1)
    table = rng.integers(writer.low, writer.high + 1, size=(positions if position_table else 1, vocabulary, width))
    x = writer.emit("embedding", [ids], f"table = {_dense_text(table, 'i8')}", (positions, width),
                    writer.low, writer.high)
    for _ in range(layers):
        attended = _attention(writer, writer.qnorm(x, rms), positions, width, heads, causal)
        x = writer.requant(writer.add(x, attended), headroom=1)
        hidden = writer.requant(writer.dense(writer.qnorm(x, rms), 2 * width))
        hidden = writer.emit("relu", [hidden], "", *writer.info[hidden]) if activation == "relu" \
            else writer.lut(hidden)
        x = writer.requant(writer.add(x, writer.requant(writer.dense(hidden, width))), headroom=1)
    logits = writer.dense(writer.qnorm(x, rms), vocabulary)
    shape = f"{positions}x{vocabulary}"
    writer.lines.append(f'    %out = "hardcore.dequantize"({logits}) {{frac_bits = {act_bits - 1} : i64}} : '
                        f"({writer.type_of(logits)}) -> tensor<{shape}xf32>")
    body = "\n".join(writer.lines)
    return (f"func.func @gpt(%ids: tensor<{positions}xi64>) -> tensor<{shape}xf32> {{\n{body}\n"
            f"    return %out : tensor<{shape}xf32>\n}}\n")
