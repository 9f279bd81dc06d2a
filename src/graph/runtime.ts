/**
 * The generated programs on onnxruntime's CPU kernels (the optional package `onnxruntime-node`,
 * whose native library ships inside the npm package). Each runner owns one session; one compute
 * thread by default, because scans and ensembles run one engine per worker thread.
 */
import { PoisonguardError } from '../errors.js';
import { BATCH, perItemCount, type ClassifierGraph } from './ir.js';
import {
  batchMeanName,
  batchVarianceName,
  dropoutMaskName,
  forwardProgram,
  gradientName,
  HEAD_NAMES,
  headProgram,
  inputGradientProgram,
  logitGradientProgram,
  PROGRAM_NAMES,
  trainingProgram,
  type GraphHead,
  type InputGradientLoss,
  type TrainingProgramOptions,
} from './programs.js';

export const ONNXRUNTIME_PACKAGE = 'onnxruntime-node';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;
let ortModule: Promise<Ort | { error: string }> | undefined;

/** Loads onnxruntime-node once; an error message when it is not installed or does not load. */
export function loadOrt(): Promise<Ort | { error: string }> {
  ortModule ??= import(ONNXRUNTIME_PACKAGE).then(
    (m: Ort & { default?: Ort }) => (m.InferenceSession ? m : (m.default as Ort)),
    (e: unknown) => ({ error: e instanceof Error ? e.message : String(e) }),
  );
  return ortModule;
}

/** onnxruntime, or an error naming why it is not there. */
export async function requireOrt(): Promise<Ort> {
  const ort = await loadOrt();
  if ('error' in ort) throw new PoisonguardError('invalid-option', `The native engine needs ${ONNXRUNTIME_PACKAGE}, which could not be loaded (${ort.error}).`, { path: 'engine' });
  return ort;
}

export interface RunnerOptions {
  /** Compute threads of the session (default 1). */
  readonly threads?: number;
  /**
   * Turns on onnxruntime's profiler (for benchmarks: where a program's time goes, per kernel). The
   * trace is written to `<prefix>_<date>.json` when the runner is disposed.
   */
  readonly profileFilePrefix?: string;
}

async function createSession(bytes: Uint8Array, options: RunnerOptions): Promise<{ ort: Ort; session: Session }> {
  const ort = await requireOrt();
  const threads = options.threads ?? 1;
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(options.profileFilePrefix === undefined ? {} : { enableProfiling: true, profileFilePrefix: options.profileFilePrefix }),
  });
  return { ort, session };
}

/** Releases a session, writing its profiler trace first when it was profiling. */
async function release(session: Session, options: RunnerOptions): Promise<void> {
  if (options.profileFilePrefix !== undefined) session.endProfiling();
  await session.release();
}

function checkBatch(graph: ClassifierGraph, x: Float32Array, batch: number): number[] {
  const item = perItemCount(graph.input.shape);
  if (!Number.isInteger(batch) || batch < 1 || x.length !== batch * item) {
    throw new PoisonguardError('shape-mismatch', `The native engine got ${x.length} input values for ${batch} inputs of ${item} values each.`, { path: 'x' });
  }
  return graph.input.shape.map((d) => (d === BATCH ? batch : d));
}

/** The class count of a graph. */
export const classCount = (graph: ClassifierGraph): number => graph.shapes.get(graph.output)![1];

export interface ForwardResult {
  /** The class scores [N, K] (logits, or probabilities when the graph ends in softmax). */
  readonly out: Float32Array;
  /** Each requested activation, flat. */
  readonly activations: Readonly<Record<string, Float32Array>>;
}

export interface ForwardRunner {
  run(x: Float32Array, batch: number): Promise<ForwardResult>;
  dispose(): Promise<void>;
}

/** Program 1 on onnxruntime. */
export async function createForwardRunner(graph: ClassifierGraph, options: RunnerOptions & { activations?: readonly string[] } = {}): Promise<ForwardRunner> {
  const { ort, session } = await createSession(forwardProgram(graph, { activations: options.activations }), options);
  return {
    async run(x, batch) {
      const dims = checkBatch(graph, x, batch);
      const result = await session.run({ [PROGRAM_NAMES.x]: new ort.Tensor('float32', x, dims) });
      const activations: Record<string, Float32Array> = {};
      for (const name of options.activations ?? []) activations[name] = result[name].data as Float32Array;
      return { out: result[PROGRAM_NAMES.out].data as Float32Array, activations };
    },
    dispose: () => release(session, options),
  };
}

