/** Worker thread of the certify grid: one ε per task (see eps-task.ts). */
import { parentPort } from 'node:worker_threads';
import { serializeError, type WorkerReply, type WorkerRequest } from '../workers/pool.js';
import { runEpsTask, type EpsRow, type EpsTask, type EpsTaskInit } from './eps-task.js';

let init: EpsTaskInit | undefined;
const port = parentPort;
if (!port) throw new Error('certify-worker must run on a worker thread');
port.on('message', (msg: WorkerRequest<EpsTaskInit, EpsTask>) => {
  if (msg.type === 'init') {
    init = msg.payload;
    return;
  }
  const id = msg.id;
  try {
    if (!init) throw new Error('certify-worker received a task before its init');
    const row = runEpsTask(init, msg.payload, (p) => port.postMessage({ type: 'message', id, payload: p } satisfies WorkerReply<EpsRow>));
    port.postMessage({ type: 'result', id, payload: row } satisfies WorkerReply<EpsRow>);
  } catch (e) {
    port.postMessage({ type: 'error', id, error: serializeError(e) } satisfies WorkerReply<EpsRow>);
  }
});
