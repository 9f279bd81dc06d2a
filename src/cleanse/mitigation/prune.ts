/**
 * Neuron pruning (Neural Cleanse §VI-B): zero the neurons of the chosen layer in ranking order
 * (most trigger-excited first) until the model no longer answers the reversed trigger — stamped
 * images go to the target no more often than unstamped ones, or its ASR is below a threshold — or a
 * maximum share of the layer is pruned.
 *
 * A pruned neuron has its incoming weights and bias set to zero (its activation f(0) = 0, checked in
 * layers.ts), and for a dense layer followed by a dense layer its outgoing weights too. The same
 * masks are re-applied after every optimizer step of any later fine-tuning ({@link PrunedWeights}),
 * so the pruned neurons stay exactly zero.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { OptionError } from '../../errors.js';
import { checkRange } from '../../options.js';
import { DEFAULT_ASR_THRESHOLD, DEFAULT_MAX_SHARE, type PruneStop } from './defaults.js';
import { layerChain, type MitigationLayer } from './layers.js';
import { byBackdoor, shareEqual } from './measure.js';
import type { CachedActivations, LayerProbe } from './net.js';
import type { ZeroedVariable } from '../../nn/train-onnx.js';

export { DEFAULT_ASR_THRESHOLD, DEFAULT_CURVE_STEP, DEFAULT_MAX_SHARE, type PruneStop } from './defaults.js';

/** Cached activations of one image set at the layer, with what counts as a hit. */
export interface FeatureSet {
  readonly cached: CachedActivations;
  /** True labels (for accuracy) or one target label (for an ASR). */
  readonly expected: Int32Array | number;
}

/** A keep-vector (1 kept, 0 pruned) with the first `k` neurons of `order` pruned. */
export function keepVector(units: number, order: readonly number[], k: number): Float32Array {
  const keep = new Float32Array(units).fill(1);
  for (let i = 0; i < k; i++) keep[order[i]] = 0;
  return keep;
}

export interface PruneSearch {
  /** Neurons pruned (the first `pruned` of the ranking). */
  readonly pruned: number;
  readonly share: number;
  /** The reversed trigger's ASR (on the defender's images) at that point; several triggers: the largest. */
  readonly asr: number;
  /** With the 'baseline' stop: the share of the same images unstamped sent to the target at that point (several triggers: for the trigger of `asr`). */
  readonly baseline: number | null;
  /** Per reversed trigger (in the order given): its ASR and baseline at that point. */
  readonly byTrigger: readonly { readonly target: number; readonly asr: number; readonly baseline: number | null }[];
  /** Whether the stop was reached (for every trigger) before the maximum share. */
  readonly reachedThreshold: boolean;
}

/**
 * The fewest neurons, pruned in ranking order, that make the model stop answering the reversed
 * trigger, up to `maxShare`: with a numeric `stop`, until the ASR on `reversed` (the defender's
 * stamped images, expected = the target) is under it; with 'baseline', until stamping no longer
 * sends significantly more of those images to the target than leaving them unstamped
 * (`unstamped`: the same images in the same order) — see {@link triggerStillWorks}.
 * Several reversed triggers (one stamped set each, with its own unstamped set): until the stop holds
 * for every one of them.
 */
