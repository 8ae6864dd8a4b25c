"""Reference interpreter: runs hardcore IR (layer or scalar level) on numpy batches.

Every pass is checked against it (same outputs before and after), and
`Circuit.reference` is this interpreter on the quantized IR.  Integer values
are int64 and every integer result is checked against its declared type, so a
width too narrow for its value is an error here, not a silent wrap.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from torch_mlir import ir

from hardcore.errors import CompileError
from hardcore.irutil import array_attr, body_ops, float_attr, functions, int_attr, requant_shifts
from hardcore.mlir import location_text

__all__ = ["run_function", "find_function", "quantize_array", "InterpreterError", "ACTIVATIONS",
           "activation_params", "lookup", "requant_values", "causal_mask", "qsoftmax", "qnorm", "qnorm_rows",
           "run_decoder"]


class InterpreterError(CompileError):
    """The IR cannot be run, or a value overflowed its declared type."""


def _erf(x):
    # math.erf on every element: exact to f64, no scipy.
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, dtype=np.float64))


def _sigmoid(x, params):
    # 1 / (1 + e^-x) without overflow for large |x|
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# `hardcore.activation`'s functions on f64, as torch defines them: fn -> (parameter
# names, function(x, params)).  hardcore-quantize tabulates the same functions.
ACTIVATIONS: dict[str, tuple[tuple[str, ...], Callable]] = {
    "clamp": (("min", "max"), lambda x, p: np.minimum(np.maximum(x, p["min"]), p["max"])),
    "leaky_relu": (("negative_slope",), lambda x, p: np.where(x >= 0, x, x * p["negative_slope"])),
    "hardsigmoid": ((), lambda x, p: np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "hardswish": ((), lambda x, p: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "sigmoid": ((), _sigmoid),
    "tanh": ((), lambda x, p: np.tanh(x)),
    # GELU as torch defines it: approximate="none" (erf) and "tanh"; SiLU x * sigmoid(x).
    "gelu": ((), lambda x, p: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))),
    "gelu_tanh": ((), lambda x, p: 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))),
    "silu": ((), lambda x, p: x * _sigmoid(x, p)),
    # ELU as aten.elu: scale · (x > 0 ? x : alpha · (e^(input_scale · x) - 1)) (nn.ELU: scale and
    # input_scale 1); threshold: x > threshold ? x : value; softplus: x · beta > threshold ? x :
    # log(1 + e^(beta · x)) / beta.
    "elu": (("alpha", "scale", "input_scale"),
            lambda x, p: p["scale"] * np.where(x > 0, x, p["alpha"] * np.expm1(np.minimum(x, 0) * p["input_scale"]))),
    "threshold": (("threshold", "value"), lambda x, p: np.where(x > p["threshold"], x, p["value"])),
    "softplus": (("beta", "threshold"),
                 lambda x, p: np.where(x * p["beta"] > p["threshold"], x,
                                       np.logaddexp(0.0, np.minimum(x * p["beta"], p["threshold"])) / p["beta"])),
    # torch.fake_quantize_per_tensor_affine at scale 2^-frac_bits, zero point 0: it rounds half to even.
    "fake_quant": (("frac_bits", "min", "max"),
                   lambda x, p: np.clip(np.rint(x * 2.0 ** p["frac_bits"]), p["min"], p["max"]) * 2.0 ** -p["frac_bits"]),
}


def activation_params(op) -> tuple[str, dict[str, float]]:
    """A `hardcore.activation`'s function name and parameters; ValueError unless ACTIVATIONS has them."""
    fn = ir.StringAttr(op.attributes["fn"]).value
    dictionary = ir.DictAttr(op.attributes["params"])
    params = {}
    for index in range(len(dictionary)):
        named = dictionary[index]
        if not isinstance(named.attr, ir.FloatAttr):
            raise ValueError(f"activation '{fn}' parameter '{named.name}' must be a float")
        params[named.name] = float(ir.FloatAttr(named.attr).value)
    if fn not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{fn}' (one of: {', '.join(sorted(ACTIVATIONS))})")
    names = ACTIVATIONS[fn][0]
    if sorted(params) != sorted(names):
        raise ValueError(f"activation '{fn}' takes the parameters [{', '.join(names)}], "
                         f"got [{', '.join(sorted(params))}]")
    return fn, params


