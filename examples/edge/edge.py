"""Handwritten digits on a Lattice iCE40 UP5K: train a 4-bit MLP, hardwire it, place and route it, write a bitstream.

One command from training to a bitstream a person can load onto a UP5K
board (an iCEBreaker, say):

    .venv/bin/python examples/edge/edge.py                     # target 24 MHz
    .venv/bin/python examples/edge/edge.py --target-mhz 48     # a faster clock: more pipeline registers

1. Trains a 64-16-10 ReLU MLP on scikit-learn's bundled 8x8 digits (no
   download) with quantization-aware training: 4-bit weights and activations
   at power-of-two scales, so the circuit computes what the trained model
   computes (fixed seeds, one CPU thread, seconds).
2. Compiles it with hardcore to a classifier circuit: the 64 pixels in, the
   digit out (`output="argmax"`).
3. Chooses the pipeline (`hardcore.physical.timing`): the largest adder
   depth a stage whose placed-and-routed design meets `--target-mhz`.
4. Wraps it in the UART wrapper (the UP5K's SG48 package has 39 I/O pins,
   the circuit's ports 324 bits), synthesizes, places and routes it with
   nextpnr-ice40 and packs the bitstream with icepack.
5. Simulates the post-synthesis netlist (Yosys' iCE40 cell models, Icarus)
   on the held-out images and compares every output with the reference bit for bit.

Everything goes to out/edge/ (or --out): the circuit, the bitstream, the
PCF, the reports and results.json.  Exit status 1 if the netlist ever
differs from the reference or the design does not fit.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "digits"))

import hardcore  # noqa: E402
from digits import load_digits_split  # noqa: E402  (the same data and split as the digits CNN)

__all__ = ["EdgeMLP", "train_edge_mlp", "main"]

OUT = ROOT / "out" / "edge"
HIDDEN = 16
WEIGHT_BITS = 4
ACT_BITS = 4
EPOCHS = 100
BATCH = 64
LEARNING_RATE = 3e-3
SEED = 0
INPUT_FRAC_BITS = 4       # pixels / 16 on a 2^-4 grid: the digits' own 0..16 levels, 16 saturating to 15
HIDDEN_SCALE = 2.0 ** -2  # the hidden activations' step: 4 bits unsigned cover [0, 3.75]
DEVICE = "up5k"
TARGET_MHZ = 24.0


def _power_of_two_scale(weight: torch.Tensor, bits: int) -> float:
    """The smallest 2^-k that fits the tensor's largest |w| into `bits` signed bits."""
    largest = float(weight.detach().abs().max())
    return 2.0 ** math.ceil(math.log2(max(largest, 1e-8) / (2 ** (bits - 1) - 1)))


class EdgeMLP(nn.Module):
    """Linear(64 -> hidden) -> ReLU -> Linear(hidden -> 10), fake-quantized at power-of-two scales.

    The input, the hidden activations and both weight matrices go through
    `torch.fake_quantize_per_tensor_affine`, which hardcore imports as the
    circuit's own scales (docs/quantization.md).  The weight scales are
    plain floats, re-chosen between epochs by `rescale()` (torch.export
    cannot trace a scale computed inside forward).
    """

    def __init__(self, hidden: int = HIDDEN, weight_bits: int = WEIGHT_BITS, act_bits: int = ACT_BITS,
                 seed: int = SEED):
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.hidden_layer = nn.Linear(64, hidden)
        self.output_layer = nn.Linear(hidden, 10)
        torch.random.set_rng_state(generator_state)
        self.weight_bits, self.act_bits = weight_bits, act_bits
        self.rescale()

    def rescale(self) -> None:
        self.hidden_scale = _power_of_two_scale(self.hidden_layer.weight, self.weight_bits)
        self.output_scale = _power_of_two_scale(self.output_layer.weight, self.weight_bits)

    def _weight(self, layer: nn.Linear, scale: float) -> torch.Tensor:
        low, high = -2 ** (self.weight_bits - 1), 2 ** (self.weight_bits - 1) - 1
        return torch.fake_quantize_per_tensor_affine(layer.weight, scale, 0, low, high)

    def forward(self, x):
        x = torch.fake_quantize_per_tensor_affine(x.flatten(1), 2.0 ** -INPUT_FRAC_BITS, 0, 0,
                                                  2 ** self.act_bits - 1)
        h = torch.relu(nn.functional.linear(x, self._weight(self.hidden_layer, self.hidden_scale),
                                            self.hidden_layer.bias))
        h = torch.fake_quantize_per_tensor_affine(h, HIDDEN_SCALE, 0, 0, 2 ** self.act_bits - 1)
        return nn.functional.linear(h, self._weight(self.output_layer, self.output_scale), self.output_layer.bias)


