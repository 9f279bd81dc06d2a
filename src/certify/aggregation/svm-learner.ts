/**
 * The SVM base learner: the project's hinge SVM on one partition's features, norm-matched to the
 * certify recipe's ρ² (the defender whose losses U* bounds), predicting class 1 (label +1) where
 * w·x + b > 0.
 */
import type { BinaryDataset } from '../../data/binary.js';
import { matVec, selectRows } from '../../data/matrix.js';
import { trainNormMatchedSvm } from '../../linear/svm.js';

export interface SvmModel {
  readonly w: Float64Array;
  readonly b: number;
  /** The weight decay the norm match chose, and whether ‖w‖² + b² reached the band. */
  readonly weightDecay: number;
  readonly matched: boolean;
}

/**
 * Trains on the rows `members` (in that order). A partition with no samples, or with one class
 * only, gets the constant classifier of that class (class 0 when empty): no SVM separates one class.
 */
export function trainSvmPartition(data: BinaryDataset, members: Int32Array, rho2: number, seed: number): SvmModel {
  const d = data.train.X.cols;
  const y = Int8Array.from(members, (i) => data.train.y[i]);
  const positives = y.filter((v) => v > 0).length;
  if (positives === 0 || positives === y.length) return { w: new Float64Array(d), b: positives > 0 ? 1 : -1, weightDecay: 0, matched: false };
  const r = trainNormMatchedSvm(selectRows(data.train.X, members), y, { rho2, seed });
  return { w: Float64Array.from(r.w), b: r.b, weightDecay: r.weightDecay, matched: r.matched };
}

/** Class indices (0: −1, 1: +1) of the test set. */
export function predictSvm(data: BinaryDataset, model: SvmModel): Uint8Array {
  const scores = matVec(data.test.X, model.w, model.b, new Float64Array(data.test.X.rows));
  return Uint8Array.from(scores, (s) => (s > 0 ? 1 : 0));
}
