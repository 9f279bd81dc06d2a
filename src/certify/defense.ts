/**
 * The sphere + slab sanitization defense of the certified-defense paper. Per class y, with μ_y the
 * class centroid and v = (μ₋ − μ₊)/‖μ₋ − μ₊‖:
 *   sphere: ‖x − μ_y‖ ≤ r_y        slab: |v·(x − μ_y)| ≤ s_y
 * r_y and s_y are a percentile (default 70th) of the class's own distances. The oracle defense
 * takes centroids and radii from the clean data; the data-dependent one from clean + poison.
 */
import type { Features } from '../data/matrix.js';
import { rowAxpy, rowDot, rowNormSq } from '../data/matrix.js';
import { PoisonguardError } from '../errors.js';
import { toDenseVector, type PointVector } from '../data/vector.js';
import { checkRange } from '../options.js';
import { percentile } from './percentile.js';

/** The release's percentile for the oracle defense on every dataset. */
export const DEFAULT_DEFENSE_PERCENTILE = 70;

export interface ClassBall {
  /** Centroid μ_y. */
  readonly centroid: Float64Array;
  /** Sphere radius r_y. */
  readonly sphereRadius: number;
  /** Slab half-width s_y along v. */
  readonly slabRadius: number;
}

/** The feasible set F = F₊ ∪ F₋. */
export interface SphereSlabDefense {
  readonly positive: ClassBall;
  readonly negative: ClassBall;
  /** Unit direction (μ₋ − μ₊)/‖μ₋ − μ₊‖. */
  readonly v: Float64Array;
  /** Percentiles used for the sphere and the slab radii. */
  readonly spherePercentile: number;
  readonly slabPercentile: number;
}

export interface DefenseOptions {
  /** Percentile of the class's distances that sets the sphere radius. Default 70 (the release). */
  readonly spherePercentile?: number;
  /** Percentile that sets the slab half-width. Default: the sphere's percentile. */
  readonly slabPercentile?: number;
}

export function classBall(defense: SphereSlabDefense, y: number): ClassBall {
  return y > 0 ? defense.positive : defense.negative;
}

/** Centroids of the two classes. */
export function classCentroids(X: Features, y: Int8Array): { pos: Float64Array; neg: Float64Array; nPos: number; nNeg: number } {
  const pos = new Float64Array(X.cols);
  const neg = new Float64Array(X.cols);
  let nPos = 0;
  let nNeg = 0;
  for (let i = 0; i < X.rows; i++) {
    if (y[i] > 0) {
      rowAxpy(X, i, 1, pos);
      nPos++;
    } else {
      rowAxpy(X, i, 1, neg);
      nNeg++;
    }
  }
  if (nPos === 0 || nNeg === 0) {
    throw new PoisonguardError('data-format', `the training set needs both classes; it has ${nPos} positive and ${nNeg} negative points.`);
  }
  for (let j = 0; j < X.cols; j++) {
    pos[j] /= nPos;
    neg[j] /= nNeg;
  }
  return { pos, neg, nPos, nNeg };
}

/** Sphere and slab distances of every row to its own class's centroid. */
export function defenseDistances(
  X: Features,
  y: Int8Array,
  centroids: { pos: Float64Array; neg: Float64Array },
  v: Float64Array,
): { sphere: Float64Array; slab: Float64Array } {
  const { pos, neg } = centroids;
  const posNorm = dotDense(pos, pos);
  const negNorm = dotDense(neg, neg);
  const vPos = dotDense(v, pos);
  const vNeg = dotDense(v, neg);
  const sphere = new Float64Array(X.rows);
  const slab = new Float64Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    const mu = y[i] > 0 ? pos : neg;
    const d2 = rowNormSq(X, i) - 2 * rowDot(X, i, mu) + (y[i] > 0 ? posNorm : negNorm);
    sphere[i] = Math.sqrt(Math.max(d2, 0));
    slab[i] = Math.abs(rowDot(X, i, v) - (y[i] > 0 ? vPos : vNeg));
  }
  return { sphere, slab };
}

/** Fits the defense on (X, y): centroids, direction and percentile radii per class. */
export function fitSphereSlabDefense(X: Features, y: Int8Array, options: DefenseOptions = {}): SphereSlabDefense {
  const spherePercentile = checkRange('spherePercentile', options.spherePercentile ?? DEFAULT_DEFENSE_PERCENTILE, 0, 100, true);
  const slabPercentile = checkRange('slabPercentile', options.slabPercentile ?? spherePercentile, 0, 100, true);
  const c = classCentroids(X, y);
  const v = new Float64Array(X.cols);
  let nrm = 0;
  for (let j = 0; j < X.cols; j++) {
    v[j] = c.neg[j] - c.pos[j];
    nrm += v[j] * v[j];
  }
  nrm = Math.sqrt(nrm);
  if (nrm === 0) throw new PoisonguardError('data-format', 'the two class centroids coincide; the slab direction is undefined.');
  for (let j = 0; j < X.cols; j++) v[j] /= nrm;
  const dist = defenseDistances(X, y, c, v);
  const radii = (cls: number, arr: Float64Array, q: number): number => {
    const vals: number[] = [];
    for (let i = 0; i < y.length; i++) if (y[i] === cls) vals.push(arr[i]);
    return percentile(vals, q);
  };
  return {
    positive: { centroid: c.pos, sphereRadius: radii(1, dist.sphere, spherePercentile), slabRadius: radii(1, dist.slab, slabPercentile) },
    negative: { centroid: c.neg, sphereRadius: radii(-1, dist.sphere, spherePercentile), slabRadius: radii(-1, dist.slab, slabPercentile) },
    v,
    spherePercentile,
    slabPercentile,
  };
}

/** A copy of the defense with both radii of both classes scaled to other percentiles' values. */
export function withRadii(defense: SphereSlabDefense, radii: { positive: [number, number]; negative: [number, number] }): SphereSlabDefense {
  return {
    ...defense,
    positive: { ...defense.positive, sphereRadius: radii.positive[0], slabRadius: radii.positive[1] },
    negative: { ...defense.negative, sphereRadius: radii.negative[0], slabRadius: radii.negative[1] },
  };
}

/**
 * Whether the dense point x with label y lies in F_y. `relTol` absorbs floating-point rounding
 * of points constructed on the boundary.
 */
export function inFeasibleSet(defense: SphereSlabDefense, point: PointVector, y: number, relTol = 1e-9): boolean {
  const ball = classBall(defense, y);
  const x = toDenseVector(point);
  let d2 = 0;
  let proj = 0;
  for (let j = 0; j < x.length; j++) {
    const diff = x[j] - ball.centroid[j];
    d2 += diff * diff;
    proj += defense.v[j] * diff;
  }
  return Math.sqrt(d2) <= ball.sphereRadius * (1 + relTol) + relTol && Math.abs(proj) <= ball.slabRadius * (1 + relTol) + relTol;
}

/** Mask of the rows of (X, y) that pass the defense. */
export function feasibleMask(defense: SphereSlabDefense, X: Features, y: Int8Array): Uint8Array {
  const dist = defenseDistances(X, y, { pos: defense.positive.centroid, neg: defense.negative.centroid }, defense.v);
  const keep = new Uint8Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    const ball = classBall(defense, y[i]);
    keep[i] = dist.sphere[i] <= ball.sphereRadius && dist.slab[i] <= ball.slabRadius ? 1 : 0;
  }
  return keep;
}

export function dotDense(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}
