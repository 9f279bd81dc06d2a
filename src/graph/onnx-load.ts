/**
 * An ONNX ModelProto (what `torch.onnx.export` and tf2onnx write for image classifiers, opsets
 * 11–18) read into a {@link ClassifierGraph}: tensors decoded with their declared sizes checked
 * against the bytes present before anything is allocated, external data only from inside the
 * model's folder, constant shape arithmetic folded, every operator canonicalised and every value's
 * shape inferred with the batch size left open.
 */
import { closeSync, fstatSync, lstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import onnxProto from 'onnx-proto';
import { DataFormatError, PoisonguardError } from '../errors.js';
import {
  BATCH,
  defaultTrainable,
  formatShape,
  perItemCount,
  SUPPORTED_ONNX_OPS,
  unsupportedOp,
  UnsupportedGraphError,
  type Attribute,
  type CanonicalOp,
  type ClassifierGraph,
  type FloatTensor,
  type GraphNode,
  type Shape,
} from './ir.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;
const DT = onnx.TensorProto.DataType;

/** Default cap on the weights' total size (bytes); a model declaring more is refused before reading. */
export const DEFAULT_MAX_WEIGHT_BYTES = 2 ** 31;
/** Largest image side and channel count the engine takes (a declared 1e6 x 1e6 input is refused). */
export const MAX_INPUT_SIDE = 8192;
export const MAX_INPUT_CHANNELS = 64;
/** The opsets this loader is written for (what exporters of image classifiers write). */
export const ONNX_OPSETS = { min: 7, max: 21 } as const;

export interface OnnxLoadOptions {
  /** Where external-data files may be read from (the model's folder); without it, external data is refused. */
  readonly baseDir?: string;
  /** Cap on the weights' total bytes (default {@link DEFAULT_MAX_WEIGHT_BYTES}). */
  readonly maxWeightBytes?: number;
  /** The file's name, for messages. */
  readonly source?: string;
  /** [C, H, W]-style non-batch input dimensions, when the graph leaves some symbolic. */
  readonly inputShape?: readonly number[];
}

/** The batch dimension inside folded integer constants (a Shape of a batched value). */
const SYM_N = Number.NEGATIVE_INFINITY;

type Const = { kind: 'float'; dims: number[]; data: Float32Array } | { kind: 'int'; dims: number[]; data: number[] };

function toNumber(v: unknown, what: string, file: string): number {
  const n = typeof v === 'number' ? v : v !== null && typeof v === 'object' && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v);
  if (!Number.isSafeInteger(n)) throw new DataFormatError(file, `${what} is not a representable integer (${String(v)})`);
  return n;
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

  const builder = new Canonicaliser(file, opset, consts);
  builder.shapes.set(input.name!, inputShape);
  for (const node of sortNodes(graph.node ?? [], new Set([input.name!, ...consts.keys()]), file)) builder.add(node);
  return builder.finish(graph.name || 'model', input.name!, outputs[0].name!);
}

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
    const declared = d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue, 'an input dimension', file) > 0 ? toNumber(d.dimValue, 'an input dimension', file) : undefined;
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

class TensorReader {
  private total = 0;
  constructor(
    private readonly file: string,
    private readonly options: OnnxLoadOptions,
  ) {}

