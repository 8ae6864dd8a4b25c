"""hardcore.cmvm: the adder graph computes W·x bit for bit, within the depth asked for."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardcore import cmvm
from hardcore.adder_graph import AdderNode, input_range

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# weights as trained layers have them, and the awkward ones: 0, ±2^k, long digit runs
_WEIGHT = st.one_of(
    st.integers(-130, 130),
    st.just(0),
    st.builds(lambda k, s: s * (1 << k), st.integers(0, 12), st.sampled_from([1, -1])),
    st.integers(-(1 << 20), 1 << 20),
)


@st.composite
def matrices(draw, max_rows=7, max_cols=7):
    """Integer matrices with zero rows/columns, duplicated, negated and scaled columns and rows."""
    rows = draw(st.integers(1, max_rows))
    cols = draw(st.integers(1, max_cols))
    W = np.array(draw(st.lists(_WEIGHT, min_size=rows * cols, max_size=rows * cols)),
                 dtype=np.int64).reshape(rows, cols)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["zero_row", "zero_col", "dup_col", "neg_col", "dup_row", "scaled_row"]))
        i, j = draw(st.integers(0, rows - 1)), draw(st.integers(0, rows - 1))
        p, q = draw(st.integers(0, cols - 1)), draw(st.integers(0, cols - 1))
        if kind == "zero_row":
            W[i] = 0
        elif kind == "zero_col":
            W[:, p] = 0
        elif kind == "dup_col":
            W[:, p] = W[:, q]
        elif kind == "neg_col":
            W[:, p] = -W[:, q]
        elif kind == "dup_row":
            W[i] = W[j]
        else:
            W[i] = -4 * W[j]
    return W


def _extreme_inputs(n: int, bits, signed: bool, rng) -> np.ndarray:
    """Columns of all-min, all-max, alternating extremes, and random values."""
    widths = [bits] * n if isinstance(bits, int) else list(bits)
    lows = np.array([input_range(b, signed)[0] for b in widths], dtype=object)
    highs = np.array([input_range(b, signed)[1] for b in widths], dtype=object)
    columns = [lows, highs, np.where(np.arange(n) % 2 == 0, lows, highs),
               np.where(np.arange(n) % 2 == 1, lows, highs)]
    for _ in range(4):
        columns.append(np.array([int(rng.integers(lo, hi + 1)) for lo, hi in zip(lows, highs)], dtype=object))
    return np.stack(columns, axis=1)


def _check_exact(graph, W, bits, signed, seed=0):
    assert np.array_equal(graph.matrix(), W.astype(object))
    X = _extreme_inputs(W.shape[1], bits, signed, np.random.default_rng(seed))
    assert np.array_equal(graph.evaluate(X), W.astype(object) @ X)


@SETTINGS
@given(W=matrices(), algorithm=st.sampled_from(cmvm.ALGORITHMS), bits=st.integers(1, 16),
       signed=st.booleans())
def test_graph_computes_w_x_exactly(W, algorithm, bits, signed):
    graph = cmvm.solve(W, input_bits=bits, signed=signed, algorithm=algorithm)
    _check_exact(graph, W, bits, signed)
    assert graph.input_bits == (bits,) * W.shape[1]
    assert graph.adder_bits == graph.adder_bits_at(bits, signed)


@SETTINGS
@given(W=matrices(), slack=st.integers(0, 2), algorithm=st.sampled_from(cmvm.ALGORITHMS))
def test_depth_bound_is_honoured(W, slack, algorithm):
    max_depth = cmvm.min_depth(W) + slack
    graph = cmvm.solve(W, max_depth=max_depth, algorithm=algorithm)
    assert graph.depth <= max_depth
    _check_exact(graph, W, 8, True)


@SETTINGS
@given(W=matrices(max_rows=5, max_cols=5))
def test_per_input_widths(W):
    bits = [1 + (3 * j) % 12 for j in range(W.shape[1])]
    graph = cmvm.solve(W, input_bits=bits, signed=False)
    _check_exact(graph, W, bits, False)
    assert graph.adder_bits == graph.adder_bits_at(bits, False)


@SETTINGS
@given(W=matrices())
def test_sharing_never_costs_more_than_per_weight_digits(W):
    digits = np.count_nonzero(cmvm.csd_planes(W), axis=(1, 2))
    per_weight = cmvm.solve(W, algorithm="csd")
    assert per_weight.adders == sum(max(int(k) - 1, 0) for k in digits)
    assert cmvm.solve(W).adders <= per_weight.adders


def test_min_depth_of_all_zero_and_single_digit_rows():
    assert cmvm.min_depth(np.zeros((3, 4), dtype=int)) == 0
    assert cmvm.min_depth(np.array([[1, 0], [0, -8]])) == 0
    assert cmvm.min_depth(np.array([[3, 1]])) == 2  # 3 = 4 - 1, plus 1: three digits


@pytest.mark.parametrize("algorithm", cmvm.ALGORITHMS)
def test_zero_matrix_has_no_adders(algorithm):
    graph = cmvm.solve(np.zeros((3, 5), dtype=int), algorithm=algorithm)
    assert graph.adders == 0
    assert graph.outputs == [None, None, None]
    assert np.array_equal(graph.evaluate(np.ones((5, 2), dtype=int)), np.zeros((3, 2), dtype=object))


@pytest.mark.parametrize("algorithm", cmvm.ALGORITHMS)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty_matrix_has_no_adders(algorithm, shape):
    graph = cmvm.solve(np.zeros(shape, dtype=int), algorithm=algorithm)
    assert graph.adders == 0
    assert graph.outputs == [None] * shape[0]


def test_dense_trained_like_matrix_is_exact_and_shares():
    rng = np.random.default_rng(7)
    W = np.clip(np.rint(rng.normal(0, 42, size=(24, 40))), -128, 127).astype(np.int64)
    shared = cmvm.solve(W)
    per_weight = cmvm.solve(W, algorithm="csd")
    _check_exact(shared, W, 8, True)
    assert shared.adders < 0.65 * per_weight.adders
    assert shared.adder_bits < per_weight.adder_bits
    bounded = cmvm.solve(W, max_depth=cmvm.min_depth(W))
    assert bounded.depth == cmvm.min_depth(W)
    _check_exact(bounded, W, 8, True)


def test_infeasible_depth_is_a_clear_error():
    W = np.array([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"^max_depth=2 is infeasible: row 0 has 5 canonical "
                                         r"signed digits and needs adder depth >= 3$"):
        cmvm.solve(W, max_depth=2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"W": np.ones(3)}, r"^W must be a 2-D matrix, got shape \(3,\)$"),
    ({"W": np.array([[0.5]])}, r"^W must hold integers$"),
    ({"W": np.ones((2, 2), dtype=int), "input_bits": [8]}, r"^input_bits has 1 widths for 2 inputs$"),
    ({"W": np.ones((2, 2), dtype=int), "algorithm": "rag-n"},
     r"^unknown algorithm 'rag-n'; expected one of cse, csd$"),
    ({"W": np.ones((2, 2), dtype=int), "max_depth": -1}, r"^max_depth must be >= 0, got -1$"),
    ({"W": np.ones((2, 2), dtype=int), "restarts": -2}, r"^restarts must be a whole number >= 0, got -2$"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cmvm.solve(**kwargs)


def test_restarts_relabel_exactly_and_never_cost_adders():
    """Restarts solve shuffled copies of W; the graph kept must still compute W itself."""
    rng = np.random.default_rng(7)
    W = rng.integers(129, 256, size=(12, 12)).astype(np.int64)
    W[3] = 0
    W[:, 5] = -W[:, 2]
    plain = cmvm.solve(W, restarts=0)
    for max_depth in (None, cmvm.min_depth(W) + 1):
        graph = cmvm.solve(W, restarts=6, max_depth=max_depth)
        assert np.array_equal(graph.matrix().astype(object), W.astype(object))
        assert max_depth is None or graph.depth <= max_depth
    assert cmvm.solve(W, restarts=6).adders <= plain.adders
    X = _extreme_inputs(12, 8, True, rng)
    assert np.array_equal(cmvm.solve(W, restarts=6).evaluate(X), W.astype(object) @ X)


@pytest.mark.parametrize("form", cmvm.DIGIT_FORMS)
def test_digit_forms_are_minimal_signed_digit_forms(form):
    """Every form's digits sum to the value with as few nonzero digits as CSD (the least any has)."""
    values = np.concatenate([np.arange(-5000, 5001), [(1 << 59) - 1, -(1 << 59) + 3, 0x5555555555555]])
    planes = cmvm.digit_planes(values, form).astype(object)
    powers = np.array([1 << s for s in range(planes.shape[-1])], dtype=object)
    assert np.array_equal(planes @ powers, values.astype(object))
    assert np.array_equal(np.count_nonzero(planes, axis=-1),
                          np.count_nonzero(cmvm.csd_planes(values), axis=-1))
    assert np.array_equal(cmvm.digit_planes(-values, form), -cmvm.digit_planes(values, form))


