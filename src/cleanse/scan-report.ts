/**
 * What a scan reports: each seed's run (labels, outlier tests, steps) and the whole report written
 * to scan.json. Built from the labels' results once the run loop (scan.ts) has them.
 */
import type { ModelMetadata } from '../nn/model-io.js';
import type { ModelEngineDecision } from '../nn/onnx-gradient.js';
import type { Preprocessing } from '../nn/preprocess.js';
import type { Escalation } from './escalation.js';
import type { FastRecipe } from './fast.js';
import { summarize, type LabelResult, type LabelSummary } from './label-result.js';
import { labelImageFiles } from './mask-images.js';
import type { OutlierDetector, OutlierReport } from './outliers.js';
import type { ReverseRecipe } from './recipe.js';
import type { Verdict } from './verdict.js';

export interface ScanRun {
  readonly seed: number;
  readonly labels: readonly LabelSummary[];
  readonly outliers: OutlierReport;
  /** The other detector's view, for comparison. */
  readonly secondary: OutlierReport;
  readonly steps: number;
  /** Sum over labels of their optimisation seconds. */
  readonly labelSeconds: number;
  readonly msPerStep: number;
}

export interface ScanReport {
  readonly kind: 'neural-cleanse-scan';
  readonly model: {
    readonly dir: string;
    /** 'tfjs': a model folder poisonguard trained; 'onnx': a user's ONNX model. */
    readonly kind: 'tfjs' | 'onnx';
    readonly sha256: string;
    readonly arch: string | null;
    readonly numClasses: number;
    readonly inputShape: readonly [number, number, number];
    readonly preprocessing: Preprocessing;
    /** The planted trigger and target from metadata.json (null for a clean model or no metadata). */
    readonly trigger: ModelMetadata['trigger'];
    readonly target: number | null;
  };
  readonly dataset: { readonly name: string; readonly source: string; readonly cleanImages: number };
  readonly recipe: ReverseRecipe & {
    readonly fast: FastRecipe | null;
    readonly detector: string;
    readonly flagThreshold: number;
    readonly checkpointSteps: number;
    readonly statistic: string;
  };
  /** TensorFlow.js's backend: it runs the whole step when modelEngine is tfjs (the ONNX engine's step uses plain arrays). */
  readonly backend: string;
  /** Where the model's forward and backward passes ran, and why. */
  readonly modelEngine: ModelEngineDecision;
  /** Worker threads used: the request capped at the labels to run (× repeats) and the cores. */
  readonly workers: number;
  /** Worker threads asked for (default: the cores). */
  readonly workersRequested: number;
  readonly seeds: readonly number[];
  readonly runs: readonly ScanRun[];
  /** Over the repeats: the model's anomaly index and each label's norm (mean, sd, min, max). */
  readonly spread: {
    readonly anomalyIndex: Stats;
    readonly smallestLabel: readonly number[];
    readonly norms: Readonly<Record<string, Stats>>;
  };
  readonly verdict: Verdict;
  /** Fast mode: the escalation, when the fast verdict was 'suspicious' (null otherwise). */
  readonly escalation: Escalation | null;
  /** Wall-clock seconds of this invocation (a resumed scan counts only what it ran). */
  readonly seconds: number;
  readonly date: string;
}

export interface Stats {
  readonly mean: number;
  readonly sd: number;
  readonly min: number;
  readonly max: number;
}

/** One seed's run: each label's summary with its anomaly index and files, the outlier tests, the steps. */
export function scanRunOf(a: {
  seed: number;
  labels: readonly number[];
  byLabel: ReadonlyMap<number, LabelResult>;
  detector: OutlierDetector;
  secondary: OutlierDetector;
  flagThreshold: number;
  realTrigger: Float32Array | undefined;
  withFiles: boolean;
}): ScanRun {
  const { seed: s, labels, detector, secondary, flagThreshold, realTrigger } = a;
  const rs = labels.map((l) => a.byLabel.get(l)!);
  const norms = rs.map((r) => r.norm);
  const outliers = detector.detect(labels, norms, flagThreshold);
  const second = secondary.detect(labels, norms, flagThreshold);
  const steps = rs.reduce((x, r) => x + r.steps, 0);
  const labelSeconds = rs.reduce((x, r) => x + r.seconds, 0);
  return {
    seed: s,
    labels: rs.map((r, i) => ({
      ...summarize(r, realTrigger),
      anomalyIndex: outliers.indices[i],
      flagged: outliers.flagged.includes(r.label),
      ...(a.withFiles ? { files: { json: `seed-${s}/label-${String(r.label).padStart(2, '0')}.json`, ...prefix(`seed-${s}/`, labelImageFiles(r.label)) } } : {}),
    })),
    outliers,
    secondary: second,
    steps,
    labelSeconds,
    msPerStep: steps > 0 ? (1000 * labelSeconds) / steps : 0,
  };
}

/** Over the repeats: the model's anomaly index, the smallest label and each label's norm. */
export function spreadOf(runs: readonly ScanRun[], labels: readonly number[]): ScanReport['spread'] {
  return {
    anomalyIndex: stats(runs.map((r) => r.outliers.anomalyIndex)),
    smallestLabel: runs.map((r) => r.outliers.minLabel),
    norms: Object.fromEntries(labels.map((l) => [String(l), stats(runs.map((r) => r.labels.find((x) => x.label === l)!.norm))])),
  };
}

function prefix<T extends Record<string, string>>(p: string, files: T): T {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, `${p}${v}`])) as T;
}

function stats(xs: readonly number[]): Stats {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}
