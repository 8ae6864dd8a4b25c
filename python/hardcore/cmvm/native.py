"""The C core's glue: which core runs (HARDCORE_CMVM_CORE), the extension hardcore._pair_cse, its CSE.

The extension (_pair_cse.c and _cmvm_plans.c, built by ./setup.sh) is a
step-for-step port of `core._PairCse` and `plans._plans`, giving the same graphs.
"""

from __future__ import annotations

import importlib
import os
from typing import Optional

import numpy as np

from hardcore.cmvm.builder import _Builder, _Infeasible, _sum_terms
from hardcore.cmvm.core import _SHIFT_BITS
from hardcore.cmvm.digits import digit_planes

# HARDCORE_CMVM_CORE selects the pair-pattern CSE core: "c" (default, the
# extension hardcore._pair_cse) or "python" (_PairCse, the reference).
_CORES = ("c", "python")
# The C core's Kraft sums are int64: deeper bounds go through _c_cse_deep.
_C_MAX_DEPTH = 60
# The C plans keep weights' differences and digit sums in int64 and
# magnitude bounds in 128 bits: beyond these the Python plans run.
_C_MAX_WEIGHT = 1 << 60
_C_MAX_MAGNITUDE = 1 << 63
_MISSING_CORE = ("hardcore._pair_cse (the C core of the CMVM solver) is not built or cannot be "
                 "loaded: re-run ./setup.sh to build it, or set HARDCORE_CMVM_CORE=python for the "
                 "slow pure-Python core")


def _core() -> str:
    core = os.environ.get("HARDCORE_CMVM_CORE", "c").strip().lower() or "c"
    if core not in _CORES:
        raise ValueError(f"HARDCORE_CMVM_CORE={core!r}: expected one of {', '.join(_CORES)}")
    return core


def _c_module():
    try:
        return importlib.import_module("hardcore._pair_cse")
    except ImportError as error:
        raise ImportError(_MISSING_CORE, name="hardcore._pair_cse") from error


def _c_core_fits(W: np.ndarray, magnitudes: list[int], max_depth: Optional[int]) -> bool:
    """Whether the plans run in C: the core is C and the figures fit its types."""
    return (_core() == "c" and W.size > 0 and (max_depth is None or max_depth <= _C_MAX_DEPTH)
            and int(np.abs(W).max()) < _C_MAX_WEIGHT and max(magnitudes) < _C_MAX_MAGNITUDE)


def _c_cse(builder: _Builder, canonical: np.ndarray, input_values: list[int], depths: list[int],
           max_depth: Optional[int], tie: str, form: int = 0, lookahead: int = 0) -> list:
    """_PairCse's CSE in C: its adders into builder, each row's rest summed; output triples."""
    core = _c_module()
    m, n = canonical.shape
    planes = digit_planes(canonical, form) if canonical.size else np.zeros((m, n, 1), np.int8)
    if planes.shape[2] >= 1 << (_SHIFT_BITS - 1):
        raise ValueError("weights too wide for the CSE solver")
    rows, columns, shifts = np.nonzero(planes)
    terms = np.stack([rows, columns, shifts, planes[rows, columns, shifts]], axis=1).astype(np.int32)
    result = core.solve(n, depths, m, np.ascontiguousarray(terms),
                        -1 if max_depth is None else max_depth, tie == "b", lookahead)
    if result is None:
        raise _Infeasible
    nodes, rows_left = result
    values = list(input_values)
    for a, a_shift, b, b_shift, sign in nodes:
        values.append(builder.add(values[a], a_shift, values[b], b_shift, sign))
    depth = builder.depth
    outputs = []
    for row in rows_left:
        outputs.append(_sum_terms(builder, [(depth[values[v]], s, values[v], g) for v, s, g in row]))
    return outputs


def _c_cse_deep(builder: _Builder, canonical: np.ndarray, input_values: list[int], depths: list[int],
                max_depth: int, tie: str, form: int, lookahead: int) -> Optional[list]:
    """A bound beyond _C_MAX_DEPTH: solve unbounded, keep it if it meets the bound.

    Otherwise None (the Python core then runs; it takes no 64-bit shortcuts).
    """
    trial = _Builder(builder.n_inputs, builder.magnitude[:builder.n_inputs])
    trial.nodes, trial.depth, trial.magnitude = (list(builder.nodes), list(builder.depth),
                                                 list(builder.magnitude))
    outputs = _c_cse(trial, canonical, input_values, depths, None, tie, form, lookahead)
    if any(o is not None and trial.depth[o[0]] > max_depth for o in outputs):
        return None
    builder.nodes, builder.depth, builder.magnitude = trial.nodes, trial.depth, trial.magnitude
    return outputs
