/**
 * Worker threads, both sides of them: the message protocol, starting a worker (from the sources
 * under tsx or from the build), a pool that runs tasks as they come ({@link WorkerPool}; the scan
 * schedules label chunks one after another without restarting the workers, each of which holds an
 * engine and a model), {@link runPool} for a fixed list (the certify grid), and {@link serveWorker},
 * the worker's side of the protocol.
 *
 * Closing is a handshake: the pool asks every worker that is still alive to release what it holds
 * and waits for its answer before terminating the thread. Terminating a thread under a live
 * onnxruntime session aborts the whole process ("terminate called after throwing an instance of
 * 'Napi::Error'"), so no healthy worker is terminated without it, even after another one crashed.
 *
 * Not piscina: its abort of a running task and its `destroy()` terminate the thread, and a worker
 * has no hook to release native resources first; it also has no per-task progress messages (they
 * would need a MessagePort per task) and no abort at the worker's own checkpoints. What is needed
 * here is small enough to keep in this file.
 */
import { Worker, parentPort } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PoisonguardError, type ErrorCode, type ErrorDetails } from '../errors.js';

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  readonly message: string;
  readonly stack?: string;
  readonly code?: string;
  readonly details?: unknown;
}

/** Pool → worker. `close` finishes (or, with `abort`, abandons) the tasks, releases, then answers `closed`. */
export type WorkerRequest<I, T> = { type: 'init'; payload: I } | { type: 'task'; id: number; payload: T } | { type: 'close'; abort: boolean };
/** Worker → pool. `message` carries a task's progress. */
export type WorkerReply<R> =
  | { type: 'result'; id: number; payload: R }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'message'; id: number; payload: unknown }
  | { type: 'closed' };

/** How long {@link WorkerPool.close} waits for a worker's answer before terminating it anyway. */
export const DEFAULT_CLOSE_GRACE_MS = 30_000;

/**
 * The URL of a sibling module of `fromUrl` (the caller's import.meta.url), with the caller's own
 * extension: `.ts` when running from source under tsx, `.js` from the compiled package.
 */
export function siblingModule(fromUrl: string, baseName: string): URL {
  return new URL(`./${baseName}${extname(fileURLToPath(fromUrl))}`, fromUrl);
}

/**
 * Starts a worker on `moduleUrl`. From TypeScript sources (tests, `tsx`), the worker first
 * registers tsx's loader: Node 20 does not carry `--import` hooks into worker threads.
 */
