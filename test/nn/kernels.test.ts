import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '../../src/random.js';
import { compareBackends, initBoth, randn } from './compare.js';
import { CONV_GRADIENT_STRATEGIES, setConvGradientStrategy } from '../../src/nn/kernels/strategy.js';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

const TOLERANCE = 1e-5;

const CONV_CASES: ConvCase[] = [
  { name: 'stride 1, same, odd size', x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { name: 'stride 2, same, even size', x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { name: 'stride 2, same, even filter', x: [1, 6, 8, 2], filter: [2, 4, 2, 3], strides: 2, pad: 'same' },
  { name: 'stride 3, valid, remainder rows', x: [1, 10, 11, 2], filter: [3, 3, 2, 3], strides: 3, pad: 'valid' },
  { name: 'stride 3, same', x: [2, 9, 7, 2], filter: [3, 3, 2, 2], strides: 3, pad: 'same' },
  { name: 'mixed strides [2, 3], same', x: [2, 10, 9, 2], filter: [4, 3, 2, 5], strides: [2, 3], pad: 'same' },
  { name: 'mixed strides [1, 2], valid', x: [3, 6, 9, 3], filter: [3, 2, 3, 2], strides: [1, 2], pad: 'valid' },
  { name: 'explicit padding, stride 1', x: [2, 6, 5, 2], filter: [3, 3, 2, 3], strides: 1, pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  { name: 'explicit padding, stride 2', x: [2, 7, 6, 2], filter: [3, 2, 2, 3], strides: 2, pad: [[0, 0], [2, 1], [0, 1], [0, 0]] },
  { name: 'explicit padding larger than the filter', x: [1, 4, 5, 2], filter: [2, 2, 2, 3], strides: 1, pad: [[0, 0], [3, 1], [2, 3], [0, 0]] },
  { name: '1x1 output', x: [2, 5, 5, 3], filter: [5, 5, 3, 4], strides: 1, pad: 'valid' },
  { name: '1x1 filter', x: [2, 6, 6, 4], filter: [1, 1, 4, 3], strides: 1, pad: 'valid' },
  { name: '1 input channel, stride 1, same, even filter', x: [2, 7, 6, 1], filter: [4, 3, 1, 3], strides: 1, pad: 'same' },
  { name: '1 input channel, strides [2, 1], explicit padding', x: [2, 9, 7, 1], filter: [3, 3, 1, 2], strides: [2, 1], pad: [[0, 0], [2, 1], [1, 2], [0, 0]] },
  { name: '1 input channel, stride 2, same', x: [2, 9, 8, 1], filter: [3, 3, 1, 5], strides: 2, pad: 'same' },
  { name: 'MNIST first layer shape, batch 4', x: [4, 28, 28, 1], filter: [5, 5, 1, 16], strides: 1, pad: 'valid' },
  { name: 'GTSRB-like, same, 8 channels', x: [3, 8, 8, 8], filter: [3, 3, 8, 16], strides: 1, pad: 'same' },
];

function outShape(c: ConvCase): number[] {
  return tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad).shape;
}

before(async () => {
  await initBoth();
});

for (const strategy of CONV_GRADIENT_STRATEGIES) {
describe(`Conv2DBackpropFilter on wasm (${strategy}) matches the cpu backend`, () => {
  for (const c of CONV_CASES) {
    test(c.name, async () => {
      setConvGradientStrategy(strategy);
      const rng = new Random(11);
      const yShape = tf.tidy(() => outShape(c));
      const x = randn(rng, c.x.reduce((a, b) => a * b));
      const dy = randn(rng, yShape.reduce((a, b) => a * b));
      const err = await compareBackends(() =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(x, c.x), dy: tf.tensor(dy, yShape) }, {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          filterShape: c.filter,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
      setConvGradientStrategy('auto');
      assert.ok(err <= TOLERANCE, `relative error ${err}`);
    });
  }
});

describe(`Conv2DBackpropInput on wasm (${strategy}) matches the cpu backend`, () => {
  for (const c of CONV_CASES) {
    test(c.name, async () => {
      setConvGradientStrategy(strategy);
      const rng = new Random(12);
      const yShape = tf.tidy(() => outShape(c));
      const w = randn(rng, c.filter.reduce((a, b) => a * b));
      const dy = randn(rng, yShape.reduce((a, b) => a * b));
      const err = await compareBackends(() =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dy, yShape), filter: tf.tensor(w, c.filter) }, {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          inputShape: c.x,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
      setConvGradientStrategy('auto');
      assert.ok(err <= TOLERANCE, `relative error ${err}`);
    });
  }
});
}

interface PoolCase {
  name: string;
  x: [number, number, number, number];
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid';
  /** How the input values are drawn. */
  values: 'normal' | 'negative' | 'ties';
}

const POOL_CASES: PoolCase[] = [
  { name: '2x2 stride 2, mixed signs', x: [2, 8, 8, 3], filterSize: 2, strides: 2, pad: 'valid', values: 'normal' },
  { name: '2x2 stride 2, all windows negative', x: [2, 6, 6, 2], filterSize: 2, strides: 2, pad: 'valid', values: 'negative' },
  { name: '2x2 stride 2, ties (few distinct values)', x: [2, 6, 6, 2], filterSize: 2, strides: 2, pad: 'valid', values: 'ties' },
  { name: '3x3 stride 2, overlapping windows, ties', x: [2, 7, 7, 2], filterSize: 3, strides: 2, pad: 'valid', values: 'ties' },
  { name: '3x3 stride 1, same, negative', x: [1, 5, 6, 3], filterSize: 3, strides: 1, pad: 'same', values: 'negative' },
  { name: '2x2 stride 2, same, odd size', x: [2, 7, 5, 2], filterSize: 2, strides: 2, pad: 'same', values: 'normal' },
  { name: '2x2 stride 2, 8 channels (SIMD path), ties', x: [2, 6, 4, 8], filterSize: 2, strides: 2, pad: 'valid', values: 'ties' },
  { name: '2x2 stride 2, 4 channels (SIMD path), negative, odd size', x: [3, 7, 5, 4], filterSize: 2, strides: 2, pad: 'valid', values: 'negative' },
  { name: '2x2 stride 2, 12 channels (SIMD path), mixed signs', x: [2, 8, 6, 12], filterSize: 2, strides: 2, pad: 'valid', values: 'normal' },
  { name: '[2, 3] window, [1, 2] strides, same, even size', x: [2, 6, 8, 2], filterSize: [2, 3], strides: [1, 2], pad: 'same', values: 'ties' },
];

function poolValues(rng: Random, n: number, kind: PoolCase['values']): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 'normal') a[i] = rng.normal();
    else if (kind === 'negative') a[i] = -0.01 - Math.abs(rng.normal());
    else a[i] = rng.int(3) - 2; // -2, -1, 0: ties everywhere, and non-positive maxima
  }
  return a;
}

