/**
 * The 2-D view of the certified defense (the paper's Figure 1): axis 1 is the centroid direction
 * v = (μ₋ − μ₊)/‖μ₋ − μ₊‖ of the defense, axis 2 the top principal direction of the clean data
 * orthogonal to v (power iteration on (I − vvᵀ) C (I − vvᵀ), C the clean covariance). Both axes are
 * orthonormal, so each class's sphere projects to a disc of the same radius and its slab to a
 * vertical band of the same half-width: the projected F_y is exactly disc ∩ band. Coordinates are
 * relative to the mean of the clean data.
 *
 * Works on dense and CSR features through row operations; the n × d matrix is never densified.
 */
import type { Features } from '../data/matrix.js';
import { rowAxpy, rowDot, rowNormSq, selectRows } from '../data/matrix.js';
import { vectorDot, type PointVector } from '../data/vector.js';
import type { SphereSlabDefense } from '../certify/defense.js';
import { dotDense, feasibleMask } from '../certify/defense.js';
import { ShapeError } from '../errors.js';
import { checkNonNegativeInt, checkPositive, checkPositiveInt } from '../options.js';
import { DEFAULT_SEED, Random } from '../random.js';

/** Clean points kept in the projection file: enough to show the two clouds, small on disk. */
export const DEFAULT_PROJECTION_CLEAN_SAMPLE = 1000;
/** Attack points kept per ε (the candidate attack repeats a few points many times). */
export const DEFAULT_PROJECTION_ATTACK_SAMPLE = 400;
export const DEFAULT_POWER_ITERATIONS = 300;
export const DEFAULT_POWER_TOLERANCE = 1e-7;
/** Significant digits stored per coordinate (plots need no more; keeps the file small). */
const DIGITS = 5;

/** Options of {@link projectionBasis}. */
export interface ProjectionBasisOptions {
  /** Maximum power iterations. Default 300. */
  readonly maxIterations?: number;
  /** Stop when ‖u_t − u_{t−1}‖ falls below this. Default 1e-7. */
  readonly tolerance?: number;
  readonly seed?: number;
}

export interface ProjectionBasis {
  /** Mean of the clean data (the origin of the plot). */
  readonly mean: Float64Array;
  /** Axis 1: the defense's unit direction v. */
  readonly v: Float64Array;
  /** Axis 2: unit, orthogonal to v. */
  readonly u: Float64Array;
  /** Variance of the clean data along v and along u, and in total (trace of C). */
  readonly variance: { readonly v: number; readonly u: number; readonly total: number };
  /** mean·v and mean·u, subtracted from every projected coordinate. */
  readonly offset: { readonly v: number; readonly u: number };
  readonly iterations: number;
  readonly converged: boolean;
}

/** out = C w for the clean covariance C (two passes over the rows). */
function covTimes(X: Features, mean: Float64Array, w: Float64Array, out: Float64Array): Float64Array {
  out.fill(0);
  const mw = dotDense(mean, w);
  for (let i = 0; i < X.rows; i++) {
    const z = rowDot(X, i, w) - mw;
    if (z !== 0) rowAxpy(X, i, z, out);
  }
  // Σ (x_i − m) z_i = Σ x_i z_i − m Σ z_i, and Σ z_i = 0 by the choice of m.
  for (let j = 0; j < out.length; j++) out[j] /= X.rows;
  return out;
}

function orthogonalize(w: Float64Array, v: Float64Array): void {
  const a = dotDense(w, v);
  for (let j = 0; j < w.length; j++) w[j] -= a * v[j];
}

function normalize(w: Float64Array): number {
  const n = Math.sqrt(dotDense(w, w));
  if (n > 0) for (let j = 0; j < w.length; j++) w[j] /= n;
  return n;
}