def test_digit_forms_differ_where_a_weight_has_two_minimal_forms():
    """3 = 4 - 1 in CSD, 2 + 1 in form 1; 11 = 16 - 4 - 1 and 8 + 2 + 1; 7 = 8 - 1 has one form."""
    W = np.array([3, 11, 7, -3])
    assert cmvm.digit_planes(W, 0).tolist() == cmvm.csd_planes(W).tolist() == [
        [-1, 0, 1, 0, 0], [-1, 0, -1, 0, 1], [-1, 0, 0, 1, 0], [1, 0, -1, 0, 0]]
    assert cmvm.digit_planes(W, 1).tolist() == [
        [1, 1, 0, 0], [1, 1, 0, 1], [-1, 0, 0, 1], [-1, -1, 0, 0]]
    with pytest.raises(ValueError, match=r"^unknown digit form 2; expected one of \(0, 1\)$"):
        cmvm.digit_planes(W, 2)


def test_second_digit_form_shares_more_on_int4_weights(monkeypatch):
    """Small weights have two forms of 3 (and 6, 12): 2 + 1 shares as x + (x << 1); the solver keeps the
    better form's graph, deterministically."""
    W = np.random.default_rng(3).integers(-7, 8, size=(24, 24)).astype(np.int64)
    graphs = {}
    for forms in ((0,), (1,), (0, 1)):
        monkeypatch.setattr(cmvm.plans, "PLAN_FORMS", forms)
        graphs[forms] = cmvm.solve(W, restarts=0)
        _check_exact(graphs[forms], W, 8, True)
    assert graphs[(1,)].adders < graphs[(0,)].adders
    assert graphs[(0, 1)].adders == graphs[(1,)].adders
    again = cmvm.solve(W)
    assert cmvm.solve(W).nodes == again.nodes and cmvm.solve(W).outputs == again.outputs
    # Above FORMS_NONZEROS nonzero weights only CSD runs (the second form doubles a large matrix's time).
    monkeypatch.setattr(cmvm.plans, "FORMS_NONZEROS", int(np.count_nonzero(W)) - 1)
    large = cmvm.solve(W, restarts=0)
    assert (large.nodes, large.outputs) == (graphs[(0,)].nodes, graphs[(0,)].outputs)


