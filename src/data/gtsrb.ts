/**
 * GTSRB (German Traffic Sign Recognition Benchmark, 43 classes) as 32x32 RGB images, from the
 * shared files `gtsrb32_{train,test}.bin[.gz]`. Each file is a run of fixed records in the CIFAR-10
 * binary layout: one label byte (0..42), then 1024 R, 1024 G and 1024 B bytes (row-major planes).
 * The planes are converted to NHWC here. Train records are grouped by class on disk, so the
 * training set is shuffled with the seed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, NotFoundError } from '../errors.js';
import { gunzipFile, isGzip } from './gzip.js';
import { DEFAULT_SEED, Random } from '../random.js';
import { imageSet, subset, type ImageDataset, type ImageSet } from './images.js';

/** Number of classes of GTSRB. */
export const GTSRB_CLASSES = 43;
/** Side of the shared GTSRB images (the input size Neural Cleanse used). */
export const GTSRB_SIDE = 32;

/** Geometry of a CIFAR-10-layout binary file. */
export interface CifarLayout {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
}

const GTSRB_LAYOUT: CifarLayout = { height: GTSRB_SIDE, width: GTSRB_SIDE, channels: 3, numClasses: GTSRB_CLASSES };

const FILES = {
  train: 'gtsrb32_train.bin',
  test: 'gtsrb32_test.bin',
} as const;

/**
 * Parses CIFAR-layout records (label byte, then one plane per channel) into an NHWC image set.
 * `name` is used in error messages.
 */
export function parseCifarRecords(buf: Uint8Array, name: string, layout: CifarLayout): ImageSet {
  const { height, width, channels, numClasses } = layout;
  const plane = height * width;
  const recordBytes = 1 + plane * channels;
  if (buf.length === 0) throw new DataFormatError(name, 'the file holds no records (0 bytes).');
  const count = Math.floor(buf.length / recordBytes);
  const rest = buf.length - count * recordBytes;
  if (rest !== 0) {
    throw new DataFormatError(
      name,
      `truncated: record ${count} (0-based) has only ${rest} of its ${recordBytes} bytes ` +
        `(1 label byte + ${channels}x${height}x${width} pixels); the file has ${buf.length} bytes, ` +
        `${count} complete records.`,
      { position: count, expected: `${recordBytes} bytes per record`, received: `${rest} bytes` },
    );
  }
  const labels = new Int32Array(count);
  const images = new Uint8Array(count * plane * channels);
  for (let r = 0; r < count; r++) {
    const base = r * recordBytes;
    const label = buf[base];
    if (label >= numClasses) {
      throw new DataFormatError(name, `record ${r} has label ${label}; labels must be 0..${numClasses - 1}.`, {
        position: r,
        expected: `0..${numClasses - 1}`,
        received: label,
      });
    }
    labels[r] = label;
    const src = base + 1;
    const dst = r * plane * channels;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) images[dst + p * channels + c] = buf[src + c * plane + p];
    }
  }
  return imageSet(images, labels, height, width, channels);
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes. */
export function readMaybeGzip(path: string): Buffer {
  const buf = readFileSync(path);
  if (isGzip(buf)) return gunzipFile(buf, path);
  return buf;
}

function findFile(dir: string, base: string): string {
  for (const candidate of [join(dir, `${base}.gz`), join(dir, base)]) if (existsSync(candidate)) return candidate;
  throw new NotFoundError(join(dir, `${base}.gz`), 'GTSRB file', `Expected ${base}.gz or ${base} in ${dir}`);
}

/** Loads GTSRB from `dir` (the folder holding the two files); the training set is shuffled with `seed`. */
export function loadGtsrb(dir: string, seed: number = DEFAULT_SEED): ImageDataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError(dir, 'GTSRB directory', `Pass --data-dir with a folder holding ${FILES.train}.gz and ${FILES.test}.gz`);
  }
  const trainPath = findFile(dir, FILES.train);
  const testPath = findFile(dir, FILES.test);
  const trainGrouped = parseCifarRecords(readMaybeGzip(trainPath), trainPath, GTSRB_LAYOUT);
  const test = parseCifarRecords(readMaybeGzip(testPath), testPath, GTSRB_LAYOUT);
  const train = subset(trainGrouped, new Random(seed).permutation(trainGrouped.count));
  return { name: 'gtsrb', source: dir, numClasses: GTSRB_CLASSES, train, test };
}
