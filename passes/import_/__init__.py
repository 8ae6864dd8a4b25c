"""hardcore-import: torch dialect (torch-mlir's FX importer output) to hardcore layer ops.

Takes the value-semantics torch dialect that `torch_mlir.fx.export_and_import`
produces with `aten.linear` and `aten.batch_norm` kept legal, because it keeps
one op per layer and carries the weights as literals (linalg-on-tensors would
have to be pattern-matched back into layers).  The batch dimension, which must
be 1, is dropped: hardcore functions describe one sample.  An integer input
(int64 token ids) becomes a `tensor<...xi64>` argument that only embeddings read.

Lowered, one function per op (`_LOWERINGS`, the one table; each op family's
lowerings in a module of this package: `dense`, `pool`, `activations`, `graph`,
`shape`, `minmax`, `arith`, `sequence`, `fake_quant`, with the shared state and
helpers in `importer`).  An op whose tensor operands are all constants is folded into a
constant first (`constants.FOLDS`: masks, position ids, sliced parameters), and
`sequence.plan` finds the ops that fold into a later one (a softmax's scale and
causal mask, an RMSNorm written out):
- aten.linear (with or without bias): a `hardcore.dense`; on a sequence (an
  input [..., K] of several rows) a dense over rows, the same weights on each.
- aten.convolution (not transposed; any stride, padding, dilation and groups;
  1-D, 2-D or more spatial dimensions): one `hardcore.dense` over the
  flattened input whose weight is the unrolled (Toeplitz) matrix, one row per
  output element and one column per input element, zero where the kernel does
  not reach.  `hardcore.reshape`s around it keep the model's shapes.
  With `stream=true` a 2-D convolution is a `hardcore.conv` instead (its kernel,
  C x H x W -> O x Ho x Wo; for hardcore-stream, which reuses the kernel at every
  pixel), and another one is an error; a ReLU or activation after it reads its
  result as it is.
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
  With `stream=true` a 2-D max or average pool (and a mean over H and W of
  C x H x W, a global average pool) also carries its geometry as a discardable
  `hardcore.window` (kernel, stride, padding, dilation: dense<[h, w]>;
  ceil_mode: 0 or 1).
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
  aten.hardswish, aten.sigmoid and aten.tanh the function of that name;
  aten.elu (alpha, scale, input_scale), aten.threshold (threshold, value) and
  aten.softplus (beta, threshold) the function of that name with the op's
  parameters.  aten.prelu: a "leaky_relu" of its one slope; slopes per channel
  (dim 1) a "leaky_relu" per distinct slope on a gather of its channels'
  elements, the groups concatenated and gathered back into order.
  Like ReLU, they come before the reshapes this pass makes.
- aten.add.Tensor of two tensors the model computes, of one shape, alpha 1
  (a residual add): a `hardcore.add_tensors` (a "layer" of its own, kind
  "residual add ...").  Broadcasting or another alpha is an error.
- arithmetic with constants (`arith`): add/sub/mul/div.Tensor by a constant that
  is the same in every row of the last dimension, and the `Scalar` forms
  (x * c, x / c, x + c, x - c, c - x): a diagonal `hardcore.dense` over rows.
  A constant added to an embedding (a learned position embedding) folds into
  its table instead.  mul.Tensor and sub.Tensor of two tensors the model
  computes: `hardcore.mul_tensors` / `hardcore.sub_tensors`, broadcast by
  gathers.
- sequence models (`sequence`): aten.embedding of the integer input (a
  `hardcore.embedding`), aten.matmul/bmm/mm of two tensors the model computes
  (a `hardcore.matmul`; x @ W with a constant W is a dense over rows),
  aten.softmax.int/_softmax over the last dim (a `hardcore.softmax`),
  aten.scaled_dot_product_attention (a gather for kᵀ, two matmuls and a
  softmax), aten.layer_norm and aten.rms_norm over the last dim (a
  `hardcore.layernorm`, then γ and β as a diagonal dense over rows, or folded
  into the weights and bias of the linear that is the norm's only user, through
  selections of rows); aten.gelu
  and aten.silu are activations "gelu", "gelu_tanh" and "silu".
- aten.cat along a dimension other than the batch's: `hardcore.concat`s
  (binary: a cat of n tensors is a chain of n - 1).
- element maps (`shape`): aten.flip and aten.__interpolate with mode "nearest"
  (nn.Upsample): a `hardcore.gather`; aten.constant_pad_nd: a gather of the
  operand joined to a one-element constant (a `hardcore.dense` of zero weights,
  its bias the value) for the padded positions.  Bilinear upsampling
  (aten.upsample_bilinear2d.vec, __interpolate with mode "bilinear"): a
  `hardcore.dense` whose weights are the interpolation.
- aten.maximum and aten.minimum of two tensors the model computes (`minmax`),
  broadcast by gathers: their concat and a `hardcore.maxpool` /
  `hardcore.minpool` of the pairs [i, N + i].
- aten.mean.dim (keepdim or not; frontend keeps it legal): a
  `hardcore.avgpool` with one window per output element, the elements it
  averages, and their count as the divisor; aten.sum.dim_IntList the same
  windows with divisor 1.
- aten.permute, aten.transpose.int, aten.slice.Tensor, aten.select.int and
  aten.expand, on any dims (the batch's has size 1, so moving it moves no
  element): a `hardcore.gather` with the constant index map (nothing when no
  element moves).
- the shape-only ops (`graph.RESHAPES`: view, reshape, flatten, unflatten,
  unsqueeze, squeeze, contiguous, clone, ...): a `hardcore.reshape`, or nothing
  when the shape is already right.

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
unsupported op is reported, not just the first.  Ops whose results nothing
uses are not kept.
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from hardcore.errors import UsageError
from hardcore.irutil import body_ops, create_op, functions, replace_function, tensor_type
from hardcore.pass_base import ModulePass, PassFailed
from hardcore.passes.import_ import activations, arith, constants, dense, fake_quant, graph, minmax, pool, sequence, shape
from hardcore.passes.import_.dense import unrolled_convolution
from hardcore.passes.import_.importer import DTYPES, TOKEN_DTYPES, FunctionImport, vtensor_shape
from hardcore.passes.import_.pool import pooling_windows

__all__ = ["ImportPass", "unrolled_convolution", "pooling_windows", "OUTPUTS"]

# What the function returns: the model's output, or the index of its largest element.
OUTPUTS = ("logits", "argmax")

# Ops that only produce operands (constants, lists) for the lowered ops.
_OPERAND_PRODUCERS = frozenset({
    "torch.constant.int", "torch.constant.none", "torch.constant.bool",
    "torch.constant.float", "torch.constant.str", "torch.constant.device",
    "torch.prim.ListConstruct", "torch.vtensor.literal",
})


_LOWERINGS = {
    "torch.aten.linear": dense.lower_linear,
    "torch.aten.convolution": dense.lower_convolution,
    "torch.aten.batch_norm": dense.lower_batch_norm,
    "torch.aten.dropout": graph.lower_dropout,
    "torch.aten.relu": activations.lower_relu,
    "torch.aten.relu6": lambda importer, op: activations.clamp_between(importer, op, 0.0, 6.0, "relu6"),
    "torch.aten.hardtanh": activations.lower_clamp,
    "torch.aten.clamp": activations.lower_clamp,
    "torch.aten.clamp_min": lambda importer, op: activations.clamp_between(
        importer, op, importer.constant(op.operands[1], "clamp_min min"), None, "clamp_min"),
    "torch.aten.clamp_max": lambda importer, op: activations.clamp_between(
        importer, op, None, importer.constant(op.operands[1], "clamp_max max"), "clamp_max"),
    "torch.aten.leaky_relu": activations.lower_leaky_relu,
    **{f"torch.aten.{fn}": (lambda importer, op, fn=fn: importer.activation(op, fn, {}))
       for fn in ("hardsigmoid", "hardswish", "sigmoid", "tanh", "silu")},
    "torch.aten.gelu": activations.lower_gelu,
    "torch.aten.elu": activations.lower_with_params("elu", "alpha", "scale", "input_scale"),
    "torch.aten.threshold": activations.lower_with_params("threshold", "threshold", "value"),
    "torch.aten.softplus": activations.lower_with_params("softplus", "beta", "threshold"),
    "torch.aten.prelu": activations.lower_prelu,
    **{f"torch.aten.max_pool{n}d": pool.lower_max_pool for n in (1, 2, 3)},
    **{f"torch.aten.avg_pool{n}d": pool.lower_avg_pool for n in (1, 2, 3)},
    "torch.runtime.assert": graph.lower_runtime_assert,
    "torch.aten.fake_quantize_per_tensor_affine": fake_quant.lower_fake_quantize,
    "torch.aten.fake_quantize_per_channel_affine": fake_quant.lower_fake_quantize,
    "torch.aten.add.Tensor": arith.lower_add_tensor,
    "torch.aten.sub.Tensor": arith.lower_sub_tensor,
    "torch.aten.mul.Tensor": arith.lower_mul_tensor,
    "torch.aten.div.Tensor": arith.lower_div_tensor,
    **{f"torch.aten.{name}.Scalar": arith.lower_scalar_op for name in ("mul", "div", "add", "sub", "rsub")},
    "torch.aten.neg": arith.lower_neg,
    "torch.aten.maximum": minmax.lower_maximum,
    "torch.aten.minimum": minmax.lower_minimum,
    "torch.aten.cat": graph.lower_cat,
    "torch.aten.flip": shape.lower_flip,
    "torch.aten.__interpolate.size_list_scale_list": shape.lower_interpolate,
    "torch.aten.upsample_bilinear2d.vec": shape.lower_upsample_bilinear,
    "torch.aten.constant_pad_nd": shape.lower_constant_pad,
    "torch.aten.mean.dim": graph.lower_mean_dim,
    "torch.aten.sum.dim_IntList": graph.lower_mean_dim,
    **{name: graph.lower_picked for name in graph.PICKS},
    **{name: graph.lower_reshape for name in graph.RESHAPES},
    "torch.aten.embedding": sequence.lower_embedding,
    **{f"torch.aten.{name}": sequence.lower_matmul for name in ("matmul", "bmm", "mm")},
    "torch.aten.softmax.int": sequence.lower_softmax,
    "torch.aten._softmax": sequence.lower_softmax,
    "torch.aten.scaled_dot_product_attention": sequence.lower_scaled_dot_product_attention,
    "torch.aten.layer_norm": sequence.lower_layer_norm,
    "torch.aten.rms_norm": sequence.lower_rms_norm,
}
_SUPPORTED = _OPERAND_PRODUCERS | frozenset(_LOWERINGS) | frozenset(constants.FOLDS) | {"func.return"}


@dataclasses.dataclass(frozen=True)
class ImportPass(ModulePass):
    name = "hardcore-import"
    output: str = "logits"  # "argmax": each result becomes the index of its largest element
    # 2-D convolutions as `hardcore.conv` (not unrolled), 2-D pools with their `hardcore.window`,
    # for hardcore-stream
    stream: bool = False

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
        # A dynamic shape first: the ops that compute sizes would be reported as unsupported.
        for value_type in list(function.type.inputs) + list(function.type.results):
            shape = vtensor_shape(value_type)
            if shape is not None and any(d < 0 for d in shape[0]):
                self.error(function, f"hardcore-import: dynamic shapes are not supported: {value_type}")
                return False
        unsupported = [op for op in ops if op.operation.name not in _SUPPORTED]
        for op in unsupported:
            self.error(op, f"hardcore-import: unsupported op '{op.operation.name}'")
        if unsupported:
            return False

        block = function.regions[0].blocks[0]
        arg_types = []
        for argument in block.arguments:
            shape = self._sample_shape(function, argument.type, tokens=True)
            if shape is None:
                return False
            element = ir.IntegerType.get_signless(64) if shape[1] in TOKEN_DTYPES else ir.F32Type.get()
            arg_types.append(tensor_type(shape[0], element))
        result_types = []
        for value_type in function.type.results:
            shape = self._sample_shape(function, value_type)
            if shape is None:
                return False
            result_types.append(tensor_type([1] if self.output == "argmax" else shape[0], ir.F32Type.get()))

        new = replace_function(function, function.name.value, arg_types, result_types)
        new_block = new.regions[0].blocks[0]
        importer = FunctionImport(module, blobs)
        importer.argmax_output = self.output == "argmax"
        importer.stream = self.stream
        importer.values.update(zip(block.arguments, new_block.arguments))
        sequence.plan(importer, ops, constants.FOLDS)
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

    def _sample_shape(self, function, value_type, tokens: bool = False):
        """(shape without the batch, dtype) of an argument's or result's type; None after an error.
        `tokens`: an integer tensor (token ids) is accepted too."""
        shape = vtensor_shape(value_type)
        if shape is None or shape[1] not in DTYPES and not (tokens and shape[1] in TOKEN_DTYPES):
            self.error(function, f"hardcore-import: expected a float tensor, got {value_type}")
            return None
        dims, dtype = shape
        if not dims or dims[0] != 1:
            self.error(function, f"hardcore-import: expected batch size 1 as the first dimension, "
                       f"got {value_type}")
            return None
        return dims[1:], dtype

    @staticmethod
    def _lower(importer: FunctionImport, op) -> None:
        name = op.operation.name
        if name == "torch.vtensor.literal":
            importer.literals[op.results[0]] = importer.literal(op)
        elif name == "func.return":
            results = [importer.model_value(v, "returning the result") for v in op.operands]
            if importer.argmax_output:
                results = [importer.argmax(v, op.location) for v in results]
            create_op("func.return", results, [], None, op.location)
        elif op.results and op.results[0] in importer.planned:  # folded into a later op
            lowering = importer.planned[op.results[0]]
            result = lowering(importer, op) if lowering is not None else None
            if result is not None:
                importer.values[op.results[0]] = result
        elif name in constants.FOLDS and constants.foldable(importer, op):
            importer.literals[op.results[0]] = constants.fold(importer, op)
        elif name in _LOWERINGS:
            result = _LOWERINGS[name](importer, op)
            if len(op.results):  # torch.runtime.assert has none
                importer.values[op.results[0]] = result
        elif name in constants.FOLDS:
            raise ValueError(constants.not_foldable(op))
