/**
 * Poison points that are real documents (non-negative integer counts), for Enron and IMDB.
 *
 * IMDB (release): Algorithm 1 on a shrunken continuous set, then negatives clipped to 0 and each
 * count rounded randomly (floor, +1 with probability equal to the fractional part).
 *
 * Enron: the release solved an integer quadratic program per iteration with Gurobi (relative gap
 * 0.5). In its place, {@link integerWorstPoint}: a sound heuristic — start from the continuous
 * optimum clipped to the box and rounded, repair into F, then greedy ±1 local search — whose every
 * output is feasible (integer, inside the box, inside F). It maximizes the loss over a subset of F,
 * so a run that uses it plays a restricted attacker and its U is not a certificate; the certificate
 * comes from the continuous run over F, a superset of the integer points.
 */
import type { Random } from '../random.js';
import { classBall, type SphereSlabDefense } from './defense.js';
import { toSparseVector, type SparseVector } from '../data/vector.js';
import { perpNorm, pointVector, worstPointOfClass } from './maximizer.js';
import type { BestResponse } from './algorithm1.js';
import type { Features } from '../data/matrix.js';

/** Clip negatives to 0 and round randomly: floor, +1 with probability equal to the fraction. */
export function clipAndRound(x: Float64Array, rng: Random): SparseVector {
  const out = new Float64Array(x.length);
  for (let j = 0; j < x.length; j++) {
    const v = x[j];
    if (v <= 0) continue;
    const f = Math.floor(v);
    out[j] = f + (rng.next() < v - f ? 1 : 0);
  }
  return toSparseVector(out);
}

/** Per-class, per-feature upper bounds x_max (the release: 99.5th percentile within the class). */
export interface FeatureBox {
  readonly positive: Float64Array;
  readonly negative: Float64Array;
}

/** The release's x_max percentile. */
export const XMAX_PERCENTILE = 99.5;

export function featureBox(X: Features, y: Int8Array, q = XMAX_PERCENTILE): FeatureBox {
  const d = X.cols;
  const make = (cls: number): Float64Array => {
    const rows: number[] = [];
    for (let i = 0; i < y.length; i++) if (y[i] === cls) rows.push(i);
    // Column-wise values; zeros are implicit in CSR, so count them.
    const cols: number[][] = Array.from({ length: d }, () => []);
    for (const i of rows) {
      if (X.kind === 'csr') {
        for (let k = X.indptr[i]; k < X.indptr[i + 1]; k++) cols[X.indices[k]].push(X.values[k]);
      } else {
        for (let j = 0; j < d; j++) if (X.data[i * d + j] !== 0) cols[j].push(X.data[i * d + j]);
      }
    }
    const out = new Float64Array(d);
    const N = rows.length;
    const pos = (q / 100) * (N - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, N - 1);
    for (let j = 0; j < d; j++) {
      // The column sorted is [negatives, zeros, positives]: index into it without building it.
      const nz = Float64Array.from(cols[j]).sort();
      let neg = 0;
      while (neg < nz.length && nz[neg] < 0) neg++;
      const zeros = N - nz.length;
      const at = (k: number): number => (k < neg ? nz[k] : k < neg + zeros ? 0 : nz[k - zeros]);
      out[j] = at(lo) + (pos - lo) * (at(hi) - at(lo));
    }
    return out;
  };
  return { positive: make(1), negative: make(-1) };
}

interface ClassState {
  x: Float64Array;
  /** ‖x − μ‖² and v·(x − μ). */
  d2: number;
  proj: number;
}

function state(x: Float64Array, mu: Float64Array, v: Float64Array): ClassState {
  let d2 = 0;
  let proj = 0;
  for (let j = 0; j < x.length; j++) {
    const u = x[j] - mu[j];
    d2 += u * u;
    proj += v[j] * u;
  }
  return { x, d2, proj };
}

/**
 * Integer worst point of class y: maximize 1 − y(w·x + b) over integer x with 0 ≤ x ≤ xmax,
 * ‖x − μ_y‖ ≤ r_y and |v·(x − μ_y)| ≤ s_y. Returns undefined when no feasible integer point is
 * found (then the class is skipped).
 */
