/**
 * The reversed trigger that the mitigations work with, read from a scan folder written by
 * `poisonguard scan --out DIR`: scan.json names the model (its folder and a SHA-256 over the
 * folder's files, see checkpoint.ts `hashModelFolder`) and the flagged labels; each label's
 * `seed-S/label-NN.json` holds the float mask (H×W×1 or H×W×C, 4 decimals) and the raw-range
 * pattern (H×W×C, 2 decimals). The PNGs are not used: the JSON keeps more precision than 8 bits.
 *
 * The model identity check compares the SHA-256 of the --model folder, computed the same way, with
 * the one in scan.json: a scan of another model (or of a model whose files changed since) is refused.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataFormatError, NotFoundError, OptionError, PoisonguardError, ShapeError } from '../../errors.js';
import { hashModelFolder, isObject, readJsonFile, type Json } from '../../run-files.js';
import { SCAN_JSON } from '../scan.js';

/** A reversed trigger laid out on the model's images: x' = (1 − m)·x + m·Δ in the raw domain. */
export interface ReversedTrigger {
  /** The label the trigger sends inputs to. */
  readonly label: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Channels of the mask: 1 (shared by the image's channels, the release) or `channels`. */
  readonly maskChannels: number;
  /** height·width·maskChannels values in [0, 1]. */
  readonly mask: Float32Array;
  /** height·width·channels raw values 0..255. */
  readonly pattern: Float32Array;
  /** L1 norm of the mask as the scan's outlier test saw it. */
  readonly norm?: number;
  /** Where it came from (the label file). */
  readonly source?: string;
}

/** What mitigate needs from a scan: the model it scanned, its flagged labels, its triggers. */
export interface ScanSource {
  readonly dir: string;
  /** scan.json's model folder and SHA-256. */
  readonly modelDir: string;
  readonly modelSha256: string;
  /** Labels flagged by the outlier test in the first run, and the verdict's labels. */
  readonly flagged: readonly number[];
  readonly verdictLabels: readonly number[];
  readonly verdictStatus: string;
  readonly seed: number;
  readonly numClasses: number;
  readonly inputShape: readonly [number, number, number];
  /** The label files of the first run, by label. */
  readonly labelFiles: ReadonlyMap<number, string>;
  readonly norms: ReadonlyMap<number, number>;
}


/** Reads scan.json of a scan folder (or the file itself) and checks the fields mitigation uses. */
export function readScanSource(path: string): ScanSource {
  const p = resolve(path);
  if (!existsSync(p)) throw new NotFoundError(p, 'scan folder', 'Scan the model first, with an output folder');
  const file = statSync(p).isDirectory() ? join(p, SCAN_JSON) : p;
  const dir = statSync(p).isDirectory() ? p : resolve(p, '..');
  if (!existsSync(file)) throw new NotFoundError(file, 'scan result', `${p} holds no ${SCAN_JSON}: the scan is unfinished or this is not a scan folder`);
  const x = readJsonFile(file);
  const bad = (what: string): never => {
    throw new DataFormatError(file, what);
  };
  if (!isObject(x)) return bad('expected a JSON object.');
  if (x.kind !== 'neural-cleanse-scan') bad(`not a scan of 'poisonguard scan' ("kind" is ${JSON.stringify(x.kind)}, expected "neural-cleanse-scan").`);
  const model = x.model;
  if (!isObject(model) || typeof model.sha256 !== 'string' || typeof model.dir !== 'string') bad('model.dir and model.sha256 missing: cannot tell which model was scanned.');
  const m = model as Json;
  const shape = m.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) bad('model.inputShape must be [H, W, C].');
  if (!Number.isInteger(m.numClasses)) bad('model.numClasses must be an integer.');
  const runs = x.runs;
  if (!Array.isArray(runs) || runs.length === 0 || !isObject(runs[0])) bad('no scan run (runs is empty).');
  const run = (runs as Json[])[0];
  const labels = run.labels;
  if (!Array.isArray(labels)) bad('runs[0].labels must be a list.');
  const flagged: number[] = [];
  const labelFiles = new Map<number, string>();
  const norms = new Map<number, number>();
  (labels as unknown[]).forEach((l, i) => {
    if (!isObject(l) || !Number.isInteger(l.label)) bad(`runs[0].labels[${i}] needs an integer label.`);
    const e = l as Json;
    if (e.flagged === true) flagged.push(e.label as number);
    if (typeof e.norm === 'number') norms.set(e.label as number, e.norm);
    const files = e.files;
    if (isObject(files) && typeof files.json === 'string') labelFiles.set(e.label as number, join(dir, files.json));
    else labelFiles.set(e.label as number, join(dir, `seed-${Number(run.seed ?? 0)}`, `label-${String(e.label).padStart(2, '0')}.json`));
  });
  const verdict = isObject(x.verdict) ? x.verdict : {};
  const verdictLabels = Array.isArray(verdict.labels) ? (verdict.labels as unknown[]).filter((v): v is number => Number.isInteger(v)) : [];
  return {
    dir,
    modelDir: m.dir as string,
    modelSha256: m.sha256 as string,
    flagged,
    verdictLabels,
    verdictStatus: typeof verdict.status === 'string' ? verdict.status : 'unknown',
    seed: Number.isInteger(run.seed) ? (run.seed as number) : 0,
    numClasses: m.numClasses as number,
    inputShape: shape as [number, number, number],
    labelFiles,
    norms,
  };
}

