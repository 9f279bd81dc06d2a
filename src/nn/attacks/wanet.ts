/**
 * WaNet (Nguyen & Tran, "WaNet — Imperceptible Warping-based Backdoor Attack", ICLR 2021), as the
 * authors' code makes it: a k×k control grid of uniform noise in [−1, 1] (two planes: x and y
 * offsets), divided by its mean absolute value, upsampled bicubically to the image size, scaled by
 * s / size and added to the identity sampling grid (coordinates in [−1, 1]), which is clamped to
 * [−1, 1]; a poisoned image is the image resampled at that grid by bilinear interpolation
 * (PyTorch's grid_sample, align_corners = True). Its noise mode: further images warped with the
 * grid plus uniform noise in [−1, 1] / size per pixel keep their TRUE labels, so that the model
 * learns the one warp and not warps in general.
 */
import { OptionError } from '../../errors.js';
import { Random } from '../../random.js';

/** Control grid size k: 4 (the authors' default on every dataset). */
export const DEFAULT_WANET_GRID = 4;
/** Warping strength s: 0.5 (the authors' default on every dataset). */
export const DEFAULT_WANET_STRENGTH = 0.5;
/** Noise-mode images per poisoned image ("cross ratio"): 2 (the authors' default). */
export const DEFAULT_WANET_CROSS_RATIO = 2;
/** Share of training images poisoned: 0.1 (the authors' default, pc). */
export const DEFAULT_WANET_RATE = 0.1;
/** Seed of the control grid when none is given. */
export const DEFAULT_WANET_SEED = 0;
/** Cubic convolution coefficient of the bicubic upsampling: −0.75, as PyTorch's (the authors upsample with F.upsample(mode='bicubic')). */
const BICUBIC_A = -0.75;

/** A warping trigger. */
export interface WanetTrigger {
  readonly kind: 'wanet';
  /** Control grid size k ≥ 2. */
  readonly grid: number;
  /** Strength s > 0. */
  readonly strength: number;
  /** Seed of the control grid's noise. */
  readonly seed: number;
  /** Noise-mode images per poisoned image (≥ 0; 0: no noise mode). */
  readonly crossRatio: number;
}

/** Checks k ≥ 2 (integer), s > 0, cross ratio ≥ 0; `option` names the flag. */
export function checkWanet(trigger: WanetTrigger, option: string): WanetTrigger {
  if (!Number.isInteger(trigger.grid) || trigger.grid < 2) throw new OptionError(`${option} k`, 'an integer ≥ 2', trigger.grid);
  if (typeof trigger.strength !== 'number' || !(trigger.strength > 0 && Number.isFinite(trigger.strength))) throw new OptionError(`${option} s`, 'a positive number', trigger.strength);
  if (typeof trigger.crossRatio !== 'number' || !(trigger.crossRatio >= 0 && Number.isFinite(trigger.crossRatio))) throw new OptionError(`${option} cross`, 'a non-negative number', trigger.crossRatio);
  if (!Number.isInteger(trigger.seed) || trigger.seed < 0) throw new OptionError(`${option} seed`, 'a non-negative integer', trigger.seed);
  return trigger;
}

/**
 * PyTorch's bicubic upsampling with align_corners = True along one axis: output o samples the
 * input at o·(n − 1)/(m − 1), from the 4 nearest inputs (indices clamped to the border).
 */
function cubicWeights(t: number): [number, number, number, number] {
  const a = BICUBIC_A;
  const near = (x: number): number => ((a + 2) * x - (a + 3)) * x * x + 1;
  const far = (x: number): number => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/** Upsamples an n×n plane (row-major) to height × width, bicubically (align_corners = True). */
export function bicubicUpsample(plane: Float64Array, n: number, height: number, width: number): Float64Array {
  const axis = (m: number): { base: number; w: [number, number, number, number] }[] =>
    Array.from({ length: m }, (_, o) => {
      const src = m > 1 ? (o * (n - 1)) / (m - 1) : 0;
      const base = Math.floor(src);
      return { base, w: cubicWeights(src - base) };
    });
  const clampIdx = (i: number): number => Math.min(n - 1, Math.max(0, i));
  const rows = axis(height);
  const cols = axis(width);
  // Along the columns first (n rows × width), then along the rows.
  const tmp = new Float64Array(n * width);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < width; c++) {
      const { base, w } = cols[c];
      let s = 0;
      for (let t = 0; t < 4; t++) s += w[t] * plane[r * n + clampIdx(base - 1 + t)];
      tmp[r * width + c] = s;
    }
  }
  const out = new Float64Array(height * width);
  for (let o = 0; o < height; o++) {
    const { base, w } = rows[o];
    for (let c = 0; c < width; c++) {
      let s = 0;
      for (let t = 0; t < 4; t++) s += w[t] * tmp[clampIdx(base - 1 + t) * width + c];
      out[o * width + c] = s;
    }
  }
  return out;
}