/** The two axes of the Figure-1 view for clean data X and a defense fitted on it. */
export function projectionBasis(X: Features, defense: SphereSlabDefense, options: ProjectionBasisOptions = {}): ProjectionBasis {
  const maxIterations = checkPositiveInt('maxIterations', options.maxIterations ?? DEFAULT_POWER_ITERATIONS);
  const tolerance = checkPositive('tolerance', options.tolerance ?? DEFAULT_POWER_TOLERANCE);
  const d = X.cols;
  if (defense.v.length !== d) throw new ShapeError('defense direction v', `${d} values`, `${defense.v.length}`);
  if (X.rows === 0) throw new ShapeError('clean data', 'at least one row', '0 rows');
  const mean = new Float64Array(d);
  for (let i = 0; i < X.rows; i++) rowAxpy(X, i, 1, mean);
  for (let j = 0; j < d; j++) mean[j] /= X.rows;
  // Total variance from Σ‖x − m‖² = Σ‖x‖² − n‖m‖², without forming x − m.
  let sumSq = 0;
  for (let i = 0; i < X.rows; i++) sumSq += rowNormSq(X, i);
  const total = Math.max(sumSq / X.rows - dotDense(mean, mean), 0);
  const v = Float64Array.from(defense.v);
  normalize(v);
  const rng = new Random(options.seed ?? DEFAULT_SEED);
  let u = new Float64Array(d);
  for (let j = 0; j < d; j++) u[j] = rng.normal();
  orthogonalize(u, v);
  normalize(u);
  let next = new Float64Array(d);
  let iterations = 0;
  let converged = false;
  let lambda = 0;
  while (iterations < maxIterations) {
    iterations++;
    covTimes(X, mean, u, next);
    orthogonalize(next, v);
    lambda = normalize(next);
    if (lambda === 0) break; // all variance lies along v: any orthogonal u will do
    let diff = 0;
    for (let j = 0; j < d; j++) diff += (next[j] - u[j]) ** 2;
    [u, next] = [next, u];
    if (Math.sqrt(diff) < tolerance) {
      converged = true;
      break;
    }
  }
  // Power iteration fixes u only up to sign: make the largest component positive, so that the
  // same data always gives the same picture.
  let big = 0;
  for (let j = 0; j < d; j++) if (Math.abs(u[j]) > Math.abs(big)) big = u[j];
  if (big < 0) for (let j = 0; j < d; j++) u[j] = -u[j];
  const varV = dotDense(v, covTimes(X, mean, v, new Float64Array(d)));
  const varU = dotDense(u, covTimes(X, mean, u, new Float64Array(d)));
  return { mean, v, u, variance: { v: varV, u: varU, total }, offset: { v: dotDense(mean, v), u: dotDense(mean, u) }, iterations, converged: converged || lambda === 0 };
}

/** Projected coordinates of rows of X (relative to the basis mean). */
export function projectRows(X: Features, basis: ProjectionBasis): { x: Float64Array; y: Float64Array } {
  const x = new Float64Array(X.rows);
  const y = new Float64Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    x[i] = rowDot(X, i, basis.v) - basis.offset.v;
    y[i] = rowDot(X, i, basis.u) - basis.offset.u;
  }
  return { x, y };
}

/** Projected coordinates of one point, dense or sparse. */
export function projectPoint(p: PointVector, basis: ProjectionBasis): [number, number] {
  return [vectorDot(p, basis.v) - basis.offset.v, vectorDot(p, basis.u) - basis.offset.u];
}

/** One class's feasible set in the plane: disc (sphere) ∩ vertical band (slab). */
export interface ProjectedClass {
  /** What the label means, e.g. "digit 1". */
  readonly name: string;
  /** +1 or −1. */
  readonly label: 1 | -1;
  /** Projected centroid μ_y. */
  readonly center: readonly [number, number];
  readonly sphereRadius: number;
  readonly slabRadius: number;
}

/** Points of one set, as parallel columns (compact JSON). */
export interface ProjectedPoints {
  /** How many points the set has in full; `x.length` of them were kept. */
  readonly total: number;
  readonly x: readonly number[];
  readonly y: readonly number[];
  /** ±1 per point. */
  readonly label: readonly number[];
}

