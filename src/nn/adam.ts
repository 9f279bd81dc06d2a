/**
 * TensorFlow.js's AdamOptimizer on plain Float32Arrays: the bias correction divided by (1 − β^t)
 * with β^t kept as a float32 running product that is updated after the step (as TF.js's accBeta
 * variables), ε the backend's 1e-7, ε added to √v̂ (not to √v). A step from the same weights,
 * moments and gradient gives TF.js's weights to float32 rounding, and a saved state continues bit
 * for bit (the state is all float32).
 */
import { KERAS_EPSILON } from '../keras.js';

/** tf.train.adam's defaults (Keras's): β1, β2; ε is TF.js's float32 backend epsilon, Keras's 1e-7. */
export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPSILON = KERAS_EPSILON;

/** Adam's state: the updates made, the running powers β^(t+1) (float32) and each weight's moments. */
export interface AdamState {
  /** Updates made so far (TF.js's `iter`). */
  step: number;
  /** β1^(step+1) and β2^(step+1) as float32 running products (TF.js's accBeta1/accBeta2). */
  accBeta1: number;
  accBeta2: number;
  readonly m: Map<string, Float32Array>;
  readonly v: Map<string, Float32Array>;
}

/** Names of Adam's running powers β1^t and β2^t in a checkpoint (TF.js's getWeights leaves them out). */
export const ACC_BETA1 = 'adam/accBeta1';
export const ACC_BETA2 = 'adam/accBeta2';

const f32 = Math.fround;

/** A fresh state (zero moments) for the given weights. */
export function newAdamState(weights: ReadonlyMap<string, Float32Array>): AdamState {
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, w] of weights) {
    m.set(name, new Float32Array(w.length));
    v.set(name, new Float32Array(w.length));
  }
  return { step: 0, accBeta1: f32(ADAM_BETA1), accBeta2: f32(ADAM_BETA2), m, v };
}

/** A deep copy of a state (what a checkpoint keeps while training goes on). */
export function copyAdamState(s: AdamState): AdamState {
  const copy = (from: Map<string, Float32Array>) => new Map([...from].map(([k, a]) => [k, a.slice()]));
  return { step: s.step, accBeta1: s.accBeta1, accBeta2: s.accBeta2, m: copy(s.m), v: copy(s.v) };
}

/**
 * One Adam update of every weight in `grads` (in place: `weights`, and the state's moments), with
 * learning rate `lr`; then the running powers advance. TF.js's formula and operands — m̂ = m/(1 − β1^t),
 * v̂ = v/(1 − β2^t), w − lr·m̂/(√v̂ + ε), the powers as float32 products — computed in double
 * precision per element and rounded once when stored (TF.js rounds after every operation: the
 * weights agree to the last bits or so, at a third of the time of rounding each step).
 */
export function adamStep(weights: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>, state: AdamState, lr: number): void {
  const b1 = f32(ADAM_BETA1);
  const b2 = f32(ADAM_BETA2);
  const c1 = f32(1 - ADAM_BETA1);
  const c2 = f32(1 - ADAM_BETA2);
  const eps = f32(ADAM_EPSILON);
  // lr·m̂/(√v̂ + ε) = (lr/(1 − β1^t))·m/(√v·(1/√(1 − β2^t)) + ε): two constants, one division per element.
  const stepSize = f32(lr) / f32(1 - state.accBeta1);
  const rootScale = 1 / Math.sqrt(f32(1 - state.accBeta2));
  for (const [name, g] of grads) {
    const w = weights.get(name);
    const m = state.m.get(name);
    const v = state.v.get(name);
    if (w === undefined || m === undefined || v === undefined || w.length !== g.length) throw new Error(`Adam: weight '${name}' has no state or the wrong size`);
    for (let i = 0; i < w.length; i++) {
      const gi = g[i];
      const m1 = m[i] * b1 + gi * c1;
      const v1 = v[i] * b2 + gi * gi * c2;
      m[i] = m1;
      v[i] = v1;
      w[i] -= (stepSize * m1) / (Math.sqrt(v1) * rootScale + eps);
    }
  }
  state.accBeta1 = f32(state.accBeta1 * b1);
  state.accBeta2 = f32(state.accBeta2 * b2);
  state.step++;
}
