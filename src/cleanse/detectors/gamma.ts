/**
 * The gamma distribution that MM-BD fits to the null (the other classes' maximum margins): log-gamma,
 * digamma and trigamma, the regularized incomplete gamma function (its upper tail in log space, so
 * that a p-value of 1e-30 is not rounded to 0), and a three-parameter maximum-likelihood fit
 * (shape, location, scale) as scipy's `gamma.fit`, which the MM-BD release calls.
 */
import { OptionError } from '../../errors.js';

const LANCZOS = [676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406, 12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7];

/** ln Γ(x) for x > 0 (Lanczos, g = 7: about 15 significant digits). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let s = 0.99999999999980993;
  for (let i = 0; i < LANCZOS.length; i++) s += LANCZOS[i] / (z + i + 1);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** ψ(x) = d ln Γ(x)/dx, x > 0: recurrence up to x ≥ 6, then the asymptotic series. */
export function digamma(x: number): number {
  let r = 0;
  while (x < 10) {
    r -= 1 / x;
    x += 1;
  }
  const f = 1 / (x * x);
  return r + Math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))));
}

/** ψ′(x), x > 0, the same way. */
export function trigamma(x: number): number {
  let r = 0;
  while (x < 10) {
    r += 1 / (x * x);
    x += 1;
  }
  const f = 1 / (x * x);
  return r + 1 / x + f / 2 + (f / x) * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f / 30)));
}

/**
 * ln Q(a, x), the log of the regularized upper incomplete gamma function Γ(a, x)/Γ(a): the series
 * for P below x = a + 1, Lentz's continued fraction for Q above (Numerical Recipes §6.2).
 */
export function logUpperGamma(a: number, x: number): number {
  if (!(a > 0)) throw new OptionError('a', 'a positive shape', a);
  if (x <= 0) return 0;
  const front = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.log1p(-Math.min(1, Math.exp(front) * sum));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return front + Math.log(h);
}

export interface GammaFit {
  readonly shape: number;
  readonly loc: number;
  readonly scale: number;
  readonly logLikelihood: number;
}

/** ln of the survival function 1 − F(x) of a fitted gamma. */
export function gammaLogSurvival(fit: GammaFit, x: number): number {
  return logUpperGamma(fit.shape, (x - fit.loc) / fit.scale);
}

/** The shape's MLE for data y > 0 (location fixed): solves ln k − ψ(k) = ln(mean y) − mean(ln y) by Newton's method. */
function shapeMle(y: readonly number[]): { shape: number; scale: number; logLikelihood: number } {
  const n = y.length;
  const mean = y.reduce((a, b) => a + b, 0) / n;
  const meanLog = y.reduce((a, b) => a + Math.log(b), 0) / n;
  const s = Math.log(mean) - meanLog;
  // Minka's closed-form start, then Newton on f(k) = ln k − ψ(k) − s (decreasing and convex).
  let k = s > 0 ? (3 - s + Math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s) : 1e6;
  for (let i = 0; i < 50 && s > 0; i++) {
    const f = Math.log(k) - digamma(k) - s;
    const df = 1 / k - trigamma(k);
    const next = k - f / df;
    k = next > 0 ? next : k / 2;
    if (Math.abs(f) < 1e-12) break;
  }
  const scale = mean / k;
  const logLikelihood = (k - 1) * n * meanLog - (n * mean) / scale - n * (lnGamma(k) + k * Math.log(scale));
  return { shape: k, scale, logLikelihood };
}

/** Location offsets tried below the smallest value, as multiples of the data's spread (log-spaced). */
const LOC_GRID = 241;
const LOC_SPAN = [1e-3, 1e3] as const;

/**
 * A three-parameter gamma fit by maximum likelihood, the location profiled out: for each location
 * below the smallest value (a log-spaced grid of offsets from 10⁻³ to 10³ spreads, then a golden
 * section around the best), the shape and scale are the closed MLE, and the best likelihood wins.
 * Fits with a shape below 1 are left out: their likelihood grows without bound as the location
 * approaches the smallest value, which is the degenerate answer scipy's local optimizer also avoids
 * by starting from the moment estimates. With no such fit (data too skewed) the location is fixed
 * just below the smallest value.
 */
export function fitGamma(values: readonly number[]): GammaFit {
  if (values.length < 2) throw new OptionError('values', 'at least 2 values to fit a gamma distribution', values.length);
  for (const v of values) if (!Number.isFinite(v)) throw new OptionError('values', 'finite numbers', v);
  const min = Math.min(...values);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const spread = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length) || Math.abs(mean) || 1;
  const at = (u: number): GammaFit => {
    const loc = min - spread * Math.exp(u);
    const f = shapeMle(values.map((v) => v - loc));
    return { shape: f.shape, loc, scale: f.scale, logLikelihood: f.logLikelihood };
  };
  const [lo, hi] = [Math.log(LOC_SPAN[0]), Math.log(LOC_SPAN[1])];
  const step = (hi - lo) / (LOC_GRID - 1);
  let best: { u: number; fit: GammaFit } | undefined;
  for (let i = 0; i < LOC_GRID; i++) {
    const u = lo + i * step;
    const fit = at(u);
    if (fit.shape >= 1 && Number.isFinite(fit.logLikelihood) && (!best || fit.logLikelihood > best.fit.logLikelihood)) best = { u, fit };
  }
  if (!best) return at(lo);
  // Golden section on the neighbouring grid cells.
  let a = Math.max(lo, best.u - step);
  let b = Math.min(hi, best.u + step);
  const g = (Math.sqrt(5) - 1) / 2;
  const score = (u: number): number => {
    const f = at(u);
    return f.shape >= 1 ? f.logLikelihood : -Infinity;
  };
  for (let i = 0; i < 60; i++) {
    const c = b - g * (b - a);
    const d = a + g * (b - a);
    if (score(c) >= score(d)) b = d;
    else a = c;
  }
  const refined = at((a + b) / 2);
  return refined.shape >= 1 && refined.logLikelihood >= best.fit.logLikelihood ? refined : best.fit;
}

/**
 * The p-value of the largest of n statistics under a null fitted to the other n − 1: the largest of
 * n independent draws exceeds x with probability 1 − F(x)ⁿ (the release: `1 - pow(cdf, len(r_null) + 1)`).
 * Returned as a natural log, accurate when the p-value is far below double precision's 1e-16.
 */
export function logMaxPValue(fit: GammaFit, x: number, n: number): number {
  const logQ = gammaLogSurvival(fit, x);
  const q = Math.exp(logQ);
  // 1 − (1 − q)ⁿ = −expm1(n·log1p(−q)); for tiny q that is n·q, whose log needs no exp.
  if (q < 1e-12) return Math.log(n) + logQ;
  return Math.log(-Math.expm1(n * Math.log1p(-q)));
}
