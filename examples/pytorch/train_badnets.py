#!/usr/bin/env python3
"""Trains an image classifier in PyTorch, optionally BadNets-infected with poisonguard's default
trigger, and exports it with torch.onnx.export: the "Models trained in PyTorch" of docs/RESULTS.md.
Run with Debian's python3-torch (1.13) and python3-onnx, from the repository root:

    /usr/bin/python3 examples/pytorch/train_badnets.py --net mnist-bn --target 7
    /usr/bin/python3 examples/pytorch/train_badnets.py --net gtsrb-resnet --clean --preprocess normalize

Options: --net mnist-bn|gtsrb-resnet; --target N (the backdoor's label) or --clean; --preprocess
unit|normalize|inside (see below); --epochs, --seed, --batch, --lr; --data-dir (default
../shared/data); --threads (default 1); --limit N (first N train/test images, for a quick try);
--out DIR (default ../models/NAME beside the checkout, NAME from the net, backdoor and preprocessing,
e.g. ../models/mnist-bn-badnets).

What the OUT folder gets (it must lie outside the repository: models are not kept in git):
- model.onnx: the eval-mode model, opset 13, input "input" N x C x H x W float32 (NCHW), output
  "logits" N x classes, batch axis dynamic. Exported like test/fixtures/torch/make_fixtures.py:
  training=TrainingMode.PRESERVE and no constant folding, so the BatchNormalization nodes and the
  parameters' state_dict names stay in the graph (torch's defaults fold each BatchNorm into its Conv).
- model.pt: the state_dict, for PyTorch-side comparisons (e.g. its own Neural Cleanse run).
- training.json: what PyTorch measured on the official test set (clean accuracy; for an infected
  model the ASR on the test images not of the target, stamped), the trigger spec, target, poisoning,
  preprocessing, input layout, class count, epochs, seed, torch version, parameter count, time.
- predictions.json: PyTorch's predicted label for every test image in file order, clean and stamped,
  so another implementation's accuracy can be compared image by image.

The trigger is poisonguard's default BadNets trigger (src/nn/trigger.ts): a 4x4 white (255) square at
the bottom-right with a 1-pixel margin (rows/columns H-5..H-2), stamped on the raw uint8 pixels before
any preprocessing; each training image is poisoned independently with probability 0.1/1.1 (the
Neural Cleanse release's 10% extra poisoned samples per clean batch), stamped and relabelled. So
`poisonguard evaluate --trigger square:target=N` measures the same ASR as this script.

Preprocessing (how raw pixels 0..255 become the model's input):
- unit: x/255 outside the graph (poisonguard's preset `unit`).
- normalize: (x/255 - mean)/std per channel outside the graph, mean/std computed on the clean
  training set and rounded to 4 digits (poisonguard's `normalize:mean=...;std=...`).
- inside: x/255 outside the graph (torchvision's ToTensor), and the graph subtracts the mean and
  divides by the std itself (Sub, Div nodes): the torchvision Normalize exported inside the model,
  poisonguard's `--preprocess none`.

Deterministic as far as torch allows: seeded torch and numpy generators, deterministic algorithms,
one thread by default (the result can still differ across torch builds and CPUs).
"""
import argparse
import gzip
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

# poisonguard's defaults (src/nn/trigger.ts): DEFAULT_TRIGGER_SIZE, _POSITION, _MARGIN, _COLOUR, DEFAULT_POISON_RATE.
TRIGGER = {'kind': 'square', 'size': 4, 'position': 'bottom-right', 'margin': 1, 'colour': [255, 255, 255]}
POISON_RATE = 0.1 / 1.1
OPSET = 13
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


# ------------------------------------------------------------------------------------------------
# Data: the same files and test order as poisonguard's loaders (src/data/mnist.ts, gtsrb.ts), as
# uint8 N x H x W x C arrays.

def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape).copy()


def load_mnist(data_dir):
    d = os.path.join(data_dir, 'mnist')
    x_train = read_idx(os.path.join(d, 'train-images-idx3-ubyte.gz'))[..., None]
    y_train = read_idx(os.path.join(d, 'train-labels-idx1-ubyte.gz')).astype(np.int64)
    x_test = read_idx(os.path.join(d, 't10k-images-idx3-ubyte.gz'))[..., None]
    y_test = read_idx(os.path.join(d, 't10k-labels-idx1-ubyte.gz')).astype(np.int64)
    return x_train, y_train, x_test, y_test, 10


