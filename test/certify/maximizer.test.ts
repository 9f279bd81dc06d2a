import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dense } from '../../src/data/matrix.js';
import { Random } from '../../src/random.js';
import { fitSphereSlabDefense, inFeasibleSet } from '../../src/certify/defense.js';
import { pointVector, worstPoint } from '../../src/certify/maximizer.js';
import { percentile } from '../../src/certify/percentile.js';

function randomDefense(seed: number, d: number) {
  const r = new Random(seed);
  const n = 60;
  const X = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i < n / 2 ? 1 : -1;
    for (let j = 0; j < d; j++) X[i * d + j] = y[i] * (j === 0 ? 1 : 0.2) + r.normal() * (0.5 + r.next());
  }
  // A random percentile makes both the slab-active and the sphere-only cases occur.
  return fitSphereSlabDefense(dense(n, d, X), y, { spherePercentile: 50 + 40 * r.next(), slabPercentile: 10 + 80 * r.next() });
}

/** Brute force: the largest hinge loss over many random points of F_y (uniform in the sphere, kept if inside the slab). */
function bruteForce(def: ReturnType<typeof randomDefense>, w: Float64Array, b: number, samples: number, r: Random): number {
  let best = 0;
  const d = w.length;
  const x = new Float64Array(d);
  for (const y of [1, -1]) {
    const ball = y > 0 ? def.positive : def.negative;
    for (let s = 0; s < samples; s++) {
      let nrm = 0;
      for (let j = 0; j < d; j++) {
        x[j] = r.normal();
        nrm += x[j] * x[j];
      }
      // Half the samples on the sphere's surface, where the maximum lies.
      const rad = ball.sphereRadius * (s % 2 === 0 ? 1 : Math.pow(r.next(), 1 / d));
      for (let j = 0; j < d; j++) x[j] = ball.centroid[j] + (x[j] / Math.sqrt(nrm)) * rad;
      if (!inFeasibleSet(def, x, y)) continue;
      let score = b;
      for (let j = 0; j < d; j++) score += w[j] * x[j];
      best = Math.max(best, 1 - y * score);
    }
  }
  return best;
}

test('the closed-form worst point lies in F, and no sampled point of F has a larger loss', () => {
  const r = new Random(11);
  for (let trial = 0; trial < 30; trial++) {
    const d = 2 + (trial % 2);
    const def = randomDefense(100 + trial, d);
    const w = Float64Array.from({ length: d }, () => r.normal());
    const b = r.normal() * 0.5;
    const p = worstPoint(def, w, b);
    const x = pointVector(def, p, w);
    assert.ok(inFeasibleSet(def, x, p.y, 1e-9), `trial ${trial}: worst point outside F`);
    let score = b;
    for (let j = 0; j < d; j++) score += w[j] * x[j];
    assert.ok(Math.abs(Math.max(0, 1 - p.y * score) - p.loss) < 1e-9, 'reported loss equals the loss of the point');
    const brute = bruteForce(def, w, b, 40000, r);
    assert.ok(brute <= p.loss + 1e-9, `trial ${trial}: brute force ${brute} beats closed form ${p.loss}`);
    assert.ok(p.loss - brute < 0.03 * Math.max(1, p.loss), `trial ${trial}: closed form ${p.loss} far above brute ${brute}`);
  }
});

test('degenerate directions: w = 0 gives the centroid; w parallel to v uses min(r, s) along v', () => {
  const def = randomDefense(5, 3);
  const p0 = worstPoint(def, new Float64Array(3), 0.25);
  assert.equal(p0.loss, 1.25); // class −1: 1 − (−1)(0.25)
  assert.equal(p0.y, -1);
  const w = Float64Array.from(def.v, (x) => 2 * x);
  const p = worstPoint(def, w, 0);
  const x = pointVector(def, p, w);
  assert.ok(inFeasibleSet(def, x, p.y, 1e-9));
  const ball = p.y > 0 ? def.positive : def.negative;
  let proj = 0;
  for (let j = 0; j < 3; j++) proj += def.v[j] * (x[j] - ball.centroid[j]);
  assert.ok(Math.abs(Math.abs(proj) - Math.min(ball.sphereRadius, ball.slabRadius)) < 1e-9);
});

test('percentile matches numpy linear interpolation by hand', () => {
  // numpy.percentile([1, 2, 3, 4], 70) = 1 + 0.7 * 3 = 3.1
  assert.ok(Math.abs(percentile([4, 1, 3, 2], 70) - 3.1) < 1e-12);
  assert.equal(percentile([5], 30), 5);
  assert.equal(percentile([1, 9], 100), 9);
});
