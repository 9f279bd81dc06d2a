/**
 * The programs generated from a {@link ClassifierGraph}, each one ONNX graph for onnxruntime:
 *
 * 1. forward: the class scores and any named intermediate activations (the input filter's and the
 *    pruning ranking's activations);
 * 2. input gradient: the scores and the gradient of the Neural Cleanse classification loss with
 *    respect to the input (the trigger search);
 * 3. training: a softmax cross-entropy loss (per-sample weights) and its gradient with respect to
 *    every trainable weight (training, unlearning, pruning's fine-tune); the trainable weights are
 *    inputs, fed at every step, so that one session serves the whole run;
 * 4. head: the scores from an intermediate activation with some of its units silenced (pruning).
 *
 * The backward passes are written by reverse-mode differentiation over the graph: each node's
 * backward rule (ops.ts) runs in reverse order, and the gradients of a value read by several nodes
 * (a residual connection) are added.
 */
import { BATCH, formatShape, UnsupportedGraphError, type ClassifierGraph, type GraphNode, type Shape } from './ir.js';
import { emitBackward, emitForward, type EmitContext } from './ops.js';
import { GraphWriter, type ValueDeclaration } from './writer.js';
import { KERAS_EPSILON } from '../keras.js';

/** Probability clip of Keras's categorical cross-entropy (K.epsilon()), for models ending in softmax. */
export const PROBABILITY_EPSILON = KERAS_EPSILON;

/**
 * The trigger search's classification loss: the cross-entropy to the target (on logits, or Keras's
 * on probabilities clipped to [1e-7, 1 − 1e-7] when the model ends in softmax), or the Neural Cleanse
 * release's swapped call −mean(p_t·log(1 − 1e-7) + (1 − p_t)·log 1e-7).
 */
export type InputGradientLoss = 'cross-entropy' | 'release-swapped';

/** BatchNormalization in the training program: running statistics (frozen), or batch statistics. */
export const BATCH_NORM_MODES = ['frozen', 'train'] as const;
export type BatchNormMode = (typeof BATCH_NORM_MODES)[number];

/** Input and output names of the generated programs. */
export const PROGRAM_NAMES = {
  x: 'x',
  target: 'target',
  scale: 'scale',
  out: 'out',
  dx: 'dx',
  loss: 'loss',
} as const;

/** The name of the training program's output holding the gradient of weight `name`. */
export const gradientName = (name: string): string => `grad::${name}`;
/** The name of the training program's input holding the dropout mask of node `name`. */
export const dropoutMaskName = (name: string): string => `mask::${name}`;
/** The outputs of a train-mode BatchNorm's batch mean and variance (running averages are kept by the caller). */
export const batchMeanName = (name: string): string => `mean::${name}`;
export const batchVarianceName = (name: string): string => `var::${name}`;

/**
 * The prefix of the source graph's values inside a program, so that none of its names ('x', 'out',
 * 'loss', a name like the writer's fresh ones) can collide with a program's inputs, outputs or
 * intermediate values: a model whose input is named 'x' would otherwise define 'x' twice, which
 * onnxruntime refuses. Weights keep their names: the training program takes and returns them so.
 */
const SOURCE_PREFIX = 'src::';

/** `graph` with every value but the weights renamed under {@link SOURCE_PREFIX}. */
function namespaced(graph: ClassifierGraph): ClassifierGraph {
  const reserved = new Set<string>(Object.values(PROGRAM_NAMES));
  for (const w of graph.weights.keys()) if (reserved.has(w)) throw new UnsupportedGraphError(`weight '${w}' has a name the engine's programs reserve (${[...reserved].join(', ')})`);
  const rename = (n: string) => (n === '' || graph.weights.has(n) ? n : SOURCE_PREFIX + n);
  return {
    ...graph,
    input: { ...graph.input, name: rename(graph.input.name) },
    output: rename(graph.output),
    nodes: graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) })),
    shapes: new Map([...graph.shapes].map(([k, v]) => [rename(k), v])),
  };
}

function context(graph: ClassifierGraph, g: GraphWriter, forGradient: boolean, extraShapes?: Map<string, Shape>): EmitContext {
  return {
    g,
    forGradient,
    saved: new Map(),
    shape(name: string): Shape {
      const s = graph.shapes.get(name) ?? extraShapes?.get(name);
      if (s === undefined) throw new UnsupportedGraphError(`value '${name}' has no known shape`);
      return s;
    },
  };
}

