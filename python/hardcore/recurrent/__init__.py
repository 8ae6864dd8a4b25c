"""Recurrent layers (nn.RNN, nn.GRU, nn.LSTM) as circuits: unrolled over the sequence, or one step a clock.

`unroll` (`unroll.py`) writes each recurrent module out over the known
sequence length in ops torch-mlir and hardcore import (docs/recurrent.md).
"""

from hardcore.recurrent.unroll import RECURRENT_TYPES, UnrolledRecurrent, unroll

__all__ = ["RECURRENT_TYPES", "UnrolledRecurrent", "unroll"]
