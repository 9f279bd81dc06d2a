/**
 * Hinge loss ℓ(θ; x, y) = max(0, 1 − y(w·x + b)) of a linear classifier with bias, over a
 * feature matrix, with its (sub)gradient. The gradient sums only the active rows (margin < 1),
 * which are few for a good classifier.
 */
import type { Features } from '../data/matrix.js';
import { matVec, rowAxpy } from '../data/matrix.js';

export interface LinearModel {
  /** Weights, length d. */
  readonly w: Float64Array;
  /** Intercept. */
  readonly b: number;
}

/** Scratch buffers reused across calls (allocation-free inner loops). */
export interface HingeScratch {
  readonly scores: Float64Array;
}

export function hingeScratch(n: number): HingeScratch {
  return { scores: new Float64Array(n) };
}

/** Sum over rows of the hinge loss (not averaged). */
export function hingeLossSum(X: Features, y: Int8Array, w: Float64Array, b: number, scratch = hingeScratch(X.rows)): number {
  const s = matVec(X, w, b, scratch.scores);
  let loss = 0;
  for (let i = 0; i < X.rows; i++) {
    const m = 1 - y[i] * s[i];
    if (m > 0) loss += m;
  }
  return loss;
}

/**
 * Sum of hinge losses and their subgradient (gradW, gradB overwritten with Σ ∂ℓ_i). Uses
 * ∂ℓ = −y·[x; 1] when the margin is below 1, and 0 otherwise (also at the kink).
 */
export function hingeLossGradSum(
  X: Features,
  y: Int8Array,
  w: Float64Array,
  b: number,
  gradW: Float64Array,
  scratch = hingeScratch(X.rows),
): { loss: number; gradB: number; active: number } {
  const s = matVec(X, w, b, scratch.scores);
  gradW.fill(0);
  let loss = 0;
  let gradB = 0;
  let active = 0;
  for (let i = 0; i < X.rows; i++) {
    const m = 1 - y[i] * s[i];
    if (m > 0) {
      loss += m;
      rowAxpy(X, i, -y[i], gradW);
      gradB -= y[i];
      active++;
    }
  }
  return { loss, gradB, active };
}

/** Mean hinge loss and 0-1 error of a model on a labelled set. */
export function hingeAndError(X: Features, y: Int8Array, model: LinearModel): { hinge: number; error: number } {
  const s = matVec(X, model.w, model.b, new Float64Array(X.rows));
  let loss = 0;
  let wrong = 0;
  for (let i = 0; i < X.rows; i++) {
    const m = y[i] * s[i];
    if (m < 1) loss += 1 - m;
    // A score of exactly 0 counts as an error (no class is predicted).
    if (m <= 0) wrong++;
  }
  return { hinge: loss / X.rows, error: wrong / X.rows };
}
