/**
 * PyTorch's default initialisation of a graph's weights, so that a user's architecture (an ONNX
 * file) trains from scratch as the same net built in PyTorch would, and nothing its file holds —
 * pretrained weights, BatchNorm statistics — reaches the trained net. The rule, per tensor, by the
 * role it has in the graph (torch 1.13: nn.Conv2d / nn.Linear reset_parameters(), whose comments
 * say that kaiming_uniform_ with a = √5 is U(−1/√fan_in, 1/√fan_in)):
 * - a Conv's, Gemm's or MatMul's weight, and its bias (the Conv's or Gemm's third input, or the Add
 *   right after it): U(−1/√fan_in, 1/√fan_in), fan_in = input channels per group × kernel area for a
 *   Conv, the inner dimension for Gemm and MatMul (torch.nn.init._calculate_fan_in_and_fan_out);
 * - BatchNormalization: scale 1, bias 0, running mean 0, running variance 1;
 * - PRelu's slope: 0.25 (nn.PReLU's init).
 * Every other constant (a normalisation inside the graph, a fixed scale) is part of the
 * architecture and kept as the file has it. The draws come from the project's generator seeded
 * with the caller's seed, tensor by tensor in the graph's node order.
 *
 * Before that, a tensor that the rule initialises and that the graph reads in more than one place
 * is untied: one copy per use. Exporters merge initializers of equal values (torch.onnx.export
 * does, for an untrained net's BatchNorms: one tensor of ones as every scale and running variance;
 * it writes Identity nodes, which the loader turns into tensors of their own names) and a graph
 * written otherwise may read one tensor directly: trained as it is, its layers would share one
 * scale, and a BatchNorm reading one tensor as its bias and its running mean would have its
 * statistics written into its bias. Weights tied on purpose are untied too (rare in image classifiers).
 */
import { defaultTrainable, type ClassifierGraph, type FloatTensor, type GraphNode } from '../graph/ir.js';
import { Random } from '../random.js';

/** nn.PReLU's initial slope (its `init` argument's default). */
export const TORCH_PRELU_INIT = 0.25;

/** How one tensor is initialised. */
export type InitRule = { readonly kind: 'uniform'; readonly bound: number; readonly fanIn: number } | { readonly kind: 'constant'; readonly value: number };

/** BatchNormalization's inputs 1–4 (scale, bias, running mean, running variance), as PyTorch starts them. */
const BATCH_NORM_INIT = [1, 0, 0, 1] as const;

/** The fan-in of a Conv, Gemm or MatMul node: what one output sums over. */
function fanIn(graph: ClassifierGraph, node: GraphNode): number {
  if (node.op === 'Conv') {
    const [, perGroup, kh, kw] = graph.shapes.get(node.inputs[1])!;
    return perGroup * kh * kw;
  }
  // Gemm's A is [M, K] (the canonical graph has no transA); MatMul's A is [..., K].
  const a = graph.shapes.get(node.inputs[0])!;
  return a[a.length - 1];
}

const uniform = (fan: number): InitRule => ({ kind: 'uniform', bound: fan > 0 ? 1 / Math.sqrt(fan) : 0, fanIn: fan });

/** The rule of input `slot` of `node` when the rule initialises it; undefined for a tensor the architecture keeps. */
function ruleOf(graph: ClassifierGraph, node: GraphNode, slot: number, producer: ReadonlyMap<string, GraphNode>): InitRule | undefined {
  switch (node.op) {
    case 'Conv':
    case 'Gemm':
      return slot >= 1 ? uniform(fanIn(graph, node)) : undefined;
    case 'MatMul':
      return uniform(fanIn(graph, node));
    case 'BatchNormalization':
      return slot >= 1 ? { kind: 'constant', value: BATCH_NORM_INIT[slot - 1] } : undefined;
    case 'PRelu':
      return slot === 1 ? { kind: 'constant', value: TORCH_PRELU_INIT } : undefined;
    case 'Add': {
      // A bias added after a Conv, Gemm or MatMul (how some exporters write a layer's bias).
      const other = producer.get(node.inputs[1 - slot]);
      return other && (other.op === 'Conv' || other.op === 'Gemm' || other.op === 'MatMul') ? uniform(fanIn(graph, other)) : undefined;
    }
    default:
      return undefined;
  }
}

