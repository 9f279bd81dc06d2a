/**
 * A scan's options and their resolution before any model or data is loaded (scikit-learn's check
 * at fit): the recipe, fast mode, the outlier test and the verdict's thresholds.
 */
import { availableParallelism } from 'node:os';
import type { InputLayout } from '../graph/layout.js';
import type { ImageSet } from '../data/images.js';
import { OptionError } from '../errors.js';
import type { BackendChoice } from '../nn/engine.js';
import type { ModelEngineChoice } from '../nn/onnx-gradient.js';
import type { Preprocessing } from '../nn/preprocess.js';
import { checkNonNegativeInt, checkPositiveInt } from '../options.js';
import { checkSeed, DEFAULT_SEED, MAX_SEED } from '../random.js';
import { resolveFast, type FastOptions, type FastRecipe, type RetiredProgress } from './fast.js';
import { DEFAULT_DETECTOR, DEFAULT_FLAG_THRESHOLD, outlierDetector, zscoreDetector, type OutlierDetector } from './outliers.js';
import { resolveReverseRecipe, type ReverseOptions, type ReverseRecipe } from './recipe.js';
import type { StepProgress } from './reverse.js';
import type { LabelSummary } from './label-result.js';
import { checkVerdictOptions, DEFAULT_REPEAT, type VerdictOptions } from './verdict.js';

export interface ScanOptions extends ReverseOptions, VerdictOptions {
  /**
   * Model folder (model.json + weights; metadata.json gives dataset and preprocessing), or an ONNX
   * model (a .onnx file or a folder holding model.onnx; its sidecar gives them, or the options below).
   */
  readonly model: string;
  /** Image dataset ('mnist', 'gtsrb' or a folder); default: the model's metadata. */
  readonly dataset?: string;
  readonly dataDir?: string;
  /** Clean images given directly (raw uint8 NHWC) instead of a dataset's test split. */
  readonly clean?: ImageSet;
  /** Preprocessing when the model folder has no metadata.json (otherwise it must match, or be absent). */
  readonly preprocessing?: Preprocessing;
  /** ONNX models: the input's layout (default: the sidecar's, else NCHW); refused for a TF.js folder. */
  readonly inputLayout?: InputLayout;
  /** Labels to scan; default all. */
  readonly labels?: readonly number[];
  /** Clean images drawn from the test split (seeded); default all of them. */
  readonly cleanImages?: number;
  /** Worker threads; 0 runs in this thread. Default: the number of cores. */
  readonly workers?: number;
  /** Scans with seeds seed, seed+1, …; the verdict looks at all of them. Default 1. */
  readonly repeat?: number;
  /** Fast mode (see fast.ts); true for its defaults. */
  readonly fast?: boolean | FastOptions;
  readonly seed?: number;
  /** Output folder (checkpoints, per-label JSON and PNGs, scan.json); none: nothing written, nothing resumed. */
  readonly out?: string;
  readonly backend?: BackendChoice;
  /**
   * Where the model's forward and backward passes run: 'auto' (default: onnxruntime's CPU kernels
   * when onnxruntime-node loads and the model exports to ONNX, else TensorFlow.js), 'onnx' or 'tfjs'.
   */
  readonly engine?: ModelEngineChoice;
  /** Outlier test: 'mad' (default) or 'zscore'. */
  readonly detector?: string;
  /** Index above which a label is flagged (default 2). */
  readonly flagThreshold?: number;
  readonly onProgress?: (p: ScanProgress) => void;
  /** Stops the scan after the chunks in flight (which are checkpointed); the scan then throws an 'interrupted' error. */
  readonly signal?: AbortSignal;
  /**
   * Quits at once: the chunks in flight are abandoned at their next mini-batch (each label keeps its
   * last checkpoint), the engines are released and the scan throws an 'interrupted' error.
   */
  readonly halt?: AbortSignal;
}

export type ScanProgress =
  | ({ readonly kind: 'step'; readonly seed: number } & StepProgress)
  | { readonly kind: 'resumed'; readonly seed: number; readonly label: number; readonly steps: number }
  | { readonly kind: 'skipped'; readonly seed: number; readonly label: number }
  | { readonly kind: 'label-done'; readonly seed: number; readonly result: LabelSummary }
  | RetiredProgress
  | {
      readonly kind: 'escalate';
      readonly why: 'suspicious' | 'near-threshold';
      readonly reason: string;
      readonly labels: readonly { readonly seed: number; readonly label: number }[];
    };

