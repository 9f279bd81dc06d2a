/**
 * Small ONNX models for checking the graph engine op by op: a generic graph writer, builders of
 * single-op (and few-op) models with seeded random weights and inputs for a parameter spec, and
 * finite differences on the float64 reference interpreter (reference.ts).
 *
 * Every random value is rounded to float32 before it is used, so the model's float32 initializers,
 * the feeds given to onnxruntime and the float64 values given to the reference are the same numbers.
 */
import onnxProto from 'onnx-proto';
import { Random } from '../../src/random.js';
import { loadReference, type RefFeed, type ReferenceModel } from './reference.js';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

/** Opset of the builders unless a spec says otherwise (the newest the engine's issue names is 18). */
export const DEFAULT_OPSET = 17;

export type DataKind = 'float' | 'double' | 'int64' | 'bool';
const DATA_TYPE: Record<DataKind, number> = { float: DT.FLOAT, double: DT.DOUBLE, int64: DT.INT64, bool: DT.BOOL };

export interface Values {
  data: Float64Array;
  dims: number[];
}

/** An attribute value: an integer (INT), a string, an integer list (INTS), or tagged floats/tensor. */
export type AttrValue = number | string | number[] | { float: number } | { floats: number[] } | { tensor: { data: ArrayLike<number>; dims: number[]; type?: DataKind } };

/** Attributes ONNX types as floats: a plain number given for them is written as FLOAT(S). */
const FLOAT_ATTRS = new Set(['alpha', 'beta', 'epsilon', 'momentum', 'min', 'max', 'value', 'value_float', 'value_floats', 'gamma', 'ratio', 'bias', 'lambd', 'scales']);

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  name?: string;
  domain?: string;
}

export interface ValueSpec {
  name: string;
  /** Declared dims (a string for a symbolic one); omitted: no shape declared. */
  dims?: (number | string)[];
  type?: DataKind;
}

export interface InitializerSpec {
  name: string;
  data: ArrayLike<number>;
  dims: number[];
  type?: DataKind;
}

export interface GraphSpec {
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: InitializerSpec[];
  opset?: number;
  name?: string;
}

function tensorProto(name: string, data: ArrayLike<number>, dims: number[], type: DataKind = 'float'): InstanceType<typeof onnx.TensorProto> {
  let raw: Uint8Array;
  if (type === 'float') raw = new Uint8Array(Float32Array.from(data).buffer);
  else if (type === 'double') raw = new Uint8Array(Float64Array.from(data).buffer);
  else if (type === 'int64') raw = new Uint8Array(BigInt64Array.from(Array.from(data, (v) => BigInt(v))).buffer);
  else raw = Uint8Array.from(data, (v) => (v ? 1 : 0));
  return onnx.TensorProto.create({ name, dims, dataType: DATA_TYPE[type], rawData: raw });
}

function attribute(name: string, v: AttrValue): InstanceType<typeof onnx.AttributeProto> {
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: AT.STRING, s: new TextEncoder().encode(v) });
  if (typeof v === 'number') {
    return FLOAT_ATTRS.has(name) ? onnx.AttributeProto.create({ name, type: AT.FLOAT, f: v }) : onnx.AttributeProto.create({ name, type: AT.INT, i: v });
  }
  if (Array.isArray(v)) {
    return FLOAT_ATTRS.has(name) ? onnx.AttributeProto.create({ name, type: AT.FLOATS, floats: v }) : onnx.AttributeProto.create({ name, type: AT.INTS, ints: v });
  }
  if ('float' in v) return onnx.AttributeProto.create({ name, type: AT.FLOAT, f: v.float });
  if ('floats' in v) return onnx.AttributeProto.create({ name, type: AT.FLOATS, floats: v.floats });
  return onnx.AttributeProto.create({ name, type: AT.TENSOR, t: tensorProto('', v.tensor.data, v.tensor.dims, v.tensor.type) });
}

