/**
 * The questions every backdoor detector answers, whatever it measures (TrojanZoo's shape, widened to
 * detectors that are not trigger inversions): a statistic per label, the labels it flags, one score
 * per model where higher means more suspicious (so that ROC-AUC can be computed over many models),
 * whether the model is flagged at the detector's own threshold, and the recipe and seed that
 * produced it. Results are plain objects that serialize to JSON as they are.
 */

/** The data a detector needs besides the model. */
export type DetectorNeeds = 'nothing' | 'clean-images' | 'training-set';

export interface DetectorResult {
  /** The detector's name (registry.ts). */
  readonly detector: string;
  /** What the per-label statistic is, in words. */
  readonly statistic: string;
  /** The labels scored, in the order of `perLabel`. */
  readonly labels: readonly number[];
  /** The statistic of each label. */
  readonly perLabel: readonly number[];
  /** Labels the detector flags at its own threshold. */
  readonly flagged: readonly number[];
  /** The model's score: higher is more suspicious. */
  readonly score: number;
  /** What the score is, in words. */
  readonly scoreMeaning: string;
  /** The score above which (or the rule by which) the detector calls the model backdoored. */
  readonly threshold: number;
  /** Whether the detector calls the model backdoored at its threshold. */
  readonly backdoored: boolean;
  /** The detector's resolved options (every default written out). */
  readonly recipe: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly seconds: number;
  /**
   * Why this result's call stays out of the combined verdict, when the detector had nothing it can
   * judge (STRIP given no training set: every audited input is a clean test image).
   */
  readonly abstains?: string;
  /** Training-set audits: the indices (into the training set) of the samples named as suspect, by label. */
  readonly suspects?: Readonly<Record<string, readonly number[]>>;
  /** Anything else the detector reports (its own fields). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Labels 0..K−1. */
export function allLabels(numClasses: number): number[] {
  return Array.from({ length: numClasses }, (_, i) => i);
}