export interface HeadRunner {
  readonly head: GraphHead;
  /**
   * The class scores of `batch` inputs from their values of `head.from` (flat) times `keep` (one
   * entry per unit) and their side activations (in `head.sides` order).
   */
  run(from: Float32Array, sides: readonly Float32Array[], keep: Float32Array, batch: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Program 4 on onnxruntime. */
export async function createHeadRunner(graph: ClassifierGraph, head: GraphHead, options: RunnerOptions = {}): Promise<HeadRunner> {
  const { ort, session } = await createSession(headProgram(graph, head), options);
  const dimsOf = (value: string, batch: number): number[] => graph.shapes.get(value)!.map((d) => (d === BATCH ? batch : d));
  const units = graph.shapes.get(head.from)![1];
  const tensor = (data: Float32Array, dims: number[], what: string) => {
    if (data.length !== dims.reduce((p, d) => p * d, 1)) throw new PoisonguardError('shape-mismatch', `The head program got ${data.length} values of ${what} for ${dims.join('x')}.`, { path: what });
    return new ort.Tensor('float32', data, dims);
  };
  return {
    head,
    async run(from, sides, keep, batch) {
      if (sides.length !== head.sides.length) throw new PoisonguardError('shape-mismatch', `The head program takes ${head.sides.length} side activations, got ${sides.length}.`, { path: 'sides' });
      const feeds: Record<string, import('onnxruntime-node').Tensor> = {
        [HEAD_NAMES.from]: tensor(from, dimsOf(head.from, batch), head.from),
        [HEAD_NAMES.keep]: tensor(keep, graph.shapes.get(head.from)!.map((d, i) => (i === 1 ? units : 1)), 'keep'),
      };
      head.sides.forEach((side, i) => (feeds[HEAD_NAMES.side(side)] = tensor(sides[i], dimsOf(side, batch), side)));
      const result = await session.run(feeds);
      return result[PROGRAM_NAMES.out].data as Float32Array;
    },
    dispose: () => release(session, options),
  };
}

export interface InputGradientResult {
  /** The class scores [N, K]. */
  readonly out: Float32Array;
  /** d(classification loss)/d(input), the input's shape. */
  readonly dx: Float32Array;
}

export interface InputGradientRunner {
  /** `x`: N inputs in the graph's layout; `target`: the class every input should reach. */
  run(x: Float32Array, batch: number, target: number): Promise<InputGradientResult>;
  dispose(): Promise<void>;
}

/** Program 2 on onnxruntime. */
export async function createInputGradientRunner(graph: ClassifierGraph, loss: InputGradientLoss, options: RunnerOptions = {}): Promise<InputGradientRunner> {
  const { ort, session } = await createSession(inputGradientProgram(graph, loss), options);
  const K = classCount(graph);
  return {
    async run(x, batch, target) {
      const dims = checkBatch(graph, x, batch);
      if (!Number.isInteger(target) || target < 0 || target >= K) {
        throw new PoisonguardError('shape-mismatch', `Target ${target} is not a class of this model (0..${K - 1}).`, { path: 'target' });
      }
      const onehot = new Float32Array(batch * K);
      for (let i = 0; i < batch; i++) onehot[i * K + target] = 1;
      const result = await session.run({
        [PROGRAM_NAMES.x]: new ort.Tensor('float32', x, dims),
        [PROGRAM_NAMES.target]: new ort.Tensor('float32', onehot, [batch, K]),
        [PROGRAM_NAMES.scale]: new ort.Tensor('float32', Float32Array.of(1 / batch), [1]),
      });
      return { out: result[PROGRAM_NAMES.out].data as Float32Array, dx: result[PROGRAM_NAMES.dx].data as Float32Array };
    },
    dispose: () => release(session, options),
  };
}

export interface LogitGradientRunner {
  /** `x`: N inputs in the graph's layout; `coefficients` [N, K]: each row's weights on its logits. */
  run(x: Float32Array, batch: number, coefficients: Float32Array): Promise<InputGradientResult>;
  dispose(): Promise<void>;
}

/** Program 5 on onnxruntime: the logits, and the input gradient of a linear function of them. */
export async function createLogitGradientRunner(graph: ClassifierGraph, options: RunnerOptions = {}): Promise<LogitGradientRunner> {
  const { ort, session } = await createSession(logitGradientProgram(graph), options);
  const K = classCount(graph);
  return {
    async run(x, batch, coefficients) {
      const dims = checkBatch(graph, x, batch);
      if (coefficients.length !== batch * K) {
        throw new PoisonguardError('shape-mismatch', `The logit-gradient program got ${coefficients.length} coefficients for ${batch} inputs of ${K} classes.`, { path: 'coefficients' });
      }
      const result = await session.run({
        [PROGRAM_NAMES.x]: new ort.Tensor('float32', x, dims),
        [PROGRAM_NAMES.target]: new ort.Tensor('float32', coefficients, [batch, K]),
      });
      return { out: result[PROGRAM_NAMES.out].data as Float32Array, dx: result[PROGRAM_NAMES.dx].data as Float32Array };
    },
    dispose: () => release(session, options),
  };
}

export interface GradientBatch {
  /** N inputs in the graph's layout. */
  readonly x: Float32Array;
  readonly batch: number;
  /** Each input's class. */
  readonly labels: Int32Array;
  /** Each input's weight in the loss (default 1); the loss is Σ weight·cross-entropy / N. */
  readonly sampleWeights?: Float32Array;
  /** Each dropout node's mask (already scaled by 1/(1 − rate)), by node name. */
  readonly masks?: Readonly<Record<string, Float32Array>>;
}

export interface GradientResult {
  readonly loss: number;
  readonly out: Float32Array;
  /** Each trained weight's gradient, by weight name. */
  readonly grads: ReadonlyMap<string, Float32Array>;
  /** Train-mode BatchNorm: each node's batch mean and (biased) variance. */
  readonly batchStatistics: ReadonlyMap<string, { readonly mean: Float32Array; readonly variance: Float32Array }>;
}

export interface GradientRunner {
  readonly parameters: readonly string[];
  readonly dropouts: ReturnType<typeof trainingProgram>['dropouts'];
  readonly batchNorms: readonly string[];
  /** The loss and gradients at the given weights (every trained weight, by name). */
  run(weights: ReadonlyMap<string, Float32Array>, batch: GradientBatch): Promise<GradientResult>;
  dispose(): Promise<void>;
}

/** Program 3 on onnxruntime. */
export async function createGradientRunner(graph: ClassifierGraph, options: RunnerOptions & TrainingProgramOptions = {}): Promise<GradientRunner> {
  const program = trainingProgram(graph, options);
  const { ort, session } = await createSession(program.bytes, options);
  const K = classCount(graph);
  return {
    parameters: program.parameters,
    dropouts: program.dropouts,
    batchNorms: program.batchNorms,
    async run(weights, b) {
      const dims = checkBatch(graph, b.x, b.batch);
      if (b.labels.length < b.batch) throw new PoisonguardError('shape-mismatch', `${b.labels.length} labels for ${b.batch} inputs.`, { path: 'labels' });
      const onehot = new Float32Array(b.batch * K);
      const scale = new Float32Array(b.batch);
      for (let i = 0; i < b.batch; i++) {
        const y = b.labels[i];
        if (!(y >= 0 && y < K)) throw new PoisonguardError('shape-mismatch', `Label ${y} is not a class of this model (0..${K - 1}).`, { path: 'labels' });
        onehot[i * K + y] = 1;
        scale[i] = (b.sampleWeights?.[i] ?? 1) / b.batch;
      }
      const feeds: Record<string, import('onnxruntime-node').Tensor> = {
        [PROGRAM_NAMES.x]: new ort.Tensor('float32', b.x, dims),
        [PROGRAM_NAMES.target]: new ort.Tensor('float32', onehot, [b.batch, K]),
        [PROGRAM_NAMES.scale]: new ort.Tensor('float32', scale, [b.batch, 1]),
      };
      for (const name of program.parameters) {
        const w = weights.get(name);
        const declared = graph.weights.get(name)!;
        if (w === undefined || w.length !== declared.data.length) throw new PoisonguardError('shape-mismatch', `Weight '${name}' missing or of the wrong size.`, { path: name });
        feeds[name] = new ort.Tensor('float32', w, [...declared.dims]);
      }
      for (const d of program.dropouts) {
        const mask = b.masks?.[d.node];
        const dimsOf = d.shape.map((v) => (v === BATCH ? b.batch : v));
        if (mask === undefined || mask.length !== dimsOf.reduce((p, v) => p * v, 1)) throw new PoisonguardError('shape-mismatch', `Dropout '${d.node}' needs a mask of ${dimsOf.join('x')}.`, { path: d.node });
        feeds[dropoutMaskName(d.node)] = new ort.Tensor('float32', mask, dimsOf);
      }
      const result = await session.run(feeds);
      const grads = new Map<string, Float32Array>();
      for (const name of program.parameters) grads.set(name, result[gradientName(name)].data as Float32Array);
      const batchStatistics = new Map<string, { mean: Float32Array; variance: Float32Array }>();
      for (const name of program.batchNorms) {
        batchStatistics.set(name, { mean: result[batchMeanName(name)].data as Float32Array, variance: result[batchVarianceName(name)].data as Float32Array });
      }
      return { loss: (result[PROGRAM_NAMES.loss].data as Float32Array)[0], out: result[PROGRAM_NAMES.out].data as Float32Array, grads, batchStatistics };
    },
    dispose: () => release(session, options),
  };
}
