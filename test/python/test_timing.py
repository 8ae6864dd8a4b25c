"""Timing-driven pipelining (hardcore.physical.timing): the depth search against a known delay model."""

import pytest
import torch

import hardcore
from hardcore.physical.timing import pipeline_for_target, total_levels

# A made-up device: 3 ns of clock-to-out, setup and routing, and 2 ns an adder level.
FIXED_NS, LEVEL_NS = 3.0, 2.0


@pytest.fixture(scope="module")
def small_circuit(trained_mlp):
    model, (inputs, _) = trained_mlp
    return hardcore.compile(model, torch.zeros(1, 16), weight_bits=4, act_bits=4, calibration=inputs[:256].numpy())


def _model_place(calls):
    def place(circuit, workdir):
        depth = circuit.options["max_adder_depth"]
        calls.append(depth)
        return {"fmax_mhz": round(1000.0 / (FIXED_NS + LEVEL_NS * depth), 2)}
    return place


def test_total_levels_is_the_latency_at_depth_one(small_circuit):
    from hardcore.compiler import repipeline

    assert total_levels(small_circuit) == repipeline(small_circuit, 1).latency > small_circuit.figures["adder_depth"]


@pytest.mark.parametrize("target_mhz", [40.0, 70.0, 140.0])
def test_search_finds_the_largest_depth_that_meets(small_circuit, target_mhz, tmp_path):
    calls = []
    circuit, figures, search = pipeline_for_target(small_circuit, target_mhz, place=_model_place(calls),
                                                   workdir=tmp_path)
    best = int((1000.0 / target_mhz - FIXED_NS) // LEVEL_NS)  # the model's own answer
    assert search["meets"] and search["max_adder_depth"] == best == circuit.options["max_adder_depth"]
    assert figures["fmax_mhz"] >= target_mhz and search["runs"][-1]["max_adder_depth"] in calls
    assert len(calls) == len(set(calls)) <= 4  # calibrated: a few runs, never one depth twice


def test_search_needs_no_registers_when_the_whole_dag_meets(small_circuit, tmp_path):
    levels = total_levels(small_circuit)
    slow_target = 1000.0 / (FIXED_NS + LEVEL_NS * levels) - 1
    calls = []
    circuit, _, search = pipeline_for_target(small_circuit, slow_target, place=_model_place(calls), workdir=tmp_path)
    assert calls == [levels] and circuit.latency == 1 and search["meets"]


def test_search_says_by_how_much_it_misses(small_circuit, tmp_path):
    calls = []
    circuit, figures, search = pipeline_for_target(small_circuit, 500.0, place=_model_place(calls), workdir=tmp_path)
    assert not search["meets"] and search["max_adder_depth"] == 1 and 1 in calls
    assert search["miss_mhz"] == pytest.approx(500.0 - 200.0) and figures["fmax_mhz"] == 200.0


def test_bad_target(small_circuit, tmp_path):
    with pytest.raises(hardcore.UsageError, match=r"^--target-mhz must be positive, got -5$"):
        pipeline_for_target(small_circuit, -5, place=_model_place([]), workdir=tmp_path)


def test_search_stays_above_the_depths_that_do_not_fit(small_circuit, tmp_path):
    """Pipelining at depth 3 or less overflows the made-up device: the search never goes below 4."""
    calls = []

    def place(circuit, workdir):
        depth = circuit.options["max_adder_depth"]
        calls.append(depth)
        if depth <= 3:
            return {"fits": False, "message": "needs 6,000 LUT4s, the up5k has 5,280"}
        return {"fmax_mhz": round(1000.0 / (FIXED_NS + LEVEL_NS * depth), 2)}

    circuit, figures, search = pipeline_for_target(small_circuit, 140.0, place=place, workdir=tmp_path)
    assert not search["meets"] and search["max_adder_depth"] == 4 == circuit.options["max_adder_depth"]
    assert search["limit"] == "max-adder-depth 3 and below do not fit the device"
    assert search["miss_mhz"] == pytest.approx(140.0 - 1000.0 / 11, abs=0.01) and 4 in calls
    assert not [run for run in search["runs"] if run["max_adder_depth"] < 4 and run["fmax_mhz"]]


def test_search_when_nothing_fits(small_circuit, tmp_path):
    def place(circuit, workdir):
        return {"fits": False, "message": "does not fit the hx1k: needs 2,000 LUT4s"}

    with pytest.raises(hardcore.HardcoreError, match=r"^mlp: even with no pipeline registers does not fit the "
                       r"hx1k: needs 2,000 LUT4s$"):
        pipeline_for_target(small_circuit, 50.0, place=place, workdir=tmp_path)
