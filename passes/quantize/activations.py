"""A standalone `hardcore.activation` to exact integer arithmetic: a saturation, a table or a requantization.

- "clamp" (ReLU6, Hardtanh, clamp) is a `hardcore.requant` with shift 0 that
  clamps at the bounds rounded to the input's scale: exactly round(clamp(x)),
  because rounding is monotone (a clamp right after a dense layer is that
  layer's requantization instead: `dense.py`);
- "fake_quant" (QAT) is a requantization to the model's scale and codes;
- every other function becomes a `hardcore.lut`: one entry per input code of
  the range the previous op produces (at most MAX_TABLE_ENTRIES), each
  round-half-up(f(code * 2^-f_in) * 2^f_out) saturated to 2^act_bits codes;
  `table-codes` says which (TABLE_CODES, `activation_table`).
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

# How a table's 2^act_bits output codes cover its function's values (docs/dialect.md, "Activations"):
# "magnitude": the act-bits range, signed (unsigned when f >= 0), at the scale of the largest |f|;
# "span": [lo, lo + 2^act_bits - 1], lo the code of min(f, 0), at the scale of max(f, 0) - min(f, 0).
TABLE_CODES = ("magnitude", "span")


def activation_table(fn: str, params: dict, in_frac: int, in_range: tuple[int, int], act_bits: int,
                     table_codes: str = "magnitude"):
    """The integer table of activation `fn` for input codes in_range (frac bits in_frac).

    Returns (entries, out_frac, (out_low, out_high)): entry k is the output code of
    input code in_range[0] + k, round-half-up(f(code · 2^-in_frac) · 2^out_frac)
    saturated to [out_low, out_high], 2^act_bits codes.  `table_codes`
    "magnitude": the act-bits range (unsigned when f >= 0 on every code) at the
    finest scale that holds the largest |f|; "span": with a = min(f, 0) and
    b = max(f, 0) over the codes, the finest scale at which b - a spans at most
    2^act_bits steps, out_low = round-half-up(a · 2^out_frac), out_high = out_low +
    2^act_bits - 1.  Both saturate by at most one step at the top.  A function
    whose values are all >= 0 gets the same table either way; one whose values
    lie in [-0.17, 3] (GELU) gets one more fractional bit from span, its entries
    a signed range of act-bits + 1 bits.
    """
    codes = np.arange(in_range[0], in_range[1] + 1, dtype=np.int64)
    values = ACTIVATIONS[fn][1](codes.astype(np.float64) * 2.0 ** -in_frac, params)
    lowest = float(values.min(initial=0.0))
    if table_codes == "span":
        # b - a fits 2^act_bits steps as an unsigned magnitude does
        out_frac = frac_bits_for(float(values.max(initial=0.0)) - lowest, act_bits, False)
        out_low = round_bound(lowest, out_frac, -(1 << 62), 0)
        out_high = out_low + (1 << act_bits) - 1
    else:
        signed = lowest < 0
        out_low, out_high = signed_range(act_bits) if signed else (0, (1 << act_bits) - 1)
        out_frac = frac_bits_for(float(np.abs(values).max(initial=0.0)), act_bits, signed)
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
