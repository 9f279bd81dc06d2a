/**
 * The trigger search's mini-batch with the model on the ONNX engine and the rest on plain arrays
 * (reverse.ts nativeBatchEngine) against the all-TensorFlow.js mini-batch, on colour images with a
 * per-channel normalisation, for the shared and the full-shape mask, both norms and both losses.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createLabelState, runLabelSteps } from '../../src/cleanse/reverse.js';
import { resolveReverseRecipe } from '../../src/cleanse/recipe.js';
import { initEngine } from '../../src/nn/engine.js';
import { createInputGradientModel } from '../../src/nn/onnx-gradient.js';
import { Random } from '../../src/random.js';

before(async () => {
  await initEngine({ backend: 'wasm' });
});

function colourNet(softmax: boolean): tfl.Sequential {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [9, 9, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
  m.add(tfl.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 6, kernelInitializer: init(3), activation: softmax ? 'softmax' : 'linear' }));
  return m;
}

test('native mini-batch = TensorFlow.js mini-batch within float32 rounding (colour, normalised, every mask and loss variant)', async () => {
  const rng = new Random(5);
  const count = 80;
  const images = new Uint8Array(count * 9 * 9 * 3).map(() => Math.floor(rng.next() * 256));
  const data = { images, count, height: 9, width: 9, channels: 3 };
  const preprocessing = { kind: 'normalize', mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] } as const;
  // No warm-up: the cost is on from the first step, so the norm's gradient counts too.
  const base = { batchSize: 16, miniBatches: 2, maxSteps: 3, patience: 2, earlyStopPatience: 3, warmup: false, initCost: 0.05 };
  for (const softmax of [false, true]) {
    const model = colourNet(softmax);
    const before = tf.memory().numTensors;
    for (const variant of [{}, { maskShape: 'full' }, { upsample: 2, norm: 'l2' }, { loss: 'release-swapped' }] as const) {
      const recipe = resolveReverseRecipe({ ...base, ...variant });
      const onnx = await createInputGradientModel(model, recipe.loss);
      assert.ok(!('unavailable' in onnx));
      const ctx = { model, data, preprocessing, recipe, numClasses: 6 };
      const a = createLabelState(2, 7, recipe, 9, 9, 3);
      const b = createLabelState(2, 7, recipe, 9, 9, 3);
      await runLabelSteps(ctx, a, 3);
      await runLabelSteps({ ...ctx, gradient: onnx }, b, 3);
      await onnx.dispose();
      const what = `${softmax ? 'softmax' : 'logits'} ${JSON.stringify(variant)}`;
      a.history.forEach((h, i) => {
        for (const key of ['loss', 'norm', 'accuracy'] as const) {
          const o = b.history[i][key];
          assert.ok(Math.abs(h[key] - o) <= 1e-4 * Math.max(1, Math.abs(h[key])), `${what} step ${i + 1} ${key}: tfjs ${h[key]}, native ${o}`);
        }
      });
      for (const key of ['wMask', 'wPattern', 'mMask', 'vPattern'] as const) {
        let worst = 0;
        let scale = 0;
        a[key].forEach((v, i) => {
          worst = Math.max(worst, Math.abs(v - b[key][i]));
          scale = Math.max(scale, Math.abs(v));
        });
        assert.ok(worst <= 1e-3 * Math.max(scale, 1e-6) || worst < 1e-6, `${what} ${key}: differs by ${worst} (scale ${scale})`);
      }
      assert.equal(a.adamSteps, b.adamSteps);
      assert.deepEqual([a.epoch, a.position], [b.epoch, b.position]);
    }
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    model.dispose();
  }
});
