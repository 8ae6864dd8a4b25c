"""hardcore-import: torch dialect (torch-mlir's FX importer output) to hardcore layer ops.

Takes the value-semantics torch dialect that `torch_mlir.fx.export_and_import`
produces with `aten.linear` and `aten.batch_norm` kept legal, because it keeps
one op per layer and carries the weights as literals (linalg-on-tensors would
have to be pattern-matched back into layers).  The batch dimension, which must
be 1, is dropped: hardcore functions describe one sample.

Lowered, one function per op (`_LOWERINGS`):
- aten.linear (with or without bias): a `hardcore.dense`.
- aten.convolution (not transposed; any stride, padding, dilation and groups;
  1-D, 2-D or more spatial dimensions): one `hardcore.dense` over the
  flattened input whose weight is the unrolled (Toeplitz) matrix, one row per
  output element and one column per input element, zero where the kernel does
  not reach.  `hardcore.reshape`s around it keep the model's shapes.
- aten.batch_norm in eval mode (running statistics): folded into the weight and
  bias of the linear or convolution it follows when it is that layer's only
  user; otherwise a diagonal `hardcore.dense` (a per-channel scale and shift).
- aten.max_pool1d/2d/3d (kernel, stride, padding, dilation, ceil_mode; so
  AdaptiveMaxPool to 1x1 too): a `hardcore.maxpool` over the flattened
  tensor, one row of input indices (its window) per output element; padding
  is never the maximum.
- aten.avg_pool1d/2d/3d (kernel, stride, padding, ceil_mode,
  count_include_pad, divisor_override) and so AdaptiveAvgPool to 1x1, which
  torch-mlir imports as an avg_pool over the whole input: a
  `hardcore.avgpool`, the window rows and each output's divisor as torch
  counts it.  hardcore-quantize makes it a dense layer of integers.
- aten.fake_quantize_per_tensor_affine / per_channel_affine (QAT) with
  power-of-two scales and zero point 0 (anything else is an error naming the
  scale): on constant weights, the fake-quantized weights, and the layer that
  uses them carries their frac bits per row (`hardcore.weight_frac_bits`) and
  code range (`hardcore.weight_min`, `hardcore.weight_max`); on a value, a
  `hardcore.activation` "fake_quant" (frac_bits, min, max).
- torch.runtime.assert with a false condition, which torch-mlir's
  decompositions leave where they cannot express an op (AdaptiveAvgPool to a
  size whose windows differ): an error quoting its message.
- aten.dropout with train=false: removed (the identity).
- aten.relu: a `hardcore.relu`, applied before the reshapes this pass makes, so
  that a dense layer and its ReLU stay adjacent for hardcore-quantize.
- activations: aten.hardtanh, aten.relu6, aten.clamp, aten.clamp_min and
  aten.clamp_max become a `hardcore.activation` "clamp" (min, max);
  aten.leaky_relu a "leaky_relu" (negative_slope); aten.hardsigmoid,
  aten.hardswish, aten.sigmoid and aten.tanh the function of that name.
  Like ReLU, they come before the reshapes this pass makes.
- aten.add.Tensor of two tensors the model computes, of one shape, alpha 1
  (a residual add): a `hardcore.add_tensors` (a "layer" of its own, kind
  "residual add ...").  A constant operand, broadcasting or another alpha is
  an error.
- aten.cat along a dimension other than the batch's: `hardcore.concat`s
  (binary: a cat of n tensors is a chain of n - 1).
- aten.mean.dim (keepdim or not; frontend keeps it legal): a
  `hardcore.avgpool` with one window per output element, the elements it
  averages, and their count as the divisor.
- aten.permute and aten.transpose.int that keep the batch dimension first: a
  `hardcore.gather` with the constant index map (nothing for the identity).
- the shape-only ops aten.view / aten.reshape / aten.flatten.using_ints: a
  `hardcore.reshape`, or nothing when the shape is already right.

Each dense op carries a discardable `hardcore.kind` string, e.g. "conv2d 1->8
3x3 padding 1, 8x8->8x8 positions (dense 512x64)", that hardcore-quantize and
hardcore-fold-weights pass on to the per-layer figures (`hardcore.layers`).
A convolution's dense op also carries `hardcore.out_channels` (i64), its
output channels, each a block of consecutive rows: hardcore-quantize gives
each one weight scale with `weight-scale=per-channel`.
With `output=argmax` (`hardcore.compile(..., output="argmax")`) each result
becomes a `hardcore.argmax`, the index of its largest element: a classifier's
answer.  Left alone: torch constants and list constructions, which
only feed those ops.  Any other op is an error at its location, and every
unsupported op is reported, not just the first.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from torch_mlir import ir

from hardcore.errors import UsageError
from hardcore.irutil import body_ops, create_op, dense_attr, functions, replace_function, tensor_type
from hardcore.pass_base import ModulePass, PassFailed

__all__ = ["ImportPass", "unrolled_convolution", "pooling_windows", "OUTPUTS"]

# What the function returns: the model's output, or the index of its largest element.
OUTPUTS = ("logits", "argmax")

# Ops that only produce operands (constants, lists) for the lowered ops.
_OPERAND_PRODUCERS = frozenset({
    "torch.constant.int", "torch.constant.none", "torch.constant.bool",
    "torch.constant.float", "torch.constant.str", "torch.constant.device",
    "torch.prim.ListConstruct", "torch.vtensor.literal",
})
_SHAPE_OPS = frozenset({"torch.aten.view", "torch.aten.reshape", "torch.aten.flatten.using_ints"})
_DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16}
# Literals may be integers too: a fake quantizer's zero points.
_LITERAL_DTYPES = {**_DTYPES, "si32": np.int32, "si64": np.int64}
_RESOURCE_NAME = re.compile(r"dense_resource<([^>]+)>")
_KIND = "hardcore.kind"
_OUT_CHANNELS = "hardcore.out_channels"
# The weights' fake quantization (QAT): frac bits of each row, and the codes' range.
_WEIGHT_FRAC_BITS, _WEIGHT_MIN, _WEIGHT_MAX = "hardcore.weight_frac_bits", "hardcore.weight_min", "hardcore.weight_max"


def _vtensor_shape(value_type: ir.Type) -> tuple[list[int], str] | None:
    """`!torch.vtensor<[1,16],f32>` -> ([1, 16], "f32")."""
    match = re.fullmatch(r"!torch\.vtensor<\[([-\d,]*)\],(\w+)>", str(value_type))
    if not match:
        return None
    dims = [int(d) for d in match.group(1).split(",") if d]
    return dims, match.group(2)


def _resource_blobs(module: ir.Operation) -> dict[str, bytes]:
    """The module's dense_resource blobs; the Python API cannot read them directly."""
    text = module.get_asm(large_elements_limit=None)
    start = text.find("dialect_resources")
    blobs = {}
    if start >= 0:
        for name, hexdata in re.findall(r'([\w.\-]+):\s*"0x([0-9A-Fa-f]*)"', text[start:]):
            blobs[name] = bytes.fromhex(hexdata)[4:]  # the first 4 bytes are the alignment
    return blobs


