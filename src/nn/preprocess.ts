/**
 * A model's input preprocessing, declared once, saved with the model (metadata.json) and applied
 * in every later step: training, evaluation, and Neural Cleanse (which stamps triggers in the raw
 * 0..255 pixel domain, then preprocesses). A mismatch here is the classic cause of a clean model
 * being flagged, so nothing downstream may assume a range: it asks {@link intensityRange}.
 * This module loads no TensorFlow.js; the tensor form is in preprocess-tensor.ts.
 */
import { DataFormatError, OptionError, UnknownNameError } from '../errors.js';

/** x ↦ x·scale + offset on raw pixels 0..255, every channel alike. */
export interface ScalePreprocessing {
  readonly kind: 'scale';
  readonly scale: number;
  readonly offset: number;
}

/** x ↦ (x/255 − mean[c]) / std[c] per channel (the ports' dataset normalisation, e.g. TrojanZoo). */
export interface NormalizePreprocessing {
  readonly kind: 'normalize';
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export type Preprocessing = ScalePreprocessing | NormalizePreprocessing;

/**
 * Named presets. The names follow the Neural Cleanse release's `intensity_range` values
 * (utils_backdoor.py: 'raw', 'mnist' = x/255 − 0.5, 'inception' = 2x/255 − 1); 'unit' is x/255.
 */
export const PREPROCESSING_PRESETS = {
  unit: { kind: 'scale', scale: 1 / 255, offset: 0 },
  raw: { kind: 'scale', scale: 1, offset: 0 },
  mnist: { kind: 'scale', scale: 1 / 255, offset: -0.5 },
  inception: { kind: 'scale', scale: 2 / 255, offset: -1 },
} as const satisfies Record<string, ScalePreprocessing>;

export type PreprocessingPreset = keyof typeof PREPROCESSING_PRESETS;

/** Default: pixels divided by 255 into [0, 1], as the Keras BadNets recipes feed MNIST and GTSRB. */
export const DEFAULT_PREPROCESSING_PRESET: PreprocessingPreset = 'unit';
export const DEFAULT_PREPROCESSING: Preprocessing = PREPROCESSING_PRESETS[DEFAULT_PREPROCESSING_PRESET];

export function preprocessingPreset(name: string): Preprocessing {
  if (!Object.hasOwn(PREPROCESSING_PRESETS, name)) throw new UnknownNameError('preprocessing', name, Object.keys(PREPROCESSING_PRESETS));
  return PREPROCESSING_PRESETS[name as PreprocessingPreset];
}

/**
 * `none`: nothing outside the graph but torchvision's ToTensor (x/255), for a graph that normalises
 * its input itself (a `Normalize` exported inside the model).
 */
export const NO_NORMALISATION_PRESET = 'none';

/**
 * Parses a `--preprocess` value: a preset name, `none`, or
 * `normalize:mean=a,b,c;std=d,e,f` (the per-channel means and deviations of x/255, as
 * torchvision's `Normalize` takes them; one value each for a grey model).
 */
export function parsePreprocessingSpec(spec: string, option = '--preprocess'): Preprocessing {
  const text = spec.trim();
  if (text === NO_NORMALISATION_PRESET) return PREPROCESSING_PRESETS.unit;
  if (!text.startsWith('normalize:')) {
    if (Object.hasOwn(PREPROCESSING_PRESETS, text)) return PREPROCESSING_PRESETS[text as PreprocessingPreset];
    throw new UnknownNameError(option, text, [...Object.keys(PREPROCESSING_PRESETS), NO_NORMALISATION_PRESET, 'normalize:mean=…;std=…']);
  }
  const fields = new Map<string, number[]>();
  for (const part of text.slice('normalize:'.length).split(';')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    if (eq < 0 || (key !== 'mean' && key !== 'std') || fields.has(key)) throw new OptionError(option, 'normalize:mean=a,b,c;std=d,e,f', spec);
    const values = part.slice(eq + 1).split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
    if (values.some((v) => !Number.isFinite(v))) throw new OptionError(`${option} ${key}`, 'a comma-separated list of numbers', part.slice(eq + 1));
    fields.set(key, values);
  }
  const mean = fields.get('mean');
  const std = fields.get('std');
  if (!mean || !std) throw new OptionError(option, 'both mean=… and std=… (normalize:mean=a,b,c;std=d,e,f)', spec);
  return checkPreprocessing({ kind: 'normalize', mean, std }, option);
}

/** Per-channel factors a, b of x ↦ a·x + b (both forms are affine). */
export function affine(p: Preprocessing, channels: number): { a: Float64Array; b: Float64Array } {
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    if (p.kind === 'scale') {
      a[c] = p.scale;
      b[c] = p.offset;
    } else {
      a[c] = 1 / (255 * p.std[c]);
      b[c] = -p.mean[c] / p.std[c];
    }
  }
  return { a, b };
}

/** The range [lo, hi] of preprocessed values per channel (raw 0 and 255 mapped through). */
export function intensityRange(p: Preprocessing, channels: number): { lo: number[]; hi: number[] } {
  checkChannels(p, channels);
  const { a, b } = affine(p, channels);
  const lo: number[] = [];
  const hi: number[] = [];
  for (let c = 0; c < channels; c++) {
    const v0 = b[c];
    const v1 = 255 * a[c] + b[c];
    lo.push(Math.min(v0, v1));
    hi.push(Math.max(v0, v1));
  }
  return { lo, hi };
}

