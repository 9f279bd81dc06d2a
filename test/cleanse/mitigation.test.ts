/**
 * `mitigateModel` end to end on a small dense backdoored model trained here (8x8 synthetic images,
 * 2x2 white square → label 1), with a scan folder written by hand: each method lowers the ASR and
 * writes what it says; mitigation.json passes the report's reader; the tensor count stays flat;
 * the bad inputs (a scan of another model, a scan that flags nothing, a model without a dense
 * second-to-last layer) are clear errors or messages (several labels: mitigation-labels.test.ts); the filter command applies filter.json.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import { combineReports, mitigateModel, recordedPruning, type MitigationReport } from '../../src/cleanse/mitigation/mitigate.js';
import { main } from '../../src/cli/main.js';
import type { ImageSet } from '../../src/data/images.js';
import { PoisonguardError } from '../../src/errors.js';
import { initEngine } from '../../src/nn/engine.js';
import { loadOrt } from '../../src/graph/runtime.js';
import { loadModel, readMetadata } from '../../src/nn/model-io.js';
import { stampInPlace, resolveTrigger } from '../../src/nn/trigger.js';
import { checkMitigationJson } from '../../src/report/run-folder.js';
import { scratchDir } from '../helpers.js';
import { makeTinyBackdooredModel } from './fixture.js';
import { exactReversed, makeTrainedBackdooredDense, SIZE, TARGET, TRIGGER, writeFakeScan } from './mitigation-fixture.js';

let modelDir: string;
let scanDir: string;
let data: { train: ImageSet; test: ImageSet };
const quiet = { out: () => {}, err: () => {}, interactive: false };
const reports: MitigationReport[] = [];

before(async () => {
  await initEngine({ backend: 'wasm' });
  const root = scratchDir('mitigation');
  modelDir = join(root, 'model');
  const made = await makeTrainedBackdooredDense(modelDir);
  assert.ok(made.asr > 0.9, `the backdoor works (ASR ${made.asr})`);
  assert.ok(made.accuracy > 0.9, `the model is accurate (${made.accuracy})`);
  data = { train: made.train, test: made.test };
  scanDir = join(root, 'scan');
  writeFakeScan(scanDir, modelDir, { flagged: [TARGET], trigger: exactReversed() });
});

test('unlearning removes the backdoor, keeps accuracy, and writes the model and mitigation.json', async () => {
  const out = scratchDir('mitigation-unlearn');
  const start = tf.memory().numTensors;
  // Unlearn on all of this small training set (10% would be 150 images).
  const r = await mitigateModel({ model: modelDir, scan: scanDir, method: 'unlearn', data, out, unlearnShare: 1, learningRate: 0.005 });
  reports.push(r);
  assert.equal(tf.memory().numTensors, start, 'no tensor left behind');
  assert.equal(r.targetLabel, TARGET);
  assert.ok(r.before!.asrReal! > 0.9);
  assert.ok(r.after!.asrReal! < 0.2, `ASR after unlearning ${r.after!.asrReal}`);
  assert.ok(r.after!.cleanAccuracy > r.before!.cleanAccuracy - 0.05, `accuracy ${r.before!.cleanAccuracy} → ${r.after!.cleanAccuracy}`);
  assert.equal(r.unlearning!.stamped, Math.round(0.2 * data.train.count));
  // The recipe run, defaults included (the paper's 20% stamped, 1 epoch; the training recipe's batch).
  assert.deepEqual(r.recipe, { method: 'unlearn', seed: 0, stampedShare: 0.2, epochs: 1, share: 1, learningRate: 0.005, batchSize: 32 });
  const json = JSON.parse(readFileSync(join(out, 'mitigation.json'), 'utf8'));
  checkMitigationJson(join(out, 'mitigation.json'), json);
  assert.equal(json.unlearning.after.asr, r.after!.asrReal);
  const meta = readMetadata(out) as ReturnType<typeof readMetadata> & { mitigation?: { method: string; source: { sha256: string } } };
  assert.equal(meta.mitigation?.method, 'unlearn');
  assert.equal(meta.mitigation?.source.sha256, r.modelSha256);
  // The fine-tuning ran on the native engine by default, and both files say so.
  const native = !('error' in (await loadOrt()));
  assert.equal(r.trainingEngine?.engine, native ? 'onnx' : 'tfjs', r.trainingEngine?.reason);
  assert.equal(json.trainingEngine.engine, r.trainingEngine?.engine);
  assert.equal((meta.mitigation as unknown as { details: { engine: string } }).details.engine, r.trainingEngine?.engine);
});

test('pruning stops when the reversed trigger fails; the saved model has those neurons at zero', async () => {
  const out = scratchDir('mitigation-prune');
  const start = tf.memory().numTensors;
  const r = await mitigateModel({ model: modelDir, scan: scanDir, method: 'prune', data, out, defenseImages: 500 });
  reports.push(r);
  assert.equal(tf.memory().numTensors, start, 'no tensor left behind');
  const pr = r.pruning!;
  assert.ok(pr.pruned.length > 0 && pr.reachedThreshold, JSON.stringify({ pruned: pr.pruned.length, asr: pr.searchAsr }));
  // The default stop: the stamped defender images go to the target no more often than unstamped.
  assert.equal(pr.asrThreshold, 'baseline');
  assert.deepEqual(r.recipe, { method: 'prune', seed: 0, layer: 'penultimate', defenseImages: 500, asrThreshold: 'baseline', maxShare: 0.5, curveStep: 0.02, fineTuneEpochs: 0, fineTune: null });
  assert.ok(pr.searchBaseline !== null && pr.searchAsr <= pr.searchBaseline, JSON.stringify({ asr: pr.searchAsr, baseline: pr.searchBaseline }));
  assert.ok(r.after!.asrReversed < 0.15, `reversed ASR after ${r.after!.asrReversed}`);
  // The curve, from cached features, agrees with the real pruned model at the stop point.
  const stop = pr.points.find((p) => p.pruned === pr.pruned.length)!;
  assert.ok(Math.abs(stop.cleanAccuracy - r.after!.cleanAccuracy) < 1e-9, `${stop.cleanAccuracy} vs ${r.after!.cleanAccuracy}`);
  assert.ok(Math.abs(stop.asrReversed - r.after!.asrReversed) < 1e-9);
  assert.equal(pr.points[0].pruned, 0);
  assert.equal(pr.points[0].cleanAccuracy, r.before!.cleanAccuracy);
  checkMitigationJson(join(out, 'mitigation.json'), JSON.parse(readFileSync(join(out, 'mitigation.json'), 'utf8')));
  const saved = await loadModel(out);
  const [k, b] = saved.model.getLayer('hidden').getWeights().map((w) => w.dataSync());
  const units = b.length;
  for (const j of pr.pruned) {
    assert.ok(b[j] === 0);
    for (let p = 0; p < k.length / units; p++) assert.ok(k[p * units + j] === 0);
  }
  saved.model.dispose();
  assert.deepEqual(recordedPruning(readMetadata(out))?.neurons, pr.pruned);
  // Unlearning the pruned model keeps its pruned neurons at zero.
  const scan2 = scratchDir('mitigation-scan2');
  writeFakeScan(scan2, out, { flagged: [TARGET], trigger: exactReversed() });
  const out2 = scratchDir('mitigation-prune-unlearn');
  const r2 = await mitigateModel({ model: out, scan: scan2, method: 'unlearn', data, out: out2, unlearnShare: 0.5 });
  assert.equal(r2.unlearning!.keptPruned, pr.pruned.length);
  assert.ok(r2.trainingEngine !== undefined);
  const again = await loadModel(out2);
  const b2 = again.model.getLayer('hidden').getWeights()[1].dataSync();
  for (const j of pr.pruned) assert.ok(b2[j] === 0);
  again.model.dispose();
});

test('the filter flags the real trigger at its FPR, is saved, and the filter command applies it', async () => {
  const out = scratchDir('mitigation-filter');
  const start = tf.memory().numTensors;
  const r = await mitigateModel({ model: modelDir, scan: scanDir, method: 'filter', data, out, defenseImages: 600, topShare: 0.1 });
  reports.push(r);
  assert.equal(tf.memory().numTensors, start, 'no tensor left behind');
  const f = r.filter!;
  assert.equal(f.neurons, 3); // round(0.1 · 32)
  assert.ok(f.fnr < 0.1, `FNR ${f.fnr}`);
  // Among the stamped inputs the backdoor does send to the target, the filter misses no more.
  assert.ok(f.fnrSuccessful !== null && f.fnrSuccessful <= f.fnr + 1e-12, `FNR on working attacks ${f.fnrSuccessful} vs all ${f.fnr}`);
  assert.ok(f.measuredFpr < 0.15, `held-out FPR ${f.measuredFpr}`);
  assert.ok(f.curve.length > 5 && f.curve.every((p, i) => i === 0 || p.threshold <= f.curve[i - 1].threshold));
  assert.ok(existsSync(join(out, 'filter.json')));
  checkMitigationJson(join(out, 'mitigation.json'), JSON.parse(readFileSync(join(out, 'mitigation.json'), 'utf8')));

  // Two PNGs: a clean test image and the same image stamped.
  const inputs = join(out, 'inputs');
  mkdirSync(inputs);
  const size = SIZE * SIZE;
  const img = data.test.images.slice(0, size);
  const stamped = Uint8Array.from(img);
  stampInPlace(stamped, resolveTrigger(TRIGGER, SIZE, SIZE, 1));
  for (const [name, px] of [['a-clean.png', img], ['b-stamped.png', stamped]] as const) {
    const png = new PNG({ width: SIZE, height: SIZE });
    for (let p = 0; p < size; p++) png.data.set([px[p], px[p], px[p], 255], 4 * p);
    writeFileSync(join(inputs, name), PNG.sync.write(png));
  }
  const lines: string[] = [];
  const code = await main(['filter', '--model', modelDir, '--filter', join(out, 'filter.json'), '--input', inputs], { ...quiet, out: (l) => lines.push(l) });
  assert.equal(code, 0);
  assert.match(lines.find((l) => l.includes('b-stamped.png'))!, /^FLAGGED/);
  assert.match(lines[lines.length - 1], /of 2 input\(s\) flagged/);
  // The filter refuses another model.
  const err: string[] = [];
  assert.equal(await main(['filter', '--model', join(out, '..'), '--filter', join(out, 'filter.json'), '--input', inputs], { ...quiet, err: (l) => err.push(l) }), 1);
});

test('the three reports combine into one mitigation.json for the report page', () => {
  const all = combineReports(reports);
  assert.equal(all.method, 'all');
  assert.ok(all.filter && all.pruning && all.unlearning && all.baseline);
  assert.equal(all.after, undefined);
  checkMitigationJson('combined', JSON.parse(JSON.stringify(all)));
});

test('a one-backdoor model: no per-backdoor list anywhere, its single-trigger fields as they were', () => {
  const fields = ['cleanAccuracy', 'asrReal', 'asrReversed', 'asrReversedByLabel'];
  for (const r of reports) {
    assert.doesNotMatch(JSON.stringify(r), /ByBackdoor|"backdoors"/, r.method);
    assert.deepEqual(Object.keys(r.before!), fields);
    assert.deepEqual(Object.keys(r.after!), fields);
    assert.ok(!r.notes.some((n) => /backdoor\(s\)/.test(n)), r.notes.join('\n'));
  }
  // The written model records the real trigger's ASR after, as before.
  const unlearned = reports.find((r) => r.method === 'unlearn')!;
  const meta = readMetadata(unlearned.output!.model!);
  assert.equal(meta.attackSuccessRate, unlearned.after!.asrReal);
  assert.equal(meta.attackSuccessRates, undefined);
});

test('a scan of another model is refused, naming both', async () => {
  const other = scratchDir('mitigation-other-scan');
  writeFakeScan(other, '/somewhere/else', { flagged: [TARGET], trigger: exactReversed(), sha256: 'f'.repeat(64) });
  await assert.rejects(
    mitigateModel({ model: modelDir, scan: other, method: 'unlearn', data }),
    (e: unknown) => e instanceof PoisonguardError && /is of another model/.test(e.message) && e.message.includes('/somewhere/else'),
  );
  const err: string[] = [];
  assert.equal(await main(['mitigate', '--model', modelDir, '--scan', other, '--method', 'prune'], { ...quiet, err: (l) => err.push(l) }), 2);
  assert.match(err.join('\n'), /another model/);
});

test('a scan that flags nothing: nothing to mitigate (exit 0), unless --label names one', async () => {
  const clean = scratchDir('mitigation-clean-scan');
  writeFakeScan(clean, modelDir, { flagged: [], trigger: exactReversed() });
  const lines: string[] = [];
  assert.equal(await main(['mitigate', '--model', modelDir, '--scan', clean, '--method', 'unlearn'], { ...quiet, out: (l) => lines.push(l) }), 0);
  assert.match(lines.join('\n'), /nothing to mitigate/);
  const r = await mitigateModel({ model: modelDir, scan: clean, method: 'filter', data, label: TARGET, defenseImages: 300 });
  assert.equal(r.nothingToMitigate, false);
  assert.equal(r.targetLabel, TARGET);
  assert.match(r.labelReason, /NOT flagged/);
});

test('malformed scans, a flagged label without a reversed trigger and images of the wrong size are clear errors', async () => {
  const empty = scratchDir('mitigation-empty-scan');
  await assert.rejects(mitigateModel({ model: modelDir, scan: empty, method: 'prune', data }), (e: unknown) => e instanceof PoisonguardError && e.code === 'not-found' && /scan\.json/.test(e.message));
  const wrong = scratchDir('mitigation-wrong-scan');
  writeFileSync(join(wrong, 'scan.json'), JSON.stringify({ kind: 'certify' }));
  await assert.rejects(mitigateModel({ model: modelDir, scan: wrong, method: 'prune', data }), /not a scan of 'poisonguard scan'/);
  const missing = scratchDir('mitigation-missing-label');
  writeFakeScan(missing, modelDir, { flagged: [TARGET], trigger: exactReversed(), labels: [0, 2] });
  await assert.rejects(mitigateModel({ model: modelDir, scan: missing, method: 'prune', data }), /one of the scanned labels \(0, 2\)/);
  const big = join(scratchDir('mitigation-big-input'), 'big.png');
  const png = new PNG({ width: SIZE + 1, height: SIZE });
  writeFileSync(big, PNG.sync.write(png));
  const err: string[] = [];
  const filterFile = join(scratchDir('mitigation-filter-file'), 'filter.json');
  await mitigateModel({ model: modelDir, scan: scanDir, method: 'filter', data, defenseImages: 200, out: join(filterFile, '..') });
  assert.equal(await main(['filter', '--model', modelDir, '--filter', filterFile, '--input', big], { ...quiet, err: (l) => err.push(l) }), 1);
  assert.match(err.join('\n'), /expected shape 8x8 pixels/);
});

test('a model without a dense second-to-last layer is a clear error', async () => {
  const dir = join(scratchDir('mitigation-conv'), 'model');
  await makeTinyBackdooredModel(dir); // conv – flatten – dense(5)
  const scan = scratchDir('mitigation-conv-scan');
  writeFakeScan(scan, dir, { flagged: [TARGET], trigger: exactReversed() });
  await assert.rejects(
    mitigateModel({ model: dir, scan, method: 'prune', data }),
    (e: unknown) => e instanceof PoisonguardError && /no dense second-to-last layer/.test(e.message),
  );
});
