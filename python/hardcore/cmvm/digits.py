"""Weights as signed digits: the digit forms, the weight checks and the adder depth the digits bound.

A row with k nonzero canonical signed digits needs ceil(log2 k) adder
levels whatever the graph (`min_depth`); every plan builds on the digits of
one of DIGIT_FORMS (`digit_planes`).
"""

from __future__ import annotations

import numpy as np

# Digit forms (see digit_planes): 0 CSD, 1 minimal signed digits preferring +1.
DIGIT_FORMS = (0, 1)
# Weights beyond this magnitude would overflow the int64 digit recoding.
_MAX_WEIGHT = 1 << 62


def csd_planes(values: np.ndarray) -> np.ndarray:
    """CSD digits of an int64 array: shape values.shape + (S,), entries in {-1, 0, 1}."""
    values = np.array(values, dtype=np.int64)
    planes = []
    while np.any(values):
        odd = (values & 1).astype(bool)
        digit = np.where(odd, 2 - (values & 3), 0)
        planes.append(digit.astype(np.int8))
        values = (values - digit) >> 1
    if not planes:
        return np.zeros(values.shape + (1,), dtype=np.int8)
    return np.stack(planes, axis=-1)


def digit_planes(values: np.ndarray, form: int = 0) -> np.ndarray:
    """Signed digits of an int64 array in one of DIGIT_FORMS: shape values.shape + (S,), digits in {-1, 0, 1}.

    Form 0 is the canonical signed digits (CSD, the non-adjacent form,
    `csd_planes`).  Form 1 is another minimal signed-digit (MSD) form, as
    few nonzero digits as CSD (so the depth bounds do not change), chosen
    from the lowest up: where an odd remainder r may take digit +1 or -1 and
    both leave (r - digit) / 2 with one digit fewer, it takes +1 (3 = 2 + 1
    rather than 4 - 1: binary-like runs that share as x + (x << 1)).  A
    negative value gets its magnitude's digits negated.
    """
    if form not in DIGIT_FORMS:
        raise ValueError(f"unknown digit form {form!r}; expected one of {DIGIT_FORMS}")
    values = np.array(values, dtype=np.int64)
    negative = values < 0
    remainder = np.abs(values)
    planes = []
    while np.any(remainder):
        odd = (remainder & 1).astype(bool)
        digit = np.where(odd, 2 - (remainder & 3), 0)
        if form == 1:
            weight = _naf_weight(remainder)
            plus_minimal = _naf_weight((remainder - 1) >> 1) < weight
            minus_minimal = _naf_weight((remainder + 1) >> 1) < weight
            digit = np.where(odd & plus_minimal & minus_minimal, 1, digit)
        planes.append(np.where(negative, -digit, digit).astype(np.int8))
        remainder = (remainder - digit) >> 1
    if not planes:
        return np.zeros(values.shape + (1,), dtype=np.int8)
    return np.stack(planes, axis=-1)


def min_depth(W) -> int:
    """The least adder depth any shift/add graph computing W·x can have.

    A sum of k signed shifted inputs needs ceil(log2 k) levels, and the CSD
    digit count is the fewest such terms any row needs (each adder at most
    doubles the nonzero digits of a linear form's coefficients).
    """
    W = _as_int_matrix(W)
    if W.size == 0:
        return 0
    digits = np.count_nonzero(csd_planes(W), axis=(1, 2))
    return max((_ceil_log2(int(k)) for k in digits), default=0)


def _as_int_matrix(W) -> np.ndarray:
    array = np.asarray(W)
    if array.ndim != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {array.shape}")
    if array.dtype == object or array.dtype.kind == "f":
        as_int = np.array([[int(v) for v in row] for row in array.tolist()], dtype=object)
        if array.size and np.any(as_int != array):
            raise ValueError("W must hold integers")
        array = as_int
    elif array.dtype.kind not in "iub":
        raise ValueError(f"W must hold integers, got dtype {array.dtype}")
    if array.size and max(abs(int(v)) for v in array.ravel().tolist()) >= _MAX_WEIGHT:
        raise ValueError("weights must be smaller than 2**62 in magnitude")
    return array.astype(np.int64)


def _ceil_log2(k: int) -> int:
    return (k - 1).bit_length() if k > 1 else 0


def _check_depth_feasible(W: np.ndarray, max_depth: int) -> None:
    digits = np.count_nonzero(csd_planes(W), axis=(1, 2)) if W.size else np.zeros(W.shape[0], int)
    for row, k in enumerate(digits.tolist()):
        if _ceil_log2(k) > max_depth:
            raise ValueError(f"max_depth={max_depth} is infeasible: row {row} has {k} canonical "
                             f"signed digits and needs adder depth >= {_ceil_log2(k)}")


def _naf_weight(values: np.ndarray) -> np.ndarray:
    """Number of nonzero canonical signed digits of each int64."""
    a = np.abs(values)
    half = a >> 1
    return np.bitwise_count(half ^ (a + half))
