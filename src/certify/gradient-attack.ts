/**
 * The gradient-attack baseline (Mei & Zhu 2015 style, through influence functions as in the
 * certified-defense release): start from εn/2 copies of random points of each class with flipped
 * labels, projected onto F; repeat — retrain the defender, move every poison point along the
 * gradient of the clean training loss with respect to that point, project onto F — and keep the
 * best poison set; stop after a few checks without improvement.
 *
 * For the hinge SVM with weight decay λ over N points, the Hessian is λI (the hinge has no
 * curvature), and ∂∇_θℓ(x_p, y_p)/∂x_p = −y_p[I; 0] for an active point, so by the influence
 * formula dθ* / dx_p = (y_p/(λN))·[I; 0] and dL_clean/dx_p = (y_p/(λN))·∇_w L_clean(θ*). Inactive
 * points have zero influence; they are moved along the same direction so that they can become active.
 */
import type { LabelledFeatures } from '../data/binary.js';
import { rowDense } from '../data/matrix.js';
import type { PointVector } from '../data/vector.js';
import { hingeLossGradSum } from '../linear/hinge.js';
import { trainNormMatchedSvm, type NormMatchedOptions } from '../linear/svm.js';
import { checkPositive, checkPositiveInt } from '../options.js';
import type { Random } from '../random.js';
import { classBall, type SphereSlabDefense } from './defense.js';
import { stackPoison, type PoisonSet } from './evaluate.js';
import { projectOntoClass } from './projection.js';

/** Options of {@link gradientAttack}. */
export interface GradientAttackOptions {
  readonly eps: number;
  readonly svm: NormMatchedOptions;
  readonly rng: Random;
  /** Step length as a share of the class's sphere radius. Default 0.1. */
  readonly stepShare?: number;
  /** Maximum retraining rounds. Default 30. */
  readonly maxRounds?: number;
  /** Rounds without improvement (the step halves each time) before stopping. Default 3. */
  readonly patience?: number;
  /** Turns a projected point into the emitted one (e.g. clip and round for text). */
  readonly emit?: (x: Float64Array, y: number, rng: Random) => PointVector;
  readonly onRound?: (round: number, cleanLoss: number) => void;
}

export const GRADIENT_ATTACK_DEFAULTS = { stepShare: 0.1, maxRounds: 30, patience: 3 } as const;

export interface GradientAttackResult extends PoisonSet {
  /** Clean training hinge of the retrained defender at the best round. */
  readonly cleanLoss: number;
  readonly rounds: number;
  /** Clean loss per round (round 0 = the initial label-flipped copies). */
  readonly history: number[];
}

export function gradientAttack(train: LabelledFeatures, defense: SphereSlabDefense, options: GradientAttackOptions): GradientAttackResult {
  const stepShare = checkPositive('stepShare', options.stepShare ?? GRADIENT_ATTACK_DEFAULTS.stepShare);
  const maxRounds = checkPositiveInt('maxRounds', options.maxRounds ?? GRADIENT_ATTACK_DEFAULTS.maxRounds);
  const patience = checkPositiveInt('patience', options.patience ?? GRADIENT_ATTACK_DEFAULTS.patience);
  const { rng } = options;
  const n = train.X.rows;
  const d = train.X.cols;
  const k = Math.round(options.eps * n);
  if (k === 0) return { X: [], y: new Int8Array(0), cleanLoss: NaN, rounds: 0, history: [] };
  const byClass: Record<number, number[]> = { 1: [], [-1]: [] };
  for (let i = 0; i < n; i++) byClass[train.y[i]].push(i);
  // εn/2 copies of random points of each class, labels flipped, projected onto F of the new label.
  const points: Float64Array[] = [];
  const labels = new Int8Array(k);
  for (let p = 0; p < k; p++) {
    const from = p % 2 === 0 ? 1 : -1;
    const src = byClass[from][rng.int(byClass[from].length)];
    labels[p] = -from;
    points.push(projectOntoClass(defense, rowDense(train.X, src), -from));
  }
  const emitAll = (): PointVector[] => points.map((x, p) => (options.emit ? options.emit(x, labels[p], rng) : Float64Array.from(x)));

  const grad = new Float64Array(d);
  const history: number[] = [];
  let best: { X: PointVector[]; loss: number } | undefined;
  let step = stepShare;
  let stale = 0;
  let round = 0;
  for (; round <= maxRounds; round++) {
    const emitted = emitAll();
    const all = stackPoison(train, { X: emitted, y: labels });
    const model = trainNormMatchedSvm(all.X, all.y, options.svm);
    const { loss } = hingeLossGradSum(train.X, train.y, model.w, model.b, grad);
    const cleanLoss = loss / n;
    history.push(cleanLoss);
    options.onRound?.(round, cleanLoss);
    if (!best || cleanLoss > best.loss) {
      best = { X: emitted, loss: cleanLoss };
      stale = 0;
    } else {
      stale++;
      step /= 2;
      if (stale >= patience) break;
    }
    if (round === maxRounds) break;
    // Ascent direction of the clean loss for a point of label y: y·∇_w L (up to the positive 1/(λN)).
    let gn = 0;
    for (let j = 0; j < d; j++) gn += grad[j] * grad[j];
    gn = Math.sqrt(gn);
    if (gn === 0) break;
    for (let p = 0; p < k; p++) {
      const r = classBall(defense, labels[p]).sphereRadius;
      const a = (step * r * labels[p]) / gn;
      const x = points[p];
      for (let j = 0; j < d; j++) x[j] += a * grad[j];
      projectOntoClass(defense, x, labels[p], x);
    }
  }
  return { X: best!.X, y: labels, cleanLoss: best!.loss, rounds: round, history };
}
