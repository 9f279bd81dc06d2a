/**
 * The network base learner: the project's MNIST or GTSRB net, or a user's ONNX architecture
 * (onnx-learner.ts), initialised from the partition's seed and trained from scratch on the
 * partition alone by the native engine (onnxruntime, one thread: the same bits on every machine),
 * then asked for the label of every test image. For the project's nets TF.js only builds the
 * initial weights (its cpu backend: nothing is computed there); a user's architecture gets
 * PyTorch's default initialisation (src/nn/torch-init.ts).
 */
import type { ImageDataset, ImageSet } from '../../data/images.js';
import { subset } from '../../data/images.js';
import type { ClassifierGraph } from '../../graph/ir.js';
import { createForwardRunner } from '../../graph/runtime.js';
import { gtsrbNet, mnistNet } from '../../nn/architectures.js';
import { initEngine } from '../../nn/engine.js';
import { layersToGraph } from '../../nn/layers-graph.js';
import { preprocessInto, type Preprocessing } from '../../nn/preprocess.js';
import { argMaxRows } from '../../nn/scorer.js';
import { reinitialiseLikeTorch } from '../../nn/torch-init.js';
import { trainGraph } from '../../nn/train-native.js';
import { DEFAULT_EVAL_BATCH_SIZE } from '../../nn/train.js';
import type { GraphTrainOptions } from '../../nn/train-native.js';
import { BASE_NET_PREPROCESSING, DPA_LR_FACTOR, DPA_SGD, dpaLearningRateDrops, ONNX_LEARNER, type NetRecipe } from './recipe.js';

/** The nets: the project's architectures by name, or a user's ONNX graph ({@link ONNX_LEARNER}). */
export type NetArch = 'mnist' | 'gtsrb' | typeof ONNX_LEARNER;

export interface NetSchedule {
  readonly arch: NetArch;
  /** How the nets are trained (recipe.ts's NET_RECIPES). */
  readonly recipe: NetRecipe;
  /** Random-crop padding in pixels (0: no augmentation). */
  readonly crop: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** From raw pixels to the net's input (a user's architecture); absent: the partition's own normalisation ('dpa') or {@link BASE_NET_PREPROCESSING} ('adam'). */
  readonly preprocessing?: Preprocessing;
}

export interface NetModel {
  /** The trained weights by graph name. */
  readonly weights: Map<string, Float32Array>;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
}

let engineReady: Promise<unknown> | undefined;

/**
 * The initial graph of the net for `seed`: the project's nets with TF.js's initialisers (as
 * `poisonguard train`), a user's architecture re-initialised by PyTorch's rule.
 */
async function initialGraph(dataset: ImageDataset, arch: NetArch, seed: number, architecture: ClassifierGraph | undefined): Promise<ClassifierGraph> {
  if (arch === ONNX_LEARNER) {
    if (!architecture) throw new Error("the 'onnx' learner needs its architecture's graph");
    return reinitialiseLikeTorch(architecture, seed).graph;
  }
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
export async function trainNetPartition(dataset: ImageDataset, members: Int32Array, schedule: NetSchedule, seed: number, architecture?: ClassifierGraph): Promise<{ model: NetModel; predictions: Uint8Array }> {
  if (members.length === 0) return { model: { weights: new Map(), trainSeconds: 0, evalSeconds: 0 }, predictions: new Uint8Array(dataset.test.count) };
  const graph = await initialGraph(dataset, schedule.arch, seed, architecture);
  const train = subset(dataset.train, members);
  const dpa = schedule.recipe === 'dpa';
  const preprocessing = schedule.preprocessing ?? (dpa ? partitionNormalisation(train) : BASE_NET_PREPROCESSING);
  const recipe: GraphTrainOptions = dpa
    ? { optimizer: { kind: 'sgd', ...DPA_SGD }, learningRateSteps: { afterEpochs: dpaLearningRateDrops(schedule.epochs), factor: DPA_LR_FACTOR } }
    : {};
  const weights = new Map<string, Float32Array>();
  const t0 = performance.now();
  await trainGraph(graph, weights, train, {
    ...recipe,
    randomCrop: schedule.crop,
    epochs: schedule.epochs,
    batchSize: Math.min(schedule.batchSize, members.length),
    learningRate: schedule.learningRate,
    seed,
    preprocessing,
    threads: 1,
  });
  const t1 = performance.now();
  const trained: ClassifierGraph = { ...graph, weights: new Map([...graph.weights].map(([k, w]) => [k, weights.has(k) ? { dims: w.dims, data: weights.get(k)! } : w])) };
  const predictions = await predictImages(trained, dataset, preprocessing);
  // A user's graph keeps its own names (an exporter's 'onnx::Conv_71' must not lose its number).
  const saved = schedule.arch === ONNX_LEARNER ? (k: string) => k : savedWeightName;
  const all = new Map([...trained.weights].map(([k, w]) => [saved(k), w.data]));
  if (all.size !== trained.weights.size) throw new Error(`two of the net's tensors share a saved name: ${[...trained.weights.keys()].join(', ')}`);
  return { model: { weights: all, trainSeconds: (t1 - t0) / 1000, evalSeconds: (performance.now() - t1) / 1000 }, predictions };
}

/**
 * DPA's per-partition normalisation: (x/255 − mean[c])/std[c] with the mean and the standard
 * deviation (n − 1 in the denominator, as torch.std) of the partition's pixels per channel; a
 * channel with no spread keeps std 1.
 */
export function partitionNormalisation(set: ImageSet): Preprocessing {
  const c = set.channels;
  const sum = new Float64Array(c);
  const count = set.count * set.height * set.width;
  for (let i = 0; i < set.images.length; i++) sum[i % c] += set.images[i] / 255;
  const mean = [...sum].map((s) => s / count);
  const squares = new Float64Array(c);
  for (let i = 0; i < set.images.length; i++) {
    const d = set.images[i] / 255 - mean[i % c];
    squares[i % c] += d * d;
  }
  const std = [...squares].map((s) => (count > 1 && s > 0 ? Math.sqrt(s / (count - 1)) : 1));
  return { kind: 'normalize', mean, std };
}

/**
 * A tensor's name as saved: TF.js appends _N to a variable's name when a net with the same layer
 * names was built before in the same thread (conv1/kernel_3), so the raw names depend on what the
 * thread trained before it; the saved ones do not (conv1/kernel), wherever the net was trained.
 */
export function savedWeightName(name: string): string {
  return name.replace(/_\d+$/, '');
}

async function predictImages(graph: ClassifierGraph, dataset: ImageDataset, preprocessing: Preprocessing): Promise<Uint8Array> {
  const test = dataset.test;
  const runner = await createForwardRunner(graph, { threads: 1 });
  try {
    const size = test.height * test.width * test.channels;
    const out = new Uint8Array(test.count);
    const batch = new Float32Array(DEFAULT_EVAL_BATCH_SIZE * size);
    for (let start = 0; start < test.count; start += DEFAULT_EVAL_BATCH_SIZE) {
      const n = Math.min(DEFAULT_EVAL_BATCH_SIZE, test.count - start);
      const x = preprocessInto(test.images.subarray(start * size, (start + n) * size), test.channels, preprocessing, batch).subarray(0, n * size);
      out.set(argMaxRows((await runner.run(x, n)).out, n), start);
    }
    return out;
  } finally {
    await runner.dispose();
  }
}
