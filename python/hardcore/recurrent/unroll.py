"""nn.RNN / nn.GRU / nn.LSTM -> the same computation written out over time with linear maps, sigmoid and tanh.

torch-mlir cannot import the recurrent modules (their flat weight list stops
the FX importer: "Heterogeneous lists are not supported").  `unroll(model)`
gives a copy of `model` in which each is an `UnrolledRecurrent`: a loop over
the sequence that torch.export traces into `linear`, `sigmoid`, `tanh`,
products, sums, slices and a stack, ops hardcore imports.  `cell` is one time
step of every layer, the function the circuits are made of (`hardcore.recurrent`).

The cells follow torch's definitions (docs/recurrent.md):

    RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)            (or relu)
    GRU   r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = n + z * (h - n)
    LSTM  i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh)
          c' = f * c + i * g,  h' = o * tanh(c')

GRU's `(1 - z) * n + z * h` is written `n + z * (h - n)` (equal in real
arithmetic, within float rounding in float32): a product and a difference of
computed tensors, no constant minus a tensor.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from hardcore.errors import CompileError, UsageError

__all__ = ["RECURRENT_TYPES", "UnrolledRecurrent", "unroll", "recurrent_modules", "check_supported",
           "check_plain_inputs"]

RECURRENT_TYPES = (torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM)


def check_supported(name: str, module: torch.nn.Module) -> None:
    """CompileError for the variants the unrolled form does not compute (bidirectional, LSTM projections)."""
    kind = type(module).__name__
    if module.bidirectional:
        raise CompileError(f"{name} ({kind}): bidirectional recurrent layers are not supported")
    if getattr(module, "proj_size", 0):
        raise CompileError(f"{name} ({kind}): LSTM projections (proj_size) are not supported")


def check_plain_inputs(model, example_input) -> None:
    """UsageError for a model with recurrent layers compiled without `recurrent=` from an input whose first
    dimension is not the batch of 1 (a stacked layer's initial state, (layers, 1, hidden)): hardcore-import
    takes dimension 0 for the batch, `recurrent=` reads h0 itself."""
    if not isinstance(model, torch.nn.Module) or not isinstance(example_input, (tuple, list)):
        return
    found = recurrent_modules(model)
    for index, given in enumerate(example_input):
        if found and isinstance(given, torch.Tensor) and given.dim() > 0 and given.shape[0] != 1:
            name, module = found[0]
            raise UsageError(f"compile: input {index} has {given.shape[0]} rows in its first dimension, the batch "
                             f"(an initial state of {name} ({type(module).__name__}) with {given.shape[0]} layers?); "
                             f"compile it with recurrent=\"unrolled\" or \"stateful\", which read h0 as "
                             f"(layers, 1, hidden)")


def recurrent_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(qualified name, module) of every nn.RNN, nn.GRU and nn.LSTM in `model`."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, RECURRENT_TYPES)]


class UnrolledRecurrent(torch.nn.Module):
    """A drop-in nn.RNN / GRU / LSTM over a sequence of known length, as a loop of `cell` steps.

    Same call and results as the module it copies: `(x, hx=None) -> (output,
    h_n)` (an LSTM: `(output, (h_n, c_n))`), batch first or not, one layer or
    stacked; `hx` None is the zero state.  Dropout between layers is an
    eval-mode identity.
    """

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        check_supported(type(module).__name__, module)
        self.kind = type(module).__name__
        self.layers = module.num_layers
        self.hidden = module.hidden_size
        self.batch_first = module.batch_first
        self.relu = getattr(module, "nonlinearity", "tanh") == "relu"
        for layer in range(self.layers):
            for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                parameter = getattr(module, f"{part}_l{layer}", None)
                if parameter is not None:
                    self.register_buffer(f"{part}_l{layer}", parameter.detach().clone())
                else:  # bias=False
                    rows = getattr(module, f"weight_ih_l{layer}").shape[0]
                    self.register_buffer(f"{part}_l{layer}", torch.zeros(rows))

    @property
    def state_size(self) -> int:
        """Elements of the state vector: h of every layer (and c of every layer for an LSTM)."""
        return self.layers * self.hidden * (2 if self.kind == "LSTM" else 1)

    def weights(self, layer: int):
        return tuple(getattr(self, f"{part}_l{layer}") for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def cell(self, x: torch.Tensor, hs: list, cs: list) -> tuple[list, list]:
        """One time step of every layer: x (batch, input), hs and cs (per layer, (batch, hidden)) -> new hs, cs.

        A state None is zero, written without it (`W_hh 0 + b_hh` is `b_hh`):
        hardcore-import takes no linear layer of a constant.
        """
        new_h, new_c = [], []
        size = self.hidden
        for layer in range(self.layers):
            w_ih, w_hh, b_ih, b_hh = self.weights(layer)
            h = hs[layer]
            gi = F.linear(x, w_ih, b_ih)
            gh = F.linear(h, w_hh, b_hh) if h is not None else b_hh
            if self.kind == "RNN":
                pre = gi + gh
                h = torch.relu(pre) if self.relu else torch.tanh(pre)
            elif self.kind == "GRU":
                r = torch.sigmoid(gi[:, :size] + gh[..., :size])
                z = torch.sigmoid(gi[:, size:2 * size] + gh[..., size:2 * size])
                n = torch.tanh(gi[:, 2 * size:] + r * gh[..., 2 * size:])
                h = n + z * (h - n) if h is not None else n - z * n
            else:
                gates = gi + gh
                i = torch.sigmoid(gates[:, :size])
                f = torch.sigmoid(gates[:, size:2 * size])
                g = torch.tanh(gates[:, 2 * size:3 * size])
                o = torch.sigmoid(gates[:, 3 * size:])
                c = f * cs[layer] + i * g if cs[layer] is not None else i * g
                new_c.append(c)
                h = o * torch.tanh(c)
            new_h.append(h)
            x = h
        return new_h, new_c

    def initial_state(self, hx) -> tuple[list, list]:
        """Per-layer h and c lists from torch's `hx` ((layers, batch, hidden), an LSTM a pair), or None (zero)."""
        if hx is None:
            zeros = [None] * self.layers
            return zeros, (list(zeros) if self.kind == "LSTM" else [])
        h0, c0 = hx if self.kind == "LSTM" else (hx, None)
        hs = [h0[layer] for layer in range(self.layers)]
        cs = [c0[layer] for layer in range(self.layers)] if c0 is not None else []
        return hs, cs

    def forward(self, x: torch.Tensor, hx=None):
        if not self.batch_first:
            x = x.transpose(0, 1)
        hs, cs = self.initial_state(hx)
        outputs = []
        for step in range(x.shape[1]):
            hs, cs = self.cell(x[:, step], hs, cs)
            outputs.append(hs[-1])
        output = torch.stack(outputs, dim=1 if self.batch_first else 0)
        h_n = torch.stack(hs, dim=0)
        return (output, (h_n, torch.stack(cs, dim=0))) if self.kind == "LSTM" else (output, h_n)


def unroll(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with every nn.RNN, nn.GRU and nn.LSTM an `UnrolledRecurrent` (the model
    itself when it has none).  CompileError, naming the module, for a variant it does not compute."""
    found = recurrent_modules(model)
    if not found:
        return model
    for name, module in found:
        check_supported(name or type(module).__name__, module)
    if isinstance(model, RECURRENT_TYPES):
        return UnrolledRecurrent(model)
    model = copy.deepcopy(model)
    for name, _ in found:
        parent_path, _, attribute = name.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, attribute, UnrolledRecurrent(getattr(parent, attribute)))
    return model
