/** Worker thread of the certify grid: one ε per task (see eps-task.ts). */
import { serveWorker } from '../workers/pool.js';
import { runEpsTask, type EpsRow, type EpsTask, type EpsTaskInit } from './eps-task.js';

serveWorker<EpsTaskInit, EpsTask, EpsRow, EpsTaskInit>(
  (init) => init,
  (init, task, { post }) => runEpsTask(init, task, post),
);
