"""hardcore-import's sequence-model ops: token embeddings, attention (matmul, softmax,
scaled_dot_product_attention) and normalization (LayerNorm, RMSNorm), to the float ops of
docs/dialect.md's "Sequence models".

Some ops fold into a later one (`plan`, run before the function's ops are lowered): a
softmax takes the scale of a `mul.Scalar`/`div.Scalar` of its scores (or of an operand of
the product that makes them, `(q * c) @ kᵀ`) and a constant causal mask (`masked_fill`,
`where.self` with -inf, or an added mask of 0 and -inf) into its `scale` and `causal`
attributes; an RMSNorm written out, `x * rsqrt(mean(x^2, -1, keepdim=True) +
eps)`, becomes one `hardcore.layernorm`.  Each folded op still checks its operands when
its turn comes (a mask that is not causal is an error at the mask).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from torch_mlir import ir

from hardcore.interpreter import causal_mask
from hardcore.irutil import create_op, dense_attr, tensor_type
from hardcore.passes.import_.importer import KIND, FunctionImport, dims_text, full_shape, vtensor_shape

__all__ = ["plan", "lower_embedding", "fold_into_embedding", "lower_matmul", "lower_softmax",
           "lower_scaled_dot_product_attention", "lower_layer_norm", "lower_rms_norm"]

_SOFTMAXES = ("torch.aten.softmax.int", "torch.aten._softmax")
# Masks of softmax scores (`_mask_scores` finds which operand holds the scores).
_MASKS = ("torch.aten.where.self", "torch.aten.masked_fill.Scalar", "torch.aten.masked_fill.Tensor",
          "torch.aten.add.Tensor")
_FLOAT32 = 6  # torch's ScalarType of float32, as a softmax's dtype
_PRODUCTS = ("torch.aten.matmul", "torch.aten.bmm", "torch.aten.mm")
_SCALES = {"torch.aten.mul.Scalar": lambda factor: factor, "torch.aten.div.Scalar": lambda factor: 1.0 / factor}


def _what(op) -> str:
    return op.operation.name.removeprefix("torch.aten.")


def _owner(value):
    return value.owner if isinstance(value, ir.OpResult) else None


def _single_use(value) -> bool:
    return len(list(value.uses)) == 1


def _number(value):
    """A torch number constant's value, or None."""
    try:
        number = FunctionImport.constant(value, "")
    except ValueError:
        return None
    return float(number) if isinstance(number, (int, float)) and not isinstance(number, bool) else None


def _is_constant(value, folds) -> bool:
    """Whether the torch `value` is computed from literals only, by ops in `folds` (so the import
    folds it into a literal)."""
    owner = _owner(value)
    if owner is None:
        return False
    if owner.name == "torch.vtensor.literal":
        return True
    if owner.name not in folds:
        return False
    return all(_is_constant(operand, folds) for operand in owner.operands if vtensor_shape(operand.type))


# -- planning: what folds into a softmax, and RMSNorms written out ----------------
@dataclasses.dataclass
class _Softmax:
    """What folds into one softmax: its scores before the scale and mask, the scale, the mask."""

    scores: object
    scale: float = 1.0
    causal: bool = False


def plan(importer, ops, folds) -> None:
    """Find the ops that fold into a later one (`importer.planned`, `importer.plans`).

    `folds`: the ops the import folds on constants (a mask must be computed by them).
    """
    for op in ops:
        if op.operation.name in _SOFTMAXES:
            _plan_softmax(importer, op, folds)
        elif op.operation.name in ("torch.aten.rsqrt", "torch.aten.sqrt"):
            _plan_rms_norm(importer, op)


def _plan_softmax(importer, op, folds) -> None:
    softmax = _Softmax(op.operands[0])
    masked = False
    while (owner := _owner(softmax.scores)) is not None and _single_use(softmax.scores):
        name = owner.name
        if name in _SCALES:
            factor = _number(owner.operands[1])
            if factor is None or not math.isfinite(factor) or factor <= 0:
                break
            softmax.scale *= _SCALES[name](factor)
            importer.planned[owner.results[0]] = None
        elif name in _MASKS and not masked:
            scores = _mask_scores(importer, owner, folds)
            if scores is None or full_shape(owner.operands[scores]) != full_shape(owner.results[0]):
                break
            importer.planned[owner.results[0]] = (
                lambda importer, mask_op, softmax=softmax, scores=scores: _check_mask(importer, mask_op, softmax,
                                                                                      scores))
            masked = True
        else:
            break
        softmax.scores = owner.operands[0] if name in _SCALES else owner.operands[scores]
    importer.plans[op.results[0]] = softmax
    _plan_scaled_operands(importer, softmax)


