"""Train the tiny character GPT on Python's documentation, measure it on held-out text, and save it.

One CPU thread, fixed seeds, deterministic: the same command gives the same
weights. Training samples random windows of `context` characters from the
training split and takes the next-character loss at every position (AdamW,
linear warm-up then cosine decay). Then it fine-tunes the model with the
window circuit's rounding in the loop (`--finetune-steps`, `circuit_noise.py`):
each step adds to the float model's loss the noisy forward's cross-entropy,
its KL divergence from the float distribution and a hinge on the float
model's choice leading the noisy logits, so that the float model's decisions
survive 8-bit quantization; the saved model is a plain float model. Then, on
the held-out split (before the fine-tuning too):

- **all positions**: teacher-forced next-character accuracy at every position
  of consecutive non-overlapping windows (position p sees p + 1 characters);
- **last position**: the accuracy of predicting every held-out character from
  the `context` characters before it, which is what the window circuit does;
- the unigram baseline (always guess the training split's commonest symbol);
- greedy generations from a few prompts, sliding a window of the last
  `context` characters.

    .venv/bin/python examples/tinylm/train.py                 # the defaults: about 5 minutes
    .venv/bin/python examples/tinylm/train.py --steps 2000 --finetune-steps 0    # a quick look
    .venv/bin/python examples/tinylm/train.py --init out/tinylm/tinylm.pt --steps 0   # fine-tune saved weights

Writes `tinylm.pt` (the state dict) and `tinylm.json` (configuration,
training settings and every measurement) to out/tinylm/ (or --out);
`model.TinyLMWindow` loads them from the default place.
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
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import VOCAB, decode, encode, splits  # noqa: E402
from circuit_noise import consistency_loss, noisy_logits  # noqa: E402
from model import CONFIG, WEIGHTS, TinyLM  # noqa: E402

__all__ = ["random_windows", "train", "finetune", "heldout_accuracy", "generate", "main"]

STEPS = 14000
BATCH = 128
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 200
LOG_EVERY = 500
EVAL_BATCH = 4096
SEED = 0
PROMPTS = ("the value of ", "an exception is ", "a class ", "in the ")
GENERATED_CHARS = 64
# Fine-tuning with the circuit's rounding in the loop (circuit_noise.py).
FINETUNE_STEPS = 3000
FINETUNE_LEARNING_RATE = 1e-3
FINETUNE_BITS = 8         # the activation and weight bits the noise simulates
KL_WEIGHT = 10.0
MARGIN = 0.5              # logits
MARGIN_WEIGHT = 0.5


def random_windows(ids: np.ndarray, context: int, batch: int, rng: np.random.Generator):
    """`batch` random windows of `context` ids and, for each, the ids one step later (the targets)."""
    starts = rng.integers(0, len(ids) - context, batch)
    windows = np.stack([ids[start:start + context + 1] for start in starts])
    windows = torch.from_numpy(windows)
    return windows[:, :-1], windows[:, 1:]


def _learning_rate(step: int, steps: int, peak: float) -> float:
    if step < WARMUP_STEPS:
        return peak * (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def _optimize(model: TinyLM, train_ids: np.ndarray, steps: int, *, batch: int, learning_rate, loss_of,
              rng: np.random.Generator, log_every: int, label: str) -> list[float]:
    """`steps` AdamW steps on random training windows: learning rate `learning_rate(step)`, loss
    `loss_of(logits, inputs, targets)`; returns the loss of every step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate(0), weight_decay=WEIGHT_DECAY)
    losses = []
    started = time.perf_counter()
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        inputs, targets = random_windows(train_ids, model.context, batch, rng)
        loss = loss_of(model(inputs), inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"{label} {step + 1:6d}  loss {np.mean(losses[-log_every:]):.4f}  "
                  f"lr {optimizer.param_groups[0]['lr']:.2e}  {time.perf_counter() - started:6.1f} s", flush=True)
    model.eval()
    return losses


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train(model: TinyLM, train_ids: np.ndarray, steps: int, *, batch: int = BATCH, learning_rate: float = LEARNING_RATE,
          seed: int = SEED, log_every: int = 0) -> list[float]:
    """Train `model` in place for `steps` AdamW steps (warm-up, cosine decay); returns the loss of every step."""
    return _optimize(model, train_ids, steps, batch=batch, rng=np.random.default_rng(seed),
                     learning_rate=lambda step: _learning_rate(step, steps, learning_rate),
                     loss_of=lambda logits, inputs, targets: _cross_entropy(logits, targets),
                     log_every=log_every, label="step")