def _dims(values) -> str:
    return "x".join(str(v) for v in values)


def unrolled_convolution(weight: np.ndarray, in_shape, stride, padding, dilation,
                         groups: int) -> tuple[np.ndarray, list[int]]:
    """A convolution as the matrix of a dense layer on the flattened (row-major) tensors.

    `weight` is torch's (out_channels, in_channels / groups, *kernel) and
    `in_shape` the input's (in_channels, *positions).  Returns the matrix, of
    shape (out_channels · out positions, in_channels · in positions), and the
    output positions.  Entry [o·P_out + q, c·P_in + p] is the weight that input
    element (c, p) gets in output element (o, q), zero where the kernel does
    not reach (and outside the group).
    """
    out_channels, group_in, *kernel = weight.shape
    channels, *positions = in_shape
    spatial = len(kernel)
    if len(positions) != spatial:
        raise ValueError(f"a {spatial}-D convolution needs an input of {spatial + 1} dimensions "
                         f"per sample, got {list(in_shape)}")
    if groups < 1 or out_channels % groups or channels != group_in * groups:
        raise ValueError(f"convolution weight {list(weight.shape)} with groups={groups} does not fit "
                         f"{channels} input channels")
    stride, padding, dilation = (np.array(v, dtype=np.int64) for v in (stride, padding, dilation))
    if np.any(stride < 1) or np.any(dilation < 1) or np.any(padding < 0):
        raise ValueError(f"convolution stride {stride.tolist()} and dilation {dilation.tolist()} must be "
                         f"positive, padding {padding.tolist()} not negative")
    out_positions = [int(n + 2 * p - d * (k - 1) - 1) // int(s) + 1
                     for n, p, d, k, s in zip(positions, padding, dilation, kernel, stride)]
    if min(out_positions, default=1) < 1:
        raise ValueError(f"convolution kernel {_dims(kernel)} does not fit the padded input {_dims(positions)}")
    n_in, n_out = math.prod(positions), math.prod(out_positions)
    matrix = np.zeros((out_channels * n_out, channels * n_in))
    group_out = out_channels // groups
    out_channel = np.arange(out_channels)[:, None, None]                             # (O, 1, 1)
    in_channel = (out_channel // group_out) * group_in + np.arange(group_in)[:, None]  # (O, Cg, 1)
    grid = np.indices(out_positions).reshape(spatial, -1)                             # (spatial, P_out)
    for offset in np.ndindex(*kernel):
        source = grid * stride[:, None] - padding[:, None] + np.array(offset)[:, None] * dilation[:, None]
        inside = np.all((source >= 0) & (source < np.array(positions)[:, None]), axis=0)
        if not inside.any():
            continue
        rows = out_channel * n_out + np.flatnonzero(inside)
        columns = in_channel * n_in + np.ravel_multi_index(tuple(source[:, inside]), positions)
        # Each (row, column) pair occurs for one kernel offset only (a dilation ≥ 1 moves
        # the source), so plain assignment is exact.
        matrix[rows, columns] = weight[(slice(None), slice(None)) + offset][:, :, None]
    return matrix, out_positions


def _pool_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling output size (ATen's pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def pooling_windows(in_shape, kernel, stride, padding, dilation, ceil_mode: bool = False
                    ) -> tuple[np.ndarray, list[int], np.ndarray]:
    """The windows of a pooling over the flattened (row-major) input, channel by channel.

    `in_shape` is (channels, *positions).  Returns `windows`, an int64 array
    with one row per output element (channel, then position, row-major) that
    lists the flat input indices its window covers, -1 where a window tap
    falls outside the input (padding, or beyond it with ceil_mode); the output
    positions; and for each output position the number of taps inside the
    padded input, torch's divisor for `count_include_pad=True`.
    """
    channels, *positions = in_shape
    spatial = len(kernel)
    if len(positions) != spatial:
        raise ValueError(f"a {spatial}-D pooling needs an input of {spatial + 1} dimensions "
                         f"per sample, got {list(in_shape)}")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"pooling kernel {list(kernel)}, stride {list(stride)} and dilation {list(dilation)} "
                         f"must be positive, padding {list(padding)} not negative")
    out_positions = [_pool_out_size(*options, ceil_mode)
                     for options in zip(positions, kernel, stride, padding, dilation)]
    if min(out_positions) < 1:
        raise ValueError(f"pooling kernel {_dims(kernel)} does not fit the padded input {_dims(positions)}")
    grid = np.indices(out_positions).reshape(spatial, -1)                        # (spatial, P_out)
    starts = grid * np.array(stride)[:, None] - np.array(padding)[:, None]
    offsets = np.indices(kernel).reshape(spatial, -1) * np.array(dilation)[:, None]  # (spatial, taps)
    sources = starts[:, :, None] + offsets[:, None, :]                           # (spatial, P_out, taps)
    limits = np.array(positions)[:, None, None]
    inside = np.all((sources >= 0) & (sources < limits), axis=0)                 # (P_out, taps)
    flat = np.ravel_multi_index(tuple(np.clip(sources, 0, limits - 1)), positions)
    per_position = np.where(inside, flat, -1)
    # Taps inside the padded input (never beyond it, which only ceil_mode reaches).
    padded = np.all(sources < limits + np.array(padding)[:, None, None], axis=0).sum(axis=1)
    n_in = math.prod(positions)
    offsets_by_channel = np.arange(channels)[:, None, None] * n_in
    windows = np.where(per_position[None] >= 0, per_position[None] + offsets_by_channel, -1)
    return windows.reshape(channels * per_position.shape[0], -1).astype(np.int64), out_positions, padded


