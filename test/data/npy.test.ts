import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { loadNpzBinaryDataset, parseNpy, readNpy, readNpz, npyToDense, type NpyDtype } from '../../src/data/npy.js';
import { loadBinaryDataset } from '../../src/data/registry.js';
import { DataFormatError, NotFoundError } from '../../src/errors.js';
import { scratchDir } from '../helpers.js';

/** A minimal .npy writer, following numpy/lib/format.py (header padded to a multiple of 64). */
function encodeNpy(dtype: NpyDtype | string, shape: number[], values: number[], opts: { version?: 1 | 2 | 3; fortran?: boolean } = {}): Buffer {
  const version = opts.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  const pad = (64 - ((pre + header.length + 1) % 64)) % 64;
  header += `${' '.repeat(pad)}\n`;
  const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const len = Buffer.alloc(version === 1 ? 2 : 4);
  if (version === 1) len.writeUInt16LE(header.length);
  else len.writeUInt32LE(header.length);
  let body: Buffer;
  switch (dtype) {
    case '<f4':
      body = Buffer.from(new Float32Array(values).buffer);
      break;
    case '<f8':
      body = Buffer.from(new Float64Array(values).buffer);
      break;
    case '<i4':
      body = Buffer.from(new Int32Array(values).buffer);
      break;
    case '<i8':
      body = Buffer.from(new BigInt64Array(values.map((v) => BigInt(v))).buffer);
      break;
    default:
      body = Buffer.from(Uint8Array.from(values));
  }
  return Buffer.concat([magic, len, Buffer.from(header, version === 3 ? 'utf8' : 'latin1'), body]);
}

test('npy: every supported dtype round-trips, in header versions 1, 2 and 3', () => {
  const values = [0, 1, 2, 3, 250, 7];
  for (const dtype of ['<f4', '<f8', '<i4', '<i8', '|u1'] as const) {
    for (const version of [1, 2, 3] as const) {
      const a = parseNpy(encodeNpy(dtype, [2, 3], values, { version }), 'a.npy');
      assert.equal(a.dtype, dtype);
      assert.deepEqual(a.shape, [2, 3]);
      assert.deepEqual(Array.from(a.data), values, `${dtype} v${version}`);
    }
  }
  const b = parseNpy(encodeNpy('|b1', [4], [0, 1, 1, 0]), 'b.npy');
  assert.deepEqual(Array.from(b.data), [0, 1, 1, 0]);
  assert.ok(parseNpy(encodeNpy('<f4', [1, 1], [0.5]), 'f').data instanceof Float32Array);
  const neg = parseNpy(encodeNpy('<i8', [3], [-5, 0, 2 ** 40]), 'n');
  assert.deepEqual(Array.from(neg.data), [-5, 0, 2 ** 40]);
});

test('npy: a Fortran-ordered array is transposed into C order', () => {
  // The 2x3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column: 1 4 2 5 3 6.
  const a = parseNpy(encodeNpy('<f8', [2, 3], [1, 4, 2, 5, 3, 6], { fortran: true }), 'f.npy');
  assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6]);
  // Rank 3, shape (2, 2, 2): element (i, j, k) = 100i + 10j + k; Fortran order varies i fastest.
  const f: number[] = [];
  for (let k = 0; k < 2; k++) for (let j = 0; j < 2; j++) for (let i = 0; i < 2; i++) f.push(100 * i + 10 * j + k);
  const c = parseNpy(encodeNpy('<i4', [2, 2, 2], f, { fortran: true }), 'g.npy');
  assert.deepEqual(Array.from(c.data), [0, 1, 10, 11, 100, 101, 110, 111]);
  // Rank 3 flattens to rows of 4 features.
  const m = npyToDense(c, 'g.npy');
  assert.equal(m.rows, 2);
  assert.equal(m.cols, 4);
});

test('npy: bad files are refused with a clear message', () => {
  const good = encodeNpy('<f8', [2, 2], [1, 2, 3, 4]);
  assert.throws(() => parseNpy(good.subarray(0, good.length - 3), 'x.npy'), /x\.npy: truncated: shape \(2, 2\) of <f8 needs 32 data bytes, the file has 29/);
  assert.throws(() => parseNpy(Buffer.concat([good, Buffer.from([0])]), 'x.npy'), /1 unexpected bytes/);
  assert.throws(() => parseNpy(encodeNpy('>f8', [1], [0]), 'x.npy'), /unsupported dtype '>f8'; supported: <f4, <f8, <i4, <i8, \|u1, \|b1/);
  assert.throws(() => parseNpy(Buffer.from('PK\x03\x04 not npy at all'), 'x.npy'), /not a \.npy file/);
  const v9 = Buffer.from(good);
  v9[6] = 9;
  assert.throws(() => parseNpy(v9, 'x.npy'), /unsupported \.npy format version 9\.0/);
  assert.throws(() => npyToDense(parseNpy(encodeNpy('<f8', [3], [1, 2, 3]), 'v'), 'v.npy'), /expected a feature matrix of rank 2/);
  assert.throws(() => readNpy(join(scratchDir('npy'), 'missing.npy')), NotFoundError);
});

