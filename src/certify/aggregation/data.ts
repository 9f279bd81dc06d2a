/**
 * The data an aggregation certificate runs on, one shape for both kinds of learner: a binary
 * feature dataset (the SVM; class 0 = the −1 label, class 1 = +1) or an image dataset (the nets).
 * Loaded by name in the main thread (to partition) and again in each worker (to train), so that
 * no training set crosses a thread boundary.
 */
import type { BinaryDataset } from '../../data/binary.js';
import type { ImageDataset, ImageSet } from '../../data/images.js';
import type { Features } from '../../data/matrix.js';
import { OptionError } from '../../errors.js';
import type { SampleSource } from './partition.js';
import type { AggregationLearnerKind, PartitionHash } from './recipe.js';

export type AggregationData =
  | { readonly kind: 'features'; readonly dataset: BinaryDataset }
  | { readonly kind: 'images'; readonly dataset: ImageDataset };

/** What is needed to load the data again (in a worker). */
export interface DataRef {
  readonly learner: AggregationLearnerKind;
  readonly dataset: string;
  readonly dataDir?: string;
  /** The dataset's own seed (Enron's split, GTSRB's shuffle). */
  readonly seed: number;
}

export async function loadAggregationData(ref: DataRef): Promise<AggregationData> {
  if (ref.learner === 'svm') {
    const { loadBinaryDataset, binaryDatasetNames } = await import('../../data/registry.js');
    if (!binaryDatasetNames().includes(ref.dataset)) {
      throw new OptionError('dataset', `a binary feature dataset for the SVM learner (${binaryDatasetNames().join(', ')})`, ref.dataset);
    }
    return { kind: 'features', dataset: await loadBinaryDataset(ref.dataset, ref.dataDir, ref.seed) };
  }
  const { loadImageDataset, imageDatasetNames } = await import('../../data/image-registry.js');
  const { binaryDatasetNames } = await import('../../data/registry.js');
  if (binaryDatasetNames().includes(ref.dataset) && !imageDatasetNames().includes(ref.dataset)) {
    throw new OptionError('dataset', `an image dataset for the ${ref.learner === 'onnx' ? 'ONNX architecture' : `'${ref.learner}' network`} (${imageDatasetNames().join(', ')}, or an image folder)`, ref.dataset);
  }
  return { kind: 'images', dataset: loadImageDataset(ref.dataset, ref.dataDir, ref.seed) };
}

export function numClasses(data: AggregationData): number {
  return data.kind === 'features' ? 2 : data.dataset.numClasses;
}

export function trainCount(data: AggregationData): number {
  return data.kind === 'features' ? data.dataset.train.X.rows : data.dataset.train.count;
}

/** The test set's class indices. */
export function testLabels(data: AggregationData): Int32Array {
  if (data.kind === 'images') return data.dataset.test.labels;
  return Int32Array.from(data.dataset.test.y, (y) => (y > 0 ? 1 : 0));
}

/** The hash both releases use on images (the pixel sum) where the content is pixels; SHA-256 of the bytes otherwise. */
export function defaultHash(data: AggregationData): PartitionHash {
  if (data.kind === 'images') return 'pixel-sum';
  return /pixel/.test(data.dataset.features) ? 'pixel-sum' : 'sha256';
}

/** The training set as the partitioner sees it. */
export function sampleSource(data: AggregationData): SampleSource {
  if (data.kind === 'images') return imageSource(data.dataset.train);
  const { X, y } = data.dataset.train;
  return { count: X.rows, bytes: (i) => rowBytes(X, i), label: (i) => (y[i] > 0 ? 1 : 0), pixelSum: (i) => rowPixelSum(X, i) };
}

function imageSource(set: ImageSet): SampleSource {
  const size = set.height * set.width * set.channels;
  return { count: set.count, bytes: (i) => set.images.subarray(i * size, (i + 1) * size), label: (i) => set.labels[i] };
}

/** A feature row's content: its values as float64 (dense), or its (index, value) pairs (sparse). */
function rowBytes(X: Features, i: number): Uint8Array {
  if (X.kind === 'dense') return new Uint8Array(Float64Array.from(X.data.subarray(i * X.cols, (i + 1) * X.cols)).buffer);
  const s = X.indptr[i];
  const e = X.indptr[i + 1];
  const out = new DataView(new ArrayBuffer(12 * (e - s)));
  for (let k = s; k < e; k++) {
    out.setInt32(12 * (k - s), X.indices[k], true);
    out.setFloat64(12 * (k - s) + 4, X.values[k], true);
  }
  return new Uint8Array(out.buffer);
}

/** Σ round(255·x) over a row: the pixel sum of features that are pixels / 255. */
function rowPixelSum(X: Features, i: number): number {
  let s = 0;
  if (X.kind === 'dense') for (let j = i * X.cols; j < (i + 1) * X.cols; j++) s += Math.round(255 * X.data[j]);
  else for (let k = X.indptr[i]; k < X.indptr[i + 1]; k++) s += Math.round(255 * X.values[k]);
  return s;
}
