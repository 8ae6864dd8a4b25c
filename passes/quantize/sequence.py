"""Float sequence-model ops to exact integers: embedding tables, products, qsoftmax and qnorm.

docs/dialect.md ("Sequence models") defines the integer ops and the choices
made here:
- an embedding's table becomes integer codes at one power-of-two scale, the
  largest whose act-bits range (unsigned when the table is >= 0) holds it;
- a product of two activations (`hardcore.mul_tensors`, `hardcore.matmul`) is
  exact at fa + fb fractional bits, then requantized to act-bits at the scale
  of its calibrated range (unsigned when both operands are >= 0);
- a softmax becomes a `hardcore.qsoftmax` (an exp table over the differences
  to the row's maximum, a reciprocal table over the row's sum), its output
  unsigned act-bits at 2^-act_bits;
- a layer norm (LayerNorm or RMSNorm, no affine part) becomes a
  `hardcore.qnorm` (an inverse square-root table over the row's sum of
  squares, sized by the largest one on the calibration inputs), its output
  signed act-bits at the scale of its calibrated range.
A table holds at most MAX_TABLE_ENTRIES entries: one that would need more is
an error naming the op.
"""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.interpreter import qnorm_rows
from hardcore.irutil import (array_attr, create_op, dense_attr, float_attr, i64_attr, int_attr, int_type,
                             integer_dtype, tensor_type)
from hardcore.passes.quantize.common import (KIND, MAX_TABLE_ENTRIES, Lowering, frac_bits_for, shape_of,
                                             signed_range)

__all__ = ["token_reader", "lower_embedding", "lower_product", "lower_softmax", "lower_layernorm", "softmax_tables",
           "norm_table"]

# The integer ops compute in int64 (the interpreter; the circuit as wide as needed): sums of
# squares and products must stay below this.
_MAX_MAGNITUDE = 1 << 62


def _round_half_up(values) -> np.ndarray:
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def _requant(value: int, shift: int) -> int:
    """`hardcore.requant` of one integer without saturation: round half up (`>>` floors), or a left shift."""
    return (value + (1 << (shift - 1))) >> shift if shift > 0 else value << -shift


def _carry_kind(op, attributes: dict) -> dict:
    if KIND in op.attributes:  # what the layer was in the model, for the report
        attributes[KIND] = op.attributes[KIND]
    return attributes


def token_reader(op) -> bool:
    """Whether `op`'s operand holds token ids: the function's integer input or an argmax's index."""
    value = op.operands[0]
    if isinstance(value, ir.OpResult):
        return value.owner.name == "hardcore.argmax"
    return isinstance(ir.RankedTensorType(value.type).element_type, ir.IntegerType)


def lower_embedding(lowering: Lowering, op) -> bool:
    """The table's codes round_half_up(table · 2^f), f the largest whose act-bits range holds the table."""
    source, _, (low, high) = lowering.quantized[op.operands[0]]  # ids: 2^0, low >= 0 (token_reader)
    act_bits = lowering.settings(op).act_bits
    table = array_attr(op, "table").astype(np.float64)
    signed = bool(table.min(initial=0.0) < 0)
    code_low, code_high = signed_range(act_bits) if signed else (0, (1 << act_bits) - 1)
    table_frac = frac_bits_for(float(np.abs(table).max(initial=0.0)), act_bits, signed)
    codes = np.clip(_round_half_up(table * 2.0 ** table_frac), code_low, code_high)
    # The rows the ids can reach: ids past the vocabulary read its last row.
    vocabulary = table.shape[1]
    reached = codes[:, min(low, vocabulary - 1):min(high, vocabulary - 1) + 1, :]
    out_range = (int(reached.min(initial=0)), int(reached.max(initial=0)))
    container = integer_dtype(signed_width(int(codes.min(initial=0)), int(codes.max(initial=0))))[0]
    embedding = create_op("hardcore.embedding", [source],
                          [tensor_type(shape_of(op.results[0]), int_type(signed_width(*out_range)))],
                          _carry_kind(op, {"table": dense_attr(codes, int_type(container))}), op.location)
    lowering.quantized[op.results[0]] = (embedding.results[0], table_frac, out_range)
    return True


