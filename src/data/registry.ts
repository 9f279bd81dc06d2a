/**
 * Named binary (±1) datasets of the certified-defense half. Each entry loads from an optional
 * folder; `mnist17` falls back to the embedded MNIST.
 */
import { UnknownNameError } from '../errors.js';
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
};

export function binaryDatasetNames(): string[] {
  return Object.keys(BINARY_DATASETS);
}

export async function loadBinaryDataset(name: string, dataDir: string | undefined, seed: number): Promise<BinaryDataset> {
  const entry = BINARY_DATASETS[name];
  if (!entry) throw new UnknownNameError('dataset', name, binaryDatasetNames());
  return entry.load(dataDir, seed);
}
