/**
 * Training and evaluation of image classifiers on raw uint8 image sets: seeded shuffling, the
 * model's declared preprocessing applied batch by batch, Adam on softmax cross-entropy, progress
 * through `onProgress`. Every tensor is created inside a tidy or disposed explicitly, so the
 * engine's tensor count is the same before and after (and flat from epoch to epoch).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { imageSet, type ImageSet } from '../data/images.js';
import { OptionError, ShapeError } from '../errors.js';
import { checkPositiveInt } from '../options.js';
import type { NamedTensor } from './model-io.js';
import { DEFAULT_PREPROCESSING, preprocessInto, type Preprocessing } from './preprocess.js';
import { ACC_BETA1, ACC_BETA2 } from './adam.js';
import { BatchAssembler, dropoutSeed, EpochMeter, learningRateAt, resolveSchedule, type OnTheFlyPoisoning, type ScheduleOptions } from './train-batches.js';
import { attackLabel, isAllToAll, maskSupport, resolveTrigger, stampInPlace, type AttackTarget, type ResolvedTrigger } from './trigger.js';
import { KERAS_EPSILON } from '../keras.js';
import { argMaxRows, isScorer, type BatchScorer } from './scorer.js';
import { DEFAULT_EVAL_BATCH_SIZE } from './recipe.js';

// Declared with the recipe's other defaults (free of TensorFlow.js, so that help texts can show it).
export { DEFAULT_EVAL_BATCH_SIZE };
/** Probability clip of Keras's categorical cross-entropy. */
const PROBABILITY_EPSILON = KERAS_EPSILON;

export interface TrainProgress {
  /** 1-based epoch. */
  readonly epoch: number;
  readonly epochs: number;
  /** 1-based batch within the epoch. */
  readonly batch: number;
  readonly batches: number;
  /** Mean training loss over the epoch so far. */
  readonly loss: number;
  /** Training accuracy over the epoch so far, in [0, 1]. */
  readonly accuracy: number;
  /** Training throughput over the epoch so far. */
  readonly imagesPerSecond: number;
}

/** A training's options: the schedule both engines share (train-batches.ts), the poisoning, the hooks. */
export interface TrainOptions extends ScheduleOptions {
  /** Called after every batch. */
  readonly onProgress?: (p: TrainProgress) => void;
  /** Awaited after every epoch (e.g. to save a checkpoint); its time is not counted as training. */
  readonly onEpochEnd?: (summary: EpochSummary, checkpoint: TrainCheckpoint) => Promise<void> | void;
  /**
   * Poisoning as the batches are drawn (the Neural Cleanse release's data generator): every drawn
   * image goes through the poisoner (BadNets: stamped and relabelled to the target with probability
   * `rate`), so each epoch poisons a fresh subset. Draws come from a stream seeded by (seed, epoch): a resumed run poisons
   * exactly as an uninterrupted one.
   */
  readonly poisonOnTheFly?: OnTheFlyPoisoning;
  /** The optimizer's saved state to continue from (from {@link TrainCheckpoint.optimizerWeights}); the caller keeps ownership. */
  readonly optimizerState?: readonly NamedTensor[];
}

export { SAMPLINGS, type Sampling } from './train-batches.js';

/** What an epoch-end hook can save to make the run resumable. */
export interface TrainCheckpoint {
  /**
   * Copies of the optimizer's state (Adam's step count and moments), in the order
   * {@link TrainOptions.optimizerState} takes them back; the caller disposes them.
   */
  optimizerWeights(): Promise<NamedTensor[]>;
}

export interface EpochSummary {
  readonly epoch: number;
  /** Images poisoned on the fly this epoch (0 without {@link TrainOptions.poisonOnTheFly}). */
  readonly poisoned: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
}

export interface TrainResult {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly history: readonly EpochSummary[];
  /** Time spent training (epoch-end hooks excluded). */
  readonly seconds: number;
  /** Mean training throughput over all epochs. */
  readonly imagesPerSecond: number;
}

