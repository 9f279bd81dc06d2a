/**
 * The certificates on hand-made vote counts against the releases' own formulas, and checked by
 * brute force on a tiny problem: every way of deleting and inserting up to `radius` samples leaves
 * the vote where it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certifiedAccuracy, dpaRadius, faRadius, medianCertifiedRadius, voteCounts, voteWinner, type CertifiedPoint } from '../../../src/certify/aggregation/vote.js';
import { partitionTrainingSet, type SampleSource } from '../../../src/certify/aggregation/partition.js';
import type { AggregationMethod } from '../../../src/certify/aggregation/recipe.js';

/**
 * DPA's release (certify.py): a stable sort of the counts, descending; the first is the prediction,
 * the second the runner-up; radius = int((top − second − [idx_second <= idx_top]) / 2).
 */
function releaseDpaRadius(counts: number[]): { prediction: number; radius: number } {
  const order = counts.map((_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  const [top, second] = order;
  return { prediction: top, radius: Math.trunc((counts[top] - counts[second] - (second <= top ? 1 : 0)) / 2) };
}

test('DPA radius on hand-made counts: ties, the smaller label winning, k odd and even, against the release', () => {
  // [counts, prediction, radius], worked out by hand from ⌊(n_c − max_{c'≠c}(n_c' + 1[c' < c]))/2⌋.
  const cases: [number[], number, number][] = [
    [[5, 5], 0, 0], // k = 10, a tie: label 0 wins, and one poison point flips it
    [[4, 6], 1, 0], // 6 − (4 + 1) = 1
    [[3, 7], 1, 1], // 7 − (3 + 1) = 3
    [[7, 3], 0, 2], // 7 − 3 = 4
    [[4, 3], 0, 0], // k = 7: 4 − 3 = 1
    [[6, 1], 0, 2], // 6 − 1 = 5
    [[0, 7], 1, 3], // 7 − (0 + 1) = 6
    [[2, 4, 4], 1, 0], // a tie between 1 and 2: 1 wins; gap to 2 is 0
    [[1, 3, 3], 1, 0],
    [[3, 0, 4, 3], 2, 0], // 4 − (3 + 1) = 0 through class 0, which beats class 3 at equal counts
    [[0, 0, 10], 2, 4], // 10 − (0 + 1) = 9
    [[0, 0, 0, 9, 0], 3, 4],
    [[600, 0, 0, 0, 0, 0, 0, 0, 0, 600], 0, 0], // k = 1 200
    [[100, 0, 0, 0, 0, 0, 0, 1100, 0, 0], 7, 499], // 1100 − (100 + 1) = 999
  ];
  for (const [counts, prediction, radius] of cases) {
    assert.equal(voteWinner(counts), prediction, `prediction of ${counts}`);
    assert.equal(dpaRadius(counts), radius, `radius of ${counts}`);
    assert.deepEqual(releaseDpaRadius(counts), { prediction, radius }, `the release agrees on ${counts}`);
  }
});

test('DPA radius equals the release formula on random vote counts (k odd and even, 2 to 43 classes)', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let trial = 0; trial < 3000; trial++) {
    const classes = 2 + rand(42);
    const k = 2 + rand(60);
    // Concentrated votes so that ties and near-ties are common.
    const favoured = [rand(classes), rand(classes), rand(classes)];
    const predictions = Array.from({ length: k }, () => (rand(4) === 0 ? rand(classes) : favoured[rand(3)]));
    const counts = [...voteCounts(predictions, classes)];
    assert.deepEqual({ prediction: voteWinner(counts), radius: dpaRadius(counts) }, releaseDpaRadius(counts), `counts ${counts}`);
  }
});

/**
 * FA's release (FiniteAggregation_cerfity.py), written out as it loops: for each other class, the
 * buckets' effects sorted descending, subtracted while the difference stays ≥ 0.
 */
