/**
 * A small pool of worker threads: each worker receives one `init` payload, then tasks one at a
 * time; messages other than the result are forwarded to `onMessage` (progress). Used to spread
 * independent work (one ε, one label) over the cores.
 */
import { Worker } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PoisonguardError, type ErrorCode, type ErrorDetails } from '../errors.js';

export type WorkerRequest<I, T> = { type: 'init'; payload: I } | { type: 'task'; id: number; payload: T };
export type WorkerReply<R> =
  | { type: 'result'; id: number; payload: R }
  | { type: 'error'; id: number; error: { message: string; stack?: string; code?: string; details?: unknown } }
  | { type: 'message'; id: number; payload: unknown };

/**
 * The URL of a sibling module of `fromUrl` (the caller's import.meta.url), with the caller's own
 * extension: `.ts` when running from source under tsx, `.js` from the compiled package.
 */
export function siblingModule(fromUrl: string, baseName: string): URL {
  return new URL(`./${baseName}${extname(fileURLToPath(fromUrl))}`, fromUrl);
}

export interface PoolOptions {
  /** Number of worker threads (≥ 1). */
  readonly workers: number;
  /** Non-result messages from tasks (e.g. progress), with the task index. */
  readonly onMessage?: (taskIndex: number, payload: unknown) => void;
}

/** Runs every task on the pool; resolves with the results in task order. */
export async function runPool<I, T, R>(moduleUrl: URL, init: I, tasks: readonly T[], options: PoolOptions): Promise<R[]> {
  const results: R[] = new Array(tasks.length);
  let next = 0;
  const count = Math.max(1, Math.min(options.workers, tasks.length));
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, async () => {
        const worker = startWorker(moduleUrl);
        workers.push(worker);
        worker.postMessage({ type: 'init', payload: init } satisfies WorkerRequest<I, T>);
        while (next < tasks.length) {
          const id = next++;
          results[id] = await new Promise<R>((resolve, reject) => {
            const onMsg = (msg: WorkerReply<R>): void => {
              if (msg.id !== id) return;
              if (msg.type === 'message') options.onMessage?.(id, msg.payload);
              else {
                worker.off('message', onMsg);
                worker.off('error', onErr);
                if (msg.type === 'result') resolve(msg.payload);
                else reject(rebuildError(msg.error));
              }
            };
            const onErr = (e: Error): void => {
              worker.off('message', onMsg);
              reject(e);
            };
            worker.on('message', onMsg);
            worker.once('error', onErr);
            worker.postMessage({ type: 'task', id, payload: tasks[id] } satisfies WorkerRequest<I, T>);
          });
        }
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
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

export function rebuildError(e: { message: string; stack?: string; code?: string; details?: unknown }): Error {
  // The project's errors keep their class across the thread boundary, so the CLI prints them plainly.
  const err = e.code ? new PoisonguardError(e.code as ErrorCode, e.message, (e.details ?? {}) as ErrorDetails) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

/** Serializes an error for the reply. */
export function serializeError(e: unknown): { message: string; stack?: string; code?: string; details?: unknown } {
  if (e instanceof Error) {
    const x = e as Error & { code?: string; details?: unknown };
    return { message: e.message, stack: e.stack, code: x.code, details: x.details };
  }
  return { message: String(e) };
}
