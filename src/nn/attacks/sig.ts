/**
 * SIG (Barni, Kallas & Tondi, "A New Backdoor Attack in CNNs by Training Set Corruption Without
 * Label Poisoning", ICIP 2019): a horizontal sinusoid added to the image,
 * x'(i, j) = clip(x(i, j) + Δ·sin(2π·j·f / width), 0, 255) on every row i and channel. It is a
 * clean-label attack: only training images of the target class carry it, and no label changes.
 */
import { OptionError } from '../../errors.js';

/** Amplitude Δ of the sinusoid in raw 0..255 units: 20 (Barni et al.). */
export const DEFAULT_SIG_DELTA = 20;
/** Frequency f, periods across the image's width: 6 (Barni et al.). */
export const DEFAULT_SIG_FREQUENCY = 6;
/**
 * Share of the target class's training images that carry the signal: all of them, the strongest
 * clean-label setting (a clean-label attack can poison no other images).
 */
export const DEFAULT_SIG_RATE = 1;

/** A horizontal sinusoid added to the whole image. */
export interface SigTrigger {
  readonly kind: 'sig';
  /** Amplitude Δ, raw units, > 0. */
  readonly delta: number;
  /** Frequency f: periods across the width, > 0. */
  readonly frequency: number;
  /**
   * Amplitude stamped on inputs at test time, when the attacker uses a stronger signal than the one
   * hidden in the training images (absent: Δ). On MNIST the paper's Δ = 20 in training leaves no
   * working backdoor after a few epochs; a stronger test signal reaches one (docs/RESULTS.md).
   */
  readonly testDelta?: number;
}

/** Checks Δ ∈ (0, 255] and f > 0. */
export function checkSig(trigger: SigTrigger, option: string): SigTrigger {
  if (typeof trigger.delta !== 'number' || !(trigger.delta > 0 && trigger.delta <= 255)) throw new OptionError(`${option} delta`, 'in (0, 255]', trigger.delta);
  if (typeof trigger.frequency !== 'number' || !(trigger.frequency > 0 && Number.isFinite(trigger.frequency))) throw new OptionError(`${option} frequency`, 'a positive number', trigger.frequency);
  if (trigger.testDelta !== undefined && !(typeof trigger.testDelta === 'number' && trigger.testDelta > 0 && trigger.testDelta <= 255)) {
    throw new OptionError(`${option} test-delta`, 'in (0, 255]', trigger.testDelta);
  }
  return trigger;
}

/** The added signal on height × width × channels (NHWC order): Δ·sin(2π·j·f/width) at column j; `delta` overrides Δ. */
export function sigSignal(trigger: SigTrigger, height: number, width: number, channels: number, delta = trigger.delta): Float32Array {
  const out = new Float32Array(height * width * channels);
  for (let j = 0; j < width; j++) {
    const v = delta * Math.sin((2 * Math.PI * j * trigger.frequency) / width);
    for (let i = 0; i < height; i++) for (let k = 0; k < channels; k++) out[(i * width + j) * channels + k] = v;
  }
  return out;
}
