/**
 * Neural Cleanse mitigation (Wang et al., IEEE S&P 2019, §VI; the authors' release has none):
 * given a model and its scan, take the reversed trigger of each label to mitigate (by default every
 * label the scan flagged; the paper's mitigations generalise to several infected labels) and
 *  - 'filter': build an input filter on the second-to-last layer (filter.ts, method-filter.ts);
 *  - 'prune': zero that layer's most trigger-excited neurons until no reversed trigger works (prune.ts, method-prune.ts);
 *  - 'unlearn': fine-tune 1 epoch on 10% of the training data, 20% stamped under true labels (unlearn.ts, method-unlearn.ts);
 * and measure clean accuracy and the ASR of the real trigger (when metadata.json names it), of every
 * other backdoor the model records (with `evaluate`'s stamping) and of each reversed one on the test
 * split, before and after.
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
import { attacksOf, describeAttack, describeTrigger, isAllToAll, type AttackTarget } from '../../nn/trigger.js';
import { Random } from '../../random.js';
import type { AccuracyAsr } from './summary.js';
import { writeJsonAtomic } from '../../run-files.js';
import { claimOutputDir, ownFiles, type OwnFiles } from '../../outputs.js';
import type { MitigationLayer } from './layers.js';
import { locateLayersModelFolder, openLayersNet, readLayersModelFolder } from './layers-net.js';
import { evaluationSets, metricsOf, setsCount, type Metrics } from './measure.js';
import type { MethodContext, MethodResult, MitigateProgress, ProbedContext } from './method-context.js';
import { FILTER_JSON, runFilter } from './method-filter.js';
import { runPrune } from './method-prune.js';
import { runUnlearn } from './method-unlearn.js';
import type { LayerProbe } from './net.js';
import { ONNX_MODEL_FOLDER_FILES, onnxNet, readOnnxForMitigation } from './onnx-net.js';
import { rankNeurons, type NeuronRanking } from './ranking.js';
import { checkScanModel, chooseLabels, readReversedTrigger, readScanSource, stampReversed } from './reversed-trigger.js';

import type { MitigationReport } from './report.js';
import { MITIGATION_METHODS, resolveMitigationRecipe, type MitigationRecipe, type MitigationRecipeOptions } from './recipe.js';

export { MITIGATION_METHODS, type MitigationMethod, type MitigationRecipe } from './recipe.js';
export { MITIGATION_JSON } from './report.js';
import { MITIGATION_JSON, shownFigures } from './report.js';
export { FILTER_JSON };
export type { MitigateProgress };

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
  /** Label, or labels, to mitigate (each a class index with a reversed trigger in the scan, given once); default every label the scan flagged. */
  readonly label?: number | readonly number[];
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
  // Every backdoor the records name, as `evaluate` reads them (an ONNX sidecar names one trigger at most).
  const onnxTrigger = onnxModel?.metadata.trigger;
  const onnxTarget = onnxModel?.metadata.target;
  const recorded: AttackTarget[] = onnxModel ? (onnxTrigger && onnxTarget !== undefined && onnxTarget !== null ? [{ trigger: onnxTrigger, target: onnxTarget }] : []) : attacksOf(folder!.metadata);
  // The records' trigger and target are the first backdoor's: the real trigger, unless it is all-to-all.
  const realTrigger = recorded[0] && !isAllToAll(recorded[0]) ? recorded[0] : null;
  const others = realTrigger ? recorded.slice(1) : recorded;
  // The real-trigger fields say it all for one backdoor with a target; else every backdoor is listed.
  const listed = others.length > 0;
  const numClasses = onnxModel ? onnxModel.metadata.numClasses : folder!.metadata.numClasses;
  const asrShown = realTrigger ? 'real' : 'reversed';
  const notes: string[] = [];
  const choice = chooseLabels(scan, options.label);
  const base = {
    kind: 'mitigation' as const,
    method,
    recipe,
    model: onnxModel?.file ?? folder!.dir,
    modelSha256: sha,
    scan: scan.dir,
    labelReason: choice.reason,
    realTrigger: realTrigger ? { target: realTrigger.target, description: describeTrigger(realTrigger.trigger) } : null,
    ...(listed ? { backdoors: recorded.map((b) => ({ target: isAllToAll(b) ? null : b.target, description: describeAttack(b) })) } : {}),
    asrShown,
    dataset: onnxModel ? (onnxModel.metadata.dataset ?? 'given') : folder!.metadata.dataset,
    seed,
  } satisfies Partial<MitigationReport>;
  if (choice.labels.length === 0) {
    const report: MitigationReport = { ...base, nothingToMitigate: true, backend: onnx ? 'onnxruntime' : 'none', seconds: (performance.now() - start) / 1000, date: new Date().toISOString(), notes: [choice.reason] };
    if (out) {
      mkdirSync(out, { recursive: true });
      writeJsonAtomic(join(out, MITIGATION_JSON), report);
    }
    return report;
  }
  const labels = choice.labels;
  const reversed = labels.map((l) => readReversedTrigger(scan, l));
  const several = labels.length > 1;
  if (realTrigger && !labels.includes(realTrigger.target)) {
    notes.push(`The scan's label${several ? 's' : ''} ${labels.join(', ')} ${several ? 'are' : 'is'} not the real trigger's target ${realTrigger.target} (the model's records): the real trigger's ASR is measured to ${realTrigger.target}.`);
  }
  const net = onnxModel ? onnxNet(onnxModel) : await openLayersNet(folder!.dir, folder!.metadata, sha, options.backend ?? 'auto');
  const probes: LayerProbe[] = [];
  try {
    const [H, W, C] = net.inputShape;
    for (const t of reversed) {
      if (H !== t.height || W !== t.width || C !== t.channels) throw new ShapeError('reversed trigger', `${H}x${W}x${C} (the model's input)`, `${t.height}x${t.width}x${t.channels}`);
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
    const sets = evaluationSets(data.test, realTrigger, others, numClasses, reversed);
    const evalTotal = setsCount(sets);
    const beforePred = await net.predictSets(sets, (d) => progress({ phase: 'evaluate-before', done: d, total: evalTotal }));
    const before = metricsOf(beforePred, sets);
    const shown = (m: Metrics): AccuracyAsr => shownFigures(m, asrShown);
    const common = {
      ...base,
      dataset: data.name,
      targetLabel: labels[0],
      targetLabels: labels,
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
    const context: MethodContext<MitigationRecipe> = {
      recipe,
      net,
      sha,
      scanDir: scan.dir,
      labels,
      reversed,
      train: data.train,
      sets,
      evalTotal,
      before,
      beforePred,
      asrShown,
      rng,
      out,
      engine: options.engine,
      progress,
      notes,
    };

    let ranking: NeuronRanking | undefined;
    let result: MethodResult;
    if (probe) {
      // Neurons ranked on the defender's images, clean and stamped with each reversed trigger.
      const total = (1 + reversed.length) * rankSet.count;
      const clean = await probe.perNeuron(rankSet.images, (n) => progress({ phase: 'rank', done: n, total }));
      const hot: Float32Array[] = [];
      for (const t of reversed) {
        const offset = (1 + hot.length) * rankSet.count;
        hot.push(await probe.perNeuron(stampReversed(rankSet.images, t), (n) => progress({ phase: 'rank', done: offset + n, total })));
      }
      ranking = rankNeurons(clean, hot, probe.layer.units);
      const rankingByLabel = several ? hot.map((h) => rankNeurons(clean, h, probe.layer.units)) : [ranking];
      const probed = { ...context, probe, layer: probe.layer, ranking, rankingByLabel, rankSet, calibrationSet };
      result = recipe.method === 'filter' ? await runFilter({ ...probed, recipe }) : await runPrune({ ...probed, recipe: recipe as Extract<MitigationRecipe, { method: 'prune' }> });
    } else {
      result = await runUnlearn({ ...context, recipe: recipe as Extract<MitigationRecipe, { method: 'unlearn' }> });
    }
    const rankingSummary = (r: NeuronRanking): MitigationReport['ranking'] => ({
      images: rankSet.count,
      top: r.order.slice(0, RANKING_LISTED).map((u) => ({ neuron: u, score: r.scores[u], meanClean: r.meanClean[u], meanStamped: r.meanStamped[u], ...(r.trigger ? { label: labels[r.trigger[u]] } : {}) })),
    });
    if (asrShown === 'reversed') {
      notes.push(
        listed
          ? "The model's first backdoor is all-to-all (no single target): every 'asr' shown for the report is the reversed trigger's; each backdoor's own is listed by backdoor."
          : "The model's records name no trigger: every 'asr' shown for the report is the reversed trigger's.",
      );
    }
    const { after, trainingEngine, ...sections } = result;
    const report: MitigationReport = {
      ...common,
      after,
      ...(ranking ? { ranking: rankingSummary(ranking) } : {}),
      ...sections,
      ...(trainingEngine ? { trainingEngine } : {}),
      seconds: (performance.now() - start) / 1000,
      date: new Date().toISOString(),
      notes,
    };
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

export type { MitigationLayer };
export { combineReports, type MitigationReport } from './report.js';
export { recordedPruning, type MitigationRecord } from './record.js';
