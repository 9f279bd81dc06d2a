import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dense } from '../../src/data/matrix.js';
import { Random } from '../../src/random.js';
import { classCentroids, fitSphereSlabDefense } from '../../src/certify/defense.js';
import { dataDependentAttack, enlargedDefense, runSplitAlgorithm1 } from '../../src/certify/data-dependent.js';
import { certify } from '../../src/certify/certify.js';

function blobs(n: number, d: number, seed: number) {
  const r = new Random(seed);
  const X = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3 === 0 ? -1 : 1;
    for (let j = 0; j < d; j++) X[i * d + j] = (j === 0 ? y[i] : 0) + 0.5 * r.normal();
  }
  return { X: dense(n, d, X), y };
}

test('one poison location at distance r/m from μ sits exactly at distance r from the poisoned centroid', () => {
  const { X, y } = blobs(300, 4, 1);
  const def = fitSphereSlabDefense(X, y);
  const nPos = y.filter((v) => v === 1).length;
  const eps = 0.1;
  const share = 0.7;
  const big = enlargedDefense(def, nPos, 300 - nPos, 300, eps, { positiveShare: share });
  const m = nPos / (nPos + share * eps * 300);
  assert.ok(Math.abs(big.positive.sphereRadius - def.positive.sphereRadius / m) < 1e-12);
  // Put k = share·ε·n copies of one point at distance r/m along a random direction.
  const k = share * eps * 300;
  const dir = Float64Array.from({ length: 4 }, (_, j) => (j === 1 ? 1 : 0));
  const x = Float64Array.from(def.positive.centroid, (c, j) => c + dir[j] * big.positive.sphereRadius);
  const rows = new Float64Array((300 + k) * 4);
  rows.set(X.data);
  for (let c = 0; c < k; c++) rows.set(x, (300 + c) * 4);
  const ys = new Int8Array(300 + k);
  ys.set(y);
  ys.fill(1, 300);
  const mu = classCentroids(dense(300 + k, 4, rows), ys).pos;
  const dist = Math.hypot(...Array.from(x, (v, j) => v - mu[j]));
  assert.ok(Math.abs(dist - def.positive.sphereRadius) < 1e-9, `${dist} vs ${def.positive.sphereRadius}`);
});

test('split runs: round(ε_y·n) points per class; the attack tries the fixed and random splits and keeps the worst', () => {
  const tr = blobs(240, 5, 2);
  const te = blobs(120, 5, 3);
  const def = fitSphereSlabDefense(tr.X, tr.y, { spherePercentile: 65 });
  const run = runSplitAlgorithm1({ X: tr.X, y: tr.y }, def, { eps: 0.1, rho2: 1, eta: 0.1, iterations: 200, seed: 1, split: { positiveShare: 0.25 } });
  assert.equal(run.poison.y.filter((v) => v === 1).length, Math.round(0.025 * 240));
  assert.equal(run.poison.y.filter((v) => v === -1).length, Math.round(0.075 * 240));
  const r = dataDependentAttack({ X: tr.X, y: tr.y }, { X: te.X, y: te.y }, { eps: 0.1, rho2: 1, eta: 0.1, iterations: 200, seed: 4, svm: { rho2: 1 }, randomSplits: 2 });
  assert.equal(r.splits.length, 3);
  assert.equal(r.splits[0].positiveShare, 0.5);
  assert.equal(r.heuristicBound, Math.max(...r.splits.map((s) => s.bound)));
  assert.equal(r.best.metrics.testHinge, Math.max(...r.splits.map((s) => s.metrics.testHinge)));
  for (const s of r.splits) assert.ok(s.metrics.poisonKept <= s.metrics.poisonCount);
});

test('certify with the data-dependent defense labels its number heuristic', async () => {
  const tr = blobs(240, 5, 5);
  const te = blobs(120, 5, 6);
  const data = { name: 'blobs', source: 'test', positive: '+', negative: '-', features: 'g', train: { X: tr.X, y: tr.y }, test: { X: te.X, y: te.y } };
  const rep = await certify(data, { defense: 'data-dependent', eps: [0, 0.05], iterations: 150, rho2: 1, workers: 0 });
  assert.equal(rep.boundKind, 'heuristic');
  assert.equal(rep.recipe.percentile, 65);
  assert.equal(rep.rows.find((x) => x.eps === 0.05)?.splits?.length, 3);
  await assert.rejects(certify(data, { defense: 'data-dependent', mode: 'paper', eps: [0.05], workers: 0 }), /Expected defense to be 'oracle' with --mode paper/);
});
