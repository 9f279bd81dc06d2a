import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DataFormatError, NotFoundError, PoisonguardError } from '../../src/errors.js';
import { initEngine } from '../../src/nn/engine.js';
import { loadModel, METADATA_FORMAT, METADATA_VERSION, readMetadata, saveModel, type ModelMetadata } from '../../src/nn/model-io.js';
import { squareTrigger } from '../../src/nn/trigger.js';
import { scratchDir } from '../helpers.js';

before(async () => {
  await initEngine({ backend: 'cpu' });
});

function tinyModel(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), biasInitializer: tfl.initializers.constant({ value: 0.1 }) }));
  return m;
}

const METADATA: ModelMetadata = {
  format: METADATA_FORMAT,
  formatVersion: METADATA_VERSION,
  dataset: 'mnist',
  arch: 'mnist',
  numClasses: 3,
  inputShape: [4, 4, 1],
  preprocessing: { kind: 'scale', scale: 1 / 255, offset: 0 },
  trigger: squareTrigger({ size: 2 }),
  target: 1,
  poisonRate: 0.1 / 1.1,
  poisonedCount: 9,
  seed: 0,
  backend: 'cpu',
  epochs: 1,
  batchSize: 32,
  learningRate: 1e-3,
  cleanAccuracy: 0.5,
  attackSuccessRate: 0.9,
  trainSeconds: 1,
  imagesPerSecond: 10,
  date: '2026-01-01T00:00:00.000Z',
};

const INPUT = tf.tensor4d(Array.from({ length: 2 * 16 }, (_, i) => (i % 7) / 7), [2, 4, 4, 1]);

async function outputs(m: tfl.LayersModel): Promise<number[]> {
  const y = m.predict(INPUT) as tf.Tensor;
  const v = Array.from(await y.data());
  y.dispose();
  return v;
}

/** A saved tiny model folder; returns its path and the expected outputs. */
async function savedModel(): Promise<{ dir: string; expected: number[] }> {
  const dir = join(scratchDir('model'), 'm');
  const m = tinyModel();
  const expected = await outputs(m);
  await saveModel(m, dir, METADATA);
  m.dispose();
  return { dir, expected };
}

function editManifest(dir: string, edit: (json: { weightsManifest: { paths: string[] }[] }) => void): void {
  const path = join(dir, 'model.json');
  const json = JSON.parse(readFileSync(path, 'utf8'));
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

test('save and load round trip: same outputs, same metadata, no tensor leaked', async () => {
  const { dir, expected } = await savedModel();
  const before = tf.memory().numTensors;
  const loaded = await loadModel(dir);
  assert.deepEqual(await outputs(loaded.model), expected);
  assert.deepEqual(loaded.metadata, METADATA);
  assert.deepEqual(readMetadata(dir), METADATA);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
  // conv kernel 3·3·1·2 + bias 2 + dense kernel 8·3 + bias 3 = 18 + 2 + 24 + 3 = 47 floats.
  assert.equal(readFileSync(join(dir, 'weights.bin')).length, 47 * 4);
  loaded.model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('a TF.js folder with several shards and no metadata.json loads', async () => {
  const { dir, expected } = await savedModel();
  const bin = readFileSync(join(dir, 'weights.bin'));
  writeFileSync(join(dir, 'group1-shard1of2.bin'), bin.subarray(0, 100));
  writeFileSync(join(dir, 'group1-shard2of2.bin'), bin.subarray(100));
  unlinkSync(join(dir, 'weights.bin'));
  unlinkSync(join(dir, 'metadata.json'));
  editManifest(dir, (j) => {
    j.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
  });
  const loaded = await loadModel(dir);
  assert.equal(loaded.metadata, undefined);
  assert.deepEqual(await outputs(loaded.model), expected);
  loaded.model.dispose();
});

test('weight paths that are absolute, URLs or lead outside the folder are refused', async () => {
  const { dir } = await savedModel();
  const outside = join(dir, '..', 'x.bin');
  writeFileSync(outside, readFileSync(join(dir, 'weights.bin')));
  symlinkSync(outside, join(dir, 'link.bin'));
  const cases: [string, RegExp][] = [
    ['../x.bin', /refusing weight path '\.\.\/x\.bin': it resolves outside the model folder/],
    ['sub/../../x.bin', /resolves outside the model folder/],
    [outside, /it is absolute/],
    ['C:\\models\\x.bin', /it is absolute/],
    ['https://example.com/x.bin', /it is a URL/],
    ['link.bin', /it is a link to a file outside the model folder/],
  ];
  for (const [p, re] of cases) {
    editManifest(dir, (j) => {
      j.weightsManifest[0].paths = [p];
    });
    await assert.rejects(loadModel(dir), (e: unknown) => e instanceof PoisonguardError && e.code === 'unsafe-path' && re.test(e.message), p);
  }
});

test('a weight file of the wrong size or a missing one is refused before any tensor is built', async () => {
  const { dir } = await savedModel();
  const bin = join(dir, 'weights.bin');
  const before = tf.memory().numTensors;
  truncateSync(bin, 47 * 4 - 4);
  await assert.rejects(
    loadModel(dir),
    (e: unknown) => e instanceof DataFormatError && /weights\.bin: truncated: weight group 0 needs 188 bytes \(4 tensors: .*\), but its files hold 184: weights\.bin \(184 bytes\)/.test(e.message),
  );
  appendFileSync(bin, Buffer.alloc(8));
  await assert.rejects(loadModel(dir), /weight group 0 declares 188 bytes, but its files hold 192 \(4 bytes too many\)/);
  unlinkSync(bin);
  await assert.rejects(loadModel(dir), (e: unknown) => e instanceof NotFoundError && /No such weight file: .*weights\.bin\. .*model\.json lists 'weights\.bin'/.test(e.message));
  assert.equal(tf.memory().numTensors, before);
});

test('malformed model folders are refused with the file named', async () => {
  const dir = scratchDir('model');
  await assert.rejects(loadModel(join(dir, 'none')), /No such model folder/);
  mkdirSync(join(dir, 'a'));
  await assert.rejects(loadModel(join(dir, 'a')), /No such model file: .*model\.json/);
  writeFileSync(join(dir, 'a', 'model.json'), '{"modelTopology": ');
  await assert.rejects(loadModel(join(dir, 'a')), /model\.json: not valid JSON/);
  writeFileSync(join(dir, 'a', 'model.json'), '{"weightsManifest": []}');
  await assert.rejects(loadModel(join(dir, 'a')), /no modelTopology/);
  writeFileSync(join(dir, 'a', 'model.json'), '{"modelTopology": {}, "weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "k", "shape": [2], "dtype": "string"}]}]}');
  writeFileSync(join(dir, 'a', 'w.bin'), '');
  await assert.rejects(loadModel(join(dir, 'a')), /weight 'k' has dtype 'string'/);
  const { dir: good } = await savedModel();
  const meta = JSON.parse(readFileSync(join(good, 'metadata.json'), 'utf8'));
  writeFileSync(join(good, 'metadata.json'), JSON.stringify({ ...meta, inputShape: [4, 4] }));
  assert.throws(() => readMetadata(good), /metadata\.json: 'inputShape' must be \[height, width, channels\]/);
  writeFileSync(join(good, 'metadata.json'), JSON.stringify({ ...meta, target: 5 }));
  assert.throws(() => readMetadata(good), /target 5 is not a class \(numClasses 3\)/);
});

/** A saved Dense model on 1000 inputs (kernel 1000x10) whose topology `edit` then changes; the weights stay as saved. */
async function denseFolder(edit: (layers: { className: string; config: Record<string, unknown> }[]) => void): Promise<string> {
  const dir = join(scratchDir('model'), 'dense');
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ name: 'hidden', inputShape: [1000], units: 10 }));
  m.add(tfl.layers.dense({ name: 'out', units: 3 }));
  await saveModel(m, dir);
  m.dispose();
  const path = join(dir, 'model.json');
  const json = JSON.parse(readFileSync(path, 'utf8'));
  edit(json.modelTopology.config.layers);
  writeFileSync(path, JSON.stringify(json));
  return dir;
}

