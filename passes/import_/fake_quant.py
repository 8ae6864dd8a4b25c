"""hardcore-import's fake quantization (QAT): power-of-two scales on weights and activations."""

from __future__ import annotations

import numpy as np

from hardcore.passes.import_.importer import WeightQuant

__all__ = ["lower_fake_quantize"]


def _power_of_two_frac_bits(scale: np.ndarray, zero_point: np.ndarray, what: str) -> np.ndarray:
    """-log2(scale) per entry; ValueError unless every scale is 2^-k and every zero point 0."""
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = -np.round(np.log2(scale))
    exact = np.isfinite(frac) & (scale > 0) & (np.exp2(-frac) == scale)
    if not np.all(exact):
        bad = float(scale[np.argmin(exact)])
        raise ValueError(f"{what} with scale {bad:.9g}: hardcore supports only power-of-two scales "
                         f"(2^-k) with zero point 0")
    if np.any(np.asarray(zero_point).reshape(-1) != 0):
        bad = int(np.asarray(zero_point).reshape(-1)[np.argmax(np.asarray(zero_point).reshape(-1) != 0)])
        raise ValueError(f"{what} with zero point {bad}: hardcore supports only power-of-two scales "
                         f"(2^-k) with zero point 0")
    return frac.astype(np.int64)


def lower_fake_quantize(importer, op):
    """torch's fake quantization (QAT) with power-of-two scales and zero point 0.

    On constant weights: the fake-quantized weights, whose codes and frac bits the
    layer that uses them keeps (`hardcore.weight_frac_bits`).  On a value: a
    `hardcore.activation` "fake_quant" (frac_bits, min, max) that sets the
    quantization there.
    """
    name = op.operation.name.split(".")[-1]
    per_channel = name == "fake_quantize_per_channel_affine"
    if per_channel:  # (x, scale, zero_point, axis, quant_min, quant_max)
        scale = importer.tensor(op.operands[1], f"{name} scale")
        zero_point = importer.tensor(op.operands[2], f"{name} zero_point")
        axis = importer.constant(op.operands[3], f"{name} axis")
        low, high = (importer.constant(op.operands[i], f"{name} quant bound") for i in (4, 5))
    else:  # (x, scale, zero_point, quant_min, quant_max)
        scale = np.array([importer.constant(op.operands[1], f"{name} scale")])
        zero_point = np.array([importer.constant(op.operands[2], f"{name} zero_point")])
        axis = 0
        low, high = (importer.constant(op.operands[i], f"{name} quant bound") for i in (3, 4))
    frac = _power_of_two_frac_bits(scale, zero_point, name)
    if low > high:
        raise ValueError(f"{name} quant_min {low} is greater than quant_max {high}")
    if op.operands[0] in importer.literals:  # weights
        weight = importer.literals[op.operands[0]]
        if per_channel and axis != 0:
            raise ValueError(f"{name} on weights along axis {axis}: hardcore needs the output "
                             f"channels' axis 0")
        shape = [-1] + [1] * (weight.ndim - 1)
        scaled = np.exp2(np.broadcast_to(frac, (weight.shape[0],))).reshape(shape)
        codes = np.clip(np.rint(weight * scaled), low, high)  # torch rounds half to even
        importer.literals[op.results[0]] = codes / scaled
        importer.weight_quant[op.results[0]] = WeightQuant(frac, int(low), int(high))
        return None
    if per_channel:
        raise ValueError(f"{name} on activations: hardcore supports one scale per activation tensor")
    return importer.activation(op, "fake_quant", {"frac_bits": float(frac[0]), "min": float(low),
                                                  "max": float(high)})