  read(t: TensorProto): Const {
    const name = t.name || '?';
    const dims = (t.dims ?? []).map((d) => toNumber(d, `tensor '${name}' dimension`, this.file));
    if (dims.some((d) => d < 0)) throw new DataFormatError(this.file, `tensor '${name}' has a negative dimension`);
    let count = 1;
    for (const d of dims) {
      count *= d;
      if (!Number.isSafeInteger(count)) throw new DataFormatError(this.file, `tensor '${name}' declares too many elements`);
    }
    const type = t.dataType ?? 0;
    const width = type === DT.FLOAT || type === DT.INT32 ? 4 : type === DT.INT64 || type === DT.DOUBLE ? 8 : 0;
    if (width === 0) throw new UnsupportedGraphError(`${this.file}: tensor '${name}' has element type ${type}; the native engine reads float32, float64, int32 and int64 tensors`);
    this.total += count * 4;
    const max = this.options.maxWeightBytes ?? DEFAULT_MAX_WEIGHT_BYTES;
    if (this.total > max) {
      throw new DataFormatError(this.file, `the weights declare more than ${max} bytes (limit; raise maxWeightBytes to allow it)`);
    }
    let raw: Uint8Array | undefined;
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) raw = this.external(t, name, count * width);
    else if (t.rawData && t.rawData.length > 0) raw = t.rawData;
    if (raw !== undefined) {
      if (raw.length !== count * width) {
        throw new DataFormatError(this.file, `tensor '${name}' declares ${formatShape(dims)} (${count * width} bytes) but holds ${raw.length} bytes`);
      }
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      if (type === DT.FLOAT || type === DT.DOUBLE) {
        const data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = type === DT.FLOAT ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
        return { kind: 'float', dims, data };
      }
      const data = new Array<number>(count);
      for (let i = 0; i < count; i++) data[i] = type === DT.INT32 ? view.getInt32(i * 4, true) : Number(view.getBigInt64(i * 8, true));
      return { kind: 'int', dims, data };
    }
    const typed: ArrayLike<unknown> =
      type === DT.FLOAT ? (t.floatData ?? []) : type === DT.DOUBLE ? (t.doubleData ?? []) : type === DT.INT32 ? (t.int32Data ?? []) : (t.int64Data ?? []);
    if (typed.length !== count) throw new DataFormatError(this.file, `tensor '${name}' declares ${formatShape(dims)} (${count} values) but holds ${typed.length}`);
    if (type === DT.FLOAT || type === DT.DOUBLE) return { kind: 'float', dims, data: Float32Array.from(typed as ArrayLike<number>) };
    return { kind: 'int', dims, data: Array.from(typed, (v) => (type === DT.INT64 ? clampInt64(v) : Number(v))) };
  }

  /** External data: a file inside the model's folder only, its bytes counted before they are read. */
  private external(t: TensorProto, name: string, expected: number): Uint8Array {
    const base = this.options.baseDir;
    const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.get('location') ?? '';
    if (base === undefined) throw new PoisonguardError('unsafe-path', `${this.file}: tensor '${name}' keeps its data in an external file, but no model folder was given to read it from`, { path: name });
    if (location === '' || isAbsolute(location) || normalize(location).split(/[\\/]/).includes('..')) {
      throw new PoisonguardError('unsafe-path', `${this.file}: tensor '${name}' points at external data '${location}' outside the model's folder`, { path: location });
    }
    const root = realpathSync(base);
    const path = resolve(root, location);
    let real: string;
    try {
      lstatSync(path);
      real = realpathSync(path);
    } catch {
      throw new PoisonguardError('not-found', `${this.file}: tensor '${name}' points at external data '${location}', which does not exist in ${base}`, { path: location });
    }
    const rel = relative(root, real);
    if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep)[0] === '..') {
      throw new PoisonguardError('unsafe-path', `${this.file}: external data '${location}' of tensor '${name}' resolves outside the model's folder`, { path: location });
    }
    const offset = entries.has('offset') ? Number(entries.get('offset')) : 0;
    const length = entries.has('length') ? Number(entries.get('length')) : expected;
    if (!Number.isSafeInteger(offset) || offset < 0 || length !== expected) {
      throw new DataFormatError(this.file, `tensor '${name}': external data offset ${entries.get('offset')} / length ${entries.get('length')} do not fit its ${expected} bytes`);
    }
    const fd = openSync(real, 'r');
    try {
      const size = fstatSync(fd).size;
      if (offset + expected > size) throw new DataFormatError(join(base, location), `holds ${size} bytes; tensor '${name}' needs ${expected} from offset ${offset}`);
      const out = new Uint8Array(expected);
      let done = 0;
      while (done < expected) {
        const n = readSync(fd, out, done, expected - done, offset + done);
        if (n <= 0) break;
        done += n;
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }
}

function clampInt64(v: unknown): number {
  const n = typeof v === 'number' ? v : v !== null && typeof v === 'object' && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v);
  // INT64_MAX / MIN are how exporters write "to the end" in Slice; keep them as ±Infinity-like bounds.
  if (n > Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
  if (n < Number.MIN_SAFE_INTEGER) return Number.MIN_SAFE_INTEGER;
  return n;
}

function attrsOf(node: NodeProto): Map<string, AttributeProto> {
  return new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
}

/** Builds the canonical graph node by node. */
class Canonicaliser {
  readonly shapes = new Map<string, Shape>();
  readonly nodes: GraphNode[] = [];
  private readonly alias = new Map<string, string>();
  private readonly usedWeights = new Set<string>();
  private readonly names = new Set<string>();

  constructor(
    private readonly file: string,
    private readonly opset: number,
    private readonly consts: Map<string, Const>,
  ) {}

  private resolve(name: string): string {
    return this.alias.get(name) ?? name;
  }

  private fail(node: NodeProto, problem: string): never {
    throw new UnsupportedGraphError(`${this.file}: node '${node.name || node.opType}' (${node.opType}): ${problem}`);
  }

  private intAttr(a: Map<string, AttributeProto>, key: string, fallback: number): number {
    const v = a.get(key);
    return v ? toNumber(v.i, `attribute ${key}`, this.file) : fallback;
  }

  private intsAttr(a: Map<string, AttributeProto>, key: string): number[] | undefined {
    const v = a.get(key);
    return v ? (v.ints ?? []).map((x) => toNumber(x, `attribute ${key}`, this.file)) : undefined;
  }

  private floatAttr(a: Map<string, AttributeProto>, key: string, fallback: number): number {
    const v = a.get(key);
    return v ? (v.f ?? fallback) : fallback;
  }

  private stringAttr(a: Map<string, AttributeProto>, key: string, fallback: string): string {
    const v = a.get(key);
    return v?.s ? new TextDecoder().decode(v.s) : fallback;
  }

