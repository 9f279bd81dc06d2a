import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImageFile, decodeJpeg, decodeNetpbm, decodePng } from '../../src/data/image-files.js';
import { loadImageFolder } from '../../src/data/image-folder.js';
import { loadImageDataset } from '../../src/data/image-registry.js';
import { DataFormatError, OptionError, UnknownNameError } from '../../src/errors.js';
import { scratchDir } from '../helpers.js';

type Pixel = (x: number, y: number) => [number, number, number];

function png(path: string, w: number, h: number, px: Pixel, alpha = 255): void {
  const img = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = px(x, y);
      img.data.set([r, g, b, alpha], 4 * (y * w + x));
    }
  }
  writeFileSync(path, PNG.sync.write(img));
}

function ppmP6(path: string, w: number, h: number, px: Pixel): void {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(px(x, y), 3 * (y * w + x));
  writeFileSync(path, Buffer.concat([Buffer.from(`P6\n# a comment\n${w} ${h}\n255\n`), data]));
}

function ppmP3(path: string, w: number, h: number, px: Pixel): void {
  const values: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) values.push(...px(x, y));
  writeFileSync(path, `P3\n${w} ${h}\n255\n${values.join(' ')}\n`);
}

const colourOf = (cls: number, k: number): Pixel => (x, y) => [(cls * 50 + x) % 256, (k * 10 + y) % 256, (x * y) % 256];

test('a class-per-folder set of PNG, PPM (P6, P3) files: RGB, NHWC, numeric class order, CSV skipped', () => {
  const root = scratchDir('imgfolder');
  const classes = ['2', '10', '1']; // numeric order: 1, 2, 10
  for (const [ci, name] of classes.entries()) {
    const dir = join(root, name);
    mkdirSync(dir);
    for (let k = 0; k < 5; k++) {
      const cls = Number(name);
      const px = colourOf(cls, k);
      const file = join(dir, `img${k}`);
      if (k % 3 === 0) png(`${file}.png`, 6, 4, px);
      else if (k % 3 === 1) ppmP6(`${file}.ppm`, 6, 4, px);
      else ppmP3(`${file}.ppm`, 6, 4, px);
    }
    writeFileSync(join(dir, `GT-${ci}.csv`), 'not an image');
  }
  const ds = loadImageFolder(root, { seed: 1, testFraction: 0.2 });
  assert.deepEqual(ds.classNames, ['1', '2', '10']);
  assert.equal(ds.numClasses, 3);
  assert.equal(ds.skippedFiles, 3);
  assert.equal(ds.train.count + ds.test.count, 15);
  assert.equal(ds.test.count, 3);
  assert.deepEqual([ds.train.height, ds.train.width, ds.train.channels], [4, 6, 3]);
  // Every image equals the colour function of its class for some k: check pixel (x=5, y=3).
  for (const set of [ds.train, ds.test]) {
    for (let n = 0; n < set.count; n++) {
      const cls: number = Number(ds.classNames[set.labels[n]]);
      const at = (n * 24 + 3 * 6 + 5) * 3;
      assert.equal(set.images[at], (cls * 50 + 5) % 256);
      assert.equal(set.images[at + 2], 15);
    }
  }
});

test('grey images give one channel; train/ and test/ sub-folders are used as the split', () => {
  const root = scratchDir('imgfolder');
  for (const split of ['train', 'test']) {
    for (const cls of ['cat', 'dog']) {
      mkdirSync(join(root, split, cls), { recursive: true });
      for (let k = 0; k < (split === 'train' ? 3 : 1); k++) {
        const v = cls === 'cat' ? 10 + k : 200 + k;
        png(join(root, split, cls, `${k}.png`), 5, 5, () => [v, v, v]);
      }
    }
  }
  writeFileSync(join(root, 'test', 'dog', 'p.pgm'), Buffer.concat([Buffer.from('P5 5 5 255\n'), Buffer.alloc(25, 77)]));
  const ds = loadImageFolder(root);
  assert.deepEqual(ds.classNames, ['cat', 'dog']);
  assert.equal(ds.train.channels, 1);
  assert.equal(ds.train.count, 6);
  assert.equal(ds.test.count, 3);
  assert.deepEqual(Array.from(ds.test.labels), [0, 1, 1]);
  assert.equal(ds.test.images[25 * 2], 77);
  // Through the registry, a folder path is a dataset too.
  assert.equal(loadImageDataset(root).numClasses, 2);
  assert.throws(() => loadImageDataset(root, '/elsewhere'), OptionError);
  assert.throws(() => loadImageDataset('no-such-dataset'), (e: unknown) => e instanceof UnknownNameError && /mnist, gtsrb/.test(e.message));
});

