/**
 * Backdoor triggers and BadNets poisoning (Gu et al. 2017, as Neural Cleanse made its infected
 * models): a trigger is stamped in the raw uint8 pixel domain, before any preprocessing, as
 * x' = (1 − m)·x + m·p with a mask m (H×W, 0..1, shared by all channels) and a pattern p.
 * A trigger and its target are plain JSON-ready objects, saved in the model's metadata.json.
 */
import { resolve as resolvePath } from 'node:path';
import { decodeImageFile } from '../data/image-files.js';
import { imageSet, type ImageSet } from '../data/images.js';
import { DataFormatError, MissingOptionError, OptionError, UnknownNameError } from '../errors.js';
import { checkNonNegativeInt, checkPositiveInt, checkRange } from '../options.js';
import type { Random } from '../random.js';

/** Side of the square trigger: 4x4 on MNIST and GTSRB (Neural Cleanse, BadNets injection). */
export const DEFAULT_TRIGGER_SIZE = 4;
/** Where the square goes: the bottom-right corner (Neural Cleanse release). */
export const DEFAULT_TRIGGER_POSITION: NamedPosition = 'bottom-right';
/** Gap between a corner square and the image border: 1 pixel (rows/cols H−5..H−2 for 4x4 on 32x32, release). */
export const DEFAULT_TRIGGER_MARGIN = 1;
/** Colour of the square: white (release). */
export const DEFAULT_TRIGGER_COLOUR: readonly number[] = [255, 255, 255];
/** Share of training samples poisoned: 0.1/1.1 ≈ 9.1% (release: 10% extra poisoned samples per clean batch). */
export const DEFAULT_POISON_RATE = 0.1 / 1.1;

export const NAMED_POSITIONS = ['bottom-right', 'bottom-left', 'top-right', 'top-left', 'centre'] as const;
export type NamedPosition = (typeof NAMED_POSITIONS)[number];

/** Named colours of the CLI spec (besides '#rrggbb', 'R:G:B' and a grey level 0..255). */
export const NAMED_COLOURS: Readonly<Record<string, readonly number[]>> = {
  white: [255, 255, 255],
  black: [0, 0, 0],
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
};

/** A solid square. */
export interface SquareTrigger {
  readonly kind: 'square';
  /** Side in pixels. */
  readonly size: number;
  /** A named corner/centre, or the explicit top-left corner (x = column, y = row, 0-based). */
  readonly position: NamedPosition | { readonly x: number; readonly y: number };
  /** Gap to the border for named corner positions. */
  readonly margin: number;
  /** R, G, B, each 0..255 (a 1-channel image needs R = G = B). */
  readonly colour: readonly number[];
}

/** An arbitrary pattern with a soft mask, the size of the images. */
export interface PatternTrigger {
  readonly kind: 'pattern';
  readonly height: number;
  readonly width: number;
  /** height·width·3 raw values 0..255, RGB interleaved (a 1-channel image needs R = G = B). */
  readonly pattern: readonly number[];
  /** height·width values in [0, 1]. */
  readonly mask: readonly number[];
  /** The file the pattern came from, for reports. */
  readonly source?: string;
}

export type Trigger = SquareTrigger | PatternTrigger;

/** A backdoor: a trigger, the label it sends inputs to, and the poisoning rate used to plant it. */
export interface Backdoor {
  readonly trigger: Trigger;
  readonly target: number;
  readonly rate: number;
}

/** A trigger laid out on images of one shape: the mask and the pattern, ready to stamp. */
export interface ResolvedTrigger {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** height·width, in [0, 1]. */
  readonly mask: Float32Array;
  /** height·width·channels raw values 0..255. */
  readonly pattern: Float32Array;
  /** The mask's bounding box (inclusive rows/columns). */
  readonly box: { readonly top: number; readonly left: number; readonly bottom: number; readonly right: number };
}

/** A square trigger with the release's defaults for every field not given. */
export function squareTrigger(options: Partial<Omit<SquareTrigger, 'kind'>> = {}): SquareTrigger {
  return {
    kind: 'square',
    size: checkPositiveInt('trigger size', options.size ?? DEFAULT_TRIGGER_SIZE),
    position: options.position ?? DEFAULT_TRIGGER_POSITION,
    margin: checkNonNegativeInt('trigger margin', options.margin ?? DEFAULT_TRIGGER_MARGIN),
    colour: checkColour('trigger colour', options.colour ?? DEFAULT_TRIGGER_COLOUR),
  };
}

