"""Fuzzing recurrent circuits: random RNN/GRU/LSTM models, both forms, the stateful one against the unrolled one.

`random_model(seed)` draws a kind (RNN tanh or relu, GRU, LSTM), 1-2 layers,
1-6 features, 1-8 hidden units, 2-6 steps, batch first or not, a zero or a
constant initial state, a linear head on the last output or on h_n, and
weights scaled up to 3x.  `fuzz_one` compiles it at random weight and
activation widths (2-8 bits) and output (logits or argmax) in both forms
and compares, bit for bit, the stateful circuit's steps (`run_steps`, over
sequences back to back with idle cycles) with the unrolled reference on
random codes and the extreme sequences (all minimum, all maximum,
alternating, zero); with `simulate`, the stateful Verilog in Verilator too.

    python -m hardcore.recurrent.fuzz --minutes 5 [--verilator]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import torch

import hardcore
from hardcore.recurrent.sim import check_sequences, sequence_stream

__all__ = ["random_model", "fuzz_one", "main"]


class _Model(torch.nn.Module):
    def __init__(self, recurrent: torch.nn.Module, classes: int, initial, read_h_n: bool):
        super().__init__()
        self.rnn, self.head, self.read_h_n = recurrent, torch.nn.Linear(recurrent.hidden_size, classes), read_h_n
        self.lstm = isinstance(recurrent, torch.nn.LSTM)
        if initial is not None:
            self.register_buffer("h0", initial)
        self.initial = initial is not None

    def forward(self, x):
        if self.initial:
            h0 = (self.h0, self.h0) if self.lstm else self.h0
            output, state = self.rnn(x, h0)
        else:
            output, state = self.rnn(x)
        if self.read_h_n:
            h_n = state[0] if self.lstm else state
            return self.head(h_n[-1])
        return self.head(output[:, -1] if self.rnn.batch_first else output[-1])


def random_model(seed: int) -> tuple[torch.nn.Module, torch.Tensor, dict]:
    """(model, example input, description) of seed `seed` (module doc)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    kind = ["RNN", "RNN-relu", "GRU", "LSTM"][rng.integers(4)]
    layers, features, hidden = int(rng.integers(1, 3)), int(rng.integers(1, 7)), int(rng.integers(1, 9))
    steps, batch_first = int(rng.integers(2, 7)), bool(rng.integers(2))
    options = {"nonlinearity": "relu"} if kind == "RNN-relu" else {}
    recurrent = getattr(torch.nn, kind.split("-")[0])(features, hidden, num_layers=layers, batch_first=batch_first,
                                                      **options)
    gain = float(rng.uniform(0.5, 3.0))
    with torch.no_grad():
        for parameter in recurrent.parameters():
            parameter.mul_(gain)
    initial = torch.rand(layers, 1, hidden) - 0.5 if rng.integers(2) else None
    model = _Model(recurrent, int(rng.integers(2, 5)), initial, bool(rng.integers(2))).eval()
    example = torch.zeros(1, steps, features) if batch_first else torch.zeros(steps, 1, features)
    description = {"kind": kind, "layers": layers, "features": features, "hidden": hidden, "steps": steps,
                   "batch_first": batch_first, "initial_state": initial is not None, "read_h_n": model.read_h_n,
                   "gain": round(gain, 3)}
    return model, example, description


def fuzz_one(seed: int, workdir=None, simulate: bool = False) -> tuple[dict, int]:
    """Compile seed's model in both forms: (description, mismatching sequences)."""
    model, example, description = random_model(seed)
    rng = np.random.default_rng(seed + 1)
    options = {"weight_bits": int(rng.integers(2, 9)), "act_bits": int(rng.integers(2, 9)),
               "output": ["logits", "argmax"][rng.integers(2)]}
    description.update(options)
    steps, features = description["steps"], description["features"]
    calibration = torch.randn(64, steps, features, generator=torch.Generator().manual_seed(seed))
    unrolled, stateful = (hardcore.compile(model, example, calibration=calibration, recurrent=form, **options)
                          for form in ("unrolled", "stateful"))
    low, high = unrolled.in_range
    n = unrolled.n_in
    codes = np.concatenate([rng.integers(low, high + 1, size=(32, n)),
                            [[low] * n, [high] * n, [low if i % 2 else high for i in range(n)], [0] * n]])
    reference = unrolled.reference(codes)
    out_valid, y, last = stateful.run_steps(sequence_stream(stateful, codes, rng))
    finals = y[(out_valid == 1) & (last == 1)]
    wrong = int(np.any(finals != reference, axis=1).sum()) if len(finals) == len(reference) else len(reference)
    if simulate:
        mismatches, unlike = check_sequences(stateful, codes, workdir, rng)
        wrong += unlike + (mismatches > 0)
    return description, wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardcore.recurrent.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to run (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--verilator", action="store_true", help="also simulate each stateful circuit")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    deadline, seed, failures, models = time.time() + 60 * args.minutes, args.seed, 0, 0
    with tempfile.TemporaryDirectory(prefix="hardcore-recurrent-fuzz-") as workdir:
        while time.time() < deadline:
            description, wrong = fuzz_one(seed, f"{workdir}/{seed}", simulate=args.verilator)
            models += 1
            if wrong:
                failures += 1
                print(f"seed {seed}: {wrong} sequences differ: {description}")
            seed += 1
    print(f"{models} recurrent models, {failures} with mismatches")
    return 1 if failures else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
