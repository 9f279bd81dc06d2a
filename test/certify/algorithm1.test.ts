import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dense, toCsr, type DenseMatrix } from '../../src/data/matrix.js';
import { Random } from '../../src/random.js';
import { fitSphereSlabDefense, inFeasibleSet, type SphereSlabDefense } from '../../src/certify/defense.js';
import { pointVector, worstPoint } from '../../src/certify/maximizer.js';
import { runAlgorithm1 } from '../../src/certify/algorithm1.js';
import { certify } from '../../src/certify/certify.js';
import type { BinaryDataset } from '../../src/data/binary.js';

function blobs(n: number, d: number, seed: number): { X: DenseMatrix; y: Int8Array } {
  const r = new Random(seed);
  const X = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = r.next() < 0.5 ? 1 : -1;
    for (let j = 0; j < d; j++) X[i * d + j] = (j < 2 ? 0.6 * y[i] : 0) + 0.5 * r.normal();
  }
  return { X: dense(n, d, X), y };
}

/** Algorithm 1 written the obvious way: materialized points, full loops, no algebraic shortcuts. */
function slowAlgorithm1(X: DenseMatrix, y: Int8Array, def: SphereSlabDefense, eps: number, rho2: number, eta: number, T: number) {
  const n = X.rows;
  const d = X.cols;
  const theta = new Float64Array(d + 1);
  const z = new Float64Array(d + 1);
  let lambda = 1 / eta;
  let best = Infinity;
  const us: number[] = [];
  for (let t = 1; t <= T; t++) {
    const w = theta.subarray(0, d);
    const b = theta[d];
    let L = 0;
    const g = new Float64Array(d + 1);
    for (let i = 0; i < n; i++) {
      let s = b;
      for (let j = 0; j < d; j++) s += X.data[i * d + j] * w[j];
      if (1 - y[i] * s > 0) {
        L += 1 - y[i] * s;
        for (let j = 0; j < d; j++) g[j] -= (y[i] * X.data[i * d + j]) / n;
        g[d] -= y[i] / n;
      }
    }
    const p = worstPoint(def, Float64Array.from(w), b);
    const x = pointVector(def, p, Float64Array.from(w));
    const U = L / n + eps * p.loss;
    us.push(U);
    best = Math.min(best, U);
    if (p.loss > 0) {
      for (let j = 0; j < d; j++) g[j] -= eps * p.y * x[j];
      g[d] -= eps * p.y;
    }
    let zn = 0;
    for (let j = 0; j <= d; j++) {
      z[j] -= g[j];
      zn += z[j] * z[j];
    }
    lambda = Math.max(lambda, Math.sqrt(zn) / Math.sqrt(rho2));
    for (let j = 0; j <= d; j++) theta[j] = z[j] / lambda;
  }
  return { best, us };
}

/** U(θ) by hand: mean clean hinge plus ε times the worst loss over F at θ. */
function uOf(data: { X: DenseMatrix; y: Int8Array }, def: SphereSlabDefense, w: Float64Array, b: number, eps: number): number {
  const d = data.X.cols;
  let hinge = 0;
  for (let i = 0; i < data.X.rows; i++) {
    let m = b;
    for (let j = 0; j < d; j++) m += w[j] * data.X.data[i * d + j];
    hinge += Math.max(0, 1 - data.y[i] * m);
  }
  return hinge / data.X.rows + eps * worstPoint(def, w, b).loss;
}

test('Algorithm 1 equals its slow, obvious version (dense and CSR)', () => {
  const { X, y } = blobs(120, 5, 3);
  const def = fitSphereSlabDefense(X, y);
  for (const eps of [0, 0.05, 0.3]) {
    const slow = slowAlgorithm1(X, y, def, eps, 0.8, 0.1, 150);
    for (const M of [X, toCsr(X)]) {
      const fast = runAlgorithm1(M, y, def, { eps, rho2: 0.8, eta: 0.1, iterations: 150, mode: 'release', seed: 1 });
      // Float sums in another order; the iterates agree to rounding, amplified a little by the
      // switches of the active set.
      assert.ok(Math.abs(fast.upperBound - slow.best) < 1e-8, `ε=${eps} ${M.kind}: ${fast.upperBound} vs ${slow.best}`);
      for (let t = 0; t < 150; t++) {
        const u = fast.cleanLoss[t] + eps * fast.worstLoss[t];
        assert.ok(Math.abs(u - slow.us[t]) < 1e-8, `ε=${eps} iteration ${t + 1}`);
      }
    }
  }
});

