/**
 * A run folder: what the commands write and what `poisonguard report` reads back. Each command
 * writes its own files; the report recognizes them by name:
 *
 *   certify.json      the certify report (CertifyReport without the attack points)
 *   projection.json   the 2-D view of clean data, defense and attack points (small)
 *   scan.json         a Neural Cleanse scan: the scan command's report, or a {@link ScanSummary};
 *                     images relative to the folder
 *   mitigation.json   a mitigation summary ({@link MitigationSummary})
 *   detectors.json    several detectors' results and the combined verdict (`scan --detectors`)
 *
 * A `report.json` (or any file given directly) whose "kind" is "certify" is read as certify.json,
 * so the output of `certify --json` can be reported on as well.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import type { BinaryDataset } from '../data/binary.js';
import { certifyReportJson, type CertifyReport } from '../certify/certify.js';
import type { AggregationReport } from '../certify/aggregation/aggregate.js';
import { AGGREGATION_JSON } from '../certify/aggregation/store.js';
import { PNG } from 'pngjs';
import { checkBackdoor, resolveTrigger } from '../nn/trigger.js';
import { DataFormatError, NotFoundError, OptionError, PoisonguardError } from '../errors.js';
import type { OwnFiles } from '../outputs.js';
import type { CertifyRunReport, MitigationSummary, ReportImage, RunContents, ScanSummary } from './inputs.js';
import { projectCertifyRun, type CertifyProjection, type ProjectCertifyOptions } from './projection.js';
import { isCleanseScanReport, scanSummaryFromCleanse } from './scan-adapter.js';
import { checkDetectorsJson } from './detectors-json.js';
import type { DetectorsReport } from '../cleanse/detectors/run.js';
import { isObject, readJsonFile, type Json } from '../run-files.js';

export const RUN_FILES = {
  certify: 'certify.json',
  projection: 'projection.json',
  scan: 'scan.json',
  mitigation: 'mitigation.json',
  detectors: 'detectors.json',
} as const;

/** The page `poisonguard report RUN_DIR` writes by default. */
export const REPORT_HTML = 'report.html';

/** What `certify --out DIR` writes there (what its --force replaces). */
export const CERTIFY_RUN_FILES: OwnFiles = { files: [RUN_FILES.certify, RUN_FILES.projection] };

/** Other names accepted for the certify report. */
const CERTIFY_ALIASES = ['report.json'];
/** Images larger than this are left out of the page (a gallery of masks is a few KB each). */
const MAX_IMAGE_BYTES = 4 * 1024 * 1024;

/** The files {@link writeCertifyRun} wrote. */
export interface CertifyRunFiles {
  readonly report: string;
  readonly projection: string;
}

/**
 * Writes a certify run folder: certify.json and projection.json. The projection needs the clean
 * training data (given) and the defense the run fitted on it (the report carries it).
 */
export function writeCertifyRun(dir: string, data: BinaryDataset, report: CertifyReport, options: ProjectCertifyOptions = {}): CertifyRunFiles {
  const defense = report.fittedDefense;
  if (!defense) throw new OptionError('report', "certifyDataset's report as returned (with its fitted defense), not one read back from certify.json", report.dataset.name);
  if (data.train.X.rows !== report.dataset.n || data.train.X.cols !== report.dataset.d) {
    throw new OptionError('data', `the run's training data (${report.dataset.n} x ${report.dataset.d})`, `${data.train.X.rows} x ${data.train.X.cols}`);
  }
  mkdirSync(dir, { recursive: true });
  const reportPath = join(dir, RUN_FILES.certify);
  writeFileSync(reportPath, `${JSON.stringify(certifyReportJson(report), null, 2)}\n`);
  const projection = projectCertifyRun(
    data.train,
    { dataset: data.name, positive: data.positive, negative: data.negative },
    defense,
    report.attacks ?? [],
    { seed: report.recipe.seed, ...options },
  );
  const projectionPath = join(dir, RUN_FILES.projection);
  writeFileSync(projectionPath, `${JSON.stringify(projection)}\n`);
  return { report: reportPath, projection: projectionPath };
}

// ---------------------------------------------------------------- reading

