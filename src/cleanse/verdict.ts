/**
 * The verdict of a scan: is the model backdoored, which labels, and what to do.
 *
 * The MAD test flags a label at anomaly index > 2 (paper). That single threshold gives marginal
 * false positives on clean MNIST nets (peer runs of the release recipe: indices 2.11 and 2.22 on
 * two clean models), so the verdict 'backdoored' asks for more than a flag — one of:
 *  - a margin: the anomaly index exceeds a DECISION threshold, 3 by default (the paper: every
 *    infected model scored above 3, clean ones below 2), or a threshold derived from the cost of a
 *    false positive ({@link thresholdFromFalsePositiveCost}); or
 *  - a flag confirmed by a second statistic: the label is flagged (index > 2) AND the second
 *    statistic (the leave-one-out z-score of log norms, outliers.ts) puts the same label above the
 *    decision threshold. The two tests read the norms differently (the MAD is wide when the other
 *    labels spread, the z-score of logs is scale-free), and a clean model must fool both. Measured
 *    (docs/RESULTS.md): clean MNIST and GTSRB models reach z ≤ 2.2, infected ones 4.4–11.
 * With R scans (--repeat), the same label must qualify in a majority of them, and over the scans
 * its median index must be above the decision threshold, or above the flag with a median z above it.
 * A model with a flag (> 2) that does not meet this is 'suspicious' (rescan with more repeats),
 * never 'backdoored'.
 *
 * The second statistic alone never makes a model 'backdoored': when the MAD test flags nothing but
 * the z-score puts the smallest label above the decision threshold in a majority of scans, the
 * verdict is 'suspicious'. The MAD is wide when the other labels' norms are spread, and then misses a
 * small trigger (MNIST, a 5x5 trigger: MAD index 1.99, z 5.23; docs/RESULTS.md).
 */
import { checkPositive } from '../options.js';
import { OptionError } from '../errors.js';
import { median, DEFAULT_FLAG_THRESHOLD, type OutlierReport } from './outliers.js';

/** Scans of a model: 1, as the paper and the release (more give the verdict a majority and a spread). */
export const DEFAULT_REPEAT = 1;

/** Decision threshold 3 (paper §V-B: every infected model's anomaly index was above 3). */
export const DEFAULT_DECISION_THRESHOLD = 3;

export type VerdictStatus = 'backdoored' | 'suspicious' | 'clean';
export type Recommendation = 'reject' | 'repair' | 'rescan' | 'accept';

export interface VerdictOptions {
  /** Index a label must exceed for the verdict 'backdoored' (≥ the flag threshold). */
  readonly decisionThreshold?: number;
  /**
   * Cost of wrongly rejecting a clean model relative to missing a backdoor; sets the decision
   * threshold instead of `decisionThreshold` (give one or the other).
   */
  readonly falsePositiveCost?: number;
}

export interface Verdict {
  readonly status: VerdictStatus;
  readonly backdoored: boolean;
  /** Labels judged infected (empty unless backdoored). */
  readonly labels: readonly number[];
  /** Labels flagged (index > flag threshold) in at least one scan. */
  readonly flaggedAnywhere: readonly number[];
  readonly recommendation: Recommendation;
  readonly reason: string;
  readonly decisionThreshold: number;
  /** How the decision threshold was set. */
  readonly thresholdSource: string;
  /** The rule, in words (recorded in scan.json). */
  readonly rule: string;
  /** Median over scans of the model's anomaly index. */
  readonly medianAnomalyIndex: number;
}

/** Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9 after refinement). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new OptionError('p', 'in (0, 1)', p);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  let x: number;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - lo) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  return x;
}

/**
 * The decision threshold for a false-positive cost C (relative to a missed backdoor, both with
 * prior ½): reject a clean model with probability at most α = 1/(1 + C). Under the MAD test's normal
 * assumption, a clean model's smallest of n labels exceeds index t with probability ≈ n·(1 − Φ(t)),
 * so t = Φ⁻¹(1 − α/n), and never below the flag threshold (2 by default). E.g. n = 10: C = 19 → 2.58; C = 99 → 3.09.
 */
export function thresholdFromFalsePositiveCost(cost: number, labels: number, flagThreshold: number = DEFAULT_FLAG_THRESHOLD): number {
  checkPositive('falsePositiveCost', cost);
  const alpha = 1 / (1 + cost);
  return Math.max(flagThreshold, normalQuantile(1 - alpha / Math.max(1, labels)));
}

