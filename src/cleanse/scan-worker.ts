/** Worker thread of a scan: its own engine and model; one chunk of one label per task. */
import { parentPort } from 'node:worker_threads';
import { serializeError, type WorkerReply } from '../workers/pool.js';
import { createLabelRunner, type ChunkTask, type LabelRunner, type RunnerInit } from './label-runner.js';
import type { TaskPoolReply, TaskPoolRequest } from './task-pool.js';
import type { LabelState } from './reverse.js';

const port = parentPort;
if (!port) throw new Error('scan-worker must run on a worker thread');
let ready: Promise<LabelRunner> | undefined;
// Tasks run one after another even if the pool sent the next one early.
let queue: Promise<void> = Promise.resolve();

port.on('message', (msg: TaskPoolRequest<RunnerInit, ChunkTask>) => {
  if (msg.type === 'init') {
    ready = createLabelRunner(msg.payload);
    ready.catch(() => {});
    return;
  }
  if (msg.type === 'close') {
    // Finish the queue, release the engine (its native session), then say so.
    queue = queue.then(async () => {
      try {
        if (ready) await (await ready).dispose();
      } catch {
        // a runner that failed to start holds nothing
      }
      port.postMessage({ type: 'closed' } satisfies TaskPoolReply<LabelState>);
    });
    return;
  }
  const id = msg.id;
  queue = queue.then(async () => {
    try {
      if (!ready) throw new Error('scan-worker received a task before its init');
      const runner = await ready;
      const state = await runner.run(msg.payload, (p) => port.postMessage({ type: 'message', id, payload: p } satisfies WorkerReply<LabelState>));
      port.postMessage({ type: 'result', id, payload: state } satisfies WorkerReply<LabelState>);
    } catch (e) {
      port.postMessage({ type: 'error', id, error: serializeError(e) } satisfies WorkerReply<LabelState>);
    }
  });
});