/**
 * Checks that `modelDir` is the model the scan looked at: same SHA-256 over the folder's files.
 * Returns the hash.
 */
export function checkScanModel(scan: ScanSource, modelDir: string): string {
  const sha = hashModelFolder(resolve(modelDir));
  if (sha !== scan.modelSha256) {
    throw new PoisonguardError(
      'invalid-option',
      `the scan in ${scan.dir} is of another model: it scanned ${scan.modelDir} (SHA-256 ${scan.modelSha256.slice(0, 12)}… over the folder's files), ` +
        `but the model ${resolve(modelDir)} hashes to ${sha.slice(0, 12)}…. Scan this model first, or give its own scan.`,
      { path: 'scan', expected: `a scan of the model with SHA-256 ${sha}`, received: scan.modelSha256 },
    );
  }
  return sha;
}

/**
 * Which labels to mitigate: `requested` when given (one label or several, in the order given), else
 * every label the scan flagged — the verdict's labels and the labels its first run's outlier test
 * flagged (the run whose reversed triggers are used), in label order — else none. (A second backdoor
 * is often flagged without reaching the verdict's margin: the median the test relies on moves with
 * two small norms.) Each requested label must be a class index, given once, and have
 * a reversed trigger in the scan; an error names the first that is not.
 */
export function chooseLabels(scan: ScanSource, requested?: number | readonly number[]): { labels: number[]; reason: string } {
  const words = (labels: readonly number[]): string => `label${labels.length > 1 ? 's' : ''} ${labels.join(', ')}`;
  if (requested !== undefined) {
    const list = typeof requested === 'number' ? [requested] : [...requested];
    if (list.length === 0) throw new OptionError('label', 'at least one class index', '');
    const seen = new Set<number>();
    for (const l of list) {
      if (!Number.isInteger(l) || l < 0 || l >= scan.numClasses) throw new OptionError('label', `a class index in 0..${scan.numClasses - 1}`, l);
      if (seen.has(l)) throw new OptionError('label', `a list of distinct labels (label ${l} is given twice)`, list.join(','));
      seen.add(l);
      if (!scan.labelFiles.has(l)) throw new OptionError('label', `one of the scanned labels (${[...scan.labelFiles.keys()].join(', ')}): the scan has no reversed trigger for label ${l}`, l);
    }
    const flagged = list.filter((l) => scan.flagged.includes(l));
    const how =
      list.length === 1
        ? flagged.length === 1
          ? 'given; flagged by the scan'
          : 'given; NOT flagged by the scan'
        : flagged.length === list.length
          ? 'given; all flagged by the scan'
          : flagged.length === 0
            ? 'given; NOT flagged by the scan'
            : `given; ${flagged.join(', ')} flagged by the scan, ${list.filter((l) => !flagged.includes(l)).join(', ')} NOT`;
    return { labels: list, reason: `${words(list)} (${how})` };
  }
  const labels = [...new Set([...scan.verdictLabels, ...scan.flagged])].sort((a, b) => a - b);
  if (labels.length === 0) {
    return { labels: [], reason: `the scan (verdict '${scan.verdictStatus}') flagged no label. Name a label to mitigate one anyway.` };
  }
  for (const l of labels) if (!scan.labelFiles.has(l)) throw new OptionError('label', `one of the scanned labels (${[...scan.labelFiles.keys()].join(', ')}): the scan flagged label ${l} but holds no reversed trigger for it`, l);
  const onlyFlagged = labels.filter((l) => !scan.verdictLabels.includes(l));
  const how =
    scan.verdictLabels.length === 0 || onlyFlagged.length === 0
      ? `flagged by the scan, verdict '${scan.verdictStatus}'`
      : `flagged by the scan; its verdict '${scan.verdictStatus}' names ${scan.verdictLabels.join(', ')}, the outlier test flagged ${onlyFlagged.join(', ')} too`;
  return { labels, reason: `${words(labels)} (${how})` };
}

