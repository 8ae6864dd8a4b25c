"""The example model of README and the tests: a 16-64-32-5 ReLU MLP, and a quick way to train it.

`hardcore compile examples/mlp.py:MLP --input-shape 1,16 -o out/` compiles
it with seeded random weights; `train_mlp` fits it to a synthetic five-class
problem in a second or two (no download), for a network whose weights look
trained.
"""

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, sizes=(16, 64, 32, 5), seed: int = 0):
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)  # reproducible weights, without disturbing the caller's RNG
        layers = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        torch.random.set_rng_state(generator_state)

    def forward(self, x):
        return self.net(torch.flatten(x, 1))


def synthetic_task(samples: int, seed: int = 0, n_in: int = 16, classes: int = 5):
    """Gaussian clusters in n_in dimensions, one per class: (inputs, labels)."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, n_in, generator=generator) * 0.45
    labels = torch.randint(0, classes, (samples,), generator=generator)
    inputs = centers[labels] + torch.randn(samples, n_in, generator=generator)
    return inputs, labels


def train_mlp(seed: int = 0, steps: int = 300, sizes=(16, 64, 32, 5)):
    """An MLP trained with Adam on `synthetic_task`; returns (model, (inputs, labels))."""
    inputs, labels = synthetic_task(4096, seed, sizes[0], sizes[-1])
    model = MLP(sizes, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        batch = slice((step * 256) % 4096, (step * 256) % 4096 + 256)
        loss = nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), (inputs, labels)
