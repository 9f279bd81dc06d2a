/**
 * STRIP (Gao et al., "STRIP: A Defence Against Trojan Attacks on Deep Neural Networks", ACSAC 2019;
 * the release garrisongys/STRIP). An input carrying a trigger keeps going to the target when other
 * images are superimposed on it, so the predictions of its perturbed copies have LOW entropy; a
 * clean input's perturbed copies scatter. Per input: N copies, each the input plus a random clean
 * image (pixel sums saturated at 255: the release's cv2.addWeighted(background, 1, overlay, 1, 0) on
 * bytes), and the mean over the copies of the Shannon entropy (bits) of the predicted distribution.
 * The boundary is set on clean inputs at a chosen false-rejection rate from a normal fitted to their
 * entropies (the paper); an input below it is rejected. Entropies are bounded below by 0, and where
 * the clean ones crowd near it the normal's FRR quantile falls below 0 and nothing can be rejected
 * (measured: on 26 of the GTSRB detection matrix's 35 nets, down to −0.30): the boundary is then the
 * clean entropies' own lower quantile (the `quantile` rule, also chosen by `boundary`).
 *
 * STRIP judges inputs, not models. Its model-level use here needs no trigger: the AUDITED inputs
 * (the training set when given, which a poisoner has stamped; otherwise held-out test images) are
 * run through the filter, and the score is the share rejected. A model is called backdoored when
 * that share is significantly above the false-rejection rate (binomial test), and a label is
 * flagged when the rejected inputs predicted as it are. With clean test images only, nothing
 * carries a trigger, and STRIP cannot tell a backdoored model from a clean one: its score is then
 * ≈ the false-rejection rate for every model, and the result abstains from the combined verdict
 * (a binomial test on clean inputs would only add its false positives).
 */
import { subset, type ImageSet } from '../../data/images.js';
import { OptionError, ShapeError } from '../../errors.js';
import { checkOneOf, checkPositiveInt, checkRange } from '../../options.js';
import { mixSeeds, Random } from '../../random.js';
import { normalQuantile } from '../verdict.js';
import { allLabels, type DetectorResult } from './detector.js';
import { lnGamma } from './gamma.js';
import type { DetectorModel } from './model.js';

/** N = 100 superimposed copies per input (the paper §V and the release). */
export const DEFAULT_STRIP_OVERLAYS = 100;
/** False-rejection rate 1% (the paper's preset FRR, §V-B). */
export const DEFAULT_STRIP_FRR = 0.01;
/**
 * Clean inputs that set the boundary: 500. The paper holds out 2 000; each input costs N forward
 * passes, so 500 keeps a scan of a GTSRB net within minutes on a CPU (its mean and spread, which is
 * all the normal fit needs, are then known to a few percent).
 */
export const DEFAULT_STRIP_BOUNDARY_IMAGES = 500;
/** Inputs audited for the model-level score: 500 (the same cost reasoning). */
export const DEFAULT_STRIP_AUDIT_IMAGES = 500;
/** Significance of the binomial tests on rejected inputs. */
export const DEFAULT_STRIP_ALPHA = 0.05;
/** How the boundary is set: `normal`, the paper's normal fit (falling back to `quantile` where it is below 0), or `quantile`, the empirical lower quantile. */
export const STRIP_BOUNDARY_RULES = ['normal', 'quantile'] as const;
export type StripBoundaryRule = (typeof STRIP_BOUNDARY_RULES)[number];
export const DEFAULT_STRIP_BOUNDARY: StripBoundaryRule = 'normal';

export interface StripOptions {
  readonly overlays?: number;
  readonly frr?: number;
  readonly boundaryImages?: number;
  readonly auditImages?: number;
  readonly alpha?: number;
  readonly boundary?: StripBoundaryRule;
  readonly seed?: number;
  readonly onProgress?: (p: { phase: 'boundary' | 'audit'; done: number; of: number }) => void;
}

/** Mean Shannon entropy (bits) of the softmax of `n` rows of logits. */
export function meanEntropy(logits: Float32Array, n: number, K: number): number {
  let total = 0;
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[r * K + k]);
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(logits[r * K + k] - max);
    let h = 0;
    for (let k = 0; k < K; k++) {
      const p = Math.exp(logits[r * K + k] - max) / z;
      if (p > 0) h -= p * Math.log2(p);
    }
    total += h;
  }
  return total / n;
}

/** Pixel sums saturated at 255 (cv2.add on bytes). */
export function superimpose(input: Uint8Array, overlay: Uint8Array, out: Float32Array, at: number): void {
  for (let i = 0; i < input.length; i++) out[at + i] = Math.min(255, input[i] + overlay[i]);
}

