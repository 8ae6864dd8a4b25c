"""The folded DAG cut at the layer boundaries: for each step, the DAG values holding its input elements
(proposed by sample runs) and the cone of DAG ops to prove.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir

from hardcore.formal.dag import _DAG_NUMPY, _wrap
from hardcore.formal.segments import _Segment, _flat_size
from hardcore.formal.spec import _MOVES, _index_map, _spec_batch
from hardcore.irutil import array_attr, body_ops, int_attr
from hardcore.mlir import location_text


_SAMPLES = 96  # random inputs that propose the cut between layers
_SAMPLE_SEED = 0
_LINEAR_LAYER_OPS = ("hardcore.dense", "hardcore.add_tensors", "hardcore.sub_tensors")


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
    """For a step whose layer op is linear (a dense, a residual add, a difference): the corners of the
    box where each output's linear form is largest and smallest, so that every output element reaches
    both ends of its interval (sparse outputs, zero on most of the box, then differ from each other on
    some point; a saturation reached only at a corner, as `a - b` at `a` high and `b` low, is then
    sampled: the value before the clamp differs from the element there).  The free ops before the
    layer op (moves, relu, requant) are monotone: each operand element follows one input."""
    layer_op = next((op for op in segment.ops if op.operation.name in _LINEAR_LAYER_OPS), None)
    no_corners = np.zeros((0, len(intervals)), dtype=np.int64)
    if layer_op is None:
        return no_corners
    leaves: dict = {value: np.arange(offset, offset + _flat_size(value)) for value, _, offset in segment.externals}
    for op in segment.ops:
        if op is layer_op:
            break
        if op.operation.name in _MOVES and all(v in leaves for v in op.operands):
            leaves[op.results[0]] = np.concatenate([leaves[v] for v in op.operands])[_index_map(op)]
        elif op.operation.name in ("hardcore.relu", "hardcore.requant") and op.operands[0] in leaves:
            leaves[op.results[0]] = leaves[op.operands[0]]
    if not all(v in leaves for v in layer_op.operands):
        return no_corners
    operands = [leaves[v] for v in layer_op.operands]
    if layer_op.operation.name == "hardcore.dense":
        weight = array_attr(layer_op, "weight").astype(np.int64)
        outputs, columns = weight.shape
        mapped = np.zeros((len(operands[0]) // columns * outputs, len(intervals)), dtype=np.int64)
        for index, leaf in enumerate(operands[0]):  # a dense over rows: row index // columns
            row, column = divmod(index, columns)
            mapped[row * outputs:(row + 1) * outputs, leaf] += weight[:, column]
    else:  # a + b or a - b, element by element
        lhs, rhs = operands
        if len(lhs) != len(rhs):
            return no_corners
        sign = -1 if layer_op.operation.name == "hardcore.sub_tensors" else 1
        mapped = np.zeros((len(lhs), len(intervals)), dtype=np.int64)
        rows = np.arange(len(lhs))
        np.add.at(mapped, (rows, lhs), 1)
        np.add.at(mapped, (rows, rhs), sign)
    low = np.array([lo for lo, _ in intervals], dtype=np.int64)
    high = np.array([hi for _, hi in intervals], dtype=np.int64)
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
    position = {op.results[0]: index for index, op in enumerate(ops)}
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
        # it on most points, so that the step's proof finds where they differ.  The DAG computes a
        # layer after its inputs: a value after the step's last input (an extract aside) first, over
        # the earlier layers' values that the input elements in the cut determine as well.
        missing = sorted(set(range(expected.shape[1])) - set(proposal.values()))
        candidates = [value for value in values if value not in cuts[k] and value not in proposal
                      and value not in downstream and value.owner.name != "hardcore.constant"]
        last_input = max((position[v] for v in cuts[k] if v.owner.name != "hardcore.extract"), default=-1)
        for j in missing:
            scores = [(position[value] > last_input, agreement, index) for index, value in enumerate(candidates)
                      if (agreement := int(np.sum(values[value] == expected[:, j]))) > 0]
            if scores:
                best = candidates[max(scores)[2]]
                proposal[best] = j
                guessed.add((k, best))
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
