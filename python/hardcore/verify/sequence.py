"""Float sequence-model ops to quantized ones: embedding tables, products of activations, qsoftmax and qnorm
checked, each with its output scale and error bound (`check_quantize`; docs/verification.md).
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.interpreter import causal_mask, qnorm_rows
from hardcore.irutil import array_attr, float_attr, int_attr
from hardcore.verify.compare import _element_count
from hardcore.verify.layers import _fail, _requant_act_bits, _shifts, _signed_bounds

__all__ = ["qsoftmax_bound", "qnorm_bound"]


def _check_input(pass_name: str, where: str, float_op, value, paired: dict) -> None:
    if value != paired.get(float_op.operands[0]):
        _fail(pass_name, where, "its input is not the quantized value of the float layer's input")


def _check_table_entries(pass_name: str, where: str, name: str, table, ideal, entry, definition) -> None:
    """A qsoftmax's or qnorm's table against its definition: every entry within half a unit of `ideal`.

    The first entry k that is not fails the check, named by `entry(k)` ("for -3", "5") with its
    definition `definition(k)` (the formula whose value is ideal[k]).
    """
    bad = np.flatnonzero(np.abs(table - ideal) > 0.5 * (1 + 1e-9))
    if bad.size:
        k = int(bad[0])
        _fail(pass_name, where, f"its {name} table's entry {entry(k)} is {int(table[k])}, {definition(k)} = "
              f"{ideal[k]:.6g} (more than half a unit)")


def _embedding_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                     count: int) -> tuple:
    """An embedding: every code within half a step of its float entry (clipped to the codes' range) and
    within one step unclipped (the largest may saturate); the outputs are entries, so within half a step."""
    _check_input(pass_name, where, float_op, op.operands[0], paired)
    codes = array_attr(op, "table").astype(np.int64)
    table = array_attr(float_op, "table").astype(np.float64)
    if codes.shape != table.shape:
        _fail(pass_name, where, f"its table is {list(codes.shape)}, the float table {list(table.shape)}")
    low, high = int(codes.min(initial=0)), int(codes.max(initial=0))
    inside = (codes > low) & (codes < high)  # entries that did not saturate fix the scale
    fit = inside if inside.any() else np.ones(codes.shape, dtype=bool)
    frac_out = min(range(-80, 81), key=lambda f: float(np.abs(codes[fit] * 2.0 ** -f - table[fit]).max(initial=0.0)))
    step = 2.0 ** -frac_out
    far = (np.abs(np.clip(table, low * step, high * step) - codes * step) > 0.5 * step * (1 + 1e-9)) | \
        (np.abs(table - codes * step) > step * (1 + 1e-9))
    if far.any():
        index = tuple(int(i) for i in np.argwhere(far)[0])
        _fail(pass_name, where, f"its table's entry {list(index)} is {int(codes[index])} * 2^-{frac_out} = "
              f"{codes[index] * step:.6g}, the float entry {table[index]:.6g} (more than half a step)")
    outputs = _element_count(op.results[0].type)
    return frac_out, low * step, high * step, np.full((count, outputs), 0.5 * step)


def _product_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                   count: int) -> tuple:
    """A product of two activations (`mul_tensors`, `matmul`): the integer product of the paired operands,
    exact at fa + fb, requantized within half an output step (saturated to act-bits from the type)."""
    product = op.operands[0].owner if isinstance(op.operands[0], ir.OpResult) else None
    if op.operation.name != "hardcore.requant" or product is None or product.name != float_op.operation.name:
        _fail(pass_name, where, "it is not the requantized product of the float product")
    for k, (float_value, value) in enumerate(zip(float_op.operands, product.operands)):
        if value != paired.get(float_value):
            _fail(pass_name, where, f"its operand {k} is not the quantized value of the float operand {k}")
    frac_out = frac[product.operands[0]] + frac[product.operands[1]] - int(_shifts(op, 1)[0])
    unsigned = int_attr(op, "min") >= 0
    low, high = _signed_bounds(_requant_act_bits(op, unsigned))  # the lower bound signed even when unsigned
    step = 2.0 ** -frac_out
    outputs = _element_count(op.results[0].type)
    return frac_out, low * step, (2 * high + 1 if unsigned else high) * step, np.full((count, outputs), 0.5 * step)


def qsoftmax_bound(kept, exp_frac: int, recip_frac: int, sum_shift: int, out_frac: int, clipped) -> np.ndarray:
    """V of docs/dialect.md: how far a qsoftmax's value before its output rounding lies from the
    probability, in output steps, for rows of `kept` elements whose tables are correctly rounded.

    n/2 of an exp unit from rounding the exponentials, half a reciprocal index
    2^(sum_shift-1) (a whole one where the table's end clips the sum: `clipped`),
    half a reciprocal unit, each relative to the smallest sum 2^exp_frac.  The
    output then rounds by half a step more, and a probability above the
    largest code saturates.
    """
    kept = np.asarray(kept, dtype=np.float64)
    index = np.where(clipped, 2.0, 1.0) * 2.0 ** (sum_shift - exp_frac + out_frac - 1)
    return (kept * 2.0 ** (out_frac - exp_frac - 1) + 2.0 ** (out_frac - recip_frac - 2) + index
            + 2.0 ** (out_frac + exp_frac - recip_frac - 1))


def _qsoftmax_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                    count: int) -> tuple:
    """A qsoftmax: its exp and reciprocal tables checked entry by entry against their definitions
    (half a unit), its probabilities within (1/2 + V) output steps of the float softmax (clipped to the
    largest code; V: `qsoftmax_bound`), and the masked ones exactly 0."""
    source = op.operands[0]
    _check_input(pass_name, where, float_op, source, paired)
    causal = int_attr(op, "causal")
    if causal != int_attr(float_op, "causal"):
        _fail(pass_name, where, f"its causal mask is {causal}, the float softmax's {int_attr(float_op, 'causal')}")
    in_frac, scale = frac[source], float_attr(float_op, "scale")
    exp_table = array_attr(op, "exp_table").astype(np.int64).reshape(-1)
    recip_table = array_attr(op, "recip_table").astype(np.int64).reshape(-1)
    exp_min, sum_shift = int_attr(op, "exp_min"), int_attr(op, "sum_shift")
    out_frac = ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width - 1
    recip_frac = int_attr(op, "shift") + out_frac
    top = int(exp_table[-1]) if exp_table.size else 0
    if top <= 0 or top & (top - 1):
        _fail(pass_name, where, f"its exp table's entry for 0 is {top}, not a power of two")
    exp_frac = top.bit_length() - 1
    differences = exp_min + np.arange(exp_table.size)
    exponentials = np.exp(scale * differences * 2.0 ** -in_frac) * 2.0 ** exp_frac
    _check_table_entries(pass_name, where, "exp", exp_table, exponentials, lambda k: f"for {int(differences[k])}",
                         lambda k: f"exp({scale:g} * {int(differences[k])} * 2^-{in_frac}) * 2^{exp_frac}")
    sums = np.maximum(np.arange(recip_table.size, dtype=np.float64) * 2.0 ** sum_shift, 2.0 ** exp_frac)
    reciprocals = 2.0 ** recip_frac / sums
    _check_table_entries(pass_name, where, "reciprocal", recip_table, reciprocals, str,
                         lambda k: f"2^{recip_frac} / {sums[k]:.0f}")
    shape = list(ir.RankedTensorType(source.type).shape)
    codes = np.asarray(trace[source], dtype=np.int64).reshape([count] + shape)
    keep = np.broadcast_to(causal_mask(shape) if causal else np.ones(shape, dtype=bool), codes.shape)
    row_max = np.where(keep, codes, np.iinfo(np.int64).min).max(axis=-1, keepdims=True)
    if exp_table[0] != 0 and (keep & (codes - row_max < exp_min)).any():
        _fail(pass_name, where, f"a difference below exp_min {exp_min} reads its exp table's first entry, "
              f"{int(exp_table[0])}, not 0")
    kept = keep.sum(axis=-1, keepdims=True)
    largest = ((kept.astype(np.int64) << exp_frac) + ((1 << sum_shift) >> 1)) >> sum_shift
    bound = qsoftmax_bound(kept, exp_frac, recip_frac, sum_shift, out_frac, largest > recip_table.size - 1)
    step = 2.0 ** -out_frac
    bound = np.where(keep, (0.5 + bound) * step, 0.0)
    return out_frac, 0.0, ((1 << out_frac) - 1) * step, bound.reshape(count, -1)


def qnorm_bound(codes, rms: bool, sq_shift: int, table_size: int, recip_frac: int, offset: float) -> np.ndarray:
    """How far each element of a qnorm before its output rounding lies from the float norm, in output
    units, for integer inputs `codes` (rows last) and a correctly rounded table of `table_size` entries:
    |c| (2^-(f_r+1) + sqrt(D) |1/sqrt(max(Q_k + E, 1)) - 1/sqrt(Q + E)|) (docs/dialect.md)."""
    centred, squares, index = qnorm_rows(codes, rms, sq_shift, table_size)
    size = centred.shape[-1]
    table_squares = np.where(index > 0, index * 2.0 ** sq_shift, 2.0 ** (sq_shift - 1) if sq_shift > 0 else 0.0)
    exact = squares + offset
    error = np.abs(1.0 / np.sqrt(np.maximum(table_squares + offset, 1.0))
                   - 1.0 / np.sqrt(np.where(exact > 0, exact, 1.0)))
    return np.abs(centred) * (2.0 ** -(recip_frac + 1) + np.sqrt(size) * np.where(exact > 0, error, 0.0))


def _qnorm_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                 count: int) -> tuple:
    """A qnorm: its inverse square-root table checked entry by entry against its definition (half a
    unit, the scale 2^f_r the one that fits it best), each output within half a step plus `qnorm_bound`
    of the float norm (saturated to act-bits from the type)."""
    source = op.operands[0]
    _check_input(pass_name, where, float_op, source, paired)
    rms = int_attr(op, "rms")
    if rms != int_attr(float_op, "rms"):
        _fail(pass_name, where, f"its rms is {rms}, the float layer norm's {int_attr(float_op, 'rms')}")
    in_frac, eps = frac[source], float_attr(float_op, "eps")
    shape = list(ir.RankedTensorType(source.type).shape)
    size = shape[-1]
    table = array_attr(op, "rsqrt_table").astype(np.int64).reshape(-1)
    sq_shift = int_attr(op, "sq_shift")
    offset = eps * (size if rms else size ** 3) * 2.0 ** (2 * in_frac)
    squares = np.arange(table.size, dtype=np.float64) * 2.0 ** sq_shift
    squares[:1] = 2.0 ** (sq_shift - 1) if sq_shift > 0 else 0.0
    gains = np.sqrt(size) / np.sqrt(np.maximum(squares + offset, 1.0))
    recip_frac = min(range(-80, 81), key=lambda f: float(np.abs(table - 2.0 ** f * gains).max(initial=0.0)))
    ideal = 2.0 ** recip_frac * gains
    _check_table_entries(pass_name, where, "inverse square-root", table, ideal, str,
                         lambda k: f"2^{recip_frac} * sqrt({size}) / sqrt(max({squares[k]:.0f} + {offset:.6g}, 1))")
    out_frac = recip_frac - int_attr(op, "shift")
    codes = np.asarray(trace[source], dtype=np.int64).reshape([count] + shape)
    step = 2.0 ** -out_frac
    bound = 0.5 * step + qnorm_bound(codes, bool(rms), sq_shift, table.size, recip_frac, offset)
    low, high = _signed_bounds(ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width)
    return out_frac, low * step, high * step, bound.reshape(count, -1)


_SEQUENCE_CHECKS = {"hardcore.embedding": _embedding_scale, "hardcore.mul_tensors": _product_scale,
                    "hardcore.matmul": _product_scale, "hardcore.softmax": _qsoftmax_scale,
                    "hardcore.layernorm": _qnorm_scale}
