#!/usr/bin/env python3
"""PyTorch's side of one DPA base net of a user-named architecture: the architecture of
export_learner.py trained by PyTorch 1.13 (one thread) from its own default initialisation, with
the schedule `certify --learner FILE.onnx` uses (Adam 1e-3, batch 128, pixels / 255, no
augmentation), on a random sample of MNIST's training set the size of a DPA partition; test
accuracy on the 10 000 test images. A reference for the base nets' accuracy and speed in
docs/RESULTS.md (PyTorch draws other initial weights and batches than poisonguard: the numbers are
comparable, not equal).

    /usr/bin/python3 bench/torch/train_learner_reference.py [--arch resnet-mini] [--n 1198] [--epochs 15] [--seed 3] [--data ../shared/data/mnist]
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_learner import ARCHS  # noqa: E402


def idx(path):
    b = gzip.open(path).read()
    return np.frombuffer(b, np.uint8, offset=16 if b[3] == 3 else 8)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="resnet-mini")
    p.add_argument("--n", type=int, default=1198, help="training images (default: the median DPA partition at k = 50)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "mnist"))
    a = p.parse_args()
    torch.set_num_threads(1)
    x_all = idx(os.path.join(a.data, "train-images-idx3-ubyte.gz")).reshape(-1, 1, 28, 28)
    y_all = idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))
    xt = torch.tensor(idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz")).reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    yt = idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz"))
    sel = np.random.default_rng(a.seed).choice(len(x_all), a.n, replace=False)
    x = torch.tensor(x_all[sel] / 255.0, dtype=torch.float32)
    y = torch.tensor(y_all[sel].astype(np.int64))
    torch.manual_seed(a.seed)
    model = ARCHS[a.arch]()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            b = perm[i : i + 128]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        acc = float((model(xt).argmax(1).numpy() == yt).mean())
    print(f"{a.arch}: {a.n} images, {a.epochs} epochs, {seconds:.1f} s training (1 thread), test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
