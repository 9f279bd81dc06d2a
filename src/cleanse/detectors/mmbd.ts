/**
 * MM-BD (Wang, Xiang, Miller & Kesidis, "MM-BD: Post-Training Detection of Backdoor Attacks with
 * Arbitrary Backdoor Pattern Types Using a Maximum Margin Statistic", IEEE S&P 2024; the release
 * wanghangpsu/MM-BD, univ_bd.py). A backdoor gives its target class an input region where that class
 * wins by an abnormally large margin, whatever the trigger looks like; so, per class c, gradient
 * ascent over the whole input domain [0, 1]^d finds the largest margin logit_c − max_{j≠c} logit_j
 * from several random starts, and the largest class's statistic is tested against a gamma
 * distribution fitted to the others'. No clean data is needed.
 *
 * As the release: starts uniform in [0, 1]^d; the model sees the clamped input (the clamp passes
 * the gradient only inside the domain); plain gradient steps (the release re-creates its SGD
 * optimizer every step, so its momentum buffer never carries over); a class stops early when the
 * summed loss changes by less than a relative 1e-5; the statistic is the best start's margin at the
 * last forward pass. The domain [0, 1] is the raw pixel range 0..255 scaled, before the model's
 * own preprocessing.
 */
import { OptionError } from '../../errors.js';
import { checkPositive, checkPositiveInt, checkRange } from '../../options.js';
import { mixSeeds, Random } from '../../random.js';
import { allLabels, type DetectorResult } from './detector.js';
import { fitGamma, logMaxPValue, type GammaFit } from './gamma.js';
import type { DetectorModel } from './model.js';

/** Random starts per class: 30 (the release: `torch.rand([30, 3, 32, 32])`; its NI = 150 is unused). */
export const DEFAULT_MMBD_STARTS = 30;
/** Gradient steps per class at most: 300 (the release: NSTEP). */
export const DEFAULT_MMBD_STEPS = 300;
/** Step size 1e-2 on the [0, 1] domain (the release: `lr_scheduler` returns 1e-2). */
export const DEFAULT_MMBD_LEARNING_RATE = 1e-2;
/** Early stop at a relative change of the loss below 1e-5 (the release). */
export const DEFAULT_MMBD_TOLERANCE = 1e-5;
/** Flag at a p-value below 0.05 (the release: `if pv > 0.05: No Attack`). */
export const DEFAULT_MMBD_ALPHA = 0.05;

export interface MmbdOptions {
  readonly starts?: number;
  readonly steps?: number;
  readonly learningRate?: number;
  readonly tolerance?: number;
  /** Significance level of the p-value. */
  readonly alpha?: number;
  readonly seed?: number;
  /** Classes to run (default all); the test needs at least 3. */
  readonly labels?: readonly number[];
  readonly onProgress?: (p: { label: number; done: number; of: number; margin: number; steps: number }) => void;
}

export type MmbdRecipe = Required<Omit<MmbdOptions, 'onProgress' | 'labels' | 'seed'>>;

export function resolveMmbdRecipe(o: MmbdOptions = {}): MmbdRecipe {
  return {
    starts: checkPositiveInt('starts', o.starts ?? DEFAULT_MMBD_STARTS),
    steps: checkPositiveInt('steps', o.steps ?? DEFAULT_MMBD_STEPS),
    learningRate: checkPositive('learningRate', o.learningRate ?? DEFAULT_MMBD_LEARNING_RATE),
    tolerance: checkRange('tolerance', o.tolerance ?? DEFAULT_MMBD_TOLERANCE, 0, 1),
    alpha: checkRange('alpha', o.alpha ?? DEFAULT_MMBD_ALPHA, 0, 1),
  };
}

