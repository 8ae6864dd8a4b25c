"""Fuzzing: random small quantized networks, compiled and simulated in Verilator against the interpreter.

A network is drawn with hypothesis (`networks()`): 1-3 dense layers of 1-6
(or more) outputs, activation width 2-8 bits, each layer's weights 2-8 bits
wide and of one kind (uniform, ±2^k, very sparse, dense without zeros,
extreme values only, all zero) with optional all-zero rows and columns, a
bias, ReLU or not, a requantization (shift of either sign, bounds that may
saturate; one time in three a shift per element), sometimes an activation
table (`hardcore.lut`) and an argmax output.  It is a graph, not only a
chain: after a layer, half the time when an earlier value has its size, a
skip connection (`hardcore.add_tensors` of the layer's output and that value,
each aligned by an exact left-shift requant of 0-3 bits, an optional ReLU and
a requant after); one time in four a concat of two earlier values (each
requantized to the act-bits type unless it has it; flat, or interleaved
along dimension 1 of Nx1 reshapes), one time in four a gather (a random
permutation, or a selection with repeats), and one time in four an
elementwise minimum or maximum of the value and an earlier one of its size (a
`hardcore.minpool` or `hardcore.maxpool` of pairs of their concat, as
torch.minimum/maximum import).  `networks(graph=True)` takes
every such chance.  A network that is a chain of dense layers (none of the
above, no table, no argmax) is, one time in three (`networks(reuse=True)`:
always, and no graph features), time-multiplexed instead: a reuse in 1..4
drawn per layer (at least one above 1, through the quant config's per-layer
`reuse`) and a realization (mux or rom), `hardcore-time-multiplex` under
`--verify-each`; its steps run cycle by cycle (`run_steps`) and its Verilog
(Icarus where it runs, else Verilator, in_valid low in random cycles) are
compared with the reference on their own, not in the batch.  Each other network is folded (`hardcore-fold-weights`, cse or csd) and, in a
pipelined batch, pipelined with a random `max-adder-depth`, all under
`--verify-each`; several networks share one Verilator build (`batch_top`
wires them side by side).  Inputs are random codes plus the extreme vectors
(all-minimum, all-maximum, alternating signs, zero) and, for the first
layer, the inputs that drive each row's accumulator to its largest and
smallest value (the vertices interval arithmetic bounds).  Outputs are
compared bit for bit with the reference interpreter on the quantized IR.

`python -m hardcore.fuzz --minutes N` (or `bench/fuzz.py`) runs until the
time is up and prints networks, vectors and mismatches, and how many networks
had each graph feature (FEATURES); hypothesis shrinks a
failure to a minimal batch and it is printed with its seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from hardcore import backend
from hardcore.adder_graph import signed_width
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.passes.time_multiplex import REALIZATIONS, TimeMultiplexPass
from hardcore.pipeline import run_pipeline
from hardcore.verify import extreme_inputs

__all__ = ["FEATURES", "FuzzNetwork", "networks", "batches", "compile_network", "batch_top", "run_batch", "BatchResult",
           "run_time_multiplexed", "main", "run_seeds"]

EXAMPLES_PER_SEED = 10
MATRIX_KINDS = ("uniform", "powers", "sparse", "dense", "extreme", "zero")


@dataclasses.dataclass
class FuzzNetwork:
    """A random quantized network: its IR text and what a test bench needs to know."""

    text: str  # quantized layer IR (`func.func @name`)
    name: str
    n_in: int
    act_bits: int
    first_weight: np.ndarray  # the first layer's integer weights (for the vertex inputs)
    algorithm: str = "cse"
    features: frozenset = frozenset()  # the graph features it has (FEATURES)
    vocabulary: int = 0  # > 0: the input is token ids in [0, vocabulary - 1] (a sequence model)
    reuse: tuple = ()  # each layer's reuse: time-multiplexed (hardcore-time-multiplex); (): folded
    realization: str = "mux"  # a time-multiplexed network's
    input_sizes: tuple = ()  # several inputs (ports x0, x1): each one's elements, n_in in all; (): one input
    # set by compile_network:
    verilog: str = ""
    n_out: int = 0
    out_width: int = 0  # the widest output's
    out_ports: tuple = ()  # (name, elements, width) of each output port
    out_signed: bool = True
    latency: int = 0

    @property
    def in_range(self) -> tuple[int, int]:
        if self.vocabulary:
            return 0, self.vocabulary - 1
        return -(1 << (self.act_bits - 1)), (1 << (self.act_bits - 1)) - 1

    @property
    def in_bits(self) -> int:
        """The width of one element of the network's port x (token ids: unsigned)."""
        return max((self.vocabulary - 1).bit_length(), 1) if self.vocabulary else self.act_bits

    @property
    def in_ports(self) -> list[tuple[str, int]]:
        """(name, elements) of each input port: x, or x0, x1, ..."""
        if not self.input_sizes:
            return [("x", self.n_in)]
        return [(f"x{i}", size) for i, size in enumerate(self.input_sizes)]

    def reference(self, codes: np.ndarray) -> np.ndarray:
        """The outputs of every port side by side for codes of every port side by side."""
        module = parse_module(self.text, new_context(), self.name)
        sizes = [size for _, size in self.in_ports]
        outputs = run_function(find_function(module.operation), np.split(codes, np.cumsum(sizes)[:-1], axis=1),
                               from_quantized=True)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return np.concatenate([output.reshape(len(codes), -1) for output in outputs], axis=1)

    def vectors(self, count: int, seed: int) -> np.ndarray:
        """Extreme vectors, each first-layer row's extreme vertices, then `count` random codes."""
        low, high = self.in_range
        rng = np.random.default_rng(seed)
        if self.vocabulary:  # token ids: the extremes and random sequences
            return np.concatenate([extreme_inputs(self.n_in, low, high),
                                   rng.integers(low, high + 1, (count, self.n_in))])
        rest = np.zeros(self.n_in - self.first_weight.shape[1], dtype=np.int64)  # a second input's codes: 0
        vertices = [np.concatenate([np.where(row > 0, high, low), rest]) for row in self.first_weight] + \
                   [np.concatenate([np.where(row > 0, low, high), rest]) for row in self.first_weight]
        return np.concatenate([extreme_inputs(self.n_in, low, high), np.array(vertices, dtype=np.int64),
                               rng.integers(low, high + 1, (count, self.n_in))])


