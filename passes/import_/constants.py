"""hardcore-import's constant folding: torch ops whose tensor operands are all constants (masks
built with tril, position ids from arange, a parameter sliced `pos[:T]`) become literals.

The folded values are what later ops read as constants: a causal mask for a softmax, a
position embedding for the table of the embedding it is added to, weights.  An op of this
table on a tensor the model computes is lowered by its entry in the lowerings' table when it
has one (slices, arithmetic), and is an error otherwise.
"""

from __future__ import annotations

import numpy as np

from hardcore.passes.import_ import graph
from hardcore.passes.import_.importer import full_shape, vtensor_shape

__all__ = ["FOLDS", "foldable", "fold", "not_foldable"]

# aten comparison (eq.Scalar, lt.Tensor, ...) -> numpy's
_COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "gt": np.greater, "ge": np.greater_equal, "lt": np.less,
                "le": np.less_equal}


def _operand(importer, op, index: int) -> np.ndarray:
    return importer.literals[op.operands[index]]


def _number(importer, op, index: int) -> float:
    return importer.constant(op.operands[index], f"{op.operation.name.removeprefix('torch.aten.')} operand")


def _value(importer, op, index: int):
    """Operand `index`: a literal array, or a number constant."""
    value = op.operands[index]
    return importer.literals[value] if value in importer.literals else _number(importer, op, index)


def _arange(importer, op, start_index: int | None, end_index: int, step_index: int | None) -> np.ndarray:
    start = 0 if start_index is None else _number(importer, op, start_index)
    step = 1 if step_index is None else _number(importer, op, step_index)
    return np.arange(start, _number(importer, op, end_index), step, dtype=np.float64)


def _embedding(importer, op) -> np.ndarray:
    table = _operand(importer, op, 0)
    ids = _operand(importer, op, 1).astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise ValueError(f"embedding of constant ids outside [0, {table.shape[0] - 1}]")
    return table[ids]


def _picked(importer, op) -> np.ndarray:
    return _operand(importer, op, 0).reshape(-1)[graph.picked_indices(importer, op)]


def _masked_fill(importer, op) -> np.ndarray:
    return np.where(_operand(importer, op, 1) != 0, _value(importer, op, 2), _operand(importer, op, 0))


def _binary(importer, op, function) -> np.ndarray:
    """function(a, b, alpha) of a binary arithmetic op's operands (arrays or numbers) and alpha (1 without)."""
    alpha = _number(importer, op, 2) if len(op.operands) > 2 else 1.0
    return function(_value(importer, op, 0), _value(importer, op, 1), alpha)


def _converted(importer, op) -> np.ndarray:
    """aten.to.dtype / _to_copy: the values in the result's element type (booleans, integers, floats)."""
    values = _operand(importer, op, 0)
    element = vtensor_shape(op.results[0].type)[1]
    if element == "i1":
        return (values != 0) * 1.0
    return np.trunc(values) if element.startswith(("si", "ui")) else values