/** Each input's STRIP entropy: N copies with overlays drawn from `pool` (seeded per input). */
export async function stripEntropies(model: DetectorModel, inputs: ImageSet, pool: ImageSet, overlays: number, seed: number, onInput?: (done: number) => void): Promise<Float64Array> {
  const [H, W, C] = model.inputShape;
  const size = H * W * C;
  if (inputs.height !== H || inputs.width !== W || inputs.channels !== C) throw new ShapeError('STRIP inputs', `${H}x${W}x${C} images`, `${inputs.height}x${inputs.width}x${inputs.channels}`);
  if (pool.count < 1) throw new OptionError('pool', 'at least one clean image to superimpose', pool.count);
  const out = new Float64Array(inputs.count);
  const batch = new Float32Array(overlays * size);
  for (let i = 0; i < inputs.count; i++) {
    const rng = new Random(mixSeeds(seed, i));
    const x = inputs.images.subarray(i * size, (i + 1) * size);
    for (let t = 0; t < overlays; t++) {
      const j = rng.int(pool.count);
      superimpose(x, pool.images.subarray(j * size, (j + 1) * size), batch, t * size);
    }
    out[i] = meanEntropy(await model.logits(batch, overlays), overlays, model.numClasses);
    onInput?.(i + 1);
  }
  return out;
}

/**
 * The boundary. `normal`: the FRR quantile of a normal fitted to the clean entropies (the paper),
 * unless it is at or below 0, where no entropy can fall below it; then, as with `quantile`: the
 * j-th smallest clean entropy, j = ⌊(n + 1)·FRR⌋, so that a clean input exchangeable with them falls
 * below it with probability j/(n + 1) ≤ FRR (j = 0: 0, under which no entropy falls, so that the
 * filter file stays plain JSON). `rule` says which was used.
 */
export function stripBoundary(cleanEntropies: ArrayLike<number>, frr: number, rule: StripBoundaryRule = DEFAULT_STRIP_BOUNDARY): { threshold: number; mean: number; sd: number; rule: StripBoundaryRule; normalThreshold: number } {
  const n = cleanEntropies.length;
  if (n < 2) throw new OptionError('boundaryImages', 'at least 2 clean inputs to fit the boundary', n);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += cleanEntropies[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (cleanEntropies[i] - mean) ** 2;
  const sd = Math.sqrt(v / (n - 1));
  const normalThreshold = mean + sd * normalQuantile(frr);
  if (rule === 'normal' && normalThreshold > 0) return { threshold: normalThreshold, mean, sd, rule, normalThreshold };
  const j = Math.floor((n + 1) * frr);
  const sorted = Float64Array.from(cleanEntropies).sort();
  return { threshold: j === 0 ? 0 : sorted[j - 1], mean, sd, rule: 'quantile', normalThreshold };
}

/** P(X ≥ k) for X ~ Binomial(n, p), summed in log space. */
export function binomialTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const lnC = (j: number) => lnGamma(n + 1) - lnGamma(j + 1) - lnGamma(n - j + 1);
  let total = 0;
  for (let j = k; j <= n; j++) total += Math.exp(lnC(j) + j * Math.log(p) + (n - j) * Math.log1p(-p));
  return Math.min(1, total);
}

/** A run-time input filter: the boundary and how it was set (serializable; the pool is the clean set named). */
export interface StripFilter {
  readonly kind: 'strip-filter';
  readonly threshold: number;
  readonly frr: number;
  readonly overlays: number;
  readonly cleanMean: number;
  readonly cleanSd: number;
  /** The rule that set `threshold` (stripBoundary); absent in filters written before it existed: normal. */
  readonly boundary?: StripBoundaryRule;
  /** The normal fit's boundary, when the quantile rule replaced it. */
  readonly normalThreshold?: number;
  readonly boundaryImages: number;
  readonly seed: number;
}

/** Sets the filter's boundary on clean inputs, overlays drawn from `pool`. */
export async function makeStripFilter(model: DetectorModel, clean: ImageSet, pool: ImageSet, options: StripOptions = {}): Promise<StripFilter> {
  const overlays = checkPositiveInt('overlays', options.overlays ?? DEFAULT_STRIP_OVERLAYS);
  const frr = checkRange('frr', options.frr ?? DEFAULT_STRIP_FRR, 0, 1);
  const seed = options.seed ?? 0;
  const h = await stripEntropies(model, clean, pool, overlays, seed, (done) => options.onProgress?.({ phase: 'boundary', done, of: clean.count }));
  const b = stripBoundary(h, frr, checkOneOf('boundary', options.boundary ?? DEFAULT_STRIP_BOUNDARY, STRIP_BOUNDARY_RULES));
  return { kind: 'strip-filter', threshold: b.threshold, frr, overlays, cleanMean: b.mean, cleanSd: b.sd, boundary: b.rule, ...(b.rule !== 'normal' ? { normalThreshold: b.normalThreshold } : {}), boundaryImages: clean.count, seed };
}

