/**
 * Neural Cleanse mitigation (Wang et al., IEEE S&P 2019, §VI; the authors' release has none):
 * given a model and its scan, take the flagged label's reversed trigger and
 *  - 'filter': build an input filter on the second-to-last layer (filter.ts);
 *  - 'prune': zero that layer's most trigger-excited neurons until the reversed trigger fails (prune.ts);
 *  - 'unlearn': fine-tune 1 epoch on 10% of the training data, 20% stamped under true labels (unlearn.ts);
 * and measure clean accuracy and the ASR of the real trigger (when metadata.json names it) and of
 * the reversed one on the test split, before and after.
 *
 * Data: the defender's clean images (ranking, filter calibration, the pruning stop) are drawn
 * (seeded) from the TRAINING split, two disjoint sets; every reported figure is on the test split.
 * Writes to `out`: the patched model (prune, unlearn; metadata.json says what was done) or
 * filter.json (filter; the model is unchanged), and mitigation.json, whose fields also follow the
 * looser `MitigationSummary` (summary.ts) that the report reads.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ImageSet } from '../../data/images.js';
import { subset } from '../../data/images.js';
import { OptionError, ShapeError } from '../../errors.js';
import type { BackendChoice } from '../../nn/engine.js';
import type { ModelEngineChoice } from '../../nn/engine-choice.js';
import { describeAttack, describeTrigger } from '../../nn/trigger.js';
import { Random } from '../../random.js';
import type { AccuracyAsr } from './summary.js';
import type { ModelEngineDecision } from '../../nn/onnx-gradient.js';
import { writeJsonAtomic } from '../../run-files.js';
import { claimOutputDir, ownFiles, type OwnFiles } from '../../outputs.js';
import { activationProfiles, CURVE_FPRS, filterCurve, flaggedShare, makeFilter, profileNeurons, type InputFilter } from './filter.js';
import type { MitigationLayer } from './layers.js';
import { locateLayersModelFolder, openLayersNet, readLayersModelFolder } from './layers-net.js';
import { evaluationSets, metricsOf, type Metrics } from './measure.js';
import type { LayerProbe } from './net.js';
import { ONNX_MODEL_FOLDER_FILES, onnxNet, readOnnxForMitigation } from './onnx-net.js';
import { curveCounts, pruningCurve, searchPruning } from './prune.js';
import { rankNeurons, type NeuronRanking } from './ranking.js';
import { checkScanModel, chooseLabel, readReversedTrigger, readScanSource, stampReversed } from './reversed-trigger.js';
import { unlearningSet } from './unlearn.js';

import type { MitigationReport } from './report.js';
import { MITIGATION_METHODS, resolveMitigationRecipe, type MitigationRecipeOptions } from './recipe.js';

export { MITIGATION_METHODS, type MitigationMethod, type MitigationRecipe } from './recipe.js';
export { MITIGATION_JSON } from './report.js';
import { MITIGATION_JSON, shownFigures, unlearningSummary } from './report.js';
export const FILTER_JSON = 'filter.json';

/** What a mitigation writes into its output folder (what `force` replaces there), given a model folder's files; `all` writes one such folder per method. */
export function mitigationFolderFiles(modelFiles: OwnFiles): OwnFiles {
  const one = ownFiles(modelFiles, { files: [MITIGATION_JSON, FILTER_JSON] });
  return ownFiles(one, { files: [], dirs: MITIGATION_METHODS.map((m) => ({ name: m, holds: one })) });
}
export { DEFAULT_DEFENSE_IMAGES } from './defaults.js';
/** Neurons of the ranking listed in mitigation.json. */
const RANKING_LISTED = 20;

/** A mitigation's options: the recipe's (recipe.ts, with their defaults) and where things are. */
export interface MitigateOptions extends MitigationRecipeOptions {
  /** Model folder (model.json, weights, metadata.json), or a user's ONNX file or folder holding model.onnx (its sidecar saying the preprocessing and dataset). */
  readonly model: string;
  /** Scan folder written by `poisonguard scan --out` (scan.json, seed-S/label-NN.json). */
  readonly scan: string;
  /** Label to mitigate; default the scan's flagged label. */
  readonly label?: number;
  /** The dataset's folder (default: where the model's metadata says). */
  readonly dataDir?: string;
  /** Images given directly instead of the model's dataset (raw uint8 NHWC). */
  readonly data?: { readonly train: ImageSet; readonly test: ImageSet; readonly name?: string };
  /** Output folder; none: nothing written. Must be new or empty, unless `force`. */
  readonly out?: string;
  /** Use a non-empty `out`: the files a mitigation writes are replaced there (others are kept). */
  readonly force?: boolean;
  readonly backend?: BackendChoice;
  /** Where unlearning's and pruning's fine-tuning steps run (default 'auto': native where the engine takes the model, else TF.js). */
  readonly engine?: ModelEngineChoice;
  readonly onProgress?: (p: MitigateProgress) => void;
}

