/**
 * A mitigation's recipe, resolved and checked before any model or data is loaded (scikit-learn's
 * check at fit): every value in range, and no option the chosen method would ignore (a `layer` for
 * unlearning, an `fpr` for pruning …): a contradiction is refused rather than silently dropped.
 * Free of TensorFlow.js, like defaults.ts.
 */
import { OptionError } from '../../errors.js';
import { checkNonNegativeInt, checkOneOf, checkPositive, checkPositiveInt, checkRange } from '../../options.js';
import { checkSeed, DEFAULT_SEED } from '../../random.js';
import {
  DEFAULT_ASR_THRESHOLD,
  DEFAULT_CURVE_STEP,
  DEFAULT_DEFENSE_IMAGES,
  DEFAULT_FPR,
  DEFAULT_LAYER,
  DEFAULT_MAX_SHARE,
  DEFAULT_PRUNE_FINE_TUNE_EPOCHS,
  DEFAULT_STAMPED_SHARE,
  DEFAULT_TOP_SHARE,
  DEFAULT_UNLEARN_BATCH_SIZE,
  DEFAULT_UNLEARN_EPOCHS,
  DEFAULT_UNLEARN_LEARNING_RATE,
  DEFAULT_UNLEARN_SHARE,
  type PruneStop,
} from './defaults.js';

export const MITIGATION_METHODS = ['filter', 'prune', 'unlearn'] as const;
export type MitigationMethod = (typeof MITIGATION_METHODS)[number];

/** The recipe's options of {@link MitigateOptions} (mitigate.ts), each with its default in defaults.ts. */
export interface MitigationRecipeOptions {
  readonly method: MitigationMethod;
  /** Seed of the data draws and the fine-tuning order. */
  readonly seed?: number;
  /** Filter and pruning: 'penultimate' (default), 'last-conv' or a layer name. */
  readonly layer?: string;
  /** Filter and pruning: clean training images for ranking (and as many again for the filter's calibration). */
  readonly defenseImages?: number;
  /** Filter: false positive rate of the threshold on clean inputs. */
  readonly fpr?: number;
  /** Filter: share of the ranked neurons in the activation profile. */
  readonly topShare?: number;
  /** Pruning: when to stop ('baseline', the default: the reversed trigger no longer works; or an ASR to get under); see defaults.ts. */
  readonly asrThreshold?: PruneStop;
  /** Pruning: the largest share of the layer pruned. */
  readonly maxShare?: number;
  /** Pruning: spacing of the accuracy/ASR curve, as a share of the layer. */
  readonly curveStep?: number;
  /** Pruning: epochs of clean fine-tuning afterwards (pruned neurons kept at zero). */
  readonly fineTuneEpochs?: number;
  /** Unlearning, and pruning's fine-tuning: share of the training data used. */
  readonly unlearnShare?: number;
  /** Unlearning: share of the unlearning set stamped with the reversed trigger. */
  readonly stampedShare?: number;
  /** Unlearning: epochs. */
  readonly epochs?: number;
  /** Unlearning and pruning's fine-tuning: Adam's learning rate. */
  readonly learningRate?: number;
  /** Unlearning and pruning's fine-tuning: mini-batch size. */
  readonly batchSize?: number;
}

type RecipeOption = Exclude<keyof MitigationRecipeOptions, 'method' | 'seed'>;

/** The options each method reads; any other given option is a contradiction. Pruning reads the fine-tuning ones only with fineTuneEpochs > 0. */
export const METHOD_OPTIONS: Readonly<Record<MitigationMethod, readonly RecipeOption[]>> = {
  filter: ['layer', 'defenseImages', 'fpr', 'topShare'],
  prune: ['layer', 'defenseImages', 'asrThreshold', 'maxShare', 'curveStep', 'fineTuneEpochs', 'unlearnShare', 'learningRate', 'batchSize'],
  unlearn: ['unlearnShare', 'stampedShare', 'epochs', 'learningRate', 'batchSize'],
};
const FINE_TUNE_OPTIONS: readonly RecipeOption[] = ['unlearnShare', 'learningRate', 'batchSize'];

/** Adam's fine-tuning: share of the training data, rate, batch. */
export interface FineTuneRecipe {
  readonly share: number;
  readonly learningRate: number;
  readonly batchSize: number;
}

