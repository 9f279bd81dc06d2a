/**
 * Unlearning (Neural Cleanse §VI-C) for a user's ONNX model: the same recipe as unlearn.ts — the
 * scan's reversed trigger stamped on 20% of a 10% draw of the training split under the true
 * labels, one epoch of Adam — run on the native engine (BatchNorm frozen at its running
 * statistics, as fine-tuning defenses treat it), then written back as an ONNX file: the original
 * graph with its fine-tuned initializers replaced, which is reloaded and measured again before it
 * is kept, so that the numbers the report states are the written file's.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelDataset } from '../../data/image-registry.js';
import { PoisonguardError, ShapeError } from '../../errors.js';
import { replaceInitializers } from '../../graph/onnx-rewrite.js';
import { classifierFromBytes, openOnnxModel, ONNX_MODEL_FILE, ONNX_SIDECAR_IN_FOLDER, type OnnxModelMetadata } from '../../nn/onnx-model.js';
import { graphScorer } from '../../nn/scorer.js';
import { describeTrigger } from '../../nn/trigger.js';
import { claimOutputDir } from '../../outputs.js';
import { DEFAULT_SEED, Random } from '../../random.js';
import { sha256Of, writeFileAtomic, writeJsonAtomic } from '../../run-files.js';
import type { ClassifierGraph } from '../../graph/ir.js';
import { evaluationSets, metricsOf, predictSets, type EvaluationSets, type Metrics } from './measure.js';
import type { ImageSet } from '../../data/images.js';
import { resolveMitigationRecipe, type MitigationRecipeOptions } from './recipe.js';
import { MITIGATION_JSON, shownFigures, unlearningSummary, type MitigationReport } from './report.js';
import { chooseLabel, readReversedTrigger, readScanSource } from './reversed-trigger.js';
import { unlearningSet } from './unlearn.js';

/** What an ONNX unlearning writes into its output folder. */
export const ONNX_MITIGATION_FILES = { files: [ONNX_MODEL_FILE, ONNX_SIDECAR_IN_FOLDER, MITIGATION_JSON] };

/** mitigate.ts's options, the ones an ONNX unlearning reads. */
export interface OnnxUnlearnOptions extends MitigationRecipeOptions {
  /** The ONNX file or its folder. */
  readonly model: string;
  readonly scan: string;
  readonly label?: number;
  readonly dataDir?: string;
  readonly data?: { readonly train: ImageSet; readonly test: ImageSet; readonly name?: string };
  readonly out?: string;
  readonly force?: boolean;
  readonly onProgress?: (p: { readonly phase: 'evaluate-before' | 'fine-tune' | 'evaluate-after'; readonly done: number; readonly total: number }) => void;
}

