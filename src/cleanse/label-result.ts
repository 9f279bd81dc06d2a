/**
 * The result of one label's reverse engineering, as plain JSON-ready data, and the measures
 * computed on it: the mask norm as the release's outlier test read it (the 8-bit PNG of the
 * mask), and the overlap of the reversed mask with a known trigger.
 */
import type { LabelState, StepRecord } from './reverse.js';
import { maskFromParams, patternFromParams } from './reverse.js';
import type { ReverseRecipe } from './recipe.js';

/** Mask values at or above this count as "in the trigger" for the Jaccard overlap (stated in results). */
export const JACCARD_MASK_THRESHOLD = 0.5;

/** A label's figures in scan.json and in progress events (the arrays stay in the per-label JSON). */
export interface LabelSummary extends Omit<LabelResult, 'mask' | 'pattern' | 'history' | 'maskShape'> {
  /** Anomaly index under the scan's detector (set once every label is done). */
  readonly anomalyIndex?: number;
  readonly flagged?: boolean;
  /** Overlap with the real trigger, when the model's metadata names it. */
  readonly overlap?: TriggerOverlap;
  readonly files?: { readonly json: string; readonly mask: string; readonly pattern: string; readonly fusion: string };
}

/** A label's result without its arrays, with its overlap with the real trigger when that is known. */
export function summarize(r: LabelResult, realTrigger: Float32Array | undefined): LabelSummary {
  const { mask: _m, pattern: _p, history: _h, maskShape: _s, ...rest } = r;
  return realTrigger ? { ...rest, overlap: triggerOverlap(spatialMask(r), realTrigger) } : rest;
}

export interface LabelResult {
  readonly label: number;
  /**
   * The statistic of the outlier test: the norm (L1 or L2 as the recipe says) of the best mask
   * quantized to 8 bits, as the release re-read its saved PNG masks.
   */
  readonly norm: number;
  /** The release's `mask_best_norm`: the step-mean norm at the best step (or of the last step). */
  readonly stepNorm: number;
  /** Accuracy (share of stamped clean inputs sent to the label) at that step. */
  readonly accuracy: number;
  /** Whether some step reached the success threshold; if not, the result is the LAST mask. */
  readonly reachedThreshold: boolean;
  readonly steps: number;
  /** Step of the best mask (0 when the threshold was never reached). */
  readonly bestStep: number;
  readonly stopReason: 'early-stop' | 'max-steps' | 'retired' | null;
  readonly finalCost: number;
  readonly seconds: number;
  readonly msPerStep: number;
  /** [H, W, mask channels] of `mask`. */
  readonly maskShape: readonly [number, number, number];
  /** The mask, H×W×(1 or C), in [0, 1] (4 decimals). */
  readonly mask: number[];
  /** The pattern, H×W×C raw values 0..255 (2 decimals). */
  readonly pattern: number[];
  /** Per-step figures. */
  readonly history: readonly StepRecord[];
}

/** The result of a finished (or retired) label. */
export function labelResult(state: LabelState, recipe: ReverseRecipe, H: number, W: number, C: number): LabelResult {
  const reached = state.bestWMask !== null;
  const wMask = state.bestWMask ?? state.wMask;
  const wPattern = state.bestWPattern ?? state.wPattern;
  const mask = maskFromParams(wMask, state.maskShape, recipe, H, W);
  const pattern = patternFromParams(wPattern, recipe);
  const maskChannels = recipe.maskShape === 'full' ? C : 1;
  const last = state.history[state.history.length - 1];
  const steps = state.schedule.step;
  return {
    label: state.label,
    norm: quantizedNorm(mask, recipe.norm, maskChannels),
    stepNorm: reached ? state.schedule.bestNorm : (last?.norm ?? NaN),
    accuracy: reached ? state.schedule.bestAccuracy : (last?.accuracy ?? 0),
    reachedThreshold: reached,
    steps,
    bestStep: state.schedule.bestStep,
    stopReason: state.stopReason,
    finalCost: state.schedule.cost,
    seconds: state.seconds,
    msPerStep: steps > 0 ? (1000 * state.seconds) / steps : 0,
    maskShape: [H, W, maskChannels],
    mask: Array.from(mask, (v) => Math.round(v * 1e4) / 1e4),
    pattern: Array.from(pattern, (v) => Math.round(v * 100) / 100),
    history: state.history,
  };
}

/** Norm of the mask after 8-bit quantization (round(255·m)/255), divided by the mask's channels. */
export function quantizedNorm(mask: ArrayLike<number>, norm: 'l1' | 'l2', channels: number): number {
  let s = 0;
  for (let i = 0; i < mask.length; i++) {
    const q = Math.round(255 * mask[i]) / 255;
    s += norm === 'l1' ? Math.abs(q) : q * q;
  }
  return norm === 'l1' ? s / channels : Math.sqrt(s / channels);
}

/** The H×W mask of a result (the maximum over channels for a full-shape mask). */
export function spatialMask(result: Pick<LabelResult, 'mask' | 'maskShape'>): Float32Array {
  const [H, W, c] = result.maskShape;
  const out = new Float32Array(H * W);
  for (let p = 0; p < H * W; p++) {
    let m = 0;
    for (let k = 0; k < c; k++) m = Math.max(m, result.mask[p * c + k]);
    out[p] = m;
  }
  return out;
}

/** Overlap of a reversed mask with the real trigger's mask (both H×W). */
export interface TriggerOverlap {
  /** |A ∩ B| / |A ∪ B| with A = {reversed mask ≥ threshold}, B = {real mask > 0}. */
  readonly jaccard: number;
  readonly threshold: number;
  /** The same with A = the k largest values of the reversed mask, k = |B|. */
  readonly jaccardTopK: number;
  /** Pixels of the real trigger. */
  readonly triggerPixels: number;
  /** Pixels of the reversed mask at or above the threshold. */
  readonly maskPixels: number;
}

export function triggerOverlap(reversed: Float32Array, real: Float32Array, threshold = JACCARD_MASK_THRESHOLD): TriggerOverlap {
  const inB = (p: number): boolean => real[p] > 0;
  let inter = 0;
  let union = 0;
  let maskPixels = 0;
  let triggerPixels = 0;
  for (let p = 0; p < real.length; p++) {
    const a = reversed[p] >= threshold;
    const b = inB(p);
    if (a) maskPixels++;
    if (b) triggerPixels++;
    if (a && b) inter++;
    if (a || b) union++;
  }
  const order = Array.from(reversed.keys()).sort((x, y) => reversed[y] - reversed[x]);
  const top = new Set(order.slice(0, triggerPixels));
  let interK = 0;
  for (const p of top) if (inB(p)) interK++;
  const unionK = top.size + triggerPixels - interK;
  return {
    jaccard: union > 0 ? inter / union : 0,
    threshold,
    jaccardTopK: unionK > 0 ? interK / unionK : 0,
    triggerPixels,
    maskPixels,
  };
}
