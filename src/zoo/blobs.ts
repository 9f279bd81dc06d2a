/**
 * A model's bytes and its clean set travel to the workers through Redis, once each: stored under
 * their SHA-256 (content-addressed, so two coordinators or two scans of one model share them) and
 * cached by every worker, which checks the hash of what it received before using it. A model
 * folder travels as one packed blob (its regular files, by name); an ONNX model as its file.
 * Everything read back is untrusted: sizes are checked before anything is allocated, and a packed
 * file's name must be a plain file name.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Redis } from 'ioredis';
import { DataFormatError, PoisonguardError } from '../errors.js';
import { externalDataFiles } from '../graph/onnx-load.js';

/** Redis key prefix of the blobs (shared by every queue: the key is the content's hash). */
export const BLOB_PREFIX = 'poisonguard:blob:';
/** A blob unused this long leaves Redis (every use renews it). */
export const BLOB_TTL_SECONDS = 7 * 24 * 3600;
/** Larger models or clean sets are refused before being sent (Redis's own limit for a string is 512 MB). */
export const MAX_BLOB_BYTES = 256 * 1024 * 1024;

const MAGIC = Buffer.from('PGPACK1\n');

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function isSha256Hex(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
}

/** A model folder's regular files, packed (see {@link packFiles}). */
export function packFolder(dir: string): Buffer {
  return packFiles(
    readdirSync(dir)
      .sort()
      .filter((name) => statSync(join(dir, name)).isFile())
      .map((name) => [name, join(dir, name)]),
    dir,
  );
}

/**
 * An ONNX model as it travels: its file alone, or, when it keeps tensors in external data files,
 * the file and those files packed as a folder (`entry`: the model file's name in it). Only data
 * files in the model's own folder are taken (the loader reads no others either).
 */
export function packOnnxModel(file: string): { readonly bytes: Buffer; readonly entry?: string } {
  const bytes = readFileSync(file);
  const external = externalDataFiles(bytes, file);
  if (external.length === 0) return { bytes };
  for (const name of external) {
    if (!isPlainName(name)) throw new DataFormatError(file, `keeps external data in '${name.slice(0, 80)}', not a file beside the model: only data files in the model's folder travel through the queue.`);
    if (!existsSync(join(dirname(file), name))) throw new DataFormatError(file, `keeps external data in '${name}', which is not in ${dirname(file)}.`);
  }
  const entry = basename(file);
  return { bytes: packFiles([[entry, file], ...external.map((name): [string, string] => [name, join(dirname(file), name)])], file), entry };
}

/** A name that stays in its folder: no separator, not '.' or '..', no NUL. */
export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

/** Files packed: magic, then per file u32 name length, name, u32 size, bytes; `what` names the source in errors. */
function packFiles(files: readonly (readonly [string, string])[], what: string): Buffer {
  const parts: Buffer[] = [MAGIC];
  let total = MAGIC.length;
  for (const [name, p] of files) {
    const size0 = statSync(p).size;
    // Checked on the file's size before it is read.
    if (total + 8 + size0 > MAX_BLOB_BYTES) throw new DataFormatError(what, `larger than ${MAX_BLOB_BYTES} bytes: too large to send through the queue.`);
    const bytes = readFileSync(p);
    const head = Buffer.alloc(4);
    const nameBytes = Buffer.from(name, 'utf8');
    head.writeUInt32LE(nameBytes.length);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(bytes.length);
    parts.push(head, nameBytes, size, bytes);
    total += 8 + nameBytes.length + bytes.length;
  }
  return Buffer.concat(parts);
}

/** Unpacks {@link packFolder}'s blob into `dir` (which must not exist yet); refuses a malformed one. */
export function unpackFolder(blob: Buffer, dir: string, what: string): void {
  const bad = (why: string): never => {
    throw new DataFormatError(what, `not a packed model folder (${why}).`);
  };
  if (blob.length < MAGIC.length || !blob.subarray(0, MAGIC.length).equals(MAGIC)) bad('no header');
  const files: [string, Buffer][] = [];
  let at = MAGIC.length;
  while (at < blob.length) {
    if (at + 4 > blob.length) bad('truncated name length');
    const n = blob.readUInt32LE(at);
    at += 4;
    if (n === 0 || n > 255 || at + n > blob.length) bad('bad name length');
    const name = blob.subarray(at, at + n).toString('utf8');
    at += n;
    // A plain file name: nothing that could lead out of the folder.
    if (!isPlainName(name)) bad(`file name '${name.slice(0, 40)}'`);
    if (at + 4 > blob.length) bad('truncated size');
    const size = blob.readUInt32LE(at);
    at += 4;
    if (at + size > blob.length) bad(`file ${name} truncated`);
    files.push([name, blob.subarray(at, at + size)]);
    at += size;
  }
  if (new Set(files.map(([n]) => n)).size !== files.length) bad('a file name twice');
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(tmp, name), bytes);
  // Renamed into place whole: a worker killed mid-write leaves no half folder under the final name.
  renameSync(tmp, dir);
}

