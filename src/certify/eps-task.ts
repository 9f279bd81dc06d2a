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

export type AttackName = 'candidate' | 'label-flip';
export const ATTACK_NAMES: readonly AttackName[] = ['candidate', 'label-flip'];

export interface EpsTaskInit {
  readonly train: LabelledFeatures;
  readonly test: LabelledFeatures;
  readonly defense: SphereSlabDefense;
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
}

export interface EpsProgress {
  readonly eps: number;
  readonly phase: 'algorithm1' | 'candidate' | 'label-flip';
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
  readonly bestIteration: number;
  readonly iterations: number;
  readonly algorithmSeconds: number;
  readonly msPerIteration: number;
  /** Candidate-attack points that lie inside F (all should). */
  readonly candidateInF: number;
  readonly candidate?: AttackMetrics;
  readonly labelFlip?: AttackMetrics & { readonly candidates: number };
  readonly evaluationSeconds: number;
  /** Per-iteration L(θ_t)/n and max_F ℓ(θ_t), for the bound's envelope over all runs. */
  readonly cleanLoss: Float64Array;
  readonly worstLoss: Float64Array;
  /** The candidate attack itself (dense rows and labels), for plots and reuse. */
  readonly attackX: PointVector[];
  readonly attackY: Int8Array;
}

export function runEpsTask(init: EpsTaskInit, task: EpsTask, onProgress?: (p: EpsProgress) => void): EpsRow {
  const rng = new Random(task.seed);
  const a1 = runAlgorithm1(init.train.X, init.train.y, init.defense, {
    eps: task.eps,
    rho2: task.rho2,
    eta: task.eta,
    iterations: task.iterations,
    mode: task.mode,
    seed: rng.nextUint32(),
    progressEvery: 200,
    onProgress: (p) => onProgress?.({ eps: task.eps, phase: 'algorithm1', ...p }),
  });
  let inF = 0;
  for (let k = 0; k < a1.attack.X.length; k++) if (inFeasibleSet(init.defense, a1.attack.X[k], a1.attack.y[k])) inF++;
  const t0 = performance.now();
  let candidate: AttackMetrics | undefined;
  let labelFlip: (AttackMetrics & { candidates: number }) | undefined;
  if (task.attacks.includes('candidate')) {
    onProgress?.({ eps: task.eps, phase: 'candidate', iteration: a1.iterations, total: a1.iterations, upperBound: a1.upperBound });
    candidate = evaluatePoison(init.train, init.test, { X: a1.attack.X, y: a1.attack.y }, task.svm);
  }
  if (task.attacks.includes('label-flip')) {
    onProgress?.({ eps: task.eps, phase: 'label-flip', iteration: a1.iterations, total: a1.iterations, upperBound: a1.upperBound });
    const flip = labelFlipAttack(init.train, init.defense, task.eps, rng.fork());
    labelFlip = { ...evaluatePoison(init.train, init.test, flip, task.svm), candidates: flip.candidates };
  }
  return {
    eps: task.eps,
    poisonCount: Math.round(task.eps * init.train.X.rows),
    upperBound: a1.upperBound,
    bestIteration: a1.bestIteration,
    iterations: a1.iterations,
    algorithmSeconds: a1.seconds,
    msPerIteration: a1.iterations > 0 ? (a1.seconds * 1000) / a1.iterations : 0,
    candidateInF: inF,
    candidate,
    labelFlip,
    evaluationSeconds: (performance.now() - t0) / 1000,
    cleanLoss: a1.cleanLoss,
    worstLoss: a1.worstLoss,
    attackX: a1.attack.X,
    attackY: a1.attack.y,
  };
}
