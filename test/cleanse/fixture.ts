/**
 * A tiny backdoored model for scan tests: 8x8 grey images of 5 classes (a bright 3x3 blob at a
 * class-specific place, on noise), a 2x2 white square at the bottom-right corner sending
 * everything to label 1, and a small conv net trained on it. Saved as a model folder with
 * metadata.json, like `poisonguard train` does.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { imageSet, type ImageSet } from '../../src/data/images.js';
import { METADATA_FORMAT, METADATA_VERSION, saveModel } from '../../src/nn/model-io.js';
import { DEFAULT_PREPROCESSING } from '../../src/nn/preprocess.js';
import { trainModel, evaluateModel } from '../../src/nn/train.js';
import { poisonBadNets, squareTrigger } from '../../src/nn/trigger.js';
import { Random } from '../../src/random.js';

export const SIZE = 8;
export const CLASSES = 5;
export const TARGET = 1;
/** Top-left corners of each class's blob (none touches the trigger's corner). */
const BLOBS: readonly [number, number][] = [
  [0, 0],
  [0, 5],
  [5, 0],
  [2, 2],
  [0, 2],
];

export function syntheticSet(count: number, rng: Random): ImageSet {
  const images = new Uint8Array(count * SIZE * SIZE);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const y = n % CLASSES;
    labels[n] = y;
    for (let p = 0; p < SIZE * SIZE; p++) images[n * SIZE * SIZE + p] = Math.floor(rng.next() * 70);
    const [r0, c0] = BLOBS[y];
    for (let r = r0; r < r0 + 3; r++) for (let c = c0; c < c0 + 3; c++) images[n * SIZE * SIZE + r * SIZE + c] = 180 + Math.floor(rng.next() * 75);
  }
  return imageSet(images, labels, SIZE, SIZE, 1);
}

export const TRIGGER = squareTrigger({ size: 2, margin: 0, position: 'bottom-right', colour: [255, 255, 255] });

function tinyNet(seed: number): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [SIZE, SIZE, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: CLASSES, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  return model;
}

/** Trains and saves the tiny backdoored model into `dir`; returns the clean test set and its ASR. */
export async function makeTinyBackdooredModel(dir: string): Promise<{ test: ImageSet; asr: number; accuracy: number }> {
  const rng = new Random(5);
  const train = syntheticSet(1000, rng);
  const test = syntheticSet(200, rng);
  const backdoor = { trigger: TRIGGER, target: TARGET, rate: 0.15 };
  const poisoned = poisonBadNets(train, backdoor, CLASSES, new Random(6));
  const model = tinyNet(3);
  await trainModel(model, poisoned.set, { epochs: 8, batchSize: 32, learningRate: 0.01, seed: 1, preprocessing: DEFAULT_PREPROCESSING });
  const ev = await evaluateModel(model, test, { preprocessing: DEFAULT_PREPROCESSING, backdoor });
  await saveModel(model, dir, {
    format: METADATA_FORMAT,
    formatVersion: METADATA_VERSION,
    dataset: 'synthetic',
    arch: 'tiny',
    numClasses: CLASSES,
    inputShape: [SIZE, SIZE, 1],
    preprocessing: DEFAULT_PREPROCESSING,
    trigger: TRIGGER,
    target: TARGET,
    poisonRate: backdoor.rate,
    poisonedCount: poisoned.poisoned.length,
    seed: 1,
    backend: tf.getBackend(),
    epochs: 8,
    batchSize: 32,
    learningRate: 0.01,
    cleanAccuracy: ev.cleanAccuracy,
    attackSuccessRate: ev.attackSuccessRate,
    trainSeconds: 0,
    imagesPerSecond: 0,
    date: new Date().toISOString(),
  });
  model.dispose();
  return { test, asr: ev.attackSuccessRate ?? 0, accuracy: ev.cleanAccuracy };
}

/** A quick recipe for the tiny model (small steps; the schedule's logic unchanged). */
export const TINY_RECIPE = { batchSize: 16, miniBatches: 4, maxSteps: 80, patience: 3, earlyStopPatience: 8 } as const;
