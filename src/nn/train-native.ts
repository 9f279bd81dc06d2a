/**
 * Training on the native graph engine: a {@link ClassifierGraph} and its weights as plain
 * Float32Arrays, the training program (loss and every trained weight's gradient) on onnxruntime,
 * Adam on the arrays. The contract is {@link trainModel}'s — the same batches for a seed (shared
 * batch assembly: draw order, on-the-fly poisoning, preprocessing), Keras's learning-rate decay,
 * dropout masks seeded from (seed, step, node), progress after every batch, an epoch-end hook with
 * the optimizer state from which a resumed run continues bit for bit — with per-sample weights,
 * BatchNorm in train mode (batch statistics; running averages updated as the graph's framework does:
 * tf.layers, or PyTorch for its exports) or frozen,
 * and weights held at zero (pruned neurons) on top. Works on any graph the engine takes, so a
 * user's ONNX model trains as a tf.layers one does.
 */
import { argMaxRows } from './scorer.js';
import type { ImageSet } from '../data/images.js';
import { OptionError, ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { BATCH, DEFAULT_RUNNING_VARIANCE, ONNX_BATCH_NORM_MOMENTUM, perItemCount, type ClassifierGraph, type GraphNode } from '../graph/ir.js';
import type { BatchNormMode } from '../graph/programs.js';
import { classCount, createGradientRunner } from '../graph/runtime.js';
import { adamStep, copyAdamState, newAdamState, type AdamState } from './adam.js';
import { newSgdState, sgdStep, type SgdSettings } from './sgd.js';
import { BatchAssembler, dropoutSeed, EpochMeter, learningRateAt, resolveSchedule } from './train-batches.js';
import type { EpochSummary, TrainOptions, TrainResult } from './train.js';

/** BatchNorm when training: batch statistics with the running averages updated, as tf.layers and PyTorch train (fine-tuning may freeze it). */
export const DEFAULT_TRAIN_BATCH_NORM: BatchNormMode = 'train';

/** A weight whose slices along one axis are held at zero after every update (a pruned neuron's). */
export interface ZeroedWeight {
  /** The graph weight's name. */
  readonly weight: string;
  /** 1 kept, 0 held at zero, one entry per slice along `axis`. */
  readonly keep: Float32Array;
  /** The axis the keep-vector runs along: the weight's first, last, or one by index. */
  readonly axis: 'first' | 'last' | number;
}

/** What an epoch-end hook gets to save a resumable checkpoint. */
export interface GraphCheckpoint {
  /** The weights now (the run's own arrays: copy what must outlive the hook). */
  readonly weights: ReadonlyMap<string, Float32Array>;
  /** A copy of Adam's state now. */
  optimizerState(): AdamState;
}

/** The optimizer: Adam (TF.js's, the project's default) or SGD (torch's, as recipes such as DPA's name it). */
export type GraphOptimizer = { readonly kind: 'adam' } | ({ readonly kind: 'sgd' } & SgdSettings);

export interface GraphTrainOptions extends Omit<TrainOptions, 'optimizerState' | 'onEpochEnd'> {
  /** Default Adam. SGD runs are not resumable mid-run: no optimizerState, and the epoch-end checkpoint has no optimizer state. */
  readonly optimizer?: GraphOptimizer;
  /** Adam's state to continue from (a checkpoint's {@link GraphCheckpoint.optimizerState}). */
  readonly optimizerState?: AdamState;
  /** Awaited after every epoch; its time is not counted as training. */
  readonly onEpochEnd?: (summary: EpochSummary, checkpoint: GraphCheckpoint) => Promise<void> | void;
  /** Each training image's weight in the loss (default 1): the loss is Σ w·cross-entropy / batch size. */
  readonly sampleWeights?: Float32Array;
  /** BatchNorm's statistics (default {@link DEFAULT_TRAIN_BATCH_NORM}). */
  readonly batchNorm?: BatchNormMode;
  /** Weights to train (default: the graph's trainable set). */
  readonly trainable?: ReadonlySet<string>;
  /** Weights held at zero along an axis after every update. */
  readonly zeroed?: readonly ZeroedWeight[];
  /** onnxruntime compute threads (default 1: the same results on every machine). */
  readonly threads?: number;
}

/** How the images (NHWC) reach the graph's input: as they are, or transposed to NCHW. */
function inputLayout(graph: ClassifierGraph, set: ImageSet): 'nhwc' | 'nchw' {
  const s = graph.input.shape;
  const { height: h, width: w, channels: c } = set;
  if (s.length === 4 && s[0] === BATCH) {
    if (s[1] === h && s[2] === w && s[3] === c) return 'nhwc';
    if (s[1] === c && s[2] === h && s[3] === w) return 'nchw';
  }
  throw new ShapeError('model input', `[N, ${h}, ${w}, ${c}] or [N, ${c}, ${h}, ${w}] (the images)`, `[${s.map((d) => (d === BATCH ? 'N' : d)).join(', ')}]`);
}

/**
 * Trains `weights` (updated in place: the trained weights, and with train-mode BatchNorm the
 * running statistics) of `graph` on `set` (raw pixels; labels are class indices). A weight absent
 * from `weights` is the graph's own value (a trained one is copied into `weights` first).
 */
export async function trainGraph(graph: ClassifierGraph, weights: Map<string, Float32Array>, set: ImageSet, options: GraphTrainOptions = {}): Promise<TrainResult> {
  const schedule = resolveSchedule(set, options);
  const { epochs, batchSize, learningRate, seed, batches, draws, startEpoch } = schedule;
  const layout = inputLayout(graph, set);
  const K = classCount(graph);
  for (let i = 0; i < set.count; i++) {
    if (set.labels[i] < 0 || set.labels[i] >= K) throw new OptionError('labels', `class indices in 0..${K - 1} (the model has ${K} outputs)`, `label ${set.labels[i]} at index ${i}`);
  }
  if (options.sampleWeights && options.sampleWeights.length !== set.count) {
    throw new OptionError('sampleWeights', `one weight per training image (${set.count})`, `${options.sampleWeights.length} weights`);
  }
  const batchNorm = options.batchNorm ?? DEFAULT_TRAIN_BATCH_NORM;
  const trainable = options.trainable ?? graph.trainable;
  for (const name of trainable) if (!weights.has(name)) weights.set(name, Float32Array.from(graph.weights.get(name)?.data ?? []));
  // The program reads the weights it does not train as constants: the caller's values, not the graph's.
  const program: ClassifierGraph = { ...graph, weights: new Map([...graph.weights].map(([k, w]) => [k, weights.has(k) ? { dims: w.dims, data: weights.get(k)! } : w])) };
  const runner = await createGradientRunner(program, { batchNorm, trainable, threads: options.threads ?? 1 });
  try {
    const params = new Map(runner.parameters.map((p) => [p, weights.get(p)!]));
    const optimizer = options.optimizer ?? { kind: 'adam' };
    if (optimizer.kind === 'sgd' && options.optimizerState) throw new OptionError('optimizerState', "absent with SGD (Adam's state cannot continue an SGD run)", 'an Adam state');
    const sgd = optimizer.kind === 'sgd' ? { state: newSgdState(params), settings: optimizer } : undefined;
    const state = sgd ? undefined : options.optimizerState ? byParameter(copyAdamState(options.optimizerState), runner.parameters) : newAdamState(params);
    for (const p of state ? runner.parameters : []) {
      if (state!.m.get(p)?.length !== params.get(p)!.length || state!.v.get(p)?.length !== params.get(p)!.length) {
        throw new OptionError('optimizerState', `Adam moments for every trained weight ('${p}' is missing or of another size)`, 'another model');
      }
    }
    const zeroed = (options.zeroed ?? []).map((z) => zeroingOf(graph, weights, z));
    const runningStats = runner.batchNorms.map((name) => runningStatsOf(graph, weights, name));
    const assembler = new BatchAssembler(set, schedule, options.poisonOnTheFly);
    const imageSize = set.height * set.width * set.channels;
    const nchw = layout === 'nchw' ? new Float32Array(batchSize * imageSize) : undefined;
    const sampleWeights = options.sampleWeights ? new Float32Array(batchSize) : undefined;
    const masks = runner.dropouts.map((d) => ({ node: d.node, keep: 1 - d.rate, item: perItemCount(d.shape), data: new Float32Array(batchSize * perItemCount(d.shape)) }));
    const maskFeeds: Record<string, Float32Array> = {};
    const history: EpochSummary[] = [];
    let trainingSeconds = 0;
    for (let epoch = startEpoch + 1; epoch <= epochs; epoch++) {
      assembler.beginEpoch(epoch);
      const meter = new EpochMeter();
      for (let b = 0; b < batches; b++) {
        const step = (epoch - 1) * batches + b;
        const n = assembler.fill(b);
        masks.forEach((m, j) => {
          const data = m.data.subarray(0, n * m.item);
          if (m.keep >= 1) data.fill(1);
          else {
            const rng = new Random(dropoutSeed(seed, step, j));
            const scale = 1 / m.keep;
            for (let i = 0; i < data.length; i++) data[i] = rng.next() < m.keep ? scale : 0;
          }
          maskFeeds[m.node] = data;
        });
        if (sampleWeights) {
          // The batch's rows are the epoch's draws b·batchSize … (the assembler's order).
          const order = assembler.drawn(b, n);
          for (let r = 0; r < n; r++) sampleWeights[r] = options.sampleWeights![order[r]];
        }
        let x = assembler.x.subarray(0, n * imageSize);
        if (nchw) x = toNchw(x, n, set.height, set.width, set.channels, nchw);
        const result = await runner.run(params, { x, batch: n, labels: assembler.labels.subarray(0, n), masks: maskFeeds, ...(sampleWeights ? { sampleWeights: sampleWeights.subarray(0, n) } : {}) });
        if (sgd) sgdStep(params, result.grads, sgd.state, learningRateAt(schedule, step), sgd.settings);
        else adamStep(params, result.grads, state!, learningRateAt(schedule, step));
        for (const z of zeroed) z();
        for (const r of runningStats) r(result.batchStatistics, n);
        meter.add(n, result.loss, correctCount(result.out, assembler.labels, n));
        options.onProgress?.({ epoch, epochs, batch: b + 1, batches, loss: meter.loss, accuracy: meter.accuracy, imagesPerSecond: meter.seen / Math.max(meter.seconds, 1e-9) });
      }
      const seconds = meter.seconds;
      const summary: EpochSummary = { epoch, poisoned: assembler.poisoned, loss: meter.loss, accuracy: meter.accuracy, seconds, imagesPerSecond: meter.seen / seconds };
      history.push(summary);
      trainingSeconds += seconds;
      await options.onEpochEnd?.(summary, {
        weights,
        optimizerState: () => {
          if (!state) throw new Error('an SGD run keeps no resumable optimizer state (its callers restart a classifier from scratch)');
          return copyAdamState(state);
        },
      });
    }
    return { epochs, batchSize, learningRate, seed, history, seconds: trainingSeconds, imagesPerSecond: ((epochs - startEpoch) * draws) / trainingSeconds };
  } finally {
    await runner.dispose();
  }
}

/**
 * A saved state's moments keyed by the trained weights: by name, or by position when the names
 * differ (a model loaded again gets other variable names from TF.js: a repeated name is suffixed;
 * the order of its weights is its own).
 */
function byParameter(state: AdamState, parameters: readonly string[]): AdamState {
  if (parameters.every((p) => state.m.has(p) && state.v.has(p))) return state;
  const m = [...state.m.values()];
  const v = [...state.v.values()];
  if (m.length !== parameters.length || v.length !== parameters.length) return state;
  return { ...state, m: new Map(parameters.map((p, i) => [p, m[i]])), v: new Map(parameters.map((p, i) => [p, v[i]])) };
}

function correctCount(out: Float32Array, labels: Int32Array, n: number): number {
  const predicted = argMaxRows(out, n);
  let correct = 0;
  for (let r = 0; r < n; r++) if (predicted[r] === labels[r]) correct++;
  return correct;
}

function toNchw(x: Float32Array, n: number, h: number, w: number, c: number, out: Float32Array): Float32Array {
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    const base = i * hw * c;
    for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) out[base + k * hw + p] = x[base + p * c + k];
  }
  return out.subarray(0, n * hw * c);
}

