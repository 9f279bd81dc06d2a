/**
 * Values a loader cannot represent are refused instead of wrapping, and descriptions follow the
 * data actually loaded: svmlight indices beyond 32 bits, MNIST-1-7 from IDX images of another size,
 * and seeds beyond the generator's 32 bits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdxUint8 } from '../../src/data/idx.js';
import { loadMnist17 } from '../../src/data/mnist17.js';
import { parseSvmlight } from '../../src/data/svmlight.js';
import { checkSeed, Random } from '../../src/random.js';
import { scanModel } from '../../src/cleanse/scan.js';

test('svmlight feature indices at or beyond 2^31 are refused, not wrapped around', () => {
  assert.throws(() => parseSvmlight('1 2147483649:1\n', 'big.svm'), { message: /big\.svm \(at 1\): line 1: the feature index 2147483649 is too large \(at most 2147483648 in a 1-based file: columns are 32-bit integers\)\./ });
  assert.throws(() => parseSvmlight('1 99999999999999999999:1\n', 'big.svm', { indexBase: 0 }), { message: /the feature index 99999999999999999999 is too large \(at most 2147483647 in a 0-based file/ });
  assert.equal(parseSvmlight('1 2147483648:1\n', 'edge.svm').X.cols, 2147483648);
});

test('MNIST-1-7 from 10x10 IDX images describes 100 = 10x10 features', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-idx10-'));
  const n = 4;
  const images = new Uint8Array(n * 100).map((_, i) => i % 251);
  for (const [prefix, count] of [['train', n], ['t10k', n]] as const) {
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), encodeIdxUint8([count, 10, 10], images));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdxUint8([count], new Uint8Array([1, 7, 1, 7])));
  }
  const d = loadMnist17(dir);
  assert.equal(d.features, 'pixel / 255 (100 = 10x10)');
  assert.equal(d.train.X.cols, 100);
});

test('seeds: the generator takes [0, 2^32 − 1]; others are refused by the library too', async () => {
  assert.equal(checkSeed('seed', 4294967295), 4294967295);
  for (const bad of [4294967296, -1, 2 ** 53 + 2, 0.5, Number.NaN]) {
    assert.throws(() => checkSeed('seed', bad), { message: /^Expected seed to be an integer in \[0, 4294967295\] \(the generator's 32-bit seeds\)/ });
  }
  // Why: 2^32 would silently be seed 0.
  assert.equal(new Random(4294967296).next(), new Random(0).next());
  await assert.rejects(scanModel({ model: '/nonexistent', seed: 4294967296 }), { message: /Expected seed to be an integer in \[0, 4294967295\]/ });
});
