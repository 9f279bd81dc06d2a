/**
 * The input filter of Neural Cleanse (§VI-A): an input's activation profile is the mean activation
 * of the top 1% of the ranked neurons (those the reversed trigger excites most); an input whose
 * profile exceeds a threshold is flagged as adversarial. The threshold is set on clean inputs for
 * a chosen false positive rate (paper: 5%). The filter is plain JSON (layer, neuron indices,
 * threshold, FPR, the model's identity) and applies to new inputs with the same model.
 *
 * Several infected labels: one profile per label (its own reversed trigger's top neurons, its own
 * threshold); an input is flagged when ANY profile exceeds its threshold. The thresholds are set
 * together, at the same per-label level, so that the union flags at most the chosen FPR of the clean
 * calibration inputs ({@link jointThresholds}). A one-label filter is written as it always was
 * (formatVersion 1); a several-label one as formatVersion 2 (`labels`, `profiles`), which an older
 * reader refuses rather than applying only one profile.
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
/** The version of a one-label filter file (label, neurons, threshold). */
export const FILTER_VERSION = 1;
/** The version of a several-label filter file (labels, profiles). */
export const FILTER_VERSION_MULTI = 2;

/** One label's profile: its neurons (most excited by its reversed trigger first) and its threshold. */
export interface FilterProfile {
  readonly label: number;
  readonly neurons: readonly number[];
  /** Inputs with a profile above this are flagged. */
  readonly threshold: number;
}

/** What every filter file holds. */
interface FilterCommon {
  readonly format: typeof FILTER_FORMAT;
  /** The model it belongs to: its folder when made, and the SHA-256 over the folder's files. */
  readonly model: { readonly dir: string; readonly sha256: string };
  readonly layer: { readonly name: string; readonly index: number; readonly kind: 'dense' | 'conv'; readonly units: number };
  readonly topShare: number;
  /** The false positive rate the threshold(s) were set for. */
  readonly fpr: number;
  /** Clean inputs it was calibrated on, and the share of them flagged. */
  readonly calibration: { readonly images: number; readonly measuredFpr: number };
  readonly preprocessing: Preprocessing;
  readonly inputShape: readonly [number, number, number];
  readonly date: string;
}

/** A one-label filter (filter.json, formatVersion 1). */
export interface SingleLabelFilter extends FilterCommon {
  readonly formatVersion: typeof FILTER_VERSION;
  /** The backdoor label whose reversed trigger ranked the neurons. */
  readonly label: number;
  /** Neurons of the profile, the most trigger-excited first. */
  readonly neurons: readonly number[];
  /** Inputs with a profile above this are flagged. */
  readonly threshold: number;
}

/** A several-label filter (formatVersion 2): flagged when any label's profile exceeds its threshold. */
export interface MultiLabelFilter extends FilterCommon {
  readonly formatVersion: typeof FILTER_VERSION_MULTI;
  readonly labels: readonly number[];
  readonly profiles: readonly FilterProfile[];
}

/** The saved filter (filter.json). */
export type InputFilter = SingleLabelFilter | MultiLabelFilter;

