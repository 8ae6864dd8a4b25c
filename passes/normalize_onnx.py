"""hardcore-normalize-onnx: torch IR from ONNX (after convert-torch-onnx-to-torch) to the FX importer's form.

torch-mlir's ONNX importer writes `torch.operator "onnx.Gemm"` and friends;
its `convert-torch-onnx-to-torch` pass turns them into aten ops, but not
always the ones torch-mlir's FX importer gives for the same PyTorch layer,
which are what `hardcore-import` reads.  This pass rewrites the difference,
so that a model arrives at hardcore-import in one form whether it came from
PyTorch or from ONNX, and compiles to the same circuit.

Rewritten, one function per op (`_REWRITES`):
- aten.mm(x, aten.transpose.int(W, 0, 1)) with W a `torch.vtensor.literal`
  (ONNX Gemm with transB=1, as `hardcore.onnx_frontend` leaves every Gemm;
  or mm(x, Wt) of a dense literal, where canonicalize folded the transpose
  into it: W is then Wt transposed), and the
  aten.add.Tensor(·, b, 1) of a 1-D literal bias that is its only user:
  `aten.linear(x, W, b)` (bias none without the add).
- aten.clamp.Tensor(x, min, max) with 0-d literal (or none) bounds (ONNX
  Clip): `aten.clamp(x, min, max)` with float constants.
- aten.avg_pool1d/2d/3d whose stride list holds the N strides followed by N
  ones (torch-mlir's conversion of ONNX AveragePool appends the dilations):
  the N strides.
- prims.collapse (ONNX Flatten) and prims.squeeze (ONNX Squeeze): an
  `aten.reshape` to the result's shape.

Left alone: every other op (hardcore-import judges it), and ops of the forms
above that do not match (an mm whose weight is not a transposed literal stays
an mm, which hardcore-import rejects at its location).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir

from hardcore.irutil import functions
from hardcore.pass_base import ModulePass

__all__ = ["NormalizeOnnxPass"]


def _owner(value):
    return value.owner if isinstance(value, ir.OpResult) else None


def _owner_name(value) -> str:
    owner = _owner(value)
    return owner.name if owner is not None else ""


def _int_constant(value) -> int | None:
    owner = _owner(value)
    if owner is None or owner.name != "torch.constant.int":
        return None
    return int(ir.IntegerAttr(owner.attributes["value"]).value)


def _shape(value) -> list[int] | None:
    text = str(value.type)
    if not text.startswith("!torch.vtensor<["):
        return None
    dims = text[len("!torch.vtensor<["):].split("]")[0]
    return [int(d) if d != "?" else -1 for d in dims.split(",") if d]


def _torch_type(text: str) -> ir.Type:
    return ir.Type.parse(text)


def _create(name: str, operands, result_types, location, attributes=None) -> ir.Operation:
    return ir.Operation.create(name, results=list(result_types), operands=list(operands),
                               attributes=attributes or {}, loc=location)


def _scalar_literal(value) -> float | None:
    """The number a 0-d (or one-element) float `torch.vtensor.literal` holds, else None."""
    owner = _owner(value)
    if owner is None or owner.name != "torch.vtensor.literal":
        return None
    attribute = owner.attributes["value"]
    if not isinstance(attribute, ir.DenseElementsAttr):
        return None
    array = np.array(attribute) if not attribute.is_splat else np.array([attribute.get_splat_value().value])
    return float(array.reshape(-1)[0]) if array.size == 1 else None


def _transposed_literal(value, location):
    """A new literal holding the transpose of a 2-D dense (not resource) literal, else None."""
    owner = _owner(value)
    attribute = owner.attributes["value"] if owner is not None and owner.name == "torch.vtensor.literal" else None
    if not isinstance(attribute, ir.DenseElementsAttr) or len(_shape(value) or []) != 2:
        return None
    rows, columns = _shape(value)
    element = ir.RankedTensorType(attribute.type).element_type
    if attribute.is_splat:
        transposed = ir.DenseElementsAttr.get_splat(ir.RankedTensorType.get([columns, rows], element),
                                                    attribute.get_splat_value())
    else:
        transposed = ir.DenseElementsAttr.get(np.ascontiguousarray(np.array(attribute).T),
                                              type=ir.RankedTensorType.get([columns, rows], element))
    result_type = _torch_type(str(value.type).replace(f"[{rows},{columns}]", f"[{columns},{rows}]"))
    with ir.InsertionPoint(owner), location:
        return _create("torch.vtensor.literal", [], [result_type], location, {"value": transposed}).results[0]


def rewrite_mm(op) -> bool:
    """mm(x, transpose(W, 0, 1)) [+ b] -> linear(x, W, b)."""
    transpose = _owner(op.operands[1])
    if transpose is not None and transpose.name == "torch.vtensor.literal":
        # canonicalize folds the transpose of a splat (or small) literal into the literal
        weight = _transposed_literal(op.operands[1], op.location)
        if weight is None:
            return False
        transpose = None
    elif transpose is not None and transpose.name == "torch.aten.transpose.int":
        weight = transpose.operands[0]
        dims = sorted(d for d in (_int_constant(transpose.operands[1]), _int_constant(transpose.operands[2]))
                      if d is not None)
        if _owner_name(weight) != "torch.vtensor.literal" or dims != [0, 1] or len(_shape(weight) or []) != 2:
            return False
    else:
        return False
    out_features = _shape(weight)[0]
    replaced, bias = op, None
    uses = list(op.results[0].uses)
    if len(uses) == 1:
        add = uses[0].owner
        if (add.name == "torch.aten.add.Tensor" and add.operands[0] == op.results[0]
                and _owner_name(add.operands[1]) == "torch.vtensor.literal"
                and _shape(add.operands[1]) == [out_features]
                and _int_constant(add.operands[2]) == 1):
            replaced, bias = add, add.operands[1]
    with ir.InsertionPoint(replaced), replaced.location:
        if bias is None:
            bias = _create("torch.constant.none", [], [_torch_type("!torch.none")], op.location).results[0]
        linear = _create("torch.aten.linear", [op.operands[0], weight, bias], [replaced.results[0].type],
                         replaced.location)
    replaced.results[0].replace_all_uses_with(linear.results[0])
    if replaced is not op:
        replaced.erase()
    weight_source = _owner(op.operands[1])
    op.erase()
    if weight_source is not None and not list(weight_source.results[0].uses):
        weight_source.erase()
    return True


def rewrite_clamp_tensor(op) -> bool:
    """clamp.Tensor(x, min, max) with scalar literal bounds -> clamp(x, min, max)."""
    bounds = []
    for value in op.operands[1:3]:
        if str(value.type) == "!torch.none":
            bounds.append(None)
            continue
        number = _scalar_literal(value)
        if number is None:
            return False
        bounds.append(number)
    with ir.InsertionPoint(op), op.location:
        operands = [op.operands[0]]
        for bound in bounds:
            if bound is None:
                operands.append(_create("torch.constant.none", [], [_torch_type("!torch.none")],
                                        op.location).results[0])
            else:
                operands.append(_create("torch.constant.float", [], [_torch_type("!torch.float")], op.location,
                                        {"value": ir.FloatAttr.get_f64(bound)}).results[0])
        clamp = _create("torch.aten.clamp", operands, [op.results[0].type], op.location)
    op.results[0].replace_all_uses_with(clamp.results[0])
    op.erase()
    return True


def rewrite_as_reshape(op) -> bool:
    """A shape-only op -> aten.reshape to its result's shape."""
    shape = _shape(op.results[0])
    if shape is None or any(d < 0 for d in shape):
        return False
    int_type = _torch_type("!torch.int")
    with ir.InsertionPoint(op), op.location:
        sizes = [_create("torch.constant.int", [], [int_type], op.location,
                         {"value": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), d)}).results[0]
                 for d in shape]
        size_list = _create("torch.prim.ListConstruct", sizes, [_torch_type("!torch.list<int>")], op.location)
        reshape = _create("torch.aten.reshape", [op.operands[0], size_list.results[0]], [op.results[0].type],
                          op.location)
    op.results[0].replace_all_uses_with(reshape.results[0])
    op.erase()
    return True


