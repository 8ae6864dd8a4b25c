"""Recurrent layers (nn.RNN, nn.GRU, nn.LSTM) as circuits: unrolled over the sequence, or one step a clock.

One module per concern (docs/recurrent.md): `unroll` writes each recurrent
module out over the known sequence length in ops torch-mlir and hardcore
import; `split` makes a model's step model (x_t, state -> state') and head
model (state -> output); `compose` builds the quantized unrolled function from
the quantized step and head; `circuit` builds the unrolled and the stateful
circuit (`hardcore.compile(..., recurrent=...)`, `RecurrentCircuit`); `sim`
runs a stateful circuit on step streams in Verilator.  Only `unroll` is
imported here: the frontend uses it, and `circuit` imports the compiler.
"""

from hardcore.recurrent.unroll import RECURRENT_TYPES, UnrolledRecurrent, unroll

__all__ = ["RECURRENT_TYPES", "UnrolledRecurrent", "unroll"]
