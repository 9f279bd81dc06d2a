/**
 * What mitigateModel (mitigate.ts) hands each method's run (method-filter.ts, method-prune.ts,
 * method-unlearn.ts) once the model, the scan's reversed triggers, the data and the figures before
 * are in place, and what a run hands back for the report.
 */
import type { ImageSet } from '../../data/images.js';
import type { ModelEngineChoice } from '../../nn/engine-choice.js';
import type { Random } from '../../random.js';
import type { MitigationLayer } from './layers.js';
import type { EvaluationSets, Metrics, Predictions } from './measure.js';
import type { LayerProbe, MitigationNet } from './net.js';
import type { NeuronRanking } from './ranking.js';
import type { MitigationRecipe } from './recipe.js';
import type { MitigationReport } from './report.js';
import type { ReversedTrigger } from './reversed-trigger.js';

export interface MitigateProgress {
  readonly phase: 'evaluate-before' | 'rank' | 'calibrate' | 'features' | 'prune-search' | 'prune-curve' | 'fine-tune' | 'evaluate-after';
  readonly done: number;
  readonly total: number;
}

/** Everything a method's run reads (see the module comment). */
export interface MethodContext<R extends MitigationRecipe> {
  readonly recipe: R;
  readonly net: MitigationNet;
  /** SHA-256 of the model, as the scan checked it. */
  readonly sha: string;
  readonly scanDir: string;
  /** The labels mitigated, and their reversed triggers in the same order. */
  readonly labels: readonly number[];
  readonly reversed: readonly ReversedTrigger[];
  readonly train: ImageSet;
  /** The test split in its forms (clean, real trigger, each reversed trigger). */
  readonly sets: EvaluationSets;
  /** Images in `sets`. */
  readonly evalTotal: number;
  readonly before: Metrics;
  readonly beforePred: Predictions;
  readonly asrShown: MitigationReport['asrShown'];
  /** The seeded generator of the data draws, after the defender's images were drawn. */
  readonly rng: Random;
  readonly out: string | undefined;
  readonly engine: ModelEngineChoice | undefined;
  readonly progress: (p: MitigateProgress) => void;
  /** The report's notes; a run adds its own. */
  readonly notes: string[];
}

/** What the filter and pruning read besides: the layer, the neuron ranking and the defender's clean images. */
export interface ProbedContext<R extends MitigationRecipe> extends MethodContext<R> {
  readonly probe: LayerProbe;
  readonly layer: MitigationLayer;
  /** The ranking under every reversed trigger (a neuron's score: its largest gap, ranking.ts). */
  readonly ranking: NeuronRanking;
  /** Per reversed trigger, the ranking under that trigger alone (one trigger: `ranking` itself). */
  readonly rankingByLabel: readonly NeuronRanking[];
  /** Clean training images of the ranking, and the disjoint ones of the filter's calibration. */
  readonly rankSet: ImageSet;
  readonly calibrationSet: ImageSet;
}

/** What a method's run adds to the report. */
export type MethodResult = Pick<MitigationReport, 'after'> & Partial<Pick<MitigationReport, 'filter' | 'pruning' | 'unlearning' | 'output' | 'trainingEngine'>>;