function valueInfo(v: ValueSpec): InstanceType<typeof onnx.ValueInfoProto> {
  const tensorType = onnx.TypeProto.Tensor.create({
    elemType: DATA_TYPE[v.type ?? 'float'],
    ...(v.dims
      ? { shape: onnx.TensorShapeProto.create({ dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) }) }
      : {}),
  });
  return onnx.ValueInfoProto.create({ name: v.name, type: onnx.TypeProto.create({ tensorType }) });
}

/** Writes a ModelProto (bytes) for `spec`. */
export function buildModel(spec: GraphSpec): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: spec.name ?? 'test',
    node: spec.nodes.map((n, i) =>
      onnx.NodeProto.create({
        name: n.name ?? `${n.op}_${i}`,
        opType: n.op,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      }),
    ),
    initializer: (spec.initializers ?? []).map((t) => tensorProto(t.name, t.data, t.dims, t.type)),
    input: spec.inputs.map(valueInfo),
    output: spec.outputs.map(valueInfo),
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'poisonguard-tests',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: spec.opset ?? DEFAULT_OPSET })],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

// ---------------------------------------------------------------------------------------------
// seeded values

/** `n` normal values × `scale` (+ `shift`), rounded to float32. */
export function randomValues(rng: Random, n: number, scale = 1, shift = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(shift + scale * rng.normal());
  return out;
}

const count = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** A model plus the seeded values to run it on. */
export interface OpModel {
  bytes: Uint8Array;
  /** Values for the graph inputs (float64 copies of float32 numbers). */
  feeds: Record<string, Values>;
  /** The float initializers (the trainable parameters), by name. */
  params: Record<string, Values>;
  /** Graph output names. */
  outputs: string[];
  opset: number;
}

/** One input or initializer of {@link opModel}. */
export interface OperandSpec {
  name: string;
  dims: number[];
  /** An initializer (a parameter, or a constant when `type` is int64) rather than a graph input. */
  init?: boolean;
  type?: DataKind;
  /** Fixed values; otherwise seeded normals × `scale` + `shift`. */
  values?: ArrayLike<number>;
  scale?: number;
  shift?: number;
}

export interface OpModelSpec {
  nodes: NodeSpec[];
  operands: OperandSpec[];
  outputs: string[];
  opset?: number;
  seed?: number;
  /** A symbolic first dim for every graph input (like torch.onnx.export's dynamic batch). */
  dynamicBatch?: boolean;
  /** Element types of outputs that are not float (indices, masks). */
  outputTypes?: Record<string, DataKind>;
}

/** A model of a few nodes with seeded random graph inputs and initializers. */
export function opModel(spec: OpModelSpec): OpModel {
  const rng = new Random(spec.seed ?? 1);
  const feeds: Record<string, Values> = {};
  const params: Record<string, Values> = {};
  const inputs: ValueSpec[] = [];
  const initializers: InitializerSpec[] = [];
  for (const o of spec.operands) {
    const n = count(o.dims);
    const type = o.type ?? 'float';
    const data = o.values ? Float64Array.from(o.values, (v) => (type === 'float' ? Math.fround(v) : v)) : randomValues(rng, n, o.scale ?? 1, o.shift ?? 0);
    if (data.length !== n) throw new Error(`operand ${o.name}: ${data.length} values for dims [${o.dims}]`);
    if (o.init) {
      initializers.push({ name: o.name, data, dims: o.dims, type });
      if (type === 'float' || type === 'double') params[o.name] = { data, dims: o.dims };
    } else {
      inputs.push({ name: o.name, dims: spec.dynamicBatch ? ['N', ...o.dims.slice(1)] : o.dims, type });
      feeds[o.name] = { data, dims: o.dims };
    }
  }
  const opset = spec.opset ?? DEFAULT_OPSET;
  const bytes = buildModel({ nodes: spec.nodes, inputs, outputs: spec.outputs.map((name) => ({ name, type: spec.outputTypes?.[name] })), initializers, opset });
  return { bytes, feeds, params, outputs: spec.outputs, opset };
}

// ---------------------------------------------------------------------------------------------
// builders for a parameter spec

