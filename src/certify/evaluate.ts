/**
 * Evaluating an attack as the paper does: the defender trains its norm-matched SVM on
 * D_c ∪ D_p (no filtering: the attack points lie in F by construction) and we measure the
 * clean train hinge, the total train loss in units of n, the test hinge and the test 0-1 error.
 */
import type { LabelledFeatures } from '../data/binary.js';
import { appendRows, type Features } from '../data/matrix.js';
import { vectorDot, type PointVector } from '../data/vector.js';
import { hingeAndError } from '../linear/hinge.js';
import { trainNormMatchedSvm, type NormMatchedOptions, type NormMatchedResult } from '../linear/svm.js';

export interface PoisonSet {
  /** The poison points, dense or sparse. */
  readonly X: readonly PointVector[];
  readonly y: Int8Array;
}

export interface AttackMetrics {
  /** Poison points added. */
  readonly poisonCount: number;
  /** Mean hinge of the defender's model on the clean training points. */
  readonly cleanTrainHinge: number;
  /** (Σ hinge on D_c + Σ hinge on D_p) / n, with n = |D_c|: the quantity that U* bounds. */
  readonly totalTrainLoss: number;
  readonly testHinge: number;
  readonly testError: number;
  /** The weight decay the norm-matched search settled on, and the model's ‖w‖² + b². */
  readonly weightDecay: number;
  readonly norm2: number;
  readonly svmConverged: boolean;
  readonly svmFits: number;
}

export function stackPoison(train: LabelledFeatures, poison: PoisonSet): { X: Features; y: Int8Array } {
  const X = appendRows(train.X, poison.X);
  const y = new Int8Array(train.y.length + poison.y.length);
  y.set(train.y);
  y.set(poison.y, train.y.length);
  return { X, y };
}

/** Trains the defender on D_c ∪ D_p and measures the attack. */
export function evaluatePoison(
  train: LabelledFeatures,
  test: LabelledFeatures,
  poison: PoisonSet,
  svm: NormMatchedOptions,
): AttackMetrics {
  const all = stackPoison(train, poison);
  return measureDefender(train, test, poison, trainNormMatchedSvm(all.X, all.y, svm));
}

/**
 * The attack's figures for a trained defender: hinge on D_c, (Σ hinge on D_c + Σ hinge on the
 * poison points that reached training) / n, test hinge and error.
 */
export function measureDefender(train: LabelledFeatures, test: LabelledFeatures, trainedPoison: PoisonSet, model: NormMatchedResult, poisonCount = trainedPoison.X.length): AttackMetrics {
  const n = train.X.rows;
  const clean = hingeAndError(train.X, train.y, model);
  let poisonLoss = 0;
  for (let k = 0; k < trainedPoison.X.length; k++) {
    poisonLoss += Math.max(0, 1 - trainedPoison.y[k] * (model.b + vectorDot(trainedPoison.X[k], model.w)));
  }
  const t = hingeAndError(test.X, test.y, model);
  return {
    poisonCount,
    cleanTrainHinge: clean.hinge,
    totalTrainLoss: clean.hinge + poisonLoss / n,
    testHinge: t.hinge,
    testError: t.error,
    weightDecay: model.weightDecay,
    norm2: model.norm2,
    svmConverged: model.converged,
    svmFits: model.fits,
  };
}