def _dense_text(array) -> str:
    return "[" + ", ".join(_dense_text(a) if np.ndim(a) else str(int(a)) for a in array) + "]"


@st.composite
def matrices(draw, rows: int, cols: int, bits: int) -> np.ndarray:
    kind = draw(st.sampled_from(MATRIX_KINDS))
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "uniform":
        matrix = rng.integers(low, high + 1, (rows, cols))
    elif kind == "powers":
        matrix = rng.choice([-1, 1], (rows, cols)) * (1 << rng.integers(0, bits - 1, (rows, cols)))
    elif kind == "sparse":
        matrix = rng.integers(low, high + 1, (rows, cols)) * (rng.random((rows, cols)) < 0.1)
    elif kind == "dense":
        matrix = rng.choice(np.r_[low:0, 1:high + 1], (rows, cols))
    elif kind == "extreme":
        matrix = rng.choice([low, high, 0, -1, 1], (rows, cols))
    else:
        matrix = np.zeros((rows, cols), dtype=np.int64)
    if draw(st.booleans()):
        matrix[rng.integers(0, rows)] = 0  # an all-zero row
    if cols > 1 and draw(st.booleans()):
        matrix[:, rng.integers(0, cols)] = 0  # an all-zero column
    return matrix.astype(np.int64)


FEATURES = ("residual add", "concat", "gather", "minimum/maximum", "per-element shifts", "attention", "layernorm",
            "rmsnorm", "reuse", "two inputs and outputs")


@dataclasses.dataclass
class _Value:
    """An SSA value of the network under construction: its name, element count, width and range."""

    name: str
    size: int
    width: int
    low: int
    high: int

    @property
    def type(self) -> str:
        return f"tensor<{self.size}xi{self.width}>"


@st.composite
def _shifts(draw, count: int, low: int, high: int, per_element: bool = False) -> tuple[str, bool]:
    """A requant's `shift` attribute: one shift in [low, high], or (one time in three, always when
    `per_element`) one per element."""
    if count > 1 and (per_element or draw(st.integers(0, 2)) == 0):
        shifts = draw(st.lists(st.integers(low, high), min_size=count, max_size=count))
        return f"dense<{_dense_text(shifts)}> : tensor<{count}xi64>", True
    return f"{draw(st.integers(low, high))} : i64", False


