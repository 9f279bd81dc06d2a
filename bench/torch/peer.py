#!/usr/bin/env python3
"""The PyTorch CPU peer of the graph engine's benchmarks: the same nets and the same work, timed in
the same run as poisonguard's (docs/BENCHMARKS.md). Run with Debian's python3-torch (1.13):

    /usr/bin/python3 bench/torch/peer.py [--threads 1,2] [--nets mnist,gtsrb,resnet18]
        [--tasks nc,train] [--warmup 5] [--iters 30] [--budget 30] [--export-dir DIR] [--quick]

Prints one JSON document on stdout (progress on stderr). Work measured, per net and thread count
(torch.set_num_threads; inter-op threads 1):
- "nc": one Neural Cleanse optimisation step on a mini-batch of 32 — the release's stamp
  x' = (1 − m)·x + m·p with m = tanh(w_m)/(2 − ε) + 0.5 (H×W, shared by the channels) and
  p = tanh(w_p)/(2 − ε) + 0.5 (C×H×W, inputs in [0, 1]), forward, softmax cross-entropy to the target
  + λ·‖m‖₁, backward to w_m and w_p only (the model frozen, eval mode), Adam (lr 0.1, β 0.5/0.9,
  ε 1e-7: the release's).
- "train": one training step at batch 32 and 128 — forward, softmax cross-entropy, backward to every
  parameter, Adam (lr 1e-3) — with the model in eval mode (BatchNorm frozen at its running statistics,
  dropout off: how fine-tuning defenses treat it) and in train mode (batch statistics, dropout on).
Inputs are seeded uniform noise with random labels: the time of these dense kernels does not depend
on the values. Each measurement: warm-up steps, then up to --iters timed steps (fewer once --budget
seconds have passed, at least 3; "iters" in the output says how many); wall ms/step, CPU ms/step,
images/s, and the process's peak resident memory so far.

--export-dir DIR writes the three nets (the same seeded weights, eval mode) as ONNX files there, for
the engine's side of the comparison: BatchNormalization kept (training=PRESERVE, no constant
folding), dynamic batch axis, opset 13. DIR must lie outside the repository (models stay out of git).
"""
import argparse
import json
import os
import platform
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 0
EPSILON = 1e-7  # release: K.epsilon(), in the tanh mapping and in Adam
NC_LR, NC_BETAS = 0.1, (0.5, 0.9)
NC_COST = 1e-3  # release: INIT_COST
NC_BATCH = 32
TRAIN_LR = 1e-3
TRAIN_BATCHES = (32, 128)


