"""Formal equivalence, layer by layer: the folded DAG against the quantized layer ops (Z3).

`verify` proves, for every input in each layer's input range, that the scalar DAG after
`hardcore-fold-weights` (or `hardcore-pipeline`; a register is the identity) computes
what the layer ops after `hardcore-quantize` define (`W·x + b`, ReLU, requantization,
clamp, table, max pool, argmax), with the hardware semantics `hardcore-to-hw` gives each
DAG op: fixed-width two's complement, operands resized to the result, so an overflow
anywhere counts.  Per layer (a step of the quantized chain; a table is a step of its own):

- its input box: each input element's interval (interval arithmetic over the quantized
  ops; exact for dense outputs, sound after);
- its cut: the DAG values holding its input elements (the extract ops, then values proposed
  by matching sample runs; the previous step's proof checks each proposal it relies on);
- (A) every DAG value of the cone fits its type, so the hardware computes exact integers;
  exact for linear forms (the adder graph: extremes at the box's corners), Z3 for the rest;
- (B) those exact integers equal the specification's: Z3 in linear integer arithmetic, each
  output on its own over an abstraction that gives every linear form's primitive part one
  atom (sound: unsat for all atom values is unsat for all inputs), then, if needed, random
  points of the box and the unabstracted query.  Table steps are enumerated instead.

Graphs (residual add, concat, gather): see docs/formal.md, "Graphs and per-element shifts".
Sequence models: an embedding is enumerated, a dense over rows and a subtraction of tensors
are proven like a dense layer and a residual add; layers that multiply two activations
(mul_tensors, matmul, qsoftmax, qnorm) are reported NOT_COVERED with the reason, not proven
(docs/formal.md, "Sequence models").
By induction over the steps, the circuit's output equals the quantized function's for
every input in its range.  docs/formal.md has the argument in full, op by op.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.errors import CompileError, UsageError
from hardcore.interpreter import find_function, qnorm, qsoftmax
from hardcore.irutil import array_attr, body_ops, int_attr, requant_shifts
from hardcore.mlir import location_text, new_context, parse_module

__all__ = ["verify", "verify_directory", "FormalReport", "LayerResult", "DEFAULT_TIMEOUT",
           "DEFAULT_MAX_WEIGHTS", "PROVEN", "COUNTEREXAMPLE", "UNKNOWN", "TOO_LARGE", "NOT_COVERED", "evaluate_dag"]

DEFAULT_TIMEOUT = 60.0  # seconds Z3 may take per layer
DEFAULT_MAX_WEIGHTS = 16384  # layers with more nonzero weights (or DAG ops, x4) are skipped
PROVEN, COUNTEREXAMPLE, UNKNOWN, TOO_LARGE = "proven", "counterexample", "unknown", "too large"
NOT_COVERED = "not covered"  # a layer this check cannot prove (products of activations, qsoftmax, qnorm)
_LAYER_OPS = frozenset({"hardcore.dense", "hardcore.maxpool", "hardcore.argmax", "hardcore.add_tensors",
                        "hardcore.sub_tensors", "hardcore.embedding"})
# Sequence-model layers whose DAG multiplies two activations (`hardcore.mul`): outside the linear
# integer arithmetic the proof works in.  Each is a step, reported NOT_COVERED with its reason.
_UNCOVERED_OPS = {
    "hardcore.mul_tensors": "products of two activations (hardcore.mul)",
    "hardcore.matmul": "products of two activations (hardcore.mul)",
    "hardcore.qsoftmax": "qsoftmax: tables and products of two activations (hardcore.mul)",
    "hardcore.qnorm": "qnorm: squares, a table and products of two activations (hardcore.mul)",
}
_STEP_OPS = _LAYER_OPS | set(_UNCOVERED_OPS) | {"hardcore.lut"}  # each starts a step
_SAMPLES = 96  # random inputs that propose the cut between layers
_SAMPLE_SEED = 0
_MAX_ENUMERATED = 1 << 16  # input values an elementwise step (a table) may have to be proven by enumeration


@dataclasses.dataclass
class LayerResult:
    """The verdict for one layer.

    For a counterexample: `inputs` is the layer's input vector (the circuit's x for
    layer 0; the previous layer's output elements, each in its interval, after
    that), `circuit` the folded DAG's outputs and `expected` the quantized
    layer's, both as the integers the values mean; `mismatches` their indices.
    """

    index: int
    kind: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    inputs: list[int] | None = None
    circuit: list[int] | None = None
    expected: list[int] | None = None
    outputs: list[int] | None = None  # the output element each entry of circuit/expected is
    mismatches: list[int] | None = None
    checked: int = 0  # the layer's output elements that the proof covers (those used downstream)
    elements: int = 0  # the layer's output elements
    dag_ops: int = 0  # DAG ops between the layer's input elements and its outputs
    method: str = "Z3"  # how a proof was found: "Z3", or "enumerated N input values" (tables)

    def summary(self) -> str:
        head = f"layer {self.index} ({self.kind}): {self.status}"
        if self.status == PROVEN:
            plural = "" if self.elements == 1 else "s"
            used = (f"{self.checked} of {self.elements} outputs (the others are unused)"
                    if self.checked < self.elements else f"{self.elements} output{plural}")
            return f"{head}: {used}, {self.dag_ops} DAG ops, {self.method}, in {self.seconds:.2f} s"
        if self.status == COUNTEREXAMPLE:
            return (f"{head} after {self.seconds:.2f} s: {self.reason}\n  input    {self.inputs}\n"
                    f"  outputs  {self.outputs}\n  circuit  {self.circuit}\n  expected {self.expected}\n"
                    f"  differ at outputs {self.mismatches}")
        return f"{head}: {self.reason}" + (f" ({self.seconds:.2f} s)" if self.seconds else "")


@dataclasses.dataclass
class FormalReport:
    layers: list[LayerResult]

    @property
    def proven(self) -> bool:
        """True when every checked layer is proven (skipped, too large layers aside), and none is
        outside what the check covers."""
        return all(layer.status in (PROVEN, TOO_LARGE) for layer in self.layers) and \
            any(layer.status == PROVEN for layer in self.layers)

    @property
    def exit_code(self) -> int:
        """0 all checked layers proven, 1 a counterexample, 3 otherwise (unknown, not covered, or nothing
        checked)."""
        if any(layer.status == COUNTEREXAMPLE for layer in self.layers):
            return 1
        return 0 if self.proven else 3

    def summary(self) -> str:
        counts = {status: sum(layer.status == status for layer in self.layers)
                  for status in (PROVEN, COUNTEREXAMPLE, UNKNOWN, TOO_LARGE, NOT_COVERED)}
        total = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        return "\n".join([layer.summary() for layer in self.layers] + [f"{len(self.layers)} layers: {total}"])


# -- exact integer values: linear forms over the layer's inputs, or Z3 terms ------------------------
def _z3():
    try:
        import z3
    except ImportError:  # pragma: no cover - z3-solver is a pinned dependency
        raise UsageError("formal verification needs z3-solver (pip install -e .)") from None
    return z3


def _type_range(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _wrap_int(value: int, width: int) -> int:
    half = 1 << (width - 1)
    return ((value + half) % (1 << width)) - half


class _Value:
    """An exact integer inside one layer's proof, with its interval over the layer's input box.

    Either a linear form over the layer's inputs (`linear`: {input index: coefficient}, plus
    `constant`; its interval is exact, the inputs being independent) or a node that `build`s
    its Z3 term from its operands' terms (its interval from interval arithmetic, sound).
    """

    __slots__ = ("linear", "constant", "interval", "build")

    def __init__(self, interval, linear=None, constant=0, build=None):
        self.interval, self.linear, self.constant, self.build = interval, linear, constant, build


def _linear(coefficients: dict, constant: int, bounds: list) -> _Value:
    coefficients = {j: c for j, c in coefficients.items() if c}
    low = high = constant
    for j, c in coefficients.items():
        lo, hi = bounds[j]
        low += min(c * lo, c * hi)
        high += max(c * lo, c * hi)
    return _Value((low, high), coefficients, constant)


def _combine(operands, factors, bounds) -> _Value | None:
    """sum(factor * operand) as a linear form, when every operand is one."""
    if any(v.linear is None for v in operands):
        return None
    coefficients: dict = {}
    constant = 0
    for value, factor in zip(operands, factors):
        for j, c in value.linear.items():
            coefficients[j] = coefficients.get(j, 0) + factor * c
        constant += factor * value.constant
    return _linear(coefficients, constant, bounds)


def _affine(z3, operands, factors, bounds, interval) -> _Value:
    """sum(factor * operand): a linear form if the operands are, else a node with the given interval."""
    linear = _combine(operands, factors, bounds)
    if linear is not None:
        return linear
    return _Value(interval, build=lambda terms: z3.Sum([f * t for f, t in zip(factors, terms(*operands))]))


def _scaled(interval, factor):
    lo, hi = interval[0] * factor, interval[1] * factor
    return (min(lo, hi), max(lo, hi))


def _sum_interval(intervals):
    return (sum(lo for lo, _ in intervals), sum(hi for _, hi in intervals))


class _Terms:
    """Z3 terms of `_Value`s, memoized.  `abstract`: each linear form (but single inputs) is
    g·a + c for a fresh atom `a` ranging over its primitive part's exact interval, the same
    atom for forms with the same primitive part.  An over-approximation: what holds for all
    atoms holds for all inputs."""

    def __init__(self, z3, inputs: list, bounds: list, abstract: bool):
        self.z3, self.inputs, self.bounds, self.abstract = z3, inputs, bounds, abstract
        self.memo: dict = {}
        self.atoms: dict = {}
        self.atom_bounds: list = []

    def __call__(self, *values):
        return [self.term(value) for value in values]

    def term(self, value: _Value):
        key = id(value)
        if key not in self.memo:
            self.memo[key] = (value, self._linear_term(value) if value.linear is not None else value.build(self))
        return self.memo[key][1]

    def _linear_term(self, value: _Value):
        z3 = self.z3
        if not value.linear:
            return z3.IntVal(value.constant)
        items = sorted(value.linear.items())
        if self.abstract:
            divisor = 0
            for _, c in items:
                divisor = math.gcd(divisor, c)
            divisor *= 1 if items[0][1] > 0 else -1
            primitive = tuple((j, c // divisor) for j, c in items)
            if primitive == ((primitive[0][0], 1),):
                atom = self.inputs[primitive[0][0]]
            else:
                if primitive not in self.atoms:
                    atom = z3.Int(f"atom{len(self.atoms)}")
                    lo, hi = _linear(dict(primitive), 0, self.bounds).interval
                    self.atoms[primitive] = atom
                    self.atom_bounds.append(z3.And(atom >= lo, atom <= hi))
                atom = self.atoms[primitive]
            return divisor * atom + value.constant if divisor != 1 else atom + value.constant
        return z3.Sum([c * self.inputs[j] for j, c in items] + [z3.IntVal(value.constant)])


# -- the DAG ops: exact integers, equal to the hardware's while every value fits its type -------------
@dataclasses.dataclass
class _LayerContext:
    z3: object
    bounds: list  # each input element's interval
    filename: str  # the DAG's, for locations

    @staticmethod
    def width(value) -> int:
        return ir.IntegerType(value.type).width


def _dag_constant(op, operands, ctx):
    return _linear({}, int_attr(op, "value"), ctx.bounds)


def _dag_wire(op, operands, ctx):  # sext; reg (a register is the identity: combinational equivalence)
    return operands[0]


def _dag_shl(op, operands, ctx):
    factor = 1 << int_attr(op, "amount")
    return _affine(ctx.z3, operands, [factor], ctx.bounds, _scaled(operands[0].interval, factor))


def _dag_shr(op, operands, ctx):
    amount = int_attr(op, "amount")
    (lo, hi), (value,) = operands[0].interval, operands
    return _Value((lo >> amount, hi >> amount), build=lambda terms: terms.term(value) / (1 << amount))  # floor


def _dag_add(op, operands, ctx):
    return _affine(ctx.z3, operands, [1, 1], ctx.bounds, _sum_interval([v.interval for v in operands]))


def _dag_sub(op, operands, ctx):
    return _affine(ctx.z3, operands, [1, -1], ctx.bounds,
                   _sum_interval([operands[0].interval, _scaled(operands[1].interval, -1)]))


def _dag_neg(op, operands, ctx):
    return _affine(ctx.z3, operands, [-1], ctx.bounds, _scaled(operands[0].interval, -1))


def _clamp_bounds(op, width: int) -> tuple[int | None, int | None]:
    """The bounds hardcore-to-hw compares with, as its constants of the operand's width hold them;
    None for a side the operand's type cannot exceed (no comparator)."""
    low, high = int_attr(op, "min"), int_attr(op, "max")
    type_low, type_high = _type_range(width)
    return (_wrap_int(low, width) if low > type_low else None,
            _wrap_int(high, width) if high < type_high else None)


