"""Where a quantization-aware trained model fake-quantizes (`fake_quant` activations): its scales and codes.

A fake_quant that is the only user of the function's input (through
reshapes) sets the `hardcore.quantize`; one that is the only user of a dense
layer (or its ReLU) sets that layer's requantization (`dense.py`); any other
becomes a `hardcore.requant` of its own (`activations.py`).
"""

from __future__ import annotations

from hardcore.interpreter import activation_params

__all__ = ["fake_quant_user", "input_fake_quant", "fake_quant_params"]


def fake_quant_user(value):
    """The `hardcore.activation` "fake_quant" that is `value`'s only user, or None."""
    uses = list(value.uses)
    if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.activation" and \
            activation_params(uses[0].owner)[0] == "fake_quant":
        return uses[0].owner
    return None


def input_fake_quant(argument):
    """The fake_quant that the function's input reaches through reshapes only (hardcore-import
    flattens a tensor before an activation), each the only user of the one before; or None."""
    value = argument
    while True:
        uses = list(value.uses)
        if len(uses) != 1 or uses[0].owner.operation.name != "hardcore.reshape":
            return fake_quant_user(value)
        value = uses[0].owner.results[0]


def fake_quant_params(op) -> tuple[int, int, int]:
    """A fake_quant's (frac bits, lowest code, highest code)."""
    params = activation_params(op)[1]
    return int(params["frac_bits"]), int(params["min"]), int(params["max"])
