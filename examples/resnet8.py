"""A CIFAR-size ResNet-8 (32x32x3 in, 10 classes): the network `hardcore-import{stream=true}` exists for.

    stem     conv3x3 3->16 + BN + ReLU                                  32x32
    stage 1  conv3x3 16->32 stride 2 + BN + ReLU, conv3x3 32->32 + BN,
             shortcut conv1x1 16->32 stride 2 + BN, add, ReLU          16x16
    stage 2  the same, 32->64                                           8x8
    head     AdaptiveAvgPool2d(1), flatten, Linear(64->10)

Unrolled into dense layers (the default import) its convolutions are
matrices of (C_out·H·W) x (C_in·H·W) entries: 49,152 x 3,072 for the stem
alone, more than the machine's memory for the whole network.  With
`stream=True` each is one `hardcore.conv` of its kernel (`bench/conv_import.py`
measures import and quantization).  Weights are a seeded random
initialization with batch-norm statistics to match (no training, no
download); `calibration(n)` gives random CIFAR-like images in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["ResNet8", "calibration", "INPUT_SHAPE"]

torch.set_num_threads(1)

INPUT_SHAPE = (3, 32, 32)
SEED = 0


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(out_channels))


class _Stage(nn.Module):
    """Two 3x3 convolutions (the first with stride 2) and a 1x1 stride-2 shortcut, added, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.first = _conv_bn(in_channels, out_channels, 3, stride=2)
        self.second = _conv_bn(out_channels, out_channels, 3)
        self.shortcut = _conv_bn(in_channels, out_channels, 1, stride=2)

    def forward(self, x):
        return torch.relu(self.second(torch.relu(self.first(x))) + self.shortcut(x))


class ResNet8(nn.Module):
    """The ResNet-8 above, in eval mode, its weights and batch-norm statistics seeded by `seed`."""

    def __init__(self, classes: int = 10, seed: int = SEED):
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)  # reproducible weights, without disturbing the caller's RNG
        self.stem = _conv_bn(3, 16, 3)
        self.stage1 = _Stage(16, 32)
        self.stage2 = _Stage(32, 64)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, classes)
        with torch.no_grad():  # running statistics of a trained network, roughly: not the identity
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.2, 0.2)
                    module.running_var.uniform_(0.5, 2.0)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
        torch.random.set_rng_state(generator_state)
        self.eval()

    def forward(self, x):
        x = self.stage2(self.stage1(torch.relu(self.stem(x))))
        return self.classifier(torch.flatten(self.pool(x), 1))


def calibration(n: int, shape=INPUT_SHAPE, seed: int = SEED) -> np.ndarray:
    """`n` random CIFAR-like images (n, *shape) in [0, 1]: smooth colour fields plus pixel noise."""
    rng = np.random.default_rng(seed)
    channels, height, width = shape
    rows, columns = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    base = rng.uniform(0.2, 0.8, (n, channels, 1, 1))
    slope = rng.uniform(-0.3, 0.3, (n, channels, 2, 1, 1))
    images = base + slope[:, :, 0] * rows + slope[:, :, 1] * columns + rng.normal(0, 0.1, (n, channels, height, width))
    return np.clip(images, 0.0, 1.0)
