#!/usr/bin/env python3
"""Exports models made by train_badnets.py again, this time with torch.onnx.export's defaults, as most
users export: training=TrainingMode.EVAL and constant folding on, which in torch 1.13 fold each
BatchNorm into the Conv before it (the BatchNormalization nodes disappear and the fused weights become
initializers named 'onnx::Conv_NN'). Same opset, input/output names and dynamic batch axis as
model.onnx. From the repository root:

    /usr/bin/python3 examples/pytorch/export_default.py ../models/gtsrb-resnet-badnets [MODEL_DIR...]

Reads MODEL_DIR/training.json and MODEL_DIR/model.pt, writes MODEL_DIR/model-torch-default.onnx, and
prints the op counts of both files. No training, no data needed.
"""
import collections
import json
import os
import sys

import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_badnets import NETS, OPSET, Normalize, WithInput  # noqa: E402

OUT_NAME = 'model-torch-default.onnx'


def op_counts(path):
    return dict(collections.Counter(n.op_type for n in onnx.load(path).graph.node))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    for model_dir in sys.argv[1:]:
        with open(os.path.join(model_dir, 'training.json')) as f:
            info = json.load(f)
        pre = info['preprocessing']
        inside = pre.get('in_graph')
        # Placeholder statistics: load_state_dict sets the in-graph mean/std buffers from model.pt.
        normalize = Normalize(inside['mean'], inside['std']) if inside else None
        model = WithInput(NETS[info['net']]['build'](info['output']['classes']), normalize)
        model.load_state_dict(torch.load(os.path.join(model_dir, 'model.pt')))
        model.eval()
        dummy = torch.zeros(2, *info['input']['shape'][1:])
        out_path = os.path.join(model_dir, OUT_NAME)
        torch.onnx.export(model, dummy, out_path, opset_version=OPSET, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
        onnx.checker.check_model(onnx.load(out_path))
        print(f'{out_path}: {op_counts(out_path)} (model.onnx: {op_counts(os.path.join(model_dir, "model.onnx"))})')


if __name__ == '__main__':
    main()