@st.composite
def networks(draw, max_size: int = 6, max_layers: int = 3, name: str = "net", graph: bool = False,
             reuse: bool = False, two_ports: bool = False) -> FuzzNetwork:
    """A random quantized network (see the module doc).

    With `graph`, every chance of a graph feature is taken: a residual add after every layer
    that has an earlier value of its size, a concat and a gather after every layer, and a
    shift per element on every requant of more than one element.  With `reuse`, a chain of
    dense layers, time-multiplexed.  With `two_ports` (else one time in four, never with `reuse`),
    a second input (`%arg1`, its own quantize, which later skip connections and concats may read)
    and a second result (an earlier value): ports x0, x1, y0, y1.
    """
    act_bits = draw(st.integers(2, 8))
    sizes = draw(st.lists(st.integers(1, max_size), min_size=2, max_size=max_layers + 1))
    low, high = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    lines = [f'%q = "hardcore.quantize"(%arg0) {{frac_bits = 0 : i64, min = {low} : i64, max = {high} : i64}} '
             f': (tensor<{sizes[0]}xf32>) -> tensor<{sizes[0]}xi{act_bits}>']
    value = _Value("%q", sizes[0], act_bits, low, high)
    earlier = [value]  # every value a skip connection or a concat may read
    features: set[str] = set()
    chain = True  # dense layers, each with relu and requant only: time-multiplexable
    input_sizes = [sizes[0]]
    if not reuse and (two_ports or draw(st.integers(0, 3)) == 0):
        input_sizes.append(draw(st.integers(1, max_size)))
        lines.append(f'%q1 = "hardcore.quantize"(%arg1) {{frac_bits = 0 : i64, min = {low} : i64, max = {high} : i64}} '
                     f': (tensor<{input_sizes[1]}xf32>) -> tensor<{input_sizes[1]}xi{act_bits}>')
        earlier.append(_Value("%q1", input_sizes[1], act_bits, low, high))
        features.add("two inputs and outputs")
        chain = False
    first_weight = None
    counter = iter(range(10**6))

    def chance(one_in: int) -> bool:
        return not reuse and (graph or draw(st.integers(0, one_in - 1)) == 0)

    def fresh(prefix: str) -> str:
        return f"%{prefix}{next(counter)}"

    def requant(operand: _Value, shift: str, out_low: int, out_high: int, size: int | None = None) -> _Value:
        result = _Value(fresh("s"), operand.size, signed_width(out_low, out_high), out_low, out_high)
        lines.append(f'{result.name} = "hardcore.requant"({operand.name}) {{shift = {shift}, min = {out_low} : i64, '
                     f'max = {out_high} : i64}} : ({operand.type}) -> {result.type}')
        return result

    def saturation(relu: bool) -> tuple[int, int]:
        out_low, out_high = (0, (1 << act_bits) - 1) if relu else (low, high)
        if draw(st.booleans()):  # a saturation inside the range (a clamp)
            out_low = draw(st.integers(out_low, out_high))
            out_high = draw(st.integers(out_low, out_high))
        return out_low, out_high

    for index, fan_out in enumerate(sizes[1:]):
        fan_in = value.size
        weight_bits = draw(st.integers(2, 8))
        matrix = draw(matrices(fan_out, fan_in, weight_bits))
        first_weight = matrix if first_weight is None else first_weight
        bias_bound = draw(st.sampled_from([0, 4, 1 << (act_bits + weight_bits)]))
        bias = draw(st.lists(st.integers(-bias_bound, bias_bound), min_size=fan_out, max_size=fan_out))
        relu = draw(st.booleans())
        # a shift near the accumulator's excess width keeps outputs busy; either sign
        excess = weight_bits + (fan_in - 1).bit_length() - 1
        shift, per_element = draw(_shifts(fan_out, -2, max(excess, 0) + 2, graph))
        features |= {"per-element shifts"} if per_element else set()
        out_low, out_high = saturation(relu)
        accumulator = f"tensor<{fan_out}xi64>"
        lines.append(f'%d{index} = "hardcore.dense"({value.name}) {{weight = dense<{_dense_text(matrix)}> : '
                     f'tensor<{fan_out}x{fan_in}xi8>, bias = dense<{_dense_text(bias)}> : tensor<{fan_out}xi64>}} '
                     f': ({value.type}) -> {accumulator}')
        layer = _Value(f"%d{index}", fan_out, 64, 0, 0)
        if relu:
            lines.append(f'%r{index} = "hardcore.relu"(%d{index}) : ({accumulator}) -> {accumulator}')
            layer.name = f"%r{index}"
        value = requant(layer, shift, out_low, out_high)
        if not reuse and draw(st.integers(0, 3)) == 0:  # an activation: a random table over the codes it can get
            chain = False
            entries = value.high - value.low + 1
            seed = draw(st.integers(0, 2**32 - 1))
            table = np.random.default_rng(seed).integers(low, high + 1, entries)
            result = _Value(f"%t{index}", value.size, act_bits, low, high)
            lines.append(f'{result.name} = "hardcore.lut"({value.name}) {{min = {value.low} : i64, table = dense<'
                         f'{_dense_text(table)}> : tensor<{entries}xi64>}} : ({value.type}) -> {result.type}')
            value = result
        same_size = [v for v in earlier if v.size == value.size]
        if same_size and chance(2):
            # a skip connection: the earlier value and this one aligned by exact left shifts (requants
            # that cannot saturate, on one side as hardcore-quantize emits them, sometimes on both),
            # added, an optional ReLU, requantized
            skip = draw(st.sampled_from(same_size))
            operands = []
            for operand in (value, skip):
                amount = draw(st.integers(0, 3))
                if amount:
                    operand = requant(operand, f"{-amount} : i64", operand.low << amount, operand.high << amount)
                operands.append(operand)
            a, b = operands
            total = _Value(fresh("a"), a.size, 0, a.low + b.low, a.high + b.high)
            total.width = signed_width(total.low, total.high)
            lines.append(f'{total.name} = "hardcore.add_tensors"({a.name}, {b.name}) {{hardcore.kind = '
                         f'"residual add {a.size}"}} : ({a.type}, {b.type}) -> {total.type}')
            relu = draw(st.booleans())
            if relu:
                rectified = _Value(fresh("ra"), total.size, total.width, max(total.low, 0), max(total.high, 0))
                lines.append(f'{rectified.name} = "hardcore.relu"({total.name}) : ({total.type}) -> {total.type}')
                total = rectified
            shift, per_element = draw(_shifts(total.size, -1, 4, graph))
            features |= {"residual add"} | ({"per-element shifts"} if per_element else set())
            chain = False
            value = requant(total, shift, *saturation(relu))
        earlier.append(value)
        if chance(4):
            # a concat of two earlier values, each requantized to one type unless it has it already
            first, second = draw(st.sampled_from(earlier)), draw(st.sampled_from(earlier))
            operands = []
            for operand in (first, second):
                if operand.width != act_bits or operand.low < low or operand.high > high or draw(st.booleans()):
                    shift, per_element = draw(_shifts(operand.size, -2, 2, graph))
                    features |= {"per-element shifts"} if per_element else set()
                    operand = requant(operand, shift, low, high)
                operands.append(operand)
            a, b = operands
            result = _Value(fresh("c"), a.size + b.size, act_bits, min(a.low, b.low), max(a.high, b.high))
            if a.size == b.size and draw(st.booleans()):  # interleaved: along dimension 1 of Nx1 tensors
                shaped = []
                for operand in (a, b):
                    column = fresh("v")
                    lines.append(f'{column} = "hardcore.reshape"({operand.name}) : ({operand.type}) -> '
                                 f'tensor<{operand.size}x1xi{act_bits}>')
                    shaped.append(column)
                joined = fresh("c")
                lines.append(f'{joined} = "hardcore.concat"({shaped[0]}, {shaped[1]}) {{dim = 1 : i64}} : '
                             f'(tensor<{a.size}x1xi{act_bits}>, tensor<{a.size}x1xi{act_bits}>) -> '
                             f'tensor<{a.size}x2xi{act_bits}>')
                lines.append(f'{result.name} = "hardcore.reshape"({joined}) : (tensor<{a.size}x2xi{act_bits}>) '
                             f'-> {result.type}')
            else:
                lines.append(f'{result.name} = "hardcore.concat"({a.name}, {b.name}) {{dim = 0 : i64}} : '
                             f'({a.type}, {b.type}) -> {result.type}')
            features.add("concat")
            chain = False
            value = result
            earlier.append(value)
        if chance(4):  # a gather: a random permutation, sometimes with repeats
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            indices = rng.permutation(value.size) if draw(st.booleans()) else rng.integers(0, value.size,
                                                                                           value.size)
            result = dataclasses.replace(value, name=fresh("g"))
            lines.append(f'{result.name} = "hardcore.gather"({value.name}) {{indices = dense<{_dense_text(indices)}> '
                         f': tensor<{value.size}xi64>}} : ({value.type}) -> {result.type}')
            features.add("gather")
            chain = False
            value = result
            earlier.append(value)
        if chance(4):
            # an elementwise minimum or maximum (torch.minimum/maximum) of this value and an earlier one
            # of its size: the two joined at one type, and a min or max pool of the pairs
            operands = []
            for operand in (value, draw(st.sampled_from([v for v in earlier if v.size == value.size]))):
                if operand.width != act_bits or operand.low < low or operand.high > high:
                    operand = requant(operand, "0 : i64", low, high)
                operands.append(operand)
            if draw(st.booleans()):
                operands.reverse()
            a, b = operands
            joined = _Value(fresh("c"), 2 * a.size, act_bits, min(a.low, b.low), max(a.high, b.high))
            lines.append(f'{joined.name} = "hardcore.concat"({a.name}, {b.name}) {{dim = 0 : i64}} : '
                         f'({a.type}, {b.type}) -> {joined.type}')
            smallest = draw(st.booleans())
            pick = min if smallest else max
            result = _Value(fresh("m"), a.size, act_bits, pick(a.low, b.low), pick(a.high, b.high))
            windows = [[i, a.size + i] for i in range(a.size)]
            lines.append(f'{result.name} = "hardcore.{"minpool" if smallest else "maxpool"}"({joined.name}) '
                         f'{{windows = dense<{_dense_text(windows)}> : tensor<{a.size}x2xi64>}} : '
                         f'({joined.type}) -> {result.type}')
            features.add("minimum/maximum")
            chain = False
            value = result
            earlier.append(value)
    n_out, width = value.size, value.width
    result_name = value.name
    if n_out > 1 and not reuse and len(input_sizes) == 1 and draw(st.integers(0, 4)) == 0:  # a classifier output
        chain = False
        index_width = (n_out - 1).bit_length() + 1
        lines.append(f'%a = "hardcore.argmax"({result_name}) : (tensor<{n_out}xi{width}>) -> tensor<1xi{index_width}>')
        result_name, width, n_out = "%a", index_width, 1
    lines.append(f'%f = "hardcore.dequantize"({result_name}) {{frac_bits = 0 : i64}} '
                 f': (tensor<{n_out}xi{width}>) -> tensor<{n_out}xf32>')
    results = [("%f", n_out)]
    if len(input_sizes) > 1:  # a second result: any earlier value (the second input itself, too)
        second = draw(st.sampled_from(earlier))
        lines.append(f'%f1 = "hardcore.dequantize"({second.name}) {{frac_bits = 0 : i64}} '
                     f': ({second.type}) -> tensor<{second.size}xf32>')
        results.append(("%f1", second.size))
    body = "\n  ".join(lines)
    arguments = ", ".join(f"%arg{i}: tensor<{size}xf32>" for i, size in enumerate(input_sizes))
    types = ", ".join(f"tensor<{size}xf32>" for _, size in results)
    text = (f"func.func @{name}({arguments}) -> ({types}) {{\n  {body}\n"
            f"  return {', '.join(result for result, _ in results)} : {types}\n}}\n")
    layer_reuse, realization = (), "mux"
    if chain and (reuse or draw(st.integers(0, 2)) == 0):
        layer_reuse = [draw(st.integers(1, 4)) for _ in sizes[1:]]
        if max(layer_reuse) == 1:
            layer_reuse[draw(st.integers(0, len(layer_reuse) - 1))] = draw(st.integers(2, 4))
        layer_reuse, realization = tuple(layer_reuse), draw(st.sampled_from(REALIZATIONS))
        features.add("reuse")
    return FuzzNetwork(text=text, name=name, n_in=sum(input_sizes), act_bits=act_bits, first_weight=first_weight,
                       algorithm=draw(st.sampled_from(["cse", "csd"])), features=frozenset(features),
                       reuse=layer_reuse, realization=realization,
                       input_sizes=tuple(input_sizes) if len(input_sizes) > 1 else ())


