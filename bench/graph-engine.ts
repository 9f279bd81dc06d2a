/**
 * The graph engine side by side with PyTorch (bench/torch/peer.py), in the same run, on the same nets.
 *
 * Work, per net and thread count, measured as peer.py measures it (warm-up steps, then up to --iters
 * timed steps, fewer once --budget seconds have passed but at least 3; wall and CPU ms per step,
 * images/s, the process's peak resident memory):
 *  - "nc": one Neural Cleanse step on a mini-batch of 32 on the scan's own path (nativeBatchEngine:
 *    stamping, preprocessing, the input-gradient program on onnxruntime, chain rule to the mask and
 *    pattern, Adam on arrays; the release recipe's defaults);
 *  - "train": one training step at batch 32 and 128 with BatchNorm frozen (eval mode, dropout off)
 *    and in train mode (batch statistics, running averages updated, dropout on), by the project's
 *    trainer (trainGraph: batch assembly and preprocessing, the training program's loss and every
 *    weight's gradient on onnxruntime, Adam with lr 1e-3 on the weight arrays).
 * The nets are peer.py's own, exported by `peer.py --export-dir DIR` (same seeded weights, ONNX) and
 * read with loadOnnxGraph: the MNIST net, the GTSRB net and the CIFAR ResNet-18. The scan step is
 * also measured on the project's tf.layers MNIST and GTSRB nets (the path a scan of a model folder
 * takes today; other weights, same layers).
 *
 * Every measurement runs in a process of its own (so its peak memory is its own), and the driver
 * alternates the two sides measurement by measurement (A B, then B A), so that a change of load on
 * the shared machine hits both. One table: poisonguard against PyTorch, and the speed ratio.
 *
 * Run: node --import tsx bench/graph-engine.ts [--models /tmp/pg-bench] [--python python3]
 *        [--nets mnist,gtsrb,resnet18] [--threads 1,2] [--tasks nc,train] [--warmup 5] [--iters 30]
 *        [--budget 30] [--rounds 1] [--peer-blas DIR] [--write-docs]
 *      node --import tsx bench/graph-engine.ts --from-json   (the docs section again from bench/out/graph-engine.json)
 *      node --import tsx bench/graph-engine.ts --side engine --net resnet18 --task train --mode eval
 *        --batch 32 --threads 1 [--profile /tmp/pg-prof/resnet18]   (one measurement; with --profile,
 *        onnxruntime's profiler on and the top kernels printed to stderr)
 * --models DIR must lie outside the repository; missing exports are written there by peer.py first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { loadOnnxGraph } from '../src/graph/onnx-load.js';
import type { ClassifierGraph } from '../src/graph/ir.js';
import { BATCH } from '../src/graph/ir.js';
import { classCount, createGradientRunner, createInputGradientRunner, type RunnerOptions } from '../src/graph/runtime.js';
import { packageRoot } from '../src/data/paths.js';
import { Random } from '../src/random.js';
import { machineInfo, peerEnv, replaceSection, writeBenchJson } from './record.js';

const NETS = ['mnist', 'gtsrb', 'resnet18'] as const;
type Net = (typeof NETS)[number];
/** Nets the project also builds as tf.layers models (the scan's path for a model folder). */
const LAYERS_NETS: readonly Net[] = ['mnist', 'gtsrb'];
/** peer.py's training recipe: Adam with PyTorch's defaults, lr 1e-3. */
const TRAIN = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;
/** PyTorch's BatchNorm momentum: running ← (1 − m)·running + m·batch statistic (unbiased variance). */
const BN_MOMENTUM = 0.1;
const NC_BATCH = 32;
const TRAIN_BATCHES = [32, 128];
const MODES = ['eval', 'train'] as const;
/** peer.py's MIN_TIMED_STEPS. */
const MIN_TIMED_STEPS = 3;
const SEED = 0;
const SECTION = 'Graph engine against PyTorch';