/** Trains `model` in place on `set` (raw pixels; labels are class indices). */
export async function trainModel(model: tfl.LayersModel, set: ImageSet, options: TrainOptions = {}): Promise<TrainResult> {
  const schedule = resolveSchedule(set, options);
  const { epochs, batchSize, learningRate, seed, batches, draws, startEpoch } = schedule;
  const numClasses = checkModelFits(model, set);
  const assembler = new BatchAssembler(set, schedule, options.poisonOnTheFly);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = tf.train.adam(learningRate);
  if (options.optimizerState) await restoreAdam(optimizer, options.optimizerState);
  const checkpoint: TrainCheckpoint = {
    async optimizerWeights() {
      const weights = await optimizer.getWeights();
      // The step count is a fresh scalar (owned here); the moments are the optimizer's own variables.
      const copies = weights.map((w, i) => (i === 0 ? w : { name: w.name, tensor: w.tensor.clone() }));
      const { accBeta1, accBeta2 } = adamInternals(optimizer);
      return [...copies, { name: ACC_BETA1, tensor: accBeta1.clone() }, { name: ACC_BETA2, tensor: accBeta2.clone() }];
    },
  };
  const dropouts = dropoutLayers(model);
  const lossOf = lossFunction(model);
  const history: EpochSummary[] = [];
  let trainingSeconds = 0;
  const adam = optimizer as unknown as { learningRate: number };
  const { x: floatBatch, labels: labelBatch } = assembler;
  const [height, width, channels] = [set.height, set.width, set.channels];
  try {
    for (let epoch = startEpoch + 1; epoch <= epochs; epoch++) {
      assembler.beginEpoch(epoch);
      const meter = new EpochMeter();
      for (let b = 0; b < batches; b++) {
        const step = (epoch - 1) * batches + b;
        adam.learningRate = learningRateAt(schedule, step);
        dropouts.forEach((layer, j) => (layer.seed = dropoutSeed(seed, step, j)));
        const n = assembler.fill(b);
        const stats = tf.tidy(() => {
          const xs = tf.tensor4d(floatBatch.subarray(0, n * height * width * channels), [n, height, width, channels]);
          const labels = tf.tensor1d(labelBatch.subarray(0, n), 'int32');
          const ys = tf.oneHot(labels, numClasses) as tf.Tensor2D;
          let correct: tf.Scalar | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const out = model.apply(xs, { training: true }) as tf.Tensor2D;
            correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(out, -1), labels), 'float32')) as tf.Scalar);
            return lossOf(out, ys);
          }, variables);
          // applyGradients is typed for variables, but reads only the gradient tensors by name.
          optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
          const result = tf.stack([value, correct!]);
          correct!.dispose(); // kept out of the gradient tape's scope, so the tidy does not own it
          return result;
        });
        // Unseeded again between steps, so that a checkpoint's model.json is the model's own configuration.
        for (const layer of dropouts) layer.seed = undefined;
        const [loss, correct] = await stats.data();
        stats.dispose();
        meter.add(n, loss, correct);
        options.onProgress?.({ epoch, epochs, batch: b + 1, batches, loss: meter.loss, accuracy: meter.accuracy, imagesPerSecond: meter.seen / Math.max(meter.seconds, 1e-9) });
      }
      const seconds = meter.seconds;
      const summary = { epoch, poisoned: assembler.poisoned, loss: meter.loss, accuracy: meter.accuracy, seconds, imagesPerSecond: meter.seen / seconds };
      history.push(summary);
      trainingSeconds += seconds;
      await options.onEpochEnd?.(summary, checkpoint);
    }
  } finally {
    optimizer.dispose();
    for (const layer of dropouts) layer.seed = undefined;
  }
  return { epochs, batchSize, learningRate, seed, history, seconds: trainingSeconds, imagesPerSecond: ((epochs - startEpoch) * draws) / trainingSeconds };
}

/** The Adam optimizer's bias-correction state, which TF.js keeps private. */
function adamInternals(optimizer: tf.AdamOptimizer): { accBeta1: tf.Variable; accBeta2: tf.Variable } {
  return optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
}

/**
 * Restores a checkpoint's Adam state. TF.js's setWeights recomputes β^t as pow(β, t + 1), which
 * differs in the last bits from the product the uninterrupted run accumulated step by step; the
 * saved products are put back instead, so the resumed steps are bit-identical. (A checkpoint
 * written before they were saved keeps TF.js's recomputation.)
 */
