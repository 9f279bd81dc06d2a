import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainModel, type TrainEngine } from '../../src/nn/train.js';
import { trainRun, type TrainRunEvent } from '../../src/nn/train-run.js';
import { scratchDir } from '../helpers.js';
import { loadOrt } from '../../src/graph/runtime.js';

/** An IDX file (uint8, raw): magic 0 0 8 rank, big-endian dimensions, the bytes. */
function idx(path: string, shape: number[], data: Uint8Array): void {
  const head = Buffer.alloc(4 + 4 * shape.length);
  head.writeUInt8(8, 2);
  head.writeUInt8(shape.length, 3);
  shape.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  writeFileSync(path, Buffer.concat([head, data]));
}

/** A tiny MNIST-layout folder: `side`x`side` images whose bright column tells the class (0..2); the test images may have another side. */
function tinyMnist(trainSide = 16, testSide = trainSide): string {
  const dir = scratchDir('train-run-data');
  const write = (prefix: string, count: number, side: number) => {
    const images = new Uint8Array(count * side * side);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      labels[i] = i % 3;
      for (let p = 0; p < side * side; p++) images[i * side * side + p] = p % side === 3 + 4 * labels[i] ? 220 : (i * 7 + p * 3) % 40;
    }
    idx(join(dir, `${prefix}-images-idx3-ubyte`), [count, side, side], images);
    idx(join(dir, `${prefix}-labels-idx1-ubyte`), [count], labels);
  };
  write('train', 48, trainSide);
  write('t10k', 12, testSide);
  return dir;
}

const recipe = { dataset: 'mnist', arch: 'mnist', epochs: 2, batchSize: 16, seed: 1, backend: 'wasm' } as const;

test('a test set that does not fit the model is refused before any training, and nothing is written', async () => {
  const dataDir = tinyMnist(16, 10);
  const out = join(scratchDir('train-run'), 'model');
  const events: string[] = [];
  await assert.rejects(
    trainRun({ ...recipe, dataDir, out, onProgress: (e) => events.push(e.kind) }),
    /model input: expected shape \[null, 10, 10, 1\] \(the test set's images\), but got \[null, 16, 16, 1\]/,
  );
  assert.deepEqual(events, [], 'no epoch ran');
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing written to out');
});

test('the last epoch is saved before the evaluation: a failure there keeps the trained model, which resumes', async () => {
  const dataDir = tinyMnist();
  const out = join(scratchDir('train-run'), 'model');
  await assert.rejects(
    trainRun({
      ...recipe,
      dataDir,
      out,
      onProgress: (e) => {
        if (e.kind === 'evaluating') throw new Error('evaluation failed');
      },
    }),
    /evaluation failed/,
  );
  for (const f of ['model.json', 'weights.bin', 'metadata.json', 'optimizer.json', 'optimizer.bin']) assert.ok(existsSync(join(out, f)), f);
  const meta = JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8'));
  assert.equal(meta.epochs, 2);
  assert.equal(meta.cleanAccuracy, null);
  const resumed = await trainRun({ ...recipe, epochs: 3, dataDir, out, resume: true });
  assert.deepEqual(resumed.plan.resume, { fromEpoch: 2, optimizerState: true });
  assert.equal(resumed.metadata.epochs, 3);
  assert.ok(resumed.metadata.cleanAccuracy !== null);
});

test('the engine running the epochs is pluggable and recorded; a checkpoint resumes only on its own engine', async () => {
  const dataDir = tinyMnist();
  const out = join(scratchDir('train-run'), 'model');
  const calls: number[] = [];
  const counting: TrainEngine = {
    name: 'counting',
    train: (model, set, options) => {
      calls.push(options.startEpoch ?? 0);
      return trainModel(model, set, options);
    },
  };
  const events: TrainRunEvent['kind'][] = [];
  const report = await trainRun({ ...recipe, dataDir, out, engine: counting, onProgress: (e) => events.push(e.kind) });
  assert.deepEqual(calls, [0]);
  assert.equal(report.plan.engine, 'counting');
  assert.equal(report.metadata.engine, 'counting');
  assert.equal(JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8')).engine, 'counting');
  assert.equal(report.history.length, 2);
  assert.equal(report.evaluation.count, 12);
  assert.equal(report.metadata.cleanAccuracy, report.evaluation.cleanAccuracy);
  // start, then batches (3 per epoch) and a checkpoint per epoch, then the figures.
  assert.deepEqual(events, ['start', 'batch', 'batch', 'batch', 'checkpoint', 'batch', 'batch', 'batch', 'checkpoint', 'trained', 'evaluating']);
  await assert.rejects(trainRun({ ...recipe, epochs: 3, dataDir, out, resume: true }), /Expected engine to be the checkpoint's training engine \("counting"\)/);
  // Contradictory or out-of-range options are refused before any work.
  await assert.rejects(trainRun({ ...recipe, dataDir, out, resume: true, force: true }), /Expected resume to be not combined with force/);
  await assert.rejects(trainRun({ ...recipe, dataDir, out: join(out, 'x'), learningRateDecay: -1 }), /Expected learningRateDecay to be in \[0, Infinity/);
  await assert.rejects(trainRun({ ...recipe, dataDir, out }), /^OutputPathError: out \S+: is not empty \(.*\); pass force to replace the files this command writes there, resume to continue its training, or choose a new folder\.$/);
});

test('by default the native engine trains where it takes the model, records it, and a resume stays on it', async (t) => {
  const ort = await loadOrt();
  if ('error' in ort) return t.skip(`onnxruntime-node is not available: ${ort.error}`);
  const dataDir = tinyMnist();
  const out = join(scratchDir('train-run'), 'model');
  const report = await trainRun({ ...recipe, dataDir, out });
  assert.equal(report.plan.engine, 'onnx');
  assert.match(report.plan.engineReason, /onnxruntime-node loaded and the engine takes the model/);
  assert.equal(JSON.parse(readFileSync(join(out, 'metadata.json'), 'utf8')).engine, 'onnx');
  const resumed = await trainRun({ ...recipe, epochs: 3, dataDir, out, resume: true });
  assert.equal(resumed.metadata.engine, 'onnx');
  assert.deepEqual(resumed.plan.resume, { fromEpoch: 2, optimizerState: true });
  await assert.rejects(trainRun({ ...recipe, epochs: 4, dataDir, out, resume: true, engine: 'tfjs' }), /Expected engine to be the checkpoint's training engine \("onnx"\)/);
  await assert.rejects(trainRun({ ...recipe, dataDir, out: join(out, 'x'), engine: 'torch' as never }), /engine/);
  const tfjs = await trainRun({ ...recipe, dataDir, out: join(out, 'tfjs'), engine: 'tfjs' });
  assert.equal(tfjs.plan.engine, 'tfjs');
  assert.equal(tfjs.plan.engineReason, 'asked for');
});
