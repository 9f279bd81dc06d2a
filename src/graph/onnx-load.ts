/**
 * An ONNX ModelProto (what `torch.onnx.export` and tf2onnx write for image classifiers, opsets
 * 11–18) read into a {@link ClassifierGraph}: the file's checks (one image input of rank 4 within
 * size limits, one output, known operators, nodes in order), then its tensors (onnx-values.ts) and
 * nodes (canonicalise.ts).
 */
import onnxProto from 'onnx-proto';
import { DataFormatError, PoisonguardError } from '../errors.js';
import { BATCH, formatShape, SUPPORTED_ONNX_OPS, unsupportedOp, UnsupportedGraphError, type ClassifierGraph, type RunningVariance, type Shape } from './ir.js';
import { Canonicaliser } from './canonicalise.js';
import { DT, onnx, TensorReader, toNumber, type Const, type NodeProto, type TensorLimits } from './onnx-values.js';

export { DEFAULT_MAX_WEIGHT_BYTES } from './onnx-values.js';
export { broadcastShape } from './shape-rules.js';

/** Largest image side and channel count the engine takes (a declared 1e6 x 1e6 input is refused). */
export const MAX_INPUT_SIDE = 8192;
export const MAX_INPUT_CHANNELS = 64;
/** The opsets this loader is written for (what exporters of image classifiers write). */
export const ONNX_OPSETS = { min: 7, max: 21 } as const;

export interface OnnxLoadOptions extends TensorLimits {
  /** The file's name, for messages. */
  readonly source?: string;
  /** [C, H, W]-style non-batch input dimensions, when the graph leaves some symbolic. */
  readonly inputShape?: readonly number[];
}

/**
 * The files a model keeps its tensors' data in (external data: initializers and Constant nodes'
 * tensors), as the model names them, each once, sorted: what must travel with the model file.
 */
export function externalDataFiles(bytes: Uint8Array, file = 'model.onnx'): string[] {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DataFormatError(file, `not an ONNX model (the protobuf does not decode: ${e instanceof Error ? e.message : String(e)})`);
  }
  const tensors = [...(model.graph?.initializer ?? []), ...(model.graph?.node ?? []).flatMap((n) => (n.attribute ?? []).flatMap((a) => [...(a.t ? [a.t] : []), ...(a.tensors ?? [])]))];
  const locations = tensors
    .filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
    .map((t) => (t.externalData ?? []).find((e) => e.key === 'location')?.value ?? '');
  return [...new Set(locations)].sort();
}

/** Reads a ModelProto and builds the classifier graph. Throws a one-line error for anything it cannot take. */
export function loadOnnxGraph(bytes: Uint8Array, options: OnnxLoadOptions = {}): ClassifierGraph {
  const file = options.source ?? 'model.onnx';
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DataFormatError(file, `not an ONNX model (the protobuf does not decode: ${e instanceof Error ? e.message : String(e)})`);
  }
  const graph = model.graph;
  if (!graph || (graph.node ?? []).length === 0) throw new DataFormatError(file, 'not an ONNX model (no graph, or a graph without nodes)');
  const opsetEntry = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  const opset = opsetEntry ? toNumber(opsetEntry.version, 'the opset', file) : 0;
  if (opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max) {
    throw new UnsupportedGraphError(`${file}: ONNX opset ${opset} is outside what the native engine reads (${ONNX_OPSETS.min}–${ONNX_OPSETS.max})`);
  }
  const reader = new TensorReader(file, options);
  const consts = new Map<string, Const>();
  for (const t of graph.initializer ?? []) consts.set(t.name ?? '', reader.read(t));
  for (const node of graph.node ?? []) {
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') throw unsupportedOp({ name: node.name || node.opType || '?', opType: `${node.domain}.${node.opType}` });
    // An operator the engine does not know is named before anything else can fail around it.
    if (!SUPPORTED_ONNX_OPS.includes(node.opType ?? '')) throw unsupportedOp({ name: node.name || node.opType || '?', opType: node.opType ?? '?' });
  }

  const inputs = (graph.input ?? []).filter((v) => !consts.has(v.name ?? ''));
  if (inputs.length !== 1) {
    throw new UnsupportedGraphError(`${file}: the native engine takes a classifier with one image input; this graph has ${inputs.length} (${inputs.map((v) => v.name).join(', ')})`);
  }
  const input = inputs[0];
  const inputShape = declaredInputShape(input, file, options.inputShape);
  const outputs = graph.output ?? [];
  if (outputs.length !== 1) throw new UnsupportedGraphError(`${file}: the native engine takes a classifier with one output; this graph has ${outputs.length}`);

  const builder = new Canonicaliser(file, opset, consts, runningVarianceOf(model.producerName ?? ''));
  builder.shapes.set(input.name!, inputShape);
  for (const node of sortNodes(graph.node ?? [], new Set([input.name!, ...consts.keys()]), file)) builder.add(node);
  return builder.finish(graph.name || 'model', input.name!, outputs[0].name!);
}

