/**
 * The shape mitigation.json follows, as the report reads it: most fields optional, so that a
 * hand-written or older file still renders (the page says what is missing). MitigationReport
 * (mitigate.ts) is this with every field the mitigate command writes.
 */

/** Accuracy and attack success rate of one model. */
export interface AccuracyAsr {
  /** Clean test accuracy in [0, 1]. */
  readonly accuracy: number;
  /** Attack success rate in [0, 1]. */
  readonly asr: number;
  /** Each recorded backdoor's attack success rate, in the order of the summary's `backdoors` (when it lists them). */
  readonly asrByBackdoor?: readonly number[];
}

/** The `mitigation` section (mitigation.json). */
export interface MitigationSummary {
  readonly kind?: 'mitigation';
  /** 'prune', 'unlearn', 'filter' … (the mitigate command's --method). */
  readonly method?: string;
  readonly model?: string;
  /** The scan folder whose reversed trigger was used; the report shows that scan when the run folder holds none. */
  readonly scan?: string;
  /** Why this label was mitigated, in words (e.g. "label 7 (flagged by the scan …)"). */
  readonly labelReason?: string;
  /** True when the scan flagged nothing and no label was given: nothing was done. */
  readonly nothingToMitigate?: boolean;
  /** Whose trigger the `asr` fields measure: the real one (from the model's metadata) or the reversed one. */
  readonly asrShown?: 'real' | 'reversed';
  /** The label the mitigation targets (the flagged one); several: the first. */
  readonly targetLabel?: number;
  /** Every label mitigated (a file written before several labels could be mitigated has only `targetLabel`). */
  readonly targetLabels?: readonly number[];
  /**
   * Every backdoor the model records, in its records' order (the real trigger first, when it has a
   * target), when the real trigger alone cannot say them: several, or an all-to-all one (target
   * null: a stamped image of label y is sent to y + 1). `description`: its trigger and where it
   * sends inputs, as `evaluate` describes it.
   */
  readonly backdoors?: readonly { readonly target: number | null; readonly description: string }[];
  /** The model before any mitigation. */
  readonly baseline?: AccuracyAsr;
  /** The input filter on second-to-last-layer activations. */
  readonly filter?: {
    /** False positive rate on clean inputs at the chosen threshold (the paper: 0.05). */
    readonly fpr: number;
    /** False negative rate on inputs carrying the real trigger. */
    readonly fnr: number;
    /** Per recorded backdoor (see `backdoors`), the false negative rate on inputs carrying its trigger. */
    readonly fnrByBackdoor?: readonly number[];
    readonly threshold?: number;
    readonly neurons?: number;
    readonly layer?: string;
  };
  /** Neuron pruning: accuracy and ASR against the share of neurons pruned. */
  readonly pruning?: {
    readonly layer?: string;
    readonly points: readonly ({ readonly share: number } & AccuracyAsr)[];
    /** Share at which pruning stopped (the model no longer answers the reversed trigger). */
    readonly stopShare?: number;
  };
  /** Unlearning: fine-tuning with the reversed trigger under true labels. */
  readonly unlearning?: {
    readonly before: AccuracyAsr;
    readonly after: AccuracyAsr;
    readonly epochs?: number;
    /** Share of the fine-tuning set that carries the reversed trigger. */
    readonly stampedShare?: number;
  };
  readonly seed?: number;
  readonly seconds?: number;
  readonly notes?: readonly string[];
}
