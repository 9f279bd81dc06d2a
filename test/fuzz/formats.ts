/**
 * The table of formats the fuzzer runs: every loader that parses untrusted bytes. Seeds are made
 * here with the project's encoders or the libraries' (nothing committed). A new loader is one more
 * entry: a name, seeds, the call that loads bytes (through a file when the loader reads files), and
 * optionally header fields, a text flag, a payload (for compressed containers) and a repair step
 * (checksums) so that mutations reach past the integrity checks. A binary model format such as
 * ONNX takes the same shape: seeds from its own encoder (a tiny graph with initializers), \`load\`
 * writing the bytes to a scratch file and calling its loader, and \`fields\` or \`text\` where its
 * sizes are (tensor dims and raw-data lengths), so that mutations push them toward huge values.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import * as tfl from '@tensorflow/tfjs-layers';
import { encodeIdxUint8, parseIdx, readIdxFile } from '../../src/data/idx.js';
import { decodeJpeg, decodeNetpbm, decodePng } from '../../src/data/image-files.js';
import { parseNpy, readNpz } from '../../src/data/npy.js';
import { encodeSvmlight, parseSvmlight } from '../../src/data/svmlight.js';
import { encodeTar, readArchiveBytes, readTar, walkTree } from '../../src/data/tar.js';
import { toCsr, dense } from '../../src/data/matrix.js';
import { initEngine } from '../../src/nn/engine.js';
import { loadModel, METADATA_FORMAT, METADATA_VERSION, readMetadata, saveModel, type ModelMetadata } from '../../src/nn/model-io.js';
import { squareTrigger } from '../../src/nn/trigger.js';
import { scratchDir } from '../helpers.js';
import type { FuzzFormat, HeaderField } from './harness.js';

let scratch: string | undefined;
/** Writes `bytes` to `name` in this process's scratch folder and returns its path. */
function file(name: string, bytes: Uint8Array): string {
  scratch ??= scratchDir('fuzz');
  const path = join(scratch, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
  return path;
}

const gzipPayload = { unwrap: (b: Uint8Array) => gunzipSync(b), wrap: (b: Uint8Array) => gzipSync(b) };

function idxSeeds(): Uint8Array[] {
  const u8 = encodeIdxUint8([3, 4, 5], Uint8Array.from({ length: 60 }, (_, i) => (i * 37) % 256));
  const labels = encodeIdxUint8([6], Uint8Array.from([0, 1, 2, 3, 4, 5]));
  const f32 = Buffer.alloc(4 + 8 + 2 * 3 * 4);
  f32.set([0, 0, 0x0d, 2]);
  f32.writeUInt32BE(2, 4);
  f32.writeUInt32BE(3, 8);
  for (let i = 0; i < 6; i++) f32.writeFloatBE(i / 3, 12 + 4 * i);
  return [u8, labels, f32];
}
const idxFields = (seed: Uint8Array): HeaderField[] => [
  { offset: 2, bytes: 1 },
  { offset: 3, bytes: 1 },
  ...Array.from({ length: seed[3] }, (_, i): HeaderField => ({ offset: 4 + 4 * i, bytes: 4 })),
];

/** Gzip header (flags, mtime) and trailer (CRC32, ISIZE) fields. */
const gzipFields = (seed: Uint8Array): HeaderField[] => [
  { offset: 3, bytes: 1 },
  { offset: 4, bytes: 4, littleEndian: true },
  { offset: seed.length - 8, bytes: 4, littleEndian: true },
  { offset: seed.length - 4, bytes: 4, littleEndian: true },
];

function tarSeeds(): Uint8Array[] {
  const long = `deep/${'x'.repeat(120)}.txt`;
  return [
    encodeTar([
      { path: 'a/one.txt', data: 'hello\n' },
      { path: 'a', data: '', type: '5' },
      { path: 'b.bin', data: Uint8Array.from({ length: 700 }, (_, i) => i % 251) },
    ]),
    encodeTar([
      { path: '././@LongLink', data: `${long}\0`, type: 'L' },
      { path: 'ignored', data: 'long name\n' },
      { path: 'PaxHeader', data: paxRecord('path', 'pax/named.txt') + paxRecord('size', '3'), type: 'x' },
      { path: 'short', data: 'abc' },
    ]),
  ];
}
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}
/** Recomputes the checksum of every 512-byte block that looks like a ustar header. */
function repairTar(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let off = 0; off + 512 <= out.length; off += 512) {
    if (Buffer.from(out.subarray(off + 257, off + 262)).toString('latin1') !== 'ustar') continue;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : out[off + i];
    out.set(Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1'), off + 148);
  }
  return out;
}

