/** `poisonguard mitigate`: Neural Cleanse mitigation — input filter, neuron pruning or unlearning. */
import * as D from '../cleanse/mitigation/defaults.js';
import { DEFAULT_SEED } from '../random.js';
import { engineHelp } from '../nn/engine-choice.js';
import type { Command } from './command.js';
import { intListOption, intOption, numberOption, seedOption, withFlagNames } from './command.js';
import type { MitigateOptions } from '../cleanse/mitigation/mitigate.js';
import type { Metrics } from '../cleanse/mitigation/measure.js';
import { progressBar, type ProgressBar } from './progress.js';

// Defaults shown in the help come from the library's tf-free defaults module.
const options = {
  model: { type: 'string', required: true, value: 'DIR|FILE', help: 'Model folder written by `poisonguard train`, or an ONNX file (or a folder holding model.onnx) scanned before, whose sidecar says its preprocessing and dataset.' },
  scan: { type: 'string', required: true, value: 'DIR', help: 'Scan folder of this model, written by `poisonguard scan --out DIR` (scan.json, seed-S/label-NN.json).' },
  method: { type: 'string', required: true, value: 'NAME', help: "'filter' (input filter), 'prune' (neuron pruning), 'unlearn' (fine-tuning with the reversed trigger under true labels), or 'all' (each from the original model into OUT/<method>, one combined mitigation.json in OUT)." },
  label: { type: 'string', value: 'L[,L...]', help: "Label(s) to mitigate, e.g. 1,5: each one's reversed trigger from the scan, all removed in one run (default: every label the scan flagged)." },
  out: { type: 'string', value: 'DIR', help: 'Output folder: the patched model (prune, unlearn) or filter.json (filter), and mitigation.json.' },
  'data-dir': { type: 'string', value: 'DIR', help: "The dataset's folder (default: where metadata.json's dataset lives)." },
  layer: { type: 'string', value: 'NAME', help: `Layer of the filter and pruning: 'penultimate' (the paper's; for an ONNX model the input of the last Gemm/MatMul — pruning takes the last convolution's output when that one is a residual sum), 'last-conv', or a layer name (ONNX: a value or node name) (default ${D.DEFAULT_LAYER}).` },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'Seed of the data draws and the fine-tuning order.' },
  'defense-images': { type: 'string', value: 'N', help: `Clean training images for the neuron ranking, and as many again for the filter calibration (default ${D.DEFAULT_DEFENSE_IMAGES}).` },
  fpr: { type: 'string', value: 'X', help: `Filter: false positive rate of the threshold on clean inputs (default ${D.DEFAULT_FPR}, the paper's).` },
  'top-share': { type: 'string', value: 'X', help: `Filter: share of the ranked neurons in the activation profile (default ${D.DEFAULT_TOP_SHARE}, the paper's, at least one neuron; on a narrow layer, e.g. 64 units, that is one neuron and a larger share catches more, see docs/RESULTS.md).` },
  'asr-threshold': {
    type: 'string',
    value: 'X|baseline',
    help: `Pruning: stop once the reversed trigger's ASR on the defender's images is under X; 'baseline' (the default): once stamped images go to the target no more often than the same images unstamped (a sign test at 5%).`,
  },
  'max-share': { type: 'string', value: 'X', help: `Pruning: never prune more than this share of the layer (default ${D.DEFAULT_MAX_SHARE}).` },
  'curve-step': { type: 'string', value: 'X', help: `Pruning: spacing of the accuracy/ASR curve, as a share of the layer (default ${D.DEFAULT_CURVE_STEP}).` },
  'fine-tune-epochs': { type: 'string', value: 'N', help: `Pruning: epochs of clean fine-tuning afterwards, pruned neurons kept at zero (default ${D.DEFAULT_PRUNE_FINE_TUNE_EPOCHS}).` },
  'unlearn-share': { type: 'string', value: 'X', help: `Unlearning (and fine-tuning): share of the training data used (default ${D.DEFAULT_UNLEARN_SHARE}, the paper).` },
  'stamped-share': { type: 'string', value: 'X', help: `Unlearning: share of those images stamped with the reversed trigger, true labels kept (default ${D.DEFAULT_STAMPED_SHARE}, the paper).` },
  epochs: { type: 'string', value: 'N', help: `Unlearning: epochs (default ${D.DEFAULT_UNLEARN_EPOCHS}, the paper).` },
  'learning-rate': { type: 'string', value: 'X', help: `Unlearning and fine-tuning: Adam's learning rate (default ${D.DEFAULT_UNLEARN_LEARNING_RATE}, the training recipe's).` },
  batch: { type: 'string', value: 'B', help: `Unlearning and fine-tuning: mini-batch size (default ${D.DEFAULT_UNLEARN_BATCH_SIZE}).` },
  backend: { type: 'string', value: 'NAME', help: 'TF.js backend: auto, tensorflow, wasm or cpu (TF.js model folders only).' },
  engine: { type: 'string', value: 'NAME', help: `Unlearning and fine-tuning: ${engineHelp('training steps')}` },
  json: { type: 'boolean', help: 'Print mitigation.json to stdout instead of the summary.' },
  force: { type: 'boolean', help: 'Use a non-empty --out: the files a mitigation writes (model, filter.json, mitigation.json) are replaced there; other files are kept.' },
} as const;

