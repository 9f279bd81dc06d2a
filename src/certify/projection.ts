/**
 * Euclidean projection onto F_y = {‖x − μ_y‖ ≤ r, |v·(x − μ_y)| ≤ s}. Writing u = x − μ_y =
 * a·v + u⊥, the problem lives in the plane (a, ‖u⊥‖): the nearest point is the ball's radial
 * projection if it is inside the slab, else the slab's clamp if it is inside the ball, else the
 * corner (±s, √(r² − s²)).
 */
import { classBall, type SphereSlabDefense } from './defense.js';

export function projectOntoClass(defense: SphereSlabDefense, x: Float64Array, y: number, out: Float64Array = new Float64Array(x.length)): Float64Array {
  const { centroid: mu, sphereRadius: r, slabRadius: s } = classBall(defense, y);
  const v = defense.v;
  const d = x.length;
  let a = 0;
  for (let j = 0; j < d; j++) a += v[j] * (x[j] - mu[j]);
  let p2 = 0;
  for (let j = 0; j < d; j++) {
    const u = x[j] - mu[j] - a * v[j];
    p2 += u * u;
  }
  const p = Math.sqrt(p2);
  let na: number;
  let np: number;
  if (a * a + p2 <= r * r && Math.abs(a) <= s) {
    out.set(x);
    return out;
  }
  const h = Math.hypot(a, p);
  const ra = h > r ? (a * r) / h : a;
  const rp = h > r ? (p * r) / h : p;
  if (Math.abs(ra) <= s) {
    na = ra;
    np = rp;
  } else {
    const ca = Math.sign(a) * s;
    if (ca * ca + p2 <= r * r) {
      na = ca;
      np = p;
    } else {
      na = ca;
      np = Math.sqrt(Math.max(r * r - s * s, 0));
    }
  }
  const scale = p > 0 ? np / p : 0;
  for (let j = 0; j < d; j++) {
    const uPerp = x[j] - mu[j] - a * v[j];
    out[j] = mu[j] + na * v[j] + scale * uPerp;
  }
  return out;
}
