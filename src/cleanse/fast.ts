/**
 * Fast mode: spend steps where they matter. Labels run in rounds of a few steps, the most
 * suspicious (smallest norm) first; after each round, a label is RETIRED — kept at its current
 * best mask — when it cannot become the outlier:
 *   - it has a valid trigger (accuracy ≥ threshold), its cost has gone up at least once (the norm
 *     is being squeezed) and it has run at least `minSteps` steps; and
 *   - it is not among the ⌊n/2⌋ + 1 smallest norms of the round (those fix the median), and its
 *     norm is at least (1 + margin) × the largest of them.
 * A retired label's norm only over-estimates what the full recipe would reach (the best norm never
 * grows), and it stays above the median: the median is unchanged and the MAD can only grow, so
 * retiring can lower an anomaly index but not raise it — fast mode errs towards "clean" on marginal
 * models, never towards a false alarm. (Labels without a valid trigger are never retired.)
 *
 * And every label stops at a BUDGET of steps (30; by then the cost schedule has squeezed each mask
 * for 20+ steps): the recipe's maxSteps, lowered. A budget stops all labels at the same point of the
 * schedule, so their norms over-estimate the converged ones by similar factors, and the anomaly
 * index — a ratio of norm differences — changes little. Unlike retiring, the budget has no
 * guarantee: docs/RESULTS.md compares fast and full scans of six MNIST models (norms within 0–13%,
 * the same verdicts).
 *
 * ESCALATION: when the fast verdict is 'suspicious' (a flag short of the verdict rule, or the second
 * statistic alone), the budget is what could decide it, so the labels the budget stopped continue
 * with the full recipe to their own early stop (exactly the full recipe's trajectory: the budget
 * only cut it short), and the verdict is taken again. Retired labels stay retired (they cannot raise
 * an index). A clear answer stays fast; an unclear one gets the full recipe's evidence.
 *
 * A 'clean' fast answer NEAR the flag threshold is unclear too: between fast and full scans of the
 * same model the anomaly index differed by −0.37 to +0.42 (fast minus full, eight models, docs/RESULTS.md), and the
 * clean GTSRB model went from 1.78 (fast, clean) to 2.06 (full, flagged). So a clean fast verdict
 * whose anomaly index is within `escalationMargin` (0.5) of the flag threshold escalates as well;
 * clean answers far from it (the clean MNIST models: 0.89–0.93) stay fast.
 */
import type { PoisonguardError } from '../errors.js';
import { checkNonNegative, checkPositive, checkPositiveInt } from '../options.js';
import type { LabelResult } from './label-result.js';
import type { LabelState } from './reverse.js';

/** Steps per round (a few, so that retiring decisions come early). */
export const DEFAULT_FAST_CHUNK = 10;
/** No label is retired before 20 steps: warm-up (≥ 5) and a first cost increase (≥ 5 more) must be behind it. */
export const DEFAULT_FAST_MIN_STEPS = 20;
/** Every label stops at 30 steps (see the module comment); the full recipe allows 1 000 with early stop. */
export const DEFAULT_FAST_BUDGET = 30;
/** A retired label's norm is at least 25% above the largest norm that fixes the median. */
export const DEFAULT_FAST_MARGIN = 0.25;
/** A clean fast verdict with an anomaly index above (flag threshold − this) escalates too. */
export const DEFAULT_ESCALATION_MARGIN = 0.5;

export interface FastOptions {
  readonly chunk?: number;
  readonly minSteps?: number;
  readonly margin?: number;
  /** Steps after which a label stops at its best mask: the recipe's maxSteps, lowered to this. */
  readonly budget?: number;
  /** Continue the budget-stopped labels with the full recipe when the verdict is 'suspicious' (default true). */
  readonly escalate?: boolean;
  /** A clean fast verdict whose anomaly index is within this of the flag threshold escalates too (default 0.5; 0: only 'suspicious'). */
  readonly escalationMargin?: number;
}

export type FastRecipe = Required<FastOptions>;

export function resolveFast(o: FastOptions = {}): FastRecipe {
  return {
    chunk: checkPositiveInt('fast.chunk', o.chunk ?? DEFAULT_FAST_CHUNK),
    minSteps: checkPositiveInt('fast.minSteps', o.minSteps ?? DEFAULT_FAST_MIN_STEPS),
    margin: checkPositive('fast.margin', o.margin ?? DEFAULT_FAST_MARGIN),
    budget: checkPositiveInt('fast.budget', o.budget ?? DEFAULT_FAST_BUDGET),
    escalate: o.escalate ?? true,
    escalationMargin: checkNonNegative('fast.escalationMargin', o.escalationMargin ?? DEFAULT_ESCALATION_MARGIN),
  };
}