function declareInput(graph: ClassifierGraph, g: GraphWriter): ValueDeclaration {
  g.alias(PROGRAM_NAMES.x, graph.input.name);
  return { name: PROGRAM_NAMES.x, dims: graph.input.shape.map((d) => (d === BATCH ? 'N' : d)) };
}

function writeWeights(graph: ClassifierGraph, g: GraphWriter, asInputs: ReadonlySet<string> = new Set(), read?: ReadonlySet<string>): ValueDeclaration[] {
  const inputs: ValueDeclaration[] = [];
  for (const [name, w] of graph.weights) {
    if (asInputs.has(name)) inputs.push({ name, dims: [...w.dims] });
    // A constant no node reads (train-mode BatchNorm's running statistics) is left out: onnxruntime warns of each.
    else if (read && !read.has(name)) continue;
    else g.floats(w.data, [...w.dims], name);
  }
  return inputs;
}

const classes = (graph: ClassifierGraph): number => graph.shapes.get(graph.output)![1];

/** The logits: the graph's output, or the input of its final softmax. */
function logitsOf(graph: ClassifierGraph): string {
  return graph.endsInSoftmax ? graph.nodes[graph.nodes.length - 1].inputs[0] : graph.output;
}

export interface ForwardProgramOptions {
  /** Intermediate values to output too (source-graph value names). */
  readonly activations?: readonly string[];
}

/** Program 1: `out` [N, K] and each named activation, under its own name. */
export function forwardProgram(source: ClassifierGraph, options: ForwardProgramOptions = {}): Uint8Array {
  const graph = namespaced(source);
  const g = new GraphWriter();
  const input = declareInput(graph, g);
  writeWeights(graph, g);
  const ctx = context(graph, g, false);
  for (const node of graph.nodes) emitForward(node, ctx);
  g.alias(graph.output, PROGRAM_NAMES.out);
  const outputs: ValueDeclaration[] = [{ name: PROGRAM_NAMES.out, dims: ['N', classes(graph)] }];
  for (const name of options.activations ?? []) {
    const shape = source.shapes.get(name);
    if (shape === undefined || source.weights.has(name) || name === source.input.name) {
      throw new UnsupportedGraphError(`'${name}' is not an activation of this graph (node outputs: ${source.nodes.map((n) => n.outputs[0]).slice(0, 12).join(', ')}…)`);
    }
    if (name === PROGRAM_NAMES.out) throw new UnsupportedGraphError(`activation '${name}' has the name of the forward program's output`);
    g.alias(SOURCE_PREFIX + name, name);
    outputs.push({ name, dims: shape.map((d) => (d === BATCH ? 'N' : d)) });
  }
  return g.encode(graph.name, [input], outputs);
}

/**
 * The nodes after a value `from`: those that read it, directly or through other such nodes, and the
 * other activations they read (a residual connection's shortcut, computed before or beside
 * `from`), which a head program takes as inputs so that it can run from cached values.
 */
export interface GraphHead {
  readonly from: string;
  readonly nodes: readonly GraphNode[];
  /** Activations (not weights, not `from`) the head reads that it does not compute. */
  readonly sides: readonly string[];
}

export function headOf(graph: ClassifierGraph, from: string): GraphHead {
  if (!graph.shapes.has(from) || graph.weights.has(from) || from === graph.input.name) {
    throw new UnsupportedGraphError(`'${from}' is not an activation of this graph`);
  }
  const computed = new Set([from]);
  const nodes: GraphNode[] = [];
  for (const node of graph.nodes) {
    if (!node.inputs.some((i) => computed.has(i))) continue;
    nodes.push(node);
    for (const o of node.outputs) computed.add(o);
  }
  if (!computed.has(graph.output)) throw new UnsupportedGraphError(`the class scores do not depend on '${from}'`);
  const sides: string[] = [];
  for (const node of nodes) for (const i of node.inputs) if (i !== '' && !computed.has(i) && !graph.weights.has(i) && !sides.includes(i)) sides.push(i);
  return { from, nodes, sides };
}

/** Inputs of a head program: `from`'s values, the per-unit keep vector, and each side activation. */
export const HEAD_NAMES = { from: 'head::from', keep: 'head::keep', side: (name: string): string => `head::side::${name}` } as const;

