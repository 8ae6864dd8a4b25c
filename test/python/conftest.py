"""Shared fixtures: small models and their compiled circuits (compiled once per session)."""

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

from mlp import train_mlp  # noqa: E402

import hardcore  # noqa: E402
from hardcore.verify import extreme_inputs  # noqa: E402,F401  (the tests import it from here)


@pytest.fixture(scope="session", autouse=True)
def system_temp(tmp_path_factory):
    """The tests' system temporary directory (`tempfile.gettempdir()`, and $TMPDIR for the processes they
    start): a folder of pytest's, not /tmp.  Many tests fail a pass on purpose, and each failure writes its
    reproducer folder there (docs/errors.md); pytest deletes all but its last three runs' folders."""
    folder = tmp_path_factory.mktemp("system-temp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(folder))
        patch.setenv("TMPDIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def trained_mlp():
    """The README's 16-64-32-5 ReLU MLP, trained for a moment on a synthetic task."""
    model, data = train_mlp(seed=0, steps=300)
    return model, data


@pytest.fixture(scope="session")
def mlp_circuit(trained_mlp):
    model, (inputs, _) = trained_mlp
    return hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy())


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def simulated(circuit, vectors, workdir):
    """The circuit's outputs in Verilator for `vectors` (one inference per clock when pipelined)."""
    from hardcore.sim import simulate

    result = simulate(circuit.verilog, circuit.name, circuit.to_port(vectors), n_in=circuit.n_in,
                      in_width=circuit.in_width, n_out=circuit.n_out, out_width=circuit.out_width, workdir=workdir,
                      latency=circuit.latency or None)
    if circuit.latency:
        assert result.throughput == 1.0 and result.cycles == len(vectors) + circuit.latency
    return circuit.from_port(result.outputs)


def assert_dag_is_reference(circuit, rng, count: int = 300):
    """The folded DAG (stage "dag") in the interpreter equals the circuit's reference on random and extreme inputs."""
    from hardcore.interpreter import find_function, run_function
    from hardcore.mlir import new_context, parse_module

    low, high = circuit.in_range
    x = np.concatenate([rng.integers(low, high + 1, (count, circuit.n_in)), extreme_inputs(circuit.n_in, low, high)])
    dag_module = parse_module(circuit.stages["dag"], new_context())
    dag = run_function(find_function(dag_module.operation), x).reshape(len(x), -1)
    assert np.array_equal(dag, circuit.reference(x))
