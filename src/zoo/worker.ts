/**
 * `poisonguard worker`: takes the queue's jobs and runs each with the code a local run uses, on
 * worker threads — the same code, the same inputs, so a job gives the same bits here as on the
 * coordinator's machine. Two kinds, told apart by the format in their data: the zoo's label chunks
 * (the scan's label runner, label-runner.ts) and the base networks of an aggregation certificate
 * (certify/aggregation/queue-jobs.ts). The threads keep the process's event loop free, so BullMQ
 * renews the jobs' locks while one runs (a blocked loop would let the lock lapse and the job be
 * taken twice).
 *
 * Models, clean sets and training data come from Redis by hash (blobs.ts) and are cached; the
 * threads of one runner (model × clean set × recipe, or training data × schedule) are kept for its
 * next jobs, a few runners at a time. Job data is untrusted: a job that is not well formed fails
 * with a one-line reason, and the worker goes on with the next.
 */
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Worker } from 'bullmq';
import { DataFormatError } from '../errors.js';
import type { ChunkTask, RunnerInit } from '../cleanse/label-runner.js';
import type { LabelState } from '../cleanse/reverse.js';
import { resolveReverseRecipe } from '../cleanse/recipe.js';
import { checkPreprocessing } from '../nn/preprocess.js';
import { isObject, replaceNumbers, reviveNumbers } from '../run-files.js';
import { siblingModule, WorkerPool } from '../workers/pool.js';
import { checkPartitionJob, encodePartitionResult, PARTITION_JOB_FORMAT, partitionInit } from '../certify/aggregation/queue-jobs.js';
import type { PartitionOutcome, PartitionTask } from '../certify/aggregation/task.js';
import { BlobCache, isPlainName, isSha256Hex, sha256Hex } from './blobs.js';
import { CHUNK_JOB_FORMAT, connectRedis, DEFAULT_MODELS_IN_FLIGHT, duplicateConnection, DEFAULT_LOCK_SECONDS, MAX_STALLED_COUNT, specKey, stableJson, type ChunkJobData, type QueueUrl, type RunnerSpec } from './queue.js';

/**
 * Runners (thread pools, each holding a model) kept at once, the least recently used idle one going
 * first: as many as a coordinator scans models at once, so that their interleaved chunks do not
 * reload models (the bench's first runs kept 2 for 4 models in flight).
 */
export const MAX_RUNNERS = DEFAULT_MODELS_IN_FLIGHT;
/** Where a worker caches models when no --cache is given. */
export function defaultCacheDir(): string {
  return join(tmpdir(), 'poisonguard-worker-cache');
}

export interface WorkerOptions {
  readonly url: QueueUrl;
  readonly name: string;
  /** Jobs run at once (and threads per runner). */
  readonly concurrency: number;
  readonly cacheDir?: string;
  /** Job lock, in seconds (BullMQ lockDuration; its stalled-job check runs as often). */
  readonly lockSeconds?: number;
  readonly log?: (line: string) => void;
  /** Stops taking jobs; the jobs in flight finish, then the worker closes. */
  readonly signal?: AbortSignal;
}

export interface WorkerSummary {
  /** Zoo label chunks done. */
  readonly chunks: number;
  /** Base classifiers of aggregation certificates trained. */
  readonly classifiers: number;
  readonly failed: number;
}

interface Runner {
  readonly key: string;
  // Chunk runners and classifier runners share the cache: each is used with its own task type.
  readonly pool: WorkerPool<unknown, unknown, unknown>;
  busy: number;
  lastUsed: number;
}