/** Checks that `obj[key]` has the given type; names the file and key when it does not. */
function need(file: string, obj: Json, key: string, type: 'number' | 'string' | 'object' | 'array' | 'boolean', where = ''): void {
  const v = obj[key];
  const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? isObject(v) : typeof v === type && (type !== 'number' || Number.isFinite(v as number));
  if (!ok) throw new DataFormatError(file, `expected "${where}${key}" to be ${type === 'array' || type === 'object' ? `an ${type}` : `a ${type}`}, but it is ${v === undefined ? 'missing' : JSON.stringify(v).slice(0, 40)}.`);
}

/** An aggregation certificate as `certify --method dpa|fa` writes it; every test point checked. */
export function checkAggregationJson(file: string, x: unknown): AggregationReport {
  if (!isObject(x) || x.kind !== 'aggregation') throw new DataFormatError(file, 'not an aggregation certificate (expected "kind": "aggregation").');
  for (const k of ['recipe', 'dataset', 'timing'] as const) need(file, x, k, 'object');
  for (const k of ['points', 'budgets', 'certifiedAccuracy'] as const) need(file, x, k, 'array');
  for (const k of ['cleanAccuracy', 'medianRadius'] as const) need(file, x, k, 'number');
  const recipe = x.recipe as Json;
  for (const k of ['method', 'learner', 'engine'] as const) need(file, recipe, k, 'string', 'recipe.');
  for (const k of ['partitions', 'classifiers', 'seed'] as const) need(file, recipe, k, 'number', 'recipe.');
  need(file, x.dataset as Json, 'n', 'number', 'dataset.');
  (x.points as unknown[]).forEach((p, i) => {
    if (!isObject(p)) throw new DataFormatError(file, `points[${i}] is not an object.`);
    for (const k of ['prediction', 'label', 'radius'] as const) need(file, p, k, 'number', `points[${i}].`);
    need(file, p, 'votes', 'array', `points[${i}].`);
  });
  return x as unknown as AggregationReport;
}

export function checkCertifyJson(file: string, x: unknown): CertifyRunReport {
  if (!isObject(x) || x.kind !== 'certify') throw new DataFormatError(file, 'not a certify report (expected "kind": "certify").');
  for (const k of ['dataset', 'recipe', 'defense', 'clean', 'checks'] as const) need(file, x, k, 'object');
  need(file, x, 'rows', 'array');
  const rows = x.rows as unknown[];
  if (rows.length === 0) throw new DataFormatError(file, 'the certify report has no rows (no ε was run).');
  rows.forEach((r, i) => {
    if (!isObject(r)) throw new DataFormatError(file, `rows[${i}] is not an object.`);
    for (const k of ['eps', 'upperBound', 'upperBoundEnvelope', 'poisonCount'] as const) need(file, r, k, 'number', `rows[${i}].`);
  });
  const ds = x.dataset as Json;
  for (const k of ['name', 'positive', 'negative'] as const) need(file, ds, k, 'string', 'dataset.');
  for (const k of ['n', 'd'] as const) need(file, ds, k, 'number', 'dataset.');
  const clean = x.clean as Json;
  for (const k of ['trainHinge', 'testHinge', 'testError'] as const) need(file, clean, k, 'number', 'clean.');
  const recipe = x.recipe as Json;
  for (const k of ['mode', 'defense', 'name'] as const) need(file, recipe, k, 'string', 'recipe.');
  for (const k of ['seed', 'eta', 'rho2', 'percentile', 'iterations'] as const) need(file, recipe, k, 'number', 'recipe.');
  return x as unknown as CertifyRunReport;
}