  /** The int values of a constant input (shape arithmetic), or an error. */
  private intInput(node: NodeProto, name: string, what: string): number[] {
    const c = this.consts.get(this.resolve(name));
    if (!c) this.fail(node, `its ${what} must be a constant`);
    return c.kind === 'int' ? c.data : Array.from(c.data);
  }

  private shapeOf(node: NodeProto, name: string): Shape {
    const s = this.shapes.get(this.resolve(name));
    if (!s) {
      if (this.consts.has(this.resolve(name))) return this.consts.get(this.resolve(name))!.dims;
      this.fail(node, `input '${name}' has no known shape`);
    }
    return s;
  }

  /** A float constant used by a runtime node becomes a weight. */
  private weight(name: string): string {
    const r = this.resolve(name);
    const c = this.consts.get(r);
    if (c && c.kind === 'float') this.usedWeights.add(r);
    else if (c) this.consts.set(r, { kind: 'float', dims: c.dims, data: Float32Array.from(c.data) }), this.usedWeights.add(r);
    return r;
  }

  private isConst(name: string): boolean {
    return name === '' || this.consts.has(this.resolve(name));
  }

  private emit(node: NodeProto, op: CanonicalOp, inputs: string[], attrs: Record<string, Attribute>, outShape: Shape, extraOutputs: string[] = []): void {
    let name = node.name || `${node.opType}_${this.nodes.length}`;
    while (this.names.has(name)) name += '_';
    this.names.add(name);
    const out = node.output![0];
    const resolved = inputs.map((i) => (this.consts.has(this.resolve(i)) ? this.weight(i) : this.resolve(i)));
    this.nodes.push({ name, op, inputs: resolved, outputs: [out, ...extraOutputs], attrs });
    this.shapes.set(out, outShape);
  }