@dataclasses.dataclass
class _Layer:
    """A dense op this pass made, with its float weights, for folding a batch norm into it."""

    op: ir.Operation
    weight: np.ndarray
    bias: np.ndarray
    kind: str


@dataclasses.dataclass(frozen=True)
class _WeightQuant:
    """The fake quantization of a weight tensor: frac bits per output channel (axis 0), code range."""

    frac_bits: np.ndarray
    low: int
    high: int


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


class _FunctionImport:
    """Lowers one function's ops in order, mapping torch values to hardcore values.

    Every mapped value has the model's shape (batch dropped).  Dense layers work on
    flat vectors: `flat` and `reshaped` look through the reshapes this pass made,
    and `finish` erases the ones nothing uses.
    """

    def __init__(self, module, blobs: dict):
        self.module = module
        self.blobs = blobs
        self.values: dict = {}    # torch value -> hardcore value
        self.literals: dict = {}  # torch value -> float64 array
        self.layers: dict = {}    # torch value (a dense layer's result) -> _Layer
        self.weight_quant: dict = {}  # torch value (fake-quantized weights) -> _WeightQuant
        self.argmax_output = False  # return the index of each result's largest element

    # -- reading the torch IR -------------------------------------------------
    def literal(self, op) -> np.ndarray:
        attribute = op.attributes["value"]
        result_shape = _vtensor_shape(op.results[0].type)
        if isinstance(attribute, ir.DenseElementsAttr):
            array = np.array(attribute)
        else:
            match = _RESOURCE_NAME.search(str(attribute))
            if not self.blobs:
                self.blobs.update(_resource_blobs(self.module))
            if not match or match.group(1) not in self.blobs:
                raise ValueError(f"cannot read the literal {str(attribute)[:80]}")
            dtype = _LITERAL_DTYPES.get(result_shape[1]) if result_shape else None
            if dtype is None:
                raise ValueError(f"unsupported literal element type in {op.results[0].type}")
            array = np.frombuffer(self.blobs[match.group(1)], dtype=dtype)
        return np.asarray(array, dtype=np.float64).reshape(result_shape[0] if result_shape else array.shape)

    @staticmethod
    def constant(value, what: str):
        """The Python value of a torch constant or a list of them."""
        owner = value.owner if isinstance(value, ir.OpResult) else None
        name = owner.name if owner is not None else ""
        if name == "torch.constant.none":
            return None
        if name == "torch.constant.int":
            return int(ir.IntegerAttr(owner.attributes["value"]).value)
        if name == "torch.constant.float":
            return float(ir.FloatAttr(owner.attributes["value"]).value)
        if name == "torch.constant.bool":
            return bool(ir.BoolAttr(owner.attributes["value"]).value)
        if name == "torch.prim.ListConstruct":
            return [_FunctionImport.constant(item, what) for item in owner.operands]
        raise ValueError(f"{what} must be a constant")

    def tensor(self, value, what: str, optional: bool = False) -> np.ndarray | None:
        """A constant tensor operand (None for torch.none when `optional`)."""
        if value in self.literals:
            array = self.literals[value]
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{what} contains NaN or infinity")
            return array
        if optional and str(value.type) == "!torch.none":
            return None
        raise ValueError(f"{what} must be a constant" + (" or none" if optional else ""))

    def source(self, op):
        value = self.values.get(op.operands[0])
        if value is None:
            raise ValueError(f"'{op.operation.name}' must take the model input or a lowered layer, "
                             f"not a constant")
        return value

    @staticmethod
    def model_shape(value) -> list[int]:
        """A torch value's shape without the batch dimension."""
        return _vtensor_shape(value.type)[0][1:]

    # -- building -------------------------------------------------------------
    @staticmethod
    def _reshape_source(value):
        owner = value.owner if isinstance(value, ir.OpResult) else None
        return owner.operands[0] if owner is not None and owner.name == "hardcore.reshape" else None

    def reshaped(self, value, shape: list[int], location):
        """`value` in `shape`: through the reshapes this pass made, then at most one new one."""
        while (inner := self._reshape_source(value)) is not None:
            value = inner
        if list(ir.RankedTensorType(value.type).shape) == list(shape):
            return value
        return create_op("hardcore.reshape", [value], [tensor_type(shape, ir.F32Type.get())], None,
                         location).results[0]

    def flat(self, value, location):
        return self.reshaped(value, [math.prod(ir.RankedTensorType(value.type).shape)], location)

    def dense(self, op, source, weight: np.ndarray, bias: np.ndarray, kind: str, channels: int | None = None,
              weight_quant: _WeightQuant | None = None):
        """y = W·flat(x) + b, in the shape of `op`'s result; remembered for batch-norm folding.

        `channels`: the output channels when each is a block of rows (a convolution's),
        for per-channel weight scales (`hardcore.out_channels`).  `weight_quant`: the
        weights' fake quantization (one frac bits per channel), which sets the codes.
        """
        location = op.location
        flat = self.flat(source, location)
        attributes = {"weight": dense_attr(weight, ir.F32Type.get()), "bias": dense_attr(bias, ir.F32Type.get()),
                      _KIND: ir.StringAttr.get(kind)}
        i64 = ir.IntegerType.get_signless(64)
        if channels is not None and channels != weight.shape[0]:
            attributes[_OUT_CHANNELS] = ir.IntegerAttr.get(i64, channels)
        if weight_quant is not None:
            rows = np.repeat(np.broadcast_to(weight_quant.frac_bits, (channels or weight.shape[0],)),
                             weight.shape[0] // (channels or weight.shape[0]))
            attributes[_WEIGHT_FRAC_BITS] = dense_attr(rows, i64)
            attributes[_WEIGHT_MIN] = ir.IntegerAttr.get(i64, weight_quant.low)
            attributes[_WEIGHT_MAX] = ir.IntegerAttr.get(i64, weight_quant.high)
        layer = create_op("hardcore.dense", [flat], [tensor_type([weight.shape[0]], ir.F32Type.get())],
                          attributes, location)
        self.layers[op.results[0]] = _Layer(layer, weight, bias, kind)
        return self.reshaped(layer.results[0], self.model_shape(op.results[0]), location)

    def argmax(self, value, location):
        """The index of `value`'s first largest element (row-major), as a tensor<1xf32>."""
        flat = self.flat(value, location)
        size = ir.RankedTensorType(flat.type).shape[0]
        if size < 2:
            raise ValueError(f"output=argmax needs a result of at least 2 elements, got {size}")
        return create_op("hardcore.argmax", [flat], [tensor_type([1], ir.F32Type.get())],
                         {_KIND: ir.StringAttr.get(f"argmax of {size}")}, location).results[0]

    def finish(self, block) -> None:
        """Erase the reshapes that looking through left without users (last first: chains)."""
        for op in reversed(list(block.operations)):
            if op.operation.name == "hardcore.reshape" and not list(op.results[0].uses):
                op.operation.erase()

    # -- one lowering per torch op (see _LOWERINGS) ---------------------------
    def linear(self, op):
        source = self.source(op)
        weight = self.tensor(op.operands[1], "linear weight")
        in_shape = list(ir.RankedTensorType(source.type).shape)
        if len(in_shape) != 1 or weight.ndim != 2 or weight.shape[1] != in_shape[0]:
            raise ValueError(f"linear of input {in_shape} and weight {list(weight.shape)} "
                             f"is not a matrix-vector product per sample")
        bias = self.tensor(op.operands[2], "linear bias", optional=True)
        bias = np.zeros(weight.shape[0]) if bias is None else bias
        return self.dense(op, source, weight, bias, f"linear {weight.shape[1]}->{weight.shape[0]}",
                          weight_quant=self.weight_quant.get(op.operands[1]))

    def convolution(self, op):
        # aten.convolution(input, weight, bias, stride, padding, dilation, transposed,
        #                  output_padding, groups)
        source = self.source(op)
        weight = self.tensor(op.operands[1], "convolution weight")
        bias = self.tensor(op.operands[2], "convolution bias", optional=True)
        if self.constant(op.operands[6], "convolution 'transposed'"):
            raise ValueError("transposed convolution is not supported")
        spatial = weight.ndim - 2
        options = {}
        for index, option in ((3, "stride"), (4, "padding"), (5, "dilation")):
            values = self.constant(op.operands[index], f"convolution {option}")
            if len(values) == 1:
                values = values * spatial
            if len(values) != spatial:
                raise ValueError(f"convolution {option} {values} does not have {spatial} entries")
            options[option] = values
        groups = self.constant(op.operands[8], "convolution groups")
        in_shape = self.model_shape(op.operands[0])
        matrix, out_positions = unrolled_convolution(weight, in_shape, groups=groups, **options)
        out_shape = self.model_shape(op.results[0])
        if out_shape != [weight.shape[0]] + out_positions:
            raise ValueError(f"convolution result {out_shape} is not the {[weight.shape[0]] + out_positions} "
                             f"that padding {options['padding']} gives (padding='same' with an even kernel "
                             f"pads asymmetrically, which torch-mlir's import loses)")
        bias = np.zeros(weight.shape[0]) if bias is None else bias
        details = "".join(f" {option} {_dims(values) if len(set(values)) > 1 else values[0]}"
                          for option, values in options.items()
                          if values != [0 if option == "padding" else 1] * spatial)
        details += f" groups {groups}" if groups != 1 else ""
        kind = (f"conv{spatial}d {in_shape[0]}->{weight.shape[0]} {_dims(weight.shape[2:])}{details}, "
                f"{_dims(in_shape[1:])}->{_dims(out_positions)} positions "
                f"(dense {matrix.shape[0]}x{matrix.shape[1]})")
        return self.dense(op, source, matrix, np.repeat(bias, math.prod(out_positions)), kind,
                          channels=weight.shape[0], weight_quant=self.weight_quant.get(op.operands[1]))

    def batch_norm(self, op):
        # aten.batch_norm(input, weight, bias, running_mean, running_var, training,
        #                 momentum, eps, cudnn_enabled)
        source = self.source(op)
        if self.constant(op.operands[5], "batch_norm 'training'"):
            raise ValueError("batch_norm in training mode normalizes by the batch's statistics: "
                             "compile the model in eval mode")
        mean = self.tensor(op.operands[3], "batch_norm running_mean", optional=True)
        variance = self.tensor(op.operands[4], "batch_norm running_var", optional=True)
        if mean is None or variance is None:
            raise ValueError("batch_norm without running statistics (track_running_stats=False) "
                             "normalizes by the batch's statistics: not supported")
        eps = self.constant(op.operands[7], "batch_norm eps")
        if np.any(variance + eps <= 0):
            raise ValueError("batch_norm running_var + eps must be positive")
        shape = self.model_shape(op.operands[0])
        channels = shape[0] if shape else 0
        gamma = self.tensor(op.operands[1], "batch_norm weight", optional=True)
        beta = self.tensor(op.operands[2], "batch_norm bias", optional=True)
        gamma = np.ones(channels) if gamma is None else gamma
        beta = np.zeros(channels) if beta is None else beta
        if any(np.shape(a) != (channels,) for a in (gamma, beta, mean, variance)):
            raise ValueError(f"batch_norm parameters do not have one entry per channel of {shape}")
        # y = (x - mean) / sqrt(var + eps) · gamma + beta = x · scale + shift, per channel
        # (dimension 0 of a sample), repeated over the positions of the flat tensor.
        scale = gamma / np.sqrt(variance + eps)
        positions = math.prod(shape[1:])
        scale_flat = np.repeat(scale, positions)
        shift_flat = np.repeat(beta - mean * scale, positions)
        layer = self.layers.get(op.operands[0])
        if layer is not None and _WEIGHT_FRAC_BITS in layer.op.attributes:
            raise ValueError("batch_norm after a layer with fake-quantized weights would change the "
                             "quantized weights: fold the batch norm into the layer before quantization-aware "
                             "training (torch.ao.quantization.fuse_modules_qat)")
        if layer is not None and len(list(op.operands[0].uses)) == 1:
            layer.weight = layer.weight * scale_flat[:, None]
            layer.bias = layer.bias * scale_flat + shift_flat
            layer.kind += " + batchnorm"
            layer.op.attributes["weight"] = dense_attr(layer.weight, ir.F32Type.get())
            layer.op.attributes["bias"] = dense_attr(layer.bias, ir.F32Type.get())
            layer.op.attributes[_KIND] = ir.StringAttr.get(layer.kind)
            self.layers[op.results[0]] = layer
            return source
        size = scale_flat.size
        return self.dense(op, source, np.diag(scale_flat), shift_flat,
                          f"batchnorm {channels} channels (diagonal {size}x{size})")

    def dropout(self, op):
        source = self.source(op)
        if self.constant(op.operands[2], "dropout 'train'"):
            raise ValueError("dropout in training mode is random: compile the model in eval mode")
        return source

    def _pool_options(self, op, names, kind: str) -> tuple[dict, list[int], list[int]]:
        """The list options of a pooling op (operands 1...), each with one entry per spatial dimension."""
        in_shape = self.model_shape(op.operands[0])
        spatial = len(in_shape) - 1
        options = {}
        for index, option in enumerate(names, start=1):
            values = self.constant(op.operands[index], f"{kind} {option}")
            if option == "stride" and not values:
                values = options["kernel"]  # F.max_pool2d(x, 2) leaves the stride to the kernel
            if len(values) == 1:
                values = values * spatial
            if len(values) != spatial:
                raise ValueError(f"{kind} {option} {values} does not have {spatial} entries")
            options[option] = values
        return options, in_shape, self.model_shape(op.results[0])

    @staticmethod
    def _pool_kind(name: str, options: dict, in_shape, out_positions, ceil_mode: bool) -> str:
        spatial = len(in_shape) - 1
        defaults = {"stride": options["kernel"], "padding": [0] * spatial, "dilation": [1] * spatial}
        details = "".join(f" {option} {_dims(values) if len(set(values)) > 1 else values[0]}"
                          for option, values in options.items()
                          if option != "kernel" and values != defaults[option])
        details += " ceil_mode" if ceil_mode else ""
        channels = f"{in_shape[0]} channel" + ("s" if in_shape[0] != 1 else "")
        return (f"{name}{spatial}d {_dims(options['kernel'])}{details}, {channels} "
                f"{_dims(in_shape[1:])}->{_dims(out_positions)} positions")

    def max_pool(self, op):
        # aten.max_poolNd(input, kernel_size, stride, padding, dilation, ceil_mode)
        source = self.source(op)
        options, in_shape, out_shape = self._pool_options(op, ("kernel", "stride", "padding", "dilation"),
                                                          "max_pool")
        ceil_mode = self.constant(op.operands[5], "max_pool ceil_mode")
        windows, out_positions, _ = pooling_windows(in_shape, options["kernel"], options["stride"],
                                                    options["padding"], options["dilation"], ceil_mode)
        if out_shape != [in_shape[0]] + out_positions:
            raise ValueError(f"max_pool result {out_shape} is not the {[in_shape[0]] + out_positions} "
                             f"its options give")
        empty = np.flatnonzero(np.all(windows < 0, axis=1))
        if empty.size:
            raise ValueError(f"max_pool window of output element {int(empty[0])} covers no input element")
        kind = self._pool_kind("maxpool", options, in_shape, out_positions, ceil_mode)
        flat = self.flat(source, op.location)
        pool = create_op("hardcore.maxpool", [flat], [tensor_type([windows.shape[0]], ir.F32Type.get())], {
            "windows": dense_attr(windows, ir.IntegerType.get_signless(64)), _KIND: ir.StringAttr.get(kind)},
            op.location)
        return self.reshaped(pool.results[0], out_shape, op.location)

    def avg_pool(self, op):
        # aten.avg_poolNd(input, kernel_size, stride, padding, ceil_mode, count_include_pad
        #                 [, divisor_override]); avg_pool1d has no divisor_override.
        source = self.source(op)
        options, in_shape, out_shape = self._pool_options(op, ("kernel", "stride", "padding"), "avg_pool")
        ceil_mode = self.constant(op.operands[4], "avg_pool ceil_mode")
        count_include_pad = self.constant(op.operands[5], "avg_pool count_include_pad")
        divisor_override = self.constant(op.operands[6], "avg_pool divisor_override") \
            if len(op.operands) > 6 else None
        spatial = len(in_shape) - 1
        windows, out_positions, padded = pooling_windows(in_shape, options["kernel"], options["stride"],
                                                         options["padding"], [1] * spatial, ceil_mode)
        if out_shape != [in_shape[0]] + out_positions:
            raise ValueError(f"avg_pool result {out_shape} is not the {[in_shape[0]] + out_positions} "
                             f"its options give")
        if divisor_override is not None:
            if divisor_override < 1:
                raise ValueError(f"avg_pool divisor_override must be positive, got {divisor_override}")
            divisors = np.full(windows.shape[0], divisor_override)
        elif count_include_pad:
            divisors = np.tile(padded, in_shape[0])
        else:
            divisors = np.maximum((windows >= 0).sum(axis=1), 1)  # an empty window averages to 0
        kind = self._pool_kind("avgpool", options, in_shape, out_positions, ceil_mode)
        if not count_include_pad and any(options["padding"]):
            kind += " count_include_pad=False"
        if divisor_override is not None:
            kind += f" divisor {divisor_override}"
        flat = self.flat(source, op.location)
        i64 = ir.IntegerType.get_signless(64)
        pool = create_op("hardcore.avgpool", [flat], [tensor_type([windows.shape[0]], ir.F32Type.get())], {
            "windows": dense_attr(windows, i64), "divisors": dense_attr(divisors.astype(np.int64), i64),
            _KIND: ir.StringAttr.get(kind)}, op.location)
        return self.reshaped(pool.results[0], out_shape, op.location)

    def runtime_assert(self, op):
        # torch-mlir's decompositions leave a failing assert where they cannot express
        # the op (AdaptiveAvgPool2d to sizes that do not divide the input).
        if self.constant(op.operands[0], "runtime.assert condition") is False:
            raise ValueError(f"torch-mlir could not lower an op of the model: "
                             f"{ir.StringAttr(op.attributes['message']).value}")
        return None

    def fake_quantize(self, op):
        """torch's fake quantization (QAT) with power-of-two scales and zero point 0.

        On constant weights: the fake-quantized weights, whose codes and frac bits the
        layer that uses them keeps (`hardcore.weight_frac_bits`).  On a value: a
        `hardcore.activation` "fake_quant" (frac_bits, min, max) that sets the
        quantization there.
        """
        name = op.operation.name.split(".")[-1]
        per_channel = name == "fake_quantize_per_channel_affine"
        if per_channel:  # (x, scale, zero_point, axis, quant_min, quant_max)
            scale = self.tensor(op.operands[1], f"{name} scale")
            zero_point = self.tensor(op.operands[2], f"{name} zero_point")
            axis = self.constant(op.operands[3], f"{name} axis")
            low, high = (self.constant(op.operands[i], f"{name} quant bound") for i in (4, 5))
        else:  # (x, scale, zero_point, quant_min, quant_max)
            scale = np.array([self.constant(op.operands[1], f"{name} scale")])
            zero_point = np.array([self.constant(op.operands[2], f"{name} zero_point")])
            axis = 0
            low, high = (self.constant(op.operands[i], f"{name} quant bound") for i in (3, 4))
        frac = _power_of_two_frac_bits(scale, zero_point, name)
        if low > high:
            raise ValueError(f"{name} quant_min {low} is greater than quant_max {high}")
        if op.operands[0] in self.literals:  # weights
            weight = self.literals[op.operands[0]]
            if per_channel and axis != 0:
                raise ValueError(f"{name} on weights along axis {axis}: hardcore needs the output "
                                 f"channels' axis 0")
            shape = [-1] + [1] * (weight.ndim - 1)
            scaled = np.exp2(np.broadcast_to(frac, (weight.shape[0],))).reshape(shape)
            codes = np.clip(np.rint(weight * scaled), low, high)  # torch rounds half to even
            self.literals[op.results[0]] = codes / scaled
            self.weight_quant[op.results[0]] = _WeightQuant(frac, int(low), int(high))
            return None
        if per_channel:
            raise ValueError(f"{name} on activations: hardcore supports one scale per activation tensor")
        return self.activation(op, "fake_quant", {"frac_bits": float(frac[0]), "min": float(low),
                                                  "max": float(high)})

    # -- graphs: residual adds, concatenation, means and permutations ---------
    def model_value(self, value, what: str):
        """The hardcore value of a model tensor (not a constant) operand."""
        mapped = self.values.get(value)
        if mapped is None:
            raise ValueError(f"{what} of a constant tensor is not supported (only of tensors the model computes)")
        return mapped

    @staticmethod
    def sample_dims(dims, rank: int, what: str) -> list[int]:
        """torch dims (negative ones counted from the end) of a rank-`rank` tensor, as dims of one sample."""
        normalized = []
        for dim in dims:
            if not -rank <= dim < rank:
                raise ValueError(f"{what} dim {dim} is out of range for {rank} dimensions")
            dim %= rank
            if dim == 0:
                raise ValueError(f"{what} over the batch dimension is not supported")
            normalized.append(dim - 1)
        return normalized

    def add_tensor(self, op):
        # aten.add.Tensor(a, b, alpha): a + alpha * b
        alpha = self.constant(op.operands[2], "add.Tensor alpha")
        if alpha != 1:
            raise ValueError(f"add.Tensor with alpha {alpha} is not supported (only a + b)")
        lhs = self.model_value(op.operands[0], "add.Tensor")
        rhs = self.model_value(op.operands[1], "add.Tensor")
        shapes = [self.model_shape(v) for v in (op.operands[0], op.operands[1], op.results[0])]
        if not shapes[0] == shapes[1] == shapes[2]:
            raise ValueError(f"add.Tensor of shapes {shapes[0]} and {shapes[1]} is not supported "
                             f"(no broadcasting: both operands must have one shape)")
        flat_lhs, flat_rhs = self.flat(lhs, op.location), self.flat(rhs, op.location)
        kind = f"residual add {_dims(shapes[2]) or '1'}"
        add = create_op("hardcore.add_tensors", [flat_lhs, flat_rhs], [flat_lhs.type],
                        {_KIND: ir.StringAttr.get(kind)}, op.location)
        return self.reshaped(add.results[0], shapes[2], op.location)

    def cat(self, op):
        # aten.cat(list of tensors, dim)
        items = op.operands[0].owner if isinstance(op.operands[0], ir.OpResult) else None
        if items is None or items.name != "torch.prim.ListConstruct":
            raise ValueError("cat needs a list of tensors")
        out_shape = self.model_shape(op.results[0])
        (dim,) = self.sample_dims([self.constant(op.operands[1], "cat dim")], len(out_shape) + 1, "cat")
        inputs = [self.model_value(item, "cat") for item in items.operands]
        inputs = [self.reshaped(value, self.model_shape(item), op.location)
                  for value, item in zip(inputs, items.operands)]
        # A chain of binary concats, left to right.
        result = inputs[0]
        for value in inputs[1:]:
            shape = list(ir.RankedTensorType(result.type).shape)
            shape[dim] += ir.RankedTensorType(value.type).shape[dim]
            result = create_op("hardcore.concat", [result, value], [tensor_type(shape, ir.F32Type.get())],
                               {"dim": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), dim)},
                               op.location).results[0]
        if list(ir.RankedTensorType(result.type).shape) != out_shape:
            raise ValueError(f"cat result {out_shape} is not the concatenation of its inputs")
        return result

    def mean_dim(self, op):
        # aten.mean.dim(input, dims, keepdim, dtype): an average pool with one window per output element
        source = self.source(op)
        in_shape = self.model_shape(op.operands[0])
        dims = self.constant(op.operands[1], "mean dims")
        if self.constant(op.operands[3], "mean dtype") is not None:
            raise ValueError("mean with a dtype is not supported")
        if not dims:  # torch: no dims means all of them, the batch's too
            dims = list(range(len(in_shape) + 1))
        axes = sorted(set(self.sample_dims(dims, len(in_shape) + 1, "mean")))
        kept = [d for d in range(len(in_shape)) if d not in axes]
        flat_index = np.arange(math.prod(in_shape), dtype=np.int64).reshape(in_shape)
        # Kept dims first, in order (the output's row-major order), the averaged ones last.
        windows = flat_index.transpose(kept + axes).reshape(math.prod([in_shape[d] for d in kept]), -1)
        divisors = np.full(windows.shape[0], windows.shape[1], dtype=np.int64)
        kind = (f"mean over dims {','.join(str(d + 1) for d in axes)}, {_dims(in_shape)}->"
                f"{_dims([in_shape[d] for d in kept]) or '1'}")
        flat = self.flat(source, op.location)
        i64 = ir.IntegerType.get_signless(64)
        pool = create_op("hardcore.avgpool", [flat], [tensor_type([windows.shape[0]], ir.F32Type.get())], {
            "windows": dense_attr(windows, i64), "divisors": dense_attr(divisors, i64),
            _KIND: ir.StringAttr.get(kind)}, op.location)
        return self.reshaped(pool.results[0], self.model_shape(op.results[0]), op.location)

    def permuted(self, op, order: list[int]):
        """The source with its sample dims in `order` (a `hardcore.gather`; nothing when in order)."""
        source = self.source(op)
        in_shape = self.model_shape(op.operands[0])
        if order == list(range(len(in_shape))):
            return source
        indices = np.arange(math.prod(in_shape), dtype=np.int64).reshape(in_shape).transpose(order).reshape(-1)
        flat = self.flat(source, op.location)
        gather = create_op("hardcore.gather", [flat], [flat.type],
                           {"indices": dense_attr(indices, ir.IntegerType.get_signless(64))}, op.location)
        return self.reshaped(gather.results[0], self.model_shape(op.results[0]), op.location)

    def permute(self, op):
        dims = self.constant(op.operands[1], "permute dims")
        rank = len(self.model_shape(op.operands[0])) + 1
        if len(dims) != rank or sorted(d % rank for d in dims) != list(range(rank)):
            raise ValueError(f"permute dims {dims} are not a permutation of {rank} dimensions")
        if dims[0] % rank != 0:
            raise ValueError("permute that moves the batch dimension is not supported")
        return self.permuted(op, self.sample_dims(dims[1:], rank, "permute"))

    def transpose(self, op):
        rank = len(self.model_shape(op.operands[0])) + 1
        first, second = self.sample_dims([self.constant(op.operands[1], "transpose dim0"),
                                          self.constant(op.operands[2], "transpose dim1")], rank, "transpose")
        order = list(range(rank - 1))
        order[first], order[second] = second, first
        return self.permuted(op, order)

    def relu(self, op):
        flat = self.flat(self.source(op), op.location)
        relu = create_op("hardcore.relu", [flat], [flat.type], None, op.location)
        return self.reshaped(relu.results[0], self.model_shape(op.results[0]), op.location)

    def reshape(self, op):
        return self.reshaped(self.source(op), self.model_shape(op.results[0]), op.location)

    def activation(self, op, fn: str, params: dict[str, float]):
        """A `hardcore.activation` on the flat source, then the model's shape (like relu)."""
        flat = self.flat(self.source(op), op.location)
        attributes = {"fn": ir.StringAttr.get(fn),
                      "params": ir.DictAttr.get({name: ir.FloatAttr.get_f64(value) for name, value in params.items()})}
        result = create_op("hardcore.activation", [flat], [flat.type], attributes, op.location)
        return self.reshaped(result.results[0], self.model_shape(op.results[0]), op.location)

    def clamp_between(self, op, low, high, what: str):
        """clamp(x, low, high); None is no bound on that side (torch.clamp's min=None, max=None)."""
        low = -math.inf if low is None else float(low)
        high = math.inf if high is None else float(high)
        if math.isnan(low) or math.isnan(high):
            raise ValueError(f"{what} bounds must be numbers, got {low} and {high}")
        if low > high:
            raise ValueError(f"{what} min {low} is greater than max {high}")
        if low == math.inf or high == -math.inf:
            raise ValueError(f"{what} to [{low}, {high}] leaves no finite value")
        return self.activation(op, "clamp", {"min": low, "max": high})

    def clamp(self, op):  # aten.clamp(x, min, max), aten.hardtanh(x, min_val, max_val)
        what = op.operation.name.split(".")[-1]
        return self.clamp_between(op, self.constant(op.operands[1], f"{what} min"),
                                  self.constant(op.operands[2], f"{what} max"), what)

    def leaky_relu(self, op):
        return self.activation(op, "leaky_relu",
                               {"negative_slope": float(self.constant(op.operands[1], "leaky_relu negative_slope"))})


