/**
 * STRIP's run-time input filter as a file, beside the neuron-activation filter of
 * mitigation/filter.ts: `scan --detectors strip --out DIR` writes DIR/strip-filter.json (the
 * boundary, how it was set, the model's SHA-256, and the overlay pool as indices into the test split
 * of the dataset named), and `poisonguard filter --filter DIR/strip-filter.json` applies it to image
 * files: an input whose entropy under superimposition is below the boundary is flagged.
 */
import { join } from 'node:path';
import { imageSet, subset } from '../../data/images.js';
import { DataFormatError, PoisonguardError } from '../../errors.js';
import { isObject, readJsonFile, writeJsonAtomic } from '../../run-files.js';
import type { DetectorResult } from './detector.js';
import { applyStripFilter, type StripFilter } from './strip.js';

export const STRIP_FILTER_JSON = 'strip-filter.json';

export interface StripFilterFile extends StripFilter {
  readonly model: { readonly path: string; readonly sha256: string };
  readonly inputShape: readonly [number, number, number];
  /** The overlay pool: the test split of this dataset (drawn with this seed), at these indices. */
  readonly pool: { readonly dataset: string; readonly seed: number; readonly indices: readonly number[] };
}

/** Writes the filter of a STRIP result into `out`; returns the result without the pool's indices (the file has them). */
export function writeStripFilter(out: string, result: DetectorResult, model: StripFilterFile['model'], inputShape: StripFilterFile['inputShape'], dataset: string, seed: number): DetectorResult {
  const d = result.details as { filter: StripFilter; poolIndices: number[] } & Record<string, unknown>;
  const file: StripFilterFile = { ...d.filter, model, inputShape, pool: { dataset, seed, indices: d.poolIndices } };
  writeJsonAtomic(join(out, STRIP_FILTER_JSON), file);
  const { poolIndices, ...rest } = d;
  return { ...result, details: { ...rest, poolImages: poolIndices.length, filterFile: STRIP_FILTER_JSON } };
}

export function isStripFilterFile(value: unknown): boolean {
  return isObject(value) && value.kind === 'strip-filter';
}

export function readStripFilter(path: string): StripFilterFile {
  const f = readJsonFile(path, undefined, 'write it again with `poisonguard scan --detectors strip --out DIR`');
  const ok =
    isObject(f) &&
    f.kind === 'strip-filter' &&
    typeof f.threshold === 'number' &&
    Number.isInteger(f.overlays) &&
    isObject(f.model) &&
    typeof (f.model as Record<string, unknown>).sha256 === 'string' &&
    isObject(f.pool) &&
    typeof (f.pool as Record<string, unknown>).dataset === 'string' &&
    Array.isArray((f.pool as Record<string, unknown>).indices) &&
    Array.isArray(f.inputShape);
  if (!ok) throw new DataFormatError(path, 'not a STRIP filter (kind, threshold, overlays, model, pool and inputShape are required).');
  return f as unknown as StripFilterFile;
}

/** Applies a saved STRIP filter to raw images (count × H × W × C) with the model it was made for. */
export async function applyStripFilterFile(modelPath: string, filter: StripFilterFile, images: Uint8Array, dataDir?: string): Promise<{ entropies: Float64Array; flagged: boolean[] }> {
  const { initEngine } = await import('../../nn/engine.js');
  await initEngine({ backend: 'auto' });
  const { resolveScanModel } = await import('../scan-model.js');
  const model = await resolveScanModel({ model: modelPath }, filter.pool.seed);
  if (model.sha256() !== filter.model.sha256) {
    throw new PoisonguardError('invalid-option', `the STRIP filter was made for another model (SHA-256 ${filter.model.sha256.slice(0, 12)}…, but ${model.path} is ${model.sha256().slice(0, 12)}…).`, { path: 'filter' });
  }
  const { loadModelDataset } = await import('../../data/image-registry.js');
  const test = loadModelDataset(filter.pool.dataset, dataDir, filter.pool.seed).test;
  for (const i of filter.pool.indices) if (!(Number.isInteger(i) && i >= 0 && i < test.count)) throw new DataFormatError('strip-filter.json', `pool index ${i} is not an image of ${filter.pool.dataset}'s test split (${test.count} images).`);
  const pool = subset(test, filter.pool.indices);
  const [H, W, C] = model.inputShape;
  const n = images.length / (H * W * C);
  const { openDetectorModel } = await import('./model.js');
  const dm = await openDetectorModel(model);
  try {
    const r = await applyStripFilter(dm, filter, imageSet(images, new Int32Array(n), H, W, C), pool);
    return { entropies: r.entropies, flagged: Array.from(r.rejected, (x) => x === 1) };
  } finally {
    await dm.dispose();
  }
}