function encodeNpy(descr: string, shape: number[], body: Uint8Array, version: 1 | 2 | 3 = 1, fortran = false): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  header += `${' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64)}\n`;
  const len = Buffer.alloc(version === 1 ? 2 : 4);
  if (version === 1) len.writeUInt16LE(header.length);
  else len.writeUInt32LE(header.length);
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]), len, Buffer.from(header, 'latin1'), body]);
}
function npySeeds(): Uint8Array[] {
  return [
    encodeNpy('<f8', [2, 3], new Uint8Array(new Float64Array([1, 2, 3, 4, 5, 6]).buffer)),
    encodeNpy('<f4', [2, 2, 2], new Uint8Array(new Float32Array(8).fill(0.5).buffer), 2, true),
    encodeNpy('<i8', [3], new Uint8Array(new BigInt64Array([1n, -1n, 7n]).buffer), 3),
    encodeNpy('|u1', [4], Uint8Array.from([1, 2, 3, 4])),
    encodeNpy('|b1', [2], Uint8Array.from([0, 1])),
    encodeNpy('<i4', [2, 1], new Uint8Array(new Int32Array([1, -1]).buffer)),
  ];
}
const npyFields = (seed: Uint8Array): HeaderField[] => [
  { offset: 6, bytes: 1 },
  seed[6] === 1 ? { offset: 8, bytes: 2, littleEndian: true } : { offset: 8, bytes: 4, littleEndian: true },
];

function npzSeeds(): Uint8Array[] {
  const members = (): Record<string, Uint8Array> => ({
    'X_train.npy': encodeNpy('<f8', [2, 2], new Uint8Array(new Float64Array([0, 1, 1, 0]).buffer)),
    'Y_train.npy': encodeNpy('<f8', [2], new Uint8Array(new Float64Array([1, -1]).buffer)),
    'X_test.npy': encodeNpy('<f4', [1, 2], new Uint8Array(new Float32Array([0.5, 0.5]).buffer)),
    'Y_test.npy': encodeNpy('<i8', [1], new Uint8Array(new BigInt64Array([1n]).buffer)),
  });
  return [zipSync(members(), { level: 0 }), zipSync(members(), { level: 6 })];
}
/** Sizes, name lengths and offsets of the zip's local headers, central directory and end record. */
function zipFields(seed: Uint8Array): HeaderField[] {
  const fields: HeaderField[] = [];
  const b = Buffer.from(seed);
  const add = (sig: number[], rel: [number, 2 | 4][]): void => {
    for (let i = b.indexOf(Buffer.from(sig)); i >= 0; i = b.indexOf(Buffer.from(sig), i + 1)) {
      for (const [o, bytes] of rel) fields.push({ offset: i + o, bytes, littleEndian: true });
    }
  };
  add([0x50, 0x4b, 3, 4], [[8, 2], [18, 4], [22, 4], [26, 2], [28, 2]]);
  add([0x50, 0x4b, 1, 2], [[10, 2], [20, 4], [24, 4], [28, 2], [30, 2], [42, 4]]);
  add([0x50, 0x4b, 5, 6], [[8, 2], [10, 2], [12, 4], [16, 4]]);
  return fields;
}

function svmlightSeeds(): Uint8Array[] {
  const X = toCsr(dense(3, 4, Float64Array.from([0, 1.5, 0, 2, 3, 0, 0, 0, 0.25, 0, 1, 0])));
  return [Buffer.from(encodeSvmlight(X, [1, -1, 1])), Buffer.from('# comment\n+1 1:0.5 3:2 # tail\n-1 qid:3 2:1e-3\n\n1 4:7\n')];
}