/** One class's maximum margin: gradient ascent from `starts` random points of [0, 1]^d. */
export async function maximumMargin(model: DetectorModel, label: number, recipe: MmbdRecipe, rng: Random): Promise<{ margin: number; steps: number }> {
  const [H, W, C] = model.inputShape;
  const K = model.numClasses;
  const d = H * W * C;
  const n = recipe.starts;
  const u = new Float32Array(n * d);
  for (let i = 0; i < u.length; i++) u[i] = rng.next();
  const raw = new Float32Array(n * d);
  const coef = new Float32Array(n * K);
  let lastLoss = Infinity;
  let margins = new Float64Array(n);
  let steps = 0;
  for (let s = 0; s < recipe.steps; s++) {
    for (let i = 0; i < raw.length; i++) raw[i] = 255 * Math.min(1, Math.max(0, u[i]));
    // The runner-up of each start is the coefficient −1: the margin's gradient where the max is unique.
    const logits = await model.logits(raw, n);
    coef.fill(0);
    margins = new Float64Array(n);
    let loss = 0;
    for (let r = 0; r < n; r++) {
      let j = -1;
      for (let k = 0; k < K; k++) if (k !== label && (j < 0 || logits[r * K + k] > logits[r * K + j])) j = k;
      margins[r] = logits[r * K + label] - logits[r * K + j];
      loss -= margins[r];
      coef[r * K + label] = 1;
      coef[r * K + j] = -1;
    }
    steps = s + 1;
    if (Math.abs(lastLoss - loss) / Math.abs(lastLoss) < recipe.tolerance) break;
    lastLoss = loss;
    const { dRaw } = await model.logitGradient(raw, n, coef);
    // d margin / du = 255·d margin / d raw inside the domain, 0 where the clamp holds the input.
    for (let i = 0; i < u.length; i++) if (u[i] >= 0 && u[i] <= 1) u[i] += recipe.learningRate * 255 * dRaw[i];
  }
  return { margin: Math.max(...margins), steps };
}

export interface MmbdDetails {
  /** The gamma fitted to the statistics without the largest. */
  readonly null: GammaFit;
  readonly pValue: number;
  /** ln of the p-value (kept when the p-value underflows). */
  readonly logPValue: number;
  /** The class with the largest statistic. */
  readonly maxLabel: number;
  readonly stepsPerLabel: readonly number[];
}

/** The MM-BD test on per-class maximum margins (see the module comment). */
export function mmbdTest(labels: readonly number[], margins: readonly number[], alpha: number = DEFAULT_MMBD_ALPHA): { flagged: number[]; score: number; details: Omit<MmbdDetails, 'stepsPerLabel'> } {
  if (labels.length !== margins.length) throw new OptionError('margins', `one per label (${labels.length})`, margins.length);
  if (labels.length < 3) throw new OptionError('labels', 'at least 3 classes (the null is fitted to all but the largest)', labels.length);
  let top = 0;
  for (let i = 1; i < margins.length; i++) if (margins[i] > margins[top]) top = i;
  const rest = margins.filter((_, i) => i !== top);
  const fit = fitGamma(rest);
  const logP = logMaxPValue(fit, margins[top], margins.length);
  const pValue = Math.exp(logP);
  return {
    flagged: pValue < alpha ? [labels[top]] : [],
    // −log10 p: higher is more suspicious, and stays ordered where p itself underflows.
    score: -logP / Math.LN10,
    details: { null: fit, pValue, logPValue: logP, maxLabel: labels[top] },
  };
}

/** Runs MM-BD on a model (see the module comment). */
export async function runMmbd(model: DetectorModel, options: MmbdOptions = {}): Promise<DetectorResult> {
  const start = performance.now();
  const recipe = resolveMmbdRecipe(options);
  const seed = options.seed ?? 0;
  const labels = options.labels ? [...options.labels] : allLabels(model.numClasses);
  for (const l of labels) if (!(Number.isInteger(l) && l >= 0 && l < model.numClasses)) throw new OptionError('labels', `class indices in 0..${model.numClasses - 1}`, l);
  const margins: number[] = [];
  const stepsPerLabel: number[] = [];
  for (const label of labels) {
    const r = await maximumMargin(model, label, recipe, new Random(mixSeeds(seed, label)));
    margins.push(r.margin);
    stepsPerLabel.push(r.steps);
    options.onProgress?.({ label, done: margins.length, of: labels.length, margin: r.margin, steps: r.steps });
  }
  const test = mmbdTest(labels, margins, recipe.alpha);
  return {
    detector: 'mmbd',
    statistic: 'maximum margin logit_c − max_{j≠c} logit_j found by gradient ascent over the input domain',
    labels,
    perLabel: margins,
    flagged: test.flagged,
    score: test.score,
    scoreMeaning: '−log10 of the p-value of the largest maximum margin under a gamma fitted to the others (order-statistic corrected)',
    threshold: -Math.log10(recipe.alpha),
    backdoored: test.flagged.length > 0,
    recipe: { ...recipe, domain: 'raw pixels scaled to [0, 1], then the model preprocessing' },
    seed,
    seconds: (performance.now() - start) / 1000,
    details: { ...test.details, stepsPerLabel },
  };
}