/**
 * How the framework that wrote the file moves a train-mode BatchNorm's running variance, so that
 * training the graph trains it as its own framework would: torch.onnx.export writes producer_name
 * 'pytorch', and torch.nn.BatchNorm1d/2d move running_var towards the unbiased batch variance. Any
 * other producer gets ONNX's own training-mode BatchNormalization, whose running_var follows the
 * population variance (the operator's spec: N, not N − 1): the one contract a file carries when
 * the framework that trains its BatchNorms is not known.
 */
function runningVarianceOf(producerName: string): RunningVariance {
  return producerName === TORCH_PRODUCER ? 'unbiased' : 'biased';
}

/** The producer_name torch.onnx.export writes. */
const TORCH_PRODUCER = 'pytorch';

function declaredInputShape(input: onnxProto.onnx.IValueInfoProto, file: string, given?: readonly number[]): Shape {
  const tensorType = input.type?.tensorType;
  if (!tensorType) throw new UnsupportedGraphError(`${file}: input '${input.name}' is not a tensor`);
  if (tensorType.elemType !== DT.FLOAT) throw new UnsupportedGraphError(`${file}: input '${input.name}' is not float32 (element type ${tensorType.elemType})`);
  const dims = tensorType.shape?.dim ?? [];
  if (dims.length !== 4) {
    throw new UnsupportedGraphError(`${file}: input '${input.name}' has rank ${dims.length}; the native engine takes image batches of rank 4 ([N, C, H, W] or [N, H, W, C])`);
  }
  const shape: number[] = [BATCH];
  for (let i = 1; i < 4; i++) {
    const d = dims[i];
    const value0 = d.dimValue === undefined || d.dimValue === null ? 0 : toNumber(d.dimValue, 'an input dimension', file);
    const declared = value0 > 0 ? value0 : undefined;
    const value = declared ?? given?.[i - 1];
    if (value === undefined || !(value > 0)) {
      throw new UnsupportedGraphError(`${file}: input '${input.name}' leaves dimension ${i} symbolic ('${d.dimParam ?? '?'}'); give the input size`);
    }
    if (given !== undefined && declared !== undefined && given[i - 1] !== declared) {
      throw new PoisonguardError('shape-mismatch', `${file}: the given input shape [${given.join(', ')}] contradicts the graph's ${formatShape([BATCH, ...dims.slice(1).map((x) => toNumber(x.dimValue, 'a dimension', file))])}`, { path: 'inputShape' });
    }
    shape.push(value);
  }
  const sides = [shape[1], shape[2], shape[3]].sort((a, b) => a - b);
  if (sides[0] > MAX_INPUT_CHANNELS || sides[2] > MAX_INPUT_SIDE) {
    throw new UnsupportedGraphError(`${file}: input '${input.name}' declares ${formatShape(shape)}, beyond the engine's limits (channels ≤ ${MAX_INPUT_CHANNELS}, sides ≤ ${MAX_INPUT_SIDE})`);
  }
  return shape;
}

/** Nodes in an order where each comes after its inputs' producers (ONNX asks for it; some writers don't). */
function sortNodes(nodes: NodeProto[], known: Set<string>, file: string): NodeProto[] {
  const ready = new Set(known);
  ready.add('');
  const pending = [...nodes];
  const out: NodeProto[] = [];
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const node = pending[i];
      if ((node.input ?? []).every((n) => ready.has(n))) {
        out.push(node);
        for (const o of node.output ?? []) ready.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const node = pending[0];
      const missing = (node.input ?? []).find((n) => !ready.has(n));
      throw new DataFormatError(file, `node '${node.name || node.opType}' reads '${missing}', which no node, input or initializer defines (or the graph has a cycle)`);
    }
  }
  return out;
}