function releaseFaRadius(preds: number[], classes: number, shifts: number[]): number {
  const m = preds.length;
  const counts = [...voteCounts(preds, classes)];
  const y = releaseDpaRadius(counts).prediction;
  let cert = m;
  for (let c = 0; c < classes; c++) {
    if (c === y) continue;
    let diff = counts[y] - counts[c] - (c < y ? 1 : 0);
    const deltas = Array.from({ length: m }, (_, h) => shifts.reduce((s, sh) => s + 1 + (preds[(h + sh) % m] === y ? 1 : 0) - (preds[(h + sh) % m] === c ? 1 : 0), 0)).sort((a, b) => b - a);
    let r = 0;
    while (r < m && diff - deltas[r] >= 0) diff -= deltas[r++];
    cert = Math.min(cert, r);
  }
  return cert;
}

test('FA radius: d = 1 is DPA, and it equals the release loop on random predictions', () => {
  let seed = 777;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  for (let trial = 0; trial < 400; trial++) {
    const classes = 2 + rand(9);
    const k = 2 + rand(30);
    const d = 1 + rand(5);
    const m = k * d;
    const shifts = [...new Set(Array.from({ length: 4 * d }, () => rand(m)))].slice(0, d);
    if (shifts.length < d) continue;
    const favoured = [rand(classes), rand(classes)];
    const preds = Array.from({ length: m }, () => (rand(3) === 0 ? rand(classes) : favoured[rand(2)]));
    assert.equal(faRadius(preds, classes, { subsets: m, shifts }), releaseFaRadius(preds, classes, shifts), `preds ${preds} shifts ${shifts}`);
    if (d === 1) assert.equal(faRadius(preds, classes, { subsets: m, shifts: [shifts[0]] }), dpaRadius(voteCounts(preds, classes)));
  }
  // A hand-made case: k = 2, d = 2, 4 subsets voting [0, 0, 0, 1], shifts [0, 1]: bucket h feeds subsets h and h + 1.
  // Effects on the gap to class 1 (gap = 3 − 1 = 2): h = 0 → 2 + 2 = 4, h = 1 → 2 + 2 = 4, h = 2 → 2 + 0 = 2, h = 3 → 0 + 2 = 2.
  // The greedy takes 4 first: 2 − 4 < 0, so the radius is 0 (one poisoned bucket flips two subsets).
  assert.equal(faRadius([0, 0, 0, 1], 2, { subsets: 4, shifts: [0, 1] }), 0);
  // Six subsets voting 0 and k·d = 6 with shifts [0, 3]: gap 6, every bucket's effect 4: one bucket (6 − 4 = 2 ≥ 0), not two.
  assert.equal(faRadius([0, 0, 0, 0, 0, 0], 2, { subsets: 6, shifts: [0, 3] }), 1);
  assert.equal(dpaRadius([6, 0]), 3, 'DPA with the same 6 votes on disjoint partitions: 3');
});

test('certified accuracy counts correct points whose radius reaches the budget; the median as the DPA paper reports it', () => {
  const p = (prediction: number, label: number, radius: number): CertifiedPoint => ({ votes: [], prediction, label, radius });
  const points = [p(0, 0, 5), p(1, 1, 0), p(1, 0, 9), p(2, 2, 3)];
  assert.deepEqual(certifiedAccuracy(points, [0, 1, 3, 4, 6]), [0.75, 0.5, 0.5, 0.25, 0]);
  // Certs (wrong = −1): [5, 0, −1, 3]: half (2 of 4) are ≥ 3, not ≥ 4.
  assert.equal(medianCertifiedRadius(points), 3);
  assert.equal(medianCertifiedRadius([p(1, 0, 4), p(1, 0, 4), p(0, 0, 4)]), -1);
});

// ---- Brute force: a tiny learner on tiny data, every poisoning of up to `radius` samples tried. ----

interface Sample {
  readonly value: number;
  readonly label: number;
}

function sourceOf(samples: readonly Sample[]): SampleSource {
  return { count: samples.length, bytes: (i) => Uint8Array.of(samples[i].value), label: (i) => samples[i].label };
}

