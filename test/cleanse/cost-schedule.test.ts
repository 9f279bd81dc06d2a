/** The cost schedule, best-mask rule and early stop, step by step on a scripted run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advanceCostSchedule, initialCostState, type CostScheduleParams } from '../../src/cleanse/cost-schedule.js';
import { resolveReverseRecipe } from '../../src/cleanse/recipe.js';
import { labelsToRetire, resolveFast, shouldEscalate } from '../../src/cleanse/fast.js';

// patience 2 and early-stop patience 3 keep the script short; the logic is the release's.
const P: CostScheduleParams = {
  successThreshold: 0.99,
  patience: 2,
  initCost: 1e-3,
  costMultiplier: 2,
  earlyStop: true,
  earlyStopThreshold: 1,
  earlyStopPatience: 3,
  warmup: true,
  maxSteps: 100,
};

test('scripted run: warm-up, cost init, up ×2, down ÷2^1.5, early stop once both flags are set', () => {
  const s = initialCostState(P);
  assert.equal(s.cost, 0);
  // step 1: failure — no best; warm-up counter stays 0; down = 1
  let d = advanceCostSchedule(s, P, 0.5, 100);
  assert.deepEqual([d.newBest, d.cost, d.stop, s.bestNorm, s.downCount, s.costSetCount], [false, 0, false, Infinity, 1, 0]);
  // step 2: success at 90 — first best; warm-up 1 of 2; up = 1
  d = advanceCostSchedule(s, P, 0.995, 90);
  assert.deepEqual([d.newBest, d.cost, s.bestNorm, s.costSetCount, s.upCount, s.earlyStopBest], [true, 0, 90, 1, 1, 90]);
  // step 3: success at 80 — warm-up done: cost = 1e-3, counters and flags cleared, then up = 1
  d = advanceCostSchedule(s, P, 1, 80);
  assert.deepEqual([d.newBest, d.cost, d.change, s.upCount, s.upFlag, s.downFlag], [true, 1e-3, 'init', 1, false, false]);
  // step 4: success at 70 — up reaches 2: cost ×2
  d = advanceCostSchedule(s, P, 1, 70);
  assert.deepEqual([d.newBest, d.cost, d.change, s.upCount, s.upFlag, s.costSetCount], [true, 2e-3, 'up', 0, true, 0]);
  // step 5: failure — best stays 70, which equals the early-stop best: count 1
  d = advanceCostSchedule(s, P, 0.9, 60);
  assert.deepEqual([d.newBest, d.cost, s.bestNorm, s.earlyStopCount, s.downCount], [false, 2e-3, 70, 1, 1]);
  // step 6: failure — down reaches 2: cost ÷ 2^1.5 = 7.0711e-4; count 2
  d = advanceCostSchedule(s, P, 0.9, 60);
  assert.equal(d.change, 'down');
  assert.ok(Math.abs(d.cost - 2e-3 / 2 ** 1.5) < 1e-15);
  assert.deepEqual([s.earlyStopCount, s.downFlag, d.stop], [2, true, false]);
  // step 7: success but larger (75): no new best; count 3 with both flags → early stop, no cost change
  d = advanceCostSchedule(s, P, 1, 75);
  assert.deepEqual([d.newBest, d.stop, d.reason, s.earlyStopCount, s.bestStep], [false, true, 'early-stop', 3, 4]);
  assert.ok(Math.abs(d.cost - 2e-3 / 2 ** 1.5) < 1e-15);
});

test('no early stop without a cost decrease; a new best resets the early-stop count', () => {
  const s = initialCostState(P);
  for (let i = 0; i < 20; i++) advanceCostSchedule(s, P, 1, 50); // always success, same norm
  assert.equal(s.upFlag, true);
  assert.equal(s.downFlag, false);
  assert.equal(s.stopped, false);
  assert.ok(s.earlyStopCount >= 3);
  advanceCostSchedule(s, P, 1, 40);
  assert.equal(s.earlyStopCount, 0);
});

test('variants: cost from the start (no warm-up) and the max-steps stop', () => {
  const q = { ...P, warmup: false, maxSteps: 3 };
  const s = initialCostState(q);
  assert.equal(s.cost, 1e-3);
  advanceCostSchedule(s, q, 0.1, 10);
  advanceCostSchedule(s, q, 0.1, 10);
  assert.ok(Math.abs(s.cost - 1e-3 / 2 ** 1.5) < 1e-15); // down without any warm-up
  const d = advanceCostSchedule(s, q, 0.1, 10);
  assert.deepEqual([d.stop, d.reason], [true, 'max-steps']);
});

test('the default recipe is the release: 0.1/0.5/0.9, 31×32, 1000 steps, 0.99, 5, 1e-3, ×2, 25', () => {
  const r = resolveReverseRecipe();
  assert.deepEqual(
    [r.learningRate, r.beta1, r.beta2, r.epsilon, r.miniBatches, r.batchSize, r.maxSteps, r.successThreshold, r.patience, r.initCost, r.costMultiplier, r.earlyStopPatience, r.loss, r.norm, r.maskShape, r.warmup],
    [0.1, 0.5, 0.9, 1e-7, 31, 32, 1000, 0.99, 5, 1e-3, 2, 25, 'cross-entropy', 'l1', 'shared', true],
  );
  assert.throws(() => resolveReverseRecipe({ learningRate: -1 }), /Expected learningRate to be a positive number, but got -1/);
  assert.throws(() => resolveReverseRecipe({ loss: 'hinge' as never }), /loss/);
  assert.throws(() => resolveReverseRecipe({ maskShape: 'full', upsample: 2 }), /upsample/);
});

test('fast mode retires only labels above the median with a margin, squeezed and past the minimum steps', () => {
  const f = resolveFast({ minSteps: 30, margin: 0.25 });
  const s = (label: number, norm: number, steps = 40, squeezed = true) => ({ label, norm, steps, squeezed, done: false });
  // 6 labels: keep ⌊6/2⌋ + 1 = 4 smallest (10, 50, 52, 54); pivot 54; retire norms ≥ 67.5
  const standings = [s(0, 10), s(1, 50), s(2, 52), s(3, 54), s(4, 70), s(5, 68, 20)];
  assert.deepEqual(labelsToRetire(standings, f), [4]); // label 5 has too few steps
  assert.deepEqual(labelsToRetire([...standings.slice(0, 5), s(5, 90, 40, false)], f), [4]); // not squeezed yet
  assert.deepEqual(labelsToRetire([s(0, 10), s(1, Infinity), s(2, Infinity), s(3, 54), s(4, 90)], f), []); // pivot unknown (no valid trigger yet)
});

test("fast mode escalates a 'suspicious' verdict, and a clean one within the margin of the flag threshold", () => {
  const f = resolveFast();
  assert.equal(f.escalationMargin, 0.5);
  assert.equal(shouldEscalate('suspicious', [1.0], 2, f), 'suspicious');
  assert.equal(shouldEscalate('clean', [1.78], 2, f), 'near-threshold'); // the clean GTSRB model's fast scan
  assert.equal(shouldEscalate('clean', [1.2, 1.6], 2, f), 'near-threshold'); // the largest over repeats
  assert.equal(shouldEscalate('clean', [1.5], 2, f), null); // not above 2 − 0.5
  assert.equal(shouldEscalate('clean', [1.8], 3, f), null); // far below a raised flag threshold
  assert.equal(shouldEscalate('clean', [0.93], 2, f), null); // the clean MNIST models stay fast
  assert.equal(shouldEscalate('clean', [2.6], 3, f), 'near-threshold'); // a raised flag threshold moves the band
  assert.equal(shouldEscalate('backdoored', [3.5], 2, f), null);
  assert.equal(shouldEscalate('clean', [1.9], 2, resolveFast({ escalationMargin: 0 })), null);
  assert.equal(shouldEscalate('suspicious', [2.5], 2, resolveFast({ escalate: false })), null);
  assert.throws(() => resolveFast({ escalationMargin: -1 }), /escalationMargin.*non-negative/);
});
