"""One layer's proof: (A) every value of its DAG cone fits its type, (B) its outputs equal the quantized
step's, by Z3 or by enumerating a table's inputs.
"""

from __future__ import annotations

import time

import numpy as np

from hardcore.formal.cut import _SAMPLE_SEED, _Cone
from hardcore.formal.dag import _DAG_NUMPY, _DAG_SEMANTICS, _LayerContext, _port_signed, _port_width, _wrap
from hardcore.formal.report import COUNTEREXAMPLE, PROVEN, UNKNOWN, LayerResult
from hardcore.formal.segments import _LAYER_OPS, _UNARY_OPS, _UNCOVERED_OPS, _Segment, _flat_size
from hardcore.formal.spec import _spec_batch, _spec_values
from hardcore.formal.terms import _Terms, _Unsupported, _linear, _type_range
from hardcore.irutil import array_attr
from hardcore.mlir import location_text


_MAX_ENUMERATED = 1 << 16  # input values an elementwise step (a table) may have to be proven by enumeration


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
        return _gathered_dependency(segment) or (lambda output: output)
    embedding = segment.ops[0]
    if layers != [embedding] or embedding.operation.name != "hardcore.embedding" or \
            embedding.operands[0] not in [value for value, _, _ in segment.externals] or \
            any(op.operation.name not in _UNARY_OPS - {"hardcore.gather"} for op in segment.ops[1:]):
        return None
    dimension = array_attr(embedding, "table").shape[2]
    offset = next(offset for value, _, offset in segment.externals if value == embedding.operands[0])
    return lambda output: offset + output // dimension


def _gathered_dependency(segment: _Segment):
    """For a step of elementwise ops and gathers on one tensor (a table on some channels' elements, as a
    per-channel PReLU has): output -> the input element it reads through the gathers.  None for any other."""
    owner = {op.results[0]: op for op in segment.ops}
    gathers, value = [], segment.result
    while value in owner:
        op = owner[value]
        if len(op.operands) != 1 or op.operation.name not in _UNARY_OPS | {"hardcore.lut"}:
            return None
        if op.operation.name == "hardcore.gather":
            gathers.append(array_attr(op, "indices").astype(np.int64).reshape(-1))
        value = op.operands[0]
    if not gathers or [external for external, _, _ in segment.externals] != [value]:
        return None
    offset = segment.externals[0][2]

    def dependency(output):
        for indices in gathers:
            output = int(indices[output])
        return offset + output
    return dependency


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
