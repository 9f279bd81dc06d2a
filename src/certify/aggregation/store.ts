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

/** Saves a finished classifier: the weights first, the record last (its presence means done). */
export function savePartition(dir: string, record: PartitionRecord, weights?: ReadonlyMap<string, Float32Array>): void {
  let model = record.model;
  if (weights) {
    const names = [...weights.keys()];
    const total = names.reduce((s, k) => s + weights.get(k)!.length, 0);
    const flat = new Float32Array(total);
    let at = 0;
    for (const k of names) {
      flat.set(weights.get(k)!, at);
      at += weights.get(k)!.length;
    }
    writeFileAtomic(weightsFile(dir, record.index), new Uint8Array(flat.buffer));
    model = { ...model, weightsFile: `${String(record.index).padStart(5, '0')}.weights.bin`, tensors: names.map((name) => ({ name, length: weights.get(name)!.length })) };
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
  const out = new Map<string, Float32Array>();
  let at = 0;
  for (const t of r.model.tensors) {
    out.set(t.name, flat.slice(at, at + t.length));
    at += t.length;
  }
  if (at !== flat.length) throw new DataFormatError(weightsFile(dir, index), `${flat.length} float32 values where the record lists ${at}`);
  return out;
}