/** A filter's profiles, one per label (one for a one-label filter). */
export function filterProfiles(f: InputFilter): readonly FilterProfile[] {
  return f.formatVersion === FILTER_VERSION_MULTI ? f.profiles : [{ label: f.label, neurons: f.neurons, threshold: f.threshold }];
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

/** Per input, whether any label's profile exceeds that label's threshold (`profiles[l][i]`: label l's profile of input i). */
export function flaggedAny(profiles: readonly ArrayLike<number>[], thresholds: readonly number[]): Uint8Array {
  const n = profiles[0]?.length ?? 0;
  const out = new Uint8Array(n);
  profiles.forEach((p, l) => {
    for (let i = 0; i < n; i++) if (p[i] > thresholds[l]) out[i] = 1;
  });
  return out;
}

/** Share of inputs flagged by any label's profile. */
export function flaggedShareAny(profiles: readonly ArrayLike<number>[], thresholds: readonly number[]): number {
  const f = flaggedAny(profiles, thresholds);
  return f.length === 0 ? 0 : f.reduce((a, b) => a + b, 0) / f.length;
}

/**
 * Thresholds of several labels' profiles whose union flags at most ⌊fpr·n⌋ of the n clean
 * calibration inputs: every label's threshold is {@link thresholdForFpr} at the same level α, the
 * largest α (fpr itself, else j/n for j = ⌊fpr·n⌋, ⌊fpr·n⌋ − 1, … 0) that keeps the union within the
 * FPR. One label: α = fpr, its threshold as a one-label filter sets it.
 */
export function jointThresholds(calibration: readonly ArrayLike<number>[], fpr: number): number[] {
  checkRange('fpr', fpr, 0, 1);
  if (calibration.length === 0) throw new OptionError('profiles', 'at least one label', 0);
  const n = calibration[0].length;
  const at = (alpha: number): number[] => calibration.map((c) => thresholdForFpr(c, alpha));
  const within = (t: number[]): boolean => flaggedAny(calibration, t).reduce((a, b) => a + b, 0) <= fpr * n + 1e-9;
  const first = at(fpr);
  if (calibration.length === 1 || within(first)) return first;
  for (let j = Math.floor(fpr * n + 1e-9); j >= 0; j--) {
    const t = at(j / n);
    if (within(t)) return t;
  }
  return at(0);
}

export interface FilterCurvePoint {
  /** FPR the threshold was set for on the calibration inputs. */
  readonly targetFpr: number;
  /** The (first label's) threshold. */
  readonly threshold: number;
  /** Each label's threshold. */
  readonly thresholds: readonly number[];
  /** Measured on held-out clean inputs. */
  readonly fpr: number;
  /** Share of inputs with the real trigger NOT flagged (null when the model records no trigger). */
  readonly fnr: number | null;
  /** Share of inputs with the reversed trigger not flagged; several labels: the largest over their triggers. */
  readonly fnrReversed: number;
  /** Per label's reversed trigger. */
  readonly fnrReversedByLabel: readonly number[];
}

/** The FPR/FNR curve over thresholds set for each FPR of `fprs` on the calibration profiles (one label). */
export function filterCurve(
  calibration: ArrayLike<number>,
  heldOutClean: ArrayLike<number>,
  realStamped: ArrayLike<number> | null,
  reversedStamped: ArrayLike<number>,
  fprs: readonly number[] = CURVE_FPRS,
): FilterCurvePoint[] {
  return filterCurveAny([calibration], [heldOutClean], realStamped ? [realStamped] : null, [[reversedStamped]], fprs);
}

/**
 * The curve of a several-label filter: every set given as one profile array per label
 * (`reversedStamped[j]`: the set stamped with label j's reversed trigger), thresholds set by
 * {@link jointThresholds} for each FPR.
 */
export function filterCurveAny(
  calibration: readonly ArrayLike<number>[],
  heldOutClean: readonly ArrayLike<number>[],
  realStamped: readonly ArrayLike<number>[] | null,
  reversedStamped: readonly (readonly ArrayLike<number>[])[],
  fprs: readonly number[] = CURVE_FPRS,
): FilterCurvePoint[] {
  return fprs.map((targetFpr) => {
    const thresholds = jointThresholds(calibration, targetFpr);
    const byLabel = reversedStamped.map((r) => 1 - flaggedShareAny(r, thresholds));
    return {
      targetFpr,
      threshold: thresholds[0],
      thresholds,
      fpr: flaggedShareAny(heldOutClean, thresholds),
      fnr: realStamped ? 1 - flaggedShareAny(realStamped, thresholds) : null,
      fnrReversed: Math.max(...byLabel),
      fnrReversedByLabel: byLabel,
    };
  });
}

/**
 * Builds the filter from each label's profile neurons and calibration profiles (one entry per
 * label; one entry: a one-label filter, as it always was).
 */
export function makeFilter(args: {
  readonly model: { dir: string; sha256: string };
  readonly labels: readonly number[];
  readonly layer: MitigationLayer;
  /** Per label, its profile's neurons. */
  readonly neurons: readonly (readonly number[])[];
  readonly topShare: number;
  /** Per label, the calibration inputs' profiles. */
  readonly calibration: readonly ArrayLike<number>[];
  readonly fpr: number;
  readonly preprocessing: Preprocessing;
  readonly inputShape: readonly [number, number, number];
}): InputFilter {
  const thresholds = jointThresholds(args.calibration, args.fpr);
  const model = { dir: args.model.dir, sha256: args.model.sha256 };
  const layer = { name: args.layer.name, index: args.layer.index, kind: args.layer.kind, units: args.layer.units };
  const tail = {
    fpr: args.fpr,
    calibration: { images: args.calibration[0].length, measuredFpr: flaggedShareAny(args.calibration, thresholds) },
    preprocessing: args.preprocessing,
    inputShape: [...args.inputShape] as [number, number, number],
    date: new Date().toISOString(),
  };
  if (args.labels.length === 1) {
    // The fields in the order a one-label filter.json has always had them.
    return { format: FILTER_FORMAT, formatVersion: FILTER_VERSION, model, label: args.labels[0], layer, neurons: [...args.neurons[0]], topShare: args.topShare, threshold: thresholds[0], ...tail };
  }
  return {
    format: FILTER_FORMAT,
    formatVersion: FILTER_VERSION_MULTI,
    model,
    labels: [...args.labels],
    layer,
    profiles: args.labels.map((label, l) => ({ label, neurons: [...args.neurons[l]], threshold: thresholds[l] })),
    topShare: args.topShare,
    ...tail,
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
  if (x.formatVersion !== FILTER_VERSION && x.formatVersion !== FILTER_VERSION_MULTI) {
    bad(`formatVersion ${JSON.stringify(x.formatVersion)} is not supported (expected ${FILTER_VERSION}, or ${FILTER_VERSION_MULTI} for several labels).`);
  }
  const model = x.model as Record<string, unknown> | null;
  if (typeof model !== 'object' || model === null || typeof model.sha256 !== 'string') bad('model.sha256 missing.');
  const layer = x.layer as Record<string, unknown> | null;
  if (typeof layer !== 'object' || layer === null || typeof layer.name !== 'string' || !Number.isInteger(layer.units)) bad('layer.name and layer.units missing.');
  const units = (layer as { units: number }).units;
  const checkProfile = (p: Record<string, unknown>, at: string): void => {
    const neurons = p.neurons;
    if (!Array.isArray(neurons) || neurons.length === 0 || !neurons.every((u) => Number.isInteger(u) && u >= 0 && u < units)) {
      bad(`${at}neurons must be a non-empty list of indices in 0..${units - 1}.`);
    }
    if (typeof p.threshold !== 'number' || !Number.isFinite(p.threshold)) bad(`${at}threshold must be a finite number.`);
  };
  if (x.formatVersion === FILTER_VERSION) checkProfile(x, '');
  else {
    const profiles = x.profiles;
    if (!Array.isArray(profiles) || profiles.length === 0) return bad('profiles must be a non-empty list (formatVersion 2).');
    profiles.forEach((p, i) => {
      if (typeof p !== 'object' || p === null || !Number.isInteger((p as Record<string, unknown>).label)) bad(`profiles[${i}] needs an integer label.`);
      checkProfile(p as Record<string, unknown>, `profiles[${i}].`);
    });
  }
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