/** Unlearns a user's ONNX model (see the module comment). */
export async function unlearnOnnxModel(options: OnnxUnlearnOptions): Promise<MitigationReport> {
  const start = performance.now();
  const recipe = resolveMitigationRecipe(options);
  if (recipe.method !== 'unlearn') {
    throw new PoisonguardError('invalid-option', `An ONNX model is mitigated by unlearning for now ('${recipe.method}' needs a TF.js model folder).`, { path: 'method', received: recipe.method });
  }
  const progress = options.onProgress ?? (() => {});
  const out =
    options.out === undefined
      ? undefined
      : claimOutputDir(options.out, { option: 'out', existing: 'fresh', force: options.force, own: ONNX_MITIGATION_FILES, foreign: 'keep', notOver: [{ path: options.model, what: 'the model' }] });
  const model = openOnnxModel(options.model);
  const m = model.metadata;
  if (m.preprocessing === undefined || (m.dataset === undefined && !options.data)) {
    throw new PoisonguardError('invalid-option', `${model.sidecar} does not say the model's preprocessing and dataset yet: evaluate or scan the model once with --preprocess and --dataset.`, { path: 'model' });
  }
  const scan = readScanSource(options.scan);
  if (scan.modelSha256 !== model.sha256) {
    throw new PoisonguardError('invalid-option', `the scan in ${scan.dir} is of another model (SHA-256 ${scan.modelSha256.slice(0, 12)}…, but ${model.file} is ${model.sha256.slice(0, 12)}…); scan this model first.`, { path: 'scan' });
  }
  const choice = chooseLabel(scan, options.label);
  const realTrigger = m.trigger && m.target !== undefined && m.target !== null ? { trigger: m.trigger, target: m.target } : null;
  const base = {
    kind: 'mitigation' as const,
    method: recipe.method,
    recipe,
    model: model.file,
    modelSha256: model.sha256,
    scan: scan.dir,
    labelReason: choice.reason,
    realTrigger: realTrigger ? { target: realTrigger.target, description: describeTrigger(realTrigger.trigger) } : null,
    asrShown: realTrigger ? ('real' as const) : ('reversed' as const),
    seed: recipe.seed,
    backend: 'onnxruntime',
  };
  if (choice.label === null) {
    const report: MitigationReport = { ...base, dataset: m.dataset ?? 'given', nothingToMitigate: true, seconds: (performance.now() - start) / 1000, date: new Date().toISOString(), notes: [choice.reason] };
    if (out) {
      mkdirSync(out, { recursive: true });
      writeJsonAtomic(join(out, MITIGATION_JSON), report);
    }
    return report;
  }
  const label = choice.label;
  const reversed = readReversedTrigger(scan, label);
  const [H, W, C] = m.inputShape;
  if (H !== reversed.height || W !== reversed.width || C !== reversed.channels) {
    throw new ShapeError('reversed trigger', `${H}x${W}x${C} (the model's input)`, `${reversed.height}x${reversed.width}x${reversed.channels}`);
  }
  const data = options.data
    ? { train: options.data.train, test: options.data.test, name: options.data.name ?? 'given' }
    : loadModelDataset(m.dataset!, options.dataDir, DEFAULT_SEED);
  const sets = evaluationSets(data.test, realTrigger, reversed);
  const evalTotal = sets.clean.count + (sets.real?.count ?? 0) + sets.reversed.count;
  const measureGraph = async (graph: ClassifierGraph, phase: 'evaluate-before' | 'evaluate-after'): Promise<Metrics> => measureOn(graph, sets, m, (d) => progress({ phase, done: d, total: evalTotal }));
  const before = await measureGraph(model.graph, 'evaluate-before');

  const { share, stampedShare, epochs, learningRate, batchSize, seed } = recipe;
  const ul = unlearningSet(data.train, reversed, new Random(seed), share, stampedShare);
  const weights = new Map<string, Float32Array>();
  const { trainGraph } = await import('../../nn/train-native.js');
  await trainGraph(model.graph, weights, ul.set, {
    epochs,
    learningRate,
    batchSize,
    seed,
    preprocessing: m.preprocessing,
    batchNorm: 'frozen',
    onProgress: (p) => progress({ phase: 'fine-tune', done: (p.epoch - 1) * p.batches + p.batch, total: p.epochs * p.batches }),
  });
  const repaired = replaceInitializers(readFileSync(model.file), weights, model.file, (name) => model.graph.weights.get(name)?.dims);
  // The file as written, read back: its numbers are the report's.
  const after = await measureGraph(classifierFromBytes(repaired, m.inputLayout, { file: `${model.file} (repaired)`, dir: model.dir }), 'evaluate-after');
  const notes: string[] = [];
  if (realTrigger && realTrigger.target !== label) notes.push(`The scan's label ${label} is not the known trigger's target ${realTrigger.target}: the known trigger's ASR is measured to ${realTrigger.target}.`);
  if (!realTrigger) notes.push("The model's sidecar names no trigger: every 'asr' shown is the reversed trigger's.");
  let report: MitigationReport = {
    ...base,
    dataset: data.name,
    targetLabel: label,
    nothingToMitigate: false,
    baseline: shownFigures(before, base.asrShown),
    before,
    after,
    unlearning: unlearningSummary(ul, label, { before, after, asrShown: base.asrShown }, recipe, 0),
    trainingEngine: { engine: 'onnx', reason: 'an ONNX model is fine-tuned on the native engine (BatchNorm frozen)' },
    seconds: 0,
    date: '',
    notes,
  };
  if (out) {
    mkdirSync(out, { recursive: true });
    const file = join(out, ONNX_MODEL_FILE);
    writeFileAtomic(file, repaired);
    const sidecar: OnnxModelMetadata = { ...m, modelSha256: sha256Of(repaired) };
    writeJsonAtomic(join(out, ONNX_SIDECAR_IN_FOLDER), sidecar);
    report = { ...report, output: { model: file } };
  }
  report = { ...report, seconds: (performance.now() - start) / 1000, date: new Date().toISOString() };
  if (out) writeJsonAtomic(join(out, MITIGATION_JSON), report);
  return report;
}

async function measureOn(graph: ClassifierGraph, sets: EvaluationSets, m: OnnxModelMetadata, onProgress: (done: number) => void): Promise<Metrics> {
  const scorer = await graphScorer(graph);
  try {
    return metricsOf(await predictSets(scorer, sets, m.preprocessing!, onProgress), sets);
  } finally {
    await scorer.dispose();
  }
}
