/**
 * The Neural Cleanse scan (Wang et al., IEEE S&P 2019; the release's gtsrb_visualize_example.py
 * and mad_outlier_detection.py): reverse-engineer a trigger for every label, score the norms with
 * an outlier test, give a verdict. This module owns the per-label loop (on worker threads, each
 * with its own engine), the checkpoints (every finished label is written at once; a label in
 * progress every few steps) and the report; the per-label optimisation is reverse.ts, the cost
 * schedule cost-schedule.ts, the outlier tests outliers.ts, the verdict verdict.ts.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { ImageSet } from '../data/images.js';
import { DataFormatError, OptionError, PoisonguardError, ShapeError } from '../errors.js';
import type { ModelEngineDecision } from '../nn/onnx-gradient.js';
import type { ModelMetadata } from '../nn/model-io.js';
import type { Preprocessing } from '../nn/preprocess.js';
import { mixSeeds, Random } from '../random.js';
import { claimOutputDir, type OwnFiles } from '../outputs.js';
import { isObject, readJsonFile, writeJsonAtomic } from '../run-files.js';
import { resolveScanModel } from './scan-model.js';
import { siblingModule, WorkerPool } from '../workers/pool.js';
import {
  CHECKPOINT_JSON,
  claimOutFolder,
  readLabelResult,
  readLabelState,
  runFolder,
  writeLabelResult,
  writeLabelState,
} from './checkpoint.js';
import { runFastRounds, shouldEscalate, type FastRecipe, type ScanJob } from './fast.js';
import { MIN_LABELS, resolveScanPlan, type ScanOptions } from './scan-plan.js';
import { labelResult, summarize, type LabelResult, type LabelSummary } from './label-result.js';
import type { ChunkTask, LabelEngineFactory, LabelEngines, LabelRunner, RunnerInit } from './label-runner.js';
import { labelImageFiles, writeLabelImages } from './mask-images.js';
import type { OutlierReport } from './outliers.js';
import type { ReverseRecipe } from './recipe.js';
import { createLabelState, type CleanImages, type LabelState, type StepProgress } from './reverse.js';
import { decideVerdict, type Verdict } from './verdict.js';

/** A label in progress is checkpointed every 10 steps (≈ 6 s on MNIST): an interruption loses little. */
export const CHECKPOINT_STEPS = 10;
export const SCAN_JSON = 'scan.json';
export { MIN_LABELS, resolveScanPlan, type ScanOptions, type ScanPlan, type ScanProgress } from './scan-plan.js';

export type { LabelSummary } from './label-result.js';

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

/** Fast mode's escalation (fast.ts): what the budget-limited scan said, and what continued. */
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

/** In the --out folder while fast mode escalates: the decision survives an interruption. */
export const ESCALATION_JSON = 'escalation.json';

/** Everything a scan writes into its out folder (checkpoint.ts, mask-images.ts): what a run folder's force may remove. */
export const SCAN_FOLDER_FILES: OwnFiles = {
  files: [CHECKPOINT_JSON, SCAN_JSON, ESCALATION_JSON],
  dirs: [{ name: /^seed-\d+$/, holds: { files: [/^label-\d+(\.state)?\.json$/, /^label-\d+-(mask|pattern|fusion)\.png$/] } }],
};

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

/**
 * Runs the scan (see the module comment). `labelEngines` runs the label chunks elsewhere than this
 * machine's worker threads (the zoo's job queue): started with the runner's init and how many
 * chunks the scan keeps in flight; the `workers` option then counts those chunks and is not capped
 * at this machine's cores.
 */
