/**
 * Scan checkpoints: the out folder records which model and recipe it belongs to (checkpoint.json);
 * each finished label is a JSON file, and a label in progress has a state file rewritten after
 * every chunk of steps. Re-running the same scan skips finished labels and resumes the others;
 * a folder from a different model or recipe is refused.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, PoisonguardError } from '../errors.js';
import { isObject, readJsonFile, reviveNumbers, writeJsonAtomic } from '../run-files.js';
import type { LabelResult } from './label-result.js';
import { pad } from './mask-images.js';
import type { LabelState } from './reverse.js';

export const CHECKPOINT_JSON = 'checkpoint.json';
export const CHECKPOINT_FORMAT = 'poisonguard-scan-checkpoint';

/** What identifies a scan: the model's bytes and everything that changes a label's result. */
export interface ScanIdentity {
  readonly modelSha256: string;
  readonly settings: Readonly<Record<string, unknown>>;
  /**
   * The scan's seeds (seed, seed+1, … with --repeat): scan.json holds one verdict over them, so
   * another seed may not replace it. Checked when the folder records them (folders of older
   * versions do not).
   */
  readonly seeds?: readonly number[];
}

/** Creates the folder's checkpoint.json, or checks that it matches; throws a clear error otherwise. */
export function claimOutFolder(out: string, identity: ScanIdentity, model: string): void {
  mkdirSync(out, { recursive: true });
  const file = join(out, CHECKPOINT_JSON);
  if (!existsSync(file)) {
    writeJsonAtomic(file, { format: CHECKPOINT_FORMAT, model, ...identity });
    return;
  }
  const read = readJsonFile(file, undefined, 'delete the folder to start the scan over');
  if (!isObject(read) || read.format !== CHECKPOINT_FORMAT) throw new DataFormatError(file, `not a scan checkpoint (format ${JSON.stringify(isObject(read) ? read.format : read)}).`);
  const old = read as { modelSha256?: unknown; settings?: Record<string, unknown>; model?: unknown; seeds?: unknown };
  const differences: string[] = [];
  if (old.modelSha256 !== identity.modelSha256) differences.push(`the model differs (checkpoint of ${String(old.model)}, ${String(old.modelSha256).slice(0, 12)}…; now ${model}, ${identity.modelSha256.slice(0, 12)}…)`);
  if (Array.isArray(old.seeds) && identity.seeds && JSON.stringify(old.seeds) !== JSON.stringify(identity.seeds)) {
    differences.push(`seeds: ${JSON.stringify(old.seeds)} then, ${JSON.stringify(identity.seeds)} now (each --out folder holds the scan of one --seed and --repeat)`);
  }
  const keys = new Set([...Object.keys(old.settings ?? {}), ...Object.keys(identity.settings)]);
  for (const k of [...keys].sort()) {
    const a = JSON.stringify(old.settings?.[k]);
    const b = JSON.stringify(identity.settings[k]);
    if (a !== b) differences.push(`${k}: ${a ?? 'absent'} then, ${b ?? 'absent'} now`);
  }
  if (differences.length > 0) {
    throw new PoisonguardError(
      'invalid-option',
      `${out} holds a scan of a different model or recipe, which cannot be resumed: ${differences.join('; ')}. ` +
        'Use another output folder, or delete this one to start over.',
      { path: out, expected: 'the same model and recipe as the checkpoint', received: differences },
    );
  }
}

export function runFolder(out: string, seed: number): string {
  const dir = join(out, `seed-${seed}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function labelResultFile(runDir: string, label: number): string {
  return join(runDir, `label-${pad(label)}.json`);
}

export function labelStateFile(runDir: string, label: number): string {
  return join(runDir, `label-${pad(label)}.state.json`);
}

export function readLabelResult(runDir: string, label: number): LabelResult | undefined {
  const file = labelResultFile(runDir, label);
  if (!existsSync(file)) return undefined;
  return readJsonFile(file, reviveNumbers, `delete it to rerun label ${label}`) as LabelResult;
}

export function writeLabelResult(runDir: string, r: LabelResult): void {
  writeJsonAtomic(labelResultFile(runDir, r.label), r);
  rmSync(labelStateFile(runDir, r.label), { force: true });
}


export function writeLabelState(runDir: string, s: LabelState): void {
  writeJsonAtomic(labelStateFile(runDir, s.label), s);
}

export function readLabelState(runDir: string, label: number): LabelState | undefined {
  const file = labelStateFile(runDir, label);
  if (!existsSync(file)) return undefined;
  return readJsonFile(file, reviveNumbers, `delete it to restart label ${label}`) as LabelState;
}