export async function searchPruning(
  probe: Pick<LayerProbe, 'layer' | 'predictKept'>,
  order: readonly number[],
  reversed: FeatureSet | readonly FeatureSet[],
  stop: PruneStop = DEFAULT_ASR_THRESHOLD,
  maxShare: number = DEFAULT_MAX_SHARE,
  onStep?: (pruned: number, max: number, asr: number) => void,
  unstamped?: FeatureSet | readonly FeatureSet[],
): Promise<PruneSearch> {
  const stampedSets = listOf(reversed);
  const plainSets = unstamped === undefined ? undefined : listOf(unstamped);
  if (stop !== 'baseline') checkRange('asrThreshold', stop, 0, 1, true);
  else if (!plainSets || plainSets.length !== stampedSets.length || plainSets.some((u, i) => u.cached.count !== stampedSets[i].cached.count)) {
    const given = plainSets ? plainSets.map((u) => `${u.cached.count} images`).join(', ') : 'none';
    throw new OptionError('unstamped', "the defender's images without the trigger, as many as stamped, one set per trigger (needed by the 'baseline' stop)", given);
  }
  checkRange('maxShare', maxShare, 0, 1, true);
  const { layer } = probe;
  const max = Math.min(layer.units - 1, Math.floor(maxShare * layer.units));
  for (const r of stampedSets) if (typeof r.expected !== 'number') throw new OptionError('reversed.expected', 'the target label (a number)', 'per-image labels');
  const one = async (keep: Float32Array, t: number): Promise<{ target: number; asr: number; baseline: number | null; met: boolean }> => {
    const target = stampedSets[t].expected as number;
    const stamped = await probe.predictKept(stampedSets[t].cached, keep);
    const asr = shareEqual(stamped, target);
    if (stop !== 'baseline') return { target, asr, baseline: null, met: asr < stop };
    const plain = await probe.predictKept(plainSets![t].cached, keep);
    return { target, asr, baseline: shareEqual(plain, target), met: !triggerStillWorks(stamped, plain, target) };
  };
  const state = async (k: number) => {
    const keep = keepVector(layer.units, order, k);
    const each = [];
    for (let t = 0; t < stampedSets.length; t++) each.push(await one(keep, t));
    // The figures shown: the trigger with the largest ASR (the first on a tie).
    const worst = each.reduce((b, e) => (e.asr > b.asr ? e : b), each[0]);
    return { asr: worst.asr, baseline: worst.baseline, met: each.every((e) => e.met), byTrigger: each.map(({ target, asr, baseline }) => ({ target, asr, baseline })) };
  };
  let k = 0;
  let s = await state(0);
  while (!s.met && k < max) {
    k++;
    s = await state(k);
    onStep?.(k, max, s.asr);
  }
  return { pruned: k, share: k / layer.units, asr: s.asr, baseline: s.baseline, byTrigger: s.byTrigger, reachedThreshold: s.met };
}

/** One item or a list, as a list. */
function listOf<T extends object>(x: T | readonly T[]): readonly T[] {
  return Array.isArray(x) ? (x as readonly T[]) : [x as T];
}

/** Significance level of {@link triggerStillWorks}. */
export const TRIGGER_TEST_ALPHA = 0.05;

/**
 * Whether stamping still sends significantly more images to `target` than leaving them unstamped:
 * an exact one-sided sign (McNemar) test on the paired predictions, over the images that go to the
 * target in one version only. `a` of them go there only when stamped, `b` only unstamped; under
 * "the trigger does nothing" a ~ Binomial(a + b, 1/2), and the trigger still works when
 * P(X ≥ a) < {@link TRIGGER_TEST_ALPHA}. (One stubborn image among thousands is not a backdoor:
 * 5 to 0 is the smallest count that is significant.)
 */
export function triggerStillWorks(stamped: Int32Array, unstamped: Int32Array, target: number): boolean {
  let a = 0;
  let b = 0;
  for (let i = 0; i < stamped.length; i++) {
    const s = stamped[i] === target;
    const u = unstamped[i] === target;
    if (s && !u) a++;
    else if (u && !s) b++;
  }
  return binomialUpperTail(a, a + b) < TRIGGER_TEST_ALPHA;
}

/** P(X ≥ k) for X ~ Binomial(n, 1/2), summed in log space (exact enough for any n here). */
export function binomialUpperTail(k: number, n: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  let logC = 0; // log C(n, 0)
  const terms: number[] = [];
  for (let x = 0; x <= n; x++) {
    if (x > 0) logC += Math.log(n - x + 1) - Math.log(x);
    if (x >= k) terms.push(logC - n * Math.LN2);
  }
  const m = Math.max(...terms);
  return Math.min(1, Math.exp(m) * terms.reduce((sum, t) => sum + Math.exp(t - m), 0));
}

export interface PruningPoint {
  /** Share of the layer pruned. */
  readonly share: number;
  readonly pruned: number;
  readonly cleanAccuracy: number;
  readonly asrReal: number | null;
  /** The reversed trigger's ASR; several triggers: the largest. */
  readonly asrReversed: number;
  /** Each reversed trigger's ASR, in the order given. */
  readonly asrReversedByLabel: readonly number[];
  /** With `others`: every recorded backdoor's ASR, the real trigger's first (see Metrics). */
  readonly asrByBackdoor?: readonly number[];
}

/** A test set for the pruning curve: raw images, and what counts as a hit. */
export interface CurveSet {
  readonly images: Uint8Array;
  readonly expected: Int32Array | number;
}

/**
 * Clean accuracy and ASRs at each number of pruned neurons in `counts`: each set runs through the
 * model once, and the rest of the model from the layer once per count. `reversed`: one set per
 * reversed trigger, or one set; `others`: the backdoors the model records besides the real trigger.
 */
