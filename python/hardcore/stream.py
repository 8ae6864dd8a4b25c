"""A streamed circuit: the step of every node (hardcore-stream) between line buffers, FIFOs and AXI4-Stream ports.

`hardcore.compile(model, x, stream=True)` imports convolutions whole
(`hardcore-import{stream=true}`), quantizes, runs `hardcore-stream` (a step
function per node: a convolution's kernel applied to one window, a max pool,
a residual add, a tail of dense layers) and `hardcore-fold-weights` on each
step; `hardcore-to-hw` makes each step a combinational module
`<name>_nodeK`, and `wrapper_text` wraps them in the top module `<name>`
(docs/streaming.md, "Streaming convolutions"):

    clk, rst, s_axis_tvalid, s_axis_tdata, s_axis_tlast, m_axis_tready
      -> s_axis_tready, m_axis_tvalid, m_axis_tdata, m_axis_tlast, frame_error

One pixel (all channels) a transfer, raster order.  Every node is a stage
with a valid/ready handshake and an output register:

- a *window* node walks its padded input grid (H + 2 ph) x (W + 2 pw) one
  position a clock: at a position inside the image it takes a pixel from its
  producer (and waits for one), on the padding it shifts in the padding
  value; its line buffer is one shift register of
  (KH - 1) dh (W + 2 pw) + (KW - 1) dw + 1 pixels, whose fixed taps are the
  window of the output pixel whose bottom-right tap just entered; when that
  position is an output position (stride), the step computes the output
  pixel into the output register;
- a *map* or *join* node computes its pixel (a join: when both inputs have
  one) into its output register;
- the *tail* collects the feature map (a frame buffer: a shift register of
  H x W pixels; or per-channel accumulators for a global average pool) and
  computes the vector output into its register;
- a node read by several nodes (a residual's fork) hands a pixel on when all
  readers take it; a join's inputs go through FIFOs deep enough for the lag
  between its two branches (`fifo_depths`), so the fork never deadlocks.

With `pixels_per_clock=P` (> 1; `_ParallelWrapper`) a transfer carries P
pixels of a row, a window node takes a group of P positions of its padded
row (rounded up to a multiple of P with dead positions) a clock through P
instances of its step, and every edge is a gearbox FIFO of pixels: the
producer writes its 0..P pixels when the FIFOs it feeds have room for P,
the consumer takes what its clock needs.

`StreamedCircuit.reference` is `Circuit`'s (the quantized function of one
image); `run_steps` applies the steps at every pixel in numpy, and
`simulate_frames` runs the Verilog with random stalls on both sides.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch_mlir import ir

from hardcore import backend
from hardcore.adder_graph import signed_width
from hardcore.compiler import Circuit, _layer_figures, dag_figures
from hardcore.errors import CompileError, HardcoreError, UsageError
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import collect_diagnostics, new_context, parse_module
from hardcore.passes.stream import node_attr, stream_steps
from hardcore.passes.to_hw import LoweringError, lower_function
from hardcore.time_multiplex import _Text

__all__ = ["StreamedCircuit", "NodeLayout", "build_streamed", "wrapper_text", "run_steps", "fifo_depths",
           "simulate_frames", "FrameResult"]

_SOURCE = -1
# P > 1: the FIFO on an edge (but a join's) holds this many groups of P pixels
_FIFO_GROUPS = 4


@dataclass
class NodeLayout:
    """One node of the stream graph: what the wrapper needs of its step."""

    index: int
    kind: str               # window, map, join, tail
    inputs: list[int]
    in_width: int           # the step's input element width
    out_elements: int       # the step's output elements (a pixel's channels, or the tail's vector)
    out_width: int          # their width (the port's, for an unsigned index)
    geometry: dict = field(default_factory=dict)
    module: str = ""        # the step's hw module (its function's name)

    @property
    def out_bits(self) -> int:
        return self.out_elements * self.out_width

    def grid(self) -> tuple[int, int]:
        """The output pixels' grid (rows, columns)."""
        return self.geometry["out_height"], self.geometry["out_width"]


def _layouts(steps) -> list[NodeLayout]:
    layouts = []
    for step in steps:
        attrs = ir.DictAttr(step.attributes["hardcore.stream"])
        geometry = {attrs[i].name: node_attr(step, attrs[i].name) for i in range(len(attrs))}
        in_type = ir.RankedTensorType(step.type.inputs[0])
        out_type = ir.RankedTensorType(step.type.results[0])
        unsigned = "hardcore.output_unsigned" in step.attributes
        layouts.append(NodeLayout(index=geometry["node"], kind=geometry["kind"], inputs=geometry["inputs"],
                                  in_width=ir.IntegerType(in_type.element_type).width,
                                  out_elements=int(np.prod(out_type.shape)),
                                  out_width=ir.IntegerType(out_type.element_type).width - unsigned,
                                  geometry=geometry, module=step.name.value))
    return layouts


# -- schedule: how many source pixels each output needs, and the FIFOs of the joins -------------------------


