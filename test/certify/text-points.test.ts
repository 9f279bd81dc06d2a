import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dense, toCsr } from '../../src/data/matrix.js';
import { Random } from '../../src/random.js';
import { fitSphereSlabDefense, inFeasibleSet, type SphereSlabDefense } from '../../src/certify/defense.js';
import { clipAndRound, featureBox, integerWorstPointOfClass, type FeatureBox } from '../../src/certify/text-points.js';
import { projectOntoClass } from '../../src/certify/projection.js';
import { percentile } from '../../src/certify/percentile.js';

function countData(n: number, d: number, seed: number) {
  const r = new Random(seed);
  const X = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2 === 0 ? 1 : -1;
    for (let j = 0; j < d; j++) X[i * d + j] = Math.floor(r.next() * (y[i] > 0 && j === 0 ? 4 : 2.5));
  }
  return { X: dense(n, d, X), y };
}

function exhaustive(def: SphereSlabDefense, box: FeatureBox, w: Float64Array, b: number, y: number): number | undefined {
  const xmax = y > 0 ? box.positive : box.negative;
  const d = w.length;
  let best: number | undefined;
  const x = new Float64Array(d);
  const rec = (j: number): void => {
    if (j === d) {
      if (!inFeasibleSet(def, x, y, 1e-12)) return;
      let s = b;
      for (let k = 0; k < d; k++) s += w[k] * x[k];
      const loss = Math.max(0, 1 - y * s);
      if (best === undefined || loss > best) best = loss;
      return;
    }
    for (let v = 0; v <= xmax[j]; v++) {
      x[j] = v;
      rec(j + 1);
    }
    x[j] = 0;
  };
  rec(0);
  return best;
}

test('the integer maximizer: always feasible, never above the exhaustive optimum, and usually equal to it', () => {
  const r = new Random(3);
  let exact = 0;
  let total = 0;
  let gapSum = 0;
  for (let trial = 0; trial < 60; trial++) {
    const d = 3 + (trial % 2);
    const { X, y } = countData(40, d, 50 + trial);
    const def = fitSphereSlabDefense(X, y, { spherePercentile: 60 + 30 * r.next(), slabPercentile: 30 + 60 * r.next() });
    const box = featureBox(X, y);
    const w = Float64Array.from({ length: d }, () => r.normal());
    const b = r.normal() * 0.3;
    for (const cls of [1, -1]) {
      const opt = exhaustive(def, box, w, b, cls);
      const got = integerWorstPointOfClass(def, box, w, b, cls);
      if (opt === undefined) {
        assert.equal(got, undefined, 'no feasible integer point exists, none may be returned');
        continue;
      }
      if (!got) continue; // a miss is allowed, an infeasible or over-optimal answer is not
      const xmax = cls > 0 ? box.positive : box.negative;
      for (let j = 0; j < d; j++) {
        assert.ok(Number.isInteger(got.x[j]) && got.x[j] >= 0 && got.x[j] <= xmax[j], `integer, inside the box: ${Array.from(got.x)} vs ${Array.from(xmax)}`);
      }
      assert.ok(inFeasibleSet(def, got.x, cls, 1e-9), 'inside F');
      assert.ok(got.loss <= opt + 1e-9, `heuristic ${got.loss} above the optimum ${opt}`);
      total++;
      if (got.loss >= opt - 1e-9) exact++;
      gapSum += opt - got.loss;
    }
  }
  assert.ok(total > 60, `enough comparable instances (${total})`);
  assert.ok(exact / total >= 0.8, `optimal on ${exact}/${total}`);
  assert.ok(gapSum / total < 0.05, `mean gap ${gapSum / total}`);
});

test('feature box: the 99.5th percentile per class and feature, dense and CSR alike', () => {
  const { X, y } = countData(201, 4, 9);
  const a = featureBox(X, y);
  const b = featureBox(toCsr(X), y);
  for (let j = 0; j < 4; j++) {
    const col: number[] = [];
    for (let i = 0; i < 201; i++) if (y[i] === 1) col.push(X.data[i * 4 + j]);
    assert.ok(Math.abs(a.positive[j] - percentile(col, 99.5)) < 1e-12);
    assert.ok(Math.abs(a.positive[j] - b.positive[j]) < 1e-12);
    assert.ok(Math.abs(a.negative[j] - b.negative[j]) < 1e-12);
  }
});

