/**
 * The generated backward graphs checked op by op against central finite differences in float64.
 *
 * A case is a tiny classifier around one operator (image input `x`, logits [N, K]). The engine
 * loads it, writes its input-gradient program and its training program, and the float64 reference
 * interpreter runs both: their `dx` and every weight's gradient must equal central differences of
 * the same loss — Σᵢ sᵢ·cross-entropy(logitsᵢ, labelᵢ) — computed from the source model's forward on
 * the reference, also in float64. The same two programs then run on onnxruntime (float32), whose
 * kernels for the rewrites (ConvTranspose, MaxUnpool, ScatterElements) must agree with the float64
 * result to float32 accuracy.
 *
 * Tolerance, float64: central differences with h = 1e-5 have a truncation error ~h²·|f'''| ≈ 1e-10
 * and a rounding error ~1e-16·|L|/h ≈ 1e-11; the generated graphs hold their constants (1/count,
 * 1/3, epsilon) as float32, a relative 6e-8. So 1e-6 of the largest gradient entry leaves a wide
 * margin while any wrong rule (a missed term, a wrong pad, a flipped kernel) is off by O(1).
 * Float32: onnxruntime's sums over at most a few hundred terms are good to ~1e-6 relative; 1e-4.
 *
 * Inputs of non-differentiable operators (ReLU at 0, max ties, Clip's bounds, HardSwish's ±3) are
 * drawn at least a margin ≫ h away from their kinks, so that the finite differences see one side.
 */
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
import type { ClassifierGraph } from '../../src/graph/ir.js';
import { batchMeanName, batchVarianceName, gradientName, inputGradientProgram, PROBABILITY_EPSILON, trainingProgram, type BatchNormMode, type InputGradientLoss } from '../../src/graph/programs.js';
import { Random } from '../../src/random.js';
import { loadReference, type RefFeed } from './reference.js';
import { finiteDifference, opModel, relativeError, type OpModel, type OpModelSpec, type Values } from './op-models.js';
import { loadOrt, runOrt } from './ort.js';

export const FD_TOLERANCE = 1e-6;
export const ORT_TOLERANCE = 1e-4;
const H = 1e-5;
const { onnx } = onnxProto;
const EPSILON = PROBABILITY_EPSILON;

export interface FdCase {
  /** The source model: input `x` [N, C, H, W], one output [N, K]; float initializers are weights. */
  readonly model: OpModel;
  /** BatchNorm in the training program (default frozen). */
  readonly batchNorm?: BatchNormMode;
  /** The training program's forward when it differs from the source model's (train-mode BatchNorm, dropout masks): logits from x and the weights. */
  readonly trainForward?: (x: Float64Array, weights: Record<string, Float64Array>) => Float64Array;
  /** A rewrite of the loaded graph (a Dropout node, which ONNX files never keep). */
  readonly rewrite?: (graph: ClassifierGraph) => ClassifierGraph;
  /** Extra feeds of the training program (dropout masks). */
  readonly extraFeeds?: Record<string, Values>;
  /** Weights whose gradient is checked (default: every weight but BatchNorm's statistics). */
  readonly weights?: readonly string[];
  /** The input-gradient program's loss (default cross-entropy). */
  readonly inputLoss?: InputGradientLoss;
  /** Also run both programs on onnxruntime (default true). */
  readonly ort?: boolean;
  readonly seed?: number;
}

export interface FdResult {
  /** Largest relative error of dx and of each weight's gradient against finite differences. */
  readonly errors: Record<string, number>;
  /** The float64 gradients the programs computed (dx and each weight), for further checks. */
  readonly grads: Record<string, Float64Array>;
  /** The training program's outputs on the reference. */
  readonly training: Record<string, { data: Float64Array; dims: number[] }>;
}

/** Softmax of each row of logits [N, K], in float64. */
function softmaxRows(logits: Float64Array, K: number): Float64Array {
  const p = new Float64Array(logits.length);
  for (let i = 0; i < logits.length / K; i++) {
    const row = logits.subarray(i * K, (i + 1) * K);
    const max = Math.max(...row);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += (p[i * K + k] = Math.exp(row[k] - max));
    for (let k = 0; k < K; k++) p[i * K + k] /= sum;
  }
  return p;
}

