/**
 * The certified-defense pipeline over an ε grid: fit the oracle sphere + slab defense on the clean
 * data, train the clean defender, then for each ε run Algorithm 1 (U* and the candidate attack)
 * and evaluate the attacks, spreading the ε values over worker threads.
 */
import { availableParallelism } from 'node:os';
import type { BinaryDataset } from '../data/binary.js';
import { checkLabelled } from '../data/binary.js';
import { nnz } from '../data/matrix.js';
import type { PointVector } from '../data/vector.js';
import { OptionError, UnknownNameError } from '../errors.js';
import { hingeAndError } from '../linear/hinge.js';
import { NORM_MATCH_BAND, NORM_MATCH_RANGE, SVM_DEFAULT_MAX_ITER, SVM_DEFAULT_TOL, trainNormMatchedSvm, type NormMatchedOptions } from '../linear/svm.js';
import { checkNonNegativeInt, checkOneOf, checkPositive, checkPositiveInt, checkRange } from '../options.js';
import { checkSeed, DEFAULT_SEED } from '../random.js';
import { runPool, siblingModule } from '../workers/pool.js';
import { ALGORITHM1_MODES, type Algorithm1Mode } from './algorithm1.js';
import { fitSphereSlabDefense, type SphereSlabDefense } from './defense.js';
import { ATTACK_NAMES, DEFAULT_ATTACKS, runEpsTask, type AttackName, type EpsProgress, type EpsRow, type EpsTask, type EpsTaskInit } from './eps-task.js';
import { CERTIFY_RECIPES, DEFAULT_RECIPE, type CertifyRecipe, type PointKind } from './recipes.js';
import { featureBox, type FeatureBox } from './text-points.js';
import { DATA_DEPENDENT_PERCENTILE } from './data-dependent.js';

export type DefenseKind = 'oracle' | 'data-dependent';
export const DEFENSE_KINDS: readonly DefenseKind[] = ['oracle', 'data-dependent'];

/** Options of {@link certify}; every default is the release's recipe for the dataset. */
export interface CertifyOptions {
  /** ε values, each in [0, 1). Default: the paper's grid for the dataset. */
  readonly eps?: readonly number[];
  /** 'release' (default) or 'paper'. */
  readonly mode?: Algorithm1Mode;
  /** T in release mode. Default: the recipe's. */
  readonly iterations?: number;
  readonly eta?: number;
  readonly rho2?: number;
  /** Percentile of the defense radii. Default 70 (oracle); 65 for the data-dependent defense (the release on MNIST-1-7). */
  readonly percentile?: number;
  /** Data-dependent defense: random mass splits tried besides ε/2 + ε/2. Default 2. */
  readonly randomSplits?: number;
  readonly defense?: DefenseKind;
  /** Attacks to evaluate. Default: candidate and label-flip ('gradient' on request). */
  readonly attacks?: readonly AttackName[];
  readonly seed?: number;
  /** Worker threads; 0 runs inline. Default: the number of cores. */
  readonly workers?: number;
  /** How candidate points are made. Default: the dataset recipe's (continuous for images). */
  readonly pointKind?: PointKind;
  /**
   * θ₀ of Algorithm 1: 'zero' (the paper and the release) or 'clean' (the clean defender's SVM, scaled
   * into Θ; the bound is then at most that model's U from the first iteration on).
   */
  readonly start?: AlgorithmStart;
  /**
   * Which θs U* is the minimum over: 'iterates+clean' (default) adds the clean defender's SVM (scaled
   * into Θ) to Algorithm 1's iterates — one more valid bound, so U* stays a certificate and is at
   * most the clean model's training loss at ε = 0; 'iterates' is the paper's minimum alone.
   */
  readonly bound?: BoundCandidates;
  /** SVM stopping tolerance. Default 1e-6 (the release). */
  readonly svmTol?: number;
  readonly onProgress?: (p: EpsProgress) => void;
}

/** Algorithm 1 as the release runs it: fixed T, round(εn) iterates sampled. */
export const DEFAULT_MODE: Algorithm1Mode = 'release';
/** The oracle defense: centroids of the clean data, so U* is a certificate (the paper's analysis). */
export const DEFAULT_DEFENSE: DefenseKind = 'oracle';
/** θ₀ = 0, as the paper and the release. */
export const DEFAULT_START: AlgorithmStart = 'zero';
/** U* over the iterates and the clean SVM (one more valid bound); the data-dependent defense's is 'iterates'. */
export const DEFAULT_BOUND: BoundCandidates = 'iterates+clean';
export const DATA_DEPENDENT_BOUND: BoundCandidates = 'iterates';