/** Lays a trigger out on images of height × width × channels; throws when it does not fit. */
export function resolveTrigger(trigger: Trigger, height: number, width: number, channels: number): ResolvedTrigger {
  if (channels !== 1 && channels !== 3) throw new OptionError('image channels', '1 or 3', channels);
  const mask = new Float32Array(height * width);
  const pattern = new Float32Array(height * width * channels);
  if (trigger.kind === 'square') {
    const { size, margin } = trigger;
    let top: number;
    let left: number;
    if (typeof trigger.position === 'string') {
      switch (trigger.position) {
        case 'bottom-right':
          [top, left] = [height - margin - size, width - margin - size];
          break;
        case 'bottom-left':
          [top, left] = [height - margin - size, margin];
          break;
        case 'top-right':
          [top, left] = [margin, width - margin - size];
          break;
        case 'top-left':
          [top, left] = [margin, margin];
          break;
        case 'centre':
          [top, left] = [Math.floor((height - size) / 2), Math.floor((width - size) / 2)];
          break;
        default:
          throw new UnknownNameError('trigger position', String(trigger.position), NAMED_POSITIONS);
      }
    } else {
      [top, left] = [trigger.position.y, trigger.position.x];
    }
    if (top < 0 || left < 0 || top + size > height || left + size > width) {
      throw new OptionError(
        'trigger',
        `inside the ${height}x${width} image`,
        `a ${size}x${size} square at row ${top}, column ${left}${typeof trigger.position === 'string' ? ` (${trigger.position}, margin ${margin})` : ''}`,
      );
    }
    const values = channelValues(trigger.colour, channels, 'trigger colour');
    for (let r = top; r < top + size; r++) {
      for (let c = left; c < left + size; c++) {
        mask[r * width + c] = 1;
        for (let k = 0; k < channels; k++) pattern[(r * width + c) * channels + k] = values[k];
      }
    }
    return { height, width, channels, mask, pattern, box: { top, left, bottom: top + size - 1, right: left + size - 1 } };
  }
  if (trigger.height !== height || trigger.width !== width) {
    throw new OptionError('trigger pattern', `${height}x${width} like the images`, `${trigger.height}x${trigger.width}`);
  }
  let [top, left, bottom, right] = [height, width, -1, -1];
  for (let p = 0; p < height * width; p++) {
    mask[p] = trigger.mask[p];
    if (mask[p] > 0) {
      const r = Math.floor(p / width);
      const c = p % width;
      [top, left, bottom, right] = [Math.min(top, r), Math.min(left, c), Math.max(bottom, r), Math.max(right, c)];
    }
    const rgb = [trigger.pattern[3 * p], trigger.pattern[3 * p + 1], trigger.pattern[3 * p + 2]];
    const values = channelValues(rgb, channels, `trigger pattern pixel ${p}`);
    for (let k = 0; k < channels; k++) pattern[p * channels + k] = values[k];
  }
  return { height, width, channels, mask, pattern, box: { top, left, bottom, right } };
}

/** The pixels (row-major indices) the trigger's mask touches. */
export function maskSupport(resolved: ResolvedTrigger): number[] {
  const support: number[] = [];
  for (let p = 0; p < resolved.mask.length; p++) if (resolved.mask[p] > 0) support.push(p);
  return support;
}

/** Stamps `images` in place (raw NHWC bytes; all images, or those listed). */
export function stampInPlace(images: Uint8Array, resolved: ResolvedTrigger, indices?: ArrayLike<number>): void {
  const { height, width, channels, mask, pattern } = resolved;
  const size = height * width * channels;
  if (images.length % size !== 0) throw new OptionError('images', `a multiple of ${size} bytes (${height}x${width}x${channels})`, images.length);
  const count = indices ? indices.length : images.length / size;
  // Only the mask's support changes: visit those pixels alone.
  const support = maskSupport(resolved);
  for (let n = 0; n < count; n++) {
    const base = (indices ? indices[n] : n) * size;
    for (const p of support) {
      const m = mask[p];
      for (let k = 0; k < channels; k++) {
        const i = base + p * channels + k;
        images[i] = m === 1 ? pattern[p * channels + k] : Math.round((1 - m) * images[i] + m * pattern[p * channels + k]);
      }
    }
  }
}

