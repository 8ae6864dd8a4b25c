"""Arithmetic on not-yet-built values (`_Lin`) for the layer folds: sums, constant multiplies, products, tables.

Each helper takes and returns `_Lin`s (`sign * (value << shift) + const`), so
that constants and shifts keep moving into the next rounding or bias instead
of costing an adder, and a constant never reaches a multiplier:

- `add_lins`: one adder (none when either side is a constant), the shift both
  sides have in common applied after it;
- `sum_lins`: a balanced tree of `add_lins`, neighbours paired level by level;
- `times_constant`: a constant factor as shifts and adds (the weight-folding
  solver on a 1x1 matrix), never a `hardcore.mul`;
- `product`: two values' product, one `hardcore.mul` (a constant factor goes
  to `times_constant`);
- `lookup`: a table on one element, trimmed to what its range reaches.
"""

from __future__ import annotations

import contextlib

import numpy as np
from torch_mlir import ir

from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin
from hardcore.passes.fold_weights.dense import ALGORITHMS, build_graph

__all__ = ["add_lins", "negate", "sum_lins", "times_constant", "product", "lookup", "depths_from", "layer_stats"]


def negate(lin: _Lin) -> _Lin:
    return _Lin(lin.value, lin.shift, -lin.sign, -lin.const)


def _constant(builder: _DagBuilder, lin: _Lin) -> int | None:
    """The value of a `_Lin` whose range is one integer, else None."""
    low, high = builder.lin_range(lin)
    return low if low == high else None


def add_lins(builder: _DagBuilder, a: _Lin, b: _Lin, full_range: tuple[int, int] | None = None) -> _Lin:
    """a + b: one adder, none when either is a constant; a shift both have in common is applied after it.

    `full_range`, when given, is a range of the sum known to be tighter than
    interval arithmetic's (a linear form over independent inputs): the adder
    is then only as wide as it needs.
    """
    const = a.const + b.const
    if a.value is None or b.value is None:
        lin = b if a.value is None else a
        return _Lin(lin.value, lin.shift, lin.sign, const)
    common = min(a.shift, b.shift)
    a_value, b_value = builder.shl(a.value, a.shift - common), builder.shl(b.value, b.shift - common)
    if a.sign == b.sign:
        build, operands, sign = builder.add, (a_value, b_value), a.sign
    elif a.sign > 0:
        build, operands, sign = builder.sub, (a_value, b_value), 1
    else:
        build, operands, sign = builder.sub, (b_value, a_value), 1
    value_range = None
    if full_range is not None:
        # The adder's value v has sign * (v << common) + const == a + b.
        low, high = full_range[0] - const, full_range[1] - const
        low, high = (-high, -low) if sign < 0 else (low, high)
        low, high = -(-low >> common), high >> common
        (p, q), (r, s) = builder.ranges[operands[0]], builder.ranges[operands[1]]
        interval = (p + r, q + s) if build == builder.add else (p - s, q - r)
        value_range = (max(low, interval[0]), min(high, interval[1]))
        if value_range[0] == value_range[1]:
            return _Lin(None, 0, 1, sign * (value_range[0] << common) + const)
    return _Lin(build(*operands, value_range), common, sign, const)


def sum_lins(builder: _DagBuilder, lins: list[_Lin]) -> _Lin:
    """The sum: a balanced adder tree over the non-constant terms (neighbours paired level by level,
    an odd one out waiting for the next level); the constants join the result's constant."""
    const = sum(lin.const for lin in lins)
    terms = [_Lin(lin.value, lin.shift, lin.sign, 0) for lin in lins if lin.value is not None]
    if not terms:
        return _Lin(None, 0, 1, const)
    while len(terms) > 1:
        paired = [add_lins(builder, a, b) for a, b in zip(terms[0::2], terms[1::2])]
        terms = paired + terms[len(paired) * 2:]
    return _Lin(terms[0].value, terms[0].shift, terms[0].sign, terms[0].const + const)


