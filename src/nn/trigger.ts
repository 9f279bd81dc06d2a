/**
 * Backdoor triggers and BadNets poisoning (Gu et al. 2017, as Neural Cleanse made its infected
 * models): a trigger is stamped in the raw uint8 pixel domain, before any preprocessing. Patches
 * and blends are x' = (1 − m)·x + m·p with a mask m (H×W, 0..1, shared by all channels) and a
 * pattern p; SIG adds a signal and WaNet warps the image (src/nn/attacks/). A trigger and its
 * target are plain JSON-ready objects, saved in the model's metadata.json. Stamp only through
 * {@link stamp} / {@link stampInPlace}: for the added and warping triggers the resolved mask and
 * pattern only picture the trigger.
 */
import { decodeImageFile } from '../data/image-files.js';
import { imageSet, type ImageSet } from '../data/images.js';
import { DataFormatError, OptionError, UnknownNameError } from '../errors.js';
import { checkNonNegativeInt, checkPositiveInt, checkRange } from '../options.js';
import type { Random } from '../random.js';
import { blendKey, checkBlendAlpha, type BlendTrigger } from './attacks/blend.js';
import { checkSig, sigSignal, type SigTrigger } from './attacks/sig.js';
import { checkWanet, wanetGrid, warpImage, type WanetTrigger } from './attacks/wanet.js';

export type { BlendTrigger, SigTrigger, WanetTrigger };

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

export type Trigger = SquareTrigger | PatternTrigger | BlendTrigger | SigTrigger | WanetTrigger;

/** The trigger kinds, as metadata.json names them. */
export const TRIGGER_KINDS = ['square', 'pattern', 'blend', 'sig', 'wanet'] as const;

/**
 * A backdoor: a trigger, the label it sends inputs to, and the poisoning rate used to plant it
 * (the share of training images poisoned; for a clean-label trigger, SIG, the share of the
 * target class's images).
 */
export interface Backdoor {
  readonly trigger: Trigger;
  readonly target: number;
  readonly rate: number;
}

/** All-to-all (Gu et al. 2017): a stamped image of label y is relabelled (y + 1) mod K; no single target. */
export interface AllToAllBackdoor {
  readonly trigger: Trigger;
  readonly mapping: 'all-to-all';
  readonly rate: number;
}

/** What `train --backdoor` plants: a backdoor to one target, or an all-to-all one. */
export type Attack = Backdoor | AllToAllBackdoor;

/** A backdoor without its poisoning rate: what measuring its success needs. */
export type AttackTarget = Omit<Backdoor, 'rate'> | Omit<AllToAllBackdoor, 'rate'>;

export function isAllToAll(attack: AttackTarget): attack is Omit<AllToAllBackdoor, 'rate'> {
  return 'mapping' in attack && attack.mapping === 'all-to-all';
}

/** The label a stamped image of label `label` should go to under `attack`. */
export function attackLabel(attack: AttackTarget, label: number, numClasses: number): number {
  return isAllToAll(attack) ? (label + 1) % numClasses : attack.target;
}

/** Whether the trigger is a patch whose mask says where it is (square, pattern): a reversed mask can be compared with it. */
export function isPatchTrigger(trigger: Trigger): boolean {
  return trigger.kind === 'square' || trigger.kind === 'pattern';
}

