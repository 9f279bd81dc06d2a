/**
 * One mini-batch of a label's trigger search, two ways: all in TensorFlow.js (the model on the
 * tape with the mask and the pattern), or the model's forward and backward passes on onnxruntime
 * (the graph engine's input-gradient program) with the stamping, preprocessing, chain rule to the
 * mask and pattern, norm and Adam on plain arrays. Both compute the same step (reverse.ts has the
 * formulas); every tensor is created inside tf.tidy or disposed before returning.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { PoisonguardError } from '../errors.js';
import { affine } from '../nn/preprocess.js';
import type { InputGradientModel } from '../nn/onnx-gradient.js';
import { preprocessTensor } from '../nn/preprocess-tensor.js';
import { KERAS_EPSILON } from '../keras.js';
import type { ReverseRecipe } from './recipe.js';
import type { LabelState, ReverseContext } from './label-state.js';

/** Raw-pixel maximum: patterns live in 0..255 before preprocessing (release: `pattern_tensor * 255`). */
export const RAW_MAX = 255;
/** Probability clip of Keras's categorical cross-entropy. */
const PROBABILITY_EPSILON = KERAS_EPSILON;

/** One mini-batch of the optimisation: the loss, accuracy and norm before the update, then Adam. */
export interface BatchEngine {
  step(rawBatch: Float32Array, adamStep: number, cost: number): Promise<{ loss: number; accuracy: number; norm: number }>;
  /** Copies of w_m and w_p now. */
  parameters(): { wMask: Float32Array; wPattern: Float32Array };
  /** Writes the parameters and Adam's moments back to the state. */
  save(state: LabelState): void;
  dispose(): void;
}

/** The whole mini-batch in TensorFlow.js: the model on the tape with the mask and the pattern. */
export function tfBatchEngine(ctx: ReverseContext, state: LabelState): BatchEngine {
  const { data, recipe, preprocessing, numClasses } = ctx;
  const model = ctx.model;
  if (model === undefined) throw new PoisonguardError('invalid-option', 'The TensorFlow.js engine needs a TF.js model; an ONNX model runs on the native engine.', { path: 'engine' });
  const { height: H, width: W, channels: C } = data;
  const batch = recipe.batchSize;
  const softmaxOutput = endsInSoftmax(model);
  const variable = (values: Float32Array, shape: number[], trainable: boolean): tf.Variable => {
    const init = tf.tensor(values, shape);
    const v = tf.variable(init, trainable);
    init.dispose(); // the variable holds its own reference to the data
    return v;
  };
  const wM = variable(state.wMask, [...state.maskShape], true);
  const wP = variable(state.wPattern, [H, W, C], true);
  const mM = variable(state.mMask, [...state.maskShape], false);
  const vM = variable(state.vMask, [...state.maskShape], false);
  const mP = variable(state.mPattern, [H, W, C], false);
  const vP = variable(state.vPattern, [H, W, C], false);
  const target = tf.tidy(() => tf.cast(tf.oneHot(tf.fill([batch], state.label, 'int32') as tf.Tensor1D, numClasses), 'float32')) as tf.Tensor2D;
  const costT = variable(Float32Array.of(state.schedule.cost), [], false);
  let costNow = state.schedule.cost;
  return {
    async step(rawBatch, adamStep, cost) {
      if (cost !== costNow) {
        tf.tidy(() => costT.assign(tf.scalar(cost)));
        costNow = cost;
      }
      const stats = tf.tidy(() => {
        const x = tf.tensor4d(rawBatch, [batch, H, W, C]);
        let acc: tf.Scalar | undefined;
        let reg: tf.Scalar | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const mask = maskTensor(wM as tf.Tensor3D, recipe, H, W);
          const pattern = patternTensor(wP as tf.Tensor3D, recipe);
          const out = model.apply(preprocessTensor(stamp(x, mask, pattern), preprocessing), { training: false }) as tf.Tensor2D;
          const probs = softmaxOutput ? out : tf.softmax(out);
          acc = tf.keep(tf.mean(tf.cast(tf.equal(tf.argMax(out, -1), state.label), 'float32')) as tf.Scalar);
          const regValue = normTensor(mask, recipe, C);
          reg = tf.keep(regValue);
          const lossCe = lossTensor(recipe, out, probs, target, softmaxOutput);
          return tf.add(lossCe, tf.mul(costT, regValue)) as tf.Scalar;
        }, [wM, wP]);
        adamUpdate(wM, mM, vM, grads[wM.name], recipe, adamStep);
        adamUpdate(wP, mP, vP, grads[wP.name], recipe, adamStep);
        const out = tf.stack([value, acc!, reg!]);
        acc!.dispose();
        reg!.dispose();
        return out;
      });
      const [loss, accuracy, norm] = stats.dataSync();
      stats.dispose();
      return { loss, accuracy, norm };
    },
    parameters: () => ({ wMask: wM.dataSync().slice() as Float32Array, wPattern: wP.dataSync().slice() as Float32Array }),
    save(st) {
      st.wMask = wM.dataSync().slice() as Float32Array;
      st.wPattern = wP.dataSync().slice() as Float32Array;
      st.mMask = mM.dataSync().slice() as Float32Array;
      st.vMask = vM.dataSync().slice() as Float32Array;
      st.mPattern = mP.dataSync().slice() as Float32Array;
      st.vPattern = vP.dataSync().slice() as Float32Array;
    },
    dispose() {
      for (const t of [wM, wP, mM, vM, mP, vP, target, costT]) t.dispose();
    },
  };
}

