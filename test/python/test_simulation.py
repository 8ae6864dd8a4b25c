"""The SystemVerilog itself: Verilator (and Icarus) against the reference, bit for bit."""

import numpy as np
import pytest

from hardcore.sim import simulate, tool_available

from conftest import extreme_inputs

pytestmark = pytest.mark.sim


@pytest.mark.skipif(not tool_available("verilator"), reason="verilator is not installed")
def test_mlp_bit_exact_in_verilator(trained_mlp, mlp_circuit, tmp_path, rng):
    circuit = mlp_circuit
    low, high = circuit.in_range
    model, (inputs, _) = trained_mlp
    # 1000 quantized real inputs, 1000 uniformly random codes, and the extremes.
    real = circuit.quantize_input(inputs[-1000:].numpy())
    vectors = np.concatenate([real, rng.integers(low, high + 1, (1000, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    result = simulate(circuit.verilog, circuit.name, vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, workdir=tmp_path)
    expected = circuit.reference(vectors)
    mismatches = int(np.any(result.outputs != expected, axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(vectors)} vectors differ"

    float_outputs = model(inputs[-1000:]).detach().numpy()
    rtl_outputs = circuit.dequantize_output(result.outputs[:1000])
    max_error = float(np.abs(rtl_outputs - float_outputs).max())
    print(f"\n{len(vectors)} vectors bit-exact; max |RTL - float| = {max_error:.4f} "
          f"(float outputs up to {np.abs(float_outputs).max():.2f}); "
          f"build {result.build_seconds:.1f} s, run {result.run_seconds:.3f} s")
    assert max_error < 0.05 * np.abs(float_outputs).max()


@pytest.mark.skipif(not tool_available("iverilog"), reason="iverilog is not installed")
def test_mlp_bit_exact_in_icarus(mlp_circuit, tmp_path, rng):
    circuit = mlp_circuit
    low, high = circuit.in_range
    vectors = np.concatenate([rng.integers(low, high + 1, (100, circuit.n_in)),
                              extreme_inputs(circuit.n_in, low, high)])
    result = simulate(circuit.verilog, circuit.name, vectors, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, workdir=tmp_path, simulator="icarus")
    assert np.array_equal(result.outputs, circuit.reference(vectors))
