/**
 * What a mitigation is judged by: clean accuracy, and the attack success rate with the real
 * trigger (when the model's metadata names it) and with the reversed one of each mitigated label,
 * on the test split.
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
  /** ASR of the reversed trigger (to the scanned label); several labels mitigated: the largest of theirs. */
  readonly asrReversed: number;
  /** Each mitigated label's reversed trigger's ASR, in the order of the labels. */
  readonly asrReversedByLabel: readonly number[];
}

/** The test images in their three forms: clean, with the real trigger, with the reversed one. */
export interface EvaluationSets {
  readonly clean: ImageSet;
  /** Non-target images (of the real target) stamped with the real trigger; null without one. */
  readonly real: ImageSet | null;
  readonly realTarget: number | null;
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

export function evaluationSets(test: ImageSet, real: { trigger: Trigger; target: number } | null, reversed: readonly ReversedTrigger[]): EvaluationSets {
  return {
    clean: test,
    real: real ? stampReal(test, real.trigger, real.target) : null,
    realTarget: real?.target ?? null,
    reversed: reversed.map((t) => stampReversedSet(test, t)),
    reversedTargets: reversed.map((t) => t.label),
  };
}

/** Images in the sets (what a pass over them predicts). */
export function setsCount(sets: EvaluationSets): number {
  return sets.clean.count + (sets.real?.count ?? 0) + sets.reversed.reduce((a, s) => a + s.count, 0);
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
  const reversed: Int32Array[] = [];
  for (const r of sets.reversed) reversed.push(await run(r));
  return { clean, real, reversed };
}

export function metricsOf(p: Predictions, sets: EvaluationSets): Metrics {
  const byLabel = p.reversed.map((r, i) => shareEqual(r, sets.reversedTargets[i]));
  return {
    cleanAccuracy: shareEqual(p.clean, sets.clean.labels),
    asrReal: p.real && sets.realTarget !== null ? shareEqual(p.real, sets.realTarget) : null,
    asrReversed: Math.max(...byLabel),
    asrReversedByLabel: byLabel,
  };
}

/** Clean accuracy and both ASRs of `model`. */
export async function measure(model: tfl.LayersModel, sets: EvaluationSets, preprocessing: Preprocessing, onProgress?: (done: number, total: number) => void): Promise<Metrics> {
  return metricsOf(await predictSets(model, sets, preprocessing, onProgress), sets);
}