const { values } = parseArgs({
  options: {
    side: { type: 'string', default: 'driver' },
    models: { type: 'string', default: '/tmp/pg-bench' },
    python: { type: 'string', default: 'python3' },
    'peer-blas': { type: 'string' },
    nets: { type: 'string', default: NETS.join(',') },
    threads: { type: 'string', default: '1,2' },
    tasks: { type: 'string', default: 'nc,train' },
    warmup: { type: 'string', default: '5' },
    iters: { type: 'string', default: '30' },
    budget: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '1' },
    'write-docs': { type: 'boolean', default: false },
    'from-json': { type: 'boolean', default: false },
    // One measurement (--side engine):
    net: { type: 'string' },
    source: { type: 'string', default: 'onnx' },
    task: { type: 'string' },
    mode: { type: 'string', default: 'eval' },
    batch: { type: 'string' },
    profile: { type: 'string' },
  },
});

/** One measurement, in peer.py's record format (plus where the engine's net came from). */
interface Result {
  net: string;
  task: 'nc_step' | 'train_step';
  threads: number;
  batch: number;
  model_mode: 'eval' | 'train';
  warmup: number;
  iters: number;
  ms_per_step: number;
  cpu_ms_per_step: number;
  img_per_s: number;
  max_rss_mb: number;
  /** The engine's net: peer.py's ONNX export, or the project's tf.layers net. */
  source?: 'onnx' | 'layers';
}

interface Spec {
  net: Net;
  task: 'nc' | 'train';
  threads: number;
  mode: 'eval' | 'train';
  batch: number;
  source: 'onnx' | 'layers';
}

const positiveInt = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < (name === 'warmup' ? 0 : 1)) throw new Error(`--${name} must be a ${name === 'warmup' ? 'non-negative' : 'positive'} integer, got '${v}'`);
  return n;
};
const warmup = positiveInt('warmup', values.warmup!);
const iters = positiveInt('iters', values.iters!);
const budget = Number(values.budget);
if (!(budget > 0)) throw new Error(`--budget must be a positive number of seconds, got '${values.budget}'`);

// ---------------------------------------------------------------------------------------------
// The engine's side: one measurement in this process.

/** peer.py's `timed`: warm-up, then up to `iters` steps, stopping once `budget` seconds have passed. */
async function timed(step: () => Promise<void>): Promise<{ wall: number; cpu: number; done: number }> {
  for (let i = 0; i < warmup; i++) await step();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  let done = 0;
  while (done < iters) {
    await step();
    done += 1;
    if (done >= MIN_TIMED_STEPS && (performance.now() - w0) / 1000 > budget) break;
  }
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - w0) / 1000, cpu: (c.user + c.system) / 1e6, done };
}

function uniform(rng: Random, n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * scale;
  return a;
}

/** The graph of a spec, with the tf.layers model it came from when there is one. */
async function graphOf(spec: Spec): Promise<{ graph: ClassifierGraph; model?: import('@tensorflow/tfjs-layers').LayersModel }> {
  if (spec.source === 'onnx') {
    const file = join(values.models!, `${spec.net}.onnx`);
    return { graph: loadOnnxGraph(readFileSync(file), { source: basename(file) }) };
  }
  // Imported here so that the ONNX measurements' memory holds no TensorFlow.js.
  const { initEngine } = await import('../src/nn/engine.js');
  const { gtsrbNet, mnistNet } = await import('../src/nn/architectures.js');
  const { layersToGraph } = await import('../src/nn/layers-graph.js');
  await initEngine({ backend: 'auto' });
  if (!LAYERS_NETS.includes(spec.net)) throw new Error(`no tf.layers build of '${spec.net}'`);
  const model = spec.net === 'mnist' ? mnistNet({ seed: SEED }) : gtsrbNet({ seed: SEED });
  return { graph: layersToGraph(model).graph, model };
}

/** [H, W, C] of the graph's input: NCHW for the PyTorch exports, NHWC for the tf.layers nets. */
function imageShape(graph: ClassifierGraph, source: Spec['source']): [number, number, number] {
  const [, a, b, c] = graph.input.shape;
  return source === 'onnx' ? [b, c, a] : [a, b, c];
}

