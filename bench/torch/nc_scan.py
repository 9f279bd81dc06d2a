#!/usr/bin/env python3
"""Neural Cleanse's trigger reverse engineering in PyTorch: the peer of `poisonguard scan` on a model
trained by examples/pytorch/train_badnets.py (its model.pt and training.json), with the same recipe
as poisonguard's defaults (src/cleanse/recipe.ts, the authors' release): per label, a mask
m = tanh(w_m)/(2 - eps) + 0.5 (H x W, shared by the channels) and a pattern
p = 255 (tanh(w_p)/(2 - eps) + 0.5) (H x W x C), stamped on the raw pixels x' = (1 - m) x + m p, then
the model's preprocessing; loss = cross-entropy to the label + cost * sum|m|; Adam (lr 0.1,
betas 0.5/0.9, eps 1e-7); a step = 31 mini-batches of 32 clean test images; the release's cost
schedule (warm-up, x2 up / /2^1.5 down after 5 steps, early stop after 25 steps without a better
mask once the cost went both ways); at most --steps steps. Then the MAD anomaly index of the best
masks' L1 norms when every label ran.

Run with Debian's python3-torch (1.13), from the repository root:

    /usr/bin/python3 bench/torch/nc_scan.py --model ../models/gtsrb-resnet-badnets
        [--labels 0,33] [--steps 1000] [--threads 2] [--seed 0] [--data-dir ../shared/data]

Prints one JSON document on stdout (progress on stderr): per label the steps run, why it stopped,
the best mask's norm, wall and CPU seconds; the totals, and wall / CPU ms per step. The random
streams are PyTorch's, not poisonguard's: the two runs take different (equally valid) paths, so
compare time per step, and steps and norms only as figures of the same order.
"""
import argparse
import json
import os
import platform
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, 'examples', 'pytorch'))
import train_badnets as tb  # noqa: E402  (the nets, data loaders and preprocessing of the models)

# The release's recipe (bolunwang/backdoor visualizer.py), as poisonguard's defaults.
EPSILON = 1e-7
LR, BETAS = 0.1, (0.5, 0.9)
BATCH, MINI_BATCHES = 32, 31
MAX_STEPS = 1000
SUCCESS = 0.99
PATIENCE = 5
INIT_COST = 1e-3
COST_MULTIPLIER = 2.0
EARLY_STOP_THRESHOLD = 1.0
EARLY_STOP_PATIENCE = 5 * PATIENCE
MAD_CONSISTENCY = 1.4826


def load(model_dir):
    with open(os.path.join(model_dir, 'training.json')) as f:
        info = json.load(f)
    spec = tb.NETS[info['net']]
    net = spec['build'](info['output']['classes'])
    pre = info['preprocessing']
    normalize = tb.Normalize(pre['mean'], pre['std']) if pre['kind'] == 'inside' else None
    model = tb.WithInput(net, normalize)
    model.load_state_dict(torch.load(os.path.join(model_dir, 'model.pt'), map_location='cpu'))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, info


def preprocess_fn(info):
    pre = info['preprocessing']
    if pre['kind'] == 'normalize':
        mean = torch.tensor(pre['mean']).view(1, -1, 1, 1)
        std = torch.tensor(pre['std']).view(1, -1, 1, 1)
        return lambda raw: (raw / 255.0 - mean) / std
    return lambda raw: raw / 255.0  # 'unit', and 'inside' (the graph normalises)


