"""A 16-64-32-5 ReLU MLP, the example model of README and the tests."""

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, sizes=(16, 64, 32, 5)):
        super().__init__()
        layers = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        torch.manual_seed(0)  # reproducible weights when loaded by `hardcore compile`
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, x):
        return self.net(torch.flatten(x, 1))
