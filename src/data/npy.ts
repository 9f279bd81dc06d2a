/**
 * NumPy's `.npy` arrays and `.npz` archives (a zip of `.npy` members, stored or deflated), read
 * into typed arrays and dense feature matrices; and the dense binary datasets shipped as an npz of
 * four arrays (the Dogfish release: `X_train`, `Y_train`, `X_test`, `Y_test`).
 *
 * `.npy` format (numpy/lib/format.py): the magic `\x93NUMPY`, a major and minor version byte, the
 * header length (uint16 little-endian in version 1, uint32 in versions 2 and 3), then a Python
 * dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (n, d), }` padded with spaces
 * and a newline, then the raw values. Version 3 only allows a UTF-8 header.
 * Supported types: '<f4', '<f8', '<i4', '<i8', '|u1', '|b1'; any other is refused with that list.
 * Fortran-ordered arrays are transposed into C order on reading. int64 values are converted to
 * doubles, which is exact up to 2^53.
 */
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { DataFormatError, NotFoundError } from '../errors.js';
import { checkLabelled, type BinaryDataset, type LabelledFeatures } from './binary.js';
import { dense, type DenseMatrix } from './matrix.js';

/** The element types this reader understands, by their numpy `descr`. */
export const NPY_DTYPES = ['<f4', '<f8', '<i4', '<i8', '|u1', '|b1'] as const;
export type NpyDtype = (typeof NPY_DTYPES)[number];

/** A numpy array in C (row-major) order. */
export interface NpyArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** Float32Array for '<f4', Float64Array for '<f8' and '<i8', Int32Array for '<i4', Uint8Array for '|u1' and '|b1'. */
  readonly data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEM_BYTES: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8, '|u1': 1, '|b1': 1 };

/** Reads a `.npy` file. */
export function readNpy(path: string): NpyArray {
  if (!existsSync(path)) throw new NotFoundError(path, '.npy file');
  return parseNpy(readFileSync(path), path);
}

/** Parses `.npy` bytes; `name` is used in error messages. */
export function parseNpy(buf: Uint8Array, name: string): NpyArray {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) {
    throw new DataFormatError(name, 'not a .npy file: it does not start with the magic string \\x93NUMPY.');
  }
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new DataFormatError(name, 'truncated .npy header.');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new DataFormatError(name, `unsupported .npy format version ${major}.${buf[7]}; versions 1, 2 and 3 are read.`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) throw new DataFormatError(name, `truncated: the header declares ${headerLen} bytes, the file has ${buf.length - headerStart} after the preamble.`);
  const header = Buffer.from(buf.buffer, buf.byteOffset + headerStart, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const { descr, fortranOrder, shape } = parseHeader(header, name);
  if (!(NPY_DTYPES as readonly string[]).includes(descr)) {
    throw new DataFormatError(name, `unsupported dtype '${descr}'; supported: ${NPY_DTYPES.join(', ')} (little-endian, as numpy writes on x86 and ARM).`, {
      expected: NPY_DTYPES.join(', '),
      received: descr,
    });
  }
  const dtype = descr as NpyDtype;
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = count * ITEM_BYTES[dtype];
  const available = buf.length - dataStart;
  if (available < bytes) {
    throw new DataFormatError(name, `truncated: shape (${shape.join(', ')}) of ${dtype} needs ${bytes} data bytes, the file has ${available}.`, {
      expected: `${bytes} bytes`,
      received: `${available} bytes`,
    });
  }
  if (available > bytes) throw new DataFormatError(name, `${available - bytes} unexpected bytes after the data of shape (${shape.join(', ')}).`);
  let data = decode(buf.subarray(dataStart, dataStart + bytes), dtype, count);
  if (fortranOrder && shape.length > 1) data = fortranToC(data, shape);
  return { dtype, shape, data };
}

function parseHeader(header: string, name: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) {
    throw new DataFormatError(name, `malformed .npy header ${JSON.stringify(header.trim())}: expected the keys 'descr', 'fortran_order' and 'shape'.`);
  }
  if (descr[1].startsWith('[') || header.includes("'descr': [")) {
    throw new DataFormatError(name, 'structured (record) arrays are not supported; save plain numeric arrays.');
  }
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => Number(s.replace(/L$/, '')));
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new DataFormatError(name, `malformed shape (${shape[1]}) in the .npy header.`);
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims };
}

