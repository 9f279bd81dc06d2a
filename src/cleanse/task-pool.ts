/**
 * A persistent pool of worker threads that takes tasks as they come (unlike workers/pool.ts,
 * which runs a fixed list): the scan schedules label chunks one after another, deciding what to
 * run next from what has finished, without restarting the workers (each holds an engine and a
 * model). Same message protocol as workers/pool.ts.
 */
import { Worker } from 'node:worker_threads';
import { rebuildError, startWorker, type WorkerReply, type WorkerRequest } from '../workers/pool.js';

/** workers/pool.ts's protocol plus the close handshake of {@link TaskPool.close}. */
export type TaskPoolRequest<I, T> = WorkerRequest<I, T> | { type: 'close' };
export type TaskPoolReply<R> = WorkerReply<R> | { type: 'closed' };

interface Pending<T, R> {
  readonly id: number;
  readonly task: T;
  readonly resolve: (r: R) => void;
  readonly reject: (e: unknown) => void;
  readonly onMessage?: (payload: unknown) => void;
}

export class TaskPool<I, T, R> {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Pending<T, R>[] = [];
  private readonly running = new Map<Worker, Pending<T, R>>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(moduleUrl: URL, init: I, workers: number) {
    for (let k = 0; k < Math.max(1, workers); k++) {
      const w = startWorker(moduleUrl);
      w.on('message', (msg: TaskPoolReply<R>) => this.onReply(w, msg));
      w.on('error', (e) => this.onWorkerError(w, e));
      w.postMessage({ type: 'init', payload: init } satisfies WorkerRequest<I, T>);
      this.all.push(w);
      this.idle.push(w);
    }
  }

  /** Runs `task` on the next free worker; `onMessage` gets its progress messages. */
  run(task: T, onMessage?: (payload: unknown) => void): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve, reject, ...(onMessage ? { onMessage } : {}) });
      this.pump();
    });
  }

  /**
   * Asks each worker to finish its queue and release what it holds (native sessions must be released
   * before their thread goes: terminating a thread under a live onnxruntime session aborts the
   * process), then terminates it; a worker that does not answer within `graceMs` is terminated anyway.
   */
  async close(graceMs = 30_000): Promise<void> {
    await Promise.all(
      this.all.map(async (w) => {
        if (!this.failure) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              w.off('message', onMessage);
              w.off('exit', done);
              resolve();
            };
            const onMessage = (msg: TaskPoolReply<R>): void => {
              if (msg.type === 'closed') done();
            };
            const timer = setTimeout(done, graceMs);
            w.on('message', onMessage);
            w.on('exit', done);
            w.postMessage({ type: 'close' } satisfies TaskPoolRequest<I, T>);
          });
        }
        await w.terminate();
      }),
    );
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift()!;
      const p = this.queue.shift()!;
      this.running.set(w, p);
      w.postMessage({ type: 'task', id: p.id, payload: p.task } satisfies WorkerRequest<I, T>);
    }
  }

  private onReply(w: Worker, msg: TaskPoolReply<R>): void {
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

  private onWorkerError(w: Worker, e: Error): void {
    this.failure = e;
    const p = this.running.get(w);
    this.running.delete(w);
    p?.reject(e);
    for (const q of this.queue.splice(0)) q.reject(e);
  }
}
