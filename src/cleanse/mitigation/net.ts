/**
 * What a mitigation needs of a model, whatever its kind: predictions on the evaluation sets, a
 * layer's activations (ranking, the filter), the model's output with some of that layer's units
 * silenced (the pruning search and curve), pruning in the weights, fine-tuning, and writing the
 * mitigated model. A TF.js model folder (layers-net.ts) and a user's ONNX file (onnx-net.ts) each
 * implement it, so that mitigate.ts states the paper's recipe once for both.
 */
import type { ImageSet } from '../../data/images.js';
import type { ModelEngineChoice } from '../../nn/engine-choice.js';
import type { ModelEngineDecision } from '../../nn/onnx-gradient.js';
import type { Preprocessing } from '../../nn/preprocess.js';
import type { Trigger } from '../../nn/trigger.js';
import type { MitigationLayer } from './layers.js';
import type { EvaluationSets, Metrics, Predictions } from './measure.js';
import type { MitigationRecord } from './record.js';

/** Activations of a set of images at a layer, kept for repeated predictions with units silenced. */
export interface CachedActivations {
  readonly count: number;
  /** The layer's output, and whatever else the rest of the model reads (kind-specific). */
  readonly values: readonly Float32Array[];
}

/** A model seen from one of its layers. */
export interface LayerProbe {
  readonly layer: MitigationLayer;
  /** Why this layer and not the one asked for, when the model did not allow that one. */
  readonly note?: string;
  /** Per image, each unit's activation (a channel's: the mean over its map): count × units. */
  perNeuron(images: Uint8Array, onBatch?: (done: number) => void): Promise<Float32Array>;
  /** The activations of `images` that {@link predictKept} re-runs the rest of the model from. */
  cache(images: Uint8Array, onBatch?: (done: number) => void): Promise<CachedActivations>;
  /** Predicted labels with the units whose `keep` entry is 0 silenced. */
  predictKept(cached: CachedActivations, keep: Float32Array): Promise<Int32Array>;
  /** Predicted labels of `images` under each keep vector (large sets: nothing kept between batches). */
  predictKeptMany(images: Uint8Array, keeps: readonly Float32Array[], onBatch?: (done: number) => void): Promise<Int32Array[]>;
  dispose(): Promise<void>;
}

/** Options of a fine-tuning run (unlearning, pruning's fine-tune). */
export interface NetFineTune {
  readonly epochs: number;
  readonly learningRate: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly engine?: ModelEngineChoice;
  readonly onProgress?: (p: { epoch: number; epochs: number; batch: number; batches: number }) => void;
}

/** What a mitigation reads of the model's own records. */
export interface NetRecords {
  /** The dataset the model names, and the seed its split is drawn with. */
  readonly dataset: string | undefined;
  readonly datasetSeed: number;
  readonly preprocessing: Preprocessing;
  /** The planted trigger, when the model's records name it. */
  readonly realTrigger: { readonly trigger: Trigger; readonly target: number } | null;
  /** Units an earlier mitigation pruned (held at zero by later fine-tuning). */
  readonly pruned: MitigationRecord['pruned'];
  readonly previous: MitigationRecord | null;
}

export interface MitigationNet {
  readonly kind: 'tfjs' | 'onnx';
  /** The model's path as the report names it (a folder, or an ONNX file). */
  readonly path: string;
  /** SHA-256 of the model (a TF.js folder's files, or the ONNX file). */
  readonly sha256: string;
  /** What runs the model, for the report. */
  readonly backend: string;
  readonly inputShape: readonly [number, number, number];
  readonly records: NetRecords;
  predictSets(sets: EvaluationSets, onProgress?: (done: number, total: number) => void): Promise<Predictions>;
  /** The layer `choice` names ('penultimate', 'last-conv' or the model's own name), ready to probe. */
  probe(choice: string, purpose: 'filter' | 'prune'): Promise<LayerProbe>;
  /** Silences `neurons` of `layer` in the weights; later fine-tuning holds them at zero. */
  prune(layer: MitigationLayer, neurons: readonly number[]): void;
  fineTune(set: ImageSet, options: NetFineTune): Promise<ModelEngineDecision>;
  /**
   * The mitigated model measured as it will be written (an ONNX file is written to bytes and read
   * back), and the function that writes it with its records into `out`.
   */
  finish(sets: EvaluationSets, onProgress?: (done: number, total: number) => void): Promise<{ after: Metrics; save(out: string, record: MitigationRecord): Promise<string> }>;
  dispose(): Promise<void>;
}
