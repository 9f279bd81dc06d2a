/**
 * Keras's Adam as the trigger search uses it (the release: lr 0.1, β₁ 0.5, β₂ 0.9, ε 1e-7), two
 * steps written out by hand, on arrays (the ONNX engine's step) and on TF.js variables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { resolveReverseRecipe } from '../../src/cleanse/recipe.js';
import { adamArrays, adamUpdate } from '../../src/cleanse/reverse.js';

const recipe = resolveReverseRecipe({});
const G1 = [0.5, -1];
const G2 = [0.25, 2];
// Step 1 (t = 1): lr_1 = 0.1·√(1 − 0.9)/(1 − 0.5) = 0.0632455532
//   m = 0.5·0 + 0.5·g = [0.25, −0.5];  v = 0.9·0 + 0.1·g² = [0.025, 0.1];  √v = [0.1581138830, 0.3162277660]
//   step = lr_1·m/(√v + 1e-7) = [0.0999999368, −0.0999999684] (Adam's first step is lr·sign(g), up to ε)
//   w = [1, −2] − step = [0.9000000632, −1.9000000316]
const M1 = [0.25, -0.5];
const V1 = [0.025, 0.1];
const W1 = [0.9000000632, -1.9000000316];
// Step 2 (t = 2), g = [0.25, 2]: lr_2 = 0.1·√(1 − 0.81)/(1 − 0.25) = 0.0581186526
//   m = 0.5·[0.25, −0.5] + 0.5·[0.25, 2] = [0.25, 0.75]
//   v = 0.9·[0.025, 0.1] + 0.1·[0.0625, 4] = [0.02875, 0.49];  √v = [0.1695582496, 0.7]
//   step = [0.0581186526·0.25/0.1695582496, 0.0581186526·0.75/0.7] = [0.0856912277, 0.0622699760]
//   w = [0.9000000632 − 0.0856912277, −1.9000000316 − 0.0622699760] = [0.8143088355, −1.9622700076]
const M2 = [0.25, 0.75];
const V2 = [0.02875, 0.49];
const W2 = [0.8143088355, -1.9622700076];

function close(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-6 * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

test("the release's Adam settings are the ones written out here", () => {
  assert.deepEqual([recipe.learningRate, recipe.beta1, recipe.beta2, recipe.epsilon], [0.1, 0.5, 0.9, 1e-7]);
});

test('adamArrays: two steps by hand', () => {
  const w = Float32Array.from([1, -2]);
  const m = new Float32Array(2);
  const v = new Float32Array(2);
  adamArrays(w, m, v, Float64Array.from(G1), recipe, 1);
  close(m, M1, 'm after step 1');
  close(v, V1, 'v after step 1');
  close(w, W1, 'w after step 1');
  adamArrays(w, m, v, Float64Array.from(G2), recipe, 2);
  close(m, M2, 'm after step 2');
  close(v, V2, 'v after step 2');
  close(w, W2, 'w after step 2');
});

test('adamUpdate (TF.js variables): the same two steps', async () => {
  await tf.setBackend('cpu');
  const w = tf.variable(tf.tensor1d([1, -2]));
  const m = tf.variable(tf.zeros([2]));
  const v = tf.variable(tf.zeros([2]));
  tf.tidy(() => adamUpdate(w, m, v, tf.tensor1d(G1), recipe, 1));
  close(m.dataSync(), M1, 'm after step 1');
  close(v.dataSync(), V1, 'v after step 1');
  close(w.dataSync(), W1, 'w after step 1');
  tf.tidy(() => adamUpdate(w, m, v, tf.tensor1d(G2), recipe, 2));
  close(m.dataSync(), M2, 'm after step 2');
  close(v.dataSync(), V2, 'v after step 2');
  close(w.dataSync(), W2, 'w after step 2');
  for (const x of [w, m, v]) x.dispose();
});