async function measureNc(spec: Spec, runner: RunnerOptions): Promise<() => Promise<void>> {
  const { nativeBatchEngine } = await import('../src/cleanse/batch-engines.js');
  const { createLabelState } = await import('../src/cleanse/reverse.js');
  const { resolveReverseRecipe } = await import('../src/cleanse/recipe.js');
  const { DEFAULT_PREPROCESSING } = await import('../src/nn/preprocess.js');
  const { graph, model } = await graphOf(spec);
  const recipe = resolveReverseRecipe({ batchSize: NC_BATCH });
  const [H, W, C] = imageShape(graph, spec.source);
  const gradient = await createInputGradientRunner(graph, recipe.loss, runner);
  toRelease.push(() => gradient.dispose());
  // The scan's batch engine takes the tf.layers model only to ask whether it ends in a softmax;
  // peer.py's nets end in logits, as the graph says. The engine stamps in NHWC order; an NCHW
  // export reads the same number of values in another order, which changes the numbers, not the
  // work (a scan of an NCHW model puts a Transpose in front of the graph: not in these figures).
  if (model === undefined && graph.endsInSoftmax) throw new Error(`${spec.net}: an export ending in softmax is not one of peer.py's nets`);
  const ctxModel = model ?? ({ layers: [] } as unknown as import('@tensorflow/tfjs-layers').LayersModel);
  const ctx = {
    model: ctxModel,
    data: { images: new Uint8Array(0), count: 0, height: H, width: W, channels: C },
    preprocessing: DEFAULT_PREPROCESSING,
    recipe,
    numClasses: classCount(graph),
    gradient,
  };
  const state = createLabelState(0, SEED, recipe, H, W, C);
  const engine = nativeBatchEngine(ctx, state, gradient);
  // Raw pixels 0..255, preprocessed to [0, 1] by the recipe's default (peer.py: uniform in [0, 1]).
  const raw = uniform(new Random(SEED), NC_BATCH * H * W * C, 255);
  let t = 0;
  return async () => {
    t += 1;
    await engine.step(raw, t, recipe.initCost);
  };
}

async function measureTrain(spec: Spec, runner: RunnerOptions): Promise<() => Promise<void>> {
  const { graph } = await graphOf(spec);
  const gradient = await createGradientRunner(graph, { ...runner, batchNorm: spec.mode === 'train' ? 'train' : 'frozen' });
  toRelease.push(() => gradient.dispose());
  const rng = new Random(SEED);
  const N = spec.batch;
  const item = graph.input.shape.reduce((p, d) => (d === BATCH ? p : p * d), 1);
  const x = uniform(rng, N * item, 1);
  const K = classCount(graph);
  const labels = Int32Array.from({ length: N }, () => Math.floor(rng.next() * K));
  const weights = new Map<string, Float32Array>();
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const name of gradient.parameters) {
    weights.set(name, graph.weights.get(name)!.data.slice());
    moments.set(name, { m: new Float32Array(weights.get(name)!.length), v: new Float32Array(weights.get(name)!.length) });
  }
  // Train-mode BatchNorm: the running statistics (inputs 3 and 4 of the node) updated from the batch's.
  // PyTorch keeps the unbiased variance: the batch's times n/(n − 1), n the values per channel.
  const running = new Map<string, { mean: Float32Array; variance: Float32Array; unbias: number }>();
  for (const node of graph.nodes) {
    if (node.op === 'BatchNormalization' && gradient.batchNorms.includes(node.name)) {
      const n = graph.shapes.get(node.inputs[0])!.reduce((p, d, i) => (i === 1 ? p : p * (d === BATCH ? N : d)), 1);
      running.set(node.name, { mean: graph.weights.get(node.inputs[3])!.data.slice(), variance: graph.weights.get(node.inputs[4])!.data.slice(), unbias: n / Math.max(1, n - 1) });
    }
  }
  const masks: Record<string, Float32Array> = {};
  for (const d of gradient.dropouts) masks[d.node] = new Float32Array(d.shape.reduce((p, v) => p * (v === BATCH ? N : v), 1)).fill(1);
  let t = 0;
  return async () => {
    t += 1;
    if (spec.mode === 'train') {
      for (const d of gradient.dropouts) {
        const mask = masks[d.node];
        const keep = 1 - d.rate;
        for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < keep ? 1 / keep : 0;
      }
    }
    const r = await gradient.run(weights, { x, batch: N, labels, masks });
    // Adam (PyTorch's form: bias corrections on m and v, ε outside the square root).
    const c1 = 1 - TRAIN.beta1 ** t;
    const c2 = 1 - TRAIN.beta2 ** t;
    for (const name of gradient.parameters) {
      const w = weights.get(name)!;
      const g = r.grads.get(name)!;
      const { m, v } = moments.get(name)!;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i];
        m[i] = TRAIN.beta1 * m[i] + (1 - TRAIN.beta1) * gi;
        v[i] = TRAIN.beta2 * v[i] + (1 - TRAIN.beta2) * gi * gi;
        w[i] -= (TRAIN.lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + TRAIN.epsilon);
      }
    }
    for (const [name, stats] of r.batchStatistics) {
      const run = running.get(name)!;
      for (let c = 0; c < run.mean.length; c++) {
        run.mean[c] = (1 - BN_MOMENTUM) * run.mean[c] + BN_MOMENTUM * stats.mean[c];
        run.variance[c] = (1 - BN_MOMENTUM) * run.variance[c] + BN_MOMENTUM * stats.variance[c] * run.unbias;
      }
    }
  };
}