export type PadSpec = 'SAME_UPPER' | 'SAME_LOWER' | 'VALID' | number[];

/** Pads as attributes: auto_pad for a string, explicit [top, left, bottom, right] otherwise. */
function padAttrs(pad: PadSpec | undefined): Record<string, AttrValue> {
  if (pad === undefined) return {};
  return typeof pad === 'string' ? { auto_pad: pad } : { pads: pad };
}

export interface ConvSpec {
  /** Input [N, C, H, W]; default [2, 4, 7, 6]. */
  input?: [number, number, number, number];
  /** Output channels; default 4. */
  out?: number;
  k?: [number, number];
  stride?: [number, number];
  pad?: PadSpec;
  dilation?: [number, number];
  group?: number;
  bias?: boolean;
  opset?: number;
  seed?: number;
}

/** One Conv: input `x`, weight `w` [M, C/group, kh, kw], bias `b`, output `y`. */
export function conv(spec: ConvSpec = {}): OpModel {
  const [N, C, H, W] = spec.input ?? [2, 4, 7, 6];
  const M = spec.out ?? 4;
  const group = spec.group ?? 1;
  const k = spec.k ?? [3, 3];
  const bias = spec.bias ?? true;
  const fanIn = (C / group) * k[0] * k[1];
  return opModel({
    seed: spec.seed,
    opset: spec.opset,
    operands: [
      { name: 'x', dims: [N, C, H, W] },
      { name: 'w', dims: [M, C / group, k[0], k[1]], init: true, scale: 1 / Math.sqrt(fanIn) },
      ...(bias ? [{ name: 'b', dims: [M], init: true, scale: 0.1 }] : []),
    ],
    nodes: [
      {
        op: 'Conv',
        inputs: bias ? ['x', 'w', 'b'] : ['x', 'w'],
        outputs: ['y'],
        attrs: { kernel_shape: k, strides: spec.stride ?? [1, 1], dilations: spec.dilation ?? [1, 1], group, ...padAttrs(spec.pad) },
      },
    ],
    outputs: ['y'],
  });
}

export interface ConvTransposeSpec extends ConvSpec {
  outputPadding?: [number, number];
  outputShape?: [number, number];
}

/** One ConvTranspose: input `x`, weight `w` [C, M/group, kh, kw], bias `b`, output `y`. */
export function convTranspose(spec: ConvTransposeSpec = {}): OpModel {
  const [N, C, H, W] = spec.input ?? [2, 4, 4, 3];
  const M = spec.out ?? 4;
  const group = spec.group ?? 1;
  const k = spec.k ?? [3, 3];
  const bias = spec.bias ?? true;
  return opModel({
    seed: spec.seed,
    opset: spec.opset,
    operands: [
      { name: 'x', dims: [N, C, H, W] },
      { name: 'w', dims: [C, M / group, k[0], k[1]], init: true, scale: 0.3 },
      ...(bias ? [{ name: 'b', dims: [M], init: true, scale: 0.1 }] : []),
    ],
    nodes: [
      {
        op: 'ConvTranspose',
        inputs: bias ? ['x', 'w', 'b'] : ['x', 'w'],
        outputs: ['y'],
        attrs: {
          kernel_shape: k,
          strides: spec.stride ?? [1, 1],
          dilations: spec.dilation ?? [1, 1],
          group,
          ...padAttrs(spec.pad),
          ...(spec.outputPadding ? { output_padding: spec.outputPadding } : {}),
          ...(spec.outputShape ? { output_shape: spec.outputShape } : {}),
        },
      },
    ],
    outputs: ['y'],
  });
}