/** The base learner: the label of the nearest training value (ties: the smaller label), label 0 on an empty subset. */
function nearest(samples: readonly Sample[], members: Int32Array, x: number): number {
  let best = -1;
  let bestDist = Infinity;
  for (const i of members) {
    const s = samples[i];
    const dist = Math.abs(s.value - x);
    if (dist < bestDist || (dist === bestDist && s.label < samples[best].label)) {
      best = i;
      bestDist = dist;
    }
  }
  return best < 0 ? 0 : samples[best].label;
}

const CLASSES = 2;

function ensemble(samples: readonly Sample[], method: AggregationMethod, k: number, d: number, x: number): { preds: number[]; shifts: readonly number[] } {
  const plan = partitionTrainingSet(sourceOf(samples), { method, partitions: k, ...(method === 'fa' ? { spread: d } : {}), hash: 'pixel-sum' });
  return { preds: plan.subsets.map((m) => nearest(samples, m, x)), shifts: plan.shifts };
}

function certify(samples: readonly Sample[], method: AggregationMethod, k: number, d: number, x: number): { prediction: number; radius: number } {
  const { preds, shifts } = ensemble(samples, method, k, d, x);
  const counts = voteCounts(preds, CLASSES);
  return { prediction: voteWinner(counts), radius: method === 'dpa' ? dpaRadius(counts) : faRadius(preds, CLASSES, { subsets: k * d, shifts }) };
}

function* subsetsOf(n: number, size: number, start = 0): Generator<number[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = start; i <= n - size; i++) for (const rest of subsetsOf(n, size - 1, i + 1)) yield [i, ...rest];
}

function* multisetsOf(universe: readonly Sample[], size: number, start = 0): Generator<Sample[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = start; i < universe.length; i++) for (const rest of multisetsOf(universe, size - 1, i)) yield [universe[i], ...rest];
}

/** Whether some poisoning with exactly `budget` changes (deletions + insertions) flips the prediction. */
function flips(train: readonly Sample[], universe: readonly Sample[], method: AggregationMethod, k: number, d: number, x: number, prediction: number, budget: number): boolean {
  for (let del = 0; del <= budget; del++) {
    for (const gone of subsetsOf(train.length, del)) {
      const kept = train.filter((_, i) => !gone.includes(i));
      for (const added of multisetsOf(universe, budget - del)) {
        if (certify([...kept, ...added], method, k, d, x).prediction !== prediction) return true;
      }
    }
  }
  return false;
}

for (const [method, k, d] of [
  ['dpa', 4, 1],
  ['fa', 2, 2],
] as const) {
  test(`${method.toUpperCase()} certificate by brute force (k = ${k}, d = ${d}): no poisoning within the radius flips a vote; one more can`, () => {
    const values = 8;
    const universe: Sample[] = [];
    for (let v = 0; v < values; v++) for (let l = 0; l < CLASSES; l++) universe.push({ value: v, label: l });
    // Low values are mostly class 0, high values class 1, with one outlier each way.
    const train: Sample[] = [0, 0, 1, 2, 2, 3, 5, 6, 6, 7, 7, 4].map((value, i) => ({ value, label: i === 3 ? 1 : i === 8 ? 0 : value < 4 ? 0 : 1 }));
    let positive = 0;
    let tight = 0;
    for (let x = 0; x < values; x++) {
      const { prediction, radius } = certify(train, method, k, d, x);
      if (radius > 0) positive++;
      for (let budget = 1; budget <= radius; budget++) assert.equal(flips(train, universe, method, k, d, x, prediction, budget), false, `x = ${x}: ${budget} changes flipped a prediction certified for ${radius}`);
      if (radius <= 1 && flips(train, universe, method, k, d, x, prediction, radius + 1)) tight++;
    }
    assert.ok(positive >= 2, `the problem must certify something (${positive} points with a positive radius)`);
    assert.ok(tight >= 1, 'the search finds flips just beyond some radius (it can fail)');
  });
}
