/**
 * The input filter of Neural Cleanse (§VI-A): an input's activation profile is the mean activation
 * of the top 1% of the ranked neurons (those the reversed trigger excites most); an input whose
 * profile exceeds a threshold is flagged as adversarial. The threshold is set on clean inputs for
 * a chosen false positive rate (paper: 5%). The filter is plain JSON (layer, neuron indices,
 * threshold, FPR, the model's identity) and applies to new inputs with the same model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { DataFormatError, NotFoundError, OptionError, PoisonguardError } from '../../errors.js';
import { checkPreprocessing, type Preprocessing } from '../../nn/preprocess.js';
import { checkRange } from '../../options.js';
import { DEFAULT_TOP_SHARE } from './defaults.js';
import type { MitigationLayer } from './layers.js';

export { DEFAULT_FPR, DEFAULT_TOP_SHARE } from './defaults.js';
/** FPRs at which the FPR/FNR curve is reported (ours: a log-ish grid around the paper's 5%). */
export const CURVE_FPRS: readonly number[] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5];
export const FILTER_FORMAT = 'poisonguard-filter';
export const FILTER_VERSION = 1;

/** The saved filter (filter.json). */
export interface InputFilter {
  readonly format: typeof FILTER_FORMAT;
  readonly formatVersion: typeof FILTER_VERSION;
  /** The model it belongs to: its folder when made, and the SHA-256 over the folder's files. */
  readonly model: { readonly dir: string; readonly sha256: string };
  /** The backdoor label whose reversed trigger ranked the neurons. */
  readonly label: number;
  readonly layer: { readonly name: string; readonly index: number; readonly kind: 'dense' | 'conv'; readonly units: number };
  /** Neurons of the profile, the most trigger-excited first. */
  readonly neurons: readonly number[];
  readonly topShare: number;
  /** Inputs with a profile above this are flagged. */
  readonly threshold: number;
  /** The false positive rate the threshold was set for. */
  readonly fpr: number;
  /** Clean inputs it was calibrated on, and the share of them above the threshold. */
  readonly calibration: { readonly images: number; readonly measuredFpr: number };
  readonly preprocessing: Preprocessing;
  readonly inputShape: readonly [number, number, number];
  readonly date: string;
}

/** The profile's neurons: the first max(1, round(topShare·units)) of the ranking. */
export function profileNeurons(order: readonly number[], topShare: number = DEFAULT_TOP_SHARE): number[] {
  checkRange('topShare', topShare, 0, 1, true);
  const k = Math.max(1, Math.round(topShare * order.length));
  return order.slice(0, k);
}

/** Per input, the mean activation over `neurons` (rows of a count × units matrix). */
export function activationProfiles(perNeuron: Float32Array, units: number, neurons: readonly number[]): Float64Array {
  const count = perNeuron.length / units;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (const u of neurons) s += perNeuron[i * units + u];
    out[i] = s / neurons.length;
  }
  return out;
}

/**
 * The smallest threshold that flags at most ⌊fpr·n⌋ of the clean profiles (flag = profile > t):
 * the ⌈(1 − fpr)·n⌉-th smallest profile.
 */
export function thresholdForFpr(cleanProfiles: ArrayLike<number>, fpr: number): number {
  checkRange('fpr', fpr, 0, 1);
  const n = cleanProfiles.length;
  if (n === 0) throw new OptionError('clean inputs', 'at least one, to set the threshold', 0);
  const sorted = Float64Array.from(cleanProfiles).sort();
  const k = Math.max(1, Math.ceil((1 - fpr) * n - 1e-9));
  return sorted[k - 1];
}

/** Share of profiles above the threshold (flagged). */
export function flaggedShare(profiles: ArrayLike<number>, threshold: number): number {
  if (profiles.length === 0) return 0;
  let k = 0;
  for (let i = 0; i < profiles.length; i++) if (profiles[i] > threshold) k++;
  return k / profiles.length;
}

export interface FilterCurvePoint {
  /** FPR the threshold was set for on the calibration inputs. */
  readonly targetFpr: number;
  readonly threshold: number;
  /** Measured on held-out clean inputs. */
  readonly fpr: number;
  /** Share of inputs with the real trigger NOT flagged (null when the model records no trigger). */
  readonly fnr: number | null;
  /** Share of inputs with the reversed trigger not flagged. */
  readonly fnrReversed: number;
}

