/**
 * A slow, obvious float64 interpreter of ONNX graphs: the independent reference that the native
 * graph engine (its forward graphs and its generated gradient graphs) is checked against.
 *
 * Why a second implementation: onnxruntime computes in float32, so a gradient checked by finite
 * differences on it drowns in rounding; this interpreter computes every op in float64 with plain
 * loops written straight from the ONNX operator specification (opsets 11–18), so central differences
 * of its outputs agree with an analytic gradient to ~1e-8. It is validated op by op against
 * onnxruntime (reference.test.ts). Nothing here is fast or clever on purpose.
 *
 * Values: every tensor is a Float64Array plus dims and an element kind ('float', 'int' for the
 * integer types — exact up to 2^53, enough for shapes and indices — or 'bool'). A Cast to a float type
 * keeps float64 precision (it does not round to float32): the point is exact arithmetic.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
type AttributeProto = InstanceType<typeof onnx.AttributeProto>;

export type ElemKind = 'float' | 'int' | 'bool';

export interface RefTensor {
  data: Float64Array;
  dims: number[];
  kind: ElemKind;
}

/** A feed: float64 (or float32, or plain) values with their dims; `kind` defaults to 'float'. */
export interface RefFeed {
  data: ArrayLike<number>;
  dims: number[];
  kind?: ElemKind;
}

export interface RunOptions {
  /** Names of intermediate values to return beside the graph outputs. */
  keep?: string[];
  /** Return every value computed (inputs, initializers and node outputs). */
  keepAll?: boolean;
}

export interface ReferenceNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
}

export interface ReferenceModel {
  /** The default-domain opset the model imports. */
  readonly opset: number;
  /** Graph inputs that are not initializers, with their declared dims (a name for a symbolic dim). */
  readonly inputs: { name: string; dims: (number | string)[] }[];
  readonly outputs: string[];
  readonly nodes: ReferenceNode[];
  /** Initializer names in file order. */
  readonly initializerNames: string[];
  /** An initializer's value (a fresh copy). */
  initializer(name: string): RefTensor;
  /**
   * Runs the graph on `feeds`; `overrides` replaces initializer values (same length), so a weight
   * gradient can be finite-differenced. Returns every graph output, plus `options.keep` values.
   */
  run(feeds: Record<string, RefFeed>, overrides?: Record<string, ArrayLike<number>>, options?: RunOptions): Record<string, RefTensor>;
}

// ---------------------------------------------------------------------------------------------
// protobuf helpers