function decode(bytes: Uint8Array, dtype: NpyDtype, count: number): NpyArray['data'] {
  // Copy into a fresh, aligned buffer; typed-array views need an offset that is a multiple of the item size.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  switch (dtype) {
    case '<f4':
      return littleEndianHost() ? new Float32Array(copy.buffer) : readWith(copy, count, (v, o) => v.getFloat32(o, true), Float32Array, 4);
    case '<f8':
      return littleEndianHost() ? new Float64Array(copy.buffer) : readWith(copy, count, (v, o) => v.getFloat64(o, true), Float64Array, 8);
    case '<i4':
      return littleEndianHost() ? new Int32Array(copy.buffer) : readWith(copy, count, (v, o) => v.getInt32(o, true), Int32Array, 4);
    case '<i8':
      return readWith(copy, count, (v, o) => Number(v.getBigInt64(o, true)), Float64Array, 8);
    case '|u1':
      return copy;
    case '|b1':
      for (let i = 0; i < copy.length; i++) copy[i] = copy[i] === 0 ? 0 : 1;
      return copy;
  }
}

function readWith<T extends Float32Array | Float64Array | Int32Array>(
  bytes: Uint8Array,
  count: number,
  get: (v: DataView, offset: number) => number,
  Ctor: new (n: number) => T,
  size: number,
): T {
  const out = new Ctor(count);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) out[i] = get(v, i * size);
  return out;
}

function littleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** Reorders column-major (Fortran) data of `shape` into row-major (C) order. */
function fortranToC<T extends NpyArray['data']>(src: T, shape: readonly number[]): T {
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const rank = shape.length;
  if (rank === 2) {
    const [r, c] = shape;
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i * c + j] = src[j * r + i];
    return out;
  }
  const fStride = new Array<number>(rank);
  fStride[0] = 1;
  for (let k = 1; k < rank; k++) fStride[k] = fStride[k - 1] * shape[k - 1];
  const idx = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < src.length; flat++) {
    let f = 0;
    for (let k = 0; k < rank; k++) f += idx[k] * fStride[k];
    out[flat] = src[f];
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/**
 * Largest decompressed array of an `.npz`, in bytes (a deflated member can claim a thousand times
 * its size); the datasets read here are a few MB.
 */
export const MAX_NPZ_MEMBER_BYTES = 1024 ** 3;

/** The arrays of an `.npz` archive, by key (the member name without `.npy`), in archive order. */
export interface NpzArchive {
  readonly path: string;
  /** Every key of the archive, including those not read. */
  readonly keys: readonly string[];
  /** The arrays read (all, or those asked for). */
  readonly arrays: ReadonlyMap<string, NpyArray>;
}

/**
 * Reads an `.npz` file (zip, stored or deflated members, zip64 as numpy writes it). With `keys`,
 * only those members are decompressed; a missing one is an error that lists the keys present.
 */
export function readNpz(path: string, keys?: readonly string[]): NpzArchive {
  if (!existsSync(path)) throw new NotFoundError(path, '.npz file');
  const bytes = readFileSync(path);
  const all: string[] = [];
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes, {
      filter: (file) => {
        all.push(keyOf(file.name));
        const wanted = keys === undefined || keys.includes(keyOf(file.name));
        // The zip reader allocates each member's declared size, then inflates up to it.
        if (wanted && file.originalSize > MAX_NPZ_MEMBER_BYTES) {
          throw new DataFormatError(path, `member ${file.name} declares ${file.originalSize} bytes once decompressed, more than the limit of ${MAX_NPZ_MEMBER_BYTES}.`, {
            expected: `at most ${MAX_NPZ_MEMBER_BYTES} bytes`,
            received: `${file.originalSize} bytes`,
          });
        }
        return wanted;
      },
    });
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    throw new DataFormatError(path, `not a readable .npz (zip) archive: ${(e as Error).message}.`);
  }
  if (keys !== undefined) {
    for (const k of keys) {
      if (!all.includes(k)) {
        throw new DataFormatError(path, `has no array '${k}' (member ${k}.npy); the arrays present are: ${all.length > 0 ? all.join(', ') : 'none'}.`, {
          expected: k,
          received: all,
        });
      }
    }
  }
  const arrays = new Map<string, NpyArray>();
  for (const [member, data] of Object.entries(members)) arrays.set(keyOf(member), parseNpy(data, `${path} (array ${keyOf(member)})`));
  return { path, keys: all, arrays };
}

function keyOf(member: string): string {
  return member.endsWith('.npy') ? member.slice(0, -4) : member;
}

/**
 * A feature matrix from an array: rank 2 as it is; rank > 2 keeps the first axis as rows and
 * flattens the others (images become rows of pixels). Float32 data stays Float32.
 */
export function npyToDense(a: NpyArray, name: string): DenseMatrix {
  if (a.shape.length < 2) throw new DataFormatError(name, `expected a feature matrix of rank 2 or more (rows, features…), got shape (${a.shape.join(', ')}).`);
  const rows = a.shape[0];
  const cols = a.shape.slice(1).reduce((x, y) => x * y, 1);
  const data = a.data instanceof Float32Array || a.data instanceof Float64Array ? a.data : Float64Array.from(a.data);
  return dense(rows, cols, data);
}

