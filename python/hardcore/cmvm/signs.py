"""Output signs: the negations a graph's outputs need, and whether each adder computes v or -v."""

from __future__ import annotations

from typing import Optional

from hardcore.adder_graph import signed_width

def _signed(score: tuple, nodes: list, outputs: list, n: int, free_rows: frozenset):
    """A plan's graph with its signs normalized, scored: ((adders + negations, width), nodes, outputs)."""
    adders, width = score
    if not any(o is not None and o[2] < 0 for i, o in enumerate(outputs) if i not in free_rows):
        return (adders, width), nodes, outputs
    nodes, outputs = _normalize_signs(n, nodes, outputs, free_rows)
    return (adders + _negations(outputs, free_rows), width), nodes, outputs


def _negations(outputs: list, free_rows) -> int:
    """Negation adders the outputs need: one per negated (value, shift) of a row not in free_rows."""
    return len({(o[0], o[1]) for i, o in enumerate(outputs)
                if o is not None and o[2] < 0 and i not in free_rows})


# How far one flip of a value's sign may spread (values flipped) and how many choices it may try.
_FLIP_LIMIT = 16
_FLIP_TRIES = 1000


def _normalize_signs(n: int, nodes: list, outputs: list, free_rows,
                     ranges: Optional[list] = None) -> tuple[list, list]:
    """The same graph with each adder computing v or -v, so fewer outputs need a negation.

    An adder computes p·A + q·B of its operands' stored values: (+, +) is an
    add, (+, -) a subtract, (-, +) a subtract with swapped operands, and only
    (-, -) is impossible.  Flipping a value's polarity negates its own
    coefficients and its coefficient in every adder reading it; a flip that
    makes an adder (-, -) is repaired by flipping that adder or one of its
    operands, searched depth-first within _FLIP_LIMIT values and _FLIP_TRIES
    choices.  The first set of flips that saves negations of outputs not in
    free_rows is kept.  Values that need a negation are tried in value order, then,
    if some are left, in reverse; the better result is kept (deterministic).
    ranges: every value's range (inputs first); given, adders are then also
    flipped where that saves bits without adding a negation: a subtractor
    whose subtrahend is the unshifted operand computes its low bits (a borrow
    chain), its flip (operands swapped) passes them as wires (see _bit_cost).
    Returns (nodes, outputs) as tuples; the matrix computed is unchanged.
    """
    widths = None
    if ranges is not None:
        widths = [(signed_width(lo, hi), signed_width(-hi, -lo)) for lo, hi in ranges[n:]]
    results = []
    for order in (1, -1):
        polarity = _polarities(n, nodes, outputs, free_rows, order, widths)
        new_nodes = []
        for k, (a, a_shift, b, b_shift, sign) in enumerate(nodes):
            p = polarity[n + k]
            coef_a, coef_b = p * polarity[a], p * sign * polarity[b]
            new_nodes.append((a, a_shift, b, b_shift, coef_b) if coef_a > 0 else (b, b_shift, a, a_shift, -1))
        new_outputs = [None if o is None else (o[0], o[1], o[2] * polarity[o[0]]) for o in outputs]
        results.append((_negations(new_outputs, free_rows), new_nodes, new_outputs))
        if results[-1][0] == 0:
            break
    best = min(results, key=lambda r: r[0])
    return best[1], best[2]


