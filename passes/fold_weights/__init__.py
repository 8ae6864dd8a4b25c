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

Sequence models (docs/dialect.md, "Sequence models"): a dense over R rows
builds its solved adder graph once per row; an embedding is a table per
output element over its token's id; products of two activations
(mul_tensors, matmul, and inside qsoftmax and qnorm) are `hardcore.mul`, a
constant factor shifts and adds; qsoftmax and qnorm are the ops of their
definitions, per row.  Each is a layer of its own.  Token ids as the input
(an integer argument quantized to [0, V-1]) make the function
`hardcore.input_unsigned`: port x drops the always-zero sign bit.

Decoder steps (`hardcore-kv-decode`, a function with `hardcore.decoder`):
the position is an argument in [0, T - 1]; each cache an argument whose
elements lie in the range of the fresh row written there (and 0), read at its
first `insert_row` (the cache's type narrows to that width); insert_row,
qsoftmax_at and embedding_at are muxes on the position (`decoder.py`,
`normalize.py`); the results are packed one by one (the output, the fresh
rows at their cache's width, the logits row with output=both).

Every result's type is the narrowest two's complement width that holds its
value range: exact linear-form ranges for the adder graph's nodes (inputs are
independent), interval arithmetic for the rest.

The function's signature becomes integer: the input is the quantized tensor
(its `frac_bits` in the function attribute `hardcore.input_frac_bits`), the
result the integer output (`hardcore.output_frac_bits`).  Per-layer figures
(weights, nonzero weights, adders, adder bits, adder depth, and the layer's
`hardcore.kind` when it has one) go to the function attribute `hardcore.layers`.

Last, the ops that no result depends on (dead logic: the positions a
last-position output never reads) are left out and taken out of the layers'
figures (`sweep.py`), so every later stage sees only live logic.  The ops
are the builder's records until then: the new function is printed and
parsed once (`_DagBuilder.function`), far faster than an op at a time
through the bindings on a layer of a million adders.

One module per op family, gathered in `FOLDS`: `builder` (the scalar ops
with exact widths), `arith` (sums, constant multiplies, products, tables of
not-yet-built values), `dense`, `elementwise` (relu, requant, lut, residual
add and subtract, concat, gather, reshape), `compare` (max pool, argmax),
`sequence` (embedding, mul_tensors, matmul), `normalize` (qsoftmax,
qsoftmax_at, qnorm) and `decoder` (insert_row, embedding_at).
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.errors import UsageError
from hardcore.irutil import LAYER_OPS, array_attr, body_ops, functions, i64_attr, int_attr, int_type, tensor_type
from hardcore.pass_base import ModulePass, PassFailed
from hardcore.scale import parallel
from hardcore.passes.fold_weights.builder import _DagBuilder, _Lin
from hardcore.passes.fold_weights.compare import fold_argmax, fold_maxpool, fold_minpool
from hardcore.passes.fold_weights.dense import ALGORITHMS, fold_dense, solve_jobs
from hardcore.passes.fold_weights.elementwise import (fold_add_tensors, fold_concat, fold_gather, fold_lut, fold_relu,
                                                      fold_requant, fold_reshape, fold_sub_tensors)
from hardcore.passes.fold_weights.decoder import fold_embedding_at, fold_insert_row, insert_row_layout, row_index
from hardcore.passes.fold_weights.normalize import fold_qnorm, fold_qsoftmax, fold_qsoftmax_at
from hardcore.passes.fold_weights.sequence import fold_embedding, fold_matmul, fold_mul_tensors
from hardcore.passes.fold_weights.sweep import sweep_dead

__all__ = ["FoldWeightsPass", "ALGORITHMS", "FOLDS", "token_input"]

# op name -> fold(pass, builder, op, operands' elements) -> (result elements, layer figures or None).
# A fold that returns figures makes a layer (its op is in LAYER_OPS).
FOLDS = {
    "hardcore.dense": fold_dense,
    "hardcore.maxpool": fold_maxpool,
    "hardcore.minpool": fold_minpool,
    "hardcore.argmax": fold_argmax,
    "hardcore.add_tensors": fold_add_tensors,
    "hardcore.concat": fold_concat,
    "hardcore.gather": fold_gather,
    "hardcore.relu": fold_relu,
    "hardcore.requant": fold_requant,
    "hardcore.reshape": fold_reshape,
    "hardcore.lut": fold_lut,
    "hardcore.embedding": fold_embedding,
    "hardcore.sub_tensors": fold_sub_tensors,
    "hardcore.mul_tensors": fold_mul_tensors,
    "hardcore.matmul": fold_matmul,
    "hardcore.qsoftmax": fold_qsoftmax,
    "hardcore.qnorm": fold_qnorm,
    "hardcore.embedding_at": fold_embedding_at,
    "hardcore.insert_row": fold_insert_row,
    "hardcore.qsoftmax_at": fold_qsoftmax_at,
}


def token_input(quantize) -> bool:
    """Whether the function's input is token ids: integers (not floats) quantized to [0, max], max >= 1.

    Port x then holds each in ceil(log2(max + 1)) unsigned bits (hardcore-to-hw
    drops the always-zero sign bit).  A float input keeps its signed port, whatever its range.
    """
    element = ir.RankedTensorType(quantize.operands[0].type).element_type
    return isinstance(element, ir.IntegerType) and int_attr(quantize, "min") >= 0 and int_attr(quantize, "max") >= 1


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
        if self.algorithm == "cse" and parallel.active():
            parallel.solve_ahead(_predicted_solves(module, self.max_depth), parallel.progress("solving", "matrices"))
        ok = True
        for function in functions(module):
            ops = body_ops(function)
            if ops and ops[0].operation.name == "hardcore.quantize":
                ok &= self._fold_function(function, ops)
            elif any(op.operation.name in ("hardcore.dense", "hardcore.relu") for op in ops):
                self.error(function, "hardcore-fold-weights: expected a quantized function "
                           "starting with hardcore.quantize (run hardcore-quantize first)")
                ok = False
        _release_heap()
        if not ok:
            raise PassFailed()

    def _fold_function(self, function, ops) -> bool:
        ret = ops[-1]
        arguments = list(function.regions[0].blocks[0].arguments)
        # One leading quantize per float input (several for a model with several inputs).
        quantizes = list(itertools.takewhile(lambda op: op.operation.name == "hardcore.quantize"
                                             and op.operands[0] in arguments, ops))
        quantize = quantizes[0]
        try:
            results = _results(function, ret, len(quantizes))
        except ValueError as exc:
            self.error(function, f"hardcore-fold-weights: {exc}")
            return False
        output, logits = results[0], results[-1] if results.decoder is not None and \
            len(results) > 1 + len(results.fresh) else None
        in_types, in_ranges = [], []
        for each in quantizes:
            low, high = int_attr(each, "min"), int_attr(each, "max")
            in_types.append(tensor_type(list(ir.RankedTensorType(each.results[0].type).shape),
                                        int_type(signed_width(low, high))))
            if token_input(each):
                # Port x holds each id in ceil(log2 V) unsigned bits: the DAG takes every value
                # they can hold (the embedding reads row V - 1 past V - 1, as the quantize's clamp would).
                high = (1 << (signed_width(low, high) - 1)) - 1
            in_ranges.append((low, high))
        builder = _DagBuilder(quantize.location)
        new_arguments = [builder.argument(type_) for type_ in
                         in_types + [a.type for a in arguments[len(quantizes):]]]
        layers = []
        tensors, layer_of = {}, {}  # tensor -> its elements, the layer that makes it
        for each, in_type, (low, high), argument in zip(quantizes, in_types, in_ranges, new_arguments):
            elements = []
            for index in range(int(np.prod(in_type.shape))):
                value = builder._emit("hardcore.extract", [argument], (low, high), {"index": index})
                elements.append(_Lin(value, 0, 1, 0))
            tensors[each.results[0]] = elements
            layer_of[each.results[0]] = 0
        step = _Step(results, arguments, new_arguments, builder)
        tensors.update(step.position())
        layer_of.update({argument: 0 for argument in arguments[1:]})
        layer_count = sum(op.operation.name in LAYER_OPS for op in ops)
        report = parallel.progress("folding", "layers")
        for op in ops[len(quantizes):]:
            name = op.operation.name
            if name in ("func.return", "hardcore.dequantize"):
                continue
            # Name each op's location after its layer (a layer op k, and the ops that
            # follow from it: the latest layer among their operands'), so later passes
            # and reports can attribute logic and registers to layers.  In a graph,
            # layers only ever read lower layers.
            layer = len(layers) if name in LAYER_OPS else max(layer_of[v] for v in op.operands)
            layer_of[op.results[0]] = layer
            builder.location = ir.Location.name(f"layer{layer}", childLoc=op.location)
            builder.layer = layer
            fold = FOLDS.get(name)
            if name == "hardcore.conv":
                self.error(op, "hardcore-fold-weights: hardcore.conv is folded by hardcore-stream (compile with "
                               "stream=True); the fully parallel path unrolls convolutions at import")
                return False
            if fold is None:
                self.error(op, f"hardcore-fold-weights: cannot fold '{name}'")
                return False
            try:
                tensors.update(step.caches_read(op, tensors))
                result, stats = fold(self, builder, op, [tensors[v] for v in op.operands])
            except ValueError as exc:
                self.error(op, f"hardcore-fold-weights: {exc}")
                return False
            if stats is not None:
                layers.append(stats)
                if report:
                    report(len(layers), layer_count)
            tensors[op.results[0]] = result
        try:
            packed, output_unsigned = [], False
            for value in results:
                # The outputs' last ops belong to the last layer (one module per layer in hardware).
                source = value.owner.operands[0] if _is_dequantize(value) else value
                builder.layer = layer_of[source]
                builder.location = ir.Location.name(f"layer{builder.layer}", childLoc=ret.location)
                pack = _pack(builder, tensors[source], value, step, ret.location)
                if value == output and _is_index(value):
                    output_unsigned = True
                elif _is_dequantize(value) and _is_index(value):
                    raise ValueError("an argmax result (output=argmax) is supported only as a model's "
                                     "one result")
                packed.append(pack)
        except ValueError as exc:
            self.error(function, f"hardcore-fold-weights: {exc}")
            return False
        sweep_dead(builder, packed, layers)
        new = builder.function(function, function.name.value, packed, ret.location)
        if output_unsigned:
            new.attributes["hardcore.output_unsigned"] = ir.UnitAttr.get()
        if token_input(quantize):
            new.attributes["hardcore.input_unsigned"] = ir.UnitAttr.get()
        # One input (result): an integer; several: a list of them, one per input (result).
        in_fracs = [i64_attr(int_attr(each, "frac_bits")) for each in quantizes]
        new.attributes["hardcore.input_frac_bits"] = in_fracs[0] if len(in_fracs) == 1 else ir.ArrayAttr.get(in_fracs)
        out_fracs = [i64_attr(int_attr(value.owner, "frac_bits")) for value in
                     (results if results.decoder is None else [output])]
        new.attributes["hardcore.output_frac_bits"] = out_fracs[0] if len(out_fracs) == 1 \
            else ir.ArrayAttr.get(out_fracs)
        if logits is not None:
            new.attributes["hardcore.logits_frac_bits"] = i64_attr(int_attr(logits.owner, "frac_bits"))
        if results.decoder is not None:
            new.attributes["hardcore.decoder"] = results.decoder
        if "hardcore.stream" in function.attributes:  # a streamed node's step (hardcore-stream)
            new.attributes["hardcore.stream"] = function.attributes["hardcore.stream"]
        new.attributes["hardcore.layers"] = ir.ArrayAttr.get([
            ir.DictAttr.get({k: (ir.StringAttr.get(v) if isinstance(v, str) else i64_attr(v))
                             for k, v in stats.items()}) for stats in layers])
        function.operation.erase()
        return True


def _release_heap() -> None:
    """Give the heap that the builder's records (millions of small objects, freed) held back to the system.

    glibc keeps freed memory for the process otherwise: about 45 MB per 145,000 ops, which the later
    stages' peak (the CIRCT export) would carry.  Nothing to do where there is no `malloc_trim`."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


# Ops whose result's elements all lie in [min, max] (their attributes), and shape ops that keep that.
_RANGED_OPS = ("hardcore.quantize", "hardcore.requant")
_SHAPE_OPS = ("hardcore.reshape",)


def _predicted_solves(module, max_depth) -> list:
    """The CMVM solves the fold will most likely ask for, to run at once (in parallel) before it walks.

    A dense whose operand comes from a quantize or requant (through reshapes)
    takes inputs in that op's [min, max]; the fold asks for the solve of the
    exact range it derives, which gives the same width and signedness unless
    the range is narrower in a way that drops a bit.  A wrong guess costs only
    time: the fold then solves its own job.
    """
    jobs = []
    for function in functions(module):
        for op in body_ops(function):
            if op.operation.name != "hardcore.dense":
                continue
            source = op.operands[0].owner
            while getattr(source, "name", "") in _SHAPE_OPS:
                source = source.operands[0].owner
            if getattr(source, "name", "") not in _RANGED_OPS:
                continue
            weight = array_attr(op, "weight").astype(np.int64)
            bias = [int(b) for b in array_attr(op, "bias").astype(np.int64)]
            ranges = [(int_attr(source, "min"), int_attr(source, "max"))] * weight.shape[1]
            # As `constant_rows` finds them when no input is a constant: the rows with a bias.
            jobs.extend(solve_jobs(weight, ranges, max_depth, [i for i, b in enumerate(bias) if b != 0]))
    return jobs


class _Results(list):
    """A function's results: the output (a dequantize), a decoder step's fresh rows, its logits row."""

    def __init__(self, values):
        super().__init__(values)
        self.decoder = None  # the function's hardcore.decoder attribute
        self.fresh: list = []  # results 1..N of a decoder step: the fresh row of cache i (integers)


def _is_dequantize(value) -> bool:
    return getattr(value.owner, "name", "") == "hardcore.dequantize"


def _is_index(value) -> bool:
    """A dequantized argmax: an index in [0, N-1]."""
    return getattr(value.owner.operands[0].owner, "name", "") == "hardcore.argmax"


def _results(function, ret, quantized: int) -> _Results:
    """The results, checked: a dequantize each (a quantize per argument), or a decoder step's
    (output, fresh rows[, logits])."""
    results = _Results(ret.operands)
    if ret.operation.name != "func.return" or not results or not _is_dequantize(results[0]):
        raise ValueError("expected the result to be a hardcore.dequantize")
    arguments = len(function.regions[0].blocks[0].arguments)
    if "hardcore.decoder" not in function.attributes:
        if arguments != quantized or not all(_is_dequantize(value) for value in results):
            raise ValueError(f"expected a hardcore.quantize of each of the {arguments} arguments and a "
                             f"hardcore.dequantize for each result (only a decoder step, hardcore.decoder, "
                             f"has integer arguments and results)")
        return results
    results.decoder = function.attributes["hardcore.decoder"]
    decoder = ir.DictAttr(results.decoder)
    caches = len(ir.ArrayAttr(decoder["cache_axes"]))
    both = "output" in decoder and ir.StringAttr(decoder["output"]).value == "both"
    if arguments != 2 + caches:
        raise ValueError(f"a decoder step with {caches} caches takes 2 + {caches} arguments (token, position, "
                         f"caches), got {arguments}")
    if len(results) != 1 + caches + both:
        raise ValueError(f"a decoder step with {caches} caches has {1 + caches + both} results, got {len(results)}")
    results.fresh = results[1:1 + caches]
    if any(_is_dequantize(value) for value in results.fresh) or (both and not _is_dequantize(results[-1])):
        raise ValueError("expected the fresh rows as integers"
                         + (" and the logits row as a hardcore.dequantize" if both else ""))
    return results


class _Step:
    """A decoder step's arguments in the DAG: the position, and each cache at its first read.

    The position `p` lies in [0, T - 1] (T the decoder's positions).  A cache
    holds what its fresh row is: its first reader, an `insert_row`, gives the
    range of each element, the range of the row's element that is written
    there (and 0, the registers' value before they are written).
    """

    def __init__(self, results: _Results, old: list, new: list, builder: _DagBuilder):
        self.builder = builder
        self.old, self.new = old, new
        self.caches = {old[2 + i]: i for i in range(len(results.fresh))}
        self.fresh_index = {value: i for i, value in enumerate(results.fresh)}
        self.positions = int(ir.IntegerAttr(ir.DictAttr(results.decoder)["positions"]).value) \
            if results.decoder is not None else 0
        self.ranges: dict = {}  # cache index -> the range of each element of a row (row-major)
        self.widths: dict = {}  # cache index -> the width its argument holds each element at

    def position(self) -> dict:
        if not self.positions:
            return {}
        value = self.builder._emit("hardcore.extract", [self.new[1]], (0, self.positions - 1), {"index": 0})
        return {self.old[1]: [_Lin(value, 0, 1, 0)]}

    def caches_read(self, op, tensors: dict) -> dict:
        """The elements of the caches that `op` reads first (extracts at the widths their rows set)."""
        read = {}
        for index, value in enumerate(op.operands):
            if value not in self.caches or value in tensors:
                continue
            if op.operation.name != "hardcore.insert_row" or index != 0:
                raise ValueError(f"cache {self.caches[value]} is read before an insert_row writes its fresh row")
            read[value] = self._read(value, op, tensors[op.operands[1]])
        return read

    def _read(self, value, op, row: list) -> list:
        cache = self.caches[value]
        shape, axis = insert_row_layout(op)
        ranges = [self.builder.lin_range(lin) for lin in row]
        ranges = [(min(low, 0), max(high, 0)) for low, high in ranges]
        self.ranges[cache] = ranges
        width = max(signed_width(*r) for r in ranges)
        argument = self.new[2 + cache]
        self.builder.set_type(argument, tensor_type(shape, int_type(width)))
        self.widths[cache] = width
        _, in_row = row_index(shape, axis)
        return [_Lin(self.builder._emit("hardcore.extract", [argument], ranges[j], {"index": index}), 0, 1, 0)
                for index, j in enumerate(in_row)]

    def check_fresh(self, value, lins: list) -> int | None:
        """The width of the cache that the fresh row `value` is written to (None if not a fresh row);
        ValueError if the row reaches outside the range the cache was read at."""
        if value not in self.fresh_index:
            return None
        cache = self.fresh_index[value]
        if cache not in self.ranges:  # a cache no op reads: as wide as its row
            width = max(signed_width(*self.builder.lin_range(lin)) for lin in lins)
            shape = list(ir.RankedTensorType(self.old[2 + cache].type).shape)
            self.builder.set_type(self.new[2 + cache], tensor_type(shape, int_type(width)))
            return width
        for j, lin in enumerate(lins):
            low, high = self.builder.lin_range(lin)
            if low < self.ranges[cache][j][0] or high > self.ranges[cache][j][1]:
                raise ValueError(f"the fresh row of cache {cache} reaches [{low}, {high}] at element {j}, outside "
                                 f"the range its cache was read at {list(self.ranges[cache][j])}")
        return self.widths[cache]


def _pack(builder: _DagBuilder, lins: list, value, step: _Step, location):
    """One result: its elements materialized at one width (an index's port is ceil(log2 N) bits), packed."""
    outputs = [builder.materialize(lin) for lin in lins]
    width = max(signed_width(*builder.ranges[v]) for v in outputs)
    if _is_dequantize(value) and _is_index(value):
        # An index port: ceil(log2 N) bits, unsigned (hardcore-to-hw drops the sign bit,
        # always 0), however few indices the value ranges leave possible.
        size = int(np.prod(ir.RankedTensorType(value.owner.operands[0].owner.operands[0].type).shape))
        width = max(width, signed_width(0, size - 1))
    cache_width = step.check_fresh(value, lins)
    if cache_width is not None:
        width = cache_width  # what the cache holds: the registers take the row as it is
    outputs = [builder.sext(v, width) for v in outputs]
    shape = list(ir.RankedTensorType(value.type).shape)
    return builder.pack(outputs, tensor_type(shape, int_type(width)), location)
