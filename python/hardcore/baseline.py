"""The plain-multiplier baseline: the same quantized network as `*` by constants, in Verilog.

For reports only: it shows what weight folding saved.  Each output is
`bias + w_0 * x_0 + ... + w_k * x_k` with the weights as signed constants
(zeros included, as a plain design would have them), in an accumulator as
narrow as the exact bound of its sum, so the baseline is not handicapped by
blanket widths; requantized values are as narrow as their exact range too.
ReLU, requantization (round half up, shift, saturate) and the port convention
are those of the folded circuit, so both compute the same integers (the tests
check it in simulation).  Max pools and the argmax are trees of comparisons
and muxes (`b > a ? b : a`; ties to the lower index), residual adds one `+` per
element, concats and gathers wires: everything hardcore-quantize makes.
Sequence models too: a product of two activations (mul_tensors, matmul,
inside qsoftmax and qnorm) is a `*` of the two, a sum of them one expression;
an embedding a table per output element over its token's id (one comparison
per reachable id); qsoftmax and qnorm their definitions written out (a max
chain, subtractions, clamps, tables, sums, `*`, requantizations); token ids
take the same unsigned port as in the folded circuit.

The hierarchy mirrors the folded circuit's, so Yosys maps and counts LUTs per
layer on both: layer k is the k-th layer op (dense, max pool, argmax, residual
add) with the ops that follow from it (each other op belongs to the latest
layer among its operands', as hardcore-fold-weights groups them), in module
`{name}_layer{k}`.  A layer's ports are the elements of the tensors it reads
from lower layers (in a graph, not only the previous one) and of those it
makes that others read; the top module `{name}` only slices `x`, wires the
layers and packs `y`.  A value
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
from hardcore.passes.fold_weights import token_input

__all__ = ["baseline_verilog"]

# Quantized-IR ops that act on each element on its own.
ELEMENTWISE_OPS = ("hardcore.relu", "hardcore.requant", "hardcore.reshape", "hardcore.lut")
# Ops that start a layer (as in hardcore-fold-weights), and ops that only move elements.
LAYER_OPS = ("hardcore.dense", "hardcore.maxpool", "hardcore.minpool", "hardcore.argmax", "hardcore.add_tensors",
             "hardcore.embedding", "hardcore.sub_tensors", "hardcore.mul_tensors", "hardcore.matmul", "hardcore.qsoftmax", "hardcore.qnorm")
WIRING_OPS = ("hardcore.concat", "hardcore.gather")


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
        return _lookup(body, element, int_attr(op, "min"), array_attr(op, "table").astype(np.int64).tolist())
    return _requant(body, element, shift, int_attr(op, "min"), int_attr(op, "max"))


def _requant(body: _Body, element: _Element, shift: int, out_low: int, out_high: int) -> _Element:
    """clamp(floor((x + 2^(s-1)) / 2^s), low, high), or x << -s for s <= 0, as a plain design writes it."""
    width = element.width

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


def _lookup(body: _Body, element: _Element, first: int, table: list[int]) -> _Element:
    """table[x - first] as a plain design writes a table: one comparison per reachable code."""
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
    """The ops between quantize and dequantize, grouped as hardcore-fold-weights groups layers.

    A layer op (dense, max pool, argmax, residual add) starts layer k; any other op
    belongs to the latest layer among its operands' (layer 0 before any layer op),
    so in a graph a layer reads only lower layers.
    """
    layers: list[list] = [[]]
    layer_of = {}
    for op in ops:
        name = op.operation.name
        if name in ("func.return", "hardcore.dequantize"):
            continue
        if name == "hardcore.quantize":
            layer_of[op.results[0]] = 0
            continue
        if name not in LAYER_OPS and name not in ELEMENTWISE_OPS and name not in WIRING_OPS:
            raise ValueError(f"the baseline cannot express '{name}'")
        if name in LAYER_OPS:
            if any(o.operation.name in LAYER_OPS for o in layers[-1]):
                layers.append([])
            layer = len(layers) - 1
        else:
            layer = max(layer_of[v] for v in op.operands)
        layer_of[op.results[0]] = layer
        layers[layer].append(op)
    return layers


def _ports(elements: list[_Element], prefix: str) -> list[_Element]:
    """Port names for the elements that are not constants; constants become literals."""
    return [_Element(_literal(element.low) if element.low == element.high else f"{prefix}{index}",
                     element.low, element.high)
            for index, element in enumerate(elements)]


def _max(body: _Body, a: _Element, b: _Element) -> _Element:
    """max(a, b) as a plain design writes it: a comparison and a mux (none when the ranges decide)."""
    if b.low >= a.high:
        return b
    if a.low >= b.high:
        return a
    low, high = max(a.low, b.low), max(a.high, b.high)
    return _Element(body.wire(signed_width(low, high), f"{b.ref} > {a.ref} ? {b.ref} : {a.ref}"), low, high)


def _pick(body: _Body, a: _Element, b: _Element, if_a: _Element, if_b: _Element) -> _Element:
    """b > a ? if_b : if_a (ties to a), like `hardcore.pick`."""
    if b.low > a.high:
        return if_b
    if b.high <= a.low:
        return if_a
    low, high = min(if_a.low, if_b.low), max(if_a.high, if_b.high)
    return _Element(body.wire(signed_width(low, high), f"{b.ref} > {a.ref} ? {if_b.ref} : {if_a.ref}"), low, high)


def _maxpool(body: _Body, op, source: list[_Element]) -> list[_Element]:
    """Each window's maximum (a min pool's minimum, `b > a ? a : b`): a balanced tree of comparisons."""
    if op.operation.name == "hardcore.minpool":
        def pair(a, b):
            return _pick(body, b, a, a, b)
    else:
        def pair(a, b):
            return _max(body, a, b)
    result = []
    for row in array_attr(op, "windows").astype(np.int64).tolist():
        level = [source[j] for j in row if j >= 0]
        while len(level) > 1:
            level = [pair(a, b) for a, b in zip(level[0::2], level[1::2])] + level[len(level) // 2 * 2:]
        result.append(level[0])
    return result


def _argmax(body: _Body, source: list[_Element]) -> list[_Element]:
    """The first largest element's index: a tree over (value, index) pairs, ties to the lower index."""
    level = [(element, _Element(_literal(index), index, index)) for index, element in enumerate(source)]
    while len(level) > 1:
        paired = [(_max(body, a, b) if len(level) > 2 else None, _pick(body, a, b, index_a, index_b))
                  for (a, index_a), (b, index_b) in zip(level[0::2], level[1::2])]
        level = paired + level[len(level) // 2 * 2:]
    return [level[0][1]]


def _add(body: _Body, a: _Element, b: _Element) -> _Element:
    low, high = a.low + b.low, a.high + b.high
    if low == high:
        return _Element(_literal(low), low, high)
    # Both signed: Verilog sign-extends them to the sum's width.
    return _Element(body.wire(signed_width(low, high), f"{a.ref} + {b.ref}"), low, high)


def _combine(body: _Body, terms: list[tuple[int, _Element, _Element | None]]) -> _Element:
    """Σ sign · a (· b): products and sums as a plain design writes them, in one signed wire as wide
    as the sum's interval (Verilog sign-extends every signed operand to it)."""
    low = high = 0
    parts = []
    for sign, a, b in terms:
        if b is None:
            term_low, term_high = a.low, a.high
            parts.append(a.ref)
        else:
            corners = (a.low * b.low, a.low * b.high, a.high * b.low, a.high * b.high)
            term_low, term_high = (0 if a.low <= 0 <= a.high else min(corners), max(corners)) if a is b \
                else (min(corners), max(corners))
            parts.append(f"{a.ref} * {b.ref}")
        low, high = (low + term_low, high + term_high) if sign > 0 else (low - term_high, high - term_low)
        parts[-1] = ("- " if sign < 0 else "+ ") + parts[-1]
    if low == high:
        return _Element(_literal(low), low, high)
    expression = " ".join(parts).removeprefix("+ ")
    return _Element(body.wire(signed_width(low, high), expression), low, high)


def _embedding(body: _Body, op, source: list[_Element]) -> list[_Element]:
    """Per output element a table over its token's id (an id past V - 1 reads row V - 1, below 0 row 0)."""
    table = array_attr(op, "table").astype(np.int64)
    positions, vocabulary, dimension = table.shape
    result = []
    for t, element in enumerate(source):
        rows = table[t if positions > 1 else 0]
        low, high = element.low, element.high
        for d in range(dimension):
            column = [int(rows[min(max(i, 0), vocabulary - 1), d]) for i in range(low, high + 1)]
            result.append(_lookup(body, element, low, column))
    return result


def _matmul(body: _Body, op, lhs: list[_Element], rhs: list[_Element]) -> list[_Element]:
    """Each output a sum of products, `a * b + ...`."""
    lhs_shape, rhs_shape = (list(operand.type.shape) for operand in op.operands)
    rows, depth, columns = lhs_shape[-2], lhs_shape[-1], rhs_shape[-1]
    return [_combine(body, [(1, lhs[(b * rows + i) * depth + k], rhs[(b * depth + k) * columns + j])
                            for k in range(depth)])
            for b in range(int(np.prod(lhs_shape[:-2]))) for i in range(rows) for j in range(columns)]


def _rows(op, source: list[_Element]) -> list[list[int]]:
    """The element indices of each row of the last axis."""
    size = list(op.operands[0].type.shape)[-1]
    return [list(range(start, start + size)) for start in range(0, len(source), size)]


def _qsoftmax(body: _Body, op, source: list[_Element]) -> list[_Element]:
    """`hardcore.qsoftmax` as written: per row a max chain, subtract, clamp, exp table, sum, reciprocal
    table, `*` and requantization; a masked entry is 0."""
    from hardcore.interpreter import causal_mask

    shape = list(op.operands[0].type.shape)
    keep = np.broadcast_to(causal_mask(shape) if int_attr(op, "causal") else True, shape).reshape(-1)
    exp_table, recip_table = (array_attr(op, name).astype(np.int64).reshape(-1).tolist()
                              for name in ("exp_table", "recip_table"))
    exp_min = int_attr(op, "exp_min")
    zero = _Element(_literal(0), 0, 0)
    result = [zero] * len(source)
    for row in _rows(op, source):
        kept = [j for j in row if keep[j]]
        if not kept:
            continue
        row_max = source[kept[0]]
        for j in kept[1:]:
            row_max = _max(body, row_max, source[j])
        exps = {}
        for j in kept:
            difference = _combine(body, [(1, source[j], None), (-1, row_max, None)])
            clamped = _clamp_below(body, difference, exp_min)
            exps[j] = _lookup(body, clamped, exp_min, exp_table)
        total = _combine(body, [(1, e, None) for e in exps.values()])
        index = _requant(body, total, int_attr(op, "sum_shift"), 0, len(recip_table) - 1)
        reciprocal = _lookup(body, index, 0, recip_table)
        for j in kept:
            result[j] = _requant(body, _combine(body, [(1, exps[j], reciprocal)]), int_attr(op, "shift"),
                                 int_attr(op, "min"), int_attr(op, "max"))
    return result


def _qnorm(body: _Body, op, source: list[_Element]) -> list[_Element]:
    """`hardcore.qnorm` as written: per row `D * x_j - Σx` (or x_j), the sum of `c * c`, the rsqrt
    table, `*` and requantization."""
    table = array_attr(op, "rsqrt_table").astype(np.int64).reshape(-1).tolist()
    result = []
    for row in _rows(op, source):
        size = len(row)
        if int_attr(op, "rms"):
            centred = [source[j] for j in row]
        else:
            scaled = [_combine(body, [(1, _Element(_literal(size), size, size), source[j])]) for j in row]
            centred = [_combine(body, [(1, d, None)] + [(-1, source[k], None) for k in row]) for d in scaled]
        squares = _combine(body, [(1, c, c) for c in centred])
        index = _requant(body, squares, int_attr(op, "sq_shift"), 0, len(table) - 1)
        rsqrt = _lookup(body, index, 0, table)
        result += [_requant(body, _combine(body, [(1, c, rsqrt)]), int_attr(op, "shift"), int_attr(op, "min"),
                            int_attr(op, "max")) for c in centred]
    return result


def _clamp_below(body: _Body, element: _Element, low: int) -> _Element:
    if element.low >= low:
        return element
    if element.high <= low:
        return _Element(_literal(low), low, low)
    return _Element(body.wire(element.width, f"{element.ref} < {_literal(low)} ? {_literal(low)} : {element.ref}"),
                    low, element.high)


def _concat(op, lhs: list[_Element], rhs: list[_Element]) -> list[_Element]:
    dim = int_attr(op, "dim")
    shapes = [list(operand.type.shape) for operand in op.operands]
    order = np.concatenate([np.arange(len(lhs)).reshape(shapes[0]),
                            len(lhs) + np.arange(len(rhs)).reshape(shapes[1])], axis=dim)
    elements = lhs + rhs
    return [elements[i] for i in order.reshape(-1).tolist()]


def _layer(body: _Body, layer_ops, values: dict) -> None:
    """The wires of one layer's ops in `body`; `values` maps each tensor to its elements (and gets the new ones)."""
    for op in layer_ops:
        name = op.operation.name
        source = values[op.operands[0]]
        if name == "hardcore.dense":
            weight = array_attr(op, "weight").astype(np.int64)
            bias = array_attr(op, "bias").astype(np.int64)
            columns = weight.shape[1]  # a dense over rows maps each row of `columns` inputs
            elements = [_dense_row(body, weight[row], int(bias[row]), source[start:start + columns])
                        for start in range(0, len(source), columns) for row in range(weight.shape[0])]
        elif name in ("hardcore.maxpool", "hardcore.minpool"):
            elements = _maxpool(body, op, source)
        elif name == "hardcore.argmax":
            elements = _argmax(body, source)
        elif name == "hardcore.add_tensors":
            elements = [_add(body, a, b) for a, b in zip(source, values[op.operands[1]])]
        elif name == "hardcore.sub_tensors":
            elements = [_combine(body, [(1, a, None), (-1, b, None)]) for a, b in zip(source, values[op.operands[1]])]
        elif name == "hardcore.mul_tensors":
            elements = [_combine(body, [(1, a, b)]) for a, b in zip(source, values[op.operands[1]])]
        elif name == "hardcore.matmul":
            elements = _matmul(body, op, source, values[op.operands[1]])
        elif name == "hardcore.embedding":
            elements = _embedding(body, op, source)
        elif name == "hardcore.qsoftmax":
            elements = _qsoftmax(body, op, source)
        elif name == "hardcore.qnorm":
            elements = _qnorm(body, op, source)
        elif name == "hardcore.concat":
            elements = _concat(op, source, values[op.operands[1]])
        elif name == "hardcore.gather":
            elements = [source[i] for i in array_attr(op, "indices").astype(np.int64).reshape(-1).tolist()]
        else:
            shifts = requant_shifts(op, len(source)) if name == "hardcore.requant" else [0] * len(source)
            elements = [_elementwise(body, op, element, shift) for element, shift in zip(source, shifts)]
        values[op.results[0]] = elements


def _layer_module(name: str, layer_ops, inputs: list, outputs: list, values: dict) -> tuple[str, list[_Element]]:
    """Module `name` computing one layer: its text and its output ports.

    `inputs` are the tensors it reads from other layers (their elements in
    `values`), `outputs` the tensors it makes that others read.  Ports are
    `i<k>` and `o<k>`, over those tensors' elements in order; constants among
    them are no ports.
    """
    in_elements = [element for value in inputs for element in values[value]]
    in_ports = _ports(in_elements, "i")
    local, offset = {}, 0
    for value in inputs:
        local[value] = in_ports[offset:offset + len(values[value])]
        offset += len(values[value])
    body = _Body()
    _layer(body, layer_ops, local)
    out_elements = [element for value in outputs for element in local[value]]
    out_ports = _ports(out_elements, "o")
    declarations = [f"  input signed [{p.width - 1}:0] {p.ref}" for p in in_ports if p.low != p.high]
    declarations += [f"  output signed [{p.width - 1}:0] {p.ref}" for p in out_ports if p.low != p.high]
    assigns = [f"  assign {p.ref} = {e.ref};" for p, e in zip(out_ports, out_elements) if p.low != p.high]
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


def baseline_verilog(quantized_text: str, module_name: str, out_width: int | list[int] | None = None) -> str:
    """Verilog of the quantized layer IR with one `*` per weight (combinational), one module per layer.

    `y` holds each output in `out_width` bits (the folded circuit's, so both
    have the same ports), by default in as few as hold them all (unsigned for
    an argmax index, like the folded circuit's port).  A model with several
    inputs or outputs has ports x0, x1, ... and y0, y1, ... as the folded
    circuit has; `out_width` is then a list, one width per output.
    """
    module = parse_module(quantized_text, new_context(), "quantized")
    function = find_function(module.operation)
    ops = body_ops(function)
    quantizes = ops[:len(function.type.inputs)]  # one per input
    top = _Body()
    values, header = {}, [f"module {module_name}("]
    for number, quantize in enumerate(quantizes):
        port, prefix = ("x", "in_") if len(quantizes) == 1 else (f"x{number}", f"in{number}_")
        low, high = int_attr(quantize, "min"), int_attr(quantize, "max")
        in_width = signed_width(low, high)
        n_in = int(np.prod(list(quantize.results[0].type.shape)))
        if token_input(quantize):  # token ids: unsigned on the port, as in the folded circuit
            port_width, high = in_width - 1, (1 << (in_width - 1)) - 1
            inputs = [f"{{1'b0, {port}[{i * port_width} +: {port_width}]}}" for i in range(n_in)]
        else:
            port_width = in_width
            inputs = [f"{port}[{i * in_width} +: {in_width}]" for i in range(n_in)]
        values[quantize.results[0]] = [_Element(top.wire(in_width, text, name=f"{prefix}{i}"), low, high)
                                       for i, text in enumerate(inputs)]
        header.append(f"  input  [{n_in * port_width - 1}:0] {port},")
    returned = next(op for op in ops if op.operation.name == "func.return").operands
    results = [r.owner.operands[0] if r.owner.name == "hardcore.dequantize" else r for r in returned]
    layers = _layers(ops)
    modules: list[str] = []
    for index, layer_ops in enumerate(layers):
        defined = {op.results[0] for op in layer_ops}
        inputs = list(dict.fromkeys(v for op in layer_ops for v in op.operands if v not in defined))
        read_elsewhere = {v for other in layers if other is not layer_ops for op in other for v in op.operands}
        outputs = [v for v in defined if v in read_elsewhere or v in results]
        outputs.sort(key=lambda v: layer_ops.index(v.owner))
        layer_name = f"{module_name}_layer{index}"
        text, ports = _layer_module(layer_name, layer_ops, inputs, outputs, values)
        modules.append(text)
        in_elements = [element for value in inputs for element in values[value]]
        wires = _instance(top, layer_name, f"layer{index}", in_elements, ports)
        for value in outputs:
            size = int(np.prod(list(value.type.shape)))
            values[value], wires = wires[:size], wires[size:]
    widths = out_width if isinstance(out_width, (list, tuple)) else [out_width] * len(results)
    assigns = []
    for number, (result, width) in enumerate(zip(results, widths)):
        port, prefix = ("y", "out_") if len(results) == 1 else (f"y{number}", f"out{number}_")
        elements = values[result]
        unsigned = result.owner.name == "hardcore.argmax"
        narrowest = max(max(e.high.bit_length(), 1) if unsigned else e.width for e in elements)
        if width is None:
            width = narrowest
        elif width < narrowest:
            raise ValueError(f"the outputs need {narrowest} bits, not {width}")
        outputs = [top.wire(width, element.ref, name=f"{prefix}{i}") for i, element in enumerate(elements)]
        header.append(f"  output [{len(outputs) * width - 1}:0] {port}" + ("," if number < len(results) - 1 else ""))
        assigns.append(f"  assign {port} = {{{', '.join(reversed(outputs))}}};")
    header.append(");")
    comment = f"// The plain-multiplier baseline of {module_name}: one * per weight (hardcore report)."
    # the top module first, as in the folded circuit's Verilog
    return "\n".join([comment] + header + top.lines + assigns + ["endmodule", ""] + modules)
