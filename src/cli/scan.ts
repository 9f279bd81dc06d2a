/** `poisonguard scan`: Neural Cleanse detection — reverse-engineer every label's trigger, flag outliers, give a verdict. */
import { availableParallelism } from 'node:os';
import { DEFAULT_ESCALATION_MARGIN, DEFAULT_FAST_BUDGET, DEFAULT_FAST_MIN_STEPS } from '../cleanse/fast.js';
import { OptionError, PoisonguardError } from '../errors.js';
import { DEFAULT_DECISION_THRESHOLD, DEFAULT_REPEAT } from '../cleanse/verdict.js';
import { DEFAULT_FLAG_THRESHOLD, OUTLIER_DETECTORS, DEFAULT_DETECTOR } from '../cleanse/outliers.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_BETA1,
  DEFAULT_BETA2,
  DEFAULT_LEARNING_RATE,
  DEFAULT_LOSS,
  DEFAULT_MASK_SHAPE,
  DEFAULT_MAX_STEPS,
  DEFAULT_MINI_BATCHES,
  DEFAULT_NORM,
  LOSS_KINDS,
  MASK_SHAPES,
  NORMS,
} from '../cleanse/recipe.js';
import { DEFAULT_SEED } from '../random.js';
import { engineHelp } from '../nn/engine-choice.js';
import type { ScanOptions, ScanProgress, ScanReport } from '../cleanse/scan.js';
import { DEFAULT_AUDIT_DETECTORS, DEFAULT_DETECTORS, DETECTOR_NAMES, DETECTORS, parseDetectors } from '../cleanse/detectors/registry.js';
import type { DetectorProgress, DetectorsReport } from '../cleanse/detectors/run.js';
import type { Command, CommandContext } from './command.js';
import { intOption, numberListOption, numberOption, seedOption, withFlagNames } from './command.js';
import { ONNX_MODEL_OPTIONS, ONNX_STATEMENT_FLAGS, onnxStatements } from './model-options.js';

/** Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it). */
const EXIT_INTERRUPTED = 130;

/** Without a terminal (a log file), a label's progress line every this many steps. */
const LOG_EVERY_STEPS = 10;