def _polarities(n: int, nodes: list, outputs: list, free_rows, order: int,
                widths: Optional[list] = None) -> list[int]:
    """Each value's polarity (+1: computed as is, -1: negated) chosen by _normalize_signs.

    widths: each adder's result width as is and negated; given, a second
    phase then flips adders to save bits (see _bit_cost) where no negation is added.
    """
    polarity = [1] * (n + len(nodes))
    readers: list[list[int]] = [[] for _ in polarity]
    for k, (a, _, b, _, _) in enumerate(nodes):
        readers[a].append(n + k)
        if b != a:
            readers[b].append(n + k)
    shifts_of: dict[int, list] = {}
    for i, o in enumerate(outputs):
        if o is not None and i not in free_rows:
            shifts_of.setdefault(o[0], []).append((o[1], o[2]))

    def cost(v: int, p: int) -> int:
        return len({shift for shift, sign in shifts_of.get(v, ()) if sign * p < 0})

    reads: set = set()  # the values whose polarity a search read

    def impossible(c: int, flipped) -> bool:
        a, _, b, _, sign = nodes[c - n]
        reads.update((c, a, b))
        p = -polarity[c] if c in flipped else polarity[c]
        p_a = -polarity[a] if a in flipped else polarity[a]
        p_b = -polarity[b] if b in flipped else polarity[b]
        return p * p_a < 0 and p * sign * p_b < 0

    def closures(flipped: frozenset, pending: list, tries: list):
        """Sets of flips containing `flipped` that leave no adder (-, -), depth-first."""
        pending = list(pending)
        while pending:
            c = pending.pop()
            if c < n or not impossible(c, flipped):
                continue
            a, _, b, _, _ = nodes[c - n]
            # repair c by flipping c itself (when not yet flipped) or one of its operands
            choices = [] if c in flipped else [c]
            choices += sorted((o for o in {a, b} if o >= n and o not in flipped),
                              key=lambda o: (impossible(o, flipped | {o}), len(readers[o]), o))
            for o in choices:
                tries[0] -= 1
                if tries[0] < 0 or len(flipped) >= _FLIP_LIMIT:
                    return
                yield from closures(flipped | {o}, pending + [o] + readers[o], tries)
            return
        yield flipped

    def gain(flipped) -> int:
        reads.update(flipped)
        return sum(cost(u, polarity[u]) - cost(u, -polarity[u]) for u in flipped)

    # A search that failed is not repeated while no polarity it read has changed
    # (it would read the same and fail again): failed[v] = (flips so far, values read).
    flips = 0
    flipped_at = [0] * len(polarity)
    failed: dict[int, tuple] = {}
    for _ in range(len(nodes) + 1):
        changed = False
        for v in sorted(shifts_of, reverse=order < 0):
            if v < n or cost(v, polarity[v]) == 0:
                continue
            if v in failed and all(flipped_at[u] <= failed[v][0] for u in failed[v][1]):
                continue
            reads.clear()
            found = closures(frozenset((v,)), [v] + readers[v], [_FLIP_TRIES])
            flipped = next((f for f in found if gain(f) > 0), None)
            if flipped is None:
                failed[v] = (flips, frozenset(reads))
                continue
            flips += 1
            for u in flipped:
                polarity[u] = -polarity[u]
                flipped_at[u] = flips
            changed = True
        if not changed:
            break
    if widths is None:
        return polarity

    def bits(c: int, flipped) -> int:
        a, a_shift, b, b_shift, sign = nodes[c - n]
        p = -polarity[c] if c in flipped else polarity[c]
        p_a = -polarity[a] if a in flipped else polarity[a]
        p_b = -polarity[b] if b in flipped else polarity[b]
        return _bit_cost(p * p_a, a_shift, p * sign * p_b, b_shift, widths[c - n][p < 0])

    for c in range(n, n + len(nodes)):
        if bits(c, ()) <= bits(c, (c,)):
            continue  # its own flip saves nothing: not worth a search
        found = closures(frozenset((c,)), [c] + readers[c], [_FLIP_TRIES // 10])
        for flipped in found:
            touched = set(flipped).union(*(readers[u] for u in flipped))
            saved = sum(bits(u, ()) - bits(u, flipped) for u in touched)
            if saved > 0 and gain(flipped) >= 0:
                for u in flipped:
                    polarity[u] = -polarity[u]
                break
    return polarity


def _bit_cost(coef_a: int, a_shift: int, coef_b: int, b_shift: int, width: int) -> int:
    """An adder's result width, plus the low bits it must compute though one operand is shifted.

    Below the shifted operand's lowest bit the result is the other operand's
    bits, wires, when that operand is added; when it is subtracted they are
    a negation's borrow chain.
    """
    if coef_b < 0 and b_shift == 0 and a_shift > 0:
        return width + a_shift
    if coef_a < 0 and a_shift == 0 and b_shift > 0:
        return width + b_shift
    return width