# torch op name -> lowering(importer, op) -> the hardcore value of the op's result
_LOWERINGS = {
    "torch.aten.linear": _FunctionImport.linear,
    "torch.aten.convolution": _FunctionImport.convolution,
    "torch.aten.batch_norm": _FunctionImport.batch_norm,
    "torch.aten.dropout": _FunctionImport.dropout,
    "torch.aten.relu": _FunctionImport.relu,
    "torch.aten.relu6": lambda importer, op: importer.clamp_between(op, 0.0, 6.0, "relu6"),
    "torch.aten.hardtanh": _FunctionImport.clamp,
    "torch.aten.clamp": _FunctionImport.clamp,
    "torch.aten.clamp_min": lambda importer, op: importer.clamp_between(
        op, importer.constant(op.operands[1], "clamp_min min"), None, "clamp_min"),
    "torch.aten.clamp_max": lambda importer, op: importer.clamp_between(
        op, None, importer.constant(op.operands[1], "clamp_max max"), "clamp_max"),
    "torch.aten.leaky_relu": _FunctionImport.leaky_relu,
    **{f"torch.aten.{fn}": (lambda importer, op, fn=fn: importer.activation(op, fn, {}))
       for fn in ("hardsigmoid", "hardswish", "sigmoid", "tanh")},
    **{f"torch.aten.max_pool{n}d": _FunctionImport.max_pool for n in (1, 2, 3)},
    **{f"torch.aten.avg_pool{n}d": _FunctionImport.avg_pool for n in (1, 2, 3)},
    "torch.runtime.assert": _FunctionImport.runtime_assert,
    "torch.aten.fake_quantize_per_tensor_affine": _FunctionImport.fake_quantize,
    "torch.aten.fake_quantize_per_channel_affine": _FunctionImport.fake_quantize,
    "torch.aten.add.Tensor": _FunctionImport.add_tensor,
    "torch.aten.cat": _FunctionImport.cat,
    "torch.aten.mean.dim": _FunctionImport.mean_dim,
    "torch.aten.permute": _FunctionImport.permute,
    "torch.aten.transpose.int": _FunctionImport.transpose,
    **{name: _FunctionImport.reshape for name in _SHAPE_OPS},
}
_SUPPORTED = _OPERAND_PRODUCERS | frozenset(_LOWERINGS) | {"func.return"}