class MnistNet(nn.Module):
    """The Neural Cleanse MNIST net (src/nn/architectures.ts mnistNet): conv16 5x5 – maxpool 2 –
    conv32 5x5 – maxpool 2 – dense512 – dense10, ReLU, on 28x28x1."""

    shape = (1, 28, 28)
    classes = 10

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.dense1 = nn.Linear(32 * 4 * 4, 512)
        self.logits = nn.Linear(512, self.classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.logits(F.relu(self.dense1(torch.flatten(x, 1))))


class GtsrbNet(nn.Module):
    """The Neural Cleanse release's GTSRB net (src/nn/architectures.ts gtsrbNet): three blocks of
    conv 3x3 'same' – conv 3x3 'valid' – maxpool 2 – dropout 0.2 (32, 64, 128 filters), then
    dense512 – dropout 0.5 – dense43, ReLU, on 32x32x3."""

    shape = (3, 32, 32)
    classes = 43

    def __init__(self):
        super().__init__()
        blocks = []
        cin = 3
        for f in (32, 64, 128):
            blocks += [nn.Conv2d(cin, f, 3, padding=1), nn.ReLU(), nn.Conv2d(f, f, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2)]
            cin = f
        self.features = nn.Sequential(*blocks)
        self.dense1 = nn.Linear(128 * 2 * 2, 512)
        self.dropout = nn.Dropout(0.5)
        self.logits = nn.Linear(512, self.classes)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return self.logits(self.dropout(F.relu(self.dense1(x))))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn + shortcut (1x1 conv-bn when the shape changes), relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """ResNet-18 for CIFAR-shaped inputs (32x32x3, 10 classes), torchvision's layout (BasicBlock,
    [2, 2, 2, 2] blocks of 64/128/256/512 channels, global average pooling, fc) with the usual CIFAR
    stem: one 3x3 stride-1 conv, no max pooling (a 7x7/2 stem and pooling would leave 1x1 maps).
    11 173 962 parameters."""

    shape = (3, 32, 32)
    classes = 10

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers = []
        cin = 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(512, self.classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


NETS = {"mnist": MnistNet, "gtsrb": GtsrbNet, "resnet18": ResNet18}


def build(name):
    torch.manual_seed(SEED)
    return NETS[name]()


def cpu_seconds():
    return time.process_time()


def max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


MIN_TIMED_STEPS = 3


def timed(step, warmup, iters, budget):
    """Runs `step` warmup times, then up to iters times, stopping early once `budget` seconds have
    passed (after at least MIN_TIMED_STEPS, or iters if fewer): (wall s, CPU s, steps timed)."""
    for _ in range(warmup):
        step()
    w0, c0 = time.perf_counter(), cpu_seconds()
    done = 0
    while done < iters:
        step()
        done += 1
        if done >= MIN_TIMED_STEPS and time.perf_counter() - w0 > budget:
            break
    return time.perf_counter() - w0, cpu_seconds() - c0, done


def record(net, task, threads, batch, mode, wall, cpu, iters, warmup):
    return {
        "net": net,
        "task": task,
        "threads": threads,
        "batch": batch,
        "model_mode": mode,
        "warmup": warmup,
        "iters": iters,
        "ms_per_step": round(1000 * wall / iters, 3),
        "cpu_ms_per_step": round(1000 * cpu / iters, 3),
        "img_per_s": round(batch * iters / wall, 1),
        "max_rss_mb": round(max_rss_mb(), 1),
    }


def bench_nc(name, warmup, iters, budget, gen):
    """One Neural Cleanse step per mini-batch of 32 (see the module docstring)."""
    model = build(name).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    c, h, w = model.shape
    x = torch.rand((NC_BATCH, c, h, w), generator=gen)
    target = torch.full((NC_BATCH,), 0, dtype=torch.long)
    w_mask = torch.atanh((torch.rand((1, 1, h, w), generator=gen) - 0.5) * (2 - EPSILON)).requires_grad_(True)
    w_pattern = torch.atanh((torch.rand((1, c, h, w), generator=gen) - 0.5) * (2 - EPSILON)).requires_grad_(True)
    opt = torch.optim.Adam([w_mask, w_pattern], lr=NC_LR, betas=NC_BETAS, eps=EPSILON)

    def step():
        mask = torch.tanh(w_mask) / (2 - EPSILON) + 0.5
        pattern = torch.tanh(w_pattern) / (2 - EPSILON) + 0.5
        stamped = (1 - mask) * x + mask * pattern
        loss = F.cross_entropy(model(stamped), target) + NC_COST * mask.abs().sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, warmup, iters, budget)


def bench_train(name, batch, mode, warmup, iters, budget, gen):
    """One training step (forward, CE, backward to every parameter, Adam) with the model in `mode`."""
    model = build(name)
    model.train(mode == "train")
    c, h, w = model.shape
    x = torch.rand((batch, c, h, w), generator=gen)
    y = torch.randint(0, model.classes, (batch,), generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=TRAIN_LR)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, warmup, iters, budget)



def export_onnx(model, example, path):
    """Writes an eval-mode model as poisonguard reads it: opset 13, BatchNorm kept (training=PRESERVE,
    no constant folding: torch's default folds it into the convolutions), dynamic batch, NCHW."""
    torch.onnx.export(
        model,
        example,
        path,
        opset_version=13,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )

def export(names, out_dir):
    """Writes each net as out_dir/NAME.onnx (eval mode, BatchNormalization kept, dynamic batch)."""
    repo = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    target = os.path.realpath(out_dir)
    if target == repo or target.startswith(repo + os.sep):
        raise SystemExit(f"peer.py: --export-dir {out_dir} is inside the repository ({repo}); choose a folder outside it")
    os.makedirs(target, exist_ok=True)
    written = {}
    for name in names:
        model = build(name).eval()
        path = os.path.join(target, f"{name}.onnx")
        export_onnx(model, torch.zeros((1,) + model.shape), path)
        written[name] = path
        print(f"exported {name} to {path}", file=sys.stderr)
    return written


def csv_list(kind):
    return lambda s: [kind(v) for v in s.split(",") if v]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", type=csv_list(str), default=list(NETS))
    ap.add_argument("--threads", type=csv_list(int), default=[1, 2])
    ap.add_argument("--tasks", type=csv_list(str), default=["nc", "train"])
    ap.add_argument("--modes", type=csv_list(str), default=["eval", "train"], help="model modes of the training step")
    ap.add_argument("--batches", type=csv_list(int), default=list(TRAIN_BATCHES), help="training batch sizes")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30, help="timed steps per measurement (at most)")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds after which a measurement stops timing (after at least 3 steps)")
    ap.add_argument("--export-dir", help="write the nets as ONNX here (outside the repository) and exit unless --tasks is given too")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 warm-up step and 2 timed steps")
    args = ap.parse_args()
    for n in args.nets:
        if n not in NETS:
            ap.error(f"unknown net {n!r}; known: {', '.join(NETS)}")
    for t in args.tasks:
        if t not in ("nc", "train"):
            ap.error(f"unknown task {t!r}; known: nc, train")
    for m in args.modes:
        if m not in ("eval", "train"):
            ap.error(f"unknown mode {m!r}; known: eval, train")
    if any(t < 1 for t in args.threads) or args.iters < 1 or args.warmup < 0 or args.budget <= 0:
        ap.error("threads, iters and budget must be positive, warmup non-negative")
    warmup, iters = (1, 2) if args.quick else (args.warmup, args.iters)

    torch.set_num_interop_threads(1)
    out = {
        "peer": "pytorch",
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "parameters": {n: sum(p.numel() for p in build(n).parameters()) for n in args.nets},
        "settings": {
            "nc": {"batch": NC_BATCH, "lr": NC_LR, "betas": NC_BETAS, "epsilon": EPSILON, "cost": NC_COST, "mask": "H x W shared by channels"},
            "train": {"optimizer": "Adam", "lr": TRAIN_LR, "loss": "softmax cross-entropy (mean)"},
        },
        "results": [],
    }
    if args.export_dir:
        out["exported"] = export(args.nets, args.export_dir)
        if "--tasks" not in sys.argv:
            json.dump(out, sys.stdout, indent=1)
            print()
            return
    gen = torch.Generator().manual_seed(SEED)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name in args.nets:
            if "nc" in args.tasks:
                wall, cpu, done = bench_nc(name, warmup, iters, args.budget, gen)
                r = record(name, "nc_step", threads, NC_BATCH, "eval", wall, cpu, done, warmup)
                out["results"].append(r)
                print(f"{name} nc threads={threads}: {r['ms_per_step']} ms/step", file=sys.stderr)
            if "train" in args.tasks:
                for mode in args.modes:
                    for batch in args.batches:
                        wall, cpu, done = bench_train(name, batch, mode, warmup, iters, args.budget, gen)
                        r = record(name, "train_step", threads, batch, mode, wall, cpu, done, warmup)
                        out["results"].append(r)
                        print(f"{name} train {mode} batch={batch} threads={threads}: {r['img_per_s']} img/s", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