/**
 * Program 4: the class scores `out` [N, K] from `from`'s values multiplied by a keep vector along
 * axis 1 (units of a [N, U] value, channels of a [N, C, H, W] one), shaped to broadcast, and the
 * head's side activations — the model with the units of `from` whose keep entry is 0 silenced,
 * run from cached activations (the pruning search tries many keep vectors on the same images).
 */
export function headProgram(source: ClassifierGraph, head: GraphHead): Uint8Array {
  const graph = namespaced(source);
  const within = new Set(head.nodes.map((n) => n.name));
  const nodes = graph.nodes.filter((n) => within.has(n.name));
  const g = new GraphWriter();
  const declare = (input: string, value: string): ValueDeclaration => ({ name: input, dims: source.shapes.get(value)!.map((d) => (d === BATCH ? 'N' : d)) });
  const fromShape = source.shapes.get(head.from)!;
  if (fromShape.length < 2) throw new UnsupportedGraphError(`'${head.from}' has no unit axis (${formatShape(fromShape)})`);
  const keepDims = fromShape.map((d, i) => (i === 1 ? d : 1));
  const inputs: ValueDeclaration[] = [declare(HEAD_NAMES.from, head.from), { name: HEAD_NAMES.keep, dims: keepDims }];
  g.node('Mul', [HEAD_NAMES.from, HEAD_NAMES.keep], {}, [SOURCE_PREFIX + head.from]);
  for (const side of head.sides) {
    inputs.push(declare(HEAD_NAMES.side(side), side));
    g.alias(HEAD_NAMES.side(side), SOURCE_PREFIX + side);
  }
  writeWeights(graph, g, new Set(), new Set(nodes.flatMap((n) => n.inputs)));
  const ctx = context(graph, g, false);
  for (const node of nodes) emitForward(node, ctx);
  g.alias(graph.output, PROGRAM_NAMES.out);
  return g.encode(graph.name, inputs, [{ name: PROGRAM_NAMES.out, dims: ['N', classes(graph)] }]);
}

/**
 * Writes the backward pass: from the `seeds` (value → its gradient), the gradients of the values
 * in `wrt`. Only nodes between `wrt` and the seeds are differentiated.
 */
export function backpropagate(graph: ClassifierGraph, ctx: EmitContext, seeds: ReadonlyMap<string, string>, wrt: readonly string[], nodes: readonly GraphNode[] = graph.nodes): Map<string, string> {
  const { g } = ctx;
  const reaches = new Set(wrt);
  for (const node of nodes) if (node.inputs.some((i) => reaches.has(i))) for (const o of node.outputs) reaches.add(o);
  const grads = new Map(seeds);
  const add = (name: string, d: string) => {
    const known = grads.get(name);
    grads.set(name, known === undefined ? d : g.op('Add', [known, d]));
  };
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const dy = grads.get(node.outputs[0]);
    if (dy === undefined) continue;
    const need = node.inputs.map((x) => reaches.has(x));
    if (!need.some(Boolean)) continue;
    const dxs = emitBackward(node, dy, need, ctx);
    dxs.forEach((d, j) => {
      if (d !== undefined && need[j]) add(node.inputs[j], d);
    });
  }
  const out = new Map<string, string>();
  for (const name of wrt) {
    const d = grads.get(name);
    if (d !== undefined) out.set(name, d);
  }
  return out;
}

/**
 * The gradient of a cross-entropy with respect to the logits, per row scaled by `rowScale` [N, 1]
 * or a scalar: softmax cross-entropy on logits, or Keras's on clipped probabilities when the model
 * ends in softmax (the clip passes the gradient where 1e-7 ≤ p ≤ 1 − 1e-7, as TensorFlow.js's).
 */
function crossEntropyGradient(g: GraphWriter, graph: ClassifierGraph, p: string, target: string, rowScale: string): string {
  if (!graph.endsInSoftmax) return g.op('Mul', [g.op('Sub', [p, target]), rowScale]);
  const clipped = g.op('Clip', [p, g.scalar(PROBABILITY_EPSILON), g.scalar(1 - PROBABILITY_EPSILON)]);
  const inside = g.op('And', [g.op('GreaterOrEqual', [p, g.scalar(PROBABILITY_EPSILON)]), g.op('LessOrEqual', [p, g.scalar(1 - PROBABILITY_EPSILON)])]);
  const dp = g.op('Neg', [g.op('Mul', [g.op('Div', [target, clipped]), rowScale])]);
  return throughSoftmax(g, p, g.op('Where', [inside, dp, g.scalar(0)]));
}