/** What the certify command saves for the Figure-1 view (`projection.json` in a run folder). */
export interface CertifyProjection {
  readonly kind: 'certify-projection';
  readonly dataset: string;
  readonly axes: { readonly x: string; readonly y: string };
  /** Variance of the clean data along each axis and in total, to say how much the view shows. */
  readonly variance: { readonly x: number; readonly y: number; readonly total: number };
  readonly powerIteration: { readonly iterations: number; readonly converged: boolean };
  readonly classes: readonly [ProjectedClass, ProjectedClass];
  /** A uniform sample of the clean training points; `inF[k]` = 1 if the point passes the defense. */
  readonly clean: ProjectedPoints & { readonly inF: readonly number[] };
  /** The candidate attack of each ε (a uniform sample when it is large). */
  readonly attacks: readonly (ProjectedPoints & { readonly eps: number })[];
  readonly seed: number;
}

/** Options of {@link projectCertifyRun}. */
export interface ProjectCertifyOptions {
  /** Clean points kept. Default 1000. */
  readonly cleanSample?: number;
  /** Attack points kept per ε. Default 400. */
  readonly attackSample?: number;
  readonly seed?: number;
  readonly basis?: ProjectionBasisOptions;
}

// Floating-point noise such as 2e-16 for a coordinate that is 0 by construction is stored as 0.
const round = (x: number): number => (Math.abs(x) < 1e-9 ? 0 : Number(x.toPrecision(DIGITS)));

/**
 * Everything the Figure-1 plot needs, from the clean training data, the defense fitted on it and
 * the candidate attacks (dense points with labels ±1), as small JSON-ready columns.
 */
export function projectCertifyRun(
  train: { readonly X: Features; readonly y: Int8Array },
  names: { readonly dataset: string; readonly positive: string; readonly negative: string },
  defense: SphereSlabDefense,
  attacks: readonly { readonly eps: number; readonly X: readonly PointVector[]; readonly y: Int8Array }[],
  options: ProjectCertifyOptions = {},
): CertifyProjection {
  const cleanSample = checkNonNegativeInt('cleanSample', options.cleanSample ?? DEFAULT_PROJECTION_CLEAN_SAMPLE);
  const attackSample = checkNonNegativeInt('attackSample', options.attackSample ?? DEFAULT_PROJECTION_ATTACK_SAMPLE);
  const seed = options.seed ?? DEFAULT_SEED;
  const rng = new Random(seed);
  const basis = projectionBasis(train.X, defense, { seed: rng.nextUint32(), ...options.basis });
  const n = train.X.rows;
  const idx = Array.from(rng.sampleWithoutReplacement(n, Math.min(cleanSample, n))).sort((a, b) => a - b);
  const sub = selectRows(train.X, idx);
  const subY = Int8Array.from(idx, (i) => train.y[i]);
  const coords = projectRows(sub, basis);
  const inF = feasibleMask(defense, sub, subY);
  const cls = (label: 1 | -1): ProjectedClass => {
    const ball = label > 0 ? defense.positive : defense.negative;
    const c = projectPoint(ball.centroid, basis);
    return { name: label > 0 ? names.positive : names.negative, label, center: [round(c[0]), round(c[1])], sphereRadius: ball.sphereRadius, slabRadius: ball.slabRadius };
  };
  return {
    kind: 'certify-projection',
    dataset: names.dataset,
    axes: {
      x: 'v = (μ₋ − μ₊)/‖μ₋ − μ₊‖, the slab direction',
      y: 'top principal direction of the clean data orthogonal to v',
    },
    variance: { x: basis.variance.v, y: basis.variance.u, total: basis.variance.total },
    powerIteration: { iterations: basis.iterations, converged: basis.converged },
    classes: [cls(1), cls(-1)],
    clean: { total: n, x: Array.from(coords.x, round), y: Array.from(coords.y, round), label: Array.from(subY), inF: Array.from(inF) },
    attacks: attacks.map((a) => {
      const keep = a.X.length <= attackSample ? a.X.map((_, k) => k) : Array.from(rng.sampleWithoutReplacement(a.X.length, attackSample)).sort((p, q) => p - q);
      const pts = keep.map((k) => projectPoint(a.X[k], basis));
      return { eps: a.eps, total: a.X.length, x: pts.map((p) => round(p[0])), y: pts.map((p) => round(p[1])), label: keep.map((k) => a.y[k]) };
    }),
    seed,
  };
}
