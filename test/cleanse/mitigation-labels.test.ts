/**
 * Mitigating several labels in one run, on models with two backdoors whose triggers are known (the
 * scan folders hold them exactly): the pruning ranking under two triggers against a slow by-hand
 * computation; pruning and unlearning remove both backdoors where one label removes one; the filter
 * flags both triggers (thresholds set together, by hand too); `--label L` and the list `L` agree;
 * the bad lists are one-line errors naming the label; an older mitigation.json still loads.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { filterProfiles, jointThresholds, readFilter } from '../../src/cleanse/mitigation/filter.js';
import { computeFeatures, resolveLayer } from '../../src/cleanse/mitigation/layers.js';
import { combineReports, mitigateModel, type MitigationReport } from '../../src/cleanse/mitigation/mitigate.js';
import { rankNeurons } from '../../src/cleanse/mitigation/ranking.js';
import { chooseLabels, readScanSource, stampReversed } from '../../src/cleanse/mitigation/reversed-trigger.js';
import { unlearningSet } from '../../src/cleanse/mitigation/unlearn.js';
import { main } from '../../src/cli/main.js';
import type { ImageSet } from '../../src/data/images.js';
import { initEngine } from '../../src/nn/engine.js';
import { saveModel } from '../../src/nn/model-io.js';
import { DEFAULT_PREPROCESSING } from '../../src/nn/preprocess.js';
import { Random } from '../../src/random.js';
import { mitigationSection } from '../../src/report/mitigation-section.js';
import { checkMitigationJson, readRunFolder } from '../../src/report/run-folder.js';
import { scratchDir } from '../helpers.js';
import {
  CLASSES,
  exactReversed,
  HIDDEN,
  makeTrainedBackdooredDense,
  metadataFor,
  PLANTED,
  PLANTED_B,
  plantedTwoModel,
  SIZE,
  syntheticSet,
  TARGET,
  TARGET_B,
  TRIGGER,
  TRIGGER_B,
  writeFakeScan,
} from './mitigation-fixture.js';

const quiet = { out: () => {}, err: () => {}, interactive: false };
const both = new Map([
  [TARGET, exactReversed(TARGET, TRIGGER)],
  [TARGET_B, exactReversed(TARGET_B, TRIGGER_B)],
]);
let planted: { dir: string; scan: string; data: { train: ImageSet; test: ImageSet } };

before(async () => {
  await initEngine({ backend: 'wasm' });
  // The planted two-backdoor model; its records name the second backdoor (-> 3) as its trigger.
  const root = scratchDir('mitigation-labels');
  const dir = join(root, 'planted');
  const model = plantedTwoModel();
  const meta = metadataFor({ cleanAccuracy: 0, asr: null });
  await saveModel(model, dir, { ...meta!, trigger: TRIGGER_B, target: TARGET_B, backdoors: [{ trigger: TRIGGER_B, target: TARGET_B, rate: 0.1 }, { trigger: TRIGGER, target: TARGET, rate: 0.1 }] });
  model.dispose();
  const scan = join(root, 'scan');
  writeFakeScan(scan, dir, { flagged: [TARGET], trigger: exactReversed(), triggers: both });
  const rng = new Random(21);
  planted = { dir, scan, data: { train: syntheticSet(600, rng), test: syntheticSet(300, rng) } };
});

test('the ranking under two triggers: each neuron by its larger gap, against a slow forward pass by hand', async () => {
  const model = plantedTwoModel();
  const layer = resolveLayer(model);
  const clean = syntheticSet(100, new Random(3));
  const stamped = [exactReversed(TARGET, TRIGGER), exactReversed(TARGET_B, TRIGGER_B)].map((t) => stampReversed(clean.images, t));
  const features = async (x: Uint8Array) => (await computeFeatures(model, layer, x, [SIZE, SIZE, 1], DEFAULT_PREPROCESSING)).perNeuron;
  const ranking = rankNeurons(await features(clean.images), [await features(stamped[0]), await features(stamped[1])], HIDDEN);
  // By hand: the hidden layer relu(b + Σ x·w) image by image, the means, the larger gap.
  const [kernel, bias] = model.getLayer('hidden').getWeights().map((w) => w.dataSync());
  const mean = (images: Uint8Array, j: number): number => {
    let total = 0;
    for (let n = 0; n < clean.count; n++) {
      let s = bias[j];
      for (let p = 0; p < SIZE * SIZE; p++) s += (images[n * SIZE * SIZE + p] / 255) * kernel[p * HIDDEN + j];
      total += Math.max(0, s);
    }
    return total / clean.count;
  };
  const expected = Array.from({ length: HIDDEN }, (_, j) => {
    const gaps = stamped.map((s) => mean(s, j) - mean(clean.images, j));
    return { score: Math.max(...gaps), trigger: gaps[1] > gaps[0] ? 1 : 0 };
  });
  for (let j = 0; j < HIDDEN; j++) {
    assert.ok(Math.abs(ranking.scores[j] - expected[j].score) < 1e-5, `neuron ${j}: ${ranking.scores[j]} vs ${expected[j].score}`);
    if (Math.abs(expected[j].score) > 1e-3) assert.equal(ranking.trigger![j], expected[j].trigger, `neuron ${j}'s trigger`);
  }
  // The two planted neurons score exactly 1 (relu(4 − 3)), each under its own trigger; a tie goes to the lower index.
  assert.deepEqual(ranking.order.slice(0, 2), [PLANTED_B, PLANTED]);
  assert.deepEqual([ranking.trigger![PLANTED_B], ranking.trigger![PLANTED]], [1, 0]);
  const byHandOrder = expected.map((e, j) => ({ s: e.score, j })).sort((a, b) => b.s - a.s || a.j - b.j).map((e) => e.j);
  assert.deepEqual(ranking.order.slice(0, 2), byHandOrder.slice(0, 2));
  // Neither trigger alone ranks both planted neurons first.
  assert.equal(rankNeurons(await features(clean.images), await features(stamped[0]), HIDDEN).order[0], PLANTED);
  model.dispose();
});

test('pruning two labels prunes both planted neurons and both backdoors go; one label leaves the other', async () => {
  const { dir, scan, data } = planted;
  const two = await mitigateModel({ model: dir, scan, method: 'prune', data, label: [TARGET, TARGET_B], defenseImages: 200 });
  assert.deepEqual(two.targetLabels, [TARGET, TARGET_B]);
  // The two planted neurons first; the search may go on (neuron 6 sums row 6, where the first trigger
  // lies, into label 1), until stamping sends no more images to either target than not stamping.
  assert.deepEqual(two.pruning!.pruned.slice(0, 2), [PLANTED_B, PLANTED]);
  assert.ok(two.pruning!.reachedThreshold);
  assert.deepEqual(two.pruning!.searchByLabel.map((b) => b.label), [TARGET, TARGET_B]);
  assert.equal(two.before!.asrReversedByLabel.length, 2);
  for (const a of two.before!.asrReversedByLabel) assert.ok(a > 0.95, `before ${a}`);
  // After: stamped images go to each target no more often than unstamped ones do (this hand-set
  // model sends some clean images there anyway: the search's baseline on the defender's images).
  two.after!.asrReversedByLabel.forEach((a, j) => {
    const unstamped = two.pruning!.searchByLabel[j].baseline!;
    assert.ok(a < 0.3 && a <= unstamped + 0.1, `after, label ${two.targetLabels![j]}: ${a} (unstamped ${unstamped})`);
  });
  assert.equal(two.after!.asrReversed, Math.max(...two.after!.asrReversedByLabel));
  assert.ok(two.after!.asrReal! < 0.3, `the real second backdoor after ${two.after!.asrReal}`);
  assert.equal(two.ranking!.top[0].label, TARGET_B);
  // The curve's point at the stop agrees with the pruned model, label by label.
  const stop = two.pruning!.points.find((p) => p.pruned === two.pruning!.pruned.length)!;
  assert.deepEqual(stop.asrReversedByLabel, two.after!.asrReversedByLabel);

  const one = await mitigateModel({ model: dir, scan, method: 'prune', data, label: TARGET, defenseImages: 200 });
  assert.equal(one.pruning!.pruned[0], PLANTED);
  assert.ok(!one.pruning!.pruned.includes(PLANTED_B), `pruned ${one.pruning!.pruned}`);
  assert.ok(one.after!.asrReal! > 0.95, `the other backdoor stays: ${one.after!.asrReal}`);
});

test('the filter of two labels flags both triggers, its thresholds set together; filter.json v2 is applied by the filter command', async () => {
  const { dir, scan, data } = planted;
  const out = scratchDir('mitigation-labels-filter');
  const r = await mitigateModel({ model: dir, scan, method: 'filter', data, out, label: [TARGET, TARGET_B], defenseImages: 200, topShare: 0.125 });
  const f = r.filter!;
  assert.deepEqual(f.profiles.map((p) => [p.label, p.neuronIndices]), [[TARGET, [PLANTED]], [TARGET_B, [PLANTED_B]]]);
  assert.deepEqual(f.fnrReversedByLabel, [0, 0]);
  assert.ok(f.measuredFpr <= 0.05, `FPR ${f.measuredFpr}`);
  for (const a of r.after!.asrReversedByLabel) assert.equal(a, 0);
  const filter = readFilter(join(out, 'filter.json'));
  assert.equal(filter.formatVersion, 2);
  assert.deepEqual(filterProfiles(filter).map((p) => p.label), [TARGET, TARGET_B]);
  // Three PNGs: clean, with the first trigger, with the second.
  const inputs = scratchDir('mitigation-labels-inputs');
  const img = data.test.images.slice(0, SIZE * SIZE);
  const pictures = [img, stampReversed(img, exactReversed(TARGET, TRIGGER)), stampReversed(img, exactReversed(TARGET_B, TRIGGER_B))];
  pictures.forEach((px, i) => {
    const png = new PNG({ width: SIZE, height: SIZE });
    for (let p = 0; p < SIZE * SIZE; p++) png.data.set([px[p], px[p], px[p], 255], 4 * p);
    writeFileSync(join(inputs, `${i}.png`), PNG.sync.write(png));
  });
  const lines: string[] = [];
  assert.equal(await main(['filter', '--model', dir, '--filter', join(out, 'filter.json'), '--input', inputs], { ...quiet, out: (l) => lines.push(l) }), 0);
  assert.deepEqual(lines.slice(0, 3).map((l) => l.slice(0, 7)), ['clean  ', 'FLAGGED', 'FLAGGED']);
  assert.match(lines[3], /2 of 3 input\(s\) flagged \(thresholds 1: .*, 3: .*labels 1, 3, flagged when any is exceeded\)/);
});

test('thresholds set together by hand: the largest common level whose union keeps the FPR', () => {
  const up = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const down = [...up].reverse();
  // Apart: each flags its top 2 at 0.2, four in all; at 0.1 each its top 1, two in all (≤ 0.2 · 10).
  assert.deepEqual(jointThresholds([up, down], 0.2), [9, 9]);
  // Together (the same inputs): the union is each one's 2.
  assert.deepEqual(jointThresholds([up, up], 0.2), [8, 8]);
  assert.deepEqual(jointThresholds([up], 0.2), [8]);
});

test('unlearning of two labels splits the stamped share across them, each image once, true labels kept', () => {
  const train = syntheticSet(1000, new Random(4));
  const ul = unlearningSet(train, [exactReversed(TARGET, TRIGGER), exactReversed(TARGET_B, TRIGGER_B)], new Random(5));
  assert.equal(ul.set.count, 100);
  assert.deepEqual(ul.stampedBy.map((b) => [b.label, b.stamped.length]), [[TARGET, 10], [TARGET_B, 10]]);
  const [a, b] = ul.stampedBy.map((x) => Array.from(x.stamped));
  assert.equal(new Set([...a, ...b]).size, 20, 'no image stamped twice');
  for (const i of a) assert.notEqual(ul.set.labels[i], TARGET);
  for (const i of b) assert.notEqual(ul.set.labels[i], TARGET_B);
  assert.deepEqual(Array.from(ul.set.labels), Array.from(ul.drawn, (i) => train.labels[i]));
  // An odd count: the first label takes the remainder.
  const odd = unlearningSet(train, [exactReversed(TARGET, TRIGGER), exactReversed(TARGET_B, TRIGGER_B)], new Random(5), 0.1, 0.25);
  assert.deepEqual(odd.stampedBy.map((x) => x.stamped.length), [13, 12]);
});

test('unlearning two labels of a trained two-backdoor model lowers both triggers; one label leaves the other', async () => {
  const root = scratchDir('mitigation-labels-trained');
  const dir = join(root, 'model');
  const made = await makeTrainedBackdooredDense(dir, true);
  assert.ok(made.asr > 0.9 && made.asrB! > 0.9, `both backdoors work (${made.asr}, ${made.asrB})`);
  const data = { train: made.train, test: made.test };
  const scan = join(root, 'scan');
  writeFakeScan(scan, dir, { flagged: [TARGET], trigger: exactReversed(), triggers: both });
  const options = { model: dir, scan, method: 'unlearn', data, unlearnShare: 1, learningRate: 0.005 } as const;
  const two = await mitigateModel({ ...options, label: [TARGET, TARGET_B] });
  for (const [i, a] of two.before!.asrReversedByLabel.entries()) assert.ok(a > 0.9, `before, label ${two.targetLabels![i]}: ${a}`);
  for (const [i, a] of two.after!.asrReversedByLabel.entries()) assert.ok(a < 0.2, `after, label ${two.targetLabels![i]}: ${a}`);
  assert.ok(two.after!.cleanAccuracy > two.before!.cleanAccuracy - 0.05);
  assert.equal(two.unlearning!.stamped, 300);
  assert.deepEqual(two.unlearning!.stampedByLabel, [{ label: TARGET, stamped: 150 }, { label: TARGET_B, stamped: 150 }]);
  // The records name the second backdoor (-> 3): with label 1 alone it survives.
  const one = await mitigateModel({ ...options, label: TARGET });
  assert.ok(one.after!.asrReversed < 0.2);
  assert.ok(one.after!.asrReal! > 0.5, `label 3's backdoor after unlearning label 1 only: ${one.after!.asrReal}`);
  assert.ok(two.after!.asrReal! < 0.2, `label 3's backdoor after unlearning both: ${two.after!.asrReal}`);
});

test('--label L and the list [L] give the same result; the default takes every flagged label', async () => {
  const { dir, data } = planted;
  const scan = scratchDir('mitigation-labels-two-flagged');
  writeFakeScan(scan, dir, { flagged: [TARGET, TARGET_B], trigger: exactReversed(), triggers: both });
  const strip = (r: MitigationReport) => ({ ...r, seconds: 0, date: '', labelReason: '' });
  const a = await mitigateModel({ model: dir, scan, method: 'prune', data, label: TARGET, defenseImages: 200 });
  const b = await mitigateModel({ model: dir, scan, method: 'prune', data, label: [TARGET], defenseImages: 200 });
  assert.deepEqual(strip(a), strip(b));
  const all = await mitigateModel({ model: dir, scan, method: 'prune', data, defenseImages: 200 });
  assert.deepEqual(all.targetLabels, [TARGET, TARGET_B]);
  assert.match(all.labelReason, /^labels 1, 3 \(flagged by the scan/);
  // A label flagged by the outlier test without reaching the verdict's margin is mitigated too.
  const source = readScanSource(scan);
  const chosen = chooseLabels({ ...source, verdictLabels: [TARGET_B], flagged: [TARGET, TARGET_B] });
  assert.deepEqual(chosen.labels, [TARGET, TARGET_B]);
  assert.match(chosen.reason, /^labels 1, 3 \(flagged by the scan; its verdict 'backdoored' names 3, the outlier test flagged 1 too\)$/);
  assert.deepEqual(chooseLabels({ ...source, verdictLabels: [], flagged: [] }).labels, []);
});

test('bad label lists: out of range, repeated, without a reversed trigger, not integers — one line naming it, exit 2', async () => {
  const { dir } = planted;
  const partial = scratchDir('mitigation-labels-partial');
  writeFakeScan(partial, dir, { flagged: [TARGET], trigger: exactReversed(), labels: [0, 1, 3, 4] });
  for (const [label, re] of [
    ['1,7', /^Expected --label to be a class index in 0\.\.4, but got 7\.$/],
    ['1,3,1', /^Expected --label to be a list of distinct labels \(label 1 is given twice\), but got '1,3,1'\.$/],
    ['1,2', /^Expected --label to be one of the scanned labels \(0, 1, 3, 4\): the scan has no reversed trigger for label 2, but got 2\.$/],
    ['1,x', /^Expected --label to be a comma-separated list of integers, but got '1,x'\.$/],
  ] as const) {
    const err: string[] = [];
    const code = await main(['mitigate', '--model', dir, '--scan', partial, '--method', 'prune', '--label', label], { ...quiet, err: (l) => err.push(l) });
    assert.equal(code, 2, label);
    const text = err.join('\n').replace(/^poisonguard mitigate: /, '');
    assert.equal(text.split('\n').length, 1, text);
    assert.match(text, re);
  }
});

test('an older mitigation.json (one label, no per-label figures) still loads, renders and combines', async () => {
  const { dir, scan, data } = planted;
  const fresh = await mitigateModel({ model: dir, scan, method: 'unlearn', data, label: TARGET, unlearnShare: 0.2 });
  const strip = (r: MitigationReport): MitigationReport => {
    const { targetLabels: _l, before, after, unlearning, ...rest } = JSON.parse(JSON.stringify(r)) as MitigationReport;
    const old = (m: typeof before) => m && { cleanAccuracy: m.cleanAccuracy, asrReal: m.asrReal, asrReversed: m.asrReversed };
    const { stampedByLabel: _s, ...u } = unlearning!;
    return { ...rest, before: old(before), after: old(after), unlearning: u } as unknown as MitigationReport;
  };
  const old = strip(fresh);
  const folder = scratchDir('mitigation-labels-old');
  writeFileSync(join(folder, 'mitigation.json'), JSON.stringify(old));
  checkMitigationJson('old', JSON.parse(readFileSync(join(folder, 'mitigation.json'), 'utf8')));
  const contents = readRunFolder(folder, { followScan: false });
  assert.match(mitigationSection({ summary: contents.mitigation!, figures: {} }), /Mitigating label 1 \(given; flagged by the scan\)/);
  assert.equal(combineReports([old, old]).method, 'all');
  assert.equal(CLASSES, 5);
});
