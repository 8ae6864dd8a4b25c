"""The vectors `--verify-each` runs the IR on, and the comparison of the IR before and after a pass on them.

Bit for bit for integer IR, to FLOAT_RTOL relative for float IR; a pipelined DAG runs as a stream
(`run_stream`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir

from hardcore.errors import CompileError
from hardcore.interpreter import InterpreterError, run_function
from hardcore.irutil import body_ops, int_attr

__all__ = ["VerificationError", "VerifyOptions", "extreme_inputs", "input_vectors", "run_stream", "stage_of", "flat",
           "ranged_vectors", "code_ranges"]


EXTREME_LABELS = ("all-minimum", "all-maximum", "alternating max/min", "alternating min/max", "zero")
FLOAT_RTOL = 1e-9  # float layer IR to float layer IR: float64 may be reassociated, nothing more
# torch (float32) against the float layer IR run in float64: float32 rounds each of a few
# thousand products and sums by 2^-24 relative at most, far below this; a wrong weight,
# bias or layer moves outputs by much more.
IMPORT_RTOL = 1e-3
_MAX_PRINTED = 16  # elements of a vector printed in a message; longer ones are elided


class VerificationError(CompileError):
    """A pass changed what the IR computes (or the IR after it overflows)."""


@dataclasses.dataclass(frozen=True)
class VerifyOptions:
    vectors: int = 64  # random vectors, besides the 5 extreme ones
    seed: int = 0
    simulate_hw: bool = True  # check hardcore-to-hw in Icarus when it is installed


def extreme_inputs(n_in: int, low: int, high: int) -> np.ndarray:
    """All-minimum, all-maximum, alternating signs both ways, and zero (EXTREME_LABELS)."""
    alternating = np.array([low if i % 2 else high for i in range(n_in)], dtype=np.int64)
    zero = np.full(n_in, min(max(0, low), high), dtype=np.int64)
    return np.stack([np.full(n_in, low, dtype=np.int64), np.full(n_in, high, dtype=np.int64), alternating,
                     np.where(alternating == low, high, low), zero])


def input_vectors(n_in: int, low: int, high: int, count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """The 5 extreme vectors, then `count` uniform random ones in [low, high]; with a label each."""
    rng = np.random.default_rng(seed)
    vectors = np.concatenate([extreme_inputs(n_in, low, high), rng.integers(low, high + 1, (count, n_in))])
    return vectors, list(EXTREME_LABELS) + [f"random #{i}" for i in range(count)]


def stage_of(function) -> str:
    """'torch', 'float' (float layer ops), 'quantized' (float in, integers inside) or 'integer' (a DAG).

    A function of token ids has an integer input: float layer ops (a float result) or
    quantized ones (a `hardcore.quantize` first) still.
    """
    argument = function.type.inputs[0] if function.type.inputs else None
    if argument is None or not isinstance(argument, ir.RankedTensorType):
        return "torch"
    ops = body_ops(function)
    if any(op.operation.name.startswith("torch.") for op in ops):
        return "torch"
    if ops and ops[0].operation.name == "hardcore.quantize":
        return "quantized"
    result = function.type.results[0] if function.type.results else None
    if isinstance(argument.element_type, ir.IntegerType) and not (
            isinstance(result, ir.RankedTensorType) and isinstance(result.element_type, ir.FloatType)):
        return "integer"
    return "float"


def _float_inputs(function, options: VerifyOptions) -> tuple[np.ndarray, list[str]]:
    """Inputs of float layer IR: the extreme vectors with elements +-4 and standard-normal ones; for token
    ids (an integer input) ids in [0, V - 1], V the smallest vocabulary of the embeddings that read them."""
    argument = function.regions[0].blocks[0].arguments[0]
    n_in = sum(_element_count(t) for t in function.type.inputs)  # several inputs: side by side
    if isinstance(ir.RankedTensorType(argument.type).element_type, ir.IntegerType):
        tables = [use.owner.attributes["table"] for use in argument.uses
                  if use.owner.operation.name == "hardcore.embedding"]
        vocabulary = min((ir.RankedTensorType(t.type).shape[1] for t in tables), default=1)
        inputs, labels = input_vectors(n_in, 0, vocabulary - 1, options.vectors, options.seed)
        return inputs.astype(np.float64), labels
    rng = np.random.default_rng(options.seed)
    inputs = np.concatenate([extreme_inputs(n_in, -4, 4).astype(np.float64),
                             rng.standard_normal((options.vectors, n_in))])
    return inputs, list(EXTREME_LABELS) + [f"random #{i}" for i in range(options.vectors)]


def _format(vector) -> str:
    values = np.asarray(vector).reshape(-1)
    text = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:_MAX_PRINTED].tolist())
    if values.size > _MAX_PRINTED:
        text += f", ... ({values.size} elements)"
    return f"[{text}]"


def _element_count(value_type) -> int:
    return int(np.prod(ir.RankedTensorType(value_type).shape))


def _type_bounds(element) -> tuple[int, int]:
    width = ir.IntegerType(element).width
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _input_bounds(function) -> tuple[int, int]:
    """The values a DAG function's input takes: its type's, or a token-id port's (unsigned, no sign bit)."""
    low, high = _type_bounds(ir.RankedTensorType(function.type.inputs[0]).element_type)
    return (0, high) if "hardcore.input_unsigned" in function.attributes else (low, high)


