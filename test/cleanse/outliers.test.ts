/** Outlier tests and the verdict, against values computed by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { madDetector, median, outlierDetector, zscoreDetector, MAD_CONSISTENCY } from '../../src/cleanse/outliers.js';
import { decideVerdict, normalQuantile, thresholdFromFalsePositiveCost } from '../../src/cleanse/verdict.js';
import { PoisonguardError } from '../../src/errors.js';

const close = (a: number, b: number, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${a} ≉ ${b}`);

test('median: middle value for odd counts, mean of the two middle values for even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5); // not the lower median 2
  assert.equal(median([7]), 7);
});

test('MAD on an odd count: [10, 50, 52, 54, 56]', () => {
  // median 52; |L − 52| = 42, 2, 0, 2, 4 → sorted 0, 2, 2, 4, 42 → median 2; MAD = 1.4826·2 = 2.9652
  const r = madDetector.detect([0, 1, 2, 3, 4], [10, 50, 52, 54, 56]);
  close(r.centre, 52);
  close(r.spread, 2.9652);
  close(r.indices[0], 42 / 2.9652); // 14.1643…
  close(r.indices[4], 4 / 2.9652); // 1.349, and on the large side anyway
  assert.deepEqual(r.flagged, [0]);
  assert.equal(r.minLabel, 0);
  close(r.anomalyIndex, 14.164305948, 1e-6);
});

test('MAD on an even count uses the mean of the two middle values: [2, 20, 22, 24, 26, 80]', () => {
  // median (22 + 24)/2 = 23; |L − 23| = 21, 3, 1, 1, 3, 57 → sorted 1, 1, 3, 3, 21, 57 → median 3;
  // MAD = 4.4478; index of label 0 = 21/4.4478 = 4.72144. (The lower median, 22, would give 6.745.)
  const r = madDetector.detect([0, 1, 2, 3, 4, 5], [2, 20, 22, 24, 26, 80]);
  close(r.centre, 23);
  close(r.spread, 3 * MAD_CONSISTENCY);
  close(r.anomalyIndex, 21 / 4.4478);
  assert.deepEqual(r.flagged, [0]); // label 5 (index 12.8) is on the large side: never flagged
  close(r.indices[5], 57 / 4.4478);
});

test('MAD on an even count without outlier: [10, 20, 30, 40]', () => {
  // median 25; deviations 15, 5, 5, 15 → median 10 → MAD 14.826; index of 10 = 15/14.826 = 1.01174
  const r = madDetector.detect([3, 1, 2, 0], [10, 20, 30, 40]);
  close(r.anomalyIndex, 15 / 14.826);
  assert.equal(r.minLabel, 3);
  assert.deepEqual(r.flagged, []);
});

test('MAD = 0 is handled: a label off the median has index Infinity, the others 0', () => {
  const r = madDetector.detect([0, 1, 2, 3, 4], [5, 5, 5, 5, 1]);
  assert.equal(r.spread, 0);
  assert.deepEqual(r.indices, [0, 0, 0, 0, Infinity]);
  assert.deepEqual(r.flagged, [4]);
  const flat = madDetector.detect([0, 1, 2], [5, 5, 5]);
  assert.deepEqual(flat.indices, [0, 0, 0]);
  assert.deepEqual(flat.flagged, []);
});

test('z-score detector: leave-one-out on log norms, one-sided', () => {
  const norms = [10, 50, 52, 54, 56];
  const r = zscoreDetector.detect([0, 1, 2, 3, 4], norms);
  const others = norms.slice(1).map(Math.log);
  const mean = others.reduce((a, b) => a + b) / 4;
  const sd = Math.sqrt(others.reduce((a, b) => a + (b - mean) ** 2, 0) / 3);
  close(r.indices[0], (mean - Math.log(10)) / sd);
  assert.deepEqual(r.flagged, [0]);
  assert.equal(r.indices[4], 0);
});

test('detectors by name; an unknown name lists the valid ones', () => {
  assert.equal(outlierDetector('mad'), madDetector);
  assert.throws(() => outlierDetector('iqr'), (e: unknown) => e instanceof PoisonguardError && e.code === 'unknown-name' && /mad, zscore/.test(e.message));
  assert.throws(() => madDetector.detect([0, 1], [1, NaN]), /finite/);
});

test('verdict: a marginal flag (index 2.1–2.2, like clean MNIST nets) is suspicious, not backdoored', () => {
  // 9 norms around 80, one at 80 − 2.2·MAD
  const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const norms = [78, 80, 82, 79, 81, 83, 77, 80, 81, 75]; // median 80, MAD 1.4826·1.5, index 5/2.2239 = 2.25
  const rep = madDetector.detect(labels, norms);
  assert.ok(rep.anomalyIndex > 2 && rep.anomalyIndex < 3, `index ${rep.anomalyIndex}`);
  const v = decideVerdict([rep]);
  assert.equal(v.status, 'suspicious');
  assert.equal(v.backdoored, false);
  assert.equal(v.recommendation, 'rescan');
  assert.deepEqual(v.flaggedAnywhere, [9]);
});

test('verdict: a clear outlier is backdoored (repair), and needs a majority over repeats', () => {
  const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const strong = madDetector.detect(labels, [78, 80, 82, 79, 81, 83, 77, 15, 81, 76]);
  const clean = madDetector.detect(labels, [78, 80, 82, 79, 81, 83, 77, 80, 81, 76]);
  const v1 = decideVerdict([strong]);
  assert.equal(v1.status, 'backdoored');
  assert.deepEqual(v1.labels, [7]);
  assert.equal(v1.recommendation, 'repair');
  // one strong scan of three is not a majority
  assert.equal(decideVerdict([strong, clean, clean]).status, 'suspicious');
  assert.equal(decideVerdict([strong, strong, clean]).status, 'backdoored');
  // a label whose trigger never reached the threshold cannot be repaired
  assert.equal(decideVerdict([strong], {}, 10, new Map([[7, false]])).recommendation, 'reject');
  assert.equal(decideVerdict([clean]).status, 'clean');
});

test('verdict: the second statistic raises clean to suspicious when the MAD is too wide, never to backdoored', () => {
  const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  // The MNIST 5x5-trigger model's fast scan (docs/RESULTS.md): the MAD misses label 0 (index 1.99).
  const norms = [25.4, 116.3, 66.4, 79.9, 108.2, 68.9, 93.9, 108.7, 62.8, 99.8];
  const mad = madDetector.detect(labels, norms);
  const z = zscoreDetector.detect(labels, norms);
  assert.ok(mad.anomalyIndex < 2 && z.anomalyIndex > 3 && z.minLabel === 0, JSON.stringify({ mad: mad.anomalyIndex, z: z.anomalyIndex }));
  assert.equal(decideVerdict([mad]).status, 'clean');
  const v = decideVerdict([mad], {}, 10, undefined, [z]);
  assert.equal(v.status, 'suspicious');
  assert.equal(v.recommendation, 'rescan');
  assert.match(v.reason, /second statistic \(zscore\) puts label 0 at 5\.\d\d/);
  // A clean model's spread stays clean with both statistics; a strong outlier is backdoored either way.
  const even = [78, 80, 82, 79, 81, 83, 77, 80, 81, 76];
  assert.equal(decideVerdict([madDetector.detect(labels, even)], {}, 10, undefined, [zscoreDetector.detect(labels, even)]).status, 'clean');
  const strong = [78, 80, 82, 79, 81, 83, 77, 15, 81, 76];
  assert.equal(decideVerdict([madDetector.detect(labels, strong)], {}, 10, undefined, [zscoreDetector.detect(labels, strong)]).status, 'backdoored');
});

test('verdict: a flag confirmed by the second statistic is backdoored; a flag without it, or the z-score alone, is not', () => {
  const labels = Array.from({ length: 43 }, (_, i) => i);
  // The GTSRB model trained with the release's generator, fast scan (docs/RESULTS.md): label 33 at 12.7.
  const norms = [26.6, 46.3, 31.7, 33.4, 44.6, 51.3, 53.0, 40.7, 32.8, 50.4, 90.0, 33.4, 40.3, 48.3, 67.9, 53.5, 39.6, 57.8, 39.1, 53.1, 47.3, 59.1, 80.8, 42.5, 36.7, 34.9, 50.4, 35.8, 29.8, 43.8, 37.5, 37.9, 84.6, 12.7, 67.7, 51.7, 55.9, 68.0, 50.9, 39.0, 36.9, 56.9, 50.9];
  const mad = madDetector.detect(labels, norms);
  const z = zscoreDetector.detect(labels, norms);
  assert.ok(mad.anomalyIndex > 2 && mad.anomalyIndex < 3 && mad.minLabel === 33, `MAD ${mad.anomalyIndex}`);
  assert.ok(z.anomalyIndex > 3 && z.minLabel === 33, `z ${z.anomalyIndex}`);
  // MAD alone: a flag under the margin → suspicious; with the second statistic confirming → backdoored.
  assert.equal(decideVerdict([mad]).status, 'suspicious');
  const v = decideVerdict([mad], {}, 43, undefined, [z]);
  assert.equal(v.status, 'backdoored');
  assert.deepEqual(v.labels, [33]);
  assert.equal(v.recommendation, 'repair');
  assert.match(v.reason, /confirmed by the second statistic \(zscore\) at 4\.\d\d/);
  assert.match(v.rule, /flagged \(> 2\) with the second statistic \(zscore\) > 3\.00/);
  // A flag whose z stays under the threshold (a clean MNIST net's marginal flag) stays suspicious:
  // the clean-s2 model's full scan, labels 2 and 8 flagged at 2.30 and 2.19, z 2.04.
  const clean10 = [79.3, 110.9, 59.4, 77.3, 87.2, 83.6, 92.6, 109.6, 60.6, 88.4];
  const l10 = labels.slice(0, 10);
  const cm = madDetector.detect(l10, clean10);
  const cz = zscoreDetector.detect(l10, clean10);
  assert.ok(cm.anomalyIndex > 2 && cz.anomalyIndex < 3, JSON.stringify([cm.anomalyIndex, cz.anomalyIndex]));
  assert.equal(decideVerdict([cm], {}, 10, undefined, [cz]).status, 'suspicious');
  // A higher decision threshold (set from the false-positive cost) applies to the z-score too.
  assert.equal(decideVerdict([mad], { decisionThreshold: 5 }, 43, undefined, [z]).status, 'suspicious');
  // Over repeats the confirmation needs a majority: one confirmed scan of three is not enough.
  const flat = norms.map((x, i) => (i === 33 ? 45 : x));
  const fm = madDetector.detect(labels, flat);
  const fz = zscoreDetector.detect(labels, flat);
  assert.equal(decideVerdict([mad, fm, fm], {}, 43, undefined, [z, fz, fz]).status, 'suspicious');
  assert.equal(decideVerdict([mad, mad, fm], {}, 43, undefined, [z, z, fz]).status, 'backdoored');
  // One second-statistic report per scan, or none.
  assert.throws(() => decideVerdict([mad, mad], {}, 43, undefined, [z]), /one second-statistic report per scan/);
});

test('decision threshold from the cost of a false positive', () => {
  close(normalQuantile(0.975), 1.959963985, 1e-6);
  close(normalQuantile(0.005), -2.575829304, 1e-6);
  // n = 10, C = 19: α = 0.05, t = Φ⁻¹(1 − 0.005) = 2.5758
  close(thresholdFromFalsePositiveCost(19, 10), 2.575829304, 1e-6);
  close(thresholdFromFalsePositiveCost(99, 10), 3.090232306, 1e-6);
  assert.equal(thresholdFromFalsePositiveCost(0.5, 10), 2); // never below the flag threshold
  assert.throws(() => decideVerdict([madDetector.detect([0, 1, 2], [1, 2, 3])], { decisionThreshold: 3, falsePositiveCost: 9 }), /absent when falsePositiveCost/);
  assert.throws(() => decideVerdict([madDetector.detect([0, 1, 2], [1, 2, 3])], { decisionThreshold: 1 }), /decisionThreshold/);
});