/** The FPR/FNR curve over thresholds set for each FPR of `fprs` on the calibration profiles. */
export function filterCurve(
  calibration: ArrayLike<number>,
  heldOutClean: ArrayLike<number>,
  realStamped: ArrayLike<number> | null,
  reversedStamped: ArrayLike<number>,
  fprs: readonly number[] = CURVE_FPRS,
): FilterCurvePoint[] {
  return fprs.map((targetFpr) => {
    const threshold = thresholdForFpr(calibration, targetFpr);
    return {
      targetFpr,
      threshold,
      fpr: flaggedShare(heldOutClean, threshold),
      fnr: realStamped ? 1 - flaggedShare(realStamped, threshold) : null,
      fnrReversed: 1 - flaggedShare(reversedStamped, threshold),
    };
  });
}

/** Builds the filter from a ranking and calibration profiles. */
export function makeFilter(args: {
  readonly model: { dir: string; sha256: string };
  readonly label: number;
  readonly layer: MitigationLayer;
  readonly neurons: readonly number[];
  readonly topShare: number;
  readonly calibration: ArrayLike<number>;
  readonly fpr: number;
  readonly preprocessing: Preprocessing;
  readonly inputShape: readonly [number, number, number];
}): InputFilter {
  const threshold = thresholdForFpr(args.calibration, args.fpr);
  return {
    format: FILTER_FORMAT,
    formatVersion: FILTER_VERSION,
    model: { dir: args.model.dir, sha256: args.model.sha256 },
    label: args.label,
    layer: { name: args.layer.name, index: args.layer.index, kind: args.layer.kind, units: args.layer.units },
    neurons: [...args.neurons],
    topShare: args.topShare,
    threshold,
    fpr: args.fpr,
    calibration: { images: args.calibration.length, measuredFpr: flaggedShare(args.calibration, threshold) },
    preprocessing: args.preprocessing,
    inputShape: [...args.inputShape] as [number, number, number],
    date: new Date().toISOString(),
  };
}

/** Reads and checks a filter file. */
export function readFilter(path: string): InputFilter {
  if (!existsSync(path)) throw new NotFoundError(path, 'filter file', 'Make one with the filter mitigation (it writes filter.json in its output folder)');
  let x: Record<string, unknown>;
  try {
    x = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DataFormatError(path, `not valid JSON (${(e as Error).message}).`);
  }
  const bad = (what: string): never => {
    throw new DataFormatError(path, what);
  };
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return bad('expected a JSON object.');
  if (x.format !== FILTER_FORMAT) bad(`not a filter file ("format" is ${JSON.stringify(x.format)}, expected "${FILTER_FORMAT}").`);
  if (x.formatVersion !== FILTER_VERSION) bad(`formatVersion ${JSON.stringify(x.formatVersion)} is not supported (expected ${FILTER_VERSION}).`);
  const model = x.model as Record<string, unknown> | null;
  if (typeof model !== 'object' || model === null || typeof model.sha256 !== 'string') bad('model.sha256 missing.');
  const layer = x.layer as Record<string, unknown> | null;
  if (typeof layer !== 'object' || layer === null || typeof layer.name !== 'string' || !Number.isInteger(layer.units)) bad('layer.name and layer.units missing.');
  const units = (layer as { units: number }).units;
  const neurons = x.neurons;
  if (!Array.isArray(neurons) || neurons.length === 0 || !neurons.every((u) => Number.isInteger(u) && u >= 0 && u < units)) {
    bad(`neurons must be a non-empty list of indices in 0..${units - 1}.`);
  }
  if (typeof x.threshold !== 'number' || !Number.isFinite(x.threshold)) bad('threshold must be a finite number.');
  const shape = x.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) bad('inputShape must be [H, W, C].');
  checkPreprocessing(x.preprocessing, path);
  return x as unknown as InputFilter;
}

/** Refuses a model folder whose files differ from the filter's model. */
export function checkFilterModel(filter: InputFilter, sha256: string, modelDir: string): void {
  if (filter.model.sha256 !== sha256) {
    throw new PoisonguardError(
      'invalid-option',
      `the filter was made for another model (${filter.model.dir}, SHA-256 ${filter.model.sha256.slice(0, 12)}…), but the model ${modelDir} hashes to ${sha256.slice(0, 12)}….`,
      { path: 'filter', expected: filter.model.sha256, received: sha256 },
    );
  }
}
