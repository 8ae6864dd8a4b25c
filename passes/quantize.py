"""hardcore-quantize: float hardcore layer ops to exact fixed-point integer layer ops.

Post-training quantization with power-of-two scales, so every rescaling in the
circuit is a shift:
- the input gets `frac_bits` from the calibration inputs' largest magnitude,
  signed `act-bits` wide (`hardcore.quantize`);
- each dense layer's weights get a `frac_bits` from their largest magnitude,
  signed `weight-bits` wide: one for the layer (`weight-scale=per-layer`, the
  default) or one per output channel (`weight-scale=per-channel`; a
  convolution's channel is the block of rows `hardcore.out_channels` gives);
  the bias is rounded at the accumulator's scale (input + weight frac bits of
  its row), so it is exact, and the requantization shifts each output by its
  own amount when the rows' frac bits differ (a shift array);
- each dense layer (with its ReLU, if one follows) is requantized to `act-bits`
  at a scale from the calibrated range of its output: unsigned after a ReLU
  (one more bit of precision), signed otherwise;
- an activation (`hardcore.activation`) becomes exact integer arithmetic on
  its quantized input:
  * "clamp" (ReLU6, Hardtanh, clamp) is a saturation: right after a dense
    layer (its only user) it sets that layer's requantization bounds, at a
    scale from the calibrated range of the clamped output (unsigned when
    min >= 0, like ReLU); anywhere else a `hardcore.requant` with shift 0
    clamps at the bounds rounded to the input's scale.  Both are exactly
    round(clamp(x)) at the output's scale, because rounding is monotone;
  * every other function becomes a `hardcore.lut`: one entry per input code
    of the range the previous op produces (at most MAX_TABLE_ENTRIES), each
    round-half-up(f(code * 2^-f_in) * 2^f_out) saturated to act-bits, with
    f_out from the largest |f| over those codes (unsigned when f >= 0 on all
    of them);
- a max pool compares integers at its input's scale (`hardcore.maxpool`);
- an average pool becomes a dense layer of integer multipliers over its
  windows and a requantization (`_avgpool` says how it divides exactly);
- an argmax (`hardcore.argmax`) yields an integer index at scale 2^0;
- a residual add (`hardcore.add_tensors`) shifts the operand with fewer
  fractional bits left to the other's scale (exact), adds exactly, and
  requantizes the sum to act-bits at the scale of its calibrated range,
  absorbing a following ReLU (unsigned then) like a dense layer;
- a concat (`hardcore.concat`, a chain of them for a cat of more than two)
  requantizes every input to one scale, from the calibrated range of the
  chain's output (signed when any input can be negative), rounding half up
  and saturating; inputs already at that scale pass unchanged;
- a gather (`hardcore.gather`, permute) and a reshape keep their input's
  integers, scale and range;
- the function's result is dequantized back to float (`hardcore.dequantize`).

Calibration inputs come from the Python API (`calibration_data`) or a `.npy`
file (`calibration=path`); without either, 256 seeded standard-normal samples.

Per-layer settings (weight bits, activation bits, weight scale) come from a
JSON file (`config=path`) or the Python API (`config_data`), layer K being the
K-th of `_LAYER_OPS` (`hardcore.quant_config`, `docs/quantization.md`).

A quantization-aware trained model brings its own scales (hardcore-import):
a dense op with `hardcore.weight_frac_bits` keeps the model's weight codes,
and a `hardcore.activation` "fake_quant" sets the scale and saturation where
it stands: on the input the `hardcore.quantize`, after a dense layer (or its
ReLU) that layer's requantization, elsewhere a `hardcore.requant` of its own.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.errors import UsageError
from hardcore.interpreter import ACTIVATIONS, activation_params, run_function
from hardcore.irutil import (array_attr, body_ops, create_op, dense_attr, functions, i64_attr, int_attr,
                             integer_dtype, int_type, replace_function, tensor_type)
from hardcore.pass_base import ModulePass, PassFailed
from hardcore.quant_config import SETTINGS, WEIGHT_SCALES, LayerQuant, load_quant_config, parse_quant_config

__all__ = ["QuantizePass", "frac_bits_for", "activation_table", "MAX_TABLE_ENTRIES",
           "avgpool_multipliers", "weight_codes"]

DEFAULT_CALIBRATION_SAMPLES = 256
# A lookup table has one entry per input code: 2^act_bits entries, so act-bits <= 12.
MAX_TABLE_ENTRIES = 4096
# Scales are powers of two 2^-f with |f| <= 64 (frac_bits_for): a layer whose largest
# weight needs more (weights of 1e-30 or 1e30) is an error, not all-zero or saturated weights.
MAX_FRAC_BITS = 64
# A channel's weight frac bits exceed the layer's (its largest channel's) by at most this.
MAX_CHANNEL_FRAC_ABOVE_LAYER = 16
_KIND = "hardcore.kind"
_OUT_CHANNELS = "hardcore.out_channels"  # set by hardcore-import on convolutions
# Set by hardcore-import on a layer whose weights the model fake-quantizes (QAT).
_WEIGHT_FRAC_BITS, _WEIGHT_MIN, _WEIGHT_MAX = "hardcore.weight_frac_bits", "hardcore.weight_min", "hardcore.weight_max"
# The ops that are layers: hardcore-fold-weights reports one layer for each, in order
# (an average pool becomes a dense layer), and a config addresses them by that index.
_LAYER_OPS = ("hardcore.dense", "hardcore.avgpool", "hardcore.maxpool", "hardcore.argmax", "hardcore.add_tensors")
_FLOAT_LAYER_OPS = frozenset({"hardcore.dense", "hardcore.relu", "hardcore.activation", "hardcore.reshape",
                              "func.return", "hardcore.maxpool", "hardcore.avgpool", "hardcore.argmax",
                              "hardcore.add_tensors", "hardcore.concat", "hardcore.gather"})


def frac_bits_for(magnitude: float, bits: int, signed: bool) -> int:
    """Most fractional bits so that `magnitude` still fits `bits` (it may saturate by 1 LSB)."""
    limit = 2.0 ** (bits - 1 if signed else bits)
    if not magnitude > 0:
        return bits - 1 if signed else bits
    return max(-MAX_FRAC_BITS, min(MAX_FRAC_BITS, _needed_frac_bits(magnitude, bits, signed)))


def _needed_frac_bits(magnitude: float, bits: int, signed: bool) -> int:
    """The fractional bits that make `magnitude` (> 0) just fit `bits`, without frac_bits_for's bounds."""
    return math.floor(math.log2(2.0 ** (bits - 1 if signed else bits) / magnitude))


