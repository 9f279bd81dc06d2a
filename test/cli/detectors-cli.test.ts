/**
 * `scan --detectors`: bad names and missing or misshapen training sets are one clear line and a
 * non-zero exit before any work; a run of every detector but Neural Cleanse on the tiny backdoored
 * model writes detectors.json with one result per detector, the combined verdict and its rule, and
 * the known misses.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../../src/data/images.js';
import { initEngine } from '../../src/nn/engine.js';
import { poisonBadNets } from '../../src/nn/trigger.js';
import { Random } from '../../src/random.js';
import { CLASSES, makeTinyBackdooredModel, SIZE, syntheticSet, TARGET, TRIGGER } from '../cleanse/fixture.js';
import { runCli, scratchDir } from '../helpers.js';

let modelDir: string;
let dataDir: string;

function writeSplit(dir: string, set: ImageSet): void {
  const size = SIZE * SIZE;
  for (let n = 0; n < set.count; n++) {
    const d = join(dir, String(set.labels[n]));
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `${n}.pgm`), Buffer.concat([Buffer.from(`P5 ${SIZE} ${SIZE} 255\n`), Buffer.from(set.images.subarray(n * size, (n + 1) * size))]));
  }
}

before(async () => {
  await initEngine({ backend: 'wasm' });
  const root = scratchDir('detectors-cli');
  modelDir = join(root, 'model');
  const { test: images } = await makeTinyBackdooredModel(modelDir);
  // A folder dataset: the clean test split, and a training split poisoned as the model's was.
  dataDir = join(root, 'data');
  writeSplit(join(dataDir, 'test'), images);
  const poisoned = poisonBadNets(syntheticSet(400, new Random(21)), { trigger: TRIGGER, target: TARGET, rate: 0.15 }, CLASSES, new Random(22));
  writeSplit(join(dataDir, 'train'), poisoned.set);
});

test('unknown detector names list the known ones; audits without --train-data, and --train-data of another shape, are one line each', async () => {
  const unknown = await runCli(['scan', '--model', modelDir, '--detectors', 'nc,abs']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /Unknown detector 'abs'\. Known detectors: nc, nc-l2, nc-full, mmbd, strip, spectral, ac, knn, all\./);
  const mixedAll = await runCli(['scan', '--model', modelDir, '--detectors', 'all,nc']);
  assert.notEqual(mixedAll.code, 0);
  assert.match(mixedAll.err, /Unknown detector/);
  const noTrain = await runCli(['scan', '--model', modelDir, '--detectors', 'spectral']);
  assert.notEqual(noTrain.code, 0);
  assert.match(noTrain.err, /Missing --train-data: the training set, which spectral audits/);
  // MNIST's 28x28 images against the tiny model's 8x8 input: refused before any detector runs.
  const shape = await runCli(['scan', '--model', modelDir, '--dataset', dataDir, '--detectors', 'ac', '--train-data', 'mnist']);
  assert.notEqual(shape.code, 0);
  assert.match(shape.err, /--train-data mnist: expected shape 8x8x1 images \(the model's input\), but got 28x28x1/);
  assert.equal(shape.err.trim().split('\n').length, 1, shape.err);
  assert.doesNotMatch(shape.err, /detector ac: running/);
  const noKnn = await runCli(['scan', '--model', modelDir, '--dataset', dataDir, '--detectors', 'ac', '--train-data', dataDir, '--knn-reference', dataDir]);
  assert.notEqual(noKnn.code, 0);
  assert.match(noKnn.err, /Expected --knn-reference to be used with the knn detector/);
  const refShape = await runCli(['scan', '--model', modelDir, '--dataset', dataDir, '--detectors', 'knn', '--train-data', dataDir, '--knn-reference', 'mnist']);
  assert.notEqual(refShape.code, 0);
  assert.match(refShape.err, /--knn-reference mnist: expected shape 8x8x1 images \(the model's input\), but got 28x28x1/);
  assert.equal(refShape.err.trim().split('\n').length, 1, refShape.err);
});

test("knn's reference: the clean test split by default, a training-like clean set with --knn-reference, recorded in the result", async () => {
  const scan = async (extra: string[]) => {
    const out = join(scratchDir('detectors-cli-knnref'), 'scan');
    const r = await runCli(['scan', '--model', modelDir, '--dataset', dataDir, '--train-data', dataDir, '--detectors', 'knn', '--out', out, '--seed', '3', ...extra]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(readFileSync(join(out, 'detectors.json'), 'utf8')).results[0];
  };
  const byTest = await scan([]);
  assert.match(byTest.recipe.reference, /^the clean test split/);
  const byTrain = await scan(['--knn-reference', dataDir]);
  assert.match(byTrain.recipe.reference, /^the train split of /);
  assert.notDeepEqual(byTrain.details.thresholds, byTest.details.thresholds, 'another reference, other thresholds');
});

test('every detector but Neural Cleanse on the tiny backdoored model: detectors.json, the combined verdict, the misses', async () => {
  const out = join(scratchDir('detectors-cli-out'), 'scan');
  const r = await runCli([
    'scan', '--model', modelDir, '--dataset', dataDir, '--train-data', join(dataDir), '--detectors', 'mmbd,strip,spectral,ac,knn', '--out', out, '--seed', '3',
  ]);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(readFileSync(join(out, 'detectors.json'), 'utf8'));
  assert.equal(report.kind, 'detectors-scan');
  assert.deepEqual(report.results.map((x: { detector: string }) => x.detector), ['mmbd', 'strip', 'spectral', 'ac', 'knn']);
  for (const x of report.results) {
    assert.equal(x.perLabel.length, CLASSES, x.detector);
    assert.ok(Number.isFinite(x.score), `${x.detector} score ${x.score}`);
    assert.equal(x.seed, 3);
  }
  assert.match(report.combined.rule, /backdoored when any voting detector/);
  // Only the voting detectors (not the audits) make the combined call.
  const voters = ['mmbd', 'strip', 'knn'];
  const voting = report.results.filter((x: { detector: string }) => voters.includes(x.detector));
  assert.equal(report.combined.backdoored, voting.some((x: { backdoored: boolean }) => x.backdoored));
  assert.ok(report.combined.by.every((d: string) => voters.includes(d)));
  assert.ok(report.misses.some((m: { detector: string; family: string }) => m.detector === 'mmbd' && m.family === 'all-to-all'));
  assert.match(r.out, /combined verdict: /);
  assert.match(r.out, /known to miss/);
  // STRIP audited a sample of the training set, with its boundary recorded.
  const strip = report.results.find((x: { detector: string }) => x.detector === 'strip');
  assert.equal(strip.recipe.audited, 'training set');
  assert.equal(strip.details.filter.overlays, 100);
  // Its run-time filter is written beside detectors.json (the pool as indices there, not here), and `filter` applies it.
  assert.equal(strip.details.filterFile, 'strip-filter.json');
  assert.equal(strip.details.poolIndices, undefined);
  const saved = JSON.parse(readFileSync(join(out, 'strip-filter.json'), 'utf8'));
  assert.equal(saved.pool.indices.length, strip.details.poolImages);
  const inputs = join(scratchDir('detectors-cli-inputs'), 'in');
  const few = syntheticSet(3, new Random(30));
  mkdirSync(inputs, { recursive: true });
  for (let n = 0; n < few.count; n++) writeFileSync(join(inputs, `${n}.pgm`), Buffer.concat([Buffer.from(`P5 ${SIZE} ${SIZE} 255\n`), Buffer.from(few.images.subarray(n * SIZE * SIZE, (n + 1) * SIZE * SIZE))]));
  const f = await runCli(['filter', '--model', modelDir, '--filter', join(out, 'strip-filter.json'), '--input', inputs, '--data-dir', dataDir]);
  assert.equal(f.code, 0, f.err);
  assert.equal(f.out.split('\n').filter((l) => /entropy \d/.test(l)).length, 3, f.out);
  assert.match(f.out, /of 3 input\(s\) flagged \(STRIP/);
  // The report's detectors section: the combined verdict, its rule and the known misses.
  assert.equal((await runCli(['report', out])).code, 0);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /Detectors and the combined verdict/);
  assert.match(html, /What these detectors are known to miss/);
  assert.match(html, /all-to-all/);
  // MM-BD: the tiny model's target has the largest maximum margin.
  const mmbd = report.results.find((x: { detector: string }) => x.detector === 'mmbd');
  assert.equal(mmbd.details.maxLabel, TARGET, JSON.stringify(mmbd.perLabel));
});