def _plan_scaled_operands(importer, softmax: _Softmax) -> None:
    """Scores that are `(q * c) @ kᵀ` (nn.MultiheadAttention with need_weights scales q): the
    positive factor c folds into the softmax's scale, and the product reads q."""
    product = _owner(softmax.scores)
    if product is None or product.name not in _PRODUCTS or not _single_use(softmax.scores):
        return
    operands = list(product.operands[:2])
    for index, operand in enumerate(operands):
        owner = _owner(operand)
        factor = _number(owner.operands[1]) if owner is not None and owner.name in _SCALES else None
        if factor is None or not math.isfinite(factor) or factor <= 0 or not _single_use(operand):
            continue
        softmax.scale *= _SCALES[owner.name](factor)
        importer.planned[operand] = None
        operands[index] = owner.operands[0]
    if operands != list(product.operands[:2]):
        importer.planned[product.results[0]] = lambda importer, op, operands=operands: _lower_matmul(importer, op,
                                                                                                    *operands)


def _is_minus_infinity(importer, value) -> bool:
    owner = _owner(value)
    if owner is not None and owner.name == "torch.vtensor.literal":
        return bool(np.all(importer.literal(owner) == -np.inf))
    return _number(value) == -np.inf


def _mask_scores(importer, op, folds) -> int | None:
    """Which operand of a mask op holds the scores (the rest a constant mask), or None."""
    name = op.name
    operands = list(op.operands)
    if name == "torch.aten.where.self":  # where(cond, a, b): -inf on one side, the scores on the other
        if not _is_constant(operands[0], folds):
            return None
        for fill, scores in ((1, 2), (2, 1)):
            if _is_minus_infinity(importer, operands[fill]) and not _is_constant(operands[scores], folds):
                return scores
        return None
    if name.startswith("torch.aten.masked_fill"):  # masked_fill(x, mask, -inf)
        ok = _is_constant(operands[1], folds) and _is_minus_infinity(importer, operands[2])
        return 0 if ok else None
    # add.Tensor(x, mask, alpha 1), either side
    if _number(operands[2]) != 1:
        return None
    constant = [_is_constant(value, folds) for value in operands[:2]]
    return constant.index(False) if constant.count(True) == 1 else None


def _check_mask(importer, op, softmax: _Softmax, scores: int) -> None:
    """At the mask op: its constant mask must be the causal pattern of the scores' last two dims
    (or mask nothing); it then makes the softmax causal."""
    shape = full_shape(op.results[0])
    operands = list(op.operands)
    what = _what(op)
    name = op.operation.name
    if name == "torch.aten.add.Tensor":
        mask = importer.literals[operands[1 - scores]]
        if not np.all((mask == 0) | (mask == -np.inf)):
            raise ValueError(f"add.Tensor of softmax scores and a constant other than a mask of 0 and -inf "
                             f"is not supported")
        masked = mask == -np.inf
    elif name == "torch.aten.where.self":
        condition = importer.literals[operands[0]] != 0
        masked = condition if scores == 2 else ~condition
    else:
        masked = importer.literals[operands[1]] != 0
    softmax.causal = _causal(np.broadcast_to(masked, shape), what)


def _causal(masked: np.ndarray, what: str) -> bool:
    """Whether the mask (True: set to -inf) of scores [..., M, N] is the causal one (query i keeps the
    keys j <= i + N - M); False when it masks nothing; ValueError for any other mask."""
    if not masked.any():
        return False
    keep = causal_mask(masked.shape)
    if np.array_equal(~masked, keep):
        return True
    index = tuple(int(i) for i in np.argwhere(masked == keep)[0])
    raise ValueError(f"{what}: only a causal mask of softmax scores is supported (query i keeps the keys "
                     f"j <= i + N - M); this one {'masks' if masked[index] else 'keeps'} key {index[-1]} of "
                     f"query {index[-2] if len(index) > 1 else 0}")


