import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { imageSet, subset, type ImageSet } from '../../src/data/images.js';
import { initEngine } from '../../src/nn/engine.js';
import { evaluateModel, predictLabels, trainModel, type TrainProgress } from '../../src/nn/train.js';
import { poisonBadNets, squareTrigger, stamp } from '../../src/nn/trigger.js';
import { Random } from '../../src/random.js';

const SIDE = 10;
const CLASSES = 3;

/** Class c: noise 0..60 with a bright bar on row 1 + 2c (rows 1, 3, 5); the trigger sits at rows/cols 7..8. */
function bars(n: number, seed: number): ImageSet {
  const rng = new Random(seed);
  const images = new Uint8Array(n * SIDE * SIDE);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % CLASSES;
    labels[i] = c;
    for (let p = 0; p < SIDE * SIDE; p++) images[i * SIDE * SIDE + p] = Math.floor(Math.floor(p / SIDE) === 1 + 2 * c ? 200 + rng.int(50) : rng.int(60));
  }
  return imageSet(images, labels, SIDE, SIDE, 1);
}

function net(seed: number, activation: 'linear' | 'softmax' = 'linear'): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [SIDE, SIDE, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: CLASSES, activation, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  return m;
}

let backend = 'wasm';
before(async () => {
  backend = (await initEngine({ backend: 'wasm' })).backend;
});

test('a tiny conv net learns an obvious backdoor (ASR high, clean accuracy high); tensor count flat', async () => {
  const backdoor = { trigger: squareTrigger({ size: 2 }), target: 0, rate: 0.2 };
  const { set: train, poisoned } = poisonBadNets(bars(900, 1), backdoor, CLASSES, new Random(2));
  assert.ok(poisoned.length > 120);
  const test = bars(300, 3);
  const model = net(7);
  const before = tf.memory().numTensors;
  const atEpochEnd: number[] = [];
  const seen: TrainProgress[] = [];
  const result = await trainModel(model, train, {
    epochs: 6,
    batchSize: 32,
    learningRate: 0.01,
    seed: 4,
    onProgress: (p) => {
      seen.push(p);
      if (p.batch === p.batches) atEpochEnd.push(tf.memory().numTensors);
    },
  });
  assert.equal(result.history.length, 6);
  assert.equal(seen.length, 6 * Math.ceil(900 / 32));
  assert.ok(seen.every((p) => Number.isFinite(p.loss) && p.imagesPerSecond > 0 && p.accuracy >= 0 && p.accuracy <= 1));
  assert.ok(result.history[5].loss < result.history[0].loss / 2, `loss ${result.history.map((h) => h.loss.toFixed(3)).join(' → ')}`);
  // The optimizer's slots exist from the first step on; nothing else accumulates, and all goes at the end.
  assert.ok(atEpochEnd.every((n) => n === atEpochEnd[0]), `tensors at epoch ends: ${atEpochEnd.join(', ')}`);
  assert.equal(tf.memory().numTensors, before);

  const evaluation = await evaluateModel(model, test, { backdoor });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(evaluation.cleanAccuracy > 0.95, `clean accuracy ${evaluation.cleanAccuracy} on ${backend}`);
  assert.ok((evaluation.attackSuccessRate ?? 0) > 0.9, `ASR ${evaluation.attackSuccessRate} on ${backend}`);
  assert.equal(evaluation.attackCount, 200);

  // ASR computed the slow, obvious way: stamp the non-target test images, predict, count the target.
  const others = Array.from({ length: test.count }, (_, i) => i).filter((i) => test.labels[i] !== 0);
  const predicted = await predictLabels(model, stamp(subset(test, others), backdoor.trigger), { batchSize: 7 });
  assert.equal(predicted.filter((p) => p === 0).length / others.length, evaluation.attackSuccessRate);
  const untouched = await predictLabels(model, test);
  assert.equal(untouched.filter((p, i) => p === test.labels[i]).length / test.count, evaluation.cleanAccuracy);
  model.dispose();
});

test('training is deterministic for a seed, and works on a softmax output too', async () => {
  const train = bars(120, 5);
  const losses: number[][] = [];
  for (let run = 0; run < 2; run++) {
    const model = net(11);
    const r = await trainModel(model, train, { epochs: 2, batchSize: 16, seed: 9 });
    losses.push(r.history.map((h) => h.loss));
    model.dispose();
  }
  assert.deepEqual(losses[0], losses[1]);
  const soft = net(11, 'softmax');
  const r = await trainModel(soft, bars(300, 6), { epochs: 3, batchSize: 16, learningRate: 0.01, seed: 9 });
  assert.ok(r.history[2].loss < r.history[0].loss, `softmax loss ${r.history.map((h) => h.loss.toFixed(3)).join(' → ')}`);
  soft.dispose();
});

