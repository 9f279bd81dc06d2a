/**
 * The ONNX input-gradient graph against TensorFlow.js's cpu backend: the model's output and the
 * gradient of each loss variant to the input, on models with every supported layer and padding.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { exportInputGradientModel, UnsupportedModelError, type InputGradientLoss } from '../../src/nn/onnx-export.js';
import { createInputGradientModel } from '../../src/nn/onnx-gradient.js';
import { gtsrbNet, mnistNet } from '../../src/nn/architectures.js';
import { Random } from '../../src/random.js';
import { initBoth, randn, relativeError } from './compare.js';

const TOLERANCE = 1e-4;
const EPS = 1e-7;

before(async () => {
  await initBoth();
  await tf.setBackend('cpu');
});

const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });

/** Strides 2 and 3, 'same' with even sizes, odd pooling sizes, pool before ReLU, every activation. */
function mixedNet(softmax: boolean): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [14, 13, 2], filters: 4, kernelSize: 3, padding: 'same', strides: 2, kernelInitializer: init(1), activation: 'relu' }));
  m.add(tfl.layers.conv2d({ filters: 5, kernelSize: [2, 3], padding: 'same', kernelInitializer: init(2) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2, padding: 'same' }));
  m.add(tfl.layers.activation({ activation: 'tanh' }));
  m.add(tfl.layers.conv2d({ filters: 6, kernelSize: 2, strides: 3, padding: 'valid', kernelInitializer: init(3), activation: 'sigmoid', biasInitializer: 'ones' }));
  m.add(tfl.layers.conv2d({ filters: 5, kernelSize: 1, kernelInitializer: tfl.initializers.randomUniform({ minval: -0.2, maxval: 1, seed: 4 }), useBias: false }));
  m.add(tfl.layers.reLU());
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dropout({ rate: 0.5 }));
  m.add(tfl.layers.dense({ units: 7, kernelInitializer: init(5), activation: 'relu', biasInitializer: 'ones' }));
  m.add(tfl.layers.dense({ units: 4, kernelInitializer: init(6), activation: softmax ? 'softmax' : 'linear' }));
  return m;
}

