/**
 * One verdict over several detectors. Each detector calls the model backdoored at its own
 * threshold (a p-value, an anomaly index, a binomial test); the combined rule is the union: the model
 * is backdoored when any voting detector says so (registry.ts names those that do not vote, and why), 'suspicious' when none does but Neural Cleanse's verdict
 * is suspicious, clean otherwise. The union keeps each detector's catches (the detectors miss
 * different attack families, registry.ts) at the price of adding their false-positive rates.
 *
 * The combined model score, for ROC-AUC over many models, is the largest of the detectors' scores
 * each divided by its own threshold: 1 is "at some detector's threshold".
 */
import type { DetectorResult } from './detector.js';
import { DETECTORS } from './registry.js';

export type CombinedStatus = 'backdoored' | 'suspicious' | 'clean';

export interface CombinedVerdict {
  readonly status: CombinedStatus;
  readonly backdoored: boolean;
  /** The voting detectors that call the model backdoored. */
  readonly by: readonly string[];
  /** Labels flagged by those detectors (their union). */
  readonly labels: readonly number[];
  /** max over detectors of score / threshold. */
  readonly score: number;
  readonly rule: string;
}

/** The detectors that report without voting, from the registry (the rule's text names them). */
const NON_VOTING = Object.keys(DETECTORS).filter((name) => DETECTORS[name].noVote !== undefined);

export const COMBINED_RULE =
  `backdoored when any voting detector calls the model backdoored at its own threshold (the union${NON_VOTING.length > 0 ? `; ${NON_VOTING.join(' and ')} report but do not vote` : ''}; a detector that had nothing to judge abstains, e.g. STRIP without a training set); suspicious when none does but Neural Cleanse's verdict is suspicious; clean otherwise. ` +
  "Combined score: the largest voting detector's score divided by its threshold.";

/** Whether a detector's calls enter the combined verdict (unknown names vote: a caller's own detector). */
export function votes(name: string): boolean {
  return !(Object.hasOwn(DETECTORS, name) && DETECTORS[name].noVote !== undefined);
}

/** Whether this result enters the combined verdict: its detector votes and it did not abstain. */
export function resultVotes(r: DetectorResult): boolean {
  return votes(r.detector) && r.abstains === undefined;
}

/** A detector's score on the common scale (1 = its threshold); a zero threshold leaves the score as it is. */
export function normalizedScore(r: DetectorResult): number {
  return r.threshold > 0 ? r.score / r.threshold : r.score;
}

export function combineVerdicts(all: readonly DetectorResult[]): CombinedVerdict {
  const results = all.filter(resultVotes);
  const by = results.filter((r) => r.backdoored).map((r) => r.detector);
  const labels = [...new Set(results.filter((r) => r.backdoored).flatMap((r) => r.flagged))].sort((a, b) => a - b);
  const suspicious = results.some((r) => (r.details as { verdict?: string } | undefined)?.verdict === 'suspicious');
  const status: CombinedStatus = by.length > 0 ? 'backdoored' : suspicious ? 'suspicious' : 'clean';
  const score = results.length > 0 ? Math.max(...results.map(normalizedScore)) : 0;
  return { status, backdoored: by.length > 0, by, labels, score, rule: COMBINED_RULE };
}
