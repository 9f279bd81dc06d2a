/**
 * Pooling: MaxPool (non-overlapping windows: MaxUnpool; overlapping: ScatterElements with
 * reduction add), AveragePool (a grouped ConvTranspose of the per-window divisors, with and without
 * count_include_pad), GlobalAveragePool and ReduceMean, against float64 central finite differences,
 * then on onnxruntime (see backward-fd.ts).
 *
 * MaxPool's inputs are a shuffled grid with steps of 0.05: every window's maximum wins by far more
 * than the finite-difference step, so the max is differentiable there.
 */
import { test } from 'node:test';
import type { AttrValue, PadSpec } from './op-models.js';
import { distinct, expectGradients, flattened } from './backward-fd.js';

interface PoolCase {
  input: [number, number, number, number];
  k: [number, number];
  stride?: [number, number];
  pad?: PadSpec;
  dilation?: [number, number];
  ceil?: boolean;
  countIncludePad?: boolean;
}

function poolModel(op: 'MaxPool' | 'AveragePool', c: PoolCase) {
  const attrs: Record<string, AttrValue> = { kernel_shape: c.k, strides: c.stride ?? [1, 1] };
  if (typeof c.pad === 'string') attrs.auto_pad = c.pad;
  else if (c.pad) attrs.pads = c.pad;
  if (c.dilation) attrs.dilations = c.dilation;
  if (c.ceil) attrs.ceil_mode = 1;
  if (c.countIncludePad) attrs.count_include_pad = 1;
  const n = c.input.reduce((a, b) => a * b, 1);
  return flattened({ operands: [{ name: 'x', dims: c.input, values: distinct(n) }], nodes: [{ op, inputs: ['x'], outputs: ['y'], attrs }], outputs: ['y'] });
}

const maxCases: [string, PoolCase][] = [
  ['k2 s2 (non-overlapping: MaxUnpool)', { input: [2, 2, 6, 5], k: [2, 2], stride: [2, 2] }],
  ['k2 s[2,3] pads [1,0,1,1] (non-overlapping, padded)', { input: [2, 2, 5, 6], k: [2, 2], stride: [2, 3], pad: [1, 0, 1, 1] }],
  ['k3 s3 ceil_mode (a last window past the edge)', { input: [1, 2, 7, 8], k: [3, 3], stride: [3, 3], ceil: true }],
  ['k3 s2 pads 1 (overlapping: ScatterElements)', { input: [2, 2, 7, 6], k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] }],
  ['k3 s1 (overlapping, stride 1)', { input: [1, 2, 5, 5], k: [3, 3] }],
  ['k2 s1 SAME_UPPER (even kernel)', { input: [2, 2, 4, 5], k: [2, 2], pad: 'SAME_UPPER' }],
  ['k4 s3 SAME_LOWER (even kernel, overlapping)', { input: [1, 2, 8, 7], k: [4, 4], stride: [3, 3], pad: 'SAME_LOWER' }],
  ['k3 s2 ceil_mode (overlapping)', { input: [1, 2, 6, 6], k: [3, 3], stride: [2, 2], ceil: true }],
  ['k2 s2 dilation 2 (windows interleave)', { input: [1, 2, 6, 6], k: [2, 2], stride: [2, 2], dilation: [2, 2] }],
  ['k2 s[3,4] dilation [2,3] (dilated, non-overlapping: MaxUnpool)', { input: [2, 1, 8, 9], k: [2, 2], stride: [3, 4], dilation: [2, 3] }],
  ['k2 s3 dilation 2 ceil_mode pads 1 (dilated, non-overlapping, past the edge)', { input: [1, 2, 7, 8], k: [2, 2], stride: [3, 3], dilation: [2, 2], pad: [1, 1, 1, 1], ceil: true }],
];
for (const [name, c] of maxCases) test(`backward vs finite differences: MaxPool ${name}`, () => expectGradients({ model: poolModel('MaxPool', c) }));

const averageCases: [string, PoolCase][] = [
  ['k2 s2', { input: [2, 2, 6, 5], k: [2, 2], stride: [2, 2] }],
  ['k3 s2 pads 1, padding not counted', { input: [2, 2, 7, 6], k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] }],
  ['k3 s2 pads 1, count_include_pad', { input: [2, 2, 7, 6], k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1], countIncludePad: true }],
  ['k3 s[1,3] asymmetric pads [0,1,2,1], count_include_pad', { input: [1, 2, 5, 7], k: [3, 3], stride: [1, 3], pad: [0, 1, 2, 1], countIncludePad: true }],
  ['k2 s1 SAME_LOWER (even kernel)', { input: [2, 2, 4, 5], k: [2, 2], pad: 'SAME_LOWER' }],
  ['k3 s2 ceil_mode', { input: [1, 2, 6, 7], k: [3, 3], stride: [2, 2], ceil: true }],
  ['k3 s2 ceil_mode with pads, count_include_pad', { input: [1, 2, 6, 6], k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1], ceil: true, countIncludePad: true }],
  ['k2 s3 (the last row is never read)', { input: [2, 2, 9, 8], k: [2, 2], stride: [3, 3] }],
];
for (const [name, c] of averageCases) test(`backward vs finite differences: AveragePool ${name}`, () => expectGradients({ model: poolModel('AveragePool', c) }));

test('backward vs finite differences: GlobalAveragePool', () =>
  expectGradients({ model: flattened({ operands: [{ name: 'x', dims: [2, 3, 4, 5] }], nodes: [{ op: 'GlobalAveragePool', inputs: ['x'], outputs: ['y'] }], outputs: ['y'] }) }));

const reduceCases: [string, number[], number][] = [
  ['over H, keepdims 1', [2], 1],
  ['over H and W, keepdims 0', [2, 3], 0],
  ['over channels, keepdims 0', [1], 0],
  ['over channels and W (negative axis), keepdims 1', [1, -1], 1],
];
for (const [name, axes, keepdims] of reduceCases) {
  test(`backward vs finite differences: ReduceMean ${name}`, () =>
    expectGradients({ model: flattened({ operands: [{ name: 'x', dims: [2, 3, 4, 2] }], nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['y'], attrs: { axes, keepdims } }], outputs: ['y'] }) }));
}
test('backward vs finite differences: ReduceMean with axes as an input (opset 18)', () =>
  expectGradients({
    model: flattened({
      opset: 18,
      operands: [{ name: 'x', dims: [2, 3, 4, 2] }, { name: 'axes', dims: [2], init: true, type: 'int64', values: [2, 3] }],
      nodes: [{ op: 'ReduceMean', inputs: ['x', 'axes'], outputs: ['y'], attrs: { keepdims: 0 } }],
      outputs: ['y'],
    }),
  }));
