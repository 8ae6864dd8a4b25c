"""hardcore-fold-weights sweeps dead logic: a last-position language model keeps only what reaches its output.

A TinyLM (width 16, one block, a window of 4, `last_only=True`) with seeded
random weights, compiled as examples/tinylm/generate.py does, with the sweep
and (monkeypatched away) without it: the figures count exactly the ops the
unswept DAG has a path from to the output, fewer than it built; the DAG
equals the reference; the circuit is bit-exact in Icarus.
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "tinylm"))

import hardcore.passes.fold_weights  # noqa: E402
from conftest import assert_dag_is_reference  # noqa: E402
from hardcore.sim import simulate, tool_available  # noqa: E402

from corpus import VOCAB  # noqa: E402
from generate import compile_window  # noqa: E402
from model import TinyLM  # noqa: E402

torch.set_num_threads(1)
CONTEXT = 4
_OP_LINE = re.compile(r'^\s*(%\S+) = "(hardcore\.\w+)"\(([^)]*)\)')
_RETURN_LINE = re.compile(r"^\s*return (.+) :")


def _live_ops(dag_text: str) -> tuple[list[str], list[str]]:
    """(names of all ops, names of the ops with a path to the return) of a DAG's text, read on their own."""
    ops, operands, roots = [], {}, []
    for line in dag_text.splitlines():
        match = _OP_LINE.match(line)
        if match:
            ops.append(match.group(1))
            operands[match.group(1)] = (match.group(2), [o.strip() for o in match.group(3).split(",") if o.strip()])
        elif _RETURN_LINE.match(line):
            roots = [v.strip() for v in _RETURN_LINE.match(line).group(1).split(",")]
    live, stack = set(), list(roots)
    while stack:
        value = stack.pop()
        if value in operands and value not in live:
            live.add(value)
            stack.extend(operands[value][1])
    return [operands[v][0] for v in ops], [operands[v][0] for v in ops if v in live]


def _count(names: list[str], kinds) -> int:
    return sum(name in kinds for name in names)


@pytest.fixture(scope="module")
def circuits():
    """The random TinyLM compiled with the sweep and without it (combinational)."""
    torch.manual_seed(0)
    model = TinyLM(vocab_size=len(VOCAB), d_model=16, n_layer=1, n_head=2, context=CONTEXT, last_only=True).eval()
    calibration = np.random.default_rng(0).integers(0, len(VOCAB), (128, CONTEXT))
    swept = compile_window(model, calibration)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hardcore.passes.fold_weights, "sweep_dead", lambda builder, roots, layers: 0)
        unswept = compile_window(model, calibration)
    return swept, unswept


def test_figures_count_only_the_live_ops(circuits):
    swept, unswept = circuits
    built, live = _live_ops(unswept.stages["dag"])
    adders = ("hardcore.add", "hardcore.sub", "hardcore.neg")
    # The unswept DAG carries rows 0-2 of the block's query, attention, MLP and norms.
    assert _count(live, adders) < 0.8 * _count(built, adders)
    assert _count(live, ["hardcore.mul"]) < _count(built, ["hardcore.mul"])
    assert _count(live, ["hardcore.table"]) < _count(built, ["hardcore.table"])
    assert unswept.report["adders"] == _count(built, adders)
    assert swept.report["adders"] == _count(live, adders)
    assert swept.report["multipliers"] == _count(live, ["hardcore.mul"])
    assert swept.report["tables"] == _count(live, ["hardcore.table"])
    # The swept DAG is the unswept one's live ops, every one of them read.
    after, after_live = _live_ops(swept.stages["dag"])
    assert after == after_live == live


def test_layer_figures_lose_only_their_dead_ops(circuits):
    swept, unswept = circuits
    assert [layer.get("kind") for layer in swept.layers] == [layer.get("kind") for layer in unswept.layers]
    keys = ("adders", "adder_bits", "multipliers", "multiplier_bits", "tables", "table_entries", "comparators")
    fewer = 0
    for after, before in zip(swept.layers, unswept.layers):
        assert {k: v for k, v in after.items() if k not in keys} == {k: v for k, v in before.items() if k not in keys}
        assert all(after.get(key, 0) <= before.get(key, 0) for key in keys)
        fewer += after["adders"] < before["adders"]
    assert swept.layers[0] == unswept.layers[0]  # the embedding: every position feeds the keys and values
    assert swept.layers[-1] == unswept.layers[-1]  # the argmax over the last position's logits
    assert fewer >= 4  # the query, the projection, the MLP's two linears over rows 0-2


def test_same_logic_and_reference(circuits, rng):
    swept, unswept = circuits
    # hardcore-to-hw already left out what no output bit depends on: the Verilog is the same.
    assert swept.verilog == unswept.verilog
    assert swept.stages["quantized"] == unswept.stages["quantized"]
    assert_dag_is_reference(swept, rng, count=100)


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
def test_bit_exact_in_icarus(circuits, tmp_path):
    swept, _ = circuits
    # Icarus takes about 10 s a window of this circuit: a few windows (Verilator, test_tinylm_generate, does more).
    windows = np.random.default_rng(3).integers(0, len(VOCAB), (3, CONTEXT))
    result = simulate(swept.verilog, swept.name, swept.to_port(windows), n_in=swept.n_in, in_width=swept.in_width,
                      n_out=swept.n_out, out_width=swept.out_width, workdir=tmp_path, simulator="icarus")
    assert np.array_equal(swept.from_port(result.outputs), swept.reference(windows))