type LongLike = number | { toNumber(): number };
function num(v: LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

const DT = onnx.TensorProto.DataType;

function kindOf(dataType: number): ElemKind {
  switch (dataType) {
    case DT.FLOAT:
    case DT.DOUBLE:
    case DT.FLOAT16:
      return 'float';
    case DT.BOOL:
      return 'bool';
    case DT.INT8:
    case DT.UINT8:
    case DT.INT16:
    case DT.UINT16:
    case DT.INT32:
    case DT.UINT32:
    case DT.INT64:
    case DT.UINT64:
      return 'int';
    default:
      throw new Error(`reference: tensor data type ${dataType} (${DT[dataType] ?? '?'}) is not supported`);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** A TensorProto's values as float64 (raw_data little-endian, or the typed repeated fields). */
export function tensorFromProto(t: TensorProto): RefTensor {
  const dims = (t.dims ?? []).map((d) => num(d as LongLike));
  const n = dims.reduce((a, b) => a * b, 1);
  const dataType = t.dataType ?? 0;
  const kind = kindOf(dataType);
  if ((t.externalData?.length ?? 0) > 0 || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new Error(`reference: tensor '${t.name}' keeps its data in an external file (not supported)`);
  }
  const out = new Float64Array(n);
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width: Record<number, number> = {
      [DT.FLOAT]: 4, [DT.DOUBLE]: 8, [DT.FLOAT16]: 2, [DT.BOOL]: 1, [DT.INT8]: 1, [DT.UINT8]: 1, [DT.INT16]: 2,
      [DT.UINT16]: 2, [DT.INT32]: 4, [DT.UINT32]: 4, [DT.INT64]: 8, [DT.UINT64]: 8,
    };
    if (raw.byteLength !== n * width[dataType]) throw new Error(`reference: tensor '${t.name}' has ${raw.byteLength} bytes for ${n} values`);
    for (let i = 0; i < n; i++) {
      switch (dataType) {
        case DT.FLOAT: out[i] = view.getFloat32(4 * i, true); break;
        case DT.DOUBLE: out[i] = view.getFloat64(8 * i, true); break;
        case DT.FLOAT16: out[i] = halfToFloat(view.getUint16(2 * i, true)); break;
        case DT.BOOL: case DT.UINT8: out[i] = view.getUint8(i); break;
        case DT.INT8: out[i] = view.getInt8(i); break;
        case DT.INT16: out[i] = view.getInt16(2 * i, true); break;
        case DT.UINT16: out[i] = view.getUint16(2 * i, true); break;
        case DT.INT32: out[i] = view.getInt32(4 * i, true); break;
        case DT.UINT32: out[i] = view.getUint32(4 * i, true); break;
        case DT.INT64: out[i] = Number(view.getBigInt64(8 * i, true)); break;
        case DT.UINT64: out[i] = Number(view.getBigUint64(8 * i, true)); break;
      }
    }
    return { data: out, dims, kind };
  }
  let src: ArrayLike<LongLike> = [];
  if (dataType === DT.FLOAT) src = t.floatData ?? [];
  else if (dataType === DT.DOUBLE) src = t.doubleData ?? [];
  else if (dataType === DT.INT64) src = (t.int64Data ?? []) as LongLike[];
  else if (dataType === DT.UINT32 || dataType === DT.UINT64) src = (t.uint64Data ?? []) as LongLike[];
  else if (dataType === DT.FLOAT16) src = (t.int32Data ?? []).map(halfToFloat);
  else src = t.int32Data ?? [];
  if (src.length !== n) throw new Error(`reference: tensor '${t.name}' has ${src.length} values for dims [${dims}]`);
  for (let i = 0; i < n; i++) out[i] = num(src[i]);
  return { data: out, dims, kind };
}

interface Attrs {
  has(name: string): boolean;
  int(name: string, dflt?: number): number;
  float(name: string, dflt?: number): number;
  string(name: string, dflt?: string): string;
  ints(name: string, dflt?: number[]): number[] | undefined;
  floats(name: string): number[] | undefined;
  tensor(name: string): RefTensor | undefined;
}

function attrsOf(node: NodeProto): Attrs {
  const map = new Map<string, AttributeProto>();
  for (const a of node.attribute ?? []) map.set(a.name ?? '', a as AttributeProto);
  const AT = onnx.AttributeProto.AttributeType;
  const get = (name: string): AttributeProto | undefined => map.get(name);
  return {
    has: (name) => map.has(name),
    int(name, dflt) {
      const a = get(name);
      if (a === undefined) {
        if (dflt === undefined) throw new Error(`reference: ${node.opType} '${node.name}' needs attribute ${name}`);
        return dflt;
      }
      return num(a.i as LongLike);
    },
    float(name, dflt) {
      const a = get(name);
      if (a === undefined) {
        if (dflt === undefined) throw new Error(`reference: ${node.opType} '${node.name}' needs attribute ${name}`);
        return dflt;
      }
      return a.type === AT.INT ? num(a.i as LongLike) : (a.f ?? 0);
    },
    string(name, dflt) {
      const a = get(name);
      if (a === undefined) {
        if (dflt === undefined) throw new Error(`reference: ${node.opType} '${node.name}' needs attribute ${name}`);
        return dflt;
      }
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    },
    ints(name, dflt) {
      const a = get(name);
      return a === undefined ? dflt : (a.ints ?? []).map((v) => num(v as LongLike));
    },
    floats(name) {
      const a = get(name);
      return a === undefined ? undefined : [...(a.floats ?? [])];
    },
    tensor(name) {
      const a = get(name);
      return a?.t ? tensorFromProto(a.t as TensorProto) : undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tensor helpers

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

function tensor(data: Float64Array, dims: number[], kind: ElemKind = 'float'): RefTensor {
  if (data.length !== size(dims)) throw new Error(`reference: internal error, ${data.length} values for dims [${dims}]`);
  return { data, dims, kind };
}

function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`reference: ${what}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** numpy multidirectional broadcasting of several shapes. */
function broadcastShape(shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i];
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) throw new Error(`reference: shapes ${shapes.map((x) => `[${x}]`).join(' ')} do not broadcast`);
    }
  }
  return out;
}

/** For each flat index of `outDims`, the flat index into a tensor of `inDims` broadcast to it. */
function broadcastIndex(inDims: number[], outDims: number[]): Int32Array {
  const n = size(outDims);
  const idx = new Int32Array(n);
  const rank = outDims.length;
  const inStrides = stridesOf(inDims);
  const eff = new Array<number>(rank).fill(0);
  for (let i = 0; i < inDims.length; i++) {
    const o = rank - inDims.length + i;
    eff[o] = inDims[i] === 1 ? 0 : inStrides[i];
  }
  const counter = new Array<number>(rank).fill(0);
  let pos = 0;
  for (let k = 0; k < n; k++) {
    idx[k] = pos;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      pos += eff[d];
      if (counter[d] < outDims[d]) break;
      pos -= eff[d] * counter[d];
      counter[d] = 0;
    }
  }
  return idx;
}

function elementwise(inputs: RefTensor[], f: (...v: number[]) => number, kind: ElemKind): RefTensor {
  const dims = broadcastShape(inputs.map((t) => t.dims));
  const maps = inputs.map((t) => broadcastIndex(t.dims, dims));
  const n = size(dims);
  const out = new Float64Array(n);
  const args = new Array<number>(inputs.length);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < inputs.length; j++) args[j] = inputs[j].data[maps[j][k]];
    out[k] = f(...args);
  }
  return tensor(out, dims, kind);
}

function unary(x: RefTensor, f: (v: number) => number): RefTensor {
  return tensor(x.data.map(f), [...x.dims], x.kind);
}

function transpose(x: RefTensor, perm: number[]): RefTensor {
  const rank = x.dims.length;
  const outDims = perm.map((p) => x.dims[p]);
  const inStrides = stridesOf(x.dims);
  const n = size(outDims);
  const out = new Float64Array(n);
  const outStrides = stridesOf(outDims);
  for (let k = 0; k < n; k++) {
    let rem = k;
    let src = 0;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(rem / outStrides[d]);
      rem -= c * outStrides[d];
      src += c * inStrides[perm[d]];
    }
    out[k] = x.data[src];
  }
  return tensor(out, outDims, x.kind);
}

/** Normalized, sorted reduction axes; all axes when `axes` is empty or undefined. */
function reduceAxes(axes: number[] | undefined, rank: number, what: string): number[] {
  if (!axes || axes.length === 0) return [...Array(rank).keys()];
  return [...new Set(axes.map((a) => normAxis(a, rank, what)))].sort((a, b) => a - b);
}

function reduce(x: RefTensor, axes: number[], keepdims: boolean, init: number, step: (acc: number, v: number) => number, finish: (acc: number, count: number) => number): RefTensor {
  const rank = x.dims.length;
  const keptDims = x.dims.map((d, i) => (axes.includes(i) ? 1 : d));
  const outStrides = stridesOf(keptDims);
  const inStrides = stridesOf(x.dims);
  const m = size(keptDims);
  const acc = new Float64Array(m).fill(init);
  for (let k = 0; k < x.data.length; k++) {
    let rem = k;
    let o = 0;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(rem / inStrides[d]);
      rem -= c * inStrides[d];
      if (!axes.includes(d)) o += c * outStrides[d];
    }
    acc[o] = step(acc[o], x.data[k]);
  }
  const count = size(axes.map((a) => x.dims[a]));
  const out = acc.map((a) => finish(a, count));
  const dims = keepdims ? keptDims : x.dims.filter((_, i) => !axes.includes(i));
  return tensor(out, dims, x.kind);
}

function ints(t: RefTensor | undefined): number[] | undefined {
  return t === undefined ? undefined : Array.from(t.data);
}

// ---------------------------------------------------------------------------------------------
// convolution and pooling geometry

interface Geometry {
  /** Output spatial sizes. */
  out: number[];
  /** Padding before each spatial dim. */
  begin: number[];
  /** Padding after each spatial dim. */
  end: number[];
}

/**
 * Output size and padding of a convolution or pooling window over spatial sizes `inSizes`: explicit
 * `pads` ([x1_begin, x2_begin, ..., x1_end, x2_end, ...]) when auto_pad is NOTSET, else SAME_UPPER
 * (out = ceil(in / stride), the odd extra padding at the end), SAME_LOWER (at the beginning), VALID.
 */
function geometry(attrs: Attrs, opName: string, inSizes: number[], kernel: number[], strides: number[], dilations: number[], ceilMode: boolean): Geometry {
  const r = inSizes.length;
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  const begin = new Array<number>(r).fill(0);
  const end = new Array<number>(r).fill(0);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const dk = (kernel[i] - 1) * dilations[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out[i] = Math.ceil(inSizes[i] / strides[i]);
      const total = Math.max(0, (out[i] - 1) * strides[i] + dk - inSizes[i]);
      const small = Math.floor(total / 2);
      begin[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      end[i] = total - begin[i];
    } else if (autoPad === 'VALID' || autoPad === 'NOTSET') {
      if (autoPad === 'NOTSET') {
        const pads = attrs.ints('pads') ?? new Array<number>(2 * r).fill(0);
        begin[i] = pads[i];
        end[i] = pads[i + r];
      }
      const span = inSizes[i] + begin[i] + end[i] - dk;
      if (span < 0) throw new Error(`reference: ${opName}: window larger than the padded input`);
      if (ceilMode) {
        out[i] = Math.ceil(span / strides[i]) + 1;
        // The last window must start inside the input or its leading padding (as PyTorch and onnxruntime do).
        if ((out[i] - 1) * strides[i] >= inSizes[i] + begin[i]) out[i]--;
      } else {
        out[i] = Math.floor(span / strides[i]) + 1;
      }
    } else {
      throw new Error(`reference: ${opName}: auto_pad ${autoPad} not supported`);
    }
  }
  return { out, begin, end };
}

function conv(attrs: Attrs, x: RefTensor, w: RefTensor, b: RefTensor | undefined): RefTensor {
  if (x.dims.length !== 4) throw new Error(`reference: Conv on a rank-${x.dims.length} input (only 2-D images, rank 4)`);
  const [N, C, H, W] = x.dims;
  const [M, Cg, KH, KW] = w.dims;
  const group = attrs.int('group', 1);
  if (C !== Cg * group || M % group !== 0) throw new Error(`reference: Conv: channels ${C}, weight [${w.dims}], group ${group} disagree`);
  const kernel = attrs.ints('kernel_shape') ?? [KH, KW];
  if (kernel[0] !== KH || kernel[1] !== KW) throw new Error('reference: Conv: kernel_shape disagrees with the weight');
  const strides = attrs.ints('strides') ?? [1, 1];
  const dil = attrs.ints('dilations') ?? [1, 1];
  const g = geometry(attrs, 'Conv', [H, W], kernel, strides, dil, false);
  const [OH, OW] = g.out;
  const Mg = M / group;
  const out = new Float64Array(N * M * OH * OW);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const grp = Math.floor(m / Mg);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = b ? b.data[m] : 0;
          for (let c = 0; c < Cg; c++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * strides[0] - g.begin[0] + kh * dil[0];
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * strides[1] - g.begin[1] + kw * dil[1];
                if (iw < 0 || iw >= W) continue;
                s += x.data[((n * C + grp * Cg + c) * H + ih) * W + iw] * w.data[((m * Cg + c) * KH + kh) * KW + kw];
              }
            }
          out[((n * M + m) * OH + oh) * OW + ow] = s;
        }
    }
  return tensor(out, [N, M, OH, OW]);
}

function convTranspose(attrs: Attrs, x: RefTensor, w: RefTensor, b: RefTensor | undefined): RefTensor {
  if (x.dims.length !== 4) throw new Error(`reference: ConvTranspose on a rank-${x.dims.length} input (only rank 4)`);
  const [N, C, H, W] = x.dims;
  const [Cw, Mg, KH, KW] = w.dims;
  const group = attrs.int('group', 1);
  if (Cw !== C || C % group !== 0) throw new Error(`reference: ConvTranspose: channels ${C}, weight [${w.dims}], group ${group} disagree`);
  const M = Mg * group;
  const Cg = C / group;
  const strides = attrs.ints('strides') ?? [1, 1];
  const dil = attrs.ints('dilations') ?? [1, 1];
  const outPad = attrs.ints('output_padding') ?? [0, 0];
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  const ins = [H, W];
  const ks = [KH, KW];
  const begin = [0, 0];
  const outSize = [0, 0];
  const outputShape = attrs.ints('output_shape');
  const pads = attrs.ints('pads') ?? [0, 0, 0, 0];
  for (let i = 0; i < 2; i++) {
    const full = strides[i] * (ins[i] - 1) + outPad[i] + (ks[i] - 1) * dil[i] + 1;
    if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const target = outputShape ? outputShape[outputShape.length - 2 + i] : ins[i] * strides[i];
      const total = full - target;
      const half = Math.floor(total / 2);
      begin[i] = autoPad === 'SAME_UPPER' ? half : total - half;
      outSize[i] = target;
    } else {
      begin[i] = autoPad === 'VALID' ? 0 : pads[i];
      const end = autoPad === 'VALID' ? 0 : pads[i + 2];
      outSize[i] = full - begin[i] - end;
    }
  }
  const [OH, OW] = outSize;
  const out = new Float64Array(N * M * OH * OW);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const o0 = (n * M + m) * OH * OW;
      if (b) for (let k = 0; k < OH * OW; k++) out[o0 + k] = b.data[m];
    }
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const grp = Math.floor(c / Cg);
      for (let ih = 0; ih < H; ih++)
        for (let iw = 0; iw < W; iw++) {
          const v = x.data[((n * C + c) * H + ih) * W + iw];
          for (let m = 0; m < Mg; m++)
            for (let kh = 0; kh < KH; kh++) {
              const oh = ih * strides[0] - begin[0] + kh * dil[0];
              if (oh < 0 || oh >= OH) continue;
              for (let kw = 0; kw < KW; kw++) {
                const ow = iw * strides[1] - begin[1] + kw * dil[1];
                if (ow < 0 || ow >= OW) continue;
                out[((n * M + grp * Mg + m) * OH + oh) * OW + ow] += v * w.data[((c * Mg + m) * KH + kh) * KW + kw];
              }
            }
        }
    }
  return tensor(out, [N, M, OH, OW]);
}

function pool(attrs: Attrs, opName: string, x: RefTensor, kind: 'max' | 'avg'): RefTensor[] {
  if (x.dims.length !== 4) throw new Error(`reference: ${opName} on a rank-${x.dims.length} input (only rank 4)`);
  const [N, C, H, W] = x.dims;
  const kernel = attrs.ints('kernel_shape');
  if (!kernel || kernel.length !== 2) throw new Error(`reference: ${opName} needs a 2-D kernel_shape`);
  const strides = attrs.ints('strides') ?? [1, 1];
  const dil = attrs.ints('dilations') ?? [1, 1];
  if (attrs.int('storage_order', 0) !== 0) throw new Error(`reference: ${opName}: storage_order 1 not supported`);
  const g = geometry(attrs, opName, [H, W], kernel, strides, dil, attrs.int('ceil_mode', 0) === 1);
  const [OH, OW] = g.out;
  const includePad = attrs.int('count_include_pad', 0) === 1;
  const out = new Float64Array(N * C * OH * OW);
  const idx = new Float64Array(N * C * OH * OW);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let best = -Infinity;
          let bestAt = -1;
          let sum = 0;
          let count = 0;
          for (let kh = 0; kh < kernel[0]; kh++) {
            const ih = oh * strides[0] - g.begin[0] + kh * dil[0];
            for (let kw = 0; kw < kernel[1]; kw++) {
              const iw = ow * strides[1] - g.begin[1] + kw * dil[1];
              const inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
              // count_include_pad counts the explicit padding, not the overhang of a ceil-mode window.
              const inPadded = ih >= -g.begin[0] && ih < H + g.end[0] && iw >= -g.begin[1] && iw < W + g.end[1];
              if (inside) {
                const at = ((n * C + c) * H + ih) * W + iw;
                const v = x.data[at];
                if (v > best) {
                  best = v;
                  bestAt = at;
                }
                sum += v;
              }
              if (includePad ? inPadded : inside) count++;
            }
          }
          const o = ((n * C + c) * OH + oh) * OW + ow;
          out[o] = kind === 'max' ? best : sum / count;
          idx[o] = bestAt;
        }
  const y = tensor(out, [N, C, OH, OW]);
  return kind === 'max' ? [y, tensor(idx, [N, C, OH, OW], 'int')] : [y];
}

function maxUnpool(attrs: Attrs, x: RefTensor, indices: RefTensor, outputShape: RefTensor | undefined): RefTensor {
  const [N, C, H, W] = x.dims;
  const kernel = attrs.ints('kernel_shape') ?? [];
  const strides = attrs.ints('strides') ?? [1, 1];
  const pads = attrs.ints('pads') ?? [0, 0, 0, 0];
  const dims = outputShape
    ? ints(outputShape)!
    : [N, C, (H - 1) * strides[0] + kernel[0] - pads[0] - pads[2], (W - 1) * strides[1] + kernel[1] - pads[1] - pads[3]];
  const out = new Float64Array(size(dims));
  for (let k = 0; k < x.data.length; k++) {
    const at = indices.data[k];
    if (at < 0 || at >= out.length) throw new Error(`reference: MaxUnpool: index ${at} outside the output`);
    out[at] = x.data[k];
  }
  return tensor(out, dims);
}

// ---------------------------------------------------------------------------------------------
// matrix ops

function matmul(a: RefTensor, b: RefTensor): RefTensor {
  const aDims = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  const M = aDims[aDims.length - 2];
  const K = aDims[aDims.length - 1];
  const K2 = bDims[bDims.length - 2];
  const P = bDims[bDims.length - 1];
  if (K !== K2) throw new Error(`reference: MatMul: [${a.dims}] x [${b.dims}]`);
  const batch = broadcastShape([aDims.slice(0, -2), bDims.slice(0, -2)]);
  const aMap = broadcastIndex(aDims.slice(0, -2), batch);
  const bMap = broadcastIndex(bDims.slice(0, -2), batch);
  const nb = size(batch);
  const out = new Float64Array(nb * M * P);
  for (let t = 0; t < nb; t++) {
    const ao = aMap[t] * M * K;
    const bo = bMap[t] * K * P;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < P; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a.data[ao + i * K + k] * b.data[bo + k * P + j];
        out[(t * M + i) * P + j] = s;
      }
  }
  const dims = [...batch, M, P];
  if (a.dims.length === 1) dims.splice(dims.length - 2, 1);
  if (b.dims.length === 1) dims.splice(dims.length - 1, 1);
  return tensor(out, dims);
}

function gemm(attrs: Attrs, a: RefTensor, b: RefTensor, c: RefTensor | undefined): RefTensor {
  const alpha = attrs.float('alpha', 1);
  const beta = attrs.float('beta', 1);
  const A = attrs.int('transA', 0) ? transpose(a, [1, 0]) : a;
  const B = attrs.int('transB', 0) ? transpose(b, [1, 0]) : b;
  const ab = matmul(A, B);
  if (!c) return unary(ab, (v) => alpha * v);
  if (broadcastShape([ab.dims, c.dims]).some((d, i) => d !== ab.dims[i])) throw new Error(`reference: Gemm: C [${c.dims}] does not broadcast to [${ab.dims}]`);
  return elementwise([ab, c], (p, q) => alpha * p + beta * q, 'float');
}

/** Softmax (log = false) or LogSoftmax over `axes` grouped as [outer, inner block] at `axis`. */
function softmax(attrs: Attrs, opset: number, x: RefTensor, log: boolean): RefTensor {
  const rank = x.dims.length;
  const axis = normAxis(attrs.int('axis', opset >= 13 ? -1 : 1), rank, 'Softmax');
  const out = new Float64Array(x.data.length);
  // Before opset 13 the input is coerced to 2-D [d0*…*d(axis-1), d(axis)*…]: one softmax over the
  // whole trailing block. From 13 on, along the single axis.
  const outer = size(x.dims.slice(0, axis));
  const len = opset >= 13 ? x.dims[axis] : size(x.dims.slice(axis));
  const inner = opset >= 13 ? size(x.dims.slice(axis + 1)) : 1;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * len + k) * inner + i;
      let max = -Infinity;
      for (let k = 0; k < len; k++) max = Math.max(max, x.data[at(k)]);
      let sum = 0;
      for (let k = 0; k < len; k++) sum += Math.exp(x.data[at(k)] - max);
      for (let k = 0; k < len; k++) {
        const z = x.data[at(k)] - max;
        out[at(k)] = log ? z - Math.log(sum) : Math.exp(z) / sum;
      }
    }
  return tensor(out, [...x.dims]);
}

// ---------------------------------------------------------------------------------------------
// shape ops

function reshape(x: RefTensor, shape: number[], allowZero: boolean): RefTensor {
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? x.dims[i] : d));
  const unknown = dims.indexOf(-1);
  if (unknown >= 0) {
    const known = size(dims.filter((d) => d !== -1));
    dims[unknown] = known === 0 ? 0 : x.data.length / known;
  }
  if (size(dims) !== x.data.length || dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reference: Reshape of [${x.dims}] to [${shape}]`);
  }
  return tensor(x.data.slice(), dims, x.kind);
}

function concat(xs: RefTensor[], axisAttr: number): RefTensor {
  const rank = xs[0].dims.length;
  const axis = normAxis(axisAttr, rank, 'Concat');
  const dims = [...xs[0].dims];
  dims[axis] = xs.reduce((s, t) => s + t.dims[axis], 0);
  const outer = size(dims.slice(0, axis));
  const inner = size(dims.slice(axis + 1));
  const out = new Float64Array(size(dims));
  let o = 0;
  for (let a = 0; a < outer; a++)
    for (const t of xs) {
      const block = t.dims[axis] * inner;
      out.set(t.data.subarray(a * block, (a + 1) * block), o);
      o += block;
    }
  return tensor(out, dims, xs[0].kind);
}

/** Split along `axis` into the sizes given (input from opset 13, attribute before), or equal parts. */
function split(x: RefTensor, axisAttr: number, sizes: number[] | undefined, parts: number): RefTensor[] {
  const axis = normAxis(axisAttr, x.dims.length, 'Split');
  const len = x.dims[axis];
  if (sizes === undefined) {
    const each = Math.ceil(len / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(each, len - i * each)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== len) throw new Error(`reference: Split: sizes [${sizes}] do not add up to ${len}`);
  const outer = size(x.dims.slice(0, axis));
  const inner = size(x.dims.slice(axis + 1));
  let start = 0;
  return sizes.map((n) => {
    const dims = [...x.dims];
    dims[axis] = n;
    const out = new Float64Array(size(dims));
    for (let o = 0; o < outer; o++) out.set(x.data.subarray((o * len + start) * inner, (o * len + start + n) * inner), o * n * inner);
    start += n;
    return tensor(out, dims, x.kind);
  });
}

/** ScatterElements: a copy of `data` with `updates` written (or combined by `reduction`) at `indices` along `axis`. */
function scatterElements(data: RefTensor, indices: RefTensor, updates: RefTensor, axisAttr: number, reduction: string): RefTensor {
  const rank = data.dims.length;
  const axis = normAxis(axisAttr, rank, 'ScatterElements');
  if (indices.dims.join() !== updates.dims.join() || indices.dims.length !== rank) throw new Error(`reference: ScatterElements: indices [${indices.dims}] and updates [${updates.dims}]`);
  const combine: Record<string, (a: number, b: number) => number> = { none: (_a, b) => b, add: (a, b) => a + b, mul: (a, b) => a * b, max: Math.max, min: Math.min };
  const f = combine[reduction];
  if (f === undefined) throw new Error(`reference: ScatterElements: reduction '${reduction}'`);
  const out = data.data.slice();
  const strides = data.dims.map((_, i) => size(data.dims.slice(i + 1)));
  const idx = new Array<number>(rank).fill(0);
  for (let k = 0; k < indices.data.length; k++) {
    let rest = k;
    for (let i = rank - 1; i >= 0; i--) {
      idx[i] = rest % indices.dims[i];
      rest = Math.floor(rest / indices.dims[i]);
    }
    let at = indices.data[k];
    if (at < 0) at += data.dims[axis];
    if (at < 0 || at >= data.dims[axis]) throw new Error(`reference: ScatterElements: index ${indices.data[k]} outside [0, ${data.dims[axis]})`);
    let o = 0;
    for (let i = 0; i < rank; i++) o += (i === axis ? at : idx[i]) * strides[i];
    out[o] = f(out[o], updates.data[k]);
  }
  return tensor(out, [...data.dims], data.kind);
}

function gather(x: RefTensor, indices: RefTensor, axisAttr: number): RefTensor {
  const axis = normAxis(axisAttr, x.dims.length, 'Gather');
  const outer = size(x.dims.slice(0, axis));
  const len = x.dims[axis];
  const inner = size(x.dims.slice(axis + 1));
  const dims = [...x.dims.slice(0, axis), ...indices.dims, ...x.dims.slice(axis + 1)];
  const out = new Float64Array(size(dims));
  const ni = indices.data.length;
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < ni; j++) {
      let k = indices.data[j];
      if (k < 0) k += len;
      if (k < 0 || k >= len) throw new Error(`reference: Gather: index ${indices.data[j]} out of range ${len}`);
      for (let i = 0; i < inner; i++) out[(o * ni + j) * inner + i] = x.data[(o * len + k) * inner + i];
    }
  return tensor(out, dims, x.kind);
}

function slice(x: RefTensor, starts: number[], ends: number[], axesIn: number[] | undefined, stepsIn: number[] | undefined): RefTensor {
  const rank = x.dims.length;
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank, 'Slice'));
  const steps = stepsIn ?? starts.map(() => 1);
  const start = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const count = [...x.dims];
  axes.forEach((a, i) => {
    const d = x.dims[a];
    const st = steps[i];
    if (st === 0) throw new Error('reference: Slice: step 0');
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (st > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
      count[a] = Math.max(0, Math.ceil((e - s) / st));
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
      count[a] = Math.max(0, Math.ceil((e - s) / st));
    }
    start[a] = s;
    step[a] = st;
  });
  const inStrides = stridesOf(x.dims);
  const outStrides = stridesOf(count);
  const n = size(count);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let rem = k;
    let src = 0;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(rem / outStrides[d]);
      rem -= c * outStrides[d];
      src += (start[d] + c * step[d]) * inStrides[d];
    }
    out[k] = x.data[src];
  }
  return tensor(out, count, x.kind);
}

