/**
 * A short MNIST training on both engines from the same weights, with the same batches: the native
 * engine's model reaches the TF.js model's test accuracy within ±0.3 points (on the 10 000 test
 * images). Kept short (one epoch on 12 000 images) so that the suite stays quick.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { subset } from '../../src/data/images.js';
import { loadMnist } from '../../src/data/mnist.js';
import { mnistNet } from '../../src/nn/architectures.js';
import { initEngine } from '../../src/nn/engine.js';
import { evaluateModel, trainModel, type TrainOptions } from '../../src/nn/train.js';
import { trainLayersNative } from '../../src/nn/train-onnx.js';
import { loadOrt } from '../../src/graph/runtime.js';

const TRAIN_IMAGES = 12_000;

let skip: string | false = false;
before(async () => {
  await initEngine({ backend: 'wasm' });
  const ort = await loadOrt();
  if ('error' in ort) skip = `onnxruntime-node is not available: ${ort.error}`;
});

test(`MNIST, one epoch on ${TRAIN_IMAGES} images: the native engine's test accuracy is TF.js's within ±0.3 points`, async (t) => {
  if (skip) return t.skip(skip);
  const data = loadMnist();
  const train = subset(data.train, Int32Array.from({ length: TRAIN_IMAGES }, (_, i) => i));
  const recipe: TrainOptions = { epochs: 1, batchSize: 32, seed: 7, learningRate: 1e-3 };
  const accuracy: Record<string, number> = {};
  const speed: Record<string, number> = {};
  for (const [engine, train1] of [
    ['tfjs', trainModel],
    ['onnx', trainLayersNative],
  ] as const) {
    const model = mnistNet({ seed: 11 });
    const r = await train1(model, train, recipe);
    speed[engine] = Math.round(r.imagesPerSecond);
    accuracy[engine] = (await evaluateModel(model, data.test)).cleanAccuracy;
    model.dispose();
  }
  t.diagnostic(`test accuracy: TF.js ${(100 * accuracy.tfjs).toFixed(2)}%, native ${(100 * accuracy.onnx).toFixed(2)}%; img/s: TF.js ${speed.tfjs}, native ${speed.onnx}`);
  assert.ok(accuracy.tfjs > 0.95 && accuracy.onnx > 0.95, `both learn: ${JSON.stringify(accuracy)}`);
  assert.ok(Math.abs(accuracy.tfjs - accuracy.onnx) <= 0.003, `accuracy TF.js ${accuracy.tfjs}, native ${accuracy.onnx}`);
});