/**
 * The programs' loss in float64: Σᵢ sᵢ·(−log pᵢ,labelᵢ) — on logits through their softmax, or, for a
 * model ending in softmax, on its probabilities clipped to [1e-7, 1 − 1e-7] as Keras's; with
 * 'release-swapped', the Neural Cleanse release's Σᵢ sᵢ·−(pₜ·log(1 − 1e-7) + (1 − pₜ)·log 1e-7).
 */
function programLoss(out: Float64Array, labels: readonly number[], scale: readonly number[], K: number, probabilities: boolean, kind: InputGradientLoss = 'cross-entropy'): number {
  const p = probabilities ? out : softmaxRows(out, K);
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const pt = p[i * K + labels[i]];
    if (kind === 'release-swapped') loss -= scale[i] * (pt * Math.log(1 - EPSILON) + (1 - pt) * Math.log(EPSILON));
    else if (probabilities) loss -= scale[i] * Math.log(Math.min(1 - EPSILON, Math.max(EPSILON, pt)));
    else {
      // logsumexp − z_label rather than −log p, so that a small probability keeps its precision.
      const row = out.subarray(i * K, (i + 1) * K);
      const max = Math.max(...row);
      loss += scale[i] * (Math.log(row.reduce((t, v) => t + Math.exp(v - max), 0)) + max - row[labels[i]]);
    }
  }
  return loss;
}

let ortState: Promise<string | undefined> | undefined;
/** Why onnxruntime cannot run here (undefined when it can). */
export function ortMissing(): Promise<string | undefined> {
  ortState ??= loadOrt().then((o) => ('error' in o ? o.error : undefined));
  return ortState;
}

/**
 * Checks `c`: the input gradient (program 2) and every weight's gradient (program 3) against
 * finite differences on the float64 reference, then both programs on onnxruntime against the
 * float64 values. Returns the errors (already asserted) and the gradients.
 */