test('randomized rounding: non-negative integers with the right expectation', () => {
  const r = new Random(1);
  const x = Float64Array.from([-0.7, 0.25, 1.5, 3]);
  const sums = [0, 0, 0, 0];
  const N = 20000;
  for (let k = 0; k < N; k++) {
    const v = clipAndRound(x, r);
    for (let t = 0; t < v.indices.length; t++) {
      assert.ok(Number.isInteger(v.values[t]) && v.values[t] > 0);
      sums[v.indices[t]] += v.values[t];
    }
  }
  assert.equal(sums[0], 0);
  assert.ok(Math.abs(sums[1] / N - 0.25) < 0.01);
  assert.ok(Math.abs(sums[2] / N - 1.5) < 0.01);
  assert.equal(sums[3] / N, 3);
});

test('projection onto F_y: inside F, idempotent, and no sampled point of F is closer', () => {
  const r = new Random(2);
  for (let trial = 0; trial < 20; trial++) {
    const { X, y } = countData(60, 3, 200 + trial);
    const def = fitSphereSlabDefense(X, y, { spherePercentile: 70, slabPercentile: 20 + 60 * r.next() });
    const x = Float64Array.from({ length: 3 }, () => 3 * r.normal());
    const cls = trial % 2 === 0 ? 1 : -1;
    const p = projectOntoClass(def, x, cls);
    assert.ok(inFeasibleSet(def, p, cls, 1e-9));
    const again = projectOntoClass(def, p, cls);
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(again[j] - p[j]) < 1e-9);
    const dist = Math.hypot(...Array.from(p, (v, j) => v - x[j]));
    const ball = cls > 0 ? def.positive : def.negative;
    for (let k = 0; k < 3000; k++) {
      const z = Float64Array.from({ length: 3 }, (_, j) => ball.centroid[j] + ball.sphereRadius * (2 * r.next() - 1));
      if (!inFeasibleSet(def, z, cls)) continue;
      assert.ok(Math.hypot(...Array.from(z, (v, j) => v - x[j])) >= dist - 1e-9);
    }
  }
});

test('gradient attack: starts from flipped copies, never ends below its start, keeps every point in F', async () => {
  const { gradientAttack } = await import('../../src/certify/gradient-attack.js');
  const { Random: R } = await import('../../src/random.js');
  const r = new R(4);
  const n = 200;
  const d = 5;
  const X = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2 === 0 ? 1 : -1;
    for (let j = 0; j < d; j++) X[i * d + j] = (j === 0 ? y[i] : 0) + 0.6 * r.normal();
  }
  const train = { X: dense(n, d, X), y };
  const def = fitSphereSlabDefense(train.X, y);
  const g = gradientAttack(train, def, { eps: 0.1, svm: { rho2: 1 }, rng: new R(1), maxRounds: 8 });
  assert.equal(g.X.length, 20);
  assert.equal(g.y.filter((v) => v === 1).length, 10);
  assert.ok(g.cleanLoss >= g.history[0], 'the best round is at least the start');
  assert.equal(g.cleanLoss, Math.max(...g.history));
  for (let k = 0; k < g.X.length; k++) assert.ok(inFeasibleSet(def, g.X[k], g.y[k]), `point ${k} in F`);
});

test('rounded text attack: points outside F are counted and dropped; candidate-unfiltered keeps them all', async () => {
  const { certify } = await import('../../src/certify/certify.js');
  const train = countData(120, 6, 5);
  const test = countData(60, 6, 6);
  const data = { name: 'tiny-counts', source: 'test', positive: 'a', negative: 'b', features: 'counts', train: { X: toCsr(train.X), y: train.y }, test: { X: toCsr(test.X), y: test.y } };
  const report = await certify(data, {
    eps: [0.1],
    iterations: 150,
    pointKind: 'rounded',
    attacks: ['candidate', 'candidate-unfiltered'],
    workers: 0,
    seed: 2,
  });
  assert.match(report.recipe.name, /with rounded attack points/, 'a variant of the recipe says so');
  assert.deepEqual(report.recipe.shrunkenPercentiles, { sphere: 10, slab: 65 });
  const row = report.rows[0];
  assert.equal(row.candidateInF + row.candidateRemoved, Math.round(0.1 * 120), 'every rounded point is either in F or counted as removed');
  assert.ok(row.candidate && row.candidateUnfiltered);
  assert.equal(row.candidate!.poisonCount, row.candidateInF);
  assert.equal(row.candidateUnfiltered!.poisonCount, row.candidateInF + row.candidateRemoved);
  assert.ok(row.candidateRemoved > 0 && row.candidateInF > 0, 'this fixture has points on both sides of F');
  assert.notDeepEqual(row.candidateUnfiltered, row.candidate);
});
