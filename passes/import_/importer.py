"""One function's import: torch values mapped to hardcore values, and the helpers every lowering uses.

The op-family modules (`dense`, `pool`, `activations`, `graph`, `arith`,
`sequence`, `fake_quant`, `constants`) each hold the lowerings of their torch
ops, functions `(importer, op) -> value` gathered in `hardcore.passes.import_`'s
one table; they read and build through a `FunctionImport`.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from torch_mlir import ir

from hardcore.irutil import create_op, dense_attr, tensor_type

__all__ = ["FunctionImport", "Layer", "WeightQuant", "vtensor_shape", "full_shape", "dims_text", "DTYPES",
           "TOKEN_DTYPES", "KIND", "WINDOW", "OUT_CHANNELS", "WEIGHT_FRAC_BITS", "WEIGHT_MIN", "WEIGHT_MAX"]

DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16}
# Integer inputs hold token ids, which only an embedding reads.
TOKEN_DTYPES = ("si64", "si32")
# Literals may be integers too (a fake quantizer's zero points), or booleans (masks).
_LITERAL_DTYPES = {**DTYPES, "si32": np.int32, "si64": np.int64, "i1": np.bool_}
_RESOURCE_NAME = re.compile(r"dense_resource<([^>]+)>")
KIND = "hardcore.kind"
# A 2-D pool's geometry, for hardcore-stream (stream=true): kernel, stride, padding, dilation, ceil_mode.
WINDOW = "hardcore.window"
# Ops whose results keep the model's C x H x W shape with stream=true (flat otherwise): an elementwise op
# after one reads it as it is.
_SHAPED_RESULTS = ("hardcore.conv", "hardcore.maxpool", "hardcore.avgpool", "hardcore.add_tensors", "hardcore.relu",
                   "hardcore.activation")
OUT_CHANNELS = "hardcore.out_channels"
# The weights' fake quantization (QAT): frac bits of each row, and the codes' range.
WEIGHT_FRAC_BITS, WEIGHT_MIN, WEIGHT_MAX = "hardcore.weight_frac_bits", "hardcore.weight_min", "hardcore.weight_max"


def vtensor_shape(value_type: ir.Type) -> tuple[list[int], str] | None:
    """`!torch.vtensor<[1,16],f32>` -> ([1, 16], "f32"); a dynamic dim (`?`) is -1."""
    match = re.fullmatch(r"!torch\.vtensor<\[([-\d,?]*)\],(\w+)>", str(value_type))
    if not match:
        return None
    dims = [-1 if d == "?" else int(d) for d in match.group(1).split(",") if d]
    return dims, match.group(2)


def full_shape(value) -> list[int]:
    """A torch value's shape, batch dimension included."""
    return vtensor_shape(value.type)[0]


def _resource_blobs(module: ir.Operation) -> dict[str, bytes]:
    """The module's dense_resource blobs; the Python API cannot read them directly."""
    text = module.get_asm(large_elements_limit=None)
    start = text.find("dialect_resources")
    blobs = {}
    if start >= 0:
        for name, hexdata in re.findall(r'([\w.\-]+):\s*"0x([0-9A-Fa-f]*)"', text[start:]):
            blobs[name] = bytes.fromhex(hexdata)[4:]  # the first 4 bytes are the alignment
    return blobs


def dims_text(values) -> str:
    return "x".join(str(v) for v in values)


@dataclasses.dataclass
class Layer:
    """A dense op this pass made, with its float weights, for folding a batch norm into it."""

    op: ir.Operation
    weight: np.ndarray
    bias: np.ndarray
    kind: str
    rows: int = 1  # a dense over rows (a Linear on a sequence) maps each of its rows alike


@dataclasses.dataclass(frozen=True)
class WeightQuant:
    """The fake quantization of a weight tensor: frac bits per output channel (axis 0), code range."""

    frac_bits: np.ndarray
    low: int
    high: int


