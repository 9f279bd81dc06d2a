import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionNormalisation } from '../../../src/certify/aggregation/net-learner.js';
import { defaultNetRecipe, DPA_EPOCHS, DPA_LR_DROPS, dpaLearningRateDrops, NET_RECIPE_CROP } from '../../../src/certify/aggregation/recipe.js';

test("DPA's rate drops: the release's epochs at 200, in proportion with fewer, none at or past the last epoch", () => {
  assert.deepEqual(dpaLearningRateDrops(DPA_EPOCHS), [...DPA_LR_DROPS]);
  assert.deepEqual(dpaLearningRateDrops(200), [61, 121, 161]);
  assert.deepEqual(dpaLearningRateDrops(15), [5, 10, 13]);
  assert.deepEqual(dpaLearningRateDrops(2), [1]);
  assert.deepEqual(dpaLearningRateDrops(1), []);
});

test("the default recipe: DPA's for a user's architecture; Adam for the project's nets (no BatchNorm); the release's crop with DPA's, 2 pixels with Adam", () => {
  assert.equal(defaultNetRecipe('onnx'), 'dpa');
  assert.equal(defaultNetRecipe('mnist'), 'adam');
  assert.equal(defaultNetRecipe('gtsrb'), 'adam');
  assert.deepEqual(NET_RECIPE_CROP, { dpa: 4, adam: 2 });
});

test("the partition's normalisation: each channel's mean and n − 1 standard deviation of x/255, as torch's mean() and std()", () => {
  // 2 images, 1x2, 2 channels: channel 0 = 0, 51, 102, 255; channel 1 constant 10.
  const images = Uint8Array.of(0, 10, 51, 10, 102, 10, 255, 10);
  const p = partitionNormalisation({ images, labels: Int32Array.of(0, 1), count: 2, height: 1, width: 2, channels: 2 });
  assert.equal(p.kind, 'normalize');
  if (p.kind !== 'normalize') return;
  const xs = [0, 51, 102, 255].map((v) => v / 255);
  const mean = xs.reduce((a, b) => a + b) / 4;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / 3);
  assert.ok(Math.abs(p.mean[0] - mean) < 1e-12 && Math.abs(p.std[0] - std) < 1e-12, `${p.mean[0]} ${p.std[0]} vs ${mean} ${std}`);
  assert.ok(Math.abs(p.mean[1] - 10 / 255) < 1e-12);
  assert.equal(p.std[1], 1, 'a channel with no spread is left unscaled');
});

test("a user's architecture trains by DPA's release unless told otherwise, and the result records how", async (t) => {
  const { loadOrt } = await import('../../../src/graph/runtime.js');
  const ort = await loadOrt();
  if ('error' in ort) return t.skip(`onnxruntime-node is not available: ${ort.error}`);
  const { join } = await import('node:path');
  const { certifyAggregation } = await import('../../../src/certify/aggregation/aggregate.js');
  const { LEARNER_FIXTURES_DIR } = await import('../../graph/torch-fixtures.js');
  const { scratchDir } = await import('../../helpers.js');
  const { writeTinyFolder } = await import('./tiny-images.js');
  const data = writeTinyFolder(join(scratchDir('dpa-recipe'), 'data'), 200, 50);
  const learner = join(LEARNER_FIXTURES_DIR, 'learner_tiny.onnx');
  const base = { method: 'dpa', partitions: 4, dataset: data, learner, epochs: 15, batchSize: 16, seed: 2, budgets: [0, 1], workers: 0 } as const;
  const dpa = await certifyAggregation({ ...base, crop: 1 });
  const net = dpa.recipe.net!;
  assert.equal(net.recipe, 'dpa');
  assert.equal(net.learningRate, 0.1);
  assert.match(net.optimizer, /^sgd \(momentum 0\.9, Nesterov, weight decay 0\.0005\)$/);
  assert.deepEqual(net.learningRateDrops, { afterEpochs: [5, 10, 13], factor: 0.2 });
  assert.equal(net.crop, 1);
  assert.equal(net.preprocessing, 'x/255 → [0, 1]', "the architecture's own preprocessing, not the partition's");
  assert.ok(dpa.baseAccuracy > 0.8, `SGD with the release's rate trains a BatchNorm net (${dpa.baseAccuracy})`);
  const adam = await certifyAggregation({ ...base, netRecipe: 'adam', crop: 0 });
  assert.equal(adam.recipe.net!.optimizer, 'adam');
  assert.equal(adam.recipe.net!.crop, 0);
  assert.equal(adam.recipe.net!.learningRateDrops, null);
  assert.notDeepEqual(adam.points.map((p) => p.votes), dpa.points.map((p) => p.votes), 'another recipe, other nets');
});