def _signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def activation_table(fn: str, params: dict, in_frac: int, in_range: tuple[int, int], act_bits: int):
    """The integer table of activation `fn` for input codes in_range (frac bits in_frac).

    Returns (entries, out_frac, (out_low, out_high)): entry k is the output code of
    input code in_range[0] + k, round-half-up(f(code · 2^-in_frac) · 2^out_frac)
    saturated to the act-bits range (unsigned when f >= 0 on every code).
    """
    codes = np.arange(in_range[0], in_range[1] + 1, dtype=np.int64)
    values = ACTIVATIONS[fn][1](codes.astype(np.float64) * 2.0 ** -in_frac, params)
    signed = bool(values.min(initial=0.0) < 0)
    out_low, out_high = _signed_range(act_bits) if signed else (0, (1 << act_bits) - 1)
    out_frac = frac_bits_for(float(np.abs(values).max(initial=0.0)), act_bits, signed)
    entries = np.clip(np.floor(values * 2.0 ** out_frac + 0.5), out_low, out_high).astype(np.int64)
    return entries, out_frac, (out_low, out_high)


def _round_bound(bound: float, frac: int, low: int, high: int) -> int:
    """A clamp bound at `frac` fractional bits, rounded half up and saturated to [low, high]."""
    return int(np.clip(np.floor(bound * 2.0 ** frac + 0.5), low, high))


def _acc_width(bound: int) -> int:
    return 32 if bound < (1 << 31) else 64