/**
 * The mini-batch with the model on an external engine (ONNX): the stamping, the preprocessing
 * (per-channel affine), the chain rule from d(loss)/d(input) back to w_m and w_p, the norm and
 * Adam on plain arrays — the same formulas as the TensorFlow.js engine, written out by hand:
 *   x' = x + m·(Δ − x),  xin = a_c·x' + b_c
 *   ∂L/∂m = Σ_n Σ_c a_c·dx·(Δ − x) (+ cost·∂‖m‖/∂m),  ∂L/∂Δ = Σ_n a_c·dx·m
 *   ∂m/∂w_m = (1 − tanh²w_m)/(2 − ε),  ∂Δ/∂w_p = 255·(1 − tanh²w_p)/(2 − ε)
 * (a super-pixel's gradient is the sum over its pixels).
 */
export function nativeBatchEngine(ctx: ReverseContext, state: LabelState, gradient: InputGradientModel): BatchEngine {
  const { data, recipe, preprocessing, numClasses: K } = ctx;
  const { height: H, width: W, channels: C } = data;
  const N = recipe.batchSize;
  const softmaxOutput = ctx.softmaxOutput ?? endsInSoftmax(ctx.model!);
  const { a, b } = affine(preprocessing, C);
  const [, mw, cm] = state.maskShape; // cm: the mask's channels (1 shared, C full)
  const u = recipe.maskShape === 'full' ? 1 : recipe.upsample;
  const k = 2 - recipe.epsilon;
  const div = cm; // a full-shape mask's norm is divided by C (normTensor)
  const wMask = state.wMask.slice();
  const wPattern = state.wPattern.slice();
  const mMask = state.mMask.slice();
  const vMask = state.vMask.slice();
  const mPattern = state.mPattern.slice();
  const vPattern = state.vPattern.slice();
  const HW = H * W;
  // Pixel p → the first of its mask parameters (its super-pixel's), as maskFromParams reads them.
  const paramOf = new Int32Array(HW);
  for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) paramOf[h * W + w] = (Math.floor(h / u) * mw + Math.floor(w / u)) * cm;
  const xin = new Float32Array(N * HW * C);
  const gM = new Float64Array(HW * cm);
  const gP = new Float64Array(HW * C);
  const gWm = new Float64Array(wMask.length);
  const gWp = new Float64Array(wPattern.length);
  return {
    async step(raw, adamStep, cost) {
      const m = maskFromParams(wMask, state.maskShape, recipe, H, W);
      const pattern = patternFromParams(wPattern, recipe);
      for (let n = 0; n < N; n++) {
        const off = n * HW * C;
        for (let p = 0; p < HW; p++) {
          for (let c = 0; c < C; c++) {
            const i = p * C + c;
            const mv = m[p * cm + (cm === 1 ? 0 : c)];
            xin[off + i] = a[c] * ((1 - mv) * raw[off + i] + mv * pattern[i]) + b[c];
          }
        }
      }
      const { out, dx } = await gradient.run(xin, N, state.label);
      // The regularizer and its gradient (m > 0, so ∂|m|/∂m = 1).
      let sum = 0;
      for (let i = 0; i < m.length; i++) sum += recipe.norm === 'l1' ? m[i] : m[i] * m[i];
      const reg = recipe.norm === 'l1' ? sum / div : Math.sqrt(sum / div);
      for (let i = 0; i < m.length; i++) gM[i] = cost * (recipe.norm === 'l1' ? 1 / div : m[i] / div / reg);
      gP.fill(0);
      for (let n = 0; n < N; n++) {
        const off = n * HW * C;
        for (let p = 0; p < HW; p++) {
          for (let c = 0; c < C; c++) {
            const i = p * C + c;
            const g = a[c] * dx[off + i];
            const j = p * cm + (cm === 1 ? 0 : c);
            gM[j] += g * (pattern[i] - raw[off + i]);
            gP[i] += g * m[j];
          }
        }
      }
      gWm.fill(0);
      for (let p = 0; p < HW; p++) for (let c = 0; c < cm; c++) gWm[paramOf[p] + c] += gM[p * cm + c];
      for (let i = 0; i < gWm.length; i++) gWm[i] *= (1 - Math.tanh(wMask[i]) ** 2) / k;
      for (let i = 0; i < gWp.length; i++) gWp[i] = (gP[i] * RAW_MAX * (1 - Math.tanh(wPattern[i]) ** 2)) / k;
      adamArrays(wMask, mMask, vMask, gWm, recipe, adamStep);
      adamArrays(wPattern, mPattern, vPattern, gWp, recipe, adamStep);
      const { loss, accuracy } = lossOfOutput(recipe, out, N, K, state.label, softmaxOutput);
      return { loss: loss + cost * reg, accuracy, norm: reg };
    },
    parameters: () => ({ wMask: wMask.slice(), wPattern: wPattern.slice() }),
    save(st) {
      st.wMask = wMask.slice();
      st.wPattern = wPattern.slice();
      st.mMask = mMask.slice();
      st.vMask = vMask.slice();
      st.mPattern = mPattern.slice();
      st.vPattern = vPattern.slice();
    },
    dispose() {},
  };
}

