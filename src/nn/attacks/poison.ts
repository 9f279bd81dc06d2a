/**
 * Poisoning a training set with one or more backdoors, the same way whether the set is poisoned
 * once ('fixed') or batch by batch as it is drawn ('on-the-fly'): for every image one uniform draw
 * u decides. The dirty-label backdoors take consecutive intervals of [0, 1) of their rates' widths
 * (so one BadNets backdoor poisons exactly when u < rate, as before, and two backdoors never stamp
 * the same image); then come the noise-mode intervals of the WaNet backdoors (rate × cross ratio).
 * A clean-label backdoor (SIG) draws once more, for images of its target class only, and keeps
 * their labels. The same generator state gives the same poisoned set.
 */
import { imageSet, type ImageSet } from '../../data/images.js';
import { OptionError } from '../../errors.js';
import type { Random } from '../../random.js';
import { attackLabel, checkBackdoorFits, isAllToAll, isCleanLabel, resolveTrigger, stampInPlace, type Attack, type ResolvedTrigger } from '../trigger.js';
import { noisyGrid, warpImage } from './wanet.js';

/** What happened to one image. */
export type PoisonOutcome = 'clean' | 'poisoned' | 'noise';

interface Planted {
  readonly attack: Attack;
  readonly resolved: ResolvedTrigger;
  /** The dirty-label interval [lo, hi) of u, or the clean-label probability. */
  readonly lo: number;
  readonly hi: number;
}

/** The backdoors of a training run laid out on its images; decides and stamps image by image. */
export class Poisoner {
  private readonly dirty: Planted[] = [];
  private readonly clean: Planted[] = [];
  private readonly noise: Planted[] = [];
  private readonly size: number;
  private readonly scratch: Uint8Array;

  constructor(
    readonly attacks: readonly Attack[],
    readonly numClasses: number,
    readonly height: number,
    readonly width: number,
    readonly channels: number,
  ) {
    if (attacks.length === 0) throw new OptionError('backdoors', 'at least one backdoor', 0);
    let lo = 0;
    for (const attack of attacks) {
      checkBackdoorFits(attack, numClasses, height, width, channels);
      const resolved = resolveTrigger(attack.trigger, height, width, channels, { poisoning: true });
      if (isCleanLabel(attack.trigger)) {
        if (isAllToAll(attack)) throw new OptionError('backdoor', `a ${attack.trigger.kind} trigger with one target (a clean-label attack cannot relabel all to all)`, 'all-to-all');
        this.clean.push({ attack, resolved, lo: 0, hi: attack.rate });
      } else {
        this.dirty.push({ attack, resolved, lo, hi: lo + attack.rate });
        lo += attack.rate;
      }
    }
    for (const p of this.dirty) {
      const t = p.attack.trigger;
      if (t.kind === 'wanet' && t.crossRatio > 0) {
        this.noise.push({ ...p, lo, hi: lo + p.attack.rate * t.crossRatio });
        lo += p.attack.rate * t.crossRatio;
      }
    }
    if (lo > 1 + 1e-9) throw new OptionError('backdoor rates', 'at most 1 in all (poisoned and noise-mode images of every backdoor together)', Number(lo.toFixed(4)));
    this.size = height * width * channels;
    this.scratch = new Uint8Array(this.size);
  }

  /**
   * Decides for one image (raw bytes, changed in place) of label `label`, drawing from `rng`;
   * returns the label to train on and what was done.
   */
  poisonOne(image: Uint8Array, label: number, rng: Random): { readonly label: number; readonly outcome: PoisonOutcome } {
    const u = rng.next();
    for (const p of this.dirty) {
      if (u >= p.lo && u < p.hi) {
        stampInPlace(image, p.resolved);
        return { label: attackLabel(p.attack, label, this.numClasses), outcome: 'poisoned' };
      }
    }
    for (const p of this.noise) {
      if (u >= p.lo && u < p.hi) {
        // The noise mode: the warp with per-pixel noise, the true label kept.
        const grid = noisyGrid((p.resolved.effect as { grid: Float32Array }).grid, this.height, this.width, rng);
        this.scratch.set(image);
        warpImage(this.scratch, grid, this.height, this.width, this.channels, image);
        return { label, outcome: 'noise' };
      }
    }
    for (const p of this.clean) {
      if (label === (p.attack as { target: number }).target && rng.next() < p.hi) {
        stampInPlace(image, p.resolved);
        return { label, outcome: 'poisoned' };
      }
    }
    return { label, outcome: 'clean' };
  }
}

/** What poisoning a whole set did. */
export interface PoisonSetResult {
  /** The poisoned copy of the set. */
  readonly set: ImageSet;
  /** Indices (into the set) of the images stamped with a trigger, ascending. */
  readonly poisoned: Int32Array;
  /** Indices of the noise-mode images (warped, true label kept), ascending. */
  readonly noise: Int32Array;
}

/** Poisons a copy of `set` image by image in index order (see the module comment); the input is not modified. */
export function poisonSet(set: ImageSet, poisoner: Poisoner, rng: Random): PoisonSetResult {
  const images = Uint8Array.from(set.images);
  const labels = Int32Array.from(set.labels);
  const size = set.height * set.width * set.channels;
  if (set.height !== poisoner.height || set.width !== poisoner.width || set.channels !== poisoner.channels) {
    throw new OptionError('training set', `${poisoner.height}x${poisoner.width}x${poisoner.channels} images like the backdoors'`, `${set.height}x${set.width}x${set.channels}`);
  }
  const poisoned: number[] = [];
  const noise: number[] = [];
  for (let i = 0; i < set.count; i++) {
    const r = poisoner.poisonOne(images.subarray(i * size, (i + 1) * size), labels[i], rng);
    labels[i] = r.label;
    if (r.outcome === 'poisoned') poisoned.push(i);
    else if (r.outcome === 'noise') noise.push(i);
  }
  return { set: imageSet(images, labels, set.height, set.width, set.channels), poisoned: Int32Array.from(poisoned), noise: Int32Array.from(noise) };
}