/** Filters inputs: each one's entropy, and whether it is rejected (entropy below the boundary). */
export async function applyStripFilter(model: DetectorModel, filter: StripFilter, inputs: ImageSet, pool: ImageSet, onInput?: (done: number) => void): Promise<{ entropies: Float64Array; rejected: Uint8Array }> {
  const entropies = await stripEntropies(model, inputs, pool, filter.overlays, mixSeeds(filter.seed, 1), onInput);
  const rejected = new Uint8Array(entropies.length);
  entropies.forEach((h, i) => (rejected[i] = h < filter.threshold ? 1 : 0));
  return { entropies, rejected };
}

/**
 * STRIP as a model-level detector (see the module comment): the clean test split is divided into the
 * overlay pool, the boundary inputs and (without a training set) the audited inputs, all disjoint.
 */
export async function runStrip(model: DetectorModel, clean: ImageSet, training: ImageSet | undefined, options: StripOptions = {}): Promise<DetectorResult> {
  const start = performance.now();
  const seed = options.seed ?? 0;
  const boundaryImages = checkPositiveInt('boundaryImages', options.boundaryImages ?? DEFAULT_STRIP_BOUNDARY_IMAGES);
  const auditImages = checkPositiveInt('auditImages', options.auditImages ?? DEFAULT_STRIP_AUDIT_IMAGES);
  const alpha = checkRange('alpha', options.alpha ?? DEFAULT_STRIP_ALPHA, 0, 1);
  const rng = new Random(seed);
  const order = rng.permutation(clean.count);
  const auditFromClean = training === undefined ? Math.min(auditImages, Math.floor(clean.count / 3)) : 0;
  const boundaryCount = Math.min(boundaryImages, Math.floor((clean.count - auditFromClean) / 2));
  if (boundaryCount < 2) throw new OptionError('clean images', 'enough test images for STRIP (overlay pool, boundary and audit)', clean.count);
  const boundarySet = subset(clean, order.subarray(0, boundaryCount));
  const auditClean = subset(clean, order.subarray(boundaryCount, boundaryCount + auditFromClean));
  const pool = subset(clean, order.subarray(boundaryCount + auditFromClean));
  const filter = await makeStripFilter(model, boundarySet, pool, options);
  const audit = training ? subset(training, rng.sampleWithoutReplacement(training.count, Math.min(auditImages, training.count))) : auditClean;
  const { entropies, rejected } = await applyStripFilter(model, filter, audit, pool, (done) => options.onProgress?.({ phase: 'audit', done, of: audit.count }));
  // The label each audited input goes to, unperturbed.
  const K = model.numClasses;
  const logits = await model.logits(Float32Array.from(audit.images), audit.count);
  const byLabel = new Array<number>(K).fill(0);
  const rejectedByLabel = new Array<number>(K).fill(0);
  for (let i = 0; i < audit.count; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (logits[i * K + k] > logits[i * K + best]) best = k;
    byLabel[best]++;
    rejectedByLabel[best] += rejected[i];
  }
  const total = rejected.reduce((a, b) => a + b, 0);
  const pModel = binomialTail(total, audit.count, filter.frr);
  // A label: its rejected inputs beyond the FRR, Bonferroni over the labels.
  const flagged = allLabels(K).filter((c) => byLabel[c] > 0 && binomialTail(rejectedByLabel[c], byLabel[c], filter.frr) < alpha / K);
  const share = audit.count > 0 ? total / audit.count : 0;
  return {
    detector: 'strip',
    statistic: 'share of the audited inputs predicted as the label that the filter rejects (entropy under the boundary)',
    labels: allLabels(K),
    perLabel: allLabels(K).map((c) => (byLabel[c] > 0 ? rejectedByLabel[c] / byLabel[c] : 0)),
    flagged: pModel < alpha ? flagged : [],
    score: share,
    scoreMeaning: `share of the audited inputs (${training ? 'training set sample' : 'held-out clean test images'}) rejected at the boundary set for FRR ${filter.frr}`,
    threshold: filter.frr,
    backdoored: pModel < alpha,
    ...(training ? {} : { abstains: 'no training set to audit: the audited inputs are clean test images, so the share rejected is the false-rejection rate for any model' }),
    recipe: { overlays: filter.overlays, frr: filter.frr, boundary: filter.boundary ?? 'normal', boundaryImages: boundaryCount, auditImages: audit.count, audited: training ? 'training set' : 'test split (held out)', alpha, superimposition: 'pixel sum saturated at 255' },
    seed,
    seconds: (performance.now() - start) / 1000,
    // The overlay pool's indices in the test split: what a saved filter needs to run again (strip-filter.ts).
    details: { filter, poolIndices: Array.from(order.subarray(boundaryCount + auditFromClean)), rejected: total, pValue: pModel, meanAuditEntropy: entropies.reduce((a, b) => a + b, 0) / Math.max(1, entropies.length) },
  };
}