@st.composite
def sequence_networks(draw, name: str = "net") -> FuzzNetwork:
    """A random quantized tiny GPT (`hardcore.tiny_gpt.random_gpt`): embedding (with or without a
    position table), LayerNorm or RMSNorm (`qnorm`), causal attention (dense over rows, matmul,
    `qsoftmax`), an MLP with a ReLU or a GELU table, residual adds; logits of every position."""
    from hardcore.tiny_gpt import random_gpt

    heads = draw(st.integers(1, 2))
    width = heads * draw(st.integers(1, 3))
    positions = draw(st.integers(2, 5))
    vocabulary = draw(st.integers(2, 9))
    act_bits = draw(st.integers(3, 6))
    rms = draw(st.booleans())
    activation = draw(st.sampled_from(["relu", "gelu"]))
    text = random_gpt(draw(st.integers(0, 2**31 - 1)), positions=positions, width=width, heads=heads,
                      vocabulary=vocabulary, layers=draw(st.integers(1, 2)), act_bits=act_bits,
                      weight_bits=draw(st.integers(2, 6)), position_table=draw(st.booleans()), rms=rms,
                      activation=activation)
    features = {"attention", "rmsnorm" if rms else "layernorm"}
    return FuzzNetwork(text.replace("@gpt", f"@{name}"), name, positions, act_bits,
                       np.zeros((0, positions), dtype=np.int64), draw(st.sampled_from(["cse", "csd"])),
                       frozenset(features), vocabulary=vocabulary)


