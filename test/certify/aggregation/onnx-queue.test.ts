/**
 * DPA with a user-named architecture through a real job queue: the tiny residual BatchNorm net
 * (test/fixtures/torch-learner/learner_tiny.onnx), given as a folder holding model.onnx whose weights sit in
 * an external data file, travels to a `poisonguard worker` packed with that file (the zoo's
 * packOnnxModel); every classifier comes back the same, bit for bit, as a local run's.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certifyAggregation } from '../../../src/certify/aggregation/aggregate.js';
import { onnx } from '../../../src/graph/onnx-values.js';
import { loadOrt } from '../../../src/graph/runtime.js';
import { packOnnxModel, sha256Hex } from '../../../src/zoo/blobs.js';
import { parseQueueUrl } from '../../../src/zoo/queue.js';
import { LEARNER_FIXTURES_DIR } from '../../graph/torch-fixtures.js';
import { scratchDir } from '../../helpers.js';
import { redisSkip, startCliWorker, startRedis } from '../../redis-server.js';
import { classifiers, numbers } from './run-folder.js';
import { writeTinyFolder } from './tiny-images.js';

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** learner_tiny as `dir`/model.onnx with every initializer's bytes in `dir`/weights.bin. */
function externalDataModel(dir: string): string {
  const model = onnx.ModelProto.decode(readFileSync(join(LEARNER_FIXTURES_DIR, 'learner_tiny.onnx')));
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of model.graph!.initializer!) {
    const raw = Buffer.from(t.rawData!);
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: 'weights.bin' },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    chunks.push(raw);
    offset += raw.length;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), onnx.ModelProto.encode(model).finish());
  writeFileSync(join(dir, 'weights.bin'), Buffer.concat(chunks));
  return dir;
}


test('an ONNX architecture with external data through the queue: packed with its data, the same classifiers bit for bit as a local run', { skip: redisSkip, timeout: 120_000 }, async (t) => {
  const ort = await loadOrt();
  if ('error' in ort) return t.skip(`onnxruntime-node is not available: ${ort.error}`);
  const root = scratchDir('dpa-onnx-queue');
  const data = writeTinyFolder(join(root, 'data'), 100, 20);
  const learner = externalDataModel(join(root, 'net'));
  const recipe = { method: 'dpa', partitions: 3, dataset: data, learner, epochs: 2, batchSize: 16, seed: 4, budgets: [0, 1] } as const;
  const local = await certifyAggregation({ ...recipe, workers: 0, out: join(root, 'out-local') });
  const packed = packOnnxModel(join(learner, 'model.onnx'));
  assert.equal(packed.entry, 'model.onnx', 'packed as a folder with its data file');
  assert.equal(local.recipe.net!.architecture!.sha256, sha256Hex(packed.bytes), 'the recipe names the packed model: the file and its data');

  const { url, proc } = await startRedis(root);
  procs.push(proc);
  const worker = startCliWorker(url, 'dpa-onnx', join(root, 'cache'));
  procs.push(worker.proc);
  const died = new Promise<never>((_, reject) => worker.proc.on('exit', (code) => reject(new Error(`the worker exited (${code}): ${worker.log()}`))));
  const out = join(root, 'out-queue');
  const queued = await Promise.race([certifyAggregation({ ...recipe, out, queue: { url: parseQueueUrl(url), name: 'dpa-onnx' } }), died]);
  assert.equal(queued.timing.trained, 3);
  assert.match(worker.log(), /base classifier 2/);
  assert.deepEqual(numbers(queued), numbers(local));
  assert.deepEqual(classifiers(out), classifiers(join(root, 'out-local')), 'the same saved classifiers: predictions and weights, bit for bit');
  worker.proc.removeAllListeners('exit');
  worker.proc.kill('SIGTERM');
});
