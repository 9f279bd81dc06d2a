/**
 * `evaluate` for a user's ONNX model: clean accuracy on the stated clean set and, given a trigger,
 * the attack success rate — on the native engine's forward program. The statements are saved in
 * the model's sidecar only once the data has been checked against the graph.
 */
import { loadModelDataset } from '../data/image-registry.js';
import { MissingOptionError, OptionError, ShapeError } from '../errors.js';
import { DEFAULT_SEED } from '../random.js';
import { openOnnxModel, saveOnnxMetadata, type OnnxModelMetadata, type OnnxStatements } from './onnx-model.js';
import { graphScorer } from './scorer.js';
import { evaluateModel, type EvaluationResult } from './train.js';

export interface OnnxEvaluateOptions {
  /** The dataset's folder (for a registry dataset). */
  readonly dataDir?: string;
  readonly batchSize?: number;
  /** Largest model file accepted, in bytes. */
  readonly maxBytes?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface OnnxEvaluation {
  readonly file: string;
  readonly sha256: string;
  /** The sidecar after this run, and whether this run wrote it. */
  readonly metadata: OnnxModelMetadata;
  readonly sidecar: string;
  readonly sidecarWritten: boolean;
  readonly dataset: { readonly name: string; readonly source: string };
  readonly engine: 'onnx';
  readonly result: EvaluationResult;
}

export async function evaluateOnnxModel(path: string, stated: OnnxStatements, options: OnnxEvaluateOptions = {}): Promise<OnnxEvaluation> {
  const model = openOnnxModel(path, stated, options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {});
  const { metadata } = model;
  if (metadata.preprocessing === undefined) throw new MissingOptionError('preprocessing', `how raw pixels become ${model.file}'s input (not yet saved in ${model.sidecar})`);
  if (metadata.dataset === undefined) throw new MissingOptionError('dataset', `the clean test set of ${model.file} (not yet saved in ${model.sidecar})`);
  const data = loadModelDataset(metadata.dataset, options.dataDir, DEFAULT_SEED);
  const { test } = data;
  checkImagesFit(metadata, test, data.name);
  const scorer = await graphScorer(model.graph);
  let result: EvaluationResult;
  try {
    result = await evaluateModel(scorer, test, {
      preprocessing: metadata.preprocessing,
      ...(metadata.trigger && metadata.target !== undefined && metadata.target !== null ? { backdoor: { trigger: metadata.trigger, target: metadata.target } } : {}),
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  } finally {
    await scorer.dispose();
  }
  const written = saveOnnxMetadata(model);
  return { file: model.file, sha256: model.sha256, metadata, sidecar: model.sidecar, sidecarWritten: written !== undefined, dataset: { name: data.name, source: data.source }, engine: 'onnx', result };
}

/** The clean set's images and labels against the graph's input and classes. */
export function checkImagesFit(metadata: OnnxModelMetadata, set: { height: number; width: number; channels: number; labels: Int32Array; count: number }, name: string): void {
  const [h, w, c] = metadata.inputShape;
  if (set.height !== h || set.width !== w || set.channels !== c) throw new ShapeError(`dataset ${name}`, `${h}x${w}x${c} images (the model's input)`, `${set.height}x${set.width}x${set.channels}`);
  for (let i = 0; i < set.count; i++) {
    if (set.labels[i] < 0 || set.labels[i] >= metadata.numClasses) {
      throw new OptionError(`dataset ${name} labels`, `class indices in 0..${metadata.numClasses - 1} (the model has ${metadata.numClasses} outputs)`, `label ${set.labels[i]} at index ${i}`);
    }
  }
}
