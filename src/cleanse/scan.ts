/**
 * The Neural Cleanse scan (Wang et al., IEEE S&P 2019; the release's gtsrb_visualize_example.py
 * and mad_outlier_detection.py): reverse-engineer a trigger for every label, score the norms with
 * an outlier test, give a verdict. This module owns the per-label loop and the checkpoints (every
 * finished label is written at once; a label in progress every few steps). Where the chunks run is
 * scan-lanes.ts; fast mode's rounds fast.ts and its escalation escalation.ts; the report
 * scan-report.ts; the per-label optimisation reverse.ts, the cost schedule cost-schedule.ts, the
 * outlier tests outliers.ts, the verdict verdict.ts.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { ImageSet } from '../data/images.js';
import { OptionError, PoisonguardError, ShapeError } from '../errors.js';
import { mixSeeds, Random } from '../random.js';
import { claimOutputDir, type OwnFiles } from '../outputs.js';
import { writeJsonAtomic } from '../run-files.js';
import { resolveScanModel } from './scan-model.js';
import {
  CHECKPOINT_JSON,
  claimOutFolder,
  readLabelResult,
  readLabelState,
  runFolder,
  writeLabelResult,
  writeLabelState,
} from './checkpoint.js';
import { ESCALATION_JSON, planEscalation, type Escalation } from './escalation.js';
import { runFastRounds, type FastRecipe, type ScanJob } from './fast.js';
import { MIN_LABELS, resolveScanPlan, type ScanOptions } from './scan-plan.js';
import { labelResult, summarize, type LabelResult } from './label-result.js';
import type { ChunkTask, LabelEngineFactory, RunnerInit } from './label-runner.js';
import { writeLabelImages } from './mask-images.js';
import { createLabelState, type CleanImages } from './reverse.js';
import { openScanLanes } from './scan-lanes.js';
import { scanRunOf, spreadOf, type ScanReport, type ScanRun } from './scan-report.js';
import { decideVerdict, type Verdict } from './verdict.js';

/** A label in progress is checkpointed every 10 steps (≈ 6 s on MNIST): an interruption loses little. */
export const CHECKPOINT_STEPS = 10;
export const SCAN_JSON = 'scan.json';
export { MIN_LABELS, resolveScanPlan, type ScanOptions, type ScanPlan, type ScanProgress } from './scan-plan.js';

export type { LabelSummary } from './label-result.js';

/** Everything a scan writes into its out folder (checkpoint.ts, mask-images.ts): what a run folder's force may remove. */
export const SCAN_FOLDER_FILES: OwnFiles = {
  files: [CHECKPOINT_JSON, SCAN_JSON, ESCALATION_JSON],
  dirs: [{ name: /^seed-\d+$/, holds: { files: [/^label-\d+(\.state)?\.json$/, /^label-\d+-(mask|pattern|fusion)\.png$/] } }],
};

export { ESCALATION_JSON, type Escalation } from './escalation.js';
export type { ScanReport, ScanRun, Stats } from './scan-report.js';

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
  const interrupted = (): PoisonguardError =>
    new PoisonguardError('interrupted', `Scan interrupted; finished labels and labels in progress are saved${out ? ` in ${out}` : ''}: run the same command again to resume.`, {
      ...(out ? { path: out } : {}),
    });
  const lanes = openScanLanes(runnerInit, workers, options.halt, interrupted, labelEngines);
  const stopped = (): boolean => Boolean(options.signal?.aborted || options.halt?.aborted);

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
    job.state = await lanes.exec(task, (p) => options.onProgress?.({ kind: 'step', seed: job.seed, ...p }));
    if (job.runDir && !job.state.done) writeLabelState(job.runDir, job.state);
  };
  // Depth first: each lane takes the next label and runs it to the end, checkpointing as it goes.
  const runDepthFirst = async (todo: readonly ScanJob[], maxSteps?: number): Promise<void> => {
    if (todo.length > 0) await lanes.start(todo.length);
    const queue = [...todo];
    const inFlight = Math.max(1, Math.min(workers, todo.length));
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
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
    const runs = seeds.map((s) => scanRunOf({ seed: s, labels, byLabel: results.get(s)!, detector, secondary, flagThreshold, realTrigger, withFiles: out !== undefined }));
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
      if (jobs.length > 0) await lanes.start(jobs.length);
      await runFastRounds(jobs, fast, results, labels, Math.max(1, workers), runChunk, finish, options.onProgress, stopped, interrupted);
      decided = decide();
      // Escalation (escalation.ts): a 'suspicious' fast verdict (or a clean one near the flag threshold) continues the budget-stopped labels with the full recipe.
      const planned = planEscalation({ out, fast, flagThreshold, verdict: decided.verdict, runs: decided.runs, labels, results, jobs, budgetStopped });
      if (planned) {
        escalation = planned.escalation;
        const { todo } = planned;
        // (A finished escalation's folder, run again, has nothing left to continue.)
        if (todo.length > 0) options.onProgress?.({ kind: 'escalate', why: escalation.why ?? 'suspicious', reason: escalation.fastVerdict.reason, labels: todo.map((j) => ({ seed: j.seed, label: j.state.label })) });
        await runDepthFirst(todo, fullRecipe.maxSteps);
        decided = decide();
      }
    }
  } finally {
    await lanes.close();
  }
  const { runs, verdict } = decided;

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
    spread: spreadOf(runs, labels),
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

function cleanSubset(test: ImageSet, count: number | undefined, seed: number): CleanImages {
  const base = { height: test.height, width: test.width, channels: test.channels };
  if (count === undefined || count >= test.count) return { ...base, images: test.images, count: test.count };
  const idx = new Random(seed).sampleWithoutReplacement(test.count, count);
  const size = test.height * test.width * test.channels;
  const images = new Uint8Array(count * size);
  idx.forEach((i, r) => images.set(test.images.subarray(i * size, (i + 1) * size), r * size));
  return { ...base, images, count };
}