describe('MaxPoolGrad on wasm matches the cpu backend', () => {
  for (const c of POOL_CASES) {
    test(c.name, async () => {
      const rng = new Random(13);
      const x = poolValues(rng, c.x.reduce((a, b) => a * b), c.values);
      const yShape = tf.tidy(() => tf.maxPool(tf.zeros(c.x) as tf.Tensor4D, c.filterSize, c.strides, c.pad).shape);
      const dy = randn(rng, yShape.reduce((a, b) => a * b));
      const err = await compareBackends(() =>
        tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(input as tf.Tensor4D, c.filterSize, c.strides, c.pad), tf.tensor(dy, yShape))))(
          tf.tensor(x, c.x),
        ),
      );
      assert.ok(err <= TOLERANCE, `relative error ${err}`);
    });
  }

  test('a tie goes to the first position of the window only', async () => {
    await initBoth();
    await tf.setBackend('wasm');
    const g = tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(tf.maxPool(input as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor4d([-1, -1, -1, -1], [1, 2, 2, 1])));
    assert.deepEqual(Array.from(g.dataSync()), [1, 0, 0, 0]);
    g.dispose();
  });
});

describe('BatchMatMul on wasm matches the cpu backend', () => {
  const shapes: { name: string; a: number[]; b: number[]; tA: boolean; tB: boolean }[] = [
    { name: '2-D, no transpose', a: [5, 7], b: [7, 3], tA: false, tB: false },
    { name: '2-D, transposeA (dense weight gradient)', a: [7, 5], b: [7, 3], tA: true, tB: false },
    { name: '2-D, transposeB (dense input gradient)', a: [5, 7], b: [3, 7], tA: false, tB: true },
    { name: '2-D, both transposed', a: [7, 5], b: [3, 7], tA: true, tB: true },
    { name: '3-D batch, transposeA', a: [4, 6, 5], b: [4, 6, 3], tA: true, tB: false },
    { name: '3-D broadcast batch, transposeB', a: [4, 5, 6], b: [1, 3, 6], tA: false, tB: true },
    { name: 'vector-like, transposeA', a: [64, 1], b: [64, 10], tA: true, tB: false },
  ];
  for (const s of shapes) {
    test(s.name, async () => {
      const rng = new Random(14);
      const a = randn(rng, s.a.reduce((p, q) => p * q));
      const b = randn(rng, s.b.reduce((p, q) => p * q));
      const err = await compareBackends(() => tf.matMul(tf.tensor(a, s.a), tf.tensor(b, s.b), s.tA, s.tB));
      assert.ok(err <= TOLERANCE, `relative error ${err}`);
    });
  }
});

