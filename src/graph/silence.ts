/**
 * Silencing units of an activation by zeroing weights (neuron pruning on a graph): unit c of a
 * value (along axis 1: a Dense unit of [N, U], a channel of [N, C, H, W]) is exactly 0 for every
 * input once the weight slices that make it are zero — the row of a Gemm's weight and its bias, a
 * Conv's output filter and bias, BatchNormalization's scale and shift. Between the value and that
 * node may sit operators that keep 0 at 0 channel by channel (ReLU, pooling, dropout, a bias Add, a
 * Flatten of 1×1 maps); anything else (a residual sum, a concatenation, a normalisation by
 * constants) cannot be silenced through weights alone, and is refused with the reason.
 */
import { UnsupportedGraphError, type ClassifierGraph, type GraphNode, type Shape } from './ir.js';

/** One weight's slices to zero: index c along `axis` for each silenced unit c. */
export interface ZeroSlice {
  readonly weight: string;
  readonly axis: number;
}

/** Operators f with f(0) = 0 that keep axis 1 in place (each output channel reads only its own channel). */
const ZERO_PRESERVING = new Set(['Relu', 'LeakyRelu', 'PRelu', 'Tanh', 'HardSwish', 'Dropout', 'MaxPool', 'AveragePool', 'GlobalAveragePool']);

/** The weight slices that silence the units of `value` (see the module comment); throws when none can. */
export function silencingSlices(graph: ClassifierGraph, value: string): ZeroSlice[] {
  const producer = new Map<string, GraphNode>();
  const readers = new Map<string, number>();
  for (const node of graph.nodes) {
    for (const o of node.outputs) producer.set(o, node);
    for (const i of node.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  }
  const units = graph.shapes.get(value)?.[1];
  if (units === undefined) throw new UnsupportedGraphError(`'${value}' is not a value of this graph`);
  const slices: ZeroSlice[] = [];
  const take = (node: GraphNode, weight: string | undefined, axis: number): void => {
    if (weight === undefined || weight === '') return;
    if (!graph.weights.has(weight)) throw refuse(value, node, `its ${weight === node.inputs[1] ? 'weight' : 'bias'} '${weight}' is computed, not a constant`);
    const dims = graph.weights.get(weight)!.dims;
    if (dims[axis] !== units) throw refuse(value, node, `its weight '${weight}' (${dims.join('x')}) has no axis of ${units} units to zero`);
    // A weight read elsewhere too (tied) would silence units of another layer.
    if ((readers.get(weight) ?? 0) > 1) throw refuse(value, node, `its weight '${weight}' is shared with other nodes`);
    slices.push({ weight, axis });
  };
  let v = value;
  for (;;) {
    const node = producer.get(v);
    if (node === undefined) throw new UnsupportedGraphError(`'${value}' comes from the model's input without a layer with weights in between: nothing to zero`);
    const [x, w, b] = node.inputs;
    if (node.op === 'Clip' && !(Number(node.attrs.min) <= 0 && Number(node.attrs.max) >= 0)) throw refuse(value, node, 'a Clip whose range excludes 0 does not keep 0 at 0');
    if (ZERO_PRESERVING.has(node.op) || node.op === 'Clip') {
      v = x;
      continue;
    }
    switch (node.op) {
      case 'Reshape': {
        // Only a reshape between [N, C] and [N, C, 1, 1] keeps unit c as channel c.
        if (!unitsOnly(graph.shapes.get(x)!, units) || !unitsOnly(graph.shapes.get(node.outputs[0])!, units)) throw refuse(value, node, 'a Reshape that mixes channels and positions');
        v = x;
        continue;
      }
      case 'Add': {
        const [p, q] = node.inputs;
        const bias = graph.weights.has(p) ? p : graph.weights.has(q) ? q : undefined;
        if (bias === undefined) throw refuse(value, node, 'a sum of two activations (a residual connection): silencing one side leaves the other; choose the activation of one branch, such as the last convolution (--layer last-conv)');
        take(node, bias, biasAxis(graph.weights.get(bias)!.dims, units));
        v = bias === p ? q : p;
        continue;
      }
      case 'Conv':
        take(node, w, 0);
        take(node, b, 0);
        return slices;
      case 'BatchNormalization':
        take(node, w, 0);
        take(node, b, 0);
        return slices;
      case 'Gemm':
        take(node, w, node.attrs.transB ? 0 : 1);
        if (b !== undefined && b !== '') take(node, b, biasAxis(graph.weights.get(b)?.dims ?? [], units));
        return slices;
      case 'MatMul':
        if (!graph.weights.has(w)) throw refuse(value, node, 'a MatMul of two activations');
        take(node, w, graph.weights.get(w)!.dims.length - 1);
        return slices;
      default:
        throw refuse(value, node, `a ${node.op} does not keep 0 at 0 unit by unit`);
    }
  }
}

function refuse(value: string, node: GraphNode, why: string): UnsupportedGraphError {
  return new UnsupportedGraphError(`the units of '${value}' cannot be silenced by zeroing weights: node '${node.name}' (${node.op}) is on the way, and ${why}`);
}

/** Whether a shape is [N, units] or [N, units, 1, …, 1]. */
function unitsOnly(shape: Shape, units: number): boolean {
  return shape[1] === units && shape.slice(2).every((d) => d === 1);
}

/** The axis of a bias that runs along the units: [U], [1, U] or [1, C, 1, 1] / [C, 1, 1]. */
function biasAxis(dims: Shape, units: number): number {
  const axes = dims.map((d, i) => (d === units ? i : -1)).filter((i) => i >= 0);
  const others = dims.every((d, i) => d === 1 || axes.includes(i));
  return axes.length === 1 && others ? axes[0] : -1;
}

/** Sets index c along each slice's axis to 0 for every unit c in `units`, in `weights` (in place). */
export function zeroSlices(weights: ReadonlyMap<string, Float32Array>, dimsOf: (name: string) => Shape, slices: readonly ZeroSlice[], units: readonly number[]): void {
  for (const { weight, axis } of slices) {
    const data = weights.get(weight);
    if (data === undefined) throw new UnsupportedGraphError(`weight '${weight}' is missing`);
    const dims = dimsOf(weight);
    const along = dims[axis];
    const inner = dims.slice(axis + 1).reduce((p, d) => p * d, 1);
    const outer = data.length / (along * inner);
    for (const c of units) {
      if (!Number.isInteger(c) || c < 0 || c >= along) throw new UnsupportedGraphError(`unit ${c} is not one of the ${along} of '${weight}'`);
      for (let o = 0; o < outer; o++) data.fill(0, (o * along + c) * inner, (o * along + c + 1) * inner);
    }
  }
}
