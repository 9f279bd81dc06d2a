/** Binary classification sets (labels ±1) on feature matrices, for the convex learners. */
import { ShapeError, PoisonguardError } from '../errors.js';
import { assertFinite, type Features } from './matrix.js';

export interface LabelledFeatures {
  readonly X: Features;
  /** Labels in {−1, +1}. */
  readonly y: Int8Array;
}

export interface BinaryDataset {
  readonly name: string;
  /** Where the data came from. */
  readonly source: string;
  /** What the +1 and −1 labels mean, e.g. "digit 1" / "digit 7". */
  readonly positive: string;
  readonly negative: string;
  /** What one feature is, e.g. "pixel / 255". */
  readonly features: string;
  readonly train: LabelledFeatures;
  readonly test: LabelledFeatures;
}

/** Checks shapes, labels and finiteness. */
export function checkLabelled(set: LabelledFeatures, what: string): LabelledFeatures {
  if (set.y.length !== set.X.rows) throw new ShapeError(`${what} labels`, `${set.X.rows} labels`, `${set.y.length}`);
  for (let i = 0; i < set.y.length; i++) {
    if (set.y[i] !== 1 && set.y[i] !== -1) {
      throw new PoisonguardError('data-format', `${what}: label of row ${i} is ${set.y[i]}; binary labels must be -1 or +1.`, { position: i });
    }
  }
  assertFinite(set.X, what);
  return set;
}