@st.composite
def batches(draw, min_networks: int = 2, max_networks: int = 6, max_size: int = 6,
            pipelined: bool | None = None, graph: bool = False,
            sequence: bool = False, reuse: bool = False,
            two_ports: bool = False) -> tuple[list[FuzzNetwork], int | None, bool]:
    """(networks named net0.., max_adder_depth or None, clock_enable): one Verilator build.

    With `sequence`, one network in three is a tiny GPT (`sequence_networks`); with `reuse`,
    every network is time-multiplexed (`networks(reuse=True)`); with `two_ports`, every
    network has two inputs and two outputs."""
    count = draw(st.integers(min_networks, max_networks))
    nets = [draw(sequence_networks(name=f"net{i}") if sequence and draw(st.integers(0, 2)) == 0 else
                 networks(max_size=max_size, name=f"net{i}", graph=graph, reuse=reuse, two_ports=two_ports))
            for i in range(count)]
    if pipelined is None:
        pipelined = draw(st.booleans())
    depth = draw(st.integers(1, 6)) if pipelined else None
    return nets, depth, pipelined and draw(st.booleans())


def compile_network(network: FuzzNetwork, max_adder_depth: int | None, clock_enable: bool) -> None:
    """Fold (and pipeline) under --verify-each, then hardcore-to-hw; fills in verilog and the port figures."""
    module = parse_module(network.text, new_context(), network.name)
    steps = f"hardcore-fold-weights{{algorithm={network.algorithm}}}"
    if max_adder_depth is not None:
        steps += f",hardcore-pipeline{{max-adder-depth={max_adder_depth} clock-enable={str(clock_enable).lower()}}}"
    run_pipeline(module, steps, filename=network.name, verify_each=True)
    function = find_function(module.operation)
    results = list(function.type.results)
    network.out_signed = "hardcore.output_unsigned" not in function.attributes
    names = ["y"] if len(results) == 1 else [f"y{i}" for i in range(len(results))]
    network.out_ports = tuple((name, int(np.prod(t.shape)), t.element_type.width - (not network.out_signed))
                              for name, t in zip(names, results))
    network.n_out = sum(count for _, count, _ in network.out_ports)
    network.out_width = max(width for _, _, width in network.out_ports)
    network.latency = int(function.attributes["hardcore.latency"].value) if max_adder_depth is not None else 0
    result = run_pipeline(module, "hardcore-to-hw,hw.module(cse)", filename=network.name)
    network.verilog = backend.export_verilog(result.module)


