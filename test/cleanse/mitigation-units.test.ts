/**
 * Mitigation building blocks on models with hand-set weights: the planted backdoor neuron ranks
 * first (its score worked out by hand), features agree with a plain JS forward pass, pruned weights
 * stay exactly zero through fine-tuning, the filter's threshold by hand and its FPR on held-out
 * clean inputs, and the layer errors.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { activationProfiles, flaggedShare, profileNeurons, thresholdForFpr } from '../../src/cleanse/mitigation/filter.js';
import { computeFeatures, resolveLayer } from '../../src/cleanse/mitigation/layers.js';
import { binomialUpperTail, prune, triggerStillWorks } from '../../src/cleanse/mitigation/prune.js';
import { rankNeurons } from '../../src/cleanse/mitigation/ranking.js';
import { stampReversed } from '../../src/cleanse/mitigation/reversed-trigger.js';
import { fineTune, unlearningSet } from '../../src/cleanse/mitigation/unlearn.js';
import { PoisonguardError } from '../../src/errors.js';
import { initEngine } from '../../src/nn/engine.js';
import { DEFAULT_PREPROCESSING } from '../../src/nn/preprocess.js';
import { Random } from '../../src/random.js';
import { CLASSES, exactReversed, HIDDEN, PLANTED, plantedModel, SIZE, syntheticSet, TARGET } from './mitigation-fixture.js';

const SHAPE: [number, number, number] = [SIZE, SIZE, 1];

before(async () => {
  await initEngine({ backend: 'wasm' });
});

test('the planted backdoor neuron ranks first, with the hand-computed score 1, and features match a JS forward pass', async () => {
  const model = plantedModel();
  const startTensors = tf.memory().numTensors;
  const layer = resolveLayer(model);
  assert.equal(layer.name, 'hidden');
  assert.equal(layer.units, HIDDEN);
  const clean = syntheticSet(200, new Random(1));
  const stamped = stampReversed(clean.images, exactReversed());
  const fc = await computeFeatures(model, layer, clean.images, SHAPE, DEFAULT_PREPROCESSING);
  const fs = await computeFeatures(model, layer, stamped, SHAPE, DEFAULT_PREPROCESSING);
  const ranking = rankNeurons(fc.perNeuron, fs.perNeuron, HIDDEN);
  assert.equal(ranking.order[0], PLANTED);
  // Neuron 5 = relu(Σ trigger pixels − 3): clean ≤ relu(4·70/255 − 3) = 0; stamped relu(4·1 − 3) = 1.
  assert.ok(Math.abs(ranking.scores[PLANTED] - 1) < 1e-5, `score ${ranking.scores[PLANTED]}`);
  assert.equal(ranking.meanClean[PLANTED], 0);
  // The others move by at most 0.05 · 2 pixels · (1 − x) on rows 6 and 7.
  for (let j = 0; j < HIDDEN; j++) if (j !== PLANTED) assert.ok(ranking.scores[j] <= 0.1 + 1e-6, `neuron ${j}: ${ranking.scores[j]}`);
  // Slow, obvious forward pass of the hidden layer for a few images.
  const [kernel, bias] = model.getLayer('hidden').getWeights().map((w) => w.dataSync());
  for (const n of [0, 7, 123]) {
    for (let j = 0; j < HIDDEN; j++) {
      let s = bias[j];
      for (let p = 0; p < SIZE * SIZE; p++) s += (clean.images[n * SIZE * SIZE + p] / 255) * kernel[p * HIDDEN + j];
      assert.ok(Math.abs(Math.max(0, s) - fc.perNeuron[n * HIDDEN + j]) < 1e-5);
    }
  }
  assert.equal(tf.memory().numTensors, startTensors, 'features and ranking leave no tensor behind');
  model.dispose();
});

test('pruned neurons stay exactly zero through fine-tuning (and would not without the masks)', async () => {
  const train = syntheticSet(200, new Random(2));
  const neurons = [3, 1];
  // A linear conv layer feeding a dense one: pruning zeroes the channels' kernels and biases only,
  // and gradients reach them through the dense layer, so only the re-applied masks keep them at zero.
  const convNet = (): tfl.Sequential => {
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: SHAPE, filters: 4, kernelSize: 3, activation: 'linear', name: 'c', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: CLASSES, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
    return m;
  };
  const zeroed = (model: tfl.LayersModel): number[] => {
    const [k, b] = model.getLayer('c').getWeights().map((w) => w.dataSync());
    return [...Array.from(k).filter((_, i) => neurons.includes(i % 4)), ...neurons.map((j) => b[j])];
  };
  const ft = { epochs: 1, learningRate: 0.01, batchSize: 16, seed: 1, preprocessing: DEFAULT_PREPROCESSING };
  const control = convNet();
  prune(control, resolveLayer(control, 'c'), neurons).dispose(); // zeroed once, masks not re-applied
  assert.ok(zeroed(control).every((v) => v === 0));
  await fineTune(control, train, ft);
  assert.ok(zeroed(control).some((v) => v !== 0), 'without the masks, training moves the pruned weights');
  control.dispose();

  const model = convNet();
  const startTensors = tf.memory().numTensors;
  const pruned = prune(model, resolveLayer(model, 'c'), neurons);
  const kept = model.getLayer('c').getWeights()[0].dataSync()[0];
  await fineTune(model, train, { ...ft, pruned });
  assert.ok(zeroed(model).every((v) => v === 0), 'every pruned weight is still exactly 0');
  assert.notEqual(model.getLayer('c').getWeights()[0].dataSync()[0], kept, 'the other weights did train');
  pruned.dispose();
  assert.equal(tf.memory().numTensors, startTensors, 'pruning and fine-tuning leave no tensor behind');
  model.dispose();

  // A dense layer: incoming weights, bias and the next layer's rows are zeroed, and stay so.
  const dense = plantedModel();
  const dp = prune(dense, resolveLayer(dense), [PLANTED]);
  await fineTune(dense, train, { ...ft, pruned: dp });
  const [k, b] = dense.getLayer('hidden').getWeights().map((w) => w.dataSync());
  const [o] = dense.getLayer('out').getWeights().map((w) => w.dataSync());
  const values = [b[PLANTED], ...Array.from({ length: SIZE * SIZE }, (_, p) => k[p * HIDDEN + PLANTED]), ...Array.from({ length: CLASSES }, (_, c) => o[PLANTED * CLASSES + c])];
  assert.ok(values.every((v) => v === 0), 'incoming, bias and outgoing weights of the pruned neuron are 0 (±0)');
  dp.dispose();
  dense.dispose();
});

test('threshold by hand, and the measured FPR on held-out clean inputs is close to the chosen one', async () => {
  // Profiles 1..10, FPR 20%: the 8th smallest (8) flags 9 and 10, i.e. 20%.
  const ten = Float64Array.from({ length: 10 }, (_, i) => i + 1);
  assert.equal(thresholdForFpr(ten, 0.2), 8);
  assert.equal(flaggedShare(ten, 8), 0.2);
  assert.equal(thresholdForFpr(ten, 0), 10);
  assert.deepEqual(profileNeurons([4, 1, 0, 3], 0.01), [4], 'at least one neuron');
  assert.deepEqual(profileNeurons(Array.from({ length: 200 }, (_, i) => 199 - i), 0.01), [199, 198]);

  // A random dense net: clean profiles are continuous, so the FPR can be set precisely.
  const model = tfl.sequential();
  model.add(tfl.layers.flatten({ inputShape: SHAPE }));
  model.add(tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 }), biasInitializer: 'zeros' }));
  model.add(tfl.layers.dense({ units: CLASSES, kernelInitializer: tfl.initializers.glorotUniform({ seed: 8 }) }));
  const layer = resolveLayer(model);
  const rng = new Random(3);
  const rankSet = syntheticSet(300, rng);
  const calibration = syntheticSet(1500, rng);
  const heldOut = syntheticSet(1500, rng);
  const fc = await computeFeatures(model, layer, rankSet.images, SHAPE, DEFAULT_PREPROCESSING);
  const fs = await computeFeatures(model, layer, stampReversed(rankSet.images, exactReversed()), SHAPE, DEFAULT_PREPROCESSING);
  const neurons = profileNeurons(rankNeurons(fc.perNeuron, fs.perNeuron, 16).order, 0.125);
  assert.equal(neurons.length, 2);
  const profile = async (images: Uint8Array): Promise<Float64Array> =>
    activationProfiles((await computeFeatures(model, layer, images, SHAPE, DEFAULT_PREPROCESSING)).perNeuron, 16, neurons);
  const fpr = 0.1;
  const t = thresholdForFpr(await profile(calibration.images), fpr);
  const measured = flaggedShare(await profile(heldOut.images), t);
  // Binomial sd on 1500 inputs: √(0.1·0.9/1500) ≈ 0.008; allow 3 sd.
  assert.ok(Math.abs(measured - fpr) < 0.025, `held-out FPR ${measured} vs ${fpr}`);
  model.dispose();
});

test('unlearning stamps 20% of its 10% draw, only images of other labels than the target, labels kept', () => {
  const train = syntheticSet(1000, new Random(4));
  const ul = unlearningSet(train, exactReversed(), new Random(5));
  assert.equal(ul.set.count, 100);
  assert.equal(ul.stamped.length, 20);
  const size = SIZE * SIZE;
  for (const i of ul.stamped) {
    assert.notEqual(ul.set.labels[i], TARGET);
    assert.equal(ul.set.labels[i], train.labels[ul.drawn[i]], 'true label kept');
    assert.equal(ul.set.images[i * size + 7 * SIZE + 7], 255, 'trigger pixel stamped');
  }
});

test('layer choice: a model without a dense second-to-last layer is a clear error; last-conv and names work', () => {
  const conv = tfl.sequential();
  conv.add(tfl.layers.conv2d({ inputShape: SHAPE, filters: 4, kernelSize: 3, activation: 'relu', name: 'c1' }));
  conv.add(tfl.layers.flatten({ name: 'flat' }));
  conv.add(tfl.layers.dense({ units: CLASSES, name: 'logits' }));
  assert.throws(
    () => resolveLayer(conv),
    (e: unknown) => e instanceof PoisonguardError && /no dense second-to-last layer/.test(e.message) && /the layer 'last-conv'/.test(e.message) && !/--/.test(e.message),
  );
  const lc = resolveLayer(conv, 'last-conv');
  assert.equal(lc.kind, 'conv');
  assert.equal(lc.units, 4);
  assert.throws(() => resolveLayer(conv, 'nope'), /Unknown layer 'nope'/);
  assert.throws(() => resolveLayer(conv, 'logits'), /output layer/);
  conv.dispose();
  // dense – dropout – dense: the dropout is skipped (the release's GTSRB net).
  const gt = tfl.sequential();
  gt.add(tfl.layers.flatten({ inputShape: SHAPE }));
  gt.add(tfl.layers.dense({ units: 12, activation: 'relu', name: 'd1' }));
  gt.add(tfl.layers.dropout({ rate: 0.5 }));
  gt.add(tfl.layers.dense({ units: CLASSES, activation: 'softmax' }));
  assert.equal(resolveLayer(gt).name, 'd1');
  gt.dispose();
});

test('the pruning stop: an exact sign test on paired predictions, by hand', () => {
  // P(X >= k) for X ~ Binomial(n, 1/2).
  assert.equal(binomialUpperTail(0, 7), 1);
  assert.ok(Math.abs(binomialUpperTail(5, 5) - 1 / 32) < 1e-12);
  assert.ok(Math.abs(binomialUpperTail(4, 4) - 1 / 16) < 1e-12);
  assert.ok(Math.abs(binomialUpperTail(5, 6) - 7 / 64) < 1e-12);
  assert.ok(Math.abs(binomialUpperTail(1000, 2000) - 0.5 - 0.5 * 0.017839) < 1e-4); // symmetric, plus half the central term
  assert.equal(binomialUpperTail(3, 2), 0);
  const T = 7;
  const pairs = (onlyStamped: number, onlyPlain: number, both: number, neither: number) => {
    const s: number[] = [];
    const u: number[] = [];
    for (let i = 0; i < onlyStamped; i++) (s.push(T), u.push(1));
    for (let i = 0; i < onlyPlain; i++) (s.push(2), u.push(T));
    for (let i = 0; i < both; i++) (s.push(T), u.push(T));
    for (let i = 0; i < neither; i++) (s.push(3), u.push(3));
    return [Int32Array.from(s), Int32Array.from(u)] as const;
  };
  assert.equal(triggerStillWorks(...pairs(5, 0, 0, 1000), T), true); // 1/32 < 5%
  assert.equal(triggerStillWorks(...pairs(4, 0, 0, 1000), T), false); // 1/16: chance
  assert.equal(triggerStillWorks(...pairs(1, 0, 0, 1000), T), false); // one stubborn image
  assert.equal(triggerStillWorks(...pairs(5, 1, 50, 1000), T), false); // 7/64: images at the target anyway do not count
  assert.equal(triggerStillWorks(...pairs(900, 10, 0, 100), T), true);
});