export async function scanModel(options: ScanOptions, labelEngines?: LabelEngineFactory): Promise<ScanReport> {
  const start = performance.now();
  const plan = resolveScanPlan(options);
  const { fast, fullRecipe, recipe, seed, repeat, workers: workersRequested, detector, secondary, flagThreshold, verdict: verdictOptions } = plan;
  // A fast-mode label that the budget stopped short of the full recipe's own end.
  const budgetStopped = (r: LabelResult): boolean => fast !== null && r.stopReason === 'max-steps' && r.steps < fullRecipe.maxSteps;

  // The model and what it declares (scan-model.ts), then the output folder, before any work.
  // The TF.js engine of this thread reads a TF.js model's shapes, and runs the labels when workers = 0.
  const { initEngine } = await import('../nn/engine.js');
  const engine = await initEngine({ backend: options.backend ?? 'auto' });
  // Claimed before anything is read; what it already holds is checked against this scan by claimOutFolder.
  const out = options.out === undefined ? undefined : claimOutputDir(options.out, { option: 'out', existing: 'resume', notOver: [{ path: options.model, what: 'the model' }] });
  const model = await resolveScanModel(options, seed);
  const { preprocessing, numClasses, modelEngine } = model;
  const [H, W, C] = model.inputShape;

  // The labels' form was checked with the plan; their range needs the model.
  const labels = plan.labels ? [...plan.labels] : Array.from({ length: numClasses }, (_, i) => i);
  for (const l of labels) if (l >= numClasses) throw new OptionError('labels', `class indices in 0..${numClasses - 1}`, l);
  if (labels.length < MIN_LABELS) throw new OptionError('labels', `at least ${MIN_LABELS} labels (the outlier test needs a median and a spread)`, labels);
  // More engines than labels to run at once, or than cores, only cost memory and start-up (engines
  // elsewhere are not this machine's cores).
  const workers = Math.min(workersRequested, labels.length * repeat, labelEngines ? Infinity : availableParallelism());

  // The clean set: the dataset's test split (the release drew its mini-batches from the test set).
  const { loadImageDataset, loadModelDataset } = await import('../data/image-registry.js');
  const data = options.clean
    ? { name: 'given', source: 'clean images given to scanModel', test: options.clean }
    : options.dataset !== undefined && model.kind === 'tfjs'
      ? loadImageDataset(options.dataset, options.dataDir, model.dataSeed)
      : loadModelDataset(model.dataset!, options.dataDir, model.dataSeed);
  const test = data.test;
  if (test.height !== H || test.width !== W || test.channels !== C) {
    throw new ShapeError(`dataset ${data.name}`, `${H}x${W}x${C} images (the model's input)`, `${test.height}x${test.width}x${test.channels}`);
  }
  model.saveStatements();
  const clean = cleanSubset(test, plan.cleanImages, seed);
  if (clean.count < recipe.batchSize) throw new ShapeError('clean set', `at least ${recipe.batchSize} images`, `${clean.count}`);

  const sha = model.sha256();
  const seeds = Array.from({ length: repeat }, (_, r) => seed + r);
  if (out) {
    claimOutFolder(
      out,
      {
        modelSha256: sha,
        // Escalating or not does not change the fast phase: a folder scanned either way can be resumed the other way.
        settings: { recipe, fast: fast && withoutEscalate(fast), dataset: data.name, dataSource: data.source, cleanImages: clean.count, preprocessing, backend: options.backend ?? 'auto' },
        seeds,
      },
      model.path,
    );
  }

  // Only a patch has a place to compare the reversed mask with (blend, SIG and WaNet cover the whole image).
  const triggers = await import('../nn/trigger.js');
  const realTrigger = model.trigger && triggers.isPatchTrigger(model.trigger) ? triggers.resolveTrigger(model.trigger, H, W, C).mask : undefined;
  const results = new Map<number, Map<number, LabelResult>>(seeds.map((s) => [s, new Map()]));
  const jobs: ScanJob[] = [];
  for (const s of seeds) {
    const runDir = out ? runFolder(out, s) : undefined;
    for (const label of labels) {
      const done = runDir ? readLabelResult(runDir, label) : undefined;
      if (done) {
        results.get(s)!.set(label, done);
        options.onProgress?.({ kind: 'skipped', seed: s, label });
        continue;
      }
      const saved = runDir ? readLabelState(runDir, label) : undefined;
      if (saved) options.onProgress?.({ kind: 'resumed', seed: s, label, steps: saved.schedule.step });
      jobs.push({ seed: s, runDir, state: saved ?? createLabelState(label, mixSeeds(s, label), recipe, H, W, C) });
    }
  }

  const runnerInit: RunnerInit = { model: model.ref, data: clean, preprocessing, recipe, numClasses, backend: options.backend ?? 'auto', modelEngine: modelEngine.engine };
  // The engines run the labels: started by the first phase that has labels to run (none for a
  // finished scan), as many as that phase can use (a scan's jobs, or an escalation's).
  type Exec = (task: ChunkTask, onStep: (p: StepProgress) => void) => Promise<LabelState>;
  type Engines = LabelEngines;
  let engines: Promise<Engines> | undefined;
  const startEngines = (count: number): Promise<Engines> =>
    (engines ??= (async () => {
      if (labelEngines) return labelEngines(runnerInit, Math.max(1, Math.min(workers, count)));
      if (workers === 0) {
        const { createLabelRunner } = await import('./label-runner.js');
        const runner: LabelRunner = await createLabelRunner(runnerInit, false);
        // In this thread the halt signal reaches the runner directly.
        return { exec: (task, onStep) => runner.run(task, onStep, options.halt), close: () => runner.dispose(), halt: () => {} };
      }
      const pool = new WorkerPool<RunnerInit, ChunkTask, LabelState>(siblingModule(import.meta.url, 'scan-worker'), runnerInit, Math.max(1, Math.min(workers, count)));
      return {
        exec: (task, onStep) => pool.run(task, (p) => onStep(p as StepProgress)),
        close: () => pool.close({ abort: options.halt?.aborted ?? false }),
        halt: () => void pool.close({ abort: true }),
      };
    })());
  const stopped = (): boolean => Boolean(options.signal?.aborted || options.halt?.aborted);
  const onHalt = (): void => void engines?.then((e) => e.halt());
  options.halt?.addEventListener('abort', onHalt, { once: true });
  // Every phase starts the engines before its first chunk.
  const exec: Exec = async (task, onStep) => {
    try {
      return await (await engines!).exec(task, onStep);
    } catch (e) {
      if (options.halt?.aborted) throw interrupted();
      throw e;
    }
  };
  const close = async (): Promise<void> => {
    options.halt?.removeEventListener('abort', onHalt);
    if (engines) await (await engines).close();
  };

  const finish = (job: ScanJob): void => {
    const r = labelResult(job.state, recipe, H, W, C);
    results.get(job.seed)!.set(r.label, r);
    if (job.runDir) {
      writeLabelImages(job.runDir, r, C);
      writeLabelResult(job.runDir, r);
      // Fast mode: a label stopped by the budget keeps its state, which an escalation continues.
      if (budgetStopped(r)) writeLabelState(job.runDir, job.state);
    }
    options.onProgress?.({ kind: 'label-done', seed: job.seed, result: summarize(r, realTrigger) });
  };
  const runChunk = async (job: ScanJob, steps: number, maxSteps?: number): Promise<void> => {
    const task: ChunkTask = maxSteps === undefined ? { state: job.state, steps } : { state: job.state, steps, maxSteps };
    job.state = await exec(task, (p) => options.onProgress?.({ kind: 'step', seed: job.seed, ...p }));
    if (job.runDir && !job.state.done) writeLabelState(job.runDir, job.state);
  };
  const interrupted = (): PoisonguardError =>
    new PoisonguardError('interrupted', `Scan interrupted; finished labels and labels in progress are saved${out ? ` in ${out}` : ''}: run the same command again to resume.`, {
      ...(out ? { path: out } : {}),
    });

  // Depth first: each lane takes the next label and runs it to the end, checkpointing as it goes.
  const runDepthFirst = async (todo: readonly ScanJob[], maxSteps?: number): Promise<void> => {
    if (todo.length > 0) await startEngines(todo.length);
    const queue = [...todo];
    const lanes = Math.max(1, Math.min(workers, todo.length));
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let job = queue.shift(); job; job = queue.shift()) {
          while (!job.state.done) {
            if (stopped()) throw interrupted();
            await runChunk(job, CHECKPOINT_STEPS, maxSteps);
          }
          finish(job);
        }
      }),
    );
  };

  // Outlier tests and verdict over the labels' current results.
  const decide = (): { runs: ScanRun[]; verdict: Verdict } => {
    const runs = seeds.map((s) => scanRun(s));
    const reached = new Map(labels.map((l) => [l, runs.every((r) => r.labels.find((x) => x.label === l)!.reachedThreshold)]));
    const verdict = decideVerdict(
      runs.map((r) => r.outliers),
      verdictOptions,
      labels.length,
      reached,
      runs.map((r) => r.secondary),
    );
    return { runs, verdict };
  };

  let escalation: Escalation | null = null;
  let decided: { runs: ScanRun[]; verdict: Verdict };
  try {
    if (fast === null) {
      await runDepthFirst(jobs);
      decided = decide();
    } else {
      if (jobs.length > 0) await startEngines(jobs.length);
      await runFastRounds(jobs, fast, results, labels, Math.max(1, workers), runChunk, finish, options.onProgress, stopped, interrupted);
      decided = decide();
      // Escalation (fast.ts): a 'suspicious' fast verdict (or a clean one near the flag threshold) continues the budget-stopped labels with
      // the full recipe. Decided once: an interrupted escalation resumes from escalation.json.
      const file = out ? resolve(out, ESCALATION_JSON) : undefined;
      const saved = file && existsSync(file) ? readEscalation(file) : undefined;
      const why = shouldEscalate(decided.verdict.status, decided.runs.map((r) => r.outliers.anomalyIndex), flagThreshold, fast);
      if (saved || why) {
        const todo: ScanJob[] = [];
        const missing: { seed: number; label: number }[] = [];
        const running = new Map(jobs.map((j) => [`${j.seed}/${j.state.label}`, j.state]));
        for (const [s, byLabel] of results) {
          for (const label of labels) {
            if (!budgetStopped(byLabel.get(label)!)) continue;
            const state = running.get(`${s}/${label}`) ?? (out ? readLabelState(runFolder(out, s), label) : undefined);
            if (state === undefined) {
              missing.push({ seed: s, label });
              continue;
            }
            state.done = false;
            state.stopReason = null;
            todo.push({ seed: s, runDir: out ? runFolder(out, s) : undefined, state });
          }
        }
        todo.sort((a, b) => a.state.schedule.bestNorm - b.state.schedule.bestNorm || a.seed - b.seed || a.state.label - b.state.label);
        escalation = saved ?? {
          fastVerdict: { status: decided.verdict.status, reason: decided.verdict.reason },
          why: why!, // set whenever nothing was saved
          fastRuns: decided.runs.map((r) => ({ seed: r.seed, anomalyIndex: r.outliers.anomalyIndex, minLabel: r.outliers.minLabel, secondary: r.secondary.anomalyIndex, steps: r.steps })),
          labels: todo.map((j) => ({ seed: j.seed, label: j.state.label })),
          missing,
        };
        if (file && !saved) writeJsonAtomic(file, escalation);
        // (A finished escalation's folder, run again, has nothing left to continue.)
        if (todo.length > 0) options.onProgress?.({ kind: 'escalate', why: escalation.why ?? 'suspicious', reason: escalation.fastVerdict.reason, labels: todo.map((j) => ({ seed: j.seed, label: j.state.label })) });
        await runDepthFirst(todo, fullRecipe.maxSteps);
        decided = decide();
      }
    }
  } finally {
    await close();
  }
  const { runs, verdict } = decided;

  function scanRun(s: number): ScanRun {
    const byLabel = results.get(s)!;
    const rs = labels.map((l) => byLabel.get(l)!);
    const norms = rs.map((r) => r.norm);
    const outliers = detector.detect(labels, norms, flagThreshold);
    const second = secondary.detect(labels, norms, flagThreshold);
    const steps = rs.reduce((a, r) => a + r.steps, 0);
    const labelSeconds = rs.reduce((a, r) => a + r.seconds, 0);
    return {
      seed: s,
      labels: rs.map((r, i) => ({
        ...summarize(r, realTrigger),
        anomalyIndex: outliers.indices[i],
        flagged: outliers.flagged.includes(r.label),
        ...(out ? { files: { json: `seed-${s}/label-${String(r.label).padStart(2, '0')}.json`, ...prefix(`seed-${s}/`, labelImageFiles(r.label)) } } : {}),
      })),
      outliers,
      secondary: second,
      steps,
      labelSeconds,
      msPerStep: steps > 0 ? (1000 * labelSeconds) / steps : 0,
    };
  }
  const report: ScanReport = {
    kind: 'neural-cleanse-scan',
    model: {
      dir: model.path,
      kind: model.kind,
      sha256: sha,
      arch: model.arch,
      numClasses,
      inputShape: [H, W, C],
      preprocessing,
      trigger: model.trigger,
      target: model.target,
    },
    dataset: { name: data.name, source: data.source, cleanImages: clean.count },
    recipe: {
      ...recipe,
      fast,
      detector: detector.name,
      flagThreshold,
      checkpointSteps: CHECKPOINT_STEPS,
      statistic: `${recipe.norm.toUpperCase()} norm of each label's best mask quantized to 8 bits (the release re-read its PNG masks)`,
    },
    backend: engine.backend,
    modelEngine,
    workers,
    workersRequested,
    seeds,
    runs,
    spread: {
      anomalyIndex: stats(runs.map((r) => r.outliers.anomalyIndex)),
      smallestLabel: runs.map((r) => r.outliers.minLabel),
      norms: Object.fromEntries(labels.map((l) => [String(l), stats(runs.map((r) => r.labels.find((x) => x.label === l)!.norm))])),
    },
    verdict,
    escalation,
    seconds: (performance.now() - start) / 1000,
    date: new Date().toISOString(),
  };
  if (out) writeJsonAtomic(resolve(out, SCAN_JSON), report);
  return report;
}

