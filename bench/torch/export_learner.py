#!/usr/bin/env python3
"""Exports an untrained PyTorch architecture for `poisonguard certify --method dpa|fa --learner FILE.onnx`
(the measurement in docs/RESULTS.md, "Aggregation certificates: MNIST with a user-named architecture").

    /usr/bin/python3 bench/torch/export_learner.py OUT.onnx [--arch resnet-mini|lenet-bn|nin]

Run with Debian's python3-torch (1.13) and python3-onnx. Nothing is trained: poisonguard re-initialises
every weight per base classifier (PyTorch's default rule, src/nn/torch-init.ts), so only the
architecture matters.

Export settings, and why (as test/fixtures/torch/make_fixtures.py): the model in eval mode, exported
with training=TrainingMode.PRESERVE and do_constant_folding=False. torch's default
(TrainingMode.EVAL) folds every BatchNorm into the Conv before it, and the net would then train
without BatchNorm; TrainingMode.TRAINING writes training-mode BatchNorm, which the engine refuses.
The batch axis is dynamic; the input is NCHW [N, 1, 28, 28] (poisonguard's default --input-layout).

Architectures (28x28x1 inputs, 10 classes):
- resnet-mini: stem conv3x3 16 - BatchNorm - ReLU - maxpool 2, a BasicBlock (16 -> 16), a strided
  BasicBlock (16 -> 32, 1x1 conv + BatchNorm shortcut), global average pooling, linear 32 -> 10;
- lenet-bn: (conv5x5 - BatchNorm - ReLU - maxpool 2) with 6 then 16 channels, linear 256 -> 120
  - ReLU - linear 120 -> 84 - ReLU - linear 84 -> 10;
- nin: the network-in-network DPA's MNIST release trains (RotNet's NIN, 3 stages, as the DPA paper
  and its release describe it): every unit conv (no bias) - BatchNorm - ReLU; stage 1: 5x5 192,
  1x1 160, 1x1 96, max pool 3 stride 2 pad 1; stage 2: 5x5 192, 1x1 192, 1x1 192, average pool 3
  stride 2 pad 1; stage 3: 3x3 192, 1x1 192, 1x1 192; global average pooling, linear 192 -> 10.
"""
import argparse

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

# The same block as the peer benchmark's ResNet-18 (torchvision's BasicBlock).
from peer import BasicBlock, export_onnx


class ResNetMini(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, stride=1)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class LeNetBn(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def unit(cin, cout, k):
    return [nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class NetworkInNetwork(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            *unit(1, 192, 5), *unit(192, 160, 1), *unit(160, 96, 1), nn.MaxPool2d(3, stride=2, padding=1),
            *unit(96, 192, 5), *unit(192, 192, 1), *unit(192, 192, 1), nn.AvgPool2d(3, stride=2, padding=1),
            *unit(192, 192, 3), *unit(192, 192, 1), *unit(192, 192, 1),
        )
        self.fc = nn.Linear(192, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


ARCHS = {"resnet-mini": ResNetMini, "lenet-bn": LeNetBn, "nin": NetworkInNetwork}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--arch", choices=sorted(ARCHS), default="resnet-mini")
    a = p.parse_args()
    torch.manual_seed(0)
    model = ARCHS[a.arch]().eval()
    export_onnx(model, torch.zeros(1, 1, 28, 28), a.out)
    m = onnx.load(a.out)
    onnx.checker.check_model(m)
    params = sum(p.numel() for p in model.parameters())
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{a.out}: {a.arch}, {params} parameters, ops {', '.join(ops)}")


if __name__ == "__main__":
    main()