/** Stores a blob under its hash unless Redis has it (for `ttlSeconds` from its last use); returns the hash. */
export async function putBlob(redis: Redis, bytes: Uint8Array, ttlSeconds = BLOB_TTL_SECONDS): Promise<string> {
  if (bytes.length > MAX_BLOB_BYTES) throw new PoisonguardError('invalid-option', `a blob of ${bytes.length} bytes is larger than the queue takes (${MAX_BLOB_BYTES}).`);
  const sha = sha256Hex(bytes);
  const key = BLOB_PREFIX + sha;
  // EXPIRE answers 0 when the key is absent: then (and only then) the bytes are sent.
  if ((await redis.expire(key, ttlSeconds)) === 0) await redis.set(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'EX', ttlSeconds);
  return sha;
}

/** Fetches a blob and checks it against its hash. */
export async function getBlob(redis: Redis, sha: string): Promise<Buffer> {
  if (!isSha256Hex(sha)) throw new DataFormatError('job', `a blob key must be a SHA-256 in hex, got '${String(sha).slice(0, 70)}'.`);
  const len = await redis.strlen(BLOB_PREFIX + sha);
  if (len > MAX_BLOB_BYTES) throw new DataFormatError(`blob ${sha.slice(0, 12)}…`, `larger than ${MAX_BLOB_BYTES} bytes.`);
  const bytes = await redis.getBuffer(BLOB_PREFIX + sha);
  if (bytes === null) throw new PoisonguardError('not-found', `blob ${sha.slice(0, 12)}… is not in Redis (expired or deleted); run the zoo scan or certify that sent it again to send it.`);
  if (sha256Hex(bytes) !== sha) throw new DataFormatError(`blob ${sha.slice(0, 12)}…`, 'its bytes do not match its hash.');
  return bytes;
}

/** A worker's cache of blobs on disk: a model folder or file per hash, fetched once. */
export class BlobCache {
  private readonly pending = new Map<string, Promise<string>>();
  constructor(
    private readonly dir: string,
    private readonly redis: Redis,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /**
   * The path of the model (a folder for 'tfjs', a .onnx file for 'onnx'), fetched if not cached. An
   * ONNX model with external data comes packed with its data files ({@link packOnnxModel}): it is
   * unpacked into a folder and `entry` is its file there.
   */
  model(sha: string, kind: 'tfjs' | 'onnx', entry?: string): Promise<string> {
    if (!isSha256Hex(sha)) return Promise.reject(new DataFormatError('job', `a model key must be a SHA-256 in hex, got '${String(sha).slice(0, 70)}'.`));
    if (entry !== undefined) {
      if (kind !== 'onnx' || !isPlainName(entry)) return Promise.reject(new DataFormatError('job', `a packed model's entry must be a file name of an ONNX model, got '${String(entry).slice(0, 70)}'.`));
      return this.model(sha, 'tfjs').then((dir) => {
        if (!existsSync(join(dir, entry))) throw new DataFormatError(`blob ${sha.slice(0, 12)}…`, `the packed model holds no file '${entry}'.`);
        return join(dir, entry);
      });
    }
    const path = join(this.dir, kind === 'onnx' ? `${sha}.onnx` : sha);
    const key = `${kind}/${sha}`;
    let p = this.pending.get(key);
    if (!p) {
      p = (async () => {
        if (existsSync(path)) return path;
        const bytes = await getBlob(this.redis, sha);
        if (kind === 'onnx') {
          const tmp = `${path}.tmp-${process.pid}`;
          writeFileSync(tmp, bytes);
          renameSync(tmp, path);
        } else unpackFolder(bytes, path, `blob ${sha.slice(0, 12)}…`);
        return path;
      })();
      this.pending.set(key, p);
      p.catch(() => this.pending.delete(key));
    }
    return p;
  }

  /** Raw bytes (the clean set), kept in memory once fetched. */
  private readonly bytes = new Map<string, Promise<Buffer>>();
  data(sha: string): Promise<Buffer> {
    let p = this.bytes.get(sha);
    if (!p) {
      p = getBlob(this.redis, sha);
      this.bytes.set(sha, p);
      p.catch(() => this.bytes.delete(sha));
    }
    return p;
  }
}