/** Thrown from the trainer's progress hook to end a measurement once its budget is spent. */
class BudgetSpent extends Error {}

/**
 * The project's trainer (trainGraph) on a set of random images, one epoch of warm-up + timed steps,
 * timed between its progress calls (one per step): what `train` runs, batch assembly and
 * preprocessing included, where peer.py reuses one input tensor. It cannot be told to stop after a
 * budget, so the progress hook ends the epoch by throwing once the budget is spent.
 */
async function timedTrainer(spec: Spec): Promise<{ wall: number; cpu: number; done: number }> {
  const { trainGraph } = await import('../src/nn/train-native.js');
  const { graph } = await graphOf(spec);
  const [H, W, C] = imageShape(graph, spec.source);
  const K = classCount(graph);
  const rng = new Random(SEED);
  const count = (warmup + iters) * spec.batch;
  const images = new Uint8Array(count * H * W * C);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(rng.next() * 256);
  const labels = Int32Array.from({ length: count }, () => Math.floor(rng.next() * K));
  let steps = 0;
  // Reset after the warm-up steps (with none, the session's creation is timed too).
  let w0 = performance.now();
  let c0 = process.cpuUsage();
  let last = { wall: 0, cpu: 0, done: 0 };
  try {
    await trainGraph(graph, new Map(), { images, labels, count, height: H, width: W, channels: C }, {
      epochs: 1,
      batchSize: spec.batch,
      learningRate: TRAIN.lr,
      seed: SEED,
      batchNorm: spec.mode === 'train' ? 'train' : 'frozen',
      threads: spec.threads,
      onProgress: () => {
        steps += 1;
        if (steps === warmup) {
          w0 = performance.now();
          c0 = process.cpuUsage();
          return;
        }
        if (steps < warmup) return;
        const c = process.cpuUsage(c0);
        last = { wall: (performance.now() - w0) / 1000, cpu: (c.user + c.system) / 1e6, done: steps - warmup };
        if (last.done >= MIN_TIMED_STEPS && last.wall > budget) throw new BudgetSpent();
      },
    });
  } catch (e) {
    if (!(e instanceof BudgetSpent)) throw e;
  }
  return last;
}

