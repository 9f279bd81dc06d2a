/**
 * Input layouts. Everything upstream of the engine — image sets, stamping, the trigger search's
 * mask and pattern — is height × width × channels (NHWC), as TensorFlow.js and the image files are;
 * PyTorch exports take NCHW. Rather than transposing every batch and every gradient by hand, an
 * NCHW graph gets a Transpose in front of it, so that every program generated from it (forward,
 * input gradient, training) reads NHWC and onnxruntime does the transposition (its backward is a
 * Transpose too, written by the same differentiation as every other node).
 */
import { BATCH, UnsupportedGraphError, type ClassifierGraph, type GraphNode } from './ir.js';

/** How a graph's image input is laid out. */
export const INPUT_LAYOUTS = ['nchw', 'nhwc'] as const;
export type InputLayout = (typeof INPUT_LAYOUTS)[number];
/** torch.onnx.export's layout, the default for ONNX models. */
export const DEFAULT_ONNX_INPUT_LAYOUT: InputLayout = 'nchw';

/** The input's [height, width, channels] under a layout. */
export function imageShapeOf(graph: ClassifierGraph, layout: InputLayout): [number, number, number] {
  const [, a, b, c] = graph.input.shape;
  return layout === 'nchw' ? [b, c, a] : [a, b, c];
}

/**
 * The same classifier reading NHWC batches: unchanged for an NHWC graph; for an NCHW graph, its
 * input renamed and fed by a Transpose from a new NHWC input that keeps the original name.
 */
export function withNhwcInput(graph: ClassifierGraph, layout: InputLayout): ClassifierGraph {
  if (layout === 'nhwc') return graph;
  const { name, shape } = graph.input;
  if (shape.length !== 4 || shape[0] !== BATCH) throw new UnsupportedGraphError(`input '${name}' is not an image batch [N, C, H, W]`);
  const [, C, H, W] = shape;
  const inner = uniqueName(graph, `${name}::nchw`);
  const transpose: GraphNode = { name: uniqueName(graph, `${name}/to-nchw`), op: 'Transpose', inputs: [name], outputs: [inner], attrs: { perm: [0, 3, 1, 2] } };
  const rename = (v: string): string => (v === name ? inner : v);
  const nodes = [transpose, ...graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(rename) }))];
  const shapes = new Map(graph.shapes);
  shapes.set(name, [BATCH, H, W, C]);
  shapes.set(inner, shape);
  return { ...graph, input: { name, shape: [BATCH, H, W, C] }, nodes, shapes, output: rename(graph.output) };
}

function uniqueName(graph: ClassifierGraph, base: string): string {
  const taken = new Set<string>([...graph.shapes.keys(), ...graph.nodes.map((n) => n.name)]);
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}${i}`;
  return name;
}
