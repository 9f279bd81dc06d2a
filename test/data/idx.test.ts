import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdxUint8, parseIdx, readIdxFile } from '../../src/data/idx.js';
import { loadMnist } from '../../src/data/mnist.js';
import { loadMnist17 } from '../../src/data/mnist17.js';
import { PoisonguardError } from '../../src/errors.js';
import { scratchDir, sharedData } from '../helpers.js';

test('IDX round trip, raw and gzip', () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  const buf = encodeIdxUint8([2, 3, 4], data);
  const parsed = parseIdx(buf, 'x');
  assert.deepEqual(parsed.shape, [2, 3, 4]);
  assert.deepEqual(Array.from(parsed.data), Array.from(data));
  const dir = scratchDir('idx');
  writeFileSync(join(dir, 'a.gz'), gzipSync(buf));
  assert.deepEqual(Array.from(readIdxFile(join(dir, 'a.gz')).data), Array.from(data));
});

test('truncated, over-long, bad magic and corrupt gzip IDX files are refused with a clear message', () => {
  const buf = encodeIdxUint8([2, 3, 4], new Uint8Array(24));
  assert.throws(() => parseIdx(buf.subarray(0, 20), 'f.idx'), /f\.idx: truncated: the header declares shape \[2, 3, 4\]/);
  assert.throws(() => parseIdx(Buffer.concat([buf, Buffer.from([1])]), 'f.idx'), /unexpected bytes/);
  const bad = Buffer.from(buf);
  bad[0] = 7;
  assert.throws(() => parseIdx(bad, 'f.idx'), /not an IDX file/);
  assert.throws(() => parseIdx(buf.subarray(0, 6), 'f.idx'), /truncated header/);
  const dir = scratchDir('idx');
  const gz = gzipSync(buf);
  writeFileSync(join(dir, 'b.gz'), gz.subarray(0, gz.length - 10));
  assert.throws(() => readIdxFile(join(dir, 'b.gz')), (e: unknown) => e instanceof PoisonguardError && /gzip stream is corrupt or truncated/.test(e.message));
});

test('an MNIST folder with mismatched counts or a missing file is refused', () => {
  const dir = scratchDir('mnist');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), encodeIdxUint8([3, 28, 28], new Uint8Array(3 * 784)));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), encodeIdxUint8([2], new Uint8Array(2)));
  assert.throws(() => loadMnist(dir), /holds 2 labels but .* holds 3 images/);
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), encodeIdxUint8([3], new Uint8Array([1, 2, 12])));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), encodeIdxUint8([1, 28, 28], new Uint8Array(784)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), encodeIdxUint8([1], new Uint8Array(1)));
  assert.throws(() => loadMnist(dir), /label 12 is not a digit/);
  assert.throws(() => loadMnist(join(dir, 'nope')), /No such MNIST directory/);
});

test('embedded MNIST-1-7 has the paper counts (13 007 / 2 163), digit 1 = +1', () => {
  const d = loadMnist17();
  assert.equal(d.train.X.rows, 13007);
  assert.equal(d.test.X.rows, 2163);
  assert.equal(d.train.X.cols, 784);
  const pos = d.train.y.reduce((s, v) => s + (v === 1 ? 1 : 0), 0);
  assert.equal(pos, 6742); // digit 1 in the MNIST training set
  assert.equal(d.positive, 'digit 1');
});

test('the shared gzip MNIST folder loads the same images as the embedded copy', { skip: sharedData('mnist') ? false : 'shared data folder ../shared/data/mnist is absent' }, () => {
  const a = loadMnist();
  const b = loadMnist(sharedData('mnist'));
  assert.equal(a.train.count, 60000);
  assert.equal(b.test.count, 10000);
  assert.deepEqual(Buffer.from(a.test.images).equals(Buffer.from(b.test.images)), true);
  assert.deepEqual(Array.from(a.train.labels.subarray(0, 100)), Array.from(b.train.labels.subarray(0, 100)));
});