function producers(graph: ClassifierGraph): Map<string, GraphNode> {
  const m = new Map<string, GraphNode>();
  for (const node of graph.nodes) for (const o of node.outputs) m.set(o, node);
  return m;
}

/**
 * The graph with every tensor that the rule initialises read in one place only: each further use
 * (of that tensor, by any node) reads a copy named `<node>:<input index>`. Other graphs come back as they are.
 */
export function untieWeights(graph: ClassifierGraph): ClassifierGraph {
  const producer = producers(graph);
  const uses = new Map<string, { initialised: boolean; count: number }>();
  graph.nodes.forEach((node) =>
    node.inputs.forEach((name, slot) => {
      if (!graph.weights.has(name)) return;
      const u = uses.get(name) ?? { initialised: false, count: 0 };
      uses.set(name, { initialised: u.initialised || ruleOf(graph, node, slot, producer) !== undefined, count: u.count + 1 });
    }),
  );
  if (![...uses.values()].some((u) => u.initialised && u.count > 1)) return graph;
  const taken = new Set<string>([...graph.shapes.keys(), ...graph.nodes.map((n) => n.name)]);
  const weights = new Map(graph.weights);
  const shapes = new Map(graph.shapes);
  const seen = new Set<string>();
  const nodes = graph.nodes.map((node) => {
    const inputs = node.inputs.map((name, slot) => {
      const u = uses.get(name);
      if (!u || !u.initialised || u.count === 1 || !seen.has(name)) {
        seen.add(name);
        return name;
      }
      let copy = `${node.name}:${slot}`;
      for (let i = 1; taken.has(copy); i++) copy = `${node.name}:${slot}~${i}`;
      taken.add(copy);
      const w = graph.weights.get(name)!;
      weights.set(copy, { dims: w.dims, data: Float32Array.from(w.data) });
      shapes.set(copy, w.dims);
      return copy;
    });
    return { ...node, inputs };
  });
  return { ...graph, nodes, weights, shapes, trainable: defaultTrainable(nodes, weights) };
}

/** Each initialised tensor's rule, by name, in the order they are drawn (the graph must be untied). */
export function torchInitRules(graph: ClassifierGraph): Map<string, InitRule> {
  const producer = producers(graph);
  const rules = new Map<string, InitRule>();
  for (const node of graph.nodes) {
    node.inputs.forEach((name, slot) => {
      if (!graph.weights.has(name) || rules.has(name)) return;
      const rule = ruleOf(graph, node, slot, producer);
      if (rule) rules.set(name, rule);
    });
  }
  for (const name of graph.trainable) if (!rules.has(name)) throw new Error(`no initialisation rule for the trained weight '${name}'`);
  return rules;
}

/** What {@link reinitialiseLikeTorch} did. */
export interface TorchInitSummary {
  /** Tensors initialised by the rule, and their values. */
  readonly tensors: number;
  readonly values: number;
  /** Constants kept as the file has them (the architecture's own), and their values. */
  readonly keptTensors: number;
  readonly keptValues: number;
  /** Tensors split off a shared one ({@link untieWeights}). */
  readonly untied: number;
}

/** The graph untied and re-initialised by PyTorch's rule from `seed` (the module comment); the caller's graph is not changed. */
export function reinitialiseLikeTorch(graph: ClassifierGraph, seed: number): { graph: ClassifierGraph; summary: TorchInitSummary } {
  const untied = untieWeights(graph);
  const rules = torchInitRules(untied);
  const rng = new Random(seed);
  const weights = new Map<string, FloatTensor>(untied.weights);
  let values = 0;
  for (const [name, rule] of rules) {
    const w = untied.weights.get(name)!;
    // Sized by the tensor the loader read (its bytes were present), never by a declared shape.
    const data = new Float32Array(w.data.length);
    if (rule.kind === 'constant') data.fill(rule.value);
    else for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-rule.bound, rule.bound);
    weights.set(name, { dims: w.dims, data });
    values += data.length;
  }
  const kept = [...untied.weights].filter(([name]) => !rules.has(name));
  const summary: TorchInitSummary = {
    tensors: rules.size,
    values,
    keptTensors: kept.length,
    keptValues: kept.reduce((s, [, w]) => s + w.data.length, 0),
    untied: untied.weights.size - graph.weights.size,
  };
  return { graph: { ...untied, weights }, summary };
}
