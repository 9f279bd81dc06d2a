/**
 * A scan with several detectors: the Neural Cleanse variants through scan.ts (each its own scan,
 * the plain one in the out folder as before, a variant in a subfolder of its name), the others on
 * the model's detector interface (model.ts), then one combined verdict (combine.ts) and the attack
 * families the chosen detectors are known to miss (registry.ts), written as detectors.json.
 *
 * Everything a user can get wrong is checked before the first detector runs: the names, the
 * training set's presence and shape against the model's input, its labels against its classes.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../../data/images.js';
import { OptionError, ShapeError } from '../../errors.js';
import type { ModelMetadata } from '../../nn/model-io.js';
import { claimOutputDir } from '../../outputs.js';
import { writeJsonAtomic } from '../../run-files.js';
import { DEFAULT_SEED } from '../../random.js';
import type { ScanOptions, ScanReport } from '../scan.js';
import { combineVerdicts, type CombinedVerdict } from './combine.js';
import type { DetectorResult } from './detector.js';
import type { MmbdOptions } from './mmbd.js';
import { ncResult } from './nc.js';
import { DETECTORS, DETECTOR_NAMES } from './registry.js';
import type { StripOptions } from './strip.js';
import type { ClusteringOptions } from './clustering.js';
import type { SpectralOptions } from './spectral.js';
import type { KnnAuditOptions } from './knn-audit.js';
import { UnknownNameError } from '../../errors.js';

/** The combined result file, in the out folder beside scan.json. */
export const DETECTORS_JSON = 'detectors.json';

export type DetectorProgress =
  | { readonly kind: 'start'; readonly detector: string }
  | { readonly kind: 'done'; readonly result: DetectorResult }
  | { readonly kind: 'mmbd-label'; readonly label: number; readonly done: number; readonly of: number; readonly margin: number }
  | { readonly kind: 'strip'; readonly phase: 'boundary' | 'audit'; readonly done: number; readonly of: number };

export interface DetectorScanOptions extends ScanOptions {
  /** Detector names (registry.ts). */
  readonly detectors: readonly string[];
  /** The training set: a dataset name or image folder whose training split the audits read. */
  readonly trainData?: string;
  /** The training set given directly (raw uint8 NHWC) instead of `trainData`, and where it came from, for the report. */
  readonly trainingSet?: { readonly set: ImageSet; readonly source: string };
  readonly mmbd?: Omit<MmbdOptions, 'seed' | 'labels' | 'onProgress'>;
  readonly strip?: Omit<StripOptions, 'seed' | 'onProgress'>;
  readonly spectral?: Omit<SpectralOptions, 'seed'>;
  readonly clustering?: Omit<ClusteringOptions, 'seed'>;
  readonly knn?: Omit<KnnAuditOptions, 'seed'>;
  /**
   * knn's clean reference, when the defender holds trusted clean images drawn like the training set
   * (a dataset name or image folder: its train split; or the images given directly): default the
   * clean test split. The test split can sit far from the training split — GTSRB's test signs are
   * other physical signs than its training tracks — and a clean model's training samples then
   * exceed the test split's threshold (docs/DETECTORS.md).
   */
  readonly knnReference?: string | { readonly set: ImageSet; readonly source: string };
  readonly onDetector?: (p: DetectorProgress) => void;
}

export interface DetectorsReport {
  readonly kind: 'detectors-scan';
  readonly model: {
    readonly path: string;
    readonly kind: 'tfjs' | 'onnx';
    readonly sha256: string;
    readonly numClasses: number;
    readonly inputShape: readonly [number, number, number];
    /** The planted trigger and target from the model's records (null for a clean model or none recorded). */
    readonly trigger: ModelMetadata['trigger'];
    readonly target: number | null;
    /** Which engine ran the detectors' passes. */
    readonly engine: 'onnx' | 'tfjs' | null;
  };
  readonly detectors: readonly string[];
  readonly results: readonly DetectorResult[];
  readonly combined: CombinedVerdict;
  /** Per chosen detector, the attack families it is known to miss, with the evidence. */
  readonly misses: readonly { readonly detector: string; readonly family: string; readonly evidence: string }[];
  /** Families every chosen detector is known to miss: what a clean combined verdict does not rule out. */
  readonly missedByAll: readonly string[];
  /** Neural Cleanse scans' folders (relative to the out folder), by detector. */
  readonly ncScans: Readonly<Record<string, string>>;
  readonly trainingSet: { readonly source: string; readonly count: number } | null;
  readonly seconds: number;
  readonly date: string;
}

function loadTrainingSet(spec: string, dataDir: string | undefined, seed: number, shape: readonly [number, number, number], numClasses: number, option = '--train-data'): Promise<{ set: ImageSet; source: string }> {
  return (async () => {
    const { loadImageDataset, IMAGE_DATASETS } = await import('../../data/image-registry.js');
    const named = Object.hasOwn(IMAGE_DATASETS, spec);
    const data = loadImageDataset(spec, named ? dataDir : undefined, seed);
    return { set: checkTrainingSet(data.train, `${option} ${spec}`, shape, numClasses), source: data.source };
  })();
}

