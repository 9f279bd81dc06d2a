/**
 * An ONNX model that keeps its weights in an external data file travels through the queue with
 * that file: packed with it, unpacked by a worker's cache into a folder, and read there into the
 * same graph as the original. Data files outside the model's folder, or missing, are refused with
 * one line; a job naming a packed entry that could leave the cache is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { externalDataFiles } from '../../src/graph/onnx-load.js';
import { onnx } from '../../src/graph/onnx-values.js';
import { loadOnnxClassifier } from '../../src/nn/onnx-model.js';
import { BlobCache, BLOB_PREFIX, packOnnxModel, sha256Hex } from '../../src/zoo/blobs.js';
import { checkJob } from '../../src/zoo/worker.js';
import { packageRoot } from '../../src/data/paths.js';
import { scratchDir } from '../helpers.js';

const FIXTURE = join(packageRoot(), 'test', 'fixtures', 'torch', 'bn_cnn_mnist.onnx');

/** The fixture with every initializer's bytes moved into `location` (offsets in one file). */
function withExternalData(dir: string, location: string): string {
  const model = onnx.ModelProto.decode(readFileSync(FIXTURE));
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of model.graph!.initializer!) {
    // torch.onnx.export stores every initializer as raw bytes.
    assert.ok(t.rawData && t.rawData.length > 0, `fixture tensor ${t.name} has raw data`);
    const raw = Buffer.from(t.rawData);
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    chunks.push(raw);
    offset += raw.length;
  }
  const file = join(dir, 'model.onnx');
  writeFileSync(file, onnx.ModelProto.encode(model).finish());
  mkdirSync(join(dir, location, '..'), { recursive: true });
  writeFileSync(join(dir, location), Buffer.concat(chunks));
  return file;
}

/** What a worker's cache needs of Redis, held in memory. */
function memoryRedis(store: Map<string, Buffer>): Redis {
  return { strlen: async (k: string) => store.get(k)?.length ?? 0, getBuffer: async (k: string) => store.get(k) ?? null } as unknown as Redis;
}

test('an ONNX model with external data is sent with its data file and read by a worker as the original', async () => {
  const dir = scratchDir('zoo-external');
  const file = withExternalData(dir, 'weights.bin');
  assert.deepEqual(externalDataFiles(readFileSync(file), file), ['weights.bin']);
  assert.deepEqual(externalDataFiles(readFileSync(FIXTURE), FIXTURE), []);
  // The file alone does not load: its weights are elsewhere.
  const alone = join(scratchDir('zoo-external-alone'), 'model.onnx');
  copyFileSync(file, alone);
  assert.throws(() => loadOnnxClassifier(alone, 'nchw'), /points at external data 'weights\.bin', which does not exist/);

  const packed = packOnnxModel(file);
  assert.equal(packed.entry, 'model.onnx');
  const plain = packOnnxModel(FIXTURE);
  assert.equal(plain.entry, undefined, 'a model without external data travels as its file');
  assert.deepEqual(plain.bytes, readFileSync(FIXTURE));

  const sha = sha256Hex(packed.bytes);
  const cache = new BlobCache(join(dir, 'cache'), memoryRedis(new Map([[BLOB_PREFIX + sha, packed.bytes]])));
  const path = await cache.model(sha, 'onnx', packed.entry);
  assert.equal(path, join(dir, 'cache', sha, 'model.onnx'));
  const original = loadOnnxClassifier(FIXTURE, 'nchw');
  const received = loadOnnxClassifier(path, 'nchw');
  assert.ok(original.weights.size > 5);
  assert.deepEqual(received.weights, original.weights, 'the same weights, bit for bit');
  assert.deepEqual(received.nodes, original.nodes);
  await assert.rejects(cache.model(sha, 'onnx', '../x.onnx'), /packed model's entry/);
  await assert.rejects(cache.model(sha, 'onnx', 'other.onnx'), /holds no file 'other\.onnx'/);
});

test('external data outside the model folder, or missing, is refused in one line before anything is sent', () => {
  const dir = scratchDir('zoo-external-bad');
  const file = withExternalData(dir, join('sub', 'weights.bin'));
  assert.throws(() => packOnnxModel(file), /keeps external data in 'sub\/weights\.bin', not a file beside the model/);
  const dir2 = scratchDir('zoo-external-missing');
  const file2 = withExternalData(dir2, 'w.bin');
  rmSync(join(dir2, 'w.bin'));
  assert.throws(() => packOnnxModel(file2), /keeps external data in 'w\.bin', which is not in/);
});

test("a job's packed entry must be an ONNX file name", () => {
  const spec = { model: { kind: 'onnx', blob: 'a'.repeat(64), inputLayout: 'nchw', entry: '../../x.onnx' }, data: { blob: 'b'.repeat(64), count: 10, height: 8, width: 8, channels: 1 }, preprocessing: { kind: 'scale' }, recipe: {}, numClasses: 5, backend: 'wasm', modelEngine: 'onnx' };
  assert.throws(() => checkJob({ format: 'poisonguard-chunk-1', model: 'm', spec, task: '{}' }), /packed model entry/);
});
