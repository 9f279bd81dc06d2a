/**
 * One verdict over several detectors. Each detector calls the model backdoored at its own
 * threshold (a p-value, an anomaly index, a binomial test); the combined rule is the union: the model
 * is backdoored when any detector says so, 'suspicious' when none does but Neural Cleanse's verdict
 * is suspicious, clean otherwise. The union keeps each detector's catches (the detectors miss
 * different attack families, registry.ts) at the price of adding their false-positive rates.
 *
 * The combined model score, for ROC-AUC over many models, is the largest of the detectors' scores
 * each divided by its own threshold: 1 is "at some detector's threshold".
 */
import type { DetectorResult } from './detector.js';

export type CombinedStatus = 'backdoored' | 'suspicious' | 'clean';

export interface CombinedVerdict {
  readonly status: CombinedStatus;
  readonly backdoored: boolean;
  /** The detectors that call the model backdoored. */
  readonly by: readonly string[];
  /** Labels flagged by those detectors (their union). */
  readonly labels: readonly number[];
  /** max over detectors of score / threshold. */
  readonly score: number;
  readonly rule: string;
}

export const COMBINED_RULE =
  'backdoored when any detector calls the model backdoored at its own threshold (the union); suspicious when none does but Neural Cleanse\'s verdict is suspicious; clean otherwise. ' +
  'Combined score: the largest detector score divided by that detector\'s threshold.';

/** A detector's score on the common scale (1 = its threshold); a zero threshold leaves the score as it is. */
export function normalizedScore(r: DetectorResult): number {
  return r.threshold > 0 ? r.score / r.threshold : r.score;
}

export function combineVerdicts(results: readonly DetectorResult[]): CombinedVerdict {
  const by = results.filter((r) => r.backdoored).map((r) => r.detector);
  const labels = [...new Set(results.filter((r) => r.backdoored).flatMap((r) => r.flagged))].sort((a, b) => a - b);
  const suspicious = results.some((r) => (r.details as { verdict?: string } | undefined)?.verdict === 'suspicious');
  const status: CombinedStatus = by.length > 0 ? 'backdoored' : suspicious ? 'suspicious' : 'clean';
  const score = results.length > 0 ? Math.max(...results.map(normalizedScore)) : 0;
  return { status, backdoored: by.length > 0, by, labels, score, rule: COMBINED_RULE };
}
