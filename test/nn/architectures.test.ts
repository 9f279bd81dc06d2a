import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { gtsrbNet, mnistNet, PENULTIMATE_LAYER } from '../../src/nn/architectures.js';
import { initEngine } from '../../src/nn/engine.js';
import { OptionError } from '../../src/errors.js';

before(async () => {
  await initEngine({ backend: 'wasm' });
});

function weightsOf(model: { getWeights(): tf.Tensor[] }): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

test('mnistNet has the BadNets layout and its parameter count', () => {
  const model = mnistNet();
  assert.deepEqual(model.outputs[0].shape, [null, 10]);
  assert.deepEqual(
    model.layers.map((l) => l.name),
    ['conv1', 'pool1', 'conv2', 'pool2', 'flatten', PENULTIMATE_LAYER, 'logits'],
  );
  // conv1 5·5·1·16+16, conv2 5·5·16·32+32, dense 512·512+512, logits 512·10+10
  assert.equal(model.countParams(), 416 + 12832 + 262656 + 5130);
  model.dispose();
});

test('gtsrbNet has the release layout and its parameter count', () => {
  const model = gtsrbNet();
  assert.deepEqual(model.outputs[0].shape, [null, 43]);
  assert.deepEqual((model.getLayer('flatten').outputShape as number[]).slice(1), [512]); // 2·2·128
  // conv 3·3·3·32+32, 3·3·32·32+32, 3·3·32·64+64, 3·3·64·64+64, 3·3·64·128+128, 3·3·128·128+128,
  // dense 512·512+512, logits 512·43+43
  assert.equal(model.countParams(), 896 + 9248 + 18496 + 36928 + 73856 + 147584 + 262656 + 22059);
  model.dispose();
});

test('the same seed gives the same weights; another seed others', () => {
  const a = mnistNet({ seed: 5 });
  const b = mnistNet({ seed: 5 });
  const c = mnistNet({ seed: 6 });
  assert.deepEqual(weightsOf(a), weightsOf(b));
  assert.notDeepEqual(weightsOf(a)[0], weightsOf(c)[0]);
  [a, b, c].forEach((m) => m.dispose());
});

test('input shape and class count are honoured; bad ones are rejected by name', () => {
  const m = gtsrbNet({ inputShape: [28, 28, 1], numClasses: 10, outputActivation: 'softmax' });
  assert.deepEqual(m.outputs[0].shape, [null, 10]);
  const y = tf.tidy(() => tf.sum(m.predict(tf.ones([2, 28, 28, 1])) as tf.Tensor, 1).dataSync());
  assert.ok(Math.abs(y[0] - 1) < 1e-5);
  m.dispose();
  assert.throws(() => mnistNet({ inputShape: [12, 12, 1] }), OptionError);
  assert.throws(() => mnistNet({ numClasses: 0 }), /numClasses/);
  assert.throws(() => gtsrbNet({ outputActivation: 'tanh' as 'linear' }), /outputActivation/);
});
