"""Canonical signed digits, and the per-weight adder graph built from them.

The baseline folding: each nonzero weight becomes the shifted, signed copies
of its input that its canonical-signed-digit (CSD) form names (zero weights
vanish, ±2^k weights are wires), and each row's terms are summed by an adder
tree of minimal depth.  Nothing is shared between weights.
"""

from __future__ import annotations

import heapq

import numpy as np

from hardcore.adder_graph import AdderGraph, AdderNode

__all__ = ["csd_digits", "per_weight_graph", "combine_terms"]


def csd_digits(value: int) -> list[tuple[int, int]]:
    """(shift, ±1) pairs with sum(d << shift) == value and no two adjacent nonzeros."""
    digits = []
    shift = 0
    value = int(value)
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # +1 when value % 4 == 1, -1 when value % 4 == 3
            digits.append((shift, digit))
            value -= digit
        value >>= 1
        shift += 1
    return digits


def combine_terms(graph: AdderGraph, terms: list[tuple[int, int, int]], depths: list[int]):
    """Sum signed, shifted terms (value, shift, sign) with an adder tree of minimal depth.

    The two shallowest terms are joined first (optimal for depth when every
    adder costs one level); a shift common to both operands is applied after
    the adder, so each adder is only as wide as the unshifted operands need.
    Returns the output triple, or None for an empty sum.
    """
    if not terms:
        return None
    heap = [(depths[value], order, (value, shift, sign)) for order, (value, shift, sign) in enumerate(terms)]
    heapq.heapify(heap)
    order = len(terms)
    while len(heap) > 1:
        depth_a, _, (a, shift_a, sign_a) = heapq.heappop(heap)
        depth_b, _, (b, shift_b, sign_b) = heapq.heappop(heap)
        if sign_a < 0 and sign_b > 0:  # keep the positive term first: a - b, not -a + b
            a, shift_a, sign_a, b, shift_b, sign_b = b, shift_b, sign_b, a, shift_a, sign_a
        common = min(shift_a, shift_b)
        graph.nodes.append(AdderNode(a, shift_a - common, b, shift_b - common, sign_a * sign_b))
        depths.append(1 + max(depth_a, depth_b))
        node = graph.n_inputs + len(graph.nodes) - 1
        heapq.heappush(heap, (depths[node], order, (node, common, sign_a)))
        order += 1
    return heap[0][2]


def per_weight_graph(matrix) -> AdderGraph:
    """The adder graph of y = W·x with each weight folded on its own (CSD)."""
    matrix = np.asarray(matrix)
    rows, cols = matrix.shape
    graph = AdderGraph(n_inputs=cols)
    depths = [0] * cols
    for i in range(rows):
        terms = [(j, shift, sign) for j in range(cols) for shift, sign in csd_digits(int(matrix[i, j]))]
        graph.outputs.append(combine_terms(graph, terms, depths))
    return graph
