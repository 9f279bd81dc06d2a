/** U* read on the aggregation axes: ε·n poison points, accuracy 1 − U*, never below 0. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundAsAccuracy } from '../../../src/certify/aggregation/bound-view.js';

test('boundAsAccuracy: round(εn) points and 1 − U*, clipped at 0 for a vacuous bound', () => {
  const out = boundAsAccuracy([{ eps: 0, upperBound: 0.0288 }, { eps: 0.05, upperBound: 0.0629 }, { eps: 0.03, upperBound: 1.7 }], 13007);
  assert.deepEqual(out.map((p) => p.points), [0, 650, 390]);
  assert.ok(Math.abs(out[0].accuracy - 0.9712) < 1e-12 && Math.abs(out[1].accuracy - 0.9371) < 1e-12);
  assert.equal(out[2].accuracy, 0);
});
