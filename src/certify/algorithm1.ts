/**
 * Algorithm 1 of Steinhardt, Koh & Liang (NeurIPS 2017): online dual averaging with a lazy
 * projection onto Θ = {‖w‖² + b² ≤ ρ²}, played against the attacker's best response. Its minimum
 * of U(θ) = L(θ; D_c)/n + ε·max_{(x,y)∈F} ℓ(θ; x, y) over the iterates is an upper bound U* on the
 * training loss any ε-fraction attack can force, and the best responses form a candidate attack.
 */
import type { Features } from '../data/matrix.js';
import { CleanHingeTracker } from './clean-loss.js';
import { hingeAndError } from '../linear/hinge.js';
import { OptionError } from '../errors.js';
import { checkFinite, checkPositive, checkPositiveInt, checkRange } from '../options.js';
import { Random } from '../random.js';
import type { SphereSlabDefense } from './defense.js';
import { dotDense } from './defense.js';
import { perpNorm, pointVector, worstPoint, worstPointOfClass, type WorstPoint } from './maximizer.js';
import { vectorAxpy, type PointVector } from '../data/vector.js';

/** 'paper': T = round(εn) iterations, every iterate is a poison point. 'release': fixed T, then
 * round(εn) of the T iterates sampled uniformly without replacement. */
export type Algorithm1Mode = 'paper' | 'release';

export const ALGORITHM1_MODES: readonly Algorithm1Mode[] = ['release', 'paper'];

/** Options of {@link runAlgorithm1}. */
export interface Algorithm1Options {
  /** Attacker's budget ε ∈ [0, 1): it adds round(εn) points. */
  readonly eps: number;
  /** Radius² of Θ. */
  readonly rho2: number;
  /** Step size η (λ starts at 1/η). */
  readonly eta: number;
  /** Iterations in 'release' mode. */
  readonly iterations: number;
  readonly mode: Algorithm1Mode;
  readonly seed: number;
  /** Called every `progressEvery` iterations. */
  readonly onProgress?: (p: { iteration: number; total: number; upperBound: number }) => void;
  readonly progressEvery?: number;
  /**
   * A best response other than the closed form over F (e.g. the integer maximizer for text).
   * The run then plays against a restricted attacker, so its U is not a certificate over F.
   */
  readonly respond?: (w: Float64Array, b: number) => BestResponse;
  /**
   * θ₀, the first iterate (default 0, the paper's): e.g. the clean defender's SVM, so that the bound
   * is at most that model's U from the first iteration. Scaled into Θ when it lies outside. Any θ
   * gives a valid bound, so U* stays a certificate.
   */
  readonly start?: { readonly w: Float64Array; readonly b: number };
  /** Turns each kept closed-form point into the poison point (e.g. clip and round for text). */
  readonly emit?: (x: Float64Array, y: number, rng: Random) => PointVector;
  /**
   * Further θs (e.g. the clean defender's SVM) whose U enters the minimum beside the iterates',
   * each scaled into Θ; they are evaluated, not played, so the iterates and the attack are unchanged.
   * Every θ ∈ Θ gives a valid bound, so U* stays a certificate (and can only get smaller).
   */
  readonly boundCandidates?: readonly { readonly w: Float64Array; readonly b: number }[];
}

/** A best response of the attacker: label, loss and the point itself. */
export interface BestResponse {
  readonly y: number;
  readonly loss: number;
  readonly x: PointVector;
}

/** The candidate attack: poison points as coefficients over (μ_y, v, w_t) and as dense rows. */
export interface CandidateAttack {
  /** Labels ±1 of the poison points. */
  readonly y: Int8Array;
  /** One row per poison point (dense, or sparse for text). */
  readonly X: PointVector[];
  /** Iterations (1-based) that produced each point. */
  readonly iterations: Int32Array;
}