export interface MitigateProgress {
  readonly phase: 'evaluate-before' | 'rank' | 'calibrate' | 'features' | 'prune-search' | 'prune-curve' | 'fine-tune' | 'evaluate-after';
  readonly done: number;
  readonly total: number;
}

/** Runs one mitigation (see the module comment). */
export async function mitigateModel(options: MitigateOptions): Promise<MitigationReport> {
  const start = performance.now();
  const recipe = resolveMitigationRecipe(options);
  const { method, seed } = recipe;
  const progress = options.onProgress ?? (() => {});
  const { isOnnxModelPath } = await import('../../nn/onnx-model.js');
  const onnx = isOnnxModelPath(options.model);
  if (onnx) {
    if (options.backend !== undefined) throw new OptionError('backend', 'absent for an ONNX model (it runs on the native engine)', options.backend);
    if (options.engine === 'tfjs') throw new OptionError('engine', "'onnx' or 'auto' for an ONNX model (it runs on the native engine only)", options.engine);
  }
  const modelDir = onnx ? undefined : locateLayersModelFolder(options.model);
  const { MODEL_FOLDER_FILES } = await import('../../nn/model-io.js');
  // Claimed before the work; compared by real path, so that a link to the model cannot replace the original.
  const out =
    options.out === undefined
      ? undefined
      : claimOutputDir(options.out, {
          option: 'out',
          existing: 'fresh',
          force: options.force,
          own: mitigationFolderFiles(onnx ? ONNX_MODEL_FOLDER_FILES : MODEL_FOLDER_FILES),
          foreign: 'keep',
          notOver: [{ path: modelDir ?? resolve(options.model), what: modelDir ? 'the model folder' : 'the model' }],
        });
  // After the claim: a link to the model folder as --out is refused for what it is, before any file is read.
  const folder = modelDir === undefined ? undefined : await readLayersModelFolder(modelDir);
  const scan = readScanSource(options.scan);
  const onnxModel = onnx ? readOnnxForMitigation(options.model, scan, options.data !== undefined) : undefined;
  const sha = onnxModel ? onnxModel.sha256 : checkScanModel(scan, folder!.dir);
  const realTrigger = onnxModel
    ? onnxModel.metadata.trigger && onnxModel.metadata.target !== undefined && onnxModel.metadata.target !== null
      ? { trigger: onnxModel.metadata.trigger, target: onnxModel.metadata.target }
      : null
    : folder!.metadata.trigger !== null && folder!.metadata.target !== null
      ? { trigger: folder!.metadata.trigger, target: folder!.metadata.target }
      : null;
  const asrShown = realTrigger ? 'real' : 'reversed';
  const notes: string[] = [];
  const choice = chooseLabel(scan, options.label);
  const base = {
    kind: 'mitigation' as const,
    method,
    recipe,
    model: onnxModel?.file ?? folder!.dir,
    modelSha256: sha,
    scan: scan.dir,
    labelReason: choice.reason,
    realTrigger: realTrigger ? { target: realTrigger.target, description: describeTrigger(realTrigger.trigger) } : null,
    asrShown,
    dataset: onnxModel ? (onnxModel.metadata.dataset ?? 'given') : folder!.metadata.dataset,
    seed,
  } satisfies Partial<MitigationReport>;
  if (choice.label === null) {
    const report: MitigationReport = { ...base, nothingToMitigate: true, backend: onnx ? 'onnxruntime' : 'none', seconds: (performance.now() - start) / 1000, date: new Date().toISOString(), notes: [choice.reason] };
    if (out) {
      mkdirSync(out, { recursive: true });
      writeJsonAtomic(join(out, MITIGATION_JSON), report);
    }
    return report;
  }
  const label = choice.label;
  const reversed = readReversedTrigger(scan, label);
  if (realTrigger && realTrigger.target !== label) notes.push(`The scan's label ${label} is not the real trigger's target ${realTrigger.target} (the model's records): the real trigger's ASR is measured to ${realTrigger.target}.`);
  // Several backdoors, or an all-to-all one: the real ASR covers the first backdoor with a target, or none.
  const recorded = folder?.metadata.backdoors ?? [];
  if (recorded.length > 1 || (recorded.length === 1 && realTrigger === null)) {
    notes.push(`The model records ${recorded.length} backdoor(s) (${recorded.map(describeAttack).join('; ')}): the real-trigger ASR below is ${realTrigger ? `the first's only (-> ${realTrigger.target})` : 'not measured (all-to-all has no single target)'}.`);
  }

  const net = onnxModel ? onnxNet(onnxModel) : await openLayersNet(folder!.dir, folder!.metadata, sha, options.backend ?? 'auto');
  const probes: LayerProbe[] = [];
  // The engine of the fine-tuning steps (unlearning, pruning's fine-tune), recorded in the report.
  let trainingEngine: ModelEngineDecision | undefined;
  try {
    const [H, W, C] = net.inputShape;
    if (H !== reversed.height || W !== reversed.width || C !== reversed.channels) {
      throw new ShapeError('reversed trigger', `${H}x${W}x${C} (the model's input)`, `${reversed.height}x${reversed.width}x${reversed.channels}`);
    }
    const probe = recipe.method === 'unlearn' ? undefined : await net.probe(recipe.layer, recipe.method);
    if (probe) probes.push(probe);
    const layer = probe?.layer;
    if (probe?.note) notes.push(probe.note);

    // Data: the model's dataset, unless given.
    let data: { train: ImageSet; test: ImageSet; name: string };
    if (options.data) {
      data = { train: options.data.train, test: options.data.test, name: options.data.name ?? 'given' };
    } else {
      const { loadModelDataset } = await import('../../data/image-registry.js');
      const d = loadModelDataset(net.records.dataset!, options.dataDir, net.records.datasetSeed);
      data = { train: d.train, test: d.test, name: d.name };
    }
    for (const [what, s] of [['training', data.train], ['test', data.test]] as const) {
      if (s.height !== H || s.width !== W || s.channels !== C) throw new ShapeError(`${what} images`, `${H}x${W}x${C} (the model's input)`, `${s.height}x${s.width}x${s.channels}`);
    }
    const rng = new Random(seed);
    const sets = evaluationSets(data.test, realTrigger, reversed);
    const evalTotal = sets.clean.count + (sets.real?.count ?? 0) + sets.reversed.count;
    const beforePred = await net.predictSets(sets, (d) => progress({ phase: 'evaluate-before', done: d, total: evalTotal }));
    const before = metricsOf(beforePred, sets);
    const shown = (m: Metrics): AccuracyAsr => shownFigures(m, asrShown);
    const common = {
      ...base,
      dataset: data.name,
      targetLabel: label,
      nothingToMitigate: false,
      backend: net.backend,
      baseline: shown(before),
      before,
      ...(layer ? { layer: { name: layer.name, kind: layer.kind, units: layer.units, index: layer.index } } : {}),
    };

    // The defender's clean images: two disjoint draws from the training split.
    const order = rng.permutation(data.train.count);
    const d = Math.min(recipe.method === 'unlearn' ? 0 : recipe.defenseImages, Math.floor(data.train.count / 2));
    const rankSet = subset(data.train, order.subarray(0, d));
    const calibrationSet = subset(data.train, order.subarray(d, 2 * d));

    let ranking: NeuronRanking | undefined;
    const rankingSummary = (): MitigationReport['ranking'] =>
      ranking && {
        images: rankSet.count,
        top: ranking.order.slice(0, RANKING_LISTED).map((u) => ({ neuron: u, score: ranking!.scores[u], meanClean: ranking!.meanClean[u], meanStamped: ranking!.meanStamped[u] })),
      };
    if (probe) {
      const stamped = stampReversed(rankSet.images, reversed);
      const total = 2 * rankSet.count;
      const clean = await probe.perNeuron(rankSet.images, (n) => progress({ phase: 'rank', done: n, total }));
      const hot = await probe.perNeuron(stamped, (n) => progress({ phase: 'rank', done: rankSet.count + n, total }));
      ranking = rankNeurons(clean, hot, probe.layer.units);
    }

    let report: MitigationReport;
    if (recipe.method === 'filter') {
      const { fpr, topShare } = recipe;
      const L = layer!;
      const neurons = profileNeurons(ranking!.order, topShare);
      const cal = await probe!.perNeuron(calibrationSet.images, (n) => progress({ phase: 'calibrate', done: n, total: calibrationSet.count }));
      const calProfiles = activationProfiles(cal, L.units, neurons);
      let done = 0;
      const feat = async (s: ImageSet): Promise<Float64Array> => {
        const f = await probe!.perNeuron(s.images, (n) => progress({ phase: 'features', done: done + n, total: evalTotal }));
        done += s.count;
        return activationProfiles(f, L.units, neurons);
      };
      const cleanP = await feat(sets.clean);
      const realP = sets.real ? await feat(sets.real) : null;
      const revP = await feat(sets.reversed);
      const filter: InputFilter = makeFilter({ model: { dir: net.path, sha256: sha }, label, layer: L, neurons, topShare, calibration: calProfiles, fpr, preprocessing: net.records.preprocessing, inputShape: [H, W, C] });
      const t = filter.threshold;
      const curve = filterCurve(calProfiles, cleanP, realP, revP, [...new Set([...CURVE_FPRS, fpr])].sort((a, b) => a - b));
      const fnrReal = realP ? 1 - flaggedShare(realP, t) : null;
      const fnrReversed = 1 - flaggedShare(revP, t);
      // Through the filter: a rejected input is neither classified correctly nor attacked.
      const passed = (p: Float64Array, hit: (i: number) => boolean): number => {
        let k = 0;
        for (let i = 0; i < p.length; i++) if (p[i] <= t && hit(i)) k++;
        return p.length > 0 ? k / p.length : 0;
      };
      const after: Metrics = {
        cleanAccuracy: passed(cleanP, (i) => beforePred.clean[i] === sets.clean.labels[i]),
        asrReal: realP && beforePred.real ? passed(realP, (i) => beforePred.real![i] === sets.realTarget) : null,
        asrReversed: passed(revP, (i) => beforePred.reversed[i] === sets.reversedTarget),
      };
      // Of the stamped inputs the backdoor captures, the share that passes: the ASR through the filter over the ASR before.
      const fnrSuccessful = after.asrReal !== null && before.asrReal ? after.asrReal / before.asrReal : null;
      if (!realP) notes.push('The model records no real trigger: the FNR shown is that of the reversed trigger.');
      let file: string | undefined;
      if (out) {
        mkdirSync(out, { recursive: true });
        file = join(out, FILTER_JSON);
        writeJsonAtomic(file, filter);
      }
      report = {
        ...common,
        after,
        ranking: rankingSummary(),
        filter: {
          fpr,
          fnr: fnrReal ?? fnrReversed,
          fnrReversed,
          fnrSuccessful,
          measuredFpr: flaggedShare(cleanP, t),
          threshold: t,
          neurons: neurons.length,
          neuronIndices: neurons,
          layer: L.name,
          calibrationImages: calibrationSet.count,
          curve,
          ...(file ? { file } : {}),
        },
        ...(file ? { output: { filter: file } } : {}),
        seconds: 0,
        date: '',
        notes,
      };
    } else if (recipe.method === 'prune') {
      const { asrThreshold, maxShare, curveStep, fineTuneEpochs } = recipe;
      const L = layer!;
      const P = probe!;
      const rankOrder = ranking!.order;
      const defenseUnstamped = otherLabels(rankSet, label);
      const defenseReversed = { ...defenseUnstamped, images: stampReversed(defenseUnstamped.images, reversed) };
      const searchTotal = (asrThreshold === 'baseline' ? 2 : 1) * defenseReversed.count;
      const defense = { cached: await P.cache(defenseReversed.images, (n) => progress({ phase: 'features', done: n, total: searchTotal })), expected: label };
      const baselineSet =
        asrThreshold === 'baseline' ? { cached: await P.cache(defenseUnstamped.images, (n) => progress({ phase: 'features', done: defenseReversed.count + n, total: searchTotal })), expected: label } : undefined;
      const search = await searchPruning(P, rankOrder, defense, asrThreshold, maxShare, (k, max) => progress({ phase: 'prune-search', done: k, total: max }), baselineSet);
      const counts = curveCounts(L.units, curveStep, maxShare, search.pruned);
      const points = await pruningCurve(
        P,
        rankOrder,
        { clean: { images: sets.clean.images, expected: sets.clean.labels }, real: sets.real ? { images: sets.real.images, expected: sets.realTarget! } : null, reversed: { images: sets.reversed.images, expected: sets.reversedTarget } },
        counts,
        (n) => progress({ phase: 'prune-curve', done: n, total: evalTotal }),
      );
      const neurons = rankOrder.slice(0, search.pruned);
      net.prune(L, neurons);
      if (!search.reachedThreshold) {
        notes.push(
          `The reversed trigger still worked (ASR ${(100 * search.asr).toFixed(1)}% on the defender's images` +
            (search.baseline !== null ? ` against ${(100 * search.baseline).toFixed(1)}% of them unstamped` : '') +
            `) at the maximum share ${(100 * maxShare).toFixed(0)}%: the model is pruned that far, the goal is missed.`,
        );
      }
      if (recipe.fineTune) {
        const { share, learningRate, batchSize } = recipe.fineTune;
        const ft = subset(data.train, rng.sampleWithoutReplacement(data.train.count, Math.max(1, Math.round(share * data.train.count))));
        trainingEngine = await net.fineTune(ft, {
          ...(options.engine !== undefined ? { engine: options.engine } : {}),
          epochs: fineTuneEpochs,
          learningRate,
          batchSize,
          seed,
          onProgress: (p) => progress({ phase: 'fine-tune', done: (p.epoch - 1) * p.batches + p.batch, total: p.epochs * p.batches }),
        });
      }
      const finished = await net.finish(sets, (dn) => progress({ phase: 'evaluate-after', done: dn, total: evalTotal }));
      const after = finished.after;
      const prior = net.records.pruned;
      const keptNeurons = prior && prior.layer === L.name ? [...new Set([...prior.neurons, ...neurons])] : neurons;
      report = {
        ...common,
        after,
        ranking: rankingSummary(),
        pruning: {
          layer: L.name,
          points: points.map((p) => ({ ...p, accuracy: p.cleanAccuracy, asr: (asrShown === 'real' ? p.asrReal : p.asrReversed) ?? 0 })),
          stopShare: search.share,
          pruned: neurons,
          asrThreshold,
          maxShare,
          reachedThreshold: search.reachedThreshold,
          searchAsr: search.asr,
          searchBaseline: search.baseline,
          fineTuneEpochs,
        },
        seconds: 0,
        date: '',
        notes,
      };
      if (out) {
        const written = await finished.save(out, {
          method,
          label,
          scan: scan.dir,
          source: { dir: net.path, sha256: sha },
          pruned: { layer: L.name, neurons: keptNeurons },
          details: { pruned: neurons.length, share: search.share, asrThreshold, maxShare, reachedThreshold: search.reachedThreshold, fineTuneEpochs, ...(trainingEngine ? { engine: trainingEngine.engine } : {}) },
          previous: net.records.previous,
          date: new Date().toISOString(),
        });
        report = { ...report, output: { model: written } };
      }
    } else {
      const { share: unlearnShare, stampedShare, epochs, learningRate, batchSize } = recipe;
      const ul = unlearningSet(data.train, reversed, rng, unlearnShare, stampedShare);
      const prior = net.records.pruned;
      if (prior) notes.push(`${prior.neurons.length} neurons of layer ${prior.layer} pruned by an earlier mitigation are kept at zero during unlearning.`);
      trainingEngine = await net.fineTune(ul.set, {
        ...(options.engine !== undefined ? { engine: options.engine } : {}),
        epochs,
        learningRate,
        batchSize,
        seed,
        onProgress: (p) => progress({ phase: 'fine-tune', done: (p.epoch - 1) * p.batches + p.batch, total: p.epochs * p.batches }),
      });
      const finished = await net.finish(sets, (dn) => progress({ phase: 'evaluate-after', done: dn, total: evalTotal }));
      const after = finished.after;
      report = {
        ...common,
        after,
        unlearning: unlearningSummary(ul, label, { before, after, asrShown }, recipe, prior?.neurons.length ?? 0),
        seconds: 0,
        date: '',
        notes,
      };
      if (out) {
        const written = await finished.save(out, {
          method,
          label,
          scan: scan.dir,
          source: { dir: net.path, sha256: sha },
          pruned: prior,
          details: { images: ul.set.count, stamped: ul.stamped.length, epochs, learningRate, batchSize, unlearnShare, stampedShare, engine: trainingEngine.engine },
          previous: net.records.previous,
          date: new Date().toISOString(),
        });
        report = { ...report, output: { model: written } };
      }
    }
    if (asrShown === 'reversed') notes.push("The model's records name no trigger: every 'asr' shown for the report is the reversed trigger's.");
    report = { ...report, ...(trainingEngine ? { trainingEngine } : {}), after: report.after ?? before, seconds: (performance.now() - start) / 1000, date: new Date().toISOString(), notes };
    if (out) {
      mkdirSync(out, { recursive: true });
      writeJsonAtomic(join(out, MITIGATION_JSON), report);
    }
    return report;
  } finally {
    for (const p of probes) await p.dispose();
    await net.dispose();
  }
}

/** The images of `set` whose label is not `label`. */
function otherLabels(set: ImageSet, label: number): ImageSet {
  const idx: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.labels[i] !== label) idx.push(i);
  return subset(set, idx);
}

export type { MitigationLayer };
export { combineReports, type MitigationReport } from './report.js';
export { recordedPruning, type MitigationRecord } from './record.js';