export async function checkBackward(c: FdCase): Promise<FdResult> {
  const { model } = c;
  const loaded = loadOnnxGraph(model.bytes, { source: 'case.onnx' });
  const graph = c.rewrite ? c.rewrite(loaded) : loaded;
  const x = model.feeds.x;
  const N = x.dims[0];
  const K = graph.shapes.get(graph.output)![1];
  const rng = new Random((c.seed ?? 1) + 5000);
  const labels = Array.from({ length: N }, () => rng.int(K));
  const target = new Float64Array(N * K);
  labels.forEach((l, i) => (target[i * K + l] = 1));
  // Unequal sample weights, so that a gradient that ignored them (or mixed rows) would show.
  const rowScale = Array.from({ length: N }, (_, i) => Math.fround((0.5 + i) / N));
  const ref = loadReference(model.bytes);
  const output = ref.outputs[0];
  const sourceForward = (xv: Float64Array, w: Record<string, Float64Array>) => ref.run({ x: { data: xv, dims: x.dims } }, w)[output].data;
  const trainForward = c.trainForward ?? sourceForward;
  const errors: Record<string, number> = {};
  const grads: Record<string, Float64Array> = {};
  const check = (name: string, analytic: Float64Array, fd: Float64Array) => {
    assert.equal(analytic.length, fd.length, `${name}: ${analytic.length} values, ${fd.length} expected`);
    // A zero gradient would pass any comparison with a zero rule: the case must exercise the op.
    assert.ok(fd.some((v) => Math.abs(v) > 1e-6), `${name}: the finite differences are all ~0; the case does not test its gradient`);
    const e = relativeError(analytic, fd);
    errors[name] = e;
    grads[name] = analytic;
    assert.ok(e < FD_TOLERANCE, `d/d${name}: relative error ${e.toExponential(2)} against finite differences (tolerance ${FD_TOLERANCE})`);
  };

  // Program 2: the input gradient of the mean cross-entropy (frozen BatchNorm, dropout as identity).
  const inverseN = Math.fround(1 / N);
  const p2 = inputGradientProgram(graph, c.inputLoss ?? 'cross-entropy');
  const p2Feeds: Record<string, RefFeed> = { x, target: { data: target, dims: [N, K] }, scale: { data: [inverseN], dims: [1] } };
  const r2 = loadReference(p2).run(p2Feeds);
  // The forwards agree to float32 rounding of constants (an attribute's default, 0.2, is a double
  // in the source model and a float32 in the program).
  const forwardError = relativeError(r2.out.data, sourceForward(x.data, {}));
  assert.ok(forwardError < 1e-7, `program 2: its outputs differ from the source model's by ${forwardError.toExponential(2)}`);
  const meanScale = labels.map(() => inverseN);
  const fdx = finiteDifference((xv) => programLoss(sourceForward(xv, {}), labels, meanScale, K, graph.endsInSoftmax, c.inputLoss), Float64Array.from(x.data), H);
  check('x', r2.dx.data, fdx);

  // Program 3: every weight's gradient of Σ sᵢ·cross-entropyᵢ.
  const weights = c.weights ?? [...graph.weights.keys()].filter((w) => !isBatchNormStatistic(graph, w));
  const tp = trainingProgram(graph, { trainable: new Set(weights), batchNorm: c.batchNorm });
  const values: Record<string, Float64Array> = {};
  for (const w of weights) values[w] = Float64Array.from(graph.weights.get(w)!.data);
  const p3Feeds: Record<string, RefFeed> = { x, target: { data: target, dims: [N, K] }, scale: { data: rowScale, dims: [N, 1] } };
  for (const w of weights) p3Feeds[w] = { data: values[w], dims: [...graph.weights.get(w)!.dims] };
  for (const [name, v] of Object.entries(c.extraFeeds ?? {})) p3Feeds[name] = v;
  const r3 = loadReference(tp.bytes).run(p3Feeds);
  const loss = programLoss(trainForward(x.data, values), labels, rowScale, K, graph.endsInSoftmax);
  assert.ok(Math.abs(r3.loss.data[0] - loss) <= 1e-7 * Math.max(1, loss), `program 3: loss ${r3.loss.data[0]} against ${loss}`);
  for (const w of weights) {
    const fd = finiteDifference((wv) => programLoss(trainForward(x.data, { ...values, [w]: wv }), labels, rowScale, K, graph.endsInSoftmax), Float64Array.from(values[w]), H);
    check(w, r3[gradientName(w)].data, fd);
  }

  if ((c.ort ?? true) && !(await ortMissing())) {
    // onnxruntime, float32: the same numbers as the float64 run, to float32 accuracy.
    // With the graph optimisations the engine's sessions run (fusions must not change the numbers).
    const o2 = await runOrt(p2, { x, target: p2Feeds.target, scale: p2Feeds.scale }, undefined, 'all');
    const e2 = relativeError(o2.dx.data, r2.dx.data);
    assert.ok(e2 < ORT_TOLERANCE, `onnxruntime dx: relative error ${e2.toExponential(2)} against float64`);
    const o3 = await runOrt(tp.bytes, Object.fromEntries(Object.entries(p3Feeds).map(([k, v]) => [k, { data: v.data, dims: v.dims }])), undefined, 'all');
    for (const w of weights) {
      const e3 = relativeError(o3[gradientName(w)].data, r3[gradientName(w)].data);
      assert.ok(e3 < ORT_TOLERANCE, `onnxruntime d/d${w}: relative error ${e3.toExponential(2)} against float64`);
    }
    for (const bn of tp.batchNorms) {
      for (const name of [batchMeanName(bn), batchVarianceName(bn)]) assert.ok(relativeError(o3[name].data, r3[name].data) < ORT_TOLERANCE, `onnxruntime ${name}`);
    }
  }
  return { errors, grads, training: r3 };
}