def _dag_clamp(op, operands, ctx):
    z3 = ctx.z3
    low, high = _clamp_bounds(op, ctx.width(op.operands[0]))
    (lo, hi), (value,) = operands[0].interval, operands
    if low is not None:
        lo, hi = max(lo, low), max(hi, low)
    if high is not None:
        lo, hi = min(lo, high), min(hi, high)

    def build(terms):
        term = terms.term(value)
        if low is not None:
            term = z3.If(term < low, z3.IntVal(low), term)
        if high is not None:
            term = z3.If(term > high, z3.IntVal(high), term)
        return term
    return _Value((lo, hi), build=build)


def _table_leaves(op) -> tuple[int, list[int]]:
    """The mux tree's select bits and leaves (`to_hw._table`): leaf p is the entry of v ≡ p (mod 2^k)."""
    entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
    low = int_attr(op, "min")
    bits = max((len(entries) - 1).bit_length(), 1)
    size = 1 << bits
    leaves = [0] * size
    for offset in range(size):
        leaves[(low + offset) % size] = entries[min(offset, len(entries) - 1)]
    return bits, leaves


def _dag_table(op, operands, ctx):
    z3 = ctx.z3
    bits, leaves = _table_leaves(op)
    if bits > ctx.width(op.operands[0]):
        raise _Unsupported(op, f"a table of {len(leaves)} leaves on an i{ctx.width(op.operands[0])} input")
    (lo, hi), (value,) = operands[0].interval, operands
    reached = leaves if hi - lo + 1 >= len(leaves) else [leaves[v % len(leaves)] for v in range(lo, hi + 1)]

    def build(terms):
        index = terms.term(value) % len(leaves)  # the low k bits (Int mod is non-negative)
        term = z3.IntVal(leaves[-1])
        for position in range(len(leaves) - 2, -1, -1):
            term = z3.If(index == position, z3.IntVal(leaves[position]), term)
        return term
    return _Value((min(reached), max(reached)), build=build)


def _dag_max(op, operands, ctx):
    z3 = ctx.z3
    (lo_a, hi_a), (lo_b, hi_b) = operands[0].interval, operands[1].interval

    def build(terms):
        a, b = terms(*operands)
        return z3.If(b > a, b, a)
    return _Value((max(lo_a, lo_b), max(hi_a, hi_b)), build=build)


def _dag_pick(op, operands, ctx):
    z3 = ctx.z3
    (lo_c, hi_c), (lo_d, hi_d) = operands[2].interval, operands[3].interval

    def build(terms):
        a, b, c, d = terms(*operands)
        return z3.If(b > a, d, c)
    return _Value((min(lo_c, lo_d), max(hi_c, hi_d)), build=build)


# op name -> lower(op, operand _Values, context) -> _Value: the op's exact integer.  It equals what
# hardcore-to-hw builds whenever every value fits its type (docs/formal.md says why, op by op).
_DAG_SEMANTICS: dict[str, Callable] = {
    "hardcore.constant": _dag_constant,
    "hardcore.sext": _dag_wire,
    "hardcore.reg": _dag_wire,
    "hardcore.shl": _dag_shl,
    "hardcore.shr": _dag_shr,
    "hardcore.add": _dag_add,
    "hardcore.sub": _dag_sub,
    "hardcore.neg": _dag_neg,
    "hardcore.clamp": _dag_clamp,
    "hardcore.table": _dag_table,
    "hardcore.max": _dag_max,
    "hardcore.pick": _dag_pick,
}


def _wrap(values: np.ndarray, width: int) -> np.ndarray:
    """Integers read as `width`-bit two's complement."""
    half = 1 << (width - 1)
    return ((values + half) & ((1 << width) - 1)) - half


def _eval_table(op, value, width):
    bits, leaves = _table_leaves(op)
    return np.array(leaves, dtype=np.int64)[value & ((1 << bits) - 1)]


def _eval_clamp(op, value, value_width):
    low, high = _clamp_bounds(op, value_width)
    if low is not None:
        value = np.where(value < low, low, value)
    if high is not None:
        value = np.where(value > high, high, value)
    return value


