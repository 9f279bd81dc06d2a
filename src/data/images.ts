/** Labelled image sets in the raw pixel domain (uint8, NHWC). */
import { ShapeError } from '../errors.js';

export interface ImageSet {
  /** N * height * width * channels bytes, NHWC, raw pixel values 0..255. */
  readonly images: Uint8Array;
  /** N class indices. */
  readonly labels: Int32Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

export interface ImageDataset {
  /** Registry name ('mnist', 'gtsrb', or a folder). */
  readonly name: string;
  /** Where the files came from, for results. */
  readonly source: string;
  readonly numClasses: number;
  readonly train: ImageSet;
  readonly test: ImageSet;
}

export function imageSet(images: Uint8Array, labels: Int32Array, height: number, width: number, channels: number): ImageSet {
  const count = labels.length;
  if (images.length !== count * height * width * channels) {
    throw new ShapeError('image set', `${count}x${height}x${width}x${channels}`, `${images.length} bytes`);
  }
  return { images, labels, count, height, width, channels };
}

/** The images whose indices are listed, in that order. */
export function subset(set: ImageSet, idx: ArrayLike<number>): ImageSet {
  const size = set.height * set.width * set.channels;
  const images = new Uint8Array(idx.length * size);
  const labels = new Int32Array(idx.length);
  for (let r = 0; r < idx.length; r++) {
    images.set(set.images.subarray(idx[r] * size, (idx[r] + 1) * size), r * size);
    labels[r] = set.labels[idx[r]];
  }
  return imageSet(images, labels, set.height, set.width, set.channels);
}