def train_edge_mlp(data, hidden: int = HIDDEN, epochs: int = EPOCHS, seed: int = SEED) -> EdgeMLP:
    """An EdgeMLP fitted with Adam on the training split (straight-through fake quantization), in eval mode."""
    model = EdgeMLP(hidden, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    images = torch.from_numpy(data.train_images.reshape(len(data.train_images), -1))
    labels = torch.from_numpy(data.train_labels)
    generator = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread of a busy machine
    try:
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(images), generator=generator).split(BATCH):
                loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.rescale()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target-mhz", type=float, action="append", metavar="F",
                        help=f"a clock to meet (repeat for several builds; default {TARGET_MHZ:g})")
    parser.add_argument("--device", default=DEVICE, help=f"iCE40 part (default {DEVICE})")
    parser.add_argument("--hidden", type=int, default=HIDDEN, help=f"hidden neurons (default {HIDDEN})")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                        help="seconds for each place-and-route run (default 1800)")
    parser.add_argument("--no-fpga", action="store_true", help="train and compile only")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default out/edge)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from hardcore.physical.flow import build_fpga, format_report
    from hardcore.physical.netlist_sim import simulate_netlist

    args = _arguments(argv)
    targets = args.target_mhz or [TARGET_MHZ]
    out = args.out
    start = time.time()

    def say(message: str) -> None:
        print(f"{time.time() - start:6.1f} s  {message}", flush=True)

    data = load_digits_split()
    say(f"training a 64-{args.hidden}-10 MLP, {WEIGHT_BITS}-bit weights and activations (QAT), "
        f"on {len(data.train_images)} digits")
    model = train_edge_mlp(data, hidden=args.hidden, epochs=args.epochs)
    images = data.test_images.reshape(len(data.test_images), -1)
    with torch.no_grad():
        torch_accuracy = float(np.mean(model(torch.from_numpy(images)).argmax(1).numpy() == data.test_labels))
    circuit = hardcore.compile(model, torch.zeros(1, 64), output="argmax", name="edge_digits",
                               progress=lambda message: say(f"  {message}"))
    compiled = out / "circuit"
    circuit.write(compiled)
    x_int = circuit.quantize_input(images)
    reference = circuit.reference(x_int).reshape(-1)
    circuit_accuracy = float(np.mean(reference == data.test_labels))
    results = {"hidden": args.hidden, "weight_bits": WEIGHT_BITS, "act_bits": ACT_BITS,
               "weights": 64 * args.hidden + args.hidden * 10, "held_out_images": len(images),
               "torch_accuracy": round(torch_accuracy, 4), "circuit_accuracy": round(circuit_accuracy, 4),
               "adders": circuit.report["adders"], "builds": []}
    say(f"held-out accuracy: torch {100 * torch_accuracy:.1f}%, circuit (reference) {100 * circuit_accuracy:.1f}%; "
        f"{circuit.report['adders']} adders")
    failed = False
    for target in [] if args.no_fpga else targets:
        folder = out / f"fpga-{args.device}-{target:g}mhz"
        say(f"{args.device} at {target:g} MHz: pipelining, place-and-route and checks -> {folder}")
        report = build_fpga(circuit, folder, device=args.device, target_mhz=target, timeout=args.timeout,
                            progress=lambda message: say(f"  {message}"))
        print(format_report(report), flush=True)
        # The bitstream's own netlist (the circuit a module of its own in it) on every held-out image.
        board = hardcore.compiler.Circuit.load(folder / "circuit")
        netlist = Path(report["files"]["netlist"]).read_text()
        say(f"  icarus: the bitstream's netlist on the {len(images)} held-out images...")
        outputs = simulate_netlist(netlist, board, x_int, folder / "netlist-held-out").reshape(-1)
        mismatches = int(np.sum(outputs != reference))
        netlist_accuracy = float(np.mean(outputs == data.test_labels))
        fmax = report["fmax_mhz"]
        in_bytes, out_bytes = report["serial"]["in_bytes"], report["serial"]["out_bytes"]
        uart_rate = report["serial"]["baud"] / (10 * (in_bytes + out_bytes))  # 8N1: 10 bit times a byte
        build = {"target_mhz": target, "meets": report["meets"], "fmax_mhz": fmax,
                 "max_adder_depth": report["pipeline_search"]["max_adder_depth"], "latency_cycles": board.latency,
                 "pipeline_runs": report["pipeline_search"]["runs"],
                 "luts": report["luts"], "carries": report["carries"], "ffs": report["ffs"],
                 "logic_cells": report["logic_cells"], "logic_cells_capacity": report["capacity"]["logic_cells"],
                 "fits": report["fits"], "bitstream": report["files"]["bitstream"],
                 "netlist_mismatches_held_out": mismatches, "netlist_accuracy": round(netlist_accuracy, 4),
                 "netlist_check": report["netlist_check"],
                 # one inference a clock: at the target when it is met, else at the Fmax reached
                 "inferences_per_second_core": round((target if report["meets"] else fmax) * 1e6),
                 "inferences_per_second_uart": round(uart_rate, 1)}
        results["builds"].append(build)
        failed |= mismatches > 0 or bool(report["netlist_check"].get("mismatches")) or not report["fits"]
        say(f"  held-out images through the netlist: {mismatches} differ from the reference, accuracy "
            f"{100 * netlist_accuracy:.1f}%; {build['inferences_per_second_core']:,} inferences/s in the core "
            f"(one a clock), {uart_rate:.0f}/s over the {report['serial']['baud']}-baud UART")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(_summary(results, args.device))
    say(f"wrote {out}")
    return 1 if failed else 0


def _summary(results: dict, device: str) -> str:
    lines = [f"64-{results['hidden']}-10 MLP, {results['weights']:,} weights at {results['weight_bits']} bits: "
             f"held-out accuracy {100 * results['torch_accuracy']:.1f}% (torch), "
             f"{100 * results['circuit_accuracy']:.1f}% (circuit), {results['adders']} adders"]
    if results["builds"]:
        lines.append(f"| target | Fmax | depth | latency | LUT4s | FFs | logic cells of the {device} | "
                     f"netlist vs reference | inferences/s (core) |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for build in results["builds"]:
        verdict = "meets" if build["meets"] else "MISSES"
        lines.append(f"| {build['target_mhz']:g} MHz | {build['fmax_mhz']:.1f} MHz ({verdict}) | "
                     f"{build['max_adder_depth']} | {build['latency_cycles']} | {build['luts']:,} | {build['ffs']:,} | "
                     f"{build['logic_cells']:,} / {build['logic_cells_capacity']:,} | "
                     f"{build['netlist_mismatches_held_out']} of {results['held_out_images']} differ | "
                     f"{build['inferences_per_second_core']:,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
