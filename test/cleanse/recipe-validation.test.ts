/**
 * Options are resolved and checked before any model loads: a bad threshold, a contradictory
 * combination or an option the chosen mitigation would ignore is refused at once — these calls
 * name a model folder that does not exist, so any work before the check would fail differently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanModel, resolveScanPlan } from '../../src/cleanse/scan.js';
import { mitigateModel } from '../../src/cleanse/mitigation/mitigate.js';
import { optionsForMethod, resolveMitigationRecipe } from '../../src/cleanse/mitigation/recipe.js';
import { resolveDecisionThreshold, thresholdFromFalsePositiveCost } from '../../src/cleanse/verdict.js';
import { PoisonguardError } from '../../src/errors.js';

const NO_MODEL = '/nonexistent/model-folder';
const optionError = (name: string, text?: RegExp) => (e: unknown) =>
  e instanceof PoisonguardError && e.code === 'invalid-option' && e.message.includes(name) && (text === undefined || text.test(e.message));

test("the scan checks the decision threshold against the caller's flag threshold before loading the model", async () => {
  // 2.2 is above the default flag threshold (2) but below the one given.
  await assert.rejects(scanModel({ model: NO_MODEL, flagThreshold: 2.5, decisionThreshold: 2.2 }), optionError('decisionThreshold', /≥ the flag threshold 2\.5/));
  await assert.rejects(scanModel({ model: NO_MODEL, falsePositiveCost: -1 }), optionError('falsePositiveCost'));
  await assert.rejects(scanModel({ model: NO_MODEL, falsePositiveCost: 19, decisionThreshold: 3 }), optionError('decisionThreshold', /absent when falsePositiveCost/));
  // Valid options get past the plan, to the missing model.
  await assert.rejects(scanModel({ model: NO_MODEL, flagThreshold: 2.5, decisionThreshold: 2.6 }), (e: unknown) => e instanceof PoisonguardError && e.code === 'not-found');
  assert.equal(resolveScanPlan({ model: NO_MODEL, flagThreshold: 2.5, falsePositiveCost: 19 }).verdict.falsePositiveCost, 19);
});

test('the scan checks the labels asked for and the clean set size before loading the model', async () => {
  await assert.rejects(scanModel({ model: NO_MODEL, labels: [0, 1, 1.5] }), optionError('labels', /class indices/));
  await assert.rejects(scanModel({ model: NO_MODEL, labels: [0, 1, -1] }), optionError('labels', /class indices/));
  await assert.rejects(scanModel({ model: NO_MODEL, labels: [0, 1, 1] }), optionError('labels', /distinct/));
  await assert.rejects(scanModel({ model: NO_MODEL, labels: [0, 1] }), optionError('labels', /at least 3 labels/));
  // The clean set's size was checked only after the model and the whole dataset had loaded.
  await assert.rejects(scanModel({ model: NO_MODEL, cleanImages: 0 }), optionError('cleanImages'));
  await assert.rejects(scanModel({ model: NO_MODEL, labels: [0, 1, 2], cleanImages: 500 }), (e: unknown) => e instanceof PoisonguardError && e.code === 'not-found');
  assert.deepEqual(resolveScanPlan({ model: NO_MODEL, labels: [4, 2, 9], cleanImages: 500 }).labels, [4, 2, 9]);
});

test("the verdict's thresholds never fall below the flag threshold given", () => {
  assert.deepEqual(resolveDecisionThreshold({}, 10), { threshold: 3, source: 'default (paper: infected models > 3)' });
  assert.equal(resolveDecisionThreshold({}, 10, 3.5).threshold, 3.5);
  // C = 19 on 10 labels: Φ⁻¹(1 − 0.05/10) = 2.5758 by default; a flag threshold of 2.8 raises it.
  assert.ok(Math.abs(thresholdFromFalsePositiveCost(19, 10) - 2.575829) < 1e-6);
  assert.equal(thresholdFromFalsePositiveCost(19, 10, 2.8), 2.8);
  assert.equal(resolveDecisionThreshold({ falsePositiveCost: 19 }, 10, 2.8).threshold, 2.8);
});

test('a mitigation refuses options its method ignores, before loading anything', async () => {
  const base = { model: NO_MODEL, scan: NO_MODEL };
  await assert.rejects(mitigateModel({ ...base, method: 'unlearn', layer: 'penultimate' }), optionError('layer', /'unlearn' method does not use it/));
  await assert.rejects(mitigateModel({ ...base, method: 'prune', fpr: 0.05 }), optionError('fpr', /'prune' method/));
  await assert.rejects(mitigateModel({ ...base, method: 'unlearn', topShare: 0.1 }), optionError('topShare'));
  await assert.rejects(mitigateModel({ ...base, method: 'filter', epochs: 2 }), optionError('epochs'));
  await assert.rejects(mitigateModel({ ...base, method: 'prune', learningRate: 0.01 }), optionError('learningRate', /without fine-tuning/));
  await assert.rejects(mitigateModel({ ...base, method: 'prune', curveStep: 0 }), optionError('curveStep'));
  await assert.rejects(mitigateModel({ ...base, method: 'filter', fpr: 1.5 }), optionError('fpr'));
  // Valid: on to the missing model.
  await assert.rejects(mitigateModel({ ...base, method: 'prune', fineTuneEpochs: 1, learningRate: 0.01 }), (e: unknown) => e instanceof PoisonguardError && e.code === 'not-found');
});

test('the mitigation recipe records every value, and one set of options splits per method', () => {
  assert.deepEqual(resolveMitigationRecipe({ method: 'filter' }), { method: 'filter', seed: 0, layer: 'penultimate', defenseImages: 2000, fpr: 0.05, topShare: 0.01 });
  assert.deepEqual(resolveMitigationRecipe({ method: 'prune', fineTuneEpochs: 2, batchSize: 64 }), {
    method: 'prune',
    seed: 0,
    layer: 'penultimate',
    defenseImages: 2000,
    asrThreshold: 'baseline',
    maxShare: 0.5,
    curveStep: 0.02,
    fineTuneEpochs: 2,
    fineTune: { share: 0.1, learningRate: 0.001, batchSize: 64 },
  });
  const given = { layer: 'last-conv', fpr: 0.1, learningRate: 0.01, epochs: 2 };
  assert.deepEqual(optionsForMethod(given, 'filter'), { layer: 'last-conv', fpr: 0.1 });
  assert.deepEqual(optionsForMethod(given, 'prune'), { layer: 'last-conv' });
  assert.deepEqual(optionsForMethod(given, 'unlearn'), { learningRate: 0.01, epochs: 2 });
});
