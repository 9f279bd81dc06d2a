/**
 * The native trainer against TensorFlow.js's trainModel (the reference): the same Adam steps from
 * the same weights and batches give the same weights (the MNIST net; a net with train-mode
 * BatchNorm, running statistics included), a resumed run is bit-identical to an uninterrupted one,
 * memory stays flat over hundreds of steps, and per-sample weights and zeroed weights act.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { imageSet, subset, type ImageSet } from '../../src/data/images.js';
import { loadMnist } from '../../src/data/mnist.js';
import { gtsrbNet, mnistNet } from '../../src/nn/architectures.js';
import { initEngine } from '../../src/nn/engine.js';
import { layersToGraph } from '../../src/nn/layers-graph.js';
import type { NamedTensor } from '../../src/nn/model-io.js';
import { trainModel, type TrainOptions } from '../../src/nn/train.js';
import { trainGraph } from '../../src/nn/train-native.js';
import { trainLayersNative } from '../../src/nn/train-onnx.js';
import type { AdamState } from '../../src/nn/adam.js';
import { squareTrigger } from '../../src/nn/trigger.js';
import { Poisoner } from '../../src/nn/attacks/poison.js';
import { Random } from '../../src/random.js';
import { loadOrt } from '../../src/graph/runtime.js';
import type { ClassifierGraph } from '../../src/graph/ir.js';

let skip: string | false = false;
let mnist: ImageSet;
before(async () => {
  await initEngine({ backend: 'wasm' });
  const ort = await loadOrt();
  if ('error' in ort) skip = `onnxruntime-node is not available: ${ort.error}`;
  mnist = loadMnist().train;
});

/** Each weight of the model, by its layer's position and its own name (two copies of a model compare by these). */
function weightsOf(model: tfl.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w, i) => [`${i}:${w.originalName.split('/').pop()}`, w.read().dataSync().slice() as Float32Array]));
}

/**
 * How far apart two models' weights are: per weight, the norm of the difference relative to the
 * weight's norm (the worst weight), and the largest difference of one element (Adam divides by
 * √v̂, so an element whose gradient is near zero — float32 noise of a sum that cancels — may move
 * by a visibly different share of the learning rate; it must stay a small share).
 */
function distance(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { name: string; rel: number; maxAbs: number } {
  let worst = { name: '', rel: 0, maxAbs: 0 };
  for (const [name, x] of a) {
    const y = b.get(name)!;
    let diff = 0;
    let norm = 0;
    let maxAbs = 0;
    for (let i = 0; i < x.length; i++) {
      diff += (x[i] - y[i]) ** 2;
      norm += x[i] ** 2;
      maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
    }
    const rel = Math.sqrt(diff / Math.max(norm, 1e-30));
    worst = { name: rel > worst.rel ? name : worst.name, rel: Math.max(rel, worst.rel), maxAbs: Math.max(maxAbs, worst.maxAbs) };
  }
  return worst;
}

/**
 * A small net with train-mode BatchNorm after a conv and after a dense layer, without biases before
 * them (a bias followed by BatchNorm has a zero gradient up to rounding, which Adam turns into ±lr).
 */
function batchNormNet(seed: number): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, strides: 2, useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  m.add(tfl.layers.batchNormalization({ momentum: 0.9 }));
  m.add(tfl.layers.activation({ activation: 'relu' }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 24, useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  m.add(tfl.layers.batchNormalization());
  m.add(tfl.layers.activation({ activation: 'relu' }));
  m.add(tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 2 }) }));
  return m;
}

/** Trains two copies of a model, one per engine, and compares every weight. */
async function sameSteps(make: () => tfl.LayersModel, set: ImageSet, options: TrainOptions): Promise<{ name: string; rel: number; maxAbs: number; moved: number }> {
  const a = make();
  const b = make();
  const start = weightsOf(a);
  await trainModel(a, set, options);
  await trainLayersNative(b, set, options);
  const wa = weightsOf(a);
  const wb = weightsOf(b);
  a.dispose();
  b.dispose();
  // How far the steps moved the weights (so that a comparison of unchanged weights cannot pass).
  const moved = distance(wa, start).rel;
  return { ...distance(wa, wb), moved };
}