@dataclasses.dataclass(frozen=True)
class ImportPass(ModulePass):
    name = "hardcore-import"
    output: str = "logits"  # "argmax": each result becomes the index of its largest element

    def validate(self) -> None:
        if self.output not in OUTPUTS:
            raise UsageError(f"{self.name}: unknown output '{self.output}' (one of: {', '.join(OUTPUTS)})")

    def run(self, module: ir.Operation) -> None:
        failed = False
        blobs: dict = {}  # read on first use: printing the module is the only way in
        for function in functions(module):
            if not self._import_function(module, function, blobs):
                failed = True
        if failed:
            raise PassFailed()

    def _import_function(self, module, function, blobs: dict) -> bool:
        ops = body_ops(function)
        unsupported = [op for op in ops if op.operation.name not in _SUPPORTED]
        for op in unsupported:
            self.error(op, f"hardcore-import: unsupported op '{op.operation.name}'")
        if unsupported:
            return False

        block = function.regions[0].blocks[0]
        arg_types = []
        for argument in block.arguments:
            shape = self._sample_shape(function, argument.type)
            if shape is None:
                return False
            arg_types.append(tensor_type(shape[0], ir.F32Type.get()))
        result_types = []
        for value_type in function.type.results:
            shape = self._sample_shape(function, value_type)
            if shape is None:
                return False
            result_types.append(tensor_type([1] if self.output == "argmax" else shape[0], ir.F32Type.get()))

        new = replace_function(function, function.name.value, arg_types, result_types)
        new_block = new.regions[0].blocks[0]
        importer = _FunctionImport(module, blobs)
        importer.argmax_output = self.output == "argmax"
        importer.values.update(zip(block.arguments, new_block.arguments))
        ok = True
        with ir.InsertionPoint(new_block):
            for op in ops:
                try:
                    self._lower(importer, op)
                except ValueError as exc:
                    self.error(op, f"hardcore-import: {exc}")
                    ok = False
                    break  # later ops may use what this one failed to produce
        if ok:
            importer.finish(new_block)
            function.operation.erase()
        else:
            new.operation.erase()
        return ok

    def _sample_shape(self, function, value_type):
        shape = _vtensor_shape(value_type)
        if shape is None or shape[1] not in _DTYPES:
            self.error(function, f"hardcore-import: expected a float tensor, got {value_type}")
            return None
        dims, dtype = shape
        if not dims or dims[0] != 1:
            self.error(function, f"hardcore-import: expected batch size 1 as the first dimension, "
                       f"got {value_type}")
            return None
        if any(d < 0 for d in dims):
            self.error(function, f"hardcore-import: dynamic shapes are not supported: {value_type}")
            return None
        return dims[1:], dtype

    @staticmethod
    def _lower(importer: _FunctionImport, op) -> None:
        name = op.operation.name
        if name == "torch.vtensor.literal":
            importer.literals[op.results[0]] = importer.literal(op)
        elif name == "func.return":
            results = [importer.values[v] for v in op.operands]
            if importer.argmax_output:
                results = [importer.argmax(v, op.location) for v in results]
            create_op("func.return", results, [], None, op.location)
        elif name not in _OPERAND_PRODUCERS:
            result = _LOWERINGS[name](importer, op)
            if len(op.results):  # torch.runtime.assert has none
                importer.values[op.results[0]] = result