function pad(x: RefTensor, pads: number[], mode: string, value: number, axesIn: number[] | undefined): RefTensor {
  const rank = x.dims.length;
  const begin = new Array<number>(rank).fill(0);
  const end = new Array<number>(rank).fill(0);
  const axes = (axesIn ?? [...Array(rank).keys()]).map((a) => normAxis(a, rank, 'Pad'));
  if (pads.length !== 2 * axes.length) throw new Error(`reference: Pad: ${pads.length} pads for ${axes.length} axes`);
  axes.forEach((a, i) => {
    begin[a] = pads[i];
    end[a] = pads[i + axes.length];
  });
  const dims = x.dims.map((d, i) => d + begin[i] + end[i]);
  const inStrides = stridesOf(x.dims);
  const outStrides = stridesOf(dims);
  const n = size(dims);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let rem = k;
    let src = 0;
    let outside = false;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(rem / outStrides[d]);
      rem -= c * outStrides[d];
      let i = c - begin[d];
      const len = x.dims[d];
      if (i < 0 || i >= len) {
        if (mode === 'constant') outside = true;
        else if (mode === 'edge') i = Math.min(Math.max(i, 0), len - 1);
        else if (mode === 'reflect') {
          if (len === 1) i = 0;
          else {
            const period = 2 * (len - 1);
            i = ((i % period) + period) % period;
            if (i >= len) i = period - i;
          }
        } else throw new Error(`reference: Pad: mode ${mode} not supported`);
      }
      src += i * inStrides[d];
    }
    out[k] = outside ? value : x.data[src];
  }
  return tensor(out, dims, x.kind);
}

