/**
 * A worker for the pool's tests: tasks echo, fail, crash the thread, or count ticks until their
 * signal aborts; `dispose` leaves a file per worker so that a test can see which ones were closed
 * with the handshake.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { PoisonguardError } from '../../src/errors.js';
import { serveWorker } from '../../src/workers/pool.js';

export interface TestInit {
  /** Folder where dispose writes `disposed-<threadId>`. */
  readonly dir: string;
}
export type TestTask =
  | { readonly kind: 'echo'; readonly value: number; readonly ms?: number }
  | { readonly kind: 'fail' }
  | { readonly kind: 'crash'; readonly ms: number }
  | { readonly kind: 'ticks' };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

serveWorker<TestInit, TestTask, number, TestInit>(
  (init) => init,
  async (_init, task, { post, signal }) => {
    switch (task.kind) {
      case 'echo':
        post(`working on ${task.value}`);
        if (task.ms) await sleep(task.ms);
        return task.value * 2;
      case 'fail':
        throw new PoisonguardError('invalid-option', 'a bad task');
      case 'crash':
        // An uncaught error outside the task's promise: the thread dies.
        setTimeout(() => {
          throw new Error('worker crashed');
        }, task.ms);
        await sleep(60_000);
        return -1;
      case 'ticks':
        for (let t = 0; ; t++) {
          if (signal.aborted) throw new PoisonguardError('interrupted', `abandoned after ${t} ticks`);
          await sleep(5);
        }
    }
  },
  (init) => writeFileSync(join(init.dir, `disposed-${threadId}`), ''),
);