# -- the C core and plans (hardcore._pair_cse) against the Python reference -----

def _random_matrix(rng, rows, cols, bits):
    top = (1 << (bits - 1)) - 1
    W = rng.integers(-top - 1, top + 1, size=(rows, cols))
    W[rng.random((rows, cols)) < 0.15] = 0
    return W.astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_c_core_matches_python_core(seed, monkeypatch):
    """Both give exact graphs; the C core and plans are a step-for-step port, so the same graph."""
    rng = np.random.default_rng(seed)
    shapes = [(12, 20), (20, 12), (5, 32), (32, 5), (16, 16), (9, 40)]
    W = _random_matrix(rng, *shapes[seed], bits=(8, 4, 6)[seed % 3])
    for max_depth in (None, cmvm.min_depth(W), cmvm.min_depth(W) + 1):
        graphs = {}
        for core in ("python", "c"):
            monkeypatch.setenv("HARDCORE_CMVM_CORE", core)
            graphs[core] = graph = cmvm.solve(W, max_depth=max_depth)
            _check_exact(graph, W, 8, True, seed)
            if max_depth is not None:
                assert graph.depth <= max_depth
        assert graphs["c"].nodes == graphs["python"].nodes
        assert graphs["c"].outputs == graphs["python"].outputs


@pytest.mark.parametrize("form", cmvm.DIGIT_FORMS)
def test_c_core_matches_python_core_in_each_digit_form(form, monkeypatch):
    """The plans of one digit form alone, restarts included: the same graph from both."""
    W = _random_matrix(np.random.default_rng(11 + form), 14, 18, bits=5)
    monkeypatch.setattr(cmvm.plans, "PLAN_FORMS", (form,))
    for max_depth in (None, cmvm.min_depth(W) + 1):
        graphs = {}
        for core in ("python", "c"):
            monkeypatch.setenv("HARDCORE_CMVM_CORE", core)
            graphs[core] = graph = cmvm.solve(W, max_depth=max_depth, restarts=3)
            _check_exact(graph, W, 8, True)
        assert graphs["c"].nodes == graphs["python"].nodes
        assert graphs["c"].outputs == graphs["python"].outputs