describe('Sum on wasm matches the cpu backend', () => {
  const cases: { name: string; shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
    { name: 'bias gradient: leading axes 0,1,2 of NHWC', shape: [4, 6, 5, 3], axis: [0, 1, 2], keepDims: false },
    { name: 'batch axis, keepDims', shape: [7, 9], axis: 0, keepDims: true },
    { name: 'many rows (several SIMD blocks), odd column count', shape: [4, 50, 3, 5], axis: [0, 1, 2], keepDims: false },
    { name: 'many rows, 8 columns', shape: [300, 8], axis: 0, keepDims: false },
    { name: 'leading axes given unsorted', shape: [3, 4, 5], axis: [1, 0], keepDims: false },
    { name: 'innermost axis (backend kernel)', shape: [3, 4, 5], axis: -1, keepDims: false },
    { name: 'middle axis (backend kernel)', shape: [3, 4, 5], axis: 1, keepDims: true },
    { name: 'all axes (backend kernel)', shape: [3, 4, 5], axis: [0, 1, 2], keepDims: false },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const rng = new Random(15);
      const x = randn(rng, c.shape.reduce((p, q) => p * q));
      const err = await compareBackends(() => tf.sum(tf.tensor(x, c.shape), c.axis, c.keepDims));
      assert.ok(err <= TOLERANCE, `relative error ${err}`);
      await tf.setBackend('wasm');
      const shape = tf.tidy(() => tf.sum(tf.tensor(x, c.shape), c.axis, c.keepDims).shape);
      await tf.setBackend('cpu');
      const ref = tf.tidy(() => tf.sum(tf.tensor(x, c.shape), c.axis, c.keepDims).shape);
      assert.deepEqual(shape, ref);
    });
  }
});

describe('Identity on wasm shares the buffer and keeps it alive', () => {
  test('a clone outlives its source; disposing both frees the data', async () => {
    await initBoth();
    await tf.setBackend('wasm');
    const before = tf.engine().backend.numDataIds();
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
    b.dispose();
    assert.equal(tf.engine().backend.numDataIds(), before);
  });
});

describe('Cast on wasm', () => {
  test('to the same dtype shares the buffer; to another dtype converts', async () => {
    await initBoth();
    await tf.setBackend('wasm');
    const before = tf.engine().backend.numDataIds();
    const a = tf.tensor1d([1.5, -2.5, 3]);
    const same = tf.cast(a, 'float32');
    const ints = tf.cast(a, 'int32');
    a.dispose();
    assert.deepEqual(Array.from(same.dataSync()), [1.5, -2.5, 3]);
    assert.deepEqual(Array.from(ints.dataSync()), [1, -2, 3]);
    assert.equal(ints.dtype, 'int32');
    same.dispose();
    ints.dispose();
    assert.equal(tf.engine().backend.numDataIds(), before);
  });
});
