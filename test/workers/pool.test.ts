/**
 * The worker pool: results in order with their progress messages, errors keep their class, and
 * the close handshake reaches every healthy worker — after a task finishes, when the tasks in
 * flight are abandoned, and after another worker crashed (a crashed thread is not waited for).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { PoisonguardError } from '../../src/errors.js';
import { runPool, siblingModule, WorkerPool } from '../../src/workers/pool.js';
import { scratchDir } from '../helpers.js';
import type { TestInit, TestTask } from './pool-worker.js';

const WORKER = siblingModule(import.meta.url, 'pool-worker');
/** Handles the rejection at once (the test looks at it after awaiting close). */
const settle = <R>(p: Promise<R>): Promise<R> => {
  p.catch(() => {});
  return p;
};
const disposed = (dir: string): number => readdirSync(dir).filter((f) => f.startsWith('disposed-')).length;

test('runPool returns the results in task order and forwards progress with the task index', async () => {
  const dir = scratchDir('pool-order');
  const messages: [number, unknown][] = [];
  const tasks: TestTask[] = [30, 0, 10].map((ms, i) => ({ kind: 'echo', value: i + 1, ms }));
  const results = await runPool<TestInit, TestTask, number>(WORKER, { dir }, tasks, { workers: 2, onMessage: (i, m) => messages.push([i, m]) });
  assert.deepEqual(results, [2, 4, 6]);
  assert.deepEqual(messages.sort((a, b) => a[0] - b[0]), [
    [0, 'working on 1'],
    [1, 'working on 2'],
    [2, 'working on 3'],
  ]);
  assert.equal(disposed(dir), 2, 'both workers were closed with the handshake');
});

test("a task's error comes back as the project's error, and the worker stays usable", async () => {
  const dir = scratchDir('pool-error');
  const pool = new WorkerPool<TestInit, TestTask, number>(WORKER, { dir }, 1);
  await assert.rejects(pool.run({ kind: 'fail' }), (e: unknown) => e instanceof PoisonguardError && e.code === 'invalid-option' && e.message === 'a bad task');
  assert.equal(await pool.run({ kind: 'echo', value: 5 }), 10);
  await pool.close();
  assert.equal(disposed(dir), 1);
});

test('after a worker crashes, its task and the queued ones fail, and close still shakes hands with the healthy worker', async () => {
  const dir = scratchDir('pool-crash');
  const pool = new WorkerPool<TestInit, TestTask, number>(WORKER, { dir }, 2);
  const crashing = settle(pool.run({ kind: 'crash', ms: 50 }));
  const healthy = settle(pool.run({ kind: 'echo', value: 7, ms: 400 }));
  const queued = settle(pool.run({ kind: 'echo', value: 8 }));
  await assert.rejects(crashing, /worker crashed/);
  await assert.rejects(queued, /worker crashed/);
  await assert.rejects(pool.run({ kind: 'echo', value: 9 }), /worker crashed/, 'a failed pool takes no more tasks');
  const start = performance.now();
  await pool.close({ graceMs: 20_000 });
  assert.ok(performance.now() - start < 10_000, 'the crashed worker is not waited for');
  assert.equal(await healthy, 14, 'the healthy worker finished its task before closing');
  assert.equal(disposed(dir), 1, 'the healthy worker released its state; the crashed one could not');
});

test('close with abort abandons the tasks in flight at their next checkpoint, then releases every worker', async () => {
  const dir = scratchDir('pool-abort');
  const pool = new WorkerPool<TestInit, TestTask, number>(WORKER, { dir }, 2);
  const a = settle(pool.run({ kind: 'ticks' }));
  const b = settle(pool.run({ kind: 'ticks' }));
  const c = settle(pool.run({ kind: 'echo', value: 1 }));
  await new Promise((r) => setTimeout(r, 300));
  await pool.close({ abort: true });
  for (const p of [a, b]) await assert.rejects(p, (e: unknown) => e instanceof PoisonguardError && e.code === 'interrupted' && /abandoned after \d+ ticks/.test(e.message));
  await assert.rejects(c, /closed before the task ran/);
  assert.equal(disposed(dir), 2);
  await assert.rejects(pool.run({ kind: 'echo', value: 1 }), /closed/);
});

test('a close in progress can be turned into an abort (a second Ctrl-C)', async () => {
  const dir = scratchDir('pool-upgrade');
  const pool = new WorkerPool<TestInit, TestTask, number>(WORKER, { dir }, 1);
  const running = settle(pool.run({ kind: 'ticks' }));
  await new Promise((r) => setTimeout(r, 100));
  const closing = pool.close(); // would wait for a task that never ends
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(pool.close({ abort: true }), closing);
  await closing;
  await assert.rejects(running, (e: unknown) => e instanceof PoisonguardError && e.code === 'interrupted');
  assert.equal(disposed(dir), 1, 'released once');
});

test('a worker that does not answer is terminated after the grace', async () => {
  const dir = scratchDir('pool-grace');
  const pool = new WorkerPool<TestInit, TestTask, number>(WORKER, { dir }, 1);
  settle(pool.run({ kind: 'ticks' }));
  await new Promise((r) => setTimeout(r, 100));
  const start = performance.now();
  await pool.close({ graceMs: 200 });
  assert.ok(performance.now() - start < 5_000);
  assert.equal(disposed(dir), 0, 'the busy worker never reached its release');
});
