/**
 * A reference-distance audit of the training set (this project's; measured in docs/RESULTS.md,
 * "Detection matrix"). A poisoned training sample is one the model was taught to put in a label
 * whose clean images it does not resemble: a patched 3 labelled 4 (all-to-all), a warped image of
 * any class labelled with WaNet's target. In the second-to-last layer such a sample lies far from
 * that label's clean images — wherever the other labels are, which is why this test needs no
 * outlier among the labels (the MAD tests of spectral signatures, activation clustering and Neural
 * Cleanse find none when every label is a target).
 *
 * Per label, the clean held-out images of that label (the test split: the same clean data Neural
 * Cleanse and STRIP read) are split in two: a bank, and a calibration half. A sample's distance is
 * its Euclidean distance to its k-th nearest bank image (the k-NN out-of-distribution score of Sun
 * et al., ICML 2022, without their feature normalisation); the threshold is the calibration half's
 * q-quantile in the conformal way (Bates et al., Ann. Statist. 2023: the ⌈(m+1)q⌉-th smallest of m),
 * so a clean sample exceeds it with probability at most 1 − q if it is exchangeable with the test
 * split. Training and test splits are not quite exchangeable (other writers, and the model was fit
 * to one of them): on 10 clean MNIST nets 0.5–1.4% of the training samples exceeded the 0.99
 * threshold, and up to 4.2% within a label (docs/RESULTS.md, "Detection matrix: MNIST"). So the test allows a tolerated rate ρ₀ (default 3%) and asks
 * whether the exceedances are more than Binomial(n, ρ₀) explains: per label (a backdoor with one
 * target) and pooled over all labels (all-to-all: every label a little). A label with too few clean
 * images for the q-quantile is judged at a lower one with a tolerance scaled to match (runKnnAudit). The model's p-value is the
 * smallest of those K + 1 p-values times K + 1 (Bonferroni); the score is −log10 of it, against
 * −log10 0.05 as MM-BD's. The samples over the threshold in a flagged label are the suspects.
 */
import { OptionError } from '../../errors.js';
import { checkPositiveInt, checkRange } from '../../options.js';
import { mixSeeds, Random } from '../../random.js';
import { allLabels, type DetectorResult } from './detector.js';
import { rowsByLabel } from './label-outliers.js';
import { binomialTail } from './strip.js';

/** The k-th nearest bank image (Sun et al. use k = 50 over a whole training set; a label's bank here holds hundreds). */
export const DEFAULT_KNN_K = 5;
/** The calibration quantile of a clean sample's distance. */
export const DEFAULT_KNN_QUANTILE = 0.99;
/** The share of clean training samples allowed over the threshold (measured 0.5–1.4% pooled, ≤ 4.2% per label, on clean MNIST nets). */
export const DEFAULT_KNN_TOLERANCE = 0.03;
/** Reference images per label at most (bank + calibration): enough for a 0.99 quantile, bounded cost. */
export const KNN_MAX_REFERENCE = 1000;
/** The model-level significance level (MM-BD's). */
export const KNN_ALPHA = 0.05;

export interface KnnAuditOptions {
  readonly k?: number;
  readonly quantile?: number;
  readonly tolerance?: number;
  readonly seed?: number;
}

/** Squared distance from row i of a to every row of `bank` (indices into b); the k-th smallest. */
function kthDistance(a: Float32Array, i: number, b: Float32Array, bank: readonly number[], units: number, k: number): number {
  const d = new Float64Array(bank.length);
  for (let j = 0; j < bank.length; j++) {
    let s = 0;
    const ai = i * units;
    const bj = bank[j] * units;
    for (let t = 0; t < units; t++) {
      const q = a[ai + t] - b[bj + t];
      s += q * q;
    }
    d[j] = s;
  }
  d.sort();
  return Math.sqrt(d[k - 1]);
}

/**
 * The audit: `train` (n × units activations of the audited set, labels `trainLabels`) against the
 * clean reference `reference` (activations, labels `referenceLabels`).
 */