/** Top operators and nodes by kernel time in an onnxruntime trace. */
function summariseProfile(file: string, batch: number): string {
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat?: string; name?: string; dur?: number; args?: { op_name?: string; input_type_shape?: Record<string, number[]>[] } }[];
  const byOp = new Map<string, number>();
  const byNode = new Map<string, number>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || e.dur === undefined) continue;
    // A weight gradient is a Conv of the input by the output gradient, both with the batch as their
    // second dimension (ops.ts): told apart from the forward and input-gradient convolutions.
    const shapes = (e.args?.input_type_shape ?? []).map((s) => Object.values(s)[0] ?? []);
    const op = e.args?.op_name === 'Conv' && shapes.length >= 2 && shapes[0][1] === batch && shapes[1][1] === batch ? 'Conv (weight gradient)' : (e.args?.op_name ?? '?');
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    const node = `${e.name.replace(/_kernel_time$/, '')} (${op})`;
    byNode.set(node, (byNode.get(node) ?? 0) + e.dur);
    total += e.dur;
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(9)} ms  ${k}`)
      .join('\n');
  return `kernel time ${(total / 1000).toFixed(0)} ms in ${file}\nby operator:\n${top(byOp, 12)}\nby node:\n${top(byNode, 15)}\n`;
}

async function engineSide(): Promise<void> {
  const spec: Spec = {
    net: values.net as Net,
    task: values.task as Spec['task'],
    threads: positiveInt('threads', values.threads!),
    mode: values.mode as Spec['mode'],
    batch: values.batch === undefined ? NC_BATCH : positiveInt('batch', values.batch),
    source: values.source as Spec['source'],
  };
  if (!NETS.includes(spec.net)) throw new Error(`--net must be one of ${NETS.join(', ')}`);
  if (spec.task !== 'nc' && spec.task !== 'train') throw new Error('--task must be nc or train');
  if (!(MODES as readonly string[]).includes(spec.mode)) throw new Error(`--mode must be one of ${MODES.join(', ')}`);
  if (spec.source !== 'onnx' && spec.source !== 'layers') throw new Error('--source must be onnx or layers');
  const runner: RunnerOptions = { threads: spec.threads, ...(values.profile ? { profileFilePrefix: values.profile } : {}) };
  // Training: the project's trainer; under the profiler, its training program with Adam written
  // here (trainGraph takes no profiler option; the program on onnxruntime is the same).
  const { wall, cpu, done } =
    spec.task === 'train' && !values.profile ? await timedTrainer(spec) : await timed(spec.task === 'nc' ? await measureNc(spec, runner) : await measureTrain(spec, runner));
  const batch = spec.task === 'nc' ? NC_BATCH : spec.batch;
  const result: Result = {
    net: spec.net,
    task: spec.task === 'nc' ? 'nc_step' : 'train_step',
    threads: spec.threads,
    batch,
    model_mode: spec.task === 'nc' ? 'eval' : spec.mode,
    warmup,
    iters: done,
    ms_per_step: round((1000 * wall) / done, 3),
    cpu_ms_per_step: round((1000 * cpu) / done, 3),
    img_per_s: round((batch * done) / wall, 1),
    // maxRSS is in kilobytes, as Python's ru_maxrss on Linux.
    max_rss_mb: round(process.resourceUsage().maxRSS / 1024, 1),
    source: spec.source,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (values.profile) {
    // The runners write their traces when released; the process ends here, so release them now.
    const dir = dirname(resolve(values.profile));
    await releaseAll();
    const prefix = basename(values.profile);
    const traces = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort();
    if (traces.length > 0) process.stderr.write(summariseProfile(join(dir, traces[traces.length - 1]), spec.task === 'nc' ? NC_BATCH : spec.batch));
  }
}

const round = (v: number, digits: number): number => Number(v.toFixed(digits));

// ---------------------------------------------------------------------------------------------
// The driver: both sides, measurement by measurement.

/** Specs of the run, in the order measured. */
function specs(): Spec[] {
  const nets = values.nets!.split(',').filter(Boolean) as Net[];
  for (const n of nets) if (!NETS.includes(n)) throw new Error(`unknown net '${n}'; known: ${NETS.join(', ')}`);
  const tasks = values.tasks!.split(',').filter(Boolean);
  for (const t of tasks) if (t !== 'nc' && t !== 'train') throw new Error(`unknown task '${t}'; known: nc, train`);
  const threads = values.threads!.split(',').map((t) => positiveInt('threads', t));
  const out: Spec[] = [];
  for (const th of threads) {
    for (const net of nets) {
      if (tasks.includes('nc')) out.push({ net, task: 'nc', threads: th, mode: 'eval', batch: NC_BATCH, source: 'onnx' });
      if (tasks.includes('train')) for (const mode of MODES) for (const batch of TRAIN_BATCHES) out.push({ net, task: 'train', threads: th, mode, batch, source: 'onnx' });
    }
  }
  return out;
}

function common(): string[] {
  return ['--warmup', String(warmup), '--iters', String(iters), '--budget', String(budget)];
}

function peer(spec: Spec): Result {
  const args = [join(packageRoot(), 'bench', 'torch', 'peer.py'), '--nets', spec.net, '--threads', String(spec.threads), '--tasks', spec.task, '--modes', spec.mode, '--batches', String(spec.batch), ...common()];
  const env = peerEnv(values['peer-blas']);
  const doc = JSON.parse(spawnChecked(values.python!, args, env)) as { results: Result[]; torch_version: string };
  torchVersion = doc.torch_version;
  return doc.results[0];
}

function engine(spec: Spec): Result {
  const args = ['--import', 'tsx', join(packageRoot(), 'bench', 'graph-engine.ts'), '--side', 'engine', '--models', values.models!, '--net', spec.net, '--task', spec.task, '--threads', String(spec.threads), '--mode', spec.mode, '--batch', String(spec.batch), '--source', spec.source, ...common()];
  return JSON.parse(spawnChecked(process.execPath, args).trim().split('\n').pop()!) as Result;
}

function spawnChecked(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${(r.stderr ?? '').slice(-2000)}`);
  return r.stdout;
}