test('release mode samples round(εn) iterates without replacement; paper mode uses T = εn', () => {
  const { X, y } = blobs(200, 4, 4);
  const def = fitSphereSlabDefense(X, y);
  const rel = runAlgorithm1(X, y, def, { eps: 0.1, rho2: 1, eta: 0.1, iterations: 300, mode: 'release', seed: 9 });
  assert.equal(rel.attack.X.length, 20);
  assert.equal(new Set(rel.attack.iterations).size, 20);
  const pap = runAlgorithm1(X, y, def, { eps: 0.1, rho2: 1, eta: 0.1, iterations: 300, mode: 'paper', seed: 9 });
  assert.equal(pap.iterations, 20);
  assert.equal(pap.attack.X.length, 20);
  assert.throws(() => runAlgorithm1(X, y, def, { eps: 0.5, rho2: 1, eta: 0.1, iterations: 50, mode: 'release', seed: 9 }), /at least round\(eps \* n\) = 100/);
  assert.throws(() => runAlgorithm1(X, y, def, { eps: 1, rho2: 1, eta: 0.1, iterations: 50, mode: 'release', seed: 9 }), /Expected eps to be in \[0, 1\)/);
});

test('invariants on synthetic data: attack loss ≤ U*, points in F, U* non-decreasing in ε', async () => {
  const tr = blobs(400, 6, 5);
  const te = blobs(200, 6, 6);
  const data: BinaryDataset = {
    name: 'blobs',
    source: 'test',
    positive: '+',
    negative: '-',
    features: 'gaussian',
    train: { X: tr.X, y: tr.y },
    test: { X: te.X, y: te.y },
  };
  for (const mode of ['release', 'paper'] as const) {
    const r = await certify(data, { eps: [0.01, 0.03, 0.05, 0.1, 0.2, 0.3], iterations: 400, rho2: 1, eta: 0.1, mode, workers: 0, seed: 2 });
    assert.ok(r.checks.candidatesInF, `${mode}: candidate points outside F`);
    const rows = [...r.rows].sort((a, b) => a.eps - b.eps);
    for (const row of rows) {
      assert.ok(row.candidate, 'candidate evaluated');
      assert.ok(row.candidate.totalTrainLoss <= row.upperBound + 1e-9, `${mode} ε=${row.eps}: attack ${row.candidate.totalTrainLoss} > U* ${row.upperBound}`);
      assert.ok(row.upperBoundEnvelope <= row.upperBound + 1e-12);
      assert.ok(row.candidate.totalTrainLoss <= row.upperBoundEnvelope + 1e-9);
    }
    for (let i = 1; i < rows.length; i++) {
      assert.ok(rows[i].upperBoundEnvelope >= rows[i - 1].upperBoundEnvelope - 1e-12, `${mode}: envelope decreases at ε=${rows[i].eps}`);
      // Per-run U* is monotone only when every run has the same T (release mode); in paper mode
      // T = εn, and a small ε gets few iterations and a loose bound — the envelope fixes that.
      if (mode === 'release') assert.ok(rows[i].upperBound >= rows[i - 1].upperBound - 1e-4, `${mode}: U* decreases at ε=${rows[i].eps}`);
    }
  }
});

test('every candidate point of a run lies in F', () => {
  const { X, y } = blobs(300, 5, 8);
  const def = fitSphereSlabDefense(X, y, { spherePercentile: 60, slabPercentile: 30 });
  const r = runAlgorithm1(X, y, def, { eps: 0.2, rho2: 2, eta: 0.05, iterations: 200, mode: 'release', seed: 3 });
  for (let k = 0; k < r.attack.X.length; k++) assert.ok(inFeasibleSet(def, r.attack.X[k], r.attack.y[k]), `point ${k}`);
});

test('a run started at the clean SVM: its first U is that model\'s, U* never above it, and the sandwich holds', async () => {
  const tr = blobs(300, 5, 8);
  const te = blobs(150, 5, 9);
  const data: BinaryDataset = { name: 'blobs', source: 'test', positive: '+', negative: '-', features: 'gaussian', train: { X: tr.X, y: tr.y }, test: { X: te.X, y: te.y } };
  const def = fitSphereSlabDefense(tr.X, tr.y);
  const theta = { w: Float64Array.from([0.3, -0.2, 0.1, 0.05, 0.4]), b: 0.1 };
  const eps = 0.05;
  const uByHand = (w: Float64Array, b: number): number => uOf(tr, def, w, b, eps);
  const firstU = (r: ReturnType<typeof runAlgorithm1>): number => r.cleanLoss[0] + eps * r.worstLoss[0];
  const run = runAlgorithm1(tr.X, tr.y, def, { eps, rho2: 1, eta: 0.1, iterations: 50, mode: 'release', seed: 1, start: theta });
  const u0 = uByHand(theta.w, theta.b);
  assert.ok(Math.abs(firstU(run) - u0) < 1e-9, `first U ${firstU(run)} vs ${u0}`);
  assert.ok(run.upperBound <= u0 + 1e-12);
  // A start outside Θ (‖θ₀‖ ≈ 0.55 > ρ = 0.1) is scaled onto its boundary.
  const small = runAlgorithm1(tr.X, tr.y, def, { eps, rho2: 0.01, eta: 0.1, iterations: 20, mode: 'release', seed: 1, start: theta });
  const norm = Math.hypot(...theta.w, theta.b);
  const scaled = uByHand(theta.w.map((v) => (v * 0.1) / norm), (theta.b * 0.1) / norm);
  assert.ok(Math.abs(firstU(small) - scaled) < 1e-9, `first U ${firstU(small)} vs θ₀ scaled into Θ ${scaled}`);
  // Through certify: the recipe records it, and attack loss ≤ U* still holds.
  const r = await certify(data, { eps: [0, 0.05, 0.1], iterations: 300, rho2: 1, eta: 0.1, workers: 0, seed: 3, start: 'clean' });
  assert.equal(r.recipe.start, 'clean');
  assert.match(r.recipe.name, /started at the clean SVM/);
  const zeroRow = r.rows.find((x) => x.eps === 0)!;
  // The clean SVM's norm may sit up to 0.01 above ρ² (the norm-matching band); scaled into Θ its loss grows a hair.
  assert.ok(zeroRow.upperBound <= 1.01 * r.clean.trainHinge, `U*(0) ${zeroRow.upperBound} vs the clean SVM's train hinge ${r.clean.trainHinge}`);
  for (const row of r.rows) assert.ok(row.candidate!.totalTrainLoss <= row.upperBound + 1e-9, `ε=${row.eps}`);
});