function pngSeeds(): Uint8Array[] {
  const make = (w: number, h: number, options: Record<string, unknown>): Uint8Array => {
    const img = new PNG({ width: w, height: h });
    for (let i = 0; i < w * h * 4; i++) img.data[i] = (i * 29) % 256;
    return PNG.sync.write(img, options);
  };
  return [make(5, 4, {}), make(3, 3, { colorType: 2 }), make(4, 2, { colorType: 0 }), make(2, 2, { colorType: 4, bitDepth: 16 })];
}
/** Recomputes every chunk's CRC (pngjs checks them), so that mutations reach the decoder. */
function repairPng(bytes: Uint8Array): Uint8Array {
  const out = Buffer.from(bytes);
  for (let off = 8; off + 12 <= out.length; ) {
    const len = out.readUInt32BE(off);
    if (off + 12 + len > out.length) break;
    out.writeUInt32BE(crc32(out.subarray(off + 4, off + 8 + len)), off + 8 + len);
    off += 12 + len;
  }
  return out;
}
const pngFields = (): HeaderField[] => [
  { offset: 16, bytes: 4 },
  { offset: 20, bytes: 4 },
  { offset: 24, bytes: 1 },
  { offset: 25, bytes: 1 },
  { offset: 26, bytes: 1 },
  { offset: 28, bytes: 1 },
  { offset: 33, bytes: 4 },
];

function jpegSeeds(): Uint8Array[] {
  const make = (w: number, h: number): Uint8Array => {
    const data = Buffer.alloc(w * h * 4);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) % 256;
    return Buffer.from(jpeg.encode({ data, width: w, height: h }, 80).data);
  };
  return [make(8, 8), make(17, 9)];
}
function jpegFields(seed: Uint8Array): HeaderField[] {
  const fields: HeaderField[] = [];
  for (let i = 0; i + 1 < seed.length; i++) {
    if (seed[i] !== 0xff) continue;
    const marker = seed[i + 1];
    if (marker === 0xc0) fields.push({ offset: i + 2, bytes: 2 }, { offset: i + 5, bytes: 2 }, { offset: i + 7, bytes: 2 }, { offset: i + 9, bytes: 1 });
    else if (marker === 0xc4 || marker === 0xdb || marker === 0xda || marker === 0xe0) fields.push({ offset: i + 2, bytes: 2 });
  }
  return fields;
}

function netpbmSeeds(): Uint8Array[] {
  return [
    Buffer.concat([Buffer.from('P6\n# comment\n3 2\n255\n'), Uint8Array.from({ length: 18 }, (_, i) => i * 14)]),
    Buffer.from('P3\n2 2\n15\n15 0 0  0 15 0\n0 0 15  7 7 7\n'),
    Buffer.concat([Buffer.from('P5 2 2 65535\n'), Uint8Array.from([0, 1, 255, 255, 128, 0, 3, 4])]),
    Buffer.from('P2\n3 1\n255\n0 128 255\n'),
  ];
}

const METADATA: ModelMetadata = {
  format: METADATA_FORMAT,
  formatVersion: METADATA_VERSION,
  dataset: 'mnist',
  arch: 'mnist',
  numClasses: 3,
  inputShape: [4, 4, 1],
  preprocessing: { kind: 'scale', scale: 1 / 255, offset: 0 },
  trigger: squareTrigger({ size: 2 }),
  target: 1,
  poisonRate: 0.1,
  poisonedCount: 9,
  seed: 0,
  backend: 'cpu',
  epochs: 1,
  batchSize: 32,
  learningRate: 1e-3,
  cleanAccuracy: 0.5,
  attackSuccessRate: 0.9,
  trainSeconds: 1,
  imagesPerSecond: 10,
  date: '2026-01-01T00:00:00.000Z',
};

/** A saved tiny conv net's folder (model.json + weights.bin + metadata.json), made once per process. */
let modelFolder: Promise<string> | undefined;
function savedModelFolder(): Promise<string> {
  modelFolder ??= (async () => {
    await initEngine({ backend: 'cpu' });
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ name: 'conv', inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: 'relu' }));
    m.add(tfl.layers.maxPooling2d({ name: 'pool', poolSize: 2 }));
    m.add(tfl.layers.flatten({ name: 'flatten' }));
    m.add(tfl.layers.dropout({ name: 'drop', rate: 0.5 }));
    m.add(tfl.layers.dense({ name: 'out', units: 3, activation: 'softmax' }));
    const dir = join((scratch ??= scratchDir('fuzz')), 'model-seed');
    await saveModel(m, dir, METADATA);
    m.dispose();
    return dir;
  })();
  return modelFolder;
}
/** A model folder whose `name` file holds `bytes` and whose other files are the seed's. */
async function modelWith(name: string, bytes: Uint8Array): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const seed = await savedModelFolder();
  const dir = join(scratch as string, `model-${name}`);
  mkdirSync(dir, { recursive: true });
  for (const f of ['model.json', 'weights.bin', 'metadata.json']) writeFileSync(join(dir, f), f === name ? bytes : readFileSync(join(seed, f)));
  return dir;
}