@pytest.mark.parametrize("seed", range(2))
def test_c_core_matches_python_core_with_lookahead(seed, monkeypatch):
    """The look-ahead on pattern choice, step for step in both cores: the same graph, never worse."""
    W = _random_matrix(np.random.default_rng(21 + seed), (6, 9)[seed], (9, 6)[seed], bits=(4, 6)[seed])
    for max_depth in (None, cmvm.min_depth(W) + 1):
        graphs = {}
        for core in ("python", "c"):
            monkeypatch.setenv("HARDCORE_CMVM_CORE", core)
            graphs[core] = graph = cmvm.solve(W, max_depth=max_depth, restarts=1, lookahead=4)
            _check_exact(graph, W, 8, True, seed)
        assert graphs["c"].nodes == graphs["python"].nodes
        assert graphs["c"].outputs == graphs["python"].outputs
        plain = cmvm.solve(W, max_depth=max_depth, restarts=1)
        assert graphs["c"].adders_with_negations() <= plain.adders_with_negations()


def test_lookahead_finds_fewer_adders():
    """The literature's uniform [129, 255] 16x16 case at depth 11: the look-ahead saves adders."""
    W = np.random.default_rng(16).integers(129, 256, size=(16, 16))
    plain = cmvm.solve(W, max_depth=11)
    searched = cmvm.solve(W, max_depth=11, lookahead=64)
    _check_exact(searched, W, 8, True)
    assert searched.depth <= 11
    assert searched.adders_with_negations() < plain.adders_with_negations()


def test_lookahead_must_be_a_small_whole_number():
    with pytest.raises(ValueError, match=r"^lookahead must be a whole number in \[0, 1048576\], got -1$"):
        cmvm.solve(np.ones((2, 2), dtype=int), lookahead=-1)


def test_c_plans_fall_back_beyond_their_types(monkeypatch):
    """Weights of 2**60 and more outgrow the C plans' int64 sums: the Python plans run (exact)."""
    W = np.array([[1 << 61, 3, 5], [7, (1 << 60) + 1, 1], [2, 9, 11], [-(1 << 60) - 3, 4, 6]])
    graphs = {}
    for core in ("python", "c"):
        monkeypatch.setenv("HARDCORE_CMVM_CORE", core)
        graphs[core] = graph = cmvm.solve(W, restarts=2)
        _check_exact(graph, W, 8, True)
    assert graphs["c"].nodes == graphs["python"].nodes