export function startWorker(moduleUrl: URL): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl);
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(moduleUrl.href)}); });`;
  return new Worker(boot, { eval: true });
}

/** Serializes an error for the reply; the project's errors keep their code and details. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const x = e as Error & { code?: string; details?: unknown };
    return { message: e.message, ...(e.stack ? { stack: e.stack } : {}), ...(x.code ? { code: x.code } : {}), ...(x.details !== undefined ? { details: x.details } : {}) };
  }
  return { message: String(e) };
}

/** The error again on this side: the project's errors keep their class, so the CLI prints them plainly. */
export function rebuildError(e: SerializedError): Error {
  const err = e.code ? new PoisonguardError(e.code as ErrorCode, e.message, (e.details ?? {}) as ErrorDetails) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

export interface CloseOptions {
  /** Abandon the tasks in flight at their next checkpoint (the handler's signal) instead of finishing them. */
  readonly abort?: boolean;
  /** How long to wait for each worker's answer before terminating it anyway. */
  readonly graceMs?: number;
}

interface Pending<T, R> {
  readonly id: number;
  readonly task: T;
  readonly resolve: (r: R) => void;
  readonly reject: (e: unknown) => void;
  readonly onMessage?: ((payload: unknown) => void) | undefined;
}

/**
 * A persistent pool: `workers` threads on `moduleUrl` (a module that calls {@link serveWorker}),
 * each sent `init` once, then tasks one at a time as they are free. A worker that crashes (an
 * uncaught error, an exit) fails its task and every queued and later task with that error; the
 * other workers finish the task they run.
 */
export class WorkerPool<I, T, R> {
  private readonly alive = new Set<Worker>();
  private readonly all: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Pending<T, R>[] = [];
  private readonly running = new Map<Worker, Pending<T, R>>();
  private nextId = 0;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(moduleUrl: URL, init: I, workers: number) {
    for (let k = 0; k < Math.max(1, workers); k++) {
      const w = startWorker(moduleUrl);
      this.all.push(w);
      this.alive.add(w);
      this.idle.push(w);
      w.on('message', (msg: WorkerReply<R>) => this.onReply(w, msg));
      w.on('error', (e) => this.onCrash(w, e));
      w.on('exit', (code) => this.onCrash(w, new Error(`a worker thread exited (code ${code}) before its task finished`)));
      w.postMessage({ type: 'init', payload: init } satisfies WorkerRequest<I, T>);
    }
  }

  /** Runs `task` on the next free worker; `onMessage` gets its progress messages. */
  run(task: T, onMessage?: (payload: unknown) => void): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('the worker pool is closed'));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve, reject, onMessage });
      this.pump();
    });
  }

  /**
   * Closes every worker still alive with the handshake (finish or abandon its task, release what it
   * holds, answer), then terminates it; a worker that does not answer within the grace is
   * terminated anyway. Queued tasks are rejected. Calling it again returns the same promise (with
   * `abort`, after telling the workers still finishing their tasks to abandon them).
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closing) {
      if (options.abort) for (const w of this.alive) w.postMessage({ type: 'close', abort: true } satisfies WorkerRequest<I, T>);
      return this.closing;
    }
    this.closing = (async () => {
      const closed = new Error('the worker pool was closed before the task ran');
      for (const q of this.queue.splice(0)) q.reject(closed);
      await Promise.all(this.all.map((w) => this.closeWorker(w, options.abort ?? false, options.graceMs ?? DEFAULT_CLOSE_GRACE_MS)));
    })();
    return this.closing;
  }

  private async closeWorker(w: Worker, abort: boolean, graceMs: number): Promise<void> {
    if (this.alive.has(w)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          w.off('message', onMessage);
          w.off('exit', done);
          resolve();
        };
        const onMessage = (msg: WorkerReply<R>): void => {
          if (msg.type === 'closed') done();
        };
        const timer = setTimeout(done, graceMs);
        w.on('message', onMessage);
        w.on('exit', done);
        w.postMessage({ type: 'close', abort } satisfies WorkerRequest<I, T>);
      });
    }
    this.alive.delete(w);
    await w.terminate();
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift()!;
      const p = this.queue.shift()!;
      this.running.set(w, p);
      w.postMessage({ type: 'task', id: p.id, payload: p.task } satisfies WorkerRequest<I, T>);
    }
  }

  private onReply(w: Worker, msg: WorkerReply<R>): void {
    if (msg.type === 'closed') return;
    const p = this.running.get(w);
    if (!p || msg.id !== p.id) return;
    if (msg.type === 'message') {
      p.onMessage?.(msg.payload);
      return;
    }
    this.running.delete(w);
    this.idle.push(w);
    if (msg.type === 'result') p.resolve(msg.payload);
    else p.reject(rebuildError(msg.error));
    this.pump();
  }

  private onCrash(w: Worker, e: Error): void {
    if (!this.alive.delete(w)) return; // closed already, or its 'error' came before its 'exit'
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    const p = this.running.get(w);
    this.running.delete(w);
    p?.reject(e);
    if (this.closing) return;
    this.failure ??= e;
    for (const q of this.queue.splice(0)) q.reject(this.failure);
  }
}

export interface PoolOptions {
  /** Number of worker threads (≥ 1; no more are started than there are tasks). */
  readonly workers: number;
  /** Non-result messages from tasks (e.g. progress), with the task index. */
  readonly onMessage?: (taskIndex: number, payload: unknown) => void;
}

/** Runs every task of a fixed list on a {@link WorkerPool}; resolves with the results in task order. */
export async function runPool<I, T, R>(moduleUrl: URL, init: I, tasks: readonly T[], options: PoolOptions): Promise<R[]> {
  const pool = new WorkerPool<I, T, R>(moduleUrl, init, Math.max(1, Math.min(options.workers, tasks.length)));
  let failed = false;
  try {
    return await Promise.all(
      tasks.map((t, i) =>
        pool.run(t, (m) => options.onMessage?.(i, m)).catch((e: unknown) => {
          failed = true;
          throw e;
        }),
      ),
    );
  } finally {
    await pool.close({ abort: failed });
  }
}

/** What a task's handler gets besides its payload. */
export interface TaskContext {
  /** Sends a progress message to the pool (its `onMessage`). */
  readonly post: (payload: unknown) => void;
  /** Aborted when the pool closes with `abort`: stop at the next checkpoint (throw). */
  readonly signal: AbortSignal;
}

/**
 * The worker's side of the protocol; call once at the top of a worker module. `setup` turns the
 * `init` payload into the worker's state (an engine, a model); `handler` runs one task on it;
 * `dispose` releases it on close. Tasks run one after another in the order they came.
 */
export function serveWorker<I, T, R, S>(
  setup: (init: I) => S | Promise<S>,
  handler: (state: S, task: T, ctx: TaskContext) => R | Promise<R>,
  dispose?: (state: S) => void | Promise<void>,
): void {
  const port = parentPort;
  if (!port) throw new Error('serveWorker must run on a worker thread');
  let ready: Promise<S> | undefined;
  const abort = new AbortController();
  let closing = false;
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (msg: WorkerRequest<I, T>) => {
    if (msg.type === 'init') {
      ready = Promise.resolve().then(() => setup(msg.payload));
      ready.catch(() => {}); // reported by the first task
      return;
    }
    if (msg.type === 'close') {
      if (msg.abort) abort.abort();
      if (closing) return; // a second close only aborts: the state is released once
      closing = true;
      queue = queue.then(async () => {
        try {
          if (ready && dispose) await dispose(await ready);
        } catch {
          // a worker whose setup failed holds nothing
        }
        port.postMessage({ type: 'closed' } satisfies WorkerReply<R>);
      });
      return;
    }
    const id = msg.id;
    queue = queue.then(async () => {
      try {
        if (!ready) throw new Error('a worker received a task before its init');
        if (abort.signal.aborted) throw new PoisonguardError('interrupted', 'the task was abandoned: the worker pool is closing');
        const post = (payload: unknown): void => port.postMessage({ type: 'message', id, payload } satisfies WorkerReply<R>);
        const result = await handler(await ready, msg.payload, { post, signal: abort.signal });
        port.postMessage({ type: 'result', id, payload: result } satisfies WorkerReply<R>);
      } catch (e) {
        port.postMessage({ type: 'error', id, error: serializeError(e) } satisfies WorkerReply<R>);
      }
    });
  });
}