/** A training set fits the model: its input shape, and labels among its classes. */
function checkTrainingSet(t: ImageSet, what: string, shape: readonly [number, number, number], numClasses: number): ImageSet {
  const [H, W, C] = shape;
  if (t.height !== H || t.width !== W || t.channels !== C) throw new ShapeError(what, `${H}x${W}x${C} images (the model's input)`, `${t.height}x${t.width}x${t.channels}`);
  for (let i = 0; i < t.count; i++) {
    if (t.labels[i] < 0 || t.labels[i] >= numClasses) throw new OptionError(what, `labels in 0..${numClasses - 1} (the model's classes)`, `label ${t.labels[i]} at sample ${i}`);
  }
  return t;
}

/** Runs the detectors (see the module comment); also returns the Neural Cleanse scans' full reports, by detector. */
export async function runDetectors(options: DetectorScanOptions): Promise<{ report: DetectorsReport; ncReports: Readonly<Record<string, ScanReport>> }> {
  const start = performance.now();
  for (const n of options.detectors) if (!Object.hasOwn(DETECTORS, n)) throw new UnknownNameError('detector', n, DETECTOR_NAMES);
  if (options.detectors.length === 0) throw new OptionError('detectors', 'at least one detector', []);
  const seed = options.seed ?? DEFAULT_SEED;
  // The scan's own checks first, in its order (options, then the out folder, then the model), so
  // that a mistake is named the same way with or without other detectors.
  const { resolveScanPlan } = await import('../scan-plan.js');
  resolveScanPlan(options);
  const out = options.out === undefined ? undefined : claimOutputDir(options.out, { option: 'out', existing: 'resume', notOver: [{ path: options.model, what: 'the model' }] });
  const { initEngine } = await import('../../nn/engine.js');
  await initEngine({ backend: options.backend ?? 'auto' });
  const { resolveScanModel } = await import('../scan-model.js');
  const model = await resolveScanModel(options, seed);
  const needsTraining = options.detectors.some((n) => DETECTORS[n].needs === 'training-set');
  if (options.trainData !== undefined && options.trainingSet !== undefined) throw new OptionError('trainingSet', 'absent with trainData (one training set)', options.trainingSet.source);
  const training = options.trainingSet
    ? { set: checkTrainingSet(options.trainingSet.set, 'trainingSet', model.inputShape, model.numClasses), source: options.trainingSet.source }
    : options.trainData !== undefined
      ? await loadTrainingSet(options.trainData, options.dataDir, model.dataSeed, model.inputShape, model.numClasses)
      : undefined;
  if (needsTraining && !training) throw new OptionError('trainData', 'a training set for the audits (spectral, ac, knn)', undefined);
  // A given reference is read and checked before any detector runs, as the training set is.
  const knnGiven = options.detectors.includes('knn') && options.knnReference !== undefined ? await knnReferenceSet(options, model) : undefined;

  const results: DetectorResult[] = [];
  const ncScans: Record<string, string> = {};
  const ncReports: Record<string, ScanReport> = {};
  const done = (r: DetectorResult): void => {
    results.push(r);
    options.onDetector?.({ kind: 'done', result: r });
  };
  // Neural Cleanse and its variants: the slow part, first, each resumable in its own folder.
  const { scanModel } = await import('../scan.js');
  for (const name of options.detectors.filter((n) => DETECTORS[n].ncRecipe !== undefined)) {
    options.onDetector?.({ kind: 'start', detector: name });
    const folder = name === 'nc' ? '.' : name;
    const report: ScanReport = await scanModel({ ...options, ...DETECTORS[name].ncRecipe, ...(out ? { out: join(out, folder) } : {}) });
    if (out) ncScans[name] = folder;
    ncReports[name] = report;
    done(ncResult(name, report));
  }

  const others = options.detectors.filter((n) => DETECTORS[n].ncRecipe === undefined);
  let engine: 'onnx' | 'tfjs' | null = null;
  if (others.length > 0) {
    const { openDetectorModel } = await import('./model.js');
    const dm = await openDetectorModel(model);
    engine = dm.engine;
    let trainingFeatures: Promise<{ units: number; values: Float32Array }> | undefined;
    try {
      for (const name of others) {
        options.onDetector?.({ kind: 'start', detector: name });
        if (name === 'mmbd') {
          const { runMmbd } = await import('./mmbd.js');
          done(await runMmbd(dm, { ...options.mmbd, seed, ...(options.labels ? { labels: options.labels } : {}), onProgress: (p) => options.onDetector?.({ kind: 'mmbd-label', ...p }) }));
        } else if (name === 'strip') {
          const { runStrip } = await import('./strip.js');
          const clean = await cleanTestSet(options, model);
          const r = await runStrip(dm, clean.set, training?.set, { ...options.strip, seed, onProgress: (p) => options.onDetector?.({ kind: 'strip', ...p }) });
          // The run-time filter goes beside detectors.json (strip-filter.ts); the result keeps its size only.
          if (out) {
            const { writeStripFilter } = await import('./strip-filter.js');
            mkdirSync(out, { recursive: true });
            done(writeStripFilter(out, r, { path: model.path, sha256: model.sha256() }, model.inputShape, clean.name, model.dataSeed));
          } else done(r);
        } else {
          const t = training!.set;
          // One pass over the training set for every audit (spectral, ac and knn read the same activations).
          trainingFeatures ??= dm.features(t.images, t.count);
          const f = await trainingFeatures;
          if (name === 'knn') {
            const { runKnnAudit } = await import('./knn-audit.js');
            const reference = knnGiven ?? (await knnReferenceSet(options, model));
            const r = await dm.features(reference.set.images, reference.set.count);
            const result = runKnnAudit(f.values, f.units, t.labels, r.values, reference.set.labels, model.numClasses, { ...options.knn, seed });
            done({ ...result, recipe: { ...result.recipe, reference: reference.source } });
          } else if (name === 'spectral') {
            const { runSpectral } = await import('./spectral.js');
            done(runSpectral(f.values, f.units, t.labels, model.numClasses, { ...options.spectral, seed }));
          } else {
            const { runClustering } = await import('./clustering.js');
            done(runClustering(f.values, f.units, t.labels, model.numClasses, { ...options.clustering, seed }));
          }
        }
      }
    } finally {
      await dm.dispose();
    }
  }

  const { misses, missedByAll } = missesOf(options.detectors);
  const report: DetectorsReport = {
    kind: 'detectors-scan',
    model: {
      path: model.path,
      kind: model.kind,
      sha256: model.sha256(),
      numClasses: model.numClasses,
      inputShape: model.inputShape,
      trigger: model.trigger,
      target: model.target,
      engine,
    },
    detectors: [...options.detectors],
    results,
    combined: combineVerdicts(results),
    misses,
    missedByAll,
    ncScans,
    trainingSet: training ? { source: training.source, count: training.set.count } : null,
    seconds: (performance.now() - start) / 1000,
    date: new Date().toISOString(),
  };
  if (out) {
    mkdirSync(out, { recursive: true });
    writeJsonAtomic(join(out, DETECTORS_JSON), report);
  }
  return { report, ncReports };
}

