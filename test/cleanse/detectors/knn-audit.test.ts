import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runKnnAudit } from '../../../src/cleanse/detectors/knn-audit.js';
import { binomialTail } from '../../../src/cleanse/detectors/strip.js';
import { mixSeeds, Random } from '../../../src/random.js';

/** n points of label `label` around centre (c, c) in 2-D, unit Gaussian noise. */
function blob(rng: Random, n: number, centre: number): number[][] {
  return Array.from({ length: n }, () => [centre + rng.normal(), centre + rng.normal()]);
}
const flat = (rows: number[][]): Float32Array => Float32Array.from(rows.flat());

function reference(rng: Random, perLabel: number, K: number): { x: Float32Array; y: Int32Array } {
  const rows: number[][] = [];
  const y: number[] = [];
  for (let c = 0; c < K; c++) for (const r of blob(rng, perLabel, 10 * c)) rows.push(r), y.push(c);
  return { x: flat(rows), y: Int32Array.from(y) };
}

test('knn audit: a clean training set drawn like the reference is not called; relabelled samples of another label are flagged and named', () => {
  const rng = new Random(3);
  const ref = reference(rng, 400, 3);
  const cleanRows: number[][] = [];
  const cleanY: number[] = [];
  for (let c = 0; c < 3; c++) for (const r of blob(rng, 300, 10 * c)) cleanRows.push(r), cleanY.push(c);
  const clean = runKnnAudit(flat(cleanRows), 2, Int32Array.from(cleanY), ref.x, ref.y, 3, { seed: 1 });
  assert.equal(clean.backdoored, false);
  assert.deepEqual(clean.flagged, []);
  // Label 2 gets 60 images of label 0 (a dirty-label backdoor's target): they lie far from label 2's clean images.
  const poisonedRows = [...cleanRows, ...blob(rng, 60, 0)];
  const poisonedY = [...cleanY, ...Array(60).fill(2)];
  const r = runKnnAudit(flat(poisonedRows), 2, Int32Array.from(poisonedY), ref.x, ref.y, 3, { seed: 1 });
  assert.equal(r.backdoored, true);
  assert.deepEqual(r.flagged, [2]);
  const named = r.suspects!['2'];
  const planted = named.filter((i) => i >= cleanRows.length).length;
  assert.equal(planted, 60, 'every relabelled sample is beyond the clean threshold');
  assert.ok(named.length - planted <= 0.05 * 300, `few clean samples named (${named.length - planted})`);
  assert.ok(r.perLabel[2] > 0.15 && r.perLabel[0] < 0.05);
});

test('knn audit: a little poison in every label (all-to-all) is caught by the pooled test when no label alone is', () => {
  const rng = new Random(5);
  const K = 10;
  const ref = reference(rng, 300, K);
  const rows: number[][] = [];
  const y: number[] = [];
  // 100 clean per label and 5 of the previous label's images (y − 1 → y): 4.8% per label.
  for (let c = 0; c < K; c++) {
    for (const r of blob(rng, 100, 10 * c)) rows.push(r), y.push(c);
    for (const r of blob(rng, 5, 10 * ((c + K - 1) % K))) rows.push(r), y.push(c);
  }
  const r = runKnnAudit(flat(rows), 2, Int32Array.from(y), ref.x, ref.y, K, { seed: 1 });
  const details = r.details as { pValues: number[]; pooled: { over: number; of: number; pValue: number } };
  assert.ok(details.pValues.every((p) => (K + 1) * p > 0.05), 'no label alone is significant');
  assert.ok((K + 1) * details.pooled.pValue < 0.05, 'the pooled test is');
  assert.equal(r.backdoored, true);
  assert.deepEqual(r.flagged, []);
  assert.equal(Object.keys(r.suspects!).length, K, 'pooled call: every label\'s exceedances are suspects');
  // The score is −log10 of (K + 1) times the smallest p-value.
  assert.ok(Math.abs(r.score + Math.log10((K + 1) * Math.min(details.pooled.pValue, ...details.pValues))) < 1e-9);
  assert.equal(details.pooled.pValue, binomialTail(details.pooled.over, details.pooled.of, 0.03));
});