def test_c_plans_reject_bad_arguments():
    from hardcore import _pair_cse
    plans = cmvm.plans
    config = (plans.SMALL_NONZEROS, plans.TRANSPOSE_NONZEROS, plans.DIFFERENCE_GAIN, plans.DIFFERENCE_PATHS, (0, 1), 0)
    with pytest.raises(ValueError, match=r"^W must be a non-empty C-contiguous 2-D int64 array$"):
        _pair_cse.plans(np.ones((2, 2), np.int32), [128, 128], -1, None, (1 << 62, 0), config)
    with pytest.raises(ValueError, match=r"^magnitudes must have one entry per column of W$"):
        _pair_cse.plans(np.ones((2, 2), np.int64), [128], -1, None, (1 << 62, 0), config)
    with pytest.raises(ValueError, match=r"^max_depth must be -1 \(none\) or 0\.\.60, got 61$"):
        _pair_cse.plans(np.ones((2, 2), np.int64), [128, 128], 61, None, (1 << 62, 0), config)
    scores, best = _pair_cse.plans(np.array([[3, 5], [7, 1]], np.int64), [128, 128], -1, None,
                                   (1 << 62, 0), config)
    with pytest.raises(ValueError, match=r"^digit forms must lie in 0\.\.1$"):
        _pair_cse.plans(np.ones((2, 2), np.int64), [128, 128], -1, None, (1 << 62, 0), config[:4] + ((-1,), 0))
    with pytest.raises(ValueError, match=r"^lookahead must lie in 0\.\.2\*\*20$"):
        _pair_cse.plans(np.ones((2, 2), np.int64), [128, 128], -1, None, (1 << 62, 0), config[:5] + (-1,))
    # direct and transposed, both ties, CSD digits then form 1's
    assert [code for code, _, _ in scores] == [0, 1, 100, 101, 1000, 1001, 1100, 1101]
    assert best[0] == 0 and len(best[1]) == scores[0][1]  # the first of the best, with its adders
    # a bound the best cannot beat: scores, but no graph
    assert _pair_cse.plans(np.array([[3, 5], [7, 1]], np.int64), [128, 128], -1, None,
                           (0, 0), config)[1] is None


def test_c_core_with_deep_bound(monkeypatch):
    """Bounds beyond the C core's 64-bit Kraft sums run unbounded and are checked."""
    W = _random_matrix(np.random.default_rng(3), 10, 14, 8)
    monkeypatch.setenv("HARDCORE_CMVM_CORE", "c")
    graph = cmvm.solve(W, max_depth=200)
    _check_exact(graph, W, 8, True)
    assert graph.adders == cmvm.solve(W).adders


def test_missing_c_core_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HARDCORE_CMVM_CORE", "c")
    monkeypatch.setitem(sys.modules, "hardcore._pair_cse", None)  # import fails
    with pytest.raises(ImportError, match=r"^hardcore\._pair_cse \(the C core of the CMVM solver\) "
                                          r"is not built or cannot be loaded: re-run \./setup\.sh to "
                                          r"build it, or set HARDCORE_CMVM_CORE=python for the slow "
                                          r"pure-Python core$"):
        cmvm.solve(np.array([[3, 5], [7, 1]]))
    monkeypatch.setenv("HARDCORE_CMVM_CORE", "python")  # the reference needs no extension
    _check_exact(cmvm.solve(np.array([[3, 5], [7, 1]])), np.array([[3, 5], [7, 1]]), 8, True)


def test_unknown_core_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HARDCORE_CMVM_CORE", "fortran")
    with pytest.raises(ValueError, match=r"^HARDCORE_CMVM_CORE='fortran': expected one of c, python$"):
        cmvm.solve(np.array([[3, 5], [7, 1]]))


def test_c_core_rejects_bad_terms():
    from hardcore import _pair_cse
    twice = np.array([[0, 1, 2, 1], [0, 1, 2, -1]], dtype=np.int32)
    with pytest.raises(ValueError, match=r"^term \(0, 1, 2\) given twice$"):
        _pair_cse.solve(2, [0, 0], 1, twice, -1, True, 0)
    with pytest.raises(ValueError, match=r"^terms must be a C-contiguous int32 buffer of shape \(N, 4\)$"):
        _pair_cse.solve(2, [0, 0], 1, twice.astype(np.int64), -1, True, 0)
    nodes, rows = _pair_cse.solve(1, [0], 2, np.array([[0, 0, 0, 1], [0, 0, 2, -1], [1, 0, 0, 1],
                                                      [1, 0, 2, -1]], dtype=np.int32), -1, True, 0)
    assert nodes == [(0, 0, 0, 2, -1)]  # x - (x << 2), used in both rows
    assert rows == [[(1, 0, 1)], [(1, 0, 1)]]
    assert _pair_cse.solve(1, [3], 1, np.array([[0, 0, 0, 1]], dtype=np.int32), 2, True, 0) is None
    with pytest.raises(ValueError, match=r"^lookahead must lie in 0\.\.2\*\*20$"):
        _pair_cse.solve(1, [0], 1, np.array([[0, 0, 0, 1]], dtype=np.int32), -1, True, -1)


