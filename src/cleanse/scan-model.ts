/**
 * The model a scan examines, resolved before any label runs: a model folder poisonguard trained
 * (TF.js, with metadata.json), or a user's ONNX model (a .onnx file or a folder holding
 * model.onnx, with the sidecar of onnx-model.ts). Either way the scan learns the same things — the
 * input and class count, the preprocessing, the clean set, a known trigger — and where the labels'
 * passes will run; the workers get a {@link ScanModelRef} and load their own copy.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { MissingOptionError, NotFoundError, OptionError, PoisonguardError, ShapeError } from '../errors.js';
import type { InputLayout } from '../graph/layout.js';
import type { ModelEngineDecision } from '../nn/onnx-gradient.js';
import type { ModelMetadata } from '../nn/model-io.js';
import type { Preprocessing } from '../nn/preprocess.js';
import type { Trigger } from '../nn/trigger.js';
import { hashModelFolder } from '../run-files.js';
import type { ScanOptions } from './scan-plan.js';

/** What a label runner loads (in this thread or a worker). */
export type ScanModelRef = { readonly kind: 'tfjs'; readonly dir: string } | { readonly kind: 'onnx'; readonly file: string; readonly inputLayout: InputLayout; readonly maxBytes?: number };

export interface ScanModel {
  readonly ref: ScanModelRef;
  /** The model folder or file, for messages and the report. */
  readonly path: string;
  readonly kind: 'tfjs' | 'onnx';
  /** TF.js models trained by poisonguard: their metadata.json. */
  readonly metadata?: ModelMetadata;
  readonly arch: string | null;
  readonly preprocessing: Preprocessing;
  /** The clean set's dataset name or folder, unless clean images are given. */
  readonly dataset?: string;
  /** Seed of the dataset's split (an image folder's test split). */
  readonly dataSeed: number;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly trigger: Trigger | null;
  readonly target: number | null;
  readonly modelEngine: ModelEngineDecision;
  /** SHA-256 identifying the model (a folder's files; an ONNX file's bytes). */
  sha256(): string;
  /** Saves what was stated about an ONNX model in its sidecar (once the data fits it); nothing for a TF.js folder. */
  saveStatements(): string | undefined;
}

/** Resolves the scan's model (see the module comment); `seed` is the scan's, the data split's default. */
export async function resolveScanModel(options: ScanOptions, seed: number): Promise<ScanModel> {
  const { isOnnxModelPath } = await import('../nn/onnx-model.js');
  if (isOnnxModelPath(options.model)) return resolveOnnx(options);
  if (options.inputLayout !== undefined) throw new OptionError('inputLayout', 'absent for a poisonguard model folder (its input is NHWC)', options.inputLayout);
  return resolveTfjs(options, seed);
}

async function resolveOnnx(options: ScanOptions): Promise<ScanModel> {
  const { openOnnxModel, saveOnnxMetadata } = await import('../nn/onnx-model.js');
  if (options.engine === 'tfjs') throw new OptionError('engine', "'onnx' or 'auto' for an ONNX model (it runs on the native engine only)", options.engine);
  const model = openOnnxModel(options.model, {
    ...(options.inputLayout !== undefined ? { inputLayout: options.inputLayout } : {}),
    ...(options.preprocessing !== undefined ? { preprocessing: options.preprocessing } : {}),
    ...(options.dataset !== undefined && !options.clean ? { dataset: options.dataset } : {}),
  });
  const { metadata: m } = model;
  if (m.preprocessing === undefined) throw new MissingOptionError('preprocessing', `how raw pixels become ${model.file}'s input (not yet saved in ${model.sidecar})`);
  if (m.dataset === undefined && !options.clean) throw new MissingOptionError('dataset', `the clean images for ${model.file} (not yet saved in ${model.sidecar})`);
  const { loadOrt, ONNXRUNTIME_PACKAGE } = await import('../graph/runtime.js');
  const ort = await loadOrt();
  if ('error' in ort) throw new PoisonguardError('invalid-option', `An ONNX model needs ${ONNXRUNTIME_PACKAGE}, which could not be loaded (${ort.error}).`, { path: 'engine' });
  const { DEFAULT_SEED } = await import('../random.js');
  return {
    ref: { kind: 'onnx', file: model.file, inputLayout: m.inputLayout },
    path: model.file,
    kind: 'onnx',
    arch: null,
    preprocessing: m.preprocessing,
    ...(m.dataset !== undefined ? { dataset: m.dataset } : {}),
    // The split evaluate uses, so that a folder's test images are the same ones.
    dataSeed: DEFAULT_SEED,
    inputShape: m.inputShape,
    numClasses: m.numClasses,
    trigger: m.trigger ?? null,
    target: m.target ?? null,
    modelEngine: { engine: 'onnx', reason: 'an ONNX model runs on the native engine' },
    sha256: () => model.sha256,
    saveStatements: () => saveOnnxMetadata(model),
  };
}