def avgpool_multipliers(divisors, act_bits: int) -> tuple[list[int], int]:
    """(M_i, q) with M_i = round(2^q / d_i) (half up): dividing by d_i is x · M_i / 2^q.

    q = act_bits + 1 + ceil(log2(max d)), then lowered while every M_i is even,
    so windows of 2^p elements get M = 1, q = p: a plain shift.  Otherwise
    |M_i · d_i / 2^q - 1| <= 2^-(act_bits + 2), so on an output of at most
    2^act_bits steps the multiplier errs by at most a quarter step before the
    requantization rounds.
    """
    divisors = [int(d) for d in divisors]
    shift = act_bits + 1 + (max(divisors) - 1).bit_length()
    multipliers = [((1 << (shift + 1)) // d + 1) // 2 for d in divisors]
    while shift > 0 and all(m % 2 == 0 for m in multipliers):
        multipliers = [m // 2 for m in multipliers]
        shift -= 1
    return multipliers, shift


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
    """
    low, high = _signed_range(bits)
    rows = weight.shape[0]
    layer_frac = frac_bits_for(float(np.abs(weight).max(initial=0)), bits, True)
    if scale == "per-layer" or rows == 0:
        frac = np.full(rows, layer_frac, dtype=np.int64)
    else:
        largest = np.abs(weight).reshape(channels, -1).max(axis=1, initial=0)
        frac = np.repeat([min(frac_bits_for(float(m), bits, True), layer_frac + MAX_CHANNEL_FRAC_ABOVE_LAYER)
                          for m in largest], rows // channels)
    codes = np.clip(np.floor(weight * np.exp2(frac)[:, None] + 0.5), low, high).astype(np.int64)
    return codes, frac.astype(np.int64)


def _fake_quant_user(value):
    """The `hardcore.activation` "fake_quant" that is `value`'s only user, or None."""
    uses = list(value.uses)
    if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.activation" and \
            activation_params(uses[0].owner)[0] == "fake_quant":
        return uses[0].owner
    return None


def _input_fake_quant(argument):
    """The fake_quant that the function's input reaches through reshapes only (hardcore-import
    flattens a tensor before an activation), each the only user of the one before; or None."""
    value = argument
    while True:
        uses = list(value.uses)
        if len(uses) != 1 or uses[0].owner.operation.name != "hardcore.reshape":
            return _fake_quant_user(value)
        value = uses[0].owner.results[0]


def _fake_quant_params(op) -> tuple[int, int, int]:
    """A fake_quant's (frac bits, lowest code, highest code)."""
    params = activation_params(op)[1]
    return int(params["frac_bits"]), int(params["min"]), int(params["max"])


def _out_channels(op, rows: int) -> int:
    """The output channels of a dense layer: `hardcore.out_channels` (a convolution's), else its rows."""
    if _OUT_CHANNELS in op.attributes:
        channels = int_attr(op, _OUT_CHANNELS)
        if channels > 0 and rows % channels == 0:
            return channels
    return rows


def _shift_attr(shifts: np.ndarray) -> ir.Attribute:
    """A requantization's shift: one integer when all elements share it, else one per element."""
    if len(set(shifts.tolist())) <= 1:
        return i64_attr(int(shifts[0]) if shifts.size else 0)
    return dense_attr(shifts, int_type(64))


@dataclasses.dataclass(frozen=True)
class QuantizePass(ModulePass):
    name = "hardcore-quantize"
    weight_bits: int = 8
    act_bits: int = 8
    calibration: str | None = None
    weight_scale: str = "per-layer"
    config: str | None = None
    calibration_data: Any = dataclasses.field(default=None, metadata={"cli": False}, compare=False)
    # The Python API's config (a dictionary, `quant_config`): instead of the file `config`.
    config_data: Any = dataclasses.field(default=None, metadata={"cli": False}, compare=False)

    def validate(self) -> None:
        for option, value in (("weight-bits", self.weight_bits), ("act-bits", self.act_bits)):
            if not 2 <= value <= 16:
                raise UsageError(f"{self.name}: {option} must be between 2 and 16, got {value}")
        if self.weight_scale not in WEIGHT_SCALES:
            raise UsageError(f"{self.name}: weight-scale must be one of {', '.join(WEIGHT_SCALES)}, "
                             f"got '{self.weight_scale}'")
        config, source = self.config_data, "quant_config"
        if config is None and self.config is not None:
            config, source = load_quant_config(self.config), self.config
        base = LayerQuant(self.weight_bits, self.act_bits, self.weight_scale)
        # read and checked once, before any work
        object.__setattr__(self, "_quant", parse_quant_config(config, base, source))
        if self.calibration is not None and self.calibration_data is None:
            try:
                data = np.load(self.calibration)
            except (OSError, ValueError) as exc:
                raise UsageError(f"{self.name}: cannot read calibration file "
                                 f"'{self.calibration}': {exc}") from None
            object.__setattr__(self, "calibration_data", data)  # read once, before any work

    def _calibration(self, function) -> np.ndarray:
        shape = list(ir.RankedTensorType(function.type.inputs[0]).shape)
        if self.calibration_data is not None:
            data = np.asarray(self.calibration_data, dtype=np.float64)
        else:
            data = np.random.default_rng(0).standard_normal([DEFAULT_CALIBRATION_SAMPLES] + shape)
        size = int(np.prod(shape))
        # Errors at the function (the model's input): an exception here would be an internal error.
        if data.size == 0 or data.size % size:
            self.error(function, f"{self.name}: calibration data of shape {list(data.shape)} "
                                 f"does not hold samples of shape {shape}")
            raise PassFailed()
        if not np.all(np.isfinite(data)):
            self.error(function, f"{self.name}: calibration data contains NaN or infinity")
            raise PassFailed()
        return data.reshape([-1] + shape)

    @property
    def quant(self):
        """The settings of the network and of each layer (`hardcore.quant_config.QuantConfig`)."""
        if not hasattr(self, "_quant"):
            self.validate()
        return self._quant

    def run(self, module: ir.Operation) -> None:
        ok = True
        for function in functions(module):
            if any(isinstance(t, ir.RankedTensorType) and isinstance(t.element_type, ir.IntegerType)
                   for t in function.type.inputs):
                continue  # already quantized
            ok &= self._quantize_function(function)
        if not ok:
            raise PassFailed()

    def _quantize_function(self, function) -> bool:
        ops = body_ops(function)
        bad = [op for op in ops if op.operation.name not in _FLOAT_LAYER_OPS]
        for op in bad:
            self.error(op, f"hardcore-quantize: cannot quantize '{op.operation.name}' "
                       f"(run hardcore-import first)")
        if bad or len(function.type.inputs) != 1 or len(function.type.results) != 1:
            if not bad:
                self.error(function, "hardcore-quantize: expected one input and one result")
            return False
        for op in ops:
            if op.operation.name == "hardcore.activation":
                try:
                    activation_params(op)
                except ValueError as exc:
                    bad.append(op)
                    self.error(op, f"hardcore-quantize: {exc}")
        if bad or not self._check_layer_settings(function, ops):
            return False
        layer_index = {op: k for k, op in enumerate(o for o in ops if o.operation.name in _LAYER_OPS)}
        act_bits = self.quant.default.act_bits
        calibration = self._calibration(function)
        trace: dict = {}
        run_function(function, calibration, trace=trace)

        block = function.regions[0].blocks[0]
        argument = block.arguments[0]
        new = replace_function(function, function.name.value, list(function.type.inputs),
                               list(function.type.results))
        new_block = new.regions[0].blocks[0]
        act_low, act_high = _signed_range(act_bits)
        # float value -> (integer value, frac bits, integer range)
        quantized: dict = {}
        absorbed = set()
        with ir.InsertionPoint(new_block):
            in_frac = frac_bits_for(float(np.abs(calibration).max()), act_bits, True)
            input_fake_quant = _input_fake_quant(argument)
            if input_fake_quant is not None:  # QAT: the model quantizes its input itself
                in_frac, act_low, act_high = _fake_quant_params(input_fake_quant)
            shape = list(ir.RankedTensorType(argument.type).shape)
            q = create_op("hardcore.quantize", [new_block.arguments[0]],
                          [tensor_type(shape, int_type(signed_width(act_low, act_high)))],
                          {"frac_bits": i64_attr(in_frac), "min": i64_attr(act_low),
                           "max": i64_attr(act_high)}, function.location)
            quantized[argument] = (q.results[0], in_frac, (act_low, act_high))
            for op in ops:
                name = op.operation.name
                if op in absorbed:
                    continue
                if input_fake_quant is not None and op == input_fake_quant:  # done by the hardcore.quantize
                    quantized[op.results[0]] = quantized[op.operands[0]]
                    continue
                if name == "func.return":
                    value, frac, _ = quantized[op.operands[0]]
                    out = create_op("hardcore.dequantize", [value], list(function.type.results),
                                    {"frac_bits": i64_attr(frac)}, op.location)
                    create_op("func.return", [out.results[0]], [], None, op.location)
                    continue
                if name == "hardcore.add_tensors":
                    relu = self._following_relu(op)
                    if relu is not None:
                        absorbed.add(relu)
                    quantized[(relu or op).results[0]] = self._add_tensors(op, relu, quantized, trace,
                                                                             self.quant.layer(layer_index[op]).act_bits)
                    continue
                if name == "hardcore.concat":
                    quantized[op.results[0]] = self._concat(op, quantized, trace)
                    continue
                source, frac, (low, high) = quantized[op.operands[0]]
                out_shape = list(ir.RankedTensorType(op.results[0].type).shape)
                if name == "hardcore.reshape":
                    element = ir.RankedTensorType(source.type).element_type
                    r = create_op("hardcore.reshape", [source], [tensor_type(out_shape, element)],
                                  None, op.location)
                    quantized[op.results[0]] = (r.results[0], frac, (low, high))
                elif name == "hardcore.gather":
                    element = ir.RankedTensorType(source.type).element_type
                    g = create_op("hardcore.gather", [source], [tensor_type(out_shape, element)],
                                  {"indices": op.attributes["indices"]}, op.location)
                    quantized[op.results[0]] = (g.results[0], frac, (low, high))
                elif name == "hardcore.relu":
                    element = ir.RankedTensorType(source.type).element_type
                    r = create_op("hardcore.relu", [source], [tensor_type(out_shape, element)],
                                  None, op.location)
                    quantized[op.results[0]] = (r.results[0], frac, (max(low, 0), max(high, 0)))
                elif name == "hardcore.maxpool":
                    quantized[op.results[0]] = self._maxpool(op, source, frac, (low, high), out_shape)
                elif name == "hardcore.argmax":
                    quantized[op.results[0]] = self._argmax(op, source, out_shape)
                elif name == "hardcore.avgpool":
                    relu = self._following_relu(op)
                    if relu is not None:
                        absorbed.add(relu)
                    result = self._avgpool(op, relu, source, frac, (low, high), out_shape, trace,
                                           self.quant.layer(layer_index[op]).act_bits)
                    quantized[(relu or op).results[0]] = result
                elif name == "hardcore.activation":
                    result = self._activation(op, source, frac, (low, high), out_shape)
                    if result is None:
                        return False
                    quantized[op.results[0]] = result
                else:
                    relu = self._following_relu(op)
                    clamp = None if relu is not None else self._following_clamp(op)
                    fake_quant = _fake_quant_user((relu or op).results[0]) if clamp is None else None
                    absorbed.update(o for o in (relu, clamp, fake_quant) if o is not None)
                    result = self._dense(op, relu, source, frac, (low, high), out_shape, trace, clamp,
                                         self.quant.layer(layer_index[op]), fake_quant)
                    if result is None:
                        return False
                    quantized[(fake_quant or relu or clamp or op).results[0]] = result
        function.operation.erase()
        return True

    def _check_layer_settings(self, function, ops) -> bool:
        """Every layer the config names exists and has what the config sets."""
        layers = [op for op in ops if op.operation.name in _LAYER_OPS]
        ok = True
        for index, names in sorted(self.quant.named.items()):
            if index >= len(layers):
                self.error(function, f"hardcore-quantize: the quantization config sets layer {index}, but the "
                           f"model has {len(layers)} layers (0 to {len(layers) - 1})")
                ok = False
                continue
            name = layers[index].operation.name
            allowed = {"hardcore.dense": SETTINGS, "hardcore.avgpool": ("act_bits",),
                       "hardcore.add_tensors": ("act_bits",)}.get(name, ())
            if _WEIGHT_FRAC_BITS in layers[index].attributes:
                allowed = ("act_bits",)
            wrong = [n for n in names if n not in allowed]
            if wrong:
                kind = {"hardcore.dense": "whose weights the model fake-quantizes (QAT sets them)",
                        "hardcore.avgpool": "an average pool, which has no weights",
                        "hardcore.add_tensors": "a residual add, which has no weights",
                        "hardcore.maxpool": "a max pool, which has no weights or requantization",
                        "hardcore.argmax": "an argmax, which has no weights or requantization"}[name]
                self.error(layers[index], f"hardcore-quantize: the quantization config sets {wrong[0]} of "
                           f"layer {index}, {kind}")
                ok = False
        return ok

    @staticmethod
    def _following_relu(op):
        uses = list(op.results[0].uses)
        if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.relu":
            return uses[0].owner
        return None

    @staticmethod
    def _following_clamp(op):
        uses = list(op.results[0].uses)
        if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.activation" and \
                activation_params(uses[0].owner)[0] == "clamp":
            return uses[0].owner
        return None

    def _activation(self, op, source, in_frac, in_range, out_shape):
        """A standalone activation: a saturation (clamp) or a lookup table (the others)."""
        fn, params = activation_params(op)
        low, high = in_range
        if fn == "fake_quant":
            # QAT: requantize to the model's scale, saturating at its code range.
            out_frac, out_low, out_high = _fake_quant_params(op)
            shift = in_frac - out_frac
            scaled = [((v + (1 << (shift - 1))) >> shift) if shift > 0 else v << -shift for v in in_range]
            out_range = tuple(min(max(v, out_low), out_high) for v in scaled)
            out_type = tensor_type(out_shape, int_type(signed_width(*out_range)))
            requant = create_op("hardcore.requant", [source], [out_type],
                                {"shift": i64_attr(shift), "min": i64_attr(out_low), "max": i64_attr(out_high)},
                                op.location)
            return requant.results[0], out_frac, out_range
        if fn == "clamp":
            # The bounds at the input's scale.  An infinite bound never binds: it becomes the
            # input's own end, or the other bound when that one lies beyond it.
            limit = 1 << 62
            lo = None if params["min"] == -np.inf else _round_bound(params["min"], in_frac, -limit, limit)
            hi = None if params["max"] == np.inf else _round_bound(params["max"], in_frac, -limit, limit)
            if lo is None:
                lo = low if hi is None else min(low, hi)
            if hi is None:
                hi = max(high, lo)
            out_range = (min(max(low, lo), hi), min(max(high, lo), hi))
            out_type = tensor_type(out_shape, int_type(signed_width(*out_range)))
            requant = create_op("hardcore.requant", [source], [out_type],
                                {"shift": i64_attr(0), "min": i64_attr(lo), "max": i64_attr(hi)}, op.location)
            return requant.results[0], in_frac, out_range
        entries = high - low + 1
        if entries > MAX_TABLE_ENTRIES:
            self.error(op, f"hardcore-quantize: a '{fn}' table on inputs [{low}, {high}] would have {entries} "
                       f"entries, more than the {MAX_TABLE_ENTRIES} a table may hold (act-bits 12 at most)")
            return None
        table, out_frac, _ = activation_table(fn, params, in_frac, in_range, self.quant.default.act_bits)
        out_range = (int(table.min()), int(table.max()))
        kind = " ".join([fn] + [f"{name}={value:g}" for name, value in params.items()])
        kind += f", {entries} entries, frac bits {in_frac} -> {out_frac}"
        lut = create_op("hardcore.lut", [source], [tensor_type(out_shape, int_type(signed_width(*out_range)))],
                        {"table": dense_attr(table, int_type(64)), "min": i64_attr(low),
                         _KIND: ir.StringAttr.get(kind)}, op.location)
        return lut.results[0], out_frac, out_range

    def _dense(self, op, relu, source, in_frac, in_range, out_shape, trace, clamp, settings: LayerQuant,
               fake_quant=None):
        weight = array_attr(op, "weight").astype(np.float64)
        bias = array_attr(op, "bias").astype(np.float64)
        if _WEIGHT_FRAC_BITS in op.attributes:
            # QAT: the model fake-quantized the weights; hardcore-import stored them as
            # code · 2^-frac (exact in f32), so the codes come back exactly.
            w_frac = array_attr(op, _WEIGHT_FRAC_BITS).astype(np.int64).reshape(-1)
            weight_q = np.floor(weight * np.exp2(w_frac)[:, None] + 0.5).astype(np.int64)
            w_low, w_high = int_attr(op, _WEIGHT_MIN), int_attr(op, _WEIGHT_MAX)
            if w_frac.size != weight.shape[0] or np.any(weight_q != weight * np.exp2(w_frac)[:, None]) or \
                    weight_q.min(initial=w_low) < w_low or weight_q.max(initial=w_high) > w_high:
                self.error(op, f"hardcore-quantize: the weights are not the codes in [{w_low}, {w_high}] "
                           f"at the frac bits '{_WEIGHT_FRAC_BITS}' gives")
                return None
            container = integer_dtype(signed_width(w_low, w_high))[0]
        else:
            magnitude = float(np.abs(weight).max(initial=0))
            needed = _needed_frac_bits(magnitude, settings.weight_bits, True) if magnitude > 0 else 0
            if abs(needed) > MAX_FRAC_BITS:
                self.error(op, f"hardcore-quantize: the largest weight magnitude, {magnitude:.3g}, needs "
                           f"{needed} fractional bits at weight-bits {settings.weight_bits}; the supported "
                           f"range is -{MAX_FRAC_BITS} to {MAX_FRAC_BITS}")
                return None
            weight_q, w_frac = weight_codes(weight, settings.weight_bits, settings.weight_scale,
                                            _out_channels(op, weight.shape[0]))
            container = integer_dtype(settings.weight_bits)[0]
        acc_frac = in_frac + w_frac  # per row
        bias_q = np.floor(bias * np.exp2(acc_frac) + 0.5)
        in_bound = max(abs(in_range[0]), abs(in_range[1]))
        if np.abs(bias_q).max(initial=0) >= 2.0 ** 62:
            self.error(op, f"hardcore-quantize: bias too large for a 62-bit accumulator at "
                       f"{int(acc_frac.max(initial=in_frac))} fractional bits")
            return None
        bias_q = bias_q.astype(np.int64)
        bound = int(np.abs(weight_q).sum(axis=1).max(initial=0)) * in_bound + int(np.abs(bias_q).max(initial=0))
        acc_type = tensor_type(out_shape, int_type(_acc_width(bound)))
        attributes = {
            # weights are stored in a byte-multiple container (the bindings read no i6 buffers)
            "weight": dense_attr(weight_q, int_type(container)),
            "bias": dense_attr(bias_q, int_type(64))}
        if _KIND in op.attributes:  # what the layer was in the model, for the report
            attributes[_KIND] = op.attributes[_KIND]
        dense = create_op("hardcore.dense", [source], [acc_type], attributes, op.location)
        value = dense.results[0]
        act_bits = settings.act_bits
        if relu is not None:
            value = create_op("hardcore.relu", [value], [acc_type], None, relu.location).results[0]
        if fake_quant is not None:
            # QAT: the model's fake quantization sets the output's scale and saturation.
            out_frac, out_low, out_high = _fake_quant_params(fake_quant)
            if relu is not None:
                out_low, out_high = max(out_low, 0), max(out_high, 0)
            out_width = signed_width(out_low, out_high)
        elif relu is not None:
            out_low, out_high = 0, (1 << act_bits) - 1
            out_frac = frac_bits_for(float(np.abs(trace[relu.results[0]]).max()), act_bits, False)
            out_width = act_bits + 1
        elif clamp is not None:
            # The requantization's saturation is the clamp: its bounds at the output's scale,
            # which comes from the calibrated range of the clamped output.
            _, params = activation_params(clamp)
            signed = params["min"] < 0
            out_low, out_high = _signed_range(act_bits) if signed else (0, (1 << act_bits) - 1)
            out_frac = frac_bits_for(float(np.abs(trace[clamp.results[0]]).max()), act_bits, signed)
            out_low, out_high = (_round_bound(params["min"], out_frac, out_low, out_high),
                                 _round_bound(params["max"], out_frac, out_low, out_high))
            out_width = act_bits + (not signed)
        else:
            out_low, out_high = _signed_range(act_bits)
            out_frac = frac_bits_for(float(np.abs(trace[op.results[0]]).max()), act_bits, True)
            out_width = act_bits
        requant = create_op("hardcore.requant", [value],
                            [tensor_type(out_shape, int_type(out_width))],
                            {"shift": _shift_attr(acc_frac - out_frac), "min": i64_attr(out_low),
                             "max": i64_attr(out_high)}, (fake_quant or relu or clamp or op).location)
        return requant.results[0], out_frac, (out_low, out_high)

    # -- pooling and argmax ------------------------------------------------
    @staticmethod
    def _maxpool(op, source, frac, in_range, out_shape):
        """A max of integers at the input's scale: exact, no requantization."""
        element = ir.RankedTensorType(source.type).element_type
        attributes = {key: op.attributes[key] for key in ("windows", _KIND) if key in op.attributes}
        pool = create_op("hardcore.maxpool", [source], [tensor_type(out_shape, element)], attributes, op.location)
        return pool.results[0], frac, in_range

    @staticmethod
    def _argmax(op, source, out_shape):
        """The index at scale 2^0, in [0, N-1]: as wide as that range needs, read signed."""
        size = math.prod(ir.RankedTensorType(source.type).shape)
        attributes = {_KIND: op.attributes[_KIND]} if _KIND in op.attributes else {}
        index = create_op("hardcore.argmax", [source], [tensor_type(out_shape, int_type((size - 1).bit_length() + 1))],
                          attributes, op.location)
        return index.results[0], 0, (0, size - 1)

    def _avgpool(self, op, relu, source, in_frac, in_range, out_shape, trace, act_bits: int):
        """sum(window) / d as a dense layer with weights M_i on row i's window, requantized by q more."""
        windows = array_attr(op, "windows").astype(np.int64)
        multipliers, shift = avgpool_multipliers(array_attr(op, "divisors"), act_bits)
        n_in = math.prod(ir.RankedTensorType(source.type).shape)
        weight = np.zeros((windows.shape[0], n_in), dtype=np.int64)
        rows, taps = np.nonzero(windows >= 0)
        weight[rows, windows[rows, taps]] = np.array(multipliers, dtype=np.int64)[rows]
        in_bound = max(abs(in_range[0]), abs(in_range[1]))
        bound = int(np.abs(weight).sum(axis=1).max(initial=0)) * in_bound
        acc_type = tensor_type(out_shape, int_type(_acc_width(bound)))
        kind = ir.StringAttr(op.attributes[_KIND]).value if _KIND in op.attributes else "avgpool"
        if len(set(multipliers)) == 1:
            kind += f", sum >> {shift}" if multipliers[0] == 1 else f", sum x {multipliers[0]} >> {shift}"
        else:
            kind += f", sum x round(2^{shift}/divisor) >> {shift}"
        container = integer_dtype(signed_width(0, max(multipliers)))[0]
        dense = create_op("hardcore.dense", [source], [acc_type], {
            "weight": dense_attr(weight, int_type(container)),
            "bias": dense_attr(np.zeros(weight.shape[0], dtype=np.int64), int_type(64)),
            _KIND: ir.StringAttr.get(kind)}, op.location)
        value = dense.results[0]
        if relu is not None:
            value = create_op("hardcore.relu", [value], [acc_type], None, relu.location).results[0]
        if relu is not None or in_range[0] >= 0:
            # An average of values >= 0 is >= 0: unsigned, one more bit of precision.
            out_low, out_high = 0, (1 << act_bits) - 1
            out_frac = frac_bits_for(float(np.abs(trace[(relu or op).results[0]]).max()), act_bits, False)
            out_width = act_bits + 1
        else:
            out_low, out_high = _signed_range(act_bits)
            out_frac = frac_bits_for(float(np.abs(trace[op.results[0]]).max()), act_bits, True)
            out_width = act_bits
        requant = create_op("hardcore.requant", [value], [tensor_type(out_shape, int_type(out_width))],
                            {"shift": i64_attr(in_frac + shift - out_frac), "min": i64_attr(out_low),
                             "max": i64_attr(out_high)}, (relu or op).location)
        return requant.results[0], out_frac, (out_low, out_high)


    # -- graphs: residual adds and concatenation -----------------------------
    def _rescaled(self, value, frac: int, value_range, to_frac: int, low: int, high: int, location):
        """`value` at `to_frac` fractional bits, saturated to [low, high], typed for that range.

        A `hardcore.requant` by frac - to_frac (rounding half up when it drops bits, an exact
        left shift otherwise); none when the value is already there and fits its type.
        """
        shift = frac - to_frac
        scaled = [(v + (1 << (shift - 1))) >> shift if shift > 0 else v << -shift for v in value_range]
        out_range = (min(max(scaled[0], low), high), min(max(scaled[1], low), high))
        width = signed_width(low, high)
        if shift == 0 and value_range == out_range and \
                ir.IntegerType(ir.RankedTensorType(value.type).element_type).width == width:
            return value, out_range
        shape = list(ir.RankedTensorType(value.type).shape)
        requant = create_op("hardcore.requant", [value], [tensor_type(shape, int_type(width))],
                            {"shift": i64_attr(shift), "min": i64_attr(low), "max": i64_attr(high)}, location)
        return requant.results[0], out_range

    def _add_tensors(self, op, relu, quantized, trace, act_bits: int):
        """a + b: both exactly at the finer of their scales (left shifts), added, then requantized.

        The sum is exact; the requantization to act-bits at the scale of the sum's
        calibrated range (unsigned when a ReLU follows, which it absorbs) rounds half
        up and saturates, like a dense layer's.
        """
        operands = [quantized[v] for v in op.operands]
        frac = max(f for _, f, _ in operands)
        aligned, low, high = [], 0, 0
        for value, value_frac, (a, b) in operands:
            shift = frac - value_frac
            if shift:
                value, _ = self._rescaled(value, value_frac, (a, b), frac, a << shift, b << shift, op.location)
            aligned.append(value)
            low, high = low + (a << shift), high + (b << shift)
        out_shape = list(ir.RankedTensorType(op.results[0].type).shape)
        sum_type = tensor_type(out_shape, int_type(signed_width(low, high)))
        attributes = {_KIND: op.attributes[_KIND]} if _KIND in op.attributes else {}
        value = create_op("hardcore.add_tensors", aligned, [sum_type], attributes, op.location).results[0]
        if relu is not None:
            value = create_op("hardcore.relu", [value], [sum_type], None, relu.location).results[0]
            out_low, out_high = 0, (1 << act_bits) - 1
            out_frac = frac_bits_for(float(np.abs(trace[relu.results[0]]).max()), act_bits, False)
        else:
            out_low, out_high = _signed_range(act_bits)
            out_frac = frac_bits_for(float(np.abs(trace[op.results[0]]).max()), act_bits, True)
        requant = create_op("hardcore.requant", [value], [tensor_type(out_shape, int_type(signed_width(out_low, out_high)))],
                            {"shift": i64_attr(frac - out_frac), "min": i64_attr(out_low),
                             "max": i64_attr(out_high)}, (relu or op).location)
        return requant.results[0], out_frac, (out_low, out_high)

    @staticmethod
    def _concat_root(op):
        """The last concat of the chain `op` is in (a cat of n tensors is n - 1 binary concats)."""
        while True:
            uses = list(op.results[0].uses)
            if len(uses) != 1 or uses[0].owner.operation.name != "hardcore.concat":
                return op
            op = uses[0].owner

    def _concat(self, op, quantized, trace):
        """Both operands requantized to one scale, from the calibrated range of the whole chain's output.

        Signed act-bits when any input of the chain can be negative, unsigned
        otherwise.  An operand already at that scale and type passes unchanged (so
        the inner concats of a chain, at the same scale, are never requantized
        twice); others are shifted, rounding half up, and saturated.
        """
        root = self._concat_root(op)
        leaves, pending = [], [root]
        while pending:
            current = pending.pop()
            for value in current.operands:
                owner = value.owner if isinstance(value, ir.OpResult) else None
                if owner is not None and owner.operation.name == "hardcore.concat" and \
                        self._concat_root(owner) == root:
                    pending.append(owner)
                else:
                    leaves.append(quantized[value])
        signed = any(low < 0 for _, _, (low, _) in leaves)
        out_low, out_high = _signed_range(self.quant.default.act_bits) if signed else (0, (1 << self.quant.default.act_bits) - 1)
        out_frac = frac_bits_for(float(np.abs(trace[root.results[0]]).max()), self.quant.default.act_bits, signed)
        operands, low, high = [], None, None
        for value in op.operands:
            source, frac, value_range = quantized[value]
            source, (a, b) = self._rescaled(source, frac, value_range, out_frac, out_low, out_high, op.location)
            operands.append(source)
            low, high = (a, b) if low is None else (min(low, a), max(high, b))
        out_shape = list(ir.RankedTensorType(op.results[0].type).shape)
        concat = create_op("hardcore.concat", operands,
                           [tensor_type(out_shape, int_type(signed_width(out_low, out_high)))],
                           {"dim": op.attributes["dim"]}, op.location)
        return concat.results[0], out_frac, (low, high)