function expand(x: RefTensor, shape: number[]): RefTensor {
  const dims = broadcastShape([x.dims, shape]);
  const map = broadcastIndex(x.dims, dims);
  return tensor(Float64Array.from(map, (i) => x.data[i]), dims, x.kind);
}

function argReduce(x: RefTensor, axisAttr: number, keepdims: boolean, selectLast: boolean, max: boolean): RefTensor {
  const axis = normAxis(axisAttr, x.dims.length, 'ArgMax');
  const outer = size(x.dims.slice(0, axis));
  const len = x.dims[axis];
  const inner = size(x.dims.slice(axis + 1));
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let best = 0;
      for (let k = 1; k < len; k++) {
        const v = x.data[(o * len + k) * inner + i];
        const b = x.data[(o * len + best) * inner + i];
        if (max ? v > b || (selectLast && v === b) : v < b || (selectLast && v === b)) best = k;
      }
      out[o * inner + i] = best;
    }
  const dims = keepdims ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
  return tensor(out, dims, 'int');
}

function castTo(x: RefTensor, to: number): RefTensor {
  const kind = kindOf(to);
  if (kind === 'float') return tensor(x.data.slice(), [...x.dims], 'float');
  if (kind === 'bool') return tensor(x.data.map((v) => (v !== 0 ? 1 : 0)), [...x.dims], 'bool');
  return tensor(x.data.map((v) => Math.trunc(v) + 0), [...x.dims], 'int'); // + 0: no -0 for an integer
}

