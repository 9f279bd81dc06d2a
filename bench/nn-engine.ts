/**
 * Benchmark of the neural engine: training images/s of the MNIST and GTSRB nets and the time of one
 * Neural Cleanse step (batch 32), on wasm with the project's kernel fixes and, for a couple of
 * iterations as a reference, on the pure-JS cpu backend (and on tfjs-node when it is installed).
 *
 *   node --import tsx bench/nn-engine.ts [--quick] [--profile] [--backends wasm,cpu] [--nets mnist,gtsrb]
 *
 * Writes bench/out/nn-engine.json and replaces the body of the "## Neural engine" section of
 * docs/BENCHMARKS.md. --profile prints where the time goes, per kernel (and writes nothing).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { replaceSection } from './record.js';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { gtsrbNet, mnistNet, type ImageShape } from '../src/nn/architectures.js';
import { initEngine, type BackendName, type EngineInfo } from '../src/nn/engine.js';
import { packageRoot } from '../src/data/paths.js';
import { Random } from '../src/random.js';

/** The recipe being timed (engine.md, cleanse.md). */
const TRAIN_LR = 1e-3;
const NC_LR = 0.1;
const NC_BETA1 = 0.5;
const NC_BETA2 = 0.9;
const NC_EPSILON = 1e-7;
const NC_COST = 1e-3;
const NC_BATCH = 32;
const TANH_SCALE = 2 - 1e-7;

/** Goals and peer figures for the MNIST net on one core (docs: engine.md, peers.md). */
const GOAL_TRAIN_IMG_S = 1300;
const GOAL_NC_MS = 19;
const PEER_TRAIN_IMG_S = 4944;
const PEER_NC_MS = 6.3;

interface NetSpec {
  name: 'mnist' | 'gtsrb';
  build: (seed: number) => tfl.Sequential;
  inputShape: ImageShape;
  classes: number;
  trainBatch: number;
}

const NETS: NetSpec[] = [
  { name: 'mnist', build: (seed) => mnistNet({ seed }), inputShape: [28, 28, 1], classes: 10, trainBatch: 64 },
  { name: 'gtsrb', build: (seed) => gtsrbNet({ seed }), inputShape: [32, 32, 3], classes: 43, trainBatch: 32 },
];

interface Measurement {
  backend: BackendName;
  net: NetSpec['name'];
  trainBatch: number;
  trainSteps: number;
  /** Training images per second of wall-clock time (median of timed rounds). */
  trainImagesPerSecond: number;
  /** Training images per CPU second of this process: the throughput of one dedicated core. */
  trainImagesPerCpuSecond: number;
  ncSteps: number;
  /** Wall-clock milliseconds per Neural Cleanse step of batch 32 (median of timed rounds). */
  ncStepMs: number;
  /** CPU milliseconds per Neural Cleanse step. */
  ncStepCpuMs: number;
}

function randomImages(rng: Random, n: number, shape: ImageShape): tf.Tensor4D {
  const size = n * shape[0] * shape[1] * shape[2];
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.next();
  return tf.tensor4d(data, [n, ...shape]);
}

function randomOneHot(rng: Random, n: number, classes: number): tf.Tensor2D {
  const labels = Array.from({ length: n }, () => rng.int(classes));
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D);
}

interface Timing {
  /** Median wall-clock seconds per call. */
  wall: number;
  /** Median CPU seconds per call of this process (user + system): on a shared machine, the cost on one core. */
  cpu: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Times `step` in rounds of `perRound` calls; returns medians per call over the rounds. */
async function time(step: () => void, warmup: number, rounds: number, perRound: number): Promise<Timing> {
  for (let i = 0; i < warmup; i++) step();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < perRound; i++) step();
    wall.push((performance.now() - t0) / 1000 / perRound);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6 / perRound);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/** One training step: forward in training mode, softmax cross-entropy, backward, Adam. */
function makeTrainStep(model: tfl.Sequential, x: tf.Tensor, y: tf.Tensor, optimizer: tf.Optimizer): () => void {
  return () => {
    tf.tidy(() => {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        true,
      );
      loss?.dataSync(); // wait for the step to finish, as a training loop reading its loss does
    });
  };
}