export function checkProjectionJson(file: string, x: unknown): CertifyProjection {
  if (!isObject(x) || x.kind !== 'certify-projection') throw new DataFormatError(file, 'not a certify projection (expected "kind": "certify-projection").');
  need(file, x, 'classes', 'array');
  need(file, x, 'attacks', 'array');
  need(file, x, 'clean', 'object');
  need(file, x, 'variance', 'object');
  const classes = x.classes as unknown[];
  if (classes.length !== 2) throw new DataFormatError(file, `expected 2 classes, found ${classes.length}.`);
  classes.forEach((c, i) => {
    if (!isObject(c) || !Array.isArray(c.center) || c.center.length !== 2) throw new DataFormatError(file, `classes[${i}] needs a 2-element "center".`);
    for (const k of ['sphereRadius', 'slabRadius', 'label'] as const) need(file, c, k, 'number', `classes[${i}].`);
  });
  const sets: [string, unknown][] = [['clean', x.clean], ...(x.attacks as unknown[]).map((a, i) => [`attacks[${i}]`, a] as [string, unknown])];
  for (const [name, s] of sets) {
    if (!isObject(s)) throw new DataFormatError(file, `"${name}" is not an object.`);
    for (const k of ['x', 'y', 'label'] as const) need(file, s, k, 'array', `${name}.`);
    const n = (s.x as unknown[]).length;
    if ((s.y as unknown[]).length !== n || (s.label as unknown[]).length !== n) throw new DataFormatError(file, `"${name}": x, y and label have different lengths.`);
  }
  return x as unknown as CertifyProjection;
}

export function checkScanJson(file: string, x: unknown): ScanSummary {
  if (isCleanseScanReport(x)) return scanSummaryFromCleanse(file, x);
  if (!isObject(x)) throw new DataFormatError(file, 'expected a JSON object.');
  if (x.kind !== undefined && x.kind !== 'scan') throw new DataFormatError(file, `expected "kind": "scan", found ${JSON.stringify(x.kind)}.`);
  need(file, x, 'verdict', 'string');
  need(file, x, 'labels', 'array');
  (x.labels as unknown[]).forEach((l, i) => {
    if (!isObject(l)) throw new DataFormatError(file, `labels[${i}] is not an object.`);
    need(file, l, 'label', 'number', `labels[${i}].`);
    need(file, l, 'maskNorm', 'number', `labels[${i}].`);
  });
  if (x.flagged !== undefined) need(file, x, 'flagged', 'array');
  return x as unknown as ScanSummary;
}

export function checkMitigationJson(file: string, x: unknown): MitigationSummary {
  if (!isObject(x)) throw new DataFormatError(file, 'expected a JSON object.');
  if (x.kind !== undefined && x.kind !== 'mitigation') throw new DataFormatError(file, `expected "kind": "mitigation", found ${JSON.stringify(x.kind)}.`);
  if (x.backdoors !== undefined) {
    // The section names each backdoor by its description.
    need(file, x, 'backdoors', 'array');
    (x.backdoors as unknown[]).forEach((b, i) => {
      if (!isObject(b)) throw new DataFormatError(file, `backdoors[${i}] is not an object.`);
      need(file, b, 'description', 'string', `backdoors[${i}].`);
    });
  }
  if (x.pruning !== undefined) {
    need(file, x, 'pruning', 'object');
    need(file, x.pruning as Json, 'points', 'array', 'pruning.');
    ((x.pruning as Json).points as unknown[]).forEach((p, i) => {
      if (!isObject(p)) throw new DataFormatError(file, `pruning.points[${i}] is not an object.`);
      for (const k of ['share', 'accuracy', 'asr'] as const) need(file, p, k, 'number', `pruning.points[${i}].`);
    });
  }
  if (x.filter !== undefined) {
    need(file, x, 'filter', 'object');
    for (const k of ['fpr', 'fnr'] as const) need(file, x.filter as Json, k, 'number', 'filter.');
  }
  if (x.unlearning !== undefined) {
    need(file, x, 'unlearning', 'object');
    for (const k of ['before', 'after'] as const) need(file, x.unlearning as Json, k, 'object', 'unlearning.');
  }
  return x as unknown as MitigationSummary;
}

const IMAGE_TYPES: Record<string, 'image/png' | 'image/jpeg' | 'image/svg+xml'> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml' };

/** Reads one image named in scan.json; a missing or odd image becomes a note on the page, not a failure. */
function readImage(dir: string, rel: string): ReportImage {
  const mime = IMAGE_TYPES[extname(rel).toLowerCase()];
  if (!mime) return { missing: `${rel}: not a PNG, JPEG or SVG file` };
  const path = isAbsolute(rel) ? rel : resolve(dir, rel);
  // Images come from the run folder only: a scan.json cannot pull arbitrary files into the page.
  const inside = relative(resolve(dir), path);
  if (inside.startsWith('..') || isAbsolute(inside)) return { missing: `${rel}: outside the run folder` };
  if (!existsSync(path)) return { missing: `${rel}: no such file` };
  const size = statSync(path).size;
  if (size > MAX_IMAGE_BYTES) return { missing: `${rel}: ${size} bytes, too large to embed` };
  return { mime, bytes: new Uint8Array(readFileSync(path)) };
}