test('knn audit: the threshold is the calibration half\'s conformal quantile of k-th neighbour distances, by hand', () => {
  // One label; reference on a line at 0, 1, 2, …, 399. The seeded split is the audit's own, so the
  // by-hand version redoes it with the same generator.
  const n = 400;
  const ref = Float32Array.from({ length: n }, (_, i) => i);
  const refY = new Int32Array(n);
  const train = Float32Array.from([1000]);
  const r = runKnnAudit(train, 1, new Int32Array(1), ref, refY, 1, { seed: 2, k: 3, quantile: 0.9 });
  const rng = new Random(mixSeeds(2, 0));
  const order = Array.from(rng.sampleWithoutReplacement(n, n));
  const bank = order.slice(0, 200).map((i) => ref[i]);
  const cal = order.slice(200).map((i) => ref[i]);
  const kth = (v: number): number => bank.map((b) => Math.abs(v - b)).sort((a, b) => a - b)[2];
  const d = cal.map(kth).sort((a, b) => a - b);
  const expected = d[Math.ceil(201 * 0.9) - 1];
  const got = (r.details as { thresholds: (number | null)[] }).thresholds[0]!;
  assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
  assert.deepEqual(r.suspects, {}, 'one sample over the threshold out of one: p = 0.03, times 2 tests, is not significant');
});

test('knn audit: a label with too few clean images for the 0.99 quantile is judged at m/(m + 1), its tolerance scaled; the others as before', () => {
  const rng = new Random(9);
  // Label 0: 400 reference images (a 0.99 quantile from 200); label 1: 60 (30 + 30, as GTSRB's smallest signs).
  const rows = [...blob(rng, 400, 0), ...blob(rng, 60, 10)];
  const refY = Int32Array.from([...Array(400).fill(0), ...Array(60).fill(1)]);
  const cleanRows = [...blob(rng, 300, 0), ...blob(rng, 300, 10)];
  const cleanY = [...Array(300).fill(0), ...Array(300).fill(1)];
  const clean = runKnnAudit(flat(cleanRows), 2, Int32Array.from(cleanY), flat(rows), refY, 2, { seed: 1 });
  const details = clean.details as { thresholds: (number | null)[]; lowerQuantiles?: Record<string, { quantile: number; tolerance: number }>; pValues: number[]; pooled: { over: number; of: number; pValue: number } };
  assert.ok(details.thresholds[1] !== null, 'the small label is judged');
  assert.deepEqual(details.lowerQuantiles, { '1': { quantile: 30 / 31, tolerance: (0.03 * (1 - 30 / 31)) / (1 - 0.99) } });
  // Its p-value is the binomial tail at its scaled tolerance; the pooled test's rate is the count-weighted mean.
  const over1 = Math.round(clean.perLabel[1] * 300);
  assert.equal(details.pValues[1], binomialTail(over1, 300, details.lowerQuantiles!['1'].tolerance));
  assert.equal(details.pooled.pValue, binomialTail(details.pooled.over, 600, (0.03 + details.lowerQuantiles!['1'].tolerance) / 2));
  assert.equal(clean.backdoored, false, `clean: no call (${clean.perLabel})`);
  // The same small label with 40 of label 0's images relabelled to it is flagged.
  const poisoned = runKnnAudit(flat([...cleanRows, ...blob(rng, 40, 0)]), 2, Int32Array.from([...cleanY, ...Array(40).fill(1)]), flat(rows), refY, 2, { seed: 1 });
  assert.deepEqual(poisoned.flagged, [1]);
  // A label of 400 keeps the asked quantile: its threshold is the one an audit without the small label computes.
  const alone = runKnnAudit(flat(cleanRows.slice(0, 300)), 2, new Int32Array(300), flat(rows.slice(0, 400)), new Int32Array(400), 1, { seed: 1 });
  assert.equal(details.thresholds[0], (alone.details as { thresholds: number[] }).thresholds[0]);
});