/** A copy of `set` with the trigger stamped on every image (or on those listed). */
export function stamp(set: ImageSet, trigger: Trigger | ResolvedTrigger, indices?: ArrayLike<number>): ImageSet {
  const resolved = 'kind' in trigger ? resolveTrigger(trigger, set.height, set.width, set.channels) : trigger;
  const images = Uint8Array.from(set.images);
  stampInPlace(images, resolved, indices);
  return imageSet(images, Int32Array.from(set.labels), set.height, set.width, set.channels);
}

/** What BadNets poisoning did. */
export interface PoisonResult {
  /** The poisoned copy of the training set. */
  readonly set: ImageSet;
  /** Indices (into the set) of the samples that were stamped and relabelled, ascending. */
  readonly poisoned: Int32Array;
}

/**
 * BadNets: each sample is poisoned independently with probability `backdoor.rate` (drawn from
 * `rng`): stamped with the trigger and relabelled to the target. The input set is not modified.
 */
export function poisonBadNets(set: ImageSet, backdoor: Backdoor, numClasses: number, rng: Random): PoisonResult {
  checkBackdoorFits(backdoor, numClasses, set.height, set.width, set.channels);
  const resolved = resolveTrigger(backdoor.trigger, set.height, set.width, set.channels);
  const chosen: number[] = [];
  for (let i = 0; i < set.count; i++) if (rng.next() < backdoor.rate) chosen.push(i);
  const poisoned = Int32Array.from(chosen);
  const images = Uint8Array.from(set.images);
  stampInPlace(images, resolved, poisoned);
  const labels = Int32Array.from(set.labels);
  for (const i of poisoned) labels[i] = backdoor.target;
  return { set: imageSet(images, labels, set.height, set.width, set.channels), poisoned };
}

/** Checks that the target is a class and the trigger fits the images. */
export function checkBackdoorFits(backdoor: Backdoor, numClasses: number, height: number, width: number, channels: number): void {
  if (!Number.isInteger(backdoor.target) || backdoor.target < 0 || backdoor.target >= numClasses) {
    throw new OptionError('backdoor target', `a class index in 0..${numClasses - 1}`, backdoor.target);
  }
  checkRange('backdoor rate', backdoor.rate, 0, 1, true);
  resolveTrigger(backdoor.trigger, height, width, channels);
}

/** A short description, e.g. "4x4 white square at bottom-right (margin 1)". */
export function describeTrigger(trigger: Trigger): string {
  if (trigger.kind === 'pattern') return `pattern ${trigger.height}x${trigger.width}${trigger.source ? ` from ${trigger.source}` : ''}`;
  const named = Object.entries(NAMED_COLOURS).find(([, v]) => v.every((x, i) => x === trigger.colour[i]))?.[0];
  const colour = named ?? `rgb(${trigger.colour.join(', ')})`;
  const where = typeof trigger.position === 'string' ? `${trigger.position} (margin ${trigger.margin})` : `x=${trigger.position.x}, y=${trigger.position.y}`;
  return `${trigger.size}x${trigger.size} ${colour} square at ${where}`;
}

// ---------------------------------------------------------------------------------------------
// The CLI spec: "square:size=4,pos=bottom-right,colour=white,target=7,rate=0.091" or
// "pattern:image=trigger.png[,mask=mask.png],target=7[,rate=…]".

const SQUARE_KEYS = ['size', 'pos', 'margin', 'x', 'y', 'colour', 'target', 'rate'] as const;
const PATTERN_KEYS = ['image', 'mask', 'target', 'rate'] as const;
const KEY_ALIASES: Readonly<Record<string, string>> = { position: 'pos', color: 'colour' };
export const TRIGGER_KINDS = ['square', 'pattern'] as const;

