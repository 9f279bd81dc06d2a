/**
 * An image dataset from a folder with one sub-folder per class:
 *
 *   DIR/train/<class>/*.png|jpg|ppm|pgm  and  DIR/test/<class>/…   (an explicit split), or
 *   DIR/<class>/…                                                   (split here, seeded).
 *
 * Classes are numbered in sorted order of their folder names (numerically when every name is an
 * integer, as GTSRB's 00000…00042). Every image must have the same size; nothing is resized. The
 * set is greyscale (1 channel) when every image is grey, RGB otherwise; alpha is dropped. Files
 * with other extensions (GTSRB's per-class CSV files, for instance) are not images and are skipped.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataFormatError, NotFoundError } from '../errors.js';
import { checkRange } from '../options.js';
import { DEFAULT_SEED, Random } from '../random.js';
import { decodeImageFile, isGrey, isImageFile, type DecodedImage } from './image-files.js';
import { imageSet, subset, type ImageDataset, type ImageSet } from './images.js';

/** Share of the images held out for testing when the folder has no train/test split (a common hold-out; no paper value). */
export const DEFAULT_TEST_FRACTION = 0.2;

export interface ImageFolderOptions {
  /** Seed of the training-set shuffle and of the train/test split. */
  readonly seed?: number;
  /** Share held out for testing when DIR has no train/ and test/ sub-folders, in (0, 1). */
  readonly testFraction?: number;
}

export interface ImageFolderDataset extends ImageDataset {
  /** The folder name of each class, by class index. */
  readonly classNames: readonly string[];
  /** Files skipped because their extension is not an image one. */
  readonly skippedFiles: number;
}

interface FileEntry {
  readonly path: string;
  readonly label: number;
}

/** Loads an image-folder dataset; see the module comment for the layout. */
export function loadImageFolder(dir: string, options: ImageFolderOptions = {}): ImageFolderDataset {
  const seed = options.seed ?? DEFAULT_SEED;
  const testFraction = checkRange('testFraction', options.testFraction ?? DEFAULT_TEST_FRACTION, 0, 1);
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new NotFoundError(root, 'image folder');
  const rng = new Random(seed);
  const split = existsSync(join(root, 'train')) && existsSync(join(root, 'test'));

  let trainFiles: FileEntry[];
  let testFiles: FileEntry[];
  let classNames: string[];
  let skipped = 0;
  if (split) {
    classNames = classFolders(join(root, 'train'));
    const train = listFiles(join(root, 'train'), classNames, true);
    const testClasses = classFolders(join(root, 'test'));
    for (const c of testClasses) {
      if (!classNames.includes(c)) {
        throw new DataFormatError(join(root, 'test', c), `class folder '${c}' has no counterpart in ${join(root, 'train')}.`);
      }
    }
    const test = listFiles(join(root, 'test'), classNames, false);
    trainFiles = train.files;
    testFiles = test.files;
    skipped = train.skipped + test.skipped;
  } else {
    if (testFraction === 0) throw new DataFormatError(root, 'no train/ and test/ sub-folders, and testFraction is 0: there would be no test set.');
    classNames = classFolders(root);
    const all = listFiles(root, classNames, true);
    skipped = all.skipped;
    const order = rng.permutation(all.files.length);
    const nTest = Math.round(all.files.length * testFraction);
    if (nTest === 0 || nTest === all.files.length) {
      throw new DataFormatError(root, `${all.files.length} images cannot be split with testFraction ${testFraction}.`);
    }
    testFiles = Array.from(order.subarray(0, nTest), (i) => all.files[i]).sort((a, b) => a.label - b.label || cmp(a.path, b.path));
    trainFiles = Array.from(order.subarray(nTest), (i) => all.files[i]).sort((a, b) => a.label - b.label || cmp(a.path, b.path));
  }

  const decodedTrain = trainFiles.map((f) => decodeImageFile(f.path));
  const decodedTest = testFiles.map((f) => decodeImageFile(f.path));
  const first = { file: trainFiles[0].path, img: decodedTrain[0] };
  const allFiles = [...trainFiles, ...testFiles];
  const allImages = [...decodedTrain, ...decodedTest];
  allImages.forEach((img, i) => {
    if (img.width !== first.img.width || img.height !== first.img.height) {
      throw new DataFormatError(
        allFiles[i].path,
        `is ${img.width}x${img.height}, but ${first.file} is ${first.img.width}x${first.img.height}; ` +
          'every image of a folder dataset must have the same size (resize them first).',
        { expected: `${first.img.width}x${first.img.height}`, received: `${img.width}x${img.height}` },
      );
    }
  });
  const channels = allImages.every(isGrey) ? 1 : 3;
  const grouped = toSet(decodedTrain, trainFiles, channels);
  return {
    name: root,
    source: root,
    numClasses: classNames.length,
    classNames,
    skippedFiles: skipped,
    train: subset(grouped, rng.permutation(grouped.count)),
    test: toSet(decodedTest, testFiles, channels),
  };
}

function toSet(images: readonly DecodedImage[], files: readonly FileEntry[], channels: number): ImageSet {
  const { width, height } = images[0] ?? { width: 0, height: 0 };
  const size = width * height * channels;
  const data = new Uint8Array(images.length * size);
  images.forEach((img, r) => {
    if (channels === 3) data.set(img.rgb, r * size);
    else for (let p = 0; p < width * height; p++) data[r * size + p] = img.rgb[3 * p];
  });
  return imageSet(data, Int32Array.from(files, (f) => f.label), height, width, channels);
}

/** The class sub-folders of `dir`, sorted (numerically when all are integers). */
function classFolders(dir: string): string[] {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name);
  if (names.length < 2) {
    throw new DataFormatError(dir, `an image folder needs one sub-folder per class (at least 2), found ${names.length}.`);
  }
  const numeric = names.every((n) => /^\d+$/.test(n));
  return numeric ? names.sort((a, b) => Number(a) - Number(b) || cmp(a, b)) : names.sort(cmp);
}

function listFiles(dir: string, classNames: readonly string[], requireEach: boolean): { files: FileEntry[]; skipped: number } {
  const files: FileEntry[] = [];
  let skipped = 0;
  classNames.forEach((name, label) => {
    const classDir = join(dir, name);
    if (!existsSync(classDir)) return;
    const entries = readdirSync(classDir, { withFileTypes: true }).filter((d) => d.isFile() && !d.name.startsWith('.'));
    const images = entries.filter((d) => isImageFile(d.name)).map((d) => d.name).sort(cmp);
    skipped += entries.length - images.length;
    if (requireEach && images.length === 0) throw new DataFormatError(classDir, `class folder '${name}' holds no images.`);
    for (const f of images) files.push({ path: join(classDir, f), label });
  });
  if (files.length === 0) throw new DataFormatError(dir, 'holds no images.');
  return { files, skipped };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
