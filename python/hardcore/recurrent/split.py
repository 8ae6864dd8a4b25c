"""A model with a recurrent layer -> its step model (x_t, state -> state') and head model (state -> output).

Both circuits of `hardcore.recurrent` are made of these two float models,
compiled by hardcore like any other model:

- the *step*: `z = [x_t, state]` -> `state'`, one time step of every layer of
  the recurrent module (`UnrolledRecurrent.cell`).  The state is h of every
  layer, then c of every layer (an LSTM).  A fake quantizer on its input and
  one on its output hold z and the state at the state's power-of-two scale
  and code range, so the quantized step's output codes are its input codes of
  the next step: the step function is the same integer function at every
  step.  x_t has a scale of its own (2^-x_frac_bits): z holds x_t * 2^-gain
  and the first layer's W_ih is W_ih * 2^gain, gain = frac_bits - x_frac_bits,
  so z's first codes are x_t's codes at its scale;
- the *head*: `state` -> the model's output: the rest of the model, with the
  recurrent module's results made from the state (its output sequence's last
  row is the last layer's h; `h_n`, `c_n` the state's parts).

`split` checks in float that the model is the head after T steps
(the model reads its recurrent layer's last step only: `output[:, -1]`, `h_n`,
`c_n`), or else the head after every step along the output's time dimension
(the output sequence: the head is the model's first output row), and chooses
the scale from every step of the calibration sequences.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from hardcore.errors import CompileError
from hardcore.passes.quantize.common import frac_bits_for
from hardcore.recurrent.unroll import UnrolledRecurrent, check_supported, recurrent_modules

__all__ = ["RecurrentSplit", "split"]

# The float check that the model reads only the last step: |model - head(state_T)| within this
# share of the output's magnitude (float32 rounding of the same operations in another order).
_SPLIT_TOLERANCE = 1e-4
# Calibration samples of the step model: every step of every sequence, at most this many.
_MAX_STEP_SAMPLES = 4096


def _fake_quantize(value: torch.Tensor, frac_bits: int, bits: int) -> torch.Tensor:
    return torch.fake_quantize_per_tensor_affine(value, 2.0 ** -frac_bits, 0, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


class _Step(torch.nn.Module):
    """z = [x_t, state] -> state', both at the state's scale (fake-quantized), or in float when frac_bits is None."""

    def __init__(self, recurrent: UnrolledRecurrent, inputs: int, frac_bits: int | None, bits: int):
        super().__init__()
        self.recurrent, self.inputs, self.frac_bits, self.bits = recurrent, inputs, frac_bits, bits

    def forward(self, z):
        if self.frac_bits is not None:
            z = _fake_quantize(z, self.frac_bits, self.bits)
        x, state = z[:, :self.inputs], z[:, self.inputs:]
        hs, cs = _parts(self.recurrent, state)
        hs, cs = self.recurrent.cell(x, hs, cs)
        state = torch.cat(hs + cs, dim=1)
        return _fake_quantize(state, self.frac_bits, self.bits) if self.frac_bits is not None else state


def _parts(recurrent: UnrolledRecurrent, state: torch.Tensor) -> tuple[list, list]:
    """A state vector (batch, S) -> per-layer h and c."""
    size, layers = recurrent.hidden, recurrent.layers
    hs = [state[:, k * size:(k + 1) * size] for k in range(layers)]
    cs = [state[:, (layers + k) * size:(layers + k + 1) * size] for k in range(layers)] \
        if recurrent.kind == "LSTM" else []
    return hs, cs


# The recurrent module's settings a model may read in its forward (`self.rnn.batch_first`).
_SETTINGS = ("input_size", "hidden_size", "num_layers", "batch_first", "bidirectional", "proj_size", "nonlinearity",
             "bias", "dropout", "mode")


class _FromState(torch.nn.Module):
    """Stands for the recurrent module inside the head: its results made from the state it is given as x."""

    def __init__(self, module: torch.nn.Module, recurrent: UnrolledRecurrent, steps: int):
        super().__init__()
        self.recurrent, self.steps = recurrent, steps
        for name in _SETTINGS:
            if hasattr(module, name):
                setattr(self, name, getattr(module, name))

    def forward(self, state, hx=None):
        hs, cs = _parts(self.recurrent, state)
        last = hs[-1]
        output = last.unsqueeze(1 if self.recurrent.batch_first else 0)
        output = output.expand(-1, self.steps, -1) if self.recurrent.batch_first else output.expand(self.steps, -1, -1)
        # (layers, batch, hidden) as a reshape of the state, not a stack: hardcore takes dimension 0 for the batch
        layers, size = self.recurrent.layers, self.recurrent.hidden
        h_n = state[:, :layers * size].reshape(-1, layers, size).transpose(0, 1)
        if self.recurrent.kind != "LSTM":
            return output, h_n
        return output, (h_n, state[:, layers * size:].reshape(-1, layers, size).transpose(0, 1))


class _Head(torch.nn.Module):
    """state -> the model's output (fake-quantized state in, or float when frac_bits is None).

    The model, its recurrent module a `_FromState`, is called on the state in
    place of its input: the recurrent module is what reads the input.
    """

    def __init__(self, model: torch.nn.Module, path: str, recurrent: UnrolledRecurrent, steps: int,
                 frac_bits: int | None, bits: int, state_inputs: tuple = (), row: int | None = None):
        super().__init__()
        self.row = row  # a sequence model: the output's first row along this (time) dimension
        self.model = copy.deepcopy(model)
        self.state_inputs = [torch.zeros_like(given) for given in state_inputs]  # what _FromState ignores
        parent_path, _, attribute = path.rpartition(".")
        parent = self.model.get_submodule(parent_path) if parent_path else self.model
        setattr(parent, attribute, _FromState(getattr(parent, attribute), recurrent, steps))
        self.frac_bits, self.bits = frac_bits, bits

    def forward(self, state):
        if self.frac_bits is not None:
            state = _fake_quantize(state, self.frac_bits, self.bits)
        output = self.model(state, *self.state_inputs)
        return output if self.row is None else output.select(self.row, 0)


@dataclass
class RecurrentSplit:
    """The step and head models of a recurrent model, its state's scale and calibration data."""

    kind: str  # RNN, GRU or LSTM
    steps: int  # T
    inputs: int  # features of x_t
    state_size: int  # S
    frac_bits: int  # the scale 2^-frac_bits of the state (and of the step's z)
    x_frac_bits: int  # the scale of x_t at the circuit's port (its codes are z's first elements)
    bits: int  # their codes' width (act_bits)
    initial_state: np.ndarray  # (S,) float: h0 (and c0), zeros by default (a constant initial state)
    initial_inputs: list  # names of the initial state's model inputs ("h0", "c0"): [] for a constant one
    step: torch.nn.Module
    head: torch.nn.Module
    step_calibration: np.ndarray  # (samples, inputs + S): z of every step
    head_calibration: np.ndarray  # (N, S): the states after T steps (after every step: a sequence)
    sequence: bool = False  # the output is the head of every step's state (T rows), not of the last one

    @property
    def initial_codes(self) -> np.ndarray:
        """The initial state as codes: round(state * 2^frac_bits), saturated."""
        low, high = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return np.clip(np.round(self.initial_state * 2.0 ** self.frac_bits), low, high).astype(np.int64)