def test_solver_is_reachable_from_the_package():
    """`import hardcore` is enough for hardcore.cmvm.solve (the README's entry point)."""
    import hardcore

    graph = hardcore.cmvm.solve(np.array([[3, 3, 0], [1, 1, 4]]), input_bits=8, signed=True)
    assert (graph.adders, graph.depth) == (3, 2)
    X = np.array([[1, -128], [2, 127], [3, -1]], dtype=object)
    assert graph.evaluate(X).tolist() == [[9, -3], [15, -5]]


# -- output negations: an adder unless a following adder absorbs the sign ----------

@pytest.mark.parametrize("core", ["c", "python"])
def test_negations_are_counted_and_avoided(core, monkeypatch):
    """x1 - x0 needs no negation (swap the subtractor's operands); -x0 - x1 needs one unless it is free."""
    monkeypatch.setenv("HARDCORE_CMVM_CORE", core)
    swapped = cmvm.solve(np.array([[-1, 1]]))
    assert (swapped.adders, swapped.negations(), swapped.outputs[0][2]) == (1, 0, 1)
    both = np.array([[-1, -1], [-3, -5]])
    graph = cmvm.solve(both)
    _check_exact(graph, both, 8, True)
    # (x0 - x1) - 4 (x0 + x1) = -3 x0 - 5 x1: only -x0 - x1 is left negated
    assert (graph.adders, graph.negations(), graph.adders_with_negations()) == (3, 1, 4)
    free = cmvm.solve(both, free_negation_rows=[0, 1])
    _check_exact(free, both, 8, True)
    assert (free.adders, free.negations([0, 1]), free.negations()) == (3, 0, 2)
    # rows equal up to sign share one value: one negation, and none where the row's sign is free
    pair = np.array([[3, 5], [-3, -5]])
    assert (cmvm.solve(pair).adders, cmvm.solve(pair).negations()) == (3, 1)
    assert cmvm.solve(pair, free_negation_rows=[1]).negations([1]) == 0


def test_sign_normalization_removes_negations_of_a_trained_like_layer():
    """Flipping adders' polarities leaves the 64x16 MLP-like layer with few negated outputs."""
    rng = np.random.default_rng(3)
    W = np.clip(np.rint(rng.normal(0, 40, size=(64, 16))), -128, 127).astype(np.int64)
    graph = cmvm.solve(W, restarts=0)
    _check_exact(graph, W, 8, True)
    negated = sum(1 for o in graph.outputs if o is not None and o[2] < 0)
    assert graph.negations() == negated <= 2


def test_bad_free_negation_rows():
    with pytest.raises(ValueError, match=r"^free_negation_rows must be row indices in \[0, 2\)$"):
        cmvm.solve(np.ones((2, 2), dtype=int), free_negation_rows=[2])


def test_subtractors_pass_low_bits_where_a_sign_is_free():
    """7x = (x << 3) - x computes its low three bits (a borrow chain); x - (x << 3) = -7x passes x's,
    so the solver flips it where the row's sign is free, and only there."""
    W = np.array([[7], [15]])
    bare = cmvm.solve(W)
    assert bare.nodes[0] == AdderNode(0, 3, 0, 0, -1) and bare.outputs[0] == (1, 0, 1)
    free = cmvm.solve(W, free_negation_rows=[0])
    _check_exact(free, W, 8, True)
    assert free.nodes[0] == AdderNode(0, 0, 0, 3, -1) and free.outputs[0] == (1, 0, -1)
    assert free.nodes[1] == bare.nodes[1] and free.outputs[1] == bare.outputs[1] == (2, 0, 1)


def test_solve_tries_only_the_plans_given():
    W = np.array([[7, 11, 13, 5], [3, 6, 12, 9], [7, 11, 13, 6]])
    graph = cmvm.solve(W, max_depth=4, plans=[0])
    _check_exact(graph, W, 8, True)
    assert graph.depth <= 4
    with pytest.raises(cmvm.PlansInfeasible, match=r"^none of the plans \[999\] meets max_depth=4$"):
        cmvm.solve(W, max_depth=4, plans=[999])  # no such plan
    with pytest.raises(ValueError, match=r"^plans are those of algorithm 'cse', not 'csd'$"):
        cmvm.solve(W, algorithm="csd", plans=[0])