// ---------------------------------------------------------------------------------------------
// the op table

interface OpContext {
  opset: number;
  attrs: Attrs;
  node: NodeProto;
}

type OpImpl = (ctx: OpContext, inputs: (RefTensor | undefined)[]) => RefTensor[];

function need(ctx: OpContext, inputs: (RefTensor | undefined)[], i: number): RefTensor {
  const t = inputs[i];
  if (!t) throw new Error(`reference: ${ctx.node.opType} '${ctx.node.name}' needs input ${i}`);
  return t;
}

const binary =
  (f: (a: number, b: number) => number, kind?: ElemKind): OpImpl =>
  (ctx, ins) => {
    const a = need(ctx, ins, 0);
    const b = need(ctx, ins, 1);
    return [elementwise([a, b], f, kind ?? a.kind)];
  };

const pointwise =
  (f: (v: number, ctx: OpContext) => number): OpImpl =>
  (ctx, ins) =>
    [unary(need(ctx, ins, 0), (v) => f(v, ctx))];

const variadic =
  (f: (vs: number[]) => number): OpImpl =>
  (ctx, ins) => {
    const xs = ins.filter((t): t is RefTensor => t !== undefined);
    return [elementwise(xs, (...vs) => f(vs), xs[0].kind)];
  };

/** Axes of a reduction or (un)squeeze: the `axes` attribute before `inputFrom`, input 1 from it on. */
function axesOf(ctx: OpContext, ins: (RefTensor | undefined)[], inputFrom: number): number[] | undefined {
  return ctx.opset >= inputFrom ? ints(ins[1]) : ctx.attrs.ints('axes');
}

