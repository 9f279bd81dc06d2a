/**
 * The small dense linear algebra of the training-set audits: centring, the covariance of a class's
 * activations, and its leading eigenvectors by orthogonal (block power) iteration — the top right
 * singular vectors of the centred matrix, without forming an SVD. Float64 throughout: the audits'
 * scores are squared projections, and float32 sums over thousands of rows lose digits.
 */
import { Random } from '../../random.js';

/** Iterations of the orthogonal iteration at most, and the change of the subspace that ends it early. */
export const MAX_POWER_ITERATIONS = 1000;
export const POWER_TOLERANCE = 1e-9;

/** Rows `rows` of an n × d row-major matrix, centred on their mean: m × d, and the mean. */
export function centredRows(values: Float32Array, d: number, rows: ArrayLike<number>): { x: Float64Array; mean: Float64Array } {
  const m = rows.length;
  const mean = new Float64Array(d);
  for (let r = 0; r < m; r++) for (let j = 0; j < d; j++) mean[j] += values[rows[r] * d + j];
  for (let j = 0; j < d; j++) mean[j] /= Math.max(1, m);
  const x = new Float64Array(m * d);
  for (let r = 0; r < m; r++) for (let j = 0; j < d; j++) x[r * d + j] = values[rows[r] * d + j] - mean[j];
  return { x, mean };
}

/** XᵀX (d × d) of an m × d matrix. */
export function gram(x: Float64Array, m: number, d: number): Float64Array {
  const g = new Float64Array(d * d);
  for (let r = 0; r < m; r++) {
    const row = r * d;
    for (let i = 0; i < d; i++) {
      const xi = x[row + i];
      if (xi === 0) continue;
      for (let j = i; j < d; j++) g[i * d + j] += xi * x[row + j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) g[i * d + j] = g[j * d + i];
  return g;
}

/** Orthonormalizes k vectors of length d in place (modified Gram–Schmidt); a vanishing one is replaced by a unit vector. */
function orthonormalize(v: Float64Array, k: number, d: number): void {
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < a; b++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += v[a * d + j] * v[b * d + j];
      for (let j = 0; j < d; j++) v[a * d + j] -= dot * v[b * d + j];
    }
    let norm = 0;
    for (let j = 0; j < d; j++) norm += v[a * d + j] ** 2;
    norm = Math.sqrt(norm);
    if (norm < 1e-300) {
      v.fill(0, a * d, (a + 1) * d);
      v[a * d + (a % d)] = 1;
      a--; // orthogonalize the replacement too
      continue;
    }
    for (let j = 0; j < d; j++) v[a * d + j] /= norm;
  }
}

/**
 * The k leading eigenvectors (k × d, row-major, unit length, signs arbitrary) and eigenvalues of a
 * symmetric positive semi-definite d × d matrix, by orthogonal iteration from a seeded start.
 */
export function topEigenvectors(a: Float64Array, d: number, k: number, seed: number): { vectors: Float64Array; values: Float64Array } {
  k = Math.min(k, d);
  const rng = new Random(seed);
  let v = new Float64Array(k * d);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  orthonormalize(v, k, d);
  const w = new Float64Array(k * d);
  for (let it = 0; it < MAX_POWER_ITERATIONS; it++) {
    w.fill(0);
    for (let c = 0; c < k; c++) {
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += a[i * d + j] * v[c * d + j];
        w[c * d + i] = s;
      }
    }
    orthonormalize(w, k, d);
    // Converged when every vector is unchanged up to sign: ‖w ∓ v‖ (1 − |w·v| would square the angle).
    let change = 0;
    for (let c = 0; c < k; c++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += w[c * d + j] * v[c * d + j];
      const sign = dot < 0 ? -1 : 1;
      let diff = 0;
      for (let j = 0; j < d; j++) diff += (w[c * d + j] - sign * v[c * d + j]) ** 2;
      change = Math.max(change, Math.sqrt(diff));
    }
    v = Float64Array.from(w);
    if (change < POWER_TOLERANCE) break;
  }
  const values = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let i = 0; i < d; i++) {
      let ai = 0;
      for (let j = 0; j < d; j++) ai += a[i * d + j] * v[c * d + j];
      s += v[c * d + i] * ai;
    }
    values[c] = s;
  }
  return { vectors: v, values };
}

/** Projections of the m rows of x (m × d) on k vectors (k × d): m × k. */
export function project(x: Float64Array, m: number, d: number, vectors: Float64Array, k: number): Float64Array {
  const out = new Float64Array(m * k);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[r * d + j] * vectors[c * d + j];
      out[r * k + c] = s;
    }
  }
  return out;
}
