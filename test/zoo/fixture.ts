/**
 * A tiny zoo for the zoo tests: 8x8 grey images of 5 classes (test/cleanse/fixture.ts's synthetic
 * set) written as an image folder, and small conv nets trained on it in TF.js, infected with a
 * white square (position and target vary) or clean, each saved as a poisonguard model folder whose
 * metadata names the folder as its dataset (and so its ground truth).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { METADATA_FORMAT, METADATA_VERSION, saveModel } from '../../src/nn/model-io.js';
import { DEFAULT_PREPROCESSING } from '../../src/nn/preprocess.js';
import { trainModel } from '../../src/nn/train.js';
import { poisonBadNets, squareTrigger } from '../../src/nn/trigger.js';
import { Random } from '../../src/random.js';
import { CLASSES, SIZE, syntheticSet } from '../cleanse/fixture.js';

export { TINY_RECIPE } from '../cleanse/fixture.js';

export interface TinyModel {
  readonly name: string;
  readonly target: number | null;
  readonly position?: 'bottom-right' | 'top-left';
}

/** Writes the data folder (train/ and test/) and returns its path. */
export function writeTinyData(root: string): string {
  const rng = new Random(5);
  const data = join(root, 'data');
  for (const [split, set] of [['train', syntheticSet(300, rng)], ['test', syntheticSet(200, rng)]] as const) {
    const size = SIZE * SIZE;
    for (let n = 0; n < set.count; n++) {
      const dir = join(data, split, String(set.labels[n]));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${n}.pgm`), Buffer.concat([Buffer.from(`P5 ${SIZE} ${SIZE} 255\n`), Buffer.from(set.images.subarray(n * size, (n + 1) * size))]));
    }
  }
  return data;
}

/** Trains one tiny model into `dir`. */
export async function makeTinyModel(dir: string, dataFolder: string, m: TinyModel, seed: number): Promise<void> {
  const train = syntheticSet(1000, new Random(100 + seed));
  const trigger = squareTrigger({ size: 2, margin: 0, position: m.position ?? 'bottom-right', colour: [255, 255, 255] });
  const set = m.target === null ? train : poisonBadNets(train, { trigger, target: m.target, rate: 0.15 }, CLASSES, new Random(6 + seed)).set;
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [SIZE, SIZE, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: CLASSES, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  await trainModel(model, set, { epochs: 8, batchSize: 32, learningRate: 0.01, seed: 1, preprocessing: DEFAULT_PREPROCESSING });
  await saveModel(model, dir, {
    format: METADATA_FORMAT,
    formatVersion: METADATA_VERSION,
    dataset: dataFolder,
    arch: 'tiny',
    numClasses: CLASSES,
    inputShape: [SIZE, SIZE, 1],
    preprocessing: DEFAULT_PREPROCESSING,
    trigger: m.target === null ? null : trigger,
    target: m.target,
    poisonRate: m.target === null ? 0 : 0.15,
    poisonedCount: 0,
    seed: 1,
    backend: tf.getBackend(),
    epochs: 8,
    batchSize: 32,
    learningRate: 0.01,
    cleanAccuracy: 0,
    attackSuccessRate: null,
    trainSeconds: 0,
    imagesPerSecond: 0,
    date: new Date().toISOString(),
  } as never);
  model.dispose();
}

/** A zoo folder of tiny models under `root`; returns the zoo folder and the data folder. */
export async function makeTinyZoo(root: string, models: readonly TinyModel[]): Promise<{ zoo: string; data: string }> {
  const data = writeTinyData(root);
  const zoo = join(root, 'zoo');
  for (const [k, m] of models.entries()) await makeTinyModel(join(zoo, m.name), data, m, 3 + 10 * k);
  return { zoo, data };
}
