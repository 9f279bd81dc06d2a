/**
 * The graph engine on tf.layers models against TensorFlow.js's autodiff (cpu backend): outputs,
 * input gradients and every weight's gradient, on a residual, branching model with BatchNorm,
 * depthwise and strided convolutions, average and global pooling, and on the Neural Cleanse nets.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layersToGraph, writeWeightsToLayers, type LayerWeightRef } from '../../src/nn/layers-graph.js';
import { createForwardRunner, createGradientRunner, createInputGradientRunner } from '../../src/graph/runtime.js';
import { gtsrbNet, mnistNet } from '../../src/nn/architectures.js';
import { Random } from '../../src/random.js';
import { initBoth, randn, relativeError } from '../nn/compare.js';

const TOLERANCE = 1e-4;

before(async () => {
  await initBoth();
  await tf.setBackend('cpu');
});

const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });

/** A residual, branching model: BatchNorm, depthwise, 1x1 projection, stride 2, average pooling, concat. */
function residualNet(softmax: boolean): tfl.LayersModel {
  const input = tfl.input({ shape: [10, 9, 3] });
  const conv = (filters: number, k: number, seed: number, extra: Record<string, unknown> = {}) =>
    tfl.layers.conv2d({ filters, kernelSize: k, padding: 'same', kernelInitializer: init(seed), biasInitializer: tfl.initializers.randomNormal({ seed: seed + 100, stddev: 0.1 }), ...extra });
  const a = tfl.layers.reLU().apply(tfl.layers.batchNormalization({ name: 'bn_a' }).apply(conv(6, 3, 1).apply(input))) as tfl.SymbolicTensor;
  const dw = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, depthwiseInitializer: init(2), name: 'dw' }).apply(a) as tfl.SymbolicTensor;
  const b = tfl.layers.batchNormalization({ name: 'bn_b' }).apply(dw) as tfl.SymbolicTensor;
  const proj = conv(12, 1, 3, { useBias: false }).apply(a) as tfl.SymbolicTensor;
  const sum = tfl.layers.reLU({ maxValue: 6 }).apply(tfl.layers.add().apply([b, proj])) as tfl.SymbolicTensor;
  const dil = conv(5, 3, 4, { strides: 2, padding: 'valid', activation: 'tanh' }).apply(sum) as tfl.SymbolicTensor;
  const left = tfl.layers.averagePooling2d({ poolSize: 2, padding: 'same' }).apply(dil) as tfl.SymbolicTensor;
  const right = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(dil) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate().apply([left, right]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(cat) as tfl.SymbolicTensor;
  const hidden = tfl.layers.dense({ units: 7, activation: 'sigmoid', kernelInitializer: init(5) }).apply(pooled) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 4, activation: softmax ? 'softmax' : 'linear', kernelInitializer: init(6) }).apply(hidden) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  // BatchNorm with statistics and an affine map that are not the identity.
  const rng = new Random(9);
  for (const name of ['bn_a', 'bn_b']) {
    const layer = model.getLayer(name);
    const c = (layer.weights[0].shape as number[])[0];
    const u = (lo: number, hi: number) => tf.tensor1d(Array.from({ length: c }, () => lo + (hi - lo) * rng.next()));
    layer.setWeights([u(0.5, 1.5), u(-0.3, 0.3), u(-0.5, 0.5), u(0.5, 1.5)]);
  }
  return model;
}

/** A tf gradient in the graph's layout. */
function toGraphLayout(ref: LayerWeightRef, g: tf.Tensor): Float32Array {
  return tf.tidy(() => {
    if (ref.layout === 'hwio→oihw') return tf.transpose(g, [3, 2, 0, 1]).dataSync() as Float32Array;
    if (ref.layout === 'hwcm→o1hw') {
      const [kh, kw, c, m] = g.shape;
      return tf.transpose(tf.reshape(g, [kh, kw, c * m]), [2, 0, 1]).dataSync() as Float32Array;
    }
    return g.dataSync() as Float32Array;
  });
}

