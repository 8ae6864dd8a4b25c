"""Per-layer quantization settings: weight bits, activation bits, weight scales, activation percentiles and reuse.

A configuration is a dictionary (the Python API's `quant_config`) or a JSON
file holding one (`hardcore compile --quant-config`, `hardcore-quantize{config=path}`):

    {"weight_bits": 6, "act_bits": 8, "weight_scale": "per-channel", "act_percentile": 99.9,
     "layers": {"0": {"weight_bits": 4}, "2": {"act_bits": 6, "weight_scale": "per-layer"}}}

Every key is optional.  The top-level settings replace the pass options
(`weight-bits`, `act-bits`, `weight-scale`, `act-percentile`) for the whole network; an entry
of `layers` replaces them for one layer.  Layer K is the K-th layer that
hardcore-fold-weights reports (`hardcore.layers`, the JSON report's
`layers[K]`): the dense layers (linear, convolution, batch norm on its own),
average pools, max pools, residual adds and the argmax, and embeddings,
subtractions, products of activations, softmaxes and layer norms (sequence
models), in the order of the model.
A layer's `weight_bits` and `weight_scale` set its weights; its `act_bits`
set the width of its output (its requantization), its `act_percentile` the
percentile of |x| on the calibration inputs its output scale comes from (None:
the largest).  The input and the lookup tables of standalone activations take
the top-level `act_bits`; the input and concatenations the top-level `act_percentile`.
A dense layer's `reuse` (an integer >= 1) computes its outputs over that many
cycles (`hardcore-time-multiplex`, docs/streaming.md); the top-level `reuse`
replaces `hardcore.compile`'s `reuse` for the layers the config does not name.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hardcore.errors import UsageError

__all__ = ["LayerQuant", "QuantConfig", "WEIGHT_SCALES", "SETTINGS", "parse_quant_config", "load_quant_config",
           "check_percentile"]

# "per-layer": one power-of-two scale for a layer's whole weight matrix;
# "per-channel": one per output channel (a row of a linear layer, the rows of
# one output channel of a convolution).
WEIGHT_SCALES = ("per-layer", "per-channel")
# The settings a layer (or the whole network) may have.
SETTINGS = ("weight_bits", "act_bits", "weight_scale", "act_percentile", "reuse")
_BITS = (2, 16)


@dataclasses.dataclass(frozen=True)
class LayerQuant:
    """The settings of one layer."""

    weight_bits: int = 8
    act_bits: int = 8
    weight_scale: str = "per-layer"
    # None: output scales from the largest |x| on the calibration inputs
    act_percentile: float | None = None
    # cycles a dense layer's outputs take (hardcore-time-multiplex); 1: all in one
    reuse: int = 1


def check_percentile(value: Any) -> bool:
    """Whether `value` is an activation percentile: a number in (0, 100]."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 100


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    """The network's settings (`default`) and the layers that differ (layer index -> settings)."""

    default: LayerQuant
    layers: dict[int, LayerQuant]
    # The settings each layer entry names, for the error on a layer that cannot take them.
    named: dict[int, tuple[str, ...]]

    def layer(self, index: int) -> LayerQuant:
        return self.layers.get(index, self.default)


def _setting(name: str, value: Any, where: str) -> Any:
    if name == "weight_scale":
        if value not in WEIGHT_SCALES:
            raise UsageError(f"{where}: weight_scale must be one of {', '.join(WEIGHT_SCALES)}, got {value!r}")
        return value
    if name == "act_percentile":
        if not check_percentile(value):
            raise UsageError(f"{where}: act_percentile must be a number in (0, 100], got {value!r}")
        return float(value)
    if name == "reuse":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{where}: reuse must be an integer of at least 1, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not _BITS[0] <= value <= _BITS[1]:
        raise UsageError(f"{where}: {name} must be an integer between {_BITS[0]} and {_BITS[1]}, got {value!r}")
    return value


def _settings(entry: Any, base: LayerQuant, where: str) -> tuple[LayerQuant, tuple[str, ...]]:
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected an object of settings, got {entry!r}")
    unknown = sorted(str(key) for key in entry if key not in SETTINGS)
    if unknown:
        raise UsageError(f"{where}: unknown setting '{unknown[0]}' (settings: {', '.join(SETTINGS)})")
    values = {name: _setting(name, entry[name], where) for name in SETTINGS if name in entry}
    return dataclasses.replace(base, **values), tuple(values)


def _layer_index(key: Any, where: str) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return key
    if isinstance(key, str) and key.isdigit() and key.isascii():
        return int(key)
    raise UsageError(f"{where}: layer key {key!r} is not a layer index (0, 1, ...: the layers "
                     f"hardcore-fold-weights reports, in order)")


def parse_quant_config(config: dict | None, base: LayerQuant, source: str = "quant_config") -> QuantConfig:
    """Check `config` and merge it over `base` (the pass options); UsageError naming `source`."""
    if config is None:
        return QuantConfig(base, {}, {})
    if not isinstance(config, dict):
        raise UsageError(f"{source}: expected an object with the keys {', '.join(SETTINGS)}, layers; "
                         f"got {type(config).__name__}")
    top = {key: value for key, value in config.items() if key != "layers"}
    default, _ = _settings(top, base, source)
    layers_entry = config.get("layers", {})
    if not isinstance(layers_entry, dict):
        raise UsageError(f"{source}: 'layers' must map layer indices to settings, got {layers_entry!r}")
    layers, named = {}, {}
    for key, entry in layers_entry.items():
        index = _layer_index(key, source)
        if index in layers:
            raise UsageError(f"{source}: layer {index} is given twice")
        layers[index], named[index] = _settings(entry, default, f"{source}: layer {index}")
    return QuantConfig(default, layers, named)


def load_quant_config(path: str) -> dict:
    """The JSON object in file `path`; UsageError naming the file when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except OSError as exc:
        raise UsageError(f"cannot read quantization config '{path}': {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"quantization config '{path}' is not valid JSON: {exc}") from None
