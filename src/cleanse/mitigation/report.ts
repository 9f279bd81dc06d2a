/** A mitigation's result (what mitigation.json holds), and several runs' results as one. */
import { OptionError } from '../../errors.js';
import type { PruneStop } from './defaults.js';
import type { FilterCurvePoint } from './filter.js';
import type { Metrics } from './measure.js';
import type { PruningPoint } from './prune.js';
import type { ModelEngineDecision } from '../../nn/onnx-gradient.js';
import type { MitigationMethod, MitigationRecipe } from './recipe.js';
import type { AccuracyAsr, MitigationSummary } from './summary.js';
import type { UnlearningSet } from './unlearn.js';

/** The file a mitigation writes its report to. */
export const MITIGATION_JSON = 'mitigation.json';

export interface MitigationReport extends MitigationSummary {
  readonly kind: 'mitigation';
  /** The method, or 'all' for the three run one after another from the same model ({@link combineReports}). */
  readonly method: MitigationMethod | 'all';
  /** The recipe run (every value, defaults included); 'all': one per method run. */
  readonly recipe: MitigationRecipe | { readonly method: 'all'; readonly recipes: readonly MitigationRecipe[] };
  readonly model: string;
  readonly modelSha256: string;
  readonly scan: string;
  /** The (first) label mitigated (absent: nothing to mitigate). */
  readonly targetLabel?: number;
  /** Every label mitigated, in the order the per-label figures (`asrReversedByLabel` …) follow. */
  readonly targetLabels?: readonly number[];
  readonly labelReason: string;
  /** Nothing was done: the scan flagged no label and none was given. */
  readonly nothingToMitigate: boolean;
  readonly realTrigger: { readonly target: number; readonly description: string } | null;
  /** Which trigger's ASR fills the report-facing `asr` fields (baseline, pruning points, unlearning). */
  readonly asrShown: 'real' | 'reversed';
  readonly layer?: { readonly name: string; readonly kind: 'dense' | 'conv'; readonly units: number; readonly index: number };
  readonly before?: Metrics;
  /** Prune/unlearn: the patched model; filter: through the filter (a rejected input counts as neither correct nor attacked). */
  readonly after?: Metrics;
  readonly ranking?: {
    readonly images: number;
    /** Several labels: `label` is the one whose reversed trigger gives the neuron its score (its largest gap). */
    readonly top: readonly { readonly neuron: number; readonly score: number; readonly meanClean: number; readonly meanStamped: number; readonly label?: number }[];
  };
  readonly filter?: MitigationSummary['filter'] & {
    /** Several labels: the largest of theirs. */
    readonly fnrReversed: number;
    /** Per mitigated label: its reversed trigger's inputs not flagged. */
    readonly fnrReversedByLabel: readonly number[];
    /** Per mitigated label: its profile's neurons and threshold (a one-label filter: `neuronIndices` and `threshold`). */
    readonly profiles: readonly { readonly label: number; readonly neuronIndices: readonly number[]; readonly threshold: number }[];
    /**
     * FNR among the real-trigger inputs the backdoor actually sends to the target (the attacks
     * that work; a stamped input the model still classifies correctly needs no filtering); null
     * without a real trigger.
     */
    readonly fnrSuccessful: number | null;
    /** Per recorded backdoor, `fnrSuccessful` of its trigger (when `backdoors` lists them); null where it captured nothing before. */
    readonly fnrSuccessfulByBackdoor?: readonly (number | null)[];
    readonly measuredFpr: number;
    readonly neuronIndices: readonly number[];
    readonly calibrationImages: number;
    readonly curve: readonly FilterCurvePoint[];
    readonly file?: string;
  };
  readonly pruning?: Omit<NonNullable<MitigationSummary['pruning']>, 'points'> & {
    readonly points: readonly ({ share: number; accuracy: number; asr: number } & PruningPoint)[];
    readonly pruned: readonly number[];
    readonly asrThreshold: PruneStop;
    /** With the 'baseline' stop: the unstamped images' share sent to the target where the search stopped. */
    readonly searchBaseline: number | null;
    readonly maxShare: number;
    readonly reachedThreshold: boolean;
    /** The reversed trigger's ASR on the defender's images where the search stopped (several labels: the largest). */
    readonly searchAsr: number;
    /** Per mitigated label: its reversed trigger's ASR on the defender's images (and unstamped, with the 'baseline' stop) where the search stopped. */
    readonly searchByLabel: readonly { readonly label: number; readonly asr: number; readonly baseline: number | null }[];
    readonly fineTuneEpochs: number;
  };
  readonly unlearning?: NonNullable<MitigationSummary['unlearning']> & {
    readonly images: number;
    readonly stamped: number;
    /** Per mitigated label: the images its reversed trigger stamped. */
    readonly stampedByLabel: readonly { readonly label: number; readonly stamped: number }[];
    readonly stampedFrom: string;
    readonly learningRate: number;
    readonly batchSize: number;
    readonly keptPruned: number;
  };
  readonly output?: { readonly model?: string; readonly filter?: string };
  readonly dataset: string;
  readonly backend: string;
  /** Unlearning and pruning's fine-tuning: the engine that ran the steps ('onnx' or 'tfjs') and why. */
  readonly trainingEngine?: ModelEngineDecision;
  readonly seed: number;
  readonly seconds: number;
  readonly date: string;
  readonly notes: readonly string[];
}

