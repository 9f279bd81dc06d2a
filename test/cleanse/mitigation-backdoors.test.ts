/**
 * A model recording several backdoors: mitigate measures every one's ASR before and after, with
 * evaluate's stamping (so its figures before are evaluate's), for each method — the filter's FNR
 * per backdoor too; an all-to-all backdoor as evaluate measures it (label y → y + 1); the text
 * output, mitigation.json and the report's section show one column per backdoor. A one-backdoor
 * model lists none of this (its figures: mitigation.test.ts).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mitigateModel, type MitigationReport } from '../../src/cleanse/mitigation/mitigate.js';
import { main } from '../../src/cli/main.js';
import type { ImageSet } from '../../src/data/images.js';
import { initEngine } from '../../src/nn/engine.js';
import { loadModel, readMetadata, saveModel } from '../../src/nn/model-io.js';
import { DEFAULT_PREPROCESSING } from '../../src/nn/preprocess.js';
import { evaluateModel } from '../../src/nn/train.js';
import { describeAttack, type Attack } from '../../src/nn/trigger.js';
import { Random } from '../../src/random.js';
import { buildReport } from '../../src/report/build.js';
import { mitigationSection } from '../../src/report/mitigation-section.js';
import { readRunFolder } from '../../src/report/run-folder.js';
import { writeTinyFolder } from '../certify/aggregation/tiny-images.js';
import { scratchDir } from '../helpers.js';
import { exactReversed, makeTrainedBackdooredDense, metadataFor, plantedTwoModel, syntheticSet, TARGET, TARGET_B, TRIGGER, TRIGGER_B, writeFakeScan } from './mitigation-fixture.js';

const A: Attack = { trigger: TRIGGER, target: TARGET, rate: 0.1 };
const B: Attack = { trigger: TRIGGER_B, target: TARGET_B, rate: 0.1 };
const quiet = { out: () => {}, err: () => {}, interactive: false };
let data: { train: ImageSet; test: ImageSet };

before(async () => {
  await initEngine({ backend: 'wasm' });
  const rng = new Random(21);
  data = { train: syntheticSet(600, rng), test: syntheticSet(300, rng) };
});

/** The planted two-backdoor model (trigger A → 1 on neuron 5, B → 3 on neuron 2) saved with `attacks` as its records, and a scan of it whose reversed trigger of label 1 is A exactly. */
async function plantedWith(name: string, attacks: readonly Attack[]): Promise<{ dir: string; scan: string; evaluated: number[] }> {
  const root = scratchDir(name);
  const dir = join(root, 'model');
  const model = plantedTwoModel();
  const first = attacks[0];
  const target = 'target' in first ? first.target : null;
  await saveModel(model, dir, { ...metadataFor({ cleanAccuracy: 0, asr: null })!, trigger: first.trigger, target, backdoors: attacks });
  const ev = await evaluateModel(model, data.test, { preprocessing: DEFAULT_PREPROCESSING, backdoor: attacks });
  model.dispose();
  const scan = join(root, 'scan');
  writeFakeScan(scan, dir, { flagged: [TARGET], trigger: exactReversed() });
  return { dir, scan, evaluated: ev.attacks!.map((a) => a.attackSuccessRate!) };
}

