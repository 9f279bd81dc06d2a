/**
 * Activation clustering (Chen et al., "Detecting Backdoor Attacks on Deep Neural Networks by
 * Activation Clustering", 2018; IBM ART's ActivationDefence): an audit of the training set. Per
 * label, the second-to-last layer's activations of its samples are reduced to 10 dimensions and
 * split in two by k-means; poisoned samples, which the model reaches through the trigger rather
 * than the label's features, form a cluster of their own. The paper reduces with ICA; this module
 * uses PCA (deterministic, and ICA's unmixing of a PCA-whitened space does not change which points
 * are near each other much for a 2-means split) — a stated difference.
 *
 * Per label: the silhouette score of the split (how well two clusters separate, −1..1) and the
 * smaller cluster's relative size (ART's 'smaller' analysis flags a cluster under 35%). The per-label
 * statistic is the silhouette; the large-side MAD anomaly index of the largest is the model's score;
 * the smaller cluster of each flagged label is named as suspect.
 */
import { OptionError } from '../../errors.js';
import { checkPositiveInt } from '../../options.js';
import { mixSeeds, Random } from '../../random.js';
import { allLabels, type DetectorResult } from './detector.js';
import { highOutliers, rowsByLabel } from './label-outliers.js';
import { centredRows, gram, project, topEigenvectors } from './linalg.js';

/** 10 dimensions after the reduction (the paper and ART: nb_dims = 10). */
export const DEFAULT_AC_DIMENSIONS = 10;
/** k-means restarts, the best inertia kept (scikit-learn's KMeans default n_init = 10, which ART calls). */
export const DEFAULT_AC_RESTARTS = 10;
/** Lloyd iterations per restart at most (scikit-learn's max_iter = 300). */
export const AC_MAX_ITERATIONS = 300;
/** Silhouette on at most 1 000 seeded samples per label: it is quadratic in the samples. */
export const AC_SILHOUETTE_SAMPLES = 1000;
/** ART's size threshold: a cluster under 35% of its label is 'smaller' (poisonous) in its size analysis. */
export const AC_SIZE_THRESHOLD = 0.35;

export interface ClusteringOptions {
  readonly dimensions?: number;
  readonly restarts?: number;
  readonly seed?: number;
}

/** 2-means on m points of dimension k (row-major), k-means++ seeding, best of `restarts`. */
export function twoMeans(points: Float64Array, m: number, k: number, restarts: number, rng: Random): { assignment: Uint8Array; inertia: number } {
  let best: { assignment: Uint8Array; inertia: number } | undefined;
  const dist2 = (i: number, c: Float64Array, ci: number): number => {
    let s = 0;
    for (let j = 0; j < k; j++) s += (points[i * k + j] - c[ci * k + j]) ** 2;
    return s;
  };
  for (let r = 0; r < restarts; r++) {
    const centres = new Float64Array(2 * k);
    const first = rng.int(m);
    for (let j = 0; j < k; j++) centres[j] = points[first * k + j];
    // k-means++: the second centre drawn with probability ∝ squared distance to the first.
    const d = new Float64Array(m);
    let total = 0;
    for (let i = 0; i < m; i++) total += d[i] = dist2(i, centres, 0);
    let pick = m - 1;
    let u = rng.next() * total;
    for (let i = 0; i < m; i++) if ((u -= d[i]) <= 0) {
      pick = i;
      break;
    }
    for (let j = 0; j < k; j++) centres[k + j] = points[pick * k + j];
    const assignment = new Uint8Array(m);
    let inertia = Infinity;
    for (let it = 0; it < AC_MAX_ITERATIONS; it++) {
      let changed = it === 0;
      inertia = 0;
      for (let i = 0; i < m; i++) {
        const a = dist2(i, centres, 0);
        const b = dist2(i, centres, 1);
        const c = b < a ? 1 : 0;
        if (c !== assignment[i]) changed = true;
        assignment[i] = c;
        inertia += Math.min(a, b);
      }
      if (!changed) break;
      const sums = new Float64Array(2 * k);
      const counts = [0, 0];
      for (let i = 0; i < m; i++) {
        counts[assignment[i]]++;
        for (let j = 0; j < k; j++) sums[assignment[i] * k + j] += points[i * k + j];
      }
      for (let c = 0; c < 2; c++) if (counts[c] > 0) for (let j = 0; j < k; j++) centres[c * k + j] = sums[c * k + j] / counts[c];
    }
    if (!best || inertia < best.inertia) best = { assignment, inertia };
  }
  return best!;
}

