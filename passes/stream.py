"""hardcore-stream: a quantized CNN -> one layer-level step function per streamed layer, its kernel applied per pixel.

The input is a quantized function (it starts with `hardcore.quantize`) whose
input is one image `C x H x W` and whose convolutions are `hardcore.conv`
(`hardcore-import{stream=true}`).  The image is meant to arrive one pixel (all
C channels) a clock in raster order; every layer on it becomes a *node* of a
stream graph, and each node a step function that computes one output pixel:

- `window` (a `hardcore.conv`, or a `hardcore.maxpool` with the geometry
  `hardcore.window`): the step takes the window of one output pixel, its taps
  (kh, kw) in row-major order, each tap a pixel of C elements (input
  `tensor<KH*KW*C>`), and gives the output pixel: a conv's kernel is one
  `hardcore.dense` of O x (KH*KW*C) (zeros outside a channel's group), a max
  pool's a `hardcore.maxpool` over each channel's taps.  The wrapper's line
  buffers form the window; padding taps hold 0 (a conv) or the smallest value
  of the input's range (a max pool: padding never wins).
- `map`: elementwise ops (relu, requant, lut) on a pixel that no window step
  absorbs (after a fork, before a window).
- `join`: a residual add of two streams of one shape: the step takes both
  pixels (input `tensor<2C>`, the main operand first), with the aligning
  requantizations of each operand, the add and what follows it.
- `tail`: where the stream ends in a vector: a dense layer (or argmax,
  gather, concat) reading the stream or a flatten of it (a reshape is a view
  of the stream's pixels; the step takes the whole feature map, `C x H x W`,
  the wrapper's frame buffer), or a global average pool (the depthwise conv,
  with `hardcore.window`, that hardcore-quantize makes of it: its kernel the
  whole image, equal weights per channel; the step takes the
  per-channel sums, the wrapper's accumulators, and multiplies by the pool's
  constant).  The step holds every op after that point (dense layers, argmax).

The elementwise ops right after a layer (its ReLU and requantization) belong
to that layer's step.  Each step is a quantized function (`hardcore.quantize`
of the step's input range, the ops, `hardcore.dequantize`) that
`hardcore-fold-weights` folds like any other: a kernel's weights are folded
once, not at every position.  Its attribute `hardcore.stream` describes the
node for the wrapper (`hardcore.stream`, docs/streaming.md).  The reference
is unchanged: applied at every pixel, the steps compute exactly the quantized
function (`hardcore.stream.run_steps`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.errors import UsageError
from hardcore.irutil import (array_attr, body_ops, create_op, dense_attr, functions, i64_attr, int_attr, int_type,
                             replace_function, requant_shifts, tensor_type)
from hardcore.pass_base import ModulePass, Rejected

__all__ = ["StreamPass", "stream_steps", "node_attr"]

_ELEMENTWISE = ("hardcore.relu", "hardcore.requant", "hardcore.lut")
# Ops that end the stream when they read it (a flatten's consumers): the tail computes them once an image.
_TAIL_OPS = ("hardcore.dense", "hardcore.argmax", "hardcore.gather", "hardcore.concat")
_SOURCE = -1


@dataclasses.dataclass
class _Node:
    kind: str                 # "window", "map", "join", "tail"
    inputs: list[int]         # node indices; _SOURCE for the quantized input
    head: object = None       # the conv / maxpool / add_tensors / first tail op
    pre: list = dataclasses.field(default_factory=list)   # per input: elementwise ops applied in the step
    post: list = dataclasses.field(default_factory=list)  # elementwise ops after the head
    output: object = None     # the layer-level value the node's output is
    image: tuple = ()         # its output image (C, H, W) (the output may be a flat view of it)
    geometry: dict = dataclasses.field(default_factory=dict)
    tail_ops: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class StreamPass(ModulePass):
    name = "hardcore-stream"
    # Line buffers of more bits than this (all layers together) are an error: the image is too large.
    max_line_buffer_bits: int = 1 << 24

    def validate(self) -> None:
        if self.max_line_buffer_bits < 1:
            raise UsageError(f"{self.name}: max-line-buffer-bits must be positive, got {self.max_line_buffer_bits}")

    def run(self, module: ir.Operation) -> None:
        self.rewrite_each([f for f in functions(module) if "hardcore.stream" not in f.attributes], self._stream)

    def _stream(self, function) -> None:
        ops = body_ops(function)
        block = function.regions[0].blocks[0]
        if len(block.arguments) != 1 or not ops or ops[0].operation.name != "hardcore.quantize":
            raise Rejected(function, "expected a quantized function of one argument starting with "
                                      "hardcore.quantize (run hardcore-quantize first)")
        quantize = ops[0]
        shape = _shape(quantize.results[0])
        if len(shape) != 3:
            raise Rejected(quantize, f"a streamed input is one image C x H x W, got a tensor of shape {shape}")
        graph = _Graph(quantize)
        ret = ops[-1]
        for op in ops[1:-1]:
            graph.add(op)
        graph.finish(ret)
        bits = sum(_line_buffer_bits(node, graph) for node in graph.nodes)
        if bits > self.max_line_buffer_bits:
            raise Rejected(function, f"the line buffers need {bits} bits, more than max-line-buffer-bits="
                                      f"{self.max_line_buffer_bits} (an image this large does not stream here)")
        name = function.name.value
        in_frac = int_attr(quantize, "frac_bits")
        out_frac = int_attr(graph.dequantize, "frac_bits")
        for index, node in enumerate(graph.nodes):
            last = index == len(graph.nodes) - 1
            _build_step(function, f"{name}_node{index}", index, node, graph, in_frac if index == 0 else 0,
                        out_frac if last else 0, last)
        function.operation.erase()


def _shape(value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _element(value) -> ir.Type:
    return ir.RankedTensorType(value.type).element_type


def _single_user(value) -> bool:
    return len(list(value.uses)) == 1


def _dense_i64(values) -> ir.DenseElementsAttr:
    return dense_attr(np.asarray(values, dtype=np.int64), int_type(64))


def _pair(op, name: str, default: int) -> list[int]:
    if name not in op.attributes:
        return [default, default]
    values = [int(v) for v in np.asarray(array_attr(op, name)).reshape(-1)]
    return values * 2 if len(values) == 1 else values


class _Graph:
    """The stream graph of a quantized function, built op by op."""

    def __init__(self, quantize):
        self.quantize = quantize
        self.nodes: list[_Node] = []
        # layer-level value -> (node, elementwise ops still to apply to the node's output)
        self.where: dict = {quantize.results[0]: (_SOURCE, [])}
        # every stream value's image (C, H, W): a reshape of a stream is a view of the same pixels
        self.images: dict = {quantize.results[0]: tuple(_shape(quantize.results[0]))}
        self.tail: _Node | None = None
        self.dequantize = None

    def range_of(self, node: int) -> tuple[int, int]:
        """The value range of a node's output pixels (the quantized input's for the source)."""
        value = self.quantize.results[0] if node == _SOURCE else self.nodes[node].output
        return _value_range(value)

    def shape_of(self, node: int) -> list[int]:
        """A node's output image (C, H, W)."""
        return list(self.images[self.quantize.results[0]] if node == _SOURCE else self.nodes[node].image)

    def _pixel_source(self, value, op) -> int:
        """The node whose output pixels are `value`: a map node when elementwise ops are pending."""
        if value not in self.where:
            raise Rejected(op, "reads a value that is not a stream (only one stream graph from the input)")
        node, chain = self.where[value]
        if not chain:
            return node
        self.nodes.append(_Node("map", [node], pre=[chain], output=value, image=self.images[value]))
        self.where[value] = (len(self.nodes) - 1, [])
        return len(self.nodes) - 1

    def add(self, op) -> None:
        name = op.operation.name
        if self.tail is not None:
            if name == "hardcore.dequantize":
                self.dequantize = op
            else:
                for operand in op.operands:
                    if operand in self.where:
                        raise Rejected(op, "reads the stream after it ended in a vector (a flatten or a "
                                           "global pool): only one tail")
                self.tail.tail_ops.append(op)
            return
        if name == "hardcore.dequantize":
            self.dequantize = op
            return
        if name in _ELEMENTWISE:
            source = op.operands[0]
            if source not in self.where:
                raise Rejected(op, "reads a value that is not a stream")
            node, chain = self.where[source]
            self.images[op.results[0]] = self.images[source]
            if node != _SOURCE and not chain and _single_user(source) and self.nodes[node].output == source:
                self.nodes[node].post.append(op)
                self.nodes[node].output = op.results[0]
                self.where[op.results[0]] = (node, [])
            else:
                self.where[op.results[0]] = (node, chain + [op])
            return
        if name == "hardcore.conv":
            if _is_global_sum(op):
                self._start_tail(op, "sum")
                return
            source = self._pixel_source(op.operands[0], op)
            self._window(op, source, _conv_geometry(op))
            return
        if name == "hardcore.maxpool":
            if "hardcore.window" not in op.attributes:
                raise Rejected(op, "a max pool without its geometry 'hardcore.window' cannot stream "
                                   "(import with stream=true)")
            source = self._pixel_source(op.operands[0], op)
            self._window(op, source, _pool_geometry(op))
            return
        if name == "hardcore.add_tensors":
            inputs, pre = [], []
            for operand in op.operands:
                if operand not in self.where:
                    raise Rejected(op, "reads a value that is not a stream")
                node, chain = self.where[operand]
                inputs.append(node)
                pre.append(chain)
            if inputs[0] == inputs[1]:
                raise Rejected(op, "adds a stream to itself: the two operands must come from different layers")
            if self.images[op.operands[0]] != self.images[op.operands[1]]:
                raise Rejected(op, "adds streams of different images")
            self.nodes.append(_Node("join", inputs, head=op, pre=pre, output=op.results[0],
                                    image=self.images[op.operands[0]]))
            self.where[op.results[0]] = (len(self.nodes) - 1, [])
            self.images[op.results[0]] = self.images[op.operands[0]]
            return
        if name == "hardcore.reshape" and op.operands[0] in self.where:
            # the same elements in the same order: a view of the stream's pixels (a flatten before a
            # residual add, and back), until an op that does not stream reads it
            self.where[op.results[0]] = self.where[op.operands[0]]
            self.images[op.results[0]] = self.images[op.operands[0]]
            source = self.where[op.operands[0]][0]
            if source != _SOURCE and self.nodes[source].output == op.operands[0] and _single_user(op.operands[0]):
                self.nodes[source].output = op.results[0]
            return
        if name in _TAIL_OPS and op.operands and op.operands[0] in self.where:
            self._start_tail(op, "flat")
            return
        raise Rejected(op, f"cannot stream '{name}' (convolutions, max pools, residual adds, their "
                           "relu/requant/lut, and a flatten or global average pool into dense layers)")

    def _window(self, op, source: int, geometry: dict) -> None:
        channels, height, width = self.shape_of(source)
        out_channels, out_height, out_width = _shape(op.results[0])
        kernel, stride, padding, dilation = (geometry[k] for k in ("kernel", "stride", "padding", "dilation"))
        expected = [(n + 2 * p - d * (k - 1) - 1) // s + 1
                    for n, k, s, p, d in zip((height, width), kernel, stride, padding, dilation)]
        if expected != [out_height, out_width]:
            raise Rejected(op, f"its output {out_height}x{out_width} is not the {expected[0]}x{expected[1]} "
                               f"its kernel, stride, padding and dilation give (ceil_mode does not stream)")
        geometry.update(channels=channels, height=height, width=width, out_channels=out_channels,
                        out_height=out_height, out_width=out_width)
        self.nodes.append(_Node("window", [source], head=op, output=op.results[0], geometry=geometry,
                                image=(out_channels, out_height, out_width)))
        self.where[op.results[0]] = (len(self.nodes) - 1, [])
        self.images[op.results[0]] = (out_channels, out_height, out_width)

    def _start_tail(self, op, collect: str) -> None:
        source = self._pixel_source(op.operands[0], op)
        channels, height, width = self.shape_of(source)
        self.tail = _Node("tail", [source], head=op, tail_ops=[op], output=None,
                          geometry={"collect": collect, "channels": channels, "height": height, "width": width})
        self.nodes.append(self.tail)

    def finish(self, ret) -> None:
        if self.dequantize is None or len(ret.operands) != 1 or ret.operands[0].owner != self.dequantize:
            raise Rejected(ret, "expected the result to be one hardcore.dequantize")
        if self.tail is None:
            # The stream is the output: its pixels leave one a clock.
            value = self.dequantize.operands[0]
            node = self._pixel_source(value, self.dequantize)
            if node == _SOURCE:
                raise Rejected(self.dequantize, "no layer to stream")
            if node != len(self.nodes) - 1:
                raise Rejected(self.dequantize, "the output must be the last streamed layer")
        if not self.nodes:
            raise Rejected(self.quantize, "no layer to stream")