const reduceOp =
  (inputFrom: number, init: number, step: (acc: number, v: number) => number, finish: (acc: number, count: number) => number): OpImpl =>
  (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const axes = axesOf(ctx, ins, inputFrom);
    if ((!axes || axes.length === 0) && ctx.opset >= inputFrom && ctx.attrs.int('noop_with_empty_axes', 0) === 1) return [x];
    return [reduce(x, reduceAxes(axes, x.dims.length, ctx.node.opType ?? ''), ctx.attrs.int('keepdims', 1) === 1, init, step, finish)];
  };

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

const OPS: Record<string, OpImpl> = {
  Identity: (ctx, ins) => [need(ctx, ins, 0)],
  Dropout: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    if (ins[2] && ins[2].data[0] !== 0) throw new Error(`reference: Dropout '${ctx.node.name}' in training mode`);
    return [x, tensor(new Float64Array(x.data.length).fill(1), [...x.dims], 'bool')];
  },
  Relu: pointwise((v) => Math.max(0, v)),
  LeakyRelu: pointwise((v, c) => (v >= 0 ? v : c.attrs.float('alpha', 0.01) * v)),
  PRelu: (ctx, ins) => [elementwise([need(ctx, ins, 0), need(ctx, ins, 1)], (v, s) => (v >= 0 ? v : s * v), 'float')],
  Sigmoid: pointwise(sigmoid),
  Tanh: pointwise(Math.tanh),
  HardSigmoid: pointwise((v, c) => Math.max(0, Math.min(1, c.attrs.float('alpha', 0.2) * v + c.attrs.float('beta', 0.5)))),
  HardSwish: pointwise((v) => v * Math.max(0, Math.min(1, v / 6 + 0.5))),
  Clip: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const lo = ctx.opset >= 11 ? (ins[1]?.data[0] ?? -Infinity) : ctx.attrs.float('min', -Infinity);
    const hi = ctx.opset >= 11 ? (ins[2]?.data[0] ?? Infinity) : ctx.attrs.float('max', Infinity);
    return [unary(x, (v) => Math.min(hi, Math.max(lo, v)))];
  },
  Neg: pointwise((v) => -v),
  Abs: pointwise(Math.abs),
  Sign: pointwise((v) => Math.sign(v)),
  Exp: pointwise(Math.exp),
  Log: pointwise(Math.log),
  Sqrt: pointwise(Math.sqrt),
  Reciprocal: pointwise((v) => 1 / v),
  Floor: pointwise(Math.floor),
  Ceil: pointwise(Math.ceil),
  Softplus: pointwise((v) => Math.log1p(Math.exp(v))),
  Not: (ctx, ins) => [unary(need(ctx, ins, 0), (v) => (v ? 0 : 1))],
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: (ctx, ins) => {
    const a = need(ctx, ins, 0);
    return binary(a.kind === 'int' ? (p, q) => Math.trunc(p / q) : (p, q) => p / q)(ctx, ins);
  },
  Pow: (ctx, ins) => [elementwise([need(ctx, ins, 0), need(ctx, ins, 1)], (a, b) => a ** b, need(ctx, ins, 0).kind)],
  Equal: binary((a, b) => (a === b ? 1 : 0), 'bool'),
  Greater: binary((a, b) => (a > b ? 1 : 0), 'bool'),
  Less: binary((a, b) => (a < b ? 1 : 0), 'bool'),
  GreaterOrEqual: binary((a, b) => (a >= b ? 1 : 0), 'bool'),
  LessOrEqual: binary((a, b) => (a <= b ? 1 : 0), 'bool'),
  And: binary((a, b) => (a && b ? 1 : 0), 'bool'),
  Or: binary((a, b) => (a || b ? 1 : 0), 'bool'),
  Where: (ctx, ins) => [elementwise([need(ctx, ins, 0), need(ctx, ins, 1), need(ctx, ins, 2)], (c, a, b) => (c ? a : b), need(ctx, ins, 1).kind)],
  Sum: variadic((vs) => vs.reduce((a, b) => a + b, 0)),
  Mean: variadic((vs) => vs.reduce((a, b) => a + b, 0) / vs.length),
  Max: variadic((vs) => Math.max(...vs)),
  Min: variadic((vs) => Math.min(...vs)),
  Conv: (ctx, ins) => [conv(ctx.attrs, need(ctx, ins, 0), need(ctx, ins, 1), ins[2])],
  ConvTranspose: (ctx, ins) => [convTranspose(ctx.attrs, need(ctx, ins, 0), need(ctx, ins, 1), ins[2])],
  BatchNormalization: (ctx, ins) => {
    if (ctx.attrs.int('training_mode', 0) !== 0) throw new Error(`reference: BatchNormalization '${ctx.node.name}' in training mode (only the inference form)`);
    const x = need(ctx, ins, 0);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => need(ctx, ins, i));
    const eps = ctx.attrs.float('epsilon', 1e-5);
    const C = x.dims[1];
    const inner = size(x.dims.slice(2));
    const out = new Float64Array(x.data.length);
    for (let k = 0; k < x.data.length; k++) {
      const c = Math.floor(k / inner) % C;
      out[k] = (scale.data[c] * (x.data[k] - mean.data[c])) / Math.sqrt(variance.data[c] + eps) + bias.data[c];
    }
    return [tensor(out, [...x.dims])];
  },
  MaxPool: (ctx, ins) => pool(ctx.attrs, 'MaxPool', need(ctx, ins, 0), 'max'),
  AveragePool: (ctx, ins) => pool(ctx.attrs, 'AveragePool', need(ctx, ins, 0), 'avg'),
  GlobalAveragePool: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const axes = x.dims.map((_, i) => i).slice(2);
    return [reduce(x, axes, true, 0, (a, v) => a + v, (a, n) => a / n)];
  },
  GlobalMaxPool: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    return [reduce(x, x.dims.map((_, i) => i).slice(2), true, -Infinity, Math.max, (a) => a)];
  },
  MaxUnpool: (ctx, ins) => [maxUnpool(ctx.attrs, need(ctx, ins, 0), need(ctx, ins, 1), ins[2])],
  ReduceMean: reduceOp(18, 0, (a, v) => a + v, (a, n) => a / n),
  ReduceSum: reduceOp(13, 0, (a, v) => a + v, (a) => a),
  ReduceMax: reduceOp(18, -Infinity, Math.max, (a) => a),
  ReduceMin: reduceOp(18, Infinity, Math.min, (a) => a),
  ReduceSumSquare: reduceOp(18, 0, (a, v) => a + v * v, (a) => a),
  ReduceL2: reduceOp(18, 0, (a, v) => a + v * v, (a) => Math.sqrt(a)),
  ArgMax: (ctx, ins) => [argReduce(need(ctx, ins, 0), ctx.attrs.int('axis', 0), ctx.attrs.int('keepdims', 1) === 1, ctx.attrs.int('select_last_index', 0) === 1, true)],
  ArgMin: (ctx, ins) => [argReduce(need(ctx, ins, 0), ctx.attrs.int('axis', 0), ctx.attrs.int('keepdims', 1) === 1, ctx.attrs.int('select_last_index', 0) === 1, false)],
  Gemm: (ctx, ins) => [gemm(ctx.attrs, need(ctx, ins, 0), need(ctx, ins, 1), ins[2])],
  MatMul: (ctx, ins) => [matmul(need(ctx, ins, 0), need(ctx, ins, 1))],
  Softmax: (ctx, ins) => [softmax(ctx.attrs, ctx.opset, need(ctx, ins, 0), false)],
  LogSoftmax: (ctx, ins) => [softmax(ctx.attrs, ctx.opset, need(ctx, ins, 0), true)],
  Flatten: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const rank = x.dims.length;
    let axis = ctx.attrs.int('axis', 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) throw new Error(`reference: Flatten: axis ${axis} for rank ${rank}`);
    return [tensor(x.data.slice(), [size(x.dims.slice(0, axis)), size(x.dims.slice(axis))], x.kind)];
  },
  Reshape: (ctx, ins) => [reshape(need(ctx, ins, 0), ints(need(ctx, ins, 1))!, ctx.attrs.int('allowzero', 0) === 1)],
  Transpose: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const perm = ctx.attrs.ints('perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i);
    return [transpose(x, perm)];
  },
  Squeeze: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const given = axesOf(ctx, ins, 13);
    const axes = given ? given.map((a) => normAxis(a, x.dims.length, 'Squeeze')) : x.dims.flatMap((d, i) => (d === 1 ? [i] : []));
    for (const a of axes) if (x.dims[a] !== 1) throw new Error(`reference: Squeeze: axis ${a} of [${x.dims}] is not 1`);
    return [tensor(x.data.slice(), x.dims.filter((_, i) => !axes.includes(i)), x.kind)];
  },
  Unsqueeze: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const given = axesOf(ctx, ins, 13);
    if (!given) throw new Error(`reference: Unsqueeze '${ctx.node.name}' without axes`);
    const rank = x.dims.length + given.length;
    const axes = given.map((a) => normAxis(a, rank, 'Unsqueeze'));
    const dims: number[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) dims.push(axes.includes(i) ? 1 : x.dims[j++]);
    return [tensor(x.data.slice(), dims, x.kind)];
  },
  Concat: (ctx, ins) => [concat(ins.filter((t): t is RefTensor => t !== undefined), ctx.attrs.int('axis'))],
  Gather: (ctx, ins) => [gather(need(ctx, ins, 0), need(ctx, ins, 1), ctx.attrs.int('axis', 0))],
  Split: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const sizes = ctx.opset >= 13 ? ints(ins[1]) : ctx.attrs.ints('split');
    return split(x, ctx.attrs.int('axis', 0), sizes, ctx.attrs.int('num_outputs', (ctx.node.output ?? []).length));
  },
  ScatterElements: (ctx, ins) => [scatterElements(need(ctx, ins, 0), need(ctx, ins, 1), need(ctx, ins, 2), ctx.attrs.int('axis', 0), ctx.attrs.string('reduction', 'none'))],
  Slice: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    if (ctx.opset < 10) return [slice(x, ctx.attrs.ints('starts')!, ctx.attrs.ints('ends')!, ctx.attrs.ints('axes'), undefined)];
    return [slice(x, ints(need(ctx, ins, 1))!, ints(need(ctx, ins, 2))!, ints(ins[3]), ints(ins[4]))];
  },
  Pad: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const mode = ctx.attrs.string('mode', 'constant');
    if (ctx.opset < 11) return [pad(x, ctx.attrs.ints('pads')!, mode, ctx.attrs.float('value', 0), undefined)];
    return [pad(x, ints(need(ctx, ins, 1))!, mode, ins[2]?.data[0] ?? 0, ints(ins[3]))];
  },
  Expand: (ctx, ins) => [expand(need(ctx, ins, 0), ints(need(ctx, ins, 1))!)],
  Shape: (ctx, ins) => {
    const x = need(ctx, ins, 0);
    const rank = x.dims.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = clamp(ctx.attrs.int('start', 0));
    const end = ctx.attrs.has('end') ? clamp(ctx.attrs.int('end')) : rank;
    const dims = x.dims.slice(start, end);
    return [tensor(Float64Array.from(dims), [dims.length], 'int')];
  },
  Size: (ctx, ins) => [tensor(Float64Array.of(need(ctx, ins, 0).data.length), [], 'int')],
  ConstantOfShape: (ctx, ins) => {
    const dims = ints(need(ctx, ins, 0))!;
    const v = ctx.attrs.tensor('value') ?? { data: Float64Array.of(0), dims: [1], kind: 'float' as ElemKind };
    return [tensor(new Float64Array(size(dims)).fill(v.data[0]), dims, v.kind)];
  },
  Constant: (ctx) => {
    const a = ctx.attrs;
    const t = a.tensor('value');
    if (t) return [t];
    if (a.has('value_float')) return [tensor(Float64Array.of(a.float('value_float')), [], 'float')];
    if (a.has('value_floats')) {
      const v = a.floats('value_floats')!;
      return [tensor(Float64Array.from(v), [v.length], 'float')];
    }
    if (a.has('value_int')) return [tensor(Float64Array.of(a.int('value_int')), [], 'int')];
    if (a.has('value_ints')) {
      const v = a.ints('value_ints')!;
      return [tensor(Float64Array.from(v), [v.length], 'int')];
    }
    throw new Error(`reference: Constant '${ctx.node.name}': only value, value_float(s), value_int(s) are supported`);
  },
  Cast: (ctx, ins) => [castTo(need(ctx, ins, 0), ctx.attrs.int('to'))],
};

