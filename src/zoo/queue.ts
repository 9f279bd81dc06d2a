/**
 * The zoo's job queue: BullMQ on Redis. Each job is one chunk of one label's trigger search — the
 * unit the scan already checkpoints (scan.ts runs a label in chunks of steps; fast mode in rounds
 * of chunks) — so a scan over the queue is the local scan with its chunks run elsewhere, fast
 * mode's rounds and escalation included, and a killed worker loses one chunk at most.
 *
 * A job's id is the hash of what determines its result: the model's bytes, the clean set, the
 * recipe (the runner's init) and the chunk's input state and step limits (which carry the label,
 * its seed and its step). Adding a job that exists is ignored by BullMQ, so a coordinator that
 * restarts, or a chunk asked for twice, gets the one result that was (or will be) computed; a
 * result depends on nothing else, whichever worker ran it and in whatever order.
 *
 * Stall detection is BullMQ's: a worker renews its job's lock while the chunk runs (on worker
 * threads, so the event loop is free to do it); a SIGKILLed worker's lock expires and another
 * worker's stalled-job check moves the job back to waiting. A stalled job completes once: BullMQ
 * accepts a completion only from the holder of the job's current lock.
 */
import { hostname } from 'node:os';
import type { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { DataFormatError, OptionError, PoisonguardError } from '../errors.js';
import type { InputLayout } from '../graph/layout.js';
import type { BackendChoice } from '../nn/engine.js';
import type { Preprocessing } from '../nn/preprocess.js';
import type { ChunkTask, LabelEngineFactory, RunnerInit } from '../cleanse/label-runner.js';
import type { ReverseRecipe } from '../cleanse/recipe.js';
import type { LabelState } from '../cleanse/reverse.js';
import { replaceNumbers, reviveNumbers, isObject } from '../run-files.js';
import { packFolder, packOnnxModel, putBlob, sha256Hex } from './blobs.js';

/** The queue's name when none is given (BullMQ's keys: bull:NAME:…). */
export const DEFAULT_QUEUE_NAME = 'poisonguard-zoo';
/** BullMQ job name of a chunk. */
export const CHUNK_JOB = 'label-chunk';
/** Format of a chunk job's data; a worker refuses any other. */
export const CHUNK_JOB_FORMAT = 'poisonguard-chunk-1';
/**
 * A job's lock lasts this long without renewal (BullMQ's default, 30 s): a killed worker's job is
 * taken again after at most about twice this (the lock's end, then the next stalled-job check).
 */
export const DEFAULT_LOCK_SECONDS = 30;
/** A job may stall (its worker lost) this many times before it fails; BullMQ's default is 1. */
export const MAX_STALLED_COUNT = 3;
/**
 * Finished jobs stay in Redis this long, so that a coordinator restarted within it finds the results
 * of the chunks that finished while it was down (later, those few chunks run again: same bits). Not
 * longer: each holds a label state both ways (≈ 130 KB for a GTSRB label), and the coordinator keeps
 * every finished chunk on disk anyway.
 */
export const KEEP_FINISHED_SECONDS = 600;
/** With a queue, models scanned at once (their chunks interleave on the workers while fast mode's rounds wait for their last chunk). */
export const DEFAULT_MODELS_IN_FLIGHT = 4;
/** The coordinator gives up when Redis does not answer for this long. */
export const REDIS_LOST_SECONDS = 10;
/** How often the coordinator checks that Redis answers (and renews its claim on the queue). */
const PING_MS = 1000;

/** Redis stopped answering: the whole zoo stops (a model's own failure stops only that model). */
export class QueueLostError extends PoisonguardError {}

/** A parsed `redis://HOST:PORT[/DB]`. */
export interface QueueUrl {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly url: string;
}

/** Parses the queue URL; anything but redis://HOST:PORT[/DB] is refused with the form expected. */
export function parseQueueUrl(raw: string, option = '--queue'): QueueUrl {
  const m = /^redis:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?:\/(\d{1,2}))?\/?$/.exec(raw.trim());
  if (!m) throw new OptionError(option, 'redis://HOST:PORT[/DB] (a Redis server; no user or password in the URL)', raw);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new OptionError(option, 'a port in 1..65535', raw);
  const db = m[3] === undefined ? 0 : Number(m[3]);
  return { host: m[1].replace(/^\[|\]$/g, ''), port, db, url: raw.trim() };
}

