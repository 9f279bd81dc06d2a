/**
 * What a zoo scan writes: zoo.json's shape and its making from the models' results (read back by
 * `zoo calibrate`, `zoo status` and the zoo's page), and the out folder's names.
 */
import { resolve } from 'node:path';
import type { Calibration, Features } from './calibration.js';
import { confusion, crossEntropy, rocAuc, rocCurve, type Confusion, type VerdictStatus } from './metrics.js';
import type { QueueUrl } from './queue.js';

export const ZOO_JSON = 'zoo.json';
export const ZOO_HTML = 'zoo.html';
export const MODELS_DIR = 'models';

export interface ZooModel {
  readonly name: string;
  readonly path: string;
  readonly truth: { readonly infected: boolean; readonly target: number | null; readonly source: 'csv' | 'metadata' } | null;
  readonly status: 'scanned' | 'failed';
  readonly error?: string;
  readonly verdict?: VerdictStatus;
  readonly flagged?: readonly number[];
  readonly features?: Features;
  readonly pBackdoored?: number;
  /** Files relative to the zoo's out folder. */
  readonly scan?: string;
  readonly report?: string;
  readonly scanSeconds?: number;
}

export interface ZooReport {
  readonly kind: 'poisonguard-zoo';
  readonly zoo: string;
  readonly queue: { readonly url: string; readonly name: string } | null;
  readonly scanOptions: Readonly<Record<string, unknown>>;
  readonly calibration: { readonly source: string; readonly fittedOn: Calibration['fittedOn']; readonly features: readonly string[] };
  readonly models: readonly ZooModel[];
  readonly failed: readonly { readonly name: string; readonly path: string; readonly error: string }[];
  /** Over the scanned models with ground truth. */
  readonly metrics: {
    readonly models: number;
    readonly infected: number;
    readonly rocAuc: number | null;
    readonly crossEntropy: number | null;
    readonly confusion: Confusion;
    readonly roc: readonly { readonly fpr: number; readonly tpr: number; readonly threshold: number }[];
  } | null;
  readonly seconds: number;
  readonly date: string;
}

/** zoo.json's content from the models' results. */
export function zooReport(o: { readonly zoo: string; readonly queue?: { readonly url: QueueUrl; readonly name: string }; readonly scan: Readonly<Record<string, unknown>> }, models: readonly ZooModel[], cal: { calibration: Calibration; source: string }, seconds: number): ZooReport {
  const known = models.filter((m) => m.status === 'scanned' && m.truth !== null);
  const scored = known.map((m) => ({ p: m.pBackdoored!, infected: m.truth!.infected }));
  const { signal: _s, halt: _h, ...scanOptions } = o.scan;
  return {
    kind: 'poisonguard-zoo',
    zoo: resolve(o.zoo),
    queue: o.queue ? { url: o.queue.url.url, name: o.queue.name } : null,
    scanOptions,
    calibration: { source: cal.source, fittedOn: cal.calibration.fittedOn, features: cal.calibration.features },
    models,
    failed: models.filter((m) => m.status === 'failed').map((m) => ({ name: m.name, path: m.path, error: m.error! })),
    metrics:
      known.length === 0
        ? null
        : {
            models: known.length,
            infected: scored.filter((x) => x.infected).length,
            rocAuc: rocAuc(scored) ?? null,
            crossEntropy: crossEntropy(scored) ?? null,
            confusion: confusion(known.map((m) => ({ verdict: m.verdict!, infected: m.truth!.infected }))),
            roc: rocCurve(scored),
          },
    seconds,
    date: new Date().toISOString(),
  };
}