async function resolveTfjs(options: ScanOptions, seed: number): Promise<ScanModel> {
  const modelDir = resolve(options.model);
  if (!existsSync(modelDir) || !statSync(modelDir).isDirectory()) {
    throw new NotFoundError(modelDir, 'model folder', 'A model folder holds model.json, its weight files and metadata.json, as training writes them (or give an ONNX model: a .onnx file or a folder holding model.onnx)');
  }
  const { readMetadata, loadModel, METADATA_JSON } = await import('../nn/model-io.js');
  const metadata = existsSync(resolve(modelDir, METADATA_JSON)) ? readMetadata(modelDir) : undefined;
  const preprocessing = metadata?.preprocessing ?? options.preprocessing;
  if (preprocessing === undefined) {
    throw new MissingOptionError('preprocessing', `${modelDir} has no ${METADATA_JSON}, so the model's input preprocessing is unknown`);
  }
  if (metadata && options.preprocessing && JSON.stringify(options.preprocessing) !== JSON.stringify(metadata.preprocessing)) {
    throw new OptionError('preprocessing', `absent or the model's own (${JSON.stringify(metadata.preprocessing)}, from ${METADATA_JSON})`, options.preprocessing);
  }
  const dataset = options.dataset ?? metadata?.dataset;
  if (dataset === undefined && !options.clean) throw new MissingOptionError('dataset', `${modelDir} has no ${METADATA_JSON} naming its dataset`);
  const loaded = await loadModel(modelDir);
  const inputShape = loaded.model.inputs[0].shape;
  const outputShape = loaded.model.outputs[0].shape;
  // Where the labels' forward and backward passes run, decided once for every worker.
  const { resolveModelEngine } = await import('../nn/onnx-gradient.js');
  let modelEngine: ModelEngineDecision;
  try {
    modelEngine = await resolveModelEngine(loaded.model, options.engine ?? 'auto');
  } finally {
    loaded.model.dispose();
  }
  const [, H, W, C] = inputShape;
  const numClasses = outputShape[1];
  if (inputShape.length !== 4 || typeof H !== 'number' || typeof W !== 'number' || typeof C !== 'number' || typeof numClasses !== 'number') {
    throw new ShapeError('model', 'an image classifier [null, H, W, C] → [null, classes]', `[${inputShape.join(', ')}] → [${outputShape.join(', ')}]`);
  }
  return {
    ref: { kind: 'tfjs', dir: modelDir },
    path: modelDir,
    kind: 'tfjs',
    ...(metadata ? { metadata } : {}),
    arch: metadata?.arch ?? null,
    preprocessing,
    ...(dataset !== undefined ? { dataset } : {}),
    dataSeed: metadata?.seed ?? seed,
    inputShape: [H, W, C],
    numClasses,
    trigger: metadata?.trigger ?? null,
    target: metadata?.target ?? null,
    modelEngine,
    sha256: () => hashModelFolder(modelDir),
    saveStatements: () => undefined,
  };
}
