/**
 * One ε of the certify grid: Algorithm 1, then the candidate attack and the label-flip baseline
 * evaluated against the defender's norm-matched SVM. Runs inline or on a worker thread.
 */
import type { LabelledFeatures } from '../data/binary.js';
import { Random } from '../random.js';
import type { PointVector } from '../data/vector.js';
import type { NormMatchedOptions } from '../linear/svm.js';
import { runAlgorithm1, type Algorithm1Mode } from './algorithm1.js';
import { inFeasibleSet, type SphereSlabDefense } from './defense.js';
import { evaluatePoison, type AttackMetrics } from './evaluate.js';
import { labelFlipAttack } from './label-flip.js';
import { gradientAttack } from './gradient-attack.js';
import { clipAndRound, integerBestResponse, type FeatureBox } from './text-points.js';
import type { PointKind } from './recipes.js';
import { DATA_DEPENDENT_PERCENTILE, dataDependentAttack, evaluateDataDependent, type DataDependentResult, type DataDependentSplitResult } from './data-dependent.js';

/**
 * 'candidate-unfiltered' evaluates the candidate attack with ALL its points added, those outside F
 * too: how the release evaluated its rounded IMDB points (it never checked them against F). It
 * shows what the paper's figure measured; it is not an attack the oracle defense lets through.
 */
export type AttackName = 'candidate' | 'label-flip' | 'gradient' | 'candidate-unfiltered';
export const ATTACK_NAMES: readonly AttackName[] = ['candidate', 'label-flip', 'gradient', 'candidate-unfiltered'];
/** Attacks run when none are named (the gradient attack retrains the SVM dozens of times). */
export const DEFAULT_ATTACKS: readonly AttackName[] = ['candidate', 'label-flip'];

export interface EpsTaskInit {
  readonly train: LabelledFeatures;
  readonly test: LabelledFeatures;
  readonly defense: SphereSlabDefense;
  /** 'rounded' recipes: the shrunken set the attack run plays on (same centroids). */
  readonly attackDefense?: SphereSlabDefense;
  /** 'integer' recipes: per-class, per-feature upper bounds of the counts. */
  readonly box?: FeatureBox;
  /** θ₀ of every Algorithm 1 run (default 0): e.g. the clean defender's SVM. */
  readonly start?: { readonly w: Float64Array; readonly b: number };
  /** Named θs whose U enters the bound's minimum beside the iterates' (see Algorithm1Options). */
  readonly boundCandidates?: readonly { readonly name: string; readonly w: Float64Array; readonly b: number }[];
}

export interface EpsTask {
  readonly eps: number;
  readonly mode: Algorithm1Mode;
  readonly iterations: number;
  readonly eta: number;
  readonly rho2: number;
  readonly seed: number;
  readonly attacks: readonly AttackName[];
  readonly svm: NormMatchedOptions;
  readonly pointKind: PointKind;
  /** 'integer': η of the attack run (T = εn). */
  readonly integerEta?: number;
  /** 'data-dependent': centroids and radii refitted on D_c ∪ D_p (heuristic bound). */
  readonly defense?: 'oracle' | 'data-dependent';
  /** 'data-dependent': the defense's percentile and the random mass splits tried. */
  readonly percentile?: number;
  readonly randomSplits?: number;
}

export interface EpsProgress {
  readonly eps: number;
  readonly phase: 'algorithm1' | 'attack-run' | 'candidate' | 'label-flip' | 'gradient';
  readonly iteration: number;
  readonly total: number;
  readonly upperBound: number;
}

export interface EpsRow {
  readonly eps: number;
  /** round(εn) poison points. */
  readonly poisonCount: number;
  /** U* of this ε's own run of Algorithm 1. */
  readonly upperBound: number;
  /** Iteration (1-based) of U*'s θ; 0 when a bound candidate gave it. */
  readonly bestIteration: number;
  /** Where U*'s θ came from: 'iterate' or the bound candidate's name (e.g. 'clean SVM'). */
  readonly upperBoundFrom: string;
  readonly iterations: number;
  readonly algorithmSeconds: number;
  readonly msPerIteration: number;
  /** Candidate-attack points that lie inside F (all should, except rounded text points). */
  readonly candidateInF: number;
  /** Candidate points outside F: the defense removes them, so the evaluation drops them. */
  readonly candidateRemoved: number;
  /** How the candidate points were made (see PointKind). */
  readonly pointKind: PointKind;
  readonly candidate?: AttackMetrics;
  /** With the 'candidate-unfiltered' attack: the candidate with all its points, outside F too (the release's IMDB evaluation). */
  readonly candidateUnfiltered?: AttackMetrics;
  readonly labelFlip?: AttackMetrics & { readonly candidates: number };
  readonly gradient?: AttackMetrics & { readonly rounds: number; readonly removed: number };
  /** 'data-dependent' only: every mass split tried (share of +1 points, heuristic bound, metrics). */
  readonly splits?: readonly DataDependentSplitResult[];
  readonly evaluationSeconds: number;
  /** Per-iteration L(θ_t)/n and max_F ℓ(θ_t), for the bound's envelope over all runs. */
  readonly cleanLoss: Float64Array;
  readonly worstLoss: Float64Array;
  /** The candidate attack itself (dense rows and labels), for plots and reuse. */
  readonly attackX: PointVector[];
  readonly attackY: Int8Array;
}