def _plan_rms_norm(importer, op) -> None:
    """x * rsqrt(mean(x^2, -1, keepdim=True) + eps), or x / sqrt(...): the product (quotient) is an
    RMSNorm, and the ops that compute the divisor fold into it."""
    root = op.results[0]
    add = _owner(op.operands[0])
    mean = _owner(add.operands[0]) if add is not None and add.name == "torch.aten.add.Scalar" else None
    square = _owner(mean.operands[0]) if mean is not None and mean.name == "torch.aten.mean.dim" else None
    if square is None or not _single_use(root):
        return
    x = square.operands[0]
    is_square = ((square.name == "torch.aten.pow.Tensor_Scalar" and _number(square.operands[1]) == 2)
                 or (square.name == "torch.aten.mul.Tensor" and square.operands[1] == x))
    user = next(iter(root.uses)).owner
    quotient = op.name == "torch.aten.sqrt"
    expected = "torch.aten.div.Tensor" if quotient else "torch.aten.mul.Tensor"
    operands = list(user.operands)
    if not (is_square and user.name == expected and all(_single_use(v) for v in (add.results[0], mean.results[0],
                                                                                  square.results[0]))
            and (operands == [x, root] or (not quotient and operands == [root, x]))):
        return
    rank = len(full_shape(x))
    try:
        dims = FunctionImport.full_dims(FunctionImport.constant(mean.operands[1], ""), rank, "mean")
        keepdim = FunctionImport.constant(mean.operands[2], "")
    except ValueError:
        return
    eps = _number(add.operands[1])
    alpha = _number(add.operands[2])
    if dims != [rank - 1] or keepdim is not True or eps is None or alpha is None:
        return
    for piece in (square, mean, add, op):
        importer.planned[piece.results[0]] = None
    importer.planned[user.results[0]] = (
        lambda importer, product, x=x, eps=eps * alpha: _normalized(
            importer, product, importer.model_value(x, "rms norm"), eps, True, None, None))


# -- embeddings -----------------------------------------------------------------
def lower_embedding(importer, op):
    # aten.embedding(weight, indices, padding_idx, scale_grad_by_freq, sparse): weight[indices]
    table = importer.tensor(op.operands[0], "embedding weight")
    if table.ndim != 2:
        raise ValueError(f"embedding weight of shape {list(table.shape)} is not a table (V x D)")
    ids = importer.values.get(op.operands[1])
    if ids is None or not isinstance(ir.RankedTensorType(ids.type).element_type, ir.IntegerType):
        raise ValueError("embedding of token ids the model computes is not supported (only of the model's "
                         "integer input, or of constants)")
    tokens = math.prod(importer.model_shape(op.operands[1]))
    vocabulary, width = table.shape
    embedding = create_op("hardcore.embedding", [importer.flat(ids, op.location)],
                          [tensor_type([tokens, width], ir.F32Type.get())],
                          {"table": dense_attr(table[None], ir.F32Type.get()),
                           KIND: ir.StringAttr.get(f"embedding {vocabulary}x{width}, {tokens} tokens")}, op.location)
    importer.embeddings[op.results[0]] = (embedding, table[None])
    return importer.reshaped(embedding.results[0], importer.model_shape(op.results[0]), op.location)


def fold_into_embedding(importer, op, x, constant: np.ndarray):
    """x + constant, x an embedding's result and this add its only user: the constant (a learned
    position embedding, `pos[:T]`) folded into the table, one table per position when the
    constant differs between positions.  None when it does not apply."""
    found = importer.embeddings.get(x)
    shape = full_shape(op.results[0])
    if found is None or not _single_use(x) or full_shape(x) != shape:
        return None
    embedding, table = found
    tokens, width = ir.RankedTensorType(embedding.results[0].type).shape
    try:
        rows = np.broadcast_to(constant, shape).reshape(tokens, width)
    except ValueError:
        return None
    rows = rows[:1] if np.all(rows == rows[:1]) else rows
    if not np.all(np.isfinite(rows)):
        return None
    table = table + rows[:, None, :]  # (P, V, D): P = 1, or one table per position
    embedding.attributes["table"] = dense_attr(table, ir.F32Type.get())
    kind = ir.StringAttr(embedding.attributes[KIND]).value
    embedding.attributes[KIND] = ir.StringAttr.get(kind + (" + positions" if len(rows) > 1 else " + a constant"))
    importer.embeddings[op.results[0]] = (embedding, table)
    return importer.values[x]