let torchVersion = '?';

/** Writes peer.py's exports into --models when any is missing; the folder must be outside the repository. */
function ensureExports(nets: readonly Net[]): void {
  const root = realpathSync(packageRoot());
  const dir = resolve(values.models!);
  const real = existsSync(dir) ? realpathSync(dir) : dir;
  if (real === root || real.startsWith(root + sep)) throw new Error(`--models ${dir} is inside the repository; models stay outside it`);
  const missing = nets.filter((n) => !existsSync(join(dir, `${n}.onnx`)));
  if (missing.length === 0) return;
  process.stderr.write(`exporting ${missing.join(', ')} to ${dir}\n`);
  spawnChecked(values.python!, [join(packageRoot(), 'bench', 'torch', 'peer.py'), '--nets', missing.join(','), '--export-dir', dir]);
}

interface Pair {
  spec: Spec;
  engine: Result[];
  peer: Result[];
  /** Load average (1 min) before each pair. */
  load: number[];
}

interface Report {
  machine: ReturnType<typeof machineInfo>;
  torchVersion: string;
  settings: { warmup: number; iters: number; budget: number; rounds: number; peerBlas?: string };
  pairs: Pair[];
  /** The scan step on the project's tf.layers nets (engine only). */
  layers: Result[];
  finished: string;
  loadAtEnd: number[];
}