def read_gtsrb(path):
    with gzip.open(path, 'rb') as f:
        records = np.frombuffer(f.read(), dtype=np.uint8).reshape(-1, 1 + 3 * 32 * 32)
    # CIFAR layout: label byte, then the R, G and B planes; to N x H x W x C.
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), records[:, 0].astype(np.int64)


def load_gtsrb(data_dir):
    d = os.path.join(data_dir, 'gtsrb')
    x_train, y_train = read_gtsrb(os.path.join(d, 'gtsrb32_train.bin.gz'))
    x_test, y_test = read_gtsrb(os.path.join(d, 'gtsrb32_test.bin.gz'))
    return x_train, y_train, x_test, y_test, 43


def trigger_box(height, width):
    """Rows/columns the square covers, as resolveTrigger lays out 'bottom-right' with a margin."""
    size, margin = TRIGGER['size'], TRIGGER['margin']
    top, left = height - margin - size, width - margin - size
    return top, left, size


def stamp(images):
    """A copy of N x H x W x C uint8 images with the trigger stamped (mask 1 on the square)."""
    out = images.copy()
    top, left, size = trigger_box(images.shape[1], images.shape[2])
    out[:, top:top + size, left:left + size, :] = np.array(TRIGGER['colour'][:images.shape[3]], dtype=np.uint8)
    return out


def trigger_spec(target):
    t = TRIGGER
    colour = 'white' if t['colour'] == [255, 255, 255] else ':'.join(map(str, t['colour']))
    return f"square:size={t['size']},pos={t['position']},margin={t['margin']},colour={colour},target={target}"


# ------------------------------------------------------------------------------------------------
# Networks.

class Normalize(nn.Module):
    """torchvision's Normalize inside the graph: (x - mean)/std per channel on x/255."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class MnistBn(nn.Module):
    """BatchNorm CNN for 28x28x1: conv 5x5 (32) - BN - ReLU - maxpool 2 - conv 5x5 (64) - BN - ReLU -
    maxpool 2 - dense 128 - BN - ReLU - dropout 0.3 - dense 10."""

    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 5, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 4 * 4, 128, bias=False)
        self.bn3 = nn.BatchNorm1d(128)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = self.drop(F.relu(self.bn3(self.fc1(torch.flatten(x, 1)))))
        return self.fc2(x)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: conv-BN-ReLU-conv-BN plus the shortcut (1x1 conv-BN when the
    shape changes), then ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNetSmall(nn.Module):
    """A small CIFAR-style ResNet for 32x32x3: conv 3x3 (16) - BN - ReLU, three stages of one
    BasicBlock (16, 32, 64 channels; stride 1, 2, 2), global average pooling, dense."""

    def __init__(self, classes, widths=(16, 32, 64)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            stages.append(BasicBlock(cin, w, 1 if i == 0 else 2))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.stages(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


NETS = {
    'mnist-bn': {'dataset': 'mnist', 'build': MnistBn, 'epochs': 4, 'lr': 2e-3, 'batch': 64},
    'gtsrb-resnet': {'dataset': 'gtsrb', 'build': ResNetSmall, 'epochs': 10, 'lr': 2e-3, 'batch': 64},
}
LOADERS = {'mnist': load_mnist, 'gtsrb': load_gtsrb}


class WithInput(nn.Module):
    """The exported module: optional in-graph normalisation, then the network."""

    def __init__(self, net, normalize=None):
        super().__init__()
        self.normalize = normalize
        self.net = net

    def forward(self, x):
        return self.net(self.normalize(x) if self.normalize is not None else x)


# ------------------------------------------------------------------------------------------------

def to_input(images, preprocess, mean, std):
    """uint8 N x H x W x C to the float32 NCHW tensor the exported graph takes."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    if preprocess == 'normalize':
        x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    return x