/** BatchNormalization (inference form): `x` [N, C, H, W], `scale`, `bias`, `mean`, `var` (positive). */
export function batchNorm(spec: { input?: [number, number, number, number]; epsilon?: number; seed?: number; opset?: number } = {}): OpModel {
  const [N, C, H, W] = spec.input ?? [2, 3, 4, 5];
  const rng = new Random((spec.seed ?? 1) + 1000);
  const variance = Array.from({ length: C }, () => Math.fround(0.5 + rng.next()));
  return opModel({
    seed: spec.seed,
    opset: spec.opset,
    operands: [
      { name: 'x', dims: [N, C, H, W] },
      { name: 'scale', dims: [C], init: true, scale: 0.5, shift: 1 },
      { name: 'bias', dims: [C], init: true, scale: 0.2 },
      { name: 'mean', dims: [C], init: true, scale: 0.3 },
      { name: 'var', dims: [C], init: true, values: variance },
    ],
    nodes: [{ op: 'BatchNormalization', inputs: ['x', 'scale', 'bias', 'mean', 'var'], outputs: ['y'], attrs: { epsilon: spec.epsilon ?? 1e-5 } }],
    outputs: ['y'],
  });
}

export interface PoolSpec {
  op: 'MaxPool' | 'AveragePool';
  input?: [number, number, number, number];
  k?: [number, number];
  stride?: [number, number];
  pad?: PadSpec;
  dilation?: [number, number];
  ceil?: boolean;
  countIncludePad?: boolean;
  /** MaxPool: also output the argmax indices as `indices`. */
  indices?: boolean;
  seed?: number;
  opset?: number;
}

/** One MaxPool or AveragePool on `x`, output `y` (and `indices`). */
export function pool(spec: PoolSpec): OpModel {
  const input = spec.input ?? [2, 3, 7, 6];
  const attrs: Record<string, AttrValue> = { kernel_shape: spec.k ?? [2, 2], strides: spec.stride ?? spec.k ?? [2, 2], ...padAttrs(spec.pad) };
  if (spec.ceil) attrs.ceil_mode = 1;
  if (spec.dilation) attrs.dilations = spec.dilation;
  if (spec.countIncludePad) attrs.count_include_pad = 1;
  const outputs = spec.indices ? ['y', 'indices'] : ['y'];
  return opModel({
    seed: spec.seed,
    opset: spec.opset,
    operands: [{ name: 'x', dims: input }],
    nodes: [{ op: spec.op, inputs: ['x'], outputs, attrs }],
    outputs,
    outputTypes: { indices: 'int64' },
  });
}

/** One op of one input `x` (dims), output `y`. */
export function unaryOp(op: string, dims: number[], attrs: Record<string, AttrValue> = {}, options: { seed?: number; opset?: number; scale?: number; shift?: number } = {}): OpModel {
  return opModel({
    seed: options.seed,
    opset: options.opset,
    operands: [{ name: 'x', dims, scale: options.scale ?? 2, shift: options.shift ?? 0 }],
    nodes: [{ op, inputs: ['x'], outputs: ['y'], attrs }],
    outputs: ['y'],
  });
}

/** A binary op of `a` and `b` (b an initializer when `bInit`), numpy broadcasting, output `y`. */
export function binaryOp(op: string, aDims: number[], bDims: number[], options: { bInit?: boolean; seed?: number; opset?: number; bShift?: number } = {}): OpModel {
  return opModel({
    seed: options.seed,
    opset: options.opset,
    operands: [
      { name: 'a', dims: aDims },
      { name: 'b', dims: bDims, init: options.bInit, shift: options.bShift ?? 0 },
    ],
    nodes: [{ op, inputs: ['a', 'b'], outputs: ['y'] }],
    outputs: ['y'],
  });
}

export interface GemmSpec {
  M?: number;
  K?: number;
  N?: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** Dims of C ([N], [1, N], [M, N], [] …); undefined: no C. */
  cDims?: number[];
  seed?: number;
  opset?: number;
}