async function restoreAdam(optimizer: tf.AdamOptimizer, state: readonly NamedTensor[]): Promise<void> {
  const powers = state.filter((w) => w.name === ACC_BETA1 || w.name === ACC_BETA2);
  // setWeights makes variables that share (and reference-count) the given tensors' data.
  await optimizer.setWeights(state.filter((w) => !powers.includes(w)));
  const { accBeta1, accBeta2 } = adamInternals(optimizer);
  for (const w of powers) (w.name === ACC_BETA1 ? accBeta1 : accBeta2).assign(w.tensor as tf.Scalar);
}

/** The model's dropout layers (tf.layers Dropout and its subclasses), whose mask seed trainModel sets per step. */
function dropoutLayers(model: tfl.LayersModel): { seed?: number }[] {
  return model.layers.filter((l) => typeof (l as { rate?: unknown }).rate === 'number' && 'seed' in l) as unknown as { seed?: number }[];
}

/**
 * What runs a training's epochs: {@link trainModel}'s contract (the model trained in place from
 * `startEpoch`, the optimizer state restored and offered at every epoch end, the same draws for a
 * seed), so that another engine can take TF.js's place under {@link trainRun}.
 */
export interface TrainEngine {
  /** Recorded in metadata.json ('tfjs', 'onnx'); a checkpoint resumes only on the engine that wrote it. */
  readonly name: string;
  train(model: tfl.LayersModel, set: ImageSet, options: TrainOptions): Promise<TrainResult>;
}

/** TensorFlow.js running the epochs ({@link trainModel}). */
export const TFJS_TRAIN_ENGINE: TrainEngine = { name: 'tfjs', train: trainModel };

/**
 * Softmax cross-entropy, from logits when the last layer is linear, from probabilities (clipped as
 * Keras does) when the model ends in a softmax.
 */
function lossFunction(model: tfl.LayersModel): (out: tf.Tensor2D, oneHot: tf.Tensor2D) => tf.Scalar {
  const last = model.layers[model.layers.length - 1];
  const activation = (last?.getConfig() as { activation?: unknown } | undefined)?.activation;
  if (activation === 'softmax') {
    return (probs, oneHot) =>
      tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(probs, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON))), -1))) as tf.Scalar;
  }
  return (logits, oneHot) => tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar;
}

/**
 * Checks the model's input/output shapes and the labels against a set (`what` names it in errors);
 * returns the number of classes.
 */
