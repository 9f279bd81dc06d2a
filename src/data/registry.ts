/**
 * Named binary (±1) datasets of the certified-defense half. Each entry loads from an optional
 * folder; `mnist17` falls back to the embedded MNIST, `imdb` and `enron` to the shared data
 * folder; `dogfish` needs its .npz. The text and npz loaders are imported on first use (the Enron
 * lemmatizer's lexicon alone takes 0.1 s to load).
 */
import { NotFoundError, UnknownNameError } from '../errors.js';
import type { BinaryDataset } from './binary.js';
import { loadMnist17 } from './mnist17.js';

export interface BinaryDatasetEntry {
  /** One line for help texts. */
  readonly description: string;
  /** Loads the dataset; `dataDir` is the dataset's folder (or file) when given. */
  load(dataDir: string | undefined, seed: number): Promise<BinaryDataset> | BinaryDataset;
}

export const BINARY_DATASETS: Record<string, BinaryDatasetEntry> = {
  mnist17: {
    description: 'MNIST digits 1 (+1) and 7 (-1), pixels/255; embedded, or --data-dir with the IDX files',
    load: (dataDir) => loadMnist17(dataDir),
  },
  imdb: {
    description: 'IMDB reviews, positive (+1) vs negative; word counts over imdb.vocab (d = 89 527); shared archive, or --data-dir with aclImdb or its .tar.gz',
    load: async (dataDir) => (await import('./imdb.js')).loadImdb(dataDir),
  },
  enron: {
    description: 'Enron-Spam enron1, spam (+1) vs ham; lemma counts over the release vocabulary; seeded 80/20 split; shared archive, or --data-dir with enron1 or its .tar.gz',
    load: async (dataDir, seed) => (await import('./enron.js')).loadEnron(dataDir, { seed }),
  },
  dogfish: {
    description: 'Dogfish Inception-v3 features (not shipped): --data-dir with an .npz holding X_train, Y_train, X_test, Y_test (labels 0/1 or ±1)',
    load: async (dataDir) => {
      if (dataDir === undefined) {
        throw new NotFoundError('dogfish.npz', 'Dogfish .npz file', 'Dogfish is not shipped; pass --data-dir with an .npz holding X_train, Y_train, X_test and Y_test');
      }
      return (await import('./npy.js')).loadNpzBinaryDataset(dataDir, { name: 'dogfish', features: 'Inception-v3 features' });
    },
  },
};

export function binaryDatasetNames(): string[] {
  return Object.keys(BINARY_DATASETS);
}

export async function loadBinaryDataset(name: string, dataDir: string | undefined, seed: number): Promise<BinaryDataset> {
  const entry = BINARY_DATASETS[name];
  if (!entry) throw new UnknownNameError('dataset', name, binaryDatasetNames());
  return entry.load(dataDir, seed);
}