/** What the chosen detectors are reported to miss (registry.ts), and the families every one of them misses. */
export function missesOf(detectors: readonly string[]): Pick<DetectorsReport, 'misses' | 'missedByAll'> {
  const misses = detectors.flatMap((d) => DETECTORS[d].misses.map((m) => ({ detector: d, ...m })));
  const families = [...new Set(misses.map((m) => m.family))];
  return { misses, missedByAll: families.filter((f) => detectors.every((d) => DETECTORS[d].misses.some((m) => m.family === f))) };
}

/** The clean test images, as the scan reads them (scan.ts), and the dataset name or folder they were read by. */
/** knn's reference: the images given, a dataset's or folder's train split, or the clean test split. */
async function knnReferenceSet(options: DetectorScanOptions, model: Awaited<ReturnType<typeof import('../scan-model.js').resolveScanModel>>): Promise<{ set: ImageSet; source: string }> {
  const given = options.knnReference;
  if (given === undefined) {
    const clean = await cleanTestSet(options, model);
    return { set: clean.set, source: `the clean test split (${clean.name})` };
  }
  if (typeof given !== 'string') return { set: checkTrainingSet(given.set, 'knnReference', model.inputShape, model.numClasses), source: given.source };
  const loaded = await loadTrainingSet(given, options.dataDir, model.dataSeed, model.inputShape, model.numClasses, '--knn-reference');
  return { set: loaded.set, source: `the train split of ${loaded.source}` };
}

async function cleanTestSet(options: ScanOptions, model: Awaited<ReturnType<typeof import('../scan-model.js').resolveScanModel>>): Promise<{ set: ImageSet; name: string }> {
  if (options.clean) return { set: options.clean, name: 'given' };
  const { loadImageDataset, loadModelDataset } = await import('../../data/image-registry.js');
  const name = options.dataset !== undefined && model.kind === 'tfjs' ? options.dataset : model.dataset!;
  const data = options.dataset !== undefined && model.kind === 'tfjs' ? loadImageDataset(name, options.dataDir, model.dataSeed) : loadModelDataset(name, options.dataDir, model.dataSeed);
  const [H, W, C] = model.inputShape;
  const t = data.test;
  if (t.height !== H || t.width !== W || t.channels !== C) throw new ShapeError(`dataset ${data.name}`, `${H}x${W}x${C} images (the model's input)`, `${t.height}x${t.width}x${t.channels}`);
  return { set: t, name };
}