/**
 * One Neural Cleanse step: stamp x' = (1 − m)·x + m·Δ with m = tanh(w_m)/(2 − ε) + 0.5 (H×W) and
 * Δ = tanh(w_p)/(2 − ε) + 0.5 (H×W×C), forward, cross-entropy to the target + cost·‖m‖₁, backward
 * to w_m and w_p, Adam.
 */
function makeNcStep(model: tfl.Sequential, spec: NetSpec, x: tf.Tensor, target: tf.Tensor, wm: tf.Variable, wp: tf.Variable, optimizer: tf.Optimizer): () => void {
  const [h, w, c] = spec.inputShape;
  return () => {
    tf.tidy(() => {
      const loss = optimizer.minimize(
        () => {
          const mask = tf.reshape(tf.add(tf.div(tf.tanh(wm), TANH_SCALE), 0.5), [1, h, w, 1]);
          const pattern = tf.reshape(tf.add(tf.div(tf.tanh(wp), TANH_SCALE), 0.5), [1, h, w, c]);
          const stamped = tf.add(tf.mul(tf.sub(1, mask), x), tf.mul(mask, pattern));
          const ce = tf.losses.softmaxCrossEntropy(target, model.apply(stamped) as tf.Tensor);
          return tf.add(ce, tf.mul(NC_COST, tf.sum(tf.abs(mask)))) as tf.Scalar;
        },
        true,
        [wm, wp],
      );
      loss?.dataSync();
    });
  };
}

interface Plan {
  warmup: number;
  rounds: number;
  perRound: number;
}

async function measure(backend: BackendName, spec: NetSpec, train: Plan, nc: Plan): Promise<Measurement> {
  const rng = new Random(1);
  const model = spec.build(1);
  const xTrain = randomImages(rng, spec.trainBatch, spec.inputShape);
  const yTrain = randomOneHot(rng, spec.trainBatch, spec.classes);
  const adam = tf.train.adam(TRAIN_LR);
  const trainSeconds = await time(makeTrainStep(model, xTrain, yTrain, adam), train.warmup, train.rounds, train.perRound);

  const [h, w, c] = spec.inputShape;
  const xNc = randomImages(rng, NC_BATCH, spec.inputShape);
  const target = tf.tidy(() => tf.cast(tf.oneHot(tf.fill([NC_BATCH], 0, 'int32') as tf.Tensor1D, spec.classes), 'float32'));
  const wm = tf.variable(tf.randomUniform([h, w], -1, 1, 'float32', 2));
  const wp = tf.variable(tf.randomUniform([h, w, c], -1, 1, 'float32', 3));
  const ncAdam = tf.train.adam(NC_LR, NC_BETA1, NC_BETA2, NC_EPSILON);
  const ncSeconds = await time(makeNcStep(model, spec, xNc, target, wm, wp, ncAdam), nc.warmup, nc.rounds, nc.perRound);

  adam.dispose();
  ncAdam.dispose();
  model.dispose();
  tf.dispose([xTrain, yTrain, xNc, target, wm, wp]);
  return {
    backend,
    net: spec.name,
    trainBatch: spec.trainBatch,
    trainSteps: train.warmup + train.rounds * train.perRound,
    trainImagesPerSecond: spec.trainBatch / trainSeconds.wall,
    trainImagesPerCpuSecond: spec.trainBatch / trainSeconds.cpu,
    ncSteps: nc.warmup + nc.rounds * nc.perRound,
    ncStepMs: ncSeconds.wall * 1000,
    ncStepCpuMs: ncSeconds.cpu * 1000,
  };
}

/** Plans per backend and net: wasm long enough for stable medians, cpu only a couple of steps. */
function plans(backend: BackendName, net: NetSpec['name'], quick: boolean): { train: Plan; nc: Plan } {
  if (backend === 'cpu') return { train: { warmup: 1, rounds: 1, perRound: net === 'mnist' ? 2 : 1 }, nc: { warmup: 1, rounds: 1, perRound: 2 } };
  const scale = quick ? 0.25 : 1;
  const r = (n: number): number => Math.max(1, Math.round(n * scale));
  return net === 'mnist'
    ? { train: { warmup: 10, rounds: r(7), perRound: 20 }, nc: { warmup: 10, rounds: r(7), perRound: 30 } }
    : { train: { warmup: 3, rounds: r(5), perRound: 4 }, nc: { warmup: 3, rounds: r(5), perRound: 5 } };
}