const options = {
  model: {
    type: 'string',
    required: true,
    value: 'PATH',
    help: 'Model folder written by `poisonguard train` (model.json, weights.bin, metadata.json), or an ONNX model: a .onnx file or a folder holding model.onnx.',
  },
  dataset: { type: 'string', value: 'NAME|DIR', help: "Clean images: 'mnist', 'gtsrb' or a folder (default: the model's dataset, from metadata.json or the ONNX model's sidecar); the test split is used." },
  'input-layout': ONNX_MODEL_OPTIONS['input-layout'],
  preprocess: ONNX_MODEL_OPTIONS.preprocess,
  'data-dir': { type: 'string', value: 'DIR', help: "The dataset's folder (default: embedded MNIST; GTSRB from ../shared/data or $POISONGUARD_DATA)." },
  labels: { type: 'string', value: 'L,L,…', help: 'Labels to scan (default: all).' },
  steps: { type: 'string', value: 'N', default: String(DEFAULT_MAX_STEPS), help: `Maximum optimisation steps per label (${DEFAULT_MINI_BATCHES} mini-batches of ${DEFAULT_BATCH_SIZE} each).` },
  workers: { type: 'string', value: 'K', help: `Worker threads, each with its own engine (default: the cores, here ${availableParallelism()}; 0 = this thread).` },
  repeat: { type: 'string', value: 'R', default: String(DEFAULT_REPEAT), help: 'Scans with seeds S, S+1, …; the verdict needs a majority, and the spread is reported.' },
  fast: {
    type: 'boolean',
    help: `Fast mode: labels run in rounds, smallest norms first; labels that cannot become the outlier are retired after ${DEFAULT_FAST_MIN_STEPS} steps, and every label stops at its budget.`,
  },
  budget: { type: 'string', value: 'N', help: `Fast mode: steps per label at most (default ${DEFAULT_FAST_BUDGET}).` },
  'no-escalate': {
    type: 'boolean',
    help: "Fast mode: keep the budget's answer even when it is 'suspicious' or a clean one near the flag threshold (by default the budget-stopped labels then continue with the full recipe).",
  },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'Seed of the masks, patterns and batch order.' },
  out: { type: 'string', value: 'DIR', help: 'Output folder: scan.json, seed-S/label-NN.json and PNGs; re-running resumes it.' },
  'clean-images': { type: 'string', value: 'N', help: 'Use N test images (seeded draw) instead of the whole test split.' },
  detector: { type: 'string', value: 'NAME', default: DEFAULT_DETECTOR, help: `Outlier test: ${Object.values(OUTLIER_DETECTORS).map((d) => `${d.name} (${d.description})`).join('; ')}.` },
  'flag-threshold': { type: 'string', value: 'X', default: String(DEFAULT_FLAG_THRESHOLD), help: 'Anomaly index above which a label is flagged (paper: 2).' },
  'decision-threshold': { type: 'string', value: 'X', help: `Anomaly index for the verdict 'backdoored' (default ${DEFAULT_DECISION_THRESHOLD}: the paper's infected models all scored above 3).` },
  'fp-cost': { type: 'string', value: 'C', help: 'Set the decision threshold from the cost of wrongly rejecting a clean model, relative to missing a backdoor (e.g. 19 → 2.58 on 10 labels).' },
  loss: { type: 'string', value: 'NAME', default: DEFAULT_LOSS, help: `Loss: ${LOSS_KINDS.join(' or ')} (the release's swapped Keras call, ≈16.1·(1 − p_target)).` },
  norm: { type: 'string', value: 'NAME', default: DEFAULT_NORM, help: `Mask regularizer: ${NORMS.join(' or ')} (IBM ART's default).` },
  'mask-shape': { type: 'string', value: 'NAME', default: DEFAULT_MASK_SHAPE, help: `Mask: ${MASK_SHAPES.join(' (H×W, the release) or ')} (H×W×C).` },
  'no-warmup': { type: 'boolean', help: 'Start the cost at its initial value instead of 0 (some ports).' },
  backend: { type: 'string', value: 'NAME', help: 'TF.js backend: auto, tensorflow, wasm or cpu.' },
  engine: { type: 'string', value: 'NAME', help: engineHelp('forward and backward passes') },
  detectors: {
    type: 'string',
    value: 'LIST',
    help: `Detectors, comma-separated, or 'all' (those whose data is at hand; default ${DEFAULT_DETECTORS.join(',')}, and with --train-data also ${DEFAULT_AUDIT_DETECTORS.join(',')}: the detection matrix of docs/RESULTS.md): ${DETECTOR_NAMES.map((n) => `${n}: ${DETECTORS[n].title}`).join('; ')}. One combined verdict: backdoored when any voting detector says so (${DETECTOR_NAMES.filter((n) => DETECTORS[n].noVote !== undefined).join(' and ')} report without voting). Results in detectors.json.`,
  },
  'train-data': { type: 'string', value: 'NAME|DIR', help: "The training set ('mnist', 'gtsrb' or an image folder; its train split): spectral, ac and knn audit it, strip audits a sample of it." },
  'knn-reference': {
    type: 'string',
    value: 'NAME|DIR',
    help: "knn: trusted clean images drawn like the training set (a dataset or image folder; its train split), the reference instead of the clean test split — needed where the test split is not like the training one (GTSRB: a clean model is called backdoored against its test split; docs/DETECTORS.md). None of them may be in --train-data.",
  },
  json: { type: 'boolean', help: 'Print scan.json to stdout instead of the summary (with detectors besides nc: detectors.json).' },
} as const;

/** The flag of each library option, to name it in errors. */
const FLAGS: Readonly<Partial<Record<keyof ScanOptions, string>>> = {
  model: '--model',
  inputLayout: '--input-layout',
  preprocessing: '--preprocess',
  dataset: '--dataset',
  dataDir: '--data-dir',
  labels: '--labels',
  workers: '--workers',
  cleanImages: '--clean-images',
  out: '--out',
  backend: '--backend',
  engine: '--engine',
  decisionThreshold: '--decision-threshold',
  falsePositiveCost: '--fp-cost',
  maxSteps: '--steps',
  repeat: '--repeat',
  seed: '--seed',
  detector: '--detector',
  flagThreshold: '--flag-threshold',
  loss: '--loss',
  norm: '--norm',
  maskShape: '--mask-shape',
};