/** Checks a queue name (it becomes part of Redis keys). */
export function checkQueueName(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new OptionError('--queue-name', 'letters, digits, _ . - (at most 64)', name);
  return name;
}

/** An ioredis connection as BullMQ wants it (no retry limit per command: its blocking calls wait). */
export async function connectRedis(q: QueueUrl, what: string): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis({ host: q.host, port: q.port, db: q.db, maxRetriesPerRequest: null, lazyConnect: true, connectTimeout: 5000, retryStrategy: (n) => Math.min(200 * n, 2000) });
  // ioredis reports every failed reconnection as an 'error' event; the watchdog and the commands report them to the user.
  redis.on('error', () => {});
  // The first connection's socket error (ECONNREFUSED, ENOTFOUND…) ends the wait at once and is what
  // the user sees; connect() itself only rejects later with ioredis's "Connection is closed.".
  let refused: (e: Error) => void = () => {};
  const socketError = new Promise<never>((_, reject) => (refused = reject));
  const onFirstError = (e: Error) => refused(e);
  redis.once('error', onFirstError);
  try {
    await withTimeout(Promise.race([redis.connect(), socketError]), 6000, 'no answer');
    await withTimeout(redis.ping(), 6000, 'no answer to PING');
  } catch (e) {
    redis.disconnect();
    const err = e as NodeJS.ErrnoException;
    const why = err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
    throw new PoisonguardError('not-found', `${what}: cannot reach Redis at ${q.url} (${why}).`, { path: q.url });
  } finally {
    redis.off('error', onFirstError);
    socketError.catch(() => {});
  }
  return redis;
}

/** Another connection with the same options, its failed reconnections reported by the caller as above. */
export function duplicateConnection(redis: Redis): Redis {
  const c = redis.duplicate();
  c.on('error', () => {});
  return c;
}

function withTimeout<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why)), ms)))]).finally(() => clearTimeout(timer));
}

/** What a worker needs to build the label runner, with the model and clean set as blob hashes. */
export interface RunnerSpec {
  /** `entry`: an ONNX model sent with its external data files, packed as a folder, is this file in it. */
  readonly model: { readonly kind: 'tfjs' | 'onnx'; readonly blob: string; readonly inputLayout?: InputLayout; readonly entry?: string };
  readonly data: { readonly blob: string; readonly count: number; readonly height: number; readonly width: number; readonly channels: number };
  readonly preprocessing: Preprocessing;
  readonly recipe: ReverseRecipe;
  readonly numClasses: number;
  readonly backend: BackendChoice;
  readonly modelEngine: 'onnx' | 'tfjs';
}

/** A chunk job's data. */
export interface ChunkJobData {
  readonly format: typeof CHUNK_JOB_FORMAT;
  /** The model's name in the zoo, for `zoo status` and the workers' log. */
  readonly model: string;
  readonly spec: RunnerSpec;
  /** The {@link ChunkTask} as run-file JSON (Float32Arrays as base64: bit-exact). */
  readonly task: string;
}

/** A stable JSON text (sorted keys) to hash. */
export function stableJson(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (isObject(v) && !(v instanceof Float32Array) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : replaceNumbers(_k, v)));
}

export function specKey(spec: RunnerSpec): string {
  return sha256Hex(Buffer.from(stableJson(spec)));
}

/** The idempotent job id (see the module comment); BullMQ ids may not contain ':'. */
export function chunkJobId(spec: RunnerSpec, task: ChunkTask, taskJson: string): string {
  const s = task.state;
  return `c.${specKey(spec).slice(0, 20)}.l${s.label}.r${s.seed}.t${s.schedule.step}.${sha256Hex(Buffer.from(taskJson)).slice(0, 20)}`;
}

export function encodeTask(task: ChunkTask): string {
  return JSON.stringify(task, replaceNumbers);
}

