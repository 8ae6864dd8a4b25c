"""ONNX model -> torch-dialect MLIR in the form hardcore-import reads (via torch-mlir's ONNX importer).

`import_onnx` loads a `.onnx` file (or takes an `onnx.ModelProto`), checks it,
fixes the batch dimension to 1, runs ONNX shape inference, imports the graph
with `torch_mlir.extras.onnx_importer` (initializers become literals) and
runs `convert-torch-onnx-to-torch` and `hardcore-normalize-onnx`, which leave
the aten ops torch-mlir's FX importer gives for the same PyTorch layers.

Before the import, the graph is put into the forms those passes expect:
- a Conv, MaxPool or AveragePool with `auto_pad` gets the explicit `pads` it
  means when they are equal on both sides (as for odd kernels at stride 1);
- every Gemm gets its weight as `transB=1` and `alpha = beta = 1` (alpha and
  beta multiplied into new initializers) and its bias C as a 1-D initializer;
- a MatMul by a 2-D initializer (on a 2-D input) becomes such a Gemm, and an
  Add of a bias initializer that is its only user becomes the Gemm's C.
Every op outside `SUPPORTED_OPS`, and every supported op in a form hardcore
cannot compile (a Gemm whose weight is computed, not an initializer), is
reported at once, each with its node name and op type.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hardcore.errors import CompileError, Diagnostic, UsageError

__all__ = ["SUPPORTED_OPS", "is_onnx_model", "load_onnx", "import_onnx", "onnx_module_name"]

# ONNX op types (default domain) whose conversion hardcore-import reads.
SUPPORTED_OPS = frozenset({
    "Gemm", "MatMul", "Conv", "BatchNormalization",
    "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "Flatten", "Reshape", "Squeeze", "Dropout", "Identity", "Constant",
    # shape arithmetic (x.view(x.size(0), -1)): constant once the batch is 1, folded away
    "Shape", "Gather", "Unsqueeze", "Concat",
    "Add", "Transpose", "ReduceMean",
})
# torch-mlir passes, then hardcore's, that turn the imported `torch.operator "onnx.*"` ops into aten ops.
_CONVERSION = "builtin.module(func.func(convert-torch-onnx-to-torch),canonicalize,hardcore-normalize-onnx)"


def is_onnx_model(model) -> bool:
    """Whether `model` is an ONNX model: a path ending in .onnx, or an onnx.ModelProto."""
    if isinstance(model, (str, Path)):
        return str(model).endswith(".onnx")
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")


def onnx_module_name(model) -> str:
    """A default Verilog module name: the file's stem, else the graph's name."""
    raw = Path(model).stem if isinstance(model, (str, Path)) else model.graph.name
    name = re.sub(r"\W", "_", raw or "model")
    return name if re.match(r"[A-Za-z_]", name) else f"model_{name}"


def load_onnx(model):
    """(a checked copy of the ModelProto, its name for messages) from a path or a ModelProto."""
    import onnx

    if isinstance(model, (str, Path)):
        source = str(model)
        if not Path(model).is_file():
            raise UsageError(f"{source}: no such model file")
        try:
            proto = onnx.load(source)
        except Exception as exc:  # protobuf's DecodeError, OSError, ... : the file is not a model
            raise CompileError(f"{source}: not a readable ONNX model: {type(exc).__name__}: {exc}") from None
    else:
        source = f"ONNX model '{model.graph.name}'" if model.graph.name else "the ONNX model"
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx.checker.ValidationError and friends
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompileError(f"{source}: not a valid ONNX model: {first_line}") from None
    return proto, source


def _initializer_array(graph, name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    for tensor in graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor).astype(np.float64)
    return None


def _add_initializer(graph, name: str, array: np.ndarray) -> str:
    from onnx import numpy_helper

    taken = {t.name for t in graph.initializer} | {v for n in graph.node for v in (*n.input, *n.output)}
    unique, index = name, 0
    while unique in taken:
        index += 1
        unique = f"{name}_{index}"
    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array.astype(np.float32)), unique))
    return unique


def _attribute(node, name: str, default):
    import onnx

    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _set_attributes(node, **values) -> None:
    import onnx

    kept = [a for a in node.attribute if a.name not in values]
    del node.attribute[:]
    node.attribute.extend(kept)
    node.attribute.extend(onnx.helper.make_attribute(k, v) for k, v in values.items())


def _vector_bias(bias: np.ndarray, size: int) -> np.ndarray | None:
    """A bias that broadcasts to (1, size) as a 1-D array of `size`, else None."""
    if bias.ndim > 2 or (bias.ndim == 2 and bias.shape[0] != 1) or bias.shape[-1:] not in ((1,), (size,), ()):
        return None
    return np.broadcast_to(bias.reshape(-1) if bias.ndim else bias, (size,)).astype(np.float64)


def _node_label(node) -> str:
    return f"node '{node.name}' ({node.op_type})" if node.name else f"a {node.op_type} node"


def _normalize_gemm(graph, node) -> str | None:
    """Gemm -> transB=1, alpha=beta=1, 1-D bias, in place; or why it cannot be compiled."""
    if _attribute(node, "transA", 0):
        return "Gemm with transA=1 is not supported (the input must be a row vector)"
    weight = _initializer_array(graph, node.input[1])
    if weight is None or weight.ndim != 2:
        return "the Gemm weight B must be a 2-D initializer (a constant)"
    alpha, beta = float(_attribute(node, "alpha", 1.0)), float(_attribute(node, "beta", 1.0))
    trans_b = bool(_attribute(node, "transB", 0))
    if not trans_b or alpha != 1.0:
        weight = alpha * (weight if trans_b else weight.T)
        node.input[1] = _add_initializer(graph, f"{node.input[1]}_transposed", weight)
    if len(node.input) > 2 and node.input[2]:
        bias = _initializer_array(graph, node.input[2])
        vector = None if bias is None else _vector_bias(bias, weight.shape[0])
        if vector is None:
            return "the Gemm bias C must be an initializer of one value per output"
        if beta != 1.0 or bias.shape != vector.shape:
            node.input[2] = _add_initializer(graph, f"{node.input[2]}_vector", beta * vector)
    _set_attributes(node, alpha=1.0, beta=1.0, transB=1)
    return None


def _explicit_pads(graph, shapes: dict) -> None:
    """Conv and pools with auto_pad: the explicit pads it means, when they are the same on both sides.

    torch-mlir imports SAME padding as a separate aten.pad, which hardcore-import
    does not lower; with an odd total padding the sides differ and it stays so.
    """
    for node in graph.node:
        auto_pad = _attribute(node, "auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if node.op_type not in ("Conv", "MaxPool", "AveragePool") or auto_pad == "NOTSET":
            continue
        shape = shapes.get(node.input[0])
        kernel = _attribute(node, "kernel_shape", None)
        if kernel is None and node.op_type == "Conv":
            weight = _initializer_array(graph, node.input[1])
            kernel = None if weight is None else list(weight.shape[2:])
        if shape is None or kernel is None or any(not isinstance(d, int) for d in shape[2:]):
            continue
        spatial = len(kernel)
        strides = _attribute(node, "strides", [1] * spatial)
        dilations = _attribute(node, "dilations", [1] * spatial)
        if auto_pad == "VALID":
            begin = end = [0] * spatial
        else:
            totals = [max((-(-size // stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)
                      for size, k, stride, dilation in zip(shape[2:], kernel, strides, dilations)]
            end = [total // 2 if auto_pad == "SAME_LOWER" else total - total // 2 for total in totals]
            begin = [total - e for total, e in zip(totals, end)]
        if begin == end:
            kept = [a for a in node.attribute if a.name != "auto_pad"]
            del node.attribute[:]
            node.attribute.extend(kept)
            _set_attributes(node, pads=list(begin) + list(end))


def _matmuls_to_gemms(graph, ranks: dict) -> None:
    """MatMul(x, W) with W a 2-D initializer and x 2-D -> Gemm; a following bias Add becomes its C."""
    import onnx

    consumers: dict = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    for node in list(graph.node):
        if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx"):
            continue
        weight = _initializer_array(graph, node.input[1])
        if weight is None or weight.ndim != 2 or ranks.get(node.input[0]) != 2:
            continue
        inputs = [node.input[0], _add_initializer(graph, f"{node.input[1]}_transposed", weight.T)]
        output, removed = node.output[0], None
        users = consumers.get(output, [])
        if len(users) == 1 and users[0].op_type == "Add" and output not in outputs:
            add = users[0]
            other = add.input[1] if add.input[0] == output else add.input[0]
            bias = _initializer_array(graph, other)
            vector = None if bias is None else _vector_bias(bias, weight.shape[1])
            if vector is not None:
                inputs.append(_add_initializer(graph, f"{other}_vector", vector))
                output, removed = add.output[0], add
        gemm = onnx.helper.make_node("Gemm", inputs, [output], name=node.name, transB=1)
        index = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(index, gemm)
        if removed is not None:
            graph.node.remove(removed)


def _static_shape(value_info) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def _fix_batch(proto, source: str, input_shape) -> list[int]:
    """Set the input's (and outputs') batch dimension to 1; return the input shape."""
    import onnx

    graph = proto.graph
    initialized = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialized]
    if len(inputs) != 1:
        raise CompileError(f"{source}: expected one graph input, got {len(inputs)}"
                           + (f" ({', '.join(i.name for i in inputs)})" if inputs else ""))
    graph_input = inputs[0]
    tensor_type = graph_input.type.tensor_type
    if not graph_input.type.HasField("tensor_type") or tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise CompileError(f"{source}: input '{graph_input.name}' must be a float32 tensor")
    shape = _static_shape(graph_input)
    if len(shape) < 2:
        raise CompileError(f"{source}: input '{graph_input.name}' has shape {shape}: expected a batch "
                           f"dimension first and at least one more")
    if isinstance(shape[0], int) and shape[0] != 1:
        raise CompileError(f"{source}: input '{graph_input.name}' has batch size {shape[0]}: hardcore "
                           f"compiles one sample, the first dimension must be 1 (or symbolic)")
    if any(not isinstance(d, int) or d < 1 for d in shape[1:]):
        raise CompileError(f"{source}: input '{graph_input.name}' has shape {shape}: only the first "
                           f"(batch) dimension may be symbolic")
    shape[0] = 1
    if input_shape is not None and list(input_shape) != shape:
        raise UsageError(f"{source}: the input shape {list(input_shape)} differs from the model's "
                         f"input '{graph_input.name}' {shape}")
    for value_info in [graph_input, *graph.output]:
        dims = value_info.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1  # replaces a symbolic dim_param
    for value_info in graph.output:  # inference fills in the rest from the input
        for dim in value_info.type.tensor_type.shape.dim[1:]:
            if not dim.HasField("dim_value"):
                dim.Clear()
    del graph.value_info[:]
    return shape


def _infer_shapes(proto, source: str):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompileError(f"{source}: ONNX shape inference failed: {first_line}") from None


def _prepare_nodes(graph, source: str) -> None:
    """Normalize each Gemm (see the module docstring); one error listing every node hardcore cannot compile."""
    diagnostics = []
    for node in graph.node:
        location = f"{source}: {_node_label(node)}"
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            domain = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
            diagnostics.append(Diagnostic(location, "error", f"unsupported ONNX op '{domain}{node.op_type}'"))
        elif node.op_type == "MatMul":  # the ones _matmuls_to_gemms could not turn into a Gemm
            diagnostics.append(Diagnostic(location, "error", "MatMul is supported only as a 2-D input "
                                          "times a 2-D initializer (a linear layer)"))
        elif node.op_type == "Gemm":
            problem = _normalize_gemm(graph, node)
            if problem:
                diagnostics.append(Diagnostic(location, "error", problem))
    if diagnostics:
        supported = ", ".join(sorted(SUPPORTED_OPS))
        message = "\n".join(str(d) for d in diagnostics) + f"\n(supported ONNX ops: {supported})"
        raise CompileError(message, diagnostics)


def _relocate(function, nodes: dict, source: str) -> None:
    """Each op's location: the ONNX node it came from, with the model's name (errors quote it)."""
    from torch_mlir import ir

    for op in function.regions[0].blocks[0].operations:
        try:
            name = ir.NameLoc(op.location).name_str  # the importer names each op after its node
        except (ValueError, TypeError):
            continue
        if name in nodes:
            op.location = ir.Location.name(f"{source}: {_node_label(nodes[name])}")


def import_onnx(model, context, input_shape=None):
    """(torch-dialect module, input shape with batch 1) for an ONNX model, ready for hardcore-import.

    `input_shape`, when given, must equal the model's input shape (batch 1).
    """
    from torch_mlir.extras import onnx_importer

    from hardcore.interpreter import find_function
    from hardcore.pipeline import run_pipeline

    proto, source = load_onnx(model)
    shape = _fix_batch(proto, source, input_shape)
    proto = _infer_shapes(proto, source)
    shapes = {v.name: _static_shape(v) for v in (*proto.graph.value_info, *proto.graph.input, *proto.graph.output)}
    _explicit_pads(proto.graph, shapes)
    _matmuls_to_gemms(proto.graph, {name: len(dims) for name, dims in shapes.items()})
    _prepare_nodes(proto.graph, source)
    proto = _infer_shapes(proto, source)
    try:
        info = onnx_importer.ModelInfo(proto)
        module = info.create_module(context=context)
        onnx_importer.NodeImporter.define_function(info.main_graph, module.operation).import_all()
    except Exception as exc:  # OnnxImportError and the importer's asserts
        raise CompileError(f"{source}: torch-mlir could not import the ONNX model: "
                           f"{type(exc).__name__}: {exc}") from None
    function = find_function(module.operation)
    with context:
        _relocate(function, {node.name: node for node in proto.graph.node if node.name}, source)
    run_pipeline(module, _CONVERSION, filename=source)
    return module, shape