async function driver(): Promise<void> {
  const machine = machineInfo();
  const list = specs();
  const rounds = positiveInt('rounds', values.rounds!);
  ensureExports([...new Set(list.map((s) => s.net))]);
  const pairs: Pair[] = list.map((spec) => ({ spec, engine: [], peer: [], load: [] }));
  let k = 0;
  for (let r = 0; r < rounds; r++) {
    for (const pair of pairs) {
      pair.load.push(round((await import('node:os')).loadavg()[0], 2));
      // Alternate which side goes first, so that neither always runs on the fresher machine.
      const order = k++ % 2 === 0 ? ['engine', 'peer'] : ['peer', 'engine'];
      for (const side of order) (side === 'engine' ? pair.engine : pair.peer).push(side === 'engine' ? engine(pair.spec) : peer(pair.spec));
      process.stderr.write(`${line(pair)}\n`);
    }
  }
  const layers: Result[] = [];
  if (list.some((s) => s.task === 'nc')) {
    for (const th of [...new Set(list.map((s) => s.threads))]) {
      for (const net of LAYERS_NETS.filter((n) => list.some((s) => s.net === n))) {
        const res = engine({ net, task: 'nc', threads: th, mode: 'eval', batch: NC_BATCH, source: 'layers' });
        layers.push(res);
        process.stderr.write(`${net} nc (tf.layers net) threads=${th}: ${res.ms_per_step} ms/step\n`);
      }
    }
  }
  const report: Report = { machine, torchVersion, settings: { warmup, iters, budget, rounds, ...(values['peer-blas'] ? { peerBlas: values['peer-blas'] } : {}) }, pairs, layers, finished: new Date().toISOString(), loadAtEnd: machineInfo().load };
  const file = writeBenchJson('graph-engine', report);
  process.stdout.write(`${table(report)}\n\nRaw figures: ${file}\n`);
  if (values['write-docs']) writeDocs(report);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The pair's medians over the rounds; speed = PyTorch's wall time per step over ours (> 1: faster). */
function summary(p: Pair) {
  const e = (f: keyof Result) => median(p.engine.map((r) => r[f] as number));
  const q = (f: keyof Result) => median(p.peer.map((r) => r[f] as number));
  const speed = median(p.engine.map((r, i) => p.peer[i].ms_per_step / r.ms_per_step));
  const cpuSpeed = median(p.engine.map((r, i) => p.peer[i].cpu_ms_per_step / r.cpu_ms_per_step));
  return { cpuSpeed, eMs: e('ms_per_step'), eCpu: e('cpu_ms_per_step'), eImg: e('img_per_s'), eRss: e('max_rss_mb'), pMs: q('ms_per_step'), pCpu: q('cpu_ms_per_step'), pImg: q('img_per_s'), pRss: q('max_rss_mb'), speed };
}

const work = (s: Spec): string => (s.task === 'nc' ? 'NC step, batch 32' : `training, batch ${s.batch}, ${s.mode === 'eval' ? 'BN frozen' : 'BN train mode'}`);

function line(p: Pair): string {
  const s = summary(p);
  return `${p.spec.net} ${work(p.spec)} threads=${p.spec.threads}: poisonguard ${s.eMs.toFixed(1)} ms (${s.eImg} img/s), PyTorch ${s.pMs.toFixed(1)} ms (${s.pImg} img/s), speed ${s.speed.toFixed(2)}x`;
}

const fmt = (v: number, d = 1): string => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }).replace(/,/g, ' ');

function table(report: Report): string {
  const head =
    '| net | work | threads | poisonguard ms/step (CPU ms) | PyTorch ms/step (CPU ms) | poisonguard img/s | PyTorch img/s | speed vs PyTorch (wall) | goal | by CPU time | peak RSS MB poisonguard / PyTorch |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = report.pairs.map((p) => {
    const s = summary(p);
    const met = s.speed >= 1 ? 'met' : `missed (${fmt((1 / s.speed - 1) * 100, 0)}% slower)`;
    return `| ${p.spec.net} | ${work(p.spec)} | ${p.spec.threads} | **${fmt(s.eMs)}** (${fmt(s.eCpu)}) | ${fmt(s.pMs)} (${fmt(s.pCpu)}) | ${fmt(s.eImg, 0)} | ${fmt(s.pImg, 0)} | **${s.speed.toFixed(2)}x** | ${met} | ${s.cpuSpeed.toFixed(2)}x | ${fmt(s.eRss, 0)} / ${fmt(s.pRss, 0)} |`;
  });
  return [head, ...rows].join('\n');
}

