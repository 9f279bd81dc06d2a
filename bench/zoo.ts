/**
 * Zoo throughput through the job queue: a zoo scanned through a redis-server of the bench's own
 * with 1 and then 2 worker processes (each --concurrency 1), the same recipe both times. By default
 * a zoo of tiny models (the tests' 8x8 synthetic nets, 5 labels; half infected with a 2x2 square at
 * one of two corners and varied targets, half clean) and the tests' small recipe in fast mode; with
 * --zoo, the user's zoo (a folder or CSV, as `zoo scan` takes it) with the default recipe in fast
 * mode, as `zoo scan --fast` runs it. Per run: wall time, labels
 * and models per hour, chunk jobs, each job's processing time as BullMQ timed it (taken → finished
 * on the worker) and the queue's overhead per job: worker time not spent processing a job
 * (wall × workers − Σ processing) / jobs, which holds the round trips and the idle time at fast
 * mode's round barriers. The tiny nets make the chunks cheap, so that the overhead shows.
 * Also the zoo's ROC-AUC and cross-entropy with the default calibration and leave-one-out.
 *
 * Run: nice -n 10 node --import tsx bench/zoo.ts [--models 20 | --zoo ZOO] [--workers 1,2] [--keep DIR]
 * Writes bench/out/zoo.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/data/paths.js';
import { initEngine } from '../src/nn/engine.js';
import { leaveOneOut } from '../src/zoo/calibration.js';
import { crossEntropy, rocAuc } from '../src/zoo/metrics.js';
import { parseQueueUrl } from '../src/zoo/queue.js';
import { scanZoo } from '../src/zoo/scan-zoo.js';
import { makeTinyZoo, TINY_RECIPE, type TinyModel } from '../test/zoo/fixture.js';
import { cliFromSource, machineInfo, writeBenchJson } from './record.js';

const { values } = parseArgs({ options: { models: { type: 'string', default: '20' }, zoo: { type: 'string' }, workers: { type: 'string', default: '1,2' }, keep: { type: 'string' } } });
const n = Number(values.models);
const root = values.keep ?? mkdtempSync(join(tmpdir(), 'pg-zoo-bench-'));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function redis(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve) => proc.stdout!.on('data', (d: Buffer) => /Ready to accept/.test(d.toString()) && resolve()));
  return { url: `redis://127.0.0.1:${port}`, proc };
}

function worker(url: string, name: string, k: number): ChildProcess {
  return spawn(process.execPath, [...cliFromSource(), 'worker', '--queue', url, '--queue-name', name, '--quiet', '--cache', join(root, `cache-${name}-${k}`)], { cwd: packageRoot(), stdio: 'ignore' });
}

// The tiny models' recipe runs on wasm; a user's zoo runs as `zoo scan` does (the engine the scans choose).
if (values.zoo === undefined) await initEngine({ backend: 'wasm' });
const models: TinyModel[] = Array.from({ length: n }, (_, k) => (k % 2 === 0 ? { name: `infected-${k}`, target: [1, 3, 0, 4, 2][(k / 2) % 5], position: k % 4 === 0 ? 'bottom-right' : 'top-left' } : { name: `clean-${k}`, target: null }));
const zoo = values.zoo ?? (existsSync(join(root, 'zoo')) ? join(root, 'zoo') : (await makeTinyZoo(root, models)).zoo);
// `zoo scan --fast`'s options for a user's zoo (its defaults: scan.ts's recipe, seed 0).
const scan = values.zoo === undefined ? ({ ...TINY_RECIPE, fast: { budget: 40 }, seed: 3 } as const) : ({ fast: true, seed: 0 } as const);
/** Labels a model's scan searched (its scan.json: the first run's labels). */
const labelsOf = (out: string, model: string): number => {
  const s = JSON.parse(readFileSync(join(out, 'models', model, 'scan.json'), 'utf8')) as { runs: { labels: unknown[] }[] };
  return s.runs[0].labels.length;
};

const runs = [];
for (const workers of values.workers.split(',').map(Number)) {
  const { url, proc } = await redis();
  const name = `bench-${workers}`;
  const procs = Array.from({ length: workers }, (_, k) => worker(url, name, k));
  const t0 = performance.now();
  const out = join(root, `out-${workers}`);
  const report = await scanZoo({ zoo, out, scan, queue: { url: parseQueueUrl(url), name } });
  const wall = (performance.now() - t0) / 1000;
  const { Queue } = await import('bullmq');
  const q = parseQueueUrl(url);
  const queue = new Queue(name, { connection: { host: q.host, port: q.port } });
  const jobs = await queue.getCompleted(0, -1);
  await queue.close();
  const processing = jobs.map((j) => ((j.finishedOn ?? 0) - (j.processedOn ?? 0)) / 1000);
  const sum = processing.reduce((a, b) => a + b, 0);
  const labels = report.models.reduce((a, m) => a + (m.status === 'scanned' ? labelsOf(out, m.name) : 0), 0);
  const scored = report.models.filter((m) => m.truth && m.status === 'scanned');
  const rows = scored.map((m) => ({ features: m.features!, infected: m.truth!.infected }));
  const loo = leaveOneOut(rows, scan);
  const run = {
    workers,
    wallSeconds: wall,
    models: report.models.length,
    labels,
    labelsPerHour: (3600 * labels) / wall,
    modelsPerHour: (3600 * report.models.length) / wall,
    jobs: jobs.length,
    jobProcessingMs: { mean: (1000 * sum) / jobs.length, max: 1000 * Math.max(...processing) },
    overheadPerJobMs: (1000 * (wall * workers - sum)) / jobs.length,
    defaultCalibration: { rocAuc: report.metrics?.rocAuc, crossEntropy: report.metrics?.crossEntropy, confusion: report.metrics?.confusion },
    leaveOneOut: { rocAuc: rocAuc(loo.map((p, i) => ({ p, infected: rows[i].infected }))), crossEntropy: crossEntropy(loo.map((p, i) => ({ p, infected: rows[i].infected }))) },
    perModel: report.models.map((m, i) => ({ name: m.name, infected: m.truth?.infected, verdict: m.verdict, p: m.pBackdoored, pLeaveOneOut: loo[scored.indexOf(m)] ?? null, anomalyIndex: m.features?.anomalyIndex })),
  };
  runs.push(run);
  console.log(JSON.stringify({ ...run, perModel: undefined }));
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  proc.kill('SIGTERM');
}
console.log(`written ${writeBenchJson(values.zoo === undefined ? 'zoo' : 'zoo-nets', { machine: machineInfo(), zoo, recipe: scan, runs })}`);
process.exit(0);
