"""Timing-driven pipelining: the fewest pipeline registers whose placed-and-routed circuit meets a clock.

`pipeline_for_target` chooses a fully parallel circuit's `max_adder_depth`
(the adder levels between two registers, `hardcore-pipeline`) from
place-and-route runs on the device itself, not from a delay table: it models
the clock period as `fixed + per_level * depth`, calibrates the model on the
runs made so far and asks place-and-route again at the depth the model
predicts, until it holds the largest depth that meets the target next to one
that does not (or depth 1 misses, and the report says by how much).  The first
run is the whole DAG in one stage (registers only at its outputs, and the
ports' own registers around it), so a circuit that meets the target that way
gets no pipeline registers at all.

The place-and-route run is a callback (`place(circuit, workdir) -> figures`
with `fmax_mhz`, or `fits` False and a `message` when the design does not
fit the device: then no smaller depth, with more registers, is tried), so
the search does not care which flow or wrapper it measures; `hardcore fpga
--target-mhz` passes the iCE40 flow.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

from hardcore.compiler import Circuit, repipeline
from hardcore.errors import HardcoreError, UsageError

__all__ = ["pipeline_for_target", "total_levels"]

# place-and-route runs the search may make before it settles on the best depth it has seen
MAX_RUNS = 6


def total_levels(circuit: Circuit) -> int:
    """The adder levels on the circuit's longest path, as hardcore-pipeline counts them (its latency at depth 1)."""
    from hardcore.interpreter import find_function
    from hardcore.irutil import body_ops
    from hardcore.mlir import new_context, parse_module
    from hardcore.passes.pipeline import op_levels

    module = parse_module(circuit.stages["dag"], new_context(), "dag")
    level: dict = {}
    deepest = 0
    for op in body_ops(find_function(module.operation)):
        reached = max((level.get(operand, 0) for operand in op.operands), default=0) + op_levels(op)
        for result in op.results:
            level[result] = reached
        deepest = max(deepest, reached)
    return max(deepest, 1)


def pipeline_for_target(circuit: Circuit, target_mhz: float, *, place: Callable[[Circuit, Path], dict], workdir,
                        progress: Optional[Callable[[str], None]] = None,
                        max_runs: int = MAX_RUNS) -> tuple[Circuit, dict, dict]:
    """The circuit pipelined at the largest depth whose placed design meets `target_mhz`.

    Returns (circuit, its place-and-route figures, the search): the search
    has `target_mhz`, `levels` (the DAG's), `runs` (depth, latency, register
    bits and Fmax of every run, in order), `max_adder_depth` chosen, `meets`,
    and, when no depth met the target, `miss_mhz` (target minus the best Fmax
    reached; that run's circuit is the one returned).
    """
    if not target_mhz > 0:
        raise UsageError(f"--target-mhz must be positive, got {target_mhz:g}")
    say = progress or (lambda message: None)
    workdir = Path(workdir)
    levels = total_levels(circuit)
    target_ns = 1000.0 / target_mhz
    runs: list[dict] = []
    placed: dict[int, tuple[Circuit, dict]] = {}

    def measure(depth: int) -> None:
        candidate = repipeline(circuit, depth)
        say(f"target {target_mhz:g} MHz: placing and routing at max-adder-depth {depth} "
            f"(latency {candidate.latency}, run {len(runs) + 1} of at most {max_runs})")
        figures = place(candidate, workdir / f"depth{depth}")
        run = {"max_adder_depth": depth, "latency": candidate.latency,
               "register_bits": candidate.figures.get("register_bits", 0)}
        runs.append(run)
        if not figures.get("fits", True):
            # more registers than the device holds: so has every smaller depth
            run.update(fits=False, fmax_mhz=None)
            too_deep.append((depth, figures.get("message", "does not fit")))
            say(f"target {target_mhz:g} MHz: max-adder-depth {depth} does not fit: {too_deep[-1][1]}")
            return
        fmax = figures.get("fmax_mhz")
        if fmax is None:
            raise UsageError(f"{circuit.name}: place-and-route reported no clock, so no Fmax to pipeline for")
        placed[depth] = (candidate, figures)
        run["fmax_mhz"] = fmax
        say(f"target {target_mhz:g} MHz: max-adder-depth {depth}: {fmax:.2f} MHz "
            f"({'meets' if fmax >= target_mhz else 'misses'})")

    def meets(depth: int) -> bool:
        return placed[depth][1]["fmax_mhz"] >= target_mhz

    too_deep: list[tuple[int, str]] = []  # (depth, message) of the runs that did not fit
    measure(levels)
    if not placed:
        raise HardcoreError(f"{circuit.name}: even with no pipeline registers {too_deep[0][1]}")
    while len(runs) < max_runs:
        passing = [d for d in placed if meets(d)]
        failing = [d for d in placed if not meets(d)]
        lowest = max((d for d, _ in too_deep), default=0) + 1  # the smallest depth that may still fit
        low_fail = min(failing, default=None)
        best_pass = max(passing, default=None)
        if best_pass is not None and (best_pass == levels or best_pass + 1 in failing):
            break  # the largest depth that meets, next to one that does not
        if best_pass is None and low_fail is not None and low_fail <= lowest:
            break  # the shortest stages that fit still miss
        guess = _predict(runs, target_ns, levels)
        # stay strictly between the best depth that meets and the smallest that does not, and above any that
        # did not fit
        upper = (low_fail - 1) if low_fail is not None else levels
        lower = max((best_pass + 1) if best_pass is not None else 1, lowest)
        depth = min(max(guess, lower), upper)
        if depth in placed or depth < lowest:
            break
        measure(depth)

    passing = [d for d in placed if meets(d)]
    if passing:
        chosen = max(passing)
    else:
        chosen = max(placed, key=lambda d: placed[d][1]["fmax_mhz"])
    chosen_circuit, figures = placed[chosen]
    search = {"target_mhz": target_mhz, "levels": levels, "runs": runs, "max_adder_depth": chosen,
              "meets": bool(passing)}
    if not passing:
        search["miss_mhz"] = round(target_mhz - figures["fmax_mhz"], 2)
        if too_deep:
            search["limit"] = f"max-adder-depth {max(d for d, _ in too_deep)} and below do not fit the device"
    return chosen_circuit, figures, search


def _predict(runs: list[dict], target_ns: float, levels: int) -> int:
    """The largest depth the period model `fixed + per_level * depth`, fitted to the runs, says meets target_ns."""
    points = {run["max_adder_depth"]: 1000.0 / run["fmax_mhz"] for run in runs if run["fmax_mhz"]}
    if len(points) == 1:
        # one run: no fixed part known; take the period as proportional to the depth
        (depth, period), = points.items()
        fixed, per_level = 0.0, period / depth
    else:
        # least squares over every run
        xs, ys = list(points), list(points.values())
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        spread = sum((x - mean_x) ** 2 for x in xs)
        per_level = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0
        if per_level <= 0:  # noise swamps the trend: step down by one from the deepest failing run
            return min(points) - 1 if min(points) > 1 else 1
        fixed = mean_y - per_level * mean_x
    return max(1, min(levels, math.floor((target_ns - fixed) / per_level)))