export async function pruningCurve(
  probe: Pick<LayerProbe, 'layer' | 'predictKeptMany'>,
  order: readonly number[],
  sets: { clean: CurveSet; real: CurveSet | null; reversed: CurveSet | readonly CurveSet[]; others?: readonly CurveSet[] },
  counts: readonly number[],
  onImages?: (done: number) => void,
): Promise<PruningPoint[]> {
  const keeps = counts.map((k) => keepVector(probe.layer.units, order, k));
  let done = 0;
  const rates = async (s: CurveSet): Promise<number[]> => {
    const preds = await probe.predictKeptMany(s.images, keeps, (n) => onImages?.(done + n));
    done += preds[0]?.length ?? 0;
    return preds.map((p) => shareEqual(p, s.expected));
  };
  const clean = await rates(sets.clean);
  const real = sets.real ? await rates(sets.real) : null;
  const others: number[][] = [];
  for (const o of sets.others ?? []) others.push(await rates(o));
  const reversed: number[][] = [];
  for (const r of listOf(sets.reversed)) reversed.push(await rates(r));
  return counts.map((k, i) => {
    const byLabel = reversed.map((r) => r[i]);
    const asrReal = real ? real[i] : null;
    return {
      share: k / probe.layer.units,
      pruned: k,
      cleanAccuracy: clean[i],
      asrReal,
      asrReversed: Math.max(...byLabel),
      asrReversedByLabel: byLabel,
      ...(others.length > 0 ? { asrByBackdoor: byBackdoor(asrReal, others.map((o) => o[i])) } : {}),
    };
  });
}

/** Neuron counts of the curve: 0, step, 2·step, … up to maxShare, plus the stop point; sorted, distinct. */
export function curveCounts(units: number, step: number, maxShare: number, stop: number): number[] {
  if (!(step > 0 && step <= 1)) throw new OptionError('curveStep', 'in (0, 1]', step);
  const max = Math.floor(maxShare * units);
  const set = new Set<number>([0, stop]);
  for (let s = step; s <= maxShare + 1e-9; s += step) set.add(Math.min(max, Math.round(s * units)));
  return [...set].sort((a, b) => a - b);
}

/**
 * The pruned neurons' weights in a model, zeroed by masks that can be re-applied: `apply()` after
 * every optimizer step keeps them at zero. Call `dispose()` when done.
 */
export interface PrunedWeights {
  readonly layer: string;
  readonly neurons: readonly number[];
  /** The same masks by variable name, for an engine that holds the weights itself (the native trainer). */
  readonly zeroed: readonly ZeroedVariable[];
  apply(): void;
  dispose(): void;
}

/** Zeroes `neurons` of `layer` in `model` (in place) and returns the re-applicable masks. */
export function prune(model: tfl.LayersModel, layer: MitigationLayer, neurons: readonly number[]): PrunedWeights {
  const chain = layerChain(model);
  const target = chain[layer.index];
  for (const u of neurons) if (!Number.isInteger(u) || u < 0 || u >= layer.units) throw new OptionError('pruned neurons', `indices in 0..${layer.units - 1}`, u);
  const keep = keepVector(layer.units, neurons, neurons.length);
  const masked: { variable: tfl.LayerVariable; mask: tf.Tensor }[] = [];
  const zeroed: ZeroedVariable[] = [];
  // Incoming: the kernel's last axis and the bias are the layer's units (dense [in, units], conv [kh, kw, in, units]).
  for (const w of target.weights) {
    masked.push({ variable: w, mask: tf.tensor1d(keep) });
    zeroed.push({ variable: w.name, keep, axis: 'last' });
  }
  // Outgoing, for a dense layer feeding a dense layer (through dropout/activation): the kernel's rows.
  if (layer.kind === 'dense') {
    let j = layer.index + 1;
    while (j < chain.length && chain[j].weights.length === 0 && chain[j].getClassName() !== 'Flatten') j++;
    const next = chain[j];
    if (next && next.getClassName() === 'Dense') {
      const kernel = next.weights.find((w) => w.shape.length === 2);
      if (kernel && kernel.shape[0] === layer.units) {
        masked.push({ variable: kernel, mask: tf.tensor2d(keep, [layer.units, 1]) });
        zeroed.push({ variable: kernel.name, keep, axis: 'first' });
      }
    }
  }
  const apply = (): void => {
    tf.tidy(() => {
      for (const { variable, mask } of masked) variable.write(tf.mul(variable.read(), mask));
    });
  };
  apply();
  return {
    layer: layer.name,
    neurons: [...neurons],
    zeroed,
    apply,
    dispose: () => {
      for (const { mask } of masked) mask.dispose();
    },
  };
}