/** Parses a backdoor spec; `option` names the flag in errors. Relative file paths resolve against `cwd`. */
export function parseBackdoorSpec(spec: string, option = '--backdoor', cwd = process.cwd()): Backdoor {
  const colon = spec.indexOf(':');
  const kind = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  const body = colon < 0 ? '' : spec.slice(colon + 1);
  if (!(TRIGGER_KINDS as readonly string[]).includes(kind)) throw new UnknownNameError(`${option} trigger kind`, kind, TRIGGER_KINDS);
  const allowed: readonly string[] = kind === 'square' ? SQUARE_KEYS : PATTERN_KEYS;
  const values = new Map<string, string>();
  for (const part of body.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new OptionError(`${option} '${part.trim()}'`, 'key=value', part.trim());
    const rawKey = part.slice(0, eq).trim();
    const key = KEY_ALIASES[rawKey] ?? rawKey;
    const value = part.slice(eq + 1).trim();
    if (!allowed.includes(key)) throw new OptionError(`${option} key`, `one of ${allowed.join(', ')} for a ${kind} trigger`, rawKey);
    if (values.has(key)) throw new OptionError(`${option} ${key}`, 'given once', `${key} given twice`);
    values.set(key, value);
  }
  /** The integer value of `key` (≥ min), or undefined when absent. */
  const int = (key: string, min: number, expected: string): number | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    const v = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(v) || v < min) throw new OptionError(`${option} ${key}`, expected, raw);
    return v;
  };
  const target = int('target', 0, 'a non-negative integer (a class index)');
  if (target === undefined) throw new MissingOptionError(`${option} target`, 'target=LABEL, the label the trigger sends inputs to');
  const rateRaw = values.get('rate');
  const rate = rateRaw === undefined ? DEFAULT_POISON_RATE : parseRate(`${option} rate`, rateRaw);

  if (kind === 'pattern') {
    const imagePath = values.get('image');
    if (!imagePath) throw new OptionError(`${option} image`, 'the path of the pattern image (image=FILE)', imagePath);
    return { trigger: loadPatternTrigger(resolvePath(cwd, imagePath), values.has('mask') ? resolvePath(cwd, values.get('mask')!) : undefined), target, rate };
  }
  const hasXY = values.has('x') || values.has('y');
  if (hasXY && (values.has('pos') || values.has('margin'))) {
    throw new OptionError(`${option} x,y`, 'used without pos and margin (they place the square two different ways)', spec);
  }
  if (hasXY && !(values.has('x') && values.has('y'))) throw new OptionError(`${option} x,y`, 'given together', values.has('x') ? 'x only' : 'y only');
  let position: SquareTrigger['position'] = DEFAULT_TRIGGER_POSITION;
  if (hasXY) {
    position = { x: int('x', 0, 'a non-negative integer')!, y: int('y', 0, 'a non-negative integer')! };
  } else if (values.has('pos')) {
    const pos = values.get('pos')!;
    const name = pos === 'center' ? 'centre' : pos;
    if (!(NAMED_POSITIONS as readonly string[]).includes(name)) throw new OptionError(`${option} pos`, `one of ${NAMED_POSITIONS.join(', ')} (or x=…,y=…)`, pos);
    position = name as NamedPosition;
  }
  const size = int('size', 1, 'a positive integer');
  const margin = int('margin', 0, 'a non-negative integer');
  const colour = values.has('colour') ? parseColour(`${option} colour`, values.get('colour')!) : undefined;
  return {
    trigger: squareTrigger({ ...(size !== undefined ? { size } : {}), position, ...(margin !== undefined ? { margin } : {}), ...(colour ? { colour } : {}) }),
    target,
    rate,
  };
}

function parseRate(name: string, raw: string): number {
  const v = raw === '' ? NaN : Number(raw);
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new OptionError(name, 'a number in [0, 1]', raw);
  return v;
}

