"""The quantized IR cut into steps: each layer op (a table on its own) with the ops that feed it and
the unary ops after it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir

from hardcore.errors import CompileError
from hardcore.irutil import array_attr, body_ops
from hardcore.mlir import location_text


_LAYER_OPS = frozenset({"hardcore.dense", "hardcore.maxpool", "hardcore.minpool", "hardcore.argmax", "hardcore.add_tensors",
                        "hardcore.sub_tensors", "hardcore.embedding"})
# Sequence-model layers whose DAG multiplies two activations (`hardcore.mul`): outside the linear
# integer arithmetic the proof works in.  Each is a step, reported NOT_COVERED with its reason.
_UNCOVERED_OPS = {
    "hardcore.mul_tensors": "products of two activations (hardcore.mul)",
    "hardcore.matmul": "products of two activations (hardcore.mul)",
    "hardcore.qsoftmax": "qsoftmax: tables and products of two activations (hardcore.mul)",
    "hardcore.qnorm": "qnorm: squares, a table and products of two activations (hardcore.mul)",
}
_STEP_OPS = _LAYER_OPS | set(_UNCOVERED_OPS) | {"hardcore.lut"}  # each starts a step


@dataclasses.dataclass
class _Segment:
    """One step of the quantized graph: a layer op (dense, max pool, argmax, residual add, or a
    table on its own) with the ops that compute its operands from earlier steps' results (free
    ops: relu, requant, reshape, gather, concat; evaluated anew in every step that reads them)
    and the unary ops after it whose every value has one user.  Its input vector is its external
    tensors (the quantized input, or earlier steps' results) concatenated, each in full."""

    step: int  # its place in program order
    layer: int  # the layer it belongs to, numbered as hardcore-fold-weights numbers `layerK`
    ops: list  # in program order
    externals: list  # (ir.Value, source step or -1 for the quantized input, offset in the input vector)
    result: object  # the last op's result
    kind: str
    weights: int = 0  # nonzero weights
    inputs: list = dataclasses.field(default_factory=list)  # input index -> (source step or -1, element)


_FREE_OPS = frozenset({"hardcore.relu", "hardcore.requant", "hardcore.reshape", "hardcore.gather", "hardcore.concat"})
_UNARY_OPS = _FREE_OPS - {"hardcore.concat"}


def _segments(function, filename: str) -> tuple[list[_Segment], object]:
    """The graph cut at each layer op (a table is a step of its own: proving the table apart from
    the arithmetic that feeds it is much faster).  Returns the steps and the final value."""
    ops = body_ops(function)
    if not ops or ops[0].operation.name != "hardcore.quantize":
        raise CompileError(f"{filename}: @{function.name.value} does not start with hardcore.quantize "
                           "(expected the IR after hardcore-quantize)")
    quantized_input = ops[0].results[0]
    body, final = [], None
    for op in ops[1:]:
        name = op.operation.name
        if name in ("hardcore.dequantize", "func.return"):
            final = op.operands[0]
            break
        if name not in _STEP_OPS | _FREE_OPS:
            raise CompileError(f"{location_text(op.location, filename)}: '{name}' is not an op of the quantized IR "
                               "(expected the output of hardcore-quantize)")
        body.append(op)
    if final is None or final == quantized_input:
        raise CompileError(f"{filename}: @{function.name.value} has no layer to verify")
    users: dict = {}
    for op in ops[1:]:
        for value in op.operands:
            users.setdefault(value, []).append(op)
    owner = {op.results[0]: op for op in body}
    position = {op.results[0]: index for index, op in enumerate(body)}
    source = {quantized_input: -1}  # materialized tensors: the input, each step's result
    in_post_chain: set = set()
    segments: list[_Segment] = []
    layers_before = 0

    def free_ancestors(roots) -> tuple[list, list]:
        found, externals, stack, seen = [], [], list(roots), set()
        while stack:
            value = stack.pop()
            if value in seen:
                continue
            seen.add(value)
            if value in source:
                externals.append(value)
                continue
            op = owner[value]
            if op.operation.name not in _FREE_OPS or op.results[0] in in_post_chain:
                raise CompileError(f"{location_text(op.location, filename)}: '{op.operation.name}' is read before "
                                   "its step's result: the formal check cannot cut the graph there")
            found.append(op)
            stack.extend(op.operands)
        return sorted(found, key=lambda o: position[o.results[0]]), sorted(externals, key=lambda v: source[v])

    def add_segment(layer_op, root_values, chain) -> None:
        nonlocal layers_before
        free, externals = free_ancestors(root_values)
        segment_ops = free + ([layer_op] if layer_op is not None else []) + chain
        if layer_op is not None and layer_op.operation.name != "hardcore.lut":
            layer, layers_before = layers_before, layers_before + 1
        else:
            layer = max(layers_before - 1, 0)
        segment = _make_segment(len(segments), layer, segment_ops, layer_op)
        offset = 0
        for value in externals:
            size = _flat_size(value)
            segment.externals.append((value, source[value], offset))
            segment.inputs += [(source[value], e) for e in range(size)]
            offset += size
        source[segment.result] = segment.step
        segments.append(segment)

    for op in body:
        if op.operation.name not in _STEP_OPS:
            continue
        chain, value = [], op.results[0]
        while len(users.get(value, [])) == 1 and value != final:
            user = users[value][0]
            if user.operation.name not in _UNARY_OPS:
                break
            chain.append(user)
            in_post_chain.add(user.results[0])
            value = user.results[0]
        add_segment(op, list(op.operands), chain)
    if final not in source:
        add_segment(None, [final], [])
    final_step = source[final]
    return segments, segments[final_step]


def _make_segment(step: int, layer_index: int, ops: list, layer) -> _Segment:
    layer = layer if layer is not None else ops[-1]
    name = layer.operation.name.split(".")[1]
    if "hardcore.kind" in layer.attributes:
        kind = ir.StringAttr(layer.attributes["hardcore.kind"]).value
    elif name == "dense":
        rows, columns = ir.RankedTensorType(layer.attributes["weight"].type).shape
        kind = f"dense {columns}->{rows}"
    else:
        kind = name
    weights = int(np.count_nonzero(array_attr(layer, "weight"))) if name == "dense" else 0
    return _Segment(step, layer_index, ops, [], ops[-1].results[0], kind, weights)


def _flat_size(value) -> int:
    return int(np.prod(ir.RankedTensorType(value.type).shape))