  add(node: NodeProto): void {
    const op = node.opType ?? '';
    const ins = (node.input ?? []).map((i) => (i === '' ? '' : this.resolve(i)));
    const outs = node.output ?? [];
    const a = attrsOf(node);
    const present = ins.filter((i) => i !== '');
    if (op === 'Constant') {
      this.consts.set(outs[0], this.constantValue(node, a));
      return;
    }
    if (op === 'Shape') {
      const s = this.shapeOf(node, ins[0]);
      let start = this.intAttr(a, 'start', 0);
      let end = this.intAttr(a, 'end', s.length);
      if (start < 0) start += s.length;
      if (end < 0) end += s.length;
      const dims = s.slice(Math.max(0, start), Math.min(s.length, end)).map((d) => (d === BATCH ? SYM_N : d));
      this.consts.set(outs[0], { kind: 'int', dims: [dims.length], data: dims });
      return;
    }
    if (present.every((i) => this.consts.has(i)) && present.length > 0 && op !== 'Conv' && op !== 'Gemm') {
      const folded = this.fold(node, op, ins, a);
      if (folded) {
        this.consts.set(outs[0], folded);
        return;
      }
    }
    switch (op) {
      case 'Identity':
      case 'Dropout':
        if (outs.length > 1 && outs[1] !== '') this.fail(node, 'its mask output is used (training-mode Dropout)');
        this.alias.set(outs[0], ins[0]);
        return;
      case 'Cast': {
        const to = this.intAttr(a, 'to', DT.FLOAT);
        if (to !== DT.FLOAT) this.fail(node, `casts a float tensor to type ${to}`);
        this.alias.set(outs[0], ins[0]);
        return;
      }
      case 'Flatten': {
        const s = this.shapeOf(node, ins[0]);
        let axis = this.intAttr(a, 'axis', 1);
        if (axis < 0) axis += s.length;
        const outer = s.slice(0, axis);
        const inner = s.slice(axis);
        const target = [this.mergeDims(node, outer), this.mergeDims(node, inner)];
        this.emit(node, 'Reshape', [ins[0]], { shape: target }, target);
        return;
      }
      case 'Reshape': {
        const s = this.shapeOf(node, ins[0]);
        const target = this.intInput(node, ins[1], 'target shape');
        const allowZero = this.intAttr(a, 'allowzero', 0);
        const shape = this.reshapeTarget(node, s, target, allowZero === 1);
        this.emit(node, 'Reshape', [ins[0]], { shape }, shape);
        return;
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        const s = this.shapeOf(node, ins[0]);
        const axes = this.opset >= 13 && ins[1] ? this.intInput(node, ins[1], 'axes') : this.intsAttr(a, 'axes');
        const shape = op === 'Squeeze' ? squeezeShape(s, axes) : unsqueezeShape(s, axes ?? this.fail(node, 'no axes'));
        if (shape === undefined) this.fail(node, `squeezes a dimension that is not 1 in ${formatShape(s)}`);
        this.emit(node, 'Reshape', [ins[0]], { shape }, shape);
        return;
      }
      case 'Conv':
        return this.conv(node, ins, a);
      case 'BatchNormalization': {
        if (outs.slice(1).some((o) => o !== '')) this.fail(node, 'training-mode BatchNormalization (running statistics as outputs)');
        if (this.intAttr(a, 'training_mode', 0) !== 0) this.fail(node, 'training_mode = 1');
        if (!ins.slice(1, 5).every((i) => this.isConst(i))) this.fail(node, 'its scale, bias, mean and variance must be constants');
        const s = this.shapeOf(node, ins[0]);
        const c = s[1];
        for (const i of ins.slice(1, 5)) if (perItemCount(this.shapeOf(node, i)) !== c) this.fail(node, `a parameter's size is not the ${c} channels`);
        this.emit(node, 'BatchNormalization', ins.slice(0, 5), { epsilon: this.floatAttr(a, 'epsilon', 1e-5) }, s);
        return;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'HardSwish':
        this.emit(node, op, [ins[0]], {}, this.shapeOf(node, ins[0]));
        return;
      case 'LeakyRelu':
        this.emit(node, op, [ins[0]], { alpha: this.floatAttr(a, 'alpha', 0.01) }, this.shapeOf(node, ins[0]));
        return;
      case 'HardSigmoid':
        this.emit(node, op, [ins[0]], { alpha: this.floatAttr(a, 'alpha', 0.2), beta: this.floatAttr(a, 'beta', 0.5) }, this.shapeOf(node, ins[0]));
        return;
      case 'PRelu': {
        if (!this.isConst(ins[1])) this.fail(node, 'its slope must be a constant');
        const s = this.shapeOf(node, ins[0]);
        if (broadcastShape(s, this.shapeOf(node, ins[1])) === undefined) this.fail(node, 'slope does not broadcast to the input');
        this.emit(node, 'PRelu', [ins[0], ins[1]], {}, s);
        return;
      }
      case 'Clip': {
        let min = -Infinity;
        let max = Infinity;
        if (this.opset < 11) {
          min = this.floatAttr(a, 'min', -Infinity);
          max = this.floatAttr(a, 'max', Infinity);
        } else {
          if (ins[1]) min = this.scalarInput(node, ins[1], 'min');
          if (ins[2]) max = this.scalarInput(node, ins[2], 'max');
        }
        this.emit(node, 'Clip', [ins[0]], { min: finiteOr(min, -3.4e38), max: finiteOr(max, 3.4e38) }, this.shapeOf(node, ins[0]));
        return;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const sa = this.shapeOf(node, ins[0]);
        const sb = this.shapeOf(node, ins[1]);
        const s = broadcastShape(sa, sb);
        if (s === undefined) this.fail(node, `shapes ${formatShape(sa)} and ${formatShape(sb)} do not broadcast`);
        this.emit(node, op, [ins[0], ins[1]], {}, s);
        return;
      }
      case 'MaxPool':
      case 'AveragePool':
        return this.pool(node, op, ins, a);
      case 'GlobalAveragePool': {
        const s = this.shapeOf(node, ins[0]);
        if (s.length !== 4) this.fail(node, `input of rank ${s.length}`);
        this.emit(node, 'GlobalAveragePool', [ins[0]], {}, [s[0], s[1], 1, 1]);
        return;
      }
      case 'ReduceMean': {
        const s = this.shapeOf(node, ins[0]);
        const given = this.opset >= 18 && ins[1] ? this.intInput(node, ins[1], 'axes') : this.intsAttr(a, 'axes');
        const axes = (given === undefined || given.length === 0 ? s.map((_, i) => i) : given).map((x) => (x < 0 ? x + s.length : x)).sort((p, q) => p - q);
        if (given?.length === 0 && this.intAttr(a, 'noop_with_empty_axes', 0) === 1) {
          this.alias.set(outs[0], ins[0]);
          return;
        }
        if (axes.includes(0) && s[0] === BATCH) this.fail(node, 'averages over the batch');
        const keepdims = this.intAttr(a, 'keepdims', 1);
        const shape = keepdims ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
        this.emit(node, 'ReduceMean', [ins[0]], { axes, keepdims }, shape);
        return;
      }
      case 'Transpose': {
        const s = this.shapeOf(node, ins[0]);
        const perm = this.intsAttr(a, 'perm') ?? s.map((_, i) => s.length - 1 - i);
        this.emit(node, 'Transpose', [ins[0]], { perm }, perm.map((p) => s[p]));
        return;
      }
      case 'Concat': {
        const shapes = ins.map((i) => this.shapeOf(node, i));
        let axis = this.intAttr(a, 'axis', 1);
        if (axis < 0) axis += shapes[0].length;
        if (axis === 0) this.fail(node, 'concatenates along the batch');
        const out = [...shapes[0]];
        out[axis] = shapes.reduce((t, s) => t + s[axis], 0);
        for (const s of shapes) if (s.length !== out.length || s.some((d, i) => i !== axis && d !== out[i])) this.fail(node, `inputs ${shapes.map(formatShape).join(', ')} do not concatenate`);
        this.emit(node, 'Concat', ins, { axis }, out);
        return;
      }
      case 'Gemm': {
        const sa = this.shapeOf(node, ins[0]);
        const sb = this.shapeOf(node, ins[1]);
        const transA = this.intAttr(a, 'transA', 0);
        const transB = this.intAttr(a, 'transB', 0);
        if (sa.length !== 2 || sb.length !== 2) this.fail(node, 'inputs of rank other than 2');
        if (transA) this.fail(node, 'transA = 1 on a batched input');
        const [m, k] = sa;
        const [kb, n] = transB ? [sb[1], sb[0]] : sb;
        if (k !== kb) this.fail(node, `inner sizes ${k} and ${kb} differ`);
        if (ins[2] && broadcastShape([m, n], this.shapeOf(node, ins[2]))?.join() !== [m, n].join()) this.fail(node, 'C does not broadcast to the output');
        const attrs = { alpha: this.floatAttr(a, 'alpha', 1), beta: this.floatAttr(a, 'beta', 1), transB };
        this.emit(node, 'Gemm', ins.filter((i) => i !== ''), attrs, [m, n]);
        return;
      }
      case 'MatMul': {
        const sa = this.shapeOf(node, ins[0]);
        const sb = this.shapeOf(node, ins[1]);
        if (sb.length !== 2 || sa.length < 2 || sb.includes(BATCH)) this.fail(node, `shapes ${formatShape(sa)} x ${formatShape(sb)} (the engine takes [..., K] x [K, M])`);
        if (sa[sa.length - 1] !== sb[0]) this.fail(node, `inner sizes ${sa[sa.length - 1]} and ${sb[0]} differ`);
        this.emit(node, 'MatMul', [ins[0], ins[1]], {}, [...sa.slice(0, -1), sb[1]]);
        return;
      }
      case 'Softmax':
      case 'LogSoftmax': {
        const s = this.shapeOf(node, ins[0]);
        let axis = this.intAttr(a, 'axis', this.opset >= 13 ? -1 : 1);
        if (axis < 0) axis += s.length;
        if (this.opset < 13 && axis !== s.length - 1) this.fail(node, `axis ${axis} of a rank-${s.length} input (opset < 13 flattens; only the last axis is taken)`);
        this.emit(node, op, [ins[0]], { axis }, s);
        return;
      }
      case 'Pad': {
        const s = this.shapeOf(node, ins[0]);
        const mode = this.stringAttr(a, 'mode', 'constant');
        if (mode !== 'constant') this.fail(node, `mode '${mode}' (the engine pads with a constant)`);
        let pads = this.opset >= 11 ? this.intInput(node, ins[1], 'pads') : (this.intsAttr(a, 'pads') ?? []);
        const value = this.opset >= 11 ? (ins[2] ? this.scalarInput(node, ins[2], 'constant value') : 0) : this.floatAttr(a, 'value', 0);
        if (ins[3]) {
          const axes = this.intInput(node, ins[3], 'axes').map((x) => (x < 0 ? x + s.length : x));
          const full = new Array<number>(2 * s.length).fill(0);
          axes.forEach((ax, j) => {
            full[ax] = pads[j];
            full[ax + s.length] = pads[j + axes.length];
          });
          pads = full;
        }
        if (pads.length !== 2 * s.length || pads.some((p) => p < 0)) this.fail(node, `pads [${pads.join(', ')}] (non-negative, two per dimension)`);
        if (pads[0] !== 0 || pads[s.length] !== 0) this.fail(node, 'pads the batch dimension');
        this.emit(node, 'Pad', [ins[0]], { pads, value }, s.map((d, i) => (d === BATCH ? d : d + pads[i] + pads[i + s.length])));
        return;
      }
      default:
        throw unsupportedOp({ name: node.name || `${op}_${this.nodes.length}`, opType: op });
    }
  }

  private scalarInput(node: NodeProto, name: string, what: string): number {
    const v = this.intInputOrFloat(node, name, what);
    if (v.length !== 1) this.fail(node, `its ${what} must be a scalar`);
    return v[0];
  }

  private intInputOrFloat(node: NodeProto, name: string, what: string): number[] {
    const c = this.consts.get(this.resolve(name));
    if (!c) this.fail(node, `its ${what} must be a constant`);
    return Array.from(c.data);
  }

  private mergeDims(node: NodeProto, dims: Shape): number {
    if (dims.includes(BATCH)) {
      if (perItemCount(dims) !== 1) this.fail(node, `merges the batch with other dimensions (${formatShape(dims)})`);
      return BATCH;
    }
    return dims.reduce((p, d) => p * d, 1);
  }

  /** The output shape of Reshape(data of shape `s`, target), with the batch dimension tracked. */
  private reshapeTarget(node: NodeProto, s: Shape, target: number[], allowZero: boolean): number[] {
    type Slot = { kind: 'batch' } | { kind: 'infer' } | { kind: 'fixed'; v: number };
    const slots: Slot[] = target.map((t, i) => {
      if (t === SYM_N || (t === 0 && !allowZero && s[i] === BATCH)) return { kind: 'batch' };
      if (t === -1) return { kind: 'infer' };
      if (t === 0 && !allowZero) return { kind: 'fixed', v: s[i] };
      if (t < 0) this.fail(node, `target [${target.join(', ')}] has a negative size`);
      return { kind: 'fixed', v: t };
    });
    const batches = slots.filter((x) => x.kind === 'batch').length;
    const infers = slots.filter((x) => x.kind === 'infer').length;
    const hasBatch = s.includes(BATCH);
    const known = perItemCount(s);
    const fixed = slots.reduce((p, x) => (x.kind === 'fixed' ? p * x.v : p), 1);
    const bad = (why: string): never => this.fail(node, `cannot reshape ${formatShape(s)} to [${target.join(', ')}]: ${why}`);
    if (infers > 1 || batches > 1) bad('more than one inferred or batch dimension');
    if (batches === 1 && !hasBatch) bad('no batch dimension to keep');
    let inferred: number;
    if (hasBatch && batches === 0) {
      // The -1 must absorb the batch exactly: the fixed dimensions make one item.
      if (infers === 0 || fixed !== known) bad('the batch would be mixed with other dimensions');
      inferred = BATCH;
    } else {
      if (fixed === 0 || known % fixed !== 0) bad('sizes do not divide');
      inferred = known / fixed;
      if (infers === 0 && inferred !== 1) bad('element counts differ');
    }
    return slots.map((x) => (x.kind === 'batch' ? BATCH : x.kind === 'infer' ? inferred : x.v));
  }

  private conv(node: NodeProto, ins: string[], a: Map<string, AttributeProto>): void {
    const s = this.shapeOf(node, ins[0]);
    if (!this.isConst(ins[1])) this.fail(node, 'its weights must be a constant');
    const w = this.shapeOf(node, ins[1]);
    if (s.length !== 4 || w.length !== 4) this.fail(node, `a ${s.length - 2}-D convolution (the engine takes 2-D)`);
    const group = this.intAttr(a, 'group', 1);
    const [m, cg, kh, kw] = w;
    if (cg * group !== s[1] || m % group !== 0) this.fail(node, `weights ${formatShape(w)} with group ${group} do not fit ${s[1]} input channels`);
    const kernel = this.intsAttr(a, 'kernel_shape') ?? [kh, kw];
    if (kernel[0] !== kh || kernel[1] !== kw) this.fail(node, 'kernel_shape differs from the weights');
    if (ins[2] && perItemCount(this.shapeOf(node, ins[2])) !== m) this.fail(node, 'bias size differs from the output channels');
    const strides = this.intsAttr(a, 'strides') ?? [1, 1];
    const dilations = this.intsAttr(a, 'dilations') ?? [1, 1];
    const pads = this.resolvePads(node, a, [s[2], s[3]], [kh, kw], strides, dilations);
    const out = [0, 1].map((i) => Math.floor((s[2 + i] + pads[i] + pads[i + 2] - dilations[i] * ((i ? kw : kh) - 1) - 1) / strides[i]) + 1);
    if (out.some((d) => d < 1)) this.fail(node, `the kernel does not fit the ${s[2]}x${s[3]} input`);
    this.emit(node, 'Conv', ins.filter((i) => i !== ''), { kernel: [kh, kw], strides, dilations, pads, group }, [s[0], m, out[0], out[1]]);
  }

  private resolvePads(node: NodeProto, a: Map<string, AttributeProto>, size: number[], k: number[], strides: number[], dilations: number[]): number[] {
    const autoPad = this.stringAttr(a, 'auto_pad', 'NOTSET');
    if (autoPad === 'NOTSET') return this.intsAttr(a, 'pads') ?? [0, 0, 0, 0];
    if (autoPad === 'VALID') return [0, 0, 0, 0];
    if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') this.fail(node, `auto_pad '${autoPad}'`);
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(size[i] / strides[i]);
      const total = Math.max((out - 1) * strides[i] + dilations[i] * (k[i] - 1) + 1 - size[i], 0);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    }
    return [...begin, ...end];
  }

