"""Handwritten digits on a hardwired CNN: train, compile to SystemVerilog, check in Verilator.

Trains a small CNN on scikit-learn's bundled 8x8 digits (no download; fixed
seeds, a stratified 75/25 train/held-out split, one CPU thread, seconds),
compiles it with hardcore (activation scales calibrated on the training
split) and reports, on the held-out split, the accuracy of the float model,
of the quantized reference (`Circuit.reference`) and of the circuit itself
simulated by Verilator, with the adders of every layer.

    .venv/bin/python examples/digits/digits.py            # 8-bit weights and activations
    .venv/bin/python examples/digits/digits.py --sweep    # also weight bits 2..8: table, JSON, CSV, PNG
    .venv/bin/python examples/digits/digits.py --synth    # also Yosys LUTs per layer (long: see README)

Everything goes to out/digits/ (or --out): the circuit (.sv, .json, the IR
of every stage), the trained weights and calibration inputs (so `hardcore
compile examples/digits/digits.py:DigitsCNN --input-shape 1,1,8,8
--state-dict out/digits/digits_cnn.pt --calibration out/digits/calibration.npy`
rebuilds the circuit), results.json and, with --sweep, sweep.json,
sweep.csv and sweep.png.  The exit status is 1 if the RTL ever differs from
the reference.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import hardcore
from hardcore.compiler import Circuit
from hardcore.sim import simulate, tool_available

__all__ = ["DigitsCNN", "Digits", "load_digits_split", "train_cnn", "compile_and_measure", "Measurement",
           "plot_sweep"]

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "digits"
CHANNELS = (4, 8)          # the two convolutions' output channels
EPOCHS = 60
BATCH = 64
LEARNING_RATE = 3e-3
HELD_OUT_FRACTION = 0.25
SEED = 0
WEIGHT_BITS = 8
ACT_BITS = 8
SWEEP_WEIGHT_BITS = range(2, 9)
PIXEL_MAX = 16.0           # the digits' pixels are integers 0..16
IMAGE_SHAPE = (1, 8, 8)


class DigitsCNN(nn.Module):
    """Conv 3x3 (1->c1, padding 1) -> ReLU -> conv 3x3 (c1->c2, stride 2, padding 1) -> ReLU -> Linear(c2*16 -> 10).

    The stride-2 convolution halves the image to 4x4 where a CNN would pool.
    Takes (batch, 1, 8, 8) images with pixels scaled to [0, 1].
    """

    def __init__(self, channels=CHANNELS, seed: int = SEED):
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)  # reproducible initial weights, without disturbing the caller's RNG
        first, second = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, first, 3, padding=1), nn.ReLU(),
            nn.Conv2d(first, second, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten())
        self.classifier = nn.Linear(second * 4 * 4, 10)
        torch.random.set_rng_state(generator_state)

    def forward(self, x):
        return self.classifier(self.features(x))


@dataclass
class Digits:
    """The split: float32 images (N, 1, 8, 8) in [0, 1] and int64 labels (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def load_digits_split(seed: int = SEED) -> Digits:
    """scikit-learn's 1797 8x8 digits, pixels / 16, split 75/25 stratified by class."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / PIXEL_MAX).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=HELD_OUT_FRACTION, random_state=seed, stratify=labels)
    return Digits(train_images, train_labels, test_images, test_labels)


def train_cnn(data: Digits, channels=CHANNELS, epochs: int = EPOCHS, seed: int = SEED) -> DigitsCNN:
    """A DigitsCNN fitted with Adam on the training split, in eval mode."""
    model = DigitsCNN(channels, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    images, labels = torch.from_numpy(data.train_images), torch.from_numpy(data.train_labels)
    generator = torch.Generator().manual_seed(seed)
    # One thread: a network this small trains in seconds on one core, and
    # several threads on a busy machine make it ten times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), BATCH):
                batch = order[start:start + BATCH]
                loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def float_logits(model: nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(images)).numpy()


@dataclass
class Measurement:
    """One compiled circuit on the held-out split."""

    weight_bits: int
    act_bits: int
    circuit: Circuit
    labels: np.ndarray                            # the held-out labels
    float_accuracy: float
    quantized_accuracy: float
    reference_outputs: np.ndarray                 # integers, (N, 10)
    rtl_outputs: np.ndarray | None = None         # integers from Verilator; None when not simulated
    compile_seconds: float = 0.0
    build_seconds: float = 0.0
    simulate_seconds: float = 0.0

    @property
    def rtl_accuracy(self) -> float | None:
        return None if self.rtl_outputs is None else float(np.mean(self.rtl_outputs.argmax(1) == self.labels))

    @property
    def rtl_mismatches(self) -> int | None:
        """Held-out vectors on which the RTL's outputs differ from the reference's in any bit."""
        if self.rtl_outputs is None:
            return None
        return int(np.any(self.rtl_outputs != self.reference_outputs, axis=1).sum())

    def row(self) -> dict:
        """The numbers, for the JSON and CSV files."""
        report = self.circuit.report
        return {
            "weight_bits": self.weight_bits, "act_bits": self.act_bits,
            "float_accuracy": round(self.float_accuracy, 4),
            "quantized_accuracy": round(self.quantized_accuracy, 4),
            "rtl_accuracy": None if self.rtl_accuracy is None else round(self.rtl_accuracy, 4),
            "rtl_mismatches": self.rtl_mismatches,
            "adders": report["adders"], "adder_bits": report["adder_bits"], "adder_depth": report["adder_depth"],
            "adders_per_layer": [layer["adders"] for layer in report["layers"]],
            "constant_adders": constant_adders(report),
            "compile_seconds": round(self.compile_seconds, 1),
            "verilator_build_seconds": round(self.build_seconds, 1),
        }


def compile_and_measure(model: nn.Module, data: Digits, weight_bits: int, act_bits: int, workdir, *,
                        rtl: bool = True, say=print) -> Measurement:
    """Compile `model`, write it to `workdir`, and measure it on the held-out split.

    With `rtl`, the circuit is built with Verilator and every held-out image
    goes through it; the outputs are kept for a bit-for-bit comparison with
    the reference.
    """
    workdir = Path(workdir)
    start = time.time()
    circuit = hardcore.compile(model, torch.zeros(1, *IMAGE_SHAPE), calibration=data.train_images,
                               weight_bits=weight_bits, act_bits=act_bits,
                               progress=lambda message: say(f"    {time.time() - start:5.1f} s  {message}"))
    compile_seconds = time.time() - start
    circuit.write(workdir)
    labels = data.test_labels
    float_accuracy = float(np.mean(float_logits(model, data.test_images).argmax(1) == labels))
    x_int = circuit.quantize_input(data.test_images)
    reference = circuit.reference(x_int)
    measurement = Measurement(weight_bits, act_bits, circuit, labels, float_accuracy,
                              float(np.mean(reference.argmax(1) == labels)), reference,
                              compile_seconds=compile_seconds)
    if rtl:
        say(f"    Verilator: building {circuit.report['adders']} adders and simulating {len(x_int)} images ...")
        result = simulate(circuit.verilog, circuit.name, x_int, n_in=circuit.n_in, in_width=circuit.in_width,
                          n_out=circuit.n_out, out_width=circuit.out_width, workdir=workdir / "sim")
        measurement.rtl_outputs = result.outputs
        measurement.build_seconds, measurement.simulate_seconds = result.build_seconds, result.run_seconds
    return measurement


def stream_and_measure(model: nn.Module, data: Digits, unrolled: Measurement, workdir, *, rtl: bool = True,
                       stall: int = 25, pixels: int = 1, say=print) -> dict:
    """The same network streamed (`stream=True`): `pixels` pixels a clock, each kernel folded once (and
    instantiated `pixels` times).

    Its reference must equal the unrolled circuit's on every held-out image
    (one function, two schedules); with `rtl`, every held-out image goes
    through Verilator pixel by pixel, the source idling and the sink stalling
    in `stall`% of the cycles at random, and each output is compared bit for bit.
    """
    from hardcore.stream import simulate_frames

    workdir = Path(workdir)
    start = time.time()
    circuit = hardcore.compile(model, torch.zeros(1, *IMAGE_SHAPE), calibration=data.train_images,
                               weight_bits=unrolled.weight_bits, act_bits=unrolled.act_bits, stream=True,
                               pixels_per_clock=pixels,
                               progress=lambda message: say(f"    {time.time() - start:5.1f} s  {message}"))
    compile_seconds = time.time() - start
    circuit.write(workdir)
    x_int = circuit.quantize_input(data.test_images)
    reference = circuit.reference(x_int)
    same_function = bool(np.array_equal(reference, unrolled.reference_outputs))
    row = {"pixels_per_clock": pixels, "adders": circuit.report["adders"],
           "unrolled_adders": unrolled.circuit.report["adders"],
           "adder_ratio": round(unrolled.circuit.report["adders"] / max(circuit.report["adders"], 1), 2),
           "line_buffer_bits": circuit.report["line_buffer_bits"],
           "cycles_per_image_designed": circuit.cycles_per_frame,
           "reference_equals_unrolled": same_function, "compile_seconds": round(compile_seconds, 1),
           "nodes": circuit.nodes}
    if rtl:
        say(f"    Verilator: {len(x_int)} images, {pixels} pixel(s) a transfer, {stall}% stalls on both sides ...")
        sim_start = time.time()
        stalled = simulate_frames(circuit, x_int, workdir / "sim", stall=stall, seed=SEED + 1)
        steady = simulate_frames(circuit, x_int, workdir / "sim_steady", stall=0)
        row.update(rtl_mismatches=int(np.any(stalled.outputs != reference, axis=1).sum()),
                   rtl_mismatches_no_stall=int(np.any(steady.outputs != reference, axis=1).sum()),
                   rtl_accuracy=round(float(np.mean(stalled.outputs.argmax(1) == data.test_labels)), 4),
                   stall_percent=stall, frame_error=stalled.frame_error or steady.frame_error,
                   cycles_per_image=round(steady.cycles_per_frame, 1),
                   first_output_cycles=steady.latency,
                   cycles_per_image_stalled=round(stalled.cycles_per_frame, 1),
                   simulate_seconds=round(time.time() - sim_start, 1))
    return row


# -- printing and plotting ------------------------------------------------------


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def short_kind(kind: str) -> str:
    """'conv2d 1->4 3x3 padding 1, ...' -> 'conv2d 1->4'."""
    return " ".join(kind.split()[:2])


def constant_adders(report: dict) -> int:
    """Adders outside the layers' weight arithmetic.

    A layer's `adders` count its weight-folding adder graph; the circuit's
    total also counts, per layer output, the adder that adds the bias and
    the requantization's rounding constant (none where that sum is 0).
    """
    return report["adders"] - sum(layer["adders"] for layer in report["layers"])


def layer_table(report: dict) -> str:
    lines = [f"  {'layer':5s}  {'kind':70s}  {'nonzero':>7s}  {'adders':>6s}  {'depth':>5s}"
             + ("  {:>6s}".format("LUTs") if all("luts" in layer for layer in report["layers"]) else "")]
    for index, layer in enumerate(report["layers"]):
        line = (f"  {index:5d}  {layer.get('kind', ''):70s}  {layer['nonzero_weights']:7d}  {layer['adders']:6d}"
                f"  {layer['adder_depth']:5d}")
        if "luts" in layer:
            line += f"  {layer['luts']:6d}"
        lines.append(line)
    lines.append(f"  {'':5s}  {'bias + rounding constants (one adder per layer output)':70s}  {'':7s}  "
                 f"{constant_adders(report):6d}")
    lines.append(f"  total: {report['adders']} adders ({report['adder_bits']} adder bits), critical path "
                 f"{report['adder_depth']} adders; no multipliers, no weight memory")
    return "\n".join(lines)


def sweep_table(rows: list[dict]) -> str:
    lines = ["  weight bits  act bits   float  quantized     RTL  RTL = ref  adders  per layer (+ bias/rounding)"]
    for row in rows:
        exact = "-" if row["rtl_mismatches"] is None else ("yes" if row["rtl_mismatches"] == 0 else
                                                            f"NO ({row['rtl_mismatches']})")
        lines.append(f"  {row['weight_bits']:11d}  {row['act_bits']:8d}  {_percent(row['float_accuracy']):>6s}"
                     f"  {_percent(row['quantized_accuracy']):>9s}  {_percent(row['rtl_accuracy']):>6s}"
                     f"  {exact:>9s}  {row['adders']:6d}  {' + '.join(map(str, row['adders_per_layer']))}"
                     f" (+ {row['constant_adders']})")
    return "\n".join(lines)


def plot_sweep(rows: list[dict], path, title: str, layer_names=None) -> Path:
    """Accuracy (float, quantized reference, RTL) and adders per layer against weight bits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bits = [row["weight_bits"] for row in rows]
    figure, (accuracy_axis, adder_axis) = plt.subplots(1, 2, figsize=(10, 4))
    accuracy_axis.plot(bits, [100 * row["float_accuracy"] for row in rows], "k--", label="float")
    accuracy_axis.plot(bits, [100 * row["quantized_accuracy"] for row in rows], "o-", label="quantized reference")
    if all(row["rtl_accuracy"] is not None for row in rows):
        accuracy_axis.plot(bits, [100 * row["rtl_accuracy"] for row in rows], "x", markersize=10,
                           markeredgewidth=2, label="RTL (Verilator)")
    for bit, row in zip(bits, rows):
        accuracy_axis.annotate(f"{100 * row['quantized_accuracy']:.1f}", (bit, 100 * row["quantized_accuracy"]),
                               textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    accuracy_axis.set_xlabel("weight bits")
    accuracy_axis.set_ylabel("held-out accuracy (%)")
    accuracy_axis.set_xticks(bits)
    accuracy_axis.set_ylim(0, 100)
    accuracy_axis.grid(alpha=0.3)
    accuracy_axis.legend(loc="lower right")
    accuracy_axis.set_title("accuracy", fontsize=10)

    layers = len(rows[0]["adders_per_layer"])
    names = [f"layer {index}" + (f": {layer_names[index]}" if layer_names else "") for index in range(layers)]
    segments = [(names[index], [row["adders_per_layer"][index] for row in rows], None) for index in range(layers)]
    segments.append(("bias + rounding constants", [row["constant_adders"] for row in rows], "0.6"))
    bottom = np.zeros(len(rows))
    for label, heights, color in segments:
        adder_axis.bar(bits, heights, 0.7, bottom=bottom, label=label, color=color)
        bottom += np.array(heights)
    for bit, total in zip(bits, bottom):
        adder_axis.annotate(f"{int(total)}", (bit, total), textcoords="offset points", xytext=(0, 3),
                            ha="center", fontsize=8)
    adder_axis.set_xlabel("weight bits")
    adder_axis.set_ylabel("adders")
    adder_axis.set_xticks(bits)
    adder_axis.set_ylim(0, 1.12 * bottom.max())
    adder_axis.legend(loc="upper left")
    adder_axis.set_title("adders (stacked by layer)", fontsize=10)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def synthesize_layers(circuit: Circuit, workdir) -> dict:
    """Yosys (`synth`, `abc -lut 6`, hierarchy kept): 6-LUTs of the circuit, also set in each layer.

    Only the folded circuit: `hardcore report DIR --synth` adds the plain
    `*` baseline, which takes longer still.
    """
    from hardcore.sim import synth_report

    print(f"digits: synthesizing {circuit.name} with Yosys (one module per layer; tens of minutes) ...")
    synthesis = synth_report(circuit.verilog, circuit.name, workdir=workdir, flatten=False,
                             progress=lambda message: print(f"    {message}"))
    for index, layer in enumerate(circuit.layers):
        module = synthesis["modules"].get(f"{circuit.name}_layer{index}")
        if module is not None:
            layer["luts"] = module["luts"]
    return {key: synthesis[key] for key in ("luts", "cells", "logic_levels", "seconds")}


def _write_rows(rows: list[dict], out: Path) -> list[Path]:
    (out / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    with open(out / "sweep.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "adders_per_layer": " ".join(map(str, row["adders_per_layer"]))})
    return [out / "sweep.json", out / "sweep.csv"]


# -- the command line -----------------------------------------------------------


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", action="store_true",
                        help=f"also compile and simulate at weight bits {SWEEP_WEIGHT_BITS.start}.."
                             f"{SWEEP_WEIGHT_BITS.stop - 1} (activations at --act-bits); writes sweep.json/.csv/.png")
    parser.add_argument("--synth", action="store_true",
                        help="run Yosys on the --weight-bits circuit: 6-LUTs per layer (tens of minutes)")
    parser.add_argument("--no-sim", action="store_true", help="skip Verilator")
    parser.add_argument("--stream", action="store_true",
                        help="also compile it streamed (one pixel a clock, stream=True) and simulate every "
                             "held-out image through AXI4-Stream with random stalls; writes out/digits/stream")
    parser.add_argument("--pixels-per-clock", type=int, default=1, metavar="P",
                        help="with --stream: P pixels a clock (1, 2, 4 or 8); writes out/digits/stream_pP for P > 1")
    parser.add_argument("--weight-bits", type=int, default=WEIGHT_BITS)
    parser.add_argument("--act-bits", type=int, default=ACT_BITS)
    parser.add_argument("--channels", default=",".join(map(str, CHANNELS)),
                        help="output channels of the two convolutions (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default out/digits)")
    args = parser.parse_args(argv)
    try:
        args.channels = tuple(int(c) for c in args.channels.split(","))
        assert len(args.channels) == 2 and min(args.channels) > 0
    except (ValueError, AssertionError):
        parser.error(f"--channels: expected two positive integers like 4,8, got '{args.channels}'")
    return args


def main(argv=None) -> int:
    args = _arguments(argv)
    start = time.time()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rtl = not args.no_sim
    if rtl and not tool_available("verilator"):
        print("digits: verilator not found: skipping simulation")
        rtl = False

    data = load_digits_split()
    first, second = args.channels
    network = (f"conv 3x3 1->{first} pad 1, ReLU, conv 3x3 {first}->{second} stride 2 pad 1, ReLU, "
               f"linear {second * 16}->10")
    print(f"digits: {len(data.train_labels)} training and {len(data.test_labels)} held-out 8x8 images; "
          f"training {network} for {args.epochs} epochs ...")
    train_start = time.time()
    model = train_cnn(data, args.channels, args.epochs)
    train_seconds = time.time() - train_start
    torch.save(model.state_dict(), out / "digits_cnn.pt")
    np.save(out / "calibration.npy", data.train_images)
    print(f"digits: trained in {train_seconds:.1f} s; float held-out accuracy "
          f"{_percent(float(np.mean(float_logits(model, data.test_images).argmax(1) == data.test_labels)))}")

    bit_widths = sorted(set(SWEEP_WEIGHT_BITS) | {args.weight_bits}) if args.sweep else [args.weight_bits]
    measurements = {}
    for weight_bits in bit_widths:
        print(f"digits: compiling with {weight_bits}-bit weights, {args.act_bits}-bit activations ...")
        workdir = out if weight_bits == args.weight_bits else out / "sweep" / f"w{weight_bits}"
        measurement = compile_and_measure(model, data, weight_bits, args.act_bits, workdir, rtl=rtl)
        measurements[weight_bits] = measurement
        row = measurement.row()
        print(f"    {row['adders']} adders in {measurement.compile_seconds:.1f} s; held-out accuracy: "
              f"quantized {_percent(row['quantized_accuracy'])}, RTL {_percent(row['rtl_accuracy'])}"
              + ("" if row["rtl_mismatches"] is None else
                 f", {len(data.test_labels) - row['rtl_mismatches']} of {len(data.test_labels)} outputs "
                 f"bit-exact (Verilator build {measurement.build_seconds:.1f} s)"))

    main_point = measurements[args.weight_bits]
    circuit = main_point.circuit
    results_synthesis = None
    if args.synth:
        if not tool_available("yosys"):
            print("digits: yosys not found: skipping synthesis")
        else:
            results_synthesis = synthesize_layers(circuit, out / "synth")
            circuit.write(out, stages=False)  # the JSON report now carries each layer's LUTs
            print(f"    {results_synthesis['luts']} LUTs, {results_synthesis['logic_levels']} LUT levels, "
                  f"Yosys {results_synthesis['seconds']:.0f} s (the plain '*' baseline too: hardcore report {out} --synth)")

    row = main_point.row()
    print(f"\ndigits: {network}, {args.weight_bits}-bit weights, {args.act_bits}-bit activations "
          f"-> {circuit.name}.sv")
    print(layer_table(circuit.report))
    print(f"  held-out accuracy ({len(data.test_labels)} images): float {_percent(row['float_accuracy'])}, "
          f"quantized reference {_percent(row['quantized_accuracy'])}, RTL {_percent(row['rtl_accuracy'])}")
    results = {"network": network, "channels": list(args.channels), "epochs": args.epochs,
               "train_images": len(data.train_labels), "held_out_images": len(data.test_labels),
               "train_seconds": round(train_seconds, 1), **row, "layers": circuit.report["layers"],
               **({"synthesis": results_synthesis} if results_synthesis else {})}
    written = [out / "results.json"]
    if args.sweep:
        rows = [measurements[bits].row() for bits in bit_widths]
        print(f"\ndigits: sweep over weight bits ({args.act_bits}-bit activations)")
        print(sweep_table(rows))
        written += _write_rows(rows, out)
        written.append(plot_sweep(rows, out / "sweep.png",
                                  f"digits CNN ({network}), {args.act_bits}-bit activations, "
                                  f"{len(data.test_labels)} held-out images",
                                  [short_kind(layer.get("kind", "")) for layer in circuit.report["layers"]]))
        results["sweep"] = rows
    stream_failed = False
    if args.stream:
        pixels = args.pixels_per_clock
        print(f"digits: compiling it streamed ({pixels} pixel(s) a clock) ...")
        streamed = stream_and_measure(model, data, main_point, out / ("stream" if pixels == 1 else f"stream_p{pixels}"),
                                      rtl=rtl, pixels=pixels)
        results["stream"] = streamed
        print(f"    streamed: {streamed['adders']} adders against {streamed['unrolled_adders']} unrolled "
              f"({streamed['adder_ratio']}x fewer), {streamed['line_buffer_bits']} line-buffer bits; reference "
              f"{'equals' if streamed['reference_equals_unrolled'] else 'DIFFERS from'} the unrolled circuit's"
              + ("" if "rtl_mismatches" not in streamed else
                 f"; Verilator: {len(data.test_labels) - streamed['rtl_mismatches']} of {len(data.test_labels)} "
                 f"images bit-exact with {streamed['stall_percent']}% stalls, {streamed['cycles_per_image']} "
                 f"cycles per image ({streamed['cycles_per_image_stalled']} stalled)"))
        stream_failed = bool(streamed.get("rtl_mismatches") or streamed.get("rtl_mismatches_no_stall") or
                             streamed.get("frame_error") or not streamed["reference_equals_unrolled"])
    results["seconds"] = round(time.time() - start, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"digits: wrote {', '.join(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path) for path in written)}"
          f" and the circuit in {out}")
    mismatched = [bits for bits, m in measurements.items() if m.rtl_mismatches]
    if mismatched:
        print(f"digits: ERROR: the RTL differs from the reference at weight bits {mismatched}")
    if stream_failed:
        print("digits: ERROR: the streamed circuit differs from the reference (or the reference from the unrolled one)")
    print(f"digits: done in {time.time() - start:.0f} s")
    return 1 if mismatched or stream_failed else 0


if __name__ == "__main__":
    sys.exit(main())