test('learning-rate decay acts per update across epochs; replacement sampling draws the asked count', async () => {
  const train = bars(64, 7);
  const snapshot = (m: tfl.LayersModel) => m.getWeights().map((w) => w.dataSync().slice());
  const afterEpochs = async (decay: number) => {
    const model = net(3);
    const snaps: Float32Array[][] = [];
    const seen: number[] = [];
    await trainModel(model, train, {
      epochs: 2,
      batchSize: 8,
      seed: 2,
      learningRate: 0.01,
      learningRateDecay: decay,
      sampling: 'replacement',
      drawsPerEpoch: 40,
      onProgress: (p) => seen.push(p.batches),
      onEpochEnd: () => void snaps.push(snapshot(model) as Float32Array[]),
    });
    model.dispose();
    return { snaps, seen };
  };
  const maxDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((w, k) => Math.max(...w.map((v, i) => Math.abs(v - b[k][i])))));
  // With a huge decay, only the very first update has a step size: epoch 2 leaves the weights where epoch 1 did.
  const frozen = await afterEpochs(1e9);
  assert.ok(maxDiff(frozen.snaps[0], frozen.snaps[1]) < 1e-6);
  const free = await afterEpochs(0);
  assert.ok(maxDiff(free.snaps[0], free.snaps[1]) > 1e-3);
  assert.ok(free.seen.every((b) => b === 5), '40 draws in batches of 8');
  await assert.rejects(trainModel(net(1), train, { drawsPerEpoch: 10 }), /drawsPerEpoch.*'replacement'/);
});

test('the ASR also counts the stamped images the stamp leaves as they were, against a by-hand count', async () => {
  const trigger = squareTrigger({ size: 2 });
  const set = bars(60, 8);
  // Every 4th image already has a white 2x2 corner where the trigger goes (rows/cols 7..8), one
  // image a nearly white one (250: a change of 5, not below the threshold).
  const whiteAt = (i: number, v: number) => {
    for (const r of [7, 8]) for (const c of [7, 8]) set.images[i * SIDE * SIDE + r * SIDE + c] = v;
  };
  for (let i = 0; i < 60; i += 4) whiteAt(i, 255);
  whiteAt(1, 250);
  const model = net(5);
  const result = await evaluateModel(model, set, { backdoor: { trigger, target: 0 } });
  const others = [...set.labels.keys()].filter((i) => set.labels[i] !== 0);
  const unchanged = others.filter((i) => i % 4 === 0);
  assert.equal(result.attackUnchanged, unchanged.length);
  const pred = await predictLabels(model, stamp(set, trigger));
  const changed = others.filter((i) => i % 4 !== 0);
  assert.ok(Math.abs(result.attackSuccessRateChanged! - changed.filter((i) => pred[i] === 0).length / changed.length) < 1e-12);
  assert.ok(Math.abs(result.attackSuccessRate! - others.filter((i) => pred[i] === 0).length / others.length) < 1e-12);
  model.dispose();
});

test('bad options and mismatched shapes are refused', async () => {
  const model = net(1);
  const set = bars(10, 1);
  await assert.rejects(trainModel(model, set, { epochs: 0 }), /Expected epochs to be a positive integer, but got 0/);
  await assert.rejects(trainModel(model, set, { batchSize: 2.5 }), /Expected batchSize to be a positive integer/);
  await assert.rejects(trainModel(model, set, { learningRate: -1 }), /Expected learningRate to be a positive number/);
  const wrong = imageSet(new Uint8Array(10 * 64), set.labels, 8, 8, 1);
  await assert.rejects(trainModel(model, wrong), /model input: expected shape \[null, 8, 8, 1\] \(the images\), but got \[null, 10, 10, 1\]/);
  const badLabels = imageSet(set.images, Int32Array.from(set.labels, () => 5), SIDE, SIDE, 1);
  await assert.rejects(trainModel(model, badLabels), /Expected labels to be class indices in 0\.\.2 \(the model has 3 outputs\), but got 'label 5 at index 0'/);
  model.dispose();
});

test('k epochs, a checkpoint through the files, then a resume to N give bit-identical weights to N epochs straight (Adam, decay, dropout, replacement draws)', async () => {
  const { loadModel, loadOptimizerState, saveModel, saveOptimizerState } = await import('../../src/nn/model-io.js');
  const { scratchDir } = await import('../helpers.js');
  const train = bars(96, 12);
  const withDropout = (): tfl.LayersModel => {
    const m = net(21);
    // A dropout layer before the classifier: its masks must be the same draws on resume.
    const d = tfl.sequential();
    for (const l of m.layers.slice(0, -1)) d.add(l);
    d.add(tfl.layers.dropout({ rate: 0.3 }));
    d.add(m.layers[m.layers.length - 1]);
    return d;
  };
  const recipe = { epochs: 4, batchSize: 8, learningRate: 0.01, seed: 6, learningRateDecay: 1e-3, sampling: 'replacement', drawsPerEpoch: 80 } as const;
  const bits = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(new Uint32Array(new Float32Array(w.dataSync()).buffer)));
  const straightModel = withDropout();
  await trainModel(straightModel, train, recipe);
  const straight = bits(straightModel);
  straightModel.dispose();

  const dir = scratchDir('train-resume');
  const first = withDropout();
  await trainModel(first, train, {
    ...recipe,
    epochs: 2,
    onEpochEnd: async (e, checkpoint) => {
      if (e.epoch !== 2) return;
      await saveModel(first, dir);
      const weights = await checkpoint.optimizerWeights();
      await saveOptimizerState(dir, e.epoch, weights);
      for (const w of weights) w.tensor.dispose();
    },
  });
  first.dispose();
  const { model } = await loadModel(dir);
  const state = loadOptimizerState(dir, 2)!;
  await trainModel(model, train, { ...recipe, startEpoch: 2, optimizerState: state });
  for (const w of state) w.tensor.dispose();
  const resumed = bits(model);
  model.dispose();
  assert.equal(resumed.length, straight.length);
  for (let k = 0; k < straight.length; k++) {
    const differing = straight[k].filter((b, i) => b !== resumed[k][i]).length;
    assert.equal(differing, 0, `weight ${k}: ${differing} of ${straight[k].length} values differ from the uninterrupted run's`);
  }
});
