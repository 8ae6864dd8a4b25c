"""The streamed circuit: its steps applied at every pixel in numpy, `build_streamed`, `StreamedCircuit`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch_mlir import ir

from hardcore import backend
from hardcore.adder_graph import signed_width
from hardcore.compiler import Circuit, _layer_figures, dag_figures
from hardcore.errors import UsageError
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import new_context, parse_module
from hardcore.passes.stream import node_attr, stream_steps
from hardcore.stream.parallel import _line_buffer, _output_slots, wrapper_text
from hardcore.stream.schedule import NodeLayout, _FIFO_GROUPS, _SOURCE, _layouts, fifo_depths
from hardcore.time_multiplex import steps_hw

__all__ = ["StreamedCircuit", "build_streamed", "run_steps"]


# -- the steps in numpy: the schedule checked without hardware -----------------------------------------------


def _windows(image: np.ndarray, g: dict) -> np.ndarray:
    """(batch, C, H, W) -> (batch, Ho*Wo, KH*KW*C): each output pixel's window, taps then channels."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = g["kernel"], g["stride"], g["padding"], g["dilation"]
    padded = np.pad(image, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=g["pad"])
    rows = np.arange(g["out_height"]) * sh
    columns = np.arange(g["out_width"]) * sw
    taps = [padded[:, :, rows[:, None] + a * dh, columns[None, :] + b * dw] for a in range(kh) for b in range(kw)]
    stacked = np.stack(taps, axis=1)  # (batch, taps, C, Ho, Wo)
    batch = image.shape[0]
    return stacked.transpose(0, 3, 4, 1, 2).reshape(batch, g["out_height"] * g["out_width"], -1)


def run_steps(steps: list, images) -> np.ndarray:
    """The steps of a streamed circuit applied at every pixel as the circuit applies them.

    `steps` are the functions of stage "streamed" (hardcore-stream's layer-level
    steps) or "dag" (folded), in node order; `images` (batch, C, H, W) are
    quantized input codes.  Returns the last node's output, (batch, *its
    shape): a vector for a tail, else (batch, C, Ho, Wo).
    """
    values = {_SOURCE: np.asarray(images, dtype=np.int64)}
    batch = len(values[_SOURCE])
    node = None
    for step in steps:
        node = node_attr(step, "node")
        kind, inputs = node_attr(step, "kind"), node_attr(step, "inputs")
        layered = body_ops(step)[0].operation.name == "hardcore.quantize"  # not folded yet: codes in, codes out

        def run(x):
            return run_function(step, [x], from_quantized=layered)
        if kind == "tail":
            source = values[inputs[0]]
            x = source.reshape(batch, -1) if node_attr(step, "collect") == "flat" else source.sum(axis=(2, 3))
            values[node] = run(x).reshape(batch, -1)
            continue
        if kind == "window":
            geometry = {key: node_attr(step, key) for key in ("kernel", "stride", "padding", "dilation", "pad",
                                                                 "out_height", "out_width")}
            x = _windows(values[inputs[0]], geometry)
        else:
            x = np.concatenate([values[i].transpose(0, 2, 3, 1).reshape(batch, -1, values[i].shape[1])
                                for i in inputs], axis=2)
        positions = x.shape[1]
        y = run(x.reshape(batch * positions, -1)).reshape(batch, positions, -1)
        values[node] = y.transpose(0, 2, 1).reshape(batch, -1, node_attr(step, "out_height"),
                                                   node_attr(step, "out_width"))
    return values[node]


# -- the circuit ---------------------------------------------------------------------------------------------


