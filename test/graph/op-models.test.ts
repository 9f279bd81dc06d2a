/**
 * The gradient-checking machinery on cases with a known answer: central differences of the float64
 * reference against closed-form gradients of a linear softmax classifier, and against a hand-written
 * ONNX gradient graph of a strided convolution (input, weight and bias gradients) run on the
 * reference — the same check the engine's generated gradient graphs go through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadReference } from './reference.js';
import { buildModel, conv, cotangent, finiteDifference, linear, referenceGradients, relativeError, residualBlock, softmaxCrossEntropy } from './op-models.js';

test('finiteDifference of a cubic is its derivative, and x is restored', () => {
  const x = Float64Array.from([0.5, -1.25, 2]);
  const g = finiteDifference((v) => v.reduce((s, a) => s + a * a * a, 0), x, 1e-4);
  assert.deepEqual(Array.from(x), [0.5, -1.25, 2]);
  assert.ok(relativeError(g, [0.75, 4.6875, 12]) < 1e-8);
});

test('reference + finite differences = closed-form gradient of a linear softmax classifier', () => {
  const m = linear({ batch: 3, features: 5, classes: 4 });
  const ref = loadReference(m.bytes);
  const labels = [2, 0, 3];
  const [N, D, K] = [3, 5, 4];
  const x = m.feeds.x.data;
  const W = m.params.W.data;
  const logits = ref.run(m.feeds).logits.data;
  // dL/dlogits = (softmax − onehot) / N, then dW = gᵀx, db = Σ g, dx = g W.
  const g = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    const row = Array.from(logits.subarray(n * K, (n + 1) * K));
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const s = e.reduce((a, b) => a + b);
    for (let k = 0; k < K; k++) g[n * K + k] = (e[k] / s - (k === labels[n] ? 1 : 0)) / N;
  }
  const dW = new Float64Array(K * D);
  const db = new Float64Array(K);
  const dx = new Float64Array(N * D);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      db[k] += g[n * K + k];
      for (let d = 0; d < D; d++) {
        dW[k * D + d] += g[n * K + k] * x[n * D + d];
        dx[n * D + d] += g[n * K + k] * W[k * D + d];
      }
    }
  const loss = (out: Float64Array) => softmaxCrossEntropy(out, labels, K);
  const fdW = finiteDifference((w) => loss(ref.run(m.feeds, { W: w }).logits.data), Float64Array.from(W));
  const fdb = finiteDifference((b) => loss(ref.run(m.feeds, { b }).logits.data), Float64Array.from(m.params.b.data));
  const fdx = finiteDifference((xv) => loss(ref.run({ x: { data: xv, dims: [N, D] } }).logits.data), Float64Array.from(x));
  for (const [name, fd, exact] of [['W', fdW, dW], ['b', fdb, db], ['x', fdx, dx]] as const) {
    const e = relativeError(fd, exact);
    assert.ok(e < 1e-8, `${name}: relative error ${e.toExponential(2)}`);
  }
  // …and the check can fail: a gradient off by a small amount in one entry is caught.
  const wrong = Float64Array.from(dW);
  wrong[3] += 1e-4;
  assert.ok(relativeError(fdW, wrong) > 1e-5);
});

test('a hand-written gradient graph of a strided conv, run on the reference, matches finite differences', () => {
  // Forward: y = Conv(x [2,3,7,7], w [4,3,3,3], b; stride 2, pads 1) → [2,4,4,4].
  const m = conv({ input: [2, 3, 7, 7], out: 4, k: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] });
  const c = cotangent(2 * 4 * 4 * 4);
  const fd = referenceGradients(m, undefined, { weights: c, wrt: ['x', 'w', 'b'] });
  // Backward, as ONNX: dx = ConvTranspose(dy, w) (output_padding 0: 2·3 + 3 − 2 = 7); dw = the
  // batch-transposed input convolved with the batch-transposed dy dilated by the stride;
  // db = ReduceSum(dy) over batch and space.
  const grad = buildModel({
    opset: 17,
    inputs: [{ name: 'x', dims: [2, 3, 7, 7] }, { name: 'dy', dims: [2, 4, 4, 4] }],
    outputs: [{ name: 'dx' }, { name: 'dw' }, { name: 'db' }],
    initializers: [
      { name: 'w', data: m.params.w.data, dims: m.params.w.dims },
      { name: 'axes', data: [0, 2, 3], dims: [3], type: 'int64' },
    ],
    nodes: [
      { op: 'ConvTranspose', inputs: ['dy', 'w'], outputs: ['dx'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
      { op: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: [1, 0, 2, 3] } },
      { op: 'Transpose', inputs: ['dy'], outputs: ['dyt'], attrs: { perm: [1, 0, 2, 3] } },
      { op: 'Conv', inputs: ['xt', 'dyt'], outputs: ['dwt'], attrs: { kernel_shape: [4, 4], dilations: [2, 2], pads: [1, 1, 1, 1] } },
      { op: 'Transpose', inputs: ['dwt'], outputs: ['dw'], attrs: { perm: [1, 0, 2, 3] } },
      { op: 'ReduceSum', inputs: ['dy', 'axes'], outputs: ['db'], attrs: { keepdims: 0 } },
    ],
  });
  const out = loadReference(grad).run({ x: m.feeds.x, dy: { data: c, dims: [2, 4, 4, 4] } });
  assert.deepEqual(out.dx.dims, [2, 3, 7, 7]);
  assert.deepEqual(out.dw.dims, [4, 3, 3, 3]);
  for (const [name, analytic] of [['x', out.dx.data], ['w', out.dw.data], ['b', out.db.data]] as const) {
    const e = relativeError(analytic, fd.grads[name]);
    assert.ok(e < 1e-8, `d/d${name}: relative error ${e.toExponential(2)}`);
  }
});

test('finite differences through the residual block (BatchNorm, Add, pooling) are smooth: two step sizes agree', () => {
  const m = residualBlock({ input: [1, 2, 4, 4], classes: 3 });
  const wrt = ['x', 'conv1.weight', 'bn2.weight', 'fc.bias'];
  const a = referenceGradients(m, undefined, { wrt, h: 1e-5 });
  const b = referenceGradients(m, undefined, { wrt, h: 1e-4, weights: a.weights });
  for (const name of wrt) {
    const e = relativeError(a.grads[name], b.grads[name]);
    assert.ok(e < 1e-6, `${name}: ${e.toExponential(2)}`);
    assert.ok(a.grads[name].some((v) => v !== 0), `${name}: all zero`);
  }
});
