/** Worker thread of a scan: its own engine and model; one chunk of one label per task. */
import { serveWorker } from '../workers/pool.js';
import { createLabelRunner, type ChunkTask, type LabelRunner, type RunnerInit } from './label-runner.js';
import type { LabelState } from './reverse.js';

serveWorker<RunnerInit, ChunkTask, LabelState, LabelRunner>(
  (init) => createLabelRunner(init),
  (runner, task, { post, signal }) => runner.run(task, post, signal),
  // The engine's native session goes before the thread does.
  (runner) => runner.dispose(),
);