# The same semantics on numpy int64 batches: the exact result wrapped to the result width
# is what the wires and the modulo-2^w adders give (shr: the high bits of the wrapped operand).
_DAG_NUMPY: dict[str, Callable] = {
    "hardcore.constant": lambda op, a, w: np.int64(int_attr(op, "value")),
    "hardcore.sext": lambda op, a, w: a[0][0],
    "hardcore.reg": lambda op, a, w: a[0][0],
    "hardcore.shl": lambda op, a, w: a[0][0] << int_attr(op, "amount") if int_attr(op, "amount") < 63 else 0 * a[0][0],
    "hardcore.shr": lambda op, a, w: a[0][0] >> min(int_attr(op, "amount"), 63),
    "hardcore.add": lambda op, a, w: _wrap(a[0][0], w) + _wrap(a[1][0], w),
    "hardcore.sub": lambda op, a, w: _wrap(a[0][0], w) - _wrap(a[1][0], w),
    "hardcore.neg": lambda op, a, w: -_wrap(a[0][0], w),
    "hardcore.mul": lambda op, a, w: _wrap(a[0][0], w) * _wrap(a[1][0], w),
    "hardcore.clamp": lambda op, a, w: _eval_clamp(op, a[0][0], a[0][1]),
    "hardcore.table": lambda op, a, w: _eval_table(op, a[0][0], w),
    "hardcore.max": lambda op, a, w: np.where(a[1][0] > a[0][0], a[1][0], a[0][0]),
    "hardcore.pick": lambda op, a, w: np.where(a[1][0] > a[0][0], _wrap(a[3][0], w), _wrap(a[2][0], w)),
}


def evaluate_dag(function, inputs: np.ndarray, trace: dict | None = None) -> np.ndarray:
    """Run a DAG function on integer inputs (batch, n) with hardware semantics: values wrap, no range check.

    Returns the port values (batch, m) as the port is read (unsigned for an argmax index);
    `trace`, when given, receives every scalar op's values (batch,) keyed by its result.
    """
    inputs = np.asarray(inputs, dtype=np.int64).reshape(len(inputs), -1)
    block = function.regions[0].blocks[0]
    in_width = ir.IntegerType(ir.RankedTensorType(block.arguments[0].type).element_type).width
    values: dict = {}
    for op in body_ops(function):
        name = op.operation.name
        if name == "func.return":
            break
        if name == "hardcore.pack":
            width = _port_width(function)
            outputs = [_wrap(values[v][0], width) for v in op.operands]
            result = np.stack(outputs, axis=1)
            return result if _port_signed(function) else result & ((1 << width) - 1)
        width = ir.IntegerType(op.results[0].type).width
        if name == "hardcore.extract":
            result = _wrap(inputs[:, int_attr(op, "index")], in_width)
        else:
            result = _DAG_NUMPY[name](op, [values[v] for v in op.operands], width)
        result = _wrap(np.broadcast_to(result, (len(inputs),)).astype(np.int64), width)
        values[op.results[0]] = (result, width)
        if trace is not None:
            trace[op.results[0]] = result
    raise CompileError(f"@{function.name.value}: no hardcore.pack result")


def _port_signed(function) -> bool:
    return "hardcore.output_unsigned" not in function.attributes


def _port_width(function) -> int:
    element = ir.RankedTensorType(function.type.results[0]).element_type
    return ir.IntegerType(element).width - (not _port_signed(function))


class _Unsupported(Exception):
    """The layer (or the IR) is outside what this check handles; `text` says where and why."""

    def __init__(self, op, message: str):
        super().__init__(message)
        self.op = op

    def text(self, filename: str) -> str:
        return f"{location_text(self.op.location, filename)}: {self}"


@dataclasses.dataclass
class _Segment:
    """One step of the quantized graph: a layer op (dense, max pool, argmax, residual add, or a
    table on its own) with the ops that compute its operands from earlier steps' results (free
    ops: relu, requant, reshape, gather, concat; evaluated anew in every step that reads them)
    and the unary ops after it whose every value has one user.  Its input vector is its external
    tensors (the quantized input, or earlier steps' results) concatenated, each in full."""

    step: int  # its place in program order
    layer: int  # the layer it belongs to, numbered as hardcore-fold-weights numbers `layerK`
    ops: list  # in program order
    externals: list  # (ir.Value, source step or -1 for the quantized input, offset in the input vector)
    result: object  # the last op's result
    kind: str
    weights: int = 0  # nonzero weights
    inputs: list = dataclasses.field(default_factory=list)  # input index -> (source step or -1, element)


_FREE_OPS = frozenset({"hardcore.relu", "hardcore.requant", "hardcore.reshape", "hardcore.gather", "hardcore.concat"})
_UNARY_OPS = _FREE_OPS - {"hardcore.concat"}


def _segments(function, filename: str) -> tuple[list[_Segment], object]:
    """The graph cut at each layer op (a table is a step of its own: proving the table apart from
    the arithmetic that feeds it is much faster).  Returns the steps and the final value."""
    ops = body_ops(function)
    if not ops or ops[0].operation.name != "hardcore.quantize":
        raise CompileError(f"{filename}: @{function.name.value} does not start with hardcore.quantize "
                           "(expected the IR after hardcore-quantize)")
    quantized_input = ops[0].results[0]
    body, final = [], None
    for op in ops[1:]:
        name = op.operation.name
        if name in ("hardcore.dequantize", "func.return"):
            final = op.operands[0]
            break
        if name not in _STEP_OPS | _FREE_OPS:
            raise CompileError(f"{location_text(op.location, filename)}: '{name}' is not an op of the quantized IR "
                               "(expected the output of hardcore-quantize)")
        body.append(op)
    if final is None or final == quantized_input:
        raise CompileError(f"{filename}: @{function.name.value} has no layer to verify")
    users: dict = {}
    for op in ops[1:]:
        for value in op.operands:
            users.setdefault(value, []).append(op)
    owner = {op.results[0]: op for op in body}
    position = {op.results[0]: index for index, op in enumerate(body)}
    source = {quantized_input: -1}  # materialized tensors: the input, each step's result
    in_post_chain: set = set()
    segments: list[_Segment] = []
    layers_before = 0

    def free_ancestors(roots) -> tuple[list, list]:
        found, externals, stack, seen = [], [], list(roots), set()
        while stack:
            value = stack.pop()
            if value in seen:
                continue
            seen.add(value)
            if value in source:
                externals.append(value)
                continue
            op = owner[value]
            if op.operation.name not in _FREE_OPS or op.results[0] in in_post_chain:
                raise CompileError(f"{location_text(op.location, filename)}: '{op.operation.name}' is read before "
                                   "its step's result: the formal check cannot cut the graph there")
            found.append(op)
            stack.extend(op.operands)
        return sorted(found, key=lambda o: position[o.results[0]]), sorted(externals, key=lambda v: source[v])

    def add_segment(layer_op, root_values, chain) -> None:
        nonlocal layers_before
        free, externals = free_ancestors(root_values)
        segment_ops = free + ([layer_op] if layer_op is not None else []) + chain
        if layer_op is not None and layer_op.operation.name != "hardcore.lut":
            layer, layers_before = layers_before, layers_before + 1
        else:
            layer = max(layers_before - 1, 0)
        segment = _make_segment(len(segments), layer, segment_ops, layer_op)
        offset = 0
        for value in externals:
            size = _flat_size(value)
            segment.externals.append((value, source[value], offset))
            segment.inputs += [(source[value], e) for e in range(size)]
            offset += size
        source[segment.result] = segment.step
        segments.append(segment)

    for op in body:
        if op.operation.name not in _STEP_OPS:
            continue
        chain, value = [], op.results[0]
        while len(users.get(value, [])) == 1 and value != final:
            user = users[value][0]
            if user.operation.name not in _UNARY_OPS:
                break
            chain.append(user)
            in_post_chain.add(user.results[0])
            value = user.results[0]
        add_segment(op, list(op.operands), chain)
    if final not in source:
        add_segment(None, [final], [])
    final_step = source[final]
    return segments, segments[final_step]


def _make_segment(step: int, layer_index: int, ops: list, layer) -> _Segment:
    layer = layer if layer is not None else ops[-1]
    name = layer.operation.name.split(".")[1]
    if "hardcore.kind" in layer.attributes:
        kind = ir.StringAttr(layer.attributes["hardcore.kind"]).value
    elif name == "dense":
        rows, columns = ir.RankedTensorType(layer.attributes["weight"].type).shape
        kind = f"dense {columns}->{rows}"
    else:
        kind = name
    weights = int(np.count_nonzero(array_attr(layer, "weight"))) if name == "dense" else 0
    return _Segment(step, layer_index, ops, [], ops[-1].results[0], kind, weights)


def _flat_size(value) -> int:
    return int(np.prod(ir.RankedTensorType(value.type).shape))


def _shifts(op) -> list[int]:
    """A requant's shift per element (one for all, or per-channel weight scales)."""
    count = _flat_size(op.results[0])
    try:
        return requant_shifts(op, count)
    except ValueError as exc:
        raise _Unsupported(op, str(exc)) from None