def _value_range(value) -> tuple[int, int]:
    """The range a layer-level integer value lies in, from the op that makes it (its type's, else)."""
    owner = value.owner
    name = owner.name
    if name in ("hardcore.requant", "hardcore.quantize"):
        return int_attr(owner, "min"), int_attr(owner, "max")
    if name == "hardcore.relu":
        low, high = _value_range(owner.operands[0])
        return max(low, 0), max(high, 0)
    if name == "hardcore.lut":
        table = array_attr(owner, "table")
        return int(table.min()), int(table.max())
    if name in ("hardcore.maxpool", "hardcore.reshape", "hardcore.gather"):
        return _value_range(owner.operands[0])
    width = ir.IntegerType(_element(value)).width
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _conv_geometry(op) -> dict:
    weight_shape = list(ir.RankedTensorType(op.attributes["weight"].type).shape)
    if len(weight_shape) != 4:
        raise Rejected(op, f"a streamed convolution is 2-D: weight of shape {weight_shape}")
    return {"kernel": weight_shape[2:], "stride": _pair(op, "stride", 1), "padding": _pair(op, "padding", 0),
            "dilation": _pair(op, "dilation", 1), "pad": 0}


def _pool_geometry(op) -> dict:
    window = ir.DictAttr(op.attributes["hardcore.window"])
    values = {}
    for key, default in (("kernel", None), ("stride", None), ("padding", 0), ("dilation", 1)):
        if key in window:
            values[key] = [int(v) for v in np.asarray(np.array(window[key])).reshape(-1)]
        elif default is None:
            raise Rejected(op, f"'hardcore.window' has no '{key}'")
        else:
            values[key] = [default, default]
    values["pad"] = _value_range(op.operands[0])[0]  # padding never wins a max
    return values


