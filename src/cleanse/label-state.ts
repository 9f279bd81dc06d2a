/**
 * The state of one label's trigger search (reverse.ts) and what it runs against: plain data
 * (typed arrays, numbers) so that a label can run in chunks of steps, move between worker threads
 * and be checkpointed. Apart from reverse.ts because the batch engines (batch-engines.ts), which
 * reverse.ts calls, read and update it too.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { InputGradientModel } from '../nn/onnx-gradient.js';
import type { Preprocessing } from '../nn/preprocess.js';
import { Random } from '../random.js';
import { initialCostState, type CostScheduleState } from './cost-schedule.js';
import type { ReverseRecipe } from './recipe.js';

/** The clean images a scan draws its mini-batches from (raw uint8 NHWC). */
export interface CleanImages {
  readonly images: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** Everything one label's optimisation needs besides its state. */
export interface ReverseContext {
  /** The TF.js model; absent for a user's ONNX model, which runs on {@link gradient} only. */
  readonly model?: tfl.LayersModel;
  /** Whether the model's scores are probabilities (default: read from {@link model}'s last layer). */
  readonly softmaxOutput?: boolean;
  readonly data: CleanImages;
  readonly preprocessing: Preprocessing;
  readonly recipe: ReverseRecipe;
  readonly numClasses: number;
  /** [height, width, channels] of the model's input, when there is no {@link model} to read it from. */
  readonly inputShape?: readonly [number, number, number];
  /**
   * Where the model's forward and backward passes run: absent, the whole step in TensorFlow.js;
   * else on this engine (onnx-gradient.ts), which returns the output and the loss's gradient to the
   * preprocessed input, and the rest of the step (stamping, chain rule, norm, Adam) runs on plain
   * arrays. Same recipe, same formulas; the rounding differs between the two.
   */
  readonly gradient?: InputGradientModel;
}

/** One step's figures (the means over its mini-batches). */
export interface StepRecord {
  readonly step: number;
  readonly cost: number;
  readonly accuracy: number;
  readonly norm: number;
  readonly loss: number;
}

/** The resumable state of one label's optimisation (plain data). */
export interface LabelState {
  readonly label: number;
  /** Seed of this label's initialisation and batch order. */
  readonly seed: number;
  /** Shape of w_m: [h, w, 1] (shared, possibly super-pixel) or [H, W, C] (full). */
  readonly maskShape: readonly [number, number, number];
  wMask: Float32Array;
  wPattern: Float32Array;
  /** Adam's first and second moments of w_m and w_p, and its step count. */
  mMask: Float32Array;
  vMask: Float32Array;
  mPattern: Float32Array;
  vPattern: Float32Array;
  adamSteps: number;
  schedule: CostScheduleState;
  /** w_m and w_p at the best step (smallest norm with accuracy ≥ threshold), or null. */
  bestWMask: Float32Array | null;
  bestWPattern: Float32Array | null;
  /** Data cursor: pass over the clean set and position in its permutation. */
  epoch: number;
  position: number;
  /** Per-step history. */
  history: StepRecord[];
  /** Seconds of optimisation so far. */
  seconds: number;
  done: boolean;
  stopReason: 'early-stop' | 'max-steps' | 'retired' | null;
}

/** Shape of w_m for a recipe and image shape. */
export function maskParamShape(recipe: ReverseRecipe, h: number, w: number, c: number): [number, number, number] {
  if (recipe.maskShape === 'full') return [h, w, c];
  const u = recipe.upsample;
  return [Math.ceil(h / u), Math.ceil(w / u), 1];
}

/**
 * A fresh state: mask and pattern uniform in [0, 1) mapped through arctanh((v − 0.5)(2 − ε))
 * (release: `reset_state` with `np.random.random`), Adam and the cost schedule reset.
 */
export function createLabelState(label: number, seed: number, recipe: ReverseRecipe, h: number, w: number, c: number): LabelState {
  const rng = new Random(seed);
  const maskShape = maskParamShape(recipe, h, w, c);
  const nm = maskShape[0] * maskShape[1] * maskShape[2];
  const np = h * w * c;
  const toW = (v: number): number => Math.atanh((v - 0.5) * (2 - recipe.epsilon));
  const wMask = new Float32Array(nm);
  for (let i = 0; i < nm; i++) wMask[i] = toW(rng.next());
  const wPattern = new Float32Array(np);
  for (let i = 0; i < np; i++) wPattern[i] = toW(rng.next());
  return {
    label,
    seed,
    maskShape,
    wMask,
    wPattern,
    mMask: new Float32Array(nm),
    vMask: new Float32Array(nm),
    mPattern: new Float32Array(np),
    vPattern: new Float32Array(np),
    adamSteps: 0,
    schedule: initialCostState(recipe),
    bestWMask: null,
    bestWPattern: null,
    epoch: 0,
    position: 0,
    history: [],
    seconds: 0,
    done: false,
    stopReason: null,
  };
}
