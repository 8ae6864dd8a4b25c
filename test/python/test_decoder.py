"""The KV-cache decoder as a circuit: the folded step equals the step, the Verilog equals the window model token for token.

- hardcore-fold-weights on decoder steps of random tiny GPTs: every step's
  outputs, fresh rows and logits, and the caches, equal the layer-level step's,
  bit for bit, from zero and from stale caches;
- `hardcore.compile(..., decoder=True)` on a small `TinyLM`: the step's
  reference (`run_decoder`) equals the window's argmax at every row; the report;
  loading it back; the Verilog is lint clean and the same on every compile;
- in Verilator, a stream of at least 16 sequences, new ones starting in the
  middle of others, idle cycles, tokens past the window and ids past V - 1:
  every emitted token (and logits row) equals the window model's; in Icarus
  (4-state) no output is ever X; `hardcore compile --decoder` and `hardcore sim`;
- (slow) the tinylm-size model in Verilator.
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_mlir import ir

import hardcore
from hardcore.cli import main
from hardcore.compiler import Circuit
from hardcore.decoder import CacheLayout, DecoderCircuit
from hardcore.decoder_sim import compare, expected_outputs, random_stream, simulate_decoder
from hardcore.errors import UsageError
from hardcore.interpreter import find_function, run_decoder, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.passes import KvDecodePass
from hardcore.pipeline import run_pipeline
from hardcore.sim import tool_available
from hardcore.tiny_gpt import random_gpt

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "tinylm"))

from model import CONFIG, WEIGHTS, WEIGHTS_CONFIG, TinyLM  # noqa: E402

requires_verilator = pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
requires_icarus = pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")

GPTS = [
    dict(seed=0),
    dict(seed=1, position_table=False, rms=True, activation="lut"),
    dict(seed=2, layers=2, heads=1),
    dict(seed=4, positions=6, width=6, heads=3, vocabulary=7, act_bits=5),
    dict(seed=6, positions=8, width=4, heads=2, vocabulary=4, layers=2, act_bits=3),
]


def _decode(function, tokens: np.ndarray, caches: list, quantized: bool) -> tuple[list, list]:
    """Every step's results (a list per step) and the caches after the last, as the wrapper runs the step."""
    positions = tokens.shape[1]
    caches = [c.copy() for c in caches]
    steps = []
    axes = [int(ir.IntegerAttr(a).value) for a in ir.ArrayAttr(ir.DictAttr(function.attributes["hardcore.decoder"])["cache_axes"])]
    for t in range(positions):
        results = run_function(function, [tokens[:, t, None], np.full((len(tokens), 1), t)] + caches,
                               from_quantized=quantized)
        steps.append([np.asarray(r).reshape(len(tokens), -1) for r in results])
        for cache, fresh, axis in zip(caches, results[1:], axes):
            index = [slice(None)] * cache.ndim
            index[axis + 1] = slice(t, t + 1)
            cache[tuple(index)] = fresh
    return steps, caches


@pytest.mark.parametrize("model", GPTS, ids=[f"seed{m['seed']}" for m in GPTS])
def test_folded_step_equals_the_step(model):
    """Outputs, fresh rows, logits and caches of the folded step equal the layer-level step's, bit for bit."""
    step_module = parse_module(random_gpt(**model), new_context(), "gpt")
    run_pipeline(step_module, "hardcore-kv-decode{output=both}")
    dag_module = parse_module(str(step_module), new_context(), "step")
    run_pipeline(dag_module, "hardcore-fold-weights")
    step, dag = find_function(step_module.operation), find_function(dag_module.operation)
    rng = np.random.default_rng(model["seed"])
    positions, vocabulary = model.get("positions", 4), model.get("vocabulary", 5)
    zeros = [np.zeros([16] + list(t.shape), dtype=np.int64) for t in list(step.type.inputs)[2:]]
    _, stale = _decode(step, rng.integers(0, vocabulary, (16, positions)), zeros, True)
    for caches in (zeros, stale):
        tokens = rng.integers(0, vocabulary, (16, positions))
        expected, expected_caches = _decode(step, tokens, caches, True)
        actual, actual_caches = _decode(dag, tokens, caches, False)
        for want, got in zip(expected, actual):
            assert len(want) == len(got) and all(np.array_equal(a, b) for a, b in zip(want, got))
        assert all(np.array_equal(a, b) for a, b in zip(expected_caches, actual_caches))
        assert np.array_equal(run_decoder(dag, tokens[:, :, None], caches=caches)[0],
                              run_decoder(step, tokens[:, :, None], caches=caches, from_quantized=True)[0])
    assert len(np.unique(np.concatenate([s[0] for s in expected]))) > 1  # not one token for all


def test_kv_decode_output_option():
    assert KvDecodePass.from_options("output=both").pipeline_text() == "hardcore-kv-decode{output=both}"
    with pytest.raises(UsageError, match=r"^hardcore-kv-decode: unknown output 'tokens' \(one of: logits, argmax, "
                                         r"both\)$"):
        KvDecodePass.from_options("output=tokens")