class FunctionImport:
    """Lowers one function's ops in order, mapping torch values to hardcore values.

    Every mapped value has the model's shape (`model_shape`: batch dropped).  Dense
    layers work on flat vectors, or on rows of the last dimension: `flat` and
    `reshaped` look through the reshapes this pass made, and `finish` erases the
    ones nothing uses.

    The batch dimension is 1, so a tensor's elements are the sample's elements
    whatever its shape: an op that moves or merges the batch dimension (a
    Transformer layer transposes it away and back) is a permutation or a reshape
    of the sample like any other.  Ops whose meaning depends on dimensions read
    the full torch shapes (`full_shape`).
    """

    def __init__(self, module, blobs: dict):
        self.module = module
        self.blobs = blobs
        self.values: dict = {}    # torch value -> hardcore value
        self.literals: dict = {}  # torch value -> float64 array
        self.layers: dict = {}    # torch value (a dense layer's result) -> Layer
        self.weight_quant: dict = {}  # torch value (fake-quantized weights) -> WeightQuant
        self.argmax_output = False  # return the index of each result's largest element
        self.stream = False  # 2-D convolutions as hardcore.conv, 2-D pools with their hardcore.window
        # torch value -> the lowering of the op that makes it instead of the table's, for ops
        # that fold into a later one (a softmax's scale and causal mask: None, or a check of
        # the mask; the pieces of an RMSNorm written out) or take what folds into them.
        self.planned: dict = {}
        self.plans: dict = {}       # torch value (a softmax's result) -> what folds into it
        self.embeddings: dict = {}  # torch value (an embedding's result) -> (hardcore.embedding op, table)
        # torch value (a linear's input) -> (γ, β, name) of the norm before it, whose affine folds
        # into that linear's weights and bias (`sequence._normalized`)
        self.norm_affines: dict = {}

    # -- reading the torch IR -------------------------------------------------
    def literal(self, op) -> np.ndarray:
        attribute = op.attributes["value"]
        result_shape = vtensor_shape(op.results[0].type)
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
        if name == "torch.constant.str":
            return ir.StringAttr(owner.attributes["value"]).value
        if name == "torch.prim.ListConstruct":
            return [FunctionImport.constant(item, what) for item in owner.operands]
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
        return self._not_tokens(value, f"'{op.operation.name}'")

    def model_value(self, value, what: str):
        """The hardcore value of a model tensor (not a constant) operand."""
        mapped = self.values.get(value)
        if mapped is None:
            raise ValueError(f"{what} of a constant tensor is not supported (only of tensors the model computes)")
        return self._not_tokens(mapped, what)

    @staticmethod
    def _not_tokens(value, what: str):
        if isinstance(ir.RankedTensorType(value.type).element_type, ir.IntegerType):
            raise ValueError(f"{what} of token ids (an integer input) is not supported: only an embedding "
                             f"reads them")
        return value

    @staticmethod
    def model_shape(value) -> list[int]:
        """A torch value's shape without the batch dimension (its first, when that is 1)."""
        dims = full_shape(value)
        return dims[1:] if dims[:1] == [1] else dims

    @staticmethod
    def batch_first(value) -> bool:
        """Whether the torch value's first dimension is the batch's (of size 1, dropped in `model_shape`)."""
        return full_shape(value)[:1] == [1]

    @staticmethod
    def full_dims(dims, rank: int, what: str) -> list[int]:
        """torch dims (negative ones counted from the end) of a rank-`rank` tensor, as 0..rank-1."""
        for dim in dims:
            if not -rank <= dim < rank:
                raise ValueError(f"{what} dim {dim} is out of range for {rank} dimensions")
        return [dim % rank for dim in dims]

    def sample_dims(self, value, dims, what: str) -> list[int]:
        """torch dims of the torch `value` as dims of its `model_shape` (the batch's is an error)."""
        normalized = self.full_dims(dims, len(full_shape(value)), what)
        if not self.batch_first(value):
            return normalized
        if 0 in normalized:
            raise ValueError(f"{what} over the batch dimension is not supported")
        return [dim - 1 for dim in normalized]

    # -- building -------------------------------------------------------------
    @staticmethod
    def _reshape_source(value):
        owner = value.owner if isinstance(value, ir.OpResult) else None
        return owner.operands[0] if owner is not None and owner.name == "hardcore.reshape" else None

    def reshaped(self, value, shape: list[int], location):
        """`value` in `shape`: through the reshapes this pass made, then at most one new one."""
        while (inner := self._reshape_source(value)) is not None:
            value = inner
        value_type = ir.RankedTensorType(value.type)
        if list(value_type.shape) == list(shape):
            return value
        return create_op("hardcore.reshape", [value], [tensor_type(shape, value_type.element_type)], None,
                         location).results[0]

    def flat(self, value, location):
        return self.reshaped(value, [math.prod(ir.RankedTensorType(value.type).shape)], location)

    def gather(self, op, source, indices: np.ndarray, shape: list[int] | None = None):
        """A `hardcore.gather` of `indices` (into the flat source), in `shape` (by default the model
        shape of `op`'s result); a reshape when `indices` select every element in order."""
        shape = self.model_shape(op.results[0]) if shape is None else list(shape)
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        source_type = ir.RankedTensorType(source.type)
        if np.array_equal(indices, np.arange(math.prod(source_type.shape))):
            return source if list(source_type.shape) == shape else self.reshaped(source, shape, op.location)
        flat = self.flat(source, op.location)
        gather = create_op("hardcore.gather", [flat], [tensor_type([indices.size], source_type.element_type)],
                           {"indices": dense_attr(indices, ir.IntegerType.get_signless(64))}, op.location)
        return self.reshaped(gather.results[0], shape, op.location)

    def broadcast(self, op, value, from_shape: list[int], to_shape: list[int]):
        """`value` (of the full torch shape `from_shape`) broadcast to the full shape `to_shape` as
        torch does (a gather that repeats elements), in `to_shape` without its batch dimension."""
        try:
            indices = np.broadcast_to(np.arange(math.prod(from_shape)).reshape(from_shape), to_shape)
        except ValueError:
            raise ValueError(f"{op.operation.name.removeprefix('torch.aten.')} cannot broadcast {from_shape} "
                             f"to {to_shape}") from None
        target = to_shape[1:] if to_shape[:1] == [1] else list(to_shape)
        if math.prod(from_shape) == math.prod(to_shape):
            return self.reshaped(value, target, op.location)
        flat = self.flat(value, op.location)
        gather = create_op("hardcore.gather", [flat], [tensor_type([indices.size], ir.F32Type.get())],
                           {"indices": dense_attr(indices.reshape(-1), ir.IntegerType.get_signless(64))},
                           op.location)
        return self.reshaped(gather.results[0], target, op.location)

    def dense_rows(self, op, source, weight: np.ndarray, bias: np.ndarray, kind: str,
                   weight_quant: WeightQuant | None = None):
        """y[r] = W·x[r] + b for each row r of the last dimension (`dense` when there is one row),
        in the shape of `op`'s result: a Linear on a sequence, weights N×K, rows of K."""
        columns = weight.shape[1]
        rows = math.prod(ir.RankedTensorType(source.type).shape) // columns
        if rows == 1:
            return self.dense(op, source, weight, bias, kind, weight_quant=weight_quant)
        location = op.location
        attributes = {"weight": dense_attr(weight, ir.F32Type.get()), "bias": dense_attr(bias, ir.F32Type.get()),
                      KIND: ir.StringAttr.get(f"{kind}, {rows} rows")}
        if weight_quant is not None:
            i64 = ir.IntegerType.get_signless(64)
            attributes[WEIGHT_FRAC_BITS] = dense_attr(np.broadcast_to(weight_quant.frac_bits, (weight.shape[0],)), i64)
            attributes[WEIGHT_MIN] = ir.IntegerAttr.get(i64, weight_quant.low)
            attributes[WEIGHT_MAX] = ir.IntegerAttr.get(i64, weight_quant.high)
        operand = self.reshaped(source, [rows, columns], location)
        layer = create_op("hardcore.dense", [operand], [tensor_type([rows, weight.shape[0]], ir.F32Type.get())],
                          attributes, location)
        self.layers[op.results[0]] = Layer(layer, weight, bias, kind, rows)
        return self.reshaped(layer.results[0], self.model_shape(op.results[0]), location)

    def row_affine(self, op, source, scale: np.ndarray, bias: np.ndarray, kind: str):
        """y[r] = scale · x[r] + bias elementwise on each row r of the last dimension: a diagonal
        dense over rows."""
        return self.dense_rows(op, source, np.diag(scale), bias, f"{kind} (diagonal {scale.size}x{scale.size})")

    def dense(self, op, source, weight: np.ndarray, bias: np.ndarray, kind: str, channels: int | None = None,
              weight_quant: WeightQuant | None = None):
        """y = W·flat(x) + b, in the shape of `op`'s result; remembered for batch-norm folding.

        `channels`: the output channels when each is a block of rows (a convolution's),
        for per-channel weight scales (`hardcore.out_channels`).  `weight_quant`: the
        weights' fake quantization (one frac bits per channel), which sets the codes.
        """
        location = op.location
        flat = self.flat(source, location)
        attributes = {"weight": dense_attr(weight, ir.F32Type.get()), "bias": dense_attr(bias, ir.F32Type.get()),
                      KIND: ir.StringAttr.get(kind)}
        i64 = ir.IntegerType.get_signless(64)
        if channels is not None and channels != weight.shape[0]:
            attributes[OUT_CHANNELS] = ir.IntegerAttr.get(i64, channels)
        if weight_quant is not None:
            rows = np.repeat(np.broadcast_to(weight_quant.frac_bits, (channels or weight.shape[0],)),
                             weight.shape[0] // (channels or weight.shape[0]))
            attributes[WEIGHT_FRAC_BITS] = dense_attr(rows, i64)
            attributes[WEIGHT_MIN] = ir.IntegerAttr.get(i64, weight_quant.low)
            attributes[WEIGHT_MAX] = ir.IntegerAttr.get(i64, weight_quant.high)
        layer = create_op("hardcore.dense", [flat], [tensor_type([weight.shape[0]], ir.F32Type.get())],
                          attributes, location)
        self.layers[op.results[0]] = Layer(layer, weight, bias, kind)
        return self.reshaped(layer.results[0], self.model_shape(op.results[0]), location)

    def conv(self, op, source, weight: np.ndarray, bias: np.ndarray, kind: str, stride, padding, dilation,
             groups: int, weight_quant: WeightQuant | None = None):
        """A `hardcore.conv` (C x H x W -> O x Ho x Wo); remembered for batch-norm folding.

        `weight_quant`: the weights' fake quantization, one frac bits per output channel.
        """
        location = op.location
        operand = self.reshaped(source, self.model_shape(op.operands[0]), location)
        i64 = ir.IntegerType.get_signless(64)
        attributes = {"weight": dense_attr(weight, ir.F32Type.get()), "bias": dense_attr(bias, ir.F32Type.get()),
                      **{name: dense_attr(np.array(values, dtype=np.int64), i64)
                         for name, values in (("stride", stride), ("padding", padding), ("dilation", dilation))},
                      "groups": ir.IntegerAttr.get(i64, groups), KIND: ir.StringAttr.get(kind)}
        if weight_quant is not None:
            attributes[WEIGHT_FRAC_BITS] = dense_attr(np.broadcast_to(weight_quant.frac_bits, (weight.shape[0],)), i64)
            attributes[WEIGHT_MIN] = ir.IntegerAttr.get(i64, weight_quant.low)
            attributes[WEIGHT_MAX] = ir.IntegerAttr.get(i64, weight_quant.high)
        layer = create_op("hardcore.conv", [operand], [tensor_type(self.model_shape(op.results[0]), ir.F32Type.get())],
                          attributes, location)
        self.layers[op.results[0]] = Layer(layer, weight, bias, kind)
        return layer.results[0]

    def elementwise_operand(self, value, location):
        """What an elementwise op (relu, activation) reads: the result of a conv, a pool or another
        elementwise op as it is (with stream=true C x H x W, so that hardcore-quantize finds the activations
        right after the layer), anything else flattened."""
        owner = value.owner if isinstance(value, ir.OpResult) else None
        return value if owner is not None and owner.name in _SHAPED_RESULTS else self.flat(value, location)

    def activation(self, op, fn: str, params: dict[str, float]):
        """A `hardcore.activation` on the flat source, then the model's shape (like relu)."""
        flat = self.elementwise_operand(self.source(op), op.location)
        attributes = {"fn": ir.StringAttr.get(fn),
                      "params": ir.DictAttr.get({name: ir.FloatAttr.get_f64(value) for name, value in params.items()})}
        result = create_op("hardcore.activation", [flat], [flat.type], attributes, op.location)
        return self.reshaped(result.results[0], self.model_shape(op.results[0]), op.location)

    def argmax(self, value, location):
        """The index of `value`'s first largest element (row-major), as a tensor<1xf32>."""
        flat = self.flat(value, location)
        size = ir.RankedTensorType(flat.type).shape[0]
        if size < 2:
            raise ValueError(f"output=argmax needs a result of at least 2 elements, got {size}")
        return create_op("hardcore.argmax", [flat], [tensor_type([1], ir.F32Type.get())],
                         {KIND: ir.StringAttr.get(f"argmax of {size}")}, location).results[0]

    def finish(self, block) -> None:
        """Erase the ops without users (last first: chains): the reshapes that looking through
        left, and what the model computes but does not return (nn.MultiheadAttention's
        averaged attention weights)."""
        for op in reversed(list(block.operations)):
            if op.operation.name != "func.return" and not any(list(result.uses) for result in op.results):
                op.operation.erase()