def _is_global_sum(op) -> bool:
    """An average pool (`hardcore.window`) that hardcore-quantize made a depthwise conv whose kernel is its
    whole (unpadded) input, one weight per channel: a global average pool's sum and constant."""
    if "hardcore.window" not in op.attributes:
        return False  # a convolution, even one that covers its whole image, streams as a window
    channels, height, width = _shape(op.operands[0])
    weight = array_attr(op, "weight")
    if weight.ndim != 4 or weight.shape[1] != 1 or int_attr(op, "groups") != channels or \
            weight.shape[0] != channels or list(weight.shape[2:]) != [height, width]:
        return False
    if _pair(op, "padding", 0) != [0, 0] or _pair(op, "dilation", 1) != [1, 1]:
        return False
    flat = weight.reshape(channels, -1)
    return bool(np.all(flat == flat[:, :1]))


def _line_buffer_bits(node: _Node, graph: _Graph) -> int:
    if node.kind != "window":
        return 0
    g = node.geometry
    padded_width = g["width"] + 2 * g["padding"][1]
    span = (g["kernel"][0] - 1) * g["dilation"][0] * padded_width + (g["kernel"][1] - 1) * g["dilation"][1] + 1
    low, high = graph.range_of(node.inputs[0])
    return span * g["channels"] * signed_width(min(low, 0), max(high, 0))