function writeDocs(report: Report): void {
  const m = report.machine;
  const { warmup: w, iters: it, budget: b, rounds, peerBlas } = report.settings;
  const layers = report.layers.length
    ? `\nThe scan step on the project's own tf.layers nets (the path a scan of a model folder takes today: NHWC, other weights, same layers), engine only:\n\n| net | threads | ms/step (CPU ms) | peak RSS MB |\n|---|---|---|---|\n${report.layers
        .map((r) => `| ${r.net} | ${r.threads} | ${fmt(r.ms_per_step)} (${fmt(r.cpu_ms_per_step)}) | ${fmt(r.max_rss_mb, 0)} |`)
        .join('\n')}\n`
    : '';
  replaceSection(
    join(packageRoot(), 'docs', 'BENCHMARKS.md'),
    SECTION,
    `Machine: ${m.nproc} cores (${m.cpu}), Node ${m.node}, onnxruntime-node ${ortVersion()}, PyTorch ${report.torchVersion} (Debian's python3-torch${peerBlas ? `, BLAS from ${peerBlas}` : ', the BLAS libblas.so.3 resolves to'}); ${m.date.slice(0, 16).replace('T', ' ')}–${report.finished.slice(11, 16)} UTC; load average ${m.load.join(' / ')} at the start, ${report.loadAtEnd.join(' / ')} at the end (the machine is shared: other people's jobs ran beside this one).
Rerun: \`node --import tsx bench/graph-engine.ts --warmup ${w} --iters ${it} --budget ${b}${rounds > 1 ? ` --rounds ${rounds}` : ''}${peerBlas ? ` --peer-blas ${peerBlas}` : ''} --write-docs\` (exports peer.py's nets to /tmp/pg-bench first if they are not there; \`--python /usr/bin/python3\` if \`python3\` is another Python).

The same nets on both sides: peer.py's MNIST net, GTSRB net and CIFAR ResNet-18 (11 173 962 parameters), exported by \`peer.py --export-dir\` and read by loadOnnxGraph. Each measurement is a process of its own (its peak resident memory is its own); the two sides run one after the other, measurement by measurement, the first side alternating. Per measurement: ${w} warm-up steps, then up to ${it} timed steps (fewer once ${b} s have passed, at least 3)${rounds > 1 ? `; ${rounds} rounds, medians` : ''}. "Speed" is PyTorch's wall time per step over poisonguard's (above 1: poisonguard is faster; for training, the ratio of images/s), the median of the pairs' ratios; "by CPU time" the same with CPU time, which on one thread is what a dedicated core would take and moves less with the other jobs on the machine. CPU ms count every thread of the process (two-thread runs include the thread pools' spinning).

- Neural Cleanse step: the scan's batch engine (stamping and preprocessing on arrays, the input-gradient program on onnxruntime, chain rule to the mask and pattern, Adam on arrays); PyTorch: the same step with autograd. The engine stamps in NHWC order and the exports read NCHW (same work, other numbers; a scan of an NCHW model adds a Transpose in front of the graph, not in these figures).
- Training: the project's trainer, \`trainGraph\` (src/nn/train-native.ts): each step assembles and preprocesses the batch from raw pixels (transposed to NCHW for these exports), runs the training program (loss and every weight's gradient) on onnxruntime and Adam (lr 1e-3) on the weight arrays; train mode: batch statistics, running averages updated. PyTorch reuses one input tensor. peer.py's GTSRB export has no Dropout nodes (exported in eval mode), so in train mode only PyTorch runs dropout there.

${table(report)}
${layers}
Raw figures: \`bench/out/graph-engine.json\`.`,
  );
}

function ortVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** Runners created by this process (released before reading a profile). */
const toRelease: (() => Promise<void>)[] = [];
async function releaseAll(): Promise<void> {
  for (const f of toRelease.splice(0)) await f();
}

if (values['from-json']) {
  const report = JSON.parse(readFileSync(join(packageRoot(), 'bench', 'out', 'graph-engine.json'), 'utf8')) as Report;
  process.stdout.write(`${table(report)}\n`);
  writeDocs(report);
} else if (values.side === 'engine') await engineSide();
else if (values.side === 'driver') await driver();
else throw new Error('--side must be driver or engine');
