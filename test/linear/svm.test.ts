import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dense, toCsr } from '../../src/data/matrix.js';
import { Random } from '../../src/random.js';
import { dualObjective, primalObjective, trainNormMatchedSvm, trainSvm } from '../../src/linear/svm.js';
import { hingeAndError, hingeLossGradSum } from '../../src/linear/hinge.js';

function toyData(n: number, d: number, seed: number, noise = 0.6) {
  const r = new Random(seed);
  const X = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2 === 0 ? 1 : -1;
    for (let j = 0; j < d; j++) X[i * d + j] = (j === 0 ? 0.8 * y[i] : 0) + 0.3 + noise * r.normal();
  }
  return { X: dense(n, d, X), y };
}

/** The slow, obvious solver: subgradient descent on the primal with a decaying step, best iterate kept. */
function subgradientSolve(X: ReturnType<typeof toyData>['X'], y: Int8Array, lambda: number, steps: number): number {
  const d = X.cols;
  const w = new Float64Array(d);
  let b = 0;
  let best = Infinity;
  const g = new Float64Array(d);
  for (let t = 1; t <= steps; t++) {
    const { gradB } = hingeLossGradSum(X, y, w, b, g);
    const obj = primalObjective(X, y, w, b, lambda);
    if (obj < best) best = obj;
    const step = 1 / (lambda * t);
    for (let j = 0; j < d; j++) w[j] -= step * (lambda * w[j] + g[j] / X.rows);
    b -= step * (lambda * b + gradB / X.rows);
  }
  return best;
}

test('dual coordinate descent reaches the optimum: zero duality gap, and no slower solver beats it', () => {
  for (const [seed, lambda] of [[1, 0.1], [2, 0.01], [3, 1]] as const) {
    const { X, y } = toyData(40, 3, seed);
    const r = trainSvm(X, y, { weightDecay: lambda, tol: 1e-10, maxIter: 100000 });
    assert.ok(r.converged);
    const gap = r.objective - dualObjective(r);
    assert.ok(gap >= -1e-12 && gap < 1e-7, `duality gap ${gap}`);
    const slow = subgradientSolve(X, y, lambda, 100000);
    assert.ok(slow >= r.objective - 1e-9, `subgradient ${slow} < dual CD ${r.objective}`);
    assert.ok(slow - r.objective < 2e-3 * Math.max(1, r.objective), `subgradient ${slow} far from ${r.objective}`);
  }
});

test('dense and CSR inputs give the same SVM', () => {
  const { X, y } = toyData(60, 5, 4);
  const a = trainSvm(X, y, { weightDecay: 0.05, seed: 3 });
  const b = trainSvm(toCsr(X), y, { weightDecay: 0.05, seed: 3 });
  for (let j = 0; j < 5; j++) assert.ok(Math.abs(a.w[j] - b.w[j]) < 1e-12);
  assert.ok(Math.abs(a.b - b.b) < 1e-12);
});

test('the norm-matched search lands ‖w‖² + b² in [ρ², ρ² + 0.01]', () => {
  const { X, y } = toyData(80, 4, 5, 1.2);
  for (const rho2 of [0.1, 0.3, 1]) {
    const r = trainNormMatchedSvm(X, y, { rho2 });
    assert.ok(r.matched, `ρ²=${rho2}: norm² ${r.norm2}`);
    assert.ok(r.norm2 >= rho2 && r.norm2 <= rho2 + 0.01);
  }
  // Beyond the norm reachable at the smallest weight decay (0.001), the search says so.
  const far = trainNormMatchedSvm(X, y, { rho2: 50 });
  assert.equal(far.matched, false);
  assert.equal(far.weightDecay, 0.001);
});

test('hinge and 0-1 error by hand on a 3-point set', () => {
  const X = dense(3, 2, Float64Array.from([1, 0, 0, 1, -1, -1]));
  const y = Int8Array.from([1, -1, 1]);
  const w = Float64Array.from([2, 0.5]);
  // scores: 2, 0.5, -2.5 ; margins: 2, -0.5, -2.5 ; hinge: 0, 1.5, 3.5 ; errors: 2 of 3
  const r = hingeAndError(X, y, { w, b: 0 });
  assert.ok(Math.abs(r.hinge - 5 / 3) < 1e-12);
  assert.ok(Math.abs(r.error - 2 / 3) < 1e-12);
});

test('a norm-matched fit that runs out of passes continues from where it stopped, and ends at the cold optimum', () => {
  // The MNIST-1-7 case in miniature: the poison is many copies of one point (a flat direction of
  // the dual), and each call may make only a few passes.
  const { X: clean, y: cy } = toyData(60, 3, 7, 1);
  const n = 60 + 40;
  const data = new Float64Array(n * 3);
  data.set((clean as { data: Float64Array }).data);
  const y = new Int8Array(n);
  y.set(cy);
  for (let i = 60; i < n; i++) {
    data.set([-1.5, 2, 0.3], i * 3);
    y[i] = 1;
  }
  const X = dense(n, 3, data);
  const few = trainNormMatchedSvm(X, y, { rho2: 0.3, maxIter: 3 });
  assert.ok(few.converged, `converged after ${few.iterations} passes`);
  assert.ok(few.iterations > 3, `it needed more than one call (${few.iterations} passes)`);
  const cold = trainSvm(X, y, { weightDecay: few.weightDecay, maxIter: 100_000 });
  assert.ok(cold.converged);
  assert.ok(Math.abs(primalObjective(X, y, few.w, few.b, few.weightDecay) - cold.objective) < 1e-9, 'the same optimum');
});
