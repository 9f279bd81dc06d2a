/**
 * Spectral signatures (Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS 2018):
 * an audit of the training set. Per label, the second-to-last layer's activations of its training
 * samples are centred; the top right singular vector v of that matrix is the direction along which
 * poisoned samples separate from clean ones, and a sample's outlier score is its squared projection
 * ((R_i − mean)·v)². The 1.5·ε·n highest-scoring samples of each label are removed (named here as
 * suspects), ε being an upper bound on the poisoned share.
 *
 * The paper gives no model-level test; this module's: per label, the share of the activations'
 * variance along v (σ₁² over the sum of all σ²; a poisoned label gains a strong direction), and the
 * large-side MAD anomaly index of the largest share is the model's score (label-outliers.ts).
 */
import { OptionError } from '../../errors.js';
import { checkRange } from '../../options.js';
import { allLabels, type DetectorResult } from './detector.js';
import { highOutliers, rowsByLabel } from './label-outliers.js';
import { centredRows, gram, project, topEigenvectors } from './linalg.js';

/** ε = 0.05, the bound on the poisoned share (the paper's lower poisoning rate, 5%). */
export const DEFAULT_SPECTRAL_EPSILON = 0.05;
/** Remove 1.5·ε·n per label (the paper). */
export const SPECTRAL_REMOVAL_FACTOR = 1.5;

export interface SpectralOptions {
  readonly epsilon?: number;
  readonly seed?: number;
}

/** One label's scores: ((R_i − mean)·v)² for its rows, v the top right singular vector, and the variance share. */
export function spectralScores(features: Float32Array, units: number, rows: readonly number[], seed: number): { scores: Float64Array; varianceShare: number; vector: Float64Array } {
  const m = rows.length;
  const { x } = centredRows(features, units, rows);
  const g = gram(x, m, units);
  let trace = 0;
  for (let i = 0; i < units; i++) trace += g[i * units + i];
  const { vectors, values } = topEigenvectors(g, units, 1, seed);
  const p = project(x, m, units, vectors, 1);
  const scores = p.map((v) => v * v);
  return { scores, varianceShare: trace > 0 ? values[0] / trace : 0, vector: vectors };
}

/** Spectral signatures on a training set's activations (count × units) and its labels. */
export function runSpectral(features: Float32Array, units: number, labels: Int32Array, numClasses: number, options: SpectralOptions = {}): DetectorResult {
  const start = performance.now();
  const epsilon = checkRange('epsilon', options.epsilon ?? DEFAULT_SPECTRAL_EPSILON, 0, 1);
  const seed = options.seed ?? 0;
  if (features.length !== labels.length * units) throw new OptionError('features', `${labels.length} × ${units} activations`, features.length);
  const rows = rowsByLabel(labels, numClasses);
  const shares: number[] = [];
  const suspects: Record<string, number[]> = {};
  for (let c = 0; c < numClasses; c++) {
    if (rows[c].length < 2) {
      shares.push(0);
      suspects[String(c)] = [];
      continue;
    }
    const { scores, varianceShare } = spectralScores(features, units, rows[c], seed + c);
    shares.push(varianceShare);
    // Rounded to the nearest sample: ceil would turn 1.5·0.1·200 = 30.000000000000004 into 31.
    const remove = Math.min(rows[c].length, Math.round(SPECTRAL_REMOVAL_FACTOR * epsilon * rows[c].length));
    const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
    suspects[String(c)] = order.slice(0, remove).map((i) => rows[c][i]).sort((a, b) => a - b);
  }
  const labelsAll = allLabels(numClasses);
  const test = highOutliers(labelsAll, shares);
  return {
    detector: 'spectral',
    statistic: "share of the label's centred second-to-last-layer variance along its top singular vector",
    labels: labelsAll,
    perLabel: shares,
    flagged: test.flagged,
    score: test.score,
    scoreMeaning: 'large-side MAD anomaly index of the largest variance share',
    threshold: test.decisionThreshold,
    backdoored: test.score > test.decisionThreshold,
    recipe: { epsilon, removalFactor: SPECTRAL_REMOVAL_FACTOR, layer: 'penultimate', flagThreshold: test.flagThreshold },
    seed,
    seconds: (performance.now() - start) / 1000,
    suspects,
    details: { anomalyIndices: test.indices, removedPerLabel: labelsAll.map((c) => suspects[String(c)].length) },
  };
}
