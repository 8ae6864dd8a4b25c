"""hardcore-kv-decode: a quantized window function (T tokens -> T rows) to a decoder step with a KV cache.

The input is a quantized function F from T positions (its argument's first
axis longer than 1: token ids `tensor<Txi64>`) to an output with one row per
position (the logits of every position, `tensor<TxV>`).  The result is F's *row template*:
the step function that computes, at step t, exactly the elements of F's row t,
reading what earlier steps computed from a cache:

    @f(%token: tensor<1x...>, %pos: tensor<1xiB>, %cache0, %cache1, ...)
        -> (output row tensor<1xV>, fresh row of cache0, fresh row of cache1, ...)

Every value of F gets a *position axis* (an axis of size T: its index is the
position of the element's row); the step computes the value with that axis
cut to 1.  The argument's is its first axis longer than 1; each op carries
its operands' axes to its result (a gather or reshape moves them with the
elements, a dense layer keeps its rows, a matmul keeps its lhs's rows when
they are a batch axis or M, else its rhs's).  An op that cannot (a gather that
moves elements between positions, a dense row across positions, a result that
is not per position) is an error naming it.

The one op that reads other positions is a `matmul` with one operand *in full*
(kᵀ in q·kᵀ, v in A·v): that operand is a cache.  The step reads the cache
argument with the fresh row written in at `pos` (`hardcore.insert_row`) and
returns the fresh row, which the caller (the hardware wrapper) writes to row t
of the cache.  A causal `qsoftmax` over the positions becomes
`hardcore.qsoftmax_at` (kept entries j <= pos + N - M, the window's row t), and
an embedding with a position table `hardcore.embedding_at`.

Causality is checked element by element, so the rules above cannot produce a
wrong step: every element gets its *tag*, the largest position it depends on
(its own row, or a later one through what it reads).  A product with an exact
zero (the masked entries of a causal softmax, and what they multiply) reads
nothing, and an entry a causal softmax masks reads nothing either.  Every
element the output needs must have a tag no larger than its row; otherwise
the op that first makes such an element (a softmax without a causal mask, in
preference) is an error: it breaks causality.  Elements no output needs (the
scores of future keys, computed from stale cache rows in the step) may read
anything: the step computes them and nothing uses them.

The function gets `hardcore.decoder = {positions = T, cache_axes = [...]}`:
argument 2 + i is cache i, result 1 + i its fresh row, and `cache_axes[i]` the
axis of its positions.  `docs/decoder.md` has the design, the cache layout and
the hardware wrapper it implies.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.interpreter import causal_mask
from hardcore.irutil import (array_attr, body_ops, create_op, dense_attr, functions, i64_attr, int_attr,
                             int_type, replace_function, requant_shifts, tensor_type)
from hardcore.errors import UsageError
from hardcore.pass_base import ModulePass, Rejected

__all__ = ["KvDecodePass"]

# Ops that map each element on its own: the result keeps the operand's positions.
ELEMENTWISE = frozenset({"hardcore.quantize", "hardcore.requant", "hardcore.relu", "hardcore.lut",
                         "hardcore.dequantize"})
BINARY = frozenset({"hardcore.add_tensors", "hardcore.sub_tensors", "hardcore.mul_tensors"})
# Ops over the last axis, row by row.
ROWWISE = frozenset({"hardcore.qsoftmax", "hardcore.qnorm"})
MOVES = frozenset({"hardcore.reshape", "hardcore.gather"})
DECODABLE = ELEMENTWISE | BINARY | ROWWISE | MOVES | {"hardcore.concat", "hardcore.dense", "hardcore.embedding",
                                                      "hardcore.matmul"}
NO_TAG = -1  # an element that depends on no position (never below a row)
OUTPUTS = ("logits", "argmax", "both")  # the `output` option


@dataclasses.dataclass
class _Value:
    """One tensor of F: its shape, position axis, and per element what the analysis found."""

    shape: tuple[int, ...]
    axis: int
    zero: np.ndarray | None = None  # an exact 0 by construction (a masked softmax entry, a product with one)
    tag: np.ndarray | None = None  # the largest position the element depends on
    live: np.ndarray | None = None  # the output needs it

    @property
    def rows(self) -> np.ndarray:
        return _rows(self.shape, self.axis)

    @property
    def template(self) -> list[int]:
        return _template_shape(self.shape, self.axis)


@dataclasses.dataclass
class _Plan:
    """What the step does for one op of F."""

    full: tuple[bool, ...] = ()  # per operand: read in full (a cache), not its row
    indices: np.ndarray | None = None  # a move's row-template gather indices
    shifts: np.ndarray | None = None  # a requant's shift per row-template element
    masked_at: bool = False  # a causal qsoftmax over the positions: qsoftmax_at
    keep: np.ndarray | None = None  # a qsoftmax's kept entries (value shape)


def _shape(value) -> tuple[int, ...]:
    return tuple(ir.RankedTensorType(value.type).shape)


def _rows(shape, axis: int) -> np.ndarray:
    index = np.arange(shape[axis]).reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return np.broadcast_to(index, shape)


def _template_shape(shape, axis: int) -> list[int]:
    template = list(shape)
    template[axis] = 1
    return template


def _local(shape, axis: int) -> np.ndarray:
    """Each element's flat index in its row template (row-major, the position axis cut to 1)."""
    coordinates = list(np.indices(shape).reshape(len(shape), -1))
    coordinates[axis] = np.zeros_like(coordinates[axis])
    return np.ravel_multi_index(coordinates, _template_shape(shape, axis)).astype(np.int64)


