"""The pair-pattern CSE in Python (`_PairCse`, the reference for the C core) and its look-ahead (`_pilot_cse`)."""

from __future__ import annotations

import heapq
import math
from itertools import chain
from typing import Optional

import numpy as np

from hardcore.adder_graph import AdderNode
from hardcore.cmvm.builder import _Builder, _Infeasible, _sum_rows
from hardcore.cmvm.digits import digit_planes

# An expansion materializes the patterns whose count is at least this
# fraction of the current best; the rest wait behind a placeholder.
_EXPAND_FRACTION = 0.8
# Input pairs are queued down to this fraction of the best count, then the next band.
_RECOUNT_FRACTION = 0.8
# The look-ahead on pattern choice (see _pilot_cse) tries, at a step, the patterns the greedy
# would build next up to this rank, whose count is at least the best one's minus _TIE_SLACK
# (measured on the benchmark matrices: 4 ranks within 1 found less than 8 within 3, 16 within
# any count no more).
LOOKAHEAD_RANKS = 8
_TIE_SLACK = 3


def _pilot_cse(matrix: np.ndarray, depths: list[int], magnitudes: list[int], max_depth: Optional[int],
               tie: str, form: int, lookahead: int) -> "_PairCse":
    """The pair-pattern CSE with a look-ahead on pattern choice (a pilot method); the finished solver.

    Step by step from the first, each near-tie of the pattern the greedy
    builds (rank 1 .. LOOKAHEAD_RANKS - 1 in the greedy's own order) is
    built instead, the greedy finishes from there, and the choice whose
    graph has fewest adders is kept for that step.  lookahead: the work
    allowed, in adders built by the rollouts, as a multiple of the greedy's
    own (0: the plain greedy).
    """
    def greedy(deviations):
        solver = _PairCse(matrix, depths, magnitudes, max_depth, tie, form)
        solver.run(deviations)
        return solver

    best = greedy({})
    if not lookahead:
        return best
    best_adders = best.adders()
    work, budget = 0, lookahead * max(len(best.nodes), 1)
    deviations: dict = {}
    step = 0
    while step < len(best.nodes) and work < budget:
        chosen = 0
        for rank in range(1, LOOKAHEAD_RANKS):
            trial = greedy({**deviations, step: rank})
            work += len(trial.nodes)
            if trial.missing:
                break
            adders = trial.adders()
            if adders < best_adders:
                best, best_adders, chosen = trial, adders, rank
            if work >= budget:
                break
        if chosen:
            deviations[step] = chosen
        step += 1
    return best


# -- the pair-pattern CSE ------------------------------------------------------


