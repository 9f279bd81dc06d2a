/**
 * `poisonguard/data`: the datasets — binary feature sets for certify (MNIST-1-7, IMDB, Enron,
 * svmlight, npy/npz) and image sets for the neural half (MNIST, GTSRB, image folders) — as
 * dense or CSR matrices and raw uint8 images. Loads no TensorFlow.js.
 */
export * from '../errors.js';
export { dense, toCsr, toDense, nnz, selectRows } from './matrix.js';
export type { DenseMatrix, CsrMatrix, Features } from './matrix.js';
export type { BinaryDataset, LabelledFeatures } from './binary.js';
export type { SparseVector, PointVector } from './vector.js';
export { loadMnist, embeddedMnistDir } from './mnist.js';
export { loadMnist17 } from './mnist17.js';
export { readIdxFile, parseIdx } from './idx.js';
export { BINARY_DATASETS, loadBinaryDataset, binaryDatasetNames } from './registry.js';
export { loadImdb, tokenizeImdbReview } from './imdb.js';
export type { ImdbOptions, ImdbDataset } from './imdb.js';
export { loadEnron } from './enron.js';
export type { EnronOptions, EnronDataset } from './enron.js';
export { readSvmlightFile, parseSvmlight } from './svmlight.js';
export type { SvmlightOptions, SvmlightData } from './svmlight.js';
export { readNpy, readNpz, loadNpzBinaryDataset } from './npy.js';
export { loadGtsrb } from './gtsrb.js';
export { loadImageFolder } from './image-folder.js';
export type { ImageFolderOptions, ImageFolderDataset } from './image-folder.js';
export { loadImageDataset, loadModelDataset, imageDatasetNames, IMAGE_DATASETS } from './image-registry.js';
export { imageSet, subset } from './images.js';
export type { ImageDataset, ImageSet } from './images.js';
