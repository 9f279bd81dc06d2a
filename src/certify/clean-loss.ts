/**
 * The clean part of Algorithm 1's objective, L(θ; D_c) = Σ max(0, 1 − y_i(w·x_i + b)), with its
 * subgradient Σ_active −y_i[x_i; 1] kept up to date incrementally: each call makes one O(nnz) pass
 * for the scores and adds or removes only the rows whose active state (margin < 1) changed. A full
 * recomputation every {@link GRADIENT_REFRESH_EVERY} calls bounds the rounding drift.
 */
import type { Features } from '../data/matrix.js';
import { rowAxpy } from '../data/matrix.js';

/** Calls between full recomputations of the incrementally kept gradient. */
export const GRADIENT_REFRESH_EVERY = 500;

export class CleanHingeTracker {
  /** Σ_active −y_i x_i (not divided by n). */
  readonly grad: Float64Array;
  /** Σ_active −y_i. */
  gradB = 0;
  private readonly active: Uint8Array;
  private calls = 0;

  constructor(
    private readonly X: Features,
    private readonly y: Int8Array,
  ) {
    this.grad = new Float64Array(X.cols);
    this.active = new Uint8Array(X.rows);
  }

  /** Updates the gradient for θ = (w, b) and returns the summed hinge loss. */
  update(w: Float64Array, b: number): number {
    const { X, y, grad, active } = this;
    if (this.calls++ % GRADIENT_REFRESH_EVERY === 0) {
      grad.fill(0);
      this.gradB = 0;
      active.fill(0);
    }
    const n = X.rows;
    let loss = 0;
    let gradB = this.gradB;
    if (X.kind === 'csr') {
      const { indptr, indices, values } = X;
      for (let i = 0; i < n; i++) {
        let s = b;
        const e = indptr[i + 1];
        for (let k = indptr[i]; k < e; k++) s += values[k] * w[indices[k]];
        const yi = y[i];
        const m = 1 - yi * s;
        const now = m > 0 ? 1 : 0;
        if (now) loss += m;
        if (now !== active[i]) {
          active[i] = now;
          const a = now ? -yi : yi;
          for (let k = indptr[i]; k < e; k++) grad[indices[k]] += a * values[k];
          gradB += a;
        }
      }
    } else {
      const d = X.cols;
      const data = X.data;
      for (let i = 0; i < n; i++) {
        let s = b;
        const off = i * d;
        for (let j = 0; j < d; j++) s += data[off + j] * w[j];
        const yi = y[i];
        const m = 1 - yi * s;
        const now = m > 0 ? 1 : 0;
        if (now) loss += m;
        if (now !== active[i]) {
          active[i] = now;
          rowAxpy(X, i, now ? -yi : yi, grad);
          gradB += now ? -yi : yi;
        }
      }
    }
    this.gradB = gradB;
    return loss;
  }
}
