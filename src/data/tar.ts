/**
 * The files of a dataset release, read the same way from a `.tar`, a `.tar.gz`/`.tgz` or an
 * already-extracted folder. Archives are read into memory at once (gzip detected from the first two
 * bytes, then parsed synchronously): the releases of this project are tens of megabytes, and one
 * buffer whose members are views into it is faster than a stream of small chunks.
 *
 * The tar reader understands POSIX ustar (with its 155-byte name prefix), GNU long names (`L`),
 * pax extended headers (`x`, only the `path` and `size` records matter here) and base-256 sizes;
 * links, devices and other entry types are skipped. Every header checksum is verified.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { DataFormatError, NotFoundError } from '../errors.js';
import { gunzipFile, isGzip } from './gzip.js';

/** One regular file of an archive or folder. */
export interface TreeEntry {
  /** '/'-separated path, relative to the folder, or as stored in the archive without a leading './'. */
  readonly path: string;
  /** The file's bytes (for archives a view into the archive's buffer: copy it to keep it long). */
  readonly data: Uint8Array;
}

/** Options of {@link walkTree}. */
export interface WalkOptions {
  /**
   * Which paths to read; the others are skipped before their bytes are read (for folders) or
   * copied. All files by default.
   */
  readonly filter?: (path: string) => boolean;
}

const BLOCK = 512;

/** True when `source` names a tar archive by its extension (.tar, .tar.gz, .tgz). */
export function isTarPath(source: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(source);
}

/**
 * Every regular file under `source`: a folder (walked recursively, in sorted order) or a tar
 * archive, gzip-compressed or not (in archive order).
 */
export function* walkTree(source: string, options: WalkOptions = {}): Generator<TreeEntry> {
  if (!existsSync(source)) throw new NotFoundError(source, 'folder or tar archive');
  if (statSync(source).isDirectory()) {
    yield* walkFolder(source, options.filter);
    return;
  }
  yield* readTar(readArchiveBytes(source), source, options.filter);
}

/** The bytes of a tar file, gunzipped when they start with the gzip magic. */
export function readArchiveBytes(path: string): Uint8Array {
  if (!existsSync(path)) throw new NotFoundError(path, 'tar archive');
  const raw = readFileSync(path);
  if (isGzip(raw)) return gunzipFile(raw, path);
  return raw;
}

function* walkFolder(root: string, filter: ((path: string) => boolean) | undefined): Generator<TreeEntry> {
  const stack: string[] = [root];
  const files: string[] = [];
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, d.name);
      if (d.isDirectory()) stack.push(full);
      else if (d.isFile()) files.push(full);
    }
  }
  const rel = files.map((f) => relative(root, f).split(sep).join('/')).sort();
  for (const path of rel) {
    if (filter && !filter(path)) continue;
    yield { path, data: readFileSync(join(root, ...path.split('/'))) };
  }
}

/**
 * Parses tar bytes and yields the regular files; `name` is used in error messages, where the
 * position is the byte offset of the header concerned.
 */
export function* readTar(buf: Uint8Array, name: string, filter?: (path: string) => boolean): Generator<TreeEntry> {
  let off = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  while (off + BLOCK <= buf.length) {
    const header = buf.subarray(off, off + BLOCK);
    if (isZeroBlock(header)) return; // end-of-archive marker
    verifyChecksum(header, name, off);
    const type = header[156] === 0 ? '0' : String.fromCharCode(header[156]); // NUL: an old-style regular file
    const size = paxSize ?? parseSize(header, name, off);
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length) {
      throw new DataFormatError(name, `truncated: the entry at byte ${off} declares ${size} bytes, but the archive ends ${buf.length - dataStart} bytes after its header.`, {
        position: off,
      });
    }
    const data = buf.subarray(dataStart, dataEnd);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = cString(data);
      continue;
    }
    if (type === 'x') {
      const pax = parsePax(data, name, dataStart);
      paxPath = pax.path ?? paxPath;
      paxSize = pax.size ?? paxSize;
      continue;
    }
    if (type === 'g') continue; // global pax header: nothing here that matters
    const storedName = paxPath ?? longName ?? ustarName(header);
    longName = undefined;
    paxPath = undefined;
    paxSize = undefined;
    if (type !== '0' && type !== '7') continue; // directories, links, devices, fifos
    const path = storedName.replace(/^(\.\/)+/, '');
    if (filter && !filter(path)) continue;
    yield { path, data };
  }
  if (off < buf.length) {
    throw new DataFormatError(name, `truncated: ${buf.length - off} trailing bytes do not make a 512-byte tar header.`, { position: off });
  }
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function verifyChecksum(header: Uint8Array, name: string, off: number): void {
  const stored = parseOctal(header.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  if (stored === undefined || stored !== sum) {
    throw new DataFormatError(name, `not a tar archive, or corrupt: the header at byte ${off} has checksum ${stored ?? 'unreadable'}, computed ${sum}.`, {
      position: off,
    });
  }
}

function parseSize(header: Uint8Array, name: string, off: number): number {
  const field = header.subarray(124, 136);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte is the marker
    let v = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v;
  }
  const v = parseOctal(field);
  if (v === undefined) throw new DataFormatError(name, `the header at byte ${off} has an unreadable size field.`, { position: off });
  return v;
}

function parseOctal(field: Uint8Array): number | undefined {
  const s = cString(field).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return undefined;
  return parseInt(s, 8);
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? bytes.length : end).toString('utf8');
}

function ustarName(header: Uint8Array): string {
  const name = cString(header.subarray(0, 100));
  const magic = cString(header.subarray(257, 263));
  const prefix = magic.startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** pax records: "<length> <key>=<value>\n", the length counting the bytes of the whole record. */
function parsePax(data: Uint8Array, name: string, off: number): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    const len = space < 0 ? NaN : Number(Buffer.from(data.subarray(i, space)).toString('latin1'));
    if (!Number.isInteger(len) || len <= space - i || i + len > data.length) {
      throw new DataFormatError(name, `malformed pax extended header at byte ${off}.`, { position: off });
    }
    const record = Buffer.from(data.subarray(space + 1, i + len - 1)).toString('utf8');
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    else if (key === 'size') out.size = Number(value);
    i += len;
  }
  return out;
}

/**
 * Encodes entries as a ustar archive (used by the tests to make fixtures); `type` is the tar type
 * flag, '0' (regular file) by default — 'L' (GNU long name), 'x' (pax header) and '5' (directory)
 * let tests build the other entry kinds.
 */
export function encodeTar(files: readonly { path: string; data: Uint8Array | string; type?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const data = typeof f.data === 'string' ? Buffer.from(f.data, 'utf8') : Buffer.from(f.data);
    const header = Buffer.alloc(BLOCK);
    const pathBytes = Buffer.from(f.path, 'utf8');
    if (pathBytes.length > 100) throw new RangeError(`tar fixture path longer than 100 bytes: ${f.path}`);
    pathBytes.copy(header, 0);
    header.write('0000644\0', 100, 'ascii');
    header.write('0000000\0', 108, 'ascii');
    header.write('0000000\0', 116, 'ascii');
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    header.write('00000000000\0', 136, 'ascii');
    header.write('        ', 148, 'ascii');
    header[156] = (f.type ?? '0').charCodeAt(0);
    header.write('ustar\0', 257, 'ascii');
    header.write('00', 263, 'ascii');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += header[i];
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    parts.push(header, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
