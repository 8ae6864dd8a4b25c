"""The stream graph's nodes as the wrapper sees them, and the schedule: what each output needs, how deep each FIFO."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch_mlir import ir

from hardcore.passes.stream import node_attr

__all__ = ["NodeLayout", "source_needs", "fifo_depths"]


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


def _bits(count: int) -> int:
    """Counter bits for values 0..count-1."""
    return max((count - 1).bit_length(), 1)