def lower_product(lowering: Lowering, op) -> bool:
    """a · b (`mul_tensors`) or a batched a @ b (`matmul`): exact at fa + fb frac bits, then requantized."""
    (lhs, lhs_frac, (a_low, a_high)), (rhs, rhs_frac, (b_low, b_high)) = \
        (lowering.quantized[v] for v in op.operands)
    corners = [a_low * b_low, a_low * b_high, a_high * b_low, a_high * b_high]
    depth = shape_of(op.operands[0])[-1] if op.operation.name == "hardcore.matmul" else 1
    low, high = depth * min(corners), depth * max(corners)
    if max(-low, high) >= _MAX_MAGNITUDE:
        lowering.error(op, f"hardcore-quantize: the exact product reaches {max(-low, high)}, more than 62 bits")
        return False
    out_shape = shape_of(op.results[0])
    product = create_op(op.operation.name, [lhs, rhs], [tensor_type(out_shape, int_type(signed_width(low, high)))],
                        _carry_kind(op, {}), op.location)
    settings = lowering.settings(op)
    act_bits = settings.act_bits
    unsigned = a_low >= 0 and b_low >= 0
    out_low, out_high = (0, (1 << act_bits) - 1) if unsigned else signed_range(act_bits)
    out_frac = frac_bits_for(lowering.magnitude(op.results[0], settings), act_bits, not unsigned)
    shift = lhs_frac + rhs_frac - out_frac
    requant = create_op("hardcore.requant", [product.results[0]],
                        [tensor_type(out_shape, int_type(signed_width(out_low, out_high)))],
                        {"shift": i64_attr(shift), "min": i64_attr(out_low), "max": i64_attr(out_high)},
                        op.location)
    # requant is monotone: the product's ends give the output's
    out_range = tuple(min(max(_requant(v, shift), out_low), out_high) for v in (low, high))
    lowering.quantized[op.results[0]] = (requant.results[0], out_frac, out_range)
    return True


def softmax_tables(in_frac: int, in_range: tuple[int, int], scale: float, length: int, act_bits: int):
    """The integer softmax of `length` elements at `in_frac` frac bits: its attributes, or the exp table's size.

    Returns a dict of exp_table, exp_min, sum_shift, recip_table, shift, min, max
    (docs/dialect.md), or the int size the exp table would need when it is more
    than MAX_TABLE_ENTRIES.  f_e = act_bits + ceil(log2 length): the row's
    maximum gives e = 2^f_e, so the sum of the rounded exponentials errs by
    at most half an output step; the sum shift keeps 2^act_bits reciprocal
    steps between 2^f_e and 2^(f_e+1) (at most MAX_TABLE_ENTRIES entries).
    """
    log_length = (length - 1).bit_length()
    exp_frac = act_bits + log_length

    def exp_entry(d):
        return _round_half_up(np.exp(scale * np.asarray(d, dtype=np.float64) * 2.0 ** -in_frac)
                              * 2.0 ** exp_frac)

    lowest = in_range[0] - in_range[1]
    # below d = -(f_e + 1) ln 2 · 2^f_x / scale every entry is 0 (exp · 2^f_e < 1/2)
    zero_below = -(exp_frac + 1) * math.log(2) * 2.0 ** in_frac / scale
    if zero_below <= lowest - 1:
        exp_min = lowest
    else:
        exp_min = math.ceil(zero_below) - 1
        while exp_entry(exp_min + 1) == 0:
            exp_min += 1
        while exp_entry(exp_min) != 0:
            exp_min -= 1
        exp_min = max(exp_min, lowest)
    if 1 - exp_min > MAX_TABLE_ENTRIES:
        return 1 - exp_min
    largest_sum = length << exp_frac
    sum_shift = max(log_length, largest_sum.bit_length() - (MAX_TABLE_ENTRIES - 1).bit_length())
    entries = min(_requant(largest_sum, sum_shift) + 1, MAX_TABLE_ENTRIES)
    recip_frac = exp_frac + act_bits + 1 + log_length
    recip = [((1 << (recip_frac + 1)) + d) // (2 * d)
             for d in (max(k << sum_shift, 1 << exp_frac) for k in range(entries))]
    return {"exp_table": exp_entry(np.arange(exp_min, 1)), "exp_min": exp_min, "sum_shift": sum_shift,
            "recip_table": np.array(recip, dtype=np.int64), "shift": recip_frac - act_bits,
            "min": 0, "max": (1 << act_bits) - 1}


def lower_softmax(lowering: Lowering, op) -> bool:
    """A `hardcore.qsoftmax`: unsigned act-bits probabilities at 2^-act_bits (docs/dialect.md)."""
    source, in_frac, in_range = lowering.quantized[op.operands[0]]
    scale = float_attr(op, "scale")
    if not (math.isfinite(scale) and scale > 0):
        lowering.error(op, f"hardcore-quantize: a softmax's scale must be a positive number, got {scale:g}")
        return False
    act_bits = lowering.settings(op).act_bits
    tables = softmax_tables(in_frac, in_range, scale, shape_of(op.operands[0])[-1], act_bits)
    if isinstance(tables, int):
        lowering.error(op, f"hardcore-quantize: the softmax's exp table on inputs [{in_range[0]}, {in_range[1]}] "
                           f"at 2^-{in_frac} would have {tables} entries, more than the {MAX_TABLE_ENTRIES} a table "
                           f"may hold (fewer act-bits before it)")
        return False
    attributes = {"causal": i64_attr(int_attr(op, "causal"))}
    for name, value in tables.items():
        attributes[name] = dense_attr(value, int_type(64)) if name.endswith("table") else i64_attr(value)
    qsoftmax = create_op("hardcore.qsoftmax", [source],
                         [tensor_type(shape_of(op.results[0]), int_type(act_bits + 1))],
                         _carry_kind(op, attributes), op.location)
    lowering.quantized[op.results[0]] = (qsoftmax.results[0], act_bits, (0, (1 << act_bits) - 1))
    return True


