/**
 * Fast mode's escalation (fast.ts): when the budget-limited scan says 'suspicious' (or 'clean' with
 * an index near the flag threshold), the labels the budget stopped continue with the full recipe.
 * The decision is written to escalation.json before any label continues, so that an interrupted
 * escalation resumes the same labels.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DataFormatError } from '../errors.js';
import { isObject, readJsonFile, writeJsonAtomic } from '../run-files.js';
import { readLabelState, runFolder } from './checkpoint.js';
import { shouldEscalate, type FastRecipe, type ScanJob } from './fast.js';
import type { LabelResult } from './label-result.js';
import type { OutlierReport } from './outliers.js';
import type { Verdict } from './verdict.js';

/** In the --out folder while fast mode escalates: the decision survives an interruption. */
export const ESCALATION_JSON = 'escalation.json';

/** What the budget-limited scan said, and what continued. */
export interface Escalation {
  /** The fast verdict that asked for it. */
  readonly fastVerdict: { readonly status: Verdict['status']; readonly reason: string };
  /** Why: the fast verdict was 'suspicious', or 'clean' with an index near the flag threshold (fast.ts). */
  readonly why?: 'suspicious' | 'near-threshold';
  /** Per scan: the fast phase's anomaly index, smallest label, second statistic and steps. */
  readonly fastRuns: readonly { readonly seed: number; readonly anomalyIndex: number; readonly minLabel: number; readonly secondary: number; readonly steps: number }[];
  /** The budget-stopped labels continued with the full recipe. */
  readonly labels: readonly { readonly seed: number; readonly label: number }[];
  /** Budget-stopped labels whose state was not kept (a folder from an older version): not continued. */
  readonly missing: readonly { readonly seed: number; readonly label: number }[];
}

/** The fast phase's runs as the escalation needs them. */
export interface FastRunView {
  readonly seed: number;
  readonly outliers: OutlierReport;
  readonly secondary: OutlierReport;
  readonly steps: number;
}

/**
 * Decides (or re-reads) the escalation and gives the jobs to continue, smallest best norm first;
 * null when the fast answer stands. `jobs` are the fast phase's jobs (their states in memory);
 * labels finished in an earlier invocation are continued from their saved states.
 */
export function planEscalation(a: {
  out: string | undefined;
  fast: FastRecipe;
  flagThreshold: number;
  verdict: Verdict;
  runs: readonly FastRunView[];
  labels: readonly number[];
  results: ReadonlyMap<number, ReadonlyMap<number, LabelResult>>;
  jobs: readonly ScanJob[];
  budgetStopped: (r: LabelResult) => boolean;
}): { escalation: Escalation; todo: ScanJob[] } | null {
  const file = a.out ? resolve(a.out, ESCALATION_JSON) : undefined;
  const saved = file && existsSync(file) ? readEscalation(file) : undefined;
  const why = shouldEscalate(a.verdict.status, a.runs.map((r) => r.outliers.anomalyIndex), a.flagThreshold, a.fast);
  if (!saved && !why) return null;
  const todo: ScanJob[] = [];
  const missing: { seed: number; label: number }[] = [];
  const running = new Map(a.jobs.map((j) => [`${j.seed}/${j.state.label}`, j.state]));
  for (const [s, byLabel] of a.results) {
    for (const label of a.labels) {
      if (!a.budgetStopped(byLabel.get(label)!)) continue;
      const state = running.get(`${s}/${label}`) ?? (a.out ? readLabelState(runFolder(a.out, s), label) : undefined);
      if (state === undefined) {
        missing.push({ seed: s, label });
        continue;
      }
      state.done = false;
      state.stopReason = null;
      todo.push({ seed: s, runDir: a.out ? runFolder(a.out, s) : undefined, state });
    }
  }
  todo.sort((x, y) => x.state.schedule.bestNorm - y.state.schedule.bestNorm || x.seed - y.seed || x.state.label - y.state.label);
  const escalation: Escalation = saved ?? {
    fastVerdict: { status: a.verdict.status, reason: a.verdict.reason },
    why: why!, // set whenever nothing was saved
    fastRuns: a.runs.map((r) => ({ seed: r.seed, anomalyIndex: r.outliers.anomalyIndex, minLabel: r.outliers.minLabel, secondary: r.secondary.anomalyIndex, steps: r.steps })),
    labels: todo.map((j) => ({ seed: j.seed, label: j.state.label })),
    missing,
  };
  if (file && !saved) writeJsonAtomic(file, escalation);
  return { escalation, todo };
}

function readEscalation(file: string): Escalation {
  const advice = 'delete it to decide the escalation again';
  const e = readJsonFile(file, undefined, advice);
  if (!isObject(e) || !e.fastVerdict || !Array.isArray(e.fastRuns) || !Array.isArray(e.labels)) throw new DataFormatError(file, `not a valid escalation record (missing fields); ${advice}.`);
  return e as unknown as Escalation;
}