export type MitigationRecipe =
  | { readonly method: 'filter'; readonly seed: number; readonly layer: string; readonly defenseImages: number; readonly fpr: number; readonly topShare: number }
  | {
      readonly method: 'prune';
      readonly seed: number;
      readonly layer: string;
      readonly defenseImages: number;
      readonly asrThreshold: PruneStop;
      readonly maxShare: number;
      readonly curveStep: number;
      readonly fineTuneEpochs: number;
      /** The clean fine-tuning after pruning (null with 0 epochs). */
      readonly fineTune: FineTuneRecipe | null;
    }
  | ({ readonly method: 'unlearn'; readonly seed: number; readonly stampedShare: number; readonly epochs: number } & FineTuneRecipe);

/** The options `method` reads, given the others (pruning reads the fine-tuning ones only with fineTuneEpochs > 0). */
function optionsRead(method: MitigationMethod, options: Partial<MitigationRecipeOptions>): Set<RecipeOption> {
  const reads = new Set<RecipeOption>(METHOD_OPTIONS[method]);
  if (method === 'prune' && (options.fineTuneEpochs ?? DEFAULT_PRUNE_FINE_TUNE_EPOCHS) === 0) for (const k of FINE_TUNE_OPTIONS) reads.delete(k);
  return reads;
}

/** The options of `options` that `method` reads, and those that are no recipe option (for running several methods from one set of options). */
export function optionsForMethod<T extends Partial<MitigationRecipeOptions>>(options: T, method: MitigationMethod): T {
  const reads = optionsRead(method, options) as Set<string>;
  const recipeKeys = new Set<string>(Object.values(METHOD_OPTIONS).flat());
  return Object.fromEntries(Object.entries(options).filter(([k]) => reads.has(k) || !recipeKeys.has(k))) as T;
}

/** Resolves the recipe (see the module comment); throws an OptionError naming the first bad or contradictory option. */
export function resolveMitigationRecipe(options: MitigationRecipeOptions): MitigationRecipe {
  const method = checkOneOf('method', options.method, MITIGATION_METHODS);
  const seed = checkSeed('seed', options.seed ?? DEFAULT_SEED);
  const reads = optionsRead(method, options);
  for (const key of new Set(Object.values(METHOD_OPTIONS).flat())) {
    if (options[key] !== undefined && !reads.has(key)) {
      const why = method === 'prune' && FINE_TUNE_OPTIONS.includes(key) ? 'pruning without fine-tuning (fineTuneEpochs 0)' : `the '${method}' method`;
      throw new OptionError(key, `absent: ${why} does not use it`, options[key]);
    }
  }
  const fineTune = (): FineTuneRecipe => ({
    share: checkRange('unlearnShare', options.unlearnShare ?? DEFAULT_UNLEARN_SHARE, 0, 1, true),
    learningRate: checkPositive('learningRate', options.learningRate ?? DEFAULT_UNLEARN_LEARNING_RATE),
    batchSize: checkPositiveInt('batchSize', options.batchSize ?? DEFAULT_UNLEARN_BATCH_SIZE),
  });
  if (method === 'unlearn') {
    return {
      method,
      seed,
      stampedShare: checkRange('stampedShare', options.stampedShare ?? DEFAULT_STAMPED_SHARE, 0, 1, true),
      epochs: checkPositiveInt('epochs', options.epochs ?? DEFAULT_UNLEARN_EPOCHS),
      ...fineTune(),
    };
  }
  const layer = options.layer ?? DEFAULT_LAYER;
  if (typeof layer !== 'string' || layer === '') throw new OptionError('layer', "'penultimate', 'last-conv' or a layer name", layer);
  const defenseImages = checkPositiveInt('defenseImages', options.defenseImages ?? DEFAULT_DEFENSE_IMAGES);
  if (method === 'filter') {
    return {
      method,
      seed,
      layer,
      defenseImages,
      fpr: checkRange('fpr', options.fpr ?? DEFAULT_FPR, 0, 1),
      topShare: checkRange('topShare', options.topShare ?? DEFAULT_TOP_SHARE, 0, 1, true),
    };
  }
  const asrThreshold: PruneStop = options.asrThreshold ?? DEFAULT_ASR_THRESHOLD;
  if (asrThreshold !== 'baseline') checkRange('asrThreshold', asrThreshold, 0, 1, true);
  const fineTuneEpochs = checkNonNegativeInt('fineTuneEpochs', options.fineTuneEpochs ?? DEFAULT_PRUNE_FINE_TUNE_EPOCHS);
  return {
    method,
    seed,
    layer,
    defenseImages,
    asrThreshold,
    maxShare: checkRange('maxShare', options.maxShare ?? DEFAULT_MAX_SHARE, 0, 1),
    curveStep: checkPositive('curveStep', checkRange('curveStep', options.curveStep ?? DEFAULT_CURVE_STEP, 0, 1, true)),
    fineTuneEpochs,
    fineTune: fineTuneEpochs > 0 ? fineTune() : null,
  };
}