test('native Adam steps give TF.js trainModel\'s weights: MNIST net (3 steps of 32, Keras decay)', async (t) => {
  if (skip) return t.skip(skip);
  const set = subset(mnist, Int32Array.from({ length: 96 }, (_, i) => i));
  const learningRate = 1e-3;
  const r = await sameSteps(() => mnistNet({ seed: 3 }), set, { epochs: 1, batchSize: 32, seed: 5, learningRate, learningRateDecay: 0.01 });
  assert.ok(r.moved > 1e-3, `the steps moved the weights by ${r.moved}`);
  assert.ok(r.rel < 1e-5, `worst weight '${r.name}' differs by ${r.rel} of its norm`);
  assert.ok(r.maxAbs < 0.05 * learningRate, `an element differs by ${r.maxAbs}`);
});

test('native Adam steps give TF.js trainModel\'s weights: train-mode BatchNorm, running mean and variance included', async (t) => {
  if (skip) return t.skip(skip);
  // Noise images: on MNIST, border pixels constant over the batch give the first dense kernel
  // entries whose gradient is zero up to rounding (BatchNorm removes the batch mean), which Adam
  // turns into ±lr steps in either engine.
  const rng = new Random(12);
  const set = imageSet(Uint8Array.from({ length: 64 * 784 }, () => rng.int(256)), Int32Array.from({ length: 64 }, () => rng.int(10)), 28, 28, 1);
  const learningRate = 1e-2;
  const r = await sameSteps(() => batchNormNet(9), set, { epochs: 2, batchSize: 32, seed: 2, learningRate });
  assert.ok(r.moved > 1e-3, `the steps moved the weights by ${r.moved}`);
  assert.ok(r.rel < 1e-5, `worst weight '${r.name}' differs by ${r.rel} of its norm`);
  assert.ok(r.maxAbs < 0.05 * learningRate, `an element differs by ${r.maxAbs}`);
});

test('a resumed native run is bit-identical to an uninterrupted one (poisoning, replacement draws, decay, dropout)', async (t) => {
  if (skip) return t.skip(skip);
  const set = subset(mnist, Int32Array.from({ length: 80 }, (_, i) => 300 + i));
  const make = () => {
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dropout({ rate: 0.3 }));
    m.add(tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
    return m;
  };
  const poisonOnTheFly = { poisoner: new Poisoner([{ trigger: squareTrigger({ size: 3 }), target: 0, rate: 0.2 }], 10, 28, 28, 1), seed: 4 };
  const recipe: TrainOptions = { epochs: 3, batchSize: 16, seed: 6, sampling: 'replacement', drawsPerEpoch: 48, learningRateDecay: 1e-3, poisonOnTheFly };
  const whole = make();
  const wholeLosses: number[] = [];
  await trainLayersNative(whole, set, { ...recipe, onEpochEnd: (s) => void wholeLosses.push(s.loss) });
  const part = make();
  let saved: NamedTensor[] = [];
  await trainLayersNative(part, set, { ...recipe, epochs: 1, onEpochEnd: async (_s, c) => void (saved = await c.optimizerWeights()) });
  const resumedLosses: number[] = [];
  await trainLayersNative(part, set, { ...recipe, startEpoch: 1, optimizerState: saved, onEpochEnd: (s) => void resumedLosses.push(s.loss) });
  for (const w of saved) w.tensor.dispose();
  assert.deepEqual(resumedLosses, wholeLosses.slice(1));
  const a = weightsOf(whole);
  const b = weightsOf(part);
  for (const [name, x] of a) assert.deepEqual(b.get(name), x, name);
  whole.dispose();
  part.dispose();
});

/** A tf.layers model's graph (the model itself disposed). */
function graphOf(model: tfl.LayersModel): ClassifierGraph {
  const { graph } = layersToGraph(model);
  model.dispose();
  return graph;
}

test('memory stays flat over hundreds of native steps (process RSS; TF.js tensor count unchanged)', async (t) => {
  if (skip) return t.skip(skip);
  const graph = graphOf(mnistNet({ seed: 8 }));
  const weights = new Map([...graph.weights].map(([k, w]) => [k, w.data]));
  const set = subset(mnist, Int32Array.from({ length: 128 }, (_, i) => i));
  const tensors = tf.memory().numTensors;
  const rss: number[] = [];
  // 8 batches of 16 per epoch; RSS sampled at every epoch end after a warm-up.
  await trainGraph(graph, weights, set, { epochs: 40, batchSize: 16, seed: 1, onEpochEnd: (s) => void (s.epoch > 5 && rss.push(process.memoryUsage.rss())) });
  const growth = (rss[rss.length - 1] - rss[0]) / 2 ** 20;
  assert.ok(growth < 24, `RSS grew by ${growth.toFixed(1)} MiB over ${(rss.length - 1) * 8} steps: ${rss.map((r) => (r / 2 ** 20).toFixed(0)).join(', ')}`);
  assert.equal(tf.memory().numTensors, tensors);
});