export interface Algorithm1Result {
  readonly eps: number;
  readonly mode: Algorithm1Mode;
  readonly iterations: number;
  /** U* = min_t U(θ_t). */
  readonly upperBound: number;
  /** Whether U* is a certificate over F (false when a restricted best response was used). */
  readonly certified: boolean;
  /** Iteration (1-based) of the minimum; 0 when a bound candidate gave it. */
  readonly bestIteration: number;
  /** Index of the bound candidate that gave the minimum, or −1 when an iterate did. */
  readonly bestCandidate: number;
  /**
   * L(θ; D_c)/n per evaluated θ: the T iterates, then the bound candidates (for bounds at other ε:
   * U(θ; ε') = cleanLoss[k] + ε'·worstLoss[k]).
   */
  readonly cleanLoss: Float64Array;
  /** max_F ℓ(θ) for the same θs. */
  readonly worstLoss: Float64Array;
  /** The θ of the minimum. */
  readonly bestW: Float64Array;
  readonly bestB: number;
  readonly attack: CandidateAttack;
  readonly seconds: number;
}

export function runAlgorithm1(X: Features, y: Int8Array, defense: SphereSlabDefense, options: Algorithm1Options): Algorithm1Result {
  const eps = checkRange('eps', options.eps, 0, 1);
  const rho = Math.sqrt(checkPositive('rho2', options.rho2));
  const eta = checkPositive('eta', options.eta);
  checkFinite('seed', options.seed);
  const n = X.rows;
  const d = X.cols;
  const nPoison = Math.round(eps * n);
  const T = options.mode === 'paper' ? nPoison : checkPositiveInt('iterations', options.iterations);
  const rng = new Random(options.seed);
  // Release mode: which iterates become poison points is decided up front (uniform without
  // replacement), so that only those are materialized.
  const keep = new Uint8Array(T + 1);
  if (options.mode === 'paper') keep.fill(1);
  else if (nPoison > 0) {
    if (nPoison > T) throw new OptionError('iterations', `at least round(eps * n) = ${nPoison} in release mode (it samples the poison points from the iterates)`, T);
    for (const i of rng.sampleWithoutReplacement(T, nPoison)) keep[i + 1] = 1;
  }

  const start = performance.now();
  const w = new Float64Array(d);
  let b = 0;
  const zw = new Float64Array(d);
  let zb = 0;
  let lambda = 1 / eta;
  if (options.start) {
    // Dual averaging keeps θ = z/λ: start z at θ₀·λ (θ₀ scaled into the ball ‖θ‖ ≤ ρ).
    const theta = intoBall(options.start, rho, d, 'start');
    w.set(theta.w);
    b = theta.b;
    for (let j = 0; j < d; j++) zw[j] = w[j] * lambda;
    zb = b * lambda;
  }
  const tracker = new CleanHingeTracker(X, y);
  const candidates = options.boundCandidates ?? [];
  const cleanLoss = new Float64Array(T + candidates.length);
  const worstLoss = new Float64Array(T + candidates.length);
  const bestW = new Float64Array(d);
  let bestB = 0;
  let upperBound = Infinity;
  let bestIteration = 0;
  let bestCandidate = -1;
  candidates.forEach((c, k) => {
    const theta = intoBall(c, rho, d, 'boundCandidates');
    const loss = hingeAndError(X, y, theta).hinge;
    const worst = options.respond ? options.respond(theta.w, theta.b).loss : worstPoint(defense, theta.w, theta.b).loss;
    cleanLoss[T + k] = loss;
    worstLoss[T + k] = worst;
    const U = loss + eps * worst;
    if (U < upperBound) {
      upperBound = U;
      bestCandidate = k;
      bestW.set(theta.w);
      bestB = theta.b;
    }
  });
  const poisonX: PointVector[] = [];
  const poisonY: number[] = [];
  const poisonIt: number[] = [];
  const mu = { pos: defense.positive.centroid, neg: defense.negative.centroid };
  const every = options.progressEvery ?? 100;

  for (let t = 1; t <= T; t++) {
    // Clean loss and its gradient (active rows only).
    const loss = tracker.update(w, b);
    const grad = tracker.grad;
    const gradB = tracker.gradB;
    const meanLoss = loss / n;

    // The attacker's best response over F (both classes; keep the larger loss).
    let wv = 0;
    let wMuP = 0;
    let wMuN = 0;
    const v = defense.v;
    for (let j = 0; j < d; j++) {
      const wj = w[j];
      wv += wj * v[j];
      wMuP += wj * mu.pos[j];
      wMuN += wj * mu.neg[j];
    }
    const wPerp = perpNorm(w, v, wv);
    let worstY: number;
    let worstL: number;
    let custom: BestResponse | undefined;
    let closed: WorstPoint | undefined;
    if (options.respond) {
      custom = options.respond(w, b);
      worstY = custom.y;
      worstL = custom.loss;
    } else {
      const pp = worstPointOfClass(defense, 1, b, wMuP, wv, wPerp);
      const pn = worstPointOfClass(defense, -1, b, wMuN, wv, wPerp);
      closed = pn.loss > pp.loss ? pn : pp;
      worstY = closed.y;
      worstL = closed.loss;
    }

    const U = meanLoss + eps * worstL;
    cleanLoss[t - 1] = meanLoss;
    worstLoss[t - 1] = worstL;
    if (U < upperBound) {
      upperBound = U;
      bestIteration = t;
      bestCandidate = -1;
      bestW.set(w);
      bestB = b;
    }
    if (keep[t] && nPoison > 0) {
      if (custom) poisonX.push(custom.x);
      else {
        const x = pointVector(defense, closed!, w);
        poisonX.push(options.emit ? options.emit(x, worstY, rng) : x);
      }
      poisonY.push(worstY);
      poisonIt.push(t);
    }

    // g = ∇L/n + ε∇ℓ(x_t, y_t); ∇ℓ = −y[x; 1] when the loss is positive.
    // z −= g, with x_t = μ + cv·v + cw·w expanded so that no d-vector is built.
    const inv = 1 / n;
    for (let j = 0; j < d; j++) zw[j] -= grad[j] * inv;
    zb -= gradB * inv;
    if (eps > 0 && worstL > 0) {
      const cy = eps * worstY;
      if (custom) vectorAxpy(custom.x, cy, zw);
      else {
        const m = worstY > 0 ? mu.pos : mu.neg;
        const cv = closed!.cv;
        const cw = closed!.cw;
        for (let j = 0; j < d; j++) zw[j] += cy * (m[j] + cv * v[j] + cw * w[j]);
      }
      zb += cy;
    }
    const zNorm = Math.sqrt(dotDense(zw, zw) + zb * zb);
    if (zNorm / rho > lambda) lambda = zNorm / rho;
    const il = 1 / lambda;
    for (let j = 0; j < d; j++) w[j] = zw[j] * il;
    b = zb * il;

    if (options.onProgress && (t % every === 0 || t === T)) options.onProgress({ iteration: t, total: T, upperBound });
  }

  // ε = 0 in paper mode has no iterations: U* is then the bound candidates' (+∞ without any; the
  // caller should use release mode).
  return {
    eps,
    mode: options.mode,
    iterations: T,
    upperBound,
    certified: !options.respond,
    bestIteration,
    bestCandidate,
    cleanLoss,
    worstLoss,
    bestW,
    bestB,
    attack: { y: Int8Array.from(poisonY), X: poisonX, iterations: Int32Array.from(poisonIt) },
    seconds: (performance.now() - start) / 1000,
  };
}

/** θ scaled into the ball ‖(w, b)‖ ≤ ρ (unchanged when inside). */
function intoBall(theta: { readonly w: Float64Array; readonly b: number }, rho: number, d: number, name: string): { w: Float64Array; b: number } {
  if (theta.w.length !== d) throw new OptionError(name, `a weight vector of length ${d}`, theta.w.length);
  const norm = Math.sqrt(dotDense(theta.w, theta.w) + theta.b * theta.b);
  if (!Number.isFinite(norm)) throw new OptionError(name, 'finite weights', 'NaN or infinite values');
  const scale = norm > rho ? rho / norm : 1;
  return { w: theta.w.map((v) => v * scale), b: theta.b * scale };
}
