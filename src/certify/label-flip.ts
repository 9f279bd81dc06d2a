/**
 * The label-flip baseline: clean points (x, y) whose flip (x, −y) lies inside F_{−y}; round(εn)
 * of them added with flipped labels, sampled uniformly with replacement (the release: on
 * MNIST-1-7 only a handful of points qualify).
 */
import type { LabelledFeatures } from '../data/binary.js';
import { rowDense } from '../data/matrix.js';
import type { Random } from '../random.js';
import { feasibleMask, type SphereSlabDefense } from './defense.js';
import type { PoisonSet } from './evaluate.js';

/** Indices of the clean points whose label flip passes the defense. */
export function labelFlipCandidates(train: LabelledFeatures, defense: SphereSlabDefense): Int32Array {
  const flipped = Int8Array.from(train.y, (v) => -v);
  const mask = feasibleMask(defense, train.X, flipped);
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) out.push(i);
  return Int32Array.from(out);
}

export function labelFlipAttack(train: LabelledFeatures, defense: SphereSlabDefense, eps: number, rng: Random): PoisonSet & { candidates: number } {
  const cands = labelFlipCandidates(train, defense);
  const k = Math.round(eps * train.X.rows);
  if (k === 0 || cands.length === 0) return { X: [], y: new Int8Array(0), candidates: cands.length };
  const pick = rng.sampleWithReplacement(cands.length, k);
  const X: Float64Array[] = [];
  const y = new Int8Array(k);
  for (let r = 0; r < k; r++) {
    const i = cands[pick[r]];
    X.push(rowDense(train.X, i));
    y[r] = -train.y[i];
  }
  return { X, y, candidates: cands.length };
}