@dataclass
class StreamedCircuit(Circuit):
    """A compiled CNN that takes its image one pixel a clock on AXI4-Stream ports (docs/streaming.md).

    `nodes` describes each node (kind, grid, line-buffer bits, FIFO depths);
    the reference is `Circuit`'s, the quantized function of one whole image.
    """

    nodes: list = field(default_factory=list)
    cycles_per_frame: int = 0
    pixels_per_clock: int = 1

    @property
    def out_beat(self) -> int:
        """Pixels a transfer of a streamed output: P when its rows hold whole groups of P, else one."""
        last = self.nodes[-1] if self.nodes else {"kind": "tail"}
        if last["kind"] == "tail" or last["grid"][2] % self.pixels_per_clock:
            return 1
        return self.pixels_per_clock

    @property
    def pixels_in(self) -> int:
        return self.in_shape[1] * self.in_shape[2]

    @property
    def report(self) -> dict:
        report = super().report
        report["control_ports"] = {
            "clk": "clock, rising edge",
            "rst": "synchronous, active high: counters, valids, FIFOs and sums to 0",
            "s_axis_tvalid, s_axis_tready, s_axis_tdata, s_axis_tlast":
                (f"AXI4-Stream in: one pixel of x a transfer, raster order (row by row), channel c at "
                 f"[c*{self.in_width} +: {self.in_width}]; tlast on each image's last pixel"
                 if self.pixels_per_clock == 1 else
                 f"AXI4-Stream in: {self.pixels_per_clock} consecutive pixels of a row of x a transfer, raster "
                 f"order (row by row), pixel k of the transfer at [k*{self.in_shape[0] * self.in_width} +: "
                 f"{self.in_shape[0] * self.in_width}], its channel c at [c*{self.in_width} +: {self.in_width}] "
                 f"within; tlast on the transfer holding each image's last pixel"),
            "m_axis_tvalid, m_axis_tready, m_axis_tdata, m_axis_tlast":
                "AXI4-Stream out: " + ("y, one transfer an image (tlast always high)"
                                       if self.nodes and self.nodes[-1]["kind"] == "tail" else
                                       "one pixel of y a transfer, raster order; tlast on each image's last pixel"
                                       if self.out_beat == 1 else
                                       f"{self.out_beat} consecutive pixels of a row of y a transfer (pixel k at "
                                       f"[k*{self.nodes[-1]['grid'][0] * self.out_width} +: "
                                       f"{self.nodes[-1]['grid'][0] * self.out_width}]), raster order; tlast on "
                                       f"each image's last transfer")
                + "; held until taken",
            "frame_error": "sticky until rst: an input tlast did not fall on an image's last pixel"}
        report["stream"] = {"cycles_per_frame": self.cycles_per_frame, "nodes": self.nodes,
                            **({"pixels_per_clock": self.pixels_per_clock} if self.pixels_per_clock > 1 else {})}
        return report