class _PairCse:
    """Lazy greedy extraction of the most frequent two-term pattern.

    Values: 0..n-1 are the inputs, n.. the adders built so far.  A pattern
    key is (a, b, d, sign) with a <= b: the terms x_a << s and sign·x_b << (s+d)
    (d > 0 when a == b).  Inputs' digits live in a dense int8 array
    `planes[j, row, shift]`, and the counts of every pattern of two different
    inputs are kept exact in dense tables, updated with numpy as digits are
    used up.  Adder values' terms live in per-row dicts and code lists; their
    patterns are counted when the value is expanded and recounted lazily.

    The reference for the C core (_pair_cse.c), which follows it step for
    step, down to the order occurrences are found in: change both together
    (test_c_core_matches_python_core checks they give the same graphs).
    """

    def __init__(self, matrix: np.ndarray, depths: list[int], magnitudes: list[int],
                 max_depth: Optional[int], tie: str = "b", form: int = 0):
        self.tie_b_first = tie == "b"
        self.n = n = matrix.shape[1]
        self.m = m = matrix.shape[0]
        planes = digit_planes(matrix, form) if matrix.size else np.zeros((m, n, 1), np.int8)
        self.S = S = planes.shape[2]
        if S >= 1 << (_SHIFT_BITS - 1):
            raise ValueError("weights too wide for the CSE solver")
        self.planes = np.ascontiguousarray(planes.transpose(1, 0, 2))  # (n, m, S)
        self.max_depth = max_depth
        self.depth_budget = None if max_depth is None else 1 << max_depth
        # Kraft sum of each row: sum over its terms of 2^depth.
        weights = np.array([1 << d for d in depths], dtype=np.int64)
        digits = np.count_nonzero(self.planes, axis=2)  # (n, m)
        self.kraft = (weights @ digits).tolist() if n else [0] * m
        if self.depth_budget is not None and max(self.kraft, default=0) > self.depth_budget:
            raise _Infeasible
        self.uniform_inputs = len(set(depths)) <= 1
        self.new_terms: list[dict] = [dict() for _ in range(m)]  # row: {value: {shift: sign}}
        self.codes: list[list[int]] = [[] for _ in range(m)]  # row: term codes, any order
        self.code_pos: list[dict] = [dict() for _ in range(m)]  # row: {code: index in codes}
        # per value (None for inputs): {row: number of its terms in that row}
        self.occ: list[Optional[dict]] = [None] * n
        self.depth = list(depths)
        self.magnitude = list(magnitudes)
        self.nodes: list[AdderNode] = []
        self.heap: list = []
        self.same, self.opposite = self._count_input_pairs()
        self.input_threshold = math.inf  # input pairs counted >= this are in the heap
        self._push_input_self_pairs()

    # Queue entries are (-priority, key): priority = count << 42 | placeholder bit << 41 | tie,
    # key a packed pattern or -1 - value for a placeholder.  Among equal counts a
    # placeholder comes first (it may hide a pattern of that count), then the
    # pattern with the newest operand b (or a, the other tie-break tried): growing
    # the latest shared value further beats starting a fresh one (measured: about
    # 2% fewer adders than oldest-first).
    def _tie(self, a, b):
        return (b << 20) | a if self.tie_b_first else (a << 20) | b

    def _entry(self, count, a, b, d, sign):
        return (-((count << 42) | self._tie(a, b)), _pack(a, b, d, sign))

    @staticmethod
    def _placeholder(count, v):
        return (-((count << 42) | (1 << 41)), -1 - v)

    def _best(self) -> int:
        """An upper bound on every pattern's count."""
        top = (-self.heap[0][0]) >> 42 if self.heap else 0
        return max(top, self.input_threshold - 1 if self.input_threshold > 2 else 0)

    def run(self, deviations: Optional[dict] = None) -> None:
        """The lazy greedy.  deviations {step: rank}: at that step (adders built so far) pass over
        the rank best patterns (put back after the step) and build the next; if fewer than that
        are within _TIE_SLACK of the best count, stop there with self.missing set."""
        heap = self.heap
        deviations = deviations or {}
        held: list = []  # (count, a, b, d, sign) of the patterns passed over at this step
        self.missing = False
        while True:
            best = (-heap[0][0]) >> 42 if heap else 0
            if self.input_threshold > 2 and best < self.input_threshold:
                self._materialize_input_pairs(best)
                continue
            if held and best < held[0][0] - _TIE_SLACK:
                self.missing = True  # fewer near-ties than the rank asked: the rollout is void
                return
            if best < 2:
                break
            _, key = heapq.heappop(heap)
            if key < 0:
                self._expand(-1 - key)
                continue
            a, b, d, sign = _unpack(key)
            matches = None
            if b < self.n and a != b:
                count = int((self.same if sign > 0 else self.opposite)[a, b, d + self.S - 1])
                if not (self.uniform_inputs or self.depth_budget is None) and count >= 2:
                    matches = self._matches(a, b, d, sign)
                    count = len(matches)
            else:
                matches = self._matches(a, b, d, sign)
                count = len(matches)
            if count < 2:
                continue
            if count < best and count < self._best():
                heapq.heappush(heap, self._entry(count, a, b, d, sign))
                continue
            if held and count < held[0][0] - _TIE_SLACK:
                self.missing = True
                return
            if len(held) < deviations.get(len(self.nodes), 0):
                held.append((count, a, b, d, sign))
                continue
            if matches is None:
                matches = self._matches(a, b, d, sign)
            self._apply(a, b, d, sign, matches)
            for entry in held:
                heapq.heappush(heap, self._entry(*entry))
            held.clear()

    def adders(self) -> int:
        """The adders of the graph when every row's remaining terms are summed."""
        terms = np.count_nonzero(self.planes, axis=(0, 2))
        for r, values in enumerate(self.new_terms):
            terms[r] += sum(len(shifts) for shifts in values.values())
        return len(self.nodes) + int(np.maximum(terms - 1, 0).sum())

    # -- counting ------------------------------------------------------------
    def _count_input_pairs(self):
        """Tables same/opposite[a, b, d + S - 1]: #(a at s, b at s + d) with equal/opposite signs."""
        n, m, S = self.n, self.m, self.S
        same = np.zeros((n, n, 2 * S - 1), dtype=np.int32)
        opposite = np.zeros_like(same)
        self.self_pairs = []
        if not (n and m):
            return same, opposite
        planes = self.planes.astype(np.float32)
        for d in range(S):
            lo = planes[:, :, :S - d].reshape(n, -1)
            hi = planes[:, :, d:].reshape(n, -1)
            signed_sum = lo @ hi.T
            total = np.abs(lo) @ np.abs(hi).T
            equal = np.rint((total + signed_sum) / 2).astype(np.int32)
            unequal = np.rint((total - signed_sum) / 2).astype(np.int32)
            if d > 0:
                self.self_pairs.append((d, np.diagonal(equal).copy(), np.diagonal(unequal).copy()))
            same[:, :, S - 1 + d] = equal
            opposite[:, :, S - 1 + d] = unequal
            same[:, :, S - 1 - d] = equal.T
            opposite[:, :, S - 1 - d] = unequal.T
        diagonal = np.arange(n)
        same[diagonal, diagonal] = 0
        opposite[diagonal, diagonal] = 0
        return same, opposite

    def _push_input_self_pairs(self) -> None:
        """x_a ± (x_a << d): counted with overlaps, an upper bound recounted when popped."""
        for d, equal, unequal in self.self_pairs:
            for sign, counts in ((1, equal), (-1, unequal)):
                for a in np.flatnonzero(counts >= 2).tolist():
                    self.heap.append(self._entry(int(counts[a]), a, a, d, sign))
        heapq.heapify(self.heap)

    def _materialize_input_pairs(self, best_other: int) -> None:
        """Queue the input pairs whose exact count lies in [new threshold, old threshold)."""
        n, S = self.n, self.S
        upper = np.triu(np.ones((n, n), dtype=bool), 1)[:, :, None]
        best = 0
        for table in (self.same, self.opposite):
            if table.size:
                best = max(best, int(np.max(np.where(upper, table, 0))))
        threshold = max(2, int(max(best, best_other) * _RECOUNT_FRACTION))
        parts = []
        for sign, table in ((1, self.same), (-1, self.opposite)):
            band = upper & (table >= threshold)
            if self.input_threshold != math.inf:
                band &= table < self.input_threshold
            a, b, dd = np.nonzero(band)
            parts.append((table[a, b, dd].astype(np.int64), a, b, dd - (S - 1),
                          np.full(len(a), sign)))
        counts, a, b, d, sign = (np.concatenate(c) for c in zip(*parts))
        priority = -((counts << 42) | self._tie(a, b))
        self.heap.extend(zip(priority.tolist(), _pack(a, b, d, sign).tolist()))
        heapq.heapify(self.heap)
        self.input_threshold = threshold

    def _input_correlation(self, rows, shifts, signs):
        """For terms (row, shift, sign): #(input u at shift + d) of equal/opposite sign.

        Returns two (n, 2S-1) tables indexed [u, d + S - 1].
        """
        S, n = self.S, self.n
        k = len(rows)
        gathered = self.planes[:, rows, :].reshape(n, k * S).astype(np.float32)
        # scatter[(k, s), s - shift_k + S - 1] = sign_k
        scatter = np.zeros((k * S, 2 * S - 1), dtype=np.float32)
        cols = (np.arange(S)[None, :] - np.asarray(shifts)[:, None] + (S - 1)).ravel()
        scatter[np.arange(k * S), cols] = np.repeat(np.asarray(signs, dtype=np.float32), S)
        signed_sum = gathered @ scatter
        total = np.abs(gathered) @ np.abs(scatter)
        return (np.rint((total + signed_sum) / 2).astype(np.int32),
                np.rint((total - signed_sum) / 2).astype(np.int32))

    def _expand(self, v: int) -> None:
        """Count the patterns of adder value v; queue those that may soon be best."""
        rows, shifts, signs = [], [], []
        for r in self.occ[v]:
            for s, g in self.new_terms[r][v].items():
                rows.append(r)
                shifts.append(s)
                signs.append(g)
        if len(rows) < 2:
            return
        S = self.S
        limit = None if self.max_depth is None else self.max_depth - 1
        if limit is not None and self.depth[v] > limit:
            return
        keys, counts = [], []
        if self.n:
            # key (u, v, d) with v at s_u + d: d = -(column - (S - 1))
            for sign, table in zip((1, -1), self._input_correlation(rows, shifts, signs)):
                u, col = np.nonzero(table >= 2)
                keys.append(_pack(u, np.full(len(u), v), (S - 1) - col, np.full(len(u), sign)))
                counts.append(table[u, col].astype(np.int64))
        lengths = np.array([len(self.codes[r]) for r in rows])
        if lengths.sum():
            code = np.array(list(chain.from_iterable(self.codes[r] for r in rows)), dtype=np.int64)
            s_v = np.repeat(np.array(shifts, dtype=np.int64), lengths)
            g_v = np.repeat(np.array(signs, dtype=np.int64), lengths)
            w = code >> _SHIFT_BITS
            s_w = (code >> 1) & ((1 << (_SHIFT_BITS - 1)) - 1)
            g_w = 1 - 2 * (code & 1)
            keep = (w != v) | (s_w > s_v)
            if limit is not None:
                keep &= np.array(self.depth, dtype=np.int64)[w] <= limit
            w, s_w, g_w, s_v, g_v = w[keep], s_w[keep], g_w[keep], s_v[keep], g_v[keep]
            below = w < v
            packed = _pack(np.where(below, w, v), np.where(below, v, w),
                           np.where(below, s_v - s_w, s_w - s_v), g_v * g_w)
            unique, unique_counts = np.unique(packed, return_counts=True)
            keys.append(unique)
            counts.append(unique_counts.astype(np.int64))
        if not keys:
            return
        keys, counts = np.concatenate(keys), np.concatenate(counts)
        threshold = max(2, int(self._best() * _EXPAND_FRACTION))
        now = counts >= threshold
        keys_now = keys[now]
        a_now = keys_now >> (1 + 10 + _VALUE_BITS)
        b_now = (keys_now >> 11) & ((1 << _VALUE_BITS) - 1)
        priority = -((counts[now] << 42) | self._tie(a_now, b_now))
        for entry in zip(priority.tolist(), keys_now.tolist()):
            heapq.heappush(self.heap, entry)
        later = counts[~now]
        deferred = int(later.max()) if later.size else 0
        if deferred >= 2:
            heapq.heappush(self.heap, self._placeholder(deferred, v))

    # -- matching and substitution ------------------------------------------------
    def _kraft_ok(self, r: int, delta: int, pending: dict) -> bool:
        if self.depth_budget is None or delta == 0:
            return True
        total = self.kraft[r] + pending.get(r, 0) + delta
        if total > self.depth_budget:
            return False
        pending[r] = pending.get(r, 0) + delta
        return True

    def _matches(self, a: int, b: int, d: int, sign: int) -> list:
        """Non-overlapping occurrences (row, s_a, s_b, sign of a) within the depth budget."""
        n, S = self.n, self.S
        depth_new = max(self.depth[a], self.depth[b]) + 1
        if self.max_depth is not None and depth_new > self.max_depth:
            return []
        delta = (1 << depth_new) - (1 << self.depth[a]) - (1 << self.depth[b])
        pending: dict = {}
        result = []
        if b < n and a != b:
            A, B = self.planes[a], self.planes[b]
            if d >= 0:
                rs, sa = np.nonzero(A[:, :S - d] * B[:, d:] == sign)
            else:
                rs, sa = np.nonzero(A[:, -d:] * B[:, :S + d] == sign)
                sa = sa - d
            ga = A[rs, sa]
            found = zip(rs.tolist(), sa.tolist(), (sa + d).tolist(), ga.tolist())
            if self.depth_budget is None or delta == 0:
                return list(found)
            return [mt for mt in found if self._kraft_ok(mt[0], delta, pending)]
        if b < n:  # an input with itself
            A = self.planes[a]
            rows = np.unique(np.nonzero(A[:, :S - d] * A[:, d:] == sign)[0]).tolist()
            for r in rows:
                used = set()
                row = A[r].tolist()
                for s in range(S - d):
                    if s in used or s + d in used or row[s] == 0 or row[s] * row[s + d] != sign:
                        continue
                    if self._kraft_ok(r, delta, pending):
                        used.update((s, s + d))
                        result.append((r, s, s + d, row[s]))
            return result
        if a < n:  # an input with an adder value
            plane = self.planes[a]
            for r in self.occ[b]:
                for s_b, g_b in self.new_terms[r][b].items():
                    s_a = s_b - d
                    if 0 <= s_a < S and plane[r, s_a] == sign * g_b:
                        if self._kraft_ok(r, delta, pending):
                            result.append((r, s_a, s_b, sign * g_b))
            return result
        if a == b:
            for r in self.occ[a]:
                terms = self.new_terms[r][a]
                if len(terms) < 2:
                    continue
                used = set()
                for s in sorted(terms):
                    t = s + d
                    if s in used or t in used or t not in terms or terms[s] * terms[t] != sign:
                        continue
                    if self._kraft_ok(r, delta, pending):
                        used.update((s, t))
                        result.append((r, s, t, terms[s]))
            return result
        occ_a, occ_b = self.occ[a], self.occ[b]
        if len(occ_b) < len(occ_a):
            occ_a, occ_b = occ_b, occ_a
        for r in occ_a:
            if r in occ_b:
                terms_a = self.new_terms[r][a]
                terms_b = self.new_terms[r][b]
                for s_a, g_a in terms_a.items():
                    g_b = terms_b.get(s_a + d)
                    if g_b is not None and g_a * g_b == sign and self._kraft_ok(r, delta, pending):
                        result.append((r, s_a, s_a + d, g_a))
        return result

    def _remove_input_digits(self, a: int, rows: list, shifts: list, signs: list) -> None:
        """Clear digits of input a, keeping the input-pair counts exact."""
        same, opposite = self._input_correlation(rows, shifts, signs)
        same[a] = 0
        opposite[a] = 0
        self.same[a] -= same
        self.opposite[a] -= opposite
        self.same[:, a] -= same[:, ::-1]
        self.opposite[:, a] -= opposite[:, ::-1]
        self.planes[a, rows, shifts] = 0

    def _add_term(self, value: int, r: int, s: int, g: int) -> None:
        self.new_terms[r].setdefault(value, {})[s] = g
        code = (value << _SHIFT_BITS) | (s << 1) | (g < 0)
        codes = self.codes[r]
        self.code_pos[r][code] = len(codes)
        codes.append(code)
        occ = self.occ[value]
        occ[r] = occ.get(r, 0) + 1

    def _remove_term(self, value: int, r: int, s: int) -> None:
        terms = self.new_terms[r][value]
        g = terms.pop(s)
        if not terms:
            del self.new_terms[r][value]
        code = (value << _SHIFT_BITS) | (s << 1) | (g < 0)
        codes, positions = self.codes[r], self.code_pos[r]
        index = positions.pop(code)
        last = codes.pop()
        if index < len(codes):
            codes[index] = last
            positions[last] = index
        occ = self.occ[value]
        occ[r] -= 1
        if not occ[r]:
            del occ[r]

    def _apply(self, a: int, b: int, d: int, sign: int, matches: list) -> None:
        n = self.n
        a_shift, b_shift = max(0, -d), max(0, d)
        v = n + len(self.nodes)
        self.nodes.append(AdderNode(a, a_shift, b, b_shift, sign))
        depth_v = max(self.depth[a], self.depth[b]) + 1
        self.depth.append(depth_v)
        self.magnitude.append((self.magnitude[a] << a_shift) + (self.magnitude[b] << b_shift))
        delta = (1 << depth_v) - (1 << self.depth[a]) - (1 << self.depth[b])
        self.occ.append({})
        rows = [mt[0] for mt in matches]
        s_as = [mt[1] for mt in matches]
        s_bs = [mt[2] for mt in matches]
        g_as = [mt[3] for mt in matches]
        g_bs = [g * sign for g in g_as]
        if a == b:
            removals = [(a, rows + rows, s_as + s_bs, g_as + g_bs)]
        else:
            removals = [(a, rows, s_as, g_as), (b, rows, s_bs, g_bs)]
        for value, value_rows, value_shifts, value_signs in removals:
            if value < n:
                self._remove_input_digits(value, value_rows, value_shifts, value_signs)
            else:
                for r, s in zip(value_rows, value_shifts):
                    self._remove_term(value, r, s)
        for r, s_a, s_b, g_a in matches:
            self._add_term(v, r, min(s_a, s_b), g_a)
            self.kraft[r] += delta
        heapq.heappush(self.heap, self._placeholder(len(matches), v))

    def export(self, builder: _Builder, input_values: list[int]) -> list:
        """Add the extracted adders and each row's final tree to builder; output triples."""
        values = list(input_values)
        for node in self.nodes:
            values.append(builder.add(values[node.a], node.a_shift, values[node.b],
                                      node.b_shift, node.sign))
        return _sum_rows(builder, self.planes, self.new_terms, values)


_SHIFT_BITS = 8  # a term code is value << 8 | shift << 1 | (sign < 0)
_D_OFFSET = 1 << 9  # pattern keys pack d + _D_OFFSET in 10 bits
_VALUE_BITS = 21


def _pack(a, b, d, sign):
    return ((((a << _VALUE_BITS) | b) << 10 | (d + _D_OFFSET)) << 1) | (sign < 0)


def _unpack(key: int):
    sign = -1 if key & 1 else 1
    key >>= 1
    d = (key & 1023) - _D_OFFSET
    key >>= 10
    return key >> _VALUE_BITS, key & ((1 << _VALUE_BITS) - 1), d, sign
