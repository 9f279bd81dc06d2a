/**
 * What a mitigation is judged by: clean accuracy, and the attack success rate with the real
 * trigger (when the model's metadata names it) and with the reversed one, on the test split.
 * ASR = share of the test images whose label is not the trigger's target that go to the target
 * once stamped (raw pixel domain, then the model's preprocessing), as `evaluate` measures it.
 */
import type { BatchScorer } from '../../nn/scorer.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { imageSet, subset, type ImageSet } from '../../data/images.js';
import type { Preprocessing } from '../../nn/preprocess.js';
import { predictLabels } from '../../nn/train.js';
import { resolveTrigger, stampInPlace, type Trigger } from '../../nn/trigger.js';
import { stampReversed, type ReversedTrigger } from './reversed-trigger.js';

export interface Metrics {
  /** Share of clean test images classified correctly. */
  readonly cleanAccuracy: number;
  /** ASR of the real trigger, or null when the model records none. */
  readonly asrReal: number | null;
  /** ASR of the reversed trigger (to the scanned label). */
  readonly asrReversed: number;
}

/** The test images in their three forms: clean, with the real trigger, with the reversed one. */
export interface EvaluationSets {
  readonly clean: ImageSet;
  /** Non-target images (of the real target) stamped with the real trigger; null without one. */
  readonly real: ImageSet | null;
  readonly realTarget: number | null;
  /** Images whose label is not the reversed trigger's label, stamped with it. */
  readonly reversed: ImageSet;
  readonly reversedTarget: number;
}

function nonTarget(set: ImageSet, target: number): Int32Array {
  const idx: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.labels[i] !== target) idx.push(i);
  return Int32Array.from(idx);
}

/** Stamps `set`'s non-target images with the real trigger. */
export function stampReal(set: ImageSet, trigger: Trigger, target: number): ImageSet {
  const s = subset(set, nonTarget(set, target));
  stampInPlace(s.images, resolveTrigger(trigger, set.height, set.width, set.channels));
  return s;
}

/** Stamps `set`'s images whose label is not `t.label` with the reversed trigger. */
export function stampReversedSet(set: ImageSet, t: ReversedTrigger): ImageSet {
  const s = subset(set, nonTarget(set, t.label));
  return imageSet(stampReversed(s.images, t), s.labels, s.height, s.width, s.channels);
}

export function evaluationSets(test: ImageSet, real: { trigger: Trigger; target: number } | null, reversed: ReversedTrigger): EvaluationSets {
  return {
    clean: test,
    real: real ? stampReal(test, real.trigger, real.target) : null,
    realTarget: real?.target ?? null,
    reversed: stampReversedSet(test, reversed),
    reversedTarget: reversed.label,
  };
}

/** Share of `predicted` equal to `labels` (or to a single target). */
export function shareEqual(predicted: Int32Array, labels: Int32Array | number): number {
  if (predicted.length === 0) return 0;
  let k = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === (typeof labels === 'number' ? labels : labels[i])) k++;
  return k / predicted.length;
}

/** Predictions of the model on the three sets. */
export interface Predictions {
  readonly clean: Int32Array;
  readonly real: Int32Array | null;
  readonly reversed: Int32Array;
}

export async function predictSets(model: tfl.LayersModel | BatchScorer, sets: EvaluationSets, preprocessing: Preprocessing, onProgress?: (done: number, total: number) => void): Promise<Predictions> {
  const total = sets.clean.count + (sets.real?.count ?? 0) + sets.reversed.count;
  let offset = 0;
  const run = async (s: ImageSet): Promise<Int32Array> => {
    const p = await predictLabels(model, s, { preprocessing, onProgress: (d) => onProgress?.(offset + d, total) });
    offset += s.count;
    return p;
  };
  const clean = await run(sets.clean);
  const real = sets.real ? await run(sets.real) : null;
  const reversed = await run(sets.reversed);
  return { clean, real, reversed };
}

export function metricsOf(p: Predictions, sets: EvaluationSets): Metrics {
  return {
    cleanAccuracy: shareEqual(p.clean, sets.clean.labels),
    asrReal: p.real && sets.realTarget !== null ? shareEqual(p.real, sets.realTarget) : null,
    asrReversed: shareEqual(p.reversed, sets.reversedTarget),
  };
}

/** Clean accuracy and both ASRs of `model`. */
export async function measure(model: tfl.LayersModel, sets: EvaluationSets, preprocessing: Preprocessing, onProgress?: (done: number, total: number) => void): Promise<Metrics> {
  return metricsOf(await predictSets(model, sets, preprocessing, onProgress), sets);
}
