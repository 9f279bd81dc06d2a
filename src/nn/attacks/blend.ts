/**
 * The blended attack (Chen, Liu, Li, Lu & Song, "Targeted Backdoor Attacks on Deep Learning
 * Systems Using Data Poisoning", 2017): a key image — a file, or a seeded uniform noise pattern —
 * blended over the whole image, x' = (1 − α)·x + α·key. This is the mask-and-pattern stamp with a
 * mask of α everywhere, so it resolves to that and needs no stamping of its own.
 */
import { OptionError } from '../../errors.js';
import { Random } from '../../random.js';

/** Blend ratio α of the poisoned training images: 0.2 (Chen et al.'s choice for training; BackdoorBench's default too). */
export const DEFAULT_BLEND_ALPHA = 0.2;
/** Seed of the noise key when none is given: a key the same for every model unless asked otherwise. */
export const DEFAULT_BLEND_NOISE_SEED = 0;

/** A key image blended over the whole image. */
export interface BlendTrigger {
  readonly kind: 'blend';
  /** Blend ratio α in (0, 1]. */
  readonly alpha: number;
  /** The key: a seeded uniform noise pattern (every value 0..255), or an image of the images' size. */
  readonly key: { readonly noiseSeed: number } | { readonly height: number; readonly width: number; /** height·width·3 values 0..255, RGB interleaved. */ readonly rgb: readonly number[]; /** The file it came from, for reports. */ readonly source?: string };
}

/** Checks α ∈ (0, 1]; `name` names the option. */
export function checkBlendAlpha(name: string, alpha: number): number {
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha <= 1)) throw new OptionError(name, 'in (0, 1]', alpha);
  return alpha;
}

/**
 * The key laid out on height × width × channels (raw 0..255, NHWC order). Noise: one uniform
 * integer per value, drawn row by row from `Random(noiseSeed)` (so a 1-channel key is grey noise
 * and a 3-channel key colour noise); an image key must have the images' size and, on 1-channel
 * images, be grey.
 */
export function blendKey(trigger: BlendTrigger, height: number, width: number, channels: number): Float32Array {
  const out = new Float32Array(height * width * channels);
  const { key } = trigger;
  if ('noiseSeed' in key) {
    const rng = new Random(key.noiseSeed);
    for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
    return out;
  }
  if (key.height !== height || key.width !== width) throw new OptionError('blend key image', `${height}x${width} like the images`, `${key.height}x${key.width}`);
  for (let p = 0; p < height * width; p++) {
    const [r, g, b] = [key.rgb[3 * p], key.rgb[3 * p + 1], key.rgb[3 * p + 2]];
    if (channels === 1) {
      if (r !== g || r !== b) throw new OptionError(`blend key pixel ${p}`, 'grey (R = G = B) on 1-channel images', `rgb(${r}, ${g}, ${b})`);
      out[p] = r;
    } else {
      out.set([r, g, b], 3 * p);
    }
  }
  return out;
}