/** Reads a chunk's result (queue data: untrusted) and checks it continues the task it answers. */
export function decodeState(raw: unknown, task: ChunkTask, where: string): LabelState {
  let text = raw;
  // BullMQ hands a string return value back either as is or JSON-encoded once more.
  if (typeof text === 'string' && text.startsWith('"')) text = JSON.parse(text) as unknown;
  if (typeof text !== 'string') throw new DataFormatError(where, 'a chunk result that is not a label state.');
  let s: LabelState;
  try {
    s = JSON.parse(text, reviveNumbers) as LabelState;
  } catch (e) {
    throw new DataFormatError(where, `a chunk result that is not JSON (${(e as Error).message}).`);
  }
  const t = task.state;
  const arrays = ['wMask', 'wPattern', 'mMask', 'vMask', 'mPattern', 'vPattern'] as const;
  const ok =
    isObject(s) &&
    s.label === t.label &&
    s.seed === t.seed &&
    arrays.every((k) => s[k] instanceof Float32Array && s[k].length === t[k].length) &&
    isObject(s.schedule) &&
    typeof s.schedule.step === 'number' &&
    s.schedule.step >= t.schedule.step &&
    s.schedule.step <= t.schedule.step + task.steps;
  if (!ok) throw new DataFormatError(where, `a chunk result that does not continue label ${t.label}'s state at step ${t.schedule.step}.`);
  return s;
}

/** What every job's data holds: the format, on which a worker dispatches (and refuses the unknown). */
export interface QueueJobData {
  readonly format: string;
}

export interface QueueConnection {
  readonly url: QueueUrl;
  readonly name: string;
  readonly redis: Redis;
  readonly queue: Queue<QueueJobData, string>;
  readonly events: QueueEvents;
  /** Rejects when Redis stops answering for {@link REDIS_LOST_SECONDS} (see {@link openCoordinator}). */
  readonly lost: Promise<never>;
  close(): Promise<void>;
}

/** Redis key of the coordinator's claim on a queue. */
export function coordinatorKey(name: string): string {
  return `poisonguard:zoo:${name}:coordinator`;
}

/** Who coordinates (for its messages): the command to run again, what it saves as it goes, and what a failed connection is reported as (default: the command). */
export interface CoordinatorRole {
  readonly command: string;
  readonly unit: string;
  readonly connecting?: string;
}
export const ZOO_SCAN_ROLE: CoordinatorRole = { command: 'zoo scan', unit: 'label' };

/**
 * Opens the queue for a coordinator. One coordinator per queue name: a second one is refused
 * while the first one's claim (renewed every second, lapsing after {@link REDIS_LOST_SECONDS}) is
 * alive, since both would wait on, and report, the same jobs.
 */
export async function openCoordinator(url: QueueUrl, name: string, out: string, lostSeconds = REDIS_LOST_SECONDS, role: CoordinatorRole = ZOO_SCAN_ROLE): Promise<QueueConnection> {
  const redis = await connectRedis(url, role.connecting ?? role.command);
  const me = JSON.stringify({ host: hostname(), pid: process.pid, out, since: new Date().toISOString() });
  const key = coordinatorKey(name);
  const ttl = lostSeconds * 1000;
  if ((await redis.set(key, me, 'PX', ttl, 'NX')) !== 'OK') {
    const other = await redis.get(key);
    redis.disconnect();
    let who = other ?? 'another coordinator';
    try {
      const o = JSON.parse(other ?? '') as { host?: string; pid?: number; out?: string };
      who = `${o.host} (pid ${o.pid}, out ${o.out})`;
    } catch {
      /* shown as stored */
    }
    throw new PoisonguardError('invalid-option', `queue '${name}' at ${url.url} already has a coordinator: ${who}. Wait for it to finish, stop it, or use another --queue-name.`, { path: '--queue-name' });
  }
  const { Queue, QueueEvents } = await import('bullmq');
  const queueConnection = duplicateConnection(redis);
  const eventsConnection = duplicateConnection(redis);
  const queue = new Queue<QueueJobData, string>(name, { connection: queueConnection, defaultJobOptions: { removeOnComplete: { age: KEEP_FINISHED_SECONDS }, removeOnFail: { age: KEEP_FINISHED_SECONDS } } });
  const events = new QueueEvents(name, { connection: eventsConnection });
  // Every chunk in flight waits on the queue's 'closing' event (BullMQ's waitUntilFinished): many, by design.
  queue.setMaxListeners(0);
  events.setMaxListeners(0);
  queue.on('error', () => {});
  events.on('error', () => {});
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  let rejectLost!: (e: Error) => void;
  const lost = new Promise<never>((_, reject) => (rejectLost = reject));
  lost.catch(() => {});
  // Silence is counted only while this process runs: a tick adds at most one interval, so a long
  // synchronous step of the coordinator (reading a large clean set blocks the event loop for many
  // seconds, and the answers wait in the socket meanwhile) is not taken for Redis's silence.
  let silentMs = 0;
  let lastTick = Date.now();
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    const now = Date.now();
    silentMs += Math.min(now - lastTick, PING_MS);
    lastTick = now;
    // Renews the claim only while it is still ours (a coordinator that lost it must not take another's).
    void redis
      .eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') end", 1, key, me, String(ttl))
      .then(() => (silentMs = 0))
      .catch(() => {});
    if (silentMs > ttl) {
      stopped = true;
      rejectLost(new QueueLostError('not-found', `lost Redis at ${url.url}: no answer for ${lostSeconds} s. Every finished ${role.unit} is saved in the out folder; run the same ${role.command} again when Redis is back to resume.`, { path: url.url }));
    }
  }, PING_MS);
  return {
    url,
    name,
    redis,
    queue,
    events,
    lost,
    async close() {
      stopped = true;
      clearInterval(timer);
      if (silentMs <= ttl) {
        await redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, key, me).catch(() => {});
        await Promise.allSettled([queue.close(), events.close()]);
        // BullMQ leaves connections it was given open (they are the caller's).
        for (const c of [queueConnection, eventsConnection, redis]) await c.quit().catch(() => c.disconnect());
      } else {
        // Redis is gone: closing would wait for it, and a connection left open would retry forever.
        for (const c of [queue, events]) void c.close().catch(() => {});
        for (const c of [queueConnection, eventsConnection, redis]) c.disconnect();
      }
    },
  };
}