def batch_top(nets: list[FuzzNetwork], pipelined: bool, clock_enable: bool) -> tuple[str, int, int]:
    """A top module `fuzz_top` running every network side by side: (Verilog, in_width, out_width).

    Input element width 8: network k takes the low bits of its elements that its port
    holds (act-bits, or a sequence model's token-id bits).
    Output elements are sign-extended (zero-extended for an argmax) to the
    widest; a pipelined network whose latency is below the largest is
    delayed by registers to it, and out_valid is the slowest one's.
    """
    in_width = 8
    out_width = max(n.out_width for n in nets)
    n_in, n_out = sum(n.n_in for n in nets), sum(n.n_out for n in nets)
    latency = max(n.latency for n in nets)
    ports = (["input clk", "input rst", "input in_valid"] if pipelined else []) + [f"input [{n_in * in_width - 1}:0] x"]
    if pipelined and clock_enable:
        ports.append("input ce")
    if pipelined:
        ports.append("output out_valid")
    ports.append(f"output [{n_out * out_width - 1}:0] y")
    lines = [f"module fuzz_top({', '.join(ports)});"]
    in_offset = out_offset = 0
    slowest = max(range(len(nets)), key=lambda k: nets[k].latency)
    for k, net in enumerate(nets):
        a = net.in_bits
        inputs, outputs = [], []  # (port, wire) of network k: several inputs and outputs one after the other
        for port, count in net.in_ports:
            elements = ", ".join(f"x[{(in_offset + i) * in_width} +: {a}]" for i in reversed(range(count)))
            inputs.append(f".{port}({{{elements}}})")
            in_offset += count
        for port, count, w in net.out_ports:
            lines.append(f"  wire [{count * w - 1}:0] {port}_{k};")
            outputs.append(f".{port}({port}_{k})")
        connections = inputs + outputs
        if pipelined:
            lines.append(f"  wire valid{k};")
            connections = [".clk(clk)", ".rst(rst)", ".in_valid(in_valid)"] + inputs + \
                          ([".ce(ce)"] if clock_enable else []) + [f".out_valid(valid{k})"] + outputs
        lines.append(f"  {net.name} u{k} ({', '.join(connections)});")
        delay = latency - net.latency
        for port, count, w in net.out_ports:
            aligned = f"{port}_{k}"
            if pipelined and delay:
                lines.append(f"  reg [{count * w - 1}:0] delay_{port}_{k} [0:{delay - 1}];")
                lines.append("  always @(posedge clk) begin" + (" if (ce) begin" if clock_enable else ""))
                lines.append(f"    delay_{port}_{k}[0] <= {port}_{k};")
                for stage in range(1, delay):
                    lines.append(f"    delay_{port}_{k}[{stage}] <= delay_{port}_{k}[{stage - 1}];")
                lines.append("  end" + (" end" if clock_enable else ""))
                aligned = f"delay_{port}_{k}[{delay - 1}]"
            for i in range(count):
                element = f"{aligned}[{i * w} +: {w}]"
                fill = f"{aligned}[{i * w + w - 1}]" if net.out_signed else "1'b0"
                extension = f"{{{out_width - w}{{{fill}}}}}, " if out_width > w else ""
                lines.append(f"  assign y[{(out_offset + i) * out_width} +: {out_width}] = {{{extension}{element}}};")
            out_offset += count
    if pipelined:
        lines.append(f"  assign out_valid = valid{slowest};")
    lines.append("endmodule")
    return "\n".join(n.verilog for n in nets) + "\n" + "\n".join(lines) + "\n", in_width, out_width