def test_cache_port_segments():
    """kᵀ [H, dh, T] (positions on axis 2): each element of the port from its own row; v [T, dh]: whole rows."""
    assert CacheLayout((2, 1, 3), 2, 4).segments() == [(0, 0, 1), (1, 0, 1), (2, 0, 1), (0, 1, 1), (1, 1, 1),
                                                       (2, 1, 1)]
    assert CacheLayout((3, 2), 0, 4).segments() == [(0, 0, 2), (1, 0, 2), (2, 0, 2)]
    assert CacheLayout((2, 3, 2), 1, 5).bits == 60


# -- a small language model through hardcore.compile ---------------------------------------------

POSITIONS, VOCABULARY = 5, 6  # T = 5: the step's pos port is wider than the counter (0..T)


def small_lm() -> TinyLM:
    torch.manual_seed(0)
    model = TinyLM(vocab_size=VOCABULARY, d_model=8, n_layer=1, n_head=2, context=POSITIONS).eval()
    with torch.no_grad():
        model.pos.normal_()  # a position table that is not constant: embedding_at
    return model


@pytest.fixture(scope="module")
def small_decoder(tmp_path_factory):
    """The small LM's decoder with a logits port, written to a directory (its `sim` folder is shared)."""
    circuit = hardcore.compile(small_lm(), torch.zeros(1, POSITIONS, dtype=torch.long), weight_bits=4, act_bits=4,
                               decoder=True, output="logits", name="small_lm")
    directory = tmp_path_factory.mktemp("decoder") / "small_lm"
    circuit.write(directory)
    return circuit, directory


def test_decoder_reference(small_decoder):
    circuit, directory = small_decoder
    assert isinstance(circuit, DecoderCircuit)
    tokens = np.random.default_rng(0).integers(0, VOCABULARY, (64, POSITIONS))
    next_tokens = circuit.next_tokens(tokens)
    assert np.array_equal(circuit.run_decoder(tokens), next_tokens)
    assert np.array_equal(circuit.run_decoder(tokens[:, :2]), next_tokens[:, :2])  # a prefix
    assert len(np.unique(next_tokens)) > 1
    loaded = Circuit.load(directory)
    assert isinstance(loaded, DecoderCircuit) and loaded.report == circuit.report
    assert np.array_equal(loaded.run_decoder(tokens), next_tokens)


def test_decoder_report(small_decoder):
    circuit, _ = small_decoder
    report = circuit.report
    # kᵀ [2 heads, 4, T] and v [2, T, 4], 4-bit activations
    assert report["decoder"] == {"positions": 5, "vocabulary": 6, "cycles_per_token": 1, "cache_bits": 320,
                                 "logits_frac_bits": circuit.logits_frac_bits,
                                 "caches": [{"shape": [2, 4, 5], "axis": 2, "width": 4, "bits": 160},
                                            {"shape": [2, 5, 4], "axis": 1, "width": 4, "bits": 160}]}
    assert report["ports"]["x"]["element_width"] == 3 and not report["ports"]["x"]["signed"]
    assert report["ports"]["y"]["element_width"] == 3 and not report["ports"]["y"]["signed"]
    assert report["ports"]["logits"]["elements"] == 6
    assert report["latency_cycles"] == 1 and set(report["control_ports"]) == {"clk", "rst", "in_valid", "start",
                                                                             "out_valid", "full"}
    kinds = [layer.get("kind", "") for layer in report["layers"]]
    # the import's kind; the table at the step's position: a mux tree on it
    assert kinds[0] == "embedding 6x8, 5 tokens + positions" and report["layers"][0]["muxes"] > 0
    assert kinds.count("cache 2x4x5, rows on axis 2") == 1 and kinds.count("cache 2x5x4, rows on axis 1") == 1
    assert report["muxes"] > 0 and report["register_bits"] > report["cache_bits"]


def test_verify_each_checks_the_decoder_passes():
    """The import against the model on token ids, the step against the window's argmax, the folded step
    against the step (outputs, fresh rows and caches, from stale caches)."""
    lines = []
    hardcore.compile(small_lm(), torch.zeros(1, POSITIONS, dtype=torch.long), weight_bits=4, act_bits=4,
                     decoder=True, verify_each=True, progress=lines.append)
    assert "hardcore-import: within 0.001 relative of the PyTorch model on 69 input vectors" in lines
    assert "hardcore-kv-decode: bit-exact on 69 input vectors" in lines
    assert "hardcore-fold-weights: bit-exact on 69 input vectors" in lines


def test_decoder_options_are_checked(small_decoder):
    with pytest.raises(UsageError, match=r"^compile: a decoder takes a token a clock through a combinational step; "
                                         r"max_adder_depth and clock_enable do not apply$"):
        hardcore.compile(small_lm(), torch.zeros(1, POSITIONS, dtype=torch.long), decoder=True, max_adder_depth=4)
    with pytest.raises(UsageError, match=r"^expected token sequences \(batch, steps\) of 1 to 5 steps, "
                                         r"got shape \[2, 6\]$"):
        small_decoder[0].next_tokens(np.zeros((2, 6)))
    with pytest.raises(UsageError, match=r"^tokens must lie in \[0, 5\]$"):
        small_decoder[0].run_decoder(np.full((2, 3), 6))