def split(model: torch.nn.Module, example_input, calibration, bits: int) -> RecurrentSplit:
    """The step and head models of `model`, whose one recurrent module reads the model's input (module doc).

    `example_input` is the sequence, or a tuple (sequence, h0) (an LSTM: (sequence, h0, c0)) for a model
    whose recurrent module starts from initial states that are its other inputs; `calibration` is then a
    tuple too: sequences (N, T, F) and initial states (N, layers, hidden) each."""
    found = recurrent_modules(model)
    if len(found) != 1:
        raise CompileError(f"recurrent: expected one nn.RNN, nn.GRU or nn.LSTM in the model, found {len(found)}")
    path, module = found[0]
    check_supported(path, module)
    model = model.eval()
    recurrent = UnrolledRecurrent(module)
    inputs_given = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    sequence_input, state_inputs = inputs_given[0], inputs_given[1:]
    calls = []
    handle = module.register_forward_pre_hook(lambda _, args, kwargs: calls.append((args, kwargs)), with_kwargs=True)
    try:
        with torch.no_grad():
            model(*inputs_given)
    finally:
        handle.remove()
    if len(calls) != 1 or calls[0][0][0] is not sequence_input:
        raise CompileError(f"recurrent: {path} ({recurrent.kind}) must be called once, on the model's input itself")
    args, kwargs = calls[0]
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    initial_inputs = _initial_inputs(path, recurrent, hx, state_inputs)
    sequence = sequence_input if recurrent.batch_first else sequence_input.transpose(0, 1)
    if sequence.shape[0] != 1:
        raise CompileError(f"recurrent: the example input's batch must be 1, got {sequence.shape[0]}")
    steps, inputs = sequence.shape[1], sequence.shape[2]
    hs, cs = recurrent.initial_state(None if initial_inputs else hx)
    initial = torch.cat([torch.zeros(1, recurrent.hidden) if h is None else h.reshape(1, -1) for h in hs + cs], dim=1)

    calibration, initial_calibration = _calibration_parts(calibration, initial_inputs)
    if calibration is None:
        generator = torch.Generator().manual_seed(0)
        calibration = torch.randn((256, steps, inputs), generator=generator)
    sequences = torch.as_tensor(np.asarray(calibration), dtype=torch.float32)
    if tuple(sequences.shape[1:]) != (steps, inputs):
        raise CompileError(f"recurrent: calibration sequences must have shape (N, {steps}, {inputs}), "
                           f"got {list(sequences.shape)}")
    model_inputs = sequences if recurrent.batch_first else sequences.transpose(0, 1)  # (T, N, F) time first
    time_dim = 1 if recurrent.batch_first else 0  # of the model's output sequence
    float_step = _Step(recurrent, inputs, None, bits)
    states = [initial.expand(len(sequences), -1)]
    if initial_inputs:
        states = [_initial_states(initial_calibration, len(sequences), recurrent)]
    samples = []
    with torch.no_grad():
        for step in range(steps):
            z = torch.cat([sequences[:, step], states[-1]], dim=1)
            samples.append(z)
            states.append(float_step(z))
        ones = model_inputs.split(1, dim=0 if recurrent.batch_first else 1)
        per_input = [torch.split(row[None], recurrent.layers * recurrent.hidden, dim=1) for row in states[0]]
        try:
            expected = [model(one, *(part.reshape(given.shape) for part, given in zip(parts, state_inputs)))
                        for one, parts in zip(ones, per_input)]
        except Exception:  # the model reads its input elsewhere than through the recurrent module
            expected = None
        last_head = _Head(model, path, recurrent, steps, None, bits, state_inputs)
        error = _largest_error(expected, lambda i: last_head(states[-1][i:i + 1]))
        every_step = False
        if error is not None:  # not the last step: the same head at every step (the output sequence)?
            row_head = _Head(model, path, recurrent, steps, None, bits, state_inputs, row=time_dim)
            every_step = _largest_error(expected, lambda i: torch.stack([row_head(states[t + 1][i:i + 1])
                                                                         for t in range(steps)], dim=time_dim)) is None
            error = None if every_step else error
    if error is not None:
        raise CompileError(f"recurrent: the model's output must be a function of {path}'s last step (output[:, -1], "
                           f"h_n, c_n) or that of every step (the sequence); reading its steps otherwise changed "
                           f"the output by {error:.3g}")
    z_all = torch.cat(samples, dim=0).numpy()
    # x_t and the state each get their own scale; z holds x_t * 2^-gain, so that z's codes of x_t are x_t's
    # codes at its own scale, and the first layer's W_ih * 2^gain (exact: weight scales are powers of two)
    # undoes it.
    x_frac_bits = frac_bits_for(float(np.abs(z_all[:, :inputs]).max(initial=0.0)), bits, signed=True)
    frac_bits = frac_bits_for(float(np.abs(z_all[:, inputs:]).max(initial=0.0)), bits, signed=True)
    gain = frac_bits - x_frac_bits
    z_all[:, :inputs] *= 2.0 ** -gain
    scaled = copy.deepcopy(recurrent)
    scaled.weight_ih_l0.mul_(2.0 ** gain)
    chosen = np.linspace(0, len(z_all) - 1, min(len(z_all), _MAX_STEP_SAMPLES)).astype(np.int64)
    return RecurrentSplit(
        kind=recurrent.kind, steps=steps, inputs=inputs, state_size=recurrent.state_size, frac_bits=frac_bits,
        x_frac_bits=x_frac_bits, bits=bits, initial_state=initial[0].numpy().astype(np.float64),
        initial_inputs=initial_inputs,
        step=_Step(scaled, inputs, frac_bits, bits),
        head=_Head(model, path, recurrent, steps, frac_bits, bits, state_inputs, row=time_dim if every_step else None),
        step_calibration=z_all[chosen], sequence=every_step,
        head_calibration=(torch.cat(states[1:])[chosen] if every_step else states[-1]).numpy())