# -- attention ------------------------------------------------------------------
def _matmul(importer, op, lhs, lhs_shape: list[int], rhs, rhs_shape: list[int]):
    """`hardcore.matmul` of two model values, of the full shapes [..., M, K] and [..., K, N] (leading
    dims broadcast like torch, by gathers); returns the value ([L, M, N], or [M, N] when L = 1)
    and its full shape."""
    (rows, depth), (depth_rhs, columns) = lhs_shape[-2:], rhs_shape[-2:]
    if depth != depth_rhs:
        raise ValueError(f"{_what(op)} of {lhs_shape} and {rhs_shape}: inner dimensions differ")
    try:
        lead = list(np.broadcast_shapes(tuple(lhs_shape[:-2]), tuple(rhs_shape[:-2])))
    except ValueError:
        raise ValueError(f"{_what(op)} cannot broadcast {lhs_shape} and {rhs_shape}") from None
    batch = [math.prod(lead)] if math.prod(lead) > 1 else []
    lhs = importer.reshaped(importer.broadcast(op, lhs, lhs_shape, lead + [rows, depth]), batch + [rows, depth],
                            op.location)
    rhs = importer.reshaped(importer.broadcast(op, rhs, rhs_shape, lead + [depth, columns]),
                            batch + [depth, columns], op.location)
    kind = f"matmul {dims_text(batch + [rows, depth])} @ {dims_text(batch + [depth, columns])}"
    product = create_op("hardcore.matmul", [lhs, rhs], [tensor_type(batch + [rows, columns], ir.F32Type.get())],
                        {KIND: ir.StringAttr.get(kind)}, op.location)
    return product.results[0], lead + [rows, columns]


def lower_matmul(importer, op):
    # aten.matmul / aten.bmm / aten.mm (a, b): a product of two activations (Q·Kᵀ, A·V), or x @ W
    return _lower_matmul(importer, op, *op.operands[:2])


def _lower_matmul(importer, op, lhs, rhs):
    """`op` (a matmul) of the torch values `lhs` and `rhs` (its operands, or what they scale)."""
    lhs_shape, rhs_shape = full_shape(lhs), full_shape(rhs)
    if lhs in importer.literals:
        raise ValueError(f"{_what(op)} of a constant by a tensor the model computes is not supported "
                         f"(only x @ W with a constant W)")
    source = importer.model_value(lhs, _what(op))
    if rhs in importer.literals:  # x @ W: a dense over rows
        weight = importer.literals[rhs]
        if weight.ndim > 2 and math.prod(weight.shape[:-2]) != 1:
            raise ValueError(f"{_what(op)} by a constant of shape {list(weight.shape)} is not supported "
                             f"(only by a matrix)")
        matrix = weight.reshape(-1, 1) if weight.ndim == 1 else weight.reshape(weight.shape[-2:])
        if not np.all(np.isfinite(matrix)):
            raise ValueError(f"{_what(op)} by a constant that is not finite is not supported")
        return importer.dense_rows(op, source, matrix.T, np.zeros(matrix.shape[1]),
                                   f"matmul by a constant {matrix.shape[0]}x{matrix.shape[1]}")
    # torch.matmul's vectors: [K] @ ... is [1, K] @ ..., ... @ [K] is ... @ [K, 1]
    lhs_shape = [1] + lhs_shape if len(lhs_shape) == 1 else lhs_shape
    rhs_shape = rhs_shape + [1] if len(rhs_shape) == 1 else rhs_shape
    product, _ = _matmul(importer, op, source, lhs_shape, importer.model_value(rhs, _what(op)), rhs_shape)
    return importer.reshaped(product, importer.model_shape(op.results[0]), op.location)