@dataclasses.dataclass
class BatchResult:
    networks: int
    vectors: int  # network evaluations: vectors x networks
    mismatches: int  # vectors (of one network) whose outputs differ in any element
    first_mismatch: str | None
    build_seconds: float


def run_time_multiplexed(net: FuzzNetwork, workdir, codes: np.ndarray, seed: int = 0) -> tuple[int, str | None]:
    """A time-multiplexed network (`net.reuse`): its steps cycle by cycle and its Verilog (Icarus where
    it runs, else Verilator; in_valid low in random cycles) against the reference; (mismatches, the first)."""
    from hardcore.sim import tool_available
    from hardcore.time_multiplex import build_time_multiplexed, run_steps, simulate_stream

    module = parse_module(net.text, new_context(), net.name)
    multiplex = TimeMultiplexPass(reuse=1, realization=net.realization,
                                  config_data={"layers": {k: {"reuse": r} for k, r in enumerate(net.reuse)}})
    run_pipeline(module, multiplex.name, filename=net.name, overrides={multiplex.name: multiplex}, verify_each=True)
    stages = {"quantized": net.text, "steps": str(module)}
    circuit = build_time_multiplexed(module, net.name, stages, {})
    net.verilog, net.n_out, net.out_width, net.latency = circuit.verilog, circuit.n_out, circuit.out_width, \
        circuit.latency
    expected = net.reference(codes)
    simulator = "icarus" if tool_available("icarus") else "verilator"
    outputs = {"run_steps": run_steps(stages["steps"], codes),
               simulator: simulate_stream(circuit, codes, workdir, simulator=simulator, stall=0.3, seed=seed).outputs}
    mismatches, first = 0, None
    for where, actual in outputs.items():
        bad = np.flatnonzero((actual != expected).any(axis=1))
        mismatches += int(bad.size)
        if bad.size and first is None:
            i = int(bad[0])
            first = (f"{net.name} (reuse {list(net.reuse)}, {net.realization}): input {codes[i].tolist()}: "
                     f"interpreter {expected[i].tolist()}, {where} {actual[i].tolist()}\n{net.text}")
    return mismatches, first


def run_batch(nets: list[FuzzNetwork], max_adder_depth: int | None, clock_enable: bool, workdir,
              vectors: int = 64, seed: int = 0) -> BatchResult:
    """Compile every network, build them in one Verilator model, compare with the reference interpreter.

    A time-multiplexed network (`reuse`) is checked on its own (`run_time_multiplexed`)."""
    from hardcore.sim import simulate

    mismatches, first = 0, None
    multiplexed = [(k, net) for k, net in enumerate(nets) if net.reuse]
    for k, net in multiplexed:
        bad, message = run_time_multiplexed(net, Path(workdir) / net.name, net.vectors(vectors, seed + k), seed + k)
        mismatches, first = mismatches + bad, first or message
    evaluations = sum(len(net.vectors(vectors, seed + k)) for k, net in multiplexed)
    plain = [(k, net) for k, net in enumerate(nets) if not net.reuse]
    if not plain:
        return BatchResult(len(nets), evaluations, mismatches, first, 0.0)
    indices, nets = [k for k, _ in plain], [net for _, net in plain]
    for net in nets:
        compile_network(net, max_adder_depth, clock_enable)
    pipelined = max_adder_depth is not None
    verilog, in_width, out_width = batch_top(nets, pipelined, clock_enable)
    per_net = [net.vectors(vectors, seed + k) for k, net in zip(indices, nets)]
    count = max(len(v) for v in per_net)
    per_net = [np.concatenate([v, np.repeat(v[-1:], count - len(v), axis=0)]) for v in per_net]  # same count
    inputs = np.concatenate(per_net, axis=1)
    result = simulate(verilog, "fuzz_top", inputs, n_in=inputs.shape[1], in_width=in_width,
                      n_out=sum(n.n_out for n in nets), out_width=out_width,
                      latency=max(n.latency for n in nets) if pipelined else None,
                      clock_enable=clock_enable, workdir=workdir)
    offset = 0
    for net, codes in zip(nets, per_net):
        actual = result.outputs[:, offset:offset + net.n_out]
        if not net.out_signed:  # an argmax index is unsigned: read its bits as such (Circuit.from_port)
            actual = actual & ((1 << net.out_width) - 1)
        offset += net.n_out
        expected = net.reference(codes)
        bad = np.flatnonzero((actual != expected).any(axis=1))
        mismatches += int(bad.size)
        if bad.size and first is None:
            i = int(bad[0])
            first = (f"{net.name} ({net.algorithm}, max-adder-depth {max_adder_depth}): input {codes[i].tolist()}: "
                     f"interpreter {expected[i].tolist()}, Verilator {actual[i].tolist()}\n{net.text}")
    return BatchResult(len(nets) + len(multiplexed), count * len(nets) + evaluations, mismatches, first,
                       result.build_seconds)


