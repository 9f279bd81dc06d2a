/**
 * The IDX file format of MNIST (raw or gzip): a 4-byte magic (0, 0, type, rank), `rank` big-endian
 * uint32 dimensions, then the values in row-major order, big-endian.
 */
import { readFileSync, existsSync } from 'node:fs';
import { DataFormatError, NotFoundError } from '../errors.js';
import { gunzipFile, isGzip } from './gzip.js';

export interface IdxArray {
  readonly shape: readonly number[];
  readonly data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Reads an IDX file (gzip detected from its first two bytes). */
export function readIdxFile(path: string): IdxArray {
  if (!existsSync(path)) throw new NotFoundError(path, 'IDX file');
  let buf: Buffer = readFileSync(path);
  if (isGzip(buf)) buf = gunzipFile(buf, path);
  return parseIdx(buf, path);
}

/** Parses IDX bytes; `name` is used in error messages. */
export function parseIdx(buf: Uint8Array, name: string): IdxArray {
  if (buf.length < 4) throw new DataFormatError(name, `too short for an IDX header (${buf.length} bytes).`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new DataFormatError(name, `not an IDX file: the magic number must start with two zero bytes, got 0x${hex(buf[0])}${hex(buf[1])}.`);
  }
  const type = TYPES[buf[2]];
  if (!type) throw new DataFormatError(name, `unknown IDX value type 0x${hex(buf[2])}.`);
  const rank = buf[3];
  if (rank === 0) throw new DataFormatError(name, 'IDX rank is 0.');
  const headerBytes = 4 + 4 * rank;
  if (buf.length < headerBytes) throw new DataFormatError(name, `truncated header: ${rank} dimensions need ${headerBytes} bytes, the file has ${buf.length}.`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    shape.push(d);
    count *= d;
  }
  const expected = headerBytes + count * type.bytes;
  if (buf.length < expected) {
    throw new DataFormatError(
      name,
      `truncated: the header declares shape [${shape.join(', ')}] (${expected} bytes in all), but the file has ${buf.length} bytes.`,
      { expected: `${expected} bytes`, received: `${buf.length} bytes` },
    );
  }
  if (buf.length > expected) {
    throw new DataFormatError(name, `${buf.length - expected} unexpected bytes after the data of shape [${shape.join(', ')}].`);
  }
  let data: IdxArray['data'];
  switch (buf[2]) {
    case 0x08:
      data = Uint8Array.from(buf.subarray(headerBytes));
      break;
    case 0x09:
      data = Int8Array.from(buf.subarray(headerBytes), (v) => (v << 24) >> 24);
      break;
    default: {
      const arr = type.name === 'int16' ? new Int16Array(count) : type.name === 'int32' ? new Int32Array(count) : type.name === 'float32' ? new Float32Array(count) : new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const off = headerBytes + i * type.bytes;
        arr[i] =
          type.name === 'int16' ? view.getInt16(off, false) : type.name === 'int32' ? view.getInt32(off, false) : type.name === 'float32' ? view.getFloat32(off, false) : view.getFloat64(off, false);
      }
      data = arr;
    }
  }
  return { shape, data };
}

/** Encodes a uint8 IDX file (used by tests to make fixtures). */
export function encodeIdxUint8(shape: readonly number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
