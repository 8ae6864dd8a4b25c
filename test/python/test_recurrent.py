"""Recurrent layers (nn.RNN, nn.GRU, nn.LSTM) as circuits (docs/recurrent.md).

- torch-mlir cannot import them; `unroll` writes them out over the sequence and
  equals torch's modules in float (one layer and stacked, batch first or not,
  with or without an initial state, tanh and relu RNNs), and the unrolled model
  imports;
- `python -m hardcore.recurrent.fuzz`'s random models (a few seeds): both forms agree;
- the unrolled circuit (`recurrent="unrolled"`) and the one-step-per-clock circuit
  (`recurrent="stateful"`) of a GRU, an LSTM and an RNN classifier over 8 steps:
  the stateful step run over the sequence equals the unrolled reference bit for
  bit, and both are close to float; a stacked time-first GRU from a constant
  initial state as an argmax classifier, under `--verify-each`; writing and
  loading a stateful circuit; the errors of `recurrent=`;
- an initial state as model inputs (`forward(x, h0)`), the output sequence (a
  tagger), and a pipelined step (`max_adder_depth`, a step every L + 1 cycles),
  each in both forms against the unrolled reference (and in Verilator);
- in Verilator: the stateful GRU through `hardcore compile --recurrent stateful`
  and `hardcore sim` and the stateful LSTM, over sequences back to back with
  `start` and idle cycles, every cycle against `run_steps` and every last output
  against the unrolled reference; the unrolled RNN pipelined against its reference.
"""

import itertools
import json

import numpy as np
import pytest
import torch

import hardcore
from hardcore.cli import main
from hardcore.compiler import Circuit
from hardcore.errors import CompileError, UsageError
from hardcore.recurrent import UnrolledRecurrent, unroll
from hardcore.recurrent.circuit import RecurrentCircuit
from hardcore.recurrent.fuzz import fuzz_one
from hardcore.recurrent.sim import check_sequences, sequence_stream
from hardcore.report import format_table
from hardcore.sim import simulate, tool_available

torch.set_num_threads(1)

T, FEATURES, HIDDEN, CLASSES = 8, 4, 8, 3


