/**
 * A base classifier job's data and result, both untrusted: a job round-trips through its checks; a
 * malformed one is refused with one line before anything is fetched; a result that does not fit the
 * test set, the classes or its weights is refused; the job id depends on what determines the net.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { checkPartitionJob, decodePartitionResult, packImageData, partitionJobData, partitionJobId, type PartitionSpec } from '../../../src/certify/aggregation/queue-jobs.js';
import { membersDigest } from '../../../src/certify/aggregation/store.js';
import { imageSet } from '../../../src/data/images.js';
import { BLOB_PREFIX, sha256Hex } from '../../../src/zoo/blobs.js';

const members = Int32Array.of(3, 0, 7);
const task = { index: 2, members, digest: membersDigest(members), seed: 9 };
const spec: PartitionSpec = {
  data: { blob: 'a'.repeat(64), train: 10, test: 4, height: 2, width: 2, channels: 1, numClasses: 3 },
  schedule: { arch: 'mnist', recipe: 'dpa', crop: 1, epochs: 1, batchSize: 8, learningRate: 1e-3 },
};

test('a job round-trips through its checks; its id follows what determines the net, not the index', () => {
  const data = partitionJobData('mnist', spec, task);
  const back = checkPartitionJob(JSON.parse(JSON.stringify(data)));
  assert.deepEqual(back.spec, spec);
  assert.deepEqual(back.task, task);
  assert.equal(partitionJobId(spec, { ...task, index: 5 }), partitionJobId(spec, task));
  assert.notEqual(partitionJobId(spec, { ...task, seed: 10 }), partitionJobId(spec, task));
  assert.notEqual(partitionJobId({ ...spec, schedule: { ...spec.schedule, epochs: 2 } }, task), partitionJobId(spec, task));
  assert.match(partitionJobId(spec, task), /^p\.[0-9a-f]{40}$/);
});

test('malformed jobs are refused with one line each', () => {
  const good = partitionJobData('mnist', spec, task) as unknown as Record<string, unknown>;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good, format: 'poisonguard-chunk-1' }, /format poisonguard-chunk-1, expected poisonguard-partition-1/],
    [{ ...good, spec: { ...spec, data: { ...spec.data, blob: '../x' } } }, /data reference/],
    [{ ...good, spec: { ...spec, data: { ...spec.data, train: 1 << 24, height: 1 << 10, width: 1 << 10 } } }, /data of \d+ bytes, above/],
    [{ ...good, spec: { ...spec, data: { ...spec.data, numClasses: 300 } } }, /data shape/],
    [{ ...good, spec: { ...spec, schedule: { ...spec.schedule, arch: 'resnet' } } }, /architecture/],
    [{ ...good, spec: { ...spec, schedule: { ...spec.schedule, epochs: 0 } } }, /schedule/],
    [{ ...good, spec: { ...spec, schedule: { ...spec.schedule, recipe: 'rmsprop' } } }, /net recipe "rmsprop", expected one of dpa, adam/],
    [{ ...good, spec: { ...spec, schedule: { ...spec.schedule, crop: 2 } } }, /crop/],
    [{ ...good, spec: { ...spec, extra: 1 } }, /unknown fields/],
    [{ ...good, seed: -1 }, /seed/],
    [{ ...good, members: 'AAAA' + '!' }, /members are not int32 in base64/],
    [{ ...good, members: Buffer.from(Int32Array.of(10).buffer).toString('base64') }, /member 10 outside the 10 training samples/],
    [{ ...good, members: 'A'.repeat(100) }, /members/],
  ];
  for (const [data, why] of cases) {
    assert.throws(() => checkPartitionJob(data), (e: Error) => why.test(e.message) && !e.message.includes('\n') && /^job: not a poisonguard base classifier job: /.test(e.message), `${why}`);
  }
});

/** A stand-in for Redis holding some blobs (the two calls getBlob makes). */
function fakeRedis(blobs: Map<string, Buffer>): Redis {
  return { strlen: async (k: string) => blobs.get(k)?.length ?? 0, getBuffer: async (k: string) => blobs.get(k) ?? null } as unknown as Redis;
}