test('a JPEG decodes (pure JS) to the right size and roughly the right colour', () => {
  const root = scratchDir('imgfolder');
  for (const cls of ['a', 'b']) {
    mkdirSync(join(root, cls));
    for (let k = 0; k < 3; k++) {
      const data = Buffer.alloc(8 * 8 * 4);
      for (let p = 0; p < 64; p++) data.set(cls === 'a' ? [200, 30, 30, 255] : [30, 30, 200, 255], 4 * p);
      writeFileSync(join(root, cls, `${k}.jpg`), jpeg.encode({ width: 8, height: 8, data }, 95).data);
    }
  }
  const ds = loadImageFolder(root, { testFraction: 0.34 });
  assert.equal(ds.train.channels, 3);
  const set = ds.train;
  for (let n = 0; n < set.count; n++) {
    const r = set.images[n * 192];
    const b = set.images[n * 192 + 2];
    assert.ok(set.labels[n] === 0 ? r > 180 && b < 50 : b > 180 && r < 50, `image ${n}: r=${r} b=${b}`);
  }
});

test('an image of another size is refused, naming the file; bad Netpbm files are refused', () => {
  const root = scratchDir('imgfolder');
  for (const cls of ['0', '1']) {
    mkdirSync(join(root, cls));
    for (let k = 0; k < 3; k++) png(join(root, cls, `${k}.png`), 4, 4, () => [1, 2, 3]);
  }
  png(join(root, '1', 'odd.png'), 5, 4, () => [1, 2, 3]);
  assert.throws(
    () => loadImageFolder(root),
    (e: unknown) => e instanceof DataFormatError && /1\/odd\.png: is 5x4, but .*0\/0\.png is 4x4/.test(e.message),
  );
  const ok = decodeNetpbm(Buffer.from('P3\n2 1\n15\n15 0 0  0 15 0\n'), 'x.ppm');
  assert.deepEqual(Array.from(ok.rgb), [255, 0, 0, 0, 255, 0], 'maxval 15 rescaled to 0..255');
  assert.throws(() => decodeNetpbm(Buffer.concat([Buffer.from('P6 4 4 255\n'), Buffer.alloc(40)]), 'x.ppm'), /x\.ppm: truncated: 4x4 pixels need 48 data bytes, the file has 40/);
  assert.throws(() => decodeNetpbm(Buffer.from('P7 4 4 255\n'), 'x.ppm'), /magic number must be P6, P3, P5 or P2/);
  assert.throws(() => decodeNetpbm(Buffer.from('P3 1 1 255\n300 0 0\n'), 'x.ppm'), /pixel value 300 exceeds maxval 255/);
  assert.throws(() => decodeNetpbm(Buffer.from('P6 0 4 255\n'), 'x.ppm'), /bad Netpbm width '0'/);
  const empty = scratchDir('imgfolder');
  mkdirSync(join(empty, 'a'));
  mkdirSync(join(empty, 'b'));
  png(join(empty, 'a', 'x.png'), 2, 2, () => [0, 0, 0]);
  assert.throws(() => loadImageFolder(empty), /class folder 'b' holds no images/);
});

/** PNG chunk bytes: length, type, data, CRC. */
function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