def _window_needs(g: dict, pixels: int = 1) -> np.ndarray:
    """For each output pixel q (raster order) of a window node, how many input pixels it must have taken
    (`pixels` a clock: the whole group of `pixels` positions holding its bottom-right tap)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = g["kernel"], g["stride"], g["padding"], g["dilation"]
    height, width = g["height"], g["width"]
    rows = np.arange(g["out_height"]) * sh + (kh - 1) * dh  # padded position of the bottom-right tap
    columns = (np.arange(g["out_width"]) * sw + (kw - 1) * dw) // pixels * pixels + pixels - 1
    # real pixels up to and including padded (r, c) in raster order
    full_rows = np.clip(rows - ph, 0, height)                    # image rows entirely before row r
    in_row = np.clip(columns - pw + 1, 0, width)                 # pixels of row r up to column c
    inside = (rows >= ph) & (rows < ph + height)
    return (full_rows[:, None] * width + np.where(inside[:, None], in_row[None, :], 0)).reshape(-1)


def source_needs(layouts: list[NodeLayout], source_pixels: int, pixels: int = 1) -> dict[int, np.ndarray]:
    """need[k][q]: the source pixels node k must have taken (through its producers) to give its output q + 1,
    the source giving `pixels` a transfer."""
    need = {_SOURCE: -(-np.arange(1, source_pixels + 1) // pixels) * pixels}
    for node in layouts:
        if node.kind == "tail":
            continue
        if node.kind == "window":
            local = _window_needs(node.geometry, pixels)
            upstream = need[node.inputs[0]]
            need[node.index] = np.where(local > 0, upstream[np.maximum(local - 1, 0)], 0)
        elif node.kind == "map":
            need[node.index] = need[node.inputs[0]]
        else:
            need[node.index] = np.maximum(need[node.inputs[0]], need[node.inputs[1]])
    return need


def fifo_depths(layouts: list[NodeLayout], source_pixels: int, pixels: int = 1) -> dict[tuple[int, int], int]:
    """The depth of the FIFO on each join input (join node, operand): a power of two, at least 2 `pixels`.

    When the join waits for its output q + 1, the source has given need[join][q]
    pixels; the other branch may meanwhile have made every output those pixels
    allow, minus the q the join took: the FIFO holds them (plus the stages'
    own registers' slack, a write of `pixels` at once), so the fork feeding
    both branches never waits on a full FIFO for a pixel the other branch needs.
    """
    need = source_needs(layouts, source_pixels, pixels)
    depths = {}
    for node in layouts:
        if node.kind != "join":
            continue
        waiting = need[node.index]
        for operand, producer in enumerate(node.inputs):
            made = np.searchsorted(need[producer], waiting, side="right")  # outputs that many pixels allow
            backlog = int(np.max(made - np.arange(len(waiting)), initial=0))
            depths[(node.index, operand)] = 1 << (backlog + 2 * pixels - 1).bit_length()  # >= backlog + 2 P
    return depths


# -- the wrapper --------------------------------------------------------------------------------------------


def _bits(count: int) -> int:
    """Counter bits for values 0..count-1."""
    return max((count - 1).bit_length(), 1)


class _Wrapper:
    def __init__(self, name: str, layouts: list[NodeLayout], source: tuple[int, int, int, int]):
        self.name = name
        self.layouts = layouts
        self.channels, self.height, self.width, self.x_width = source
        self.body = _Text()
        self.ff: list[str] = []        # statements of the always_ff block
        self.resets: list[str] = []    # statements of its synchronous reset
        self.ready: dict[tuple[int, int], str] = {}  # (consumer, operand) -> its ready
        self.consumers: dict[int, list[tuple[int, int]]] = {}
        for node in layouts:
            for operand, producer in enumerate(node.inputs):
                self.consumers.setdefault(producer, []).append((node.index, operand))
        self.false = self.emit("hw.constant false")
        self.true = self.emit("hw.constant true")

    def emit(self, text: str, name: str | None = None) -> str:
        return self.body.emit(text, name)

    def const(self, value: int, width: int) -> str:
        return self.emit(f"hw.constant {value} : i{width}")

    def register(self, name: str, width: int, reset: int | None = None,
                 value_name: str | None = None) -> tuple[str, str]:
        """(the register, its value, named `value_name` if given); `reset` for a control register."""
        reg = self.emit(f"sv.reg : !hw.inout<i{width}>", name)
        if reset is not None:
            self.resets.append(f"sv.passign {reg}, {self.const(reset, width)} : i{width}")
        return reg, self.emit(f"sv.read_inout {reg} : !hw.inout<i{width}>", value_name)

    def assign(self, reg: str, value: str, width: int, when: str | None = None) -> None:
        line = f"sv.passign {reg}, {value} : i{width}"
        self.ff.append(line if when is None else f"sv.if {when} {{\n  {line}\n}}")

    def and_(self, *values: str) -> str:
        values = [v for v in values if v != self.true]
        if not values:
            return self.true
        return values[0] if len(values) == 1 else self.emit(f"comb.and {', '.join(values)} : i1")

    def or_(self, *values: str) -> str:
        if not values:
            return self.false
        return values[0] if len(values) == 1 else self.emit(f"comb.or {', '.join(values)} : i1")

    def not_(self, value: str) -> str:
        return self.emit(f"comb.xor {value}, {self.true} : i1")

    def mux(self, select: str, high: str, low: str, width: int) -> str:
        return self.emit(f"comb.mux {select}, {high}, {low} : i{width}")

    def eq(self, value: str, constant: int, width: int) -> str:
        return self.emit(f"comb.icmp eq {value}, {self.const(constant, width)} : i{width}")

    def extract(self, value: str, low: int, width: int, total: int) -> str:
        if low == 0 and width == total:
            return value
        return self.emit(f"comb.extract {value} from {low} : (i{total}) -> i{width}")

    def concat(self, parts: list[tuple[str, int]]) -> str:
        """parts: (value, bits), the first the most significant."""
        if len(parts) == 1:
            return parts[0][0]
        return self.emit(f"comb.concat {', '.join(v for v, _ in parts)} : {', '.join(f'i{b}' for _, b in parts)}")

    def resize(self, value: str, width: int, new: int) -> str:
        """A two's complement element `width` bits wide as `new` bits (sign extension or exact truncation)."""
        if new == width:
            return value
        if new < width:
            return self.extract(value, 0, new, width)
        sign = self.extract(value, width - 1, 1, width)
        return self.concat([(self.emit(f"comb.replicate {sign} : (i1) -> i{new - width}"), new - width),
                            (value, width)])

    def repack(self, value: str, count: int, width: int, new: int) -> str:
        """A vector of `count` elements of `width` bits as elements of `new` bits."""
        if new == width:
            return value
        elements = [self.resize(self.extract(value, i * width, width, count * width), width, new)
                    for i in range(count)]
        return self.concat([(e, new) for e in reversed(elements)])

    def counter(self, name: str, count: int, step: str) -> tuple[str, str]:
        """A counter 0..count-1 advancing when `step`; (its value, whether it is at count - 1)."""
        bits = _bits(count)
        reg, value = self.register(name, bits, reset=0)
        last = self.eq(value, count - 1, bits)
        following = self.emit(f"comb.add {value}, {self.const(1, bits)} : i{bits}")
        self.assign(reg, self.mux(last, self.const(0, bits), following, bits), bits, when=step)
        return value, last

    def counter2(self, name: str, rows: int, columns: int, step: str) -> tuple[str, str, str, str]:
        """Row and column counters over a rows x columns grid; (row, column, last column, last row)."""
        column, column_last = self.counter(f"{name}_col", columns, step)
        row, row_last = self.counter(f"{name}_row", rows, self.and_(step, column_last))
        return row, column, column_last, row_last

    def in_set(self, value: str, members: list[int], width: int) -> str:
        return self.or_(*[self.eq(value, m, width) for m in members])

    def in_range(self, value: str, low: int, high: int, width: int) -> str:
        """low <= value < high, unsigned."""
        checks = []
        if low > 0:
            checks.append(self.emit(f"comb.icmp uge {value}, {self.const(low, width)} : i{width}"))
        if high < 1 << width:
            checks.append(self.emit(f"comb.icmp ult {value}, {self.const(high, width)} : i{width}"))
        return self.and_(*checks)

    def alias(self, value: str, name: str) -> str:
        """A name for a 1-bit value, so that nodes can refer to each other's handshake before it is built."""
        return self.emit(f"comb.or {value}, {self.false} : i1", name)

    def instance(self, node: NodeLayout, x: str, x_bits: int) -> str:
        """The node's step on `x`: its output pixel, `%y<k>`."""
        return self.emit(f'hw.instance "node{node.index}" @{node.module}(x: {x}: i{x_bits}) '
                         f"-> (y: i{node.out_bits})", f"y{node.index}")

    # -- nodes: each defines %v{k}, %d{k} (valid, data) and uses %r{k} (its readers' ready)

    def input_of(self, node: NodeLayout, operand: int) -> tuple[str, str, int, int]:
        """(valid, data, element width, elements) of a node's operand; a producer read by several
        nodes hands a pixel on when all of them are ready (the others' ready gates this one's valid)."""
        producer = node.inputs[operand]
        if producer == _SOURCE:
            valid, data, width, elements = "%s_axis_tvalid", "%s_axis_tdata", self.x_width, self.channels
        else:
            layout = self.layouts[producer]
            valid, data, width, elements = f"%v{producer}", f"%d{producer}", layout.out_width, layout.out_elements
        others = [f"%rdy{c}_{o}" for c, o in self.consumers[producer] if (c, o) != (node.index, operand)]
        return self.and_(valid, *others), data, width, elements

    def output_stage(self, node: NodeLayout, fire: str, value: str) -> str:
        """The node's output register and valid: loaded with `value` when `fire`; returns whether it is free."""
        k = node.index
        free = self.or_(self.not_(f"%v{k}"), f"%r{k}")
        reg, _ = self.register(f"node{k}_out", node.out_bits, value_name=f"d{k}")
        valid_reg, valid = self.register(f"node{k}_valid", 1, reset=0, value_name=f"v{k}")
        self.assign(reg, value, node.out_bits, when=fire)
        keep = self.and_(valid, self.not_(f"%r{k}"))
        self.assign(valid_reg, self.or_(fire, keep), 1)
        return free

    def window(self, node: NodeLayout) -> None:
        g = node.geometry
        k = node.index
        valid, data, width, channels = self.input_of(node, 0)
        (kh, kw), (dh, dw), (ph, pw) = g["kernel"], g["dilation"], g["padding"]
        padded_h, padded_w = g["height"] + 2 * ph, g["width"] + 2 * pw
        span = (kh - 1) * dh * padded_w + (kw - 1) * dw + 1
        pixel = channels * node.in_width
        window_reg, window_valid = self.register(f"node{k}_window_valid", 1, reset=0)
        free = self.output_stage(node, self.emit(f"comb.and {window_valid}, %free{k} : i1", f"consume{k}"),
                                 f"%y{k}")
        self.alias(free, f"free{k}")
        can_shift = self.or_(self.not_(window_valid), f"%consume{k}")
        advance_name = f"advance{k}"
        row, column, _, _ = self.counter2(f"node{k}", padded_h, padded_w, f"%{advance_name}")
        interior = self.and_(self.in_range(row, ph, ph + g["height"], _bits(padded_h)),
                             self.in_range(column, pw, pw + g["width"], _bits(padded_w)))
        self.emit(f"comb.and {can_shift}, {interior} : i1", f"rdy{k}_0")
        self.ready[(k, 0)] = f"%rdy{k}_0"
        self.emit(f"comb.and {can_shift}, {self.or_(self.not_(interior), valid)} : i1", advance_name)
        pad = self.concat([(self.const(g["pad"], node.in_width), node.in_width)] * channels)
        incoming = self.mux(interior, self.repack(data, channels, width, node.in_width), pad, pixel)
        shift_reg, shift = self.register(f"node{k}_line", span * pixel)
        shifted = incoming if span == 1 else self.concat(
            [(self.extract(shift, 0, (span - 1) * pixel, span * pixel), (span - 1) * pixel), (incoming, pixel)])
        self.assign(shift_reg, shifted, span * pixel, when=f"%{advance_name}")
        output_rows = [(kh - 1) * dh + i * g["stride"][0] for i in range(g["out_height"])]
        output_columns = [(kw - 1) * dw + j * g["stride"][1] for j in range(g["out_width"])]
        done = self.and_(self.in_set(row, output_rows, _bits(padded_h)),
                         self.in_set(column, output_columns, _bits(padded_w)))
        next_valid = self.mux(f"%{advance_name}", done,
                              self.and_(window_valid, self.not_(f"%consume{k}")), 1)
        self.assign(window_reg, next_valid, 1)
        taps = []
        for a in range(kh):
            for b in range(kw):
                offset = (kh - 1 - a) * dh * padded_w + (kw - 1 - b) * dw
                taps.append(self.extract(shift, offset * pixel, pixel, span * pixel))
        x = self.concat([(t, pixel) for t in reversed(taps)])
        self.instance(node, x, pixel * kh * kw)

    def fifo(self, node: NodeLayout, operand: int, depth: int) -> tuple[str, str, int, int]:
        """A FIFO on a join's operand; (valid, data, width, elements) of its head, and its ready to the producer."""
        k = node.index
        valid, data, width, elements = self.input_of(node, operand)
        bits = width * elements
        index_bits = _bits(depth)
        name = f"node{k}_fifo{operand}"
        array = f"!hw.uarray<{depth}xi{bits}>"  # unpacked: reg [w-1:0] m [0:d-1], which Yosys 0.23 reads
        memory = self.emit(f"sv.reg : !hw.inout<{array}>", f"{name}")
        count_reg, count = self.register(f"{name}_count", index_bits + 1, reset=0)
        write_reg, write = self.register(f"{name}_write", index_bits, reset=0)
        read_reg, read = self.register(f"{name}_read", index_bits, reset=0)
        full = self.eq(count, depth, index_bits + 1)
        self.emit(f"comb.xor {full}, {self.true} : i1", f"rdy{k}_{operand}")
        self.ready[(k, operand)] = f"%rdy{k}_{operand}"
        push = self.and_(valid, f"%rdy{k}_{operand}")
        head_valid = self.not_(self.eq(count, 0, index_bits + 1))
        pop = self.and_(head_valid, f"%pop{k}")
        slot = self.emit(f"sv.array_index_inout {memory}[{write}] : !hw.inout<{array}>, i{index_bits}")
        self.assign(slot, data, bits, when=push)
        one = self.const(1, index_bits)
        self.assign(write_reg, self.emit(f"comb.add {write}, {one} : i{index_bits}"), index_bits, when=push)
        self.assign(read_reg, self.emit(f"comb.add {read}, {one} : i{index_bits}"), index_bits, when=pop)
        wide = index_bits + 1
        up = self.emit(f"comb.add {count}, {self.const(1, wide)} : i{wide}")
        down = self.emit(f"comb.sub {count}, {self.const(1, wide)} : i{wide}")
        changed = self.mux(push, up, down, wide)
        self.assign(count_reg, changed, wide, when=self.emit(f"comb.xor {push}, {pop} : i1"))
        head_slot = self.emit(f"sv.array_index_inout {memory}[{read}] : !hw.inout<{array}>, i{index_bits}")
        head = self.emit(f"sv.read_inout {head_slot} : !hw.inout<i{bits}>")
        return head_valid, head, width, elements

    def join(self, node: NodeLayout, depths: dict) -> None:
        k = node.index
        heads = [self.fifo(node, operand, depths[(k, operand)]) for operand in range(2)]
        both = self.and_(heads[0][0], heads[1][0])
        fire = self.emit(f"comb.and {both}, %free{k} : i1", f"pop{k}")
        free = self.output_stage(node, fire, f"%y{k}")
        self.alias(free, f"free{k}")
        channels = heads[0][3]
        parts = [self.repack(head[1], channels, head[2], node.in_width) for head in heads]
        bits = 2 * channels * node.in_width
        x = self.concat([(parts[1], bits // 2), (parts[0], bits // 2)])
        self.instance(node, x, bits)

    def map(self, node: NodeLayout) -> None:
        k = node.index
        valid, data, width, channels = self.input_of(node, 0)
        free = self.output_stage(node, self.emit(f"comb.and {valid}, %free{k} : i1"), f"%y{k}")
        self.alias(free, f"free{k}")
        self.alias(f"%free{k}", f"rdy{k}_0")
        self.ready[(k, 0)] = f"%rdy{k}_0"
        x = self.repack(data, channels, width, node.in_width)
        self.instance(node, x, channels * node.in_width)

    def tail(self, node: NodeLayout) -> None:
        g = node.geometry
        k = node.index
        valid, data, width, channels = self.input_of(node, 0)
        positions = g["height"] * g["width"]
        full_reg, full = self.register(f"node{k}_full", 1, reset=0)
        take = self.emit(f"comb.and {full}, %free{k} : i1", f"take{k}")
        free = self.output_stage(node, take, f"%y{k}")
        self.alias(free, f"free{k}")
        self.alias(self.or_(self.not_(full), take), f"rdy{k}_0")
        self.ready[(k, 0)] = f"%rdy{k}_0"
        push = self.and_(valid, f"%rdy{k}_0")
        _, last = self.counter(f"node{k}_position", positions, push)
        completes = self.and_(push, last)
        self.assign(full_reg, self.or_(completes, self.and_(full, self.not_(take))), 1)
        if g["collect"] == "flat":
            pixel = channels * width
            buffer_reg, buffer = self.register(f"node{k}_frame", positions * pixel)
            shifted = data if positions == 1 else self.concat(
                [(self.extract(buffer, 0, (positions - 1) * pixel, positions * pixel), (positions - 1) * pixel),
                 (data, pixel)])
            self.assign(buffer_reg, shifted, positions * pixel, when=push)
            # element (c, p) of the C x H x W input: channel c of pixel p, at offset positions - 1 - p
            elements = [self.resize(self.extract(buffer, (positions - 1 - p) * pixel + c * width, width,
                                                 positions * pixel), width, node.in_width)
                        for c in range(channels) for p in range(positions)]
            x_bits = len(elements) * node.in_width
            x = self.concat([(e, node.in_width) for e in reversed(elements)])
        else:
            sums = []
            wide = node.in_width
            for c in range(channels):
                acc_reg, acc = self.register(f"node{k}_sum{c}", wide)
                self.resets.append(f"sv.passign {acc_reg}, {self.const(0, wide)} : i{wide}")
                element = self.resize(self.extract(data, c * width, width, channels * width), width, wide)
                total = self.emit(f"comb.add {acc}, {element} : i{wide}")
                self.assign(acc_reg, self.mux(last, self.const(0, wide), total, wide), wide, when=push)
                held_reg, held = self.register(f"node{k}_pooled{c}", wide)
                self.assign(held_reg, total, wide, when=completes)
                sums.append(held)
            x_bits = channels * wide
            x = self.concat([(s, wide) for s in reversed(sums)])
        self.instance(node, x, x_bits)

    def text(self, depths: dict) -> str:
        for node in self.layouts:
            if node.kind == "window":
                self.window(node)
            elif node.kind == "map":
                self.map(node)
            elif node.kind == "join":
                self.join(node, depths)
            else:
                self.tail(node)
        # each node's ready: all its readers' (the source's is s_axis_tready)
        last = self.layouts[-1]
        for producer, readers in self.consumers.items():
            self.alias(self.and_(*[self.ready[c] for c in readers]), f"r{producer}" if producer != _SOURCE else "rsrc")
        self.alias("%m_axis_tready", f"r{last.index}")
        # the source's frame position: s_axis_tlast must mark its last pixel, else frame_error stays high
        take = self.and_("%s_axis_tvalid", "%rsrc")
        _, source_last = self.counter("source_position", self.height * self.width, take)
        error_reg, error = self.register("frame_error_flag", 1, reset=0)
        wrong = self.emit(f"comb.xor %s_axis_tlast, {source_last} : i1")
        self.assign(error_reg, self.true, 1, when=self.and_(take, wrong))
        if last.kind == "tail":
            out_last = self.true
        else:
            fire = self.and_(f"%v{last.index}", "%m_axis_tready")
            rows, columns = last.grid()
            _, out_last = self.counter("output_position", rows * columns, fire)
        x_bits = self.channels * self.x_width
        header = (f"hw.module @{self.name}(in %clk : i1, in %rst : i1, in %s_axis_tvalid : i1, "
                  f"in %s_axis_tdata : i{x_bits}, in %s_axis_tlast : i1, in %m_axis_tready : i1, "
                  f"out s_axis_tready : i1, out m_axis_tvalid : i1, out m_axis_tdata : i{last.out_bits}, "
                  f"out m_axis_tlast : i1, out frame_error : i1) {{")
        block = "\n".join("      " + line.replace("\n", "\n      ") for line in self.ff)
        resets = "\n".join("      " + line for line in self.resets)
        self.body.line("sv.alwaysff(posedge %clk) {\n" + block + "\n    }(syncreset : posedge %rst) {\n" +
                       resets + "\n    }")
        return "\n".join([header] + self.body.lines + [
            f"    hw.output %rsrc, %v{last.index}, %d{last.index}, {out_last}, {error} : i1, i1, "
            f"i{last.out_bits}, i1, i1", "}"])


# -- P pixels a clock ---------------------------------------------------------------------------------------


def _tap_offset(g: dict, pixels: int, row_length: int, slot: int, a: int, b: int) -> int:
    """How many positions before the group's newest tap (a, b) of the window of slot `slot` entered."""
    (kh, kw), (dh, dw) = g["kernel"], g["dilation"]
    return (pixels - 1 - slot) + (kh - 1 - a) * dh * row_length + (kw - 1 - b) * dw


def _line_buffer(g: dict, pixels: int) -> tuple[int, list[int], list[list[int]]]:
    """A window node's line buffer, P pixels a clock: (row length with dead positions, the offsets it keeps,
    each group's output slots).  Offset o is the position o before the newest; it is kept when a tap of
    a slot with outputs reads it or will read it some shifts later."""
    (kh, kw), (_, pw) = g["kernel"], g["padding"]
    made = _output_slots(g, pixels)
    row_length = len(made) * pixels
    taps = {_tap_offset(g, pixels, row_length, j, a, b) for j in set(j for m in made for j in m)
            for a in range(kh) for b in range(kw)}
    live = sorted({t - m * pixels for t in taps for m in range(t // pixels + 1)})
    return row_length, live, made


def _output_slots(g: dict, pixels: int) -> list[list[int]]:
    """For each group of `pixels` positions of a window node's padded row, the slots that are output columns."""
    (_, kw), (_, pw), (_, dw) = g["kernel"], g["padding"], g["dilation"]
    groups = -(-(g["width"] + 2 * pw) // pixels)
    columns = set((kw - 1) * dw + j * g["stride"][1] for j in range(g["out_width"]))
    return [[j for j in range(pixels) if q * pixels + j in columns] for q in range(groups)]


class _ParallelWrapper(_Wrapper):
    """The top module for P > 1 pixels a clock: P step instances per node, gearbox FIFOs between nodes.

    Every edge (producer -> consumer operand, and the last node -> a streamed
    output) is a FIFO of pixels: the producer writes `%n<k>` pixels (0..P,
    packed from slot 0 of `%o<k>`) at once when every FIFO it feeds has P
    free slots (`%w<k>`); the consumer pops `%pop<k>_<operand>` pixels (what
    it takes) from the FIFO's head slots.  The source writes P pixels a
    transfer, `s_axis_tdata`'s beat.
    """

    def __init__(self, name: str, layouts: list[NodeLayout], source: tuple[int, int, int, int], pixels: int):
        super().__init__(name, layouts, source)
        self.pixels = pixels
        self.count_bits = pixels.bit_length()          # a pixel count 0..P
        self.writable: dict[int, list[str]] = {}      # producer -> its FIFOs' "P free slots"

    def zext(self, value: str, width: int, new: int) -> str:
        return value if new == width else self.concat([(self.const(0, new - width), new - width), (value, width)])

    def table(self, index: str, values: list[int], index_bits: int, width: int) -> str:
        """values[index] for index in 0..len(values)-1, a constant per index (a mux per distinct value)."""
        common = max(set(values), key=values.count)
        result = self.const(common, width)
        for value in sorted(set(values) - {common}):
            members = [i for i, v in enumerate(values) if v == value]
            result = self.mux(self.in_set(index, members, index_bits), self.const(value, width), result, width)
        return result

    def at_least(self, count: str, count_width: int, needed: str) -> str:
        return self.emit(f"comb.icmp uge {count}, {self.zext(needed, self.count_bits, count_width)} : i{count_width}")

    def up_to_p(self, count: str, count_width: int) -> str:
        """min(count, P) as a pixel count."""
        p = self.pixels
        many = self.emit(f"comb.icmp uge {count}, {self.const(p, count_width)} : i{count_width}")
        return self.mux(many, self.const(p, self.count_bits), self.extract(count, 0, self.count_bits, count_width),
                        self.count_bits)

    def producer_of(self, producer: int) -> tuple[str, str, int, int, str]:
        """(written pixels, packed slots, element width, elements, name) of a producer (or the source)."""
        if producer == _SOURCE:
            return "%nsrc", "%s_axis_tdata", self.x_width, self.channels, "src"
        layout = self.layouts[producer]
        return f"%n{producer}", f"%o{producer}", layout.out_width, layout.out_elements, str(producer)

    def wire(self, value: str, bits: int, name: str) -> str:
        """`value` through a named wire, so that Verilog does not inline it where it cannot stand."""
        wire = self.emit(f"sv.wire : !hw.inout<i{bits}>", name)
        self.body.line(f"sv.assign {wire}, {value} : i{bits}")
        return self.emit(f"sv.read_inout {wire} : !hw.inout<i{bits}>")

    def slot_index(self, pointer: str, slot: int, bits: int, name: str) -> str:
        """pointer + slot, through a wire: an index expression inlined into an array index is 32 bits wide
        in Verilog's width rules (Verilator -Wall: WIDTH)."""
        if slot == 0:
            return pointer
        return self.wire(self.emit(f"comb.add {pointer}, {self.const(slot, bits)} : i{bits}"), bits, name)

    def gearbox(self, name: str, producer: int, pop: str, depth: int) -> tuple[str, int, object, int, int]:
        """A FIFO of `depth` pixels from `producer`, popping `pop` pixels a cycle; (count, its bits, head slot
        j's pixel as a function of j, element width, elements)."""
        written, data, width, elements, key = self.producer_of(producer)
        bits = width * elements
        p = self.pixels
        index_bits = _bits(depth)
        wide = index_bits + 1
        array = f"!hw.uarray<{depth}xi{bits}>"  # unpacked: reg [w-1:0] m [0:d-1], which Yosys 0.23 reads
        memory = self.emit(f"sv.reg : !hw.inout<{array}>", name)
        count_reg, count = self.register(f"{name}_count", wide, reset=0)
        write_reg, write = self.register(f"{name}_write", index_bits, reset=0)
        read_reg, read = self.register(f"{name}_read", index_bits, reset=0)
        self.writable.setdefault(producer, []).append(
            self.emit(f"comb.icmp ule {count}, {self.const(depth - p, wide)} : i{wide}"))
        for slot in range(p):
            at = self.slot_index(write, slot, index_bits, f"{name}_put{slot}")
            cell = self.emit(f"sv.array_index_inout {memory}[{at}] : !hw.inout<{array}>, i{index_bits}")
            more = self.emit(f"comb.icmp ugt {written}, {self.const(slot, self.count_bits)} : i{self.count_bits}")
            self.assign(cell, self.extract(data, slot * bits, bits, p * bits), bits, when=more)
        self.assign(write_reg, self.emit(
            f"comb.add {write}, {self.zext(written, self.count_bits, index_bits)} : i{index_bits}"), index_bits)
        self.assign(read_reg, self.emit(
            f"comb.add {read}, {self.zext(pop, self.count_bits, index_bits)} : i{index_bits}"), index_bits)
        grown = self.emit(f"comb.add {count}, {self.zext(written, self.count_bits, wide)} : i{wide}")
        self.assign(count_reg, self.emit(f"comb.sub {grown}, {self.zext(pop, self.count_bits, wide)} : i{wide}"),
                    wide)
        heads: dict[int, str] = {}

        def head(slot: int) -> str:  # built when first read: no unused wire
            if slot not in heads:
                at = self.slot_index(read, slot, index_bits, f"{name}_get{slot}")
                cell = self.emit(f"sv.array_index_inout {memory}[{at}] : !hw.inout<{array}>, i{index_bits}")
                heads[slot] = self.wire(self.emit(f"sv.read_inout {cell} : !hw.inout<i{bits}>"), bits,
                                        f"{name}_head{slot}")
            return heads[slot]
        return count, wide, head, width, elements

    def operand(self, node: NodeLayout, operand: int, depth: int) -> tuple[str, int, object, int]:
        """The FIFO on a node's operand; (count, its bits, head slot j as the step's elements, elements)."""
        k = node.index
        count, wide, head, width, elements = self.gearbox(f"node{k}_fifo{operand}", node.inputs[operand],
                                                          f"%pop{k}_{operand}", depth)
        return count, wide, lambda j: self.repack(head(j), elements, width, node.in_width), elements

    def outputs(self, node: NodeLayout, slots: list[str], count: str) -> None:
        """The node's writes: `count` pixels (named %n<k>) of `slots` (packed as %o<k>, slot 0 lowest)."""
        k = node.index
        self.emit(f"comb.or {count}, {self.const(0, self.count_bits)} : i{self.count_bits}", f"n{k}")
        self.emit(f"comb.concat {', '.join(reversed(slots))} : {', '.join([f'i{node.out_bits}'] * len(slots))}",
                  f"o{k}")

    def instances(self, node: NodeLayout, xs: list[str], x_bits: int, slots: list[int] | None = None) -> list[str]:
        """The node's step on each of `xs` (slot j's instance `node<k>_<j>`): their outputs."""
        return [self.emit(f'hw.instance "node{node.index}_{j}" @{node.module}(x: {x}: i{x_bits}) '
                          f"-> (y: i{node.out_bits})", f"y{node.index}_{j}")
                for j, x in zip(slots or range(len(xs)), xs)]

    def window(self, node: NodeLayout) -> None:
        g = node.geometry
        k, p = node.index, self.pixels
        nb = self.count_bits
        count, count_width, heads, channels = self.operand(node, 0, _FIFO_GROUPS * p)
        (kh, kw), (ph, pw), dh = g["kernel"], g["padding"], g["dilation"][0]
        height, width = g["height"], g["width"]
        padded_h, groups = height + 2 * ph, -(-(width + 2 * pw) // p)
        row_length, live, made = _line_buffer(g, p)
        stored = len(live)
        where = {o: i for i, o in enumerate(live)}  # a live offset's place in the register, the newest lowest
        pixel = channels * node.in_width
        group_bits = _bits(groups)
        pending_reg, pending = self.register(f"node{k}_pending", nb, reset=0)
        waiting = self.not_(self.eq(pending, 0, nb))
        fire = self.emit(f"comb.and {waiting}, %w{k} : i1", f"fire{k}")
        can_shift = self.or_(self.not_(waiting), fire)
        row, column, _, _ = self.counter2(f"node{k}", padded_h, groups, f"%advance{k}")
        row_inside = self.in_range(row, ph, ph + height, _bits(padded_h))
        inside = [len([c for c in range(q * p, q * p + p) if pw <= c < pw + width]) for q in range(groups)]
        needed = self.mux(row_inside, self.table(column, inside, group_bits, nb), self.const(0, nb), nb)
        advance = self.emit(f"comb.and {can_shift}, {self.at_least(count, count_width, needed)} : i1",
                            f"advance{k}")
        self.emit(f"comb.mux {advance}, {needed}, {self.const(0, nb)} : i{nb}", f"pop{k}_0")
        # slot j of group q is column q P + j: inside the image for q in [ceil((pw - j) / P), ceil((pw + W - j) / P));
        # the group holding column pw takes its pixels from the FIFO's head from slot 0 on
        pad = self.concat([(self.const(g["pad"], node.in_width), node.in_width)] * channels)
        first, offset = divmod(pw, p)
        line_reg, line = self.register(f"node{k}_line", stored * pixel)
        entries = []  # the register after a shift: offset o takes offset o - P, or slot P - 1 - o of the group
        for o in live:
            if o >= p:
                entries.append(self.extract(line, where[o - p] * pixel, pixel, stored * pixel))
                continue
            j = p - 1 - o
            low, high = max(-(-(pw - j) // p), 0), min(-(-(pw + width - j) // p), groups)
            if low >= high:
                entries.append(pad)
                continue
            taken = heads(j) if j < offset or offset == 0 else \
                self.mux(self.eq(column, first, group_bits), heads(j - offset), heads(j), pixel)
            here = self.and_(row_inside, self.in_range(column, low, high, group_bits))
            entries.append(self.mux(here, taken, pad, pixel))
        self.assign(line_reg, self.concat([(e, pixel) for e in reversed(entries)]), stored * pixel, when=advance)
        output_rows = [(kh - 1) * dh + i * g["stride"][0] for i in range(g["out_height"])]
        fresh = self.mux(self.in_set(row, output_rows, _bits(padded_h)),
                         self.table(column, [len(m) for m in made], group_bits, nb), self.const(0, nb), nb)
        self.assign(pending_reg, self.mux(advance, fresh, self.mux(fire, self.const(0, nb), pending, nb), nb), nb)
        windows = {}
        for j in sorted(set(j for m in made for j in m)):
            taps = [self.extract(line, where[_tap_offset(g, p, row_length, j, a, b)] * pixel, pixel, stored * pixel)
                    for a in range(kh) for b in range(kw)]
            windows[j] = self.concat([(t, pixel) for t in reversed(taps)])
        ys = dict(zip(windows, self.instances(node, list(windows.values()), pixel * kh * kw, list(windows))))
        slots, held = [], None
        for i in range(p):  # output slot i: the i-th output position of the group in the line buffer
            sources = [m[i] if i < len(m) else min(ys) for m in made]
            common = max(set(sources), key=sources.count)
            slot = ys[common]
            for j in sorted(set(sources) - {common}):
                if held is None:  # the group's column, when slots' sources differ between groups
                    held_reg, held = self.register(f"node{k}_group", group_bits)
                    self.assign(held_reg, column, group_bits, when=advance)
                members = [q for q, s in enumerate(sources) if s == j]
                slot = self.mux(self.in_set(held, members, group_bits), ys[j], slot, node.out_bits)
            slots.append(slot)
        self.outputs(node, slots, self.mux(fire, pending, self.const(0, nb), nb))

    def map(self, node: NodeLayout) -> None:
        k, nb = node.index, self.count_bits
        count, count_width, heads, channels = self.operand(node, 0, _FIFO_GROUPS * self.pixels)
        available = self.up_to_p(count, count_width)
        fire = self.emit(f"comb.and {self.not_(self.eq(count, 0, count_width))}, %w{k} : i1", f"fire{k}")
        taken = self.mux(fire, available, self.const(0, nb), nb)
        self.emit(f"comb.or {taken}, {self.const(0, nb)} : i{nb}", f"pop{k}_0")
        self.outputs(node, self.instances(node, [heads(j) for j in range(self.pixels)], channels * node.in_width),
                     taken)

    def join(self, node: NodeLayout, depths: dict) -> None:
        k, nb = node.index, self.count_bits
        operands = [self.operand(node, operand, depths[(k, operand)]) for operand in range(2)]
        counts = [self.up_to_p(count, width) for count, width, _, _ in operands]
        fewer = self.emit(f"comb.icmp ult {counts[1]}, {counts[0]} : i{nb}")
        available = self.mux(fewer, counts[1], counts[0], nb)
        fire = self.emit(f"comb.and {self.not_(self.eq(available, 0, nb))}, %w{k} : i1", f"fire{k}")
        taken = self.mux(fire, available, self.const(0, nb), nb)
        for operand in range(2):
            self.emit(f"comb.or {taken}, {self.const(0, nb)} : i{nb}", f"pop{k}_{operand}")
        half = node.in_width * operands[0][3]
        xs = [self.concat([(operands[1][2](j), half), (operands[0][2](j), half)]) for j in range(self.pixels)]
        self.outputs(node, self.instances(node, xs, 2 * half), taken)

    def tail(self, node: NodeLayout) -> None:
        g = node.geometry
        k, p, nb = node.index, self.pixels, self.count_bits
        count, count_width, head, channels = self.operand(node, 0, _FIFO_GROUPS * p)
        heads = [head(j) for j in range(p)]
        positions = g["height"] * g["width"]
        groups = -(-positions // p)
        rest = positions - (groups - 1) * p  # pixels of the frame's last group
        full_reg, full = self.register(f"node{k}_full", 1, reset=0)
        take = self.emit(f"comb.and {full}, %free{k} : i1", f"take{k}")
        free = self.output_stage(node, take, f"%y{k}")
        self.alias(free, f"free{k}")
        group, last = self.counter(f"node{k}_group", groups, f"%push{k}")
        size = self.mux(last, self.const(rest, nb), self.const(p, nb), nb) if rest != p else self.const(p, nb)
        push = self.emit(f"comb.and {self.or_(self.not_(full), take)}, {self.at_least(count, count_width, size)} : i1",
                         f"push{k}")
        self.emit(f"comb.mux {push}, {size}, {self.const(0, nb)} : i{nb}", f"pop{k}_0")
        completes = self.and_(push, last)
        self.assign(full_reg, self.or_(completes, self.and_(full, self.not_(take))), 1)
        pixel = channels * node.in_width
        if g["collect"] == "flat":
            buffer_reg, buffer = self.register(f"node{k}_frame", positions * pixel)

            def shifted(n):  # the frame after n more pixels, the newest lowest
                kept = [] if n == positions else [
                    (self.extract(buffer, 0, (positions - n) * pixel, positions * pixel), (positions - n) * pixel)]
                return self.concat(kept + [(head, pixel) for head in heads[:n]])
            value = shifted(rest) if groups == 1 else shifted(p) if rest == p else \
                self.mux(last, shifted(rest), shifted(p), positions * pixel)
            self.assign(buffer_reg, value, positions * pixel, when=push)
            elements = [self.extract(buffer, (positions - 1 - q) * pixel + c * node.in_width, node.in_width,
                                     positions * pixel) for c in range(channels) for q in range(positions)]
            x_bits = len(elements) * node.in_width
            x = self.concat([(e, node.in_width) for e in reversed(elements)])
        else:
            sums = []
            wide = node.in_width
            zero = self.const(0, wide)
            for c in range(channels):
                acc_reg, acc = self.register(f"node{k}_sum{c}", wide)
                self.resets.append(f"sv.passign {acc_reg}, {zero} : i{wide}")
                total = acc
                for j, head in enumerate(heads):
                    element = self.extract(head, c * wide, wide, pixel)
                    if j >= rest:
                        element = self.mux(last, zero, element, wide)
                    total = self.emit(f"comb.add {total}, {element} : i{wide}")
                self.assign(acc_reg, self.mux(last, zero, total, wide), wide, when=push)
                held_reg, held = self.register(f"node{k}_pooled{c}", wide)
                self.assign(held_reg, total, wide, when=completes)
                sums.append(held)
            x_bits = channels * wide
            x = self.concat([(s, wide) for s in reversed(sums)])
        self.instance(node, x, x_bits)

    def text(self, depths: dict) -> str:
        p, nb = self.pixels, self.count_bits
        for node in self.layouts:
            if node.kind == "window":
                self.window(node)
            elif node.kind == "map":
                self.map(node)
            elif node.kind == "join":
                self.join(node, depths)
            else:
                self.tail(node)
        last = self.layouts[-1]
        if last.kind == "tail":
            self.alias("%m_axis_tready", f"r{last.index}")
            out_valid, out_data, out_bits, out_last = f"%v{last.index}", f"%d{last.index}", last.out_bits, self.true
        else:
            # a streamed output: P pixels a transfer when its rows hold whole groups of P, else one
            rows, columns = last.grid()
            beat = p if columns % p == 0 else 1
            count, count_width, head, _, _ = self.gearbox("output_fifo", last.index, "%popout", _FIFO_GROUPS * p)
            out_valid = self.emit(f"comb.icmp uge {count}, {self.const(beat, count_width)} : i{count_width}")
            fire = self.and_(out_valid, "%m_axis_tready")
            self.emit(f"comb.mux {fire}, {self.const(beat, nb)}, {self.const(0, nb)} : i{nb}", "popout")
            out_bits = beat * last.out_bits
            out_data = self.concat([(head(j), last.out_bits) for j in reversed(range(beat))])
            _, out_last = self.counter("output_position", rows * columns // beat, fire)
        for producer, writable in self.writable.items():
            name = "wsrc" if producer == _SOURCE else f"w{producer}"
            self.alias(self.and_(*writable), name)
        # the source writes a beat of P pixels into the FIFOs of its readers
        take = self.and_("%s_axis_tvalid", "%wsrc")
        self.emit(f"comb.mux {take}, {self.const(p, nb)}, {self.const(0, nb)} : i{nb}", "nsrc")
        _, source_last = self.counter("source_position", self.height * self.width // p, take)
        error_reg, error = self.register("frame_error_flag", 1, reset=0)
        wrong = self.emit(f"comb.xor %s_axis_tlast, {source_last} : i1")
        self.assign(error_reg, self.true, 1, when=self.and_(take, wrong))
        x_bits = p * self.channels * self.x_width
        header = (f"hw.module @{self.name}(in %clk : i1, in %rst : i1, in %s_axis_tvalid : i1, "
                  f"in %s_axis_tdata : i{x_bits}, in %s_axis_tlast : i1, in %m_axis_tready : i1, "
                  f"out s_axis_tready : i1, out m_axis_tvalid : i1, out m_axis_tdata : i{out_bits}, "
                  f"out m_axis_tlast : i1, out frame_error : i1) {{")
        block = "\n".join("      " + line.replace("\n", "\n      ") for line in self.ff)
        resets = "\n".join("      " + line for line in self.resets)
        self.body.line("sv.alwaysff(posedge %clk) {\n" + block + "\n    }(syncreset : posedge %rst) {\n" +
                       resets + "\n    }")
        return "\n".join([header] + self.body.lines + [
            f"    hw.output %wsrc, {out_valid}, {out_data}, {out_last}, {error} : i1, i1, "
            f"i{out_bits}, i1, i1", "}"])


def wrapper_text(name: str, layouts: list[NodeLayout], source: tuple[int, int, int, int], pixels: int = 1) -> str:
    """The top module `name` (hw, comb, sv) around instances of `<name>_node0..`; `source` is the input
    image's (channels, height, width, element width), `pixels` the pixels a clock."""
    depths = fifo_depths(layouts, source[1] * source[2], pixels)
    if pixels == 1:
        return _Wrapper(name, layouts, source).text(depths)
    return _ParallelWrapper(name, layouts, source, pixels).text(depths)


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


def _steps_hw(module, name: str) -> str:
    texts = []
    with module.context, collect_diagnostics(module.context, "model") as log:
        try:
            for step in stream_steps(module.operation):
                texts.append(lower_function(step, module_name=step.name.value, hierarchy=False))
            return "\n".join(texts)
        except LoweringError as exc:
            exc.where.location.emit_error(str(exc))
    errors = log.errors or log.diagnostics
    raise CompileError("\n".join(str(d) for d in errors) or "hardcore-to-hw failed", log.diagnostics)


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


def _pixels_per_clock(pixels, width: int) -> int:
    """UsageError unless `pixels` is 1, 2, 4 or 8 and divides the image's width."""
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels not in (1, 2, 4, 8):
        raise UsageError(f"compile: pixels_per_clock is 1, 2, 4 or 8, got {pixels!r}")
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
    hw_text = _steps_hw(module, name)
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


# -- simulation ------------------------------------------------------------------------------------------

_TESTBENCH = """\
module hardcore_axis_tb;
  reg clk = 0, rst = 1;
  reg s_valid = 0, s_last = 0, m_ready = 0;
  reg [{x_bits}-1:0] s_data = 0;
  wire s_ready, m_valid, m_last, frame_error;
  wire [{y_bits}-1:0] m_data;
  reg [{x_bits}-1:0] pixels [0:{count}-1];
  integer sent = 0, received = 0, cycle = 0, first_in = -1, first_out = -1, file, seed = {seed};
  {name} dut(.clk(clk), .rst(rst), .s_axis_tvalid(s_valid), .s_axis_tdata(s_data), .s_axis_tlast(s_last),
             .s_axis_tready(s_ready), .m_axis_tvalid(m_valid), .m_axis_tdata(m_data), .m_axis_tlast(m_last),
             .m_axis_tready(m_ready), .frame_error(frame_error));
  always #5 clk = ~clk;
  initial begin
    $readmemh("pixels.hex", pixels);
    file = $fopen("outputs.hex", "w");
    seed = $urandom(seed);
    @(negedge clk); @(negedge clk); rst = 0;
  end
  // AXI4-Stream source and sink: a valid pixel stays until taken; the source idles and the
  // sink stalls at random in {stall}% of the cycles.
  always @(posedge clk) if (!rst) begin
    cycle <= cycle + 1;
    m_ready <= ($urandom % 100) >= {stall};
    if (!s_valid || s_ready) begin
      if (s_valid) begin
        if (first_in < 0) first_in <= cycle;
      end
      if (sent + (s_valid ? 1 : 0) < {count} && ($urandom % 100) >= {stall}) begin
        s_valid <= 1;
        s_data <= pixels[sent + (s_valid ? 1 : 0)];
        s_last <= ((sent + (s_valid ? 1 : 0)) % {frame}) == {frame} - 1;
      end else s_valid <= 0;
      if (s_valid) sent <= sent + 1;
    end
    if (m_valid && m_ready) begin
      if (first_out < 0) first_out <= cycle;
      $fwrite(file, "%h %0d\\n", m_data, m_last);
      received <= received + 1;
      if (received + 1 == {beats}) begin
        $fwrite(file, "cycles %0d %0d %0d %0d\\n", first_in, first_out, cycle, frame_error);
        $fclose(file);
        $finish;
      end
    end
    if (cycle > {limit}) begin $fclose(file); $finish; end
  end
endmodule
"""


@dataclass
class FrameResult:
    """What `simulate_frames` measured: the outputs (batch, elements) as the reference gives them,
    cycles from the first pixel taken to the last output, cycles per frame in steady state, and from
    the first pixel taken to the first output."""

    outputs: np.ndarray
    cycles: int
    cycles_per_frame: float
    frame_error: bool
    latency: int = 0  # cycles from the first pixel taken to the first output


def simulate_frames(circuit: StreamedCircuit, images, workdir, simulator: str = "verilator", stall: int = 0,
                    seed: int = 1) -> FrameResult:
    """Stream `images` (quantized codes, what `reference` takes) through the Verilog, P pixels a transfer;
    the source idles and the sink stalls in `stall`% of the cycles at random (seeded)."""
    if not 0 <= stall < 100:
        raise UsageError(f"simulate_frames: stall is a percentage in [0, 100), got {stall}")
    images = np.asarray(images, dtype=np.int64).reshape([-1] + list(circuit.in_shape))
    channels, height, width = circuit.in_shape
    per_beat = circuit.pixels_per_clock
    frame = height * width // per_beat
    mask = (1 << circuit.in_width) - 1
    pixels = images.transpose(0, 2, 3, 1).reshape(-1, per_beat * channels)  # a row: P pixels, channels within
    lines = [format(sum((int(v) & mask) << (c * circuit.in_width) for c, v in enumerate(row)), "x")
             for row in pixels]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pixels.hex").write_text("\n".join(lines) + "\n")
    (workdir / "design.sv").write_text(circuit.verilog)
    last = circuit.nodes[-1]
    streamed_out = last["kind"] != "tail"
    out_beat = circuit.out_beat
    out_elements = last["grid"][0] * out_beat if streamed_out else circuit.n_out
    beats = len(images) * (last["grid"][1] * last["grid"][2] // out_beat if streamed_out else 1)
    y_bits = out_elements * circuit.out_width
    slowdown = 100 / (100 - stall)
    limit = int((len(images) + 2) * circuit.cycles_per_frame * slowdown * slowdown) + 1000
    (workdir / "tb.sv").write_text(_TESTBENCH.format(
        name=circuit.name, x_bits=per_beat * channels * circuit.in_width, y_bits=y_bits, count=len(pixels), frame=frame,
        beats=beats, limit=limit, stall=int(stall), seed=int(seed)))
    if simulator == "icarus":
        if shutil.which("iverilog") is None:
            raise UsageError("simulate_frames: Icarus Verilog (iverilog, vvp) is not installed")
        commands = [["iverilog", "-g2012", "-s", "hardcore_axis_tb", "-o", "sim.vvp", "design.sv", "tb.sv"],
                    ["vvp", "-n", "sim.vvp"]]
    elif simulator == "verilator":
        if shutil.which("verilator") is None:
            raise UsageError("simulate_frames: Verilator is not installed")
        from hardcore.sim import VERILATOR_MAKEFLAGS
        build = ["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module",
                 "hardcore_axis_tb", "-Mdir", "obj", "design.sv", "tb.sv"]
        for flag in VERILATOR_MAKEFLAGS:
            build += ["-MAKEFLAGS", flag]
        commands = [build, ["obj/Vhardcore_axis_tb"]]
    else:
        raise UsageError(f"simulate_frames: unknown simulator '{simulator}' (verilator or icarus)")
    for command in commands:
        run = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
        if run.returncode:
            raise HardcoreError(f"{command[0]} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    text = (workdir / "outputs.hex").read_text().split("\n")
    summary = [line for line in text if line.startswith("cycles")]
    words = [line.split() for line in text if line and not line.startswith("cycles")]
    if not summary:
        raise HardcoreError(f"simulate_frames: {len(words)} of {beats} outputs within {limit} cycles ({workdir})")
    first_in, first_out, last_out, error = (int(v) for v in summary[0].split()[1:])
    width = circuit.out_width
    values = np.array([[(int(word, 16) >> (i * width)) & ((1 << width) - 1) for i in range(out_elements)]
                       for word, _ in words], dtype=np.int64)
    if circuit.out_signed:
        values = np.where(values >= 1 << (width - 1), values - (1 << width), values)
    tlast = np.array([int(flag) for _, flag in words])
    per_frame = beats // len(images)
    expected_last = (np.arange(beats) % per_frame) == per_frame - 1
    if np.any(tlast.astype(bool) != expected_last):
        raise HardcoreError(f"simulate_frames: m_axis_tlast not on each frame's last output ({workdir})")
    if streamed_out:
        rows, columns = last["grid"][1], last["grid"][2]
        outputs = values.reshape(len(images), rows, columns, out_elements // out_beat).transpose(0, 3, 1, 2)
    else:
        outputs = values.reshape(len(images), -1)
    interval = (last_out - first_out) / max(len(images) - 1, 1) if not streamed_out else \
        (last_out - first_in) / len(images)
    return FrameResult(outputs.reshape(len(images), -1), last_out - first_in + 1,
                       interval, bool(error), first_out - first_in)