function dogfishLike(yTrain: number[], level: 0 | 6): Uint8Array {
  return zipSync(
    {
      'X_train.npy': encodeNpy('<f4', [3, 2], [1, 2, 3, 4, 5, 6]),
      'Y_train.npy': encodeNpy('<i8', [yTrain.length], yTrain),
      'X_test.npy': encodeNpy('<f8', [1, 2], [7, 8], { version: 2 }),
      'Y_test.npy': encodeNpy('<f8', [1, 1], [1]),
      'extra.npy': encodeNpy('|u1', [1], [0]),
    },
    { level },
  );
}

test('npz: stored and deflated archives load as a dense binary dataset (0/1 labels → ±1)', () => {
  const dir = scratchDir('npz');
  for (const level of [0, 6] as const) {
    const path = join(dir, `dogfish-${level}.npz`);
    writeFileSync(path, dogfishLike([0, 1, 1], level));
    const npz = readNpz(path);
    assert.deepEqual(npz.keys, ['X_train', 'Y_train', 'X_test', 'Y_test', 'extra']);
    const d = loadNpzBinaryDataset(path);
    assert.equal(d.name, `dogfish-${level}`);
    assert.equal(d.train.X.kind, 'dense');
    assert.deepEqual(Array.from((d.train.X as { data: Float32Array }).data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(d.train.y), [-1, 1, 1]);
    assert.deepEqual(Array.from(d.test.y), [1]);
    assert.equal(d.test.X.cols, 2);
  }
  // ±1 labels are kept; a folder with one .npz is accepted, as the registry's dogfish entry does.
  const sub = join(dir, 'pm1');
  mkdirSync(sub);
  writeFileSync(join(sub, 'features.npz'), dogfishLike([-1, 1, -1], 6));
  assert.deepEqual(Array.from(loadNpzBinaryDataset(sub).train.y), [-1, 1, -1]);
  return loadBinaryDataset('dogfish', sub, 0).then((d) => {
    assert.equal(d.name, 'dogfish');
    assert.equal(d.train.X.rows, 3);
  });
});

test('npz: a missing key names the file and the key and lists the keys present; bad labels are refused', async () => {
  const dir = scratchDir('npz');
  const path = join(dir, 'a.npz');
  writeFileSync(path, zipSync({ 'X_train.npy': encodeNpy('<f8', [1, 1], [1]), 'y.npy': encodeNpy('<f8', [1], [1]) }));
  assert.throws(
    () => loadNpzBinaryDataset(path),
    (e: unknown) =>
      e instanceof DataFormatError && e.message === `${path}: has no array 'Y_train' (member Y_train.npy); the arrays present are: X_train, y.` && e.details.expected === 'Y_train',
  );
  // Other key names can be given.
  const renamed = join(dir, 'b.npz');
  writeFileSync(
    renamed,
    zipSync({ 'x.npy': encodeNpy('<f8', [2, 1], [1, 2]), 'y.npy': encodeNpy('<f8', [2], [0, 1]), 'xt.npy': encodeNpy('<f8', [1, 1], [3]), 'yt.npy': encodeNpy('<f8', [1], [0]) }),
  );
  const d = loadNpzBinaryDataset(renamed, { keys: { xTrain: 'x', yTrain: 'y', xTest: 'xt', yTest: 'yt' } });
  assert.deepEqual(Array.from(d.train.y), [-1, 1]);

  const bad = join(dir, 'c.npz');
  writeFileSync(bad, dogfishLike([0, 2, 1], 6));
  assert.throws(() => loadNpzBinaryDataset(bad), /array Y_train\): label 2 at index 1 is not binary; expected 0\/1 or -1\/\+1/);
  writeFileSync(bad, dogfishLike([0, -1, 1], 6));
  assert.throws(() => loadNpzBinaryDataset(bad), /labels mix 0 and -1/);
  writeFileSync(bad, dogfishLike([0, 1], 6));
  assert.throws(() => loadNpzBinaryDataset(bad), /array Y_train holds 2 labels but X_train holds 3 rows/);
  writeFileSync(bad, 'not a zip');
  assert.throws(() => readNpz(bad), /not a readable \.npz \(zip\) archive/);
  await assert.rejects(async () => loadBinaryDataset('dogfish', undefined, 0), (e: unknown) => e instanceof NotFoundError && /Dogfish is not shipped/.test(e.message));
});

test('an npz member declaring more than the limit once decompressed is refused before it is inflated', () => {
  const path = join(scratchDir('npz'), 'bomb.npz');
  const zip = Buffer.from(zipSync({ 'X_train.npy': encodeNpy('<f8', [1, 1], [1]) }, { level: 6 }));
  // Local header +22 and central directory +24: the uncompressed size, set to 2 GiB.
  for (const [sig, off] of [[[0x50, 0x4b, 3, 4], 22], [[0x50, 0x4b, 1, 2], 24]] as const) zip.writeUInt32LE(2 ** 31, zip.indexOf(Buffer.from(sig)) + off);
  writeFileSync(path, zip);
  assert.throws(
    () => readNpz(path),
    (e: unknown) => e instanceof DataFormatError && /bomb\.npz: member X_train\.npy declares 2147483648 bytes once decompressed, more than the limit of 1073741824\./.test(e.message),
  );
});
