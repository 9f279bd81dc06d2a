/** What a mitigated model folder records of the mitigation that made it (its metadata.json). */
import { mkdirSync } from 'node:fs';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelMetadata } from '../../nn/model-io.js';
import type { Metrics } from './measure.js';
import type { MitigationMethod } from './recipe.js';

/** What a mitigated model's metadata.json records besides the training metadata. */
export interface MitigationRecord {
  readonly method: MitigationMethod;
  /** The (first) label mitigated. */
  readonly label: number;
  /** Every label mitigated (absent from records written before several labels could be). */
  readonly labels?: readonly number[];
  readonly scan: string;
  readonly source: { readonly dir: string; readonly sha256: string };
  /** Neurons held at zero (carried over from earlier mitigations), or null. */
  readonly pruned: { readonly layer: string; readonly neurons: readonly number[] } | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly previous: MitigationRecord | null;
  readonly date: string;
}

/** The pruned neurons an earlier mitigation recorded in metadata.json, if any. */
export function recordedPruning(metadata: object | undefined): MitigationRecord['pruned'] {
  const m = (metadata as { mitigation?: Partial<MitigationRecord> } | undefined)?.mitigation;
  const p = m?.pruned;
  if (!p || typeof p.layer !== 'string' || !Array.isArray(p.neurons)) return null;
  return { layer: p.layer, neurons: p.neurons.filter((u) => Number.isInteger(u)) };
}

export function previousRecord(metadata: ModelMetadata): MitigationRecord | null {
  return ((metadata as { mitigation?: MitigationRecord }).mitigation as MitigationRecord | undefined) ?? null;
}

/** Saves the patched model with the mitigation recorded in its metadata. */
export async function saveMitigated(
  model: tfl.LayersModel,
  out: string,
  metadata: ModelMetadata,
  after: Metrics,
  record: MitigationRecord,
  save: (model: tfl.LayersModel, dir: string, metadata?: ModelMetadata) => Promise<void>,
): Promise<void> {
  mkdirSync(out, { recursive: true });
  const meta = {
    ...metadata,
    cleanAccuracy: after.cleanAccuracy,
    // As training records them: the first backdoor's ASR (all-to-all included), and each one's with several.
    attackSuccessRate: after.asrByBackdoor?.[0] ?? after.asrReal,
    ...(after.asrByBackdoor && after.asrByBackdoor.length > 1 ? { attackSuccessRates: after.asrByBackdoor } : {}),
    date: new Date().toISOString(),
    mitigation: record,
  } as ModelMetadata & { mitigation: MitigationRecord };
  await save(model, out, meta);
}