/** Keras's Adam on arrays (the formula of {@link adamUpdate}), in place. Exported for its test, not part of the API. */
export function adamArrays(w: Float32Array, m: Float32Array, v: Float32Array, g: Float64Array, recipe: ReverseRecipe, t: number): void {
  const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps } = recipe;
  const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
  for (let i = 0; i < w.length; i++) {
    const m1 = b1 * m[i] + (1 - b1) * g[i];
    const v1 = b2 * v[i] + (1 - b2) * g[i] * g[i];
    m[i] = m1;
    v[i] = v1;
    w[i] = w[i] - (lrT * m1) / (Math.sqrt(v1) + eps);
  }
}

/** The classification loss (as {@link lossTensor}) and the accuracy of a batch's model output. */
function lossOfOutput(recipe: ReverseRecipe, out: Float32Array, N: number, K: number, label: number, softmaxOutput: boolean): { loss: number; accuracy: number } {
  let loss = 0;
  let hits = 0;
  for (let n = 0; n < N; n++) {
    const row = out.subarray(n * K, (n + 1) * K);
    let best = 0;
    for (let j = 1; j < K; j++) if (row[j] > row[best]) best = j;
    if (best === label) hits++;
    // log p_t: of the model's probabilities, or log-softmax of its logits (stably).
    let logPt: number;
    if (softmaxOutput) logPt = Math.log(row[label]);
    else {
      let z = 0;
      for (let j = 0; j < K; j++) z += Math.exp(row[j] - row[best]);
      logPt = row[label] - row[best] - Math.log(z);
    }
    const pt = Math.exp(logPt);
    if (recipe.loss === 'release-swapped') loss -= pt * Math.log(1 - PROBABILITY_EPSILON) + (1 - pt) * Math.log(PROBABILITY_EPSILON);
    else if (softmaxOutput) loss -= Math.log(Math.min(Math.max(pt, PROBABILITY_EPSILON), 1 - PROBABILITY_EPSILON));
    else loss -= logPt;
  }
  return { loss: loss / N, accuracy: hits / N };
}

/** Whether the model's last layer is a softmax (the release's Keras models) rather than logits. */
export function endsInSoftmax(model: tfl.LayersModel): boolean {
  const last = model.layers[model.layers.length - 1];
  return (last?.getConfig() as { activation?: unknown } | undefined)?.activation === 'softmax';
}

/** x' = (1 − m)·x + m·Δ in the raw pixel domain. */
function stamp(x: tf.Tensor4D, mask: tf.Tensor3D, pattern: tf.Tensor3D): tf.Tensor4D {
  return tf.add(tf.mul(tf.sub(1, mask), x), tf.mul(mask, pattern)) as tf.Tensor4D;
}

