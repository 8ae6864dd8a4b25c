"""CMVM solves on a process pool and on a Dask cluster: the same graphs and SystemVerilog as in one process."""

import socket

import numpy as np
import pytest
import torch

import hardcore
from hardcore import cmvm
from hardcore.errors import UsageError
from hardcore.scale import parallel


def _model():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(24, 20), torch.nn.ReLU(), torch.nn.Linear(20, 12), torch.nn.ReLU(),
                               torch.nn.Linear(12, 4))


def _jobs():
    rng = np.random.default_rng(5)
    return [parallel.SolveJob.of(rng.integers(-60, 60, size=shape), 6, True, depth)
            for shape, depth in (((12, 20), None), ((8, 8), 5), ((16, 10), None))]


def _graphs_equal(a, b) -> bool:
    return a.nodes == b.nodes and a.outputs == b.outputs and a.n_inputs == b.n_inputs


def test_pool_gives_the_serial_graphs(monkeypatch):
    monkeypatch.setattr(parallel, "PROGRESS_AFTER", 0.0)  # say it even of quick work
    jobs = _jobs()
    expected = [cmvm.solve(job.weights(), input_bits=6, signed=True, max_depth=job.max_depth) for job in jobs]
    seen = []
    with parallel.session(2, say=seen.append):
        parallel.solve_ahead(jobs, parallel.progress("solving", "matrices"))
        graphs = parallel.solve_all(jobs)
        again = parallel.solve_all(jobs[1:])  # solved before: taken from the session
    assert all(_graphs_equal(g, e) for g, e in zip(graphs, expected))
    assert all(a is b for a, b in zip(again, graphs[1:]))
    assert seen[-1].startswith("solving: 3 matrices in ")


def test_compile_is_byte_identical_on_a_pool():
    x = torch.zeros(1, 24)
    serial = hardcore.compile(_model(), x, weight_bits=6, act_bits=6, workers="serial")
    pooled = hardcore.compile(_model(), x, weight_bits=6, act_bits=6, workers=2)
    assert pooled.verilog == serial.verilog


@pytest.mark.parametrize("workers, message", [
    (0, "workers: a process pool needs at least 1 process, got 0"),
    ("many", "workers: expected 'auto', 'serial', a number of processes or a scheduler address (tcp://host:port), "
             "got 'many'"),
    (2.5, "workers: expected 'auto', 'serial', a number of processes or a scheduler address, got 2.5"),
])
def test_bad_workers_are_usage_errors(workers, message):
    with pytest.raises(UsageError, match=f"^{message.replace('(', '[(]').replace(')', '[)]')}$"):
        hardcore.compile(_model(), torch.zeros(1, 24), workers=workers)


def test_bad_scheduler_is_a_usage_error():
    with pytest.raises(UsageError, match=r"^compile: scheduler must be a Dask scheduler's address such as "
                                         r"tcp://host:8786, got 'localhost'$"):
        hardcore.compile(_model(), torch.zeros(1, 24), scheduler="localhost")


def test_unreachable_scheduler_is_a_usage_error(monkeypatch):
    pytest.importorskip("distributed")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 2)
    with pytest.raises(UsageError, match=rf"^scheduler tcp://127.0.0.1:{port}: cannot connect "):
        with parallel.session(f"tcp://127.0.0.1:{port}"):
            parallel.solve_all(_jobs())


@pytest.mark.slow
def test_compile_is_byte_identical_on_a_dask_cluster(monkeypatch):
    monkeypatch.setattr(parallel, "PROGRESS_AFTER", 0.0)
    distributed = pytest.importorskip("distributed")
    x = torch.zeros(1, 24)
    serial = hardcore.compile(_model(), x, weight_bits=6, act_bits=6, workers="serial")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        seen = []
        clustered = hardcore.compile(_model(), x, weight_bits=6, act_bits=6, scheduler=cluster.scheduler_address,
                                     progress=seen.append)
        with distributed.Client(cluster.scheduler_address) as client:
            ran = client.run(lambda: 1)  # both workers are up
    assert clustered.verilog == serial.verilog
    assert len(ran) == 2
    assert any(message.startswith("solving: 3 matrices in ") for message in seen)


@pytest.mark.synth
def test_report_synth_runs_yosys_twice_at_once_with_the_same_figures(tmp_path):
    import shutil

    from hardcore.report import synthesize

    if shutil.which("yosys") is None:
        pytest.skip("yosys not on PATH")
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    figures = {}
    for workers in ("serial", 2):
        circuit = hardcore.compile(model, torch.zeros(1, 6), weight_bits=4, act_bits=4)
        result = synthesize(circuit, tmp_path / str(workers), workers=workers)
        figures[workers] = (result["folded"]["luts"], result["plain"]["luts"], result["folded"]["logic_levels"],
                            [(layer["luts"], layer["plain_luts"]) for layer in circuit.layers])
    assert figures["serial"] == figures[2]
    assert figures[2][0] > 0 and figures[2][1] > 0


def test_a_failing_solve_raises_where_it_is_asked_for():
    job = parallel.SolveJob.of(np.array([[7, 11, 13]]), 4, True, 1)  # 7 = 8 - 1 and more: depth 1 is infeasible
    with parallel.session(2):
        parallel.solve_ahead([job] + _jobs())  # the others are solved; this one's error is kept
        with pytest.raises(ValueError, match=r"^max_depth=1 is infeasible: row 0 has \d+ canonical signed digits"):
            parallel.solve_all([job])


def test_hardcore_opt_rejects_a_scheduler_that_is_no_address(capsys):
    from hardcore.cli import opt_main

    assert opt_main(["-", "--scheduler", "localhost"]) == 2
    assert capsys.readouterr().err == ("hardcore-opt: error: --scheduler: a Dask scheduler's address such as "
                                       "tcp://host:8786, got 'localhost'\n")


def test_a_job_of_given_plans_solves_as_cmvm_does_with_only_those(monkeypatch):
    rng = np.random.default_rng(9)
    matrix = rng.integers(-100, 100, size=(20, 24))
    job = parallel.SolveJob.of(matrix, 8, True, 8, free_rows=[1, 4], plans=(0,))
    graph = parallel._solve(job)
    # cmvm runs only its direct plan ("direct tie=b digits=0", code 0) when nothing else qualifies.
    for name, value in (("DIFFERENCE_GAIN", 0.0), ("SMALL_NONZEROS", 0), ("TRANSPOSE_NONZEROS", 0),
                        ("PLAN_FORMS", (0,))):
        monkeypatch.setattr(cmvm.plans, name, value)
    expected = cmvm.solve(matrix, input_bits=8, signed=True, max_depth=8, restarts=0, free_negation_rows=[1, 4])
    assert _graphs_equal(graph, expected) and graph.depth <= 8


def test_plans_that_cannot_meet_the_depth_bound_fall_back_to_every_plan():
    matrix = np.array([[7, 11, 13, 5], [3, 6, 12, 9], [7, 11, 13, 6]])
    depth = cmvm.min_depth(matrix)
    job = parallel.SolveJob.of(matrix, 4, True, depth, plans=(999,))  # no such plan: none meets it
    graph = parallel._solve(job)
    assert _graphs_equal(graph, cmvm.solve(matrix, input_bits=4, signed=True, max_depth=depth))
    assert job.key() != parallel.SolveJob.of(matrix, 4, True, depth).key()