/** Whether only the target class's images carry the trigger and labels stay as they are (SIG). */
export function isCleanLabel(trigger: Trigger): boolean {
  return trigger.kind === 'sig';
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
  /**
   * A stamp other than the blend (the mask is then 1 on the whole image and the pattern a picture
   * of the trigger, for reports): 'add' — x' = clip(x + signal) (SIG); 'warp' — the image
   * resampled at `grid` (WaNet: per pixel (x, y) in [−1, 1], bilinear).
   */
  readonly effect?: { readonly kind: 'add'; readonly signal: Float32Array } | { readonly kind: 'warp'; readonly grid: Float32Array };
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

/**
 * Lays a trigger out on images of height × width × channels; throws when it does not fit. It is
 * the trigger as stamped on inputs at test time; `options.poisoning` asks for the one stamped on
 * training images (they differ only for a SIG trigger with a test-time amplitude).
 */
export function resolveTrigger(trigger: Trigger, height: number, width: number, channels: number, options: { readonly poisoning?: boolean } = {}): ResolvedTrigger {
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
  const whole = { top: 0, left: 0, bottom: height - 1, right: width - 1 };
  if (trigger.kind === 'blend') {
    // Chen et al.'s blend is the mask-and-pattern stamp with α everywhere.
    mask.fill(checkBlendAlpha('blend alpha', trigger.alpha));
    return { height, width, channels, mask, pattern: blendKey(trigger, height, width, channels), box: whole };
  }
  if (trigger.kind === 'sig') {
    const signal = sigSignal(checkSig(trigger, 'sig'), height, width, channels, options.poisoning ? trigger.delta : (trigger.testDelta ?? trigger.delta));
    mask.fill(1);
    for (let i = 0; i < pattern.length; i++) pattern[i] = 128 + signal[i];
    return { height, width, channels, mask, pattern, box: whole, effect: { kind: 'add', signal } };
  }
  if (trigger.kind === 'wanet') {
    const grid = wanetGrid(checkWanet(trigger, 'wanet'), height, width);
    mask.fill(1);
    // The picture: each pixel's displacement, in pixels, as grey levels (1 pixel → 255).
    for (let p = 0; p < height * width; p++) {
      const dx = ((grid[2 * p] + 1) / 2) * (width - 1) - (p % width);
      const dy = ((grid[2 * p + 1] + 1) / 2) * (height - 1) - Math.floor(p / width);
      pattern.fill(Math.min(255, 255 * Math.hypot(dx, dy)), p * channels, (p + 1) * channels);
    }
    return { height, width, channels, mask, pattern, box: whole, effect: { kind: 'warp', grid } };
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
  const { effect } = resolved;
  if (effect?.kind === 'add') {
    for (let n = 0; n < count; n++) {
      const base = (indices ? indices[n] : n) * size;
      for (let i = 0; i < size; i++) images[base + i] = Math.min(255, Math.max(0, Math.round(images[base + i] + effect.signal[i])));
    }
    return;
  }
  if (effect?.kind === 'warp') {
    const source = new Uint8Array(size);
    for (let n = 0; n < count; n++) {
      const base = (indices ? indices[n] : n) * size;
      source.set(images.subarray(base, base + size));
      warpImage(source, effect.grid, height, width, channels, images.subarray(base, base + size));
    }
    return;
  }
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
export function checkBackdoorFits(backdoor: Attack, numClasses: number, height: number, width: number, channels: number): void {
  if (!isAllToAll(backdoor) && (!Number.isInteger(backdoor.target) || backdoor.target < 0 || backdoor.target >= numClasses)) {
    throw new OptionError('backdoor target', `a class index in 0..${numClasses - 1}`, backdoor.target);
  }
  checkRange('backdoor rate', backdoor.rate, 0, 1, true);
  resolveTrigger(backdoor.trigger, height, width, channels);
}

/** A short description, e.g. "4x4 white square at bottom-right (margin 1)". */
export function describeTrigger(trigger: Trigger): string {
  if (trigger.kind === 'blend') {
    const key = 'noiseSeed' in trigger.key ? `uniform noise (seed ${trigger.key.noiseSeed})` : `key image ${trigger.key.source ?? `${trigger.key.height}x${trigger.key.width}`}`;
    return `blend of ${key} at alpha ${trigger.alpha}`;
  }
  if (trigger.kind === 'sig') return `sinusoid delta ${trigger.delta}${trigger.testDelta !== undefined ? ` (${trigger.testDelta} at test time)` : ''}, f ${trigger.frequency} (clean-label)`;
  if (trigger.kind === 'wanet') return `WaNet warp k ${trigger.grid}, s ${trigger.strength} (grid seed ${trigger.seed}${trigger.crossRatio > 0 ? `, noise mode x${trigger.crossRatio}` : ', no noise mode'})`;
  if (trigger.kind === 'pattern') return `pattern ${trigger.height}x${trigger.width}${trigger.source ? ` from ${trigger.source}` : ''}`;
  const named = Object.entries(NAMED_COLOURS).find(([, v]) => v.every((x, i) => x === trigger.colour[i]))?.[0];
  const colour = named ?? `rgb(${trigger.colour.join(', ')})`;
  const where = typeof trigger.position === 'string' ? `${trigger.position} (margin ${trigger.margin})` : `x=${trigger.position.x}, y=${trigger.position.y}`;
  return `${trigger.size}x${trigger.size} ${colour} square at ${where}`;
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

/** Validates a backdoor to one target read from a file (metadata.json); `where` names the file. */
export function checkBackdoor(value: unknown, where: string): Backdoor {
  const attack = checkAttack(value, where);
  if (isAllToAll(attack)) throw new DataFormatError(where, 'bad backdoor: target must be a class index, got an all-to-all backdoor.');
  return attack;
}

/** Validates a backdoor (to one target, or all-to-all) read from a file (metadata.json); `where` names the file. */
export function checkAttack(value: unknown, where: string): Attack {
  const bad = (what: string): never => {
    throw new DataFormatError(where, `bad backdoor: ${what}.`);
  };
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) return bad('expected an object');
  const allToAll = v.mapping === 'all-to-all';
  if (v.mapping !== undefined && !allToAll) bad(`mapping must be 'all-to-all' when given, got ${JSON.stringify(v.mapping)}`);
  if (!allToAll && (!Number.isInteger(v.target) || (v.target as number) < 0)) bad(`target must be a class index, got ${JSON.stringify(v.target)}`);
  if (typeof v.rate !== 'number' || !(v.rate >= 0 && v.rate <= 1)) bad(`rate must be in [0, 1], got ${JSON.stringify(v.rate)}`);
  const trigger = checkTriggerRecord(v.trigger, bad);
  return allToAll ? { trigger, mapping: 'all-to-all', rate: v.rate as number } : { trigger, target: v.target as number, rate: v.rate as number };
}

function checkTriggerRecord(value: unknown, bad: (what: string) => never): Trigger {
  const t = value as Record<string, unknown> | null;
  if (typeof t !== 'object' || t === null) return bad('trigger missing');
  const isInt = (x: unknown, min: number): boolean => Number.isInteger(x) && (x as number) >= min;
  const arr = (x: unknown, len: number, max: number): boolean =>
    Array.isArray(x) && x.length === len && x.every((e) => typeof e === 'number' && e >= 0 && e <= max);
  const num = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
  if (t.kind === 'square') {
    const pos = t.position as unknown;
    const posOk =
      (typeof pos === 'string' && (NAMED_POSITIONS as readonly string[]).includes(pos)) ||
      (typeof pos === 'object' && pos !== null && isInt((pos as { x: unknown }).x, 0) && isInt((pos as { y: unknown }).y, 0));
    if (!isInt(t.size, 1) || !isInt(t.margin, 0) || !posOk) bad('square trigger needs size ≥ 1, margin ≥ 0 and a position');
    const colour = t.colour as unknown;
    if (!Array.isArray(colour) || colour.length !== 3 || !colour.every((c) => isInt(c, 0) && c <= 255)) bad('colour must be [R, G, B] in 0..255');
    return {
      kind: 'square',
      size: t.size as number,
      margin: t.margin as number,
      position: typeof pos === 'string' ? (pos as NamedPosition) : { x: (pos as { x: number }).x, y: (pos as { y: number }).y },
      colour: [...(colour as number[])],
    };
  }
  if (t.kind === 'pattern') {
    if (!isInt(t.height, 1) || !isInt(t.width, 1)) bad('pattern trigger needs height and width');
    const n = (t.height as number) * (t.width as number);
    if (!arr(t.pattern, n * 3, 255)) bad(`pattern must hold ${n * 3} values in 0..255`);
    if (!arr(t.mask, n, 1)) bad(`mask must hold ${n} values in [0, 1]`);
    return {
      kind: 'pattern',
      height: t.height as number,
      width: t.width as number,
      pattern: t.pattern as number[],
      mask: t.mask as number[],
      ...(typeof t.source === 'string' ? { source: t.source } : {}),
    };
  }
  if (t.kind === 'blend') {
    if (!num(t.alpha) || !((t.alpha as number) > 0 && (t.alpha as number) <= 1)) bad(`blend alpha must be in (0, 1], got ${JSON.stringify(t.alpha)}`);
    const key = t.key as Record<string, unknown> | null;
    if (typeof key !== 'object' || key === null) return bad('blend trigger needs a key');
    if (key.noiseSeed !== undefined) {
      if (!isInt(key.noiseSeed, 0)) bad('blend key noiseSeed must be a non-negative integer');
      return { kind: 'blend', alpha: t.alpha as number, key: { noiseSeed: key.noiseSeed as number } };
    }
    if (!isInt(key.height, 1) || !isInt(key.width, 1)) bad('blend key image needs height and width');
    const n = (key.height as number) * (key.width as number);
    if (!arr(key.rgb, n * 3, 255)) bad(`blend key rgb must hold ${n * 3} values in 0..255`);
    const source = typeof key.source === 'string' ? { source: key.source } : {};
    return { kind: 'blend', alpha: t.alpha as number, key: { height: key.height as number, width: key.width as number, rgb: key.rgb as number[], ...source } };
  }
  if (t.kind === 'sig') {
    const inDelta = (x: unknown): boolean => num(x) && (x as number) > 0 && (x as number) <= 255;
    if (!inDelta(t.delta) || !num(t.frequency) || !((t.frequency as number) > 0) || (t.testDelta !== undefined && !inDelta(t.testDelta))) {
      bad('sig trigger needs delta (and testDelta) in (0, 255] and frequency > 0');
    }
    return { kind: 'sig', delta: t.delta as number, frequency: t.frequency as number, ...(t.testDelta !== undefined ? { testDelta: t.testDelta as number } : {}) };
  }
  if (t.kind === 'wanet') {
    if (!isInt(t.grid, 2) || !num(t.strength) || !((t.strength as number) > 0) || !isInt(t.seed, 0) || !num(t.crossRatio) || !((t.crossRatio as number) >= 0)) {
      bad('wanet trigger needs grid ≥ 2, strength > 0, seed ≥ 0 and crossRatio ≥ 0');
    }
    return { kind: 'wanet', grid: t.grid as number, strength: t.strength as number, seed: t.seed as number, crossRatio: t.crossRatio as number };
  }
  return bad(`trigger kind must be one of ${TRIGGER_KINDS.join(', ')}, got ${JSON.stringify(t.kind)}`);
}

/** The attacks a model's metadata records: its `backdoors` list, or else its trigger, target and rate (none for a clean model). */
export function attacksOf(metadata: { readonly trigger: Trigger | null; readonly target: number | null; readonly poisonRate?: number | null; readonly backdoors?: readonly Attack[] }): Attack[] {
  if (metadata.backdoors) return [...metadata.backdoors];
  if (metadata.trigger === null || metadata.target === null) return [];
  return [{ trigger: metadata.trigger, target: metadata.target, rate: metadata.poisonRate ?? 0 }];
}

/** A short description with the label it sends to, e.g. "4x4 white square at … -> label 7". */
export function describeAttack(attack: AttackTarget): string {
  return `${describeTrigger(attack.trigger)} -> ${isAllToAll(attack) ? 'label y+1 (all-to-all)' : `label ${attack.target}`}`;
}
