import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitSphereSlabDefense } from '../../src/certify/defense.js';
import { dense, toCsr } from '../../src/data/matrix.js';
import { toSparseVector } from '../../src/data/vector.js';
import { projectCertifyRun, projectionBasis, projectPoint, projectRows } from '../../src/report/projection.js';
import { syntheticProjection } from './fixtures.js';

/**
 * Eight points in 3-D whose covariance is diagonal by construction:
 *   class +1: (1, ±3, 0), (1, 0, ±1)      class −1: (−1, ±3, 0), (−1, 0, ±1)
 * Mean 0; μ₊ = (1, 0, 0), μ₋ = (−1, 0, 0), so v = (μ₋ − μ₊)/‖·‖ = (−1, 0, 0).
 * Variances: along e1 8·1/8 = 1, along e2 4·9/8 = 4.5, along e3 4·1/8 = 0.5; total 6.
 * The top principal direction orthogonal to v is e2 (sign: largest component positive).
 */
function handMade() {
  const rows = [
    [1, 3, 0], [1, -3, 0], [1, 0, 1], [1, 0, -1],
    [-1, 3, 0], [-1, -3, 0], [-1, 0, 1], [-1, 0, -1],
  ];
  const X = dense(8, 3, Float64Array.from(rows.flat()));
  const y = Int8Array.from([1, 1, 1, 1, -1, -1, -1, -1]);
  return { X, y };
}

test('the second axis is the top principal direction orthogonal to v (hand-derived)', () => {
  const { X, y } = handMade();
  const defense = fitSphereSlabDefense(X, y);
  assert.deepEqual(Array.from(defense.v), [-1, 0, 0]);
  const b = projectionBasis(X, defense, { seed: 3 });
  assert.ok(b.converged);
  // Power iteration shrinks the e3 part by 0.5/4.5 per step and stops at a 1e-7 change.
  assert.ok(Math.abs(b.u[0]) < 1e-9 && Math.abs(b.u[1] - 1) < 1e-9 && Math.abs(b.u[2]) < 1e-6, `u = ${Array.from(b.u)}`);
  assert.ok(Math.abs(b.variance.v - 1) < 1e-12);
  assert.ok(Math.abs(b.variance.u - 4.5) < 1e-9);
  assert.ok(Math.abs(b.variance.total - 6) < 1e-12);
  // (1, 3, 0) → (v·x, u·x) = (−1, 3).
  const p = projectRows(X, b);
  assert.deepEqual([p.x[0], p.y[0]], [-1, 3]);
});

test('dense and CSR features give the same projection; sparse and dense points too', () => {
  const { X, y } = handMade();
  const defense = fitSphereSlabDefense(X, y);
  const bd = projectionBasis(X, defense, { seed: 1 });
  const bs = projectionBasis(toCsr(X), defense, { seed: 1 });
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(bd.u[j] - bs.u[j]) < 1e-12);
  const pt = Float64Array.from([0.5, -2, 0.25]);
  const [a1, b1] = projectPoint(pt, bd);
  const [a2, b2] = projectPoint(toSparseVector(pt), bd);
  assert.ok(Math.abs(a1 - a2) < 1e-12 && Math.abs(b1 - b2) < 1e-12);
});

test('attack points on the slab edge land on the projected slab edge; samples keep their sizes', () => {
  const p = syntheticProjection(2);
  for (const c of p.classes) {
    assert.ok(c.sphereRadius > c.slabRadius);
    assert.equal(c.center.length, 2);
  }
  // The synthetic attack points sit at centroid ± s·v: their axis-1 coordinate is the slab edge.
  const atk = p.attacks.find((a) => a.eps === 0.3)!;
  assert.equal(atk.total, 120);
  assert.equal(atk.x.length, 100, 'sampled down to attackSample');
  for (let k = 0; k < atk.x.length; k++) {
    const c = p.classes.find((q) => q.label === atk.label[k])!;
    const edge = c.center[0] + (c.label > 0 ? 1 : -1) * c.slabRadius;
    assert.ok(Math.abs(atk.x[k] - edge) < 1e-3, `attack x ${atk.x[k]} vs slab edge ${edge}`);
    assert.ok(Math.abs(atk.y[k] - c.center[1]) < 1e-3);
  }
  assert.equal(p.clean.x.length, 300);
  assert.equal(p.clean.total, 400);
  assert.ok(p.clean.inF.some((f) => f === 0) && p.clean.inF.some((f) => f === 1));
});

test('projectCertifyRun on CSR data is small and JSON-ready', () => {
  const { X, y } = handMade();
  const defense = fitSphereSlabDefense(X, y);
  const p = projectCertifyRun({ X: toCsr(X), y }, { dataset: 'toy', positive: 'a', negative: 'b' }, defense, [{ eps: 0.5, X: [toSparseVector([1, 0, 0])], y: Int8Array.from([-1]) }]);
  const back = JSON.parse(JSON.stringify(p));
  assert.deepEqual(back.attacks[0].x, [-1]);
  assert.deepEqual(back.attacks[0].y, [0]);
  assert.equal(back.clean.x.length, 8);
});