def reverse_label(model, pre, clean, label, steps, gen):
    """One label's optimisation; returns (best norm, steps run, stop reason)."""
    n, c, h, w = clean.shape
    # Release: np.random.random initial mask and pattern, mapped to tanh space.
    mask0 = torch.rand(1, 1, h, w, generator=gen)
    pattern0 = torch.rand(1, c, h, w, generator=gen)
    w_m = torch.atanh((mask0 - 0.5) * (2 - EPSILON)).requires_grad_(True)
    w_p = torch.atanh((pattern0 - 0.5) * (2 - EPSILON)).requires_grad_(True)
    opt = torch.optim.Adam([w_m, w_p], lr=LR, betas=BETAS, eps=EPSILON)
    target = torch.full((BATCH,), label, dtype=torch.long)
    cost = 0.0
    best_norm = float('inf')
    es_best, es_count = float('inf'), 0
    set_count = up_count = down_count = 0
    up_flag = down_flag = False
    order, pos = torch.randperm(n, generator=gen), 0
    reason = 'max-steps'
    step = 0
    for step in range(1, steps + 1):
        acc_sum = norm_sum = 0.0
        for _ in range(MINI_BATCHES):
            if pos + BATCH > n:
                order, pos = torch.randperm(n, generator=gen), 0
            x = clean[order[pos:pos + BATCH]]
            pos += BATCH
            m = torch.tanh(w_m) / (2 - EPSILON) + 0.5
            p = (torch.tanh(w_p) / (2 - EPSILON) + 0.5) * 255.0
            logits = model(pre((1 - m) * x + m * p))
            norm = m.abs().sum()
            loss = F.cross_entropy(logits, target) + cost * norm
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc_sum += (logits.argmax(1) == target).float().mean().item()
            norm_sum += norm.item()
        acc, norm = acc_sum / MINI_BATCHES, norm_sum / MINI_BATCHES
        success = acc >= SUCCESS
        if success and norm < best_norm:
            best_norm = norm
        if best_norm < float('inf'):
            es_count = es_count + 1 if best_norm >= EARLY_STOP_THRESHOLD * es_best else 0
        es_best = min(best_norm, es_best)
        if up_flag and down_flag and es_count >= EARLY_STOP_PATIENCE:
            reason = 'early-stop'
            break
        if cost == 0 and success:
            set_count += 1
            if set_count >= PATIENCE:
                cost, up_count, down_count, up_flag, down_flag = INIT_COST, 0, 0, False, False
        else:
            set_count = 0
        up_count, down_count = (up_count + 1, 0) if success else (0, down_count + 1)
        if up_count >= PATIENCE:
            up_count, cost, up_flag = 0, cost * COST_MULTIPLIER, True
        elif down_count >= PATIENCE:
            down_count, cost, down_flag = 0, cost / COST_MULTIPLIER ** 1.5, True
    return best_norm, step, reason


def anomaly_index(norms):
    v = np.array(norms)
    med = np.median(v)
    mad = MAD_CONSISTENCY * np.median(np.abs(v - med))
    return ((med - v) / mad).tolist()  # one-sided: small norms are the outliers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', required=True, help='folder written by examples/pytorch/train_badnets.py')
    ap.add_argument('--labels', help='comma-separated labels (default: all)')
    ap.add_argument('--steps', type=int, default=MAX_STEPS)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--data-dir', default=os.path.join(REPO, '..', 'shared', 'data'))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model, info = load(args.model)
    _, _, x_test, _, classes = tb.LOADERS[info['dataset']](args.data_dir)
    clean = torch.from_numpy(x_test).permute(0, 3, 1, 2).float().contiguous()
    pre = preprocess_fn(info)
    labels = list(range(classes)) if not args.labels else [int(s) for s in args.labels.split(',')]
    results = []
    t0, c0 = time.perf_counter(), time.process_time()
    for label in labels:
        gen = torch.Generator().manual_seed(args.seed * 1000003 + label)
        s0, sc0 = time.perf_counter(), time.process_time()
        best, steps, reason = reverse_label(model, pre, clean, label, args.steps, gen)
        r = {'label': label, 'steps': steps, 'stop': reason, 'bestNorm': None if best == float('inf') else best,
             'seconds': time.perf_counter() - s0, 'cpuSeconds': time.process_time() - sc0}
        results.append(r)
        print(f"label {label}: {steps} steps ({reason}), best norm {r['bestNorm']}, {r['seconds']:.1f} s", file=sys.stderr)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    steps = sum(r['steps'] for r in results)
    out = {
        'peer': 'pytorch', 'torch': torch.__version__, 'python': platform.python_version(), 'threads': args.threads,
        'model': os.path.abspath(args.model), 'recipe': 'release defaults (nc_scan.py constants)', 'seed': args.seed,
        'labels': results, 'steps': steps, 'seconds': wall, 'cpuSeconds': cpu,
        'msPerStep': 1000 * wall / steps, 'cpuMsPerStep': 1000 * cpu / steps,
        'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if len(labels) == classes and all(r['bestNorm'] is not None for r in results):
        out['anomalyIndex'] = anomaly_index([r['bestNorm'] for r in results])
    print(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
