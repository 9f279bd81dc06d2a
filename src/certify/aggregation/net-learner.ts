/**
 * The network base learner: the project's MNIST or GTSRB net, initialised from the partition's
 * seed and trained from scratch on the partition alone by the native engine (onnxruntime, one
 * thread: the same bits on every machine), then asked for the label of every test image. TF.js
 * only builds the initial weights (its cpu backend: nothing is computed there).
 */
import type { ImageDataset } from '../../data/images.js';
import { subset } from '../../data/images.js';
import type { ClassifierGraph } from '../../graph/ir.js';
import { createForwardRunner } from '../../graph/runtime.js';
import { gtsrbNet, mnistNet } from '../../nn/architectures.js';
import { initEngine } from '../../nn/engine.js';
import { layersToGraph } from '../../nn/layers-graph.js';
import { PREPROCESSING_PRESETS, preprocessInto } from '../../nn/preprocess.js';
import { argMaxRows } from '../../nn/scorer.js';
import { trainGraph } from '../../nn/train-native.js';
import { DEFAULT_EVAL_BATCH_SIZE } from '../../nn/train.js';

/** Pixels / 255: the project's default preprocessing (DPA's release normalised by each partition's mean and std). */
export const BASE_NET_PREPROCESSING = PREPROCESSING_PRESETS.unit;

export interface NetSchedule {
  readonly arch: 'mnist' | 'gtsrb';
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
}

export interface NetModel {
  /** The trained weights by graph name. */
  readonly weights: Map<string, Float32Array>;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
}

let engineReady: Promise<unknown> | undefined;

/** The initial graph of the net for `seed` (TF.js's initialisers, as `poisonguard train`). */
async function initialGraph(dataset: ImageDataset, arch: NetSchedule['arch'], seed: number): Promise<ClassifierGraph> {
  engineReady ??= initEngine({ backend: 'cpu' });
  await engineReady;
  const shape: [number, number, number] = [dataset.train.height, dataset.train.width, dataset.train.channels];
  const model = (arch === 'mnist' ? mnistNet : gtsrbNet)({ seed, inputShape: shape, numClasses: dataset.numClasses });
  try {
    return layersToGraph(model).graph;
  } finally {
    model.dispose();
  }
}

/**
 * Trains one partition's net and predicts the test set. An empty partition trains nothing and
 * votes class 0 everywhere (a fixed answer: the certificate only needs each vote to depend on its
 * partition alone).
 */
export async function trainNetPartition(dataset: ImageDataset, members: Int32Array, schedule: NetSchedule, seed: number): Promise<{ model: NetModel; predictions: Uint8Array }> {
  if (members.length === 0) return { model: { weights: new Map(), trainSeconds: 0, evalSeconds: 0 }, predictions: new Uint8Array(dataset.test.count) };
  const graph = await initialGraph(dataset, schedule.arch, seed);
  const weights = new Map<string, Float32Array>();
  const t0 = performance.now();
  await trainGraph(graph, weights, subset(dataset.train, members), {
    epochs: schedule.epochs,
    batchSize: Math.min(schedule.batchSize, members.length),
    learningRate: schedule.learningRate,
    seed,
    preprocessing: BASE_NET_PREPROCESSING,
    threads: 1,
  });
  const t1 = performance.now();
  const trained: ClassifierGraph = { ...graph, weights: new Map([...graph.weights].map(([k, w]) => [k, weights.has(k) ? { dims: w.dims, data: weights.get(k)! } : w])) };
  const predictions = await predictImages(trained, dataset);
  const all = new Map([...trained.weights].map(([k, w]) => [savedWeightName(k), w.data]));
  if (all.size !== trained.weights.size) throw new Error(`two of the net's tensors share a saved name: ${[...trained.weights.keys()].join(', ')}`);
  return { model: { weights: all, trainSeconds: (t1 - t0) / 1000, evalSeconds: (performance.now() - t1) / 1000 }, predictions };
}

/**
 * A tensor's name as saved: TF.js appends _N to a variable's name when a net with the same layer
 * names was built before in the same thread (conv1/kernel_3), so the raw names depend on what the
 * thread trained before it; the saved ones do not (conv1/kernel), wherever the net was trained.
 */
export function savedWeightName(name: string): string {
  return name.replace(/_\d+$/, '');
}

async function predictImages(graph: ClassifierGraph, dataset: ImageDataset): Promise<Uint8Array> {
  const test = dataset.test;
  const runner = await createForwardRunner(graph, { threads: 1 });
  try {
    const size = test.height * test.width * test.channels;
    const out = new Uint8Array(test.count);
    const batch = new Float32Array(DEFAULT_EVAL_BATCH_SIZE * size);
    for (let start = 0; start < test.count; start += DEFAULT_EVAL_BATCH_SIZE) {
      const n = Math.min(DEFAULT_EVAL_BATCH_SIZE, test.count - start);
      const x = preprocessInto(test.images.subarray(start * size, (start + n) * size), test.channels, BASE_NET_PREPROCESSING, batch).subarray(0, n * size);
      out.set(argMaxRows((await runner.run(x, n)).out, n), start);
    }
    return out;
  } finally {
    await runner.dispose();
  }
}