def _softmax(importer, op, scores, scale: float, causal: bool):
    """`hardcore.softmax` of `scores` (a value whose last two dims are the scores' [M, N])."""
    shape = list(ir.RankedTensorType(scores.type).shape)
    attributes = {"scale": ir.FloatAttr.get_f64(scale),
                  "causal": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(causal)),
                  KIND: ir.StringAttr.get(f"softmax {dims_text(shape)}" + (", causal" if causal else ""))}
    return create_op("hardcore.softmax", [scores], [scores.type], attributes, op.location).results[0]


def lower_softmax(importer, op):
    # aten.softmax.int(x, dim, dtype) / aten._softmax(x, dim, half_to_float), over the last dim
    shape = full_shape(op.operands[0])
    (dim,) = importer.full_dims([importer.constant(op.operands[1], "softmax dim")], len(shape), "softmax")
    if dim != len(shape) - 1:
        raise ValueError(f"softmax over dim {dim} of {len(shape)} is not supported (only over the last one)")
    # softmax.int's dtype (None, or float32's 6: no conversion), _softmax's half_to_float (False)
    if importer.constant(op.operands[2], "softmax dtype") not in (None, False, _FLOAT32):
        raise ValueError("softmax with a dtype other than float32 is not supported")
    softmax = importer.plans.get(op.results[0]) or _Softmax(op.operands[0])
    scores = importer.reshaped(importer.model_value(softmax.scores, "softmax"), importer.model_shape(op.results[0]),
                               op.location)
    return _softmax(importer, op, scores, softmax.scale, softmax.causal)


def lower_scaled_dot_product_attention(importer, op):
    # aten.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    # softmax(q·kᵀ · scale, masked) · v
    query, key, value = op.operands[:3]
    if importer.constant(op.operands[4], "scaled_dot_product_attention dropout_p") != 0:
        raise ValueError("scaled_dot_product_attention with dropout_p > 0 is random: compile the model in "
                         "eval mode, with dropout_p=0")
    if len(op.operands) > 7 and importer.constant(op.operands[7], "scaled_dot_product_attention enable_gqa"):
        raise ValueError("scaled_dot_product_attention with enable_gqa=True is not supported")
    query_shape, key_shape, value_shape = (full_shape(v) for v in (query, key, value))
    queries, width = query_shape[-2:]
    keys = key_shape[-2]
    scale = importer.constant(op.operands[6], "scaled_dot_product_attention scale")
    scale = 1.0 / math.sqrt(width) if scale is None else float(scale)
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"scaled_dot_product_attention scale must be positive, got {scale}")
    scores_shape = list(np.broadcast_shapes(tuple(query_shape[:-2]), tuple(key_shape[:-2]))) + [queries, keys]
    causal = importer.constant(op.operands[5], "scaled_dot_product_attention is_causal")
    if causal and queries != keys:
        raise ValueError(f"scaled_dot_product_attention with is_causal for {queries} queries and {keys} keys is "
                         f"not supported (torch aligns its mask top-left, hardcore.softmax bottom-right)")
    mask = op.operands[3]
    if str(mask.type) != "!torch.none":
        if mask not in importer.literals:
            raise ValueError("scaled_dot_product_attention with an attn_mask the model computes is not supported "
                             "(only a constant causal mask)")
        elements = importer.literals[mask]
        if vtensor_shape(mask.type)[1] == "i1":  # True: the key takes part
            masked = elements == 0
        elif np.all((elements == 0) | (elements == -np.inf)):  # added to the scores
            masked = elements == -np.inf
        else:
            raise ValueError("scaled_dot_product_attention with a float attn_mask other than 0 and -inf is not "
                             "supported")
        causal = _causal(np.broadcast_to(masked, scores_shape), "scaled_dot_product_attention attn_mask") or causal
    # kᵀ: the last two dims of the keys swapped, a gather
    transposed_shape = key_shape[:-2] + [width, keys]
    order = np.arange(math.prod(key_shape)).reshape(key_shape).swapaxes(-1, -2)
    keys_t = importer.gather(op, importer.model_value(key, "scaled_dot_product_attention"), order,
                             shape=transposed_shape)
    scores, scores_shape = _matmul(importer, op, importer.model_value(query, "scaled_dot_product_attention"),
                                   query_shape, keys_t, transposed_shape)
    weights = _softmax(importer, op, scores, scale, bool(causal))
    attended, _ = _matmul(importer, op, weights, scores_shape,
                          importer.model_value(value, "scaled_dot_product_attention"), value_shape)
    return importer.reshaped(attended, importer.model_shape(op.results[0]), op.location)