/** The flag of each library option, to name it in errors. */
const FLAGS: Readonly<Partial<Record<keyof MitigateOptions, string>>> = {
  model: '--model',
  scan: '--scan',
  method: '--method',
  label: '--label',
  dataDir: '--data-dir',
  layer: '--layer',
  seed: '--seed',
  defenseImages: '--defense-images',
  fpr: '--fpr',
  topShare: '--top-share',
  asrThreshold: '--asr-threshold',
  maxShare: '--max-share',
  curveStep: '--curve-step',
  fineTuneEpochs: '--fine-tune-epochs',
  unlearnShare: '--unlearn-share',
  stampedShare: '--stamped-share',
  epochs: '--epochs',
  learningRate: '--learning-rate',
  batchSize: '--batch',
  out: '--out',
  force: '--force',
  backend: '--backend',
  engine: '--engine',
};

const PHASE_LABELS: Readonly<Record<string, string>> = {
  'evaluate-before': 'evaluate (before)',
  rank: 'rank neurons',
  calibrate: 'calibrate filter',
  features: 'features',
  'prune-search': 'prune search',
  'prune-curve': 'pruning curve',
  'fine-tune': 'fine-tune',
  'evaluate-after': 'evaluate (after)',
};

export const mitigateCommand: Command<typeof options> = {
  name: 'mitigate',
  summary: "Neural Cleanse mitigation of a scanned model's backdoor: input filter, neuron pruning or unlearning.",
  description: `
Uses the reversed trigger of each label the scan flagged, or of each label given with --label (the
scan must be of this very model: the SHA-256 over its folder's files must match scan.json's).
Several labels are mitigated together: the filter flags an input when any label's profile exceeds its
threshold (thresholds set together for the FPR), pruning ranks neurons by their largest gap under
any reversed trigger and stops once none works, unlearning splits its stamped share across them. Neurons of the second-to-last layer are
ranked by how much more they fire on clean training images stamped with the reversed trigger.
  filter   profile = mean activation of the top ${100 * D.DEFAULT_TOP_SHARE}% neurons; threshold for a ${100 * D.DEFAULT_FPR}% FPR on clean images;
           writes filter.json (apply it with 'poisonguard filter').
  prune    zeroes neurons in ranking order until the reversed trigger no longer works: stamped images go to
           the target no more often than unstamped ones, up to chance (a sign test at 5%), or up to the
           maximum share; writes the pruned model (the neurons stay zero in any fine-tuning).
  unlearn  fine-tunes ${D.DEFAULT_UNLEARN_EPOCHS} epoch on ${100 * D.DEFAULT_UNLEARN_SHARE}% of the training data, ${100 * D.DEFAULT_STAMPED_SHARE}% of it (images of other labels than
           the target) stamped with the reversed trigger under their TRUE labels; writes the model.
Every figure (clean accuracy, ASR of the real trigger when metadata.json names it, of every other
backdoor it records as 'evaluate' measures them, ASR of the reversed trigger; before and after) is
measured on the test split.

Example: poisonguard mitigate --model runs/mnist-badnets --scan runs/scan-mnist-badnets --method unlearn --out runs/mnist-unlearned`,
  options,
  async run(v, _pos, ctx) {
    const { checkOneOf } = await import('../options.js');
    const { MITIGATION_METHODS, MITIGATION_JSON, mitigateModel, combineReports, mitigationFolderFiles } = await import('../cleanse/mitigation/mitigate.js');
    const { optionsForMethod } = await import('../cleanse/mitigation/recipe.js');
    const method = checkOneOf('--method', v.method, [...MITIGATION_METHODS, 'all'] as const);
    const num = (name: keyof typeof options): number | undefined => numberOption(name, v[name] as string | undefined);
    const int = (name: keyof typeof options): number | undefined => intOption(name, v[name] as string | undefined);
    const given = <T>(key: string, value: T | undefined): Record<string, T> => (value === undefined ? {} : { [key]: value });
    const bars = new Map<string, ProgressBar>();
    let current: string | undefined;
    // The recipe's options given on the command line; with 'all', each method gets the ones it reads.
    const recipeOptions = {
      ...given('layer', v.layer),
      ...given('defenseImages', int('defense-images')),
      ...given('fpr', num('fpr')),
      ...given('topShare', num('top-share')),
      ...given('asrThreshold', v['asr-threshold'] === 'baseline' ? ('baseline' as const) : num('asr-threshold')),
      ...given('maxShare', num('max-share')),
      ...given('curveStep', num('curve-step')),
      ...given('fineTuneEpochs', int('fine-tune-epochs')),
      ...given('unlearnShare', num('unlearn-share')),
      ...given('stampedShare', num('stamped-share')),
      ...given('epochs', int('epochs')),
      ...given('learningRate', num('learning-rate')),
      ...given('batchSize', int('batch')),
    };
    const runOne = (m: (typeof MITIGATION_METHODS)[number], out: string | undefined) => withFlagNames(FLAGS, () => mitigateModel({
      model: v.model,
      scan: v.scan,
      method: m,
      seed: seedOption('seed', v.seed)!,
      ...given('label', intListOption('label', v.label)),
      ...given('out', out),
      force: v.force,
      ...given('dataDir', v['data-dir']),
      ...(method === 'all' ? optionsForMethod(recipeOptions, m) : recipeOptions),
      ...(v.backend !== undefined ? { backend: v.backend as never } : {}),
      ...(v.engine !== undefined ? { engine: v.engine as never } : {}),
      onProgress: (p) => {
        if (current !== p.phase) {
          if (current !== undefined) bars.get(current)?.stop();
          current = p.phase;
          // Without a terminal (a log file), one line per phase instead of a bar.
          if (!ctx.interactive && !ctx.quiet) ctx.err(`${new Date().toISOString()} ${PHASE_LABELS[p.phase] ?? p.phase} (${p.total})`);
          bars.set(p.phase, progressBar(PHASE_LABELS[p.phase] ?? p.phase, p.total, ctx.interactive));
        }
        bars.get(p.phase)!.update(Math.min(p.done, p.total));
      },
    }));
    let report;
    if (method === 'all') {
      // Each method from the original model, into out/<method>; one combined mitigation.json in out.
      const { join } = await import('node:path');
      const { writeJsonAtomic } = await import('../run-files.js');
      if (v.out !== undefined) {
        // The whole folder is claimed before the first method runs (each method claims its own sub-folder).
        const { claimOutputDir } = await import('../outputs.js');
        const { MODEL_FOLDER_FILES } = await import('../nn/model-io.js');
        const { isOnnxModelPath } = await import('../nn/onnx-model.js');
        const { ONNX_MODEL_FOLDER_FILES } = await import('../cleanse/mitigation/onnx-net.js');
        const own = mitigationFolderFiles(isOnnxModelPath(v.model) ? ONNX_MODEL_FOLDER_FILES : MODEL_FOLDER_FILES);
        claimOutputDir(v.out, { option: '--out', existing: 'fresh', force: v.force, own, foreign: 'keep', notOver: [{ path: v.model, what: 'the model' }] });
      }
      const reports = [];
      for (const m of MITIGATION_METHODS) {
        current = undefined;
        const r = await runOne(m, v.out === undefined ? undefined : join(v.out, m));
        if (current !== undefined) bars.get(current)?.stop();
        reports.push(r);
        if (r.nothingToMitigate) break;
        if (!v.json) ctx.out(`${m}: ${m === 'filter' ? 'through the filter: ' : ''}${r.after ? describeMetrics(r.after, r.targetLabels) : 'done'}`);
      }
      report = reports.length === 1 ? reports[0] : combineReports(reports);
      if (v.out !== undefined) writeJsonAtomic(join(v.out, MITIGATION_JSON), report);
    } else {
      report = await runOne(method, v.out);
    }
    if (current !== undefined) bars.get(current)?.stop();
    if (v.json) {
      ctx.out(JSON.stringify(report, null, 2));
      return 0;
    }
    if (report.nothingToMitigate) {
      ctx.out(`nothing to mitigate: ${report.labelReason}`);
      return 0;
    }
    const pct = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
    const line = (name: string, m: Metrics): string => `${name}: ${describeMetrics(m, report.targetLabels)}`;
    ctx.out(`model: ${report.model} (backend ${report.backend})`);
    ctx.out(`mitigating ${report.labelReason}${report.layer ? `; layer ${report.layer.name} (${report.layer.units} ${report.layer.kind === 'dense' ? 'units' : 'channels'})` : ''}`);
    if (report.backdoors) ctx.out(`recorded backdoors: ${report.backdoors.map((b, i) => `#${i + 1} ${b.description}`).join('; ')}`);
    if (report.before) ctx.out(line('before', report.before));
    if (report.filter) {
      const f = report.filter;
      const several = f.profiles.length > 1;
      const profile = several ? `profiles of labels ${f.profiles.map((p) => `${p.label} (${p.neuronIndices.length} neuron(s), threshold ${p.threshold.toFixed(4)})`).join(', ')}, set together` : `${f.neurons} neuron(s), threshold ${f.threshold?.toFixed(4)}`;
      const fnrReversed = several ? `FNR reversed triggers ${f.profiles.map((p, j) => `${p.label}: ${pct(f.fnrReversedByLabel[j])}`).join(', ')}` : `FNR reversed trigger ${pct(f.fnrReversed)}`;
      const fnrReal =
        f.fnrByBackdoor && f.fnrSuccessfulByBackdoor
          ? `FNR real triggers ${f.fnrByBackdoor.map((x, i) => `#${i + 1} ${pct(x)}${f.fnrSuccessfulByBackdoor![i] !== null ? ` (${pct(f.fnrSuccessfulByBackdoor![i])} of those it succeeded on)` : ''}`).join(', ')}`
          : `FNR real trigger ${report.realTrigger ? pct(f.fnr) : 'n/a'}${f.fnrSuccessful !== null ? ` (${pct(f.fnrSuccessful)} of the stamped inputs the backdoor sends to the target)` : ''}`;
      ctx.out(`filter: ${profile} for FPR ${pct(f.fpr)}; on the test split FPR ${pct(f.measuredFpr)}, ${fnrReal}, ${fnrReversed}`);
      if (report.after) ctx.out(line('through the filter (rejected = neither correct nor attacked)', report.after));
    }
    if (report.pruning) {
      const pr = report.pruning;
      const search =
        pr.searchByLabel.length > 1
          ? pr.searchByLabel.map((b) => `${b.label}: ${pct(b.asr)}${b.baseline !== null ? ` (unstamped: ${pct(b.baseline)})` : ''}`).join(', ')
          : `${pct(pr.searchAsr)}${pr.searchBaseline !== null ? ` (unstamped: ${pct(pr.searchBaseline)})` : ''}`;
      ctx.out(`pruned ${pr.pruned.length} of ${report.layer?.units} neurons (${pct(pr.stopShare)}); reversed-trigger ASR on the defender's images ${search}${pr.reachedThreshold ? '' : ' (stop NOT reached)'}`);
    }
    if (report.trainingEngine) ctx.out(`fine-tuning engine: ${report.trainingEngine.engine === 'onnx' ? 'onnxruntime (native graph engine)' : 'TF.js'} (${report.trainingEngine.reason})`);
    if (report.unlearning) {
      const u = report.unlearning;
      const split = u.stampedByLabel.length > 1 ? ` (${u.stampedByLabel.map((b) => `${b.stamped} with label ${b.label}'s trigger`).join(', ')})` : '';
      ctx.out(`unlearned on ${u.images} training images, ${u.stamped} stamped${split} (true labels kept), ${u.epochs} epoch(s)`);
    }
    if (report.after && !report.filter) ctx.out(line('after', report.after));
    for (const n of report.notes) ctx.out(`note: ${n}`);
    if (report.output?.model) ctx.out(`patched model written to ${report.output.model}`);
    if (report.output?.filter) ctx.out(`filter written to ${report.output.filter}`);
    if (v.out !== undefined) ctx.out(`mitigation.json written to ${v.out}`);
    ctx.out(`done in ${report.seconds.toFixed(1)} s`);
    return 0;
  },
};

/**
 * Clean accuracy and the ASRs, in one line (several labels: each reversed trigger's ASR; several
 * recorded backdoors or an all-to-all one: each one's, numbered as the 'recorded backdoors' line).
 */
function describeMetrics(m: Metrics, labels: readonly number[] | undefined): string {
  const p = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);
  const reversed =
    labels && labels.length > 1 ? `ASR reversed triggers ${labels.map((l, j) => `${l}: ${p(m.asrReversedByLabel[j])}`).join(', ')}` : `ASR reversed trigger ${p(m.asrReversed)}`;
  const real = m.asrByBackdoor ? `ASR real triggers ${m.asrByBackdoor.map((a, i) => `#${i + 1} ${p(a)}`).join(', ')}` : `ASR real trigger ${p(m.asrReal)}`;
  return `clean accuracy ${p(m.cleanAccuracy)}, ${real}, ${reversed}`;
}