/** Wraps every kernel of the backend to accumulate its wall time (kernels run synchronously on wasm and cpu). */
function installProfiler(backendName: string): Map<string, { ms: number; calls: number }> {
  const stats = new Map<string, { ms: number; calls: number }>();
  for (const config of tf.getKernelsForBackend(backendName)) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        const t0 = process.cpuUsage();
        const out = inner(args);
        const s = stats.get(config.kernelName) ?? { ms: 0, calls: 0 };
        const used = process.cpuUsage(t0);
        s.ms += (used.user + used.system) / 1000;
        s.calls++;
        stats.set(config.kernelName, s);
        return out;
      },
    });
  }
  return stats;
}

async function profile(quick: boolean, nets: NetSpec[]): Promise<void> {
  await initEngine({ backend: 'wasm' });
  const stats = installProfiler('wasm');
  for (const spec of nets) {
    for (const phase of ['train', 'nc'] as const) {
      const p = plans('wasm', spec.name, quick);
      const none: Plan = { warmup: 0, rounds: 1, perRound: 1 };
      stats.clear();
      const t0 = process.cpuUsage();
      const m = await measure('wasm', spec, phase === 'train' ? p.train : none, phase === 'nc' ? p.nc : none);
      const used = process.cpuUsage(t0);
      const total = (used.user + used.system) / 1000;
      const steps = phase === 'train' ? m.trainSteps : m.ncSteps;
      const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14);
      const kernelMs = [...stats.values()].reduce((s, v) => s + v.ms, 0);
      console.log(`\n${spec.name} ${phase}: ${steps} steps, CPU ms per step: ${(total / steps).toFixed(2)} total, ${(kernelMs / steps).toFixed(2)} in kernels`);
      for (const [name, s] of rows) console.log(`  ${name.padEnd(24)} ${(s.ms / steps).toFixed(2).padStart(7)} ms ${(s.calls / steps).toFixed(1).padStart(6)} calls`);
    }
  }
}

function machine(): { nproc: number; cpu: string; node: string; date: string } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux: keep os.cpus()
  }
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // keep os.cpus()
  }
  return { nproc, cpu, node: process.version, date: new Date().toISOString().slice(0, 10) };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }).replace(/,/g, ' ');
}