def node_attr(step, key: str):
    """One entry of a step's `hardcore.stream` dictionary, as Python (int, str or list of int)."""
    attribute = ir.DictAttr(step.attributes["hardcore.stream"])[key]
    if isinstance(attribute, ir.IntegerAttr):
        return int(attribute.value)
    if isinstance(attribute, ir.StringAttr):
        return attribute.value
    return [int(v) for v in np.asarray(np.array(attribute)).reshape(-1)]


def stream_steps(module: ir.Operation) -> list:
    """The step functions of a streamed module, in node order."""
    steps = [f for f in functions(module) if "hardcore.stream" in f.attributes]
    return sorted(steps, key=lambda f: node_attr(f, "node"))


# -- building the steps -----------------------------------------------------------------------------------


def _per_channel(op, shift_values: list[int], channels: int) -> list[int]:
    """A requant's per-element shifts of a C x H x W tensor as one per channel (they must not vary by position)."""
    table = np.asarray(shift_values, dtype=np.int64).reshape(channels, -1)
    if np.any(table != table[:, :1]):
        raise Rejected(op, "a requantization whose shift varies with the position cannot stream")
    return table[:, 0].tolist()


def _elementwise(op, value, channels: int, repeat: int = 1):
    """`op` (relu, requant, lut of a stream of C channels) on `value`, a pixel of C elements (`repeat` pixels)."""
    name = op.operation.name
    result_type = tensor_type([channels * repeat], _element(op.results[0]))
    attributes = {key: op.attributes[key] for key in op.attributes}
    if name == "hardcore.requant" and not isinstance(op.attributes["shift"], ir.IntegerAttr):
        shifts = _per_channel(op, requant_shifts(op, int(np.prod(_shape(op.operands[0])))), channels)
        attributes["shift"] = _dense_i64(shifts * repeat)
    return create_op(name, [value], [result_type], attributes, op.location).results[0]