def lookup(op, x) -> np.ndarray:
    """`hardcore.lut`/`hardcore.table`: table[x - min]; an input outside the table is an error."""
    table = array_attr(op, "table").astype(np.int64).reshape(-1)
    low = int_attr(op, "min")
    index = np.asarray(x, dtype=np.int64) - low
    if index.size and (index.min() < 0 or index.max() >= table.size):
        bad = int(index.min() if index.min() < 0 else index.max()) + low
        raise InterpreterError(f"{location_text(op.location)}: '{op.operation.name}' got {bad}, outside its "
                               f"table's inputs [{low}, {low + table.size - 1}]")
    return table[index]


def find_function(module: ir.Operation, name: str | None = None):
    candidates = functions(module)
    if name is not None:
        candidates = [f for f in candidates if f.name.value == name]
    if not candidates:
        raise InterpreterError(f"no function{' @' + name if name else ''} in the module")
    return candidates[0]


def _type_range(value_type: ir.Type) -> tuple[int, int] | None:
    element = value_type.element_type if isinstance(value_type, ir.RankedTensorType) else value_type
    if isinstance(element, ir.IntegerType):
        width = ir.IntegerType(element).width
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return None


def _shape(value_type: ir.Type) -> list[int]:
    return list(ir.RankedTensorType(value_type).shape)


def _dense(op, x):
    """y[r] = W x[r] + b for each row r of K elements (R = 1: a flat vector)."""
    weight = array_attr(op, "weight")
    bias = array_attr(op, "bias")
    columns = weight.shape[1]
    flat = x.reshape(x.shape[0], -1)
    if columns == 0 or flat.shape[1] % columns:
        raise InterpreterError(f"{location_text(op.location)}: 'hardcore.dense' operand of {flat.shape[1]} "
                               f"elements is not rows of the weight's {columns} columns")
    rows = flat.reshape(x.shape[0], -1, columns)
    if np.issubdtype(weight.dtype, np.integer):
        weight = weight.astype(np.int64)
        bound = int(np.abs(weight).sum(axis=1).max(initial=0)) * int(np.abs(flat).max(initial=0))
        if bound + int(np.abs(bias).max(initial=0)) >= 1 << 62:
            raise InterpreterError("dense accumulator may exceed 62 bits")
        out = rows.astype(np.int64) @ weight.T + bias.astype(np.int64)
    else:
        out = rows.astype(np.float64) @ weight.astype(np.float64).T + bias.astype(np.float64)
    return out.reshape(x.shape[0], -1)