/** The reference: out and d(loss)/dx on the cpu backend, the formulas of reverse.ts. */
function reference(model: tfl.LayersModel, x: Float32Array, shape: number[], target: number, loss: InputGradientLoss, softmax: boolean): { out: Float32Array; dx: Float32Array } {
  return tf.tidy(() => {
    const input = tf.tensor(x, shape);
    const K = (model.outputs[0].shape as number[])[1];
    const t = tf.cast(tf.oneHot(tf.fill([shape[0]], target, 'int32') as tf.Tensor1D, K), 'float32');
    const f = (xin: tf.Tensor): tf.Scalar => {
      const out = model.apply(xin, { training: false }) as tf.Tensor2D;
      const probs = softmax ? out : tf.softmax(out);
      if (loss === 'release-swapped') {
        const pt = tf.sum(tf.mul(probs, t), -1);
        return tf.neg(tf.mean(tf.add(tf.mul(pt, Math.log(1 - EPS)), tf.mul(tf.sub(1, pt), Math.log(EPS))))) as tf.Scalar;
      }
      if (softmax) return tf.neg(tf.mean(tf.sum(tf.mul(t, tf.log(tf.clipByValue(probs, EPS, 1 - EPS))), -1))) as tf.Scalar;
      return tf.losses.softmaxCrossEntropy(t, out) as tf.Scalar;
    };
    const dx = tf.grad(f)(input);
    const out = model.apply(input, { training: false }) as tf.Tensor;
    return { out: out.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  });
}

async function check(model: tfl.LayersModel, loss: InputGradientLoss, softmax: boolean, batch: number, seed: number): Promise<void> {
  const [, H, W, C] = model.inputs[0].shape as number[];
  const rng = new Random(seed);
  const x = randn(rng, batch * H * W * C);
  const K = (model.outputs[0].shape as number[])[1];
  const engine = await createInputGradientModel(model, loss);
  assert.ok(!('unavailable' in engine), 'unavailable' in engine ? engine.unavailable : '');
  try {
    for (const target of [0, K - 1]) {
      const ref = reference(model, x, [batch, H, W, C], target, loss, softmax);
      const got = await engine.run(x, batch, target);
      const eOut = relativeError(got.out, ref.out);
      const eDx = relativeError(got.dx, ref.dx);
      assert.ok(eOut <= TOLERANCE, `out: relative error ${eOut}`);
      assert.ok(eDx <= TOLERANCE, `dx (${loss}, target ${target}): relative error ${eDx}`);
      assert.ok(ref.dx.some((v) => v !== 0), `a gradient that is not all zeros (${loss}, target ${target}, out ${[...ref.out].map((v) => v.toFixed(3))})`);
    }
  } finally {
    await engine.dispose();
  }
}

test('ONNX graph: output and input gradient match the cpu backend (strides 2 and 3, same padding with even sizes, every activation)', async () => {
  const logits = mixedNet(false);
  const soft = mixedNet(true);
  const before = tf.memory().numTensors;
  await check(logits, 'cross-entropy', false, 3, 1);
  await check(logits, 'release-swapped', false, 2, 2);
  await check(soft, 'cross-entropy', true, 3, 3);
  await check(soft, 'release-swapped', true, 1, 4);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  logits.dispose();
  soft.dispose();
});

test('ONNX graph: the Neural Cleanse nets (MNIST with softmax output, GTSRB) match the cpu backend', async () => {
  const m = mnistNet({ seed: 3, outputActivation: 'softmax' });
  await check(m, 'cross-entropy', true, 4, 5);
  m.dispose();
  const g = gtsrbNet({ seed: 4 });
  await check(g, 'cross-entropy', false, 2, 6);
  g.dispose();
});

test('ONNX graph: a clipped probability passes no gradient, as TensorFlow.js clips it', async () => {
  // Large weights saturate the softmax: the target's probability underflows the clip for some images.
  const img = tfl.sequential();
  img.add(tfl.layers.flatten({ inputShape: [2, 2, 1] }));
  img.add(tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.randomNormal({ stddev: 12, seed: 9 }), activation: 'softmax' }));
  const rng = new Random(8);
  const x = randn(rng, 6 * 4);
  const ref = reference(img, x, [6, 2, 2, 1], 0, 'cross-entropy', true);
  const probs = ref.out;
  assert.ok([...probs].some((p, i) => i % 3 === 0 && p < EPS), 'some target probability is clipped');
  await check(img, 'cross-entropy', true, 6, 8);
  img.dispose();
});

test('ONNX export: unsupported layers and settings say what is wrong', async () => {
  const flat = tfl.sequential();
  flat.add(tfl.layers.reshape({ inputShape: [2, 2, 1], targetShape: [4] }));
  assert.throws(() => exportInputGradientModel(flat, 'cross-entropy'), (e: unknown) => e instanceof UnsupportedModelError && /Reshape/.test((e as Error).message));
  flat.dispose();
  const pool = tfl.sequential();
  pool.add(tfl.layers.upSampling2d({ inputShape: [4, 4, 1], size: [2, 2] }));
  pool.add(tfl.layers.flatten());
  assert.throws(() => exportInputGradientModel(pool, 'cross-entropy'), /UpSampling2D.*not supported/);
  const dil = tfl.sequential();
  dil.add(tfl.layers.conv2dTranspose({ inputShape: [6, 6, 1], filters: 1, kernelSize: 2 }));
  dil.add(tfl.layers.flatten());
  assert.throws(() => exportInputGradientModel(dil, 'cross-entropy'), /Conv2DTranspose.*not supported/);
  const midSoftmax = tfl.sequential();
  midSoftmax.add(tfl.layers.dense({ inputShape: [3], units: 3, activation: 'softmax' }));
  assert.throws(() => exportInputGradientModel(midSoftmax, 'cross-entropy'), /images/);
  const engine = await createInputGradientModel(pool, 'cross-entropy');
  assert.ok('unavailable' in engine && /UpSampling2D/.test(engine.unavailable));
  const ok = mnistNet({ seed: 1 });
  const e2 = await createInputGradientModel(ok, 'cross-entropy');
  assert.ok(!('unavailable' in e2));
  await assert.rejects(e2.run(new Float32Array(5), 1, 0), /5 input values for 1 inputs of 784 values each/);
  await assert.rejects(e2.run(new Float32Array(784), 1, 10), /Target 10 is not a class/);
  await e2.dispose();
  for (const m of [pool, dil, midSoftmax, ok]) m.dispose();
});
