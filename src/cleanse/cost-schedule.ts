/**
 * The cost schedule, best-mask rule and early stop of Neural Cleanse's trigger reverse
 * engineering, as a pure state machine (no tensors): feed it each step's mean accuracy and mean
 * mask norm, and it says whether to keep the current mask as the best, what the cost is for the
 * next step, and whether to stop. It follows the release's `Visualizer.visualize` loop
 * (bolunwang/backdoor, visualizer.py) line by line, in its order:
 *   1. best mask, 2. early stop, 3. warm-up (cost 0 until `patience` successful steps),
 *   4. cost up ×m after `patience` successes in a row / down ÷m^1.5 after `patience` failures.
 * The state is a plain JSON object, so a label can be checkpointed and resumed mid-way.
 */
import type { ReverseRecipe } from './recipe.js';

/** The schedule's state; plain data (JSON-serializable; Infinity is written as null by the scan). */
export interface CostScheduleState {
  /** Cost of the regularizer for the next step. */
  cost: number;
  /** Steps seen. */
  step: number;
  /** Smallest step-mean norm among steps whose accuracy reached the threshold (Infinity: none yet). */
  bestNorm: number;
  /** Step (1-based) at which the best was recorded, 0 if none. */
  bestStep: number;
  /** Accuracy of that step. */
  bestAccuracy: number;
  earlyStopBest: number;
  earlyStopCount: number;
  /** Warm-up counter (successful steps in a row while cost = 0). */
  costSetCount: number;
  upCount: number;
  downCount: number;
  upFlag: boolean;
  downFlag: boolean;
  /** True once the early stop fired. */
  stopped: boolean;
}

/** The parameters the schedule needs (a subset of the recipe). */
export type CostScheduleParams = Pick<
  ReverseRecipe,
  'successThreshold' | 'patience' | 'initCost' | 'costMultiplier' | 'earlyStop' | 'earlyStopThreshold' | 'earlyStopPatience' | 'warmup' | 'maxSteps'
>;

/** What a step decided. */
export interface CostDecision {
  /** Keep this step's mask and pattern as the best so far. */
  readonly newBest: boolean;
  /** The cost for the next step. */
  readonly cost: number;
  /** Stop now (early stop, or maxSteps reached). */
  readonly stop: boolean;
  /** Why it stopped, if it did. */
  readonly reason?: 'early-stop' | 'max-steps';
  /** Cost change made by this step. */
  readonly change?: 'init' | 'up' | 'down';
}

export function initialCostState(p: CostScheduleParams): CostScheduleState {
  return {
    cost: p.warmup ? 0 : p.initCost,
    step: 0,
    bestNorm: Infinity,
    bestStep: 0,
    bestAccuracy: 0,
    earlyStopBest: Infinity,
    earlyStopCount: 0,
    costSetCount: 0,
    upCount: 0,
    downCount: 0,
    upFlag: false,
    downFlag: false,
    stopped: false,
  };
}

/**
 * Advances the schedule by one step with that step's mean accuracy and mean mask norm; mutates
 * and returns the decision. (Pure apart from the state it is given.)
 */
export function advanceCostSchedule(s: CostScheduleState, p: CostScheduleParams, accuracy: number, norm: number): CostDecision {
  s.step += 1;
  const success = accuracy >= p.successThreshold;
  // 1. best mask
  let newBest = false;
  if (success && norm < s.bestNorm) {
    s.bestNorm = norm;
    s.bestStep = s.step;
    s.bestAccuracy = accuracy;
    newBest = true;
  }
  // 2. early stop: only once a valid trigger exists; needs the cost to have gone both up and down.
  let stop = false;
  let reason: CostDecision['reason'];
  if (p.earlyStop) {
    if (s.bestNorm < Infinity) {
      if (s.bestNorm >= p.earlyStopThreshold * s.earlyStopBest) s.earlyStopCount += 1;
      else s.earlyStopCount = 0;
    }
    s.earlyStopBest = Math.min(s.bestNorm, s.earlyStopBest);
    if (s.upFlag && s.downFlag && s.earlyStopCount >= p.earlyStopPatience) {
      stop = true;
      reason = 'early-stop';
    }
  }
  let change: CostDecision['change'];
  if (!stop) {
    // 3. warm-up
    if (s.cost === 0 && success) {
      s.costSetCount += 1;
      if (s.costSetCount >= p.patience) {
        s.cost = p.initCost;
        s.upCount = 0;
        s.downCount = 0;
        s.upFlag = false;
        s.downFlag = false;
        change = 'init';
      }
    } else {
      s.costSetCount = 0;
    }
    // 4. adjust
    if (success) {
      s.upCount += 1;
      s.downCount = 0;
    } else {
      s.upCount = 0;
      s.downCount += 1;
    }
    if (s.upCount >= p.patience) {
      s.upCount = 0;
      s.cost *= p.costMultiplier;
      s.upFlag = true;
      change = 'up';
    } else if (s.downCount >= p.patience) {
      s.downCount = 0;
      s.cost /= p.costMultiplier ** 1.5;
      s.downFlag = true;
      change = 'down';
    }
    if (s.step >= p.maxSteps) {
      stop = true;
      reason = 'max-steps';
    }
  }
  s.stopped = stop;
  return { newBest, cost: s.cost, stop, ...(reason ? { reason } : {}), ...(change ? { change } : {}) };
}
