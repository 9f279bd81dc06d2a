/**
 * Where a scan's label chunks run: this thread (workers: 0), this machine's worker threads, or
 * engines elsewhere (the zoo's job queue, through a LabelEngineFactory). Started lazily by the first
 * phase that has labels to run (none for a finished scan), with as many lanes as that phase can use.
 */
import { siblingModule, WorkerPool } from '../workers/pool.js';
import type { ChunkTask, LabelEngineFactory, LabelEngines, LabelRunner, RunnerInit } from './label-runner.js';
import type { LabelState, StepProgress } from './reverse.js';

export interface ScanLanes {
  /** Starts the engines (once; later calls reuse them) for a phase with `count` labels to run. */
  start(count: number): Promise<void>;
  /** Runs one chunk; when the halt signal fired, its failure becomes `interrupted()`. */
  exec(task: ChunkTask, onStep: (p: StepProgress) => void): Promise<LabelState>;
  close(): Promise<void>;
}

export function openScanLanes(init: RunnerInit, workers: number, halt: AbortSignal | undefined, interrupted: () => Error, labelEngines?: LabelEngineFactory): ScanLanes {
  let engines: Promise<LabelEngines> | undefined;
  const onHalt = (): void => void engines?.then((e) => e.halt());
  halt?.addEventListener('abort', onHalt, { once: true });
  return {
    async start(count) {
      await (engines ??= (async () => {
        const lanes = Math.max(1, Math.min(workers, count));
        if (labelEngines) return labelEngines(init, lanes);
        if (workers === 0) {
          const { createLabelRunner } = await import('./label-runner.js');
          const runner: LabelRunner = await createLabelRunner(init, false);
          // In this thread the halt signal reaches the runner directly.
          return { exec: (task, onStep) => runner.run(task, onStep, halt), close: () => runner.dispose(), halt: () => {} };
        }
        const pool = new WorkerPool<RunnerInit, ChunkTask, LabelState>(siblingModule(import.meta.url, 'scan-worker'), init, lanes);
        return {
          exec: (task, onStep) => pool.run(task, (p) => onStep(p as StepProgress)),
          close: () => pool.close({ abort: halt?.aborted ?? false }),
          halt: () => void pool.close({ abort: true }),
        };
      })());
    },
    async exec(task, onStep) {
      try {
        return await (await engines!).exec(task, onStep);
      } catch (e) {
        if (halt?.aborted) throw interrupted();
        throw e;
      }
    },
    async close() {
      halt?.removeEventListener('abort', onHalt);
      if (engines) await (await engines).close();
    },
  };
}
