"""The plain-multiplier baseline: the same quantized network as `*` by constants, in Verilog.

For reports only: it shows what weight folding saved.  Each output is
`bias + w_0 * x_0 + ... + w_k * x_k` with the weights as signed constants
(zeros included, as a plain design would have them), in an accumulator as
narrow as the exact bound of its sum, so the baseline is not handicapped by
blanket widths; requantized values are as narrow as their exact range too.
ReLU, requantization (round half up, shift, saturate) and the port convention
are those of the folded circuit, so both compute the same integers (the tests
check it in simulation).

The hierarchy mirrors the folded circuit's, so Yosys maps and counts LUTs per
layer on both: layer k is dense k with the ops after it up to the next dense
(as hardcore-fold-weights groups them), in module `{name}_layer{k}`, and the
top module `{name}` only slices `x`, wires the layers and packs `y`.  A value
whose range is a single integer (a neuron that ReLU always zeroes) crosses no
port: the next layer gets it as a constant, as flattening would have.

One module per layer rather than one per neuron, measured on the depth-4
16-64-32-32-5 MLP of issue 4: the whole baseline as one flat module (617k
generic gates) had ABC running for over 100 minutes without finishing.  That
was ABC's SAT sweeping (`&fraig`), which on constant multipliers spends up to
its 1,000,000-conflict limit on node after node; with the limit at 1000
(`hardcore.sim.ABC_FRAIG_CONFLICTS`) Yosys does the four layer modules, the
largest with 2048 multipliers and 298k gates, in 14 minutes (21 on a loaded
machine): 172,141 LUTs against 75,067 folded.  One module per neuron would
have cost no time but changes what is compared: on the last layer (5 neurons
of 32 weights) it gave 9358 LUTs against 9496 for the layer module, and the
folded layers are whole modules too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardcore.adder_graph import signed_width
from hardcore.interpreter import find_function
from hardcore.irutil import array_attr, body_ops, int_attr, requant_shifts
from hardcore.mlir import new_context, parse_module

__all__ = ["baseline_verilog"]

# Quantized-IR ops that act on each element on its own.
ELEMENTWISE_OPS = ("hardcore.relu", "hardcore.requant", "hardcore.reshape", "hardcore.lut")


@dataclass(frozen=True)
class _Element:
    """One integer of a tensor: a Verilog expression (a wire or a constant) and its exact range."""

    ref: str
    low: int
    high: int

    @property
    def width(self) -> int:
        return signed_width(self.low, self.high)


class _Body:
    """The wires of one module, numbered in the order they are declared."""

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0

    def wire(self, width: int, expression: str, prefix: str = "v", name: str | None = None) -> str:
        """Declare a wire `<prefix><number>` (or `name`) holding `expression`; returns its name."""
        self.count += 1
        name = name or f"{prefix}{self.count}"
        self.lines.append(f"  wire signed [{width - 1}:0] {name} = {expression};")
        return name


def _literal(value: int) -> str:
    """A signed Verilog constant wide enough for |value| (so negation cannot wrap)."""
    width = signed_width(abs(value), abs(value))
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def _dense_row(body: _Body, weights: np.ndarray, bias: int, source: list[_Element]) -> _Element:
    low = high = bias
    for w, element in zip(weights.tolist(), source):
        low += min(w * element.low, w * element.high)
        high += max(w * element.low, w * element.high)
    products = "".join(f" + {_literal(w)} * {element.ref}" for w, element in zip(weights.tolist(), source))
    # All operands are signed, so Verilog sign-extends them to the accumulator's width.
    return _Element(body.wire(signed_width(low, high), f"{_literal(bias)}{products}"), low, high)


def _elementwise(body: _Body, op, element: _Element, shift: int = 0) -> _Element:
    """One element through a relu, lut, reshape or requant (`shift`: this element's requant shift)."""
    name = op.operation.name
    if name == "hardcore.reshape":
        return element
    width = element.width
    if name == "hardcore.relu":
        ref = body.wire(width, f"{element.ref} < 0 ? {width}'sd0 : {element.ref}")
        return _Element(ref, max(element.low, 0), max(element.high, 0))
    if name == "hardcore.lut":
        return _lookup(body, op, element)
    out_low, out_high = int_attr(op, "min"), int_attr(op, "max")

    def requant(value: int) -> int:  # monotone, so it maps the range's ends to the result's
        scaled = (value + (1 << (shift - 1))) >> shift if shift > 0 else value << -shift
        return min(max(scaled, out_low), out_high)

    wide = width + abs(shift) + 2
    extended = body.wire(wide, element.ref, prefix="e")
    scaled = body.wire(wide, f"({extended} + {_literal(1 << (shift - 1))}) >>> {shift}" if shift > 0
                       else f"{extended} <<< {-shift}", prefix="s")
    low, high = requant(element.low), requant(element.high)
    # The saturation bounds stay those of the op; a branch whose bound does not fit is never taken.
    out_width = signed_width(low, high)
    ref = body.wire(out_width, f"{scaled} < {_literal(out_low)} ? {_literal(out_low)} : "
                               f"{scaled} > {_literal(out_high)} ? {_literal(out_high)} : "
                               f"{scaled}[{out_width - 1}:0]")
    return _Element(ref, low, high)


def _lookup(body: _Body, op, element: _Element) -> _Element:
    """table[x - min] as a plain design writes a table: one comparison per reachable code."""
    table, first = array_attr(op, "table").astype(np.int64).tolist(), int_attr(op, "min")
    codes = range(max(element.low, first), min(element.high, first + len(table) - 1) + 1)
    values = [table[code - first] for code in codes]
    low, high = min(values), max(values)
    if low == high:
        return _Element(_literal(low), low, high)
    expression = _literal(values[-1])
    for code, value in zip(reversed(codes[:-1]), reversed(values[:-1])):
        expression = f"{element.ref} == {_literal(code)} ? {_literal(value)} : {expression}"
    return _Element(body.wire(signed_width(low, high), expression), low, high)


def _layers(ops) -> list[list]:
    """The ops between quantize and dequantize, grouped as hardcore-fold-weights groups layers."""
    layers: list[list] = [[]]
    for op in ops:
        name = op.operation.name
        if name in ("func.return", "hardcore.dequantize", "hardcore.quantize"):
            continue
        if name != "hardcore.dense" and name not in ELEMENTWISE_OPS:
            raise ValueError(f"the baseline cannot express '{name}'")
        if name == "hardcore.dense" and any(o.operation.name == "hardcore.dense" for o in layers[-1]):
            layers.append([])
        layers[-1].append(op)
    return layers


def _ports(elements: list[_Element], prefix: str) -> list[_Element]:
    """Port names for the elements that are not constants; constants become literals."""
    return [_Element(_literal(element.low) if element.low == element.high else f"{prefix}{index}",
                     element.low, element.high)
            for index, element in enumerate(elements)]


def _layer(body: _Body, layer_ops, inputs: list[_Element]) -> list[_Element]:
    """The wires of one layer in `body`: its dense, one row at a time, then its elementwise ops."""
    elements = inputs
    for op in layer_ops:
        if op.operation.name == "hardcore.dense":
            weight = array_attr(op, "weight").astype(np.int64)
            bias = array_attr(op, "bias").astype(np.int64)
            elements = [_dense_row(body, weight[row], int(bias[row]), elements) for row in range(weight.shape[0])]
        else:
            shifts = requant_shifts(op, len(elements)) if op.operation.name == "hardcore.requant" \
                else [0] * len(elements)
            elements = [_elementwise(body, op, element, shift) for element, shift in zip(elements, shifts)]
    return elements


def _layer_module(name: str, layer_ops, inputs: list[_Element]) -> tuple[str, list[_Element]]:
    """Module `name` computing one layer from `inputs`: its text and its outputs.

    Ports are `i<k>` and `o<k>`; constants among the inputs and outputs are no ports.
    """
    in_ports = _ports(inputs, "i")
    body = _Body()
    outputs = _layer(body, layer_ops, in_ports)
    out_ports = _ports(outputs, "o")
    declarations = [f"  input signed [{p.width - 1}:0] {p.ref}" for p in in_ports if p.low != p.high]
    declarations += [f"  output signed [{p.width - 1}:0] {p.ref}" for p in out_ports if p.low != p.high]
    assigns = [f"  assign {p.ref} = {e.ref};" for p, e in zip(out_ports, outputs) if p.low != p.high]
    text = "\n".join([f"module {name}(", ",\n".join(declarations), ");"] + body.lines + assigns + ["endmodule", ""])
    return text, out_ports


def _instance(body: _Body, module: str, instance: str, inputs: list[_Element],
              out_ports: list[_Element]) -> list[_Element]:
    """An instance of `module` in `body`; returns its outputs as wires `<instance>_o<k>` (or constants)."""
    connections = [f".{port.ref}({element.ref})"
                   for port, element in zip(_ports(inputs, "i"), inputs) if port.low != port.high]
    outputs = []
    for port in out_ports:
        if port.low == port.high:
            outputs.append(port)
            continue
        wire = f"{instance}_{port.ref}"
        body.lines.append(f"  wire signed [{port.width - 1}:0] {wire};")
        connections.append(f".{port.ref}({wire})")
        outputs.append(_Element(wire, port.low, port.high))
    body.lines.append(f"  {module} {instance} ({', '.join(connections)});")
    return outputs


def baseline_verilog(quantized_text: str, module_name: str, out_width: int | None = None) -> str:
    """Verilog of the quantized layer IR with one `*` per weight (combinational), one module per layer.

    `y` holds each output in `out_width` bits (the folded circuit's, so both
    have the same ports), by default in as few as hold them all.
    """
    module = parse_module(quantized_text, new_context(), "quantized")
    ops = body_ops(find_function(module.operation))
    quantize = ops[0]
    low, high = int_attr(quantize, "min"), int_attr(quantize, "max")
    in_width = signed_width(low, high)
    n_in = int(np.prod(list(quantize.results[0].type.shape)))
    top = _Body()
    elements = [_Element(top.wire(in_width, f"x[{i * in_width} +: {in_width}]", name=f"in_{i}"), low, high)
                for i in range(n_in)]
    modules: list[str] = []
    for index, layer_ops in enumerate(_layers(ops)):
        layer_name = f"{module_name}_layer{index}"
        text, ports = _layer_module(layer_name, layer_ops, elements)
        modules.append(text)
        elements = _instance(top, layer_name, f"layer{index}", elements, ports)
    narrowest = max(element.width for element in elements)
    if out_width is None:
        out_width = narrowest
    elif out_width < narrowest:
        raise ValueError(f"the outputs need {narrowest} bits, not {out_width}")
    outputs = [top.wire(out_width, element.ref, name=f"out_{i}") for i, element in enumerate(elements)]
    header = [f"module {module_name}(",
              f"  input  [{n_in * in_width - 1}:0] x,",
              f"  output [{len(outputs) * out_width - 1}:0] y",
              ");"]
    packed = ", ".join(reversed(outputs))
    comment = f"// The plain-multiplier baseline of {module_name}: one * per weight (hardcore report)."
    return "\n".join([comment] + modules + header + top.lines + [f"  assign y = {{{packed}}};", "endmodule", ""])