export type AlgorithmStart = 'zero' | 'clean';
export const ALGORITHM_STARTS: readonly AlgorithmStart[] = ['zero', 'clean'];
export type BoundCandidates = 'iterates+clean' | 'iterates';
/** The name of the clean defender's SVM as a bound candidate (EpsRow.upperBoundFrom). */
export const CLEAN_SVM_CANDIDATE = 'clean SVM';
export const BOUND_CANDIDATES: readonly BoundCandidates[] = ['iterates+clean', 'iterates'];

export interface CertifyRecipeRecord extends Omit<CertifyRecipe, 'integerEta'> {
  /** θ₀ of Algorithm 1. */
  readonly start: AlgorithmStart;
  /** The θs U* is the minimum over (see CertifyOptions.bound); the data-dependent defense: 'iterates'. */
  readonly bound: BoundCandidates;
  /** 'integer' recipes: the attack run's step size, in words. */
  readonly integerEta?: string;
  readonly name: string;
  readonly mode: Algorithm1Mode;
  readonly defense: DefenseKind;
  readonly seed: number;
  readonly svm: { readonly tol: number; readonly maxIter: number; readonly band: number; readonly range: readonly [number, number] };
}

export interface CertifyRow extends Omit<EpsRow, 'cleanLoss' | 'worstLoss' | 'attackX' | 'attackY'> {
  /**
   * min over the θs of every run (iterates and bound candidates) of L(θ)/n + ε·max_F ℓ(θ): also a valid bound (each θ
   * gives one), never above `upperBound`, and non-decreasing and concave in ε by construction.
   */
  readonly upperBoundEnvelope: number;
}

export interface CertifyReport {
  readonly kind: 'certify';
  readonly dataset: { name: string; source: string; positive: string; negative: string; features: string; n: number; nTest: number; d: number; nnz: number };
  readonly recipe: CertifyRecipeRecord;
  readonly defense: {
    readonly kind: DefenseKind;
    readonly percentile: number;
    readonly positive: { sphereRadius: number; slabRadius: number };
    readonly negative: { sphereRadius: number; slabRadius: number };
  };
  /** The defender's SVM on clean data (ε = 0). */
  readonly clean: { weightDecay: number; norm2: number; trainHinge: number; trainError: number; testHinge: number; testError: number };
  readonly rows: readonly CertifyRow[];
  /**
   * 'certificate': U* bounds every attack inside F (oracle defense). 'heuristic': the data-dependent
   * defense's number, from sampled mass splits and a relaxation — an estimate, not a proof.
   */
  readonly boundKind?: 'certificate' | 'heuristic';
  /** Invariants checked on this run. */
  readonly checks: {
    /** attack total train loss ≤ U* for every ε. */
    readonly attackBelowBound: boolean;
    /** every candidate point lies in F (rounded text points may not: they are then dropped and counted). */
    readonly candidatesInF: boolean;
    /** per-run U* non-decreasing in ε (within 1e-4). */
    readonly boundMonotone: boolean;
  };
  readonly workers: number;
  readonly seconds: number;
  readonly date: string;
  /** The candidate attack of each ε (in memory only: {@link certifyReportJson} leaves it out). */
  readonly attacks?: readonly { eps: number; X: PointVector[]; y: Int8Array }[];
  /** The fitted feasible set, centroids and slab direction included, for the projection (in memory only, like the attacks). */
  readonly fittedDefense?: SphereSlabDefense;
}