export function runKnnAudit(
  train: Float32Array,
  units: number,
  trainLabels: Int32Array,
  reference: Float32Array,
  referenceLabels: Int32Array,
  numClasses: number,
  options: KnnAuditOptions = {},
): DetectorResult {
  const start = performance.now();
  const k = checkPositiveInt('k', options.k ?? DEFAULT_KNN_K);
  const quantile = checkRange('quantile', options.quantile ?? DEFAULT_KNN_QUANTILE, 0, 1);
  const tolerance = checkRange('tolerance', options.tolerance ?? DEFAULT_KNN_TOLERANCE, 0, 1);
  const seed = options.seed ?? 0;
  if (train.length !== trainLabels.length * units) throw new OptionError('features', `${trainLabels.length} × ${units} activations`, train.length);
  if (reference.length !== referenceLabels.length * units) throw new OptionError('reference', `${referenceLabels.length} × ${units} activations`, reference.length);
  const rows = rowsByLabel(trainLabels, numClasses);
  const refRows = rowsByLabel(referenceLabels, numClasses);
  const labels = allLabels(numClasses);
  const shares: number[] = [];
  const pValues: number[] = [];
  const thresholds: (number | null)[] = [];
  const over: number[][] = [];
  /** Per label: the quantile and tolerance it was judged at when fewer images forced a lower quantile (null: the asked ones; or not judged). */
  const labelQuantiles: ({ quantile: number; tolerance: number } | null)[] = [];
  let pooledOver = 0;
  let pooledN = 0;
  let pooledExpected = 0;
  for (const c of labels) {
    const rng = new Random(mixSeeds(seed, c));
    const ref = Array.from(rng.sampleWithoutReplacement(refRows[c].length, Math.min(KNN_MAX_REFERENCE, refRows[c].length)), (i) => refRows[c][i]);
    const half = Math.floor(ref.length / 2);
    const bank = ref.slice(0, half);
    const calibration = ref.slice(half);
    const m = calibration.length;
    // Too few clean images of the label for a k-NN distance: the label is not judged.
    if (bank.length < k || m === 0 || rows[c].length === 0) {
      shares.push(0);
      pValues.push(1);
      thresholds.push(null);
      labelQuantiles.push(null);
      over.push([]);
      continue;
    }
    // The conformal q-quantile needs m ≥ q/(1 − q) calibration images (99 at 0.99); a label with
    // fewer (GTSRB has signs with 60 test images) is judged at the largest quantile its half gives,
    // m/(m + 1) (its largest distance), and a tolerance scaled by the same ratio of exceedance
    // rates, so that it stays the same multiple of the rate a clean sample exceeds at.
    const wanted = Math.ceil((m + 1) * quantile);
    const lower = wanted > m;
    const rank = lower ? m : wanted;
    const q = lower ? m / (m + 1) : quantile;
    const rho = lower ? Math.min(1, (tolerance * (1 - q)) / (1 - quantile)) : tolerance;
    const cal = calibration.map((i) => kthDistance(reference, i, reference, bank, units, k)).sort((a, b) => a - b);
    const threshold = cal[rank - 1];
    const beyond = rows[c].filter((i) => kthDistance(train, i, reference, bank, units, k) > threshold);
    thresholds.push(threshold);
    labelQuantiles.push(lower ? { quantile: q, tolerance: rho } : null);
    over.push(beyond);
    shares.push(beyond.length / rows[c].length);
    pValues.push(binomialTail(beyond.length, rows[c].length, rho));
    pooledOver += beyond.length;
    pooledN += rows[c].length;
    pooledExpected += rows[c].length * rho;
  }
  // The labels' tolerances averaged by their sample counts: a binomial at the mean rate bounds the
  // upper tail of the sum of binomials at the labels' own rates (Hoeffding 1956), so this is conservative.
  const lowered = labels.filter((c) => labelQuantiles[c] !== null);
  const pooledRate = lowered.length > 0 ? pooledExpected / pooledN : tolerance;
  const pooledP = pooledN > 0 ? binomialTail(pooledOver, pooledN, pooledRate) : 1;
  const tests = numClasses + 1;
  const modelP = Math.min(1, tests * Math.min(pooledP, ...pValues));
  const flagged = labels.filter((c) => tests * pValues[c] < KNN_ALPHA).sort((a, b) => pValues[a] - pValues[b] || a - b);
  // Pooled alone (every label a little, none enough alone): every label's exceedances are suspect.
  const suspectLabels = flagged.length > 0 ? flagged : tests * pooledP < KNN_ALPHA ? labels : [];
  const suspects: Record<string, number[]> = {};
  for (const c of suspectLabels) suspects[String(c)] = over[c];
  const score = -Math.log10(Math.max(modelP, Number.MIN_VALUE));
  const threshold = -Math.log10(KNN_ALPHA);
  return {
    detector: 'knn',
    statistic: "share of the label's audited samples farther from its clean reference images (k-th nearest, second-to-last layer) than the reference's own q-quantile",
    labels,
    perLabel: shares,
    flagged,
    score,
    scoreMeaning: `−log10 of the model's p-value: the smallest of the per-label and pooled binomial tails at the tolerated rate, times ${tests} (Bonferroni)`,
    threshold,
    backdoored: score > threshold,
    recipe: { k, quantile, tolerance, maxReferencePerLabel: KNN_MAX_REFERENCE, alpha: KNN_ALPHA, layer: 'penultimate', distance: 'euclidean' },
    seed,
    seconds: (performance.now() - start) / 1000,
    suspects,
    details: { pValues, pooled: { over: pooledOver, of: pooledN, share: pooledN > 0 ? pooledOver / pooledN : 0, pValue: pooledP }, thresholds, ...(lowered.length > 0 ? { lowerQuantiles: Object.fromEntries(lowered.map((c) => [String(c), labelQuantiles[c]])) } : {}) },
  };
}