  private pool(node: NodeProto, op: 'MaxPool' | 'AveragePool', ins: string[], a: Map<string, AttributeProto>): void {
    if ((node.output ?? []).length > 1 && node.output![1] !== '') this.fail(node, 'its indices output is used');
    const s = this.shapeOf(node, ins[0]);
    if (s.length !== 4) this.fail(node, `a ${s.length - 2}-D pool (the engine takes 2-D)`);
    const kernel = this.intsAttr(a, 'kernel_shape') ?? this.fail(node, 'no kernel_shape');
    const strides = this.intsAttr(a, 'strides') ?? [1, 1];
    const dilations = this.intsAttr(a, 'dilations') ?? [1, 1];
    if (op === 'AveragePool' && dilations.some((d) => d !== 1)) this.fail(node, 'dilated average pooling');
    const pads = this.resolvePads(node, a, [s[2], s[3]], kernel, strides, dilations);
    const ceil = this.intAttr(a, 'ceil_mode', 0);
    const out = [0, 1].map((i) => {
      const span = s[2 + i] + pads[i] + pads[i + 2] - dilations[i] * (kernel[i] - 1) - 1;
      let o = (ceil ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
      // ONNX (like PyTorch): the last window must start inside the input or its leading padding.
      if (ceil && (o - 1) * strides[i] >= s[2 + i] + pads[i]) o--;
      return o;
    });
    if (out.some((d) => d < 1)) this.fail(node, `the window does not fit the ${s[2]}x${s[3]} input`);
    const attrs: Record<string, Attribute> = { kernel, strides, pads, ceil };
    if (op === 'MaxPool') attrs.dilations = dilations;
    else attrs.countIncludePad = this.intAttr(a, 'count_include_pad', 0);
    this.emit(node, op, [ins[0]], attrs, [s[0], s[1], out[0], out[1]]);
  }

  private constantValue(node: NodeProto, a: Map<string, AttributeProto>): Const {
    const v = a.get('value');
    if (v?.t) return new TensorReader(this.file, {}).read(v.t);
    const vf = a.get('value_float');
    if (vf) return { kind: 'float', dims: [], data: Float32Array.of(vf.f ?? 0) };
    const vfs = a.get('value_floats');
    if (vfs) return { kind: 'float', dims: [vfs.floats?.length ?? 0], data: Float32Array.from(vfs.floats ?? []) };
    const vi = a.get('value_int');
    if (vi) return { kind: 'int', dims: [], data: [toNumber(vi.i, 'value_int', this.file)] };
    const vis = a.get('value_ints');
    if (vis) {
      const data = (vis.ints ?? []).map((x) => toNumber(x, 'value_ints', this.file));
      return { kind: 'int', dims: [data.length], data };
    }
    this.fail(node, 'a Constant without a value the engine reads');
  }

  /** Evaluates shape arithmetic on constants; undefined when the op is not one that folds. */
  private fold(node: NodeProto, op: string, ins: string[], a: Map<string, AttributeProto>): Const | undefined {
    const c = (i: number) => this.consts.get(ins[i])!;
    const ints = (i: number) => Array.from(c(i).data as ArrayLike<number>);
    const noSym = (xs: number[]) => {
      if (xs.some((x) => x === SYM_N)) this.fail(node, 'arithmetic on the batch size');
      return xs;
    };
    switch (op) {
      case 'Identity':
      case 'Dropout':
        return c(0);
      case 'Cast': {
        const to = this.intAttr(a, 'to', DT.FLOAT);
        const src = c(0);
        if (to === DT.FLOAT || to === DT.DOUBLE) return { kind: 'float', dims: src.dims, data: Float32Array.from(noSym(Array.from(src.data))) };
        return { kind: 'int', dims: src.dims, data: Array.from(src.data, (x) => (x === SYM_N ? x : Math.trunc(x))) };
      }
      case 'Gather': {
        const data = c(0);
        const idx = ints(1);
        let axis = this.intAttr(a, 'axis', 0);
        if (axis < 0) axis += data.dims.length;
        if (data.dims.length !== 1 || axis !== 0) return undefined;
        const picked = idx.map((i) => {
          const j = i < 0 ? i + data.dims[0] : i;
          if (j < 0 || j >= data.dims[0]) this.fail(node, `index ${i} out of range`);
          return (data.data as ArrayLike<number>)[j];
        });
        const dims = c(1).dims.length === 0 ? [] : [picked.length];
        return data.kind === 'int' ? { kind: 'int', dims, data: picked } : { kind: 'float', dims, data: Float32Array.from(picked) };
      }
      case 'Unsqueeze':
      case 'Squeeze': {
        const src = c(0);
        const axes = this.opset >= 13 && ins[1] ? ints(1) : this.intsAttr(a, 'axes');
        const dims = op === 'Squeeze' ? squeezeShape(src.dims, axes) : unsqueezeShape(src.dims, axes ?? []);
        if (!dims) this.fail(node, 'squeezes a dimension that is not 1');
        return { ...src, dims: [...dims] } as Const;
      }
      case 'Concat': {
        const parts = ins.map((_, i) => c(i));
        if (parts.some((p) => p.dims.length !== 1)) return undefined;
        const data = parts.flatMap((p) => Array.from(p.data as ArrayLike<number>));
        return parts.every((p) => p.kind === 'int') ? { kind: 'int', dims: [data.length], data } : { kind: 'float', dims: [data.length], data: Float32Array.from(data) };
      }
      case 'Slice': {
        const src = c(0);
        if (src.dims.length !== 1 || this.opset < 10) return undefined;
        const n = src.dims[0];
        const clamp = (v: number, hi: number) => Math.max(0, Math.min(hi, v < 0 ? v + n : v));
        const start = clamp(ints(1)[0], n);
        const end = clamp(ints(2)[0], n);
        const step = ins[4] ? ints(4)[0] : 1;
        if (step !== 1) return undefined;
        const data = Array.from(src.data as ArrayLike<number>).slice(start, end);
        return src.kind === 'int' ? { kind: 'int', dims: [data.length], data } : { kind: 'float', dims: [data.length], data: Float32Array.from(data) };
      }
      case 'ConstantOfShape': {
        const dims = noSym(ints(0));
        const count = dims.reduce((p, d) => p * d, 1);
        if (count > 1 << 20) return undefined;
        const v = a.get('value')?.t;
        const fill = v ? Array.from(new TensorReader(this.file, {}).read(v).data)[0] ?? 0 : 0;
        return v && new TensorReader(this.file, {}).read(v).kind === 'int' ? { kind: 'int', dims, data: new Array<number>(count).fill(fill) } : { kind: 'float', dims, data: new Float32Array(count).fill(fill) };
      }
      case 'Reshape': {
        const src = c(0);
        const target = noSym(ints(1));
        const count = src.dims.reduce((p, d) => p * d, 1);
        const known = target.reduce((p, d, i) => p * (d === -1 ? 1 : d === 0 ? src.dims[i] : d), 1);
        const dims = target.map((d, i) => (d === -1 ? count / known : d === 0 ? src.dims[i] : d));
        return { ...src, dims } as Const;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const [x, y] = [c(0), c(1)];
        const dims = broadcastShape(x.dims, y.dims);
        if (!dims) this.fail(node, 'constant shapes do not broadcast');
        const xs = noSym(Array.from(x.data as ArrayLike<number>));
        const ys = noSym(Array.from(y.data as ArrayLike<number>));
        const out = broadcastApply(x.dims, xs, y.dims, ys, dims, (p, q) => (op === 'Add' ? p + q : op === 'Sub' ? p - q : op === 'Mul' ? p * q : x.kind === 'int' && y.kind === 'int' ? Math.trunc(p / q) : p / q));
        return x.kind === 'int' && y.kind === 'int' ? { kind: 'int', dims: [...dims], data: out } : { kind: 'float', dims: [...dims], data: Float32Array.from(out) };
      }
      default:
        return undefined;
    }
  }

  finish(name: string, inputName: string, outputName: string): ClassifierGraph {
    const output = this.resolve(outputName);
    // Keep only what the output depends on.
    const needed = new Set([output]);
    const kept: GraphNode[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (node.outputs.some((o) => needed.has(o))) {
        kept.push(node);
        for (const x of node.inputs) needed.add(x);
      }
    }
    kept.reverse();
    if (!needed.has(inputName)) throw new UnsupportedGraphError(`${this.file}: the output '${outputName}' does not depend on the input '${inputName}'`);
    const outShape = this.shapes.get(output);
    if (!outShape) throw new UnsupportedGraphError(`${this.file}: the output '${outputName}' is a constant`);
    if (outShape.length !== 2 || outShape[0] !== BATCH || outShape[1] < 2) {
      throw new UnsupportedGraphError(`${this.file}: the output '${outputName}' has shape ${formatShape(outShape)}; a classifier's is [N, classes]`);
    }
    const weights = new Map<string, FloatTensor>();
    for (const node of kept) {
      for (const i of node.inputs) {
        const c = this.consts.get(i);
        if (c) weights.set(i, { dims: c.dims, data: c.kind === 'float' ? c.data : Float32Array.from(c.data) });
      }
    }
    const shapes = new Map(this.shapes);
    for (const [k, w] of weights) shapes.set(k, w.dims);
    const last = kept[kept.length - 1];
    const endsInSoftmax = last.op === 'Softmax' && last.outputs[0] === output && last.attrs.axis === 1;
    return { name, input: { name: inputName, shape: this.shapes.get(inputName)! }, output, endsInSoftmax, nodes: kept, weights, trainable: defaultTrainable(kept, weights), shapes };
  }
}

function finiteOr(v: number, fallback: number): number {
  return Number.isFinite(v) ? v : fallback;
}

function squeezeShape(s: Shape, axes: number[] | undefined): number[] | undefined {
  if (axes === undefined || axes.length === 0) return s.filter((d) => d !== 1);
  const norm = axes.map((x) => (x < 0 ? x + s.length : x));
  if (norm.some((x) => s[x] !== 1)) return undefined;
  return s.filter((_, i) => !norm.includes(i));
}

function unsqueezeShape(s: Shape, axes: number[]): number[] {
  const rank = s.length + axes.length;
  const norm = axes.map((x) => (x < 0 ? x + rank : x));
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : s[j++]);
  return out;
}

/** Numpy broadcasting with the batch marker: BATCH meets BATCH or 1. */
export function broadcastShape(a: Shape, b: Shape): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else return undefined;
  }
  return out;
}

function broadcastApply(da: Shape, a: number[], db: Shape, b: number[], out: Shape, f: (p: number, q: number) => number): number[] {
  const rank = out.length;
  const count = out.reduce((p, d) => p * d, 1);
  const result = new Array<number>(count);
  const index = (dims: Shape, flat: number) => {
    let offset = 0;
    let stride = 1;
    let rest = flat;
    const coords: number[] = [];
    for (let i = rank - 1; i >= 0; i--) {
      coords[i] = rest % out[i];
      rest = Math.floor(rest / out[i]);
    }
    for (let i = dims.length - 1; i >= 0; i--) {
      const c = coords[rank - dims.length + i];
      offset += (dims[i] === 1 ? 0 : c) * stride;
      stride *= dims[i];
    }
    return offset;
  };
  for (let i = 0; i < count; i++) result[i] = f(a[index(da, i)], b[index(db, i)]);
  return result;
}
