"""A standalone `hardcore.activation` to exact integer arithmetic: a saturation, a table or a requantization.

- "clamp" (ReLU6, Hardtanh, clamp) is a `hardcore.requant` with shift 0 that
  clamps at the bounds rounded to the input's scale: exactly round(clamp(x)),
  because rounding is monotone (a clamp right after a dense layer is that
  layer's requantization instead: `dense.py`);
- "fake_quant" (QAT) is a requantization to the model's scale and codes;
- every other function becomes a `hardcore.lut`: one entry per input code of
  the range the previous op produces (at most MAX_TABLE_ENTRIES), each
  round-half-up(f(code * 2^-f_in) * 2^f_out) saturated to act-bits, with f_out
  from the largest |f| over those codes (unsigned when f >= 0 on all of them;
  `table-codes=wide`: a signed table act-bits + 1 wide, `activation_table`).
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.interpreter import ACTIVATIONS, activation_params
from hardcore.irutil import create_op, dense_attr, i64_attr, int_type, tensor_type
from hardcore.passes.quantize.common import (KIND, MAX_TABLE_ENTRIES, Lowering, frac_bits_for, round_bound,
                                             shape_of, signed_range)
from hardcore.passes.quantize.fake_quant import fake_quant_params

__all__ = ["TABLE_CODES", "activation_table", "lower_activation"]

# How a table codes its outputs (docs/dialect.md, "Activations"): "magnitude", act-bits signed
# (unsigned when f >= 0); "wide", act-bits + 1 signed (act-bits unsigned when f >= 0): every
# table as wide as an unsigned act-bits output (a ReLU layer's), a signed one one bit finer.
TABLE_CODES = ("magnitude", "wide")


def activation_table(fn: str, params: dict, in_frac: int, in_range: tuple[int, int], act_bits: int,
                     table_codes: str = "magnitude"):
    """The integer table of activation `fn` for input codes in_range (frac bits in_frac).

    Returns (entries, out_frac, (out_low, out_high)): entry k is the output code of
    input code in_range[0] + k, round-half-up(f(code · 2^-in_frac) · 2^out_frac)
    saturated to [out_low, out_high], at the finest scale at which the largest |f|
    fits that range (saturating by at most one step).  The range: unsigned
    act-bits when f >= 0 on every code; otherwise signed act-bits
    (`table_codes` "magnitude") or signed act-bits + 1 ("wide": one more
    fractional bit at one more bit of width, as wide as the unsigned case).
    """
    codes = np.arange(in_range[0], in_range[1] + 1, dtype=np.int64)
    values = ACTIVATIONS[fn][1](codes.astype(np.float64) * 2.0 ** -in_frac, params)
    signed = bool(values.min(initial=0.0) < 0)
    bits = act_bits + (signed and table_codes == "wide")
    out_low, out_high = signed_range(bits) if signed else (0, (1 << bits) - 1)
    out_frac = frac_bits_for(float(np.abs(values).max(initial=0.0)), bits, signed)
    entries = np.clip(np.floor(values * 2.0 ** out_frac + 0.5), out_low, out_high).astype(np.int64)
    return entries, out_frac, (out_low, out_high)


def lower_activation(lowering: Lowering, op) -> bool:
    """A standalone activation: a saturation (clamp), a requantization (fake_quant) or a table."""
    source, in_frac, (low, high) = lowering.quantized[op.operands[0]]
    out_shape = shape_of(op.results[0])
    fn, params = activation_params(op)
    if fn == "fake_quant":
        # QAT: requantize to the model's scale, saturating at its code range.
        out_frac, out_low, out_high = fake_quant_params(op)
        shift = in_frac - out_frac
        scaled = [((v + (1 << (shift - 1))) >> shift) if shift > 0 else v << -shift for v in (low, high)]
        out_range = tuple(min(max(v, out_low), out_high) for v in scaled)
        out_type = tensor_type(out_shape, int_type(signed_width(*out_range)))
        requant = create_op("hardcore.requant", [source], [out_type],
                            {"shift": i64_attr(shift), "min": i64_attr(out_low), "max": i64_attr(out_high)},
                            op.location)
        lowering.quantized[op.results[0]] = (requant.results[0], out_frac, out_range)
        return True
    if fn == "clamp":
        # The bounds at the input's scale.  An infinite bound never binds: it becomes the
        # input's own end, or the other bound when that one lies beyond it.
        limit = 1 << 62
        lo = None if params["min"] == -np.inf else round_bound(params["min"], in_frac, -limit, limit)
        hi = None if params["max"] == np.inf else round_bound(params["max"], in_frac, -limit, limit)
        if lo is None:
            lo = low if hi is None else min(low, hi)
        if hi is None:
            hi = max(high, lo)
        out_range = (min(max(low, lo), hi), min(max(high, lo), hi))
        out_type = tensor_type(out_shape, int_type(signed_width(*out_range)))
        requant = create_op("hardcore.requant", [source], [out_type],
                            {"shift": i64_attr(0), "min": i64_attr(lo), "max": i64_attr(hi)}, op.location)
        lowering.quantized[op.results[0]] = (requant.results[0], in_frac, out_range)
        return True
    entries = high - low + 1
    if entries > MAX_TABLE_ENTRIES:
        lowering.error(op, f"hardcore-quantize: a '{fn}' table on inputs [{low}, {high}] would have {entries} "
                           f"entries, more than the {MAX_TABLE_ENTRIES} a table may hold (act-bits 12 at most)")
        return False
    table, out_frac, _ = activation_table(fn, params, in_frac, (low, high), lowering.quant.default.act_bits,
                                          lowering.pass_.table_codes)
    out_range = (int(table.min()), int(table.max()))
    kind = " ".join([fn] + [f"{name}={value:g}" for name, value in params.items()])
    kind += f", {entries} entries, frac bits {in_frac} -> {out_frac}"
    lut = create_op("hardcore.lut", [source], [tensor_type(out_shape, int_type(signed_width(*out_range)))],
                    {"table": dense_attr(table, int_type(64)), "min": i64_attr(low),
                     KIND: ir.StringAttr.get(kind)}, op.location)
    lowering.quantized[op.results[0]] = (lut.results[0], out_frac, out_range)
    return True
