/**
 * Named image datasets of the neural half: 'mnist' (embedded, or --data-dir with the IDX files),
 * 'gtsrb' (--data-dir, default the shared data folder), or the path of an image folder.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, OptionError, UnknownNameError } from '../errors.js';
import { DEFAULT_SEED } from '../random.js';
import { loadGtsrb } from './gtsrb.js';
import { loadImageFolder } from './image-folder.js';
import type { ImageDataset } from './images.js';
import { loadMnist } from './mnist.js';
import { sharedDataDir } from './paths.js';

export interface ImageDatasetEntry {
  /** One line for help texts. */
  readonly description: string;
  /** Loads the dataset; `dataDir` is its folder when given. */
  load(dataDir: string | undefined, seed: number): ImageDataset;
}

export const IMAGE_DATASETS: Readonly<Record<string, ImageDatasetEntry>> = {
  mnist: {
    description: 'MNIST 28x28 grey, 10 classes; embedded, or --data-dir with the four IDX files',
    load: (dataDir) => loadMnist(dataDir),
  },
  gtsrb: {
    description: 'GTSRB 32x32 RGB, 43 classes; --data-dir with gtsrb32_{train,test}.bin.gz (default: the shared data folder)',
    load: (dataDir, seed) => {
      if (dataDir !== undefined) return loadGtsrb(dataDir, seed);
      const shared = sharedDataDir();
      if (!shared) {
        throw new NotFoundError('gtsrb', 'GTSRB data', 'Pass --data-dir with gtsrb32_train.bin.gz and gtsrb32_test.bin.gz, or set POISONGUARD_DATA');
      }
      return loadGtsrb(join(shared, 'gtsrb'), seed);
    },
  },
};

export function imageDatasetNames(): string[] {
  return Object.keys(IMAGE_DATASETS);
}

/**
 * Loads a named image dataset, or the image folder at `nameOrPath`. For a folder, `dataDir` must be
 * absent (the path is the data).
 */
export function loadImageDataset(nameOrPath: string, dataDir?: string, seed: number = DEFAULT_SEED): ImageDataset {
  const entry = Object.hasOwn(IMAGE_DATASETS, nameOrPath) ? IMAGE_DATASETS[nameOrPath] : undefined;
  if (entry) return entry.load(dataDir, seed);
  if (existsSync(nameOrPath) && statSync(nameOrPath).isDirectory()) {
    if (dataDir !== undefined) {
      throw new OptionError('dataDir', `absent when the dataset is a folder (${nameOrPath})`, dataDir);
    }
    return loadImageFolder(nameOrPath, { seed });
  }
  throw new UnknownNameError('image dataset', nameOrPath, [...imageDatasetNames(), 'or the path of an image folder']);
}

/**
 * The dataset a model was trained on, as its metadata.json names it: a registered name, with
 * `dataDir` the folder of its files; or an image folder's path, with `dataDir` where that folder is
 * now (a model trained on a folder that has since moved). Scan, mitigation and evaluation read a
 * model's data this one way.
 */
export function loadModelDataset(recorded: string, dataDir: string | undefined, seed: number = DEFAULT_SEED): ImageDataset {
  return Object.hasOwn(IMAGE_DATASETS, recorded) ? loadImageDataset(recorded, dataDir, seed) : loadImageDataset(dataDir ?? recorded, undefined, seed);
}