/** Preprocesses raw NHWC bytes into `out` (same length). */
export function preprocessInto(raw: Uint8Array, channels: number, p: Preprocessing, out: Float32Array): Float32Array {
  checkChannels(p, channels);
  const { a, b } = affine(p, channels);
  if (channels === 1) {
    const a0 = a[0];
    const b0 = b[0];
    for (let i = 0; i < raw.length; i++) out[i] = raw[i] * a0 + b0;
  } else {
    for (let i = 0; i < raw.length; i++) {
      const c = i % channels;
      out[i] = raw[i] * a[c] + b[c];
    }
  }
  return out;
}

/** Preprocesses raw NHWC bytes into a new Float32Array. */
export function preprocessBatch(raw: Uint8Array, channels: number, p: Preprocessing): Float32Array {
  return preprocessInto(raw, channels, p, new Float32Array(raw.length));
}

export function checkChannels(p: Preprocessing, channels: number): void {
  if (p.kind === 'normalize' && (p.mean.length !== channels || p.std.length !== channels)) {
    throw new OptionError('preprocessing.mean/std', `${channels} values each (one per channel)`, { mean: p.mean, std: p.std });
  }
}

/**
 * Bounds of a sensible preprocessing: pixels 0..255 map into [−MAX_PREPROCESSED, MAX_PREPROCESSED],
 * and black and white lie at least MIN_PREPROCESSED_SPAN apart. Outside them (a scale of 1e300, a
 * std of 1e-300) float32 arithmetic overflows or loses the image, and a scan would blame its
 * learning rate instead of the file.
 */
export const MAX_PREPROCESSED = 1e4;
export const MIN_PREPROCESSED_SPAN = 1e-4;

/** Validates a preprocessing read from a file (metadata.json); `where` names the file. */
export function checkPreprocessing(value: unknown, where: string): Preprocessing {
  const p = checkPreprocessingFields(value, where);
  const { lo, hi } = intensityRange(p, p.kind === 'normalize' ? p.mean.length : 1);
  for (let c = 0; c < lo.length; c++) {
    if (!(Math.max(Math.abs(lo[c]), Math.abs(hi[c])) <= MAX_PREPROCESSED && hi[c] - lo[c] >= MIN_PREPROCESSED_SPAN)) {
      throw new DataFormatError(
        where,
        `bad preprocessing: it maps pixels 0..255 to [${round(lo[c])}, ${round(hi[c])}]${lo.length > 1 ? ` in channel ${c}` : ''}; a usable one maps them within ±${MAX_PREPROCESSED}, at least ${MIN_PREPROCESSED_SPAN} apart (got ${JSON.stringify(value)}).`,
      );
    }
  }
  return p;
}

function checkPreprocessingFields(value: unknown, where: string): Preprocessing {
  const v = value as Record<string, unknown> | null;
  const bad = (what: string): never => {
    throw new DataFormatError(where, `bad preprocessing: ${what} (got ${JSON.stringify(value)}).`);
  };
  if (typeof v !== 'object' || v === null) return bad('expected an object');
  if (v.kind === 'scale') {
    if (typeof v.scale !== 'number' || !Number.isFinite(v.scale) || v.scale === 0) bad('scale must be a non-zero finite number');
    if (typeof v.offset !== 'number' || !Number.isFinite(v.offset)) bad('offset must be a finite number');
    return { kind: 'scale', scale: v.scale as number, offset: v.offset as number };
  }
  if (v.kind === 'normalize') {
    const nums = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((n) => typeof n === 'number' && Number.isFinite(n));
    if (!nums(v.mean)) bad('mean must be a list of finite numbers');
    if (!nums(v.std) || (v.std as number[]).some((s) => s <= 0)) bad('std must be a list of positive numbers');
    if ((v.mean as number[]).length !== (v.std as number[]).length) bad('mean and std must have one value per channel');
    return { kind: 'normalize', mean: [...(v.mean as number[])], std: [...(v.std as number[])] };
  }
  return bad("kind must be 'scale' or 'normalize'");
}

/** A short human description, e.g. "x/255 → [0, 1]". */
export function describePreprocessing(p: Preprocessing, channels: number): string {
  const { lo, hi } = intensityRange(p, channels);
  const range = lo.map((l, c) => `[${round(l)}, ${round(hi[c])}]`);
  const uniq = [...new Set(range)];
  if (p.kind === 'scale') {
    const times = p.scale === 1 ? 'x' : p.scale < 1 ? `x/${round(1 / p.scale)}` : `x·${round(p.scale)}`;
    const plus = p.offset === 0 ? '' : ` ${p.offset < 0 ? '−' : '+'} ${round(Math.abs(p.offset))}`;
    return `${times}${plus} → ${uniq.join(' ')}`;
  }
  return `(x/255 − mean)/std per channel → ${uniq.join(' ')}`;
}

function round(v: number): string {
  return String(Number(v.toPrecision(6)));
}
