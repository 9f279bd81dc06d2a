/**
 * The files a run writes and reads back, for every command: JSON with the run files' encoding
 * (Float32Arrays as base64, ±Infinity and NaN as strings), written atomically (a file is either the
 * old one or the new one, never half of each, whatever interrupts the write); reading JSON with
 * one error shape; and the SHA-256 that ties a scan, a mitigation or a filter to its model folder.
 * Free of TensorFlow.js and of any command.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { DataFormatError, NotFoundError, PoisonguardError } from './errors.js';

/** A JSON object as read from a file, before its fields are checked. */
export type Json = Record<string, unknown>;

export function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Marks a Float32Array in a run file. */
const TYPED = '__f32';

/** JSON.stringify's replacer of run files. */
export function replaceNumbers(_key: string, v: unknown): unknown {
  if (v instanceof Float32Array) return { [TYPED]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

/** JSON.parse's reviver of run files (undoes {@link replaceNumbers}). */
export function reviveNumbers(_key: string, v: unknown): unknown {
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === 'NaN') return NaN;
  if (typeof v === 'object' && v !== null && TYPED in v) {
    const buf = Buffer.from((v as Record<string, string>)[TYPED], 'base64');
    const out = new Float32Array(buf.byteLength / 4);
    new Uint8Array(out.buffer).set(buf);
    return out;
  }
  return v;
}

/** Writes `data` to a temporary file beside `path`, then renames it over `path`. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** A run file: JSON with the run files' encoding, written atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, replaceNumbers, 1)}\n`);
}

/**
 * Reads a JSON file: a missing or unreadable file is a NotFoundError, bad JSON a DataFormatError
 * naming it and, when given, what the user can do (`advice`, e.g. "delete it to rerun label 3").
 */
export function readJsonFile(path: string, reviver?: (key: string, value: unknown) => unknown, advice?: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new NotFoundError(path, 'file', (e as Error).message);
  }
  try {
    return JSON.parse(text, reviver) as unknown;
  } catch (e) {
    throw new DataFormatError(path, `not valid JSON (${(e as Error).message})${advice === undefined ? '' : `; ${advice}`}.`);
  }
}

/** The hex SHA-256 of a model file's bytes (an ONNX model's sidecar records it, as scans record a folder's {@link hashModelFolder}). */
export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Bytes read at a time by {@link hashModelFolder}: a file of any size is hashed in constant memory. */
const HASH_CHUNK_BYTES = 1 << 20;

/**
 * SHA-256 over every regular file of the model folder (names and bytes, sorted by name). A link
 * is followed only to a file inside the folder (as the model loader allows); a link leading out
 * of it is refused, naming it.
 */
export function hashModelFolder(dir: string): string {
  const h = createHash('sha256');
  const root = realpathSync(dir);
  const buffer = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (lstatSync(p).isSymbolicLink()) {
      const target = existsSync(p) ? realpathSync(p) : undefined;
      const rel = target === undefined ? '..' : relative(root, target);
      if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
        throw new PoisonguardError('unsafe-path', `${p}: a link leading outside the model folder (to ${target ?? 'nothing'}); a model folder's files must sit inside it.`, { path: p });
      }
    }
    if (!statSync(p).isFile()) continue;
    h.update(name);
    h.update('\0');
    let fd: number | undefined;
    try {
      fd = openSync(p, 'r');
      for (let n = readSync(fd, buffer, 0, buffer.length, null); n > 0; n = readSync(fd, buffer, 0, buffer.length, null)) h.update(buffer.subarray(0, n));
    } catch (e) {
      throw new DataFormatError(p, `cannot be read to hash the model folder (${(e as Error).message}).`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return h.digest('hex');
}