/** The op types this interpreter knows. */
export const REFERENCE_OPS: readonly string[] = Object.keys(OPS).sort();

// ---------------------------------------------------------------------------------------------
// the model

function declaredDims(v: onnxProto.onnx.IValueInfoProto): (number | string)[] {
  const shape = v.type?.tensorType?.shape;
  return (shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? num(d.dimValue as LongLike) : '?'));
}

/** Parses a ModelProto (bytes) into a {@link ReferenceModel}; throws naming any op it does not know. */
export function loadReference(bytes: Uint8Array): ReferenceModel {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error('reference: the model has no graph');
  const opsetEntry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = opsetEntry ? num(opsetEntry.version as LongLike) : 1;
  const nodes = (graph.node ?? []) as NodeProto[];
  for (const n of nodes) {
    if (n.domain && n.domain !== 'ai.onnx') throw new Error(`reference: node '${n.name}' is op ${n.domain}:${n.opType}, outside the default domain (not supported)`);
    if (!OPS[n.opType ?? '']) throw new Error(`reference: op ${n.opType} (node '${n.name}') is not supported; known ops: ${REFERENCE_OPS.join(', ')}`);
  }
  const inits = new Map<string, RefTensor>();
  for (const t of graph.initializer ?? []) inits.set(t.name ?? '', tensorFromProto(t as TensorProto));
  const inputs = (graph.input ?? []).filter((v) => !inits.has(v.name ?? '')).map((v) => ({ name: v.name ?? '', dims: declaredDims(v) }));
  const outputs = (graph.output ?? []).map((v) => v.name ?? '');
  const copy = (t: RefTensor): RefTensor => ({ data: t.data.slice(), dims: [...t.dims], kind: t.kind });
  return {
    opset,
    inputs,
    outputs,
    nodes: nodes.map((n) => ({ name: n.name ?? '', opType: n.opType ?? '', domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])] })),
    initializerNames: [...inits.keys()],
    initializer(name) {
      const t = inits.get(name);
      if (!t) throw new Error(`reference: no initializer '${name}'`);
      return copy(t);
    },
    run(feeds, overrides = {}, options = {}) {
      const values = new Map<string, RefTensor>();
      for (const [name, t] of inits) values.set(name, t);
      for (const [name, data] of Object.entries(overrides)) {
        const t = inits.get(name);
        if (!t) throw new Error(`reference: override of '${name}', which is not an initializer`);
        if (data.length !== t.data.length) throw new Error(`reference: override of '${name}' has ${data.length} values, the initializer ${t.data.length}`);
        values.set(name, { data: Float64Array.from(data), dims: [...t.dims], kind: t.kind });
      }
      for (const inp of inputs) {
        const f = feeds[inp.name];
        if (!f) throw new Error(`reference: no feed for input '${inp.name}'`);
      }
      for (const [name, f] of Object.entries(feeds)) {
        if (f.data.length !== size(f.dims)) throw new Error(`reference: feed '${name}' has ${f.data.length} values for dims [${f.dims}]`);
        values.set(name, { data: Float64Array.from(f.data), dims: [...f.dims], kind: f.kind ?? 'float' });
      }
      for (const node of nodes) {
        const ins = (node.input ?? []).map((name) => {
          if (name === '') return undefined;
          const v = values.get(name);
          if (!v) throw new Error(`reference: node '${node.name}' (${node.opType}) reads '${name}', which is not computed before it`);
          return v;
        });
        const ctx: OpContext = { opset, attrs: attrsOf(node), node };
        let outs: RefTensor[];
        try {
          outs = OPS[node.opType!](ctx, ins);
        } catch (e) {
          if (e instanceof Error && !e.message.startsWith('reference:')) e.message = `reference: ${node.opType} '${node.name}': ${e.message}`;
          throw e;
        }
        (node.output ?? []).forEach((name, i) => {
          if (name === '') return;
          if (!outs[i]) throw new Error(`reference: ${node.opType} '${node.name}' has no output ${i}`);
          values.set(name, outs[i]);
        });
      }
      const result: Record<string, RefTensor> = {};
      const want = options.keepAll ? [...values.keys()] : [...outputs, ...(options.keep ?? [])];
      for (const name of want) {
        const v = values.get(name);
        if (!v) throw new Error(`reference: value '${name}' was not computed`);
        result[name] = copy(v);
      }
      return result;
    },
  };
}
