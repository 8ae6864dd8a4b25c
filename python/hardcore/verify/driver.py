"""One pass checked: `verify_pass` picks the comparison that the stages before and after the pass call for;
`VerifyingPass` and `run_verified` run it after every pass (`--verify-each`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from torch_mlir import ir

from hardcore.interpreter import find_function, run_decoder, run_function, run_reuse_steps
from hardcore.irutil import array_attr, body_ops, int_attr
from hardcore.mlir import new_context, parse_module
from hardcore.verify.compare import (EXTREME_LABELS, IMPORT_RTOL, VerificationError, VerifyOptions, _code_range,
                                     _compare_exact, _element_count, _float_inputs, _format, _input_bounds,
                                     _type_bounds, _usable, code_ranges, extreme_inputs, flat, input_vectors,
                                     ranged_vectors, run_stream, stage_of)
from hardcore.verify.quantize import check_quantize

__all__ = ["verify_pass", "check_import", "check_decoder", "check_time_multiplex", "check_step", "VerifyingPass", "run_verified"]


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
    if "hardcore.reuse" in after_function.attributes:
        return check_time_multiplex(pass_name, before, after, options)
    if "hardcore.stream" in after_function.attributes:
        return check_stream(pass_name, before, before_module.operation, after, options)
    if "hardcore.decoder" in after_function.attributes and "hardcore.decoder" in before.attributes:
        return check_step(pass_name, before, after_function, options)
    if "hardcore.decoder" in after_function.attributes:
        return check_decoder(pass_name, before, after_function, options)
    after_stage = stage_of(after_function)
    counts = [_element_count(t) for t in before.type.inputs]  # several inputs: side by side in each vector
    if (before_stage, after_stage) == ("float", "float"):
        inputs, labels = _float_inputs(before, options)
        return _compare_exact(pass_name, flat(before, lambda x: run_function(before, x)),
                              flat(after_function, lambda x: run_function(after_function, x)), inputs, labels, "float")
    if (before_stage, after_stage) == ("float", "quantized"):
        return check_quantize(pass_name, before, after_function, options)
    if before_stage == "quantized" and after_stage in ("quantized", "integer"):
        inputs, labels = ranged_vectors(code_ranges(before), counts, options.vectors, options.seed)
        run_after = ((lambda x: run_function(after_function, x, from_quantized=True)) if after_stage == "quantized"
                     else (lambda x: run_stream(after_function, x)))
        return _compare_exact(pass_name, flat(before, lambda x: run_function(before, x, from_quantized=True)),
                              flat(after_function, run_after), inputs, labels, "integer")
    if (before_stage, after_stage) == ("integer", "integer"):
        ranges = [_input_bounds(before)] + [_type_bounds(ir.RankedTensorType(t).element_type)
                                            for t in before.type.inputs[1:]]
        inputs, labels = ranged_vectors(ranges, counts, options.vectors, options.seed)
        return _compare_exact(pass_name, flat(before, lambda x: run_stream(before, x)),
                              flat(after_function, lambda x: run_stream(after_function, x)), inputs, labels, "integer")
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


def check_time_multiplex(pass_name: str, before, after, options: VerifyOptions = VerifyOptions()) -> str:
    """hardcore-time-multiplex: the steps run cycle by cycle (`run_reuse_steps`) equal the quantized function."""
    from hardcore.passes.time_multiplex import step_functions  # the passes import hardcore.verify

    _, low, high = _code_range(before)
    inputs, labels = input_vectors(_element_count(before.type.inputs[0]), low, high, options.vectors, options.seed)
    steps = step_functions(after)
    return _compare_exact(pass_name, lambda x: run_function(before, x, from_quantized=True),
                          lambda x: run_reuse_steps(steps, x), inputs, labels, "integer")


def check_stream(pass_name: str, before, before_module, after, options: VerifyOptions = VerifyOptions()) -> str:
    """hardcore-stream, and hardcore-fold-weights on its steps: the steps applied at every pixel
    (`hardcore.stream.run_steps`) equal the quantized function (or the steps before the pass)."""
    from hardcore.passes.stream import node_attr, stream_steps  # the passes import hardcore.verify
    from hardcore.stream import run_steps

    after_steps = stream_steps(after)
    before_steps = stream_steps(before_module)
    if before_steps:  # the steps folded: compare them with the steps before, on images in node 0's range
        shape = [node_attr(before_steps[0], key) for key in ("channels", "height", "width")]
        low, high = (int_attr(body_ops(before_steps[0])[0], key) for key in ("min", "max"))
        inputs, labels = input_vectors(int(np.prod(shape)), low, high, options.vectors, options.seed)
        return _compare_exact(pass_name, lambda x: run_steps(before_steps, x.reshape([-1] + shape)).reshape(len(x), -1),
                              lambda x: run_steps(after_steps, x.reshape([-1] + shape)).reshape(len(x), -1),
                              inputs, labels, "integer")
    shape = list(ir.RankedTensorType(before.type.inputs[0]).shape)
    _, low, high = _code_range(before)
    inputs, labels = input_vectors(int(np.prod(shape)), low, high, options.vectors, options.seed)
    return _compare_exact(pass_name, lambda x: run_function(before, x, from_quantized=True).reshape(len(x), -1),
                          lambda x: run_steps(after_steps, x.reshape([-1] + shape)).reshape(len(x), -1),
                          inputs, labels, "integer")


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
    if len(before.type.inputs) > 1 or len(before.type.results) > 1:
        return _check_hw_ports(pass_name, before, after, options)
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
    return _icarus_verdict(pass_name, inputs, labels, expected, actual)


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
    examples = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    shapes = [list(example.shape[1:]) for example in examples]  # several inputs: side by side in each vector
    sizes = [int(np.prod(shape)) for shape in shapes]
    n_in = sum(sizes)
    rng = np.random.default_rng(options.seed)
    tokens = not torch.is_floating_point(torch.as_tensor(examples[0]))
    if tokens:  # token ids: every vocabulary of the embeddings that read them holds [0, V - 1]
        vocabulary = min(array_attr(op, "table").shape[1] for op in body_ops(function)
                         if op.operation.name == "hardcore.embedding")
        inputs, labels = input_vectors(n_in, 0, vocabulary - 1, options.vectors, options.seed)
    else:
        inputs = np.concatenate([extreme_inputs(n_in, -4, 4).astype(np.float64),
                                 rng.standard_normal((options.vectors, n_in))])
        labels = list(EXTREME_LABELS) + [f"random #{i}" for i in range(options.vectors)]
    forward = model.module() if not isinstance(model, torch.nn.Module) and hasattr(model, "module") else model
    parts = np.split(inputs, np.cumsum(sizes)[:-1], axis=1)
    with torch.no_grad():
        expected = forward(*(torch.tensor(part.reshape([len(inputs)] + shape),
                                          dtype=torch.long if tokens else torch.float32)
                             for part, shape in zip(parts, shapes)))
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    expected = np.concatenate([np.asarray(e.detach().numpy(), dtype=np.float64).reshape(len(inputs), -1)
                               for e in expected], axis=1)
    actual = np.asarray(flat(function, lambda x: run_function(function, x))(inputs), dtype=np.float64)
    actual = actual.reshape(len(inputs), -1)
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


def _check_hw_ports(pass_name: str, before, after, options: VerifyOptions) -> str:
    """`_check_hw` for a DAG of several inputs or results: its ports x0, x1, ... and y0, y1, ... in Icarus."""
    from hardcore import backend
    from hardcore.sim import simulate_ports

    widths = [ir.IntegerType(ir.RankedTensorType(t).element_type).width for t in before.type.inputs]
    counts = [_element_count(t) for t in before.type.inputs]
    ranges = [(-(1 << (w - 1)), (1 << (w - 1)) - 1) for w in widths]
    inputs, labels = ranged_vectors(ranges, counts, options.vectors, options.seed)
    run = flat(before, lambda x: run_stream(before, x))
    keep = _usable(run, inputs)
    inputs, labels = inputs[keep], [label for label, k in zip(labels, keep) if k]
    expected = run(inputs)
    latency = int_attr(before, "hardcore.latency") if "hardcore.latency" in before.attributes else None
    clock_enable = bool(latency) and ir.BoolAttr(before.attributes["hardcore.clock_enable"]).value
    name = (lambda letter, number, total: letter if total == 1 else f"{letter}{number}")
    in_ports = [(name("x", i, len(counts)), n, w) for i, (n, w) in enumerate(zip(counts, widths))]
    out_ports = [(name("y", i, len(before.type.results)), _element_count(t),
                  ir.IntegerType(ir.RankedTensorType(t).element_type).width)
                 for i, t in enumerate(before.type.results)]
    verilog = backend.export_verilog(backend.to_circt(str(after)))  # export rewrites: a copy
    with tempfile.TemporaryDirectory(prefix="hardcore-verify-") as workdir:
        result = simulate_ports(verilog, before.name.value, np.split(inputs, np.cumsum(counts)[:-1], axis=1),
                                in_ports=in_ports, out_ports=out_ports, latency=latency, clock_enable=clock_enable,
                                workdir=Path(workdir), simulator="icarus")
    actual = np.concatenate([o.reshape(len(inputs), -1) for o in result.outputs], axis=1)
    return _icarus_verdict(pass_name, inputs, labels, expected, actual)


def _icarus_verdict(pass_name: str, inputs, labels, expected, actual) -> str:
    """The pass's line if its Verilog computed `expected` on every input vector, else the first that differs."""
    bad = np.flatnonzero((actual != expected).any(axis=1))
    if bad.size:
        index = int(bad[0])
        raise VerificationError(
            f"{pass_name} changed the result (--verify-each, its Verilog in Icarus): on input vector {index} "
            f"({labels[index]}) {_format(inputs[index])}: before {_format(expected[index])}, "
            f"after {_format(actual[index])}")
    return f"{pass_name}: bit-exact on {len(inputs)} input vectors (its Verilog in Icarus)"