test('a bound candidate enters the minimum without changing the iterates or the attack; certify adds the clean SVM by default', async () => {
  const tr = blobs(300, 5, 11);
  const te = blobs(150, 5, 12);
  const def = fitSphereSlabDefense(tr.X, tr.y);
  const uByHand = (w: Float64Array, b: number, eps: number): number => uOf(tr, def, w, b, eps);
  // A good θ (along the class direction) and a far one outside Θ (ρ = 1), scaled onto its boundary.
  const good = { w: Float64Array.from([0.7, 0.7, 0, 0, 0]), b: 0 };
  const far = { w: Float64Array.from([3, 0, 0, 0, 4]), b: 0 };
  for (const eps of [0, 0.05]) {
    const opts = { eps, rho2: 1, eta: 0.001, iterations: 30, mode: 'release' as const, seed: 4 };
    const plain = runAlgorithm1(tr.X, tr.y, def, opts);
    const withCand = runAlgorithm1(tr.X, tr.y, def, { ...opts, boundCandidates: [far, good] });
    assert.deepEqual(withCand.cleanLoss.subarray(0, 30), plain.cleanLoss);
    assert.deepEqual(withCand.attack.iterations, plain.attack.iterations);
    assert.deepEqual(withCand.attack.X, plain.attack.X);
    const uGood = uByHand(good.w, good.b, eps);
    const uFar = uByHand(far.w.map((v) => v / 5), 0, eps);
    assert.ok(Math.abs(withCand.cleanLoss[31] + eps * withCand.worstLoss[31] - uGood) < 1e-9);
    assert.ok(Math.abs(withCand.cleanLoss[30] + eps * withCand.worstLoss[30] - uFar) < 1e-9, 'the far θ is scaled into Θ');
    const expected = Math.min(plain.upperBound, uGood, uFar);
    assert.ok(Math.abs(withCand.upperBound - expected) < 1e-12, `ε=${eps}: ${withCand.upperBound} vs ${expected}`);
    // 30 steps of η = 0.001 from 0 stay far from the good θ: the candidate gives the bound.
    assert.ok(uGood < plain.upperBound, `ε=${eps}: the candidate should beat 30 short steps`);
    assert.equal(withCand.bestCandidate, 1);
    assert.equal(withCand.bestIteration, 0);
  }
  const data: BinaryDataset = { name: 'blobs', source: 'test', positive: '+', negative: '-', features: 'gaussian', train: { X: tr.X, y: tr.y }, test: { X: te.X, y: te.y } };
  const opts = { eps: [0, 0.05], iterations: 30, rho2: 1, eta: 0.01, workers: 0, seed: 3 };
  const byDefault = await certify(data, opts);
  const paper = await certify(data, { ...opts, bound: 'iterates' });
  assert.equal(byDefault.recipe.bound, 'iterates+clean');
  assert.match(paper.recipe.name, /U\* over the iterates only/);
  for (const eps of [0, 0.05]) {
    const a = byDefault.rows.find((r) => r.eps === eps)!;
    const b = paper.rows.find((r) => r.eps === eps)!;
    assert.ok(a.upperBound <= b.upperBound + 1e-12);
    assert.equal(b.upperBoundFrom, 'iterate');
    assert.ok(a.candidate!.totalTrainLoss <= a.upperBound + 1e-9, `ε=${eps}: the sandwich`);
  }
  // At ε = 0 with tiny steps the clean SVM is the better θ: U*(0) is its training hinge (scaled into Θ).
  const zero = byDefault.rows.find((r) => r.eps === 0)!;
  assert.equal(zero.upperBoundFrom, 'clean SVM');
  assert.ok(zero.upperBound <= 1.01 * byDefault.clean.trainHinge);
  await assert.rejects(certify(data, { ...opts, bound: 'all' as never }), /bound/);
});