/**
 * The warping grid on height × width: per pixel (row-major) the sampling point (x, y) in [−1, 1]
 * (x along the width), identity + s·noise/size, clamped. The noise planes are drawn from
 * `Random(seed)`: the x plane's k² values, then the y plane's, each uniform in [−1, 1), then both
 * divided by their joint mean absolute value (as the authors' code).
 */
export function wanetGrid(trigger: WanetTrigger, height: number, width: number): Float32Array {
  const k = trigger.grid;
  const rng = new Random(trigger.seed);
  const planes = [new Float64Array(k * k), new Float64Array(k * k)];
  let sumAbs = 0;
  for (const p of planes) {
    for (let i = 0; i < p.length; i++) {
      p[i] = rng.uniform(-1, 1);
      sumAbs += Math.abs(p[i]);
    }
  }
  const meanAbs = sumAbs / (2 * k * k);
  for (const p of planes) for (let i = 0; i < p.length; i++) p[i] /= meanAbs;
  const [nx, ny] = planes.map((p) => bicubicUpsample(p, k, height, width));
  const grid = new Float32Array(height * width * 2);
  const lin = (i: number, n: number): number => (n > 1 ? -1 + (2 * i) / (n - 1) : 0);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      const p = i * width + j;
      // The authors divide both offsets by the image's height (their images are square); here each by its own axis.
      grid[2 * p] = clamp1(lin(j, width) + (trigger.strength * nx[p]) / width);
      grid[2 * p + 1] = clamp1(lin(i, height) + (trigger.strength * ny[p]) / height);
    }
  }
  return grid;
}

/** The noise mode's grid for one image: `grid` plus uniform noise in [−1, 1)/size per coordinate, clamped. */
export function noisyGrid(grid: Float32Array, height: number, width: number, rng: Random): Float32Array {
  const out = new Float32Array(grid.length);
  for (let p = 0; p < height * width; p++) {
    out[2 * p] = clamp1(grid[2 * p] + rng.uniform(-1, 1) / width);
    out[2 * p + 1] = clamp1(grid[2 * p + 1] + rng.uniform(-1, 1) / height);
  }
  return out;
}

function clamp1(v: number): number {
  return v < -1 ? -1 : v > 1 ? 1 : v;
}

/**
 * Resamples one raw image (height × width × channels) at `grid` by bilinear interpolation
 * (align_corners = True: −1 and 1 are the centres of the border pixels; a neighbour outside the
 * image counts as 0, as grid_sample's zero padding), rounded to bytes, into `out`.
 */
export function warpImage(image: Uint8Array, grid: Float32Array, height: number, width: number, channels: number, out: Uint8Array): void {
  for (let p = 0; p < height * width; p++) {
    const x = ((grid[2 * p] + 1) / 2) * (width - 1);
    const y = ((grid[2 * p + 1] + 1) / 2) * (height - 1);
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const fx = x - x0;
    const fy = y - y0;
    // A neighbour outside the image reads 0 (zero padding).
    const inX0 = x0 >= 0 && x0 < width;
    const inX1 = x0 + 1 >= 0 && x0 + 1 < width;
    const inY0 = y0 >= 0 && y0 < height;
    const inY1 = y0 + 1 >= 0 && y0 + 1 < height;
    const i00 = (y0 * width + x0) * channels;
    const i10 = i00 + width * channels;
    for (let k = 0; k < channels; k++) {
      const a = inY0 && inX0 ? image[i00 + k] : 0;
      const b = inY0 && inX1 ? image[i00 + channels + k] : 0;
      const c = inY1 && inX0 ? image[i10 + k] : 0;
      const d = inY1 && inX1 ? image[i10 + channels + k] : 0;
      const v = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d);
      out[p * channels + k] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
}