/** A function that holds a weight's pruned slices at zero (in the arrays the run updates). */
function zeroingOf(graph: ClassifierGraph, weights: Map<string, Float32Array>, z: ZeroedWeight): () => void {
  const data = weights.get(z.weight);
  const dims = graph.weights.get(z.weight)?.dims;
  if (data === undefined || dims === undefined) throw new OptionError('zeroed', 'weights of the model', z.weight);
  const axis = z.axis === 'first' ? 0 : z.axis === 'last' ? dims.length - 1 : z.axis;
  const along = dims[axis];
  if (z.keep.length !== along) throw new OptionError('zeroed', `a keep-vector of ${along} entries for '${z.weight}'`, `${z.keep.length} entries`);
  const inner = dims.slice(axis + 1).reduce((p, d) => p * d, 1);
  const zero = [...z.keep.keys()].filter((i) => z.keep[i] === 0);
  const apply = () => {
    for (let o = 0; o < data.length; o += along * inner) for (const i of zero) data.fill(0, o + i * inner, o + (i + 1) * inner);
  };
  apply();
  return apply;
}

/**
 * A function that moves a train-mode BatchNorm's running mean and variance towards the batch's
 * (given the batch's statistics and its number of images), as tf.layers does: moving − (moving −
 * batch)·(1 − momentum), in float32, which is torch's (1 − m)·running + m·batch with the ONNX
 * momentum torch.onnx.export writes, 1 − m. The variance moved towards is the batch's biased one
 * (tf.moments), or for a node whose runningVariance is 'unbiased' (a PyTorch export: see
 * RunningVariance) n/(n − 1) times it, n the values per channel; with n = 1 the unbiased variance
 * is undefined (torch refuses to train such a batch) and the running variance stays as it is.
 * torch's momentum=None (a cumulative average over the batches seen, which the file does not
 * count) is exported as momentum 1: such a graph's running statistics stay as they are.
 */