const noFirstOnly = (r: MitigationReport): void => assert.ok(!r.notes.some((n) => /first's only|not measured/.test(n)), r.notes.join('\n'));

test("pruning and the filter of label 1: backdoor 1's ASR goes, backdoor 2's stays, both measured; before = evaluate's", async () => {
  const { dir, scan, evaluated } = await plantedWith('mitigation-backdoors', [A, B]);
  for (const a of evaluated) assert.ok(a > 0.95, `evaluate: ${evaluated}`);

  const prune = await mitigateModel({ model: dir, scan, method: 'prune', data, defenseImages: 200 });
  assert.deepEqual(prune.backdoors, [
    { target: TARGET, description: describeAttack(A) },
    { target: TARGET_B, description: describeAttack(B) },
  ]);
  assert.deepEqual(prune.before!.asrByBackdoor, evaluated);
  assert.equal(prune.before!.asrReal, evaluated[0]);
  const [pruned1, pruned2] = prune.after!.asrByBackdoor!;
  assert.ok(pruned1 < 0.3 && pruned2 > 0.95, `after pruning: ${prune.after!.asrByBackdoor}`);
  assert.equal(prune.after!.asrReal, pruned1);
  const stop = prune.pruning!.points.find((p) => p.pruned === prune.pruning!.pruned.length)!;
  assert.deepEqual(stop.asrByBackdoor, prune.after!.asrByBackdoor);
  noFirstOnly(prune);

  // One neuron of 8 in the profile: the one trigger A excites.
  const filter = await mitigateModel({ model: dir, scan, method: 'filter', data, defenseImages: 200, topShare: 0.125 });
  const f = filter.filter!;
  assert.deepEqual(filter.before!.asrByBackdoor, evaluated);
  assert.equal(f.fnrByBackdoor![0], f.fnr);
  assert.equal(f.fnrByBackdoor![0], 0);
  assert.equal(f.fnrByBackdoor![1], 1, "trigger B passes the filter of A's profile");
  assert.equal(filter.after!.asrByBackdoor![0], 0);
  // Through the filter backdoor 2 keeps what the filter's false positives leave of it.
  assert.ok(filter.after!.asrByBackdoor![1] > 0.85, `through the filter: ${filter.after!.asrByBackdoor}`);
  // Of the stamped inputs each backdoor sent where it aims before, the share through the filter.
  assert.equal(f.fnrSuccessfulByBackdoor![0], 0);
  assert.ok(Math.abs(f.fnrSuccessfulByBackdoor![1]! - filter.after!.asrByBackdoor![1] / evaluated[1]) < 1e-12);
  noFirstOnly(filter);
});

test('an all-to-all first backdoor is measured as evaluate measures it (y → y + 1); no real-trigger ASR', async () => {
  const allToAll: Attack = { trigger: TRIGGER, mapping: 'all-to-all', rate: 0.1 };
  const { dir, scan, evaluated } = await plantedWith('mitigation-backdoors-a2a', [allToAll, B]);
  const r = await mitigateModel({ model: dir, scan, method: 'filter', data, defenseImages: 200, topShare: 0.125 });
  assert.equal(r.realTrigger, null);
  assert.equal(r.asrShown, 'reversed');
  assert.deepEqual(r.backdoors!.map((b) => b.target), [null, TARGET_B]);
  assert.match(r.backdoors![0].description, /label y\+1 \(all-to-all\)/);
  // The planted model sends A-stamped images to label 1: all-to-all succeeds on label 0's images only.
  assert.deepEqual(r.before!.asrByBackdoor, evaluated);
  assert.ok(evaluated[0] > 0.1 && evaluated[0] < 0.3, `all-to-all: ${evaluated[0]}`);
  assert.equal(r.before!.asrReal, null);
  assert.deepEqual(r.filter!.fnrByBackdoor, [0, 1]);
  assert.ok(r.notes.some((n) => /first backdoor is all-to-all/.test(n)), r.notes.join('\n'));
  noFirstOnly(r);
  const html = mitigationSection({ summary: r, figures: {} });
  assert.match(html, /attack success \(reversed trigger\) [\d.]+%, attack success, backdoor 1 [\d.]+%, attack success, backdoor 2 100\.00%/);
  assert.match(html, /no single target \(all-to-all\)/);
});

test('unlearning label 1 of a trained two-backdoor model: its backdoor goes, the other stays; the written model records both', async () => {
  const root = scratchDir('mitigation-backdoors-trained');
  const dir = join(root, 'model');
  // Its records: B → 3 first, then A → 1.
  const made = await makeTrainedBackdooredDense(dir, true);
  const scan = join(root, 'scan');
  writeFakeScan(scan, dir, { flagged: [TARGET], trigger: exactReversed() });
  const out = join(root, 'unlearned');
  const r = await mitigateModel({ model: dir, scan, method: 'unlearn', data: { train: made.train, test: made.test }, out, unlearnShare: 1, learningRate: 0.005 });
  assert.deepEqual(r.backdoors!.map((b) => b.target), [TARGET_B, TARGET]);
  assert.deepEqual(r.before!.asrByBackdoor, [made.asrB, made.asr]);
  const [b, a] = r.after!.asrByBackdoor!;
  assert.ok(a < 0.2 && b > 0.5, `after unlearning label 1: ${r.after!.asrByBackdoor}`);
  assert.deepEqual(r.unlearning!.after.asrByBackdoor, r.after!.asrByBackdoor);
  const meta = readMetadata(out);
  assert.equal(meta.attackSuccessRate, b);
  assert.deepEqual(meta.attackSuccessRates, [b, a]);
  noFirstOnly(r);
  const { model } = await loadModel(out);
  const ev = await evaluateModel(model, made.test, { preprocessing: DEFAULT_PREPROCESSING, backdoor: meta.backdoors });
  model.dispose();
  assert.deepEqual(ev.attacks!.map((x) => x.attackSuccessRate), [b, a], "evaluate's figures of the written model");
});

test("the text output, mitigation.json and the report's section: one column per backdoor", async () => {
  const { dir, scan } = await plantedWith('mitigation-backdoors-cli', [A, B]);
  const root = scratchDir('mitigation-backdoors-cli-run');
  const images = writeTinyFolder(join(root, 'images'), 300, 200);
  const out = join(root, 'out');
  const lines: string[] = [];
  const args = ['mitigate', '--model', dir, '--scan', scan, '--method', 'filter', '--data-dir', images, '--defense-images', '100', '--top-share', '0.125', '--out', out];
  assert.equal(await main(args, { ...quiet, out: (l) => lines.push(l) }), 0);
  const text = lines.join('\n');
  assert.match(text, new RegExp(`^recorded backdoors: #1 ${escape(describeAttack(A))}; #2 ${escape(describeAttack(B))}$`, 'm'));
  assert.match(text, /^before: clean accuracy [\d.]+%, ASR real triggers #1 100\.00%, #2 100\.00%, ASR reversed trigger 100\.00%$/m);
  assert.match(text, /FNR real triggers #1 0\.00% \(0\.00% of those it succeeded on\), #2 100\.00% \([\d.]+% of those it succeeded on\)/);
  assert.match(text, /^through the filter .*: clean accuracy [\d.]+%, ASR real triggers #1 0\.00%, #2 [\d.]+%, /m);
  assert.doesNotMatch(text, /first's only/);

  const json = JSON.parse(readFileSync(join(out, 'mitigation.json'), 'utf8')) as MitigationReport;
  assert.equal(json.backdoors!.length, 2);
  assert.equal(json.baseline!.asrByBackdoor!.length, 2);
  const html = mitigationSection({ summary: readRunFolder(out, { followScan: false }).mitigation!, figures: {} });
  assert.match(html, /<th>backdoor<\/th><th>trigger and label<\/th>/);
  assert.match(html, /attack success, backdoor 1 100\.00%, attack success, backdoor 2 100\.00%/);
  assert.match(html, /data-key="filter-fnr-1">0\.0%<\/strong> \(backdoor 1\), <strong data-key="filter-fnr-2">100\.0%<\/strong> \(backdoor 2\)/);

  // Pruning's table and unlearning's: a column per backdoor (the real trigger's `asr` is backdoor 1's).
  const pruned: MitigationReport = { ...json, pruning: { points: [{ share: 0, accuracy: 1, asr: 1, asrByBackdoor: [1, 1] }, { share: 0.25, accuracy: 0.9, asr: 0, asrByBackdoor: [0, 1] }] } } as never;
  const withTables = mitigationSection({ summary: { ...pruned, unlearning: { before: json.baseline!, after: { accuracy: 1, asr: 0.5, asrByBackdoor: [0.5, 0.25] } } }, figures: {} });
  assert.match(withTables, /<th>share pruned<\/th><th>clean accuracy<\/th><th>attack success, backdoor 1<\/th><th>attack success, backdoor 2<\/th>/);
  assert.match(withTables, /<td>25\.0%<\/td><td>90\.00%<\/td><td>0\.00%<\/td><td>100\.00%<\/td>/);
  assert.match(withTables, /<td>after<\/td><td>100\.00%<\/td><td>50\.00%<\/td><td>25\.00%<\/td>/);
  // The pruning chart: one ASR line per backdoor.
  const built = await buildReport({ ...readRunFolder(out, { followScan: false }), mitigation: pruned });
  const svg = built.figures.get('mitigation-pruning')!.svg;
  for (const name of ['clean accuracy', 'attack success rate, backdoor 1', 'attack success rate, backdoor 2']) assert.ok(svg.includes(name), name);
  assert.ok(!svg.includes('attack success rate (reversed trigger)'));
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
