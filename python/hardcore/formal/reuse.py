"""The formal check of a time-multiplexed circuit, cycle by cycle: each step with its cycle fixed to c
against its layer's rows of cycle c.

`hardcore-time-multiplex` makes layer k a step whose constants a cycle input selects; for a
fixed cycle c a step is a DAG of the ops `verify` knows, and what it must compute is the
quantized layer restricted to the rows of cycle c (rows c*S .. c*S + S - 1 below N).  For each
layer and each cycle with rows, `verify_steps` writes both as one-layer functions and proves
them equal with `verify` (Z3, as for a fully parallel layer):

- the step with its cycle fixed: the cycle's `hardcore.extract` becomes a constant, each
  `hardcore.mux` on it the operand it selects (a `hardcore.sext` to the mux's type), each
  `hardcore.table` on it its entry, and the pack keeps the slots that compute rows;
- the layer's rows: `hardcore.quantize` of the layer's input box (the hull of the input
  intervals `verify` computes over the whole quantized function: the quantized input's range
  for layer 0), the `hardcore.dense` of those rows and its relu and requant ops (a shift per
  element cut to the rows), and a `hardcore.dequantize`.

Proven for every layer and cycle, and with the wrapper storing cycle c's rows of each layer
(checked in simulation), the circuit computes the quantized function for every input.  The
`rom` realization multiplies by a table (`hardcore.mul`): its cycles are reported not
covered, as the products of two activations are.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.errors import CompileError
from hardcore.formal.driver import DEFAULT_MAX_WEIGHTS, DEFAULT_TIMEOUT, verify
from hardcore.formal.report import FormalReport
from hardcore.formal.segments import _flat_size, _segments
from hardcore.formal.spec import _spec_intervals
from hardcore.formal.terms import _Unsupported
from hardcore.interpreter import find_function
from hardcore.irutil import array_attr, body_ops, int_attr
from hardcore.mlir import new_context, parse_module
from hardcore.passes.time_multiplex import step_functions

__all__ = ["verify_steps", "fixed_cycle", "layer_rows"]

_OP_LINE = re.compile(r'^(\s*)(%\w+) = "(hardcore\.\w+)"\(([^)]*)\)(?: \{(.*)\})? : \(([^)]*)\) -> (\S+)$')


def _values(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def fixed_cycle(step, cycle: int, rows: int) -> str:
    """The step function (`hardcore-time-multiplex`) with its cycle fixed to `cycle`, of one
    argument, returning its first `rows` slots: a DAG `verify` takes (module text)."""
    lines = str(step).splitlines()  # the header, the body, "}"
    x_type = str(step.type.inputs[0])
    element = ir.RankedTensorType(step.type.results[0]).element_type
    cycle_arg = step.regions[0].blocks[0].arguments[1].get_name()
    selector = None
    body = []
    for line in lines[1:-1]:
        match = _OP_LINE.match(line)
        if match is None:  # the return
            body.append(line.rsplit(" : ", 1)[0] + f" : tensor<{rows}x{element}>" if "return" in line else line)
            continue
        indent, result, name, operands, attributes, operand_types, result_type = match.groups()
        operands, operand_types = _values(operands), _values(operand_types)
        if name == "hardcore.extract" and operands == [cycle_arg]:
            selector = result
            body.append(f'{indent}{result} = "hardcore.constant"() {{value = {cycle} : i64}} : () -> {result_type}')
        elif name == "hardcore.mux" and operands[0] == selector:
            low, high = (int(re.search(rf"{key} = (-?\d+)", attributes).group(1)) for key in ("min", "max"))
            chosen = 1 if low <= cycle <= high else 2
            body.append(f'{indent}{result} = "hardcore.sext"({operands[chosen]}) : ({operand_types[chosen]}) '
                        f"-> {result_type}")
        elif name == "hardcore.table" and operands == [selector]:
            low = int(re.search(r"min = (-?\d+)", attributes).group(1))
            table = [int(v) for v in re.search(r"dense<\[?([^\]>]*)\]?>", attributes).group(1).split(",")]
            body.append(f'{indent}{result} = "hardcore.constant"() {{value = {table[cycle - low]} : i64}} : () '
                        f"-> {result_type}")
        elif name == "hardcore.pack":
            body.append(f'{indent}{result} = "hardcore.pack"({", ".join(operands[:rows])}) : '
                        f'({", ".join(operand_types[:rows])}) -> tensor<{rows}x{element}>')
        else:
            body.append(line)
    signature = f"  func.func @{step.name.value}(%arg0: {x_type}) -> tensor<{rows}x{element}> {{"
    return "module {\n" + "\n".join([signature] + body + ["  }"]) + "\n}\n"


def layer_rows(function, layer: int, rows: list[int], box: tuple[int, int]) -> str:
    """Dense layer `layer` of the quantized function (with its relu and requant ops), restricted to
    `rows`, its input quantized to `box`: a quantized function `verify` takes (module text)."""
    ops = body_ops(function)
    denses = [op for op in ops if op.operation.name == "hardcore.dense"]
    dense = denses[layer]
    following = ops[ops.index(dense) + 1:]
    tail = []
    for op in following:
        if op.operation.name not in ("hardcore.relu", "hardcore.requant"):
            break
        tail.append(op)
    low, high = box
    size = int(ir.RankedTensorType(dense.operands[0].type).shape[-1])
    count = len(rows)
    in_type = f"tensor<{size}xi{signed_width(low, high)}>"

    def out_type(op) -> str:
        return f"tensor<{count}x{ir.RankedTensorType(op.results[0].type).element_type}>"

    weight = array_attr(dense, "weight")[rows]
    bias = array_attr(dense, "bias").reshape(-1)[rows]
    weight_type = ir.RankedTensorType(dense.attributes["weight"].type).element_type
    lines = [f'%q = "hardcore.quantize"(%arg0) {{frac_bits = 0 : i64, min = {low} : i64, max = {high} : i64}} : '
             f"(tensor<{size}xf32>) -> {in_type}",
             f'%v0 = "hardcore.dense"(%q) {{weight = dense<{weight.tolist()}> : tensor<{count}x{size}x{weight_type}>, '
             f"bias = dense<{bias.tolist()}> : tensor<{count}xi64>}} : ({in_type}) -> {out_type(dense)}"]
    previous = dense
    for position, op in enumerate(tail, start=1):
        if op.operation.name == "hardcore.relu":
            lines.append(f'%v{position} = "hardcore.relu"(%v{position - 1}) : ({out_type(previous)}) -> {out_type(op)}')
        else:
            if isinstance(op.attributes["shift"], ir.IntegerAttr):
                shift_text = f"{int_attr(op, 'shift')} : i64"
            else:  # a shift per element: those of the rows
                shift_text = f"dense<{np.asarray(array_attr(op, 'shift')).reshape(-1)[rows].tolist()}> : tensor<{count}xi64>"
            lines.append(f'%v{position} = "hardcore.requant"(%v{position - 1}) {{shift = {shift_text}, min = '
                         f"{int_attr(op, 'min')} : i64, max = {int_attr(op, 'max')} : i64}} : "
                         f"({out_type(previous)}) -> {out_type(op)}")
        previous = op
    lines.append(f'%f = "hardcore.dequantize"(%v{len(tail)}) {{frac_bits = 0 : i64}} : ({out_type(previous)}) -> '
                 f"tensor<{count}xf32>")
    body = "\n    ".join(lines)
    return (f"module {{\n  func.func @layer{layer}(%arg0: tensor<{size}xf32>) -> tensor<{count}xf32> {{\n"
            f"    {body}\n    return %f : tensor<{count}xf32>\n  }}\n}}\n")


def _input_boxes(function, name: str) -> list[tuple[int, int]]:
    """Each dense layer's input box, as one interval (the hull of its elements' intervals)."""
    segments, _ = _segments(function, name)
    quantize = body_ops(function)[0]
    tensors = {-1: [(int_attr(quantize, "min"), int_attr(quantize, "max"))] * _flat_size(quantize.results[0])}
    boxes = []
    for segment in segments:
        box = [tensors[source][element] for source, element in segment.inputs]
        try:
            tensors[segment.step] = _spec_intervals(segment, box)
        except _Unsupported as exc:
            raise CompileError(exc.text(name)) from None
        if any(op.operation.name == "hardcore.dense" for op in segment.ops):
            boxes.append((min(low for low, _ in box), max(high for _, high in box)))
    return boxes


def verify_steps(quantized: str, steps: str, *, timeout: float = DEFAULT_TIMEOUT,
                 max_weights: int = DEFAULT_MAX_WEIGHTS, progress: Callable[[str], None] | None = None) -> FormalReport:
    """Prove every step of a time-multiplexed circuit (`steps`: the IR after hardcore-time-multiplex),
    cycle by cycle, equal to its layer's rows of that cycle in `quantized` (the IR after
    hardcore-quantize).  One `LayerResult` per layer and cycle, its `kind` naming both."""
    say = progress or (lambda message: None)
    spec_module = parse_module(quantized, new_context(), "quantized")
    spec_function = find_function(spec_module.operation)
    boxes = _input_boxes(spec_function, "quantized")
    steps_module = parse_module(steps, new_context(), "steps")
    results = []
    for step in step_functions(steps_module.operation):
        reuse_attr = ir.DictAttr(step.attributes["hardcore.reuse"])
        layer, reuse, rows, slots = (int(ir.IntegerAttr(reuse_attr[key]).value)
                                     for key in ("layer", "reuse", "rows", "slots"))
        for cycle in range(reuse):
            cycle_rows = list(range(cycle * slots, min(cycle * slots + slots, rows)))
            if not cycle_rows:
                continue  # a cycle past the last row: nothing is stored
            say(f"layer {layer}, cycle {cycle}: rows {cycle_rows[0]}..{cycle_rows[-1]}")
            report = verify(layer_rows(spec_function, layer, cycle_rows, boxes[layer]),
                            fixed_cycle(step, cycle, len(cycle_rows)), timeout=timeout, max_weights=max_weights,
                            quantized_name=f"layer{layer}", dag_name=f"{step.name.value} cycle {cycle}")
            for result in report.layers:
                result.index = layer
                result.kind = f"{result.kind}, cycle {cycle} of {reuse}: rows {cycle_rows[0]}..{cycle_rows[-1]}"
                results.append(result)
                say(result.summary())
    return FormalReport(results)