def times_constant(options, builder: _DagBuilder, lin: _Lin, factor: int) -> _Lin:
    """factor · lin as shifts and adds: ±2^k is a wire, any other odd part the solver's adder graph."""
    if factor == 0 or lin.value is None:
        return _Lin(None, 0, 1, factor * lin.const)
    magnitude = abs(factor)
    shift = (magnitude & -magnitude).bit_length() - 1
    odd = magnitude >> shift
    sign = lin.sign if factor > 0 else -lin.sign
    if odd == 1:
        return _Lin(lin.value, lin.shift + shift, sign, factor * lin.const)
    value_range = builder.ranges[lin.value]
    graph = ALGORITHMS[options.algorithm](np.array([[odd]], dtype=np.int64), [value_range], options.max_depth, ())
    built = build_graph(builder, graph, [lin.value], [value_range])
    node, node_shift, node_sign = graph.outputs[0]
    return _Lin(built[node], lin.shift + shift + node_shift, sign * node_sign, factor * lin.const)


def product(options, builder: _DagBuilder, a: _Lin, b: _Lin) -> _Lin:
    """a · b: one `hardcore.mul` of the two values (their shifts and signs applied after it, for free),
    or a constant multiply when either is a constant."""
    constant_a, constant_b = _constant(builder, a), _constant(builder, b)
    if constant_a is not None:
        return times_constant(options, builder, b, constant_a)
    if constant_b is not None:
        return times_constant(options, builder, a, constant_b)
    if a.const == 0 and b.const == 0:
        return _Lin(builder.mul(a.value, b.value), a.shift + b.shift, a.sign * b.sign, 0)
    return _Lin(builder.mul(builder.materialize(a), builder.materialize(b)), 0, 1, 0)


def lookup(builder: _DagBuilder, lin: _Lin, low: int, entries: list[int]) -> _Lin:
    """entries[x - low] for one element: a `hardcore.table` trimmed to the inputs its range reaches."""
    if lin.value is None:
        if not low <= lin.const < low + len(entries):
            raise ValueError(f"constant input {lin.const} is not inside the table's inputs "
                             f"[{low}, {low + len(entries) - 1}]")
        return _Lin(None, 0, 1, entries[lin.const - low])
    return builder.table(builder.materialize(lin), low, entries)


@contextlib.contextmanager
def depths_from(builder: _DagBuilder, lins):
    """Within the block, adder depth is counted from these inputs (a layer's), as 0."""
    values = {lin.value for lin in lins if lin.value is not None}
    saved = {value: builder.depths.get(value, 0) for value in values}
    for value in values:
        builder.depths[value] = 0
    try:
        yield
    finally:
        builder.depths.update(saved)


def layer_stats(builder: _DagBuilder, op, before: dict, inputs: int, result: list[_Lin], kind: str,
                weights: np.ndarray | None = None) -> dict:
    """A layer's entry in `hardcore.layers`: its figures, the counts of what it made since `before`
    (multipliers, tables and comparators only when it has any), and its kind (the op's
    `hardcore.kind` when the import named it, else `kind`)."""
    made = builder.since(before)
    stats = {"inputs": inputs, "outputs": len(result),
             "weights": 0 if weights is None else int(weights.size),
             "nonzero_weights": 0 if weights is None else int(np.count_nonzero(weights)),
             "adders": made["adders"], "adder_bits": made["adder_bits"],
             "adder_depth": max((builder.depths.get(lin.value, 0) for lin in result if lin.value is not None),
                                default=0)}
    for name in ("multipliers", "multiplier_bits", "tables", "table_entries", "comparators", "muxes"):
        if made[name]:
            stats[name] = made[name]
    stats["kind"] = ir.StringAttr(op.attributes["hardcore.kind"]).value if "hardcore.kind" in op.attributes else kind
    return stats