function throughSoftmax(g: GraphWriter, p: string, dp: string): string {
  return g.op('Mul', [p, g.op('Sub', [dp, g.op('ReduceSum', [g.op('Mul', [dp, p]), g.ints([-1])], { keepdims: 1 })])]);
}

/** Program 2: `out` [N, K] and `dx` (the input's shape) for inputs `x`, `target` [N, K] one-hot, `scale` [1] (1/N). */
export function inputGradientProgram(source: ClassifierGraph, loss: InputGradientLoss): Uint8Array {
  const graph = namespaced(source);
  const g = new GraphWriter();
  const input = declareInput(graph, g);
  writeWeights(graph, g);
  const ctx = context(graph, g, true);
  for (const node of graph.nodes) emitForward(node, ctx);
  const K = classes(graph);
  const logits = logitsOf(graph);
  const p = graph.endsInSoftmax ? graph.output : g.op('Softmax', [logits], { axis: -1 });
  const { target, scale } = PROGRAM_NAMES;
  let dz: string;
  if (loss === 'release-swapped') {
    // d/dp_t of −mean(p_t·a + (1 − p_t)·b) = −(a − b)/N on the target's column.
    const coefficient = -(Math.log(1 - PROBABILITY_EPSILON) - Math.log(PROBABILITY_EPSILON));
    dz = throughSoftmax(g, p, g.op('Mul', [g.op('Mul', [target, g.scalar(coefficient)]), scale]));
  } else dz = crossEntropyGradient(g, graph, p, target, scale);
  const body = graph.endsInSoftmax ? graph.nodes.slice(0, -1) : graph.nodes;
  const dx = backpropagate(graph, ctx, new Map([[logits, dz]]), [graph.input.name], body).get(graph.input.name);
  if (dx === undefined) throw new UnsupportedGraphError('the output does not depend on the input');
  g.alias(graph.output, PROGRAM_NAMES.out);
  g.alias(dx, PROGRAM_NAMES.dx);
  return g.encode(
    graph.name,
    [input, { name: target, dims: ['N', K] }, { name: scale, dims: [1] }],
    [
      { name: PROGRAM_NAMES.out, dims: ['N', K] },
      { name: PROGRAM_NAMES.dx, dims: input.dims },
    ],
  );
}

/**
 * Program 5: `out` the logits [N, K] (the input of a final softmax) and `dx` the gradient of
 * Σ_n Σ_k target[n, k]·logits[n, k] with respect to the input, for inputs `x` and `target` [N, K]
 * read as coefficients: the input gradient of any linear function of each row's logits (MM-BD's
 * margin logit_c − logit_j takes +1 and −1). No softmax and no loss: a detector that reasons on
 * logits needs them raw.
 */
export function logitGradientProgram(source: ClassifierGraph): Uint8Array {
  const graph = namespaced(source);
  const g = new GraphWriter();
  const input = declareInput(graph, g);
  writeWeights(graph, g);
  const ctx = context(graph, g, true);
  const body = graph.endsInSoftmax ? graph.nodes.slice(0, -1) : graph.nodes;
  for (const node of body) emitForward(node, ctx);
  const K = classes(graph);
  const logits = logitsOf(graph);
  const dx = backpropagate(graph, ctx, new Map([[logits, PROGRAM_NAMES.target]]), [graph.input.name], body).get(graph.input.name);
  if (dx === undefined) throw new UnsupportedGraphError('the output does not depend on the input');
  g.alias(logits, PROGRAM_NAMES.out);
  g.alias(dx, PROGRAM_NAMES.dx);
  return g.encode(
    graph.name,
    [input, { name: PROGRAM_NAMES.target, dims: ['N', K] }],
    [
      { name: PROGRAM_NAMES.out, dims: ['N', K] },
      { name: PROGRAM_NAMES.dx, dims: input.dims },
    ],
  );
}

export interface TrainingProgramOptions {
  /** BatchNorm's statistics: 'frozen' (running statistics, the default) or 'train' (batch statistics). */
  readonly batchNorm?: BatchNormMode;
  /** Weights to train (default: the graph's trainable set). */
  readonly trainable?: ReadonlySet<string>;
}