test('a topology declaring a million units is refused before its weights are allocated', async () => {
  // 1000 x 1e6 float32 is a 4 GB kernel: building it is the bomb; the manifest and file still hold 1000 x 10.
  const dir = await denseFolder((layers) => {
    layers[0].config.units = 1e6;
  });
  const before = tf.memory();
  await assert.rejects(
    loadModel(dir),
    (e: unknown) =>
      e instanceof DataFormatError &&
      /model\.json: layer 'hidden' declares weight 'kernel' of shape \[1000, 1000000\], but the weights manifest has hidden\/kernel \[1000, 10\]; refused before building it\./.test(e.message),
  );
  assert.equal(tf.memory().numBytes, before.numBytes, 'no weight of the bomb (nor of an earlier layer) is left allocated');
  assert.equal(tf.memory().numTensors, before.numTensors);
});

test('a renamed layer cannot claim more weight bytes than the files hold', async () => {
  // With the layer renamed, no manifest entry names its kernel: the bytes present bound it.
  const dir = await denseFolder((layers) => {
    layers[0].config.name = 'other';
    layers[0].config.units = 1e6;
  });
  await assert.rejects(loadModel(dir), /layer 'other' would create weight 'kernel' of shape \[1000, 1000000\] \(4000000000 bytes\), but the weight files hold only 40172 bytes not yet used by earlier layers/);
  // The loader still builds the unedited model.
  const ok = await denseFolder(() => {});
  const { model } = await loadModel(ok);
  assert.equal(model.countParams(), 1000 * 10 + 10 + 10 * 3 + 3);
  model.dispose();
});

test('weights beyond the size limit are refused before any file is read; the limit can be raised', async () => {
  const dir = await denseFolder(() => {});
  await assert.rejects(loadModel(dir, { maxBytes: 40000 }), /declares 40172 bytes, more than the limit of 40000 bytes on a model's weights \(loadModel's maxBytes option\)/);
  const { model } = await loadModel(dir, { maxBytes: 40172 });
  model.dispose();
});

test('a model refused after some of its layers were built leaves none of their weights allocated', async () => {
  // The first layer's 40 KB are built before the second layer's bomb is refused.
  const dir = await denseFolder((layers) => {
    layers[1].config.units = 1e6;
  });
  const before = tf.memory();
  await assert.rejects(loadModel(dir), /layer 'out' declares weight 'kernel' of shape \[10, 1000000\], but the weights manifest has out\/kernel \[10, 3\]/);
  assert.deepEqual([tf.memory().numTensors, tf.memory().numBytes], [before.numTensors, before.numBytes]);
});