export function integerWorstPointOfClass(
  defense: SphereSlabDefense,
  box: FeatureBox,
  w: Float64Array,
  b: number,
  y: number,
  maxMoves = 100000,
): { x: Float64Array; loss: number } | undefined {
  const ball = classBall(defense, y);
  const mu = ball.centroid;
  const v = defense.v;
  // x is integer, so x ≤ x_max means x ≤ ⌊x_max⌋.
  const xmax = Float64Array.from(y > 0 ? box.positive : box.negative, Math.floor);
  const d = w.length;
  const r2 = ball.sphereRadius * ball.sphereRadius;
  const s = ball.slabRadius;
  const g = Float64Array.from(w, (wj) => y * wj); // minimize g·x
  const feasible = (st: ClassState): boolean => st.d2 <= r2 * (1 + 1e-12) && Math.abs(st.proj) <= s * (1 + 1e-12);

  // Start 1: the continuous optimum over F, clipped to the box and rounded.
  let wMu = 0;
  let wv = 0;
  for (let j = 0; j < d; j++) {
    wMu += w[j] * mu[j];
    wv += w[j] * v[j];
  }
  const cont = worstPointOfClass(defense, y, b, wMu, wv, perpNorm(w, v, wv));
  const xc = pointVector(defense, cont, w);
  const starts: Float64Array[] = [];
  starts.push(Float64Array.from(xc, (val, j) => Math.min(Math.max(Math.round(val), 0), xmax[j])));
  // Start 2: the rounded centroid (inside the box).
  starts.push(Float64Array.from(mu, (val, j) => Math.min(Math.max(Math.round(val), 0), xmax[j])));

  let best: { x: Float64Array; obj: number } | undefined;
  for (const x0 of starts) {
    const st = state(x0, mu, v);
    if (!repair(st, mu, v, g, xmax, r2, s, maxMoves)) continue;
    improve(st, mu, v, g, xmax, r2, s, maxMoves);
    if (!feasible(st)) continue;
    let obj = 0;
    for (let j = 0; j < d; j++) obj += g[j] * st.x[j];
    if (!best || obj < best.obj) best = { x: st.x, obj };
  }
  if (!best) return undefined;
  const margin = best.obj + y * b;
  return { x: best.x, loss: Math.max(0, 1 - margin) };
}

/** Moves coordinates by ±1 toward μ, largest constraint reduction first, until feasible. */
function repair(st: ClassState, mu: Float64Array, v: Float64Array, g: Float64Array, xmax: Float64Array, r2: number, s: number, maxMoves: number): boolean {
  const d = st.x.length;
  for (let it = 0; it < maxMoves; it++) {
    const sphereOver = st.d2 - r2;
    const slabOver = Math.abs(st.proj) - s;
    if (sphereOver <= 0 && slabOver <= 0) return true;
    let bestJ = -1;
    let bestDelta = 0;
    let bestScore = 0;
    for (let j = 0; j < d; j++) {
      for (const delta of [-1, 1]) {
        const nx = st.x[j] + delta;
        if (nx < 0 || nx > xmax[j]) continue;
        const dd2 = 2 * delta * (st.x[j] - mu[j]) + 1;
        const nproj = st.proj + delta * v[j];
        const over = Math.max(st.d2 + dd2 - r2, 0) / r2 + Math.max(Math.abs(nproj) - s, 0) / Math.max(s, 1e-12);
        const cur = Math.max(sphereOver, 0) / r2 + Math.max(slabOver, 0) / Math.max(s, 1e-12);
        const gain = cur - over;
        // Prefer big violation reductions; among them, moves that hurt the objective least.
        const score = gain - 1e-9 * g[j] * delta;
        if (gain > 0 && score > bestScore) {
          bestScore = score;
          bestJ = j;
          bestDelta = delta;
        }
      }
    }
    if (bestJ < 0) return false;
    apply(st, mu, v, bestJ, bestDelta);
  }
  return false;
}

/** Greedy ±1 moves that lower g·x and keep x in F and the box; best ratio of gain to radius used. */
function improve(st: ClassState, mu: Float64Array, v: Float64Array, g: Float64Array, xmax: Float64Array, r2: number, s: number, maxMoves: number): void {
  const d = st.x.length;
  for (let it = 0; it < maxMoves; it++) {
    let bestJ = -1;
    let bestDelta = 0;
    let bestScore = 0;
    for (let j = 0; j < d; j++) {
      const gj = g[j];
      if (gj === 0) continue;
      const delta = gj > 0 ? -1 : 1; // the direction that lowers g·x
      const nx = st.x[j] + delta;
      if (nx < 0 || nx > xmax[j]) continue;
      const dd2 = 2 * delta * (st.x[j] - mu[j]) + 1;
      if (st.d2 + dd2 > r2) continue;
      if (Math.abs(st.proj + delta * v[j]) > s) continue;
      const gain = Math.abs(gj);
      // Moves that free sphere budget are taken first; otherwise gain per unit of budget.
      const score = dd2 <= 0 ? Infinity : gain / dd2;
      if (score > bestScore) {
        bestScore = score;
        bestJ = j;
        bestDelta = delta;
      }
    }
    if (bestJ < 0) return;
    apply(st, mu, v, bestJ, bestDelta);
  }
}

function apply(st: ClassState, mu: Float64Array, v: Float64Array, j: number, delta: number): void {
  st.d2 += 2 * delta * (st.x[j] - mu[j]) + 1;
  st.proj += delta * v[j];
  st.x[j] += delta;
}

/** The integer best response over both classes, for Algorithm 1's `respond` option. */
export function integerBestResponse(defense: SphereSlabDefense, box: FeatureBox): (w: Float64Array, b: number) => BestResponse {
  return (w, b) => {
    const p = integerWorstPointOfClass(defense, box, w, b, 1);
    const n = integerWorstPointOfClass(defense, box, w, b, -1);
    const pick = !p ? n : !n ? p : n.loss > p.loss ? n : p;
    if (!pick) throw new Error('no feasible integer point in either class: the defense radii are smaller than the integer lattice allows');
    return { y: pick === p ? 1 : -1, loss: pick.loss, x: toSparseVector(pick.x) };
  };
}
