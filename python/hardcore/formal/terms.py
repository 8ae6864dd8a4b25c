"""Exact integers inside one layer's proof: linear forms over the layer's inputs, or Z3 terms.

`_Unsupported` is what any part of the check raises for a layer (or IR) outside what it handles.
"""

from __future__ import annotations

import math

from hardcore.errors import UsageError
from hardcore.mlir import location_text


def _z3():
    try:
        import z3
    except ImportError:  # pragma: no cover - z3-solver is a pinned dependency
        raise UsageError("formal verification needs z3-solver (pip install -e .)") from None
    return z3


def _type_range(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _wrap_int(value: int, width: int) -> int:
    half = 1 << (width - 1)
    return ((value + half) % (1 << width)) - half


class _Value:
    """An exact integer inside one layer's proof, with its interval over the layer's input box.

    Either a linear form over the layer's inputs (`linear`: {input index: coefficient}, plus
    `constant`; its interval is exact, the inputs being independent) or a node that `build`s
    its Z3 term from its operands' terms (its interval from interval arithmetic, sound).
    """

    __slots__ = ("linear", "constant", "interval", "build")

    def __init__(self, interval, linear=None, constant=0, build=None):
        self.interval, self.linear, self.constant, self.build = interval, linear, constant, build


def _linear(coefficients: dict, constant: int, bounds: list) -> _Value:
    coefficients = {j: c for j, c in coefficients.items() if c}
    low = high = constant
    for j, c in coefficients.items():
        lo, hi = bounds[j]
        low += min(c * lo, c * hi)
        high += max(c * lo, c * hi)
    return _Value((low, high), coefficients, constant)


def _combine(operands, factors, bounds) -> _Value | None:
    """sum(factor * operand) as a linear form, when every operand is one."""
    if any(v.linear is None for v in operands):
        return None
    coefficients: dict = {}
    constant = 0
    for value, factor in zip(operands, factors):
        for j, c in value.linear.items():
            coefficients[j] = coefficients.get(j, 0) + factor * c
        constant += factor * value.constant
    return _linear(coefficients, constant, bounds)


def _affine(z3, operands, factors, bounds, interval) -> _Value:
    """sum(factor * operand): a linear form if the operands are, else a node with the given interval."""
    linear = _combine(operands, factors, bounds)
    if linear is not None:
        return linear
    return _Value(interval, build=lambda terms: z3.Sum([f * t for f, t in zip(factors, terms(*operands))]))


def _scaled(interval, factor):
    lo, hi = interval[0] * factor, interval[1] * factor
    return (min(lo, hi), max(lo, hi))


def _sum_interval(intervals):
    return (sum(lo for lo, _ in intervals), sum(hi for _, hi in intervals))


class _Terms:
    """Z3 terms of `_Value`s, memoized.  `abstract`: each linear form (but single inputs) is
    g·a + c for a fresh atom `a` ranging over its primitive part's exact interval, the same
    atom for forms with the same primitive part.  An over-approximation: what holds for all
    atoms holds for all inputs."""

    def __init__(self, z3, inputs: list, bounds: list, abstract: bool):
        self.z3, self.inputs, self.bounds, self.abstract = z3, inputs, bounds, abstract
        self.memo: dict = {}
        self.atoms: dict = {}
        self.atom_bounds: list = []

    def __call__(self, *values):
        return [self.term(value) for value in values]

    def term(self, value: _Value):
        key = id(value)
        if key not in self.memo:
            self.memo[key] = (value, self._linear_term(value) if value.linear is not None else value.build(self))
        return self.memo[key][1]

    def _linear_term(self, value: _Value):
        z3 = self.z3
        if not value.linear:
            return z3.IntVal(value.constant)
        items = sorted(value.linear.items())
        if self.abstract:
            divisor = 0
            for _, c in items:
                divisor = math.gcd(divisor, c)
            divisor *= 1 if items[0][1] > 0 else -1
            primitive = tuple((j, c // divisor) for j, c in items)
            if primitive == ((primitive[0][0], 1),):
                atom = self.inputs[primitive[0][0]]
            else:
                if primitive not in self.atoms:
                    atom = z3.Int(f"atom{len(self.atoms)}")
                    lo, hi = _linear(dict(primitive), 0, self.bounds).interval
                    self.atoms[primitive] = atom
                    self.atom_bounds.append(z3.And(atom >= lo, atom <= hi))
                atom = self.atoms[primitive]
            return divisor * atom + value.constant if divisor != 1 else atom + value.constant
        return z3.Sum([c * self.inputs[j] for j, c in items] + [z3.IntVal(value.constant)])


class _Unsupported(Exception):
    """The layer (or the IR) is outside what this check handles; `text` says where and why."""

    def __init__(self, op, message: str):
        super().__init__(message)
        self.op = op

    def text(self, filename: str) -> str:
        return f"{location_text(self.op.location, filename)}: {self}"