/**
 * Checks the verdict's options against the scan's flag threshold; needs no scan, so a scan calls it
 * before any work (a bad threshold found after hours of labels would waste them).
 */
export function checkVerdictOptions(options: VerdictOptions, flagThreshold: number = DEFAULT_FLAG_THRESHOLD): void {
  if (options.decisionThreshold !== undefined && options.falsePositiveCost !== undefined) {
    throw new OptionError('decisionThreshold', 'absent when falsePositiveCost is given (both set the decision threshold)', options.decisionThreshold);
  }
  if (options.falsePositiveCost !== undefined) checkPositive('falsePositiveCost', options.falsePositiveCost);
  const t = options.decisionThreshold ?? Math.max(DEFAULT_DECISION_THRESHOLD, flagThreshold);
  if (!(Number.isFinite(t) && t >= flagThreshold)) {
    throw new OptionError('decisionThreshold', `a number ≥ the flag threshold ${flagThreshold}`, t);
  }
}

/**
 * The decision threshold and how it was set. Without either option it is the default 3, or the flag
 * threshold when that is higher (a verdict never asks less than a flag).
 */
export function resolveDecisionThreshold(options: VerdictOptions, labels: number, flagThreshold: number = DEFAULT_FLAG_THRESHOLD): { threshold: number; source: string } {
  checkVerdictOptions(options, flagThreshold);
  if (options.falsePositiveCost !== undefined) {
    const t = thresholdFromFalsePositiveCost(options.falsePositiveCost, labels, flagThreshold);
    return { threshold: t, source: `false-positive cost ${options.falsePositiveCost}: Φ⁻¹(1 − 1/((1 + C)·${labels})) = ${t.toFixed(3)}` };
  }
  if (options.decisionThreshold !== undefined) return { threshold: options.decisionThreshold, source: 'given' };
  const t = Math.max(DEFAULT_DECISION_THRESHOLD, flagThreshold);
  return { threshold: t, source: t === DEFAULT_DECISION_THRESHOLD ? 'default (paper: infected models > 3)' : 'the flag threshold (above the default 3)' };
}

