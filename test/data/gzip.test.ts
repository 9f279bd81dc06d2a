import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { gunzipFile, MAX_GUNZIP_BYTES } from '../../src/data/gzip.js';
import { readIdxFile } from '../../src/data/idx.js';
import { DataFormatError } from '../../src/errors.js';
import { scratchDir } from '../helpers.js';

test('a gzip stream that inflates past the limit is refused while inflating, naming the limit', () => {
  // 8 MB of zeros compress to 8 KB: the thousand-fold ratio of a gzip bomb.
  const bomb = gzipSync(Buffer.alloc(8 * 2 ** 20), { level: 9 });
  assert.ok(bomb.length < 16 * 1024);
  assert.throws(
    () => gunzipFile(bomb, 'bomb.gz', 2 ** 20),
    (e: unknown) => e instanceof DataFormatError && /^bomb\.gz: decompresses to more than 1048576 bytes, the limit on a gzip file\.$/.test(e.message),
  );
  assert.equal(gunzipFile(bomb, 'bomb.gz').length, 8 * 2 ** 20, `within the default ${MAX_GUNZIP_BYTES} bytes`);
  // The loaders share it: a corrupt stream in an IDX file is one line naming the file.
  const path = join(scratchDir('gzip'), 'x-idx1-ubyte.gz');
  writeFileSync(path, bomb.subarray(0, 100));
  assert.throws(() => readIdxFile(path), (e: unknown) => e instanceof DataFormatError && /x-idx1-ubyte\.gz: the gzip stream is corrupt or truncated/.test(e.message));
});
