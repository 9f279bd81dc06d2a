/**
 * Trigger reverse engineering for one candidate target label (Neural Cleanse, Wang et al. 2019,
 * §IV-A; the release's visualizer.py): find the smallest mask m and a pattern Δ such that
 * x' = (1 − m)·x + m·Δ, stamped in the RAW pixel domain and then preprocessed as the model
 * declares, sends (almost) every clean input to the target.
 *
 *   m = tanh(w_m)/(2 − ε) + 0.5           (H×W shared by the channels, or H×W×C)
 *   Δ = (tanh(w_p)/(2 − ε) + 0.5) · 255    (H×W×C, raw range)
 *   loss = mean CE(f(preprocess(x')), y_t) + cost · ‖m‖
 *
 * The optimisation is resumable: {@link LabelState} is plain data (typed arrays, numbers) holding
 * the parameters, Adam's moments, the cost schedule and the data cursor, so that a label can run
 * in chunks of steps, move between worker threads and be checkpointed to disk.
 * How one mini-batch runs (TensorFlow.js, or the model's passes on onnxruntime) is batch-engines.ts.
 */
export { adamArrays, adamUpdate, endsInSoftmax, maskFromParams, patternFromParams, RAW_MAX } from './batch-engines.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { PoisonguardError, ShapeError } from '../errors.js';
import type { Preprocessing } from '../nn/preprocess.js';
import type { InputGradientModel } from '../nn/onnx-gradient.js';
import { Random } from '../random.js';
import { advanceCostSchedule, initialCostState, type CostScheduleState } from './cost-schedule.js';
import type { ReverseRecipe } from './recipe.js';
import { nativeBatchEngine, tfBatchEngine } from './batch-engines.js';


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

/** The order of the clean set in pass `epoch` (reproducible from the label's seed alone). */
function permutation(seed: number, epoch: number, n: number): Int32Array {
  return new Random((Math.imul(seed, 0x9e3779b1) ^ (epoch + 1) * 0x85ebca6b) >>> 0).permutation(n);
}

export interface StepProgress extends StepRecord {
  readonly label: number;
  readonly bestNorm: number;
  readonly maxSteps: number;
}

/**
 * Runs up to `steps` more steps of the label (or until it stops); mutates and returns the state.
 * Throws a 'not-finite' PoisonguardError when the loss diverges, and an 'interrupted' one when
 * `signal` aborts (checked before each mini-batch; the state is then mid-step and must be dropped).
 */
export async function runLabelSteps(ctx: ReverseContext, state: LabelState, steps: number, onStep?: (p: StepProgress) => void, signal?: AbortSignal): Promise<LabelState> {
  if (state.done) return state;
  const { data, recipe } = ctx;
  const { height: H, width: W, channels: C } = data;
  checkContext(ctx, state);
  const imageSize = H * W * C;
  const batch = recipe.batchSize;
  const rawBatch = new Float32Array(batch * imageSize);
  let order = permutation(state.seed, state.epoch, data.count);
  const start = performance.now();
  const engine = ctx.gradient ? nativeBatchEngine(ctx, state, ctx.gradient) : tfBatchEngine(ctx, state);
  try {
    for (let s = 0; s < steps && !state.done; s++) {
      let accSum = 0;
      let normSum = 0;
      let lossSum = 0;
      for (let b = 0; b < recipe.miniBatches; b++) {
        if (signal?.aborted) throw new PoisonguardError('interrupted', `Reverse engineering of label ${state.label} was abandoned mid-step.`, { path: `label ${state.label}` });
        for (let r = 0; r < batch; r++) {
          if (state.position >= data.count) {
            state.epoch += 1;
            state.position = 0;
            order = permutation(state.seed, state.epoch, data.count);
          }
          const i = order[state.position++];
          const src = data.images.subarray(i * imageSize, (i + 1) * imageSize);
          const off = r * imageSize;
          for (let k = 0; k < imageSize; k++) rawBatch[off + k] = src[k];
        }
        const { loss, accuracy: acc, norm } = await engine.step(rawBatch, state.adamSteps + 1, state.schedule.cost);
        state.adamSteps += 1;
        if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
          throw new PoisonguardError(
            'not-finite',
            `Reverse engineering of label ${state.label} diverged at step ${state.schedule.step + 1} (loss ${loss}, mask norm ${norm}); ` +
              'try a smaller learning rate.',
            { path: `label ${state.label}`, received: loss },
          );
        }
        lossSum += loss;
        accSum += acc;
        normSum += norm;
      }
      const accuracy = accSum / recipe.miniBatches;
      const norm = normSum / recipe.miniBatches;
      const cost = state.schedule.cost;
      const decision = advanceCostSchedule(state.schedule, recipe, accuracy, norm);
      if (decision.newBest) {
        const { wMask, wPattern } = engine.parameters();
        state.bestWMask = wMask;
        state.bestWPattern = wPattern;
      }
      const record: StepRecord = { step: state.schedule.step, cost, accuracy, norm, loss: lossSum / recipe.miniBatches };
      state.history.push(record);
      if (decision.stop) {
        state.done = true;
        state.stopReason = decision.reason ?? 'max-steps';
      }
      onStep?.({ ...record, label: state.label, bestNorm: state.schedule.bestNorm, maxSteps: recipe.maxSteps });
    }
    engine.save(state);
  } finally {
    engine.dispose();
    state.seconds += (performance.now() - start) / 1000;
  }
  return state;
}

function checkContext(ctx: ReverseContext, state: LabelState): void {
  const { data, model, recipe } = ctx;
  if (model === undefined && ctx.gradient === undefined) throw new ShapeError('reverse context', 'a TF.js model or a native engine', 'neither');
  const input = model ? model.inputs[0].shape : ['N', ...(ctx.inputShape ?? [])];
  if (input.length !== 4 || input[1] !== data.height || input[2] !== data.width || input[3] !== data.channels) {
    throw new ShapeError('model input', `[null, ${data.height}, ${data.width}, ${data.channels}] (the clean images)`, `[${input.join(', ')}]`);
  }
  if (data.count < recipe.batchSize) throw new ShapeError('clean set', `at least ${recipe.batchSize} images (one mini-batch)`, `${data.count} images`);
  if (!Number.isInteger(state.label) || state.label < 0 || state.label >= ctx.numClasses) {
    throw new ShapeError('label', `a class index in 0..${ctx.numClasses - 1}`, String(state.label));
  }
}