def _conv(op, x):
    """The 2-D convolution of each sample C x H x W (docs/dialect.md): im2col over the whole batch, then
    one matrix product per group (a single large product, so numpy's BLAS does the float work).

    Integer: exact in int64 (the accumulator bound is checked first, like the dense op's).
    """
    weight = array_attr(op, "weight")
    bias = array_attr(op, "bias").reshape(-1)
    (sh, sw), (ph, pw), (dh, dw) = (array_attr(op, name).reshape(-1).astype(np.int64).tolist()
                                    for name in ("stride", "padding", "dilation"))
    groups = int_attr(op, "groups")
    out_channels, group_in, kh, kw = weight.shape
    batch, channels, height, width = x.shape
    out_h, out_w = _shape(op.results[0].type)[1:]
    integer = np.issubdtype(weight.dtype, np.integer)
    dtype = np.int64 if integer else np.float64
    kernel = weight.astype(dtype).reshape(groups, out_channels // groups, group_in * kh * kw)
    if integer:
        bound = int(np.abs(kernel).sum(axis=2).max(initial=0)) * int(np.abs(x).max(initial=0))
        if bound + int(np.abs(bias).max(initial=0)) >= 1 << 62:
            raise InterpreterError(f"{location_text(op.location)}: 'hardcore.conv' accumulator may exceed 62 bits")
    padded = np.zeros((channels, batch, height + 2 * ph, width + 2 * pw), dtype=dtype)
    padded[:, :, ph:ph + height, pw:pw + width] = x.transpose(1, 0, 2, 3)
    # columns[c, i, j, b, p, q] = padded[c, b, p*sh + i*dh, q*sw + j*dw]: a tap outside the input reads 0
    columns = np.empty((channels, kh, kw, batch, out_h, out_w), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            columns[:, i, j] = padded[:, :, i * dh:i * dh + (out_h - 1) * sh + 1:sh,
                                      j * dw:j * dw + (out_w - 1) * sw + 1:sw]
    out = np.matmul(kernel, columns.reshape(groups, group_in * kh * kw, -1)) + \
        bias.astype(dtype).reshape(groups, -1, 1)
    return out.reshape(out_channels, batch, out_h, out_w).transpose(1, 0, 2, 3)


def _requant(op, x):
    low, high = int_attr(op, "min"), int_attr(op, "max")
    x = x.astype(np.int64)
    flat = x.reshape(x.shape[0], -1)
    try:
        shifts = np.array(requant_shifts(op, flat.shape[1]), dtype=np.int64)
    except ValueError as exc:
        raise InterpreterError(f"{location_text(op.location)}: {exc}") from None
    right = np.maximum(shifts, 0)
    # x + 2^(s-1) for s > 0 (round half up), nothing for s <= 0
    rounding = np.where(shifts > 0, np.left_shift(1, np.maximum(shifts - 1, 0)), 0)
    flat = np.where(shifts > 0, (flat + rounding) >> right, flat << np.maximum(-shifts, 0))
    return np.clip(flat.reshape(x.shape), low, high)


def _quantize(op, x):
    return quantize_array(x, int_attr(op, "frac_bits"), int_attr(op, "min"), int_attr(op, "max"))


def _activation(op, x):
    try:
        fn, params = activation_params(op)
    except ValueError as exc:
        raise InterpreterError(f"{location_text(op.location)}: {exc}") from None
    return ACTIVATIONS[fn][1](np.asarray(x, dtype=np.float64), params)


def _extract(op, x):
    return x.reshape(x.shape[0], -1)[:, int_attr(op, "index")]


def _clamp(op, x):
    return np.clip(x, int_attr(op, "min"), int_attr(op, "max"))


def _windows(op, x):
    """x's elements in each window of `op` (batch, outputs, taps), and which taps are inside."""
    windows = array_attr(op, "windows").astype(np.int64)
    flat = x.reshape(x.shape[0], -1)
    return flat[:, np.maximum(windows, 0)], windows >= 0


def _maxpool(op, x):
    taps, inside = _windows(op, x)
    if np.issubdtype(taps.dtype, np.integer):
        return np.where(inside, taps, np.iinfo(np.int64).min).max(axis=2)
    return np.where(inside, taps, -np.inf).max(axis=2)


def _minpool(op, x):
    taps, inside = _windows(op, x)
    if np.issubdtype(taps.dtype, np.integer):
        return np.where(inside, taps, np.iinfo(np.int64).max).min(axis=2)
    return np.where(inside, taps, np.inf).min(axis=2)


def _avgpool(op, x):
    taps, inside = _windows(op, x)
    if np.issubdtype(taps.dtype, np.integer):
        raise InterpreterError("hardcore.avgpool is a float op (hardcore-quantize makes it a dense layer)")
    return np.where(inside, taps, 0.0).sum(axis=2) / array_attr(op, "divisors").astype(np.float64)


def _argmax(op, x):
    # np.argmax, like torch.argmax, returns the first of equal largest elements.
    index = np.argmax(x.reshape(x.shape[0], -1), axis=1)[:, None]
    return index if np.issubdtype(x.dtype, np.integer) else index.astype(np.float64)


def _concat(op, operands):
    # Operands are batch first: the op's `dim` (of one sample) is axis dim + 1.
    return np.concatenate(operands, axis=int_attr(op, "dim") + 1)


def _gather(op, x):
    indices = array_attr(op, "indices").astype(np.int64).reshape(-1)
    return x.reshape(x.shape[0], -1)[:, indices]


# ---- sequence models -------------------------------------------------------

def requant_values(x, shift: int, low: int, high: int) -> np.ndarray:
    """`hardcore.requant` with one shift: clamp(floor((x + 2^(s-1)) / 2^s), low, high); s <= 0 shifts left."""
    x = np.asarray(x, dtype=np.int64)
    scaled = (x + (1 << (shift - 1))) >> shift if shift > 0 else x << -shift
    return np.clip(scaled, low, high)


def causal_mask(shape) -> np.ndarray:
    """Which elements of a [..., M, N] tensor a causal softmax keeps: j <= i + N - M (M = 1 for rank 1)."""
    rows = shape[-2] if len(shape) > 1 else 1
    columns = shape[-1]
    keep = np.arange(columns)[None, :] <= np.arange(rows)[:, None] + (columns - rows)
    return np.broadcast_to(keep if len(shape) > 1 else keep[0], tuple(shape))


def _embedding(op, x):
    table = array_attr(op, "table")
    positions, vocabulary, _ = table.shape
    ids = np.clip(np.asarray(x, dtype=np.int64), 0, vocabulary - 1)
    if not np.issubdtype(np.asarray(x).dtype, np.integer) and not np.array_equal(ids, x):
        raise InterpreterError(f"{location_text(op.location)}: 'hardcore.embedding' got a non-integer token id")
    flat = ids.reshape(ids.shape[0], -1)
    if positions not in (1, flat.shape[1]):
        raise InterpreterError(f"{location_text(op.location)}: 'hardcore.embedding' table has {positions} "
                               f"positions for {flat.shape[1]} tokens")
    position = np.arange(flat.shape[1]) if positions > 1 else np.zeros(flat.shape[1], dtype=np.int64)
    out = table[position[None, :], flat]  # (batch, tokens, D)
    return out.astype(np.int64) if np.issubdtype(table.dtype, np.integer) else out.astype(np.float64)


def _matmul(op, lhs, rhs):
    if np.issubdtype(lhs.dtype, np.integer) and np.issubdtype(rhs.dtype, np.integer):
        depth = lhs.shape[-1]
        if depth and int(np.abs(lhs).max(initial=0)) * int(np.abs(rhs).max(initial=0)) * depth >= 1 << 62:
            raise InterpreterError(f"{location_text(op.location)}: 'hardcore.matmul' may exceed 62 bits")
        return np.matmul(lhs.astype(np.int64), rhs.astype(np.int64))
    return np.matmul(lhs.astype(np.float64), rhs.astype(np.float64))


def _softmax(op, x):
    scaled = np.asarray(x, dtype=np.float64) * float_attr(op, "scale")
    keep = causal_mask(x.shape[1:]) if int_attr(op, "causal") else np.ones(x.shape[1:], dtype=bool)
    keep = np.broadcast_to(keep, x.shape)
    scaled = np.where(keep, scaled, -np.inf)
    shifted = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return np.where(keep, shifted / shifted.sum(axis=-1, keepdims=True), 0.0)


def _layernorm(op, x):
    x = np.asarray(x, dtype=np.float64)
    eps = float_attr(op, "eps")
    if int_attr(op, "rms"):
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)


def qsoftmax(x, causal: bool, exp_table, exp_min: int, sum_shift: int, recip_table, shift: int,
             low: int, high: int, keep=None) -> np.ndarray:
    """`hardcore.qsoftmax` on integers x (batch first), over the last axis (docs/dialect.md).

    `keep`, when given, is the kept set itself (batch first, broadcast to x; `causal` is then
    ignored): `hardcore.qsoftmax_at`'s prefix.  A row that keeps nothing is all zeros.
    """
    x = np.asarray(x, dtype=np.int64)
    exp_table = np.asarray(exp_table, dtype=np.int64).reshape(-1)
    recip_table = np.asarray(recip_table, dtype=np.int64).reshape(-1)
    if keep is None:
        keep = causal_mask(x.shape[1:]) if causal else np.ones(x.shape[1:], dtype=bool)
    keep = np.broadcast_to(keep, x.shape)
    floor = np.iinfo(np.int64).min
    row_max = np.where(keep, x, floor).max(axis=-1, keepdims=True)
    row_max = np.where(keep.any(axis=-1, keepdims=True), row_max, 0)
    d = np.maximum(x - row_max, exp_min)
    if exp_min + exp_table.size - 1 != 0:
        raise InterpreterError(f"qsoftmax: the exp table covers [{exp_min}, {exp_min + exp_table.size - 1}], "
                               f"not [exp_min, 0]")
    e = np.where(keep, exp_table[np.where(keep, d, 0) - exp_min], 0)
    total = e.sum(axis=-1, keepdims=True)
    index = np.minimum(requant_values(total, sum_shift, 0, np.iinfo(np.int64).max) if sum_shift > 0 else total,
                       recip_table.size - 1)
    r = recip_table[index]
    return np.where(keep, requant_values(e * r, shift, low, high), 0)


def qnorm_rows(x, rms: bool, sq_shift: int = 0, table_size: int | None = None):
    """A qnorm's row math on integers x, over the last axis (docs/dialect.md): (centred, squares, index).

    centred: x (rms) or D·x - Σx; squares: each row's sum of their squares Q (a trailing axis of 1);
    index: Q rounded half up to 2^sq_shift, capped at table_size - 1 (uncapped without a table).
    In int64, unchecked: `qnorm` rejects rows whose sum of squares may reach 2^62.
    """
    x = np.asarray(x, dtype=np.int64)
    size = x.shape[-1]
    centred = x if rms else size * x - x.sum(axis=-1, keepdims=True)
    squares = (centred * centred).sum(axis=-1, keepdims=True)
    index = requant_values(squares, sq_shift, 0, np.iinfo(np.int64).max) if sq_shift > 0 else squares
    return centred, squares, index if table_size is None else np.minimum(index, table_size - 1)


def qnorm(x, rms: bool, sq_shift: int, rsqrt_table, shift: int, low: int, high: int) -> np.ndarray:
    """`hardcore.qnorm` on integers x (batch first), over the last axis (docs/dialect.md)."""
    rsqrt_table = np.asarray(rsqrt_table, dtype=np.int64).reshape(-1)
    centred, _, index = qnorm_rows(x, rms, sq_shift, rsqrt_table.size)
    if int(np.abs(centred).max(initial=0)) ** 2 * centred.shape[-1] >= 1 << 62:
        raise InterpreterError("qnorm: the sum of squares may exceed 62 bits")
    return requant_values(centred * rsqrt_table[index], shift, low, high)


def _qsoftmax(op, x):
    return qsoftmax(x, bool(int_attr(op, "causal")), array_attr(op, "exp_table"), int_attr(op, "exp_min"),
                    int_attr(op, "sum_shift"), array_attr(op, "recip_table"), int_attr(op, "shift"),
                    int_attr(op, "min"), int_attr(op, "max"))


def _positions(op, pos) -> np.ndarray:
    """The step position of each sample: a `pos` operand of one integer per sample."""
    pos = np.asarray(pos)
    if not np.issubdtype(pos.dtype, np.integer) or pos.reshape(pos.shape[0], -1).shape[1] != 1:
        raise InterpreterError(f"{location_text(op.location)}: '{op.operation.name}' expects one integer "
                               f"position per sample")
    return pos.reshape(pos.shape[0]).astype(np.int64)


def _embedding_at(op, x, pos):
    """`hardcore.embedding_at`: table row p = clip(pos, 0, P-1) for every token of x."""
    table = array_attr(op, "table")
    positions, vocabulary, _ = table.shape
    ids = np.clip(np.asarray(x, dtype=np.int64).reshape(x.shape[0], -1), 0, vocabulary - 1)
    p = np.clip(_positions(op, pos), 0, positions - 1)
    out = table[p[:, None], ids]  # (batch, tokens, D)
    return out.astype(np.int64) if np.issubdtype(table.dtype, np.integer) else out.astype(np.float64)


def _insert_row(op, x, row, pos):
    """`hardcore.insert_row`: x with its index pos along `axis` replaced by row (no index: x)."""
    axis = int_attr(op, "axis") + 1  # batch first
    size = x.shape[axis]
    expected = list(x.shape[1:])
    expected[axis - 1] = 1
    if list(row.shape[1:]) != expected:
        raise InterpreterError(f"{location_text(op.location)}: 'hardcore.insert_row' row of shape "
                               f"{list(row.shape[1:])} does not fit axis {axis - 1} of {list(x.shape[1:])}")
    shape = [x.shape[0]] + [1] * (x.ndim - 1)
    shape[axis] = size
    select = (np.arange(size)[None, :] == _positions(op, pos)[:, None]).reshape(shape)
    return np.where(select, row, x)


def _qsoftmax_at(op, x, pos):
    """`hardcore.qsoftmax_at`: qsoftmax over the last axis keeping the j <= pos + offset."""
    limit = _positions(op, pos) + int_attr(op, "offset")
    keep = np.arange(x.shape[-1])[None, :] <= limit[:, None]
    keep = keep.reshape([x.shape[0]] + [1] * (x.ndim - 2) + [x.shape[-1]])
    return qsoftmax(x, False, array_attr(op, "exp_table"), int_attr(op, "exp_min"), int_attr(op, "sum_shift"),
                    array_attr(op, "recip_table"), int_attr(op, "shift"), int_attr(op, "min"),
                    int_attr(op, "max"), keep=keep)


def _qnorm(op, x):
    return qnorm(x, bool(int_attr(op, "rms")), int_attr(op, "sq_shift"), array_attr(op, "rsqrt_table"),
                 int_attr(op, "shift"), int_attr(op, "min"), int_attr(op, "max"))


# Each entry: op name -> function(op, operand arrays) -> result array.
_SEMANTICS: dict[str, Callable] = {
    "hardcore.dense": lambda op, a: _dense(op, a[0]),
    "hardcore.conv": lambda op, a: _conv(op, a[0]),
    "hardcore.relu": lambda op, a: np.maximum(a[0], 0),
    "hardcore.activation": lambda op, a: _activation(op, a[0]),
    "hardcore.lut": lambda op, a: lookup(op, a[0]),
    "hardcore.reshape": lambda op, a: a[0],
    "hardcore.quantize": lambda op, a: _quantize(op, a[0]),
    "hardcore.dequantize": lambda op, a: a[0].astype(np.float64) * 2.0 ** -int_attr(op, "frac_bits"),
    "hardcore.requant": lambda op, a: _requant(op, a[0]),
    "hardcore.maxpool": lambda op, a: _maxpool(op, a[0]),
    "hardcore.minpool": lambda op, a: _minpool(op, a[0]),
    "hardcore.avgpool": lambda op, a: _avgpool(op, a[0]),
    "hardcore.argmax": lambda op, a: _argmax(op, a[0]),
    "hardcore.add_tensors": lambda op, a: a[0] + a[1],
    "hardcore.concat": _concat,
    "hardcore.gather": lambda op, a: _gather(op, a[0]),
    "hardcore.embedding": lambda op, a: _embedding(op, a[0]),
    "hardcore.sub_tensors": lambda op, a: a[0] - a[1],
    "hardcore.mul_tensors": lambda op, a: a[0] * a[1],
    "hardcore.matmul": lambda op, a: _matmul(op, a[0], a[1]),
    "hardcore.softmax": lambda op, a: _softmax(op, a[0]),
    "hardcore.layernorm": lambda op, a: _layernorm(op, a[0]),
    "hardcore.qsoftmax": lambda op, a: _qsoftmax(op, a[0]),
    "hardcore.qnorm": lambda op, a: _qnorm(op, a[0]),
    "hardcore.embedding_at": lambda op, a: _embedding_at(op, a[0], a[1]),
    "hardcore.insert_row": lambda op, a: _insert_row(op, a[0], a[1], a[2]),
    "hardcore.qsoftmax_at": lambda op, a: _qsoftmax_at(op, a[0], a[1]),
    "hardcore.extract": lambda op, a: _extract(op, a[0]),
    "hardcore.pack": lambda op, a: np.stack(a, axis=1),
    "hardcore.sext": lambda op, a: a[0],
    # A register delays by one cycle; with every path balanced (hardcore-pipeline
    # guarantees it), the values computed for one input are the same.
    "hardcore.reg": lambda op, a: a[0],
    "hardcore.shl": lambda op, a: a[0] << int_attr(op, "amount"),
    "hardcore.shr": lambda op, a: a[0] >> int_attr(op, "amount"),
    "hardcore.add": lambda op, a: a[0] + a[1],
    "hardcore.sub": lambda op, a: a[0] - a[1],
    "hardcore.neg": lambda op, a: -a[0],
    "hardcore.mul": lambda op, a: a[0] * a[1],
    "hardcore.clamp": lambda op, a: _clamp(op, a[0]),
    "hardcore.table": lambda op, a: lookup(op, a[0]),
    "hardcore.max": lambda op, a: np.maximum(a[0], a[1]),
    "hardcore.pick": lambda op, a: np.where(a[1] > a[0], a[3], a[2]),
    "hardcore.mux": lambda op, a: np.where((a[0] >= int_attr(op, "min")) & (a[0] <= int_attr(op, "max")), a[1], a[2]),
}


def quantize_array(x, frac_bits: int, low: int, high: int) -> np.ndarray:
    """hardcore.quantize's semantics: clamp(floor(x * 2^frac_bits + 1/2), low, high)."""
    scaled = np.floor(np.asarray(x, dtype=np.float64) * 2.0 ** frac_bits + 0.5)
    return np.clip(scaled, low, high).astype(np.int64)


def run_function(function, inputs, trace: dict | None = None,
                 from_quantized: bool = False, semantics: dict | None = None):
    """Run a function on a batch (batch first): one array in and out, or one per argument and result.

    `inputs` is an array for a one-argument function, or a list or tuple of
    arrays, one per argument (a decoder step: token, position, caches); the
    result is an array for a one-result function, else a tuple of arrays.
    `trace`, when given, receives every op result (batch first) keyed by the
    op result value, for calibration.  `from_quantized` runs integers to integers: the first
    input replaces the result of the leading `hardcore.quantize` (of the first argument; each input
that of its own quantize, for a model with several), and a
    `hardcore.dequantize` passes its integers through.  `semantics` overrides
    entries of the op table (`hardcore.verify` makes `hardcore.reg` a one-step
    delay along the batch axis to run a pipelined DAG as a stream).
    """
    table = {**_SEMANTICS, **semantics} if semantics else _SEMANTICS
    inputs = [np.asarray(x) for x in inputs] if isinstance(inputs, (list, tuple)) else [np.asarray(inputs)]
    block = function.regions[0].blocks[0]
    arguments = list(block.arguments)
    if len(arguments) != len(inputs):
        raise InterpreterError(f"@{function.name.value}: takes {len(arguments)} argument"
                               f"{'s' if len(arguments) != 1 else ''}, got {len(inputs)} input"
                               f"{'s' if len(inputs) != 1 else ''}")
    ops = body_ops(function)
    if from_quantized:
        if not ops or ops[0].operation.name != "hardcore.quantize" or ops[0].operands[0] != arguments[0]:
            raise InterpreterError(f"@{function.name.value}: does not start with hardcore.quantize")
        # The leading quantizes, one per input of a model with several: their results take the integers.
        while ops and ops[0].operation.name == "hardcore.quantize" and ops[0].operands[0] in arguments:
            arguments[arguments.index(ops[0].operands[0])] = ops[0].results[0]
            ops = ops[1:]
    batch = inputs[0].shape[0]
    values: dict = {}
    for index, (argument, array) in enumerate(zip(arguments, inputs)):
        shape = _shape(argument.type)
        if array.shape[0] != batch or array.reshape(batch, -1).shape[1] != int(np.prod(shape)):
            raise InterpreterError(
                f"@{function.name.value}: input shape {list(array.shape[1:])} does not match {shape}")
        values[argument] = array.reshape([batch] + shape)
        if from_quantized or index > 0:  # integer inputs (quantized codes, positions, caches) fit their types
            _check_range(function, values[argument], argument.type)
    for op in ops:
        name = op.operation.name
        if name == "func.return":
            results = tuple(values[v] for v in op.operands)
            return results[0] if len(results) == 1 else results
        if from_quantized and name == "hardcore.dequantize":
            values[op.results[0]] = values[op.operands[0]]
            continue
        if name == "hardcore.constant":
            result = np.full(batch, int_attr(op, "value"), dtype=np.int64)
        else:
            op_semantics = table.get(name)
            if op_semantics is None:
                raise InterpreterError(
                    f"{location_text(op.location)}: the interpreter cannot run '{name}'")
            result = op_semantics(op, [values[v] for v in op.operands])
        result_value = op.results[0]
        if isinstance(result_value.type, ir.RankedTensorType):
            result = result.reshape([batch] + _shape(result_value.type))
        _check_range(op, result, result_value.type)
        values[result_value] = result
        if trace is not None:
            trace[result_value] = result
    raise InterpreterError(f"@{function.name.value}: no func.return")


def _name(op) -> str:
    return op.operation.name if hasattr(op, "operation") else "input"


def _check_range(op, result: np.ndarray, result_type: ir.Type) -> None:
    bounds = _type_range(result_type)
    if bounds is None or result.size == 0:
        return
    low, high = int(result.min()), int(result.max())
    if low < bounds[0] or high > bounds[1]:
        raise InterpreterError(
            f"{location_text(op.location)}: '{_name(op)}' produced {low if low < bounds[0] else high}, "
            f"outside its type {result_type} (overflow)")


def run_reuse_steps(steps: list, inputs) -> np.ndarray:
    """Run the steps of a time-multiplexed circuit (`hardcore-time-multiplex`, in layer order) cycle by cycle.

    In cycle c, step K's slot j computes row c * S + j of layer K (S slots, R
    cycles, N rows: its `hardcore.reuse`), from all N rows of step K - 1, as the
    hardware wrapper does.  `inputs` (batch, n) are the quantized input codes;
    returns the last layer's rows (batch, N).
    """
    values = np.asarray(inputs, dtype=np.int64)
    for step in steps:
        reuse_attr = ir.DictAttr(step.attributes["hardcore.reuse"])
        reuse, rows, slots = (int(ir.IntegerAttr(reuse_attr[key]).value) for key in ("reuse", "rows", "slots"))
        out = np.zeros((len(values), slots * reuse), dtype=np.int64)
        for cycle in range(reuse):
            result = run_function(step, [values, np.full((len(values), 1), cycle, dtype=np.int64)])
            out[:, cycle * slots:(cycle + 1) * slots] = result.reshape(len(values), slots)
        values = out[:, :rows]
    return values


def run_decoder(step, tokens, caches: list | None = None, from_quantized: bool = False):
    """Run a decoder step function (`hardcore-kv-decode`) over token sequences, one step a position.

    `tokens` is (batch, steps, ...): the inputs of positions 0 .. steps - 1 (steps <= the
    function's `hardcore.decoder` positions).  The caches start as `caches` (one array per
    cache argument, batch first; zeros when None) and after every step get the step's fresh
    rows written at its position, as the hardware wrapper does.  Returns the outputs of every
    step stacked on axis 1 (batch, steps, ...) and the caches after the last step.
    """
    decoder = ir.DictAttr(step.attributes["hardcore.decoder"])
    positions = int(ir.IntegerAttr(decoder["positions"]).value)
    axes = [int(ir.IntegerAttr(a).value) for a in ir.ArrayAttr(decoder["cache_axes"])]
    tokens = np.asarray(tokens)
    batch, steps = tokens.shape[:2]
    if steps > positions:
        raise InterpreterError(f"@{step.name.value}: {steps} steps, more than its {positions} positions")
    cache_types = list(step.type.inputs)[2:]
    if caches is None:
        caches = [np.zeros([batch] + _shape(t), dtype=np.int64) for t in cache_types]
    caches = [np.array(c, dtype=np.int64) for c in caches]
    outputs = []
    for t in range(steps):
        pos = np.full((batch, 1), t, dtype=np.int64)
        results = run_function(step, [tokens[:, t], pos] + caches, from_quantized=from_quantized)
        results = results if isinstance(results, tuple) else (results,)
        outputs.append(results[0])
        for cache, fresh, axis in zip(caches, results[1:], axes):
            index = [slice(None)] * cache.ndim
            index[axis + 1] = slice(t, t + 1)
            cache[tuple(index)] = fresh
    return np.stack(outputs, axis=1), caches
