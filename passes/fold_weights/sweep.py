"""The last step of hardcore-fold-weights: ops that no result reads removed, and out of the figures.

An op is live when a function result depends on it through some chain of
ops; the others are dead logic.  A sequence model whose output is its last
position's (a language model's window circuit, `x[:, -1]` before the head)
computes every position of its last block, but only the last position reaches
the output: its other rows are dead.  A model whose every op reaches the
output (an MLP, a CNN) loses nothing.  The sweep marks what the results
read, transitively, over the builder's record of each op's operands, before
any op is an MLIR operation: the function the builder prints leaves the rest out.
Every later stage (the DAG's figures, `hardcore-pipeline`, `hardcore-to-hw`,
the Verilog) then sees only live logic.

A layer's figures in `hardcore.layers` count the ops its fold made
(`_DagBuilder.since`); the dead ones among them are taken out: adders and
adder bits, multipliers and multiplier bits, tables and table entries,
comparators (max, pick, clamp) and muxes.  Its weights, inputs, outputs
and depths stay those of the layer as the model defines it.  A max pool and
an argmax count their comparators themselves and keep them (a classifier's
last layers: nothing after them can leave them dead).
"""

from __future__ import annotations

from hardcore.passes.fold_weights.builder import ADDERS, _DagBuilder

__all__ = ["sweep_dead"]

# op name -> the layer figures one such dead op is taken out of: (count key, its bits key or None)
_FIGURES = {**{name: ("adders", "adder_bits") for name in ADDERS},
            "hardcore.mul": ("multipliers", "multiplier_bits"),
            "hardcore.table": ("tables", "table_entries"),
            "hardcore.max": ("comparators", None), "hardcore.pick": ("comparators", None),
            "hardcore.clamp": ("comparators", None), "hardcore.mux": ("muxes", None)}
# Figures a layer has only when it has any (`layer_stats`): dropped when the sweep takes them to 0.
_OPTIONAL = ("multipliers", "tables", "comparators", "muxes")


def sweep_dead(builder: _DagBuilder, roots: list, layers: list[dict]) -> int:
    """Mark the ops `builder` made that no value of `roots` (the results' packs) depends on as dead
    (`builder.dead`: `_DagBuilder.function` leaves them out); update the figures of `layers` that
    counted them.  Returns how many ops are dead."""
    live = bytearray(len(builder.ops))
    stack = list(roots)
    ops = builder.ops
    while stack:
        value = stack.pop()
        if not live[value]:
            live[value] = 1
            op = ops[value]
            if op is not None:  # a function argument reads nothing
                stack.extend(op[1])
    dead = {value for value, op in enumerate(ops) if op is not None and not live[value]}
    if not dead:
        return 0
    for layer, first, end in builder.counted:
        for value in range(first, end):
            if value in dead:
                _take_out(layers[layer], builder, value)
    builder.dead = dead
    return len(dead)


def _take_out(figures: dict, builder: _DagBuilder, value: int) -> None:
    name = builder.ops[value][0]
    count, bits = _FIGURES.get(name, (None, None))
    if count not in figures:
        return
    figures[count] -= 1
    if bits == "table_entries":
        figures[bits] -= builder.entries[value]
    elif bits is not None:
        figures[bits] -= builder.width(value)
    if figures[count] == 0 and count in _OPTIONAL:
        del figures[count]
        figures.pop(bits, None)