function withoutEscalate(fast: FastRecipe): Omit<FastRecipe, 'escalate' | 'escalationMargin'> {
  const { escalate: _e, escalationMargin: _m, ...rest } = fast;
  return rest;
}

function readEscalation(file: string): Escalation {
  const advice = 'delete it to decide the escalation again';
  const e = readJsonFile(file, undefined, advice);
  if (!isObject(e) || !e.fastVerdict || !Array.isArray(e.fastRuns) || !Array.isArray(e.labels)) throw new DataFormatError(file, `not a valid escalation record (missing fields); ${advice}.`);
  return e as unknown as Escalation;
}

function cleanSubset(test: ImageSet, count: number | undefined, seed: number): CleanImages {
  const base = { height: test.height, width: test.width, channels: test.channels };
  if (count === undefined || count >= test.count) return { ...base, images: test.images, count: test.count };
  const idx = new Random(seed).sampleWithoutReplacement(test.count, count);
  const size = test.height * test.width * test.channels;
  const images = new Uint8Array(count * size);
  idx.forEach((i, r) => images.set(test.images.subarray(i * size, (i + 1) * size), r * size));
  return { ...base, images, count };
}

function prefix<T extends Record<string, string>>(p: string, files: T): T {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, `${p}${v}`])) as T;
}

function stats(xs: readonly number[]): Stats {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}