function scanImagePaths(scan: ScanSummary): string[] {
  const out = new Set<string>();
  for (const l of scan.labels) for (const p of [l.maskImage, l.patternImage, l.triggerImage]) if (typeof p === 'string' && p) out.add(p);
  return [...out];
}

/**
 * Reads what a run folder holds (or a single JSON file). Throws NotFoundError for a missing path,
 * DataFormatError for malformed JSON, and a PoisonguardError when nothing in it can be reported.
 * A mitigation without a scan beside it brings the scan it used (`followScan`, default true).
 */
export function readRunFolder(path: string, options: { readonly followScan?: boolean } = {}): RunContents {
  if (!existsSync(path)) throw new NotFoundError(path, 'run folder', "Run 'poisonguard certify --out DIR' to make one.");
  const isFile = statSync(path).isFile();
  const dir = isFile ? dirname(path) : path;
  const names = isFile ? [basename(path)] : readdirSync(dir).filter((f) => f.endsWith('.json'));
  const files: string[] = [];
  let certify: CertifyRunReport | undefined;
  let projection: CertifyProjection | undefined;
  let scan: ScanSummary | undefined;
  let mitigation: MitigationSummary | undefined;
  let aggregation: AggregationReport | undefined;
  let detectors: DetectorsReport | undefined;
  const load = (name: string): unknown => {
    files.push(name);
    return readJsonFile(join(dir, name));
  };
  if (isFile) {
    const x = load(names[0]);
    const kind = isObject(x) ? x.kind : undefined;
    const file = join(dir, names[0]);
    if (kind === 'certify') certify = checkCertifyJson(file, x);
    else if (kind === 'scan' || kind === 'neural-cleanse-scan') scan = checkScanJson(file, x);
    else if (kind === 'mitigation') mitigation = checkMitigationJson(file, x);
    else if (kind === 'aggregation') aggregation = checkAggregationJson(file, x);
    else if (kind === 'detectors-scan') detectors = checkDetectorsJson(file, x);
    else throw new DataFormatError(file, `cannot tell what this file holds ("kind" is ${JSON.stringify(kind)}; expected "certify", "neural-cleanse-scan", "scan", "mitigation", "aggregation" or "detectors-scan").`);
  } else {
    const certName = [RUN_FILES.certify, ...CERTIFY_ALIASES].find((n) => names.includes(n));
    if (certName) certify = checkCertifyJson(join(dir, certName), load(certName));
    if (names.includes(RUN_FILES.projection)) projection = checkProjectionJson(join(dir, RUN_FILES.projection), load(RUN_FILES.projection));
    if (names.includes(RUN_FILES.scan)) scan = checkScanJson(join(dir, RUN_FILES.scan), load(RUN_FILES.scan));
    if (names.includes(RUN_FILES.mitigation)) mitigation = checkMitigationJson(join(dir, RUN_FILES.mitigation), load(RUN_FILES.mitigation));
    if (names.includes(AGGREGATION_JSON)) aggregation = checkAggregationJson(join(dir, AGGREGATION_JSON), load(AGGREGATION_JSON));
    if (names.includes(RUN_FILES.detectors)) detectors = checkDetectorsJson(join(dir, RUN_FILES.detectors), load(RUN_FILES.detectors));
  }
  if (!certify && !scan && !mitigation && !aggregation && !detectors) {
    throw new PoisonguardError(
      'not-found',
      `${path}: nothing to report; expected ${RUN_FILES.certify}, ${RUN_FILES.scan} or ${RUN_FILES.mitigation} (written by 'poisonguard certify --out ${path}').`,
      { path },
    );
  }
  // A mitigation folder holds no scan: the one it used is where mitigation.json says.
  let scanDir = dir;
  if (!scan && mitigation && typeof mitigation.scan === 'string' && (options.followScan ?? true)) {
    const recorded = resolve(dir, mitigation.scan);
    const file = join(recorded, RUN_FILES.scan);
    if (existsSync(file)) {
      scan = checkScanJson(file, readJsonFile(file));
      files.push(file);
      scanDir = recorded;
    }
  }
  let scanImages: Map<string, ReportImage> | undefined;
  if (scan) {
    scanImages = new Map();
    for (const rel of scanImagePaths(scan)) scanImages.set(rel, readImage(scanDir, rel));
    if (scan.realTrigger) {
      const img = realTriggerImage(scan.realTrigger);
      if (img) scanImages.set(REAL_TRIGGER_IMAGE, img);
    }
  }
  return {
    dir,
    files,
    ...(certify ? { certify } : {}),
    ...(projection ? { projection } : {}),
    ...(scan ? { scan } : {}),
    ...(scanImages ? { scanImages } : {}),
    ...(mitigation ? { mitigation } : {}),
    ...(aggregation ? { aggregation } : {}),
    ...(detectors ? { detectors } : {}),
  };
}