def _node_report(node: NodeLayout, layer: dict, depths: dict, source_width: int, layouts, pixels: int) -> dict:
    g = node.geometry
    entry = {"node": node.index, "kind": node.kind, "inputs": node.inputs, **layer}
    if pixels > 1:  # P instances of the step (a window's: its slots that hold outputs; the tail's one)
        entry["instances"] = (len(set(j for m in _output_slots(g, pixels) for j in m)) if node.kind == "window"
                              else 1 if node.kind == "tail" else pixels)
        entry["adders"] *= entry["instances"]
        entry["adder_bits"] *= entry["instances"]
    if node.kind == "window":
        (kh, kw), (dh, dw), (ph, pw) = g["kernel"], g["dilation"], g["padding"]
        groups = -(-(g["width"] + 2 * pw) // pixels)  # a row's groups of P positions, dead ones at its end
        span = (kh - 1) * dh * (g["width"] + 2 * pw) + (kw - 1) * dw + 1 if pixels == 1 else \
            len(_line_buffer(g, pixels)[1])
        entry.update(kernel=g["kernel"], stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
                     line_buffer_bits=span * g["channels"] * node.in_width,
                     cycles_per_frame=(g["height"] + 2 * ph) * groups)
    if node.kind == "join" or pixels > 1:  # P > 1: a FIFO on every input, 4 P deep but a join's
        sizes = [depths[(node.index, k)] if node.kind == "join" else _FIFO_GROUPS * pixels
                 for k in range(len(node.inputs))]
        entry["fifo_depths"] = sizes
        entry["fifo_bits"] = sum(size * _element_bits(layouts, i, source_width)
                                 for size, i in zip(sizes, node.inputs))
    if node.kind == "tail":
        entry["collect"] = g["collect"]
    if node.kind != "tail":
        entry["grid"] = [g["out_channels"], g["out_height"], g["out_width"]]
    return entry


def _element_bits(layouts, producer: int, source_width: int) -> int:
    return source_width if producer == _SOURCE else layouts[producer].out_bits


def _pixels_per_clock(pixels: int, width: int) -> int:
    """UsageError unless `pixels` (1, 2, 4 or 8: `compile` checks it) divides the image's width."""
    if width % pixels:
        raise UsageError(f"compile: pixels_per_clock={pixels} does not divide the image's width {width}")
    return pixels


def build_streamed(module, name: str, stages: dict, options: dict) -> StreamedCircuit:
    """The circuit around the folded steps in `module` (after hardcore-stream and hardcore-fold-weights)."""
    steps = stream_steps(module.operation)
    layouts = _layouts(steps)
    quantized = parse_module(stages["quantized"], new_context())
    function = find_function(quantized.operation)
    quantize = body_ops(function)[0]
    in_low, in_high = int_attr(quantize, "min"), int_attr(quantize, "max")
    in_shape = list(ir.RankedTensorType(function.type.inputs[0]).shape)
    x_width = signed_width(in_low, in_high)
    channels, height, width = in_shape
    pixels = _pixels_per_clock(options.get("pixels_per_clock", 1), width)
    hw_text = steps_hw(module, steps)
    depths = fifo_depths(layouts, height * width, pixels)
    wrapper = wrapper_text(name, layouts, (channels, height, width, x_width), pixels)
    circuit_module = backend.to_circt("module {\n" + wrapper + "\n" + hw_text + "\n}\n")
    backend.run_circt_pipeline(circuit_module, "builtin.module(hw.module(cse))")
    stages["hw"] = str(circuit_module)
    verilog = backend.export_verilog(circuit_module)
    layers = [_layer_figures(step.attributes["hardcore.layers"][i]) for step in steps
              for i in range(len(step.attributes["hardcore.layers"]))]
    per_node = []
    for step, node in zip(steps, layouts):
        kinds = [_layer_figures(step.attributes["hardcore.layers"][i]).get("kind")
                 for i in range(len(step.attributes["hardcore.layers"]))]
        # every adder of the step (the layers' and their biases' and roundings'), counted once
        counted = dag_figures(step.operation.get_asm(large_elements_limit=None))
        summed = {key: counted[key] for key in ("adders", "adder_bits", "adder_depth")}
        summed["kinds"] = [kind for kind in kinds if kind]
        per_node.append(_node_report(node, summed, depths, channels * x_width, layouts, pixels))
    figures = dag_figures(stages["dag"])
    if pixels > 1:  # every instance's adders
        for key in ("adders", "adder_bits"):
            figures[key] = sum(n[key] for n in per_node)
    figures["line_buffer_bits"] = sum(n.get("line_buffer_bits", 0) for n in per_node)
    figures["fifo_bits"] = sum(n.get("fifo_bits", 0) for n in per_node)
    cycles = max([n.get("cycles_per_frame", 0) for n in per_node] + [height * width // pixels])
    figures["cycles_per_frame"] = cycles
    last, last_step = layouts[-1], steps[-1]
    out_type = ir.RankedTensorType(last_step.type.results[0])
    return StreamedCircuit(
        name=name, verilog=verilog, stages=stages, in_shape=in_shape, in_width=x_width,
        in_frac_bits=int_attr(steps[0], "hardcore.input_frac_bits"), in_range=(in_low, in_high),
        out_shape=list(ir.RankedTensorType(function.type.results[0]).shape), out_width=last.out_width,
        out_frac_bits=int_attr(last_step, "hardcore.output_frac_bits"), layers=layers, options=options,
        figures=figures, latency=0, out_signed="hardcore.output_unsigned" not in last_step.attributes,
        nodes=per_node, cycles_per_frame=cycles, pixels_per_clock=pixels)