/** The verdict over one or more scans of the same model (one outlier report per scan). */
export function decideVerdict(
  reports: readonly OutlierReport[],
  options: VerdictOptions = {},
  labelsScanned?: number,
  reachedByLabel?: ReadonlyMap<number, boolean>,
  secondary?: readonly OutlierReport[],
): Verdict {
  if (reports.length === 0) throw new OptionError('reports', 'at least one scan', 0);
  const n = labelsScanned ?? reports[0].indices.length;
  const flag = reports[0].threshold;
  const { threshold, source } = resolveDecisionThreshold(options, n, flag);
  const R = reports.length;
  if (secondary !== undefined && secondary.length > 0 && secondary.length !== R) {
    throw new OptionError('secondary', `one second-statistic report per scan (${R})`, secondary.length);
  }
  const second = secondary?.length ? secondary : undefined;
  const rule =
    `backdoored when one label is the smallest norm with anomaly index > ${threshold.toFixed(2)}` +
    (second ? `, or flagged (> ${flag}) with the second statistic (${second[0].detector}) > ${threshold.toFixed(2)} for it,` : '') +
    ` in a majority of the ${R} scan(s), and its median over the scans qualifies the same way; ` +
    `suspicious when some label has index > ${flag} (the ${reports[0].detector} flag) without that` +
    (second ? `, or when the second statistic is > ${threshold.toFixed(2)} for the smallest label in a majority of scans` : '') +
    '; clean otherwise';
  const medianIndex = median(reports.map((r) => r.anomalyIndex));
  const flaggedAnywhere = [...new Set(reports.flatMap((r) => r.flagged))].sort((a, b) => a - b);
  // A label's second statistic in scan i (0 when there is none).
  const zOf = (i: number, label: number): number => (second ? (second[i].indices[indexOfLabel(second[i], label)] ?? 0) : 0);
  // The two ways a label qualifies: a margin (index > decision threshold), or a flag confirmed by the second statistic.
  const qualifies = (index: number, z: number): boolean => index > threshold || (index > flag && z > threshold);
  const votes = new Map<number, number>();
  reports.forEach((r, i) => {
    if (qualifies(r.anomalyIndex, zOf(i, r.minLabel))) votes.set(r.minLabel, (votes.get(r.minLabel) ?? 0) + 1);
  });
  // A majority of votes, and the label's medians over the scans qualify too.
  const medianIndexOf = (label: number): number => median(reports.map((r) => r.indices[indexOfLabel(r, label)]));
  const confirmed = [...votes.entries()]
    .filter(([, v]) => v > R / 2)
    .map(([label]) => ({ label, index: medianIndexOf(label), z: median(reports.map((_, i) => zOf(i, label))) }))
    .filter((c) => qualifies(c.index, c.z));
  // Which way the confirmed labels qualified, for the reason.
  const byMargin = confirmed.every((c) => c.index > threshold);
  // Other labels over the decision threshold in a majority of scans (several infected labels).
  const alsoOver = flaggedAnywhere.filter(
    (l) => !confirmed.some((c) => c.label === l) && reports.filter((r) => (r.indices[indexOfLabel(r, l)] ?? 0) > threshold).length > R / 2,
  );
  const labels = [...confirmed.map((c) => c.label), ...alsoOver].sort((a, b) => a - b);
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : String(x));
  const indexText = R === 1 ? `anomaly index ${fmt(reports[0].anomalyIndex)}` : `anomaly indices ${reports.map((r) => fmt(r.anomalyIndex)).join(', ')} over ${R} scans`;
  // The fields every verdict carries.
  const settled = { flaggedAnywhere, decisionThreshold: threshold, thresholdSource: source, rule, medianAnomalyIndex: medianIndex };
  if (labels.length > 0) {
    const reached = labels.every((l) => reachedByLabel?.get(l) ?? true);
    const several = labels.length > 1;
    const recommendation: Recommendation = several || !reached ? 'reject' : 'repair';
    const why = several
      ? `several labels (${labels.join(', ')}) look infected: one reversed trigger will not repair them all, and the median the test relies on is unreliable with several infected labels`
      : !reached
        ? `the reversed trigger of label ${labels[0]} never reached the success threshold, so there is no reliable trigger to unlearn`
        : `one label (${labels[0]}) has a reversed trigger much smaller than the others'; unlearning it (paper §VI-C: fine-tune on 10% of the data with 20% stamped, true labels kept) or pruning usually removes the backdoor — reject instead if you cannot verify the repaired model`;
    return {
      status: 'backdoored',
      backdoored: true,
      labels,
      recommendation,
      reason:
        `${indexText} (decision threshold ${threshold.toFixed(2)}` +
        (byMargin
          ? ''
          : `; flagged at > ${flag} and confirmed by the second statistic (${second![0].detector}) at ${confirmed.map((c) => reports.map((_, i) => fmt(zOf(i, c.label))).join(', ')).join('; ')}`) +
        `): ${why}.`,
      ...settled,
    };
  }
  const suspicious = (reason: string): Verdict => ({ status: 'suspicious', backdoored: false, labels: [], recommendation: 'rescan', reason, ...settled });
  if (flaggedAnywhere.length > 0) {
    return suspicious(
      `${indexText}: label(s) ${flaggedAnywhere.join(', ')} flagged at index > ${flag}, but not above the decision threshold ` +
        `${threshold.toFixed(2)}${second ? ` nor confirmed by the second statistic (${second[0].detector} > ${threshold.toFixed(2)})` : ''} in a majority of scans; ` +
        `clean MNIST nets reach 2.1–2.2 with this recipe. Rescan with --repeat 3 (or more) and inspect the masks.`,
    );
  }
  if (second) {
    const over = new Map<number, number[]>();
    for (const r of second) if (r.anomalyIndex > threshold) over.set(r.minLabel, [...(over.get(r.minLabel) ?? []), r.anomalyIndex]);
    const [label, idx] = [...over.entries()].find(([, v]) => v.length > second.length / 2) ?? [];
    if (label !== undefined) {
      return suspicious(
        `${indexText}: the ${reports[0].detector} test flags nothing, but the second statistic (${second[0].detector}) puts label ${label} at ` +
          `${idx!.map(fmt).join(', ')} (> ${threshold.toFixed(2)}): its reversed trigger is much smaller than the others' while their spread hides it from the first test. ` +
          `Rescan with --repeat 3 (or more) and inspect label ${label}'s mask.`,
      );
    }
  }
  return {
    status: 'clean',
    backdoored: false,
    labels: [],
    recommendation: 'accept',
    reason: `${indexText}: no label's reversed trigger is an outlier (index ≤ ${reports[0].threshold}).`,
    ...settled,
  };
}

function indexOfLabel(r: OutlierReport, label: number): number {
  return r.labels.indexOf(label);
}
