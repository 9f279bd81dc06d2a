import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { newSgdState, sgdStep, type SgdSettings } from '../../src/nn/sgd.js';

interface Fixture {
  initial: number[][];
  steps: { lr: number; grads: number[][] }[];
  runs: { settings: SgdSettings; after: number[][][] }[];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/torch-sgd/sgd_steps.json', import.meta.url), 'utf8')) as Fixture;

test("SGD follows torch.optim.SGD step for step (Nesterov, plain momentum, none; weight decay; a rate drop)", () => {
  assert.equal(fixture.runs.length, 3);
  for (const run of fixture.runs) {
    const weights = new Map(fixture.initial.map((w, i) => [`w${i}`, Float32Array.from(w)]));
    const state = newSgdState(weights);
    run.after.forEach((expected, s) => {
      const step = fixture.steps[s];
      sgdStep(weights, new Map(step.grads.map((g, i) => [`w${i}`, Float32Array.from(g)])), state, step.lr, run.settings);
      expected.forEach((want, i) => {
        const got = weights.get(`w${i}`)!;
        for (let j = 0; j < want.length; j++) assert.ok(Math.abs(got[j] - want[j]) <= 1e-6 * (1 + Math.abs(want[j])), `${JSON.stringify(run.settings)} step ${s} w${i}[${j}]: ${got[j]} vs torch ${want[j]}`);
      });
    });
    assert.equal(state.step, run.after.length);
  }
});

test('SGD by hand: one Nesterov step from zero buffers is w − lr·(1 + μ)·(g + λw)', () => {
  const w = new Map([['a', Float32Array.of(2, -1)]]);
  sgdStep(w, new Map([['a', Float32Array.of(0.5, 0.25)]]), newSgdState(w), 0.1, { momentum: 0.9, nesterov: true, weightDecay: 0.01 });
  const expect = [2 - 0.1 * 1.9 * (0.5 + 0.02), -1 - 0.1 * 1.9 * (0.25 - 0.01)];
  assert.ok(Math.abs(w.get('a')![0] - expect[0]) < 1e-6 && Math.abs(w.get('a')![1] - expect[1]) < 1e-6, `${w.get('a')} vs ${expect}`);
  assert.throws(() => sgdStep(w, new Map([['b', Float32Array.of(1)]]), newSgdState(w), 0.1, { momentum: 0, nesterov: false, weightDecay: 0 }), /SGD: weight 'b' has no state/);
});