test("a result is checked against the test set, the classes and its weights' hash and tensor list", async () => {
  const weights = Buffer.from(Float32Array.of(1, 2, 3, 4, 5).buffer);
  const sha = sha256Hex(weights);
  const redis = fakeRedis(new Map([[BLOB_PREFIX + sha, weights]]));
  const expect = { testCount: 4, numClasses: 3, members: 3 };
  const result = (o: Record<string, unknown>) => JSON.stringify({ predictions: Buffer.from([0, 1, 2, 1]).toString('base64'), trainSeconds: 1, evalSeconds: 0.1, weights: { blob: sha, tensors: [{ name: 'a', length: 2 }, { name: 'b', length: 3 }] }, ...o });
  const ok = await decodePartitionResult(result({}), redis, expect, 'job p.x');
  assert.deepEqual([...ok.predictions], [0, 1, 2, 1]);
  assert.deepEqual([...ok.weights!.get('b')!], [3, 4, 5]);
  assert.equal(ok.weightsBlob, sha);
  // BullMQ may hand the text back JSON-encoded once more.
  assert.deepEqual((await decodePartitionResult(JSON.stringify(result({})), redis, expect, 'job p.x')).predictions, ok.predictions);
  const refused: [unknown, RegExp, typeof expect?][] = [
    [42, /that is not text/],
    ['{', /that is not JSON/],
    [result({ predictions: Buffer.from([0, 1, 2]).toString('base64') }), /predictions are not 4 labels below 3/],
    [result({ predictions: Buffer.from([0, 1, 3, 1]).toString('base64') }), /predictions are not 4 labels below 3/],
    [result({ trainSeconds: -1 }), /without its timing/],
    [result({ weights: undefined }), /without its weights/],
    [result({ weights: { blob: sha, tensors: [{ name: 'a', length: 2 }, { name: 'a', length: 3 }] } }), /a tensor named twice/],
    [result({ weights: { blob: sha, tensors: [{ name: 'a', length: 4 }] } }), /5 float32 values where the record lists 4/],
    [result({ weights: { blob: 'b'.repeat(64), tensors: [{ name: 'a', length: 5 }] } }), /is not in Redis/],
    [result({}), /with weights for an empty subset/, { ...expect, members: 0 }],
  ];
  for (const [raw, why, e] of refused) await assert.rejects(decodePartitionResult(raw, redis, e ?? expect, 'job p.x'), why);
});

test('the data blob: train images, train labels as bytes, test images', () => {
  const train = imageSet(Uint8Array.from({ length: 8 }, (_, i) => i), Int32Array.of(2, 1), 2, 2, 1);
  const testSet = imageSet(Uint8Array.of(9, 9, 9, 9), Int32Array.of(0), 2, 2, 1);
  const { bytes, shape } = packImageData({ name: 't', source: 't', numClasses: 3, train, test: testSet });
  assert.deepEqual([...bytes], [0, 1, 2, 3, 4, 5, 6, 7, 2, 1, 9, 9, 9, 9]);
  assert.deepEqual(shape, { train: 2, test: 1, height: 2, width: 2, channels: 1, numClasses: 3 });
});

test("a user's architecture travels as its model's blob: the job round-trips; a model without the 'onnx' schedule, or the reverse, is refused", () => {
  const onnx: PartitionSpec = {
    ...spec,
    schedule: { arch: 'onnx', recipe: 'adam', crop: 0, epochs: 1, batchSize: 8, learningRate: 1e-3, preprocessing: { kind: 'scale', scale: 1 / 255, offset: 0 } },
    model: { blob: 'c'.repeat(64), inputLayout: 'nchw' },
  };
  const data = partitionJobData('data', onnx, task);
  assert.deepEqual(checkPartitionJob(JSON.parse(JSON.stringify(data))).spec, onnx);
  const packed = { ...onnx, model: { ...onnx.model!, entry: 'net.onnx' } };
  assert.deepEqual(checkPartitionJob(JSON.parse(JSON.stringify(partitionJobData('data', packed, task)))).spec, packed);
  assert.notEqual(partitionJobId({ ...onnx, model: { blob: 'd'.repeat(64), inputLayout: 'nchw' } }, task), partitionJobId(onnx, task), 'another file, another job');
  const good = data as unknown as Record<string, unknown>;
  const cases: [unknown, RegExp][] = [
    [{ ...onnx, model: undefined }, /an ONNX architecture without its model/],
    [{ ...spec, model: onnx.model }, /a model with a built-in architecture/],
    [{ ...onnx, model: { ...onnx.model, blob: 'x' } }, /model reference/],
    [{ ...onnx, model: { ...onnx.model, inputLayout: 'hwc' } }, /model reference/],
    [{ ...onnx, model: { ...onnx.model, entry: '../model.onnx' } }, /packed model entry/],
    [{ ...onnx, model: { ...onnx.model, extra: 1 } }, /unknown fields in the model reference/],
    [{ ...onnx, schedule: { ...onnx.schedule, preprocessing: { kind: 'scale', scale: 0, offset: 0 } } }, /bad preprocessing/],
    [{ ...onnx, schedule: { ...onnx.schedule, preprocessing: undefined } }, /bad preprocessing/],
  ];
  for (const [s, why] of cases) {
    assert.throws(() => checkPartitionJob({ ...good, spec: JSON.parse(JSON.stringify(s)) }), (e: Error) => why.test(e.message) && !e.message.includes('\n'), `${why}`);
  }
});