/** Runs until `signal` aborts (or the process is stopped); resolves with what it did. */
export async function runWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const log = o.log ?? (() => {});
  const redis = await connectRedis(o.url, 'worker');
  const cache = new BlobCache(o.cacheDir ?? defaultCacheDir(), redis);
  const runners = new Map<string, Runner>();
  const starting = new Map<string, Promise<Runner>>();
  let chunks = 0;
  let classifiers = 0;
  let failed = 0;

  /** The runner of `key`, started from `build` (its threads' module and init) if it is not running. */
  const runner = async (key: string, build: () => Promise<{ module: URL; init: unknown }>): Promise<Runner> => {
    const have = runners.get(key);
    if (have) return have;
    let p = starting.get(key);
    if (!p) {
      p = (async () => {
        const { module, init } = await build();
        // Make room: the least recently used idle runners go.
        for (const r of [...runners.values()].filter((r) => r.busy === 0).sort((a, b) => a.lastUsed - b.lastUsed)) {
          if (runners.size < MAX_RUNNERS) break;
          runners.delete(r.key);
          void r.pool.close();
        }
        const r: Runner = { key, pool: new WorkerPool(module, init, o.concurrency), busy: 0, lastUsed: Date.now() };
        runners.set(key, r);
        return r;
      })().finally(() => starting.delete(key));
      starting.set(key, p);
    }
    return p;
  };

  const chunkRunner = (spec: RunnerSpec): Promise<Runner> =>
    runner(specKey(spec), async () => {
      const path = await cache.model(spec.model.blob, spec.model.kind, spec.model.entry);
      const bytes = await cache.data(spec.data.blob);
      const { count, height, width, channels } = spec.data;
      if (bytes.length !== count * height * width * channels) throw new DataFormatError('job', `the clean set holds ${bytes.length} bytes, not ${count}×${height}×${width}×${channels}.`);
      const init: RunnerInit = {
        model: spec.model.kind === 'onnx' ? { kind: 'onnx', file: path, inputLayout: spec.model.inputLayout! } : { kind: 'tfjs', dir: path },
        data: { images: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), count, height, width, channels },
        preprocessing: spec.preprocessing,
        recipe: spec.recipe,
        numClasses: spec.numClasses,
        backend: spec.backend,
        modelEngine: spec.modelEngine,
      };
      return { module: siblingModule(import.meta.url, '../cleanse/scan-worker'), init };
    });

  /** Runs `task` on `r`'s threads; a runner that failed is rebuilt for the next job (a crashed thread fails every later task of its pool). */
  const runOn = async <R>(r: Runner, task: unknown): Promise<R> => {
    r.busy++;
    r.lastUsed = Date.now();
    try {
      return (await r.pool.run(task)) as R;
    } catch (e) {
      runners.delete(r.key);
      void r.pool.close({ abort: true });
      throw e;
    } finally {
      r.busy--;
    }
  };

  const runChunk = async (job: Job<unknown, string>): Promise<string> => {
    const { spec, task } = checkJob(job.data);
    const data = job.data as ChunkJobData;
    log(`job ${job.id}: ${data.model} label ${task.state.label} step ${task.state.schedule.step} (+${task.steps} steps)${job.attemptsStarted > 1 ? `, attempt ${job.attemptsStarted}` : ''}`);
    const state = await runOn<LabelState>(await chunkRunner(spec), task);
    chunks++;
    log(`job ${job.id}: done at step ${state.schedule.step}${state.done ? ` (${state.stopReason})` : ''}`);
    return JSON.stringify(state, replaceNumbers);
  };

  const runClassifier = async (job: Job<unknown, string>): Promise<string> => {
    const { spec, task, run } = checkPartitionJob(job.data);
    log(`job ${job.id}: ${run} base classifier ${task.index} (${task.members.length} samples, seed ${task.seed})${job.attemptsStarted > 1 ? `, attempt ${job.attemptsStarted}` : ''}`);
    const r = await runner(`p.${sha256Hex(Buffer.from(stableJson(spec)))}`, async () => ({ module: siblingModule(import.meta.url, '../certify/aggregation/aggregation-worker'), init: await partitionInit(spec, cache) }));
    const outcome = await runOn<PartitionOutcome>(r, task satisfies PartitionTask);
    const result = await encodePartitionResult(redis, outcome);
    classifiers++;
    log(`job ${job.id}: done (${outcome.trainSeconds.toFixed(1)} s training)`);
    return result;
  };

  const processJob = async (job: Job<unknown, string>): Promise<string> => {
    try {
      const format = isObject(job.data) ? job.data.format : undefined;
      if (format === CHUNK_JOB_FORMAT) return await runChunk(job);
      if (format === PARTITION_JOB_FORMAT) return await runClassifier(job);
      throw new DataFormatError('job', `not a poisonguard job: format ${JSON.stringify(format ?? null).slice(0, 60)}, expected ${CHUNK_JOB_FORMAT} or ${PARTITION_JOB_FORMAT}.`);
    } catch (e) {
      failed++;
      log(`job ${job.id}: failed — ${(e as Error).message}`);
      throw e;
    }
  };

  const { Worker } = await import('bullmq');
  const lockMs = (o.lockSeconds ?? DEFAULT_LOCK_SECONDS) * 1000;
  const workerConnection = duplicateConnection(redis);
  const worker: Worker<unknown, string> = new Worker<unknown, string>(o.name, processJob, {
    connection: workerConnection,
    concurrency: o.concurrency,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: MAX_STALLED_COUNT,
    name: `${hostname()}:${process.pid}`,
  });
  worker.on('error', (e) => log(`queue error: ${e.message}`));
  worker.on('stalled', (id) => log(`job ${id} stalled (its worker stopped renewing its lock): back to waiting`));
  await worker.waitUntilReady();
  log(`worker ${hostname()}:${process.pid} on ${o.url.url} queue '${o.name}', concurrency ${o.concurrency}`);
  await new Promise<void>((resolve) => {
    if (o.signal?.aborted) resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  log('stopping: the jobs in flight finish first');
  await worker.close();
  await Promise.all([...runners.values()].map((r) => r.pool.close()));
  // BullMQ leaves connections it was given open (they are the caller's).
  for (const c of [workerConnection, redis]) await c.quit().catch(() => c.disconnect());
  return { chunks, classifiers, failed };
}

/** Checks a job's data (untrusted) and decodes its task. */
export function checkJob(data: unknown): { spec: RunnerSpec; task: ChunkTask } {
  const bad = (why: string): never => {
    throw new DataFormatError('job', `not a poisonguard chunk job: ${why}.`);
  };
  if (!isObject(data) || data.format !== CHUNK_JOB_FORMAT) bad(`format ${JSON.stringify(isObject(data) ? data.format : typeof data)?.slice(0, 60)}, expected ${CHUNK_JOB_FORMAT}`);
  const d = data as unknown as ChunkJobData;
  if (typeof d.model !== 'string' || d.model.length > 200) bad('model name');
  const s = d.spec;
  if (!isObject(s)) bad('no spec');
  const m = s.model as unknown;
  if (!isObject(m) || (m.kind !== 'tfjs' && m.kind !== 'onnx') || !isSha256Hex(m.blob)) bad('model reference');
  if (m && (m as { kind: string }).kind === 'onnx' && (m as { inputLayout?: string }).inputLayout !== 'nchw' && (m as { inputLayout?: string }).inputLayout !== 'nhwc') bad('input layout');
  const entry = isObject(m) ? m.entry : undefined;
  if (entry !== undefined && (!isObject(m) || m.kind !== 'onnx' || typeof entry !== 'string' || entry.length > 200 || !isPlainName(entry) || !/\.onnx$/i.test(entry))) bad('packed model entry');
  const dd = s.data as unknown;
  const dims = isObject(dd) ? [dd.count, dd.height, dd.width, dd.channels] : [];
  if (!isObject(dd) || !isSha256Hex(dd.blob) || dims.length !== 4 || !dims.every((x) => Number.isInteger(x) && (x as number) > 0 && (x as number) <= 1 << 24)) bad('clean set reference');
  if (!Number.isInteger(s.numClasses) || s.numClasses < 2 || s.numClasses > 100_000) bad('class count');
  if (s.modelEngine !== 'onnx' && s.modelEngine !== 'tfjs') bad('model engine');
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(s.backend as string)) bad('backend');
  let recipe;
  try {
    checkPreprocessing(s.preprocessing, 'job preprocessing');
    recipe = resolveReverseRecipe(s.recipe);
  } catch (e) {
    bad((e as Error).message);
  }
  if (JSON.stringify(recipe) !== JSON.stringify(s.recipe)) bad('recipe has unknown or missing fields');
  if (typeof d.task !== 'string') bad('task');
  let task: ChunkTask;
  try {
    task = JSON.parse(d.task, reviveNumbers) as ChunkTask;
  } catch (e) {
    return bad(`task is not JSON (${(e as Error).message})`);
  }
  const st = isObject(task) ? (task.state as unknown) : undefined;
  if (!isObject(task) || !Number.isInteger(task.steps) || task.steps < 1 || task.steps > 1_000_000 || (task.maxSteps !== undefined && !(Number.isInteger(task.maxSteps) && task.maxSteps > 0))) bad('chunk steps');
  if (!isObject(st) || !Number.isInteger(st.label) || (st.label as number) < 0 || (st.label as number) >= s.numClasses || !isObject(st.schedule)) bad('label state');
  for (const k of ['wMask', 'wPattern', 'mMask', 'vMask', 'mPattern', 'vPattern']) if (!((st as Record<string, unknown>)[k] instanceof Float32Array)) bad(`label state's ${k}`);
  return { spec: s as unknown as RunnerSpec, task: task! };
}