export interface TrainingProgram {
  readonly bytes: Uint8Array;
  /** The trained weights, in the order their gradients are output (each is an input of the program). */
  readonly parameters: readonly string[];
  /** Dropout nodes whose masks are inputs (name, mask shape, keep probability). */
  readonly dropouts: readonly { readonly node: string; readonly shape: Shape; readonly rate: number }[];
  /** Train-mode BatchNorm nodes (their batch statistics are outputs). */
  readonly batchNorms: readonly string[];
}

/**
 * Program 3: inputs `x`, `target` [N, K] one-hot, `scale` [N, 1] (each sample's weight over the
 * batch size), each trained weight, each dropout mask; outputs `loss` (Σ scale·cross-entropy),
 * `out` [N, K], each trained weight's gradient (see {@link gradientName}), and with train-mode
 * BatchNorm each batch mean and variance.
 */
export function trainingProgram(source: ClassifierGraph, options: TrainingProgramOptions = {}): TrainingProgram {
  const graph = namespaced(source);
  const mode = options.batchNorm ?? 'frozen';
  if (!(BATCH_NORM_MODES as readonly string[]).includes(mode)) throw new UnsupportedGraphError(`unknown BatchNorm mode '${mode}' (${BATCH_NORM_MODES.join(', ')})`);
  const parameters = [...(options.trainable ?? graph.trainable)];
  for (const p of parameters) if (!graph.weights.has(p)) throw new UnsupportedGraphError(`'${p}' is not a weight of this graph`);
  const g = new GraphWriter();
  const input = declareInput(graph, g);
  const extraShapes = new Map<string, Shape>();
  const ctx = context(graph, g, true, extraShapes);
  const dropouts: { node: string; shape: Shape; rate: number }[] = [];
  const batchNorms: string[] = [];
  const extraInputs: ValueDeclaration[] = [];
  const extraOutputs: ValueDeclaration[] = [];
  // Nodes as differentiated: train-mode BatchNorm and dropout become primitive nodes.
  const nodes: GraphNode[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'Dropout') {
      const shape = graph.shapes.get(node.inputs[0])!;
      const mask = dropoutMaskName(node.name);
      dropouts.push({ node: node.name, shape, rate: node.attrs.rate as number });
      extraInputs.push({ name: mask, dims: shape.map((d) => (d === BATCH ? 'N' : d)) });
      extraShapes.set(mask, shape);
      nodes.push({ name: node.name, op: 'Mul', inputs: [node.inputs[0], mask], outputs: node.outputs, attrs: {} });
    } else if (node.op === 'BatchNormalization' && mode === 'train') {
      batchNorms.push(node.name);
      nodes.push(...trainModeBatchNorm(node, graph, extraShapes, extraOutputs));
    } else nodes.push(node);
  }
  const weightInputs = writeWeights(graph, g, new Set(parameters), new Set(nodes.flatMap((n) => n.inputs)));
  for (const node of nodes) emitForward(node, ctx);
  const K = classes(graph);
  const logits = logitsOf(graph);
  const body = graph.endsInSoftmax ? nodes.slice(0, -1) : nodes;
  const { target, scale } = PROGRAM_NAMES;
  const p = graph.endsInSoftmax ? graph.output : g.op('Softmax', [logits], { axis: -1 });
  // loss = Σ_i scale_i · (−Σ_k t_ik·log p_ik), from log-softmax (or Keras's clipped log p).
  const logP = graph.endsInSoftmax ? g.op('Log', [g.op('Clip', [p, g.scalar(PROBABILITY_EPSILON), g.scalar(1 - PROBABILITY_EPSILON)])]) : g.op('LogSoftmax', [logits], { axis: -1 });
  const lossValue = g.op('Neg', [g.op('ReduceSum', [g.op('Mul', [g.op('Mul', [target, logP]), scale]), g.ints([0, 1])], { keepdims: 0 })]);
  g.alias(lossValue, PROGRAM_NAMES.loss);
  const dz = crossEntropyGradient(g, graph, p, target, scale);
  const grads = backpropagate(graph, ctx, new Map([[logits, dz]]), parameters, body);
  const outputs: ValueDeclaration[] = [
    { name: PROGRAM_NAMES.loss, dims: [] },
    { name: PROGRAM_NAMES.out, dims: ['N', K] },
  ];
  g.alias(graph.output, PROGRAM_NAMES.out);
  for (const name of parameters) {
    const d = grads.get(name);
    const dims = [...graph.weights.get(name)!.dims];
    // A weight the loss does not reach (after the output, or cut off) has a zero gradient.
    g.alias(d ?? g.floats(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims), gradientName(name));
    outputs.push({ name: gradientName(name), dims });
  }
  outputs.push(...extraOutputs);
  const bytes = g.encode(graph.name, [input, { name: target, dims: ['N', K] }, { name: scale, dims: ['N', 1] }, ...weightInputs, ...extraInputs], outputs);
  return { bytes, parameters, dropouts, batchNorms };
}

