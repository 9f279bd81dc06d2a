/**
 * Unlearning (Neural Cleanse §VI-C): fine-tune the model for 1 epoch on 10% of the training data,
 * of which 20% carries the reversed trigger and keeps its TRUE label, so that the model learns that
 * the trigger does not mean the target.
 *
 * Which images are stamped: the 20% are drawn from the images whose true label is NOT the target.
 * A stamped image of the target class would keep the target label and teach nothing against the
 * backdoor (it would even reinforce trigger → target); that is IBM ART's mistake taken to its end
 * (ART stamped only images of the target class, so nothing was unlearned). Images of the target
 * class stay in the fine-tuning set, clean, with their label.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { imageSet, subset, type ImageSet } from '../../data/images.js';
import { OptionError } from '../../errors.js';
import type { Preprocessing } from '../../nn/preprocess.js';
import { trainModel, type TrainProgress, type TrainResult } from '../../nn/train.js';
import { DEFAULT_MODEL_ENGINE, type ModelEngineChoice } from '../../nn/engine-choice.js';
import type { ModelEngineDecision } from '../../nn/onnx-gradient.js';
import { resolveTrainEngine, trainLayersNative } from '../../nn/train-onnx.js';
import { checkPositive, checkPositiveInt, checkRange } from '../../options.js';
import { Random } from '../../random.js';
import { DEFAULT_STAMPED_SHARE, DEFAULT_UNLEARN_BATCH_SIZE, DEFAULT_UNLEARN_EPOCHS, DEFAULT_UNLEARN_LEARNING_RATE, DEFAULT_UNLEARN_SHARE } from './defaults.js';
import type { PrunedWeights } from './prune.js';
import { stampReversed, type ReversedTrigger } from './reversed-trigger.js';

export { DEFAULT_STAMPED_SHARE, DEFAULT_UNLEARN_BATCH_SIZE, DEFAULT_UNLEARN_EPOCHS, DEFAULT_UNLEARN_LEARNING_RATE, DEFAULT_UNLEARN_SHARE } from './defaults.js';

export interface UnlearningSet {
  readonly set: ImageSet;
  /** Indices (into `set`) of the stamped images. */
  readonly stamped: Int32Array;
  /** Per reversed trigger (in the order given): its label and the indices (into `set`) it stamped. */
  readonly stampedBy: readonly { readonly label: number; readonly stamped: Int32Array }[];
  /** Indices into the training set of the images drawn. */
  readonly drawn: Int32Array;
}

/**
 * Draws `share` of `train` (seeded) and stamps `stampedShare` of the drawn images with the reversed
 * trigger, each image of another label than the trigger's; labels stay the true ones. Several
 * triggers (several infected labels): the stamped share is split evenly across them (the first ones
 * take the remainder), each trigger stamping images of other labels than its own that no earlier
 * trigger stamped. One trigger draws exactly as it always has.
 */
export function unlearningSet(
  train: ImageSet,
  trigger: ReversedTrigger | readonly ReversedTrigger[],
  rng: Random,
  share = DEFAULT_UNLEARN_SHARE,
  stampedShare = DEFAULT_STAMPED_SHARE,
): UnlearningSet {
  const triggers: readonly ReversedTrigger[] = Array.isArray(trigger) ? trigger : [trigger as ReversedTrigger];
  if (triggers.length === 0) throw new OptionError('trigger', 'at least one reversed trigger', 0);
  checkRange('unlearnShare', share, 0, 1, true);
  checkRange('stampedShare', stampedShare, 0, 1, true);
  const n = Math.max(1, Math.round(share * train.count));
  if (train.count === 0) throw new OptionError('training set', 'non-empty', 0);
  const drawn = rng.sampleWithoutReplacement(train.count, Math.min(n, train.count));
  const set = subset(train, drawn);
  const total = Math.round(stampedShare * set.count);
  const taken = new Uint8Array(set.count);
  const size = set.height * set.width * set.channels;
  const images = set.images;
  const stampedBy = triggers.map((t, j) => {
    const eligible: number[] = [];
    for (let i = 0; i < set.count; i++) if (set.labels[i] !== t.label && !taken[i]) eligible.push(i);
    const quota = Math.floor(total / triggers.length) + (j < total % triggers.length ? 1 : 0);
    const m = Math.min(eligible.length, quota);
    const pick = rng.sampleWithoutReplacement(eligible.length, m);
    const mine = Int32Array.from(Array.from(pick, (k) => eligible[k]).sort((a, b) => a - b));
    for (const i of mine) {
      taken[i] = 1;
      images.set(stampReversed(images.subarray(i * size, (i + 1) * size), t), i * size);
    }
    return { label: t.label, stamped: mine };
  });
  const stamped = Int32Array.from(stampedBy.flatMap((b) => Array.from(b.stamped)).sort((a, b) => a - b));
  return { set: imageSet(images, set.labels, set.height, set.width, set.channels), stamped, stampedBy, drawn };
}

export interface FineTuneOptions {
  readonly epochs?: number;
  readonly learningRate?: number;
  readonly batchSize?: number;
  readonly seed?: number;
  readonly preprocessing: Preprocessing;
  /** Pruned neurons to keep at zero: their masks are re-applied after every optimizer step. */
  readonly pruned?: PrunedWeights;
  /** Where the steps run (default {@link DEFAULT_MODEL_ENGINE}: native where the engine takes the model, else TF.js). */
  readonly engine?: ModelEngineChoice;
  readonly onProgress?: (p: TrainProgress) => void;
}

/** Fine-tunes `model` in place on `set` (Adam on cross-entropy, the project's trainer); says which engine ran it and why. */
export async function fineTune(model: tfl.LayersModel, set: ImageSet, options: FineTuneOptions): Promise<TrainResult & { readonly engine: ModelEngineDecision }> {
  const epochs = checkPositiveInt('epochs', options.epochs ?? DEFAULT_UNLEARN_EPOCHS);
  const learningRate = checkPositive('learningRate', options.learningRate ?? DEFAULT_UNLEARN_LEARNING_RATE);
  const batchSize = checkPositiveInt('batchSize', options.batchSize ?? DEFAULT_UNLEARN_BATCH_SIZE);
  const { pruned } = options;
  const { decision } = await resolveTrainEngine(model, options.engine ?? DEFAULT_MODEL_ENGINE);
  const common = { epochs, learningRate, batchSize, preprocessing: options.preprocessing, ...(options.seed !== undefined ? { seed: options.seed } : {}) };
  if (decision.engine === 'onnx') {
    // The native trainer holds the weights itself: the masks go with it, re-applied after every step.
    const result = await trainLayersNative(model, set, { ...common, ...(pruned ? { zeroed: pruned.zeroed } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    return { ...result, engine: decision };
  }
  const result = await trainModel(model, set, {
    ...common,
    // trainModel calls onProgress right after each optimizer step: the place to re-apply the masks.
    onProgress: (p) => {
      pruned?.apply();
      options.onProgress?.(p);
    },
  });
  return { ...result, engine: decision };
}
