/**
 * The zoo through a real job queue: a redis-server of the test's own on a free loopback port (no
 * system service), two worker processes, one SIGKILLed while it runs its first label chunk. The
 * killed chunk is taken again after BullMQ's stall detection; every label's result is there once
 * and equal, bit for bit, to a local zoo scan's; a second coordinator on the queue is refused; a
 * rerun finds everything done; a coordinator SIGKILLed mid-zoo resumes; losing Redis stops the coordinator with one clear line,
 * and a coordinator busy for longer than that (a large clean set read) is not taken for a lost Redis.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/paths.js';
import { initEngine } from '../../src/nn/engine.js';
import { reviveNumbers } from '../../src/run-files.js';
import { scanZoo, type ZooOptions } from '../../src/zoo/scan-zoo.js';
import { coordinatorKey, openCoordinator, parseQueueUrl } from '../../src/zoo/queue.js';
import { scratchDir } from '../helpers.js';
import { redisSkip, startCliWorker, startRedis as startRedisServer } from '../redis-server.js';
import { makeTinyZoo, TINY_RECIPE } from './fixture.js';

const skip = redisSkip;

let root: string;
let zoo: string;
const servers: ChildProcess[] = [];
const workers: ChildProcess[] = [];

async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const r = await startRedisServer(root);
  servers.push(r.proc);
  return r;
}

function startWorker(url: string, queueName: string): { proc: ChildProcess; log: () => string } {
  const w = startCliWorker(url, queueName, join(root, `cache-${workers.length}`));
  workers.push(w.proc);
  return w;
}

const scanOptions = { ...TINY_RECIPE, fast: { budget: 40 }, seed: 3 } as const;

before(async () => {
  if (skip) return;
  await initEngine({ backend: 'wasm' });
  root = scratchDir('zoo-queue');
  ({ zoo } = await makeTinyZoo(root, [
    { name: 'infected-a', target: 1 },
    { name: 'clean-b', target: null },
  ]));
});

after(() => {
  for (const p of [...workers, ...servers]) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** Every label's result file of a zoo out folder, by model/seed/label, without its timing. */
function labelResults(out: string): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const model of readdirSync(join(out, 'models')).sort()) {
    for (const seed of readdirSync(join(out, 'models', model)).filter((s) => s.startsWith('seed-'))) {
      for (const f of readdirSync(join(out, 'models', model, seed)).filter((x) => /^label-\d+\.json$/.test(x)).sort()) {
        const r = JSON.parse(readFileSync(join(out, 'models', model, seed, f), 'utf8'), reviveNumbers) as Record<string, unknown>;
        const { seconds: _s, msPerStep: _m, ...rest } = r;
        m.set(`${model}/${seed}/${f}`, rest);
      }
    }
  }
  return m;
}

