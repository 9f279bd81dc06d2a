/**
 * The aggregation certificates end to end on MNIST-1-7 with SVM base learners: every test point's
 * votes, prediction, label and radius; the same numbers inline and on worker threads; a run folder
 * that resumes an interrupted run to the same numbers; FA's layout. And one base network trained
 * twice from the same seed, to the same labels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { certifyAggregation, type AggregationReport } from '../../../src/certify/aggregation/aggregate.js';
import { dpaRadius, voteCounts } from '../../../src/certify/aggregation/vote.js';
import { loadPartitionWeights, PARTITIONS_FOLDER } from '../../../src/certify/aggregation/store.js';
import { loadOrt } from '../../../src/graph/runtime.js';
import { scratchDir } from '../../helpers.js';

const numbers = (r: AggregationReport) => ({ points: r.points, certified: r.certifiedAccuracy, median: r.medianRadius });

test('DPA with SVMs on MNIST-1-7: every point certified by the formula; inline = workers; an interrupted run resumes to the same numbers', async () => {
  const dir = scratchDir('dpa-svm');
  const base = { method: 'dpa', partitions: 20, dataset: 'mnist17', budgets: [0, 1, 5, 9, 10], seed: 3 } as const;
  const inline = await certifyAggregation({ ...base, workers: 0, out: dir });
  assert.equal(inline.points.length, 2163);
  assert.equal(inline.recipe.classifiers, 20);
  assert.equal(inline.recipe.seed, 3);
  assert.match(inline.recipe.engine, /SVM/);
  for (const p of inline.points.slice(0, 300)) {
    assert.equal(p.votes.reduce((s, x) => s + x, 0), 20);
    assert.equal(p.radius, dpaRadius(p.votes));
    assert.ok(p.radius <= 10, 'at most k/2');
  }
  assert.ok(inline.cleanAccuracy > 0.97, `the vote is accurate (${inline.cleanAccuracy})`);
  assert.ok(inline.certifiedAccuracy[3] > 0.9 && inline.certifiedAccuracy[4] < inline.certifiedAccuracy[3], 'most points are certified for 9 poison points, fewer for 10');
  assert.equal(inline.timing.trained, 20);

  const threaded = await certifyAggregation({ ...base, workers: 2 });
  assert.deepEqual(numbers(threaded), numbers(inline), 'worker threads give the same numbers');

  // Interrupted: five classifiers lost; the rerun trains those five and lands on the same numbers.
  const files = readdirSync(join(dir, PARTITIONS_FOLDER)).filter((f) => f.endsWith('.json')).sort();
  assert.equal(files.length, 20);
  for (const f of files.slice(5, 10)) rmSync(join(dir, PARTITIONS_FOLDER, f));
  const resumed = await certifyAggregation({ ...base, workers: 0, out: dir });
  assert.equal(resumed.timing.resumed, 15);
  assert.equal(resumed.timing.trained, 5);
  assert.deepEqual(numbers(resumed), numbers(inline));

  // Another recipe in the same folder is refused, not mixed in.
  await assert.rejects(certifyAggregation({ ...base, seed: 4, workers: 0, out: dir }), /same recipe to resume, or --force .*changed: seed/);
  const other = await certifyAggregation({ ...base, seed: 4, workers: 0, out: dir, force: true });
  assert.equal(other.timing.resumed, 0);
});

test('FA with SVMs: k·d classifiers, each sample in d subsets, votes over all of them; with d = 1 it is DPA', async () => {
  const fa = await certifyAggregation({ method: 'fa', partitions: 8, spread: 3, dataset: 'mnist17', workers: 0, budgets: [0, 4, 8] });
  assert.equal(fa.recipe.classifiers, 24);
  assert.equal(fa.recipe.shifts.length, 3);
  assert.equal(new Set(fa.recipe.shifts).size, 3);
  for (const p of fa.points.slice(0, 200)) assert.equal(p.votes.reduce((s, x) => s + x, 0), 24);
  assert.ok(fa.cleanAccuracy > 0.97);
  const fa1 = await certifyAggregation({ method: 'fa', partitions: 8, spread: 1, dataset: 'mnist17', workers: 0, budgets: [0, 4] });
  const dpa = await certifyAggregation({ method: 'dpa', partitions: 8, dataset: 'mnist17', workers: 0, budgets: [0, 4] });
  // d = 1: one shift, s, so FA's subsets are DPA's partitions renumbered by s; the vote and the radii are DPA's.
  assert.deepEqual(fa1.points.map((p) => [p.prediction, p.radius]), dpa.points.map((p) => [p.prediction, p.radius]));
});

test('bad input to the library: k < 2, k above the training set, an unknown learner, a bad budget, a net on features', async () => {
  const base = { method: 'dpa', dataset: 'mnist17', workers: 0 } as const;
  await assert.rejects(certifyAggregation({ ...base, partitions: 1 }), /Expected partitions to be an integer of at least 2/);
  await assert.rejects(certifyAggregation({ ...base, partitions: 13008 }), /at most the training set's size \(13007\)/);
  await assert.rejects(certifyAggregation({ ...base, partitions: 4, learner: 'resnet' as 'svm' }), /Expected learner to be one of 'svm', 'mnist', 'gtsrb'/);
  await assert.rejects(certifyAggregation({ ...base, partitions: 4, budgets: [1, 2.5] }), /non-negative integers/);
  await assert.rejects(certifyAggregation({ ...base, partitions: 4, budgets: [] }), /non-empty list/);
  await assert.rejects(certifyAggregation({ ...base, partitions: 4, learner: 'mnist' }), /image dataset for the 'mnist' network/);
  await assert.rejects(certifyAggregation({ ...base, partitions: 4, spread: 2 }), /spread to be absent with DPA/);
});

test('a base network trains from its seed to the same test labels twice, and its saved weights read back', async (t) => {
  const ort = await loadOrt();
  if ('error' in ort) return t.skip(`onnxruntime-node is not available: ${ort.error}`);
  const { loadAggregationData, sampleSource } = await import('../../../src/certify/aggregation/data.js');
  const { partitionTrainingSet } = await import('../../../src/certify/aggregation/partition.js');
  const { trainNetPartition } = await import('../../../src/certify/aggregation/net-learner.js');
  const { runPartitionTask } = await import('../../../src/certify/aggregation/task.js');
  const { membersDigest } = await import('../../../src/certify/aggregation/store.js');
  const data = await loadAggregationData({ learner: 'mnist', dataset: 'mnist', seed: 0 });
  assert.equal(data.kind, 'images');
  if (data.kind !== 'images') return;
  const plan = partitionTrainingSet(sampleSource(data), { method: 'dpa', partitions: 1200, hash: 'pixel-sum' });
  const members = plan.subsets[7];
  const schedule = { arch: 'mnist', recipe: 'adam', crop: 2, epochs: 4, batchSize: 128, learningRate: 1e-3 } as const;
  const a = await trainNetPartition(data.dataset, members, schedule, 7);
  const b = await trainNetPartition(data.dataset, members, schedule, 7);
  assert.deepEqual(a.predictions, b.predictions, 'same seed, same labels');
  const c = await trainNetPartition(data.dataset, members, schedule, 8);
  assert.notDeepEqual(c.predictions, a.predictions, 'another seed, another net');
  const dir = scratchDir('dpa-net');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, PARTITIONS_FOLDER), { recursive: true });
  const out = await runPartitionTask({ data: { learner: 'mnist', dataset: 'mnist', seed: 0 }, rho2: 1, schedule, store: dir }, data, { index: 7, members, digest: membersDigest(members), seed: 7 });
  assert.deepEqual(out.predictions, a.predictions);
  const weights = loadPartitionWeights(dir, 7);
  assert.deepEqual([...weights.values()].map((w) => w.length), [...a.model.weights.values()].map((w) => w.length));
  assert.deepEqual([...weights.values()][0], [...a.model.weights.values()][0]);
});