async function checkModel(model: tfl.LayersModel, softmax: boolean, batch: number, seed: number): Promise<void> {
  const { graph, refs } = layersToGraph(model);
  const [, H, W, C] = model.inputs[0].shape as number[];
  const K = (model.outputs[0].shape as number[])[1];
  const rng = new Random(seed);
  const x = randn(rng, batch * H * W * C);
  const labels = Int32Array.from({ length: batch }, (_, i) => (i * 3 + 1) % K);
  const EPS = 1e-7;
  const lossOf = (out: tf.Tensor2D, onehot: tf.Tensor2D): tf.Scalar =>
    softmax ? (tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.log(tf.clipByValue(out, EPS, 1 - EPS))), -1))) as tf.Scalar) : (tf.losses.softmaxCrossEntropy(onehot, out) as tf.Scalar);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const ref = tf.tidy(() => {
    const xs = tf.tensor4d(x, [batch, H, W, C]);
    const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), K) as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(() => lossOf(model.apply(xs, { training: false }) as tf.Tensor2D, onehot), variables);
    const target = tf.oneHot(tf.fill([batch], K - 1, 'int32') as tf.Tensor1D, K) as tf.Tensor2D;
    const dx = tf.grad((xin: tf.Tensor) => lossOf(model.apply(xin, { training: false }) as tf.Tensor2D, target))(xs);
    const out = model.apply(xs, { training: false }) as tf.Tensor;
    return {
      loss: value.dataSync()[0],
      grads: Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, tf.keep(v)])),
      dx: dx.dataSync() as Float32Array,
      out: out.dataSync() as Float32Array,
    };
  });
  const forward = await createForwardRunner(graph);
  const inputGradient = await createInputGradientRunner(graph, 'cross-entropy');
  const gradient = await createGradientRunner(graph);
  try {
    const f = await forward.run(x, batch);
    assert.ok(relativeError(f.out, ref.out) <= TOLERANCE, `out: ${relativeError(f.out, ref.out)}`);
    const d = await inputGradient.run(x, batch, K - 1);
    assert.ok(relativeError(d.dx, ref.dx) <= TOLERANCE, `dx: ${relativeError(d.dx, ref.dx)}`);
    const weights = new Map([...graph.weights].map(([k, v]) => [k, v.data]));
    const masks = Object.fromEntries(gradient.dropouts.map((dr) => [dr.node, new Float32Array(batch * dr.shape.slice(1).reduce((p, v) => p * v, 1)).fill(1)]));
    const g = await gradient.run(weights, { x, batch, labels, masks });
    assert.ok(Math.abs(g.loss - ref.loss) <= 1e-5 * Math.max(1, Math.abs(ref.loss)), `loss ${g.loss} vs ${ref.loss}`);
    assert.equal(gradient.parameters.length, model.trainableWeights.length, 'every trainable variable is a parameter');
    for (const r of refs.filter((rr) => gradient.parameters.includes(rr.name))) {
      const want = toGraphLayout(r, ref.grads[r.variable.name]);
      const got = g.grads.get(r.name)!;
      const e = relativeError(got, want);
      assert.ok(e <= TOLERANCE, `d${r.name}: relative error ${e}`);
      assert.ok(want.some((v) => v !== 0), `d${r.name} is not all zeros`);
    }
  } finally {
    tf.dispose(Object.values(ref.grads));
    await Promise.all([forward.dispose(), inputGradient.dispose(), gradient.dispose()]);
  }
}

test('graph engine: a residual, branching tf.layers model with BatchNorm — output, input and weight gradients match TF.js autodiff', async () => {
  for (const softmax of [false, true]) {
    const model = residualNet(softmax);
    await checkModel(model, softmax, 3, softmax ? 2 : 1);
    model.dispose();
  }
});

test('graph engine: the MNIST and GTSRB nets — weight gradients match TF.js autodiff', async () => {
  const m = mnistNet({ seed: 4 });
  await checkModel(m, false, 2, 3);
  m.dispose();
  const g = gtsrbNet({ seed: 5, outputActivation: 'softmax' });
  await checkModel(g, true, 2, 4);
  g.dispose();
});

test('graph engine: weights written back into the model land in the right layout', async () => {
  const model = residualNet(false);
  const { graph, refs } = layersToGraph(model);
  const scaled = new Map([...graph.weights].map(([k, v]) => [k, v.data.map((w) => 2 * w + 0.5)]));
  writeWeightsToLayers(refs, scaled);
  const again = layersToGraph(model).graph;
  for (const [k, v] of scaled) assert.deepEqual(again.weights.get(k)!.data, v, k);
  model.dispose();
});