def _kernel_matrix(op, channels: int) -> np.ndarray:
    """A conv's weights as the dense matrix of one output pixel over its window, taps (kh, kw) then channels."""
    weight = array_attr(op, "weight").astype(np.int64)
    out_channels, group_in, kh, kw = weight.shape
    groups = int_attr(op, "groups")
    matrix = np.zeros((out_channels, kh * kw * channels), dtype=np.int64)
    per_group = out_channels // groups
    for o in range(out_channels):
        first = (o // per_group) * group_in
        for tap in range(kh * kw):
            columns = tap * channels + first + np.arange(group_in)
            matrix[o, columns] = weight[o, :, tap // kw, tap % kw]
    return matrix


def _build_step(function, step_name: str, index: int, node: _Node, graph: _Graph, in_frac: int, out_frac: int,
                last: bool) -> None:
    """Node `index` as a quantized function `step_name`: quantize, its ops on one pixel (or a vector), dequantize."""
    g = node.geometry
    ranges = [graph.range_of(i) for i in node.inputs]
    if node.kind == "window":
        pad = g["pad"]
        low, high = min(ranges[0][0], pad), max(ranges[0][1], pad)
        taps = g["kernel"][0] * g["kernel"][1]
        in_shape = [taps * g["channels"]]
    elif node.kind == "join":
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        in_shape = [2 * graph.shape_of(node.inputs[0])[0]]
    elif node.kind == "map":
        (low, high), in_shape = ranges[0], [graph.shape_of(node.inputs[0])[0]]
    elif g["collect"] == "sum":
        positions = g["height"] * g["width"]
        low, high = ranges[0][0] * positions, ranges[0][1] * positions
        in_shape = [g["channels"]]
    else:
        (low, high), in_shape = ranges[0], [g["channels"], g["height"], g["width"]]
    location = (node.head or node.pre[0][0]).location
    in_type = tensor_type(in_shape, ir.F32Type.get())
    result_value = node.output if node.kind != "tail" else graph.dequantize.operands[0]
    step = replace_function(function, step_name, [in_type], [tensor_type(_shape(result_value), ir.F32Type.get())])
    block = step.regions[0].blocks[0]
    with ir.InsertionPoint(block), location:
        x = create_op("hardcore.quantize", [block.arguments[0]],
                      [tensor_type(in_shape, int_type(signed_width(low, high)))],
                      {"frac_bits": i64_attr(in_frac), "min": i64_attr(low), "max": i64_attr(high)},
                      location).results[0]
        if node.kind == "tail":
            value = _tail_ops(node, x, graph.dequantize.operands[0])
            out_shape = _shape(graph.dequantize.operands[0])
        else:
            value = _pixel_ops(node, graph, x)
            out_shape = [node.image[0]]
        output = create_op("hardcore.dequantize", [value], [tensor_type(out_shape, ir.F32Type.get())],
                           {"frac_bits": i64_attr(out_frac)}, location).results[0]
        create_op("func.return", [output], [], None, location)
    step.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get([in_type], [output.type]))
    entries = {"node": i64_attr(index), "kind": ir.StringAttr.get(node.kind),
               "inputs": _dense_i64(node.inputs), "last": i64_attr(int(last))}
    for key, item in g.items():
        entries[key] = ir.StringAttr.get(item) if isinstance(item, str) else \
            (_dense_i64(item) if isinstance(item, list) else i64_attr(item))
    if node.kind != "tail":
        out_channels, out_height, out_width = node.image
        entries.update(out_channels=i64_attr(out_channels), out_height=i64_attr(out_height),
                       out_width=i64_attr(out_width))
    if node.kind == "map":
        channels, height, width = graph.shape_of(node.inputs[0])
        entries.update(channels=i64_attr(channels), height=i64_attr(height), width=i64_attr(width))
    step.attributes["hardcore.stream"] = ir.DictAttr.get(entries)


def _pixel_ops(node: _Node, graph: _Graph, x):
    """The ops of a window, map or join step on its input `x`, through its post ops."""
    if node.kind == "map":
        value = x
        for op in node.pre[0]:
            value = _elementwise(op, value, node.image[0])
        return value
    head = node.head
    out_channels = node.image[0]
    if node.kind == "window":
        g = node.geometry
        taps = g["kernel"][0] * g["kernel"][1]
        if head.operation.name == "hardcore.conv":
            matrix = _kernel_matrix(head, g["channels"])
            container = ir.RankedTensorType(head.attributes["weight"].type).element_type
            value = create_op("hardcore.dense", [x], [tensor_type([out_channels], _element(head.results[0]))],
                              {"weight": dense_attr(matrix, container), "bias": head.attributes["bias"],
                               **_kind(head)}, head.location).results[0]
        else:
            windows = [[t * g["channels"] + c for t in range(taps)] for c in range(g["channels"])]
            value = create_op("hardcore.maxpool", [x], [tensor_type([out_channels], _element(head.results[0]))],
                              {"windows": _dense_i64(windows), **_kind(head)}, head.location).results[0]
    else:  # join: the two pixels, main operand first, each through its aligning ops
        channels = out_channels
        operands = []
        for k in range(2):
            part = create_op("hardcore.gather", [x], [tensor_type([channels], ir.RankedTensorType(x.type).element_type)],
                             {"indices": _dense_i64(list(range(k * channels, (k + 1) * channels)))},
                             head.location).results[0]
            for op in node.pre[k]:
                part = _elementwise(op, part, channels)
            operands.append(part)
        value = create_op("hardcore.add_tensors", operands,
                          [tensor_type([channels], _element(head.results[0]))], _kind(head), head.location).results[0]
    for op in node.post:
        value = _elementwise(op, value, out_channels)
    return value


def _kind(op) -> dict:
    return {"hardcore.kind": op.attributes["hardcore.kind"]} if "hardcore.kind" in op.attributes else {}


def _tail_ops(node: _Node, x, final):
    """The tail's ops on the collected vector `x`: the whole feature map (flatten) or its per-channel sums."""
    mapping = {}
    ops = node.tail_ops
    head = ops[0]
    if node.geometry["collect"] == "sum":
        channels = _shape(head.operands[0])[0]
        weight = array_attr(head, "weight").astype(np.int64).reshape(channels, -1)[:, 0]
        container = ir.RankedTensorType(head.attributes["weight"].type).element_type
        value = create_op("hardcore.dense", [x], [head.results[0].type],
                          {"weight": dense_attr(np.diag(weight), container), "bias": head.attributes["bias"],
                           **_kind(head)}, head.location).results[0]
        mapping[head.results[0]] = value
        ops = ops[1:]
    else:
        mapping[head.operands[0]] = x
    for op in ops:
        attributes = {key: op.attributes[key] for key in op.attributes}
        new = create_op(op.operation.name, [mapping[v] for v in op.operands], [r.type for r in op.results],
                        attributes, op.location)
        for old, fresh in zip(op.results, new.results):
            mapping[old] = fresh
    return mapping[final]
