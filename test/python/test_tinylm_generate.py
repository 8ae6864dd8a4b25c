"""examples/tinylm/generate.py: a random-weight tiny GPT's window circuit generates text bit-exact in Verilator.

Nothing is trained: a TinyLM of width 16, one block and a window of 4 with
seeded random weights, compiled with `output="argmax"` as generate.py does,
then greedy generation from two prompts, the RTL stepped one token at a time
on one Verilator build and compared with the reference at every token.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "tinylm"))

from hardcore.sim import tool_available  # noqa: E402

from corpus import VOCAB  # noqa: E402
from generate import Rtl, compile_window, first_difference, generate, table_bits  # noqa: E402
from model import TinyLM  # noqa: E402

torch.set_num_threads(1)
CONTEXT = 4


@pytest.fixture(scope="module")
def random_model():
    """A seeded random TinyLM (d 16, 1 layer, 2 heads, window 4) and its calibration windows."""
    torch.manual_seed(0)
    model = TinyLM(vocab_size=len(VOCAB), d_model=16, n_layer=1, n_head=2, context=CONTEXT, last_only=True).eval()
    return model, np.random.default_rng(0).integers(0, len(VOCAB), (128, CONTEXT))


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("max_adder_depth", [None, 6], ids=["combinational", "pipelined"])
def test_greedy_generation_is_bit_exact_in_verilator(random_model, max_adder_depth, tmp_path):
    model, calibration = random_model
    circuit = compile_window(model, calibration, max_adder_depth=max_adder_depth)
    rtl = Rtl(circuit, tmp_path, "verilator")
    generation = generate(model, circuit, ["an exception", "zq"], 8, rtl)
    assert generation.rtl_steps == 8 and generation.rtl_mismatches == []
    assert [len(ids) for ids in generation.circuit_ids] == [8, 8]
    assert len(set(generation.circuit_ids[0] + generation.circuit_ids[1])) > 4  # not stuck on one token
    # one build: the later steps found the design unchanged in tmp_path
    assert len(rtl.build_seconds) == 8 and max(rtl.build_seconds[1:]) < rtl.build_seconds[0]
    # pipelined: the two windows of a step enter on consecutive clocks, the last leaves `latency` clocks later
    assert (circuit.latency > 0) == (max_adder_depth is not None)
    assert rtl.cycles == (circuit.latency and 2 + circuit.latency)


def test_first_difference():
    assert first_difference("the cat", "the cat") is None
    assert first_difference("the cat", "the bat") == 4
    assert first_difference("the", "the cat") == 3


def test_table_bits_counts_entries_times_width():
    dag = ('    %8 = "hardcore.table"(%0) {min = 0 : i64, table = dense<[1, 2, 3]> : tensor<3xi64>} : (i2) -> i3\n'
           '    %9 = "hardcore.add"(%8, %8) : (i3, i3) -> i4\n'
           '    %10 = "hardcore.table"(%9) {min = -8 : i64, table = dense<0> : tensor<16xi64>} : (i4) -> i1\n')
    assert table_bits(dag) == 3 * 3 + 16 * 1