def rewrite_avg_pool_stride(op) -> bool:
    """avg_poolNd whose stride list holds the strides and then N ones (dilations) -> the N strides."""
    spatial = len(_shape(op.operands[0]) or []) - 2
    stride_list = _owner(op.operands[2])
    if stride_list is None or stride_list.name != "torch.prim.ListConstruct" or spatial < 1:
        return False
    strides = [_int_constant(value) for value in stride_list.operands]
    if len(strides) != 2 * spatial or strides[spatial:] != [1] * spatial:
        return False
    with ir.InsertionPoint(op), op.location:
        trimmed = _create("torch.prim.ListConstruct", list(stride_list.operands)[:spatial],
                          [_torch_type("!torch.list<int>")], op.location)
    op.operands[2] = trimmed.results[0]
    if not list(stride_list.results[0].uses):
        stride_list.erase()
    return True


# op name -> rewrite(op) -> whether it rewrote the op
_REWRITES = {
    "torch.aten.mm": rewrite_mm,
    "torch.aten.clamp.Tensor": rewrite_clamp_tensor,
    "torch.prims.collapse": rewrite_as_reshape,
    "torch.prims.squeeze": rewrite_as_reshape,
    **{f"torch.aten.avg_pool{n}d": rewrite_avg_pool_stride for n in (1, 2, 3)},
}


@dataclasses.dataclass(frozen=True)
class NormalizeOnnxPass(ModulePass):
    name = "hardcore-normalize-onnx"

    def run(self, module: ir.Operation) -> None:
        for function in functions(module):
            # A rewrite erases ops (an mm's bias add too): start over after each one.
            while any(_REWRITES[op.operation.name](op.operation)
                      for op in function.regions[0].blocks[0].operations if op.operation.name in _REWRITES):
                pass
