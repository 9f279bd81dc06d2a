/**
 * Gzip-compressed data files (MNIST's IDX, GTSRB's records, the text releases' tar archives),
 * decompressed in memory with a bound: a gzip stream inflates up to about a thousand-fold, so a
 * 1 MB file can otherwise claim a gigabyte.
 */
import { gunzipSync } from 'node:zlib';
import { DataFormatError } from '../errors.js';

/**
 * Largest decompressed size of a gzip file, in bytes. The largest release read here is GTSRB's
 * training set, 121 MB once decompressed.
 */
export const MAX_GUNZIP_BYTES = 1024 ** 3;

/** Whether `buf` starts with the gzip magic bytes. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Decompresses gzip bytes read from `path`, refusing a corrupt stream or one larger than `maxBytes`. */
export function gunzipFile(buf: Uint8Array, path: string, maxBytes: number = MAX_GUNZIP_BYTES): Buffer {
  try {
    return gunzipSync(buf, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataFormatError(path, `decompresses to more than ${maxBytes} bytes, the limit on a gzip file.`, { expected: `at most ${maxBytes} bytes` });
    }
    throw new DataFormatError(path, `the gzip stream is corrupt or truncated (${(e as Error).message}).`);
  }
}
