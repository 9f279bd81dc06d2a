/**
 * The run folder of an aggregation certificate, which makes it resumable: the recipe it was started
 * with, and one file per finished base classifier (its model and its label for every test point),
 * written atomically when the classifier is done. A rerun with the same recipe trains only the
 * missing ones; a rerun with another recipe is refused (or, with `force`, starts over).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DataFormatError, OptionError } from '../../errors.js';
import { isObject, readJsonFile, writeFileAtomic, writeJsonAtomic } from '../../run-files.js';

export const RECIPE_FILE = 'aggregation-recipe.json';
export const PARTITIONS_FOLDER = 'partitions';
/** The result file `certify --method dpa|fa --out DIR` writes beside them. */
export const AGGREGATION_JSON = 'aggregation.json';

/** One finished base classifier, as saved. */
export interface PartitionRecord {
  readonly index: number;
  readonly seed: number;
  /** SHA-256 of the member indices: the saved model belongs to exactly this subset. */
  readonly members: string;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  /** The classifier's label for every test point. */
  readonly predictions: Uint8Array;
  /** The model: an SVM's (w, b) inline, or a net's weights in a binary file beside the record. */
  readonly model: Record<string, unknown>;
}

export function membersDigest(members: Int32Array): string {
  return createHash('sha256').update(new Uint8Array(members.buffer, members.byteOffset, members.byteLength)).digest('hex');
}

const recordFile = (dir: string, index: number) => join(dir, PARTITIONS_FOLDER, `${String(index).padStart(5, '0')}.json`);
export const weightsFile = (dir: string, index: number) => join(dir, PARTITIONS_FOLDER, `${String(index).padStart(5, '0')}.weights.bin`);

/**
 * Opens `dir` for a run with `recipe`: a new folder gets the recipe; a folder with the same recipe
 * is resumed; another recipe is refused unless `force`, which removes the old classifiers.
 */
export function openStore(dir: string, recipe: Record<string, unknown>, force: boolean): void {
  const file = join(dir, RECIPE_FILE);
  if (existsSync(file)) {
    const old = readJsonFile(file);
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(old)), JSON.parse(JSON.stringify(recipe)))) {
      if (!force) {
        const changed = Object.keys(recipe).filter((k) => !isObject(old) || !isDeepStrictEqual(old[k], JSON.parse(JSON.stringify(recipe[k] ?? null))));
        throw new OptionError('out', `a folder of the same recipe to resume, or --force to start over (changed: ${changed.join(', ')})`, dir);
      }
      rmSync(join(dir, PARTITIONS_FOLDER), { recursive: true, force: true });
    }
  }
  mkdirSync(join(dir, PARTITIONS_FOLDER), { recursive: true });
  writeJsonAtomic(file, recipe);
}

/** A net's tensors by name, as one float32 array and the list of (name, length) that splits it again. */
export interface FlatWeights {
  readonly flat: Float32Array;
  readonly tensors: { readonly name: string; readonly length: number }[];
}

export function flattenWeights(weights: ReadonlyMap<string, Float32Array>): FlatWeights {
  const tensors = [...weights].map(([name, w]) => ({ name, length: w.length }));
  const flat = new Float32Array(tensors.reduce((s, t) => s + t.length, 0));
  let at = 0;
  for (const w of weights.values()) {
    flat.set(w, at);
    at += w.length;
  }
  return { flat, tensors };
}

/** {@link flattenWeights} undone; `where` names the source when the lengths do not add up. */
export function splitWeights(flat: Float32Array, tensors: FlatWeights['tensors'], where: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let at = 0;
  for (const t of tensors) {
    out.set(t.name, flat.slice(at, at + t.length));
    at += t.length;
  }
  if (at !== flat.length) throw new DataFormatError(where, `${flat.length} float32 values where the record lists ${at}`);
  return out;
}

/** Saves a finished classifier: the weights first, the record last (its presence means done). */
export function savePartition(dir: string, record: PartitionRecord, weights?: ReadonlyMap<string, Float32Array>): void {
  let model = record.model;
  if (weights) {
    const { flat, tensors } = flattenWeights(weights);
    writeFileAtomic(weightsFile(dir, record.index), new Uint8Array(flat.buffer));
    model = { ...model, weightsFile: `${String(record.index).padStart(5, '0')}.weights.bin`, tensors };
  }
  writeJsonAtomic(recordFile(dir, record.index), { ...record, predictions: Buffer.from(record.predictions).toString('base64'), model });
}

/** A finished classifier's test labels, when its record is there and belongs to this subset. */
export function loadPartitionPredictions(dir: string, index: number, members: string, testCount: number): { predictions: Uint8Array; trainSeconds: number; evalSeconds: number } | undefined {
  const file = recordFile(dir, index);
  if (!existsSync(file)) return undefined;
  const r = readJsonFile(file);
  if (!isObject(r) || r.members !== members) return undefined;
  const predictions = new Uint8Array(Buffer.from(String(r.predictions), 'base64'));
  if (predictions.length !== testCount) throw new DataFormatError(file, `${predictions.length} test predictions where the test set has ${testCount}`);
  return { predictions, trainSeconds: Number(r.trainSeconds), evalSeconds: Number(r.evalSeconds) };
}

/** A saved net's weights back by name (for reuse of a partition's model). */
export function loadPartitionWeights(dir: string, index: number): Map<string, Float32Array> {
  const r = readJsonFile(recordFile(dir, index)) as { model: { tensors: { name: string; length: number }[] } };
  const bytes = readFileSync(weightsFile(dir, index));
  const flat = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return splitWeights(flat, r.model.tensors, weightsFile(dir, index));
}