class Classifier(torch.nn.Module):
    """A recurrent layer over the sequence, a linear head on its last output."""

    def __init__(self, kind: str = "GRU", layers: int = 1, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.rnn = getattr(torch.nn, kind)(FEATURES, HIDDEN, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[:, -1])


class StackedTimeFirst(torch.nn.Module):
    """Two GRU layers, time first, from a constant initial state, the head on h_n of the top layer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.rnn = torch.nn.GRU(FEATURES, HIDDEN, num_layers=2)
        self.register_buffer("h0", 0.5 * torch.rand(2, 1, HIDDEN))
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        _, h_n = self.rnn(x, self.h0)
        return self.head(h_n[-1])


class FromInitialState(Classifier):
    """The initial state is the model's input: forward(x, h0), an LSTM's forward(x, h0, c0)."""

    def forward(self, x, *initial):
        output, _ = self.rnn(x, initial if len(initial) > 1 else initial[0])
        return self.head(output[:, -1])


class Tagger(Classifier):
    """The head on every step: the output sequence (1, T, classes)."""

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output)


class InitialStateUsedTwice(Classifier):
    def forward(self, x, h0):
        output, _ = self.rnn(x, 2 * h0)
        return self.head(output[:, -1])


class EveryStep(Classifier):
    """Reads every step of the sequence: not a last-step model."""

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output.mean(dim=1))


requires_verilator = pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
CALIBRATION = torch.randn(256, T, FEATURES, generator=torch.Generator().manual_seed(3))
INPUTS = torch.randn(24, T, FEATURES, generator=torch.Generator().manual_seed(4))


@pytest.fixture(scope="module")
def forms():
    """kind -> (unrolled, stateful) circuits of the 8-step classifier."""
    return {kind: tuple(hardcore.compile(Classifier(kind), torch.zeros(1, T, FEATURES), calibration=CALIBRATION,
                                         recurrent=form) for form in ("unrolled", "stateful"))
            for kind in ("RNN", "GRU", "LSTM")}


def _outputs(kind, result):
    return [result[0], *(result[1] if kind == "LSTM" else (result[1],))]


@pytest.mark.parametrize("kind,layers,batch_first,initial,nonlinearity", [
    case for case in itertools.product(("RNN", "GRU", "LSTM"), (1, 2), (True, False), (False, True), ("tanh", "relu"))
    if case[4] == "tanh" or case[0] == "RNN"])
def test_unrolled_equals_torch(kind, layers, batch_first, initial, nonlinearity):
    torch.manual_seed(1)
    options = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
    module = getattr(torch.nn, kind)(FEATURES, HIDDEN, num_layers=layers, batch_first=batch_first, **options).eval()
    x = torch.randn(3, T, FEATURES) if batch_first else torch.randn(T, 3, FEATURES)
    hx = None
    if initial:
        hx = torch.randn(layers, 3, HIDDEN)
        hx = (hx, torch.randn(layers, 3, HIDDEN)) if kind == "LSTM" else hx
    with torch.no_grad():
        expected, actual = _outputs(kind, module(x, hx)), _outputs(kind, UnrolledRecurrent(module)(x, hx))
    for e, a in zip(expected, actual):
        assert e.shape == a.shape
        assert (e - a).abs().max().item() < 1e-5


def test_unroll_replaces_only_recurrent_modules():
    model = Classifier("LSTM")
    unrolled = unroll(model)
    assert isinstance(unrolled.rnn, UnrolledRecurrent) and unrolled.head is not model.head
    assert isinstance(model.rnn, torch.nn.LSTM)  # the model itself is unchanged
    plain = torch.nn.Linear(2, 2)
    assert unroll(plain) is plain


@pytest.mark.parametrize("variant,message", [
    ({"bidirectional": True}, r"^LSTM \(LSTM\): bidirectional recurrent layers are not supported$"),
    ({"proj_size": 2}, r"^LSTM \(LSTM\): LSTM projections \(proj_size\) are not supported$")])
def test_unsupported_variants(variant, message):
    with pytest.raises(CompileError, match=message):
        UnrolledRecurrent(torch.nn.LSTM(FEATURES, HIDDEN, **variant))


def test_a_model_with_a_recurrent_layer_compiles_unrolled():
    circuit = hardcore.compile(Classifier("RNN"), torch.zeros(1, T, FEATURES), calibration=CALIBRATION)
    error = np.abs(circuit.predict(INPUTS.numpy()) - Classifier("RNN")(INPUTS).detach().numpy()).max()
    assert error < 0.1


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_stateful_steps_equal_the_unrolled_reference(forms, kind):
    unrolled, stateful = forms[kind]
    codes = unrolled.quantize_input(INPUTS.numpy())
    reference = unrolled.reference(codes)
    assert np.array_equal(stateful.reference(codes), reference)
    out_valid, y, last = stateful.run_steps(sequence_stream(stateful, codes, np.random.default_rng(0)))
    assert np.array_equal(y[(out_valid == 1) & (last == 1)], reference)
    expected = Classifier(kind)(INPUTS).detach().numpy()
    assert np.abs(unrolled.dequantize_output(reference) - expected).max() < 0.1
    assert stateful.report["recurrent"]["cycles_per_sequence"] == T
    assert stateful.report["cycles_per_sequence"] == T and unrolled.report["cycles_per_sequence"] == 1
    kinds = [layer["kind"] for layer in unrolled.layers]
    assert kinds[0] == f"initial state {stateful.state_size}" and kinds[-1].startswith("head: ")
    assert sum(kind.startswith("step 7: ") for kind in kinds) == sum(k.startswith("step: ")
                                                                      for k in (l["kind"] for l in stateful.layers))


def test_stacked_time_first_with_an_initial_state_as_a_classifier():
    model = StackedTimeFirst()
    example = torch.zeros(T, 1, FEATURES)
    unrolled, stateful = (hardcore.compile(model, example, calibration=CALIBRATION, recurrent=form, output="argmax",
                                           verify_each=form == "stateful") for form in ("unrolled", "stateful"))
    assert stateful.state_size == 2 * HIDDEN and any(stateful.initial_codes)
    codes = unrolled.quantize_input(INPUTS.numpy())
    out_valid, y, last = stateful.run_steps(sequence_stream(stateful, codes, np.random.default_rng(1)))
    assert np.array_equal(y[(out_valid == 1) & (last == 1)], unrolled.reference(codes))
    expected = np.array([int(model(sequence[:, None]).argmax()) for sequence in INPUTS])
    assert (unrolled.reference(codes)[:, 0] == expected).mean() > 0.8


def _initial_states(kind: str, count: int, seed: int) -> tuple:
    """(N, 1, hidden) random initial states: h0, an LSTM's h0 and c0."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(count, 1, HIDDEN, generator=generator) - 0.5 for _ in range(2 if kind == "LSTM" else 1))


def _initial_state_forms(kind: str) -> tuple:
    model = FromInitialState(kind)
    example = (torch.zeros(1, T, FEATURES),) + tuple(torch.zeros(1, 1, HIDDEN) for _ in _initial_states(kind, 1, 0))
    calibration = (CALIBRATION,) + _initial_states(kind, len(CALIBRATION), 6)
    return model, tuple(hardcore.compile(model, example, calibration=calibration, recurrent=form)
                        for form in ("unrolled", "stateful"))


def test_an_initial_state_as_an_input():
    """forward(x, h0): ports x0, x1 unrolled, x and h0 stateful (loaded on start); both the same integers."""
    model, (unrolled, stateful) = _initial_state_forms("GRU")
    assert [port.name for port in unrolled.inputs] == ["x0", "x1"]
    assert [(port.name, port.shape) for port in stateful.inputs] == [("x", [T, FEATURES]), ("h0", [HIDDEN])]
    assert unrolled.inputs[1].frac_bits == stateful.inputs[1].frac_bits == 7
    h0 = _initial_states("GRU", len(INPUTS), 7)
    codes = unrolled.quantize_input((INPUTS.numpy(), *(h.numpy() for h in h0)))
    reference = unrolled.reference(codes)
    assert np.array_equal(stateful.reference(codes), reference)
    out_valid, y, last = stateful.run_steps(sequence_stream(stateful, codes, np.random.default_rng(0)))
    assert np.array_equal(y[(out_valid == 1) & (last == 1)], reference)
    expected = torch.cat([model(x[None], h[None]) for x, h in zip(INPUTS, h0[0])]).detach().numpy()
    assert np.abs(unrolled.dequantize_output(reference) - expected).max() < 0.1
    assert stateful.report["control_ports"]["start"] == "with in_valid: x is step 0 of a new sequence (from h0)"
    assert stateful.report["recurrent"]["initial_inputs"] == ["h0"]
    plain = hardcore.compile(model, (torch.zeros(1, T, FEATURES), torch.zeros(1, 1, HIDDEN)),
                             calibration=(CALIBRATION, _initial_states("GRU", len(CALIBRATION), 6)[0]))
    assert np.abs(plain.predict((INPUTS.numpy(), h0[0].numpy())) - expected).max() < 0.1


@pytest.fixture(scope="module")
def taggers():
    """(unrolled, stateful) circuits of the RNN tagger: the output sequence."""
    return tuple(hardcore.compile(Tagger("RNN"), torch.zeros(1, T, FEATURES), calibration=CALIBRATION, recurrent=form)
                 for form in ("unrolled", "stateful"))


def test_the_output_sequence(taggers):
    """The head after every step: the unrolled y is [T, classes], the stateful y each step's row, one scale."""
    unrolled, stateful = taggers
    assert unrolled.out_shape == [T, CLASSES] and stateful.out_shape == [CLASSES]
    assert unrolled.out_frac_bits == stateful.out_frac_bits and stateful.report["recurrent"]["sequence"]
    codes = unrolled.quantize_input(INPUTS.numpy())
    reference = unrolled.reference(codes)
    out_valid, y, _ = stateful.run_steps(sequence_stream(stateful, codes, np.random.default_rng(2)))
    assert np.array_equal(y[out_valid == 1].reshape(len(INPUTS), -1), reference)
    expected = Tagger("RNN")(INPUTS).detach().numpy().reshape(len(INPUTS), -1)
    assert np.abs(unrolled.dequantize_output(reference) - expected).max() < 0.1
    assert sum(layer["kind"].startswith("step 3 head: ") for layer in unrolled.layers) == \
        sum(layer["kind"].startswith("head: ") for layer in stateful.layers) > 0


@pytest.fixture(scope="module")
def pipelined_gru():
    return hardcore.compile(Classifier("GRU"), torch.zeros(1, T, FEATURES), calibration=CALIBRATION,
                            recurrent="stateful", max_adder_depth=4)


def test_a_pipelined_step(forms, pipelined_gru, tmp_path):
    """max_adder_depth: the step's latency L, a step every L + 1 cycles (in_ready), the same integers."""
    circuit = pipelined_gru
    assert (circuit.step_latency, circuit.head_latency, circuit.interval, circuit.latency) == (8, 2, 9, 11)
    recurrent = circuit.report["recurrent"]
    assert (recurrent["interval_cycles"], recurrent["cycles_per_sequence"]) == (9, 9 * T)
    assert circuit.figures["cycles_per_sequence"] == 9 * T and "in_ready" in circuit.report["control_ports"]
    codes = circuit.quantize_input(INPUTS.numpy())
    out_valid, y, last = circuit.run_steps(sequence_stream(circuit, codes, np.random.default_rng(3)))
    assert np.array_equal(y[(out_valid == 1) & (last == 1)], forms["GRU"][0].reference(codes))
    circuit.write(tmp_path / "gru")
    loaded = Circuit.load(tmp_path / "gru")
    assert loaded.interval == 9 and loaded.report == circuit.report
    assert ("stateful recurrent: one time step every 9 cycles (a pipelined step, latency 11 cycles), 72 cycles a "
            "sequence") in format_table(circuit.report)


class StackedFromInitialState(Classifier):
    def __init__(self):
        super().__init__("GRU", layers=2)

    def forward(self, x, h0):
        output, _ = self.rnn(x, h0)
        return self.head(output[:, -1])


def test_a_stacked_initial_state_input_needs_recurrent():
    """h0 of two layers, (2, 1, hidden): a usage error without recurrent=, ports x0 and x1 with it."""
    example = (torch.zeros(1, T, FEATURES), torch.zeros(2, 1, HIDDEN))
    with pytest.raises(UsageError, match=r'^compile: input 1 has 2 rows in its first dimension, the batch \(an '
                                         r'initial state of rnn \(GRU\) with 2 layers\?\); compile it with '
                                         r'recurrent="unrolled" or "stateful", which read h0 as \(layers, 1, '
                                         r'hidden\)$'):
        hardcore.compile(StackedFromInitialState(), example)
    circuit = hardcore.compile(StackedFromInitialState(), example, recurrent="unrolled")
    assert [(port.name, port.shape) for port in circuit.inputs] == [("x0", [T, FEATURES]), ("x1", [2 * HIDDEN])]


def test_write_and_load_a_stateful_circuit(forms, tmp_path):
    stateful = forms["GRU"][1]
    stateful.write(tmp_path / "gru")
    loaded = Circuit.load(tmp_path / "gru")
    assert isinstance(loaded, RecurrentCircuit) and loaded.report == stateful.report
    report = json.loads((tmp_path / "gru" / "classifier.json").read_text())
    assert report["recurrent"]["cycles_per_sequence"] == T and report["ports"]["x"]["elements"] == FEATURES
    codes = stateful.quantize_input(INPUTS.numpy()[:3])
    assert np.array_equal(loaded.reference(codes), stateful.reference(codes))
    assert (f"stateful recurrent: one time step a clock, {T} cycles a sequence, state {HIDDEN} x 8 bits, "
            f"register bits {stateful.figures['register_bits']}") in format_table(report)


@pytest.mark.parametrize("model,options,error,message", [
    (EveryStep(), {"recurrent": "stateful"}, CompileError,
     r"^recurrent: the model's output must be a function of rnn's last step \(output\[:, -1\], h_n, c_n\) or that "
     r"of every step \(the sequence\); reading its steps otherwise changed the output by [0-9.e-]+$"),
    (torch.nn.Sequential(torch.nn.GRU(FEATURES, HIDDEN, batch_first=True)), {"recurrent": "bogus"}, UsageError,
     r"^compile: recurrent must be one of unrolled, stateful, got 'bogus'$"),
    (Classifier(), {"recurrent": "stateful", "max_adder_depth": 4, "clock_enable": True}, UsageError,
     r"^compile: the stateful recurrent circuit has no clock enable \(clock_enable\); its in_valid and in_ready "
     r"pace the steps$"),
    (InitialStateUsedTwice(), {"recurrent": "unrolled"}, CompileError,
     r"^recurrent: the model's inputs after the sequence must be rnn's initial state itself: h0 \(GRU\)$"),
    (torch.nn.Linear(FEATURES, 2), {"recurrent": "unrolled"}, CompileError,
     r"^recurrent: expected one nn.RNN, nn.GRU or nn.LSTM in the model, found 0$"),
    (torch.nn.Sequential(torch.nn.GRU(FEATURES, HIDDEN, batch_first=True, bidirectional=True)), {}, CompileError,
     r"^0 \(GRU\): bidirectional recurrent layers are not supported$")])
def test_recurrent_errors(model, options, error, message):
    example = torch.zeros(1, T, FEATURES)
    with pytest.raises(error, match=message):
        hardcore.compile(model, (example, torch.zeros(1, 1, HIDDEN)) if isinstance(model, InitialStateUsedTwice)
                         else example, **options)


@pytest.mark.sim
@requires_verilator
def test_stateful_gru_in_verilator(tmp_path, capsys):
    """`hardcore compile --recurrent stateful` and `hardcore sim`: 40 sequences back to back, idle cycles between."""
    model_file = tmp_path / "model.py"
    model_file.write_text("import torch\n\n\nclass Gru(torch.nn.Module):\n    def __init__(self):\n"
                          "        super().__init__()\n        torch.manual_seed(0)\n"
                          f"        self.rnn = torch.nn.GRU({FEATURES}, {HIDDEN}, batch_first=True)\n"
                          f"        self.head = torch.nn.Linear({HIDDEN}, {CLASSES})\n\n"
                          "    def forward(self, x):\n        return self.head(self.rnn(x)[0][:, -1])\n")
    out = tmp_path / "gru"
    assert main(["compile", f"{model_file}:Gru", "--input-shape", f"1,{T},{FEATURES}", "--recurrent", "stateful",
                 "-o", str(out), "-q"]) == 0
    assert f"one step a clock, {T} cycles per sequence" in capsys.readouterr().out
    assert main(["sim", str(out), "--vectors", "40"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"40 sequences of {T} steps ({T} cycles per sequence): 0 mismatching cycles, "
        "0 last outputs unlike the unrolled reference")


@pytest.mark.sim
@requires_verilator
def test_stateful_lstm_in_verilator(forms, tmp_path):
    stateful = forms["LSTM"][1]
    codes = stateful.quantize_input(INPUTS.numpy())
    assert check_sequences(stateful, codes, tmp_path, np.random.default_rng(5)) == (0, 0)


@pytest.mark.sim
@requires_verilator
def test_lstm_from_an_initial_state_input_in_verilator(tmp_path):
    """forward(x, h0, c0): the stateful circuit (h0 and c0 ports loaded on start) and the unrolled one (ports
    x0, x1, x2) in Verilator, each equal to the unrolled reference."""
    _, (unrolled, stateful) = _initial_state_forms("LSTM")
    initial = _initial_states("LSTM", len(INPUTS), 7)
    codes = unrolled.quantize_input((INPUTS.numpy(), *(h.numpy() for h in initial)))
    assert check_sequences(stateful, codes, tmp_path / "stateful", np.random.default_rng(8)) == (0, 0)
    result = unrolled.simulate(codes, tmp_path / "unrolled")
    assert np.array_equal(result.outputs, unrolled.reference(codes))


@pytest.mark.sim
@requires_verilator
def test_pipelined_step_in_verilator(pipelined_gru, tmp_path):
    """The GRU with a pipelined step: every cycle against `run_steps`, every last output against the reference."""
    codes = pipelined_gru.quantize_input(INPUTS.numpy())
    assert check_sequences(pipelined_gru, codes, tmp_path, np.random.default_rng(10)) == (0, 0)


@pytest.mark.sim
@requires_verilator
def test_output_sequence_in_verilator(taggers, tmp_path):
    """The RNN tagger: the stateful circuit's y at every step and the unrolled circuit's [T, classes] y."""
    unrolled, stateful = taggers
    codes = unrolled.quantize_input(INPUTS.numpy())
    assert check_sequences(stateful, codes, tmp_path / "stateful", np.random.default_rng(9)) == (0, 0)
    assert np.array_equal(unrolled.simulate(codes, tmp_path / "unrolled").outputs, unrolled.reference(codes))


@pytest.mark.sim
@requires_verilator
def test_unrolled_rnn_pipelined_in_verilator(tmp_path):
    circuit = hardcore.compile(Classifier("RNN"), torch.zeros(1, T, FEATURES), calibration=CALIBRATION,
                               recurrent="unrolled", max_adder_depth=6)
    codes = circuit.quantize_input(INPUTS.numpy())
    result = simulate(circuit.verilog, circuit.name, codes, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, latency=circuit.latency, workdir=tmp_path)
    assert circuit.latency > 0 and np.array_equal(result.outputs, circuit.reference(codes))


@pytest.mark.parametrize("seed", [1, 2, 3, 9])
def test_fuzzed_recurrent_models(seed):
    """`python -m hardcore.recurrent.fuzz`'s models: the stateful steps equal the unrolled reference."""
    description, wrong = fuzz_one(seed)
    assert wrong == 0, description


@pytest.mark.synth
@pytest.mark.skipif(not tool_available("yosys"), reason="yosys is not installed")
def test_stateful_synth_against_the_plain_baseline(tmp_path):
    """`report --synth` on a stateful circuit: the whole circuit in Yosys, and its step and head with '*'."""
    from hardcore.report import synthesize

    circuit = hardcore.compile(Classifier("RNN"), torch.zeros(1, T, FEATURES), calibration=CALIBRATION, recurrent="stateful")
    result = synthesize(circuit, tmp_path)
    assert result["folded"]["luts"] > 0 and result["folded"]["ffs"] >= circuit.report["recurrent"]["state_size"]
    assert result["plain"]["luts"] > result["folded"]["luts"]  # the '*' step and head cost more than the folded ones
    assert result["lut_ratio"] == result["plain"]["luts"] / result["folded"]["luts"]
    assert circuit.figures["synthesis"] is result