def _initial_inputs(path: str, recurrent: UnrolledRecurrent, hx, state_inputs: tuple) -> list:
    """The names of the model inputs that are the recurrent module's initial state: [], ["h0"] or ["h0", "c0"]."""
    if not state_inputs:
        return []
    names = ["h0", "c0"] if recurrent.kind == "LSTM" else ["h0"]
    given = list(hx) if recurrent.kind == "LSTM" and isinstance(hx, (tuple, list)) else [hx]
    if len(state_inputs) != len(names) or len(given) != len(names) or \
            any(part is not model_input for part, model_input in zip(given, state_inputs)):
        raise CompileError(f"recurrent: the model's inputs after the sequence must be {path}'s initial state "
                           f"itself: {', '.join(names)} ({recurrent.kind})")
    return names


def _calibration_parts(calibration, initial_inputs: list):
    """(sequences, initial states or None) of `calibration`: a tuple when the initial state is an input."""
    if not initial_inputs:
        return calibration, None
    if calibration is None:
        return None, None
    if not isinstance(calibration, (tuple, list)) or len(calibration) != 1 + len(initial_inputs):
        raise CompileError(f"recurrent: the model has {1 + len(initial_inputs)} inputs: calibration must be a "
                           f"tuple of the sequences and {', '.join(initial_inputs)}")
    return calibration[0], calibration[1:]


