"""Differential checking of every pass (`--verify-each`): the IR before and after a pass must compute the same.

The reference interpreter (`hardcore.interpreter`) runs the IR before and
after each pass on the same inputs: random ones and the extreme ones
(all-minimum, all-maximum, alternating signs both ways, zero).  The first pass
whose output differs stops the pipeline with a `VerificationError` naming the
pass, the input vector and both outputs.  What "differs" means depends on the
stages the pass goes between (docs/verification.md gives the reasons):

| before -> after                        | inputs                  | the check                             |
| -------------------------------------- | ----------------------- | ------------------------------------- |
| torch dialect -> anything              | -                       | none here (no interpreter for torch); |
|                                        |                         | `hardcore.compile` compares the torch |
|                                        |                         | model with the float layer IR instead |
| float layers -> float layers           | float vectors           | equal to 1e-9 relative                |
| float -> quantized (hardcore-quantize) | codes of the input grid | layer by layer within the rounding    |
|                                        |                         | the scheme allows (`check_quantize`)  |
| quantized -> quantized                 | input codes             | bit-exact                             |
| quantized -> DAG (fold-weights)        | input codes             | bit-exact                             |
| DAG -> DAG (pipeline, canonicalize)    | input codes             | bit-exact; a pipelined DAG runs as a  |
|                                        |                         | stream, each register a 1-cycle delay |
| DAG -> hw (hardcore-to-hw)             | input codes             | bit-exact in Icarus, when installed   |
| window -> decoder step (kv-decode)     | token code sequences    | each step bit-exact to the window's   |
|                                        |                         | row, from stale caches                |

The interpreter also checks every integer result against its declared width,
so an overflow after a pass fails the same way, with the vector that caused it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
from torch_mlir import ir

from hardcore.errors import CompileError
from hardcore.interpreter import _SEMANTICS, InterpreterError, causal_mask, find_function, run_decoder, run_function
from hardcore.irutil import array_attr, body_ops, float_attr, int_attr
from hardcore.mlir import location_text, new_context, parse_module

__all__ = ["VerificationError", "VerifyOptions", "extreme_inputs", "input_vectors", "verify_pass",
           "check_quantize", "check_import", "check_decoder", "check_step", "run_stream", "stage_of",
           "VerifyingPass", "run_verified", "qsoftmax_bound", "qnorm_bound"]

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
    n_in = _element_count(argument.type)
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


def run_stream(function, codes: np.ndarray) -> np.ndarray:
    """Run a DAG on a batch; a pipelined one (`hardcore.latency` L) as a stream, one vector a cycle.

    The vectors enter at cycles 0..N-1 followed by L copies of the last one;
    the result for vector i is the output at cycle i + L.
    """
    if "hardcore.latency" not in function.attributes:
        return run_function(function, codes)
    latency = int_attr(function, "hardcore.latency")
    stream = np.concatenate([codes, np.repeat(codes[-1:], latency, axis=0)])
    outputs = run_function(function, stream, semantics={"hardcore.reg": _delay})
    return outputs[latency:latency + len(codes)]


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


def verify_pass(pass_name: str, before_text: str, after, options: VerifyOptions = VerifyOptions(),
                circt: bool = False) -> str:
    """Check one pass: `before_text` is the module before it, `after` the module op after it.

    Returns what was checked (one line); raises VerificationError at a difference.
    With `circt`, `after` is a CIRCT module (after hardcore-to-hw).
    """
    before_module = parse_module(before_text, new_context(), "before")  # keeps `before` alive
    before = find_function(before_module.operation)
    before_stage = stage_of(before)
    if before_stage == "torch":
        return f"{pass_name}: not checked (the torch dialect has no interpreter; hardcore.compile " \
               f"compares the PyTorch model with the float layer IR instead)"
    if circt:
        return _check_hw(pass_name, before, after, options)
    after_function = find_function(after)
    if "hardcore.decoder" in after_function.attributes and "hardcore.decoder" in before.attributes:
        return check_step(pass_name, before, after_function, options)
    if "hardcore.decoder" in after_function.attributes:
        return check_decoder(pass_name, before, after_function, options)
    after_stage = stage_of(after_function)
    n_in = _element_count(before.type.inputs[0])
    if (before_stage, after_stage) == ("float", "float"):
        inputs, labels = _float_inputs(before, options)
        return _compare_exact(pass_name, lambda x: run_function(before, x), lambda x: run_function(after_function, x),
                              inputs, labels, "float")
    if (before_stage, after_stage) == ("float", "quantized"):
        return check_quantize(pass_name, before, after_function, options)
    if before_stage == "quantized" and after_stage in ("quantized", "integer"):
        _, low, high = _code_range(before)
        inputs, labels = input_vectors(n_in, low, high, options.vectors, options.seed)
        run_after = ((lambda x: run_function(after_function, x, from_quantized=True)) if after_stage == "quantized"
                     else (lambda x: run_stream(after_function, x)))
        return _compare_exact(pass_name, lambda x: run_function(before, x, from_quantized=True), run_after,
                              inputs, labels, "integer")
    if (before_stage, after_stage) == ("integer", "integer"):
        low, high = _input_bounds(before)
        inputs, labels = input_vectors(n_in, low, high, options.vectors, options.seed)
        return _compare_exact(pass_name, lambda x: run_stream(before, x), lambda x: run_stream(after_function, x),
                              inputs, labels, "integer")
    return f"{pass_name}: not checked (no comparison between {before_stage} IR and {after_stage} IR)"


def check_decoder(pass_name: str, before, after, options: VerifyOptions = VerifyOptions()) -> str:
    """hardcore-kv-decode: the step run position by position equals the window function's rows.

    Each vector is a token sequence of the window's T positions.  The caches start stale:
    as the previous vector's sequence left them (the hardware does not clear them), which
    the step must never read.
    """
    _, low, high = _code_range(before)
    argument = before.type.inputs[0]
    inputs, labels = input_vectors(_element_count(argument), low, high, options.vectors, options.seed)
    shape = [-1] + list(ir.RankedTensorType(argument).shape)
    decoder = ir.DictAttr(after.attributes["hardcore.decoder"])
    positions = int(ir.IntegerAttr(decoder["positions"]).value)
    argmax = "output" in decoder and ir.StringAttr(decoder["output"]).value != "logits"

    def run_before(codes):
        rows = run_function(before, codes, from_quantized=True)
        # output=argmax: the next token of each position, ties to the lowest index
        return np.argmax(rows.reshape(len(codes), positions, -1), axis=2) if argmax else rows

    def run_after(codes):
        tokens = codes.reshape(shape)
        _, stale = run_decoder(after, np.roll(tokens, 1, axis=0), from_quantized=True)
        return run_decoder(after, tokens, caches=stale, from_quantized=True)[0]

    return _compare_exact(pass_name, run_before, run_after, inputs, labels, "integer")


def check_step(pass_name: str, before, after, options: VerifyOptions = VerifyOptions()) -> str:
    """A decoder step to a decoder step (hardcore-fold-weights): every step's outputs and the caches
    after the last step equal, on token code sequences decoded from the caches the previous one left."""
    decoder = ir.DictAttr(before.attributes["hardcore.decoder"])
    positions = int(ir.IntegerAttr(decoder["positions"]).value)
    token_shape = list(ir.RankedTensorType(before.type.inputs[0]).shape)
    _, low, high = _code_range(before)
    inputs, labels = input_vectors(positions * int(np.prod(token_shape)), low, high, options.vectors, options.seed)

    def decode(function):
        quantized = stage_of(function) == "quantized"

        def run(codes):
            tokens = codes.reshape([-1, positions] + token_shape)
            _, stale = run_decoder(function, np.roll(tokens, 1, axis=0), from_quantized=quantized)
            outputs, caches = run_decoder(function, tokens, caches=stale, from_quantized=quantized)
            return np.concatenate([a.reshape(len(codes), -1) for a in [outputs] + caches], axis=1)
        return run

    return _compare_exact(pass_name, decode(before), decode(after), inputs, labels, "integer")


# -- hardcore-to-hw: the hw IR has no interpreter here; Icarus runs its Verilog ------------------

def _check_hw(pass_name: str, before, after, options: VerifyOptions) -> str:
    from hardcore import backend
    from hardcore.sim import simulate, tool_available

    if stage_of(before) != "integer":
        return f"{pass_name}: not checked (hw IR from {stage_of(before)} IR)"
    if "hardcore.decoder" in before.attributes:
        return f"{pass_name}: not checked here (a decoder step: `hardcore sim` runs the whole decoder)"
    if not options.simulate_hw or not tool_available("iverilog"):
        return f"{pass_name}: not checked (hw IR has no interpreter; Icarus (iverilog) runs it when installed)"
    low, high = _input_bounds(before)
    n_in = _element_count(before.type.inputs[0])
    out_type = ir.RankedTensorType(before.type.results[0])
    inputs, labels = input_vectors(n_in, low, high, options.vectors, options.seed)
    keep = _usable(lambda x: run_stream(before, x), inputs)
    inputs, labels = inputs[keep], [label for label, k in zip(labels, keep) if k]
    expected = run_stream(before, inputs).reshape(len(inputs), -1)
    latency = int_attr(before, "hardcore.latency") if "hardcore.latency" in before.attributes else None
    clock_enable = bool(latency) and ir.BoolAttr(before.attributes["hardcore.clock_enable"]).value
    out_width = ir.IntegerType(out_type.element_type).width
    unsigned = "hardcore.output_unsigned" in before.attributes  # the port drops the sign bit (argmax)
    out_width -= unsigned
    in_width = ir.IntegerType(ir.RankedTensorType(before.type.inputs[0]).element_type).width
    port = inputs
    if "hardcore.input_unsigned" in before.attributes:  # token ids: the port drops the sign bit
        in_width -= 1
        port = np.where(inputs >= 1 << (in_width - 1), inputs - (1 << in_width), inputs)  # their bits, signed
    verilog = backend.export_verilog(backend.to_circt(str(after)))  # export rewrites: a copy
    with tempfile.TemporaryDirectory(prefix="hardcore-verify-") as workdir:
        result = simulate(verilog, before.name.value, port, n_in=n_in, in_width=in_width,
                          n_out=_element_count(out_type), out_width=out_width, latency=latency or None,
                          clock_enable=clock_enable, workdir=Path(workdir), simulator="icarus")
    actual = result.outputs.reshape(len(inputs), -1)
    if unsigned:
        actual = actual & ((1 << out_width) - 1)
    differs = actual != expected
    bad = np.flatnonzero(differs.any(axis=1))
    if bad.size:
        index = int(bad[0])
        raise VerificationError(
            f"{pass_name} changed the result (--verify-each, its Verilog in Icarus): on input vector {index} "
            f"({labels[index]}) {_format(inputs[index])}: before {_format(expected[index])}, "
            f"after {_format(actual[index])}")
    return f"{pass_name}: bit-exact on {len(inputs)} input vectors (its Verilog in Icarus)"


# -- hardcore-quantize: float layers against exact integer layers --------------------------------

def _single_user(value):
    uses = list(value.uses)
    return uses[0].owner if len(uses) == 1 else None


def _is_clamp(op) -> bool:
    return op is not None and op.operation.name == "hardcore.activation" and \
        ir.StringAttr(op.attributes["fn"]).value == "clamp"


def _is_fake_quant(op) -> bool:
    return op is not None and op.operation.name == "hardcore.activation" and \
        ir.StringAttr(op.attributes["fn"]).value == "fake_quant"


def _input_fake_quant(function):
    """The fake_quant the input reaches through reshapes only, each the only user of the one before
    (hardcore-quantize takes the input's scale from it and emits nothing for it); or None."""
    value = function.regions[0].blocks[0].arguments[0]
    while (user := _single_user(value)) is not None and user.operation.name == "hardcore.reshape":
        value = user.results[0]
    user = _single_user(value)
    return user if _is_fake_quant(user) else None


def _float_layers(function) -> list[list]:
    """The float ops grouped as hardcore-quantize groups them: one group per quantized layer output.

    A dense layer takes its ReLU or clamp and then a fake_quant (QAT) that is
    the only user; an average pool, a residual add and a subtraction their ReLU.
    """
    groups, absorbed = [], set()
    for op in body_ops(function):
        name = op.operation.name
        if name == "func.return" or op in absorbed:
            continue
        group = [op]
        if name in ("hardcore.dense", "hardcore.avgpool", "hardcore.add_tensors", "hardcore.sub_tensors"):
            follower = _single_user(op.results[0])
            if follower is not None and follower.operation.name == "hardcore.relu":
                group.append(follower)
            elif name == "hardcore.dense" and _is_clamp(follower):
                group.append(follower)
            if name == "hardcore.dense" and not _is_clamp(group[-1]) and \
                    _is_fake_quant(follower := _single_user(group[-1].results[0])):
                group.append(follower)
        absorbed.update(group)
        groups.append(group)
    return groups


def _ends_group(group, op, seen_core: bool) -> bool:
    """Whether quantized `op` is the one whose result stands for float `group`'s result.

    hardcore-quantize emits each group's ops in order and contiguously: a dense
    or average pool (with its ReLU) and a clamp end in their requant, an
    activation in its table or requant, a residual add or a subtraction in the
    requant after the add (the requants before it align the operands), a
    product in the requant after it, a concat in the concat (the requants
    before it rescale the operands), a softmax in its qsoftmax, a layer norm in
    its qnorm, every other op in itself.  `seen_core`: the integer op of the
    float op's name (the add, the product) came before `op`.
    """
    first, name = group[0].operation.name, op.operation.name
    if first in ("hardcore.dense", "hardcore.avgpool"):
        return name == "hardcore.requant"
    if first == "hardcore.activation":
        return name in ("hardcore.requant", "hardcore.lut")
    if first in _REQUANTIZED_OPS:
        return seen_core and name == "hardcore.requant"
    return name == _QUANTIZED_NAME.get(first, first)


# Graph ops: several operands, each brought to one scale by the pass (requants before the op).
_GRAPH_OPS = ("hardcore.add_tensors", "hardcore.sub_tensors", "hardcore.concat")
# Products of two activations: exact, then requantized.
_PRODUCT_OPS = ("hardcore.mul_tensors", "hardcore.matmul")
# Float ops whose integer op of the same name is followed by the requant that ends the group.
_REQUANTIZED_OPS = ("hardcore.add_tensors", "hardcore.sub_tensors") + _PRODUCT_OPS
# Float ops that become an integer op of another name.
_QUANTIZED_NAME = {"hardcore.softmax": "hardcore.qsoftmax", "hardcore.layernorm": "hardcore.qnorm"}


def _pair_layers(groups, function, input_fake_quant) -> list | None:
    """The quantized op ending each float group (the pairing through the DAG); None if they do not pair.

    The input's fake_quant (`input_fake_quant`) has no op of its own: None stands for it.
    """
    ops = [op for op in body_ops(function)[1:] if op.operation.name not in ("hardcore.dequantize", "func.return")]
    pairs, position = [], 0
    for group in groups:
        if input_fake_quant is not None and group[0] == input_fake_quant:
            pairs.append(None)
            continue
        seen_core = False
        while position < len(ops) and not _ends_group(group, ops[position], seen_core):
            seen_core = seen_core or ops[position].operation.name == group[0].operation.name
            position += 1
        if position == len(ops):
            return None
        pairs.append(ops[position])
        position += 1
    return pairs if position == len(ops) else None


def _float_matrix(op) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) in float64 of a float dense or average pool (1/divisor on each window's taps)."""
    if op.operation.name == "hardcore.dense":
        weight = array_attr(op, "weight").astype(np.float64)
        return weight.reshape(weight.shape[0], -1), array_attr(op, "bias").astype(np.float64).reshape(-1)
    windows = array_attr(op, "windows").astype(np.int64)
    divisors = array_attr(op, "divisors").astype(np.float64).reshape(-1)
    weight = np.zeros((windows.shape[0], _element_count(op.operands[0].type)))
    rows, taps = np.nonzero(windows >= 0)
    np.add.at(weight, (rows, windows[rows, taps]), 1.0 / divisors[rows])
    return weight, np.zeros(windows.shape[0])


def _shifts(op, outputs: int) -> np.ndarray:
    """A requant's shift for each output (one integer, or an array with per-channel weight scales)."""
    attribute = op.attributes["shift"]
    if isinstance(attribute, ir.IntegerAttr):
        return np.full(outputs, int(ir.IntegerAttr(attribute).value), dtype=np.int64)
    return np.broadcast_to(array_attr(op, "shift").astype(np.int64).reshape(-1), (outputs,)).copy()


def _row_weight_fracs(weight_q, bias_q, weight_f, bias_f, frac_in) -> tuple[np.ndarray, np.ndarray]:
    """Each row's weight scale 2^-fw at which its integers and bias best match the float ones,
    and which rows fix it (rows of integer zeros fit any scale)."""
    rows = weight_q.shape[0]
    best_error, best = np.full(rows, np.inf), np.zeros(rows, dtype=np.int64)
    for frac_weight in range(-80, 81):
        error = np.maximum(np.abs(weight_q * 2.0 ** -frac_weight - weight_f).max(axis=1, initial=0.0),
                           np.abs(bias_q * 2.0 ** -(frac_in + frac_weight) - bias_f))
        better = error < best_error
        best_error[better], best[better] = error[better], frac_weight
    fixed = (weight_q != 0).any(axis=1) | (bias_q != 0)
    return best, fixed


def _requant_act_bits(op, unsigned: bool) -> int:
    """A requantized layer's act-bits, from its integer type: act-bits wide, one more bit when unsigned
    (so a layer a quantization config gives other act-bits is checked at its own)."""
    width = ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width
    return width - 1 if unsigned else width


def _saturation(op, group) -> tuple[int, int]:
    """The codes a requantized layer may saturate to: act-bits signed, or unsigned (one more bit)
    when its float result cannot be negative (a ReLU, a clamp at >= 0, an average pool).

    Not the requant's own bounds: a pass that saturates too early must not hide behind them.
    """
    last = group[-1]
    non_negative = last.operation.name == "hardcore.relu" or group[0].operation.name == "hardcore.avgpool" or (
        _is_clamp(last) and ir.FloatAttr(ir.DictAttr(last.attributes["params"])["min"]).value >= 0)
    unsigned = non_negative and int_attr(op, "min") >= 0
    act_bits = _requant_act_bits(op, unsigned)
    return (0, (1 << act_bits) - 1) if unsigned else _signed_bounds(act_bits)


def _signed_bounds(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _fail(pass_name: str, where: str, message: str):
    raise VerificationError(f"{pass_name} changed the result (--verify-each): {where}: {message}")


def _table_saturation(table, act_range) -> tuple[int, int]:
    """The codes a table may saturate to: act-bits signed, or unsigned (one more bit) when its entries
    are >= 0, or act-bits + 1 signed when its entries do not fit act-bits signed (`table-codes=wide`).
    Without the act-bits (`act_range` None: a model of token ids, whose input says nothing of them)
    its own lowest and highest entries, and each entry must then be within one step of the function
    unsaturated too."""
    if act_range is None:
        return int(table.min(initial=0)), int(table.max(initial=0))
    low, high = act_range
    if table.min(initial=0) >= 0:
        return 0, 2 * high + 1
    if table.min(initial=0) < low or table.max(initial=0) > high:
        return 2 * low, 2 * high + 1
    return low, high


def _table_frac(op, group, frac_in, act_range, pass_name: str, where: str) -> int:
    """Output scale of a `hardcore.lut`; checks every entry against its float function (half a step)."""
    table = array_attr(op, "table").astype(np.int64).reshape(-1)
    codes = int_attr(op, "min") + np.arange(table.size)
    values = _SEMANTICS["hardcore.activation"](group[0], [codes * 2.0 ** -frac_in]).astype(np.float64)
    low, high = _table_saturation(table, act_range)
    inside = (table > low) & (table < high)  # entries that did not saturate fix the scale
    fit = inside if inside.any() else np.ones(table.size, dtype=bool)
    frac_out = min(range(-80, 81), key=lambda f: float(np.abs(table[fit] * 2.0 ** -f - values[fit]).max()))
    step = 2.0 ** -frac_out
    error = np.abs(np.clip(values, low * step, high * step) - table * step)
    bad = np.flatnonzero(error > 0.5 * step * (1 + 1e-9) + 1e-12 * np.abs(values))
    if act_range is None:
        bad = np.union1d(bad, np.flatnonzero(np.abs(values - table * step) > step * (1 + 1e-9)))
    if bad.size:
        k = int(bad[0])
        _fail(pass_name, where, f"the table's entry for input code {int(codes[k])} is {int(table[k])} * 2^-{frac_out}"
              f" = {table[k] * step:.6g}, the function gives {values[k]:.6g} (more than half a step)")
    return frac_out


def _operand_scales(pass_name: str, where: str, float_op, quantized_op, frac: dict, trace: dict, paired: dict,
                    count: int) -> list:
    """Each operand of a quantized add or concat: the paired quantized value of the float operand,
    or a requant of it; returns (integers, frac bits) of each as the op reads them."""
    operands = []
    for k, (float_value, value) in enumerate(zip(float_op.operands, quantized_op.operands)):
        source, shift = value, 0
        if value != paired.get(float_value) and isinstance(value, ir.OpResult) and \
                value.owner.name == "hardcore.requant":
            source, shift = value.owner.operands[0], int(_shifts(value.owner, 1)[0])
        if source != paired.get(float_value):
            _fail(pass_name, where, f"its operand {k} is not the quantized value of the float operand {k}")
        operands.append((np.asarray(trace[value], dtype=np.float64).reshape(count, -1), frac[source] - shift))
    return operands


def _graph_op_scale(pass_name: str, where: str, group, op, frac: dict, trace: dict, paired: dict, shadow: dict,
                    act_range, quantize_width: int) -> tuple:
    """A residual add (with its ReLU) or a concat: (output frac bits, saturation, error bound a value).

    The operands must reach one scale; for an add exactly (left shifts: each
    aligned operand equals its float operand, the dequantized value of the
    layer before), so the sum is exact and only its requantization rounds;
    for a concat each operand is rounded (half up) to the common scale.
    Either way the result is within half an output step of the float op on
    the dequantized inputs, saturated to act-bits (unsigned, one more bit,
    after a ReLU or when the concat's type is that wide; the lower bound is
    always act-bits' signed one, so negative values clamped to 0 are caught).
    """
    count = len(next(iter(shadow.values())))
    if group[0].operation.name == "hardcore.concat":
        operands = _operand_scales(pass_name, where, group[0], op, frac, trace, paired, count)
        fracs = sorted({f for _, f in operands})
        if len(fracs) > 1:
            _fail(pass_name, where, f"its operands are at different scales 2^-{fracs}")
        frac_out = fracs[0]
        width = ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width
        if act_range is None:  # token ids: act-bits from the concat's type (unsigned: one bit wider)
            low, high = _signed_bounds(width)
            high_sat = high
        else:
            low, high = act_range
            high_sat = 2 * high + 1 if width > quantize_width else high
    else:
        add = op.operands[0].owner
        relu = None
        if add.name == "hardcore.relu":
            relu, add = add, add.operands[0].owner
        if add.name != group[0].operation.name or (relu is None) != (len(group) == 1):
            what = "add" if add.name == "hardcore.add_tensors" else "subtraction"
            _fail(pass_name, where, f"it is not the requantized {what} (and ReLU) of the float {what}")
        operands = _operand_scales(pass_name, where, group[0], add, frac, trace, paired, count)
        fracs = sorted({f for _, f in operands})
        if len(fracs) > 1:
            _fail(pass_name, where, f"its operands are added at different scales 2^-{fracs}")
        for k, (integers, operand_frac) in enumerate(operands):
            float_value = np.asarray(shadow[group[0].operands[k]], dtype=np.float64).reshape(count, -1)
            if not np.array_equal(integers * 2.0 ** -operand_frac, float_value):
                vector, element = np.argwhere(integers * 2.0 ** -operand_frac != float_value)[0]
                _fail(pass_name, where, f"operand {k} aligned to 2^-{operand_frac} is "
                      f"{integers[vector, element] * 2.0 ** -operand_frac:.6g}, not its input "
                      f"{float_value[vector, element]:.6g} (input vector {vector}, element {element}): "
                      f"the alignment must be exact")
        frac_out = fracs[0] - int(_shifts(op, 1)[0])
        # act-bits from the requant's type; the lower bound act-bits' signed one even after a ReLU
        low, high = _signed_bounds(_requant_act_bits(op, relu is not None))
        high_sat = 2 * high + 1 if relu is not None else high
    step = 2.0 ** -frac_out
    expected = np.asarray(shadow[group[-1].results[0]])
    return frac_out, low * step, high_sat * step, np.full((count, expected.size // count), 0.5 * step)


def _layer_scale(pass_name: str, where: str, group, op, frac: dict, trace: dict, paired: dict, expected,
                 act_range) -> tuple:
    """A layer of a chain (dense, pool, table, clamp, shape op): its weights, bias and table checked;
    (output frac bits, lowest and highest float value it may saturate to, error bound a value)."""
    name = op.operation.name
    layer_ops = [op]
    while layer_ops[-1].operands[0] not in frac:  # back to the layer's input (requant <- relu <- dense)
        layer_ops.append(layer_ops[-1].operands[0].owner)
    source = layer_ops[-1].operands[0]
    if group[0].operands and source != paired.get(group[0].operands[0]):
        _fail(pass_name, where, "its input is not the quantized value of the float layer's input")
    x = np.asarray(trace[source], dtype=np.float64).reshape(len(expected), -1) * 2.0 ** -frac[source]
    dense = next((o for o in layer_ops if o.operation.name == "hardcore.dense"), None)
    if name == "hardcore.requant":
        bound = np.zeros_like(expected)
        shifts = _shifts(op, expected.shape[1])
        frac_out = frac[source] - int(shifts[0])
        if dense is not None:
            weight_f, bias_f = _float_matrix(group[0])
            weight_q = array_attr(dense, "weight").astype(np.float64).reshape(weight_f.shape)
            bias_q = array_attr(dense, "bias").astype(np.float64).reshape(-1)
            # a dense over R rows (a sequence): every row shifted alike
            rows = expected.shape[1] // max(weight_f.shape[0], 1)
            row_shifts = shifts.reshape(rows, -1)
            if (row_shifts != row_shifts[:1]).any():
                _fail(pass_name, where, "its rows are shifted differently")
            shifts = row_shifts[0]
            # one weight scale per row (weight-scale=per-channel: each row its own, and
            # the requant shifts each output by its own amount)
            frac_weight, fixed = _row_weight_fracs(weight_q, bias_q, weight_f, bias_f, frac[source])
            outputs = frac[source] + frac_weight - shifts
            if fixed.any():
                if len(set(outputs[fixed].tolist())) > 1:
                    _fail(pass_name, where, f"its outputs are at different scales 2^-{sorted(set(outputs[fixed].tolist()))}")
                frac_out = int(outputs[fixed][0])
            frac_weight = np.where(fixed, frac_weight, frac_out + shifts - frac[source])
            frac_acc = frac[source] + frac_weight
            row_unit = 2.0 ** -frac_weight.astype(np.float64)
            weight_error = np.abs(weight_q * row_unit[:, None] - weight_f)
            # A row whose integers are all multiples of 2^k was rounded with a step 2^k coarser.
            row_gcd = np.gcd.reduce(np.abs(weight_q).astype(np.int64), axis=1)
            row_step = np.where(row_gcd > 0, row_gcd & -row_gcd, 1) * row_unit
            too_far = weight_error > row_step[:, None] * (1 + 1e-9)
            if too_far.any():
                i, j = np.argwhere(too_far)[0]
                _fail(pass_name, where, f"weight [{i}, {j}] is {int(weight_q[i, j])} * 2^-{frac_weight[i]} = "
                      f"{weight_q[i, j] * row_unit[i]:.6g}, the float weight {weight_f[i, j]:.6g} "
                      f"(more than one step)")
            acc_unit = 2.0 ** -frac_acc.astype(np.float64)
            bias_error = np.abs(bias_q * acc_unit - bias_f)
            if (bias_error > 0.5 * acc_unit * (1 + 1e-9)).any():
                i = int(np.argmax(bias_error / acc_unit))
                _fail(pass_name, where, f"bias [{i}] is {int(bias_q[i])} * 2^-{frac_acc[i]} = "
                      f"{bias_q[i] * acc_unit[i]:.6g}, the float bias {bias_f[i]:.6g} (more than half a step)")
            bound = (np.abs(x).reshape(len(x), rows, -1) @ weight_error.T + bias_error).reshape(len(x), -1)
        step = 2.0 ** -frac_out
        low_sat, high_sat = (bound_code * step for bound_code in _saturation(op, group))
        bound = bound + step
    elif name == "hardcore.lut":
        frac_out = _table_frac(op, group, frac[source], act_range, pass_name, where)
        step = 2.0 ** -frac_out
        low_sat, high_sat = (code * step for code in _table_saturation(array_attr(op, "table"), act_range))
        bound = np.full_like(expected, 0.5 * step)
    else:  # max pool, relu, reshape, gather, argmax: exact
        frac_out = 0 if name == "hardcore.argmax" else frac[source]
        low_sat, high_sat, bound = -np.inf, np.inf, np.zeros_like(expected)
    if _is_fake_quant(group[-1]):  # QAT: the model's own scale; its float op saturates at its codes itself
        model_frac = _fake_quant_codes(group[-1])[0]
        if frac_out != model_frac:
            _fail(pass_name, where, f"its scale is 2^-{frac_out}, the model's fake_quant's 2^-{model_frac}")
        low_sat, high_sat = -np.inf, np.inf
    return frac_out, low_sat, high_sat, bound


def _fake_quant_codes(op) -> tuple[int, int, int]:
    """A fake_quant's (frac bits, lowest code, highest code)."""
    params = ir.DictAttr(op.attributes["params"])
    return tuple(int(ir.FloatAttr(params[key]).value) for key in ("frac_bits", "min", "max"))


# -- sequence-model ops: embedding tables, products of activations, qsoftmax, qnorm -------------

def _check_input(pass_name: str, where: str, float_op, value, paired: dict) -> None:
    if value != paired.get(float_op.operands[0]):
        _fail(pass_name, where, "its input is not the quantized value of the float layer's input")


def _embedding_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                     count: int) -> tuple:
    """An embedding: every code within half a step of its float entry (clipped to the codes' range) and
    within one step unclipped (the largest may saturate); the outputs are entries, so within half a step."""
    _check_input(pass_name, where, float_op, op.operands[0], paired)
    codes = array_attr(op, "table").astype(np.int64)
    table = array_attr(float_op, "table").astype(np.float64)
    if codes.shape != table.shape:
        _fail(pass_name, where, f"its table is {list(codes.shape)}, the float table {list(table.shape)}")
    low, high = int(codes.min(initial=0)), int(codes.max(initial=0))
    inside = (codes > low) & (codes < high)  # entries that did not saturate fix the scale
    fit = inside if inside.any() else np.ones(codes.shape, dtype=bool)
    frac_out = min(range(-80, 81), key=lambda f: float(np.abs(codes[fit] * 2.0 ** -f - table[fit]).max(initial=0.0)))
    step = 2.0 ** -frac_out
    far = (np.abs(np.clip(table, low * step, high * step) - codes * step) > 0.5 * step * (1 + 1e-9)) | \
        (np.abs(table - codes * step) > step * (1 + 1e-9))
    if far.any():
        index = tuple(int(i) for i in np.argwhere(far)[0])
        _fail(pass_name, where, f"its table's entry {list(index)} is {int(codes[index])} * 2^-{frac_out} = "
              f"{codes[index] * step:.6g}, the float entry {table[index]:.6g} (more than half a step)")
    outputs = _element_count(op.results[0].type)
    return frac_out, low * step, high * step, np.full((count, outputs), 0.5 * step)


def _product_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                   count: int) -> tuple:
    """A product of two activations (`mul_tensors`, `matmul`): the integer product of the paired operands,
    exact at fa + fb, requantized within half an output step (saturated to act-bits from the type)."""
    product = op.operands[0].owner if isinstance(op.operands[0], ir.OpResult) else None
    if op.operation.name != "hardcore.requant" or product is None or product.name != float_op.operation.name:
        _fail(pass_name, where, "it is not the requantized product of the float product")
    for k, (float_value, value) in enumerate(zip(float_op.operands, product.operands)):
        if value != paired.get(float_value):
            _fail(pass_name, where, f"its operand {k} is not the quantized value of the float operand {k}")
    frac_out = frac[product.operands[0]] + frac[product.operands[1]] - int(_shifts(op, 1)[0])
    unsigned = int_attr(op, "min") >= 0
    low, high = _signed_bounds(_requant_act_bits(op, unsigned))  # the lower bound signed even when unsigned
    step = 2.0 ** -frac_out
    outputs = _element_count(op.results[0].type)
    return frac_out, low * step, (2 * high + 1 if unsigned else high) * step, np.full((count, outputs), 0.5 * step)


def qsoftmax_bound(kept, exp_frac: int, recip_frac: int, sum_shift: int, out_frac: int, clipped) -> np.ndarray:
    """V of docs/dialect.md: how far a qsoftmax's value before its output rounding lies from the
    probability, in output steps, for rows of `kept` elements whose tables are correctly rounded.

    n/2 of an exp unit from rounding the exponentials, half a reciprocal index
    2^(sum_shift-1) (a whole one where the table's end clips the sum: `clipped`),
    half a reciprocal unit, each relative to the smallest sum 2^exp_frac.  The
    output then rounds by half a step more, and a probability above the
    largest code saturates.
    """
    kept = np.asarray(kept, dtype=np.float64)
    index = np.where(clipped, 2.0, 1.0) * 2.0 ** (sum_shift - exp_frac + out_frac - 1)
    return (kept * 2.0 ** (out_frac - exp_frac - 1) + 2.0 ** (out_frac - recip_frac - 2) + index
            + 2.0 ** (out_frac + exp_frac - recip_frac - 1))


def _qsoftmax_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                    count: int) -> tuple:
    """A qsoftmax: its exp and reciprocal tables checked entry by entry against their definitions
    (half a unit), its probabilities within (1/2 + V) output steps of the float softmax (clipped to the
    largest code; V: `qsoftmax_bound`), and the masked ones exactly 0."""
    source = op.operands[0]
    _check_input(pass_name, where, float_op, source, paired)
    causal = int_attr(op, "causal")
    if causal != int_attr(float_op, "causal"):
        _fail(pass_name, where, f"its causal mask is {causal}, the float softmax's {int_attr(float_op, 'causal')}")
    in_frac, scale = frac[source], float_attr(float_op, "scale")
    exp_table = array_attr(op, "exp_table").astype(np.int64).reshape(-1)
    recip_table = array_attr(op, "recip_table").astype(np.int64).reshape(-1)
    exp_min, sum_shift = int_attr(op, "exp_min"), int_attr(op, "sum_shift")
    out_frac = ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width - 1
    recip_frac = int_attr(op, "shift") + out_frac
    top = int(exp_table[-1]) if exp_table.size else 0
    if top <= 0 or top & (top - 1):
        _fail(pass_name, where, f"its exp table's entry for 0 is {top}, not a power of two")
    exp_frac = top.bit_length() - 1
    differences = exp_min + np.arange(exp_table.size)
    exponentials = np.exp(scale * differences * 2.0 ** -in_frac) * 2.0 ** exp_frac
    bad = np.flatnonzero(np.abs(exp_table - exponentials) > 0.5 * (1 + 1e-9))
    if bad.size:
        k = int(bad[0])
        _fail(pass_name, where, f"its exp table's entry for {int(differences[k])} is {int(exp_table[k])}, "
              f"exp({scale:g} * {int(differences[k])} * 2^-{in_frac}) * 2^{exp_frac} = {exponentials[k]:.6g} "
              f"(more than half a unit)")
    sums = np.maximum(np.arange(recip_table.size, dtype=np.float64) * 2.0 ** sum_shift, 2.0 ** exp_frac)
    reciprocals = 2.0 ** recip_frac / sums
    bad = np.flatnonzero(np.abs(recip_table - reciprocals) > 0.5 * (1 + 1e-9))
    if bad.size:
        k = int(bad[0])
        _fail(pass_name, where, f"its reciprocal table's entry {k} is {int(recip_table[k])}, 2^{recip_frac} / "
              f"{sums[k]:.0f} = {reciprocals[k]:.6g} (more than half a unit)")
    shape = list(ir.RankedTensorType(source.type).shape)
    codes = np.asarray(trace[source], dtype=np.int64).reshape([count] + shape)
    keep = np.broadcast_to(causal_mask(shape) if causal else np.ones(shape, dtype=bool), codes.shape)
    row_max = np.where(keep, codes, np.iinfo(np.int64).min).max(axis=-1, keepdims=True)
    if exp_table[0] != 0 and (keep & (codes - row_max < exp_min)).any():
        _fail(pass_name, where, f"a difference below exp_min {exp_min} reads its exp table's first entry, "
              f"{int(exp_table[0])}, not 0")
    kept = keep.sum(axis=-1, keepdims=True)
    largest = ((kept.astype(np.int64) << exp_frac) + ((1 << sum_shift) >> 1)) >> sum_shift
    bound = qsoftmax_bound(kept, exp_frac, recip_frac, sum_shift, out_frac, largest > recip_table.size - 1)
    step = 2.0 ** -out_frac
    bound = np.where(keep, (0.5 + bound) * step, 0.0)
    return out_frac, 0.0, ((1 << out_frac) - 1) * step, bound.reshape(count, -1)


def qnorm_bound(codes, rms: bool, sq_shift: int, table_size: int, recip_frac: int, offset: float) -> np.ndarray:
    """How far each element of a qnorm before its output rounding lies from the float norm, in output
    units, for integer inputs `codes` (rows last) and a correctly rounded table of `table_size` entries:
    |c| (2^-(f_r+1) + sqrt(D) |1/sqrt(max(Q_k + E, 1)) - 1/sqrt(Q + E)|) (docs/dialect.md)."""
    codes = np.asarray(codes, dtype=np.int64)
    size = codes.shape[-1]
    centred = codes if rms else size * codes - codes.sum(axis=-1, keepdims=True)
    squares = (centred * centred).sum(axis=-1, keepdims=True)
    index = np.minimum(((squares + ((1 << sq_shift) >> 1)) >> sq_shift), table_size - 1)
    table_squares = np.where(index > 0, index * 2.0 ** sq_shift, 2.0 ** (sq_shift - 1) if sq_shift > 0 else 0.0)
    exact = squares + offset
    error = np.abs(1.0 / np.sqrt(np.maximum(table_squares + offset, 1.0))
                   - 1.0 / np.sqrt(np.where(exact > 0, exact, 1.0)))
    return np.abs(centred) * (2.0 ** -(recip_frac + 1) + np.sqrt(size) * np.where(exact > 0, error, 0.0))


def _qnorm_scale(pass_name: str, where: str, float_op, op, frac: dict, trace: dict, paired: dict,
                 count: int) -> tuple:
    """A qnorm: its inverse square-root table checked entry by entry against its definition (half a
    unit, the scale 2^f_r the one that fits it best), each output within half a step plus `qnorm_bound`
    of the float norm (saturated to act-bits from the type)."""
    source = op.operands[0]
    _check_input(pass_name, where, float_op, source, paired)
    rms = int_attr(op, "rms")
    if rms != int_attr(float_op, "rms"):
        _fail(pass_name, where, f"its rms is {rms}, the float layer norm's {int_attr(float_op, 'rms')}")
    in_frac, eps = frac[source], float_attr(float_op, "eps")
    shape = list(ir.RankedTensorType(source.type).shape)
    size = shape[-1]
    table = array_attr(op, "rsqrt_table").astype(np.int64).reshape(-1)
    sq_shift = int_attr(op, "sq_shift")
    offset = eps * (size if rms else size ** 3) * 2.0 ** (2 * in_frac)
    squares = np.arange(table.size, dtype=np.float64) * 2.0 ** sq_shift
    squares[:1] = 2.0 ** (sq_shift - 1) if sq_shift > 0 else 0.0
    gains = np.sqrt(size) / np.sqrt(np.maximum(squares + offset, 1.0))
    recip_frac = min(range(-80, 81), key=lambda f: float(np.abs(table - 2.0 ** f * gains).max(initial=0.0)))
    ideal = 2.0 ** recip_frac * gains
    bad = np.flatnonzero(np.abs(table - ideal) > 0.5 * (1 + 1e-9))
    if bad.size:
        k = int(bad[0])
        _fail(pass_name, where, f"its inverse square-root table's entry {k} is {int(table[k])}, 2^{recip_frac} * "
              f"sqrt({size}) / sqrt(max({squares[k]:.0f} + {offset:.6g}, 1)) = {ideal[k]:.6g} (more than half a unit)")
    out_frac = recip_frac - int_attr(op, "shift")
    codes = np.asarray(trace[source], dtype=np.int64).reshape([count] + shape)
    step = 2.0 ** -out_frac
    bound = 0.5 * step + qnorm_bound(codes, bool(rms), sq_shift, table.size, recip_frac, offset)
    low, high = _signed_bounds(ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width)
    return out_frac, low * step, high * step, bound.reshape(count, -1)


_SEQUENCE_CHECKS = {"hardcore.embedding": _embedding_scale, "hardcore.mul_tensors": _product_scale,
                    "hardcore.matmul": _product_scale, "hardcore.softmax": _qsoftmax_scale,
                    "hardcore.layernorm": _qnorm_scale}


def check_quantize(pass_name: str, before, after, options: VerifyOptions) -> str:
    """hardcore-quantize, layer by layer: each quantized layer computes its float layer on the same input.

    Inputs are codes of the input grid (x = code * 2^-frac_in, so rounding the
    input is exact).  For each layer output of the quantized IR (requant, lut,
    maxpool, reshape, gather, relu, argmax, add, concat) the float ops it stands for run on the
    dequantized quantized input of that layer, so errors do not accumulate:
    - a requantized dense or average-pool layer (with its ReLU or clamp): the
      weight scale 2^-fw is the one at which the integer weights best match
      the float ones; every integer weight must be within one step of its float
      weight (half a step rounding, the largest may saturate by one), every
      bias within half a step of the accumulator (2^-(f_in+fw)).  The output
      scale is then 2^-(f_in+fw-shift), and the float result, saturated to
      the requant's range, must be within sum_j |dW_ij x_j| + |db_i| + one
      output step (half rounding, half a rounded clamp bound) of the
      dequantized integers, dW and db the actual weight and bias errors;
    - a requant on its own (a clamp): within one output step;
    - a table (activation): every entry within half an output step of the
      function at its input code (saturated to act-bits), the output scale
      fixed by the entries that did not saturate; the layer's outputs likewise;
    - max pool, ReLU, reshape, gather, argmax: exactly equal.
    - a residual add (with its ReLU): each operand, as the add reads it (after
      the pass's aligning requant, if any), must be exactly its float operand
      (the paired dequantized value) and both at one scale, so the sum is
      exact; the requantized sum within half an output step of the float sum
      (saturated to act-bits, unsigned after a ReLU);
    - a concat: its operands at one scale; within half an output step;
    - a fake_quant (QAT): on the input, the hardcore.quantize must have its
      scale and codes; absorbed into a dense layer or on its own, the layer's
      output scale must be the fake_quant's, the float op saturating itself;
    - sequence-model ops: a subtraction as an add; an embedding's codes, a
      qsoftmax's and a qnorm's tables entry by entry, a product of the paired
      operands exactly, then each within its bound (`_embedding_scale`,
      `_product_scale`, `_qsoftmax_scale`, `_qnorm_scale`; docs/verification.md).
    Pairing goes through the DAG: the float ops are grouped as the pass groups
    them, each group is paired with the quantized op that ends its contiguous
    run of emitted ops, and every quantized layer must read the quantized
    values paired with its float operands (directly, or through the requants
    the pass inserts before an add or a concat).  The dequantize must read the
    value paired with the float result, at its scale.
    """
    frac_in, low, high = _code_range(after)
    # the input's range is act-bits', which concats and tables take, unless the input is token ids
    tokens = isinstance(ir.RankedTensorType(before.type.inputs[0]).element_type, ir.IntegerType)
    act_range = None if tokens else (low, high)
    n_in = _element_count(before.type.inputs[0])
    codes, labels = input_vectors(n_in, low, high, options.vectors, options.seed)
    inputs = codes * 2.0 ** -frac_in
    trace: dict = {}
    try:
        run_function(after, inputs, trace=trace)
    except InterpreterError as error:
        raise VerificationError(f"{pass_name} broke the IR (--verify-each): the IR after it fails: {error}") from None
    quantize = body_ops(after)[0]
    trace[quantize.results[0]] = codes.reshape(trace[quantize.results[0]].shape)
    groups = _float_layers(before)
    input_fake_quant = _input_fake_quant(before)
    layers = _pair_layers(groups, after, input_fake_quant)
    if layers is None:
        raise VerificationError(f"{pass_name}: cannot pair the layers (--verify-each): the quantized ops do not "
                                f"follow the {len(groups)} float layer outputs in order")
    dequantize = next(op for op in body_ops(after) if op.operation.name == "hardcore.dequantize")
    frac = {quantize.results[0]: frac_in}  # quantized value -> its fractional bits
    argument = before.regions[0].blocks[0].arguments[0]
    paired = {argument: quantize.results[0]}  # float value -> the quantized value that stands for it
    quantize_width = ir.IntegerType(ir.RankedTensorType(quantize.results[0].type).element_type).width
    shadow = {argument: inputs.reshape([len(inputs)] + list(ir.RankedTensorType(argument.type).shape))}
    index = -1
    for group, op in zip(groups, layers):
        for float_op in group:  # the float layer on what the quantized IR holds for its input
            shadow[float_op.results[0]] = np.reshape(_SEMANTICS[float_op.operation.name](
                float_op, [shadow[v] for v in float_op.operands]),
                [len(inputs)] + list(ir.RankedTensorType(float_op.results[0].type).shape))
        if op is None:  # the input's fake_quant: the hardcore.quantize must be exactly it
            model = _fake_quant_codes(group[0])
            if (frac_in, low, high) != model:
                _fail(pass_name, f"the input's fake_quant at {location_text(group[0].location)}",
                      f"the input is quantized at 2^-{frac_in} to [{low}, {high}], the model's fake_quant at "
                      f"2^-{model[0]} to [{model[1]}, {model[2]}]")
            paired[group[0].results[0]] = paired[group[0].operands[0]]
            continue
        index += 1
        expected = np.asarray(shadow[group[-1].results[0]], dtype=np.float64).reshape(len(inputs), -1)
        actual = np.asarray(trace[op.results[0]]).reshape(len(inputs), -1)
        name = op.operation.name
        where = f"layer output {index} ('{name}' at {location_text(op.location)})"
        if group[0].operation.name in _GRAPH_OPS:
            frac_out, low_sat, high_sat, bound = _graph_op_scale(pass_name, where, group, op, frac, trace, paired,
                                                                 shadow, act_range, quantize_width)
        elif group[0].operation.name in _SEQUENCE_CHECKS:
            frac_out, low_sat, high_sat, bound = _SEQUENCE_CHECKS[group[0].operation.name](
                pass_name, where, group[0], op, frac, trace, paired, len(inputs))
        else:
            frac_out, low_sat, high_sat, bound = _layer_scale(pass_name, where, group, op, frac, trace, paired,
                                                              expected, act_range)
        if op.results[0] == dequantize.operands[0] and frac_out != int_attr(dequantize, "frac_bits"):
            _fail(pass_name, where, f"the last layer's scale is 2^-{frac_out}, the dequantize's "
                  f"2^-{int_attr(dequantize, 'frac_bits')}")
        scaled = actual * 2.0 ** -frac_out
        error = np.abs(np.clip(expected, low_sat, high_sat) - scaled)
        differs = error > bound * (1 + 1e-9) + 1e-12 * np.abs(expected)
        if differs.any():
            vector, element = np.argwhere(differs)[0]
            _fail(pass_name, where,
                  f"on input vector {vector} ({labels[vector]}) {_format(inputs[vector])}: the float layer gives "
                  f"{expected[vector, element]:.6g} (saturated to [{low_sat:g}, {high_sat:g}]), the quantized one "
                  f"{actual[vector, element]} * 2^-{frac_out} = {scaled[vector, element]:.6g} (output element "
                  f"{element}), more than the rounding bound {bound[vector, element]:.6g}")
        frac[op.results[0]] = frac_out
        paired[group[-1].results[0]] = op.results[0]
        shadow[group[-1].results[0]] = scaled.reshape(np.shape(shadow[group[-1].results[0]]))
    result = next(op for op in body_ops(before) if op.operation.name == "func.return").operands[0]
    if paired.get(result) != dequantize.operands[0]:
        _fail(pass_name, f"the dequantize at {location_text(dequantize.location)}",
              "its input is not the quantized value of the float result")
    return (f"{pass_name}: each of {index + 1} layers within its rounding bound on {len(inputs)} "
            f"input vectors of the input grid")


def check_import(model, example_input, float_text: str, options: VerifyOptions = VerifyOptions(),
                 output: str = "logits") -> str:
    """hardcore-import, from the PyTorch model (the torch dialect has no interpreter): float32 vs float64.

    Inputs: the 5 extreme vectors with elements in [-4, 4] and standard-normal ones (token ids:
    the extreme and random ids of the embeddings' vocabulary).
    Equal when |torch - interpreter| <= IMPORT_RTOL * (1 + max |torch output| of that vector).
    With output="argmax" the IR's index must pick a model output within that
    tolerance of the model's largest (near-ties may round either way).
    """
    import torch

    float_module = parse_module(float_text, new_context(), "hardcore")  # keeps `function` alive
    function = find_function(float_module.operation)
    shape = list(example_input.shape[1:])
    n_in = int(np.prod(shape))
    rng = np.random.default_rng(options.seed)
    tokens = not torch.is_floating_point(torch.as_tensor(example_input))
    if tokens:  # token ids: every vocabulary of the embeddings that read them holds [0, V - 1]
        vocabulary = min(array_attr(op, "table").shape[1] for op in body_ops(function)
                         if op.operation.name == "hardcore.embedding")
        inputs, labels = input_vectors(n_in, 0, vocabulary - 1, options.vectors, options.seed)
    else:
        inputs = np.concatenate([extreme_inputs(n_in, -4, 4).astype(np.float64),
                                 rng.standard_normal((options.vectors, n_in))])
        labels = list(EXTREME_LABELS) + [f"random #{i}" for i in range(options.vectors)]
    forward = model.module() if not isinstance(model, torch.nn.Module) and hasattr(model, "module") else model
    with torch.no_grad():
        expected = forward(torch.tensor(inputs.reshape([len(inputs)] + shape),
                                        dtype=torch.long if tokens else torch.float32))
    expected = np.asarray(expected.detach().numpy(), dtype=np.float64).reshape(len(inputs), -1)
    actual = np.asarray(run_function(function, inputs), dtype=np.float64).reshape(len(inputs), -1)
    if output == "argmax" and actual.shape[1] == 1:
        tolerance = IMPORT_RTOL * (1 + np.abs(expected).max(axis=1))
        picked = expected[np.arange(len(inputs)), actual[:, 0].astype(np.int64).clip(0, expected.shape[1] - 1)]
        bad = np.flatnonzero((picked < expected.max(axis=1) - tolerance) | (actual[:, 0] >= expected.shape[1]))
        if bad.size:
            index = int(bad[0])
            raise VerificationError(
                f"hardcore-import changed the result (--verify-each): on input vector {index} ({labels[index]}) "
                f"{_format(inputs[index])}: the model gives {_format(expected[index])}, the IR's argmax "
                f"{int(actual[index, 0])}")
        return f"hardcore-import: the model's argmax (within {IMPORT_RTOL:g} relative) on {len(inputs)} input vectors"
    if actual.shape != expected.shape:
        raise VerificationError(f"hardcore-import changed the output size (--verify-each): {expected.shape[1]} "
                                f"elements in the model, {actual.shape[1]} in the IR")
    tolerance = IMPORT_RTOL * (1 + np.abs(expected).max(axis=1, keepdims=True))
    differs = np.abs(actual - expected) > tolerance
    bad = np.flatnonzero(differs.any(axis=1))
    if bad.size:
        index = int(bad[0])
        raise VerificationError(
            f"hardcore-import changed the result (--verify-each): on input vector {index} ({labels[index]}) "
            f"{_format(inputs[index])}: the model gives {_format(expected[index])}, the IR "
            f"{_format(actual[index])} (tolerance {float(tolerance[index, 0]):.3g})")
    return f"hardcore-import: within {IMPORT_RTOL:g} relative of the PyTorch model on {len(inputs)} input vectors"


# -- the pass-manager level: a hardcore pass that checks itself -----------------------------------

class VerifyingPass:
    """Wraps a hardcore ModulePass for a torch-mlir PassManager: runs it, then `verify_pass`.

    A difference is an error diagnostic at the module and a pass failure.
    """

    def __init__(self, inner, options: VerifyOptions = VerifyOptions(), report=None):
        self.inner, self.options, self.report = inner, options, report
        self.name = inner.name

    def __call__(self, op, pass_) -> None:
        before = op.get_asm(large_elements_limit=None)
        recorder = _FailureRecorder(pass_)
        self.inner(op, recorder)
        if recorder.failed:
            return  # the pass failed and said why: nothing to compare
        try:
            with op.context:
                summary = verify_pass(self.name, before, op, self.options)
        except VerificationError as error:
            op.location.emit_error(str(error))
            pass_.signal_pass_failure()
            return
        if self.report is not None:
            self.report(summary)


class _FailureRecorder:
    """Stands for the PassManager's pass handle and remembers a failure."""

    def __init__(self, pass_):
        self.pass_, self.failed = pass_, False

    def signal_pass_failure(self) -> None:
        self.failed = True
        self.pass_.signal_pass_failure()


def run_verified(module, steps, filename: str, overrides: dict | None, line_offset: int,
                 options: VerifyOptions = VerifyOptions(), report=None):
    """`hardcore.pipeline.run_pipeline` one step at a time, each checked by `verify_pass`.

    hardcore-to-hw and the CIRCT passes after it are checked together (their
    Verilog in Icarus against the DAG before hardcore-to-hw).
    """
    from hardcore.pipeline import PipelineResult, run_pipeline
    from hardcore.passes import ToHwPass

    report = report or (lambda summary: None)
    result = PipelineResult(module, False)
    for index, step in enumerate(steps):
        before = module.operation.get_asm(large_elements_limit=None)
        if step.name == ToHwPass.name:
            result = run_pipeline(module, steps[index:], filename=filename, overrides=overrides,
                                  line_offset=line_offset)
            report(verify_pass(step.name, before, result.module, options, circt=True))
            return result
        result = run_pipeline(module, [step], filename=filename, overrides=overrides, line_offset=line_offset)
        report(verify_pass(step.name, before, module.operation, options))
    return result
