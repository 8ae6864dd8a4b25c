"""The demo: train a 16-64-32-5 MLP, compile it to SystemVerilog, prove it in Verilator.

Writes out/demo/ (the .sv, a JSON report and the IR of every stage) and prints
what it did.  Run by ./setup.sh; on its own: .venv/bin/python examples/demo.py
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlp import train_mlp  # noqa: E402

import hardcore  # noqa: E402
from hardcore.sim import simulate, tool_available  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "demo"


def main() -> int:
    start = time.time()
    print("demo: training a 16-64-32-5 ReLU MLP on a synthetic 5-class task ...")
    model, (inputs, labels) = train_mlp(seed=0, steps=300)
    train, test = slice(0, 3072), slice(3072, 4096)

    print("demo: compiling to SystemVerilog (8-bit weights and activations) ...")
    circuit = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[train].numpy(),
                               progress=lambda message: print(f"  {message}"))
    files = circuit.write(OUT)
    report = circuit.report
    print(f"demo: wrote {', '.join(str(p.relative_to(OUT.parents[1])) for p in files if p.suffix in ('.sv', '.json'))}")
    print(f"  ports: x = {circuit.n_in} x {circuit.in_width} bits, y = {circuit.n_out} x {circuit.out_width} bits")
    print("  layer   weights  nonzero  adders  adder bits  adder depth")
    for index, layer in enumerate(report["layers"]):
        print(f"  {index:5d}  {layer['weights']:8d} {layer['nonzero_weights']:8d} {layer['adders']:7d} "
              f"{layer['adder_bits']:11d} {layer['adder_depth']:12d}")
    print(f"  total: {report['adders']} adders, {report['adder_bits']} adder bits, "
          f"critical path {report['adder_depth']} adders, no multipliers, no weight memory")

    test_inputs, test_labels = inputs[test], labels[test].numpy()
    float_out = model(test_inputs).detach().numpy()
    x_int = circuit.quantize_input(test_inputs.numpy())
    reference = circuit.reference(x_int)
    print(f"demo: accuracy on {len(test_labels)} held-out samples: float {np.mean(float_out.argmax(1) == test_labels):.3f}, "
          f"quantized reference {np.mean(reference.argmax(1) == test_labels):.3f}")

    if not tool_available("verilator"):
        print("demo: verilator not found: skipping simulation")
        return 0
    print("demo: building the circuit with Verilator and simulating the held-out inputs ...")
    result = simulate(circuit.verilog, circuit.name, x_int, n_in=circuit.n_in, in_width=circuit.in_width,
                      n_out=circuit.n_out, out_width=circuit.out_width, workdir=OUT / "sim")
    mismatches = int(np.any(result.outputs != reference, axis=1).sum())
    rtl = circuit.dequantize_output(result.outputs)
    print(f"demo: RTL vs reference: {len(x_int) - mismatches} of {len(x_int)} vectors bit-exact, {mismatches} mismatches "
          f"(build {result.build_seconds:.1f} s, simulation {result.run_seconds:.2f} s)")
    print(f"demo: RTL accuracy {np.mean(result.outputs.argmax(1) == test_labels):.3f}; "
          f"max |RTL - float| = {np.abs(rtl - float_out).max():.3f} (outputs up to {np.abs(float_out).max():.1f})")
    print(f"demo: done in {time.time() - start:.0f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
