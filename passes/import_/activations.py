"""hardcore-import's elementwise functions: ReLU, clamps, PReLU, and `hardcore.activation`s."""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op, dense_attr, tensor_type
from hardcore.passes.import_.importer import full_shape

__all__ = ["lower_relu", "lower_clamp", "lower_leaky_relu", "lower_gelu", "lower_prelu", "clamp_between",
           "lower_with_params"]

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


def lower_with_params(fn: str, *names: str):
    """The lowering of an activation whose parameters are the op's constant operands after x, in order
    (aten.elu(x, alpha, scale, input_scale), aten.threshold(x, threshold, value), aten.softplus(x, beta,
    threshold))."""
    def lower(importer, op):
        params = {name: importer.constant(operand, f"{fn} {name}") for name, operand in zip(names, op.operands[1:])}
        for name, value in params.items():
            if not math.isfinite(value):
                raise ValueError(f"{fn} {name} must be a finite number, got {value}")
        if fn == "softplus" and params["beta"] == 0:
            raise ValueError("softplus beta must not be 0")
        return importer.activation(op, fn, {name: float(value) for name, value in params.items()})
    return lower


def lower_prelu(importer, op):
    """aten.prelu(x, weight): a "leaky_relu" of each slope.  One slope (or all equal): one activation.
    Slopes per channel (dim 1 of x, a Linear's features or a convolution's channels): the elements of
    the channels that share a slope gathered, a "leaky_relu" on each group, the groups concatenated
    and gathered back into the model's order."""
    weight = importer.tensor(op.operands[1], "prelu weight").reshape(-1)
    slopes = np.unique(weight)
    if slopes.size == 1:
        return importer.activation(op, "leaky_relu", {"negative_slope": float(slopes[0])})
    shape = full_shape(op.operands[0])
    if len(shape) < 2 or shape[1] != weight.size:
        raise ValueError(f"prelu with {weight.size} slopes needs {weight.size} channels in dim 1, got {shape}")
    source = importer.flat(importer.source(op), op.location)
    channel = np.broadcast_to(np.arange(shape[1]).reshape([1, -1] + [1] * (len(shape) - 2)), shape).reshape(-1)
    order, groups = [], []
    for slope in slopes:  # every group first: hardcore-quantize scales a chain of concats once, at its root
        indices = np.flatnonzero(weight[channel] == slope)
        group = create_op("hardcore.gather", [source], [tensor_type([indices.size], ir.F32Type.get())],
                          {"indices": dense_attr(indices, ir.IntegerType.get_signless(64))}, op.location).results[0]
        attributes = {"fn": ir.StringAttr.get("leaky_relu"),
                      "params": ir.DictAttr.get({"negative_slope": ir.FloatAttr.get_f64(float(slope))})}
        groups.append(create_op("hardcore.activation", [group], [group.type], attributes, op.location).results[0])
        order.append(indices)
    result = groups[0]
    for group in groups[1:]:
        size = ir.RankedTensorType(result.type).shape[0] + ir.RankedTensorType(group.type).shape[0]
        result = create_op("hardcore.concat", [result, group], [tensor_type([size], ir.F32Type.get())],
                           {"dim": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), 0)}, op.location).results[0]
    return importer.gather(op, result, np.argsort(np.concatenate(order)))