/** Reads the reversed trigger of `label` from the scan's label file. */
export function readReversedTrigger(scan: ScanSource, label: number): ReversedTrigger {
  const file = scan.labelFiles.get(label);
  if (file === undefined) throw new OptionError('label', `one of the scanned labels (${[...scan.labelFiles.keys()].join(', ')})`, label);
  if (!existsSync(file)) throw new NotFoundError(file, 'label result', `the scan's result for label ${label} is missing; rerun the scan to finish it`);
  const [H, W, C] = scan.inputShape;
  return reversedTriggerFromJson(readJsonFile(file), file, H, W, C);
}

/** Checks a label result's mask and pattern (the scan's `LabelResult` JSON) and lays them out. */
export function reversedTriggerFromJson(x: unknown, file: string, H: number, W: number, C: number): ReversedTrigger {
  if (!isObject(x)) throw new DataFormatError(file, 'expected a JSON object.');
  const shape = x.maskShape;
  if (!Array.isArray(shape) || shape.length !== 3 || shape[0] !== H || shape[1] !== W || (shape[2] !== 1 && shape[2] !== C)) {
    throw new ShapeError(`${file}: maskShape`, `[${H}, ${W}, 1 or ${C}]`, JSON.stringify(shape));
  }
  const mc = shape[2] as number;
  const mask = numbers(x.mask, H * W * mc, 0, 1, file, 'mask');
  const pattern = numbers(x.pattern, H * W * C, 0, 255, file, 'pattern');
  return {
    label: Number(x.label),
    height: H,
    width: W,
    channels: C,
    maskChannels: mc,
    mask,
    pattern,
    ...(typeof x.norm === 'number' ? { norm: x.norm } : {}),
    source: file,
  };
}

function numbers(v: unknown, length: number, lo: number, hi: number, file: string, what: string): Float32Array {
  if (!Array.isArray(v) || v.length !== length) throw new DataFormatError(file, `${what} must hold ${length} numbers, got ${Array.isArray(v) ? v.length : typeof v}.`);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const e = v[i];
    if (typeof e !== 'number' || !Number.isFinite(e) || e < lo - 1e-6 || e > hi + 1e-6) {
      throw new DataFormatError(file, `${what}[${i}] must be a number in [${lo}, ${hi}], got ${JSON.stringify(e)}.`);
    }
    out[i] = e;
  }
  return out;
}

/** Stamps a reversed trigger on raw NHWC images (a new array), rounding to 8 bits like a saved image. */
export function stampReversed(images: Uint8Array, t: ReversedTrigger): Uint8Array {
  const { height: H, width: W, channels: C, maskChannels: mc, mask, pattern } = t;
  const size = H * W * C;
  if (images.length % size !== 0) throw new ShapeError('images', `a multiple of ${size} bytes (${H}x${W}x${C})`, `${images.length} bytes`);
  const out = Uint8Array.from(images);
  const n = images.length / size;
  for (let p = 0; p < H * W; p++) {
    for (let k = 0; k < C; k++) {
      const m = mask[p * mc + (mc === 1 ? 0 : k)];
      if (m === 0) continue;
      const d = pattern[p * C + k];
      for (let i = 0; i < n; i++) {
        const j = i * size + p * C + k;
        out[j] = Math.round((1 - m) * out[j] + m * d);
      }
    }
  }
  return out;
}
