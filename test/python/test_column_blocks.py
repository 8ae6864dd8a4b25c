"""Column blocks: a matrix wider than BLOCK_MIN_COLUMNS is solved as blocks of BLOCK_COLUMNS, summed per row."""

import numpy as np
import pytest
import torch

import hardcore
from hardcore import cmvm
from hardcore.adder_graph import AdderGraph
from hardcore.interpreter import find_function, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.passes.fold_weights import dense
from hardcore.scale import parallel

from conftest import extreme_inputs


def _matrix(rows: int, columns: int, seed: int = 1) -> np.ndarray:
    matrix = np.random.default_rng(seed).integers(-9, 10, size=(rows, columns))
    matrix[:, 5] = 0  # a zero column
    matrix[3] = 0  # a zero row: no output
    matrix[4, 200:] = 0  # a row that only the first two blocks reach
    return matrix


def _solve(matrix, ranges, max_depth=None):
    jobs = dense.solve_jobs(matrix, ranges, max_depth)
    return jobs, dense._combine(jobs, parallel.solve_all(jobs))


@pytest.mark.parametrize("ranges", [(-128, 127), (0, 255)])
def test_blocks_compute_the_matrix_with_exact_ranges(ranges):
    matrix = _matrix(12, 600)
    jobs, graph = _solve(matrix, [ranges] * 600)
    assert [job.shape for job in jobs] == [(12, 128)] * 4 + [(12, 88)]
    assert np.array_equal(graph.matrix().astype(np.int64), matrix)
    inputs = np.random.default_rng(2).integers(ranges[0], ranges[1] + 1, size=(600, 5))
    assert np.array_equal(graph.evaluate(inputs).astype(np.int64), matrix @ inputs)
    # The blocks' ranges plus the sums' equal the exact linear-form ranges of the whole graph.
    assert graph.value_ranges([ranges] * 600) == AdderGraph.value_ranges(graph, [ranges] * 600)
    assert graph.outputs[3] is None
    # The blocks share the restarts the whole matrix would get.
    assert {job.restarts for job in jobs} == {cmvm.plans.RESTART_BUDGET // np.count_nonzero(matrix)}


def test_depth_bound_leaves_room_for_the_sums():
    matrix = _matrix(6, 600)
    jobs, graph = _solve(matrix, [(-128, 127)] * 600, max_depth=12)
    assert len(jobs) == 5 and {job.max_depth for job in jobs} == {9}  # 3 levels sum 5 blocks
    assert graph.depth <= 12 and np.array_equal(graph.matrix().astype(np.int64), matrix)
    # Blocks that cannot meet the bound less the sums' levels: the matrix is solved whole.
    tight = cmvm.min_depth(matrix)  # 10; each block needs 8, and 5 blocks' sums take 3 levels
    assert cmvm.min_depth(matrix[:, :128]) > tight - 3
    jobs, graph = _solve(matrix, [(-128, 127)] * 600, max_depth=tight)
    assert [job.shape for job in jobs] == [(6, 600)] and graph.depth <= tight


def test_narrower_matrices_are_solved_whole():
    matrix = _matrix(8, dense.BLOCK_MIN_COLUMNS)
    jobs, graph = _solve(matrix, [(-128, 127)] * matrix.shape[1])
    assert [job.shape for job in jobs] == [matrix.shape] and jobs[0].restarts is None
    assert type(graph) is AdderGraph


def test_large_solves_try_only_the_direct_plan(monkeypatch):
    matrix = _matrix(6, 600)
    assert [job.plans for job in dense.solve_jobs(matrix, [(-128, 127)] * 600, None)] == [None] * 5
    monkeypatch.setattr(dense, "DIRECT_NONZEROS", 500)  # blocks of 588, 562, 492, 492 and 340 nonzero weights
    jobs, graph = _solve(matrix, [(-128, 127)] * 600)
    assert [job.plans for job in jobs] == [dense.DIRECT_PLANS] * 2 + [None] * 3
    assert np.array_equal(graph.matrix().astype(np.int64), matrix)
    jobs, graph = _solve(matrix[:, :128], [(-128, 127)] * 128)  # a matrix solved whole: the same rule
    assert [job.plans for job in jobs] == [dense.DIRECT_PLANS]
    assert np.array_equal(graph.matrix().astype(np.int64), matrix[:, :128])


def test_a_wide_layer_folds_bit_exact(rng):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(600, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    circuit = hardcore.compile(model, torch.zeros(1, 600), weight_bits=4, act_bits=4,
                               calibration=rng.standard_normal((64, 600)), workers="serial")
    low, high = circuit.in_range
    inputs = np.concatenate([rng.integers(low, high + 1, (500, 600)), extreme_inputs(600, low, high)])
    dag = parse_module(circuit.stages["dag"], new_context())
    assert np.array_equal(run_function(find_function(dag.operation), inputs), circuit.reference(inputs))
    assert circuit.report["layers"][0]["nonzero_weights"] > 0
