"""hardcore-import's elementwise arithmetic: sums, differences and products of two tensors the
model computes, and of a tensor with constants (a diagonal dense over rows)."""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op
from hardcore.passes.import_ import sequence
from hardcore.passes.import_.importer import KIND, dims_text, full_shape

__all__ = ["lower_add_tensor", "lower_sub_tensor", "lower_mul_tensor", "lower_div_tensor", "lower_scalar_op",
           "lower_neg"]


def _what(op) -> str:
    return op.operation.name.removeprefix("torch.aten.")


def _row(importer, op, constant: np.ndarray, shape: list[int]) -> np.ndarray:
    """The row (of the last dimension) that `constant`, broadcast to the full `shape`, holds in
    every row; ValueError when rows differ."""
    try:
        full = np.broadcast_to(constant, shape)
    except ValueError:
        raise ValueError(f"{_what(op)} cannot broadcast a constant of shape {list(np.shape(constant))} "
                         f"to {shape}") from None
    rows = full.reshape(-1, shape[-1] if shape else 1)
    if not np.all(rows == rows[:1]):
        raise ValueError(f"{_what(op)} of a constant tensor of shape {list(np.shape(constant))} is not supported "
                         f"(only a constant that is the same for every row of the last dimension, or a "
                         f"position embedding added to a token embedding)")
    return rows[0]


def _affine(importer, op, x, scale, bias, kind: str):
    """scale · x + bias with constant `scale` and `bias` (broadcast like torch): a diagonal dense
    over the rows of the last dimension, each row the same."""
    if not np.all(np.isfinite(scale)) or not np.all(np.isfinite(bias)):
        raise ValueError(f"{_what(op)} by a constant that is not finite is not supported")
    out = full_shape(op.results[0])
    source = importer.broadcast(op, importer.model_value(x, _what(op)), full_shape(x), out)
    size = out[-1] if out else 1
    scale = np.broadcast_to(_row(importer, op, np.asarray(scale, dtype=np.float64), out), (size,))
    bias = np.broadcast_to(_row(importer, op, np.asarray(bias, dtype=np.float64), out), (size,))
    return importer.row_affine(op, source, scale, bias, kind)


def _elementwise(importer, op, name: str, kind: str):
    """`hardcore.<name>` of the two operands, both the model's, broadcast to the result's shape."""
    out = full_shape(op.results[0])
    operands = [importer.broadcast(op, importer.model_value(value, _what(op)), full_shape(value), out)
                for value in op.operands[:2]]
    result = create_op(f"hardcore.{name}", operands, [operands[0].type],
                       {KIND: ir.StringAttr.get(f"{kind} {dims_text(importer.model_shape(op.results[0])) or '1'}")},
                       op.location)
    return result.results[0]


def _constant_operand(importer, op):
    """(index of the model operand, the constant) of a binary op with one constant tensor operand;
    None when both are the model's."""
    constants = [value in importer.literals for value in op.operands[:2]]
    if not any(constants):
        return None
    if all(constants):  # never here: the import folds an op of constants
        raise ValueError(f"{_what(op)} of two constants")
    model = constants.index(False)
    return model, importer.literals[op.operands[1 - model]]