/** m = tanh(w)/(2 − ε) + 0.5, upsampled to H×W (nearest, cropped) for super-pixels. */
function maskTensor(wM: tf.Tensor3D, recipe: ReverseRecipe, H: number, W: number): tf.Tensor3D {
  const m = tf.add(tf.div(tf.tanh(wM), 2 - recipe.epsilon), 0.5) as tf.Tensor3D;
  const u = recipe.upsample;
  if (u === 1) return m;
  const [h, w] = m.shape;
  const up = tf.reshape(tf.tile(tf.reshape(m, [h, 1, w, 1]), [1, u, 1, u]), [h * u, w * u, 1]);
  return tf.slice(up, [0, 0, 0], [H, W, 1]) as tf.Tensor3D;
}

function patternTensor(wP: tf.Tensor3D, recipe: ReverseRecipe): tf.Tensor3D {
  return tf.mul(tf.add(tf.div(tf.tanh(wP), 2 - recipe.epsilon), 0.5), RAW_MAX) as tf.Tensor3D;
}

/**
 * The regularizer: ‖m‖₁ (or the L2 norm) of the H×W mask. Like the release, which repeats the
 * mask over the C channels and divides by C, a full-shape mask's norm is divided by C.
 */
function normTensor(mask: tf.Tensor3D, recipe: ReverseRecipe, channels: number): tf.Scalar {
  const div = recipe.maskShape === 'full' ? channels : 1;
  if (recipe.norm === 'l1') return tf.div(tf.sum(tf.abs(mask)), div) as tf.Scalar;
  return tf.sqrt(tf.div(tf.sum(tf.square(mask)), div)) as tf.Scalar;
}

/**
 * Cross-entropy to the target, averaged over the batch; or the release's swapped Keras call
 * `categorical_crossentropy(output, y_target)` = −mean(p_t·log(1 − 1e-7) + (1 − p_t)·log 1e-7)
 * ≈ 16.1·(1 − p_t).
 */
function lossTensor(recipe: ReverseRecipe, out: tf.Tensor2D, probs: tf.Tensor2D, target: tf.Tensor2D, softmaxOutput: boolean): tf.Scalar {
  if (recipe.loss === 'release-swapped') {
    const pt = tf.sum(tf.mul(probs, target), -1);
    const a = Math.log(1 - PROBABILITY_EPSILON);
    const b = Math.log(PROBABILITY_EPSILON);
    return tf.neg(tf.mean(tf.add(tf.mul(pt, a), tf.mul(tf.sub(1, pt), b)))) as tf.Scalar;
  }
  if (softmaxOutput) {
    const clipped = tf.clipByValue(probs, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
    return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.log(clipped)), -1))) as tf.Scalar;
  }
  return tf.losses.softmaxCrossEntropy(target, out) as tf.Scalar;
}

/**
 * Keras's Adam (the release's optimizer): lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ); m ← β₁m + (1 − β₁)g;
 * v ← β₂v + (1 − β₂)g²; w ← w − lr_t·m/(√v + ε). Exported for its test, not part of the API.
 */
export function adamUpdate(w: tf.Variable, m: tf.Variable, v: tf.Variable, g: tf.Tensor, recipe: ReverseRecipe, t: number): void {
  const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps } = recipe;
  const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
  const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
  const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
  m.assign(m1);
  v.assign(v1);
  w.assign(tf.sub(w, tf.div(tf.mul(m1, lrT), tf.add(tf.sqrt(v1), eps))));
}

// ---------------------------------------------------------------------------------------------
// The same mappings on plain arrays, for results (no tensors).

/** The H×W×(1 or C) mask of parameters w (tanh mapping, upsampled and cropped). */
export function maskFromParams(w: Float32Array, shape: readonly [number, number, number], recipe: ReverseRecipe, H: number, W: number): Float32Array {
  const [h, ww, c] = shape;
  const u = recipe.maskShape === 'full' ? 1 : recipe.upsample;
  const out = new Float32Array(H * W * c);
  for (let r = 0; r < H; r++) {
    for (let col = 0; col < W; col++) {
      const src = (Math.floor(r / u) * ww + Math.floor(col / u)) * c;
      for (let k = 0; k < c; k++) out[(r * W + col) * c + k] = Math.tanh(w[src + k]) / (2 - recipe.epsilon) + 0.5;
    }
  }
  void h;
  return out;
}

/** The raw-range pattern (0..255) of parameters w. */
export function patternFromParams(w: Float32Array, recipe: ReverseRecipe): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = (Math.tanh(w[i]) / (2 - recipe.epsilon) + 0.5) * RAW_MAX;
  return out;
}
