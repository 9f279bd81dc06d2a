import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GTSRB_CLASSES, loadGtsrb, parseCifarRecords, readMaybeGzip } from '../../src/data/gtsrb.js';
import { DataFormatError } from '../../src/errors.js';
import { Random } from '../../src/random.js';
import { scratchDir, sharedData } from '../helpers.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/** One CIFAR-layout record whose pixel (r, c) of channel k holds (label + 3r + 5c + 7k) mod 256. */
function record(label: number): Uint8Array {
  const rec = new Uint8Array(RECORD);
  rec[0] = label;
  for (let k = 0; k < 3; k++) for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) rec[1 + k * PLANE + r * SIDE + c] = (label + 3 * r + 5 * c + 7 * k) % 256;
  return rec;
}

function records(labels: number[]): Buffer {
  return Buffer.concat(labels.map((l) => record(l)));
}

test('CIFAR-layout records become NHWC pixel by pixel', () => {
  const set = parseCifarRecords(records([0, 42, 5]), 'x.bin', { height: SIDE, width: SIDE, channels: 3, numClasses: GTSRB_CLASSES });
  assert.equal(set.count, 3);
  assert.deepEqual(Array.from(set.labels), [0, 42, 5]);
  for (const [n, label] of [0, 42, 5].entries()) {
    for (const [r, c, k] of [[0, 0, 0], [0, 1, 2], [31, 31, 1], [27, 30, 2], [5, 9, 0]]) {
      assert.equal(set.images[((n * SIDE + r) * SIDE + c) * 3 + k], (label + 3 * r + 5 * c + 7 * k) % 256, `image ${n} (${r},${c},${k})`);
    }
  }
});

test('loadGtsrb reads a gzip fixture; train is shuffled with the seed, test keeps file order', () => {
  const dir = scratchDir('gtsrb');
  const trainLabels = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 42, 42];
  writeFileSync(join(dir, 'gtsrb32_train.bin.gz'), gzipSync(records(trainLabels)));
  writeFileSync(join(dir, 'gtsrb32_test.bin'), records([7, 8, 9])); // uncompressed works too
  const a = loadGtsrb(dir, 3);
  assert.equal(a.numClasses, 43);
  assert.equal(a.train.count, 12);
  assert.deepEqual(Array.from(a.test.labels), [7, 8, 9]);
  // The shuffle is the seeded permutation; each image keeps its own label.
  const perm = new Random(3).permutation(12);
  assert.deepEqual(Array.from(a.train.labels), Array.from(perm, (i) => trainLabels[i]));
  for (let n = 0; n < 12; n++) assert.equal(a.train.images[n * PLANE * 3 + 3 * 1 + 1], (a.train.labels[n] + 5 + 7) % 256);
  assert.deepEqual(Array.from(loadGtsrb(dir, 3).train.labels), Array.from(a.train.labels), 'same seed, same order');
  assert.notDeepEqual(Array.from(loadGtsrb(dir, 4).train.labels), Array.from(a.train.labels));
});

test('a truncated record, a bad label, an empty file and a missing file are refused clearly', () => {
  const layout = { height: SIDE, width: SIDE, channels: 3, numClasses: GTSRB_CLASSES };
  const two = records([1, 2]);
  assert.throws(
    () => parseCifarRecords(two.subarray(0, RECORD + 100), 'f.bin', layout),
    (e: unknown) => e instanceof DataFormatError && /f\.bin \(at 1\): truncated: record 1 \(0-based\) has only 100 of its 3073 bytes/.test(e.message),
  );
  assert.throws(() => parseCifarRecords(records([1, 43]), 'f.bin', layout), /f\.bin \(at 1\): record 1 has label 43; labels must be 0\.\.42/);
  assert.throws(() => parseCifarRecords(new Uint8Array(0), 'f.bin', layout), /holds no records/);
  const dir = scratchDir('gtsrb');
  writeFileSync(join(dir, 'gtsrb32_train.bin.gz'), gzipSync(two));
  assert.throws(() => loadGtsrb(dir), /No such GTSRB file: .*gtsrb32_test\.bin\.gz/);
  const gz = gzipSync(two);
  writeFileSync(join(dir, 'bad.gz'), gz.subarray(0, gz.length - 20));
  assert.throws(() => readMaybeGzip(join(dir, 'bad.gz')), /gzip stream is corrupt or truncated/);
  assert.throws(() => loadGtsrb(join(dir, 'nope')), /No such GTSRB directory/);
});

const shared = sharedData('gtsrb');
test('shared GTSRB test file: 12 630 images, 43 classes', { skip: shared && existsSync(join(shared, 'gtsrb32_test.bin.gz')) ? false : 'shared GTSRB data absent (../shared/data/gtsrb)' }, () => {
  const set = parseCifarRecords(readMaybeGzip(join(shared!, 'gtsrb32_test.bin.gz')), 'test', { height: 32, width: 32, channels: 3, numClasses: 43 });
  assert.equal(set.count, 12630);
  assert.equal(new Set(set.labels).size, 43);
});