/**
 * One report of several runs on the same model and scan (each from the original model): the
 * filter, pruning and unlearning sections side by side, as the report's mitigation section shows
 * them. `after` is left out (it differs per method; each section has its own).
 */
export function combineReports(reports: readonly MitigationReport[]): MitigationReport {
  if (reports.length === 0) throw new OptionError('reports', 'at least one mitigation report', 0);
  const first = reports[0];
  const labelsOf = (r: MitigationReport): string => (r.targetLabels ?? (r.targetLabel === undefined ? [] : [r.targetLabel])).join(',');
  for (const r of reports) {
    if (r.modelSha256 !== first.modelSha256 || labelsOf(r) !== labelsOf(first)) {
      throw new OptionError('reports', 'reports of the same model and labels', `${r.model} label(s) ${labelsOf(r)}`);
    }
  }
  const pick = <K extends 'filter' | 'pruning' | 'unlearning' | 'ranking'>(k: K): Partial<Pick<MitigationReport, K>> => {
    const r = reports.find((x) => x[k] !== undefined);
    return r ? ({ [k]: r[k] } as Partial<Pick<MitigationReport, K>>) : {};
  };
  const { after: _after, output: _output, filter: _f, pruning: _p, unlearning: _u, ranking: _r, ...common } = first;
  return {
    ...common,
    method: 'all',
    recipe: { method: 'all', recipes: reports.flatMap((r) => ('recipes' in r.recipe ? r.recipe.recipes : [r.recipe])) },
    ...pick('ranking'),
    ...pick('filter'),
    ...pick('pruning'),
    ...pick('unlearning'),
    seconds: reports.reduce((a, r) => a + r.seconds, 0),
    date: new Date().toISOString(),
    notes: [...new Set(reports.flatMap((r) => r.notes.map((n) => `${r.method}: ${n}`)))],
  };
}

/** The accuracy and the ASR a report shows: the real trigger's ASR when the model names one, else the reversed trigger's; and each recorded backdoor's when the figures list them. */
export function shownFigures(m: Metrics, asrShown: MitigationReport['asrShown']): AccuracyAsr {
  return { accuracy: m.cleanAccuracy, asr: (asrShown === 'real' ? m.asrReal : m.asrReversed) ?? 0, ...(m.asrByBackdoor ? { asrByBackdoor: m.asrByBackdoor } : {}) };
}

/** What an unlearning report says of its run (a TF.js model's or an ONNX model's). */
export function unlearningSummary(
  ul: UnlearningSet,
  labels: readonly number[],
  figures: { readonly before: Metrics; readonly after: Metrics; readonly asrShown: MitigationReport['asrShown'] },
  recipe: { readonly epochs: number; readonly learningRate: number; readonly batchSize: number },
  keptPruned: number,
): NonNullable<MitigationReport['unlearning']> {
  return {
    before: shownFigures(figures.before, figures.asrShown),
    after: shownFigures(figures.after, figures.asrShown),
    epochs: recipe.epochs,
    stampedShare: ul.set.count > 0 ? ul.stamped.length / ul.set.count : 0,
    images: ul.set.count,
    stamped: ul.stamped.length,
    stampedByLabel: ul.stampedBy.map((b) => ({ label: b.label, stamped: b.stamped.length })),
    stampedFrom:
      labels.length === 1
        ? `images whose true label is not ${labels[0]}, stamped with the reversed trigger and kept under their true labels`
        : `the stamped share split across labels ${labels.join(', ')}: each label's reversed trigger on images whose true label is another, each image stamped once, kept under their true labels`,
    learningRate: recipe.learningRate,
    batchSize: recipe.batchSize,
    keptPruned,
  };
}
