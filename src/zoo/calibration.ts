/**
 * A probability per model: logistic calibration of the scan's statistics (as TrojAI asks for a
 * calibrated P(trojaned), scored by cross-entropy). The features are read from a scan report:
 *   - anomalyIndex: the MAD anomaly index of the smallest norm (mean over the --repeat scans);
 *   - secondary: the second statistic (leave-one-out z-score of log norms), likewise;
 *   - logNormRatio: ln(median norm / smallest norm), likewise.
 * They are standardised with the fitting zoo's means and spreads, and the logistic model is fitted
 * by Newton's method on the cross-entropy plus an L2 penalty on the weights (not the bias): a zoo
 * whose classes one statistic separates perfectly would otherwise send the weights to infinity and
 * every probability to 0 or 1, which cross-entropy punishes hard on the next model.
 * Another detector's statistics join the feature list as they arrive; a calibration names its
 * features, and applying it to a report that lacks one is refused.
 */
import { DataFormatError, OptionError } from '../errors.js';
import { isObject } from '../run-files.js';
import type { ScanReport } from '../cleanse/scan.js';

export const CALIBRATION_FORMAT = 'poisonguard-zoo-calibration';
export const FEATURES = ['anomalyIndex', 'secondary', 'logNormRatio'] as const;
export type FeatureName = (typeof FEATURES)[number];
/** The L2 penalty on the standardised weights (a Gaussian prior of variance 1/λ). */
export const DEFAULT_L2 = 1;
const NEWTON_STEPS = 100;
/** A zoo to calibrate on has at least this many models of each class (a leave-one-out fold, one fewer: the penalty keeps it finite). */
export const MIN_PER_CLASS = 2;

export interface Calibration {
  readonly format: typeof CALIBRATION_FORMAT;
  readonly features: readonly FeatureName[];
  readonly mean: readonly number[];
  readonly sd: readonly number[];
  readonly weights: readonly number[];
  readonly bias: number;
  readonly l2: number;
  /** What it was fitted on: the zoo, its models, and the scan recipe (a calibration fits one recipe's statistics). */
  readonly fittedOn: {
    readonly zoo: string;
    readonly models: number;
    readonly infected: number;
    readonly recipe: unknown;
    readonly date: string;
  };
}

export type Features = Readonly<Record<FeatureName, number>>;

/** The features of a scan report (see the module comment). */
export function scanFeatures(report: Pick<ScanReport, 'runs'>): Features {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    anomalyIndex: mean(report.runs.map((r) => r.outliers.anomalyIndex)),
    secondary: mean(report.runs.map((r) => r.secondary.anomalyIndex)),
    logNormRatio: mean(report.runs.map((r) => normRatio(r.labels.map((l) => l.norm)))),
  };
}