/** {@link checkBackward} for a test body (its assertions are what counts). */
export async function expectGradients(c: FdCase): Promise<void> {
  await checkBackward(c);
}

function isBatchNormStatistic(graph: ClassifierGraph, w: string): boolean {
  return graph.nodes.some((n) => n.op === 'BatchNormalization' && (n.inputs[3] === w || n.inputs[4] === w));
}

// ---------------------------------------------------------------------------------------------
// inputs away from kinks

/** `n` uniform values in [lo, hi], float32, each at least `margin` away from every kink. */
export function awayFrom(n: number, lo: number, hi: number, kinks: readonly number[], margin = 0.02, seed = 11): Float64Array {
  const rng = new Random(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; ) {
    const v = Math.fround(rng.uniform(lo, hi));
    if (kinks.every((k) => Math.abs(v - k) >= margin)) out[i++] = v;
  }
  return out;
}

/**
 * `n` values no two closer than `gap` (a shuffled grid, centred on 0, none at 0): a max over any
 * window has a unique winner by far more than the finite-difference step.
 */
export function distinct(n: number, gap = 0.05, seed = 13): Float64Array {
  const order = new Random(seed).permutation(n);
  return Float64Array.from(order, (i) => Math.fround((i - n / 2 + 0.5) * gap));
}

/** A classifier around `spec`'s nodes: its (first) output flattened into the logits [N, K]. */
export function flattened(spec: OpModelSpec): OpModel {
  const last = spec.outputs[0];
  if (last === 'logits') throw new Error("flattened: the model's output is already called 'logits'");
  return opModel({ ...spec, nodes: [...spec.nodes, { op: 'Flatten', inputs: [last], outputs: ['logits'] }], outputs: ['logits'] });
}

/**
 * `bytes` with every BatchNormalization of images written out in training form — batch mean and biased
 * batch variance over all axes but the channels', y = γ·(x − μ)/√(σ² + ε) + β — as plain ONNX nodes
 * for the reference: the forward that a train-mode training program differentiates.
 */
export function withBatchStatistics(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  const ints = (name: string, values: number[]) => {
    graph.initializer!.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) }));
    return name;
  };
  const node = (opType: string, input: string[], output: string, attribute: InstanceType<typeof onnx.AttributeProto>[] = []) => nodes.push(onnx.NodeProto.create({ opType, input, output: [output], attribute, name: output }));
  for (const n of graph.node ?? []) {
    if (n.opType !== 'BatchNormalization') {
      nodes.push(n as InstanceType<typeof onnx.NodeProto>);
      continue;
    }
    const [x, scale, bias] = n.input!;
    const y = n.output![0];
    const epsilon = n.attribute?.find((a) => a.name === 'epsilon')?.f ?? 1e-5;
    const channels = graph.initializer!.find((t) => t.name === scale)!.dims!.map(Number)[0];
    // Images [N, C, H, W] only (the feature case [N, C] has its own check).
    const axes = onnx.AttributeProto.create({ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 3] });
    const p = (s: string) => `${y}/${s}`;
    const shape = ints(p('shape'), [1, channels, 1, 1]);
    graph.initializer!.push(onnx.TensorProto.create({ name: p('eps'), dims: [], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [epsilon] }));
    node('ReduceMean', [x], p('mean'), [axes]);
    node('Sub', [x, p('mean')], p('centred'));
    node('Mul', [p('centred'), p('centred')], p('square'));
    node('ReduceMean', [p('square')], p('var'), [axes]);
    node('Add', [p('var'), p('eps')], p('varEps'));
    node('Sqrt', [p('varEps')], p('std'));
    node('Div', [p('centred'), p('std')], p('normal'));
    node('Reshape', [scale, shape], p('gamma'));
    node('Reshape', [bias, shape], p('beta'));
    node('Mul', [p('normal'), p('gamma')], p('scaled'));
    node('Add', [p('scaled'), p('beta')], y);
  }
  graph.node = nodes;
  return onnx.ModelProto.encode(model).finish();
}
