/**
 * The inner maximization of Algorithm 1 for continuous data, in closed form: the point of F_y
 * with the largest hinge loss. (The release solved the same problem with cvxpy in the span of
 * w, μ_y and v.) With g = y·w, a = v·g, g⊥ = g − a·v, c = ‖g⊥‖, e = g⊥/c, every x = μ_y + α·v + β·e
 * (+ components orthogonal to v and e, which only cost radius), and the problem is
 *   minimize a·α + c·β  subject to  α² + β² ≤ r²,  |α| ≤ s.
 */
import type { SphereSlabDefense } from './defense.js';
import { classBall, dotDense } from './defense.js';

export interface WorstPoint {
  /** Label ±1. */
  readonly y: number;
  /** Hinge loss of (x, y) under the model. */
  readonly loss: number;
  /** Coefficients of x = μ_y + cv·v + cw·w (x lies in that span). */
  readonly cv: number;
  readonly cw: number;
}

/** Per-defense constants reused across iterations. */
export interface MaximizerCache {
  readonly vMuPos: number;
  readonly vMuNeg: number;
}

export function maximizerCache(defense: SphereSlabDefense): MaximizerCache {
  return { vMuPos: dotDense(defense.v, defense.positive.centroid), vMuNeg: dotDense(defense.v, defense.negative.centroid) };
}

/**
 * The worst point of class y. Needs w·μ_y, w·v and ‖w − (w·v)v‖ (computed by the caller once per
 * iteration for both classes). The last is computed directly rather than as √(‖w‖² − (w·v)²),
 * which loses half the digits when w is nearly parallel to v and then puts points outside F.
 */
export function worstPointOfClass(
  defense: SphereSlabDefense,
  y: number,
  b: number,
  wMu: number,
  wv: number,
  wPerpNorm: number,
): WorstPoint {
  const { sphereRadius: r, slabRadius: s } = classBall(defense, y);
  // g = y w; a = v·g; c = ‖g − a v‖ = ‖w − (w·v) v‖.
  const a = y * wv;
  const c = wPerpNorm;
  let alpha: number;
  let beta: number;
  const h = Math.hypot(a, c);
  if (h === 0) {
    alpha = 0;
    beta = 0;
  } else if (c <= 1e-6 * h) {
    // w ∥ v: e = (y w − a v)/c would amplify rounding; the optimum moves along v alone
    // (the β term is worth at most c·r ≤ 1e-6·h·r).
    alpha = -Math.sign(a) * Math.min(r, s);
    beta = 0;
  } else {
    alpha = (-r * a) / h;
    beta = (-r * c) / h;
    if (Math.abs(alpha) > s) {
      alpha = -Math.sign(a) * s;
      beta = -Math.sqrt(Math.max(r * r - s * s, 0));
    }
  }
  // margin = g·x + y b = y(w·μ) + a α + c β + y b.
  const margin = y * wMu + a * alpha + c * beta + y * b;
  const loss = Math.max(0, 1 - margin);
  // x = μ + α v + β e, e = (y w − a v)/c  ⇒  x = μ + (α − β a / c) v + (β y / c) w.
  const cv = c > 0 && beta !== 0 ? alpha - (beta * a) / c : alpha;
  const cw = c > 0 && beta !== 0 ? (beta * y) / c : 0;
  return { y, loss, cv, cw };
}

/** The worst point over both classes (the larger loss; ties go to +1). */
export function worstPoint(defense: SphereSlabDefense, w: Float64Array, b: number): WorstPoint {
  const wv = dotDense(w, defense.v);
  const wPerp = perpNorm(w, defense.v, wv);
  const p = worstPointOfClass(defense, 1, b, dotDense(w, defense.positive.centroid), wv, wPerp);
  const n = worstPointOfClass(defense, -1, b, dotDense(w, defense.negative.centroid), wv, wPerp);
  return n.loss > p.loss ? n : p;
}

/** Materializes x = μ_y + cv·v + cw·w. */
export function pointVector(defense: SphereSlabDefense, p: WorstPoint, w: Float64Array, out = new Float64Array(w.length)): Float64Array {
  const mu = classBall(defense, p.y).centroid;
  for (let j = 0; j < out.length; j++) out[j] = mu[j] + p.cv * defense.v[j] + p.cw * w[j];
  return out;
}

/** ‖w − (w·v) v‖ for a unit v, given wv = w·v. */
export function perpNorm(w: ArrayLike<number>, v: ArrayLike<number>, wv: number): number {
  let s = 0;
  for (let j = 0; j < w.length; j++) {
    const r = w[j] - wv * v[j];
    s += r * r;
  }
  return Math.sqrt(s);
}