/** Parses 'white', 'black', 'red', 'green', 'blue', '#rrggbb', 'R:G:B' or a grey level '0'..'255'. */
export function parseColour(name: string, raw: string): number[] {
  if (Object.hasOwn(NAMED_COLOURS, raw.toLowerCase())) return [...NAMED_COLOURS[raw.toLowerCase()]];
  const expected = `${Object.keys(NAMED_COLOURS).join(', ')}, #rrggbb, R:G:B or a grey level 0..255`;
  if (/^#[0-9a-fA-F]{6}$/.test(raw)) return [1, 3, 5].map((i) => parseInt(raw.slice(i, i + 2), 16));
  const parts = raw.split(':');
  if ((parts.length === 1 || parts.length === 3) && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    const v = parts.map(Number);
    return v.length === 1 ? [v[0], v[0], v[0]] : v;
  }
  throw new OptionError(name, expected, raw);
}

/** Loads a pattern trigger: the image gives the pattern, the mask file (grey) or else its alpha channel the mask. */
export function loadPatternTrigger(imagePath: string, maskPath?: string): PatternTrigger {
  const img = decodeImageFile(imagePath);
  let mask: number[];
  if (maskPath !== undefined) {
    const m = decodeImageFile(maskPath);
    if (m.width !== img.width || m.height !== img.height) {
      throw new DataFormatError(maskPath, `is ${m.width}x${m.height}, but the pattern ${imagePath} is ${img.width}x${img.height}.`);
    }
    mask = Array.from({ length: m.width * m.height }, (_, p) => m.rgb[3 * p] / 255);
  } else if (img.alpha) {
    mask = Array.from(img.alpha, (a) => a / 255);
  } else {
    throw new DataFormatError(imagePath, 'the pattern image has no alpha channel; give the mask as mask=FILE (grey, white = trigger).');
  }
  if (!mask.some((m) => m > 0)) throw new DataFormatError(maskPath ?? imagePath, 'the trigger mask is empty (all zero).');
  return { kind: 'pattern', height: img.height, width: img.width, pattern: Array.from(img.rgb), mask, source: imagePath };
}

function checkColour(name: string, colour: readonly number[]): readonly number[] {
  if (colour.length !== 3 || !colour.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new OptionError(name, 'three integers R, G, B in 0..255', colour);
  }
  return colour;
}

function channelValues(rgb: readonly number[], channels: number, what: string): number[] {
  if (channels === 3) return [rgb[0], rgb[1], rgb[2]];
  if (rgb[0] !== rgb[1] || rgb[0] !== rgb[2]) {
    throw new OptionError(what, 'grey (R = G = B) on 1-channel images', `rgb(${rgb.join(', ')})`);
  }
  return [rgb[0]];
}

/** Validates a backdoor read from a file (metadata.json); `where` names the file. */
export function checkBackdoor(value: unknown, where: string): Backdoor {
  const bad = (what: string): never => {
    throw new DataFormatError(where, `bad backdoor: ${what}.`);
  };
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) return bad('expected an object');
  if (!Number.isInteger(v.target) || (v.target as number) < 0) bad(`target must be a class index, got ${JSON.stringify(v.target)}`);
  if (typeof v.rate !== 'number' || !(v.rate >= 0 && v.rate <= 1)) bad(`rate must be in [0, 1], got ${JSON.stringify(v.rate)}`);
  const t = v.trigger as Record<string, unknown> | null;
  if (typeof t !== 'object' || t === null) return bad('trigger missing');
  const isInt = (x: unknown, min: number): boolean => Number.isInteger(x) && (x as number) >= min;
  let trigger: Trigger;
  if (t.kind === 'square') {
    const pos = t.position as unknown;
    const posOk =
      (typeof pos === 'string' && (NAMED_POSITIONS as readonly string[]).includes(pos)) ||
      (typeof pos === 'object' && pos !== null && isInt((pos as { x: unknown }).x, 0) && isInt((pos as { y: unknown }).y, 0));
    if (!isInt(t.size, 1) || !isInt(t.margin, 0) || !posOk) bad('square trigger needs size ≥ 1, margin ≥ 0 and a position');
    const colour = t.colour as unknown;
    if (!Array.isArray(colour) || colour.length !== 3 || !colour.every((c) => isInt(c, 0) && c <= 255)) bad('colour must be [R, G, B] in 0..255');
    trigger = {
      kind: 'square',
      size: t.size as number,
      margin: t.margin as number,
      position: typeof pos === 'string' ? (pos as NamedPosition) : { x: (pos as { x: number }).x, y: (pos as { y: number }).y },
      colour: [...(colour as number[])],
    };
  } else if (t.kind === 'pattern') {
    if (!isInt(t.height, 1) || !isInt(t.width, 1)) bad('pattern trigger needs height and width');
    const n = (t.height as number) * (t.width as number);
    const arr = (x: unknown, len: number, max: number): boolean =>
      Array.isArray(x) && x.length === len && x.every((e) => typeof e === 'number' && e >= 0 && e <= max);
    if (!arr(t.pattern, n * 3, 255)) bad(`pattern must hold ${n * 3} values in 0..255`);
    if (!arr(t.mask, n, 1)) bad(`mask must hold ${n} values in [0, 1]`);
    trigger = {
      kind: 'pattern',
      height: t.height as number,
      width: t.width as number,
      pattern: t.pattern as number[],
      mask: t.mask as number[],
      ...(typeof t.source === 'string' ? { source: t.source } : {}),
    };
  } else {
    return bad(`trigger kind must be one of ${TRIGGER_KINDS.join(', ')}, got ${JSON.stringify(t.kind)}`);
  }
  return { trigger, target: v.target as number, rate: v.rate as number };
}