def finetune(model: TinyLM, train_ids: np.ndarray, steps: int, *, batch: int = BATCH,
             learning_rate: float = FINETUNE_LEARNING_RATE, bits: int = FINETUNE_BITS, seed: int = SEED,
             log_every: int = 0) -> list[float]:
    """Fine-tune `model` in place: its float loss plus `consistency_loss` of its noisy forward (cosine decay)."""
    generator = torch.Generator().manual_seed(seed)

    def loss_of(logits, inputs, targets):
        noisy = noisy_logits(model, inputs, act_bits=bits, weight_bits=bits, generator=generator)
        return _cross_entropy(logits, targets) + consistency_loss(
            logits, noisy, targets, kl_weight=KL_WEIGHT, margin=MARGIN, margin_weight=MARGIN_WEIGHT)

    return _optimize(model, train_ids, steps, batch=batch, rng=np.random.default_rng(seed + 1),
                     learning_rate=lambda step: learning_rate * 0.5 * (1 + math.cos(math.pi * step / steps)),
                     loss_of=loss_of, log_every=log_every, label="fine-tune step")


@torch.no_grad()
def _logits_in_batches(model: TinyLM, windows: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(windows[start:start + EVAL_BATCH]) for start in range(0, len(windows), EVAL_BATCH)])


def heldout_accuracy(model: TinyLM, ids: np.ndarray) -> dict:
    """Next-character accuracy and loss on `ids`: every position of non-overlapping windows, and full windows."""
    context = model.context
    ids = torch.from_numpy(ids)
    count = (len(ids) - 1) // context
    inputs = ids[:count * context].view(count, context)
    targets = ids[1:count * context + 1].view(count, context)
    logits = _logits_in_batches(model, inputs)
    correct = logits.argmax(-1) == targets
    every_window = ids.unfold(0, context + 1, 1)        # each held-out character after the first `context`
    last_logits = _logits_in_batches(model, every_window[:, :-1])[:, -1]
    return {
        "all_positions": correct.float().mean().item(),
        "by_position": correct.float().mean(0).tolist(),
        "loss_all_positions": F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item(),
        "last_position": (last_logits.argmax(-1) == every_window[:, -1]).float().mean().item(),
        "loss_last_position": F.cross_entropy(last_logits, every_window[:, -1]).item(),
        "last_position_count": len(every_window),
    }


@torch.no_grad()
def generate(model: TinyLM, prompt: str, length: int = GENERATED_CHARS) -> str:
    """`prompt` followed by `length` greedily chosen characters, each predicted from the last `context` characters."""
    ids = encode(prompt)
    for _ in range(length):
        window = torch.tensor([ids[-model.context:]])
        ids.append(int(model(window)[0, -1].argmax()))
    return decode(ids)


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE, help="peak learning rate")
    parser.add_argument("--d-model", type=int, default=CONFIG["d_model"])
    parser.add_argument("--layers", type=int, default=CONFIG["n_layer"])
    parser.add_argument("--heads", type=int, default=CONFIG["n_head"])
    parser.add_argument("--context", type=int, default=CONFIG["context"])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--finetune-steps", type=int, default=FINETUNE_STEPS,
                        help="steps with the circuit's rounding in the loop after training (0: none)")
    parser.add_argument("--finetune-bits", type=int, default=FINETUNE_BITS,
                        help="the bits whose rounding the fine-tuning simulates (default %(default)s)")
    parser.add_argument("--init", type=Path, help="start from these weights (a tinylm.pt of the same shape)")
    parser.add_argument("--out", type=Path, default=WEIGHTS.parent, help="output folder (default out/tinylm)")
    return parser.parse_args(argv)


