"""The last step of hardcore-fold-weights: ops that no result reads removed, and out of the figures.

An op is live when a function result depends on it through some chain of
ops; the others are dead logic.  A sequence model whose output is its last
position's (a language model's window circuit, `x[:, -1]` before the head)
computes every position of its last block, but only the last position reaches
the output: its other rows are dead.  A model whose every op reaches the
output (an MLP, a CNN) loses nothing.  The sweep marks what the results
read, transitively, over the builder's record of each op's operands, and
erases the rest, users first.
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

from torch_mlir import ir

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
    """Erase the ops `builder` made that no value of `roots` (what the results pack) depends on;
    update the figures of `layers` that counted them.  Returns how many ops were erased."""
    live: set = set()
    stack = list(roots)
    while stack:
        value = stack.pop()
        if value not in live:
            live.add(value)
            stack.extend(builder.reads.get(value, ()))  # a function argument reads nothing
    dead = [op for result, op in builder.created if result not in live]
    if not dead:
        return 0
    for layer, first, end in builder.counted:
        for result, op in builder.created[first:end]:
            if result not in live:
                _take_out(layers[layer], result, op)
    for op in reversed(dead):  # users before the values they read
        op.erase()
    return len(dead)


def _take_out(figures: dict, result, op) -> None:
    count, bits = _FIGURES.get(op.name, (None, None))
    if count not in figures:
        return
    figures[count] -= 1
    if bits == "table_entries":
        figures[bits] -= ir.RankedTensorType(op.attributes["table"].type).shape[0]
    elif bits is not None:
        figures[bits] -= ir.IntegerType(result.type).width
    if figures[count] == 0 and count in _OPTIONAL:
        del figures[count]
        figures.pop(bits, None)