export const scanCommand: Command<typeof options> = {
  name: 'scan',
  summary: "Neural Cleanse detection: reverse-engineer each label's trigger, flag the outlier, give a verdict.",
  description: `
For every label, finds the smallest mask and pattern that send clean test images to it (stamped in
the raw pixel domain, then the model's preprocessing from metadata.json), with the release's
recipe (Adam ${DEFAULT_LEARNING_RATE}/${DEFAULT_BETA1}/${DEFAULT_BETA2}, ${DEFAULT_MINI_BATCHES} mini-batches of ${DEFAULT_BATCH_SIZE} per step, cost schedule with warm-up and early
stop). The mask norms go through a one-sided MAD test (anomaly index > ${DEFAULT_FLAG_THRESHOLD} flags a label). The
verdict 'backdoored' needs more than a flag: index > the decision threshold (default ${DEFAULT_DECISION_THRESHOLD}), or a flag
confirmed by the second statistic (z-score of log norms > the decision threshold), for the same
label in a majority of the --repeat scans; a flag without that is 'suspicious' (rescan). In fast
mode a 'suspicious' answer, or a clean one with an index within ${DEFAULT_ESCALATION_MARGIN} of the flag threshold, continues
the budget-stopped labels with the full recipe (--no-escalate keeps the budget's answer).
Each finished label is written at once to --out; run the same command again to resume.

Example: poisonguard scan --model runs/mnist-badnets --out runs/scan-mnist-badnets`,
  options,
  async run(v, _pos, ctx) {
    const steps = intOption('steps', v.steps)!;
    const repeat = intOption('repeat', v.repeat)!;
    const seed = seedOption('seed', v.seed)!;
    const workers = intOption('workers', v.workers);
    const cleanImages = intOption('clean-images', v['clean-images']);
    const flagThreshold = numberOption('flag-threshold', v['flag-threshold'])!;
    const decisionThreshold = numberOption('decision-threshold', v['decision-threshold']);
    const falsePositiveCost = numberOption('fp-cost', v['fp-cost']);
    const labels = numberListOption('labels', v.labels);
    if (steps <= 0) throw new OptionError('--steps', 'a positive integer', v.steps);
    const budget = intOption('budget', v.budget);
    if (budget !== undefined && !v.fast) throw new OptionError('--budget', 'used with --fast (the budget is fast mode\'s step limit per label; without --fast, --steps sets it)', v.budget);
    if (budget !== undefined && budget <= 0) throw new OptionError('--budget', 'a positive integer', v.budget);
    if (v['no-escalate'] && !v.fast) throw new OptionError('--no-escalate', 'used with --fast', true);
    if (repeat <= 0) throw new OptionError('--repeat', 'a positive integer', v.repeat);
    if (workers !== undefined && workers < 0) throw new OptionError('--workers', 'a non-negative integer', v.workers);
    if (decisionThreshold !== undefined && falsePositiveCost !== undefined) {
      throw new OptionError('--decision-threshold', 'not combined with --fp-cost (both set the decision threshold)', v['decision-threshold']);
    }
    const { checkOneOf } = await import('../options.js');
    const loss = checkOneOf('--loss', v.loss, LOSS_KINDS);
    const norm = checkOneOf('--norm', v.norm, NORMS);
    const maskShape = checkOneOf('--mask-shape', v['mask-shape'], MASK_SHAPES);
    const trainingGiven = v['train-data'] !== undefined;
    const detectors = parseDetectors(v.detectors ?? [...DEFAULT_DETECTORS, ...(trainingGiven ? DEFAULT_AUDIT_DETECTORS : [])].join(','), trainingGiven);
    // Neural Cleanse alone: the scan as it always was (scan.json, its summary).
    const ncOnly = detectors.length === 1 && detectors[0] === 'nc';
    if (ncOnly && v['train-data'] !== undefined) throw new OptionError('--train-data', "used with a detector that reads it (strip, spectral, ac, knn)", v['train-data']);
    if (v['knn-reference'] !== undefined && !detectors.includes('knn')) throw new OptionError('--knn-reference', 'used with the knn detector', v['knn-reference']);

    const { scanModel } = await import('../cleanse/scan.js');
    const statements = await onnxStatements({ 'input-layout': v['input-layout'], preprocess: v.preprocess });
    // Ctrl-C: finish the steps in flight and save; again: abandon them at the next mini-batch and
    // release the engines (a thread terminated under a live onnxruntime session aborts the process,
    // which is why a plain exit is only the third Ctrl-C's answer).
    const controller = new AbortController();
    const halt = new AbortController();
    const onSignal = (): void => {
      if (halt.signal.aborted) process.exit(EXIT_INTERRUPTED);
      if (controller.signal.aborted) {
        ctx.err('interrupt: quitting — the steps in flight are dropped, every label keeps its last checkpoint');
        halt.abort();
        return;
      }
      ctx.err('interrupt: finishing the steps in flight and saving (press Ctrl-C again to quit at once)');
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let report: ScanReport | undefined;
    let multi: { report: DetectorsReport; ncReports: Readonly<Record<string, ScanReport>> } | undefined;
    try {
      const scanOptions: ScanOptions = {
        model: v.model,
        ...(statements.inputLayout !== undefined ? { inputLayout: statements.inputLayout } : {}),
        ...(statements.preprocessing !== undefined ? { preprocessing: statements.preprocessing } : {}),
        ...(v.dataset !== undefined ? { dataset: v.dataset } : {}),
        ...(v['data-dir'] !== undefined ? { dataDir: v['data-dir'] } : {}),
        ...(labels ? { labels } : {}),
        ...(workers !== undefined ? { workers } : {}),
        ...(cleanImages !== undefined ? { cleanImages } : {}),
        ...(v.out !== undefined ? { out: v.out } : {}),
        ...(v.backend !== undefined ? { backend: v.backend as never } : {}),
        ...(v.engine !== undefined ? { engine: v.engine as never } : {}),
        ...(decisionThreshold !== undefined ? { decisionThreshold } : {}),
        ...(falsePositiveCost !== undefined ? { falsePositiveCost } : {}),
        maxSteps: steps,
        repeat,
        seed,
        fast: v.fast ? { ...(budget !== undefined ? { budget } : {}), escalate: !v['no-escalate'] } : false,
        detector: v.detector,
        flagThreshold,
        loss,
        norm,
        maskShape,
        warmup: !v['no-warmup'],
        signal: controller.signal,
        halt: halt.signal,
        onProgress: scanProgressPrinter(ctx, repeat),
      };
      if (ncOnly) report = await withFlagNames({ ...ONNX_STATEMENT_FLAGS, ...FLAGS }, () => scanModel(scanOptions));
      else {
        const { runDetectors } = await import('../cleanse/detectors/run.js');
        multi = await withFlagNames({ ...ONNX_STATEMENT_FLAGS, ...FLAGS, trainData: '--train-data', detectors: '--detectors' }, () =>
          runDetectors({
            ...scanOptions,
            detectors,
            ...(v['train-data'] !== undefined ? { trainData: v['train-data'] } : {}),
            ...(v['knn-reference'] !== undefined ? { knnReference: v['knn-reference'] } : {}),
            onDetector: detectorProgressPrinter(ctx),
          }),
        );
      }
    } catch (e) {
      // An interruption the user asked for is not a failure: the shell's convention for Ctrl-C.
      if (controller.signal.aborted && e instanceof PoisonguardError && e.code === 'interrupted') {
        ctx.err(`poisonguard scan: ${e.message}`);
        return EXIT_INTERRUPTED;
      }
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (multi) {
      if (v.json) {
        ctx.out(JSON.stringify(multi.report, null, 2));
        return 0;
      }
      for (const [name, r] of Object.entries(multi.ncReports)) {
        ctx.out(`— ${name}: ${DETECTORS[name].title}`);
        printScanSummary(r, ctx);
      }
      printDetectorsSummary(multi.report, ctx);
      if (v.out !== undefined) ctx.out(`written to ${v.out}/detectors.json${Object.keys(multi.ncReports).length ? ' (and each Neural Cleanse scan\'s scan.json)' : ''}`);
      ctx.out(`scan took ${multi.report.seconds.toFixed(1)} s`);
      return 0;
    }
    report = report!;
    if (v.json) {
      ctx.out(JSON.stringify(report, null, 2));
      return 0;
    }
    printScanSummary(report, ctx);
    if (v.out !== undefined) ctx.out(`written to ${v.out}/scan.json`);
    ctx.out(`scan took ${report.seconds.toFixed(1)} s`);
    return 0;
  },
};

function fmt(x: number, d = 2): string {
  return Number.isFinite(x) ? x.toFixed(d) : String(x);
}

/** The scan's progress lines (stderr), for this command and the ones that run a scan (`demo`, `reproduce`). */
export function scanProgressPrinter(ctx: CommandContext, repeat: number): (p: ScanProgress) => void {
  return (p) => {
    if (p.kind === 'escalate') {
      ctx.err(`fast verdict ${p.why === 'near-threshold' ? 'clean but near the flag threshold' : 'suspicious'} (${p.reason}) — escalating: ${p.labels.length} budget-stopped label(s) continue with the full recipe`);
      return;
    }
    if (ctx.quiet) return;
    const run = repeat > 1 ? `seed ${p.seed} ` : '';
    switch (p.kind) {
      case 'step':
        if (p.step % LOG_EVERY_STEPS === 0 || p.step === 1) {
          ctx.err(
            `${run}label ${p.label}: step ${p.step}/${p.maxSteps} cost ${p.cost.toExponential(2)} accuracy ${(100 * p.accuracy).toFixed(1)}% ` +
              `norm ${fmt(p.norm)} best ${fmt(p.bestNorm)}`,
          );
        }
        break;
      case 'skipped':
        ctx.err(`${run}label ${p.label}: already done (checkpoint)`);
        break;
      case 'resumed':
        ctx.err(`${run}label ${p.label}: resuming at step ${p.steps}`);
        break;
      case 'retired':
        ctx.err(`${run}label ${p.label}: retired at step ${p.steps} (norm ${fmt(p.norm)}: cannot become the outlier)`);
        break;
      case 'label-done': {
        const r = p.result;
        ctx.err(
          `${run}label ${r.label}: done — norm ${fmt(r.norm)}, accuracy ${(100 * r.accuracy).toFixed(1)}%${r.reachedThreshold ? '' : ' (threshold NOT reached: last mask)'}, ` +
            `${r.steps} steps (${r.stopReason}), ${r.seconds.toFixed(1)} s, ${r.msPerStep.toFixed(0)} ms/step`,
        );
        break;
      }
    }
  };
}

/** The scan's summary: per-seed outlier statistics, the label table, escalation and verdict. */
export function printScanSummary(report: ScanReport, ctx: CommandContext): void {
  ctx.out(`model: ${report.model.dir} (${report.model.numClasses} classes, ${report.model.inputShape.join('x')}); model engine ${report.modelEngine.engine === 'onnx' ? 'onnxruntime (ONNX)' : `TF.js ${report.backend}`}, ${report.workers} worker(s)${report.workers < report.workersRequested ? ` (of ${report.workersRequested} asked: capped at the labels to run and the ${availableParallelism()} cores)` : ''}`);
  // The jaccard column compares masks: only a patch trigger has one (blend, SIG and WaNet cover the whole image).
  const patch = report.model.trigger !== null && (report.model.trigger.kind === 'square' || report.model.trigger.kind === 'pattern');
  for (const run of report.runs) {
    ctx.out(`seed ${run.seed}: median ${fmt(run.outliers.centre)}, MAD ${fmt(run.outliers.spread)}, anomaly index ${fmt(run.outliers.anomalyIndex)} (label ${run.outliers.minLabel}); flagged: ${run.outliers.flagged.join(', ') || 'none'}`);
    ctx.out('  label   norm  index  acc     steps  seconds' + (patch ? '  jaccard' : ''));
    for (const l of run.labels) {
      ctx.out(
        `  ${String(l.label).padStart(5)} ${fmt(l.norm).padStart(6)} ${fmt(l.anomalyIndex ?? NaN).padStart(6)}  ${(100 * l.accuracy).toFixed(1).padStart(5)}%${l.reachedThreshold ? ' ' : '*'} ${String(l.steps).padStart(5)} ${l.seconds.toFixed(1).padStart(8)}` +
          (l.overlap ? `  ${l.overlap.jaccard.toFixed(2)}` : '') +
          (l.flagged ? '  <- flagged' : ''),
      );
    }
  }
  if (report.runs.some((r) => r.labels.some((l) => !l.reachedThreshold))) ctx.out('  (* threshold never reached: the last mask is reported)');
  if (patch) ctx.out(`  jaccard: reversed mask ≥ 0.5 against the real trigger (metadata.json; target ${report.model.target})`);
  if (report.runs.length > 1) {
    const a = report.spread.anomalyIndex;
    ctx.out(
      `spread over ${report.runs.length} scans: anomaly index mean ${fmt(a.mean)} ± ${fmt(a.sd)} (min ${fmt(a.min)}, max ${fmt(a.max)}); ` +
        `smallest-norm label per scan: ${report.spread.smallestLabel.join(', ')}`,
    );
  }
  const esc = report.escalation;
  if (esc) {
    ctx.out(
      `fast mode escalated: the budget's verdict was ${esc.fastVerdict.status}${esc.why === 'near-threshold' ? ', near the flag threshold' : ''} (` +
        esc.fastRuns.map((r) => `index ${fmt(r.anomalyIndex)}, label ${r.minLabel}, second statistic ${fmt(r.secondary)}`).join('; ') +
        `); ${esc.labels.length} budget-stopped label(s) continued with the full recipe` +
        (esc.missing.length ? `; ${esc.missing.length} could not (no saved state)` : ''),
    );
  }
  const vd = report.verdict;
  ctx.out(`verdict: ${vd.status.toUpperCase()}${vd.labels.length ? ` (label ${vd.labels.join(', ')})` : ''} — recommendation: ${vd.recommendation}`);
  ctx.out(`  ${vd.reason}`);
  ctx.out(`  decision threshold ${vd.decisionThreshold.toFixed(2)} (${vd.thresholdSource})`);
}

/** The detectors' progress lines (stderr). */
function detectorProgressPrinter(ctx: CommandContext): (p: DetectorProgress) => void {
  return (p) => {
    if (ctx.quiet) return;
    if (p.kind === 'start') ctx.err(`detector ${p.detector}: running`);
    else if (p.kind === 'mmbd-label') ctx.err(`mmbd: label ${p.label} (${p.done}/${p.of}): maximum margin ${fmt(p.margin)}`);
    else if (p.kind === 'strip' && (p.done % 100 === 0 || p.done === p.of)) ctx.err(`strip: ${p.phase} inputs ${p.done}/${p.of}`);
    else if (p.kind === 'done') ctx.err(`detector ${p.result.detector}: done in ${p.result.seconds.toFixed(1)} s`);
  };
}

/** Each detector's answer, the combined verdict and its rule, and what the chosen detectors are known to miss. */
export function printDetectorsSummary(report: DetectorsReport, ctx: CommandContext): void {
  ctx.out('detectors:');
  for (const r of report.results) {
    const vote = DETECTORS[r.detector]?.noVote !== undefined ? ' (reports, does not vote)' : r.abstains !== undefined ? ` (abstains: ${r.abstains})` : '';
    ctx.out(
      `  ${r.detector.padEnd(9)} score ${fmt(r.score, 3).padStart(8)} (threshold ${fmt(r.threshold, 3)}) ${r.backdoored ? 'BACKDOORED' : 'clean     '}${vote} ` +
        `flagged: ${r.flagged.join(', ') || 'none'} — ${r.scoreMeaning}; ${r.seconds.toFixed(1)} s`,
    );
  }
  const c = report.combined;
  ctx.out(`combined verdict: ${c.status.toUpperCase()}${c.by.length ? ` (by ${c.by.join(', ')}; labels ${c.labels.join(', ') || 'none'})` : ''}; combined score ${fmt(c.score, 3)}`);
  ctx.out(`  rule: ${c.rule}`);
  ctx.out('known to miss (from the literature; docs/RESULTS.md measures it):');
  for (const d of report.detectors) {
    const m = report.misses.filter((x) => x.detector === d);
    ctx.out(`  ${d}: ${m.map((x) => x.family).join(', ') || 'none reported'}`);
  }
  ctx.out(`  missed by every chosen detector: ${report.missedByAll.join(', ') || 'none'}`);
}