def _print_accuracy(accuracy: dict, unigram: float, commonest: int) -> None:
    print(f"held-out next-character accuracy: all positions {accuracy['all_positions']:.4f}, "
          f"last position {accuracy['last_position']:.4f} ({accuracy['last_position_count']} windows); "
          f"unigram baseline {unigram:.4f} (always {VOCAB[commonest]!r})")
    print("by position: " + " ".join(f"{value:.3f}" for value in accuracy["by_position"]))


def main(argv=None) -> dict:
    args = _parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    train_ids, heldout_ids = splits()
    config = {"vocab_size": len(VOCAB), "d_model": args.d_model, "n_layer": args.layers, "n_head": args.heads,
              "context": args.context}
    model = TinyLM(**config)
    if args.init is not None:
        model.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True))
    parameters = sum(p.numel() for p in model.parameters())
    print(f"corpus: {len(train_ids)} training and {len(heldout_ids)} held-out characters, {len(VOCAB)} symbols")
    print(f"model: {config}, {parameters} parameters" + (f", from {args.init}" if args.init else ""))
    commonest = int(np.bincount(train_ids, minlength=len(VOCAB)).argmax())
    unigram = float(np.mean(heldout_ids == commonest))

    started = time.perf_counter()
    losses = train(model, train_ids, args.steps, batch=args.batch, learning_rate=args.lr, seed=args.seed,
                   log_every=LOG_EVERY)
    train_seconds = time.perf_counter() - started
    if losses:
        print(f"trained in {train_seconds:.1f} s; final loss {np.mean(losses[-LOG_EVERY:]):.4f} "
              f"(mean of the last {LOG_EVERY} steps)")
    trained = None
    if args.finetune_steps:
        trained = heldout_accuracy(model, heldout_ids)
        _print_accuracy(trained, unigram, commonest)
        print(f"fine-tuning with {args.finetune_bits}-bit rounding in the loop ...")
    started = time.perf_counter()
    finetune_losses = finetune(model, train_ids, args.finetune_steps, batch=args.batch, bits=args.finetune_bits,
                               seed=args.seed, log_every=LOG_EVERY)
    finetune_seconds = time.perf_counter() - started

    accuracy = heldout_accuracy(model, heldout_ids)
    _print_accuracy(accuracy, unigram, commonest)
    samples = {prompt: generate(model, prompt) for prompt in PROMPTS}
    for text in samples.values():
        print(f"  {text!r}")

    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / "tinylm.pt")
    record = {
        "config": config,
        "parameters": parameters,
        "training": {"init": None if args.init is None else str(args.init), "steps": args.steps,
                     "batch": args.batch, "peak_learning_rate": args.lr, "weight_decay": WEIGHT_DECAY,
                     "warmup_steps": WARMUP_STEPS, "seed": args.seed, "seconds": train_seconds,
                     "final_loss": float(np.mean(losses[-LOG_EVERY:])) if losses else None},
        "finetuning": {"steps": args.finetune_steps, "peak_learning_rate": FINETUNE_LEARNING_RATE,
                       "bits": args.finetune_bits, "kl_weight": KL_WEIGHT, "margin": MARGIN,
                       "margin_weight": MARGIN_WEIGHT, "seconds": finetune_seconds,
                       "final_loss": float(np.mean(finetune_losses[-LOG_EVERY:])) if finetune_losses else None,
                       "heldout_before": trained},
        "heldout": {**accuracy, "unigram_baseline": unigram, "characters": len(heldout_ids)},
        "samples": samples,
    }
    (args.out / "tinylm.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out / 'tinylm.pt'} and {args.out / 'tinylm.json'}")
    return record


if __name__ == "__main__":
    main()