/** One Gemm: input `a`, weight `b`, bias `c` (initializers), output `y`. */
export function gemm(spec: GemmSpec = {}): OpModel {
  const M = spec.M ?? 3;
  const K = spec.K ?? 5;
  const N = spec.N ?? 4;
  const attrs: Record<string, AttrValue> = {};
  if (spec.transA) attrs.transA = 1;
  if (spec.transB) attrs.transB = 1;
  if (spec.alpha !== undefined) attrs.alpha = spec.alpha;
  if (spec.beta !== undefined) attrs.beta = spec.beta;
  return opModel({
    seed: spec.seed,
    opset: spec.opset,
    operands: [
      { name: 'a', dims: spec.transA ? [K, M] : [M, K] },
      { name: 'b', dims: spec.transB ? [N, K] : [K, N], init: true, scale: 1 / Math.sqrt(K) },
      ...(spec.cDims ? [{ name: 'c', dims: spec.cDims, init: true, scale: 0.1 }] : []),
    ],
    nodes: [{ op: 'Gemm', inputs: spec.cDims ? ['a', 'b', 'c'] : ['a', 'b'], outputs: ['y'], attrs }],
    outputs: ['y'],
  });
}

/** Softmax or LogSoftmax of `x` along `axis` (undefined: the opset's default). */
export function softmax(op: 'Softmax' | 'LogSoftmax', dims: number[], axis: number | undefined, opset: number, seed?: number): OpModel {
  return unaryOp(op, dims, axis === undefined ? {} : { axis }, { opset, seed });
}

/**
 * A residual block with BatchNorm ending in a classifier: x → Conv3x3 → BN → Relu → Conv3x3 → BN →
 * Add(x) → Relu → GlobalAveragePool → Flatten → Gemm → `logits`. Parameters: every Conv/BN/Gemm
 * initializer (BN frozen: its mean and var are initializers too).
 */
