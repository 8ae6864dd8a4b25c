"""hardcore-import: torch dialect (torch-mlir's FX importer output) to hardcore layer ops.

Takes the value-semantics torch dialect that `torch_mlir.fx.export_and_import`
produces with `aten.linear` kept legal, because it keeps one op per layer and
carries the weights as literals (linalg-on-tensors would have to be
pattern-matched back into layers).  The batch dimension, which must be 1, is
dropped: hardcore functions describe one sample.

Lowered: aten.linear (with or without bias), aten.relu, and the shape-only ops
aten.view / aten.reshape / aten.flatten.using_ints.  Left alone: torch
constants and list constructions, which only feed those ops.  Any other op is
an error at its location, and every unsupported op is reported, not just the
first.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from torch_mlir import ir

from hardcore.irutil import body_ops, create_op, dense_attr, functions, replace_function, tensor_type
from hardcore.pass_base import ModulePass, PassFailed

__all__ = ["ImportPass"]

# Ops that only produce operands (constants, lists) for the lowered ops.
_OPERAND_PRODUCERS = frozenset({
    "torch.constant.int", "torch.constant.none", "torch.constant.bool",
    "torch.constant.float", "torch.constant.str", "torch.constant.device",
    "torch.prim.ListConstruct", "torch.vtensor.literal",
})
_SHAPE_OPS = frozenset({"torch.aten.view", "torch.aten.reshape", "torch.aten.flatten.using_ints"})
_DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16}
_RESOURCE_NAME = re.compile(r"dense_resource<([^>]+)>")


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


@dataclasses.dataclass(frozen=True)
class ImportPass(ModulePass):
    name = "hardcore-import"

    def run(self, module: ir.Operation) -> None:
        failed = False
        blobs: dict = {}  # read on first use: printing the module is the only way in
        for function in functions(module):
            if not self._import_function(module, function, blobs):
                failed = True
        if failed:
            raise PassFailed()

    # -- reading the torch IR ---------------------------------------------
    def _literal(self, module, op, blobs: dict) -> np.ndarray:
        attribute = op.attributes["value"]
        result_shape = _vtensor_shape(op.results[0].type)
        if isinstance(attribute, ir.DenseElementsAttr):
            array = np.array(attribute)
        else:
            match = _RESOURCE_NAME.search(str(attribute))
            if not blobs:
                blobs.update(_resource_blobs(module))
            if not match or match.group(1) not in blobs:
                raise ValueError(f"cannot read the literal {str(attribute)[:80]}")
            dtype = _DTYPES.get(result_shape[1]) if result_shape else None
            if dtype is None:
                raise ValueError(f"unsupported literal element type in {op.results[0].type}")
            array = np.frombuffer(blobs[match.group(1)], dtype=dtype)
        return np.asarray(array, dtype=np.float64).reshape(result_shape[0] if result_shape else array.shape)

    def _import_function(self, module, function, blobs: dict) -> bool:
        ops = body_ops(function)
        unsupported = [op for op in ops if op.operation.name not in _OPERAND_PRODUCERS | _SHAPE_OPS
                       | {"torch.aten.linear", "torch.aten.relu", "func.return"}]
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
            result_types.append(tensor_type(shape[0], ir.F32Type.get()))

        new = replace_function(function, function.name.value, arg_types, result_types)
        new_block = new.regions[0].blocks[0]
        mapping = dict(zip(block.arguments, new_block.arguments))
        literals: dict = {}
        ok = True
        with ir.InsertionPoint(new_block):
            for op in ops:
                try:
                    ok &= self._lower(module, op, mapping, literals, blobs)
                except ValueError as exc:
                    self.error(op, f"hardcore-import: {exc}")
                    ok = False
                if not ok:
                    break  # later ops may use what this one failed to produce
        if ok:
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

    def _lower(self, module, op, mapping: dict, literals: dict, blobs: dict) -> bool:
        name = op.operation.name
        location = op.location
        if name == "torch.vtensor.literal":
            literals[op.results[0]] = self._literal(module, op, blobs)
            return True
        if name in _OPERAND_PRODUCERS:
            return True
        if name == "func.return":
            create_op("func.return", [mapping[v] for v in op.operands], [], None, location)
            return True
        source = mapping.get(op.operands[0])
        if source is None:
            raise ValueError(f"'{name}' must take the model input or a lowered layer, "
                             f"not a constant")
        shape = _vtensor_shape(op.results[0].type)
        out_type = tensor_type(shape[0][1:], ir.F32Type.get())
        if name == "torch.aten.linear":
            weight = literals.get(op.operands[1])
            if weight is None:
                raise ValueError("linear weight must be a constant")
            bias_value = op.operands[2]
            if bias_value in literals:
                bias = literals[bias_value]
            elif str(bias_value.type) == "!torch.none":
                bias = np.zeros(weight.shape[0])
            else:
                raise ValueError("linear bias must be a constant or none")
            in_shape = list(ir.RankedTensorType(source.type).shape)
            if len(in_shape) != 1 or weight.ndim != 2 or weight.shape[1] != in_shape[0]:
                raise ValueError(f"linear of input {in_shape} and weight {list(weight.shape)} "
                                 f"is not a matrix-vector product per sample")
            for label, array in (("weight", weight), ("bias", bias)):
                if not np.all(np.isfinite(array)):
                    raise ValueError(f"linear {label} contains NaN or infinity")
            result = create_op("hardcore.dense", [source], [out_type], {
                "weight": dense_attr(weight, ir.F32Type.get()),
                "bias": dense_attr(bias, ir.F32Type.get())}, location)
        elif name == "torch.aten.relu":
            result = create_op("hardcore.relu", [source], [out_type], None, location)
        else:  # shape-only ops
            result = create_op("hardcore.reshape", [source], [out_type], None, location)
        mapping[op.results[0]] = result.results[0]
        return True
