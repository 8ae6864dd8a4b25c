"""hardcore-import's elementwise functions: ReLU, clamps, and `hardcore.activation`s."""

from __future__ import annotations

import math

from hardcore.irutil import create_op

__all__ = ["lower_relu", "lower_clamp", "lower_leaky_relu", "lower_gelu", "clamp_between"]

# aten.gelu's `approximate` -> the activation
_GELUS = {"none": "gelu", "tanh": "gelu_tanh"}


def lower_relu(importer, op):
    flat = importer.elementwise_operand(importer.source(op), op.location)
    relu = create_op("hardcore.relu", [flat], [flat.type], None, op.location)
    return importer.reshaped(relu.results[0], importer.model_shape(op.results[0]), op.location)


def clamp_between(importer, op, low, high, what: str):
    """clamp(x, low, high); None is no bound on that side (torch.clamp's min=None, max=None)."""
    low = -math.inf if low is None else float(low)
    high = math.inf if high is None else float(high)
    if math.isnan(low) or math.isnan(high):
        raise ValueError(f"{what} bounds must be numbers, got {low} and {high}")
    if low > high:
        raise ValueError(f"{what} min {low} is greater than max {high}")
    if low == math.inf or high == -math.inf:
        raise ValueError(f"{what} to [{low}, {high}] leaves no finite value")
    return importer.activation(op, "clamp", {"min": low, "max": high})


def lower_clamp(importer, op):  # aten.clamp(x, min, max), aten.hardtanh(x, min_val, max_val)
    what = op.operation.name.split(".")[-1]
    return clamp_between(importer, op, importer.constant(op.operands[1], f"{what} min"),
                         importer.constant(op.operands[2], f"{what} max"), what)


def lower_leaky_relu(importer, op):
    slope = importer.constant(op.operands[1], "leaky_relu negative_slope")
    return importer.activation(op, "leaky_relu", {"negative_slope": float(slope)})


def lower_gelu(importer, op):
    approximate = importer.constant(op.operands[1], "gelu approximate")
    if approximate not in _GELUS:
        raise ValueError(f"gelu with approximate='{approximate}' is not supported (only 'none' and 'tanh')")
    return importer.activation(op, _GELUS[approximate], {})