def _index_map(op) -> np.ndarray:
    """A data-movement op's result element i is element map[i] of its operands, flattened and
    concatenated in operand order."""
    name = op.operation.name
    if name == "hardcore.reshape":
        return np.arange(_flat_size(op.results[0]))
    if name == "hardcore.gather":
        indices = array_attr(op, "indices").reshape(-1).astype(np.int64)
        if len(indices) != _flat_size(op.results[0]) or indices.size and (
                indices.min() < 0 or indices.max() >= _flat_size(op.operands[0])):
            raise _Unsupported(op, "gather indices outside the operand")
        return indices
    shapes = [list(ir.RankedTensorType(v.type).shape) for v in op.operands]  # hardcore.concat
    dim, offset, parts = int_attr(op, "dim"), 0, []
    for shape in shapes:
        size = int(np.prod(shape))
        parts.append(np.arange(offset, offset + size).reshape(shape))
        offset += size
    try:
        return np.concatenate(parts, axis=dim).reshape(-1)
    except (ValueError, np.exceptions.AxisError) as exc:
        raise _Unsupported(op, f"concat of shapes {shapes} on dim {dim}: {exc}") from None


_MOVES = frozenset({"hardcore.reshape", "hardcore.gather", "hardcore.concat"})


def _check_same_size(op):
    sizes = [_flat_size(v) for v in op.operands]
    if len(set(sizes)) != 1 or sizes[0] != _flat_size(op.results[0]):
        raise _Unsupported(op, f"operands of {sizes} elements for {_flat_size(op.results[0])} (no broadcasting)")


def _run_segment(segment: _Segment, inputs, apply, take):
    """The step's result: `take(inputs, offset, size)` gives each external tensor, `apply(op, operand
    results)` each op's."""
    env = {value: take(inputs, offset, _flat_size(value)) for value, _, offset in segment.externals}
    for op in segment.ops:
        env[op.results[0]] = apply(op, [env[v] for v in op.operands])
    return env[segment.result]


def _apply_intervals(op, args):
    name = op.operation.name
    if name in _MOVES:
        flat = [x for arg in args for x in arg]
        return [flat[i] for i in _index_map(op)]
    if name == "hardcore.add_tensors":
        _check_same_size(op)
        return [(a[0] + b[0], a[1] + b[1]) for a, b in zip(*args)]
    if name == "hardcore.sub_tensors":
        _check_same_size(op)
        return [(a[0] - b[1], a[1] - b[0]) for a, b in zip(*args)]
    if name == "hardcore.mul_tensors":
        _check_same_size(op)
        return [_product_interval(a, b) for a, b in zip(*args)]
    if name == "hardcore.matmul":
        return [_sum_interval([_product_interval(args[0][i], args[1][j]) for i, j in pairs])
                for pairs in _matmul_pairs(op)]
    return _INTERVALS[name](op, args[0])


def _product_interval(a, b):
    corners = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
    return (min(corners), max(corners))


def _matmul_pairs(op) -> list[list[tuple[int, int]]]:
    """For each output element of a matmul, the (lhs, rhs) element pairs whose products it sums."""
    lhs, rhs = (list(ir.RankedTensorType(v.type).shape) for v in op.operands)
    if len(lhs) < 2 or len(lhs) != len(rhs) or lhs[:-2] != rhs[:-2] or lhs[-1] != rhs[-2]:
        raise _Unsupported(op, f"a matmul of {lhs} by {rhs}")
    rows, depth, columns = lhs[-2], lhs[-1], rhs[-1]
    return [[((b * rows + i) * depth + k, (b * depth + k) * columns + j) for k in range(depth)]
            for b in range(int(np.prod(lhs[:-2]))) for i in range(rows) for j in range(columns)]