# -- normalization --------------------------------------------------------------
def _normalized(importer, op, source, eps: float, rms: bool, gamma, beta):
    """`hardcore.layernorm` over the last dim of `source` (in the shape of `op`'s result), then
    γ and β as a diagonal dense over rows unless they are the identity."""
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{_what(op)} eps must be a finite number >= 0, got {eps}")
    shape = importer.model_shape(op.results[0])
    source = importer.reshaped(source, shape, op.location)
    name = "rmsnorm" if rms else "layernorm"
    attributes = {"eps": ir.FloatAttr.get_f64(eps),
                  "rms": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(rms)),
                  KIND: ir.StringAttr.get(f"{name} {dims_text(shape)}")}
    normalized = create_op("hardcore.layernorm", [source], [source.type], attributes, op.location).results[0]
    width = full_shape(op.results[0])[-1]
    gamma = np.ones(width) if gamma is None else gamma
    beta = np.zeros(width) if beta is None else beta
    if gamma.shape != (width,) or beta.shape != (width,):
        raise ValueError(f"{_what(op)} weight and bias must have {width} entries")
    if np.all(gamma == 1) and np.all(beta == 0):
        return normalized
    linear_input = _linear_input(op.results[0])
    if linear_input is not None:  # γ and β fold into the linear's weights and bias (dense.lower_linear)
        importer.norm_affines[linear_input] = (gamma, beta, name)
        return normalized
    return importer.row_affine(op, normalized, gamma, beta, f"{name} weight")


# Ops that pick rows (or drop a dimension of size 1) along their `dim` operand, which must not be the last.
_ROW_SELECTIONS = ("torch.aten.select.int", "torch.aten.slice.Tensor", "torch.aten.squeeze.dim")


def _linear_input(value):
    """The input of the linear that is the only user of `value`, through row selections (selects,
    slices and squeezes on a dimension other than the last, each the only user of the one before),
    if that linear's weights are plain constants (not fake-quantized: their codes are the model's);
    else None."""
    while _single_use(value):
        user = next(iter(value.uses)).owner
        name = user.name
        if name == "torch.aten.linear" and user.operands[0] == value:
            weight_owner = _owner(user.operands[1])
            return value if weight_owner is not None and weight_owner.name == "torch.vtensor.literal" else None
        if name not in _ROW_SELECTIONS or user.operands[0] != value:
            return None
        dim = _number(user.operands[1])
        rank = len(full_shape(value))
        if dim is None or int(dim) % rank == rank - 1:
            return None
        value = user.results[0]
    return None


def _last_dim_only(importer, op, what: str) -> None:
    shape = full_shape(op.operands[0])
    normalized = importer.constant(op.operands[1], f"{what} normalized_shape")
    if normalized != shape[-1:]:
        raise ValueError(f"{what} over {normalized} is not supported (only over the last dimension, "
                         f"[{shape[-1]}])")


def lower_layer_norm(importer, op):
    # aten.layer_norm(x, normalized_shape, weight, bias, eps, cudnn_enable)
    _last_dim_only(importer, op, "layer_norm")
    gamma = importer.tensor(op.operands[2], "layer_norm weight", optional=True)
    beta = importer.tensor(op.operands[3], "layer_norm bias", optional=True)
    eps = importer.constant(op.operands[4], "layer_norm eps")
    return _normalized(importer, op, importer.source(op), float(eps), False, gamma, beta)


def lower_rms_norm(importer, op):
    # aten.rms_norm(x, normalized_shape, weight, eps): eps None is the float32 machine epsilon, as torch's
    _last_dim_only(importer, op, "rms_norm")
    gamma = importer.tensor(op.operands[2], "rms_norm weight", optional=True)
    eps = importer.constant(op.operands[3], "rms_norm eps")
    eps = float(np.finfo(np.float32).eps) if eps is None else float(eps)
    return _normalized(importer, op, importer.source(op), eps, True, gamma, None)
