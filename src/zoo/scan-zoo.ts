/**
 * `zoo scan`: every model of a zoo scanned with one recipe, each into its own folder of the out
 * folder (DIR/models/NAME: the scan's own checkpoints, scan.json and report.html), then zoo.json
 * and zoo.html: per model the verdict, the statistics and P(backdoored), and with ground truth
 * ROC-AUC, cross-entropy and the confusion table.
 *
 * Locally the models run one after another, each on this machine's cores (the scan's worker
 * threads). With a queue, each model's label chunks are jobs (queue.ts) and several models are in
 * flight at once, so that the workers stay busy while fast mode's rounds wait for their last chunk.
 * Either way each model is scanModel with the same options, so its folder resumes the same way and
 * holds the same bits. A model that cannot be read or scanned is named in the summary and the
 * others go on; losing Redis stops the zoo (everything finished is on disk).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PoisonguardError } from '../errors.js';
import { claimOutputDir } from '../outputs.js';
import { writeJsonAtomic } from '../run-files.js';
import { METADATA_FORMAT, METADATA_JSON } from '../nn/model-io.js';
import type { ScanOptions, ScanProgress, ScanReport } from '../cleanse/scan.js';
import { checkCalibration, probability, scanFeatures, type Calibration } from './calibration.js';
import { DEFAULT_CALIBRATION, DEFAULT_CALIBRATION_SOURCE } from './default-calibration.js';
import { readZoo, type ZooEntry } from './entries.js';
import type { VerdictStatus } from './metrics.js';
import { MODELS_DIR, ZOO_HTML, ZOO_JSON, zooReport, type ZooModel, type ZooReport } from './zoo-json.js';
import { DEFAULT_MODELS_IN_FLIGHT, QueueLostError, type QueueUrl } from './queue.js';

/** The scan options a zoo applies to every model. */
export type ZooScanOptions = Omit<ScanOptions, 'model' | 'out' | 'onProgress' | 'labels' | 'clean' | 'preprocessing' | 'inputLayout'>;

export interface ZooOptions {
  readonly zoo: string;
  readonly out: string;
  readonly scan: ZooScanOptions;
  /** `lostSeconds`: how long Redis may not answer before the zoo stops (default queue.ts REDIS_LOST_SECONDS). */
  readonly queue?: { readonly url: QueueUrl; readonly name: string; readonly lostSeconds?: number };
  /** Default: the shipped calibration (default-calibration.ts). */
  readonly calibration?: { readonly calibration: Calibration; readonly source: string };
  readonly modelsInFlight?: number;
  readonly onProgress?: (p: ZooProgress) => void;
  readonly signal?: AbortSignal;
}

export type ZooProgress =
  | { readonly kind: 'start'; readonly models: number }
  | { readonly kind: 'model-start'; readonly name: string }
  | { readonly kind: 'scan'; readonly name: string; readonly progress: ScanProgress }
  | { readonly kind: 'model-done'; readonly name: string; readonly verdict: VerdictStatus; readonly p: number }
  | { readonly kind: 'model-failed'; readonly name: string; readonly error: string };

/** Ground truth a poisonguard model folder carries: its metadata names the trigger it was trained with, or none. */
function metadataTruth(path: string): ZooModel['truth'] {
  const file = join(path, METADATA_JSON);
  if (!existsSync(file)) return null;
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as { format?: string; trigger?: unknown; target?: unknown };
    if (m.format !== METADATA_FORMAT) return null;
    const infected = m.trigger !== null && m.trigger !== undefined;
    return { infected, target: infected && typeof m.target === 'number' ? m.target : null, source: 'metadata' };
  } catch {
    return null; // the scan reports an unreadable metadata.json
  }
}

function truthOf(e: ZooEntry): ZooModel['truth'] {
  if (e.infected !== undefined) return { infected: e.infected, target: e.target ?? null, source: 'csv' };
  return metadataTruth(e.path);
}

