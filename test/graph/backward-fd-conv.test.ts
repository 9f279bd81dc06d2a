/**
 * Conv and BatchNormalization: the generated input and weight gradients against central finite
 * differences in float64 (see backward-fd.ts), then on onnxruntime against the float64 values.
 * The Conv cases walk both input-gradient rewrites (a convolution with the flipped kernel for
 * stride 1 with many channels, ConvTranspose otherwise), strides 1–3, even kernels with 'same'
 * padding either way, dilation, groups and depthwise, rows the forward pass never reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchMeanName, batchVarianceName } from '../../src/graph/programs.js';
import { Random } from '../../src/random.js';
import { loadReference } from './reference.js';
import { opModel, residualBlock, type AttrValue, type OperandSpec, type PadSpec } from './op-models.js';
import { checkBackward, expectGradients, flattened, withBatchStatistics } from './backward-fd.js';

interface ConvCase {
  input: [number, number, number, number];
  out: number;
  k: [number, number];
  stride?: [number, number];
  pad?: PadSpec;
  dilation?: [number, number];
  group?: number;
  bias?: boolean;
}

function padAttrs(pad: PadSpec | undefined): Record<string, AttrValue> {
  if (pad === undefined) return {};
  return typeof pad === 'string' ? { auto_pad: pad } : { pads: pad };
}

function convOperands(c: ConvCase, name = 'w'): OperandSpec[] {
  const group = c.group ?? 1;
  const fanIn = (c.input[1] / group) * c.k[0] * c.k[1];
  return [
    { name: `${name}`, dims: [c.out, c.input[1] / group, ...c.k], init: true, scale: 1 / Math.sqrt(fanIn) },
    ...((c.bias ?? true) ? [{ name: `${name}.b`, dims: [c.out], init: true, scale: 0.1 }] : []),
  ];
}

function convNode(c: ConvCase, input: string, output: string, name = 'w') {
  return {
    op: 'Conv',
    inputs: (c.bias ?? true) ? [input, name, `${name}.b`] : [input, name],
    outputs: [output],
    attrs: { kernel_shape: c.k, strides: c.stride ?? [1, 1], dilations: c.dilation ?? [1, 1], group: c.group ?? 1, ...padAttrs(c.pad) },
  };
}

const convCases: [string, ConvCase][] = [
  // Stride 1 with ≥ 8 input channels: dx is a Conv of dy with the flipped, channel-swapped kernel.
  ['k3 s1 pads 1, 8 channels (dx: flipped-kernel conv)', { input: [2, 8, 5, 4], out: 3, k: [3, 3], pad: [1, 1, 1, 1] }],
  ['k2 s1 SAME_UPPER, 8 channels (flipped-kernel conv, uneven pads)', { input: [2, 8, 4, 5], out: 2, k: [2, 2], pad: 'SAME_UPPER' }],
  ['k[2,4] s1 SAME_LOWER, 8 channels', { input: [1, 8, 4, 5], out: 2, k: [2, 4], pad: 'SAME_LOWER' }],
  ['k[3,2] s1 valid, 8 channels, no bias', { input: [2, 8, 5, 6], out: 2, k: [3, 2], bias: false }],
  // Otherwise dx is a ConvTranspose with the forward's geometry.
  ['k3 s1 pads 1, 3 channels (dx: ConvTranspose)', { input: [2, 3, 5, 5], out: 3, k: [3, 3], pad: [1, 1, 1, 1] }],
  ['k3 s2 pads 1', { input: [2, 3, 7, 6], out: 3, k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] }],
  ['k2 s2 SAME_UPPER (even kernel)', { input: [2, 2, 7, 6], out: 3, k: [2, 2], stride: [2, 2], pad: 'SAME_UPPER' }],
  ['k4 s3 SAME_LOWER (even kernel)', { input: [1, 2, 8, 7], out: 3, k: [4, 4], stride: [3, 3], pad: 'SAME_LOWER' }],
  ['k2 s3 SAME_UPPER', { input: [2, 2, 7, 8], out: 2, k: [2, 2], stride: [3, 3], pad: 'SAME_UPPER' }],
  ['k2 s3 valid: the last row is never read (output_padding)', { input: [2, 2, 9, 8], out: 2, k: [2, 2], stride: [3, 3] }],
  ['k3 s[3,2] asymmetric pads [0,2,1,0]', { input: [2, 2, 8, 7], out: 2, k: [3, 3], stride: [3, 2], pad: [0, 2, 1, 0] }],
  ['k1 s2', { input: [2, 3, 5, 5], out: 2, k: [1, 1], stride: [2, 2] }],
  ['k3 dilation 2 pads 2', { input: [1, 3, 7, 7], out: 2, k: [3, 3], dilation: [2, 2], pad: [2, 2, 2, 2] }],
  // onnxruntime refuses auto_pad with dilation; the loader writes the pads out.
  ['k[3,2] s[2,1] dilation [1,2] group 2 SAME_UPPER', { input: [2, 4, 7, 6], out: 4, k: [3, 2], stride: [2, 1], dilation: [1, 2], group: 2, pad: 'SAME_UPPER' }],
  ['group 2, 3 outputs per group, no bias', { input: [2, 4, 5, 5], out: 6, k: [3, 3], pad: [1, 1, 1, 1], group: 2, bias: false }],
  ['depthwise, multiplier 2, k2 s2 SAME_UPPER', { input: [2, 3, 6, 6], out: 6, k: [2, 2], stride: [2, 2], group: 3, pad: 'SAME_UPPER' }],
  ['depthwise, k3 s1 asymmetric pads', { input: [2, 4, 5, 5], out: 4, k: [3, 3], group: 4, pad: [1, 0, 1, 2] }],
  ['depthwise, 8 channels, k3 s1 pads 1', { input: [1, 8, 4, 4], out: 8, k: [3, 3], group: 8, pad: [1, 1, 1, 1] }],
  // Pads wider than the kernel reach (outputs that see only padding and the bias).
  ['k1 pads 1, 8 channels', { input: [1, 8, 3, 3], out: 2, k: [1, 1], pad: [1, 1, 1, 1] }],
  ['k2 s2 pads [2,1,2,0]', { input: [2, 2, 4, 4], out: 2, k: [2, 2], stride: [2, 2], pad: [2, 1, 2, 0] }],
];

for (const [name, c] of convCases) {
  test(`backward vs finite differences: Conv ${name}`, () => expectGradients({ model: flattened({ operands: [{ name: 'x', dims: c.input }, ...convOperands(c)], nodes: [convNode(c, 'x', 'y')], outputs: ['y'] }) }));
}

test('backward vs finite differences: two Convs in a row (stride 2 then flipped-kernel stride 1)', () => {
  const first: ConvCase = { input: [2, 3, 6, 6], out: 8, k: [2, 2], stride: [2, 2], pad: 'SAME_UPPER' };
  const second: ConvCase = { input: [2, 8, 3, 3], out: 2, k: [3, 3], pad: [1, 1, 1, 1] };
  return expectGradients({
    model: flattened({ operands: [{ name: 'x', dims: first.input }, ...convOperands(first, 'w1'), ...convOperands(second, 'w2')], nodes: [convNode(first, 'x', 'h', 'w1'), convNode(second, 'h', 'y', 'w2')], outputs: ['y'] }),
  });
});

// ---------------------------------------------------------------------------------------------
// BatchNormalization

function bnOperands(C: number, seed: number): OperandSpec[] {
  const rng = new Random(seed);
  return [
    { name: 'bn.scale', dims: [C], init: true, scale: 0.5, shift: 1 },
    { name: 'bn.bias', dims: [C], init: true, scale: 0.2 },
    { name: 'bn.mean', dims: [C], init: true, scale: 0.3 },
    { name: 'bn.var', dims: [C], init: true, values: Array.from({ length: C }, () => 0.5 + rng.next()) },
  ];
}
const bnNode = (input: string, output: string) => ({ op: 'BatchNormalization', inputs: [input, 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'], outputs: [output], attrs: { epsilon: 1e-3 } });

test('backward vs finite differences: BatchNormalization (frozen) on the input: dx, scale and bias', () =>
  expectGradients({ model: flattened({ operands: [{ name: 'x', dims: [2, 3, 3, 2] }, ...bnOperands(3, 1)], nodes: [bnNode('x', 'y')], outputs: ['y'] }) }));

test('backward vs finite differences: Conv → BatchNormalization (frozen): the conv weight through the frozen statistics', () => {
  const c: ConvCase = { input: [2, 2, 5, 5], out: 3, k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1], bias: false };
  return expectGradients({ model: flattened({ operands: [{ name: 'x', dims: c.input }, ...convOperands(c), ...bnOperands(3, 2)], nodes: [convNode(c, 'x', 'c'), bnNode('c', 'y')], outputs: ['y'] }) });
});

test('backward vs finite differences: BatchNormalization in train mode (batch statistics) after a Conv, in the training program', async () => {
  // No conv bias: the batch mean takes it out again (its gradient is exactly 0).
  const c: ConvCase = { input: [3, 2, 4, 4], out: 2, k: [3, 3], pad: [1, 1, 1, 1], bias: false };
  const model = flattened({ operands: [{ name: 'x', dims: c.input }, ...convOperands(c), ...bnOperands(2, 3)], nodes: [convNode(c, 'x', 'c'), bnNode('c', 'y')], outputs: ['y'] });
  const ref = loadReference(model.bytes);
  const eps = Math.fround(1e-3);
  // Train-mode BatchNorm written out here independently: per channel, the mean and the biased
  // variance over batch and space, y = γ·(x − μ)/√(σ² + ε) + β.
  const statistics = (v: Float64Array, [N, C, Hh, W]: number[]) => {
    const mean = new Float64Array(C);
    const variance = new Float64Array(C);
    const count = N * Hh * W;
    for (let i = 0; i < v.length; i++) mean[Math.floor(i / (Hh * W)) % C] += v[i] / count;
    for (let i = 0; i < v.length; i++) {
      const ch = Math.floor(i / (Hh * W)) % C;
      variance[ch] += (v[i] - mean[ch]) ** 2 / count;
    }
    return { mean, variance };
  };
  const convOut = (x: Float64Array, w: Record<string, Float64Array>) => ref.run({ x: { data: x, dims: c.input } }, { w: w.w }, { keep: ['c'] }).c;
  const trainForward = (x: Float64Array, w: Record<string, Float64Array>) => {
    const { data, dims } = convOut(x, w);
    const { mean, variance } = statistics(data, dims);
    const inner = dims[2] * dims[3];
    return data.map((v, i) => {
      const ch = Math.floor(i / inner) % dims[1];
      return (w['bn.scale'][ch] * (v - mean[ch])) / Math.sqrt(variance[ch] + eps) + w['bn.bias'][ch];
    });
  };
  const result = await checkBackward({ model, batchNorm: 'train', trainForward, seed: 3 });
  // The batch statistics the program outputs (the caller's running averages are made of them).
  const { data, dims } = ref.run({ x: model.feeds.x }, {}, { keep: ['c'] }).c;
  const expected = statistics(data, dims);
  const node = 'BatchNormalization_1';
  const e = Math.max(
    Math.abs(result.training[batchMeanName(node)].data.reduce((m, v, i) => Math.max(m, Math.abs(v - expected.mean[i])), 0)),
    Math.abs(result.training[batchVarianceName(node)].data.reduce((m, v, i) => Math.max(m, Math.abs(v - expected.variance[i])), 0)),
  );
  assert.ok(e < 1e-12, `batch mean/variance off by ${e}`);
});

test('backward vs finite differences: BatchNormalization of features [N, C] after a Gemm, frozen and in train mode', async () => {
  const operands: OperandSpec[] = [{ name: 'x', dims: [4, 2, 2, 2] }, { name: 'fc', dims: [3, 8], init: true, scale: 0.5 }, ...bnOperands(3, 4)];
  const nodes = [{ op: 'Flatten', inputs: ['x'], outputs: ['f'] }, { op: 'Gemm', inputs: ['f', 'fc'], outputs: ['h'], attrs: { transB: 1 } }, bnNode('h', 'logits')];
  const model = opModel({ operands, nodes, outputs: ['logits'] });
  await expectGradients({ model });
  const ref = loadReference(model.bytes);
  const eps = Math.fround(1e-3);
  // Per feature, the mean and biased variance over the batch.
  const trainForward = (x: Float64Array, w: Record<string, Float64Array>) => {
    const h = ref.run({ x: { data: x, dims: [4, 2, 2, 2] } }, { fc: w.fc }, { keep: ['h'] }).h.data;
    const out = new Float64Array(h.length);
    for (let ch = 0; ch < 3; ch++) {
      const column = [0, 1, 2, 3].map((n) => h[n * 3 + ch]);
      const mean = column.reduce((a, b) => a + b) / 4;
      const variance = column.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
      column.forEach((v, n) => (out[n * 3 + ch] = (w['bn.scale'][ch] * (v - mean)) / Math.sqrt(variance + eps) + w['bn.bias'][ch]));
    }
    return out;
  };
  await expectGradients({ model, batchNorm: 'train', trainForward, seed: 4 });
});

for (const mode of ['frozen', 'train'] as const) {
  test(`backward vs finite differences: a residual block (Conv, BatchNorm ${mode}, Relu, Add, GlobalAveragePool, Gemm), every parameter`, () => {
    const model = residualBlock({ input: [3, 2, 4, 4], classes: 3, seed: 5 });
    const train = loadReference(withBatchStatistics(model.bytes));
    const dims = model.feeds.x.dims;
    return expectGradients({
      model,
      batchNorm: mode,
      ...(mode === 'train' ? { trainForward: (x: Float64Array, w: Record<string, Float64Array>) => train.run({ x: { data: x, dims } }, w).logits.data } : {}),
      seed: 5,
    });
  });
}
