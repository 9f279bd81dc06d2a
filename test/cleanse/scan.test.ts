/**
 * The scan end to end on a tiny backdoored model trained here (8x8 images, 5 labels, a 2x2 white
 * square → label 1): the target is flagged, the tensor count stays flat, an interrupted scan
 * resumes to the same result, a checkpoint of other options is refused, a missing model is a
 * clear error, and fast mode reaches the same verdict.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { scanModel, type ScanProgress } from '../../src/cleanse/scan.js';
import { runLabelSteps, createLabelState } from '../../src/cleanse/reverse.js';
import { resolveReverseRecipe } from '../../src/cleanse/recipe.js';
import { main } from '../../src/cli/main.js';
import { PoisonguardError } from '../../src/errors.js';
import type { ImageSet } from '../../src/data/images.js';
import { initEngine } from '../../src/nn/engine.js';
import { loadModel } from '../../src/nn/model-io.js';
import { DEFAULT_PREPROCESSING } from '../../src/nn/preprocess.js';
import { scratchDir } from '../helpers.js';
import { CLASSES, makeTinyBackdooredModel, TARGET, TINY_RECIPE } from './fixture.js';

let modelDir: string;
let test8: ImageSet;
const base = () => ({ model: modelDir, clean: test8, workers: 0, ...TINY_RECIPE });

before(async () => {
  await initEngine({ backend: 'wasm' });
  modelDir = join(scratchDir('cleanse-model'), 'tiny');
  const made = await makeTinyBackdooredModel(modelDir);
  test8 = made.test;
  assert.ok(made.asr > 0.95, `the fixture's backdoor works (ASR ${made.asr})`);
  assert.ok(made.accuracy > 0.9, `the fixture's model is accurate (${made.accuracy})`);
});

let fullNorms: number[] = [];

test('a scan flags the backdoor target, writes its files, and leaves the tensor count flat', async () => {
  const out = scratchDir('cleanse-scan');
  const before = tf.memory().numTensors;
  const report = await scanModel({ ...base(), out });
  assert.equal(tf.memory().numTensors, before, 'every tensor of the scan is disposed');
  const run = report.runs[0];
  fullNorms = run.labels.map((l) => l.norm);
  assert.equal(run.outliers.minLabel, TARGET);
  assert.ok(run.outliers.flagged.includes(TARGET));
  assert.ok(run.outliers.anomalyIndex > 3, `anomaly index ${run.outliers.anomalyIndex}`);
  assert.equal(report.verdict.status, 'backdoored');
  assert.deepEqual(report.verdict.labels, [TARGET]);
  const target = run.labels.find((l) => l.label === TARGET)!;
  assert.ok(target.reachedThreshold);
  assert.ok(target.overlap && target.overlap.jaccardTopK >= 0.5, `reversed mask on the real trigger (${JSON.stringify(target.overlap)})`);
  const files = readdirSync(join(out, 'seed-0'));
  for (let l = 0; l < CLASSES; l++) {
    for (const suffix of ['.json', '-mask.png', '-pattern.png', '-fusion.png']) assert.ok(files.includes(`label-0${l}${suffix}`), `label-0${l}${suffix}`);
  }
  assert.ok(existsSync(join(out, 'scan.json')));
  assert.equal(files.filter((f) => f.endsWith('.state.json')).length, 0);
});

test('an interrupted scan resumes where it stopped and ends with the same norms', async () => {
  const out = scratchDir('cleanse-resume');
  const controller = new AbortController();
  await assert.rejects(
    scanModel({
      ...base(),
      out,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.kind === 'label-done') controller.abort(); // stop after the first label
      },
    }),
    (e: unknown) => e instanceof PoisonguardError && e.code === 'interrupted' && /resume/.test(e.message),
  );
  const files = readdirSync(join(out, 'seed-0'));
  const finished = files.filter((f) => /^label-\d+\.json$/.test(f));
  assert.equal(finished.length, 1);
  const events: ScanProgress[] = [];
  const report = await scanModel({ ...base(), out, onProgress: (p) => p.kind !== 'step' && events.push(p) });
  assert.equal(events.filter((e) => e.kind === 'skipped').length, 1, 'the finished label is not run again');
  assert.deepEqual(
    report.runs[0].labels.map((l) => l.norm),
    fullNorms,
    'resumed results equal those of an uninterrupted scan',
  );
  // The same folder with other options is refused, naming the difference.
  await assert.rejects(scanModel({ ...base(), out, maxSteps: 50 }), (e: unknown) => e instanceof PoisonguardError && /different model or recipe/.test(e.message) && /maxSteps/.test(e.message));
});

test('fast mode reaches the same verdict, and no label runs past its budget', async () => {
  const report = await scanModel({ ...base(), fast: { chunk: 5, minSteps: 10, budget: 12 } });
  assert.equal(report.verdict.status, 'backdoored');
  assert.deepEqual(report.verdict.labels, [TARGET]);
  for (const l of report.runs[0].labels) assert.ok(l.steps <= 12, `label ${l.label}: ${l.steps} steps`);
  assert.equal(report.recipe.maxSteps, 12, "the budget is the recipe's step limit");
  assert.ok(report.runs[0].labels.some((l) => l.stopReason === 'max-steps'), 'the budget stopped a label');
});

test("fast mode escalates a 'suspicious' answer: the budget-stopped labels continue exactly as the full recipe, and resume after an interruption", async () => {
  // A decision threshold no index reaches makes the fast verdict 'suspicious' (the target is flagged).
  const fast = { chunk: 5, minSteps: 10, budget: 12 };
  const opts = { ...base(), fast, decisionThreshold: 1000 };
  const kept = await scanModel({ ...opts, fast: { ...fast, escalate: false } });
  assert.equal(kept.verdict.status, 'suspicious');
  assert.equal(kept.escalation, null);
  const stopped = kept.runs[0].labels.filter((l) => l.stopReason === 'max-steps').map((l) => l.label);
  assert.ok(stopped.length > 0, 'the budget stopped some label');

  const out = scratchDir('cleanse-escalate');
  const controller = new AbortController();
  let escalated = false;
  await assert.rejects(
    scanModel({
      ...opts,
      out,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.kind === 'escalate') escalated = true;
        else if (escalated && p.kind === 'label-done') controller.abort(); // interrupt the escalation after one label
      },
    }),
    (e: unknown) => e instanceof PoisonguardError && e.code === 'interrupted',
  );
  assert.ok(escalated && existsSync(join(out, 'escalation.json')));
  const report = await scanModel({ ...opts, out });
  const esc = report.escalation!;
  assert.equal(esc.fastVerdict.status, 'suspicious');
  assert.deepEqual(esc.labels.map((l) => l.label).sort(), [...stopped].sort(), 'exactly the budget-stopped labels continue');
  assert.deepEqual(esc.missing, []);
  assert.equal(esc.fastRuns[0].anomalyIndex, kept.runs[0].outliers.anomalyIndex);
  for (const l of report.runs[0].labels) {
    if (stopped.includes(l.label)) {
      assert.ok(l.steps > fast.budget, `label ${l.label} continued past the budget (${l.steps} steps)`);
      assert.equal(l.norm, fullNorms[l.label], `label ${l.label}: the full recipe's norm`);
    } else {
      assert.equal(l.norm, kept.runs[0].labels[l.label].norm, `label ${l.label} keeps its fast result`);
    }
  }
  assert.equal(report.verdict.status, 'suspicious');
  assert.equal(readdirSync(join(out, 'seed-0')).filter((f) => f.endsWith('.state.json')).length, 0, 'no state is left once every label is done');
  // The finished folder run again: the same escalation record, nothing continued, no escalate event.
  const kinds: string[] = [];
  const again = await scanModel({ ...opts, out, onProgress: (p) => kinds.push(p.kind) });
  assert.deepEqual(again.escalation, esc);
  assert.ok(!kinds.includes('escalate') && !kinds.includes('step'), kinds.join(','));
  assert.deepEqual(again.runs[0].labels.map((l) => l.norm), report.runs[0].labels.map((l) => l.norm));
  // A plain fast scan keeps the budget-stopped labels' states for a later escalation, which the
  // same folder can then take (escalating or not is not part of the folder's recipe).
  const plain = scratchDir('cleanse-fast-plain');
  await scanModel({ ...opts, fast: { ...fast, escalate: false }, out: plain });
  assert.equal(readdirSync(join(plain, 'seed-0')).filter((f) => f.endsWith('.state.json')).length, stopped.length);
  const later = await scanModel({ ...opts, out: plain });
  assert.deepEqual(later.runs[0].labels.map((l) => l.norm), report.runs[0].labels.map((l) => l.norm));
});

test('worker threads give the same result as this thread', async () => {
  const labels = [0, 1, 2];
  const recipe = { ...TINY_RECIPE, maxSteps: 6 };
  const inline = await scanModel({ ...base(), ...recipe, labels });
  const threaded = await scanModel({ ...base(), ...recipe, labels, workers: 2 });
  assert.deepEqual(
    threaded.runs[0].labels.map((l) => l.norm),
    inline.runs[0].labels.map((l) => l.norm),
  );
});

test('the variants run: swapped loss, L2 norm, full-shape mask, super-pixels, no warm-up', async () => {
  const { model } = await loadModel(modelDir);
  const before = tf.memory().numTensors;
  for (const variant of [{ loss: 'release-swapped' }, { norm: 'l2' }, { maskShape: 'full' }, { upsample: 2 }, { warmup: false }] as const) {
    const recipe = resolveReverseRecipe({ ...TINY_RECIPE, ...variant, maxSteps: 3 });
    const state = createLabelState(TARGET, 1, recipe, 8, 8, 1);
    await runLabelSteps({ model, data: { images: test8.images, count: test8.count, height: 8, width: 8, channels: 1 }, preprocessing: DEFAULT_PREPROCESSING, recipe, numClasses: CLASSES }, state, 3);
    assert.equal(state.schedule.step, 3, JSON.stringify(variant));
    assert.ok(state.history.every((h) => Number.isFinite(h.loss) && Number.isFinite(h.norm)));
  }
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('the ONNX engine follows the TensorFlow.js trajectory within float32 rounding, for every loss variant', async () => {
  const { model } = await loadModel(modelDir);
  const { createInputGradientModel } = await import('../../src/nn/onnx-gradient.js');
  const before = tf.memory().numTensors;
  for (const variant of [{}, { loss: 'release-swapped' }, { upsample: 3, norm: 'l2' }, { maskShape: 'full' }] as const) {
    const recipe = resolveReverseRecipe({ ...TINY_RECIPE, ...variant, maxSteps: 4 });
    const onnx = await createInputGradientModel(model, recipe.loss);
    assert.ok(!('unavailable' in onnx), 'onnxruntime-node is installed with the project');
    const ctx = { model, data: { images: test8.images, count: test8.count, height: 8, width: 8, channels: 1 }, preprocessing: DEFAULT_PREPROCESSING, recipe, numClasses: CLASSES };
    const a = createLabelState(TARGET, 3, recipe, 8, 8, 1);
    const b = createLabelState(TARGET, 3, recipe, 8, 8, 1);
    await runLabelSteps(ctx, a, 4);
    await runLabelSteps({ ...ctx, gradient: onnx }, b, 4);
    await onnx.dispose();
    a.history.forEach((h, i) => {
      const o = b.history[i];
      for (const key of ['loss', 'norm', 'accuracy', 'cost'] as const) {
        assert.ok(Math.abs(h[key] - o[key]) <= 1e-3 * Math.max(1, Math.abs(h[key])), `${JSON.stringify(variant)} step ${i + 1} ${key}: tfjs ${h[key]}, onnx ${o[key]}`);
      }
    });
    let worst = 0;
    a.wPattern.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b.wPattern[i]))));
    a.wMask.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b.wMask[i]))));
    assert.ok(worst < 1e-3, `${JSON.stringify(variant)}: parameters differ by ${worst}`);
  }
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('the scan records which engine ran the model; --engine tfjs is honoured, an unknown engine is refused', async () => {
  const labels = [0, TARGET, 2];
  const auto = await scanModel({ ...base(), labels });
  assert.equal(auto.modelEngine.engine, 'onnx');
  const tfjs = await scanModel({ ...base(), labels, engine: 'tfjs' });
  assert.deepEqual(tfjs.modelEngine, { engine: 'tfjs', reason: 'asked for' });
  auto.runs[0].labels.forEach((l, i) => {
    const y = tfjs.runs[0].labels[i].norm;
    assert.ok(Math.abs(l.norm - y) <= 0.05 * y, `label ${l.label}'s norm on both engines: onnx ${l.norm}, tfjs ${y}`);
  });
  await assert.rejects(scanModel({ ...base(), labels, engine: 'gpu' as never }), (e: unknown) => e instanceof PoisonguardError && e.code === 'unknown-name' && /auto, onnx, tfjs/.test(e.message));
});

test('a missing model folder is a clear error (library and CLI)', async () => {
  const missing = join(scratchDir('cleanse-missing'), 'no-such-model');
  await assert.rejects(scanModel({ model: missing }), (e: unknown) => e instanceof PoisonguardError && e.code === 'not-found' && /model folder/.test(e.message));
  const err: string[] = [];
  const code = await main(['scan', '--model', missing, '--dataset', 'mnist'], { out: () => {}, err: (l) => err.push(l), interactive: false });
  assert.equal(code, 1);
  assert.match(err.join('\n'), /No such model folder/);
  const err2: string[] = [];
  assert.equal(await main(['scan', '--model', modelDir, '--detector', 'iqr'], { out: () => {}, err: (l) => err2.push(l), interactive: false }), 2);
  assert.match(err2.join('\n'), /Known outlier detectors: mad, zscore/);
  const err3: string[] = [];
  assert.equal(await main(['scan', '--model', modelDir, '--no-escalate'], { out: () => {}, err: (l) => err3.push(l), interactive: false }), 2);
  assert.match(err3.join('\n'), /--no-escalate.*with --fast/);
});