test('a PNG declaring 16000x16000 pixels is refused from its header, naming the limit; the limit can be raised', () => {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(16000, 0);
  ihdr.writeUInt32BE(16000, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA: 1 GB once decoded
  // A few rows of deflated zeros stand for the rest of the bomb: the size alone must decide.
  const idat = deflateSync(Buffer.alloc(4 * (1 + 16000 * 4)));
  const bomb = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
  const path = join(scratchDir('imgbomb'), 'bomb.png');
  writeFileSync(path, bomb);
  assert.throws(
    () => decodeImageFile(path),
    (e: unknown) => e instanceof DataFormatError && /bomb\.png: image of 16000x16000 exceeds the 64-megapixel limit\./.test(e.message),
  );
  // The limit is a parameter: a 4x4 PNG passes the default and not a 10-pixel limit.
  const small = new PNG({ width: 4, height: 4 });
  assert.equal(decodePng(PNG.sync.write(small), 'small.png').width, 4);
  assert.throws(() => decodePng(PNG.sync.write(small), 'small.png', 1e-5), /small\.png: image of 4x4 exceeds the 0\.00001-megapixel limit/);
  // JPEG (checked by jpeg-js from its frame header) and PPM name the same limit.
  const jpg = Buffer.from(jpeg.encode({ data: Buffer.alloc(4 * 8 * 8), width: 8, height: 8 }, 90).data);
  const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
  jpg.writeUInt16BE(16000, sof + 5);
  jpg.writeUInt16BE(16000, sof + 7);
  assert.throws(() => decodeJpeg(jpg, 'bomb.jpg'), /bomb\.jpg: image exceeds the 64-megapixel limit/);
  assert.throws(() => decodeNetpbm(Buffer.from('P6 16000 16000 255\n'), 'bomb.ppm'), /bomb\.ppm: image of 16000x16000 exceeds the 64-megapixel limit\./);
});

test('a PNG whose image data stops short of its declared size is refused, not decoded as zeros', () => {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4000, 0);
  ihdr.writeUInt32BE(4000, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  // One row of data for 4000: pngjs would fill the other 3999 rows with zeros (64 MB, seconds).
  const row = 1 + 4000 * 4;
  const full = deflateSync(Buffer.alloc(row));
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const short = Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', full), chunk('IEND', Buffer.alloc(0))]);
  assert.throws(() => decodePng(short, 'short.png'), (e: unknown) => e instanceof DataFormatError && new RegExp(`short\\.png: truncated: a 4000x4000 image needs ${4000 * row} bytes of image data, its IDAT chunks hold ${row}\\.`).test(e.message));
  // A stream cut in the middle is measured, not trusted; corrupt data is refused.
  const cut = Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', full.subarray(0, 6)), chunk('IEND', Buffer.alloc(0))]);
  assert.throws(() => decodePng(cut, 'cut.png'), /cut\.png: truncated: a 4000x4000 image needs/);
  const bad = Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', Buffer.from([0x78, 0x9c, 0xff, 0xff, 0xff])), chunk('IEND', Buffer.alloc(0))]);
  assert.throws(() => decodePng(bad, 'bad.png'), /bad\.png: not a readable PNG file \(its image data does not inflate/);
  // Complete images of every colour type and bit depth pngjs writes still decode.
  for (const options of [{}, { colorType: 2 }, { colorType: 0 }, { colorType: 4 }, { colorType: 6, bitDepth: 16 }, { colorType: 0, bitDepth: 16 }] as const) {
    const img = new PNG({ width: 5, height: 3 });
    for (let i = 0; i < img.data.length; i++) img.data[i] = i % 4 === 3 ? 255 : 200;
    const decoded = decodePng(PNG.sync.write(img, { ...options }), 'ok.png');
    assert.deepEqual([decoded.width, decoded.height, decoded.rgb.length], [5, 3, 45], JSON.stringify(options));
  }
});

test('a Netpbm header declaring more pixels than its data holds is refused before they are allocated', () => {
  // 64 megapixels declared in 17 bytes: refused from the sizes, without a 384 MB pixel array.
  assert.throws(() => decodeNetpbm(Buffer.from('P3 8000 8000 255\n'), 'big.ppm'), /big\.ppm: truncated: 8000x8000 pixels need 192000000 values, and the 1 bytes left cannot hold them\./);
  assert.throws(() => decodeNetpbm(Buffer.from('P2 3 1 255\n1 2'), 'short.pgm'), /short\.pgm: truncated: 3x1 pixels need 3 values, and the 4 bytes left cannot hold them\./);
  assert.throws(() => decodeNetpbm(Buffer.from('P2 3 1 255\n1 2  '), 'spaces.pgm'), /spaces\.pgm: truncated: 3x1 pixels need 3 values, the file has 2\./);
  assert.deepEqual(Array.from(decodeNetpbm(Buffer.from('P2 3 1 255\n1 2 3'), 'ok.pgm').rgb), [1, 1, 1, 2, 2, 2, 3, 3, 3]);
});

