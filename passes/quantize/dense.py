"""A float `hardcore.dense` or `hardcore.conv` (with its ReLU, clamp or fake_quant) to integer weights, an exact
dense or conv and a requant.

The weights get a `frac_bits` from their largest magnitude, signed
`weight-bits` wide: one for the layer (`weight-scale=per-layer`, the default)
or one per output channel (`weight-scale=per-channel`; a convolution's
channel is the block of rows `hardcore.out_channels` gives).  The bias is
rounded at the accumulator's scale (input + weight frac bits of its row), so
it is exact, and the requantization shifts each output by its own amount when
the rows' frac bits differ (a shift array, repeated for each of the R rows
of a dense over a sequence).  The output is requantized to
`act-bits` at a scale from its calibrated range: unsigned after a ReLU (one
more bit of precision), signed otherwise; a clamp right after the layer sets
the requantization's bounds, a fake_quant (QAT) its scale and bounds.
"""

from __future__ import annotations

import numpy as np

from hardcore.adder_graph import signed_width
from hardcore.interpreter import activation_params
from hardcore.irutil import array_attr, create_op, dense_attr, i64_attr, int_attr, int_type, integer_dtype, tensor_type
from hardcore.passes.quantize.common import (KIND, MAX_FRAC_BITS, Lowering, acc_width, frac_bits_for,
                                             following_clamp, following_relu, needed_frac_bits, round_bound,
                                             shape_of, shift_attr, signed_range)
from hardcore.passes.quantize.fake_quant import fake_quant_params, fake_quant_user

__all__ = ["weight_codes", "reached_taps", "lower_dense", "lower_conv", "MAX_CHANNEL_FRAC_ABOVE_LAYER",
           "WEIGHT_FRAC_BITS"]

# A channel's weight frac bits exceed the layer's (its largest channel's) by at most this.
MAX_CHANNEL_FRAC_ABOVE_LAYER = 16
_OUT_CHANNELS = "hardcore.out_channels"  # set by hardcore-import on convolutions
# Set by hardcore-import on a layer whose weights the model fake-quantizes (QAT).
WEIGHT_FRAC_BITS, _WEIGHT_MIN, _WEIGHT_MAX = "hardcore.weight_frac_bits", "hardcore.weight_min", "hardcore.weight_max"