@requires_verilator
def test_decoder_verilog_is_lint_clean(small_decoder, tmp_path):
    from test_lint import assert_clean

    assert_clean(small_decoder[0], tmp_path)


def test_decoder_compiles_to_the_same_bytes(small_decoder):
    again = hardcore.compile(small_lm(), torch.zeros(1, POSITIONS, dtype=torch.long), weight_bits=4, act_bits=4,
                             decoder=True, output="logits", name="small_lm")
    assert again.verilog == small_decoder[0].verilog


# -- simulation --------------------------------------------------------------------------------

@pytest.mark.sim
@requires_verilator
def test_decoder_in_verilator(small_decoder):
    """Every emitted token and logits row equals the window model's on a stream of many sequences."""
    circuit, directory = small_decoder
    stream = random_stream(circuit, 160, np.random.default_rng(0))
    starts = np.flatnonzero((stream[:, 0] == 1) & (stream[:, 1] == 1))
    assert len(starts) >= 16 and (stream[:, 0] == 0).sum() >= 16
    expected = expected_outputs(circuit, stream)
    # new sequences begin before the last one filled the window, and some go past it
    before_full = [s for s in starts if s and not expected.full[s]]
    assert len(before_full) >= 8 and expected.full.sum() >= 4
    assert (stream[:, 0] == 1).sum() > expected.out_valid.sum()  # tokens past the window are not taken
    trace = simulate_decoder(circuit, stream, directory / "sim")
    assert compare(expected, trace) == (0, [])
    assert len(np.unique(trace.y[trace.out_valid == 1])) > 1
    # the comparison sees a wrong token
    wrong = expected_outputs(circuit, stream)
    cycle = int(np.flatnonzero(wrong.out_valid)[3])
    wrong.y[cycle] = (wrong.y[cycle] + 1) % VOCABULARY
    mismatches, notes = compare(wrong, trace)
    assert mismatches == 1 and notes[0].startswith(f"cycle {cycle}: out_valid 1 (expected 1), full ")


@pytest.mark.sim
@requires_verilator
def test_hardcore_sim_on_a_decoder(small_decoder, capsys):
    _, directory = small_decoder
    assert main(["sim", str(directory), "--vectors", "100", "--seed", "3"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"\d+ tokens taken in \d+ sequences, \d+ cycles: 0 mismatches \(1 cycle per token, latency 1 "
                        r"cycle, with logits, build [\d.]+ s, run [\d.]+ s\)", line), line


@pytest.mark.sim
@requires_icarus
def test_decoder_in_icarus_is_never_unknown(small_decoder, tmp_path):
    """In a 4-state simulator the caches' initial 0 keeps every output known (0 · X would be X)."""
    circuit, _ = small_decoder
    stream = random_stream(circuit, 12, np.random.default_rng(1))
    trace = simulate_decoder(circuit, stream, tmp_path, simulator="icarus")
    assert compare(expected_outputs(circuit, stream), trace) == (0, [])


def test_hardcore_compile_decoder(tmp_path, capsys):
    (tmp_path / "lm.py").write_text(
        "import sys\nsys.path.insert(0, %r)\nfrom model import TinyLM\n\n\n"
        "class Small(TinyLM):\n    def __init__(self):\n        super().__init__(vocab_size=5, d_model=4, n_layer=1, "
        "n_head=1, context=3)\n" % str(ROOT / "examples" / "tinylm"))
    assert main(["compile", f"{tmp_path / 'lm.py'}:Small", "--input-shape", "1,3", "--decoder", "--weight-bits", "4",
                 "--act-bits", "4", "-q", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("small: decoder of 3 positions, x 3 bits (a token) -> y 3 bits (the next token), "
                          "one token a clock, latency 1 cycle; ")
    circuit = Circuit.load(tmp_path / "out")
    assert isinstance(circuit, DecoderCircuit) and circuit.logits_width == 0 and circuit.options["decoder"]


@pytest.mark.slow
@pytest.mark.sim
@requires_verilator
def test_tinylm_decoder_in_verilator(tmp_path):
    """The tinylm-size model (trained weights when out/tinylm has them): bit-exact in Verilator."""
    import json

    config = json.loads(WEIGHTS_CONFIG.read_text())["config"] if WEIGHTS_CONFIG.exists() else CONFIG
    torch.manual_seed(0)
    model = TinyLM(**config).eval()
    if WEIGHTS.exists():
        model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    circuit = hardcore.compile(model, torch.zeros(1, config["context"], dtype=torch.long), decoder=True)
    stream = random_stream(circuit, 300, np.random.default_rng(0))
    trace = simulate_decoder(circuit, stream, tmp_path)
    assert compare(expected_outputs(circuit, stream), trace) == (0, [])
