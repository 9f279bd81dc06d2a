/**
 * The Neural Cleanse recipe (Wang et al., IEEE S&P 2019) as options with the authors' release as
 * defaults (bolunwang/backdoor: visualizer.py, gtsrb_visualize_example.py, mad_outlier_detection.py).
 * Each default is declared once here; the CLI's help and the scan's record derive from it.
 * This module loads no TensorFlow.js.
 */
import { OptionError } from '../errors.js';
import { checkOneOf, checkPositive, checkPositiveInt, checkRange } from '../options.js';
import { KERAS_EPSILON } from '../keras.js';

/** Adam learning rate 0.1 (release: LR). */
export const DEFAULT_LEARNING_RATE = 0.1;
/** Adam β₁ 0.5 and β₂ 0.9 (release: `Adam(lr, beta_1=0.5, beta_2=0.9)`). */
export const DEFAULT_BETA1 = 0.5;
export const DEFAULT_BETA2 = 0.9;
/** ε of the tanh parameterization and of Adam, 1e-7 (release: K.epsilon()). */
export const DEFAULT_EPSILON = KERAS_EPSILON;
/** Mini-batch of 32 images (release: BATCH_SIZE). */
export const DEFAULT_BATCH_SIZE = 32;
/** Mini-batches per step: 31 = NB_SAMPLE 1000 // BATCH_SIZE 32 (release: MINI_BATCH). */
export const DEFAULT_MINI_BATCHES = 31;
/** At most 1000 steps per label (release: STEPS). */
export const DEFAULT_MAX_STEPS = 1000;
/** Attack success threshold 0.99 (release: ATTACK_SUCC_THRESHOLD). */
export const DEFAULT_SUCCESS_THRESHOLD = 0.99;
/** Patience 5 steps for cost changes and the warm-up (release: PATIENCE). */
export const DEFAULT_PATIENCE = 5;
/** Initial cost 1e-3 (release: INIT_COST). */
export const DEFAULT_INIT_COST = 1e-3;
/** Cost multiplier 2: up ×2, down ÷2^1.5 (release: COST_MULTIPLIER; visualizer.py). */
export const DEFAULT_COST_MULTIPLIER = 2;
/** Early stop: threshold 1.0, patience 5·PATIENCE = 25 (release: EARLY_STOP_THRESHOLD, EARLY_STOP_PATIENCE). */
export const DEFAULT_EARLY_STOP_THRESHOLD = 1.0;
export const DEFAULT_EARLY_STOP_PATIENCE = 25;
/** Super-pixel size 1: a per-pixel mask (release: UPSAMPLE_SIZE). */
export const DEFAULT_UPSAMPLE = 1;

/** Loss on the stamped inputs: true cross-entropy (every port) or the release's swapped arguments. */
export const LOSS_KINDS = ['cross-entropy', 'release-swapped'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];
/** Default: true cross-entropy (the paper's objective; the release's swap is offered as an option). */
export const DEFAULT_LOSS: LossKind = 'cross-entropy';

/** Mask regularizer: L1 (paper, release) or L2 (IBM ART's default). */
export const NORMS = ['l1', 'l2'] as const;
export type NormKind = (typeof NORMS)[number];
export const DEFAULT_NORM: NormKind = 'l1';

/** Mask shape: H×W shared by the channels (paper, release) or H×W×C (a port's variant). */
export const MASK_SHAPES = ['shared', 'full'] as const;
export type MaskShape = (typeof MASK_SHAPES)[number];
export const DEFAULT_MASK_SHAPE: MaskShape = 'shared';

/** Options of one label's trigger reverse engineering; every default is the release's. */
export interface ReverseOptions {
  /** Adam learning rate. */
  readonly learningRate?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  /** ε of the tanh mapping (m = tanh(w)/(2 − ε) + 0.5) and of Adam. */
  readonly epsilon?: number;
  /** Images per mini-batch. */
  readonly batchSize?: number;
  /** Mini-batches per step. */
  readonly miniBatches?: number;
  /** Maximum steps per label. */
  readonly maxSteps?: number;
  /** Share of stamped inputs sent to the target for a mask to count as a trigger. */
  readonly successThreshold?: number;
  readonly patience?: number;
  readonly initCost?: number;
  /** Up ×m, down ÷m^1.5. */
  readonly costMultiplier?: number;
  readonly earlyStop?: boolean;
  readonly earlyStopThreshold?: number;
  readonly earlyStopPatience?: number;
  /** Cost starts at 0 and is set to initCost after `patience` successful steps (release); false: starts at initCost. */
  readonly warmup?: boolean;
  readonly loss?: LossKind;
  readonly norm?: NormKind;
  readonly maskShape?: MaskShape;
  /** Super-pixel size u of the mask (H/u × W/u, nearest upsampling, cropped). */
  readonly upsample?: number;
}

/** Every option resolved (what the scan records). */
export type ReverseRecipe = { readonly [K in keyof ReverseOptions]-?: NonNullable<ReverseOptions[K]> };

/** Resolves and validates the options (scikit-learn style: one message shape, naming the option). */
export function resolveReverseRecipe(o: ReverseOptions = {}): ReverseRecipe {
  const r: ReverseRecipe = {
    learningRate: checkPositive('learningRate', o.learningRate ?? DEFAULT_LEARNING_RATE),
    beta1: checkRange('beta1', o.beta1 ?? DEFAULT_BETA1, 0, 1),
    beta2: checkRange('beta2', o.beta2 ?? DEFAULT_BETA2, 0, 1),
    epsilon: checkRange('epsilon', o.epsilon ?? DEFAULT_EPSILON, 0, 1),
    batchSize: checkPositiveInt('batchSize', o.batchSize ?? DEFAULT_BATCH_SIZE),
    miniBatches: checkPositiveInt('miniBatches', o.miniBatches ?? DEFAULT_MINI_BATCHES),
    maxSteps: checkPositiveInt('maxSteps', o.maxSteps ?? DEFAULT_MAX_STEPS),
    successThreshold: checkRange('successThreshold', o.successThreshold ?? DEFAULT_SUCCESS_THRESHOLD, 0, 1, true),
    patience: checkPositiveInt('patience', o.patience ?? DEFAULT_PATIENCE),
    initCost: checkPositive('initCost', o.initCost ?? DEFAULT_INIT_COST),
    costMultiplier: checkPositive('costMultiplier', o.costMultiplier ?? DEFAULT_COST_MULTIPLIER),
    earlyStop: o.earlyStop ?? true,
    earlyStopThreshold: checkPositive('earlyStopThreshold', o.earlyStopThreshold ?? DEFAULT_EARLY_STOP_THRESHOLD),
    earlyStopPatience: checkPositiveInt('earlyStopPatience', o.earlyStopPatience ?? DEFAULT_EARLY_STOP_PATIENCE),
    warmup: o.warmup ?? true,
    loss: checkOneOf('loss', o.loss ?? DEFAULT_LOSS, LOSS_KINDS),
    norm: checkOneOf('norm', o.norm ?? DEFAULT_NORM, NORMS),
    maskShape: checkOneOf('maskShape', o.maskShape ?? DEFAULT_MASK_SHAPE, MASK_SHAPES),
    upsample: checkPositiveInt('upsample', o.upsample ?? DEFAULT_UPSAMPLE),
  };
  if (r.costMultiplier <= 1) throw new OptionError('costMultiplier', 'greater than 1', r.costMultiplier);
  if (r.upsample > 1 && r.maskShape === 'full') {
    throw new OptionError('upsample', "1 with maskShape 'full' (super-pixels are a shared-mask option of the release)", r.upsample);
  }
  return r;
}