/** Runs the zoo scan (see the module comment). */
export async function scanZoo(o: ZooOptions): Promise<ZooReport> {
  const start = performance.now();
  const entries = readZoo(o.zoo);
  const out = claimOutputDir(o.out, { option: 'out', existing: 'resume', notOver: [{ path: o.zoo, what: 'the zoo' }] });
  mkdirSync(join(out, MODELS_DIR), { recursive: true });
  const cal = o.calibration ?? { calibration: checkCalibration(DEFAULT_CALIBRATION, DEFAULT_CALIBRATION_SOURCE), source: DEFAULT_CALIBRATION_SOURCE };
  o.onProgress?.({ kind: 'start', models: entries.length });

  const { scanModel } = await import('../cleanse/scan.js');
  // The engine is initialised once here, before the models are scanned side by side: each scan
  // initialises it too, and two first initialisations at once left one scan's kernels a backend
  // being replaced ("Cannot read properties of undefined (reading 'get')").
  const { initEngine } = await import('../nn/engine.js');
  await initEngine({ backend: o.scan.backend ?? 'auto' });
  const conn = o.queue ? await (await import('./queue.js')).openCoordinator(o.queue.url, o.queue.name, out, o.queue.lostSeconds) : undefined;
  const results = new Map<string, ZooModel>();
  let fatal: unknown;
  try {
    const queueEngines = conn ? (await import('./queue.js')).queueEngines : undefined;
    const scanOne = async (e: ZooEntry): Promise<void> => {
      const truth = truthOf(e);
      const dir = join(out, MODELS_DIR, e.name);
      o.onProgress?.({ kind: 'model-start', name: e.name });
      const t0 = performance.now();
      try {
        const report: ScanReport = await scanModel(
          {
            ...o.scan,
            model: e.path,
            out: dir,
            onProgress: (p) => o.onProgress?.({ kind: 'scan', name: e.name, progress: p }),
            // Through the queue, every label chunk of a round is in flight at once.
            ...(conn ? { workers: Number.MAX_SAFE_INTEGER } : {}),
            ...(o.signal ? { signal: o.signal } : {}),
          },
          conn && queueEngines ? queueEngines(conn, e.name) : undefined,
        );
        const features = scanFeatures(report);
        const p = probability(cal.calibration, features);
        const reportFile = await writeModelReport(dir);
        results.set(e.name, {
          name: e.name,
          path: e.path,
          truth,
          status: 'scanned',
          verdict: report.verdict.status as VerdictStatus,
          flagged: report.verdict.labels,
          features,
          pBackdoored: p,
          scan: `${MODELS_DIR}/${e.name}/scan.json`,
          ...(reportFile ? { report: `${MODELS_DIR}/${e.name}/report.html` } : {}),
          scanSeconds: (performance.now() - t0) / 1000,
        });
        o.onProgress?.({ kind: 'model-done', name: e.name, verdict: report.verdict.status as VerdictStatus, p });
      } catch (err) {
        // Losing Redis or being stopped ends the zoo; a model's own trouble ends only that model.
        if (isFatal(err)) throw err;
        const message = err instanceof Error ? err.message : String(err);
        results.set(e.name, { name: e.name, path: e.path, truth, status: 'failed', error: message });
        o.onProgress?.({ kind: 'model-failed', name: e.name, error: message });
      }
    };
    const todo = [...entries];
    const lanes = conn ? Math.max(1, o.modelsInFlight ?? DEFAULT_MODELS_IN_FLIGHT) : 1;
    await Promise.all(
      Array.from({ length: Math.min(lanes, todo.length) }, async () => {
        for (let e = todo.shift(); e && fatal === undefined; e = todo.shift()) {
          try {
            await scanOne(e);
          } catch (err) {
            fatal ??= err;
          }
        }
      }),
    );
  } finally {
    await conn?.close();
  }
  if (fatal !== undefined) throw fatal;

  const models = entries.map((e) => results.get(e.name)!);
  const report = zooReport(o, models, cal, (performance.now() - start) / 1000);
  writeJsonAtomic(join(out, ZOO_JSON), report);
  const { zooHtml } = await import('./report.js');
  writeFileSync(join(out, ZOO_HTML), await zooHtml(report));
  return report;
}

/** Errors that stop the whole zoo rather than one model. */
function isFatal(err: unknown): boolean {
  return err instanceof QueueLostError || (err instanceof PoisonguardError && err.code === 'interrupted');
}

/** The per-model page, as `poisonguard report` writes it; a page that cannot be built does not fail the zoo. */
async function writeModelReport(dir: string): Promise<boolean> {
  try {
    const { readRunFolders, REPORT_HTML } = await import('../report/run-folder.js');
    const { buildReport } = await import('../report/build.js');
    const built = await buildReport(readRunFolders([dir]), { generator: 'poisonguard zoo scan' });
    writeFileSync(join(dir, REPORT_HTML), built.html);
    return true;
  } catch {
    return false;
  }
}

