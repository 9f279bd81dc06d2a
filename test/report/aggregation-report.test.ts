/** The report's per-prediction certificate section: read from aggregation.json, checked, explained, drawn (with 1 − U* when a certify run is on the page). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certifyAggregation } from '../../src/certify/aggregation/aggregate.js';
import { buildReport } from '../../src/report/build.js';
import { readRunFolder } from '../../src/report/run-folder.js';
import { scratchDir } from '../helpers.js';

test('report on a DPA run folder: the section says what is certified, with the numbers of aggregation.json; a damaged file is named', async () => {
  const dir = scratchDir('dpa-report');
  const r = await certifyAggregation({ method: 'dpa', partitions: 10, dataset: 'mnist17', workers: 0, out: dir, budgets: [0, 2, 4] });
  const run = readRunFolder(dir);
  assert.equal(run.aggregation?.points.length, 2163);
  const built = await buildReport(run, { generated: 'today' });
  assert.ok(built.figures.has('aggregation-accuracy'));
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  assert.match(built.html, /<section id="aggregation"><h2>Per-prediction certificate: Deep Partition Aggregation<\/h2>/);
  assert.ok(built.html.includes(`right on <strong>${pct(r.cleanAccuracy)}</strong>`));
  assert.ok(built.html.includes(`any <strong>${r.medianRadius}</strong> poison points`));
  assert.ok(built.html.includes(`<td>4</td><td>${pct(r.certifiedAccuracy[2])}</td>`));
  assert.match(built.html, /keeps its prediction whatever r training samples are inserted or deleted/);
  assert.doesNotMatch(built.html, /<th>training<\/th>/, 'an SVM run has no net training to show');
  // A net's training, as the recipe records it (the same page with a DPA-recipe net's record).
  const net = { arch: 'onnx', epochs: 15, batchSize: 128, learningRate: 0.1, recipe: 'dpa', optimizer: 'sgd (momentum 0.9, Nesterov, weight decay 0.0005)', learningRateDrops: { afterEpochs: [5, 10, 13], factor: 0.2 }, crop: 4, preprocessing: 'x/255 → [0, 1]' } as const;
  const withNet = await buildReport({ ...run, aggregation: { ...run.aggregation!, recipe: { ...run.aggregation!.recipe, net } } }, { generated: 'today' });
  assert.ok(withNet.html.includes('<th>training</th><td>dpa: sgd (momentum 0.9, Nesterov, weight decay 0.0005), lr 0.1 ×0.2 after epochs 5, 10, 13, 15 epochs at batch 128, random crop (padding 4); preprocessing x/255 → [0, 1]</td>'), 'the net\'s training row');

  const file = join(dir, 'aggregation.json');
  const x = JSON.parse(readFileSync(file, 'utf8'));
  delete x.points[3].radius;
  writeFileSync(file, JSON.stringify(x));
  assert.throws(() => readRunFolder(dir), /aggregation\.json: expected "points\[3\]\.radius" to be a number, but it is missing/);
});
