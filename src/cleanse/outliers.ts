/**
 * Outlier tests over per-label trigger norms. Every detector answers the same questions (the
 * centre, the spread, an anomaly index per label, the flagged labels) so they can be swapped
 * (TrojanZoo's shape). Labels are flagged on the small side only: a backdoor makes its target's
 * trigger unusually SMALL.
 */
import { OptionError, UnknownNameError } from '../errors.js';

/** 1.4826: makes the MAD a consistent estimator of σ for normal data (paper §IV-B; mad_outlier_detection.py). */
export const MAD_CONSISTENCY = 1.4826;
/** Anomaly index above 2 flags a label: ≈95% probability of being an outlier (paper §IV-B). */
export const DEFAULT_FLAG_THRESHOLD = 2;

/** The result of an outlier test on one scan. */
export interface OutlierReport {
  readonly detector: string;
  /** The labels scored, in the order of `indices`. */
  readonly labels: readonly number[];
  /** Centre of the norms (the median for MAD, the mean for z-score). */
  readonly centre: number;
  /** Spread (the scaled MAD, or the standard deviation). */
  readonly spread: number;
  /** Anomaly index of every label, in the order given: |L_i − centre| / spread (0 when spread = 0 and L_i = centre). */
  readonly indices: readonly number[];
  /** Labels with L_i ≤ centre and index > threshold, smallest norm first. */
  readonly flagged: readonly number[];
  /** The label with the smallest norm. */
  readonly minLabel: number;
  /** The model's anomaly index: that of the smallest norm. */
  readonly anomalyIndex: number;
  readonly threshold: number;
}

export interface OutlierDetector {
  readonly name: string;
  /** One line for help texts. */
  readonly description: string;
  /** Scores `norms[i]` of label `labels[i]`; flags labels whose index exceeds `threshold`. */
  detect(labels: readonly number[], norms: readonly number[], threshold?: number): OutlierReport;
}

/** The median, with the mean of the two middle values for an even count (not the lower median). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new OptionError('values', 'a non-empty list', []);
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The MAD scaled to estimate σ: 1.4826 · median(|x − centre|). */
export function madSpread(values: readonly number[], centre: number): number {
  return MAD_CONSISTENCY * median(values.map((x) => Math.abs(x - centre)));
}

/** The anomaly index |x − centre| / spread, with spread = 0 handled: 0 at the centre, Infinity elsewhere. */
export function anomalyIndex(x: number, centre: number, spread: number): number {
  const d = Math.abs(x - centre);
  if (spread > 0) return d / spread;
  return d === 0 ? 0 : Infinity;
}

function report(detector: string, labels: readonly number[], norms: readonly number[], centre: number, spread: number, threshold: number): OutlierReport {
  checkInputs(labels, norms);
  const indices = norms.map((n) => anomalyIndex(n, centre, spread));
  const flaggedIdx = norms.map((_, i) => i).filter((i) => norms[i] <= centre && indices[i] > threshold);
  flaggedIdx.sort((a, b) => norms[a] - norms[b]);
  let minI = 0;
  for (let i = 1; i < norms.length; i++) if (norms[i] < norms[minI]) minI = i;
  return {
    detector,
    labels: [...labels],
    centre,
    spread,
    indices,
    flagged: flaggedIdx.map((i) => labels[i]),
    minLabel: labels[minI],
    anomalyIndex: indices[minI],
    threshold,
  };
}

function checkInputs(labels: readonly number[], norms: readonly number[]): void {
  if (labels.length !== norms.length) throw new OptionError('norms', `one per label (${labels.length})`, norms.length);
  if (norms.length === 0) throw new OptionError('norms', 'at least one norm', 0);
  norms.forEach((n, i) => {
    if (!Number.isFinite(n)) throw new OptionError(`norm of label ${labels[i]}`, 'a finite number', n);
  });
}

/**
 * Median absolute deviation (paper §IV-B, mad_outlier_detection.py): MAD = 1.4826 · median(|L − median|),
 * index = |L_i − median| / MAD; flags L_i ≤ median with index > threshold. MAD = 0 (half the labels
 * tie at the median): a label off the median has index Infinity, one on it 0.
 */
export const madDetector: OutlierDetector = {
  name: 'mad',
  description: 'median absolute deviation ×1.4826, one-sided (the paper and the release)',
  detect(labels, norms, threshold = DEFAULT_FLAG_THRESHOLD) {
    checkInputs(labels, norms);
    const med = median(norms);
    const mad = madSpread(norms, med);
    return report('mad', labels, norms, med, mad, threshold);
  },
};

/**
 * z-score of the log norm against the OTHER labels (leave-one-out mean and standard deviation):
 * a second statistic that a single low outlier cannot dilute, and that is scale-free. Index of
 * label i = (mean_{j≠i} log L_j − log L_i) / sd_{j≠i}(log L_j), only on the small side.
 */
export const zscoreDetector: OutlierDetector = {
  name: 'zscore',
  description: 'leave-one-out z-score of log norms, one-sided (a second statistic)',
  detect(labels, norms, threshold = DEFAULT_FLAG_THRESHOLD) {
    checkInputs(labels, norms);
    if (norms.some((n) => n <= 0)) throw new OptionError('norms', 'positive numbers for the log z-score', norms);
    const logs = norms.map(Math.log);
    const indices = logs.map((x, i) => {
      const others = logs.filter((_, j) => j !== i);
      if (others.length < 2) return 0;
      const mean = others.reduce((a, b) => a + b, 0) / others.length;
      const sd = Math.sqrt(others.reduce((a, b) => a + (b - mean) ** 2, 0) / (others.length - 1));
      return x < mean ? anomalyIndex(x, mean, sd) : 0;
    });
    const centre = Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length);
    const flaggedIdx = indices.map((_, i) => i).filter((i) => indices[i] > threshold).sort((a, b) => norms[a] - norms[b]);
    let minI = 0;
    for (let i = 1; i < norms.length; i++) if (norms[i] < norms[minI]) minI = i;
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, logs.length - 1));
    return { detector: 'zscore', labels: [...labels], centre, spread: sd, indices, flagged: flaggedIdx.map((i) => labels[i]), minLabel: labels[minI], anomalyIndex: indices[minI], threshold };
  },
};

export const OUTLIER_DETECTORS: Readonly<Record<string, OutlierDetector>> = { mad: madDetector, zscore: zscoreDetector };
export const DEFAULT_DETECTOR = 'mad';

/** The detector of that name; an unknown name lists the valid ones. */
export function outlierDetector(name: string): OutlierDetector {
  if (!Object.hasOwn(OUTLIER_DETECTORS, name)) throw new UnknownNameError('outlier detector', name, Object.keys(OUTLIER_DETECTORS));
  return OUTLIER_DETECTORS[name];
}