export function resolveRecipe(dataset: string, options: CertifyOptions): CertifyRecipeRecord {
  const base = CERTIFY_RECIPES[dataset] ?? DEFAULT_RECIPE;
  const mode = checkOneOf('mode', options.mode ?? DEFAULT_MODE, ALGORITHM1_MODES);
  const defense = checkOneOf('defense', options.defense ?? DEFAULT_DEFENSE, DEFENSE_KINDS);
  if (defense === 'data-dependent' && (mode !== 'release' || (options.pointKind ?? base.pointKind) !== 'continuous')) {
    throw new OptionError('defense', "'oracle' with --mode paper or on text data (the data-dependent attack runs in release mode on continuous data)", defense);
  }
  const pointKind = options.pointKind ?? base.pointKind;
  const start = checkOneOf('start', options.start ?? DEFAULT_START, ALGORITHM_STARTS);
  if (start !== 'zero' && defense === 'data-dependent') throw new OptionError('start', "'zero' with the data-dependent defense (its runs start at 0)", start);
  const bound = checkOneOf('bound', options.bound ?? (defense === 'data-dependent' ? DATA_DEPENDENT_BOUND : DEFAULT_BOUND), BOUND_CANDIDATES);
  if (bound !== 'iterates' && defense === 'data-dependent') throw new OptionError('bound', "'iterates' with the data-dependent defense (its number is a heuristic, not a minimum of certificates)", bound);
  const variant =
    (pointKind !== base.pointKind ? ` with ${pointKind} attack points` : '') +
    (start !== 'zero' ? ', Algorithm 1 started at the clean SVM' : '') +
    (bound === 'iterates' && defense !== 'data-dependent' ? ', U* over the iterates only' : '');
  return {
    name: (CERTIFY_RECIPES[dataset] ? `${dataset} (release)` : 'mnist17 (release) applied to a new dataset') + variant,
    eta: checkPositive('eta', options.eta ?? base.eta),
    iterations: checkPositiveInt('iterations', options.iterations ?? base.iterations),
    rho2: checkPositive('rho2', options.rho2 ?? base.rho2),
    epsGrid: options.eps ?? base.epsGrid,
    percentile: checkRange('percentile', options.percentile ?? (defense === 'data-dependent' ? DATA_DEPENDENT_PERCENTILE : base.percentile), 0, 100, true),
    mode,
    defense,
    pointKind,
    start,
    bound,
    ...(pointKind === 'rounded' ? { shrunkenPercentiles: base.shrunkenPercentiles ?? CERTIFY_RECIPES.imdb.shrunkenPercentiles! } : {}),
    ...(pointKind === 'integer' ? { integerEta: 'η = (0.008/ε)·√(ε/0.05), T = εn' } : {}),
    seed: checkSeed('seed', options.seed ?? DEFAULT_SEED),
    svm: { tol: checkPositive('svmTol', options.svmTol ?? SVM_DEFAULT_TOL), maxIter: SVM_DEFAULT_MAX_ITER, band: NORM_MATCH_BAND, range: NORM_MATCH_RANGE },
  };
}