/** Key of the real trigger's picture among the scan images. */
export const REAL_TRIGGER_IMAGE = '(real trigger)';

/** The real trigger (mask × pattern on black) as a PNG, from the trigger recorded with the model; undefined if it cannot be drawn. */
function realTriggerImage(t: NonNullable<ScanSummary['realTrigger']>): ReportImage | undefined {
  try {
    const [h, w, c] = t.shape;
    const resolved = resolveTrigger(checkBackdoor({ trigger: t.spec, target: t.target ?? 0, rate: 0 }, 'scan.json model.trigger').trigger, h, w, c);
    const png = new PNG({ width: w, height: h });
    for (let i = 0; i < h * w; i++) {
      const m = resolved.mask[i];
      for (let k = 0; k < 3; k++) png.data[4 * i + k] = Math.round(m * resolved.pattern[i * c + Math.min(k, c - 1)]);
      png.data[4 * i + 3] = 255;
    }
    return { mime: 'image/png', bytes: new Uint8Array(PNG.sync.write(png)) };
  } catch {
    return undefined;
  }
}

/**
 * Several run folders on one page, e.g. a certify run, a scan and a mitigation written to separate
 * folders. Each section comes from the one folder that holds it; two folders holding the same
 * section is an error (the page would have to pick one silently).
 */
export function readRunFolders(paths: readonly string[]): RunContents {
  if (paths.length === 0) throw new PoisonguardError('invalid-option', 'no run folder given.');
  if (paths.length === 1) return readRunFolder(paths[0]);
  const runs = paths.map((p) => readRunFolder(p, { followScan: false }));
  const pick = <K extends 'certify' | 'scan' | 'mitigation' | 'aggregation' | 'detectors'>(key: K): RunContents | undefined => {
    const having = runs.filter((r) => r[key] !== undefined);
    if (having.length > 1) {
      throw new PoisonguardError('invalid-option', `${having.map((r) => r.dir).join(' and ')} both hold a ${key} result; give one of them.`, { path: key });
    }
    return having[0];
  };
  const certify = pick('certify');
  const mitigation = pick('mitigation');
  const aggregation = pick('aggregation');
  const detectors = pick('detectors');
  // No folder given holds a scan: the one the mitigation used, where mitigation.json says.
  const scan = pick('scan') ?? (mitigation ? readRunFolder(paths[runs.indexOf(mitigation)]) : undefined);
  return {
    dir: runs.map((r) => r.dir).join(', '),
    files: runs.flatMap((r) => r.files.map((f) => join(r.dir, f))),
    ...(certify?.certify ? { certify: certify.certify } : {}),
    ...(certify?.projection ? { projection: certify.projection } : {}),
    ...(scan?.scan ? { scan: scan.scan } : {}),
    ...(scan?.scanImages ? { scanImages: scan.scanImages } : {}),
    ...(mitigation?.mitigation ? { mitigation: mitigation.mitigation } : {}),
    ...(aggregation?.aggregation ? { aggregation: aggregation.aggregation } : {}),
    ...(detectors?.detectors ? { detectors: detectors.detectors } : {}),
  };
}
