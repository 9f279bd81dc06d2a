/**
 * The training-set audits: spectral signature scores against a direct eigen-decomposition (cyclic
 * Jacobi, the slow obvious way), and activation clustering on planted clusters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runClustering, silhouette, twoMeans } from '../../../src/cleanse/detectors/clustering.js';
import { runSpectral, spectralScores } from '../../../src/cleanse/detectors/spectral.js';
import { Random } from '../../../src/random.js';

/** Eigenvalues and eigenvectors (columns of v) of a symmetric matrix by cyclic Jacobi rotations. */
function jacobi(a0: number[][]): { values: number[]; vectors: number[][] } {
  const n = a0.length;
  const a = a0.map((r) => [...r]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((r, i) => r[i]), vectors: v };
}

/** n points of dimension d: a Gaussian cloud, the last `poisoned` shifted by `shift` along a random direction. */
function cloud(n: number, d: number, poisoned: number, shift: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const dir = Array.from({ length: d }, () => rng.normal());
  const norm = Math.hypot(...dir);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = rng.normal() * (1 + j / d) + (i >= n - poisoned ? (shift * dir[j]) / norm : 0);
  return x;
}

test('spectral signature scores equal the squared projections on the top eigenvector of a direct decomposition', () => {
  const n = 60;
  const d = 7;
  const x = cloud(n, d, 6, 4, 1);
  const rows = Array.from({ length: n }, (_, i) => i);
  const { scores, varianceShare } = spectralScores(x, d, rows, 3);
  // The slow way: centre, XᵀX, Jacobi, the eigenvector of the largest eigenvalue.
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, i) => s + x[i * d + j], 0) / n);
  const c = rows.map((i) => Array.from({ length: d }, (_, j) => x[i * d + j] - mean[j]));
  const g = Array.from({ length: d }, (_, a) => Array.from({ length: d }, (_, b) => c.reduce((s, r) => s + r[a] * r[b], 0)));
  const { values, vectors } = jacobi(g);
  const top = values.indexOf(Math.max(...values));
  const v = vectors.map((r) => r[top]);
  c.forEach((r, i) => {
    const expected = r.reduce((s, xj, j) => s + xj * v[j], 0) ** 2;
    assert.ok(Math.abs(scores[i] - expected) <= 1e-7 * Math.max(1, expected), `row ${i}: ${scores[i]} vs ${expected}`);
  });
  assert.ok(Math.abs(varianceShare - values[top] / values.reduce((a, b) => a + b, 0)) < 1e-10);
});

test('spectral signatures: the poisoned label stands out and its shifted samples are the suspects', () => {
  const d = 8;
  const per = 200;
  const K = 6;
  const parts: Float32Array[] = [];
  const labels = new Int32Array(K * per);
  for (let c = 0; c < K; c++) {
    parts.push(cloud(per, d, c === 4 ? 20 : 0, 9, 10 + c));
    labels.fill(c, c * per, (c + 1) * per);
  }
  const x = new Float32Array(K * per * d);
  parts.forEach((p, c) => x.set(p, c * per * d));
  const r = runSpectral(x, d, labels, K, { epsilon: 0.1 });
  assert.deepEqual(r.flagged, [4]);
  assert.equal(r.backdoored, true);
  // 1.5·ε·200 = 30 removed; all 20 shifted samples (rows 4·200 + 180 … 199) are among them.
  const suspects = r.suspects!['4'];
  assert.equal(suspects.length, 30);
  for (let i = 4 * per + 180; i < 5 * per; i++) assert.ok(suspects.includes(i), `sample ${i}`);
  const clean = runSpectral(x.slice(0, 4 * per * d), d, labels.slice(0, 4 * per), 4, { epsilon: 0.1 });
  assert.equal(clean.backdoored, false);
  assert.ok(clean.score < r.score);
});

test('2-means and the silhouette on two planted clusters', () => {
  const rng = new Random(4);
  const m = 80;
  const k = 3;
  const pts = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) pts[i * k + j] = rng.normal() * 0.3 + (i < 20 ? 5 : 0);
  const { assignment } = twoMeans(pts, m, k, 3, rng);
  for (let i = 1; i < m; i++) assert.equal(assignment[i] === assignment[0], i < 20, `point ${i}`);
  const all = Array.from({ length: m }, (_, i) => i);
  const s = silhouette(pts, k, assignment, all);
  assert.ok(s > 0.8, `silhouette ${s}`);
  // A by-hand silhouette: points (0), (1), (10), (11): a = 1, b = 10 or 9 or … → mean of (b − a)/b.
  const line = Float64Array.of(0, 1, 10, 11);
  const expected = [(10.5 - 1) / 10.5, (9.5 - 1) / 9.5, (9.5 - 1) / 9.5, (10.5 - 1) / 10.5].reduce((a, b) => a + b, 0) / 4;
  assert.ok(Math.abs(silhouette(line, 1, Uint8Array.of(0, 0, 1, 1), [0, 1, 2, 3]) - expected) < 1e-12);
});

test('activation clustering flags the label with a planted cluster and names its members', () => {
  const d = 12;
  const per = 150;
  const K = 5;
  const labels = new Int32Array(K * per);
  const x = new Float32Array(K * per * d);
  for (let c = 0; c < K; c++) {
    x.set(cloud(per, d, c === 2 ? 40 : 0, 14, 30 + c), c * per * d);
    labels.fill(c, c * per, (c + 1) * per);
  }
  const r = runClustering(x, d, labels, K, { seed: 1 });
  assert.deepEqual(r.flagged, [2]);
  assert.equal(r.backdoored, true);
  const expected = Array.from({ length: 40 }, (_, i) => 2 * per + per - 40 + i);
  assert.deepEqual(r.suspects!['2'], expected);
  const shares = (r.details as { smallerClusterShare: number[] }).smallerClusterShare;
  assert.ok(Math.abs(shares[2] - 40 / 150) < 1e-12);
});