/** ln(median / smallest) of a run's norms. */
export function normRatio(norms: readonly number[]): number {
  const s = [...norms].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return Math.log(median / Math.max(s[0], 1e-12));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Fits the calibration on labelled models (see the module comment). */
export function fitCalibration(
  rows: readonly { readonly features: Features; readonly infected: boolean }[],
  fittedOn: Omit<Calibration['fittedOn'], 'models' | 'infected' | 'date'> & { readonly date?: string },
  l2 = DEFAULT_L2,
  minPerClass = MIN_PER_CLASS,
): Calibration {
  const pos = rows.filter((r) => r.infected).length;
  if (pos < minPerClass || rows.length - pos < minPerClass) {
    throw new OptionError('zoo', `at least ${minPerClass === 2 ? 'two' : minPerClass} infected and ${minPerClass === 2 ? 'two' : minPerClass} clean models with their ground truth to calibrate on`, `${pos} infected, ${rows.length - pos} clean`);
  }
  if (!(l2 > 0)) throw new OptionError('l2', 'a positive number', l2);
  const k = FEATURES.length;
  const X = rows.map((r) => FEATURES.map((f) => r.features[f]));
  for (const [i, x] of X.entries()) if (!x.every(Number.isFinite)) throw new DataFormatError(`model ${i + 1}`, `a statistic is not finite (${x.join(', ')}).`);
  const mean = FEATURES.map((_, j) => X.reduce((a, x) => a + x[j], 0) / X.length);
  const sd = FEATURES.map((_, j) => Math.sqrt(X.reduce((a, x) => a + (x[j] - mean[j]) ** 2, 0) / X.length) || 1);
  const Z = X.map((x) => x.map((v, j) => (v - mean[j]) / sd[j]));
  const y = rows.map((r) => (r.infected ? 1 : 0));
  // theta = [bias, w_1..w_k]; Newton on the penalised negative log-likelihood (convex: converges).
  const theta = new Array<number>(k + 1).fill(0);
  for (let it = 0; it < NEWTON_STEPS; it++) {
    const g = new Array<number>(k + 1).fill(0);
    const H = Array.from({ length: k + 1 }, () => new Array<number>(k + 1).fill(0));
    Z.forEach((z, n) => {
      const row = [1, ...z];
      const p = sigmoid(row.reduce((a, v, j) => a + v * theta[j], 0));
      for (let a = 0; a <= k; a++) {
        g[a] += (p - y[n]) * row[a];
        for (let b = 0; b <= k; b++) H[a][b] += p * (1 - p) * row[a] * row[b];
      }
    });
    for (let a = 1; a <= k; a++) {
      g[a] += l2 * theta[a];
      H[a][a] += l2;
    }
    H[0][0] += 1e-9; // the unpenalised bias of an all-one-class leave-one-out fold stays solvable
    const step = solve(H, g);
    for (let a = 0; a <= k; a++) theta[a] -= step[a];
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  return {
    format: CALIBRATION_FORMAT,
    features: [...FEATURES],
    mean,
    sd,
    weights: theta.slice(1),
    bias: theta[0],
    l2,
    fittedOn: { zoo: fittedOn.zoo, models: rows.length, infected: pos, recipe: fittedOn.recipe, date: fittedOn.date ?? new Date().toISOString() },
  };
}

/** Gaussian elimination with partial pivoting (the systems are 4×4). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let j = c; j <= n; j++) M[r][j] -= f * M[c][j];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) x[r] = (M[r][n] - M[r].slice(r + 1, n).reduce((a, v, j) => a + v * x[r + 1 + j], 0)) / M[r][r];
  return x;
}

/** P(backdoored) of a model's features. */
export function probability(c: Calibration, f: Features): number {
  let z = c.bias;
  c.features.forEach((name, j) => {
    const v = f[name];
    if (!Number.isFinite(v)) throw new DataFormatError(name, `the statistic is not finite (${v}).`);
    z += (c.weights[j] * (v - c.mean[j])) / c.sd[j];
  });
  return sigmoid(z);
}

/** Leave-one-out probabilities: each model scored by a calibration fitted on the others. */
export function leaveOneOut(rows: readonly { readonly features: Features; readonly infected: boolean }[], recipe: unknown, l2 = DEFAULT_L2): number[] {
  return rows.map((r, i) => probability(fitCalibration(rows.filter((_, j) => j !== i), { zoo: 'leave-one-out', recipe }, l2, MIN_PER_CLASS - 1), r.features));
}

/** Checks a calibration read from a file (untrusted). */
export function checkCalibration(x: unknown, where: string): Calibration {
  const bad = (why: string): never => {
    throw new DataFormatError(where, `not a zoo calibration (${why}); 'poisonguard zoo calibrate' writes one.`);
  };
  if (!isObject(x) || x.format !== CALIBRATION_FORMAT) return bad(`format ${JSON.stringify(isObject(x) ? x.format : typeof x)}`);
  const f = x.features;
  if (!Array.isArray(f) || f.length === 0 || !f.every((n) => (FEATURES as readonly string[]).includes(n))) return bad(`features must be among ${FEATURES.join(', ')}`);
  for (const k of ['mean', 'sd', 'weights'] as const) {
    const a = x[k];
    if (!Array.isArray(a) || a.length !== f.length || !a.every((v) => typeof v === 'number' && Number.isFinite(v))) bad(`${k}: ${f.length} finite numbers`);
  }
  if (!(x.sd as number[]).every((v) => v > 0)) bad('sd must be positive');
  if (typeof x.bias !== 'number' || !Number.isFinite(x.bias)) bad('bias');
  if (!isObject(x.fittedOn)) bad('fittedOn');
  return x as unknown as Calibration;
}