/** The mean silhouette of a 2-cluster assignment over the given points (Euclidean; a singleton's silhouette is 0). */
export function silhouette(points: Float64Array, k: number, assignment: Uint8Array, which: readonly number[]): number {
  const counts = [0, 0];
  for (const i of which) counts[assignment[i]]++;
  if (counts[0] === 0 || counts[1] === 0) return 0;
  let total = 0;
  for (const i of which) {
    const sum = [0, 0];
    for (const j of which) {
      if (j === i) continue;
      let s = 0;
      for (let t = 0; t < k; t++) s += (points[i * k + t] - points[j * k + t]) ** 2;
      sum[assignment[j]] += Math.sqrt(s);
    }
    const own = assignment[i];
    if (counts[own] === 1) continue;
    const a = sum[own] / (counts[own] - 1);
    const b = sum[1 - own] / counts[1 - own];
    total += (b - a) / Math.max(a, b);
  }
  return total / which.length;
}

/** Activation clustering on a training set's activations (count × units) and its labels. */
export function runClustering(features: Float32Array, units: number, labels: Int32Array, numClasses: number, options: ClusteringOptions = {}): DetectorResult {
  const start = performance.now();
  const dims = checkPositiveInt('dimensions', options.dimensions ?? DEFAULT_AC_DIMENSIONS);
  const restarts = checkPositiveInt('restarts', options.restarts ?? DEFAULT_AC_RESTARTS);
  const seed = options.seed ?? 0;
  if (features.length !== labels.length * units) throw new OptionError('features', `${labels.length} × ${units} activations`, features.length);
  const rows = rowsByLabel(labels, numClasses);
  const silhouettes: number[] = [];
  const smallerShare: number[] = [];
  const smaller: number[][] = [];
  for (let c = 0; c < numClasses; c++) {
    const m = rows[c].length;
    if (m < 4) {
      silhouettes.push(0);
      smallerShare.push(0);
      smaller.push([]);
      continue;
    }
    const rng = new Random(mixSeeds(seed, c));
    const { x } = centredRows(features, units, rows[c]);
    const k = Math.min(dims, units);
    const { vectors } = topEigenvectors(gram(x, m, units), units, k, rng.nextUint32());
    const reduced = project(x, m, units, vectors, k);
    const { assignment } = twoMeans(reduced, m, k, restarts, rng);
    let ones = 0;
    for (let i = 0; i < m; i++) ones += assignment[i];
    const minority = ones <= m - ones ? 1 : 0;
    smallerShare.push(Math.min(ones, m - ones) / m);
    smaller.push(rows[c].filter((_, i) => assignment[i] === minority));
    const sample = m <= AC_SILHOUETTE_SAMPLES ? Array.from({ length: m }, (_, i) => i) : Array.from(rng.sampleWithoutReplacement(m, AC_SILHOUETTE_SAMPLES));
    silhouettes.push(silhouette(reduced, k, assignment, sample));
  }
  const labelsAll = allLabels(numClasses);
  const test = highOutliers(labelsAll, silhouettes);
  const suspects: Record<string, number[]> = {};
  for (const l of test.flagged) suspects[String(l)] = smaller[l];
  return {
    detector: 'ac',
    statistic: "silhouette score of the 2-means split of the label's second-to-last-layer activations (PCA to 10 dimensions)",
    labels: labelsAll,
    perLabel: silhouettes,
    flagged: test.flagged,
    score: test.score,
    scoreMeaning: 'large-side MAD anomaly index of the largest silhouette',
    threshold: test.decisionThreshold,
    backdoored: test.score > test.decisionThreshold,
    recipe: { dimensions: dims, reduction: 'PCA', restarts, silhouetteSamples: AC_SILHOUETTE_SAMPLES, layer: 'penultimate', flagThreshold: test.flagThreshold },
    seed,
    seconds: (performance.now() - start) / 1000,
    suspects,
    details: { anomalyIndices: test.indices, smallerClusterShare: smallerShare, smallerBelowSizeThreshold: labelsAll.filter((c) => smallerShare[c] > 0 && smallerShare[c] < AC_SIZE_THRESHOLD) },
  };
}