/** The outlier test needs a few labels to estimate a median and a spread. */
export const MIN_LABELS = 3;

/** A scan's settings, resolved and checked before any model or data is loaded. */
export interface ScanPlan {
  readonly fast: FastRecipe | null;
  /** The full recipe (fast mode's escalation continues with it). */
  readonly fullRecipe: ReverseRecipe;
  /** The recipe of the first phase: the full one, or fast mode's with its budget as the step limit. */
  readonly recipe: ReverseRecipe;
  readonly seed: number;
  readonly repeat: number;
  readonly workers: number;
  readonly detector: OutlierDetector;
  /** The other detector, whose view confirms a flag (verdict.ts). */
  readonly secondary: OutlierDetector;
  readonly flagThreshold: number;
  readonly verdict: VerdictOptions;
  /** The labels asked for (their range is checked once the model's class count is known); default all. */
  readonly labels?: readonly number[];
  readonly cleanImages?: number;
}

/**
 * Resolves and checks every option that needs no model (scikit-learn's check at fit, before the
 * work): the recipe, fast mode, the outlier test and the verdict's thresholds against the flag
 * threshold given, the labels' form and the clean set's size. The labels' range is checked once the
 * model's class count is known, before any data.
 */
export function resolveScanPlan(options: ScanOptions): ScanPlan {
  const fast = options.fast ? resolveFast(options.fast === true ? {} : options.fast) : null;
  // Fast mode's budget is the recipe's own step limit, lowered.
  const fullRecipe = resolveReverseRecipe(options);
  const recipe = fast ? { ...fullRecipe, maxSteps: Math.min(fullRecipe.maxSteps, fast.budget) } : fullRecipe;
  const seed = checkSeed('seed', options.seed ?? DEFAULT_SEED);
  const repeat = checkPositiveInt('repeat', options.repeat ?? DEFAULT_REPEAT);
  // The repeats use seeds seed, seed+1, …: the last must be a seed too.
  if (seed + repeat - 1 > MAX_SEED) throw new OptionError('repeat', `at most ${MAX_SEED - seed + 1} with seed ${seed} (seeds go up to ${MAX_SEED})`, repeat);
  const workers = checkNonNegativeInt('workers', options.workers ?? availableParallelism());
  const detectorName = options.detector ?? DEFAULT_DETECTOR;
  const detector = outlierDetector(detectorName);
  const secondary = detectorName === 'mad' ? zscoreDetector : outlierDetector('mad');
  const flagThreshold = options.flagThreshold ?? DEFAULT_FLAG_THRESHOLD;
  if (!(Number.isFinite(flagThreshold) && flagThreshold > 0)) throw new OptionError('flagThreshold', 'a positive number', flagThreshold);
  const verdict: VerdictOptions = {
    ...(options.decisionThreshold !== undefined ? { decisionThreshold: options.decisionThreshold } : {}),
    ...(options.falsePositiveCost !== undefined ? { falsePositiveCost: options.falsePositiveCost } : {}),
  };
  checkVerdictOptions(verdict, flagThreshold);
  const labels = options.labels === undefined ? undefined : checkLabels(options.labels);
  const cleanImages = options.cleanImages === undefined ? undefined : checkPositiveInt('cleanImages', options.cleanImages);
  return { fast, fullRecipe, recipe, seed, repeat, workers, detector, secondary, flagThreshold, verdict, ...(labels ? { labels } : {}), ...(cleanImages !== undefined ? { cleanImages } : {}) };
}

/** The labels asked for, as far as they can be checked without the model: indices, distinct, enough for the outlier test. */
function checkLabels(labels: readonly number[]): readonly number[] {
  for (const l of labels) if (!Number.isInteger(l) || l < 0) throw new OptionError('labels', 'class indices (non-negative integers)', l);
  if (new Set(labels).size !== labels.length) throw new OptionError('labels', 'distinct labels', labels);
  if (labels.length < MIN_LABELS) throw new OptionError('labels', `at least ${MIN_LABELS} labels (the outlier test needs a median and a spread)`, labels);
  return [...labels];
}