function section(results: Measurement[], engines: EngineInfo[], m: ReturnType<typeof machine>, load: number[]): string {
  const rate = (v: number): string => fmt(v, v < 100 ? 1 : 0);
  const rows = results.map(
    (r) =>
      `| ${r.backend}${r.backend === 'wasm' ? ' + fixes, 1 thread' : ''} | ${r.net} | ${rate(r.trainImagesPerCpuSecond)} | ` +
      `${rate(r.trainImagesPerSecond)} | ${fmt(r.ncStepCpuMs, 1)} | ${fmt(r.ncStepMs, 1)} | ${r.trainSteps} / ${r.ncSteps} |`,
  );
  const w = results.find((r) => r.backend === 'wasm' && r.net === 'mnist');
  const verdict = w
    ? `MNIST net on wasm, per core (CPU time): ${fmt(w.trainImagesPerCpuSecond)} img/s against the goal of ≥ ${fmt(GOAL_TRAIN_IMG_S)} ` +
      `(${w.trainImagesPerCpuSecond >= GOAL_TRAIN_IMG_S ? 'met' : 'NOT met'}), and ${fmt(w.ncStepCpuMs, 1)} ms per ` +
      `Neural Cleanse step against ≤ ${GOAL_NC_MS} ms (${w.ncStepCpuMs <= GOAL_NC_MS ? 'met' : 'NOT met'}); wall clock: ` +
      `${fmt(w.trainImagesPerSecond)} img/s and ${fmt(w.ncStepMs, 1)} ms. The PyTorch CPU peer, one thread: ` +
      `${fmt(PEER_TRAIN_IMG_S)} img/s and ${PEER_NC_MS} ms (${fmt(PEER_TRAIN_IMG_S / w.trainImagesPerCpuSecond, 1)}x and ` +
      `${fmt(w.ncStepCpuMs / PEER_NC_MS, 1)}x ahead of this engine).`
    : 'The wasm backend was not measured.';
  return [
    `Machine: ${m.nproc} cores (nproc), ${m.cpu}; Node ${m.node}; TensorFlow.js ${engines[0]?.tfjsVersion ?? '?'}; measured ${m.date} ` +
      `by \`bench/nn-engine.ts\`; load average ${load.map((l) => l.toFixed(1)).join(' / ')} at the start (other jobs shared the machine).`,
    '',
    'Training: a custom loop (forward in training mode, softmax cross-entropy, backward, Adam 1e-3); MNIST net',
    "(conv16 5x5-pool-conv32 5x5-pool-dense512-dense10) at batch 64 on 28x28x1, the release's GTSRB net at batch 32",
    'on 32x32x3. Neural Cleanse step: batch 32, stamp (1 − m)·x + m·Δ with tanh-parameterised mask (H×W) and pattern',
    '(H×W×C), cross-entropy to a target + 1e-3·‖m‖₁, backward to both, Adam (0.1, 0.5, 0.9). Medians of timed rounds',
    'after a warm-up. "Per core" divides by the CPU time of the process (what one dedicated core delivers, robust',
    'to other jobs on the machine); "wall" by elapsed time. The cpu backend ran only a couple of steps of the MNIST',
    'net, as a reference (a GTSRB step takes minutes there). On this shared machine (load average ≈ 12 on 2 cores',
    'during development), repeated runs of the same code gave per-core figures up to ±10% apart; wall-clock figures',
    'depend on the load entirely.',
    '',
    '| engine | net | training img/s per core | training img/s wall | NC step ms per core | NC step ms wall | steps timed (train / NC) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    verdict,
    '',
    `Goals (docs: engine.md, peers.md): ≥ ${fmt(GOAL_TRAIN_IMG_S)} img/s training and ≤ ${GOAL_NC_MS} ms per Neural Cleanse step on`,
    `the MNIST net on one core; the PyTorch CPU peer does ${fmt(PEER_TRAIN_IMG_S)} img/s and ${PEER_NC_MS} ms.`,
    '',
    'Rerun: `node --import tsx bench/nn-engine.ts` (a few minutes; `--quick` for a shorter run, `--nets mnist` for one',
    'net, `--profile` to print the CPU time per kernel instead). Raw figures: `bench/out/nn-engine.json`.',
  ].join('\n');
}

/** Replaces the body of `## Neural engine` in docs/BENCHMARKS.md, leaving every other section alone. */
function updateBenchmarksDoc(body: string): void {
  replaceSection(join(packageRoot(), 'docs', 'BENCHMARKS.md'), 'Neural engine', body);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      backends: { type: 'string', default: 'tensorflow,wasm,cpu' },
      nets: { type: 'string', default: 'mnist,gtsrb' },
    },
  });
  const wantedNets = (values.nets ?? '').split(',');
  const nets = NETS.filter((n) => wantedNets.includes(n.name));
  if (values.profile) return profile(values.quick ?? false, nets);

  const load = loadavg();
  const results: Measurement[] = [];
  const engines: EngineInfo[] = [];
  for (const wanted of (values.backends ?? '').split(',').filter(Boolean)) {
    let info: EngineInfo;
    try {
      info = await initEngine({ backend: wanted as BackendName });
    } catch (e) {
      console.error(`skipping ${wanted}: ${(e as Error).message}`);
      continue;
    }
    engines.push(info);
    for (const spec of nets) {
      if (info.backend === 'cpu' && spec.name !== 'mnist') continue; // minutes per step: the MNIST net suffices as a reference
      const p = plans(info.backend, spec.name, values.quick ?? false);
      const r = await measure(info.backend, spec, p.train, p.nc);
      console.error(
        `${r.backend} ${r.net}: training ${fmt(r.trainImagesPerCpuSecond, 1)} img/s per core (${fmt(r.trainImagesPerSecond, 1)} wall), ` +
          `NC step ${fmt(r.ncStepCpuMs, 1)} ms per core (${fmt(r.ncStepMs, 1)} wall)`,
      );
      results.push(r);
    }
  }
  const m = machine();
  const outDir = join(packageRoot(), 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'nn-engine.json'), JSON.stringify({ machine: m, loadAverage: load, engines, results }, null, 2) + '\n');
  updateBenchmarksDoc(section(results, engines, m, load));
}

await main();