export async function certify(data: BinaryDataset, options: CertifyOptions = {}): Promise<CertifyReport> {
  const start = performance.now();
  const recipe = resolveRecipe(data.name, options);
  const epsList = recipe.epsGrid;
  if (epsList.length === 0) throw new OptionError('eps', 'a non-empty list', []);
  epsList.forEach((e) => checkRange('eps', e, 0, 1));
  const attacks = options.attacks ?? DEFAULT_ATTACKS;
  for (const a of attacks) if (!ATTACK_NAMES.includes(a)) throw new UnknownNameError('attack', a, ATTACK_NAMES);
  const workers = checkNonNegativeInt('workers', options.workers ?? availableParallelism());
  checkLabelled(data.train, `${data.name} train`);
  checkLabelled(data.test, `${data.name} test`);

  const defense: SphereSlabDefense = fitSphereSlabDefense(data.train.X, data.train.y, { spherePercentile: recipe.percentile });
  const svm: NormMatchedOptions = { rho2: recipe.rho2, tol: recipe.svm.tol, maxIter: recipe.svm.maxIter, seed: recipe.seed };
  const cleanModel = trainNormMatchedSvm(data.train.X, data.train.y, svm);
  const cleanTrain = hingeAndError(data.train.X, data.train.y, cleanModel);
  const cleanTest = hingeAndError(data.test.X, data.test.y, cleanModel);

  const base = CERTIFY_RECIPES[data.name] ?? DEFAULT_RECIPE;
  const pointKind = options.pointKind ?? base.pointKind;
  let attackDefense: SphereSlabDefense | undefined;
  let box: FeatureBox | undefined;
  if (pointKind === 'rounded') {
    const shrunk = base.shrunkenPercentiles ?? CERTIFY_RECIPES.imdb.shrunkenPercentiles!;
    attackDefense = fitSphereSlabDefense(data.train.X, data.train.y, { spherePercentile: shrunk.sphere, slabPercentile: shrunk.slab });
  } else if (pointKind === 'integer') {
    box = featureBox(data.train.X, data.train.y);
  }
  const integerEta = base.integerEta ?? CERTIFY_RECIPES.enron.integerEta!;
  const tasks: EpsTask[] = epsList.map((eps, k) => ({
    eps,
    mode: recipe.mode,
    iterations: recipe.iterations,
    eta: recipe.eta,
    rho2: recipe.rho2,
    seed: (recipe.seed * 1000003 + k * 7919) >>> 0,
    attacks,
    svm,
    pointKind,
    integerEta: pointKind === 'integer' && eps > 0 ? integerEta(eps) : undefined,
    defense: recipe.defense,
    percentile: recipe.percentile,
    randomSplits: options.randomSplits,
  }));
  const init: EpsTaskInit = {
    train: data.train,
    test: data.test,
    defense,
    attackDefense,
    box,
    ...(recipe.start === 'clean' ? { start: { w: cleanModel.w, b: cleanModel.b } } : {}),
    ...(recipe.bound === 'iterates+clean' ? { boundCandidates: [{ name: CLEAN_SVM_CANDIDATE, w: cleanModel.w, b: cleanModel.b }] } : {}),
  };
  // Largest ε first: their SVM searches are the slowest, which balances the workers.
  const order = tasks.map((_, i) => i).sort((a, b) => tasks[b].eps - tasks[a].eps);
  const ordered = order.map((i) => tasks[i]);
  let rowsOrdered: EpsRow[];
  if (workers === 0) {
    rowsOrdered = ordered.map((t) => runEpsTask(init, t, options.onProgress));
  } else {
    rowsOrdered = await runPool<EpsTaskInit, EpsTask, EpsRow>(siblingModule(import.meta.url, 'certify-worker'), init, ordered, {
      workers,
      onMessage: (_i, p) => options.onProgress?.(p as EpsProgress),
    });
  }
  const rowsRaw: EpsRow[] = new Array(tasks.length);
  order.forEach((taskIndex, k) => (rowsRaw[taskIndex] = rowsOrdered[k]));

  const rows: CertifyRow[] = rowsRaw.map((r) => {
    if (recipe.defense === 'data-dependent') {
      const { cleanLoss: _c, worstLoss: _w, attackX: _x, attackY: _y, ...rest } = r;
      return { ...rest, upperBoundEnvelope: r.upperBound };
    }
    let env = Infinity;
    for (const other of rowsRaw) {
      for (let t = 0; t < other.cleanLoss.length; t++) {
        const u = other.cleanLoss[t] + r.eps * other.worstLoss[t];
        if (u < env) env = u;
      }
    }
    const { cleanLoss: _c, worstLoss: _w, attackX: _x, attackY: _y, ...rest } = r;
    return { ...rest, upperBoundEnvelope: env };
  });
  const sorted = [...rows].sort((a, b) => a.eps - b.eps);
  const checks = {
    attackBelowBound: rows.every((r) => !r.candidate || r.candidate.totalTrainLoss <= r.upperBound + 1e-9),
    candidatesInF: rows.every((r) => r.candidateRemoved === 0),
    boundMonotone: sorted.every((r, i) => i === 0 || r.upperBound >= sorted[i - 1].upperBound - 1e-4),
  };
  return {
    kind: 'certify',
    dataset: {
      name: data.name,
      source: data.source,
      positive: data.positive,
      negative: data.negative,
      features: data.features,
      n: data.train.X.rows,
      nTest: data.test.X.rows,
      d: data.train.X.cols,
      nnz: nnz(data.train.X),
    },
    recipe,
    defense: {
      kind: recipe.defense,
      percentile: recipe.percentile,
      positive: { sphereRadius: defense.positive.sphereRadius, slabRadius: defense.positive.slabRadius },
      negative: { sphereRadius: defense.negative.sphereRadius, slabRadius: defense.negative.slabRadius },
    },
    clean: {
      weightDecay: cleanModel.weightDecay,
      norm2: cleanModel.norm2,
      trainHinge: cleanTrain.hinge,
      trainError: cleanTrain.error,
      testHinge: cleanTest.hinge,
      testError: cleanTest.error,
    },
    rows,
    boundKind: recipe.defense === 'data-dependent' ? 'heuristic' : 'certificate',
    checks,
    workers,
    seconds: (performance.now() - start) / 1000,
    date: new Date().toISOString(),
    attacks: rowsRaw.map((r) => ({ eps: r.eps, X: r.attackX, y: r.attackY })),
    fittedDefense: defense,
  };
}

/** What certify.json holds: the report without its in-memory parts (attack points, the fitted defense's vectors). */
export function certifyReportJson(report: CertifyReport): Omit<CertifyReport, 'attacks' | 'fittedDefense'> {
  const { attacks: _a, fittedDefense: _d, ...rest } = report;
  return rest;
}