export function runEpsTask(init: EpsTaskInit, task: EpsTask, onProgress?: (p: EpsProgress) => void): EpsRow {
  if (task.defense === 'data-dependent') return runDataDependentTask(init, task, onProgress);
  const rng = new Random(task.seed);
  // What every run of this ε shares.
  const shared = {
    eps: task.eps,
    rho2: task.rho2,
    eta: task.eta,
    iterations: task.iterations,
    mode: task.mode,
    ...(init.start ? { start: init.start } : {}),
  };
  const a1 = runAlgorithm1(init.train.X, init.train.y, init.defense, {
    ...shared,
    seed: rng.nextUint32(),
    ...(init.boundCandidates ? { boundCandidates: init.boundCandidates } : {}),
    progressEvery: 200,
    onProgress: (p) => onProgress?.({ eps: task.eps, phase: 'algorithm1', ...p }),
  });
  // The candidate attack: the bound's own run for continuous data; a second run for text.
  let attackX = a1.attack.X;
  let attackY = a1.attack.y;
  const wantsCandidate = task.attacks.includes('candidate') || task.attacks.includes('candidate-unfiltered');
  if (task.pointKind !== 'continuous' && task.eps > 0 && wantsCandidate) {
    const progress = (p: { iteration: number; total: number }): void =>
      onProgress?.({ eps: task.eps, phase: 'attack-run', iteration: p.iteration, total: p.total, upperBound: a1.upperBound });
    if (task.pointKind === 'rounded') {
      if (!init.attackDefense) throw new Error('rounded attack points need the shrunken defense');
      const run = runAlgorithm1(init.train.X, init.train.y, init.attackDefense, {
        ...shared,
        seed: rng.nextUint32(),
        emit: (x, _y, r) => clipAndRound(x, r),
        progressEvery: 200,
        onProgress: progress,
      });
      attackX = run.attack.X;
      attackY = run.attack.y;
    } else {
      if (!init.box) throw new Error('integer attack points need the feature box');
      const run = runAlgorithm1(init.train.X, init.train.y, init.defense, {
        ...shared,
        eta: task.integerEta ?? task.eta,
        mode: 'paper',
        seed: rng.nextUint32(),
        respond: integerBestResponse(init.defense, init.box),
        progressEvery: 10,
        onProgress: progress,
      });
      attackX = run.attack.X;
      attackY = run.attack.y;
    }
  }
  const inside = keepInside(init.defense, attackX, attackY);
  const t0 = performance.now();
  let candidate: AttackMetrics | undefined;
  let labelFlip: (AttackMetrics & { candidates: number }) | undefined;
  let gradient: (AttackMetrics & { rounds: number; removed: number }) | undefined;
  let candidateUnfiltered: AttackMetrics | undefined;
  if (task.attacks.includes('candidate')) {
    onProgress?.({ eps: task.eps, phase: 'candidate', iteration: a1.iterations, total: a1.iterations, upperBound: a1.upperBound });
    candidate = evaluatePoison(init.train, init.test, inside, task.svm);
  }
  if (task.attacks.includes('candidate-unfiltered')) {
    onProgress?.({ eps: task.eps, phase: 'candidate', iteration: a1.iterations, total: a1.iterations, upperBound: a1.upperBound });
    candidateUnfiltered =
      inside.X.length === attackX.length && candidate ? candidate : evaluatePoison(init.train, init.test, { X: attackX, y: attackY }, task.svm);
  }
  if (task.attacks.includes('label-flip')) {
    onProgress?.({ eps: task.eps, phase: 'label-flip', iteration: a1.iterations, total: a1.iterations, upperBound: a1.upperBound });
    const flip = labelFlipAttack(init.train, init.defense, task.eps, rng.fork());
    labelFlip = { ...evaluatePoison(init.train, init.test, flip, task.svm), candidates: flip.candidates };
  }
  if (task.attacks.includes('gradient')) {
    onProgress?.({ eps: task.eps, phase: 'gradient', iteration: a1.iterations, total: a1.iterations, upperBound: a1.upperBound });
    const g = gradientAttack(init.train, init.defense, {
      eps: task.eps,
      svm: task.svm,
      rng: rng.fork(),
      emit: task.pointKind === 'continuous' ? undefined : (x, _y, r) => clipAndRound(x, r),
    });
    const kept = keepInside(init.defense, g.X, g.y);
    gradient = { ...evaluatePoison(init.train, init.test, kept, task.svm), rounds: g.rounds, removed: g.X.length - kept.X.length };
  }
  return {
    eps: task.eps,
    poisonCount: Math.round(task.eps * init.train.X.rows),
    upperBound: a1.upperBound,
    bestIteration: a1.bestIteration,
    upperBoundFrom: a1.bestCandidate >= 0 ? init.boundCandidates![a1.bestCandidate].name : 'iterate',
    iterations: a1.iterations,
    algorithmSeconds: a1.seconds,
    msPerIteration: a1.iterations > 0 ? (a1.seconds * 1000) / a1.iterations : 0,
    candidateInF: inside.X.length,
    candidateRemoved: attackX.length - inside.X.length,
    pointKind: task.pointKind,
    candidate,
    ...(candidateUnfiltered ? { candidateUnfiltered } : {}),
    labelFlip,
    gradient,
    evaluationSeconds: (performance.now() - t0) / 1000,
    cleanLoss: a1.cleanLoss,
    worstLoss: a1.worstLoss,
    attackX: inside.X,
    attackY: inside.y,
  };
}

