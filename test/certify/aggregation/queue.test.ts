/**
 * DPA's base networks through a real job queue: a redis-server of the test's own on a free
 * loopback port, `poisonguard worker` processes, one SIGKILLed as soon as it has taken a
 * classifier. The killed job is taken again; every classifier is saved once into --out, with the
 * same predictions and weights, bit for bit, as a local run's, so the certificate is the same. A
 * malformed job fails with its reason and the worker goes on; an interrupted queued run resumes
 * from its run folder; the CLI's refusals are one line each.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certifyAggregation, type AggregationOptions } from '../../../src/certify/aggregation/aggregate.js';
import { PARTITION_JOB, PARTITION_JOB_FORMAT } from '../../../src/certify/aggregation/queue-jobs.js';
import { PARTITIONS_FOLDER } from '../../../src/certify/aggregation/store.js';
import { encodeIdxUint8 } from '../../../src/data/idx.js';
import { loadMnist } from '../../../src/data/mnist.js';
import { loadOrt } from '../../../src/graph/runtime.js';
import { parseQueueUrl } from '../../../src/zoo/queue.js';
import { runCli, scratchDir } from '../../helpers.js';
import { freePort, redisSkip, startCliWorker, startRedis } from '../../redis-server.js';
import { classifiers, numbers } from './run-folder.js';

let root: string;
let mnist: string;
let skip: string | false = redisSkip;
const procs: ChildProcess[] = [];

/** The first 200 training and 40 test images of the embedded MNIST, as the four IDX files. */
function tinyMnist(dir: string): void {
  const m = loadMnist();
  const write = (prefix: string, set: typeof m.train, n: number): void => {
    const size = set.height * set.width;
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), encodeIdxUint8([n, set.height, set.width], set.images.subarray(0, n * size)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdxUint8([n], Uint8Array.from(set.labels.subarray(0, n))));
  };
  mkdirSync(dir, { recursive: true });
  write('train', m.train, 200);
  write('t10k', m.test, 40);
}

before(async () => {
  if (skip) return;
  const ort = await loadOrt();
  if ('error' in ort) skip = `onnxruntime-node is not available: ${ort.error}`;
  root = scratchDir('dpa-queue');
  mnist = join(root, 'mnist');
  tinyMnist(mnist);
});

after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

const recipe = { method: 'dpa', partitions: 5, dataset: 'mnist', learner: 'mnist', epochs: 1, batchSize: 16, seed: 11, budgets: [0, 1, 2] } as const satisfies Partial<AggregationOptions>;

