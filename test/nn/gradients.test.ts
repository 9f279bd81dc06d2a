/**
 * Whole-model gradients on wasm (with the kernel fixes) against the cpu backend: weight gradients
 * of a training step, input gradients, and a Neural Cleanse step's gradients to mask and pattern.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mnistNet } from '../../src/nn/architectures.js';
import { Random } from '../../src/random.js';
import { compareBackends, initBoth, randn } from './compare.js';

const TOLERANCE = 1e-4; // a whole network accumulates float32 rounding differently per backend

before(async () => {
  await initBoth();
});

/** conv → maxpool → ReLU: the pool sees negative windows, which the stock wasm MaxPoolGrad gets wrong. */
function poolBeforeReluNet(seed: number): tfl.Sequential {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [10, 10, 2], filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(seed) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.activation({ activation: 'relu' }));
  m.add(tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, kernelInitializer: init(seed + 1), activation: 'tanh' }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 5, kernelInitializer: init(seed + 2) }));
  return m;
}

function oneHot(labels: number[], classes: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D;
}

/** Loss gradients to every weight and to the input, as one list. */
function allGradients(model: tfl.Sequential, x: Float32Array, shape: number[], labels: number[], classes: number): tf.Tensor[] {
  const input = tf.tensor(x, shape);
  const y = oneHot(labels, classes);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = () => tf.losses.softmaxCrossEntropy(y, model.apply(input) as tf.Tensor) as tf.Scalar;
  const { grads } = tf.variableGrads(loss, vars);
  const dx = tf.grad((xi: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, model.apply(xi) as tf.Tensor))(input);
  return [...vars.map((v) => grads[v.name]), dx];
}

test('a net that max-pools before its ReLU: weight and input gradients match cpu', async () => {
  await tf.setBackend('cpu');
  const model = poolBeforeReluNet(3);
  const rng = new Random(21);
  const x = randn(rng, 4 * 10 * 10 * 2);
  const err = await compareBackends(() => allGradients(model, x, [4, 10, 10, 2], [0, 1, 2, 4], 5));
  model.dispose();
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
});

test('mnistNet: weight and input gradients match cpu', async () => {
  await tf.setBackend('cpu');
  const model = mnistNet({ seed: 1 });
  const rng = new Random(22);
  const x = Float32Array.from(randn(rng, 2 * 28 * 28), (v) => Math.abs(v) / 3);
  const err = await compareBackends(() => allGradients(model, x, [2, 28, 28, 1], [3, 7], 10));
  model.dispose();
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
});

test('a Neural Cleanse step on mnistNet: gradients to mask and pattern match cpu', async () => {
  await tf.setBackend('cpu');
  const model = mnistNet({ seed: 2 });
  const rng = new Random(23);
  const x = Float32Array.from(randn(rng, 2 * 28 * 28), (v) => Math.min(1, Math.abs(v) / 3));
  const wm = randn(rng, 28 * 28);
  const wp = randn(rng, 28 * 28);
  const err = await compareBackends(() => {
    const images = tf.tensor4d(x, [2, 28, 28, 1]);
    const target = oneHot([7, 7], 10);
    const loss = (maskW: tf.Tensor, patternW: tf.Tensor): tf.Scalar => {
      const mask = tf.reshape(tf.add(tf.div(tf.tanh(maskW), 2 - 1e-7), 0.5), [1, 28, 28, 1]);
      const pattern = tf.reshape(tf.add(tf.div(tf.tanh(patternW), 2 - 1e-7), 0.5), [1, 28, 28, 1]);
      const stamped = tf.add(tf.mul(tf.sub(1, mask), images), tf.mul(mask, pattern));
      const ce = tf.losses.softmaxCrossEntropy(target, model.apply(stamped) as tf.Tensor);
      return tf.add(ce, tf.mul(1e-3, tf.sum(tf.abs(mask)))) as tf.Scalar;
    };
    const [gm, gp] = tf.grads(loss)([tf.tensor2d(wm, [28, 28]), tf.tensor2d(wp, [28, 28])]);
    return [gm, gp];
  });
  model.dispose();
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
});