def _spec_intervals(segment: _Segment, inputs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The interval of each output element of a step, from its input elements' intervals."""
    return _run_segment(segment, inputs, _apply_intervals, lambda x, offset, size: x[offset:offset + size])


def _dense_rows(op, inputs: list) -> list:
    """The operand's rows of K elements (a dense over R rows maps each; R = 1 for a vector)."""
    columns = array_attr(op, "weight").shape[1]
    if columns == 0 or len(inputs) % columns:
        raise _Unsupported(op, f"an operand of {len(inputs)} elements is not rows of {columns}")
    return [inputs[start:start + columns] for start in range(0, len(inputs), columns)]


def _dense_intervals(op, inputs):
    """Exact: the extremes of each row's W·x + b over the box are at its corners."""
    weight = array_attr(op, "weight").astype(np.int64)
    bias = [int(b) for b in array_attr(op, "bias").reshape(-1)]
    result = []
    for inputs_row in _dense_rows(op, inputs):
        for row, b in zip(weight, bias):
            low = high = b
            for w, (lo, hi) in zip(row.tolist(), inputs_row):
                if w:
                    low += min(w * lo, w * hi)
                    high += max(w * lo, w * hi)
            result.append((low, high))
    return result


def _requant_value(shift: int, value: int) -> int:
    """The requantization of one value before its saturation."""
    return (value + (1 << (shift - 1))) >> shift if shift > 0 else value << -shift


def _clip(value: int, op) -> int:
    return min(max(value, int_attr(op, "min")), int_attr(op, "max"))


def _requant_intervals(op, inputs):  # monotone
    return [(_clip(_requant_value(s, lo), op), _clip(_requant_value(s, hi), op))
            for s, (lo, hi) in zip(_shifts(op), inputs)]


def _lut_intervals(op, inputs):
    entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
    low = int_attr(op, "min")
    result = []
    for lo, hi in inputs:
        if lo < low or hi >= low + len(entries):
            raise _Unsupported(op, f"input range [{lo}, {hi}] is not inside the "
                               f"table's inputs [{low}, {low + len(entries) - 1}]")
        reached = entries[lo - low:hi - low + 1]
        result.append((min(reached), max(reached)))
    return result


def _embedding_columns(op, token: int, count: int) -> np.ndarray:
    """Token `token`'s rows of the table (V x D): its position's, or the one position's."""
    table = array_attr(op, "table").astype(np.int64)
    if table.shape[0] not in (1, count):
        raise _Unsupported(op, f"a table of {table.shape[0]} positions for {count} tokens")
    return table[token if table.shape[0] > 1 else 0]


def _embedding_intervals(op, inputs):
    result = []
    for token, (lo, hi) in enumerate(inputs):
        columns = _embedding_columns(op, token, len(inputs))
        reached = columns[np.clip(np.arange(lo, hi + 1), 0, len(columns) - 1)]
        result += [(int(reached[:, d].min()), int(reached[:, d].max())) for d in range(columns.shape[1])]
    return result


def _maxpool_intervals(op, inputs):  # monotone in each tap
    windows = array_attr(op, "windows").astype(np.int64)
    result = []
    for row in windows:
        taps = [inputs[j] for j in row if j >= 0]
        result.append((max(lo for lo, _ in taps), max(hi for _, hi in taps)))
    return result


# op name -> (op, input element intervals) -> output element intervals (sound; exact for dense).
_INTERVALS: dict[str, Callable] = {
    "hardcore.dense": _dense_intervals,
    "hardcore.relu": lambda op, inputs: [(max(lo, 0), max(hi, 0)) for lo, hi in inputs],
    "hardcore.requant": _requant_intervals,
    "hardcore.lut": _lut_intervals,
    "hardcore.reshape": lambda op, inputs: list(inputs),
    "hardcore.maxpool": _maxpool_intervals,
    "hardcore.argmax": lambda op, inputs: [(0, len(inputs) - 1)],
    "hardcore.embedding": _embedding_intervals,
    # requantized outputs in [min, max]; a masked softmax entry is 0
    "hardcore.qsoftmax": lambda op, inputs: [(min(int_attr(op, "min"), 0), max(int_attr(op, "max"), 0))] * len(inputs),
    "hardcore.qnorm": lambda op, inputs: [(int_attr(op, "min"), int_attr(op, "max"))] * len(inputs),
}


def _spec_dense(op, operands, intervals, ctx):
    weight = array_attr(op, "weight").astype(np.int64)
    bias = [int(b) for b in array_attr(op, "bias").reshape(-1)]
    result = []
    for operands_row in _dense_rows(op, operands):
        for row, b in zip(weight, bias):
            taps = [(int(w), x) for w, x in zip(row, operands_row) if w]
            result.append(_affine(ctx.z3, [x for _, x in taps] + [_linear({}, b, ctx.bounds)],
                                  [w for w, _ in taps] + [1], ctx.bounds, intervals[len(result)]))
    return result


def _spec_embedding(op, operands, intervals, ctx):
    z3 = ctx.z3

    def build(terms, x, column):  # ids past the table read its last row, below it its first
        lo, hi = x.interval
        term = z3.IntVal(int(column[min(max(hi, 0), len(column) - 1)]))
        for value in range(hi - 1, lo - 1, -1):
            term = z3.If(terms.term(x) == value, z3.IntVal(int(column[min(max(value, 0), len(column) - 1)])), term)
        return term
    result = []
    for token, x in enumerate(operands):
        columns = _embedding_columns(op, token, len(operands))
        result += [_Value(intervals[len(result)], build=lambda terms, x=x, c=columns[:, d]: build(terms, x, c))
                   for d in range(columns.shape[1])]
    return result


def _spec_relu(op, operands, intervals, ctx):
    z3 = ctx.z3
    return [_Value(interval, build=lambda terms, x=x: z3.If(terms.term(x) > 0, terms.term(x), z3.IntVal(0)))
            for x, interval in zip(operands, intervals)]


def _spec_requant(op, operands, intervals, ctx):
    z3 = ctx.z3
    low, high = int_attr(op, "min"), int_attr(op, "max")

    def build(terms, x, shift):
        x = terms.term(x)
        x = (x + (1 << (shift - 1))) / (1 << shift) if shift > 0 else x * (1 << -shift)  # Int div: floor
        return z3.If(x < low, z3.IntVal(low), z3.If(x > high, z3.IntVal(high), x))
    return [_Value(interval, build=lambda terms, x=x, s=s: build(terms, x, s))
            for x, interval, s in zip(operands, intervals, _shifts(op))]


def _spec_lut(op, operands, intervals, ctx):
    z3 = ctx.z3
    entries = [int(v) for v in array_attr(op, "table").reshape(-1)]
    low = int_attr(op, "min")

    def build(terms, x):  # _lut_intervals checked that x's interval lies in the table
        lo, hi = x.interval
        term = z3.IntVal(entries[hi - low])
        for value in range(hi - 1, lo - 1, -1):
            term = z3.If(terms.term(x) == value, z3.IntVal(entries[value - low]), term)
        return term
    return [_Value(interval, build=lambda terms, x=x: build(terms, x)) for x, interval in zip(operands, intervals)]


def _spec_maxpool(op, operands, intervals, ctx):
    z3 = ctx.z3

    def build(terms, taps):
        best = terms.term(taps[0])
        for tap in terms(*taps[1:]):
            best = z3.If(tap > best, tap, best)
        return best
    windows = array_attr(op, "windows").astype(np.int64)
    return [_Value(interval, build=lambda terms, taps=[operands[j] for j in row if j >= 0]: build(terms, taps))
            for row, interval in zip(windows, intervals)]


def _spec_argmax(op, operands, intervals, ctx):
    z3 = ctx.z3

    def build(terms):
        values = terms(*operands)
        best, index = values[0], z3.IntVal(0)
        for position, value in enumerate(values[1:], start=1):
            greater = value > best  # strictly: ties keep the lower index, like torch.argmax
            index = z3.If(greater, z3.IntVal(position), index)
            best = z3.If(greater, value, best)
        return index
    return [_Value(intervals[0], build=build)]


# op name -> encode(op, operand _Values, their result intervals, context) -> result _Values (exact).
_SPEC_SEMANTICS: dict[str, Callable] = {
    "hardcore.dense": _spec_dense,
    "hardcore.relu": _spec_relu,
    "hardcore.requant": _spec_requant,
    "hardcore.lut": _spec_lut,
    "hardcore.reshape": lambda op, operands, intervals, ctx: list(operands),
    "hardcore.maxpool": _spec_maxpool,
    "hardcore.argmax": _spec_argmax,
    "hardcore.embedding": _spec_embedding,
}


def _batch_dense(op, x):
    weight = array_attr(op, "weight").astype(np.int64)
    bias = array_attr(op, "bias").reshape(-1).astype(np.int64)
    rows = x.reshape(len(x), -1, weight.shape[1])  # a dense over rows: each row of K on its own
    bound = int(np.abs(weight).sum(axis=1).max(initial=0)) * int(np.abs(x).max(initial=0))
    if bound + int(np.abs(bias).max(initial=0)) < 1 << 62:
        return (rows.astype(np.int64) @ weight.T + bias).reshape(len(x), -1)
    return (rows.astype(object) @ weight.T.astype(object) + bias.astype(object)).reshape(len(x), -1)  # exact


def _batch_requant(op, x):
    shift = np.array(_shifts(op), dtype=np.int64)
    rounding = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    x = np.where(shift > 0, (x + rounding) >> np.maximum(shift, 0), x << np.maximum(-shift, 0))
    return np.clip(x, int_attr(op, "min"), int_attr(op, "max"))


def _batch_embedding(op, x):
    ids = np.clip(x, 0, array_attr(op, "table").shape[1] - 1)
    return np.concatenate([_embedding_columns(op, token, x.shape[1])[ids[:, token]] for token in range(x.shape[1])],
                          axis=1)


def _batch_rows(op, x, function):
    """A function of the operand's shape (batch first) on flat points (points, elements)."""
    shape = list(ir.RankedTensorType(op.operands[0].type).shape)
    return function(x.reshape([len(x)] + shape)).reshape(len(x), -1)


def _batch_maxpool(op, x):
    return np.stack([x[:, [j for j in row if j >= 0]].max(axis=1)
                     for row in array_attr(op, "windows").astype(np.int64)], axis=1)


# The same ops on integer batches (points, elements), for sample runs and counterexamples.
_SPEC_BATCH: dict[str, Callable] = {
    "hardcore.dense": _batch_dense,
    "hardcore.relu": lambda op, x: np.maximum(x, 0),
    "hardcore.requant": _batch_requant,
    "hardcore.lut": lambda op, x: array_attr(op, "table").reshape(-1).astype(np.int64)[x - int_attr(op, "min")],
    "hardcore.reshape": lambda op, x: x,
    "hardcore.maxpool": _batch_maxpool,
    "hardcore.argmax": lambda op, x: np.argmax(x, axis=1)[:, None],  # the first largest, like torch.argmax
    "hardcore.embedding": _batch_embedding,
    "hardcore.qsoftmax": lambda op, x: _batch_rows(op, x, lambda rows: qsoftmax(
        rows, bool(int_attr(op, "causal")), array_attr(op, "exp_table"), int_attr(op, "exp_min"),
        int_attr(op, "sum_shift"), array_attr(op, "recip_table"), int_attr(op, "shift"), int_attr(op, "min"),
        int_attr(op, "max"))),
    "hardcore.qnorm": lambda op, x: _batch_rows(op, x, lambda rows: qnorm(
        rows, bool(int_attr(op, "rms")), int_attr(op, "sq_shift"), array_attr(op, "rsqrt_table"),
        int_attr(op, "shift"), int_attr(op, "min"), int_attr(op, "max"))),
}


def _spec_values(segment: _Segment, operands: list, intervals: list, ctx) -> list:
    """The step's outputs as exact `_Value`s over its inputs."""
    def apply(op, args):
        name = op.operation.name
        result_intervals = _apply_intervals(op, [i for _, i in args])
        if name in _MOVES:
            flat = [x for values, _ in args for x in values]
            return [flat[i] for i in _index_map(op)], result_intervals
        if name in ("hardcore.add_tensors", "hardcore.sub_tensors"):
            sign = 1 if name == "hardcore.add_tensors" else -1
            return [_affine(ctx.z3, [a, b], [1, sign], ctx.bounds, interval)
                    for a, b, interval in zip(args[0][0], args[1][0], result_intervals)], result_intervals
        return _SPEC_SEMANTICS[name](op, args[0][0], result_intervals, ctx), result_intervals
    return _run_segment(segment, (operands, intervals), apply,
                        lambda x, offset, size: (x[0][offset:offset + size], x[1][offset:offset + size]))[0]


def _apply_batch(op, args):
    name = op.operation.name
    if name in _MOVES:
        return np.concatenate(args, axis=1)[:, _index_map(op)]
    if name == "hardcore.add_tensors":
        _check_same_size(op)
        return args[0] + args[1]
    if name == "hardcore.sub_tensors":
        _check_same_size(op)
        return args[0] - args[1]
    if name == "hardcore.mul_tensors":
        _check_same_size(op)
        return args[0] * args[1]
    if name == "hardcore.matmul":
        pairs = np.array(_matmul_pairs(op), dtype=np.int64)  # (outputs, K, 2)
        return (args[0][:, pairs[:, :, 0]] * args[1][:, pairs[:, :, 1]]).sum(axis=2)
    return _SPEC_BATCH[name](op, args[0])


def _spec_batch(segment: _Segment, points: np.ndarray) -> np.ndarray:
    """The quantized step on integer input points (points, elements) -> (points, outputs)."""
    return _run_segment(segment, np.asarray(points, dtype=np.int64), _apply_batch,
                        lambda x, offset, size: x[:, offset:offset + size])


# -- cutting the DAG at the layer boundaries -----------------------------------------------
def _layer_of(op) -> int:
    location = op.location
    if isinstance(location, ir.NameLoc) and location.name_str.startswith("layer"):
        try:
            return int(location.name_str[5:])
        except ValueError:
            return -1
    return -1


@dataclasses.dataclass
class _Cone:
    """What one layer's proof needs from the DAG."""

    required: list  # (DAG value, output element index): prove sext(value) == spec element
    cut: dict  # DAG value -> input element index (a free variable of the layer)
    ops: list  # DAG ops of the cone, in program order
    problem: str = ""
    from_input: set = dataclasses.field(default_factory=set)  # cut values that are extracts of x


def _box_samples(intervals: list, seed: int) -> np.ndarray:
    """Corners and random points of a box of integer intervals (samples, elements)."""
    rng = np.random.default_rng(seed)
    low = np.array([lo for lo, _ in intervals], dtype=np.int64)
    high = np.array([hi for _, hi in intervals], dtype=np.int64)
    alternating = np.where(np.arange(len(intervals)) % 2 == 1, low, high)
    corners = np.stack([low, high, alternating, low + high - alternating])
    return np.concatenate([corners, rng.integers(low, high + 1, size=(_SAMPLES, len(intervals)))])


def _extreme_corners(segment: _Segment, intervals: list) -> np.ndarray:
    """For a step whose layer op is a dense: the corners of the box where each row's W·x is
    largest and smallest, so that every output element reaches both ends of its interval (sparse
    outputs, zero on most of the box, then differ from each other on some point).  The free ops
    before the dense (moves, relu, requant) are monotone: each operand element follows one input."""
    dense = next((op for op in segment.ops if op.operation.name == "hardcore.dense"), None)
    if dense is None:
        return np.zeros((0, len(intervals)), dtype=np.int64)
    leaves: dict = {value: np.arange(offset, offset + _flat_size(value)) for value, _, offset in segment.externals}
    for op in segment.ops:
        if op is dense:
            break
        if op.operation.name in _MOVES and all(v in leaves for v in op.operands):
            leaves[op.results[0]] = np.concatenate([leaves[v] for v in op.operands])[_index_map(op)]
        elif op.operation.name in ("hardcore.relu", "hardcore.requant") and op.operands[0] in leaves:
            leaves[op.results[0]] = leaves[op.operands[0]]
    if dense.operands[0] not in leaves:
        return np.zeros((0, len(intervals)), dtype=np.int64)
    low = np.array([lo for lo, _ in intervals], dtype=np.int64)
    high = np.array([hi for _, hi in intervals], dtype=np.int64)
    weight = array_attr(dense, "weight").astype(np.int64)
    outputs, columns = weight.shape
    operand = leaves[dense.operands[0]]
    mapped = np.zeros((len(operand) // columns * outputs, len(intervals)), dtype=np.int64)
    for index, leaf in enumerate(operand):  # a dense over rows: row index // columns
        row, column = divmod(index, columns)
        mapped[row * outputs:(row + 1) * outputs, leaf] += weight[:, column]
    return np.concatenate([np.where(mapped > 0, high, low), np.where(mapped > 0, low, high)])


def _step_cut(segment: _Segment, proposals: dict, guessed: set) -> dict:
    """The step's cut: each DAG value proposed for an element of one of its external tensors ->
    that element's index in the step's input vector.  A value that matched an element exactly
    keeps it over a guess for another (`guessed`: (step, value) for an element of that step no value
    matched, such as an unused one that the DAG no longer computes, paired with the value closest to
    it; the same value may match another step's element exactly), and a guess that the cut's exact
    values determine is left out."""
    cut: dict = {}
    for exact in (True, False):
        for _, source, offset in segment.externals:
            for value, element in proposals.get(source, {}).items():
                guess = (source, value) in guessed
                if guess != exact and not (guess and _derived(value, cut, {})):
                    cut.setdefault(value, offset + element)
    return cut


def _derived(value, cut: dict, memo: dict) -> bool:
    """Whether the DAG computes `value` from the cut's values and constants alone (a register copy of
    one, say): then it is no free input of the step, whatever a guess paired it with."""
    if value in cut:
        return True
    if value not in memo:
        owner = value.owner
        memo[value] = False  # a cycle cannot occur in a DAG; this only stops the search early
        memo[value] = owner.name != "hardcore.extract" and \
            all(_derived(operand, cut, memo) for operand in owner.operands)
    return memo[value]


def _propose_cuts(ops: list, segments: list[_Segment], intervals: list, final: _Segment) -> list[dict]:
    """For each step, its cut: the DAG values that seem to hold its input elements {value: index}.

    The quantized input's elements are the extract ops.  Step k's result elements: the DAG values
    that, with step k's cut set to points of its input box, match an output element of the
    quantized step k on every point.  Only a proposal: the proof of step k checks each value a
    later step relies on.
    """
    proposals: dict = {-1: {op.results[0]: int_attr(op, "index") for op in ops
                            if op.operation.name == "hardcore.extract"}}
    located = any(_layer_of(op) >= 0 for op in ops)
    cuts = []
    guessed: set = set()
    for k, segment in enumerate(segments):
        cuts.append(_step_cut(segment, proposals, guessed))
        if segment is final:
            continue
        points = np.concatenate([_box_samples(intervals[k], _SAMPLE_SEED + k),
                                 _extreme_corners(segment, intervals[k])])
        expected = _spec_batch(segment, points)
        columns: dict = {}
        for j in range(expected.shape[1]):
            columns.setdefault(tuple(int(v) for v in expected[:, j]), j)
        values: dict = {}
        for value, j in cuts[k].items():
            width = ir.IntegerType(value.type).width
            values[value] = _wrap(points[:, j], width)
        proposal: dict = {}
        downstream: set = set()  # values computed from a proposed value: they read this cut, not make it
        for op in ops:
            if op.results[0] in values or op.operation.name == "hardcore.extract":
                continue
            if op.operation.name != "hardcore.constant" and not all(v in values for v in op.operands):
                continue  # reads what step k's cut does not determine
            width = ir.IntegerType(op.results[0].type).width
            result = _DAG_NUMPY[op.operation.name](op, [(values[v], ir.IntegerType(v.type).width)
                                                        for v in op.operands], width)
            values[op.results[0]] = _wrap(np.broadcast_to(result, (len(points),)).astype(np.int64), width)
            if any(v in proposal or v in downstream for v in op.operands):
                downstream.add(op.results[0])
                continue
            if op.operation.name == "hardcore.constant" or (located and _layer_of(op) > segment.layer):
                continue
            j = columns.get(tuple(int(v) for v in values[op.results[0]]))
            if j is not None:
                proposal[op.results[0]] = j
        if not proposal:  # a step the DAG has no ops for (its outputs are some of its inputs)
            for value in cuts[k]:
                j = columns.get(tuple(int(v) for v in values[value]))
                if j is not None:
                    proposal[value] = j
        # An output element no value matches (a broken DAG): the value of this step that agrees with
        # it on most points, so that the step's proof finds where they differ.
        missing = sorted(set(range(expected.shape[1])) - set(proposal.values()))
        candidates = [value for value in values if value not in cuts[k] and value not in proposal
                      and value not in downstream and value.owner.name != "hardcore.constant"]
        for j in missing:
            scores = [(int(np.sum(values[value] == expected[:, j])), index) for index, value in enumerate(candidates)]
            best = max(scores, default=(0, -1))
            if best[0] > 0:
                proposal[candidates[best[1]]] = j
                guessed.add((k, candidates[best[1]]))
        proposals[k] = proposal
    return cuts


def _cones(dag, segments: list[_Segment], cuts: list[dict], final: _Segment, filename: str) -> list[_Cone]:
    """Per step, the DAG values to prove, the cut values they read, and the ops between.  A step's
    values to prove are those the later steps' cuts (or the output port) read."""
    ops = [op for op in body_ops(dag) if op.operation.name not in ("func.return", "hardcore.pack")]
    pack = next(op for op in body_ops(dag) if op.operation.name == "hardcore.pack")
    owner = {op.results[0]: op for op in ops}
    position = {op.results[0]: index for index, op in enumerate(ops)}
    cones: list[_Cone] = [None] * len(cuts)  # type: ignore[list-item]
    required: dict = {final.step: list(zip(pack.operands, range(len(pack.operands))))}
    for k in range(len(cuts) - 1, -1, -1):
        cut: dict = {}
        seen: set = set()
        problem = ""
        stack = [value for value, _ in required.get(k, [])]
        while stack:
            value = stack.pop()
            if value in seen:
                continue
            seen.add(value)
            if value in cuts[k]:
                cut[value] = cuts[k][value]
                continue
            op = owner.get(value)
            if op is None:
                problem = "the folded layer reads a value that is not an op result"
            elif op.operation.name == "hardcore.extract":
                problem = (f"the folded layer reads {location_text(op.location, filename)}: '{op.name}', which is none "
                           "of its input elements")
            else:
                stack.extend(op.operands)
        cone_ops = sorted((owner[v] for v in seen if v not in cut and v in owner), key=lambda o: position[o.results[0]])
        from_input = {value for value, j in cut.items() if segments[k].inputs[j][0] == -1}
        cones[k] = _Cone(sorted(set(required.get(k, [])), key=lambda item: (position.get(item[0], -1), item[1])),
                         cut, cone_ops, problem, from_input)
        for value, j in sorted(cut.items(), key=lambda item: position.get(item[0], -1)):
            source, element = segments[k].inputs[j]
            if source >= 0 and (value, element) not in required.setdefault(source, []):
                required[source].append((value, element))
    return cones


# -- one layer's proof ------------------------------------------------------------------------
def _required_range(value, last: bool, dag) -> tuple[int, int]:
    """What a value the next layer (or the port) reads must fit."""
    if not last:
        return _type_range(_LayerContext.width(value))
    port = _port_width(dag)
    return _type_range(port) if _port_signed(dag) else (0, (1 << port) - 1)


def _run_cone(cone: _Cone, inputs: np.ndarray, first: bool, in_width: int, last: bool, dag) -> np.ndarray:
    """The hardware's values of the layer's outputs (batch, outputs) for input vectors (batch, n)."""
    inputs = np.asarray(inputs, dtype=np.int64)
    values: dict = {}
    for value, j in cone.cut.items():
        width = _LayerContext.width(value)
        element = _wrap(inputs[:, j], in_width) if value in cone.from_input else inputs[:, j]
        values[value] = (_wrap(element, width), width)
    for op in cone.ops:
        width = _LayerContext.width(op.results[0])
        result = _DAG_NUMPY[op.operation.name](op, [values[v] for v in op.operands], width)
        values[op.results[0]] = (_wrap(np.broadcast_to(result, (len(inputs),)).astype(np.int64), width), width)
    outputs = np.stack([values[value][0] for value, _ in cone.required], axis=1) if cone.required \
        else np.zeros((len(inputs), 0), dtype=np.int64)
    if last:
        port = _port_width(dag)
        outputs = _wrap(outputs, port) if _port_signed(dag) else outputs & ((1 << port) - 1)
    return outputs


def _random_search(cone, segment, intervals, first, in_width, last, dag, count: int = 256) -> list[int] | None:
    """An input on which the hardware and the spec differ, among corners and random points of the box."""
    rng = np.random.default_rng(_SAMPLE_SEED)
    low = np.array([lo for lo, _ in intervals], dtype=np.int64)
    high = np.array([hi for _, hi in intervals], dtype=np.int64)
    points = np.concatenate([low[None], high[None], rng.integers(low, high + 1, size=(count, len(intervals)))])
    differ = _differing_points(cone, segment, points, first, in_width, last, dag)
    return [int(v) for v in points[differ[0]]] if len(differ) else None


def _differing_points(cone, segment, points, first, in_width, last, dag) -> np.ndarray:
    """Indices of the points where the hardware's and the quantized step's outputs differ."""
    circuit = _run_cone(cone, points, first, in_width, last, dag)
    expected = _spec_batch(segment, points)[:, [i for _, i in cone.required]]
    return np.flatnonzero(np.any(circuit != expected, axis=1))


def _spec_dependency(segment: _Segment):
    """For a step whose every output reads one input element in the spec: output -> that input.
    Elementwise ops (a table, a clamp): output i reads input i; an embedding of the step's input
    followed by elementwise ops: output t·D + d reads token t.  None for any other step."""
    layers = [op for op in segment.ops if op.operation.name in _LAYER_OPS]
    if not layers:
        return lambda output: output
    embedding = segment.ops[0]
    if layers != [embedding] or embedding.operation.name != "hardcore.embedding" or \
            embedding.operands[0] not in [value for value, _, _ in segment.externals] or \
            any(op.operation.name not in _UNARY_OPS - {"hardcore.gather"} for op in segment.ops[1:]):
        return None
    dimension = array_attr(embedding, "table").shape[2]
    offset = next(offset for value, _, offset in segment.externals if value == embedding.operands[0])
    return lambda output: offset + output // dimension


def _elementwise_points(segment: _Segment, cone: _Cone, intervals: list) -> np.ndarray | None:
    """For a step whose every output reads one input element, the same in the spec (`_spec_dependency`)
    and in the DAG: each input element through every value of its interval, the others at their
    lowest (points, elements).  None when the step is not like that or too large to enumerate."""
    dependency = _spec_dependency(segment)
    if dependency is None:
        return None
    owner = {op.results[0]: op for op in cone.ops}
    columns = []
    for value, i in cone.required:
        read, stack, seen = set(), [value], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in cone.cut:
                read.add(cone.cut[current])
            elif current in owner:
                stack.extend(owner[current].operands)
        if not read <= {dependency(i)}:
            return None
        columns.append(dependency(i))
    if sum(intervals[i][1] - intervals[i][0] + 1 for i in set(columns)) > _MAX_ENUMERATED:
        return None
    base = [lo for lo, _ in intervals]
    points = []
    for i in sorted(set(columns)):
        for v in range(intervals[i][0], intervals[i][1] + 1):
            point = list(base)
            point[i] = v
            points.append(point)
    return np.array(points, dtype=np.int64).reshape(len(points), len(intervals))


def _prove_layer(z3, segment: _Segment, cone: _Cone, intervals: list, last: bool, dag, in_width: int,
                 timeout: float, filename: str) -> LayerResult:
    """(A) every value of the layer's DAG fits its type, (B) its exact outputs equal the spec's."""
    started = time.monotonic()
    result = LayerResult(segment.layer, segment.kind, UNKNOWN, checked=len({i for _, i in cone.required}),
                         elements=_flat_size(segment.result), dag_ops=len(cone.ops))
    if cone.problem:
        result.reason = cone.problem
        return result
    first = segment.step == 0
    context = _LayerContext(z3, intervals, filename)
    inputs = [_linear({j: 1}, 0, intervals) for j in range(len(intervals))]
    values: dict = {}
    checks = []  # (DAG value, the range it must stay in)
    for value, j in cone.cut.items():
        values[value] = inputs[j]
        if value in cone.from_input:  # an extract op: x's element at the op's width
            checks.append((value, _type_range(context.width(value))))
    try:
        for op in cone.ops:
            values[op.results[0]] = _DAG_SEMANTICS[op.operation.name](
                op, [values[v] for v in op.operands], context)
            checks.append((op.results[0], _type_range(context.width(op.results[0]))))
        spec = _spec_values(segment, inputs, intervals, context)
    except _Unsupported as exc:
        result.reason = exc.text(filename)
        return result
    checks += [(value, _required_range(value, last, dag)) for value, _ in cone.required]
    variables = [z3.Int(f"x{j}") for j in range(len(intervals))]
    bounds = [z3.And(x >= lo, x <= hi) for x, (lo, hi) in zip(variables, intervals)]

    def solve(goal, abstract: bool):
        terms = _Terms(z3, variables, intervals, abstract)
        formula = goal(terms)
        solver = z3.SolverFor("QF_LIA")
        solver.set("timeout", max(1, int((started + timeout - time.monotonic()) * 1000)))
        solver.add(*bounds, *terms.atom_bounds, formula)
        verdict = solver.check()
        return verdict, (solver.model() if verdict == z3.sat else None), terms, solver

    def finish(witness: list[int], why: str) -> LayerResult:
        result.seconds = time.monotonic() - started
        circuit = [int(v) for v in _run_cone(cone, np.array([witness]), first, in_width, last, dag)[0]]
        expected = [int(v) for v in _spec_batch(segment, np.array([witness]))[0, [i for _, i in cone.required]]]
        mismatches = sorted({i for (_, i), c, e in zip(cone.required, circuit, expected) if c != e})
        if not mismatches:
            result.reason = f"{why}, though the outputs agree on that input {witness}"
            return result
        result.status = COUNTEREXAMPLE
        result.inputs, result.circuit, result.expected = witness, circuit, expected
        result.outputs, result.mismatches = [i for _, i in cone.required], mismatches
        result.reason = why
        return result

    def gave_up(what: str, solver) -> LayerResult:
        result.seconds = time.monotonic() - started
        result.reason = f"Z3 gave up on {what} ({solver.reason_unknown()}) within the {timeout:g} s limit"
        return result

    points = _elementwise_points(segment, cone, intervals)
    if points is not None:
        # Every output reads one input element: run the hardware semantics on each of its values.
        differ = _differing_points(cone, segment, points, first, in_width, last, dag)
        if len(differ):
            return finish([int(v) for v in points[differ[0]]], "the folded step computes another function")
        result.seconds = time.monotonic() - started
        result.status = PROVEN
        result.method = f"enumerated {len(points)} input values"
        return result
    # (A) ranges: exact for a linear form (its extreme is a corner of the box), else Z3.
    open_checks = []
    for value, (low, high) in checks:
        known = values[value]
        lo, hi = known.interval
        if low <= lo and hi <= high:
            continue
        owner = value.owner
        where = f"{location_text(owner.location, filename)}: '{owner.name}' of type {value.type}"
        if known.linear is not None:
            too_high = hi > high
            witness = [bound[1] if (known.linear.get(j, 0) > 0) == too_high else bound[0]
                       for j, bound in enumerate(intervals)]
            return finish(witness, f"{where} reaches {hi if too_high else lo}, outside [{low}, {high}]")
        open_checks.append((values[value], low, high, where))
    # Each value on its own over the abstraction first (small, fast queries); what that cannot
    # settle goes to one query over the inputs themselves.
    def unsettled(items, goal):
        return [item for item in items if solve(lambda terms: goal(terms, item), abstract=True)[0] != z3.unsat]

    def overflow(terms, check):
        value, low, high, _ = check
        return z3.Or(terms.term(value) < low, terms.term(value) > high)
    open_checks = unsettled(open_checks, overflow)
    if open_checks:
        verdict, model, terms, solver = solve(lambda terms: z3.Or([overflow(terms, c) for c in open_checks]),
                                              abstract=False)
        if verdict == z3.sat:
            witness = [model.eval(x, model_completion=True).as_long() for x in variables]
            for v, low, high, where in open_checks:
                reached = model.eval(terms.term(v), model_completion=True).as_long()
                if not low <= reached <= high:
                    return finish(witness, f"{where} reaches {reached}, outside [{low}, {high}]")
        if verdict != z3.unsat:
            return gave_up("the value ranges", solver)
    # (B) every value in range: the hardware computes the exact integers.  Compare them with the spec.
    def differ(terms, output):
        value, i = output
        return terms.term(values[value]) != terms.term(spec[i])
    outputs = unsettled(cone.required, differ)
    if outputs:
        witness = _random_search(cone, segment, intervals, first, in_width, last, dag)
        if witness is not None:
            return finish(witness, "the folded layer computes another function")
        verdict, model, _, solver = solve(lambda terms: z3.Or([differ(terms, o) for o in outputs]), abstract=False)
        if verdict == z3.sat:
            witness = [model.eval(x, model_completion=True).as_long() for x in variables]
            found = finish(witness, "the folded layer computes another function")
            if found.status != COUNTEREXAMPLE:
                found.reason = f"Z3's model does not reproduce in the hardware semantics ({found.reason})"
            return found
        if verdict != z3.unsat:
            return gave_up("the outputs", solver)
    result.seconds = time.monotonic() - started
    result.status = PROVEN
    return result


def _uncovered(segment: _Segment, cone: _Cone) -> str:
    """Why the check cannot prove this step ("" when it can): its layer multiplies activations."""
    for op in segment.ops:
        if op.operation.name in _UNCOVERED_OPS:
            return (f"{_UNCOVERED_OPS[op.operation.name]} are outside the linear integer arithmetic this "
                    "proof works in (--verify-each and simulation check this layer)")
    if any(op.operation.name == "hardcore.mul" for op in cone.ops):
        return "the folded layer multiplies two values (hardcore.mul), outside the linear integer arithmetic"
    return ""


def verify(quantized: str, dag: str, *, timeout: float = DEFAULT_TIMEOUT, max_weights: int = DEFAULT_MAX_WEIGHTS,
           quantized_name: str = "quantized", dag_name: str = "dag",
           progress: Callable[[str], None] | None = None) -> FormalReport:
    """Prove the folded DAG (MLIR text after hardcore-fold-weights, or after hardcore-pipeline)
    equal to the quantized layer ops (the text after hardcore-quantize), layer by layer.

    `timeout` is Z3's limit per layer in seconds; layers with more than `max_weights`
    nonzero weights (or a DAG cone of more than 4 x max_weights ops) are skipped as too large.
    """
    z3 = _z3()
    if timeout <= 0:
        raise UsageError(f"timeout must be positive, got {timeout:g}")
    say = progress or (lambda message: None)
    spec_module = parse_module(quantized, new_context(), quantized_name)
    dag_module = parse_module(dag, new_context(), dag_name)
    spec_function = find_function(spec_module.operation)
    dag_function = find_function(dag_module.operation)
    segments, final = _segments(spec_function, quantized_name)
    quantize = body_ops(spec_function)[0]
    low, high = int_attr(quantize, "min"), int_attr(quantize, "max")
    size = _flat_size(quantize.results[0])
    dag_ops = body_ops(dag_function)
    if not any(op.operation.name == "hardcore.pack" for op in dag_ops):
        raise CompileError(f"{dag_name}: @{dag_function.name.value} has no hardcore.pack (expected the IR after "
                           "hardcore-fold-weights)")
    in_type = ir.RankedTensorType(dag_function.regions[0].blocks[0].arguments[0].type)
    in_width = ir.IntegerType(in_type.element_type).width
    if int(np.prod(in_type.shape)) != size or signed_width(low, high) > in_width:
        raise CompileError(f"{dag_name}: the input {in_type} does not take the quantized input of "
                           f"{quantized_name} ({size} elements in [{low}, {high}])")
    unknown_ops = sorted({op.operation.name for op in dag_ops} - set(_DAG_SEMANTICS)
                         - {"hardcore.extract", "hardcore.pack", "func.return", "hardcore.mul"})
    if unknown_ops:
        raise CompileError(f"{dag_name}: ops the formal check does not know: {', '.join(unknown_ops)}")
    outputs = _flat_size(final.result)
    pack = next(op for op in dag_ops if op.operation.name == "hardcore.pack")
    if len(pack.operands) != outputs:
        raise CompileError(f"{dag_name}: {len(pack.operands)} outputs, but {quantized_name} has {outputs}")

    # Each layer's input box (interval arithmetic over the quantized ops).
    tensors = {-1: [(low, high)] * size}  # each materialized tensor's element intervals
    intervals = []  # each step's input box
    for segment in segments:
        intervals.append([tensors[source][element] for source, element in segment.inputs])
        try:
            tensors[segment.step] = _spec_intervals(segment, intervals[-1])
        except _Unsupported as exc:  # e.g. a table that its input's range leaves: the quantized IR is not total
            raise CompileError(exc.text(quantized_name)) from None
    ops = [op for op in dag_ops if op.operation.name not in ("func.return", "hardcore.pack")]
    cones = _cones(dag_function, segments, _propose_cuts(ops, segments, intervals, final), final, dag_name)
    results = []
    for segment, cone, box in zip(segments, cones, intervals):
        last = segment is final
        uncovered = _uncovered(segment, cone)
        if uncovered:
            results.append(LayerResult(segment.layer, segment.kind, NOT_COVERED, reason=uncovered,
                                       elements=_flat_size(segment.result), dag_ops=len(cone.ops)))
        elif segment.weights > max_weights or len(cone.ops) > 4 * max_weights:
            results.append(LayerResult(segment.layer, segment.kind, TOO_LARGE,
                                       reason=f"{segment.weights} nonzero weights, {len(cone.ops)} DAG ops "
                                              f"(limit {max_weights} weights, {4 * max_weights} ops)"))
        else:
            say(f"layer {segment.layer} ({segment.kind}): {len(cone.ops)} DAG ops")
            results.append(_prove_layer(z3, segment, cone, box, last, dag_function, in_width, timeout, dag_name))
        say(results[-1].summary())
    return FormalReport(results)


def verify_directory(directory, *, timeout: float = DEFAULT_TIMEOUT, max_weights: int = DEFAULT_MAX_WEIGHTS,
                     progress: Callable[[str], None] | None = None) -> FormalReport:
    """`verify` on a `hardcore compile` output: its quantized IR against its pipelined IR when it has
    one (registers as the identity), else its DAG."""
    from hardcore.compiler import Circuit

    circuit = Circuit.load(directory)
    stage = "pipelined" if "pipelined" in circuit.stages else "dag"
    if stage not in circuit.stages:
        raise UsageError(f"{directory}: {circuit.name}.dag.mlir is missing")
    return verify(circuit.stages["quantized"], circuit.stages[stage], timeout=timeout, max_weights=max_weights,
                  progress=progress)