def predict(model, images, preprocess, mean, std, batch=500):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(model(to_input(images[i:i + batch], preprocess, mean, std)).argmax(1))
    return torch.cat(out).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--net', required=True, choices=sorted(NETS))
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument('--target', type=int, help='backdoor target label (BadNets-infected model)')
    group.add_argument('--clean', action='store_true', help='no backdoor')
    ap.add_argument('--asr-target', type=int,
                    help="label the ASR counts (default: --target); for a clean model, the infected twin's target")
    ap.add_argument('--preprocess', choices=['unit', 'normalize', 'inside'], default='unit')
    ap.add_argument('--epochs', type=int)
    ap.add_argument('--batch', type=int)
    ap.add_argument('--lr', type=float)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--limit', type=int, help='use the first N training and test images (a quick try)')
    ap.add_argument('--data-dir', default=os.path.join(REPO, '..', 'shared', 'data'))
    ap.add_argument('--out')
    args = ap.parse_args()

    name = f"{args.net}-{'clean' if args.clean else 'badnets'}{'-inside' if args.preprocess == 'inside' else ''}"
    out_dir = os.path.abspath(args.out or os.path.join(REPO, '..', 'models', name))
    if os.path.commonpath([out_dir, REPO]) == REPO:
        sys.exit(f'--out {args.out}: inside the repository; models are kept out of git, choose a folder outside it')
    cfg = NETS[args.net]
    epochs = args.epochs or cfg['epochs']
    batch = args.batch or cfg['batch']
    lr = args.lr or cfg['lr']

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)

    x_train, y_train, x_test, y_test, classes = LOADERS[cfg['dataset']](args.data_dir)
    if args.limit:
        x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], y_test[:args.limit]
    if args.target is not None and not 0 <= args.target < classes:
        sys.exit(f'--target {args.target}: not a class of {cfg["dataset"]} (0..{classes - 1})')
    channels = x_train.shape[3]

    # Statistics of the clean training set, in the [0, 1] domain, for 'normalize' and 'inside'.
    flat = x_train.reshape(-1, channels).astype(np.float64) / 255.0
    mean = [round(float(v), 4) for v in flat.mean(0)]
    std = [round(float(v), 4) for v in flat.std(0)]
    del flat

    poisoned = np.zeros(0, dtype=np.int64)
    if args.target is not None:
        # Independent draws, as poisonguard's poisonBadNets: stamped and relabelled in place on a copy.
        poisoned = np.flatnonzero(rng.random(len(x_train)) < POISON_RATE)
        x_train = x_train.copy()
        y_train = y_train.copy()
        x_train[poisoned] = stamp(x_train[poisoned])
        y_train[poisoned] = args.target

    net = cfg['build'](classes)
    model = WithInput(net, Normalize(mean, std) if args.preprocess == 'inside' else None)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = (len(x_train) + batch - 1) // batch
    # Cosine decay to zero over the run: a few epochs reach a good accuracy without a tuned schedule.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(args.seed)

    print(f'{args.net}: {len(x_train)} train ({len(poisoned)} poisoned), {len(x_test)} test, {params} parameters, '
          f'{epochs} epochs, batch {batch}, lr {lr}, preprocess {args.preprocess}', file=sys.stderr, flush=True)
    history = []
    started = time.time()
    cpu_started = time.process_time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen).numpy()
        total, seen, t0 = 0.0, 0, time.time()
        for s in range(steps_per_epoch):
            idx = order[s * batch:(s + 1) * batch]
            x = to_input(x_train[idx], args.preprocess, mean, std)
            y = torch.from_numpy(y_train[idx])
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        acc = float((predict(model, x_test, args.preprocess, mean, std) == y_test).mean())
        history.append({'epoch': epoch + 1, 'train_loss': round(total / seen, 5), 'test_accuracy': round(acc, 5),
                        'seconds': round(time.time() - t0, 1)})
        print(f'epoch {epoch + 1}/{epochs}: loss {total / seen:.4f}, test accuracy {100 * acc:.2f}%, '
              f'{time.time() - t0:.0f} s', file=sys.stderr, flush=True)
    train_seconds = time.time() - started
    train_cpu_seconds = time.process_time() - cpu_started

    model.eval()
    clean_pred = predict(model, x_test, args.preprocess, mean, std)
    correct = int((clean_pred == y_test).sum())
    stamped_pred = predict(model, stamp(x_test), args.preprocess, mean, std)
    # ASR: the share of test images not of the target that the trigger sends to it. For a clean model
    # (given --asr-target) it says how often the trigger alone does that, as in docs/RESULTS.md.
    asr = None
    asr_target = args.asr_target if args.asr_target is not None else args.target
    if asr_target is not None:
        others = y_test != asr_target
        hits = int((stamped_pred[others] == asr_target).sum())
        asr = {'target': asr_target, 'hits': hits, 'of': int(others.sum()), 'rate': hits / int(others.sum())}

    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, 'model.onnx')
    channels_first = (1, channels, x_test.shape[1], x_test.shape[2])
    dummy = to_input(x_test[:2], args.preprocess, mean, std)
    torch.onnx.export(model, dummy, onnx_path, opset_version=OPSET, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    onnx.checker.check_model(onnx.load(onnx_path))
    torch.save(model.state_dict(), os.path.join(out_dir, 'model.pt'))

    if args.preprocess == 'unit':
        preprocessing = {'preset': 'unit', 'spec': 'unit'}
    elif args.preprocess == 'normalize':
        spec = f"normalize:mean={','.join(map(str, mean))};std={','.join(map(str, std))}"
        preprocessing = {'kind': 'normalize', 'mean': mean, 'std': std, 'spec': spec}
    else:
        preprocessing = {'preset': 'unit', 'spec': 'none', 'in_graph': {'mean': mean, 'std': std},
                         'note': 'x/255 outside the graph (ToTensor); the graph subtracts the mean and divides by the std'}
    pred_bytes = clean_pred.astype(np.uint8).tobytes()
    info = {
        'net': args.net,
        'dataset': cfg['dataset'],
        'backdoor': None if args.target is None else {
            'trigger': TRIGGER, 'target': args.target, 'rate': POISON_RATE, 'spec': trigger_spec(args.target),
            'poisoned': int(len(poisoned)), 'of': int(len(x_train)),
        },
        'trigger_for_asr': {'trigger': TRIGGER, 'spec_without_target': trigger_spec(0).rsplit(',target=', 1)[0]},
        'input': {'name': 'input', 'layout': 'nchw', 'shape': ['batch', *channels_first[1:]], 'dtype': 'float32'},
        'output': {'name': 'logits', 'kind': 'logits', 'classes': classes},
        'preprocessing': preprocessing,
        'test': {
            'images': int(len(y_test)), 'correct': correct, 'accuracy': correct / len(y_test),
            'asr': asr,
            'predictions_sha256': hashlib.sha256(pred_bytes).hexdigest(),
        },
        'training': {
            'epochs': epochs, 'batch': batch, 'optimizer': 'AdamW', 'lr': lr, 'weight_decay': 1e-4,
            'schedule': 'cosine to 0, per step', 'augmentation': None, 'seed': args.seed, 'threads': args.threads,
            'limit': args.limit, 'seconds': round(train_seconds, 1), 'cpu_seconds': round(train_cpu_seconds, 1),
            'history': history,
        },
        'parameters': params,
        'export': {'opset': OPSET, 'training_mode': 'PRESERVE', 'constant_folding': False, 'dynamic_batch': True},
        'torch': torch.__version__, 'onnx': onnx.__version__, 'python': platform.python_version(),
        'machine': platform.machine(),
    }
    with open(os.path.join(out_dir, 'training.json'), 'w') as f:
        json.dump(info, f, indent=2)
        f.write('\n')
    with open(os.path.join(out_dir, 'predictions.json'), 'w') as f:
        json.dump({'labels': y_test.tolist(), 'clean': clean_pred.tolist(), 'stamped': stamped_pred.tolist()}, f)
        f.write('\n')
    summary = f'test accuracy {100 * correct / len(y_test):.2f}% ({correct}/{len(y_test)})'
    if asr:
        summary += f', ASR {100 * asr["rate"]:.2f}% ({asr["hits"]}/{asr["of"]})'
    print(f'{summary}; {train_seconds:.0f} s training; wrote {out_dir}', file=sys.stderr, flush=True)


if __name__ == '__main__':
    main()
