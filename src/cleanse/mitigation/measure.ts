/**
 * What a mitigation is judged by: clean accuracy, and the attack success rate with the real
 * trigger (when the model's metadata names it), with every other backdoor the model records, and
 * with the reversed one of each mitigated label, on the test split.
 * ASR = share of the test images whose label is not the trigger's target that go to the target
 * once stamped (raw pixel domain, then the model's preprocessing), as `evaluate` measures it (and
 * with its stamping, attackImages); an all-to-all backdoor's: share of all test images that go to
 * their label + 1 once stamped.
 */
import type { BatchScorer } from '../../nn/scorer.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { imageSet, subset, type ImageSet } from '../../data/images.js';
import type { Preprocessing } from '../../nn/preprocess.js';
import { attackImages, predictLabels } from '../../nn/train.js';
import type { AttackTarget, Backdoor } from '../../nn/trigger.js';
import { stampReversed, type ReversedTrigger } from './reversed-trigger.js';

export interface Metrics {
  /** Share of clean test images classified correctly. */
  readonly cleanAccuracy: number;
  /** ASR of the real trigger, or null when the model records none. */
  readonly asrReal: number | null;
  /** ASR of the reversed trigger (to the scanned label); several labels mitigated: the largest of theirs. */
  readonly asrReversed: number;
  /** Each mitigated label's reversed trigger's ASR, in the order of the labels. */
  readonly asrReversedByLabel: readonly number[];
  /**
   * Each recorded backdoor's ASR, in the records' order (the real trigger's first, when it has
   * one); only when `asrReal` cannot say them all: several backdoors, or an all-to-all one.
   */
  readonly asrByBackdoor?: readonly number[];
}

/** The test images in their forms: clean, with the real trigger, with the other recorded ones, with the reversed ones. */
export interface EvaluationSets {
  readonly clean: ImageSet;
  /** Non-target images (of the real target) stamped with the real trigger; null without one. */
  readonly real: ImageSet | null;
  readonly realTarget: number | null;
  /** The backdoors the model records after the real trigger (all of them when the first is all-to-all): each one's stamped images and where each should go. */
  readonly others: readonly { readonly set: ImageSet; readonly expected: Int32Array }[];
  /** Per mitigated label: the images whose label is not that label, stamped with its reversed trigger. */
  readonly reversed: readonly ImageSet[];
  /** The mitigated labels, in the order of `reversed`. */
  readonly reversedTargets: readonly number[];
}

function nonTarget(set: ImageSet, target: number): Int32Array {
  const idx: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.labels[i] !== target) idx.push(i);
  return Int32Array.from(idx);
}

/** Stamps `set`'s images whose label is not `t.label` with the reversed trigger. */
export function stampReversedSet(set: ImageSet, t: ReversedTrigger): ImageSet {
  const s = subset(set, nonTarget(set, t.label));
  return imageSet(stampReversed(s.images, t), s.labels, s.height, s.width, s.channels);
}

/**
 * The sets of the figures: `real`, the backdoor the records' trigger and target name; `others`,
 * the rest the model records, in order (attacksOf). `numClasses`: for an all-to-all backdoor's y + 1.
 */
export function evaluationSets(test: ImageSet, real: Omit<Backdoor, 'rate'> | null, others: readonly AttackTarget[], numClasses: number, reversed: readonly ReversedTrigger[]): EvaluationSets {
  return {
    clean: test,
    real: real ? attackImages(test, real, numClasses).set : null,
    realTarget: real?.target ?? null,
    others: others.map((b) => {
      const { set, expected } = attackImages(test, b, numClasses);
      return { set, expected };
    }),
    reversed: reversed.map((t) => stampReversedSet(test, t)),
    reversedTargets: reversed.map((t) => t.label),
  };
}

/** Images in the sets (what a pass over them predicts). */
export function setsCount(sets: EvaluationSets): number {
  return sets.clean.count + (sets.real?.count ?? 0) + sets.others.reduce((a, o) => a + o.set.count, 0) + sets.reversed.reduce((a, s) => a + s.count, 0);
}

/** Share of `predicted` equal to `labels` (or to a single target). */
export function shareEqual(predicted: Int32Array, labels: Int32Array | number): number {
  if (predicted.length === 0) return 0;
  let k = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === (typeof labels === 'number' ? labels : labels[i])) k++;
  return k / predicted.length;
}

/** Predictions of the model on the sets. */
export interface Predictions {
  readonly clean: Int32Array;
  readonly real: Int32Array | null;
  /** Per other recorded backdoor. */
  readonly others: readonly Int32Array[];
  /** Per mitigated label. */
  readonly reversed: readonly Int32Array[];
}

export async function predictSets(model: tfl.LayersModel | BatchScorer, sets: EvaluationSets, preprocessing: Preprocessing, onProgress?: (done: number, total: number) => void): Promise<Predictions> {
  const total = setsCount(sets);
  let offset = 0;
  const run = async (s: ImageSet): Promise<Int32Array> => {
    const p = await predictLabels(model, s, { preprocessing, onProgress: (d) => onProgress?.(offset + d, total) });
    offset += s.count;
    return p;
  };
  const clean = await run(sets.clean);
  const real = sets.real ? await run(sets.real) : null;
  const others: Int32Array[] = [];
  for (const o of sets.others) others.push(await run(o.set));
  const reversed: Int32Array[] = [];
  for (const r of sets.reversed) reversed.push(await run(r));
  return { clean, real, others, reversed };
}

/** Per recorded backdoor, in the records' order: the real trigger's figure (when it has one), then the others'. */
export function byBackdoor<T>(real: T | null, others: readonly T[]): T[] {
  return real === null ? [...others] : [real, ...others];
}

export function metricsOf(p: Predictions, sets: EvaluationSets): Metrics {
  const byLabel = p.reversed.map((r, i) => shareEqual(r, sets.reversedTargets[i]));
  const asrReal = p.real && sets.realTarget !== null ? shareEqual(p.real, sets.realTarget) : null;
  const others = p.others.map((o, i) => shareEqual(o, sets.others[i].expected));
  return {
    cleanAccuracy: shareEqual(p.clean, sets.clean.labels),
    asrReal,
    asrReversed: Math.max(...byLabel),
    asrReversedByLabel: byLabel,
    ...(others.length > 0 ? { asrByBackdoor: byBackdoor(asrReal, others) } : {}),
  };
}

/** Clean accuracy and the ASRs of `model`. */
export async function measure(model: tfl.LayersModel, sets: EvaluationSets, preprocessing: Preprocessing, onProgress?: (done: number, total: number) => void): Promise<Metrics> {
  return metricsOf(await predictSets(model, sets, preprocessing, onProgress), sets);
}
