/**
 * The native engine's picture of an image classifier: a DAG of canonical operators over float
 * tensors, with every value's shape known at load time except the batch size. Front-ends (an ONNX
 * ModelProto, a tf.layers model) produce it; the programs (forward, input gradient, training
 * gradient) are generated from it as new ONNX graphs for onnxruntime.
 *
 * Canonical means one spelling per operation, so that code generation and differentiation know a
 * single form: Flatten, Squeeze, Unsqueeze and Reshape are all `Reshape` to a static shape; Clip's
 * bounds, Pad's pads and the reductions' axes are attributes whatever the opset; auto_pad is
 * resolved into explicit pads; Dropout and Identity are gone; constant sub-graphs are folded.
 */
import { PoisonguardError } from '../errors.js';

/** In a {@link Shape}: the batch dimension, whose size is only known when the graph runs. */
export const BATCH = -1;

/** A value's dimensions; {@link BATCH} marks the batch dimension. */
export type Shape = readonly number[];

export interface FloatTensor {
  readonly dims: Shape;
  readonly data: Float32Array;
}

export type Attribute = number | readonly number[] | string;

export interface GraphNode {
  /** The node's name in the source graph (for messages), unique in the graph. */
  readonly name: string;
  /** A canonical operator (see {@link CANONICAL_OPS}). */
  readonly op: CanonicalOp;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attribute>>;
}

/** The operators a {@link ClassifierGraph} is made of, after canonicalisation. */
export const CANONICAL_OPS = [
  'Conv',
  // attrs: epsilon; momentum and runningVariance, how training moves the running statistics (see RunningVariance).
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'ReduceMean',
  'Reshape',
  'Transpose',
  'Concat',
  'Gemm',
  'MatMul',
  'Softmax',
  'LogSoftmax',
  'Pad',
  // Inference: identity; training: times a mask fed by the caller (attrs.rate).
  'Dropout',
  // Written by the training program (train-mode BatchNorm), not read from source graphs.
  'Sqrt',
  'Constant',
] as const;
export type CanonicalOp = (typeof CANONICAL_OPS)[number];

/**
 * The batch variance towards which a train-mode BatchNormalization moves its running variance (the
 * node's `runningVariance` attribute; absent: {@link DEFAULT_RUNNING_VARIANCE}). 'biased': the mean
 * squared deviation, as tf.layers (tf.moments) and ONNX's own training-mode BatchNormalization
 * (ReduceVar, the population variance) do; 'unbiased': n/(n − 1) times it, n the values per channel
 * (batch × spatial positions), as torch.nn.BatchNorm1d/2d do. The normalisation itself uses the
 * biased variance in both.
 */
export type RunningVariance = 'biased' | 'unbiased';
export const DEFAULT_RUNNING_VARIANCE: RunningVariance = 'biased';
/**
 * BatchNormalization's momentum when the node gives none: ONNX's default, the running statistics'
 * own weight in running·momentum + batch·(1 − momentum) (torch.onnx.export writes 1 − torch's 0.1).
 */
export const ONNX_BATCH_NORM_MOMENTUM = 0.9;

/** The ONNX operator types a source graph may use (canonicalised or folded at load). */
export const SUPPORTED_ONNX_OPS: readonly string[] = [
  ...CANONICAL_OPS.filter((op) => op !== 'Sqrt' && op !== 'Constant'),
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  // Folded when their inputs are constants (the shape arithmetic exporters write):
  'Constant',
  'Shape',
  'Gather',
  'Cast',
  'Slice',
  'ConstantOfShape',
].sort();

export interface ClassifierGraph {
  readonly name: string;
  /** The one image input; its shape starts with {@link BATCH}. */
  readonly input: { readonly name: string; readonly shape: Shape };
  /** The class scores [BATCH, K]: logits, or probabilities when {@link endsInSoftmax}. */
  readonly output: string;
  /** True when the output is a Softmax's (probabilities); its input is then the logits. */
  readonly endsInSoftmax: boolean;
  /** In an order where every node comes after the nodes it reads from. */
  readonly nodes: readonly GraphNode[];
  /** Float constants: weights, biases, BatchNorm statistics, normalisation constants. */
  readonly weights: ReadonlyMap<string, FloatTensor>;
  /** Which weights training updates (see {@link defaultTrainable}). */
  readonly trainable: ReadonlySet<string>;
  /** Every value's shape: the input, each node's outputs, each weight. */
  readonly shapes: ReadonlyMap<string, Shape>;
}

/** A graph the engine cannot take: an operator or setting it does not know. */
export class UnsupportedGraphError extends PoisonguardError {
  constructor(message: string) {
    super('invalid-option', message, { path: 'model' });
    this.name = 'UnsupportedGraphError';
  }
}

/** An unknown operator: names the node, its type, and what is supported. */
export function unsupportedOp(node: { name: string; opType: string }): UnsupportedGraphError {
  return new UnsupportedGraphError(
    `node '${node.name}' has operator ${node.opType}, which the native engine does not support (supported: ${SUPPORTED_ONNX_OPS.join(', ')})`,
  );
}

export function elementCount(dims: Shape): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** The size of one item of the batch (the product of the non-batch dimensions). */
export function perItemCount(dims: Shape): number {
  let n = 1;
  for (const d of dims) if (d !== BATCH) n *= d;
  return n;
}

export function formatShape(dims: Shape): string {
  return `[${dims.map((d) => (d === BATCH ? 'N' : String(d))).join(', ')}]`;
}

/**
 * The weights a framework's optimizer would update: those read as a Conv's or Gemm's/MatMul's
 * weight or bias, BatchNormalization's scale and bias (not its statistics), PRelu's slope, and a
 * bias Add right after a Conv, Gemm or MatMul (how tf2onnx writes Dense). Constants the graph uses
 * otherwise — the normalisation inside a graph, BatchNorm's running statistics — stay fixed.
 */
export function defaultTrainable(nodes: readonly GraphNode[], weights: ReadonlyMap<string, FloatTensor>): Set<string> {
  const trainable = new Set<string>();
  const producer = new Map<string, GraphNode>();
  for (const node of nodes) for (const o of node.outputs) producer.set(o, node);
  const take = (name: string | undefined) => {
    if (name !== undefined && weights.has(name)) trainable.add(name);
  };
  for (const node of nodes) {
    switch (node.op) {
      case 'Conv':
      case 'Gemm':
        node.inputs.slice(1).forEach(take);
        break;
      case 'MatMul':
        take(node.inputs[1]);
        take(node.inputs[0]);
        break;
      case 'BatchNormalization':
        take(node.inputs[1]);
        take(node.inputs[2]);
        break;
      case 'PRelu':
        take(node.inputs[1]);
        break;
      case 'Add': {
        const [a, b] = node.inputs;
        const from = producer.get(weights.has(b) ? a : b)?.op;
        if (from === 'Conv' || from === 'Gemm' || from === 'MatMul') take(weights.has(b) ? b : a);
        break;
      }
      default:
        break;
    }
  }
  return trainable;
}
