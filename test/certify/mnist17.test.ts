import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnist17 } from '../../src/data/mnist17.js';
import { certify } from '../../src/certify/certify.js';

// The real data at a reduced T: the invariants must hold on MNIST-1-7 too. (The full release
// grid, T = 8000, is recorded in docs/RESULTS.md.)
test('MNIST-1-7: attack loss ≤ U*, every candidate in F, U* non-decreasing; clean SVM near the paper', async () => {
  const data = loadMnist17();
  const r = await certify(data, { eps: [0, 0.02, 0.05, 0.1], iterations: 1500, seed: 1, workers: 2 });
  assert.ok(Math.abs(r.clean.trainHinge - 0.03) < 0.006, `clean train hinge ${r.clean.trainHinge}`);
  assert.ok(Math.abs(r.clean.testHinge - 0.035) < 0.007, `clean test hinge ${r.clean.testHinge}`);
  const rows = [...r.rows].sort((a, b) => a.eps - b.eps);
  for (const row of rows) {
    assert.equal(row.candidateInF, row.poisonCount, `ε=${row.eps}: candidate points outside F`);
    assert.ok(row.candidate!.totalTrainLoss <= row.upperBound + 1e-9, `ε=${row.eps}: ${row.candidate!.totalTrainLoss} > ${row.upperBound}`);
  }
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i].upperBound >= rows[i - 1].upperBound - 1e-4);
  // The bound is informative: it grows from the clean loss and the attack comes close to it.
  const last = rows[rows.length - 1];
  assert.ok(last.upperBound > rows[0].upperBound + 0.02);
  assert.ok(last.candidate!.totalTrainLoss > 0.9 * last.upperBound);
  assert.deepEqual(r.checks, { attackBelowBound: true, candidatesInF: true, boundMonotone: true });
});
