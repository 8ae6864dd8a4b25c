"""hardcore-fold-weights: integer layer ops to a scalar shift/add DAG with exact widths.

Each dense layer's weight matrix becomes an adder graph (see
`hardcore.adder_graph`): by default (`algorithm=cse`) the CMVM solver of
`hardcore.cmvm`, which shares subexpressions across the whole matrix; with
`algorithm=csd` each weight's canonical signed digits on their own, the
baseline.  Either way zero weights vanish and ±2^k weights are wires.  The
graph's nodes become `hardcore.shl` + `hardcore.add`/`sub` ops; the bias is
one constant added per output, with the requantization's rounding constant
folded into it.  ReLU followed by requantization becomes one `hardcore.clamp`.
A lookup table (`hardcore.lut`) becomes one `hardcore.table` per element,
trimmed to the inputs that element's value range can reach (a constant when
they all give one entry).
A max pool becomes a balanced tree of `hardcore.max` per window; an argmax a
tree of `hardcore.pick` (the index) and `hardcore.max` (the value) over
(value, index) pairs, and its index, in [0, N-1], makes the function
`hardcore.output_unsigned`.  Both are layers of their own, with comparators
instead of adders.  A comparison the value ranges decide costs nothing.
A residual add (`hardcore.add_tensors`) is a layer of its own too: one adder
per element (a shift common to both operands applied after it); the left
shifts that align its operands are wires.  A concat and a gather are wires:
the elements in their new order.  The model may be a graph: an op that is no
layer belongs to the latest layer among its operands', so layers only read
lower layers.

Every result's type is the narrowest two's complement width that holds its
value range: exact linear-form ranges for the adder graph's nodes (inputs are
independent), interval arithmetic for the rest.

The function's signature becomes integer: the input is the quantized tensor
(its `frac_bits` in the function attribute `hardcore.input_frac_bits`), the
result the integer output (`hardcore.output_frac_bits`).  Per-layer figures
(weights, nonzero weights, adders, adder bits, adder depth, and the layer's
`hardcore.kind` when it has one) go to the function attribute `hardcore.layers`.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import NamedTuple

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import AdderGraph, signed_width
from hardcore.csd import per_weight_graph
from hardcore.errors import UsageError
from hardcore.irutil import (array_attr, body_ops, create_op, dense_attr, functions, i64_attr, int_attr,
                             int_type, replace_function, requant_shifts, tensor_type)
from hardcore.pass_base import ModulePass, PassFailed

__all__ = ["FoldWeightsPass", "ALGORITHMS"]


def _csd(matrix, input_ranges, max_depth):
    graph = per_weight_graph(matrix)
    if max_depth is not None and graph.depth > max_depth:
        raise ValueError(f"per-weight folding needs adder depth {graph.depth}, "
                         f"more than max-depth={max_depth}")
    return graph


def _cse(matrix, input_ranges, max_depth):
    from hardcore import cmvm

    low = min((lo for lo, _ in input_ranges), default=0)
    high = max((hi for _, hi in input_ranges), default=0)
    signed = low < 0
    bits = signed_width(low, high) if signed else max(high.bit_length(), 1)
    return cmvm.solve(matrix, input_bits=bits, signed=signed, max_depth=max_depth)


# algorithm name -> solver(matrix, input ranges, max depth) -> AdderGraph
ALGORITHMS = {"csd": _csd, "cse": _cse}
_ADDERS = frozenset({"hardcore.add", "hardcore.sub", "hardcore.neg"})
# Layer ops that start a layer of their own (a `layerK` location, an entry in `hardcore.layers`);
# the ops after one (relu, requant, reshape) belong to it.
_LAYER_OPS = frozenset({"hardcore.dense", "hardcore.maxpool", "hardcore.argmax", "hardcore.add_tensors"})


class _Lin(NamedTuple):
    """sign * (value << shift) + const, not yet built; value None means const alone."""

    value: object
    shift: int
    sign: int
    const: int


class _DagBuilder:
    """Creates scalar ops with exact widths, reusing identical ops."""

    def __init__(self, location):
        self.location = location
        self.layer = -1  # the layer the ops made now belong to (their location says so)
        self.layer_of: dict = {}  # op result -> the layer it was made in
        self.ranges: dict = {}
        self.depths: dict = {}
        self.memo: dict = {}
        self.adders = 0
        self.adder_bits = 0
        self.tables = 0
        self.table_entries = 0
        self.made: collections.Counter = collections.Counter()  # new ops by name

    def _emit(self, name, operands, value_range, attributes=None):
        key = (name, tuple(operands), tuple(sorted((attributes or {}).items())))
        if self._reusable(key):
            return self.memo[key]
        low, high = value_range
        attrs = {k: i64_attr(v) for k, v in (attributes or {}).items()}
        op = create_op(name, operands, [int_type(signed_width(low, high))], attrs, self.location)
        self.made[name] += 1
        result = op.results[0]
        self.ranges[result] = (low, high)
        depth = max((self.depths.get(v, 0) for v in operands), default=0)
        if name in _ADDERS:
            depth += 1
            self.adders += 1
            self.adder_bits += signed_width(low, high)
        self.depths[result] = depth
        self.memo[key] = result
        self.layer_of[result] = self.layer
        return result

    def _reusable(self, key) -> bool:
        """Whether an identical op was made, in this layer or a lower one.

        One made in a higher layer is not reused: an op of a lower layer (a
        requantization of an earlier value, processed after a later layer)
        would then read a higher layer, and layers must only read lower ones
        (hardcore-to-hw keeps one module per layer).
        """
        return key in self.memo and self.layer_of[self.memo[key]] <= self.layer

    def sext(self, value, width: int):
        if signed_width(*self.ranges[value]) == width:
            return value
        op = create_op("hardcore.sext", [value], [int_type(width)], None, self.location)
        self.ranges[op.results[0]] = self.ranges[value]
        return op.results[0]

    def constant(self, value: int):
        return self._emit("hardcore.constant", [], (value, value), {"value": value})

    def shl(self, value, amount: int):
        if amount == 0:
            return value
        low, high = self.ranges[value]
        return self._emit("hardcore.shl", [value], (low << amount, high << amount), {"amount": amount})

    def shr(self, value, amount: int):
        if amount == 0:
            return value
        low, high = self.ranges[value]
        return self._emit("hardcore.shr", [value], (low >> amount, high >> amount), {"amount": amount})

    def add(self, lhs, rhs, value_range=None):
        if value_range is None:
            (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
            value_range = (a + c, b + d)
        return self._emit("hardcore.add", [lhs, rhs], value_range)

    def sub(self, lhs, rhs, value_range=None):
        if value_range is None:
            (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
            value_range = (a - d, b - c)
        return self._emit("hardcore.sub", [lhs, rhs], value_range)

    def neg(self, value):
        low, high = self.ranges[value]
        return self._emit("hardcore.neg", [value], (-high, -low))

    def clamp(self, value, low: int, high: int):
        a, b = self.ranges[value]
        if low <= a and b <= high:
            return value
        clamped = (min(max(a, low), high), max(min(b, high), low))
        if clamped[0] == clamped[1]:  # the whole range lies on one side of [low, high]: a constant
            return self.constant(clamped[0])
        # A side the value cannot exceed gets its type's bound, so no comparator is built for it.
        width = signed_width(a, b)
        low = low if a < low else -(1 << (width - 1))
        high = high if b > high else (1 << (width - 1)) - 1
        return self._emit("hardcore.clamp", [value], clamped, {"min": low, "max": high})

    def table(self, value, low: int, entries: list[int]) -> _Lin:
        """entries[value - low], for a value whose range lies in [low, low + len(entries) - 1]."""
        a, b = self.ranges[value]
        if a < low or b >= low + len(entries):
            raise ValueError(f"input range [{a}, {b}] is not inside the table's inputs "
                             f"[{low}, {low + len(entries) - 1}]")
        reached = entries[a - low:b - low + 1]  # only what this value can index
        if min(reached) == max(reached):
            return _Lin(None, 0, 1, reached[0])
        key = ("hardcore.table", (value,), (a, tuple(reached)))
        if not self._reusable(key):
            op = create_op("hardcore.table", [value], [int_type(signed_width(min(reached), max(reached)))],
                           {"min": i64_attr(a), "table": dense_attr(np.array(reached), int_type(64))},
                           self.location)
            self.ranges[op.results[0]] = (min(reached), max(reached))
            self.depths[op.results[0]] = self.depths.get(value, 0)
            self.tables += 1
            self.table_entries += len(reached)
            self.memo[key] = op.results[0]
            self.layer_of[op.results[0]] = self.layer
        return _Lin(self.memo[key], 0, 1, 0)

    def max(self, lhs, rhs):
        """max(lhs, rhs); no comparator when the ranges decide it."""
        (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
        if c >= b:
            return rhs
        if a >= d:
            return lhs
        return self._emit("hardcore.max", [lhs, rhs], (max(a, c), max(b, d)))

    def pick(self, lhs, rhs, if_lhs, if_rhs):
        """rhs > lhs ? if_rhs : if_lhs; no comparator when the ranges decide it."""
        (a, b), (c, d) = self.ranges[lhs], self.ranges[rhs]
        if c > b:
            return if_rhs
        if d <= a:
            return if_lhs
        (e, f), (g, h) = self.ranges[if_lhs], self.ranges[if_rhs]
        return self._emit("hardcore.pick", [lhs, rhs, if_lhs, if_rhs], (min(e, g), max(f, h)))

    def materialize(self, lin: _Lin):
        if lin.value is None:
            return self.constant(lin.const)
        shifted = self.shl(lin.value, lin.shift)
        if lin.sign > 0:
            return shifted if lin.const == 0 else self.add(shifted, self.constant(lin.const))
        return self.neg(shifted) if lin.const == 0 else self.sub(self.constant(lin.const), shifted)

    def lin_range(self, lin: _Lin) -> tuple[int, int]:
        if lin.value is None:
            return lin.const, lin.const
        low, high = self.ranges[lin.value]
        low, high = (low << lin.shift, high << lin.shift)
        if lin.sign < 0:
            low, high = -high, -low
        return low + lin.const, high + lin.const


@dataclasses.dataclass(frozen=True)
class FoldWeightsPass(ModulePass):
    name = "hardcore-fold-weights"
    algorithm: str = "cse"
    max_depth: int | None = None

    def validate(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise UsageError(f"{self.name}: unknown algorithm '{self.algorithm}' "
                             f"(one of: {', '.join(sorted(ALGORITHMS))})")
        if self.max_depth is not None and self.max_depth < 1:
            raise UsageError(f"{self.name}: max-depth must be at least 1, got {self.max_depth}")

    def run(self, module: ir.Operation) -> None:
        ok = True
        for function in functions(module):
            ops = body_ops(function)
            if ops and ops[0].operation.name == "hardcore.quantize":
                ok &= self._fold_function(function, ops)
            elif any(op.operation.name in ("hardcore.dense", "hardcore.relu") for op in ops):
                self.error(function, "hardcore-fold-weights: expected a quantized function "
                           "starting with hardcore.quantize (run hardcore-quantize first)")
                ok = False
        if not ok:
            raise PassFailed()

    def _fold_function(self, function, ops) -> bool:
        quantize, ret = ops[0], ops[-1]
        dequantize = ret.operands[0].owner if len(ret.operands) == 1 else None
        if ret.operation.name != "func.return" or dequantize is None or \
                getattr(dequantize, "name", "") != "hardcore.dequantize":
            self.error(function, "hardcore-fold-weights: expected the result to be a hardcore.dequantize")
            return False
        in_type = ir.RankedTensorType(quantize.results[0].type)
        low, high = int_attr(quantize, "min"), int_attr(quantize, "max")
        in_type = tensor_type(list(in_type.shape), int_type(signed_width(low, high)))
        out_shape = list(ir.RankedTensorType(dequantize.results[0].type).shape)

        new = replace_function(function, function.name.value, [in_type], [in_type])
        block = new.regions[0].blocks[0]
        layers = []
        with ir.InsertionPoint(block):
            builder = _DagBuilder(quantize.location)
            elements = []
            for index in range(int(np.prod(in_type.shape))):
                value = builder._emit("hardcore.extract", [block.arguments[0]], (low, high), {"index": index})
                elements.append(_Lin(value, 0, 1, 0))
            tensors = {quantize.results[0]: elements}
            layer_of = {quantize.results[0]: 0}  # tensor -> the layer that makes it
            for op in ops[1:]:
                name = op.operation.name
                if name in ("func.return", "hardcore.dequantize"):
                    continue
                # Name each op's location after its layer (a layer op k, and the ops that
                # follow from it: the latest layer among their operands'), so later passes
                # and reports can attribute logic and registers to layers.  In a graph,
                # layers only ever read lower layers.
                layer = len(layers) if name in _LAYER_OPS else max(layer_of[v] for v in op.operands)
                layer_of[op.results[0]] = layer
                builder.location = ir.Location.name(f"layer{layer}", childLoc=op.location)
                builder.layer = layer
                source = tensors[op.operands[0]]
                try:
                    if name == "hardcore.add_tensors":
                        result, stats = self._add_tensors(builder, op, source, tensors[op.operands[1]])
                        layers.append(stats)
                    elif name == "hardcore.concat":
                        result = self._concat(op, source, tensors[op.operands[1]])
                    elif name == "hardcore.gather":
                        result = [source[int(i)] for i in array_attr(op, "indices").reshape(-1)]
                    elif name == "hardcore.dense":
                        result, stats = self._dense(builder, op, source)
                        layers.append(stats)
                    elif name == "hardcore.maxpool":
                        result, stats = self._maxpool(builder, op, source)
                        layers.append(stats)
                    elif name == "hardcore.argmax":
                        result, stats = self._argmax(builder, op, source)
                        layers.append(stats)
                    elif name == "hardcore.relu":
                        result = self._relu(builder, op, source)
                    elif name == "hardcore.requant":
                        result = self._requant(builder, op, source)
                    elif name == "hardcore.reshape":
                        result = source
                    elif name == "hardcore.lut":
                        result = self._lut(builder, op, source)
                    else:
                        self.error(op, f"hardcore-fold-weights: cannot fold '{name}'")
                        new.operation.erase()
                        return False
                except ValueError as exc:
                    self.error(op, f"hardcore-fold-weights: {exc}")
                    new.operation.erase()
                    return False
                tensors[op.results[0]] = result
            # The outputs' last ops belong to the last layer (one module per layer in hardware).
            builder.location = ir.Location.name(f"layer{layer_of[dequantize.operands[0]]}", childLoc=ret.location)
            builder.layer = layer_of[dequantize.operands[0]]
            outputs = [builder.materialize(lin) for lin in tensors[dequantize.operands[0]]]
            width = max(signed_width(*builder.ranges[v]) for v in outputs)
            index = dequantize.operands[0].owner
            if index.name == "hardcore.argmax":
                # An index port: ceil(log2 N) bits, unsigned (hardcore-to-hw drops the sign bit,
                # always 0), however few indices the value ranges leave possible.
                size = int(np.prod(ir.RankedTensorType(index.operands[0].type).shape))
                width = max(width, signed_width(0, size - 1))
                new.attributes["hardcore.output_unsigned"] = ir.UnitAttr.get()
            outputs = [builder.sext(v, width) for v in outputs]
            out_type = tensor_type(out_shape, int_type(width))
            packed = create_op("hardcore.pack", outputs, [out_type], None, ret.location)
            create_op("func.return", [packed.results[0]], [], None, ret.location)
        new.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get([in_type], [out_type]))
        new.attributes["hardcore.input_frac_bits"] = i64_attr(int_attr(quantize, "frac_bits"))
        new.attributes["hardcore.output_frac_bits"] = i64_attr(int_attr(dequantize, "frac_bits"))
        new.attributes["hardcore.layers"] = ir.ArrayAttr.get([
            ir.DictAttr.get({k: (ir.StringAttr.get(v) if isinstance(v, str) else i64_attr(v))
                             for k, v in stats.items()}) for stats in layers])
        function.operation.erase()
        return True

    # -- one rewrite per layer op -----------------------------------------
    def _dense(self, builder: _DagBuilder, op, source: list[_Lin]):
        weight = array_attr(op, "weight").astype(np.int64)
        bias = array_attr(op, "bias").astype(np.int64)
        bias = [int(b) for b in bias]
        values, ranges, columns = [], [], []
        for j, lin in enumerate(source):
            if lin.value is None:  # a constant input only moves the bias
                bias = [b + int(weight[i, j]) * lin.const for i, b in enumerate(bias)]
                continue
            value = builder.materialize(lin)
            values.append(value)
            ranges.append(builder.ranges[value])
            columns.append(j)
        matrix = weight[:, columns]
        graph: AdderGraph = ALGORITHMS[self.algorithm](matrix, ranges, self.max_depth)
        adders_before, bits_before = builder.adders, builder.adder_bits
        node_ranges = graph.value_ranges(ranges)
        built = list(values)
        saved_depths = {v: builder.depths.get(v, 0) for v in values}
        for v in values:  # depth is counted from this layer's inputs
            builder.depths[v] = 0
        for k, node in enumerate(graph.nodes):
            a = builder.shl(built[node.a], node.a_shift)
            b = builder.shl(built[node.b], node.b_shift)
            value_range = node_ranges[graph.n_inputs + k]
            built.append(builder.add(a, b, value_range) if node.sign > 0 else builder.sub(a, b, value_range))
        result = []
        depth = 0
        for i, out in enumerate(graph.outputs):
            if out is None:
                result.append(_Lin(None, 0, 1, bias[i]))
            else:
                value, shift, sign = out
                result.append(_Lin(built[value], shift, sign, bias[i]))
                depth = max(depth, builder.depths.get(built[value], 0))
        for v, d in saved_depths.items():
            builder.depths[v] = d
        stats = {
            "inputs": int(weight.shape[1]), "outputs": int(weight.shape[0]),
            "weights": int(weight.size), "nonzero_weights": int(np.count_nonzero(weight)),
            "adders": builder.adders - adders_before,
            "adder_bits": builder.adder_bits - bits_before, "adder_depth": depth,
        }
        if "hardcore.kind" in op.attributes:  # set by hardcore-import: "linear 16->64", "conv2d ..."
            stats["kind"] = ir.StringAttr(op.attributes["hardcore.kind"]).value
        return result, stats

    def _add_tensors(self, builder: _DagBuilder, op, lhs: list[_Lin], rhs: list[_Lin]):
        """A residual add: one adder per element (none where an operand is a constant), a layer of its own.

        Operands at one scale are `±(v << m) + c`: the shift both have in common is
        applied after the adder (narrower), the constants join the next rounding.
        """
        adders_before, bits_before = builder.adders, builder.adder_bits
        inputs = {lin.value for lin in lhs + rhs if lin.value is not None}
        saved_depths = {v: builder.depths.get(v, 0) for v in inputs}
        for v in inputs:  # depth is counted from this layer's inputs
            builder.depths[v] = 0
        result, depth = [], 0
        for a, b in zip(lhs, rhs):
            const = a.const + b.const
            if a.value is None or b.value is None:
                lin = b if a.value is None else a
                result.append(_Lin(lin.value, lin.shift, lin.sign, const))
                continue
            common = min(a.shift, b.shift)
            a_value, b_value = builder.shl(a.value, a.shift - common), builder.shl(b.value, b.shift - common)
            if a.sign == b.sign:
                value, sign = builder.add(a_value, b_value), a.sign
            elif a.sign > 0:
                value, sign = builder.sub(a_value, b_value), 1
            else:
                value, sign = builder.sub(b_value, a_value), 1
            result.append(_Lin(value, common, sign, const))
            depth = max(depth, builder.depths.get(value, 0))
        for v, d in saved_depths.items():
            builder.depths[v] = d
        stats = {"inputs": len(lhs) + len(rhs), "outputs": len(result), "weights": 0, "nonzero_weights": 0,
                 "adders": builder.adders - adders_before, "adder_bits": builder.adder_bits - bits_before,
                 "adder_depth": depth}
        if "hardcore.kind" in op.attributes:
            stats["kind"] = ir.StringAttr(op.attributes["hardcore.kind"]).value
        return result, stats

    @staticmethod
    def _concat(op, lhs: list[_Lin], rhs: list[_Lin]) -> list[_Lin]:
        """lhs and rhs joined along `dim`: the elements in their new row-major order (wires)."""
        dim = int_attr(op, "dim")
        lhs_shape = list(ir.RankedTensorType(op.operands[0].type).shape)
        rhs_shape = list(ir.RankedTensorType(op.operands[1].type).shape)
        order = np.concatenate([np.arange(len(lhs)).reshape(lhs_shape),
                                len(lhs) + np.arange(len(rhs)).reshape(rhs_shape)], axis=dim)
        elements = lhs + rhs
        return [elements[int(i)] for i in order.reshape(-1)]

    def _relu(self, builder: _DagBuilder, op, source: list[_Lin]):
        uses = list(op.results[0].uses)
        if len(uses) == 1 and uses[0].owner.operation.name == "hardcore.requant" \
                and int_attr(uses[0].owner, "min") >= 0:
            # requant clamps at min >= 0 anyway, and rounding commutes with relu
            # (relu(x + h) >> s == (relu(x) + h) >> s for 0 <= h < 2^s).
            return source
        result = []
        for lin in source:
            if lin.value is None:
                result.append(_Lin(None, 0, 1, max(lin.const, 0)))
                continue
            value = builder.materialize(lin)
            result.append(_Lin(builder.clamp(value, 0, max(builder.ranges[value][1], 0)), 0, 1, 0))
        return result

    def _lut(self, builder: _DagBuilder, op, source: list[_Lin]):
        low = int_attr(op, "min")
        entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
        result = []
        for lin in source:
            if lin.value is None:
                if not low <= lin.const < low + len(entries):
                    raise ValueError(f"constant input {lin.const} is not inside the table's inputs "
                                     f"[{low}, {low + len(entries) - 1}]")
                result.append(_Lin(None, 0, 1, entries[lin.const - low]))
                continue
            result.append(builder.table(builder.materialize(lin), low, entries))
        return result

    def _requant(self, builder: _DagBuilder, op, source: list[_Lin]):
        low, high = int_attr(op, "min"), int_attr(op, "max")
        result = []
        for lin, shift in zip(source, requant_shifts(op, len(source))):  # one shift per element
            if lin.value is None:
                c = lin.const
                c = ((c + (1 << (shift - 1))) >> shift) if shift > 0 else c << -shift
                result.append(_Lin(None, 0, 1, min(max(c, low), high)))
                continue
            lin_low, lin_high = builder.lin_range(lin)
            if shift <= 0 and low <= lin_low << -shift and lin_high << -shift <= high:
                # An exact left shift that cannot saturate (aligning a residual add's operands,
                # or a concat's): a wire, left for the op that uses it to build.
                result.append(_Lin(lin.value, lin.shift - shift, lin.sign, lin.const << -shift))
                continue
            s = shift
            if s > 0:
                # Round half up for free: the constant joins the bias.  Then
                # floor((±v·2^m + C) / 2^s) == floor((±v·2^(m-k) + floor(C/2^k)) / 2^(s-k))
                # for k = min(m, s): the adder drops k low bits it never needed.
                const = lin.const + (1 << (s - 1))
                common = min(lin.shift, s)
                lin = _Lin(lin.value, lin.shift - common, lin.sign, const >> common)
                s -= common
            value = builder.materialize(lin)
            value = builder.shr(value, s) if s > 0 else builder.shl(value, -s)
            result.append(_Lin(builder.clamp(value, low, high), 0, 1, 0))
        return result

    def _maxpool(self, builder: _DagBuilder, op, source: list[_Lin]):
        """Each window's maximum: a balanced tree of `hardcore.max` (a comparator and a mux each)."""
        windows = array_attr(op, "windows").astype(np.int64)
        made_before = builder.made["hardcore.max"]
        result, depth = [], 0
        for row in windows:
            level = [(builder.materialize(source[j]), 0) for j in row if j >= 0]
            while len(level) > 1:
                paired = []
                for (a, depth_a), (b, depth_b) in zip(level[0::2], level[1::2]):
                    value = builder.max(a, b)
                    paired.append((value, depth_a if value is a else depth_b if value is b
                                   else max(depth_a, depth_b) + 1))
                level = paired + level[len(paired) * 2:]
            result.append(_Lin(level[0][0], 0, 1, 0))
            depth = max(depth, level[0][1])
        comparators = builder.made["hardcore.max"] - made_before
        return result, self._comparator_stats(op, windows.shape[0], len(source), comparators, depth)

    def _argmax(self, builder: _DagBuilder, op, source: list[_Lin]):
        """The first largest element's index: a comparator tree over (value, index) pairs.

        Neighbours are paired level by level, the lower indices on the left; a
        pair keeps the right one only when its value is strictly larger, so
        every subtree yields its first largest element, like torch.argmax.
        The pair's `hardcore.pick` (index) and `hardcore.max` (value, for the
        next level; the root needs none) share one comparator in hardware.
        """
        made_before = builder.made["hardcore.pick"]
        level = [(builder.materialize(lin), builder.constant(i), 0) for i, lin in enumerate(source)]
        while len(level) > 1:
            paired = []
            for (value_a, index_a, depth_a), (value_b, index_b, depth_b) in zip(level[0::2], level[1::2]):
                index = builder.pick(value_a, value_b, index_a, index_b)
                value = builder.max(value_a, value_b) if len(level) > 2 else None
                depth = depth_a if index is index_a else depth_b if index is index_b else max(depth_a, depth_b) + 1
                paired.append((value, index, depth))
            level = paired + level[len(paired) * 2:]
        comparators = builder.made["hardcore.pick"] - made_before
        return [_Lin(level[0][1], 0, 1, 0)], self._comparator_stats(op, 1, len(source), comparators, level[0][2])

    @staticmethod
    def _comparator_stats(op, outputs: int, inputs: int, comparators: int, depth: int) -> dict:
        stats = {"inputs": inputs, "outputs": outputs, "weights": 0, "nonzero_weights": 0, "adders": 0,
                 "adder_bits": 0, "adder_depth": 0, "comparators": comparators, "comparator_depth": depth}
        if "hardcore.kind" in op.attributes:
            stats["kind"] = ir.StringAttr(op.attributes["hardcore.kind"]).value
        return stats