def _initial_states(calibration, count: int, recurrent: UnrolledRecurrent) -> torch.Tensor:
    """(count, S) initial states: the calibration's (h0 and c0, (count, layers, hidden) each), or uniform in
    (-1, 1) (seeded) without one."""
    size = recurrent.layers * recurrent.hidden
    if calibration is None:
        generator = torch.Generator().manual_seed(1)
        return torch.rand((count, recurrent.state_size), generator=generator) * 2 - 1
    parts = [torch.as_tensor(np.asarray(part), dtype=torch.float32).reshape(len(part), -1) for part in calibration]
    if any(part.shape != (count, size) for part in parts):
        raise CompileError(f"recurrent: initial-state calibration must hold {count} states of {recurrent.layers} x "
                           f"{recurrent.hidden} each, got {[list(part.shape) for part in parts]}")
    return torch.cat(parts, dim=1)


def _largest_error(expected: list | None, actual) -> float | None:
    """The largest |expected[i] - actual(i)| over the calibration sequences, or None within the tolerance
    (float32 rounding); inf when the model's output cannot be made so."""
    if expected is None:
        return float("inf")
    try:
        error = max(float((e - actual(i)).abs().max()) for i, e in enumerate(expected))
    except Exception:  # another shape, or the head cannot run without the sequence
        return float("inf")
    largest = max(float(e.abs().max()) for e in expected)
    return None if error <= _SPLIT_TOLERANCE * (1 + largest) else error
