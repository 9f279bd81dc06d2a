/**
 * The matrix models' attack families and targets, read from each model's records (metadata.json):
 * the rows of the detection matrix and of the mitigation matrix.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { METADATA_JSON, readMetadata } from '../src/nn/model-io.js';
import { attacksOf, isAllToAll } from '../src/nn/trigger.js';

/** The infected families in the order the tables show them (clean models are the last row). */
export const FAMILIES = ['badnets', 'blend', 'sig', 'wanet', 'all-to-all', 'two-trigger'];

/** The labels a model's backdoors send to (none for all-to-all and clean models). */
export function targetsOf(dir: string): number[] {
  return attacksOf(readMetadata(dir)).flatMap((a) => (isAllToAll(a) ? [] : [a.target]));
}

/** The attack family of a model: its trigger kind; all-to-all and several backdoors from its backdoors list; no trigger = clean. */
export function familyOf(dir: string): string {
  const attacks = attacksOf(readMetadata(dir));
  if (attacks.length === 0) return 'clean';
  if (attacks.length > 1) return 'two-trigger';
  if (isAllToAll(attacks[0])) return 'all-to-all';
  const kind = attacks[0].trigger.kind;
  return kind === 'square' || kind === 'pattern' ? 'badnets' : kind;
}

/** The model folders (holding metadata.json) under `root`, sorted by name. */
export function matrixModels(root: string): string[] {
  return readdirSync(root)
    .filter((n) => existsSync(join(root, n, METADATA_JSON)))
    .sort();
}
