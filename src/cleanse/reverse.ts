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
import { PoisonguardError, ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { advanceCostSchedule } from './cost-schedule.js';
import { nativeBatchEngine, tfBatchEngine } from './batch-engines.js';
import type { LabelState, ReverseContext, StepRecord } from './label-state.js';
export { createLabelState, maskParamShape, type CleanImages, type LabelState, type ReverseContext, type StepRecord } from './label-state.js';

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