test('per-sample weights scale each image\'s loss; zeroed weights stay zero; BatchNorm can be frozen', async (t) => {
  if (skip) return t.skip(skip);
  const graph = graphOf(batchNormNet(4));
  const set = subset(mnist, Int32Array.from({ length: 32 }, (_, i) => 500 + i));
  const run = async (options: Parameters<typeof trainGraph>[3]) => {
    const weights = new Map([...graph.weights].map(([k, w]) => [k, Float32Array.from(w.data)]));
    const r = await trainGraph(graph, weights, set, { epochs: 1, batchSize: 32, seed: 1, ...options });
    return { loss: r.history[0].loss, weights };
  };
  const plain = await run({});
  const doubled = await run({ sampleWeights: new Float32Array(32).fill(2) });
  assert.ok(Math.abs(doubled.loss - 2 * plain.loss) < 1e-5 * plain.loss, `${doubled.loss} against 2 × ${plain.loss}`);
  // Weight zero for every image: no gradient, so Adam leaves the weights where they were.
  const none = await run({ sampleWeights: new Float32Array(32) });
  const kernel = [...graph.trainable][0];
  assert.deepEqual(none.weights.get(kernel), graph.weights.get(kernel)!.data);
  const keep = new Float32Array(6).fill(1);
  keep[2] = 0;
  const zeroed = await run({ zeroed: [{ weight: kernel, keep, axis: 'first' }] });
  const k = zeroed.weights.get(kernel)!;
  const per = k.length / 6;
  assert.ok(k.subarray(2 * per, 3 * per).every((v) => v === 0));
  assert.ok(k.subarray(0, per).some((v) => v !== 0));
  // Frozen BatchNorm: the running statistics are not touched.
  const frozen = await run({ batchNorm: 'frozen' });
  const stats = [...graph.weights.keys()].filter((n) => /moving_(mean|variance)/.test(n));
  assert.equal(stats.length, 4);
  for (const s of stats) assert.deepEqual(frozen.weights.get(s), graph.weights.get(s)!.data, s);
  for (const s of stats) assert.notDeepEqual(plain.weights.get(s), graph.weights.get(s)!.data, s);
});

test('the native trainer refuses a state that does not fit, labels out of range, and sample weights of another count', async (t) => {
  if (skip) return t.skip(skip);
  const graph = graphOf(mnistNet({ seed: 1 }));
  const weights = new Map([...graph.weights].map(([k, w]) => [k, w.data]));
  const set = subset(mnist, Int32Array.from({ length: 8 }, (_, i) => i));
  const bad: AdamState = { step: 1, accBeta1: 0.81, accBeta2: 0.998, m: new Map(), v: new Map() };
  await assert.rejects(trainGraph(graph, weights, set, { epochs: 1, optimizerState: bad }), /Adam moments for every trained weight/);
  await assert.rejects(trainGraph(graph, weights, imageSet(set.images, new Int32Array(8).fill(10), 28, 28, 1), { epochs: 1 }), /class indices in 0\.\.9/);
  await assert.rejects(trainGraph(graph, weights, set, { epochs: 1, sampleWeights: new Float32Array(3) }), /one weight per training image/);
});

test('the GTSRB net (dropout after convolutions and dense layers) trains natively: the loss falls on a repeated batch', async (t) => {
  if (skip) return t.skip(skip);
  const rng = new Random(3);
  // Class c: noise with channel c (c < 3) bright, or all channels dark (c = 3).
  const labels = Int32Array.from({ length: 16 }, (_, i) => i % 4);
  const images = Uint8Array.from({ length: 16 * 32 * 32 * 3 }, (_, j) => {
    const c = labels[Math.floor(j / 3072)];
    return (j % 3 === c ? 150 : 0) + rng.int(100);
  });
  const model = gtsrbNet({ seed: 2, numClasses: 4 });
  const r = await trainLayersNative(model, imageSet(images, labels, 32, 32, 3), { epochs: 8, batchSize: 16, seed: 1, learningRate: 3e-3 });
  model.dispose();
  const losses = r.history.map((h) => h.loss);
  assert.ok(losses[7] < losses[0] / 2, `loss ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
});
