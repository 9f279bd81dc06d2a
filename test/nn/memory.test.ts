/**
 * No leaks: tensor count, the wasm backend's data ids and the wasm heap stay flat over hundreds of
 * training steps and input-gradient (Neural Cleanse-like) steps with the kernel fixes in use.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { mnistNet } from '../../src/nn/architectures.js';
import { initEngine } from '../../src/nn/engine.js';
import { Random } from '../../src/random.js';
import { randn } from './compare.js';

const WARMUP = 20;
const STEPS = 300;
const BATCH = 4;

before(async () => {
  await initEngine({ backend: 'wasm' });
});

interface Usage {
  tensors: number;
  dataIds: number;
  heapBytes: number;
}

function usage(): Usage {
  const backend = tf.backend() as BackendWasm;
  return { tensors: tf.memory().numTensors, dataIds: backend.numDataIds(), heapBytes: (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.byteLength };
}

test(`training steps (${STEPS}, Adam) and input-gradient steps (${STEPS}) leave memory flat`, () => {
  const model = mnistNet({ seed: 4 });
  const optimizer = tf.train.adam(1e-3);
  const rng = new Random(31);
  const x = tf.tensor4d(Float32Array.from(randn(rng, BATCH * 28 * 28), Math.abs), [BATCH, 28, 28, 1]);
  const y = tf.cast(tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10), 'float32');
  const wm = tf.variable(tf.zeros([28, 28]));
  const nc = tf.train.adam(0.1, 0.5, 0.9, 1e-7);

  const trainStep = (): void => {
    tf.tidy(() => {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
    });
  };
  const inputStep = (): void => {
    tf.tidy(() => {
      nc.minimize(() => {
        const mask = tf.reshape(tf.add(tf.div(tf.tanh(wm), 2 - 1e-7), 0.5), [1, 28, 28, 1]);
        const stamped = tf.add(tf.mul(tf.sub(1, mask), x), mask);
        const ce = tf.losses.softmaxCrossEntropy(y, model.apply(stamped) as tf.Tensor);
        return tf.add(ce, tf.mul(1e-3, tf.sum(tf.abs(mask)))) as tf.Scalar;
      }, false, [wm]);
    });
  };

  for (let i = 0; i < WARMUP; i++) {
    trainStep();
    inputStep();
  }
  const before = usage();
  for (let i = 0; i < STEPS; i++) {
    trainStep();
    inputStep();
  }
  const after = usage();
  assert.deepEqual(after, before);

  optimizer.dispose();
  nc.dispose();
  model.dispose();
  tf.dispose([x, y, wm]);
});