/**
 * The scan's label engines on the queue (scanModel's labelEngines): sends the model
 * and clean set once, then each chunk is a job whose result is awaited.
 */
export function queueEngines(conn: QueueConnection, modelName: string): LabelEngineFactory {
  return async (init) => {
    const packed = init.model.kind === 'onnx' ? packOnnxModel(init.model.file) : { bytes: packFolder(init.model.dir) };
    const modelBlob = await raceLost(conn, putBlob(conn.redis, packed.bytes));
    const dataBlob = await raceLost(conn, putBlob(conn.redis, init.data.images));
    const spec: RunnerSpec = {
      model: { kind: init.model.kind, blob: modelBlob, ...(init.model.kind === 'onnx' ? { inputLayout: init.model.inputLayout } : {}), ...(packed.entry !== undefined ? { entry: packed.entry } : {}) },
      data: { blob: dataBlob, count: init.data.count, height: init.data.height, width: init.data.width, channels: init.data.channels },
      preprocessing: init.preprocessing,
      recipe: init.recipe,
      numClasses: init.numClasses,
      backend: init.backend,
      modelEngine: init.modelEngine,
    };
    let halted = false;
    return {
      async exec(task) {
        if (halted) throw new PoisonguardError('interrupted', 'the zoo scan was stopped.');
        const taskJson = encodeTask(task);
        const jobId = chunkJobId(spec, task, taskJson);
        const data: ChunkJobData = { format: CHUNK_JOB_FORMAT, model: modelName, spec, task: taskJson };
        const raw = await raceLost(conn, runJob(conn, CHUNK_JOB, jobId, data, `${modelName}, label ${task.state.label}`));
        return decodeState(raw, task, `job ${jobId} of ${conn.name}`);
      },
      async close() {},
      halt() {
        halted = true;
      },
    };
  };
}

export function raceLost<T>(conn: QueueConnection, p: Promise<T>): Promise<T> {
  return Promise.race([p, conn.lost]);
}

/** Adds the job unless it exists (a failed one is added again), then waits for its result; `what` names it in a worker's failure. */
export async function runJob(conn: QueueConnection, jobName: string, jobId: string, data: QueueJobData, what: string): Promise<unknown> {
  const { Job } = await import('bullmq');
  let job: Job<QueueJobData, string> | undefined = await Job.fromId<QueueJobData, string>(conn.queue, jobId);
  if (job) {
    const state = await job.getState();
    if (state === 'completed') return job.returnvalue;
    // A failure is not a result: the chunk runs again (the reason was reported when it failed).
    if (state === 'failed') {
      await job.remove();
      job = undefined;
    }
  }
  job ??= await conn.queue.add(jobName, data, { jobId });
  try {
    return await job.waitUntilFinished(conn.events);
  } catch (e) {
    throw new PoisonguardError('data-format', `a worker failed on ${what}: ${(e as Error).message}`, { path: what });
  }
}