def lower_add_tensor(importer, op):
    # aten.add.Tensor(a, b, alpha): a + alpha * b
    alpha = importer.constant(op.operands[2], "add.Tensor alpha")
    constant = _constant_operand(importer, op)
    if constant is not None:
        model, value = constant
        x = op.operands[model]
        scale, bias = (1.0, alpha * value) if model == 0 else (alpha, value)
        if scale == 1 and (table := sequence.fold_into_embedding(importer, op, x, bias)) is not None:
            return table
        return _affine(importer, op, x, scale, bias, "add a constant")
    if alpha != 1:
        raise ValueError(f"add.Tensor with alpha {alpha} is not supported (only a + b)")
    lhs = importer.model_value(op.operands[0], "add.Tensor")
    rhs = importer.model_value(op.operands[1], "add.Tensor")
    shapes = [importer.model_shape(v) for v in (op.operands[0], op.operands[1], op.results[0])]
    if not shapes[0] == shapes[1] == shapes[2]:
        raise ValueError(f"add.Tensor of shapes {shapes[0]} and {shapes[1]} is not supported "
                         f"(no broadcasting: both operands must have one shape)")
    # flat, or with stream=true in the model's shape (C x H x W between convolutions)
    flat_lhs, flat_rhs = ((importer.reshaped(v, shapes[2], op.location) for v in (lhs, rhs)) if importer.stream
                          else (importer.flat(v, op.location) for v in (lhs, rhs)))
    kind = f"residual add {dims_text(shapes[2]) or '1'}"
    add = create_op("hardcore.add_tensors", [flat_lhs, flat_rhs], [flat_lhs.type],
                    {KIND: ir.StringAttr.get(kind)}, op.location)
    return importer.reshaped(add.results[0], shapes[2], op.location)


def lower_sub_tensor(importer, op):
    # aten.sub.Tensor(a, b, alpha): a - alpha * b
    alpha = importer.constant(op.operands[2], "sub.Tensor alpha")
    constant = _constant_operand(importer, op)
    if constant is not None:
        model, value = constant
        scale, bias = (1.0, -alpha * value) if model == 0 else (-alpha, value)
        return _affine(importer, op, op.operands[model], scale, bias, "subtract a constant" if model == 0
                       else "subtract from a constant")
    if alpha != 1:
        raise ValueError(f"sub.Tensor with alpha {alpha} is not supported (only a - b)")
    return _elementwise(importer, op, "sub_tensors", "difference")


def lower_mul_tensor(importer, op):
    # aten.mul.Tensor(a, b): a * b, a product of two activations or a scaling by constants
    constant = _constant_operand(importer, op)
    if constant is not None:
        model, value = constant
        return _affine(importer, op, op.operands[model], value, 0.0, "scale by a constant")
    return _elementwise(importer, op, "mul_tensors", "product")


def lower_div_tensor(importer, op):
    # aten.div.Tensor(a, b): a / b, b a constant
    if op.operands[1] not in importer.literals:
        raise ValueError("div.Tensor by a tensor the model computes is not supported (only by constants)")
    divisor = importer.literals[op.operands[1]]
    if np.any(divisor == 0):
        raise ValueError("div.Tensor by a constant with zeros is not supported")
    return _affine(importer, op, op.operands[0], 1.0 / divisor, 0.0, "divide by a constant")


# aten op -> (scale, bias) of x for x op c (alpha for add/sub/rsub): every `Scalar` form is affine.
_SCALAR_OPS = {
    "torch.aten.mul.Scalar": lambda c, alpha: (c, 0.0),
    "torch.aten.div.Scalar": lambda c, alpha: (1.0 / c, 0.0),
    "torch.aten.add.Scalar": lambda c, alpha: (1.0, alpha * c),
    "torch.aten.sub.Scalar": lambda c, alpha: (1.0, -alpha * c),
    "torch.aten.rsub.Scalar": lambda c, alpha: (-alpha, c),
}


def lower_neg(importer, op):
    return _affine(importer, op, op.operands[0], -1.0, 0.0, "negate")


def lower_scalar_op(importer, op):
    """x * c, x / c, x + c, x - c, c - x with a number c: a diagonal dense over rows."""
    name = op.operation.name
    what = _what(op)
    number = importer.constant(op.operands[1], f"{what} operand")
    alpha = importer.constant(op.operands[2], f"{what} alpha") if len(op.operands) > 2 else 1
    if name == "torch.aten.div.Scalar" and number == 0:
        raise ValueError("div.Scalar by 0 is not supported")
    scale, bias = _SCALAR_OPS[name](float(number), float(alpha))
    return _affine(importer, op, op.operands[0], scale, bias, f"{what} {number:g}")
