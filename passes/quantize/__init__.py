"""hardcore-quantize: float hardcore layer ops to exact fixed-point integer layer ops.

Post-training quantization with power-of-two scales, so every rescaling in the
circuit is a shift:
- the input gets `frac_bits` from the calibration inputs' largest magnitude,
  signed `act-bits` wide (`hardcore.quantize`);
- each dense layer's weights get a `frac_bits` from their largest magnitude and
  its output a scale from its calibrated range (`dense.py`);
- an activation (`hardcore.activation`) becomes exact integer arithmetic on its
  quantized input: a saturation or a lookup table (`activations.py`);
- pools and the argmax: a max pool and an argmax are exact, an average pool a
  dense layer of integer multipliers and a requantization (`pools.py`);
- residual adds, differences, concats, gathers and reshapes bring their
  operands to one scale or keep it (`graph.py`);
- sequence models: token ids pass unchanged (frac bits 0, [0, V-1]);
  embeddings become integer tables, products of two activations are exact then
  requantized, a softmax becomes a `hardcore.qsoftmax` and a layer norm a
  `hardcore.qnorm` (`sequence.py`);
- the function's result is dequantized back to float (`hardcore.dequantize`).

Calibration inputs come from the Python API (`calibration_data`) or a `.npy`
file (`calibration=path`); without either, 256 seeded standard-normal samples
(256 seeded random ids for token ids).

An output scale holds the largest |x| of its value on the calibration inputs,
or with `act-percentile=p` the p-th percentile of |x| (the values above it
saturate; `common.calibrated_magnitude`).  A signed activation table is
act-bits wide, or act-bits + 1 with `table-codes=wide` (`activations.py`).

Per-layer settings (weight bits, activation bits, weight scale, percentile) come from a
JSON file (`config=path`) or the Python API (`config_data`), layer K being the
K-th layer op (`hardcore.quant_config`, `docs/quantization.md`).

A quantization-aware trained model brings its own scales (hardcore-import):
a dense op with `hardcore.weight_frac_bits` keeps the model's weight codes,
and a `hardcore.activation` "fake_quant" sets the scale and saturation where
it stands (`fake_quant.py`).

The pass and its table of rewrite functions are in `pass_.py`, one module per
op family beside it.
"""

from __future__ import annotations

from hardcore.passes.quantize.activations import activation_table
from hardcore.passes.quantize.common import MAX_TABLE_ENTRIES, frac_bits_for
from hardcore.passes.quantize.dense import weight_codes
from hardcore.passes.quantize.pass_ import QuantizePass
from hardcore.passes.quantize.pools import avgpool_multipliers

__all__ = ["QuantizePass", "frac_bits_for", "activation_table", "MAX_TABLE_ENTRIES",
           "avgpool_multipliers", "weight_codes"]
