"""RNN, GRU and LSTM classifiers as circuits: unrolled and one step a clock, bit-exact in Verilator.

    python examples/recurrent.py                  # all three kinds
    python examples/recurrent.py --kinds GRU --sequences 100

For each kind: trains a small classifier (the recurrent layer, 4 features ->
hidden 8, over 8 steps; a Linear head on the last output, 3 classes) on a
generated task (which of three noisy signals has the largest sum over the
sequence), then compiles it three ways and runs each circuit in Verilator on
held-out sequences:

- unrolled, combinational: the whole sequence in, the class scores out;
- unrolled, pipelined (`max_adder_depth`): one sequence a clock;
- stateful (`recurrent="stateful"`): one time step a clock with the hidden
  state in registers, sequences back to back (`start` begins one), checked
  every cycle against the step run in numpy and at each sequence's last step
  against the unrolled reference;
- stateful with a pipelined step (`max_adder_depth`): a step every L + 1
  cycles (the step's latency L and one for the state register).

It prints, per kind and form, the adders, the latency or cycles per sequence,
the Verilator mismatches (bit for bit against the quantized reference) and the
accuracy of torch and of the circuit.  Nothing is downloaded; the data is
generated from a fixed seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import hardcore
from hardcore.recurrent.sim import check_sequences

T, FEATURES, HIDDEN, CLASSES = 8, 4, 8, 3


class Classifier(torch.nn.Module):
    """A recurrent layer over the sequence and a linear head on its last output."""

    def __init__(self, kind: str):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(FEATURES, HIDDEN, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def dataset(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sequences (count, T, FEATURES): features 0-2 are noisy signals, 3 is noise; the class is
    the signal with the largest sum over the sequence."""
    means = rng.normal(0.0, 0.3, size=(count, 1, 3))
    signals = means + rng.normal(0.0, 0.6, size=(count, T, 3))
    noise = rng.normal(0.0, 0.6, size=(count, T, 1))
    x = np.concatenate([signals, noise], axis=2).astype(np.float32)
    return x, signals.sum(axis=1).argmax(axis=1)


def train(kind: str, x: np.ndarray, labels: np.ndarray, steps: int) -> Classifier:
    torch.manual_seed(0)
    model = Classifier(kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        batch = torch.randint(0, len(x), (64,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(scores).reshape(len(labels), -1).argmax(axis=1) == labels).mean())


def run_kind(kind: str, args, train_set, test_set, workdir: Path) -> list[str]:
    (x_train, y_train), (x_test, y_test) = train_set, test_set
    started = time.monotonic()
    model = train(kind, x_train, y_train, args.train_steps)
    with torch.no_grad():
        torch_accuracy = accuracy(model(torch.from_numpy(x_test)).numpy(), y_test)
    calibration = x_train[:256]
    example = torch.zeros(1, T, FEATURES)
    lines = []
    for form, depth in (("unrolled", None), ("unrolled", args.max_adder_depth), ("stateful", None),
                        ("stateful", args.max_adder_depth)):
        circuit = hardcore.compile(model, example, calibration=calibration, recurrent=form, max_adder_depth=depth)
        codes = circuit.quantize_input(x_test)
        name = f"{kind} {form}" + (f", depth {depth}" if depth else "")
        if form == "stateful":
            mismatching_cycles, wrong_last = check_sequences(circuit, codes, workdir / f"{kind}-stateful",
                                                             np.random.default_rng(5))
            scores = circuit.reference(codes)
            recurrent = circuit.report["recurrent"]
            timing = (f"{recurrent['cycles_per_sequence']} cycles a sequence"
                      + (f" (a step every {recurrent['interval_cycles']})" if depth else ""))
            verdict = f"{mismatching_cycles} mismatching cycles, {wrong_last} last outputs unlike the reference"
        else:
            result = circuit.simulate(codes, workdir / name.replace(" ", "-").replace(",", ""))
            expected = circuit.reference(codes)
            wrong = int(np.any(result.outputs != expected, axis=1).sum())
            scores = expected
            timing = f"latency {circuit.latency}" if circuit.latency else "combinational"
            verdict = f"{wrong} of {len(codes)} sequences differ"
        lines.append(f"{name:24} {circuit.report['adders']:6} adders  {timing:42} Verilator: {verdict}; "
                     f"accuracy torch {torch_accuracy:.3f}, circuit {accuracy(circuit.dequantize_output(scores), y_test):.3f}")
        print(lines[-1], flush=True)
    print(f"{kind}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["RNN", "GRU", "LSTM"], choices=["RNN", "GRU", "LSTM"])
    parser.add_argument("--sequences", type=int, default=200, help="held-out sequences simulated (default 200)")
    parser.add_argument("--train-steps", type=int, default=300, help="Adam steps of 64 sequences (default 300)")
    parser.add_argument("--max-adder-depth", type=int, default=6, help="the pipelined form's depth (default 6)")
    args = parser.parse_args(argv)
    if args.sequences < 1 or args.train_steps < 1 or args.max_adder_depth < 1:
        parser.error("--sequences, --train-steps and --max-adder-depth must be positive")
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    train_set, test_set = dataset(4096, rng), dataset(args.sequences, rng)
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.kinds:
            run_kind(kind, args, train_set, test_set, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