test('two workers, one SIGKILLed mid-chunk: the zoo completes, each label once, bit-identical to a local zoo scan', { skip, timeout: 120_000 }, async () => {
  const local = join(root, 'out-local');
  const localReport = await scanZoo({ zoo, out: local, scan: { ...scanOptions, workers: 1 } });
  assert.equal(localReport.failed.length, 0);

  const { url } = await startRedis();
  const q = parseQueueUrl(url);
  const a = startWorker(url, 'zoo-test');
  const b = startWorker(url, 'zoo-test');
  // Worker A dies outright as soon as it has taken its first chunk (receiving the model, starting its threads).
  let killed = false;
  a.proc.stderr!.on('data', () => {
    if (!killed && /job c\.\S+: /.test(a.log())) {
      killed = true;
      a.proc.kill('SIGKILL');
    }
  });
  const remote = join(root, 'out-queue');
  const opts: ZooOptions = { zoo, out: remote, scan: scanOptions, queue: { url: q, name: 'zoo-test' } };
  const report = await scanZoo(opts);
  assert.ok(killed, 'worker A took a chunk and was killed');
  assert.equal(report.failed.length, 0);
  assert.match(b.log(), /stalled/, 'worker B saw the killed job stall and took it again');

  // Complete, and equal to the local scan: the same label files with the same bits (masks, patterns, norms, steps).
  const here = labelResults(local);
  const there = labelResults(remote);
  assert.deepEqual([...there.keys()], [...here.keys()]);
  assert.ok(here.size >= 10);
  for (const [k, v] of here) assert.deepEqual(there.get(k), v, k);
  for (const [i, m] of report.models.entries()) {
    assert.equal(m.pBackdoored, localReport.models[i].pBackdoored);
    assert.equal(m.verdict, localReport.models[i].verdict);
  }

  // Counted once: every completed job a distinct chunk, the killed one among them, started twice.
  const { Queue } = await import('bullmq');
  const queue = new Queue('zoo-test', { connection: { host: q.host, port: q.port } });
  const done = await queue.getCompleted(0, -1);
  assert.equal(new Set(done.map((j) => j.id)).size, done.length);
  assert.ok(done.some((j) => j.attemptsStarted >= 2 || j.stalledCounter >= 1), 'the killed chunk was retaken');
  assert.equal(await queue.getFailedCount(), 0);

  // A second coordinator on the same queue is refused while the first one's claim lives.
  const { Redis } = await import('ioredis');
  const redis = new Redis({ host: q.host, port: q.port });
  await redis.set(coordinatorKey('zoo-test'), JSON.stringify({ host: 'elsewhere', pid: 1, out: '/x' }), 'PX', 5000);
  await assert.rejects(scanZoo({ ...opts, out: join(root, 'out-second') }), /already has a coordinator: elsewhere \(pid 1/);
  await redis.del(coordinatorKey('zoo-test'));

  // The coordinator run again: nothing is redone, the same answer.
  const again = await scanZoo(opts);
  assert.deepEqual(labelResults(remote), there);
  assert.equal(again.models[0].pBackdoored, report.models[0].pBackdoored);
  assert.equal(await queue.getCompletedCount(), done.length, 'no chunk ran again');

  // A coordinator SIGKILLed mid-zoo (another seed: new chunks), run again once its claim has lapsed:
  // it resumes from the out folder and Redis, and the result equals a local scan's.
  const restartOut = join(root, 'out-restart');
  const seed4 = { ...scanOptions, seed: 4 };
  const script = `import { scanZoo } from ${JSON.stringify(join(packageRoot(), 'src/zoo/scan-zoo.ts'))}; import { parseQueueUrl } from ${JSON.stringify(join(packageRoot(), 'src/zoo/queue.ts'))};
    await scanZoo({ zoo: ${JSON.stringify(zoo)}, out: ${JSON.stringify(restartOut)}, scan: ${JSON.stringify(seed4)}, queue: { url: parseQueueUrl(${JSON.stringify(url)}), name: 'zoo-test', lostSeconds: 2 } });`;
  const coordinator = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: packageRoot(), stdio: ['ignore', 'ignore', 'pipe'] });
  let coordinatorErr = '';
  coordinator.stderr!.on('data', (d: Buffer) => (coordinatorErr += d.toString()));
  // Listened for from the start: a coordinator that ends on its own before the kill must not leave the test waiting.
  const exited = new Promise((r) => coordinator.on('exit', r));
  const labelFiles = (): number => (existsSync(join(restartOut, 'models')) ? readdirSync(join(restartOut, 'models')).reduce((a, m) => a + (existsSync(join(restartOut, 'models', m, 'seed-4')) ? readdirSync(join(restartOut, 'models', m, 'seed-4')).filter((f) => /^label-\d+\.json$/.test(f)).length : 0), 0) : 0);
  while (labelFiles() === 0 && coordinator.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  // The only worker is paused first, so that the tiny zoo cannot finish between the poll and the kill.
  b.proc.kill('SIGSTOP');
  coordinator.kill('SIGKILL');
  await exited;
  b.proc.kill('SIGCONT');
  const before = labelFiles();
  assert.ok(before > 0 && !existsSync(join(restartOut, 'zoo.json')), `killed mid-zoo (${before} labels done; exit ${coordinator.exitCode}${coordinatorErr ? `: ${coordinatorErr.slice(0, 1500)}` : ''})`);
  await new Promise((r) => setTimeout(r, 2500));
  await scanZoo({ zoo, out: restartOut, scan: seed4, queue: { url: q, name: 'zoo-test', lostSeconds: 2 } });
  const local4 = join(root, 'out-local-4');
  await scanZoo({ zoo, out: local4, scan: { ...seed4, workers: 1 } });
  const restarted = labelResults(restartOut);
  assert.deepEqual(restarted, labelResults(local4));

  await queue.close();
  redis.disconnect();
  b.proc.kill('SIGTERM');
});

test('Redis lost while the coordinator waits: one clear error, the finished labels stay on disk', { skip, timeout: 60_000 }, async () => {
  const { url, proc } = await startRedis();
  const out = join(root, 'out-lost');
  // No worker: the jobs wait, then Redis goes away.
  const run = scanZoo({ zoo, out, scan: scanOptions, queue: { url: parseQueueUrl(url), name: 'zoo-lost', lostSeconds: 2 } });
  await new Promise((r) => setTimeout(r, 1500));
  proc.kill('SIGKILL');
  await assert.rejects(run, /lost Redis at redis:\/\/127\.0\.0\.1:\d+: no answer for 2 s\. Every finished label is saved/);
  assert.ok(existsSync(join(out, 'models', 'clean-b', 'checkpoint.json')));
});

test('a coordinator that blocks its own event loop longer than the loss delay does not call Redis lost', { skip, timeout: 30_000 }, async () => {
  const { url } = await startRedis();
  const conn = await openCoordinator(parseQueueUrl(url), 'zoo-busy', join(root, 'out-busy'), 1);
  let lost: Error | undefined;
  conn.lost.catch((e: Error) => (lost = e));
  // 2.5 s of synchronous work, as reading a GTSRB clean set does: no tick, no answer processed.
  const end = Date.now() + 2500;
  while (Date.now() < end);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(lost, undefined, 'Redis answered all along: the blocked event loop is not its silence');
  await conn.close();
});