/**
 * BatchNormalization with batch statistics, as primitive nodes that the backward pass
 * differentiates (the gradient flows through the batch mean and variance, as in training mode):
 * y = (x − μ_B)/√(σ²_B + ε)·γ + β, with the biased batch variance; μ_B and σ²_B are outputs.
 */
function trainModeBatchNorm(node: GraphNode, graph: ClassifierGraph, shapes: Map<string, Shape>, outputs: ValueDeclaration[]): GraphNode[] {
  const [x, scale, bias] = node.inputs;
  const xs = graph.shapes.get(x)!;
  if (xs.length !== 4 && xs.length !== 2) throw new UnsupportedGraphError(`node '${node.name}': train-mode BatchNorm on ${formatShape(xs)}`);
  const c = xs[1];
  const axes = xs.map((_, i) => i).filter((i) => i !== 1);
  const keep = xs.map((d, i) => (i === 1 ? c : 1));
  const n = (s: string) => `${node.name}::${s}`;
  const mean = batchMeanName(node.name);
  const variance = batchVarianceName(node.name);
  const set = (name: string, shape: Shape) => shapes.set(name, shape);
  const eps = n('eps');
  set(n('centred'), xs);
  set(n('sq'), xs);
  set(n('meanK'), keep);
  set(n('varK'), keep);
  set(n('varEps'), keep);
  set(n('std'), keep);
  set(n('xhat'), xs);
  set(n('gammaK'), keep);
  set(n('betaK'), keep);
  set(n('scaled'), xs);
  set(mean, [c]);
  set(variance, [c]);
  set(eps, []);
  outputs.push({ name: mean, dims: [c] }, { name: variance, dims: [c] });
  const nodes: GraphNode[] = [
    { name: n('mean'), op: 'ReduceMean', inputs: [x], outputs: [n('meanK')], attrs: { axes, keepdims: 1 } },
    { name: n('centre'), op: 'Sub', inputs: [x, n('meanK')], outputs: [n('centred')], attrs: {} },
    { name: n('square'), op: 'Mul', inputs: [n('centred'), n('centred')], outputs: [n('sq')], attrs: {} },
    { name: n('var'), op: 'ReduceMean', inputs: [n('sq')], outputs: [n('varK')], attrs: { axes, keepdims: 1 } },
    { name: n('addEps'), op: 'Add', inputs: [n('varK'), eps], outputs: [n('varEps')], attrs: {} },
    { name: n('sqrt'), op: 'Sqrt', inputs: [n('varEps')], outputs: [n('std')], attrs: {} },
    { name: n('normalise'), op: 'Div', inputs: [n('centred'), n('std')], outputs: [n('xhat')], attrs: {} },
    { name: n('gamma'), op: 'Reshape', inputs: [scale], outputs: [n('gammaK')], attrs: { shape: keep } },
    { name: n('beta'), op: 'Reshape', inputs: [bias], outputs: [n('betaK')], attrs: { shape: keep } },
    { name: n('scale'), op: 'Mul', inputs: [n('xhat'), n('gammaK')], outputs: [n('scaled')], attrs: {} },
    { name: node.name, op: 'Add', inputs: [n('scaled'), n('betaK')], outputs: node.outputs, attrs: {} },
    { name: n('meanOut'), op: 'Reshape', inputs: [n('meanK')], outputs: [mean], attrs: { shape: [c] } },
    { name: n('varOut'), op: 'Reshape', inputs: [n('varK')], outputs: [variance], attrs: { shape: [c] } },
    { name: n('epsilon'), op: 'Constant', inputs: [], outputs: [eps], attrs: { value: node.attrs.epsilon as number } },
  ];
  // The constant first, so that it exists before it is read.
  return [nodes[nodes.length - 1], ...nodes.slice(0, -1)];
}
