"""The formal check of a whole network: `verify` (MLIR texts) and `verify_directory` (a compile output)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.errors import CompileError, UsageError
from hardcore.formal.cut import _cones, _propose_cuts
from hardcore.formal.dag import _DAG_SEMANTICS
from hardcore.formal.prove import _prove_layer, _uncovered
from hardcore.formal.report import NOT_COVERED, TOO_LARGE, FormalReport, LayerResult
from hardcore.formal.segments import _flat_size, _segments
from hardcore.formal.spec import _spec_intervals
from hardcore.formal.terms import _Unsupported, _z3
from hardcore.interpreter import find_function
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import new_context, parse_module

__all__ = ["verify", "verify_directory", "DEFAULT_TIMEOUT", "DEFAULT_MAX_WEIGHTS"]


DEFAULT_TIMEOUT = 60.0  # seconds Z3 may take per layer
DEFAULT_MAX_WEIGHTS = 16384  # layers with more nonzero weights (or DAG ops, x4) are skipped


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
    if "loc(" in dag:
        # A compiled circuit's dag stage keeps its `layerK` locations (for compiler.repipeline).  The cut
        # between layers is proposed from sample values over the whole DAG; restricted by those locations it
        # is weaker (a per-channel shift broken in the quantized IR came out 'unknown' instead of a
        # counterexample), so the DAG is read without them, as it was before the stage kept them.
        dag_module = parse_module(dag_module.operation.get_asm(large_elements_limit=None), new_context(), dag_name)
    spec_function = find_function(spec_module.operation)
    dag_function = find_function(dag_module.operation)
    inputs, results = len(spec_function.type.inputs), len(spec_function.type.results)
    if inputs != 1 or results != 1:  # its layer cuts and input box are built for one input port and one output
        raise UsageError(f"{quantized_name}: the formal check takes a model of one input and one output; "
                         f"@{spec_function.name.value} has {inputs} inputs and {results} outputs "
                         f"(--verify-each and `hardcore sim` check it)")
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
    one (registers as the identity), else its DAG; a time-multiplexed circuit's steps cycle by
    cycle (`hardcore.formal.reuse.verify_steps`)."""
    from hardcore.compiler import Circuit

    circuit = Circuit.load(directory)
    if "streamed" in circuit.stages:
        return verify_streamed(circuit.stages["streamed"], circuit.stages.get("dag", ""), timeout=timeout,
                               max_weights=max_weights, progress=progress)
    if "steps" in circuit.stages:
        from hardcore.formal.reuse import verify_steps
        return verify_steps(circuit.stages["quantized"], circuit.stages["steps"], timeout=timeout,
                            max_weights=max_weights, progress=progress)
    stage = "pipelined" if "pipelined" in circuit.stages else "dag"
    if stage not in circuit.stages:
        raise UsageError(f"{directory}: {circuit.name}.dag.mlir is missing")
    return verify(circuit.stages["quantized"], circuit.stages[stage], timeout=timeout, max_weights=max_weights,
                  progress=progress)


def verify_streamed(streamed: str, dag: str, *, timeout: float = DEFAULT_TIMEOUT,
                    max_weights: int = DEFAULT_MAX_WEIGHTS, progress: Callable[[str], None] | None = None) -> FormalReport:
    """A streamed circuit (docs/streaming.md): each node's folded step proven equal to its layer-level step
    (hardcore-stream's), for every input in its range: a kernel's adder graph is the same linear form at
    every position.  That the steps, applied at every pixel, compute the quantized function is checked by
    simulation (`hardcore.stream.run_steps`, --verify-each), not here."""
    from dataclasses import replace

    from hardcore.passes.stream import stream_steps

    say = progress or (lambda message: None)
    if not dag:
        raise UsageError("the streamed circuit's dag stage is missing")
    layer_module = parse_module(streamed, new_context(), "streamed")  # kept alive while its steps are read
    folded_module = parse_module(dag, new_context(), "dag")
    layer_steps = stream_steps(layer_module.operation)
    folded_steps = stream_steps(folded_module.operation)
    if len(layer_steps) != len(folded_steps):
        raise CompileError(f"dag: {len(folded_steps)} steps, but streamed has {len(layer_steps)}")
    results = []
    for node, (layer_step, folded_step) in enumerate(zip(layer_steps, folded_steps)):
        say(f"node {node}: @{folded_step.name.value}")
        report = verify(_one_function(layer_step), _one_function(folded_step), timeout=timeout,
                        max_weights=max_weights, quantized_name=f"streamed node {node}", dag_name=f"dag node {node}",
                        progress=progress)
        results += [replace(result, index=len(results) + k, kind=f"node {node}: {result.kind}")
                    for k, result in enumerate(report.layers)]
    return FormalReport(results)


def _one_function(function) -> str:
    return "module {\n" + function.operation.get_asm(large_elements_limit=None) + "\n}\n"
