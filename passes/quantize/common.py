"""What every hardcore-quantize rewrite shares: power-of-two scales, ranges, and the lowering's state."""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.interpreter import _SEMANTICS, activation_params
from hardcore.irutil import create_op, dense_attr, i64_attr, int_type, tensor_type
from hardcore.quant_config import LayerQuant

__all__ = ["MAX_TABLE_ENTRIES", "MAX_FRAC_BITS", "KIND", "frac_bits_for", "needed_frac_bits", "calibrated_magnitude",
           "signed_range", "round_bound", "acc_width", "shift_attr", "shape_of", "following_relu", "following_clamp",
           "rescaled", "Lowering"]

# A lookup table has one entry per input code: 2^act_bits entries, so act-bits <= 12.
MAX_TABLE_ENTRIES = 4096
# Scales are powers of two 2^-f with |f| <= 64 (frac_bits_for): a layer whose largest
# weight needs more (weights of 1e-30 or 1e30) is an error, not all-zero or saturated weights.
MAX_FRAC_BITS = 64
KIND = "hardcore.kind"  # what a layer was in the model (hardcore-import), kept for the report


def frac_bits_for(magnitude: float, bits: int, signed: bool) -> int:
    """Most fractional bits so that `magnitude` still fits `bits` (it may saturate by 1 LSB)."""
    if not magnitude > 0:
        return bits - 1 if signed else bits
    return max(-MAX_FRAC_BITS, min(MAX_FRAC_BITS, needed_frac_bits(magnitude, bits, signed)))


def needed_frac_bits(magnitude: float, bits: int, signed: bool) -> int:
    """The fractional bits that make `magnitude` (> 0) just fit `bits`, without frac_bits_for's bounds."""
    return math.floor(math.log2(2.0 ** (bits - 1 if signed else bits) / magnitude))


def calibrated_magnitude(values: np.ndarray, percentile: float | None) -> float:
    """The magnitude an output scale is chosen for: the largest |x| of `values`, or its `percentile`
    (numpy's, interpolating linearly; the largest when that is 0, as for a value that is almost always 0).

    Only for scales whose requantization saturates: what lies above the percentile saturates.
    """
    magnitudes = np.abs(values)
    largest = float(magnitudes.max(initial=0.0))
    if percentile is None:
        return largest
    return float(np.percentile(magnitudes, percentile)) or largest


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def round_bound(bound: float, frac: int, low: int, high: int) -> int:
    """A clamp bound at `frac` fractional bits, rounded half up and saturated to [low, high]."""
    return int(np.clip(np.floor(bound * 2.0 ** frac + 0.5), low, high))


def acc_width(bound: int) -> int:
    return 32 if bound < (1 << 31) else 64


def shift_attr(shifts: np.ndarray) -> ir.Attribute:
    """A requantization's shift: one integer when all elements share it, else one per element."""
    if len(set(shifts.tolist())) <= 1:
        return i64_attr(int(shifts[0]) if shifts.size else 0)
    return dense_attr(shifts, int_type(64))


def shape_of(value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def following_relu(op):
    """The `hardcore.relu` that is the only user of `op`'s result, or None."""
    uses = list(op.results[0].uses)
    if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.relu":
        return uses[0].owner
    return None


def following_clamp(op):
    """The clamp activation that is the only user of `op`'s result, or None."""
    uses = list(op.results[0].uses)
    if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.activation" and \
            activation_params(uses[0].owner)[0] == "clamp":
        return uses[0].owner
    return None


def rescaled(value, frac: int, value_range, to_frac: int, low: int, high: int, location):
    """`value` at `to_frac` fractional bits, saturated to [low, high], typed for that range.

    A `hardcore.requant` by frac - to_frac (rounding half up when it drops bits, an exact
    left shift otherwise); none when the value is already there and fits its type.
    """
    shift = frac - to_frac
    scaled = [(v + (1 << (shift - 1))) >> shift if shift > 0 else v << -shift for v in value_range]
    out_range = (min(max(scaled[0], low), high), min(max(scaled[1], low), high))
    width = signed_width(low, high)
    if shift == 0 and value_range == out_range and \
            ir.IntegerType(ir.RankedTensorType(value.type).element_type).width == width:
        return value, out_range
    requant = create_op("hardcore.requant", [value], [tensor_type(shape_of(value), int_type(width))],
                        {"shift": i64_attr(shift), "min": i64_attr(low), "max": i64_attr(high)}, location)
    return requant.results[0], out_range


class Lowering:
    """One function's quantization in progress: what every rewrite function reads and fills.

    `quantized` maps each float value to (integer value, frac bits, integer range);
    `trace` holds the calibration run of the float function (float value -> its
    values, batch first); `absorbed` the float ops an earlier rewrite took in (a
    dense layer's ReLU), which the pass then skips.
    """

    def __init__(self, pass_, trace: dict, layer_index: dict):
        self.pass_, self.trace, self.layer_index = pass_, trace, layer_index
        self.quant = pass_.quant
        self.quantized: dict = {}
        self.absorbed: set = set()
        # value of the function being built -> its values on the calibration inputs (integer_values);
        # the pass puts the new function's argument here
        self.integers: dict = {}

    def error(self, op, message: str) -> None:
        self.pass_.error(op, message)

    def settings(self, op) -> LayerQuant:
        """The settings of layer op (one of the pass's layer ops)."""
        return self.quant.layer(self.layer_index[op])

    def magnitude(self, value, settings: LayerQuant) -> float:
        """The magnitude float `value` reaches on the calibration inputs, for the scale of a requantization
        that saturates: the largest, or the percentile `settings.act_percentile` (`calibrated_magnitude`)."""
        return calibrated_magnitude(self.trace[value], settings.act_percentile)

    def integer_values(self, value) -> np.ndarray:
        """What `value`, of the function being built, holds on the calibration inputs (batch first).

        The ops built so far run in the reference interpreter, each once, when
        a rewrite needs the integers themselves (a qnorm's largest sum of squares).
        """
        pending = [value]
        while pending:
            current = pending[-1]
            if current in self.integers:
                pending.pop()
                continue
            owner = current.owner
            missing = [v for v in owner.operands if v not in self.integers]
            if missing:
                pending.extend(missing)
                continue
            result = _SEMANTICS[owner.name](owner, [self.integers[v] for v in owner.operands])
            batch = len(self.integers[owner.operands[0]])
            self.integers[current] = np.reshape(result, [batch] + shape_of(current))
            pending.pop()
        return self.integers[value]