def _source(op, shape) -> np.ndarray:
    """A move's operand element (flat) for each result element (flat)."""
    if op.operation.name == "hardcore.reshape":
        return np.arange(int(np.prod(shape)))
    return array_attr(op, "indices").astype(np.int64).reshape(-1)


def _positions_text(positions) -> str:
    positions = sorted(int(p) for p in positions)
    return "position " + str(positions[0]) if len(positions) == 1 else \
        "positions " + ", ".join(map(str, positions))


# -- the position axes: where each value keeps its positions ------------------------------------

class _Axes:
    """Gives every live value of F its position axis, and every live op its plan (or rejects)."""

    def __init__(self, positions: int):
        self.positions = positions
        self.values: dict = {}
        self.plans: dict = {}

    def result_axis(self, op, rows_flat: np.ndarray, shape) -> int:
        """The axis of `shape` along which `rows_flat` (a position per element) is the index."""
        for axis, size in enumerate(shape):
            if size == self.positions and np.array_equal(rows_flat.reshape(shape), _rows(shape, axis)):
                return axis
        present = np.unique(rows_flat)
        if present.size < self.positions:
            raise Rejected(op, f"'{op.operation.name}' keeps {_positions_text(present)} of {self.positions}: "
                                f"its result {op.results[0].type} is not per position")
        raise Rejected(op, f"'{op.operation.name}' moves elements between positions: no axis of its result "
                            f"{op.results[0].type} holds one position per index")

    def run(self, op) -> None:
        name = op.operation.name
        operands = [self.values[v] for v in op.operands]
        shape = _shape(op.results[0])
        plan = _Plan(full=(False,) * len(operands))
        if name in ELEMENTWISE or name in ROWWISE:
            axis = operands[0].axis
            if name == "hardcore.requant":
                plan.shifts = self._requant_shifts(op, operands[0])
            if name == "hardcore.qsoftmax":
                plan.keep = _softmax_keep(op, shape)
                plan.masked_at = bool(int_attr(op, "causal")) and len(shape) >= 2 and axis == len(shape) - 2
        elif name in BINARY or name == "hardcore.concat":
            axis = operands[0].axis
            if operands[1].axis != axis:
                raise Rejected(op, f"'{name}' mixes positions: its operands hold them on axes "
                                    f"{axis} and {operands[1].axis}")
            if name == "hardcore.concat" and int_attr(op, "dim") == axis:
                raise Rejected(op, f"'{name}' joins along the positions (dim {axis})")
        elif name in MOVES:
            source = _source(op, shape)
            axis = self.result_axis(op, operands[0].rows.reshape(-1)[source], shape)
            plan.indices = self._move_template(op, operands[0], source, shape, axis)
        elif name == "hardcore.dense":
            axis = self._dense_axis(op, operands[0], shape)
        elif name == "hardcore.embedding":
            axis = self._embedding_axis(op, operands[0], shape)
        elif name == "hardcore.matmul":
            axis, plan.full = self._matmul_axis(op, operands)
        else:
            raise Rejected(op, f"cannot decode '{name}' (a step computes "
                                f"{', '.join(sorted(n.split('.')[1] for n in DECODABLE))})")
        self.values[op.results[0]] = _Value(shape, axis)
        self.plans[op] = plan

    def _requant_shifts(self, op, operand: _Value) -> np.ndarray | None:
        if isinstance(op.attributes["shift"], ir.IntegerAttr):
            return None
        try:
            shifts = np.array(requant_shifts(op, int(np.prod(operand.shape))), dtype=np.int64).reshape(operand.shape)
        except ValueError as exc:
            raise Rejected(op, str(exc)) from None
        first = np.take(shifts, [0], axis=operand.axis)
        if not np.array_equal(np.broadcast_to(first, shifts.shape), shifts):
            raise Rejected(op, "'hardcore.requant' has shifts that differ between positions")
        return first.reshape(-1)

    def _move_template(self, op, operand: _Value, source: np.ndarray, shape, axis: int) -> np.ndarray:
        """Row-template gather indices of a move; every position's row must move alike."""
        wanted = _local(operand.shape, operand.axis)[source]
        local = _local(shape, axis)
        template = np.zeros(int(np.prod(_template_shape(shape, axis))), dtype=np.int64)
        template[local] = wanted
        if not np.array_equal(template[local], wanted):
            raise Rejected(op, f"'{op.operation.name}' does not move every position's elements alike")
        return template

    def _dense_axis(self, op, operand: _Value, shape) -> int:
        columns = array_attr(op, "weight").shape[1]
        rows = operand.rows.reshape(-1, columns)
        if not np.array_equal(rows, np.broadcast_to(rows[:, :1], rows.shape)):
            spread = rows[np.argmax((rows != rows[:, :1]).any(axis=1))]
            raise Rejected(op, f"'hardcore.dense' mixes positions: one of its rows of {columns} elements "
                                f"holds {_positions_text(np.unique(spread))}")
        outputs = array_attr(op, "weight").shape[0]
        axis = self.result_axis(op, np.repeat(rows[:, 0], outputs), shape)
        local_in = _local(operand.shape, operand.axis).reshape(-1, columns)
        expected = (local_in[:, :1] // columns) * outputs + np.arange(outputs)
        if not (np.array_equal(local_in, local_in[:, :1] + np.arange(columns)) and
                np.array_equal(_local(shape, axis).reshape(-1, outputs), expected)):
            raise Rejected(op, "'hardcore.dense' does not map every position's rows alike")
        return axis

    def _embedding_axis(self, op, operand: _Value, shape) -> int:
        width = array_attr(op, "table").shape[2]
        tokens = operand.rows.reshape(-1)
        axis = self.result_axis(op, np.repeat(tokens, width), shape)
        local_in = _local(operand.shape, operand.axis)
        if not np.array_equal(_local(shape, axis).reshape(-1, width), local_in[:, None] * width + np.arange(width)):
            raise Rejected(op, "'hardcore.embedding' does not map every position's tokens alike")
        if array_attr(op, "table").shape[0] > 1 and tokens.size != self.positions:
            raise Rejected(op, "'hardcore.embedding' with a position table reads one token per position; "
                                f"its operand {op.operands[0].type} has {tokens.size}")
        return axis

    def _matmul_axis(self, op, operands) -> tuple[int, tuple[bool, bool]]:
        """The lhs's positions when they are a batch axis or M, else the rhs's (batch or N); the other
        operand, when its positions are elsewhere, is read in full (a cache)."""
        lhs, rhs = operands
        batch = len(lhs.shape) - 2  # the batch axes are 0 .. batch - 1; lhs M and rhs K are `batch`
        if lhs.axis < batch:
            return lhs.axis, (False, rhs.axis != lhs.axis)
        if lhs.axis == batch:
            return lhs.axis, (False, True)
        if rhs.axis < batch or rhs.axis == batch + 1:
            return rhs.axis, (True, False)
        raise Rejected(op, "'hardcore.matmul' sums over the positions (both operands hold them on the "
                            "contracted axis): its result is not per position")


def _softmax_keep(op, shape) -> np.ndarray:
    """The entries a qsoftmax keeps (its causal mask, or all)."""
    if int_attr(op, "causal"):
        return np.array(causal_mask(shape))
    return np.ones(shape, dtype=bool)


# -- dependences: zeros and tags forward, liveness backward --------------------------------------

def _row_max(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """max over the kept entries of each row of the last axis, broadcast back (NO_TAG if none)."""
    return np.broadcast_to(np.where(keep, values, NO_TAG).max(axis=-1, keepdims=True), values.shape)


def _maps_zero(op) -> bool:
    """Whether an elementwise op maps an exact 0 to an exact 0."""
    name = op.operation.name
    if name in ("hardcore.relu", "hardcore.dequantize"):
        return True
    if name in ("hardcore.requant", "hardcore.quantize"):
        return int_attr(op, "min") <= 0 <= int_attr(op, "max")
    if name == "hardcore.lut":
        table, low = array_attr(op, "table").reshape(-1), int_attr(op, "min")
        return 0 <= -low < table.size and int(table[-low]) == 0
    return False


def _forward(op, plan: _Plan, operands: list[_Value], result: _Value) -> None:
    """The result's zeros and tags (each at least the element's own row)."""
    name = op.operation.name
    shape = result.shape
    zero = np.zeros(shape, dtype=bool)
    if name in ELEMENTWISE:
        reads = operands[0].tag
        zero = operands[0].zero & _maps_zero(op)
    elif name in BINARY:
        lhs, rhs = operands
        reads = np.maximum(lhs.tag, rhs.tag)
        if name == "hardcore.mul_tensors":
            zero = lhs.zero | rhs.zero
            reads = np.where(zero, NO_TAG, reads)
        else:
            zero = lhs.zero & rhs.zero
    elif name in MOVES:
        source = _source(op, shape)
        reads = operands[0].tag.reshape(-1)[source].reshape(shape)
        zero = operands[0].zero.reshape(-1)[source].reshape(shape)
    elif name == "hardcore.concat":
        dim = int_attr(op, "dim")
        reads = np.concatenate([o.tag for o in operands], axis=dim)
        zero = np.concatenate([o.zero for o in operands], axis=dim)
    elif name == "hardcore.dense":
        columns = array_attr(op, "weight").shape[1]
        per_row = operands[0].tag.reshape(-1, columns).max(axis=1)
        reads = np.repeat(per_row, int(np.prod(shape)) // per_row.size).reshape(shape)
    elif name == "hardcore.embedding":
        tokens = operands[0].tag.reshape(-1)
        reads = np.repeat(tokens, int(np.prod(shape)) // tokens.size).reshape(shape)
    elif name == "hardcore.matmul":
        reads, zero = _matmul_forward(plan, operands, shape)
    elif name == "hardcore.qsoftmax":
        keep = plan.keep
        reads = np.where(keep, _row_max(operands[0].tag, keep), NO_TAG)
        zero = ~keep
    else:  # qnorm
        reads = _row_max(operands[0].tag, np.ones(shape, dtype=bool))
    result.zero = np.asarray(zero, dtype=bool)
    result.tag = np.maximum(result.rows, reads)


def _factors(plan: _Plan, operands: list[_Value]) -> tuple[np.ndarray, np.ndarray]:
    """Each matmul operand's elements that are not an exact zero in the step.  An operand read in
    full comes from the cache, where a row the step has not written yet holds anything."""
    return tuple(np.ones(o.shape, dtype=bool) if full else ~o.zero for o, full in zip(operands, plan.full))


def _matmul_forward(plan: _Plan, operands: list[_Value], shape) -> tuple[np.ndarray, np.ndarray]:
    lhs, rhs = operands
    lhs_nonzero, rhs_nonzero = _factors(plan, operands)
    reads = np.full(shape, NO_TAG, dtype=np.int64)
    for k in range(lhs.shape[-1]):  # one contracted index at a time: memory of one result
        term = lhs_nonzero[..., :, k, None] & rhs_nonzero[..., None, k, :]
        tags = np.maximum(lhs.tag[..., :, k, None], rhs.tag[..., None, k, :])
        reads = np.maximum(reads, np.where(term, tags, NO_TAG))
    nonzero = np.matmul(lhs_nonzero.astype(np.int64), rhs_nonzero.astype(np.int64)) > 0
    return reads, ~nonzero


def _backward(op, plan: _Plan, operands: list[_Value], result: _Value) -> None:
    """Mark the operand elements the result's live elements read."""
    name = op.operation.name
    live = result.live
    needed = [np.zeros(o.shape, dtype=bool) for o in operands]
    if name in ELEMENTWISE:
        needed[0] = live
    elif name in BINARY:
        if name == "hardcore.mul_tensors":
            needed = [live & ~operands[1].zero, live & ~operands[0].zero]
        else:
            needed = [live, live]
    elif name in MOVES:
        flat = needed[0].reshape(-1)
        np.logical_or.at(flat, _source(op, result.shape), live.reshape(-1))
    elif name == "hardcore.concat":
        dim = int_attr(op, "dim")
        needed = np.split(live, [operands[0].shape[dim]], axis=dim)
    elif name == "hardcore.dense":
        columns = array_attr(op, "weight").shape[1]
        rows = live.reshape(needed[0].size // columns, -1).any(axis=1)
        needed[0] = np.repeat(rows, columns).reshape(operands[0].shape)
    elif name == "hardcore.embedding":
        needed[0] = live.reshape(needed[0].size, -1).any(axis=1).reshape(operands[0].shape)
    elif name == "hardcore.matmul":
        lhs_nonzero, rhs_nonzero = _factors(plan, operands)
        uses = live.astype(np.int64)
        needed = [np.matmul(uses, np.swapaxes(rhs_nonzero, -1, -2).astype(np.int64)) > 0,
                  np.matmul(np.swapaxes(lhs_nonzero, -1, -2).astype(np.int64), uses) > 0]
    elif name == "hardcore.qsoftmax":
        keep = plan.keep
        needed[0] = keep & np.broadcast_to((live & keep).any(axis=-1, keepdims=True), keep.shape)
    else:  # qnorm
        needed[0] = np.broadcast_to(live.any(axis=-1, keepdims=True), live.shape)
    for operand, mask in zip(operands, needed):
        operand.live |= mask


def _causality(ops, axes: _Axes) -> None:
    """Reject the op whose needed elements depend on later positions (a qsoftmax first)."""
    breaking = []
    for op in ops:
        value = axes.values[op.results[0]]
        bad = value.live & (value.tag > value.rows)
        if bad.any():
            breaking.append((op, value, bad))
    if not breaking:
        return
    op, value, bad = next((b for b in breaking if b[0].operation.name == "hardcore.qsoftmax"), breaking[0])
    rows = np.where(bad, value.rows, axes.positions)
    row = int(rows.min())
    later = int(np.where(bad & (value.rows == row), value.tag, NO_TAG).max())
    hint = ""
    if op.operation.name == "hardcore.qsoftmax":
        hint = " (it has no causal mask)" if not int_attr(op, "causal") else \
            " (its causal mask does not hide the later positions)"
    raise Rejected(op, f"'{op.operation.name}' breaks causality: its result at position {row} depends on "
                        f"position {later}{hint}")


# -- moves first: the import flattens a residual add; the positions are found before it -----------

# Ops that apply the same function to each element, and ops that combine two tensors element by
# element: a bijective move before them moves after them unchanged.
_PER_ELEMENT = frozenset({"hardcore.requant", "hardcore.relu", "hardcore.lut"})


def _move_indices(op) -> np.ndarray:
    """A reshape's or gather's operand element (flat) for each result element (flat)."""
    return _source(op, _shape(op.results[0]))


def _bijective(indices: np.ndarray, source) -> bool:
    size = int(np.prod(_shape(source)))
    return indices.size == size and np.array_equal(np.sort(indices), np.arange(size))


def _emit_move(source, indices: np.ndarray, result_type, location) -> ir.Value:
    """`source`'s elements at `indices` as `result_type`: nothing, a reshape or a gather."""
    if np.array_equal(indices, np.arange(int(np.prod(_shape(source))))):
        if source.type == result_type:
            return source
        return create_op("hardcore.reshape", [source], [result_type], None, location).results[0]
    return create_op("hardcore.gather", [source], [result_type], {"indices": dense_attr(indices, int_type(64))},
                     location).results[0]


def _sink_moves(function) -> None:
    """Moves past per-element ops, and chains of moves as one: the same elements, where the positions show.

    `hardcore-import` writes a residual add over the flattened tensors (reshape
    to `tensor<T·D>`, requant, add_tensors, requant, reshape back) and a head
    split as a chain of reshapes and gathers; a flat tensor has no axis of
    positions.  Here `op(move(x))` becomes `move(op(x))` for a per-element op
    and a bijective move (for a binary op, both operands moved alike from one
    shape), and `move(move(x))` one move of x, so that every op but the moves
    works on the shapes the positions came in.  Exact: each element gets the
    same value.
    """
    moved: dict = {}  # a move's result -> (its source, the source element of each result element)
    block = function.regions[0].blocks[0]
    for op in list(block.operations):
        name = op.operation.name
        result = op.results[0] if len(op.results) == 1 else None
        with ir.InsertionPoint(op):
            if name in MOVES:
                indices = _move_indices(op)
                source = op.operands[0]
                if source in moved:
                    source, inner = moved[source]
                    indices = inner[indices]
                    fused = _emit_move(source, indices, result.type, op.location)
                    result.replace_all_uses_with(fused)
                    if fused == source:  # the chain moves nothing
                        continue
                    result = fused
                moved[result] = (source, indices)
                continue
            operands = [moved.get(v) for v in op.operands]
            if name not in _PER_ELEMENT | BINARY or None in operands:
                continue
            (source, indices), shapes = operands[0], {_shape(s) for s, _ in operands}
            if not _bijective(indices, source) or len(shapes) > 1 or \
                    any(not np.array_equal(i, indices) for _, i in operands):
                continue
            attributes = {key: op.attributes[key] for key in op.attributes}
            if name == "hardcore.requant" and not isinstance(op.attributes["shift"], ir.IntegerAttr):
                shifts = np.empty_like(indices)
                shifts[indices] = requant_shifts(op, indices.size)
                attributes["shift"] = dense_attr(shifts, int_type(64))
            element = ir.RankedTensorType(result.type).element_type
            inner = create_op(name, [s for s, _ in operands], [tensor_type(_shape(source), element)], attributes,
                              op.location).results[0]
            outer = _emit_move(inner, indices, result.type, op.location)
            result.replace_all_uses_with(outer)
            moved[outer] = (inner, indices)


# -- the pass ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KvDecodePass(ModulePass):
    name = "hardcore-kv-decode"
    # The step's first result: F's output row (logits), its argmax (the next token), or both:
    # the argmax first and the row as the last result, after the fresh rows.
    output: str = "logits"

    def validate(self) -> None:
        if self.output not in OUTPUTS:
            raise UsageError(f"{self.name}: unknown output '{self.output}' (one of: {', '.join(OUTPUTS)})")

    def run(self, module: ir.Operation) -> None:
        self.rewrite_each(functions(module), self._decode)

    def _decode(self, function) -> None:
        ops = body_ops(function)
        block = function.regions[0].blocks[0]
        if len(block.arguments) != 1 or not ops or ops[0].operation.name != "hardcore.quantize" or \
                ops[0].operands[0] != block.arguments[0]:
            raise Rejected(function, "expected a quantized function of one argument starting with "
                                      "hardcore.quantize (run hardcore-quantize first)")
        ret = ops[-1]
        if len(ret.operands) != 1:
            raise Rejected(function, f"expected one result (the output of every position), got {len(ret.operands)}")
        argument = block.arguments[0]
        shape = _shape(argument)
        if not shape:
            raise Rejected(function, "the argument has no axis of positions")
        _sink_moves(function)
        ops = body_ops(function)
        # The positions: the first axis longer than 1 ([T] token ids, [1, T] with a batch of one, [T, C]).
        axis = next((i for i, size in enumerate(shape) if size > 1), 0)
        axes = _Axes(shape[axis])
        axes.values[argument] = _Value(shape, axis)
        live_ops = _live_ops(ops)
        for op in live_ops:
            axes.run(op)
        output = axes.values[ret.operands[0]]
        argument_value = axes.values[argument]
        argument_value.zero = np.zeros(shape, dtype=bool)
        argument_value.tag = argument_value.rows.copy()
        for op in live_ops:
            _forward(op, axes.plans[op], [axes.values[v] for v in op.operands], axes.values[op.results[0]])
        for value in axes.values.values():
            value.live = np.zeros(value.shape, dtype=bool)
        output.live[...] = True
        for op in reversed(live_ops):
            _backward(op, axes.plans[op], [axes.values[v] for v in op.operands], axes.values[op.results[0]])
        _causality(live_ops, axes)
        _StepBuilder(function, axes, live_ops, ret, self.output).build()


def _live_ops(ops) -> list:
    """The ops the result depends on, in order."""
    needed = set(ops[-1].operands)
    live = []
    for op in reversed(ops[:-1]):
        if op.results[0] in needed:
            live.append(op)
            needed.update(op.operands)
    return live[::-1]


class _StepBuilder:
    """Writes the step function in place of F."""

    def __init__(self, function, axes: _Axes, ops, ret, output: str = "logits"):
        self.function, self.axes, self.ops, self.ret, self.output = function, axes, ops, ret, output
        self.caches = []  # values read in full, in the order of their first read
        for op in ops:
            for value, full in zip(op.operands, axes.plans[op].full):
                if full and value not in self.caches:
                    self.caches.append(value)

    def _type(self, value, template: bool = True) -> ir.RankedTensorType:
        info = self.axes.values[value]
        element = ir.RankedTensorType(value.type).element_type
        return tensor_type(info.template if template else info.shape, element)

    def build(self) -> None:
        positions = self.axes.positions
        argument = self.function.regions[0].blocks[0].arguments[0]
        pos_type = tensor_type([1], int_type(signed_width(0, positions - 1)))
        inputs = [self._type(argument), pos_type] + [self._type(c, template=False) for c in self.caches]
        row_type = self._type(self.ret.operands[0])
        index_type = tensor_type([1], ir.F32Type.get())
        first = {"logits": [row_type], "argmax": [index_type], "both": [index_type]}[self.output]
        outputs = first + [self._type(c) for c in self.caches] + ([row_type] if self.output == "both" else [])
        step = replace_function(self.function, self.function.name.value, inputs, outputs)
        block = step.regions[0].blocks[0]
        self.pos = block.arguments[1]
        self.rows = {argument: block.arguments[0]}
        self.cache_arguments = dict(zip(self.caches, list(block.arguments)[2:]))
        self.merged = {}
        with ir.InsertionPoint(block):
            for op in self.ops:
                self.rows[op.results[0]] = self._emit(op)
            row = self.rows[self.ret.operands[0]]
            first = [row] if self.output == "logits" else [self._argmax(row)]
            create_op("func.return", first + [self.rows[c] for c in self.caches] + ([row] if self.output == "both" else []),
                      [], None, self.ret.location)
        decoder = {"positions": i64_attr(positions),
                   "cache_axes": ir.ArrayAttr.get([i64_attr(self.axes.values[c].axis) for c in self.caches])}
        if self.output != "logits":
            decoder["output"] = ir.StringAttr.get(self.output)
        step.attributes["hardcore.decoder"] = ir.DictAttr.get(decoder)
        self.function.operation.erase()

    def _argmax(self, row) -> ir.Value:
        """The index of the row's first largest logit (the next token), as the float F's dequantize gives."""
        dequantize = row.owner
        if getattr(dequantize, "name", "") != "hardcore.dequantize":
            raise Rejected(self.ret, f"output={self.output} expects the result to be a hardcore.dequantize")
        logits = dequantize.operands[0]
        size = int(np.prod(_shape(logits)))
        index = create_op("hardcore.argmax", [logits], [tensor_type([1], int_type(signed_width(0, size - 1)))], None,
                          self.ret.location).results[0]
        return create_op("hardcore.dequantize", [index], [tensor_type([1], ir.F32Type.get())],
                         {"frac_bits": i64_attr(0)}, self.ret.location).results[0]

    def _full(self, value, location) -> ir.Value:
        """The cache with the step's fresh row written at pos (made once, at the first full read)."""
        if value not in self.merged:
            merged = create_op("hardcore.insert_row", [self.cache_arguments[value], self.rows[value], self.pos],
                               [self._type(value, template=False)],
                               {"axis": i64_attr(self.axes.values[value].axis)}, location)
            self.merged[value] = merged.results[0]
        return self.merged[value]

    def _emit(self, op) -> ir.Value:
        name = op.operation.name
        plan = self.axes.plans[op]
        operands = [self._full(v, op.location) if full else self.rows[v]
                    for v, full in zip(op.operands, plan.full)]
        attributes = {key: op.attributes[key] for key in op.attributes}
        result_type = self._type(op.results[0])
        if plan.indices is not None:  # a move in the row: a reshape when it keeps the order, or nothing
            if np.array_equal(plan.indices, np.arange(int(np.prod(self._type(op.operands[0]).shape)))):
                if operands[0].type == result_type:
                    return operands[0]
                return create_op("hardcore.reshape", operands, [result_type], None, op.location).results[0]
            name, attributes = "hardcore.gather", {"indices": dense_attr(plan.indices, int_type(64))}
        elif plan.shifts is not None:
            attributes["shift"] = dense_attr(plan.shifts, int_type(64))
        elif plan.masked_at:
            shape = self.axes.values[op.results[0]].shape
            name = "hardcore.qsoftmax_at"
            del attributes["causal"]
            attributes["offset"] = i64_attr(shape[-1] - shape[-2])
            operands.append(self.pos)
        elif name == "hardcore.embedding" and array_attr(op, "table").shape[0] > 1:
            name = "hardcore.embedding_at"
            operands.append(self.pos)
        return create_op(name, operands, [result_type], attributes, op.location).results[0]