export function residualBlock(spec: { input?: [number, number, number, number]; classes?: number; seed?: number; opset?: number } = {}): OpModel {
  const [N, C, H, W] = spec.input ?? [2, 3, 5, 5];
  const K = spec.classes ?? 4;
  const rng = new Random((spec.seed ?? 1) + 2000);
  const variance = () => Array.from({ length: C }, () => Math.fround(0.5 + rng.next()));
  const bn = (p: string): OperandSpec[] => [
    { name: `${p}.weight`, dims: [C], init: true, scale: 0.2, shift: 1 },
    { name: `${p}.bias`, dims: [C], init: true, scale: 0.2 },
    { name: `${p}.running_mean`, dims: [C], init: true, scale: 0.2 },
    { name: `${p}.running_var`, dims: [C], init: true, values: variance() },
  ];
  const bnNode = (p: string, input: string, output: string): NodeSpec => ({
    op: 'BatchNormalization',
    inputs: [input, `${p}.weight`, `${p}.bias`, `${p}.running_mean`, `${p}.running_var`],
    outputs: [output],
    attrs: { epsilon: 1e-5 },
  });
  return opModel({
    seed: spec.seed,
    opset: spec.opset,
    dynamicBatch: true,
    operands: [
      { name: 'x', dims: [N, C, H, W] },
      { name: 'conv1.weight', dims: [C, C, 3, 3], init: true, scale: 1 / Math.sqrt(9 * C) },
      ...bn('bn1'),
      { name: 'conv2.weight', dims: [C, C, 3, 3], init: true, scale: 1 / Math.sqrt(9 * C) },
      ...bn('bn2'),
      { name: 'fc.weight', dims: [K, C], init: true, scale: 1 / Math.sqrt(C) },
      { name: 'fc.bias', dims: [K], init: true, scale: 0.1 },
    ],
    nodes: [
      { op: 'Conv', inputs: ['x', 'conv1.weight'], outputs: ['c1'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      bnNode('bn1', 'c1', 'b1'),
      { op: 'Relu', inputs: ['b1'], outputs: ['r1'] },
      { op: 'Conv', inputs: ['r1', 'conv2.weight'], outputs: ['c2'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      bnNode('bn2', 'c2', 'b2'),
      { op: 'Add', inputs: ['b2', 'x'], outputs: ['sum'] },
      { op: 'Relu', inputs: ['sum'], outputs: ['r2'] },
      { op: 'GlobalAveragePool', inputs: ['r2'], outputs: ['gap'] },
      { op: 'Flatten', inputs: ['gap'], outputs: ['flat'] },
      { op: 'Gemm', inputs: ['flat', 'fc.weight', 'fc.bias'], outputs: ['logits'], attrs: { transB: 1 } },
    ],
    outputs: ['logits'],
  });
}

/** A linear classifier `logits = x·Wᵀ + b` (Gemm, transB): the case with a gradient known in closed form. */
export function linear(spec: { batch?: number; features?: number; classes?: number; seed?: number } = {}): OpModel {
  const N = spec.batch ?? 3;
  const D = spec.features ?? 5;
  const K = spec.classes ?? 4;
  return opModel({
    seed: spec.seed,
    operands: [
      { name: 'x', dims: [N, D] },
      { name: 'W', dims: [K, D], init: true, scale: 0.5 },
      { name: 'b', dims: [K], init: true, scale: 0.1 },
    ],
    nodes: [{ op: 'Gemm', inputs: ['x', 'W', 'b'], outputs: ['logits'], attrs: { transB: 1 } }],
    outputs: ['logits'],
  });
}

// ---------------------------------------------------------------------------------------------
// finite differences

/**
 * Central differences of a scalar function: (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h for every i. `x` is
 * changed during the call and restored before it returns.
 */
export function finiteDifference(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h;
    const up = f(x);
    x[i] = keep - h;
    const down = f(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** max |a − b| / max(max |b|, floor): one number for "do these arrays agree". */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`relativeError: lengths ${a.length} and ${b.length}`);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Mean softmax cross-entropy of logits [N, K] to integer labels, in float64. */
export function softmaxCrossEntropy(logits: ArrayLike<number>, labels: ArrayLike<number>, K: number): number {
  const N = labels.length;
  let loss = 0;
  for (let n = 0; n < N; n++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[n * K + k]);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(logits[n * K + k] - max);
    loss += Math.log(sum) + max - logits[n * K + labels[n]];
  }
  return loss / N;
}

/** A seeded cotangent: a fixed random weighting that turns a tensor output into a scalar Σ cᵢ·yᵢ. */
export function cotangent(n: number, seed = 7): Float64Array {
  return randomValues(new Random(seed), n);
}

export interface ReferenceGradientOptions {
  /** The output to differentiate (default: the model's first). */
  output?: string;
  /** Weights of the scalar L = Σ c·output (default: {@link cotangent} of the output's size). */
  weights?: Float64Array;
  /** Graph inputs and initializers to differentiate with respect to. */
  wrt: string[];
  /** Step of the central differences (default 1e-5). */
  h?: number;
}

/**
 * Finite-difference gradients of L = Σ c·output on the float64 reference, with respect to each name
 * of `wrt` (graph inputs or initializers): what a generated gradient graph must reproduce given the
 * same cotangent `c` at the output.
 */
export function referenceGradients(model: OpModel | ReferenceModel, feedsIn: Record<string, RefFeed> | undefined, options: ReferenceGradientOptions): { value: Float64Array; weights: Float64Array; grads: Record<string, Float64Array> } {
  const ref = 'bytes' in model ? loadReference(model.bytes) : model;
  const feeds = feedsIn ?? ('bytes' in model ? model.feeds : {});
  const output = options.output ?? ref.outputs[0];
  const value = ref.run(feeds)[output].data;
  const weights = options.weights ?? cotangent(value.length);
  const grads: Record<string, Float64Array> = {};
  const scalar = (y: Float64Array) => y.reduce((s, v, i) => s + v * weights[i], 0);
  for (const name of options.wrt) {
    if (feeds[name]) {
      const x = Float64Array.from(feeds[name].data);
      grads[name] = finiteDifference((xv) => scalar(ref.run({ ...feeds, [name]: { ...feeds[name], data: xv } })[output].data), x, options.h);
    } else {
      const w = ref.initializer(name).data;
      grads[name] = finiteDifference((wv) => scalar(ref.run(feeds, { [name]: wv })[output].data), w, options.h);
    }
  }
  return { value, weights, grads };
}