export function checkModelFits(model: tfl.LayersModel, set: ImageSet, what = 'training set'): number {
  const input = model.inputs[0].shape;
  const [h, w, c] = input.slice(1);
  if (input.length !== 4 || h !== set.height || w !== set.width || c !== set.channels) {
    const images = what === 'training set' ? 'the images' : `the ${what}'s images`;
    throw new ShapeError('model input', `[null, ${set.height}, ${set.width}, ${set.channels}] (${images})`, shapeText(input));
  }
  const output = model.outputs[0].shape;
  const numClasses = output[1];
  if (output.length !== 2 || typeof numClasses !== 'number') throw new ShapeError('model output', '[null, classes]', shapeText(output));
  for (let i = 0; i < set.count; i++) {
    if (set.labels[i] < 0 || set.labels[i] >= numClasses) {
      const labels = what === 'training set' ? 'labels' : `${what} labels`;
      throw new OptionError(labels, `class indices in 0..${numClasses - 1} (the model has ${numClasses} outputs)`, `label ${set.labels[i]} at index ${i}`);
    }
  }
  return numClasses;
}

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => d ?? 'null').join(', ')}]`;
}

export interface PredictOptions {
  readonly preprocessing?: Preprocessing;
  readonly batchSize?: number;
  /** Called after every batch with the number of images done. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** The predicted class of every image of `set` (raw pixels), by a TF.js model or a {@link BatchScorer}. */
export async function predictLabels(model: tfl.LayersModel | BatchScorer, set: ImageSet, options: PredictOptions = {}): Promise<Int32Array> {
  const preprocessing = options.preprocessing ?? DEFAULT_PREPROCESSING;
  const batchSize = checkPositiveInt('batchSize', options.batchSize ?? DEFAULT_EVAL_BATCH_SIZE);
  const imageSize = set.height * set.width * set.channels;
  const out = new Int32Array(set.count);
  const floatBatch = new Float32Array(Math.min(batchSize, set.count) * imageSize);
  for (let start = 0; start < set.count; start += batchSize) {
    const n = Math.min(batchSize, set.count - start);
    preprocessInto(set.images.subarray(start * imageSize, (start + n) * imageSize), set.channels, preprocessing, floatBatch);
    if (isScorer(model)) {
      out.set(argMaxRows(await model.scores(floatBatch.subarray(0, n * imageSize), n), n), start);
    } else {
      const pred = tf.tidy(() => {
        const xs = tf.tensor4d(floatBatch.subarray(0, n * imageSize), [n, set.height, set.width, set.channels]);
        return tf.argMax(model.predict(xs) as tf.Tensor2D, -1);
      });
      out.set(await pred.data(), start);
      pred.dispose();
    }
    options.onProgress?.(start + n, set.count);
  }
  return out;
}

export interface EvaluateOptions extends PredictOptions {
  /** The planted backdoor (or backdoors), to measure the attack success rate of each. */
  readonly backdoor?: AttackTarget | readonly AttackTarget[];
}

/** One backdoor's figures on a test set. */
export interface AttackEvaluation {
  /**
   * Test images stamped for the ASR: those whose true label is not the target (all of them for an
   * all-to-all backdoor, which sends label y to y + 1 mod K).
   */
  readonly attackCount: number;
  /** Attack success rate: share of those images that go where the backdoor sends them once stamped, in [0, 1]; null without a backdoor. */
  readonly attackSuccessRate: number | null;
  /**
   * Stamped images the stamp barely changes (mean absolute change over the trigger's pixels below
   * {@link UNCHANGED_STAMP} raw units: e.g. a white square on an already white corner): no model can
   * tell them from the clean image. For patch and blend triggers only (not the added or warping ones).
   */
  readonly attackUnchanged?: number;
  /** The attack success rate over the other stamped images (the ones the stamp visibly changes). */
  readonly attackSuccessRateChanged?: number | null;
}

/** Clean accuracy and the first backdoor's figures (see {@link AttackEvaluation}); `attacks` lists every backdoor's when there are several. */
export interface EvaluationResult extends AttackEvaluation {
  /** Test images. */
  readonly count: number;
  /** Share of test images classified correctly, in [0, 1]. */
  readonly cleanAccuracy: number;
  /** Each backdoor's figures, in the order given, with two backdoors or more. */
  readonly attacks?: readonly (AttackEvaluation & { readonly target: number | null })[];
}

/** Below this mean absolute change (raw 0..255 units, over the trigger's pixels) a stamp leaves the image as it was. */
export const UNCHANGED_STAMP = 5;

/** The test images a backdoor's attack success rate is measured on, stamped with its trigger. */
export interface AttackImages {
  /** The stamped images, with their true labels; row r is test image `indices[r]`. */
  readonly set: ImageSet;
  readonly indices: readonly number[];
  /** Where each stamped image goes when the attack succeeds: the target, or (all-to-all) its label + 1 mod K. */
  readonly expected: Int32Array;
  readonly resolved: ResolvedTrigger;
}

/** The images of `test` a backdoor's ASR is measured on: those whose label is not its target (all of them for an all-to-all backdoor). */
export function attackIndices(test: ImageSet, backdoor: AttackTarget): number[] {
  const indices: number[] = [];
  for (let i = 0; i < test.count; i++) if (isAllToAll(backdoor) || test.labels[i] !== backdoor.target) indices.push(i);
  return indices;
}

/** The images {@link attackIndices} picks, stamped: what {@link evaluateModel} and the mitigation's figures measure an ASR on. */
export function attackImages(test: ImageSet, backdoor: AttackTarget, numClasses: number, indices = attackIndices(test, backdoor)): AttackImages {
  const resolved = resolveTrigger(backdoor.trigger, test.height, test.width, test.channels);
  const size = test.height * test.width * test.channels;
  const images = new Uint8Array(indices.length * size);
  indices.forEach((i, r) => images.set(test.images.subarray(i * size, (i + 1) * size), r * size));
  stampInPlace(images, resolved);
  const labels = Int32Array.from(indices, (i) => test.labels[i]);
  return {
    set: imageSet(images, labels, test.height, test.width, test.channels),
    indices,
    expected: labels.map((y) => attackLabel(backdoor, y, numClasses)),
    resolved,
  };
}

/** Clean accuracy and, with backdoors, the attack success rate of each on a test set (raw pixels). */
export async function evaluateModel(model: tfl.LayersModel | BatchScorer, test: ImageSet, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const backdoors: readonly AttackTarget[] = options.backdoor === undefined ? [] : 'trigger' in options.backdoor ? [options.backdoor] : options.backdoor;
  const numClasses = modelClasses(model);
  const attackIdx = backdoors.map((b) => attackIndices(test, b));
  const total = test.count + attackIdx.reduce((n, idx) => n + idx.length, 0);
  let offset = 0;
  const progress = () => {
    const base = offset;
    return (done: number) => options.onProgress?.(base + done, total);
  };
  const predicted = await predictLabels(model, test, { ...options, onProgress: progress() });
  offset = test.count;
  let correct = 0;
  for (let i = 0; i < test.count; i++) if (predicted[i] === test.labels[i]) correct++;
  const figures: { target: number | null; e: AttackEvaluation }[] = [];
  for (const [b, backdoor] of backdoors.entries()) {
    // Stamped one backdoor at a time: a large test set is held stamped once, not once per backdoor.
    const { set, indices: idx, expected, resolved } = attackImages(test, backdoor, numClasses, attackIdx[b]);
    // The added and warping triggers change the whole image a little: "unchanged" does not apply.
    const unchanged = resolved.effect ? undefined : unchangedByStamp(test.images, set.images, idx, resolved);
    const hits = await predictLabels(model, set, { ...options, onProgress: progress() });
    offset += idx.length;
    let hitsAll = 0;
    let hitsChanged = 0;
    let unchangedCount = 0;
    hits.forEach((p, r) => {
      const success = p === expected[r] ? 1 : 0;
      hitsAll += success;
      if (unchanged?.[r]) unchangedCount++;
      else hitsChanged += success;
    });
    const changedCount = idx.length - unchangedCount;
    figures.push({
      target: isAllToAll(backdoor) ? null : backdoor.target,
      e: {
        attackCount: idx.length,
        attackSuccessRate: idx.length > 0 ? hitsAll / idx.length : null,
        ...(unchanged ? { attackUnchanged: unchangedCount, attackSuccessRateChanged: changedCount > 0 ? hitsChanged / changedCount : null } : {}),
      },
    });
  }
  const head: AttackEvaluation = figures[0]?.e ?? { attackCount: 0, attackSuccessRate: null };
  return {
    count: test.count,
    cleanAccuracy: correct / test.count,
    ...head,
    ...(figures.length > 1 ? { attacks: figures.map((f) => ({ target: f.target, ...f.e })) } : {}),
  };
}

/** The model's number of classes (for all-to-all's y + 1 mod K). */
function modelClasses(model: tfl.LayersModel | BatchScorer): number {
  if (isScorer(model)) return model.numClasses;
  const shape = model.outputs[0].shape;
  return shape[shape.length - 1] as number;
}

/** Per stamped image (row r of `stamped` is image `indices[r]` of `original`): whether the stamp left it as it was. */
function unchangedByStamp(original: Uint8Array, stamped: Uint8Array, indices: readonly number[], resolved: ResolvedTrigger): Uint8Array {
  const { height, width, channels } = resolved;
  const size = height * width * channels;
  const support = maskSupport(resolved);
  const out = new Uint8Array(indices.length);
  if (support.length === 0) return out.fill(1);
  indices.forEach((i, r) => {
    let sum = 0;
    for (const p of support) {
      for (let k = 0; k < channels; k++) sum += Math.abs(stamped[r * size + p * channels + k] - original[i * size + p * channels + k]);
    }
    out[r] = sum / (support.length * channels) < UNCHANGED_STAMP ? 1 : 0;
  });
  return out;
}
