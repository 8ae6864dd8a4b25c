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