/** The poison points the defense lets through (it removes points outside F). */
function keepInside(defense: SphereSlabDefense, X: readonly PointVector[], y: Int8Array): { X: PointVector[]; y: Int8Array } {
  const keptX: PointVector[] = [];
  const keptY: number[] = [];
  for (let k = 0; k < X.length; k++) {
    if (inFeasibleSet(defense, X[k], y[k])) {
      keptX.push(X[k]);
      keptY.push(y[k]);
    }
  }
  return { X: keptX, y: Int8Array.from(keptY) };
}

/** One ε against the data-dependent defense (see data-dependent.ts): the bound is heuristic. */
function runDataDependentTask(init: EpsTaskInit, task: EpsTask, onProgress?: (p: EpsProgress) => void): EpsRow {
  const rng = new Random(task.seed);
  const percentile = task.percentile ?? DATA_DEPENDENT_PERCENTILE;
  const t0 = performance.now();
  const empty = { X: [] as PointVector[], y: new Int8Array(0) };
  let result: DataDependentResult | undefined;
  if (task.eps > 0) {
    result = dataDependentAttack(init.train, init.test, {
      eps: task.eps,
      rho2: task.rho2,
      eta: task.eta,
      iterations: task.iterations,
      seed: rng.nextUint32(),
      percentile,
      randomSplits: task.randomSplits,
      svm: task.svm,
      onProgress: (k, K, t, T) => onProgress?.({ eps: task.eps, phase: 'algorithm1', iteration: k * T + t, total: K * T, upperBound: NaN }),
    });
  }
  const algorithmSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const candidate = result?.best.metrics ?? evaluateDataDependent(init.train, init.test, empty, percentile, task.svm);
  let labelFlip: (AttackMetrics & { candidates: number }) | undefined;
  if (task.attacks.includes('label-flip')) {
    onProgress?.({ eps: task.eps, phase: 'label-flip', iteration: 1, total: 1, upperBound: NaN });
    const flip = labelFlipAttack(init.train, init.defense, task.eps, rng.fork());
    labelFlip = { ...evaluateDataDependent(init.train, init.test, flip, percentile, task.svm), candidates: flip.candidates };
  }
  // At ε = 0 nothing is added: the "bound" is the clean defender's training loss.
  const bound = result?.heuristicBound ?? candidate.totalTrainLoss;
  return {
    eps: task.eps,
    poisonCount: Math.round(task.eps * init.train.X.rows),
    upperBound: bound,
    bestIteration: 0,
    upperBoundFrom: result ? 'heuristic (mass splits)' : 'clean defender',
    iterations: result ? task.iterations * result.splits.length : 0,
    algorithmSeconds,
    msPerIteration: result ? (algorithmSeconds * 1000) / (task.iterations * result.splits.length) : 0,
    candidateInF: result?.best.metrics.poisonKept ?? 0,
    candidateRemoved: result ? result.best.metrics.poisonCount - result.best.metrics.poisonKept : 0,
    pointKind: task.pointKind,
    candidate,
    labelFlip,
    splits: result?.splits,
    evaluationSeconds: (performance.now() - t1) / 1000,
    cleanLoss: new Float64Array(0),
    worstLoss: new Float64Array(0),
    attackX: [],
    attackY: new Int8Array(0),
  };
}