/** A label's standing after a round. */
export interface LabelStanding {
  readonly label: number;
  /** Best step-mean norm so far (Infinity: no valid trigger yet); for finished labels, their result. */
  readonly norm: number;
  readonly steps: number;
  /** The cost went up at least once. */
  readonly squeezed: boolean;
  /** Already finished (early stop or max steps) or retired. */
  readonly done: boolean;
}

/** Labels to retire now (pure; see the module comment). */
export function labelsToRetire(standings: readonly LabelStanding[], fast: FastRecipe): number[] {
  const n = standings.length;
  const keep = Math.floor(n / 2) + 1;
  const sorted = [...standings].sort((a, b) => a.norm - b.norm);
  if (sorted.length <= keep) return [];
  const pivot = sorted[keep - 1].norm;
  if (!Number.isFinite(pivot)) return [];
  return sorted
    .slice(keep)
    .filter((s) => !s.done && Number.isFinite(s.norm) && s.squeezed && s.steps >= fast.minSteps && s.norm >= (1 + fast.margin) * pivot)
    .map((s) => s.label);
}

/**
 * Whether a fast verdict escalates: 'suspicious', or 'clean' with an anomaly index (the largest over
 * the repeats) within the escalation margin of the flag threshold.
 */
export function shouldEscalate(status: string, anomalyIndices: readonly number[], flagThreshold: number, fast: FastRecipe): 'suspicious' | 'near-threshold' | null {
  if (!fast.escalate) return null;
  if (status === 'suspicious') return 'suspicious';
  if (status === 'clean' && fast.escalationMargin > 0 && Math.max(...anomalyIndices) > flagThreshold - fast.escalationMargin) return 'near-threshold';
  return null;
}

/** One (seed, label) trigger search of a scan. */
export interface ScanJob {
  readonly seed: number;
  readonly runDir: string | undefined;
  state: LabelState;
}

/** A label fast mode retired: it could no longer become the outlier (a scan's progress event). */
export interface RetiredProgress {
  readonly kind: 'retired';
  readonly seed: number;
  readonly label: number;
  readonly steps: number;
  readonly norm: number;
}

/**
 * Fast mode's rounds: each unfinished label runs a chunk of steps, the smallest norms first, then
 * the labels that can no longer become the outlier are retired, run by run, until none is left.
 */
export async function runFastRounds(
  jobs: ScanJob[],
  fast: FastRecipe,
  results: Map<number, Map<number, LabelResult>>,
  labels: readonly number[],
  lanes: number,
  runChunk: (job: ScanJob, steps: number) => Promise<void>,
  finish: (job: ScanJob) => void,
  onProgress: ((p: RetiredProgress) => void) | undefined,
  stopped: () => boolean,
  interrupted: () => PoisonguardError,
): Promise<void> {
  let active = jobs.filter((j) => !j.state.done);
  for (const j of jobs) if (j.state.done) finish(j);
  while (active.length > 0) {
    if (stopped()) throw interrupted();
    // Bandit order: the smallest norms (the likeliest outliers) first.
    const queue = [...active].sort((a, b) => a.state.schedule.bestNorm - b.state.schedule.bestNorm || a.state.label - b.state.label);
    await Promise.all(
      Array.from({ length: Math.min(lanes, queue.length) }, async () => {
        for (let job = queue.shift(); job; job = queue.shift()) {
          if (stopped()) throw interrupted();
          await runChunk(job, fast.chunk);
        }
      }),
    );
    for (const j of active) if (j.state.done) finish(j);
    active = active.filter((j) => !j.state.done);
    // Retire, run by run, the labels that cannot become the outlier.
    for (const [seed, done] of results) {
      const standings: LabelStanding[] = labels.map((label) => {
        const r = done.get(label);
        if (r) return { label, norm: r.stepNorm, steps: r.steps, squeezed: true, done: true };
        const j = active.find((x) => x.seed === seed && x.state.label === label)!;
        return { label, norm: j.state.schedule.bestNorm, steps: j.state.schedule.step, squeezed: j.state.schedule.upFlag, done: false };
      });
      for (const label of labelsToRetire(standings, fast)) {
        const j = active.find((x) => x.seed === seed && x.state.label === label)!;
        j.state.done = true;
        j.state.stopReason = 'retired';
        onProgress?.({ kind: 'retired', seed, label, steps: j.state.schedule.step, norm: j.state.schedule.bestNorm });
        finish(j);
      }
    }
    active = active.filter((j) => !j.state.done);
  }
}