/** Every loader of untrusted bytes, one row each. */
export const FORMATS: readonly FuzzFormat[] = [
  { name: 'IDX', seeds: idxSeeds, load: (b) => parseIdx(b, 'fuzz.idx'), fields: idxFields },
  {
    name: 'IDX (gzip)',
    seeds: () => idxSeeds().map((s) => gzipSync(s)),
    load: (b) => readIdxFile(file('fuzz-idx.gz', b)),
    fields: gzipFields,
    payload: gzipPayload,
  },
  {
    name: 'gzip',
    seeds: () => [gzipSync(Buffer.from('some text\n'.repeat(50))), gzipSync(Uint8Array.from({ length: 3000 }, (_, i) => (i * i) % 256)), gzipSync(new Uint8Array(0))],
    load: (b) => readArchiveBytes(file('fuzz.gz', b)),
    fields: gzipFields,
  },
  { name: 'tar', seeds: tarSeeds, load: (b) => [...readTar(b, 'fuzz.tar')], text: true, repair: repairTar },
  {
    name: 'tar.gz',
    seeds: () => tarSeeds().map((s) => gzipSync(s)),
    load: (b) => [...walkTree(file('fuzz.tar.gz', b))],
    payload: { unwrap: gzipPayload.unwrap, wrap: (b) => gzipSync(repairTar(b)) },
    fields: gzipFields,
  },
  { name: 'npy', seeds: npySeeds, load: (b) => parseNpy(b, 'fuzz.npy'), fields: npyFields, text: true },
  { name: 'npz', seeds: npzSeeds, load: (b) => readNpz(file('fuzz.npz', b)), fields: zipFields, text: true },
  { name: 'svmlight', seeds: svmlightSeeds, load: (b) => parseSvmlight(Buffer.from(b).toString('utf8'), 'fuzz.svm'), text: true },
  { name: 'PNG', seeds: pngSeeds, load: (b) => decodePng(Buffer.from(b), 'fuzz.png'), fields: pngFields, repair: repairPng },
  { name: 'JPEG', seeds: jpegSeeds, load: (b) => decodeJpeg(Buffer.from(b), 'fuzz.jpg'), fields: jpegFields },
  { name: 'PPM/PGM', seeds: netpbmSeeds, load: (b) => decodeNetpbm(b, 'fuzz.ppm'), text: true },
  {
    name: 'model.json + manifest',
    seeds: async () => {
      const { readFileSync } = await import('node:fs');
      return [readFileSync(join(await savedModelFolder(), 'model.json'))];
    },
    load: async (b) => (await loadModel(await modelWith('model.json', b))).model,
    release: (m) => (m as tfl.LayersModel).dispose(),
    text: true,
  },
  {
    // A user's model: the committed PyTorch exports (small graphs with BatchNorm, depthwise Conv,
    // normalisation constants, Softmax). Protobuf sizes are varints, so the mutations' byte flips
    // and splices reach them without fixed header fields.
    name: 'ONNX model',
    seeds: async () => {
      const { readFileSync } = await import('node:fs');
      const { TORCH_FIXTURES_DIR } = await import('../graph/torch-fixtures.js');
      return ['mobile_block', 'normalized_inside', 'softmax_out'].map((n) => readFileSync(join(TORCH_FIXTURES_DIR, `${n}.onnx`)));
    },
    load: async (b) => {
      const { openOnnxModel } = await import('../../src/nn/onnx-model.js');
      return openOnnxModel(file('onnx/net.onnx', b)).graph;
    },
  },
  {
    name: 'metadata.json',
    seeds: async () => {
      const { readFileSync } = await import('node:fs');
      return [readFileSync(join(await savedModelFolder(), 'metadata.json'))];
    },
    load: async (b) => readMetadata(await modelWith('metadata.json', b)),
    text: true,
  },
];