# torch op -> fold(importer, op) -> the result's elements (float64; booleans as 0 and 1)
FOLDS = {
    **{name: (lambda importer, op: _operand(importer, op, 0).reshape(full_shape(op.results[0])))
       for name in graph.RESHAPES},
    **{name: _picked for name in graph.PICKS},
    "torch.aten.tril": lambda importer, op: np.tril(_operand(importer, op, 0), _number(importer, op, 1)),
    "torch.aten.triu": lambda importer, op: np.triu(_operand(importer, op, 0), _number(importer, op, 1)),
    "torch.aten.bitwise_not": lambda importer, op: (_operand(importer, op, 0) == 0).astype(np.float64),
    "torch.aten.logical_not": lambda importer, op: (_operand(importer, op, 0) == 0).astype(np.float64),
    **{f"torch.aten.{name}.{form}": (lambda importer, op, compare=compare: compare(_value(importer, op, 0),
                                                                               _value(importer, op, 1)) * 1.0)
       for name, compare in _COMPARISONS.items() for form in ("Scalar", "Tensor")},
    "torch.aten.logical_and": lambda importer, op: ((_operand(importer, op, 0) != 0)
                                                    & (_operand(importer, op, 1) != 0)) * 1.0,
    "torch.aten.logical_or": lambda importer, op: ((_operand(importer, op, 0) != 0)
                                                   | (_operand(importer, op, 1) != 0)) * 1.0,
    "torch.aten.where.self": lambda importer, op: np.where(_operand(importer, op, 0) != 0, _value(importer, op, 1),
                                                           _value(importer, op, 2)),
    "torch.aten.masked_fill.Scalar": _masked_fill,
    "torch.aten.masked_fill.Tensor": _masked_fill,
    "torch.aten.arange": lambda importer, op: _arange(importer, op, None, 0, None),
    "torch.aten.arange.start": lambda importer, op: _arange(importer, op, 0, 1, None),
    "torch.aten.arange.start_step": lambda importer, op: _arange(importer, op, 0, 1, 2),
    "torch.aten.embedding": _embedding,
    "torch.aten.add.Tensor": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a + alpha * b),
    "torch.aten.sub.Tensor": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a - alpha * b),
    "torch.aten.mul.Tensor": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a * b),
    "torch.aten.div.Tensor": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a / b),
    "torch.aten.add.Scalar": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a + alpha * b),
    "torch.aten.sub.Scalar": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a - alpha * b),
    "torch.aten.rsub.Scalar": lambda importer, op: _binary(importer, op, lambda a, b, alpha: b - alpha * a),
    "torch.aten.mul.Scalar": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a * b),
    "torch.aten.div.Scalar": lambda importer, op: _binary(importer, op, lambda a, b, alpha: a / b),
    "torch.aten.neg": lambda importer, op: -_operand(importer, op, 0),
    "torch.aten.pow.Tensor_Scalar": lambda importer, op: _operand(importer, op, 0) ** _number(importer, op, 1),
    "torch.aten.sqrt": lambda importer, op: np.sqrt(_operand(importer, op, 0)),
    "torch.aten.rsqrt": lambda importer, op: 1.0 / np.sqrt(_operand(importer, op, 0)),
    "torch.aten.to.dtype": _converted,
    "torch.aten._to_copy": _converted,
}

# What an op of FOLDS without a lowering of its own does on tensors the model computes.
_ONLY = {
    "torch.aten.where.self": "only as a constant causal mask of softmax scores",
    "torch.aten.masked_fill.Scalar": "only as a constant causal mask of softmax scores",
    "torch.aten.masked_fill.Tensor": "only as a constant causal mask of softmax scores",
    "torch.aten.rsqrt": "only in an RMSNorm written out, x * rsqrt(mean(x^2, -1, keepdim=True) + eps)",
    "torch.aten.sqrt": "only in an RMSNorm written out, x / sqrt(mean(x^2, -1, keepdim=True) + eps)",
    "torch.aten.pow.Tensor_Scalar": "only as x^2 in an RMSNorm written out",
}


def foldable(importer, op) -> bool:
    """Whether every tensor operand of `op` is a constant the import knows."""
    return all(value in importer.literals for value in op.operands if vtensor_shape(value.type))


def fold(importer, op) -> np.ndarray:
    """`op`'s result from its constant operands, in the result's full shape."""
    shape = full_shape(op.results[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.asarray(FOLDS[op.operation.name](importer, op), dtype=np.float64)
    try:
        return np.array(np.broadcast_to(result, shape))
    except ValueError:
        raise ValueError(f"folding '{op.operation.name}' on constants gave the shape {list(result.shape)}, not "
                         f"{shape}") from None


def not_foldable(op) -> str:
    """The error for an op of FOLDS, without a lowering, on a tensor the model computes."""
    name = op.operation.name
    return (f"'{name}' of a tensor the model computes is supported {_ONLY[name]}" if name in _ONLY
            else f"'{name}' is supported on constants only, not on a tensor the model computes")