def _delay(op, operands):
    """`hardcore.reg` in a stream along the batch axis: the value one cycle earlier.

    At cycle 0 the register passes its input through, so every value at the
    start is the one vector 0 gives: a correctly balanced pipeline never
    sees a value that no input produces.
    """
    value = operands[0]
    return np.concatenate([value[:1], value[:-1]])


def run_stream(function, codes):
    """Run a DAG on a batch; a pipelined one (`hardcore.latency` L) as a stream, one vector a cycle.

    The vectors enter at cycles 0..N-1 followed by L copies of the last one;
    the result for vector i is the output at cycle i + L.  Several inputs
    (a list, one array per argument) enter together; several results come out as a tuple.
    """
    if "hardcore.latency" not in function.attributes:
        return run_function(function, codes)
    latency = int_attr(function, "hardcore.latency")
    several = isinstance(codes, (list, tuple))
    stream = [np.concatenate([c, np.repeat(c[-1:], latency, axis=0)]) for c in (codes if several else [codes])]
    outputs = run_function(function, stream, semantics={"hardcore.reg": _delay})
    count = len(codes[0] if several else codes)
    if isinstance(outputs, tuple):
        return tuple(output[latency:latency + count] for output in outputs)
    return outputs[latency:latency + count]


def flat(function, run):
    """`run` (one array per argument in, an array or a tuple of them out) on vectors that hold every
    argument's elements one after the other, its results likewise; `run` itself for one argument and result."""
    sizes = [_element_count(t) for t in function.type.inputs]
    if len(sizes) == 1 and len(function.type.results) == 1:
        return run

    def run_flat(vectors):
        parts = np.split(np.asarray(vectors), np.cumsum(sizes)[:-1], axis=1) if len(sizes) > 1 else vectors
        outputs = run(parts)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return np.concatenate([np.asarray(o).reshape(len(vectors), -1) for o in outputs], axis=1)
    return run_flat


def ranged_vectors(ranges: list, counts: list, count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`input_vectors` of each argument (its element count and range), side by side in one vector."""
    parts = [input_vectors(n, low, high, count, seed + number)
             for number, ((low, high), n) in enumerate(zip(ranges, counts))]
    return np.concatenate([vectors for vectors, _ in parts], axis=1), parts[0][1]


def _run_each(run, inputs: np.ndarray) -> tuple[np.ndarray | None, int | None, str | None]:
    """run(inputs) -> (outputs, None, None); on an interpreter error (index of the first failing vector, error)."""
    try:
        return np.asarray(run(inputs)).reshape(len(inputs), -1), None, None
    except InterpreterError as error:
        for index in range(len(inputs)):
            try:
                run(inputs[index:index + 1])
            except InterpreterError as single:
                return None, index, str(single)
        return None, 0, str(error)  # only the batch fails (a stream mixes vectors): name the first


def _usable(run, inputs: np.ndarray) -> np.ndarray:
    """The vectors on which the IR before the pass runs (the others are outside its domain)."""
    try:
        run(inputs)
        return np.ones(len(inputs), dtype=bool)
    except InterpreterError:
        keep = np.ones(len(inputs), dtype=bool)
        for index in range(len(inputs)):
            try:
                run(inputs[index:index + 1])
            except InterpreterError:
                keep[index] = False
        return keep


def _compare_exact(pass_name: str, run_before, run_after, inputs, labels, kind: str) -> str:
    keep = _usable(run_before, inputs)
    inputs, labels = inputs[keep], [label for label, k in zip(labels, keep) if k]
    if not len(inputs):
        return f"{pass_name}: not checked (the IR before it fails on every input vector)"
    expected = np.asarray(run_before(inputs)).reshape(len(inputs), -1)
    actual, index, error = _run_each(run_after, inputs)
    if actual is None:
        raise VerificationError(
            f"{pass_name} broke the IR (--verify-each): on input vector {index} ({labels[index]}) "
            f"{_format(inputs[index])} the IR after it fails: {error}")
    if actual.shape != expected.shape:
        raise VerificationError(f"{pass_name} changed the output size (--verify-each): "
                                f"{expected.shape[1]} elements before, {actual.shape[1]} after")
    if kind == "float":
        scale = np.maximum(np.abs(expected), 1.0)
        differs = np.abs(actual - expected) > FLOAT_RTOL * scale
    else:
        differs = actual != expected
    bad = np.flatnonzero(differs.any(axis=1))
    if bad.size:
        index = int(bad[0])
        element = int(np.flatnonzero(differs[index])[0])
        raise VerificationError(
            f"{pass_name} changed the result (--verify-each): on input vector {index} ({labels[index]}) "
            f"{_format(inputs[index])}: before {_format(expected[index])}, after {_format(actual[index])} "
            f"(output element {element}: {expected[index, element]} before, {actual[index, element]} after)")
    what = "bit-exact" if kind != "float" else f"equal to {FLOAT_RTOL:g} relative"
    return f"{pass_name}: {what} on {len(inputs)} input vectors"


def _code_range(function) -> tuple[int, int, int]:
    """(frac bits, min, max) of a quantized function's input codes."""
    quantize = body_ops(function)[0]
    return int_attr(quantize, "frac_bits"), int_attr(quantize, "min"), int_attr(quantize, "max")


def code_ranges(function) -> list[tuple[int, int]]:
    """(min, max) of each input's codes: the leading quantize of each argument of a quantized function."""
    quantizes = body_ops(function)[:len(function.type.inputs)]
    return [(int_attr(q, "min"), int_attr(q, "max")) for q in quantizes]