def run_seeds(fuzz_one, state: dict, first: int, deadline: float, progress) -> tuple[int, list]:
    """Run the hypothesis test `fuzz_one` one seed after another, from `first`, until `deadline`.

    `state["seed"]` is the seed being run (for `fuzz_one` to read); `state["failing"]`
    is cleared before each seed (`fuzz_one` sets it to shrink a failure past the
    deadline).  A failure (hypothesis has shrunk it) is printed and the next seed
    runs; `progress(failures so far)` is printed after each seed.  Returns the next
    seed and the failures, (seed, message) each.
    """
    from hypothesis import seed as hypothesis_seed

    failures = []
    state["seed"] = first
    while time.monotonic() < deadline:
        state["failing"] = False
        try:
            hypothesis_seed(state["seed"])(fuzz_one)()
        except Exception as error:  # hypothesis has shrunk it: report and go on with the next seed
            failures.append((state["seed"], f"{type(error).__name__}: {error}"))
            print(f"FAILURE at seed {state['seed']}:\n{error}", file=sys.stderr)
        state["seed"] += 1
        print(progress(len(failures)), file=sys.stderr, flush=True)
    return state["seed"], failures


def main(argv: list[str] | None = None) -> int:
    from hypothesis import HealthCheck, given, settings

    parser = argparse.ArgumentParser(prog="python -m hardcore.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to run (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the first hypothesis seed (one per batch)")
    parser.add_argument("--vectors", type=int, default=500, help="random vectors per network (default 500)")
    parser.add_argument("--max-size", type=int, default=8, help="largest layer (default 8)")
    parser.add_argument("--max-networks", type=int, default=8, help="networks per Verilator build (default 8)")
    parser.add_argument("--no-sequence", action="store_true",
                        help="no tiny GPTs (attention, norms, embeddings) among the networks")
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    totals = {"batches": 0, "networks": 0, "vectors": 0, "mismatches": 0, "pipelined": 0}
    with_feature = dict.fromkeys(FEATURES, 0)  # networks simulated that have it
    seen, state = set(), {"failing": False}

    # Hypothesis starts every run with its simplest example: runs of EXAMPLES_PER_SEED
    # examples, one seed each, and an example seen before is skipped.
    @settings(max_examples=EXAMPLES_PER_SEED, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(batch=batches(min_networks=2, max_networks=args.max_networks, max_size=args.max_size,
                         sequence=not args.no_sequence))
    def fuzz_one(batch):
        nets, depth, clock_enable = batch
        key = (tuple(n.text + n.algorithm for n in nets), depth, clock_enable)
        if key in seen and not state["failing"] or time.monotonic() > deadline and not state["failing"]:
            return
        seen.add(key)
        with tempfile.TemporaryDirectory(prefix="hardcore-fuzz-") as workdir:
            try:
                result = run_batch(nets, depth, clock_enable, Path(workdir), vectors=args.vectors,
                                   seed=state["seed"])
            except Exception:
                state["failing"] = True  # shrink it even past the deadline
                raise
        totals["batches"] += 1
        totals["networks"] += result.networks
        totals["vectors"] += result.vectors
        totals["mismatches"] += result.mismatches
        totals["pipelined"] += depth is not None
        for net in nets:
            for feature in net.features:
                with_feature[feature] += 1
        if result.mismatches:
            state["failing"] = True
        assert result.mismatches == 0, result.first_mismatch

    batch_seed, failures = run_seeds(
        fuzz_one, state, args.seed, deadline,
        lambda failed: f"{totals['batches']} builds ({totals['pipelined']} pipelined), {totals['networks']} networks, "
                       f"{totals['vectors']} vectors, {totals['mismatches']} mismatches, {failed} failures")
    print(f"{(time.monotonic() - started) / 60:.1f} minutes, seeds {args.seed}..{batch_seed - 1}: "
          f"{totals['batches']} Verilator builds "
          f"({totals['pipelined']} pipelined), {totals['networks']} networks, {totals['vectors']} vectors, "
          f"{totals['mismatches']} mismatches, {len(failures)} failing batches "
          f"(vectors: input vectors times networks)")
    print("networks with " + ", ".join(f"{feature}: {with_feature[feature]}" for feature in FEATURES))
    for failing_seed, message in failures:
        print(f"failing seed {failing_seed}: {message}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