/** Binary labels from an array: all in {0, 1} (0 → −1) or all in {−1, +1}; shape (n) or (n, 1). */
export function npyToBinaryLabels(a: NpyArray, name: string): Int8Array {
  if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1))) {
    throw new DataFormatError(name, `expected labels of shape (n) or (n, 1), got (${a.shape.join(', ')}).`);
  }
  const y = new Int8Array(a.data.length);
  let zeroOne = false;
  let plusMinus = false;
  for (let i = 0; i < a.data.length; i++) {
    const v = a.data[i];
    if (v === 0) zeroOne = true;
    else if (v === -1) plusMinus = true;
    else if (v !== 1) {
      throw new DataFormatError(name, `label ${v} at index ${i} is not binary; expected 0/1 or -1/+1.`, { received: v });
    }
    y[i] = v === 1 ? 1 : -1;
  }
  if (zeroOne && plusMinus) throw new DataFormatError(name, 'labels mix 0 and -1; expected either 0/1 or -1/+1.');
  return y;
}

/** Which arrays of an npz hold the four parts of a dense binary dataset. */
export interface NpzDatasetKeys {
  readonly xTrain: string;
  readonly yTrain: string;
  readonly xTest: string;
  readonly yTest: string;
}

/** The Dogfish release's array names (Inception-v3 features and 0/1 labels). */
export const DEFAULT_NPZ_DATASET_KEYS: NpzDatasetKeys = { xTrain: 'X_train', yTrain: 'Y_train', xTest: 'X_test', yTest: 'Y_test' };

/** Options of {@link loadNpzBinaryDataset}. */
export interface NpzDatasetOptions {
  /** Array names; {@link DEFAULT_NPZ_DATASET_KEYS} by default. */
  readonly keys?: Partial<NpzDatasetKeys>;
  /** Dataset name for reports; the file name by default. */
  readonly name?: string;
  /** What the +1 / −1 labels mean (label 1 / label 0 or −1 by default). */
  readonly positive?: string;
  readonly negative?: string;
  /** What a feature is. */
  readonly features?: string;
}

/**
 * A dense binary dataset from an `.npz` (or a folder holding exactly one `.npz`): the train and
 * test features and their labels (0/1 or ±1).
 */
export function loadNpzBinaryDataset(source: string, options: NpzDatasetOptions = {}): BinaryDataset {
  const path = resolveNpz(source);
  const keys = { ...DEFAULT_NPZ_DATASET_KEYS, ...options.keys };
  const npz = readNpz(path, [keys.xTrain, keys.yTrain, keys.xTest, keys.yTest]);
  const part = (xKey: string, yKey: string, what: string): LabelledFeatures => {
    const X = npyToDense(npz.arrays.get(xKey) as NpyArray, `${path} (array ${xKey})`);
    const y = npyToBinaryLabels(npz.arrays.get(yKey) as NpyArray, `${path} (array ${yKey})`);
    if (y.length !== X.rows) {
      throw new DataFormatError(path, `array ${yKey} holds ${y.length} labels but ${xKey} holds ${X.rows} rows.`, { expected: `${X.rows} labels`, received: y.length });
    }
    return checkLabelled({ X, y }, `${path} ${what}`);
  };
  const train = part(keys.xTrain, keys.yTrain, 'train');
  const test = part(keys.xTest, keys.yTest, 'test');
  if (train.X.cols !== test.X.cols) {
    throw new DataFormatError(path, `train features have ${train.X.cols} columns but test features have ${test.X.cols}.`);
  }
  return {
    name: options.name ?? path.replace(/^.*[\\/]/, '').replace(/\.npz$/i, ''),
    source: path,
    positive: options.positive ?? 'label 1',
    negative: options.negative ?? 'label 0 (or -1)',
    features: options.features ?? `dense features (${train.X.cols} per example)`,
    train,
    test,
  };
}

/** An .npz path, or the single .npz inside a folder. */
function resolveNpz(source: string): string {
  if (!existsSync(source)) throw new NotFoundError(source, '.npz file or folder');
  if (!statSync(source).isDirectory()) return source;
  const found = readdirSync(source).filter((f) => f.toLowerCase().endsWith('.npz'));
  if (found.length === 1) return join(source, found[0]);
  throw new NotFoundError(
    join(source, '*.npz'),
    '.npz file',
    found.length === 0 ? `The folder ${source} holds no .npz file` : `The folder ${source} holds several .npz files (${found.join(', ')}); pass one of them`,
  );
}
