"""hardcore-fold-weights for `hardcore.qsoftmax` and `hardcore.qnorm`: their definitions, op for op, per row.

Over each row of the last axis (docs/dialect.md, "Sequence models"):

- qsoftmax: a balanced `hardcore.max` tree over the kept entries (all, or
  the causal ones); per entry a subtractor `x_j - m` (never positive: its
  range says so), a clamp at `exp_min`, the exp table; a balanced adder tree
  for the sum; its requantization (rounding constant, shift, clamp at the
  reciprocal table's last index) and the reciprocal table; per entry a
  multiplier `e_j · r` and the output requantization.  A masked entry is the
  constant 0.  qsoftmax_at (a decoder step's row): entry j kept when
  pos >= j - offset, a `hardcore.mux` on pos where pos's range does not decide.
- qnorm: `c_j = D·x_j - Σ x` (the sum a balanced adder tree, `D·x_j` a
  shift/add constant multiply, the subtractor as wide as the exact range of
  that linear form) or `c_j = x_j` (rms); `Q = Σ c_j²` (a multiplier per
  square and an adder tree); its requantization and the rsqrt table; per
  entry a multiplier `c_j · r` and the output requantization.

`min(requant(v, s, 0, ∞), n - 1)` is built as `requant(v, s, 0, n - 1)`: the
value (a sum of table entries or of squares) is never negative.  Each op is
a layer of its own.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.interpreter import causal_mask
from hardcore.irutil import array_attr, int_attr
from hardcore.passes.fold_weights.arith import (add_lins, depths_from, layer_stats, lookup, negate, product, sum_lins,
                                                times_constant)
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin
from hardcore.passes.fold_weights.compare import max_tree
from hardcore.passes.fold_weights.elementwise import requant_lin

__all__ = ["fold_qsoftmax", "fold_qsoftmax_at", "fold_qnorm"]


def _rows(op) -> tuple[list[int], int]:
    """The operand's shape and the length of its last axis (a row)."""
    shape = list(ir.RankedTensorType(op.operands[0].type).shape)
    if not shape or shape[-1] == 0:
        raise ValueError(f"expected a tensor with a last axis, got shape {shape}")
    return shape, shape[-1]


def _entries(op, name: str) -> list[int]:
    return [int(v) for v in array_attr(op, name).reshape(-1)]


def _check_shift_and_table(shift_name: str, shift: int, table_name: str, table: list[int]) -> None:
    """The shift before a table lookup is a right shift, and the table has an entry to read."""
    if shift < 0:
        raise ValueError(f"{shift_name} is {shift}: expected 0 or more")
    if not table:
        raise ValueError(f"the {table_name} table is empty")


def _exponent(builder: _DagBuilder, value, row_max, exp_min: int) -> _Lin:
    """max(x_j - m, exp_min): a subtractor that its range says is never positive (m is the row's
    maximum), and a clamp where that range reaches below exp_min."""
    if value == row_max:
        return _Lin(None, 0, 1, 0)
    (value_low, value_high), (max_low, max_high) = builder.ranges[value], builder.ranges[row_max]
    difference = (value_low - max_high, min(value_high - max_low, 0))
    if difference[0] == difference[1]:
        return _Lin(None, 0, 1, max(difference[0], exp_min))
    return _Lin(builder.clamp(builder.sub(value, row_max, difference), exp_min, 0), 0, 1, 0)