def weight_codes(weight: np.ndarray, bits: int, scale: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes, frac bits of each row): round(w · 2^f) (half up), saturated to `bits` signed.

    `scale` "per-layer": one f for the whole matrix, from its largest magnitude;
    "per-channel": one per output channel, from that channel's largest magnitude,
    but at most MAX_CHANNEL_FRAC_ABOVE_LAYER more than the layer's f, so that a
    channel of near-zero weights (a dead neuron) does not make its accumulator
    and bias tens of bits wide (its weights' contribution is then below the
    step of any output of <= 16 bits that the layer's largest channel fills).
    The rows form `channels` equal consecutive blocks (a convolution's output
    channel is its rows for every position; a linear layer's is its row).
    A matrix of zeros (a constant: a padding value) has f = 0 on every row, so
    its bias is at the input's scale (any scale is exact for zeros).
    """
    low, high = signed_range(bits)
    rows = weight.shape[0]
    layer_frac = frac_bits_for(float(np.abs(weight).max(initial=0)), bits, True)
    if not np.any(weight):
        return np.zeros(weight.shape, dtype=np.int64), np.zeros(rows, dtype=np.int64)
    if scale == "per-layer" or rows == 0:
        frac = np.full(rows, layer_frac, dtype=np.int64)
    else:
        largest = np.abs(weight).reshape(channels, -1).max(axis=1, initial=0)
        frac = np.repeat([min(frac_bits_for(float(m), bits, True), layer_frac + MAX_CHANNEL_FRAC_ABOVE_LAYER)
                          for m in largest], rows // channels)
    codes = np.clip(np.floor(weight * np.exp2(frac)[:, None] + 0.5), low, high).astype(np.int64)
    return codes, frac.astype(np.int64)


def _out_channels(op, rows: int) -> int:
    """The output channels of a dense layer: `hardcore.out_channels` (a convolution's), else its rows."""
    if _OUT_CHANNELS in op.attributes:
        channels = int_attr(op, _OUT_CHANNELS)
        if channels > 0 and rows % channels == 0:
            return channels
    return rows


def lower_dense(lowering: Lowering, op) -> bool:
    """A dense layer with the ReLU, clamp or fake_quant that follows it (its only user), which it absorbs."""
    return _absorbing(lowering, op, _dense)


def lower_conv(lowering: Lowering, op) -> bool:
    """A `hardcore.conv` with the ReLU, clamp or fake_quant that follows it, exactly as its unrolled dense layer."""
    return _absorbing(lowering, op, _conv)


def _absorbing(lowering: Lowering, op, rewrite) -> bool:
    """`rewrite(lowering, op, relu, clamp, fake_quant)` of a layer with what follows it (its only user)."""
    relu = following_relu(op)
    clamp = None if relu is not None else following_clamp(op)
    fake_quant = fake_quant_user((relu or op).results[0]) if clamp is None else None
    lowering.absorbed.update(o for o in (relu, clamp, fake_quant) if o is not None)
    result = rewrite(lowering, op, relu, clamp, fake_quant)
    if result is None:
        return False
    lowering.quantized[(fake_quant or relu or clamp or op).results[0]] = result
    return True


def reached_taps(kernel, in_size, out_size, stride: int, padding: int, dilation: int) -> np.ndarray:
    """Which of a convolution's `kernel` taps along one axis read an input element at some output position."""
    sources = np.arange(out_size)[:, None] * stride - padding + np.arange(kernel)[None, :] * dilation
    return ((sources >= 0) & (sources < in_size)).any(axis=0)


def _conv(lowering: Lowering, op, relu, clamp, fake_quant):
    """The kernel O x Cg x KH x KW as the matrix O x (Cg·KH·KW) of a dense layer: the same codes, bias
    and requantization as the unrolled dense (whose rows are this matrix's, spread over the input), the
    shift of channel o repeated over its Ho·Wo outputs.  A tap that reads padding at every output
    position is 0, as the unrolled matrix has no column for it."""
    weight = array_attr(op, "weight").astype(np.float64)
    _, in_h, in_w = shape_of(op.operands[0])
    _, out_h, out_w = shape_of(op.results[0])
    (sh, sw), (ph, pw), (dh, dw) = (array_attr(op, name).reshape(-1).tolist()
                                    for name in ("stride", "padding", "dilation"))
    reached = reached_taps(weight.shape[2], in_h, out_h, sh, ph, dh)[:, None] & \
        reached_taps(weight.shape[3], in_w, out_w, sw, pw, dw)[None, :]
    kernel = np.where(reached, weight, 0.0).reshape(weight.shape[0], -1)
    geometry = {name: op.attributes[name] for name in ("stride", "padding", "dilation", "groups")}

    def build(source, weight_q, container, acc_type, attributes):
        attributes = {**attributes, "weight": dense_attr(weight_q.reshape(weight.shape), int_type(container)),
                      **geometry}
        return create_op("hardcore.conv", [source], [acc_type], attributes, op.location)
    return _weighted(lowering, op, kernel, array_attr(op, "bias").astype(np.float64), relu, clamp, fake_quant,
                     build, lambda shifts: np.repeat(shifts, out_h * out_w))


def _weights(lowering: Lowering, op, weight: np.ndarray, settings):
    """(integer weights, frac bits of each row, container bits), or None after an error."""
    if WEIGHT_FRAC_BITS in op.attributes:
        # QAT: the model fake-quantized the weights; hardcore-import stored them as
        # code · 2^-frac (exact in f32), so the codes come back exactly.
        w_frac = array_attr(op, WEIGHT_FRAC_BITS).astype(np.int64).reshape(-1)
        weight_q = np.floor(weight * np.exp2(w_frac)[:, None] + 0.5).astype(np.int64)
        w_low, w_high = int_attr(op, _WEIGHT_MIN), int_attr(op, _WEIGHT_MAX)
        if w_frac.size != weight.shape[0] or np.any(weight_q != weight * np.exp2(w_frac)[:, None]) or \
                weight_q.min(initial=w_low) < w_low or weight_q.max(initial=w_high) > w_high:
            lowering.error(op, f"hardcore-quantize: the weights are not the codes in [{w_low}, {w_high}] "
                               f"at the frac bits '{WEIGHT_FRAC_BITS}' gives")
            return None
        return weight_q, w_frac, integer_dtype(signed_width(w_low, w_high))[0]
    magnitude = float(np.abs(weight).max(initial=0))
    needed = needed_frac_bits(magnitude, settings.weight_bits, True) if magnitude > 0 else 0
    if abs(needed) > MAX_FRAC_BITS:
        lowering.error(op, f"hardcore-quantize: the largest weight magnitude, {magnitude:.3g}, needs "
                           f"{needed} fractional bits at weight-bits {settings.weight_bits}; the supported "
                           f"range is -{MAX_FRAC_BITS} to {MAX_FRAC_BITS}")
        return None
    weight_q, w_frac = weight_codes(weight, settings.weight_bits, settings.weight_scale,
                                    _out_channels(op, weight.shape[0]))
    return weight_q, w_frac, integer_dtype(settings.weight_bits)[0]


def _dense(lowering: Lowering, op, relu, clamp, fake_quant):
    weight = array_attr(op, "weight").astype(np.float64)
    # a dense over R rows (a sequence) shifts each row's outputs alike
    rows = int(np.prod(shape_of(op.results[0]))) // max(weight.shape[0], 1)

    def build(source, weight_q, container, acc_type, attributes):
        # weights are stored in a byte-multiple container (the bindings read no i6 buffers)
        attributes = {"weight": dense_attr(weight_q, int_type(container)), **attributes}
        return create_op("hardcore.dense", [source], [acc_type], attributes, op.location)
    return _weighted(lowering, op, weight, array_attr(op, "bias").astype(np.float64), relu, clamp, fake_quant,
                     build, lambda shifts: np.tile(shifts, rows))


def _weighted(lowering: Lowering, op, weight: np.ndarray, bias: np.ndarray, relu, clamp, fake_quant, build,
              element_shifts):
    """A layer of weights `weight` (N x K) and `bias` (N): integer codes, the exact layer
    `build(source, codes, container bits, accumulator type, attributes)` makes, the
    absorbed ReLU, and the requantization, whose per-row shifts `element_shifts` spreads over the
    output elements.  (integer value, frac bits, range), or None after an error."""
    source, in_frac, in_range = lowering.quantized[op.operands[0]]
    out_shape = shape_of(op.results[0])
    settings = lowering.settings(op)
    weights = _weights(lowering, op, weight, settings)
    if weights is None:
        return None
    weight_q, w_frac, container = weights
    acc_frac = in_frac + w_frac  # per row
    bias_q = np.floor(bias * np.exp2(acc_frac) + 0.5)
    in_bound = max(abs(in_range[0]), abs(in_range[1]))
    if np.abs(bias_q).max(initial=0) >= 2.0 ** 62:
        lowering.error(op, f"hardcore-quantize: bias too large for a 62-bit accumulator at "
                           f"{int(acc_frac.max(initial=in_frac))} fractional bits")
        return None
    bias_q = bias_q.astype(np.int64)
    bound = int(np.abs(weight_q).sum(axis=1).max(initial=0)) * in_bound + int(np.abs(bias_q).max(initial=0))
    acc_type = tensor_type(out_shape, int_type(acc_width(bound)))
    attributes = {"bias": dense_attr(bias_q, int_type(64))}
    if KIND in op.attributes:  # what the layer was in the model, for the report
        attributes[KIND] = op.attributes[KIND]
    value = build(source, weight_q, container, acc_type, attributes).results[0]
    act_bits = settings.act_bits
    if relu is not None:
        value = create_op("hardcore.relu", [value], [acc_type], None, relu.location).results[0]
    if fake_quant is not None:
        # QAT: the model's fake quantization sets the output's scale and saturation.
        out_frac, out_low, out_high = fake_quant_params(fake_quant)
        if relu is not None:
            out_low, out_high = max(out_low, 0), max(out_high, 0)
        out_width = signed_width(out_low, out_high)
    elif relu is not None:
        out_low, out_high = 0, (1 << act_bits) - 1
        out_frac = frac_bits_for(lowering.magnitude(relu.results[0], settings), act_bits, False)
        out_width = act_bits + 1
    elif clamp is not None:
        # The requantization's saturation is the clamp: its bounds at the output's scale,
        # which comes from the calibrated range of the clamped output.
        _, params = activation_params(clamp)
        signed = params["min"] < 0
        out_low, out_high = signed_range(act_bits) if signed else (0, (1 << act_bits) - 1)
        out_frac = frac_bits_for(lowering.magnitude(clamp.results[0], settings), act_bits, signed)
        out_low, out_high = (round_bound(params["min"], out_frac, out_low, out_high),
                             round_bound(params["max"], out_frac, out_low, out_high))
        out_width = act_bits + (not signed)
    else:
        out_low, out_high = signed_range(act_bits)
        out_frac = frac_bits_for(lowering.magnitude(op.results[0], settings), act_bits, True)
        out_width = act_bits
    requant = create_op("hardcore.requant", [value],
                        [tensor_type(out_shape, int_type(out_width))],
                        {"shift": shift_attr(element_shifts(acc_frac - out_frac)), "min": i64_attr(out_low),
                         "max": i64_attr(out_high)}, (fake_quant or relu or clamp or op).location)
    return requant.results[0], out_frac, (out_low, out_high)
