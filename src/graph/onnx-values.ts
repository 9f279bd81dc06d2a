/**
 * Reading an ONNX protobuf's values safely: tensors with their declared sizes checked against the
 * bytes present (and a total limit) before anything is allocated, external data only from inside
 * the model's folder, 64-bit integers only when exactly representable, and node attributes.
 */
import { closeSync, fstatSync, lstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import onnxProto from 'onnx-proto';
import { DataFormatError, PoisonguardError } from '../errors.js';
import { formatShape, UnsupportedGraphError } from './ir.js';

export const { onnx } = onnxProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export const DT = onnx.TensorProto.DataType;

/** Default cap on the weights' total size (bytes); a model declaring more is refused before reading. */
export const DEFAULT_MAX_WEIGHT_BYTES = 2 ** 31;
/** Limits on what a model's tensors may declare. */
export interface TensorLimits {
  /** Where external-data files may be read from (the model's folder); without it, external data is refused. */
  readonly baseDir?: string;
  /** Cap on the weights' total bytes (default {@link DEFAULT_MAX_WEIGHT_BYTES}). */
  readonly maxWeightBytes?: number;
}

/** The batch dimension inside folded integer constants (a Shape of a batched value). */
export const SYM_N = Number.NEGATIVE_INFINITY;

export type Const = { kind: 'float'; dims: number[]; data: Float32Array } | { kind: 'int'; dims: number[]; data: number[] };

export function toNumber(v: unknown, what: string, file: string): number {
  const n = typeof v === 'number' ? v : v !== null && typeof v === 'object' && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v);
  if (!Number.isSafeInteger(n)) throw new DataFormatError(file, `${what} is not a representable integer (${String(v)})`);
  return n;
}

export class TensorReader {
  private total = 0;
  constructor(
    private readonly file: string,
    private readonly options: TensorLimits,
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


/** A node's attributes, read with their ONNX defaults. */
export class NodeAttributes {
  private readonly byName: Map<string, AttributeProto>;
  constructor(
    node: NodeProto,
    readonly file: string,
  ) {
    this.byName = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
  }

  raw(key: string): AttributeProto | undefined {
    return this.byName.get(key);
  }

  int(key: string, fallback: number): number {
    const v = this.byName.get(key);
    return v ? toNumber(v.i, `attribute ${key}`, this.file) : fallback;
  }

  ints(key: string): number[] | undefined {
    const v = this.byName.get(key);
    return v ? (v.ints ?? []).map((x) => toNumber(x, `attribute ${key}`, this.file)) : undefined;
  }

  float(key: string, fallback: number): number {
    return this.byName.get(key)?.f ?? fallback;
  }

  /**
   * A float attribute as the decimal its writer meant: the shortest decimal that rounds to the
   * stored float32 (torch.onnx.export's momentum 1 − 0.1 = 0.9 is stored as 0.89999998), for an
   * attribute the engine computes with in float64 rather than hands to onnxruntime.
   */
  decimal(key: string, fallback: number): number {
    const f = Math.fround(this.float(key, fallback));
    for (let digits = 1; digits < 9; digits++) {
      const d = Number(f.toPrecision(digits));
      if (Math.fround(d) === f) return d;
    }
    return f;
  }

  string(key: string, fallback: string): string {
    const v = this.byName.get(key);
    return v?.s ? new TextDecoder().decode(v.s) : fallback;
  }
}