function runningStatsOf(graph: ClassifierGraph, weights: Map<string, Float32Array>, name: string): (stats: ReadonlyMap<string, { mean: Float32Array; variance: Float32Array }>, batch: number) => void {
  const node = graph.nodes.find((n) => n.name === name) as GraphNode;
  const [, , , meanName, varName] = node.inputs;
  const own = (k: string) => {
    if (!weights.has(k)) weights.set(k, Float32Array.from(graph.weights.get(k)!.data));
    return weights.get(k)!;
  };
  const mean = own(meanName);
  const variance = own(varName);
  const decay = Math.fround(1 - ((node.attrs.momentum as number | undefined) ?? ONNX_BATCH_NORM_MOMENTUM));
  const move = (moving: Float32Array, batch: Float32Array) => {
    for (let i = 0; i < moving.length; i++) moving[i] = Math.fround(moving[i] - Math.fround(Math.fround(moving[i] - batch[i]) * decay));
  };
  const unbiased = (node.attrs.runningVariance ?? DEFAULT_RUNNING_VARIANCE) === 'unbiased';
  const positions = perItemCount(graph.shapes.get(node.inputs[0])!) / variance.length;
  const corrected = new Float32Array(variance.length);
  return (stats, batch) => {
    const s = stats.get(name)!;
    move(mean, s.mean);
    const n = batch * positions;
    if (!unbiased) move(variance, s.variance);
    else if (n > 1) {
      for (let i = 0; i < corrected.length; i++) corrected[i] = (s.variance[i] * n) / (n - 1);
      move(variance, corrected);
    }
  };
}