test('DPA through the queue, a worker SIGKILLed mid-classifier: the same classifiers, bit for bit, and the same certificate as a local run', { skip: redisSkip, timeout: 120_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const local = await certifyAggregation({ ...recipe, dataDir: mnist, workers: 0, out: join(root, 'out-local') });
  assert.equal(local.recipe.classifiers, 5);
  assert.equal(local.points.length, 40);

  const { url, proc: redis } = await startRedis(root);
  procs.push(redis);
  const q = parseQueueUrl(url);
  // Worker A alone first, so that it surely takes a classifier; it dies outright as soon as it has.
  const a = startCliWorker(url, 'dpa-test', join(root, 'cache-a'));
  procs.push(a.proc);
  let b: ReturnType<typeof startCliWorker> | undefined;
  // A worker that ends on its own fails the test at once instead of leaving the coordinator waiting.
  let workerDied!: (e: Error) => void;
  const died = new Promise<never>((_, reject) => (workerDied = reject));
  a.proc.stderr!.on('data', () => {
    if (!b && /job p\.\S+: \S+ base classifier \d+/.test(a.log())) {
      a.proc.kill('SIGKILL');
      const started = startCliWorker(url, 'dpa-test', join(root, 'cache-b'));
      b = started;
      procs.push(started.proc);
      started.proc.on('exit', (code) => workerDied(new Error(`worker B exited (${code}): ${started.log()}`)));
    }
  });
  a.proc.on('exit', (code) => b || workerDied(new Error(`worker A exited (${code}) before taking a job: ${a.log()}`)));
  const out = join(root, 'out-queue');
  const progress: number[] = [];
  const queued = await Promise.race([certifyAggregation({ ...recipe, dataDir: mnist, out, queue: { url: q, name: 'dpa-test' }, onProgress: (p) => progress.push(p.done) }), died]);
  assert.ok(b, 'worker A took a classifier and was killed');
  assert.match(b.log(), /stalled/, "worker B saw the killed job stall and took it again");
  assert.deepEqual(numbers(queued), numbers(local), 'the same votes, predictions and radii');
  assert.deepEqual(classifiers(out), classifiers(join(root, 'out-local')), 'the same saved classifiers: predictions and weights, bit for bit');
  assert.deepEqual(progress, [0, 1, 2, 3, 4, 5]);
  assert.equal(queued.timing.trained, 5);
  assert.match(queued.timing.queue ?? '', /dpa-test/);

  // Counted once: each classifier a distinct completed job, the killed one among them, started twice.
  const { Queue } = await import('bullmq');
  const queue = new Queue('dpa-test', { connection: { host: q.host, port: q.port } });
  const done = await queue.getCompleted(0, -1);
  assert.equal(done.length, 5);
  assert.equal(new Set(done.map((j) => j.id)).size, 5);
  assert.ok(done.some((j) => j.attemptsStarted >= 2 || j.stalledCounter >= 1), 'the killed classifier was retaken');

  // Malformed jobs fail with their reason, one line each; the worker goes on (the resume below needs it).
  const other = await queue.add('mystery', { format: 'something-else' });
  const bad = await queue.add(PARTITION_JOB, { ...(done[0].data as Record<string, unknown>), format: PARTITION_JOB_FORMAT, members: Buffer.from(Int32Array.of(5, 100_000).buffer).toString('base64') });
  const reasons = async (): Promise<(string | undefined)[]> => Promise.all([other, bad].map(async (j) => (await queue.getJob(j.id!))?.failedReason));
  while ((await reasons()).some((r) => !r)) await new Promise((r) => setTimeout(r, 100));
  const [r1, r2] = await reasons();
  assert.match(r1!, /^job: not a poisonguard job: format "something-else", expected poisonguard-chunk-1 or poisonguard-partition-1\.$/);
  assert.match(r2!, /^job: not a poisonguard base classifier job: member 100000 outside the 200 training samples\.$/);

  // Interrupted: two classifiers lost from the run folder; the rerun trains those two on the queue.
  const files = readdirSync(join(out, PARTITIONS_FOLDER)).filter((f) => f.endsWith('.json')).sort();
  for (const f of files.slice(1, 3)) rmSync(join(out, PARTITIONS_FOLDER, f));
  const resumed = await Promise.race([certifyAggregation({ ...recipe, dataDir: mnist, out, queue: { url: q, name: 'dpa-test' } }), died]);
  assert.equal(resumed.timing.resumed, 3);
  assert.equal(resumed.timing.trained, 2);
  assert.deepEqual(numbers(resumed), numbers(local));
  assert.deepEqual(classifiers(out), classifiers(join(root, 'out-local')));
  await queue.close();
  b.proc.removeAllListeners('exit');
  b.proc.kill('SIGTERM');
});

test('bad input: a queue that is not redis://, with --workers, with the SVM learner, a Redis nobody answers', { skip: redisSkip, timeout: 60_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const base = ['certify', '--method', 'dpa', '--partitions', '4', '--dataset', 'mnist', '--data-dir', mnist, '--epochs', '1'];
  const notRedis = await runCli([...base, '--queue', 'http://127.0.0.1:6379']);
  assert.equal(notRedis.code, 2);
  assert.match(notRedis.err, /--queue.*redis:\/\/HOST:PORT\[\/DB\]/);
  const workers = await runCli([...base, '--queue', 'redis://127.0.0.1:6379', '--workers', '2']);
  assert.notEqual(workers.code, 0);
  assert.match(workers.err, /--workers.*absent with a queue/);
  const svm = await runCli(['certify', '--method', 'dpa', '--partitions', '4', '--dataset', 'mnist17', '--queue', 'redis://127.0.0.1:6379']);
  assert.notEqual(svm.code, 0);
  assert.match(svm.err, /--queue.*absent with the svm learner: an SVM fit takes milliseconds/);
  const port = await freePort();
  const nobody = await runCli([...base, '--queue', `redis://127.0.0.1:${port}`, '--out', join(root, 'out-nobody')]);
  assert.notEqual(nobody.code, 0);
  assert.match(nobody.err, new RegExp(`^poisonguard certify: --queue: cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED [^\\n]*\\)\\.$`, 'm'));
  assert.equal(nobody.err.trim().split('\n').filter((l) => /error|cannot/i.test(l)).length, 1, nobody.err);
  const onlyName = await runCli([...base, '--queue-name', 'x']);
  assert.match(onlyName.err, /--queue-name.*absent without --queue/);
});