def fold_qsoftmax(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """`hardcore.qsoftmax`, exactly as defined, per row: max, subtract, clamp, exp table, sum, reciprocal
    table, product, requantization."""
    shape, _ = _rows(op)
    keep = np.broadcast_to(causal_mask(shape) if int_attr(op, "causal") else True, shape).reshape(-1)
    kind = f"qsoftmax {'x'.join(str(d) for d in shape)}" + (", causal" if int_attr(op, "causal") else "")
    return _softmax(options, builder, op, operands[0], [bool(k) for k in keep], kind)


def fold_qsoftmax_at(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """`hardcore.qsoftmax_at`: qsoftmax whose entry j of a row is kept when pos >= j - offset, a comparison
    of pos with a constant (shared by the rows) where pos's range does not decide it."""
    source, (pos,) = operands
    shape, size = _rows(op)
    offset = int_attr(op, "offset")
    pos = builder.materialize(pos)
    low, high = builder.ranges[pos]
    keep = []
    for j in range(len(source)):
        threshold = j % size - offset  # kept when pos >= threshold
        keep.append(True if threshold <= low else False if threshold > high else (pos, threshold, high))
    kind = f"qsoftmax {'x'.join(str(d) for d in shape)}, kept up to pos + {offset}"
    return _softmax(options, builder, op, source, keep, kind)


def _masked(builder: _DagBuilder, condition, value, otherwise: int):
    """value where the entry is kept, the constant `otherwise` where not (a mux on pos when it depends)."""
    if condition is True:
        return value
    select, threshold, high = condition
    return builder.mux(select, threshold, high, value, builder.constant(otherwise))


def _softmax(options, builder: _DagBuilder, op, source: list[_Lin], keep: list, kind: str):
    """qsoftmax over each row of the last axis, entry j kept as `keep[j]` says: True, False, or (pos,
    threshold, pos's largest value) for kept when pos >= threshold.

    An entry that may be masked enters the max as the row's lowest value, so `x_j - m` stays never
    positive, and the sum (and the product, so its output) as 0.
    """
    shape, size = _rows(op)
    exp_table, recip_table = _entries(op, "exp_table"), _entries(op, "recip_table")
    exp_min, sum_shift = int_attr(op, "exp_min"), int_attr(op, "sum_shift")
    shift, low, high = int_attr(op, "shift"), int_attr(op, "min"), int_attr(op, "max")
    if not exp_table:
        raise ValueError("the exp table is empty")
    if exp_min + len(exp_table) - 1 != 0:
        raise ValueError(f"the exp table covers [{exp_min}, {exp_min + len(exp_table) - 1}], not [exp_min, 0]")
    if min(exp_table) < 0:
        raise ValueError(f"the exp table has a negative entry, {min(exp_table)}")
    _check_shift_and_table("sum_shift", sum_shift, "reciprocal", recip_table)
    zero_out = requant_lin(builder, _Lin(None, 0, 1, 0), shift, low, high).const  # a masked entry's product
    before = builder.snapshot()
    result = []
    with depths_from(builder, source):
        for start in range(0, len(source), size):
            kept = [j for j in range(start, start + size) if keep[j] is not False]
            row = {j: builder.materialize(source[j]) for j in kept}
            floor = min((builder.ranges[row[j]][0] for j in kept), default=0)
            row = {j: _masked(builder, keep[j], row[j], floor) for j in kept}
            row_max = max_tree(builder, [row[j] for j in kept])[0] if kept else None
            exps = {}
            for j in kept:
                exp = lookup(builder, _exponent(builder, row[j], row_max, exp_min), exp_min, exp_table)
                exps[j] = exp if keep[j] is True else _Lin(_masked(builder, keep[j], builder.materialize(exp), 0),
                                                           0, 1, 0)
            total = sum_lins(builder, list(exps.values()))
            index = requant_lin(builder, total, sum_shift, 0, len(recip_table) - 1)
            reciprocal = lookup(builder, index, 0, recip_table)
            for j in range(start, start + size):
                if j not in exps:
                    result.append(_Lin(None, 0, 1, 0))
                    continue
                out = requant_lin(builder, product(options, builder, exps[j], reciprocal), shift, low, high)
                if keep[j] is not True and zero_out != 0:  # the requantization of 0 is not 0: masked explicitly
                    out = _Lin(_masked(builder, keep[j], builder.materialize(out), 0), 0, 1, 0)
                result.append(out)
        stats = layer_stats(builder, op, before, len(source), result, kind)
    return result, stats


def fold_qnorm(options, builder: _DagBuilder, op, operands: list[list[_Lin]]):
    """`hardcore.qnorm`, exactly as defined, per row: centre, sum of squares, rsqrt table, product,
    requantization."""
    source = operands[0]
    shape, size = _rows(op)
    rsqrt_table = _entries(op, "rsqrt_table")
    rms, sq_shift = int_attr(op, "rms"), int_attr(op, "sq_shift")
    shift, low, high = int_attr(op, "shift"), int_attr(op, "min"), int_attr(op, "max")
    _check_shift_and_table("sq_shift", sq_shift, "rsqrt", rsqrt_table)
    before = builder.snapshot()
    result = []
    with depths_from(builder, source):
        for start in range(0, len(source), size):
            row = source[start:start + size]
            if rms:
                centred = row
            else:
                ranges = [builder.lin_range(lin) for lin in row]
                total = sum_lins(builder, row)
                centred = []
                for j, lin in enumerate(row):
                    # c_j = (D - 1)·x_j - Σ_{k≠j} x_k: its exact range over independent inputs
                    others_low = sum(r[0] for r in ranges) - ranges[j][0]
                    others_high = sum(r[1] for r in ranges) - ranges[j][1]
                    exact = ((size - 1) * ranges[j][0] - others_high, (size - 1) * ranges[j][1] - others_low)
                    centred.append(add_lins(builder, times_constant(options, builder, lin, size), negate(total),
                                            exact))
            squares = sum_lins(builder, [product(options, builder, c, c) for c in centred])
            index = requant_lin(builder, squares, sq_shift, 0, len(rsqrt_table) - 1)
            rsqrt = lookup(builder, index, 0, rsqrt_table)
            result += [requant_lin(builder, product(options, builder, c, rsqrt), shift, low, high) for c in centred]
        kind = f"qnorm {'x'.join(str(d) for d in shape)}, " + ("rmsnorm" if rms else "layernorm")
        stats = layer_stats(builder, op, before, len(source), result, kind)
    return result, stats