def norm_table(in_frac: int, size: int, rms: bool, eps: float, largest_squares: int, act_bits: int):
    """The inverse square-root table of a `qnorm` over rows of `size`: (sq_shift, table, f_r).

    sq_shift = max(0, bitlen(largest_squares) - (act_bits + 2)); entry k is
    round_half_up(2^f_r · sqrt(size) / sqrt(max(Q_k + E, 1))), Q_k = k · 2^sq_shift
    (Q_0 = 2^(sq_shift - 1), or 0), f_r the least with the last entry >= 2^(act_bits + 1).
    """
    sq_shift = max(0, largest_squares.bit_length() - (act_bits + 2))
    entries = min(_requant(largest_squares, sq_shift) + 1, 1 << (act_bits + 2))
    offset = eps * (size if rms else size ** 3) * 2.0 ** (2 * in_frac)
    squares = np.arange(entries, dtype=np.float64) * 2.0 ** sq_shift
    squares[0] = 2.0 ** (sq_shift - 1) if sq_shift > 0 else 0.0
    gain = math.sqrt(size) / np.sqrt(np.maximum(squares + offset, 1.0))
    target = 1 << (act_bits + 1)
    recip_frac = math.ceil(math.log2((target - 0.5) / gain[-1]))
    while _round_half_up(2.0 ** (recip_frac - 1) * gain[-1]) >= target:
        recip_frac -= 1
    while _round_half_up(2.0 ** recip_frac * gain[-1]) < target:
        recip_frac += 1
    return sq_shift, _round_half_up(2.0 ** recip_frac * gain), recip_frac


def lower_layernorm(lowering: Lowering, op) -> bool:
    """A `hardcore.qnorm`: signed act-bits at the scale of the float output's calibrated range."""
    source, in_frac, (low, high) = lowering.quantized[op.operands[0]]
    eps, rms = float_attr(op, "eps"), bool(int_attr(op, "rms"))
    if not (math.isfinite(eps) and eps >= 0):
        lowering.error(op, f"hardcore-quantize: a layer norm's eps must be a number >= 0, got {eps:g}")
        return False
    size = shape_of(op.operands[0])[-1]
    settings = lowering.settings(op)
    act_bits = settings.act_bits
    largest = max(abs(low), abs(high)) if rms else size * (high - low)
    if largest * largest * size >= _MAX_MAGNITUDE:
        lowering.error(op, f"hardcore-quantize: the layer norm's sum of squares may exceed 62 bits on inputs "
                           f"[{low}, {high}] over {size} elements")
        return False
    # Q of every calibration row, on the integers the quantized IR computes
    _, squares, _ = qnorm_rows(lowering.integer_values(source), rms)
    largest_squares = int(squares.max(initial=0))
    sq_shift, table, recip_frac = norm_table(in_frac, size, rms, eps, largest_squares, act_bits)
    if table.size > MAX_TABLE_ENTRIES:
        lowering.error(op, f"hardcore-quantize: the layer norm's inverse square-root table would have {table.size} "
                           f"entries, more than the {MAX_TABLE_ENTRIES} a table may hold (act-bits 10 at most)")
        return False
    if largest * int(table.max(initial=0)) >= _MAX_MAGNITUDE:
        lowering.error(op, f"hardcore-quantize: the layer norm's products may exceed 62 bits on inputs "
                           f"[{low}, {high}] (eps {eps:g} too small for the input's scale)")
        return False
    out_low, out_high = signed_range(act_bits)
    out_frac = frac_bits_for(lowering.magnitude(op.results[0], settings), act_bits, True)
    attributes = {"rms": i64_attr(int(rms)), "sq_shift": i64_attr(sq_shift),
                  "rsqrt_table": dense_attr(table, int_type(64)), "shift": i64_attr(recip_frac - out_frac),
                  "min": i64_attr(out_low), "max": i64_attr(out_high)}
    qnorm = create_op("hardcore.qnorm", [source], [tensor_type(shape_of(op.results[0]), int_type(act_bits))],
                      _carry_kind(op, attributes), op.location)
    lowering.quantized[op.results[0]] = (qnorm.results[0], out_frac, (out_low, out_high))
    return True
