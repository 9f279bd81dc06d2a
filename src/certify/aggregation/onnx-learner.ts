/**
 * A user-named architecture as the base learner of DPA and FA: an ONNX image classifier (what
 * torch.onnx.export writes; residual connections and BatchNorm train on the native engine), opened
 * as every command opens a user's model (onnx-model.ts: the input layout and preprocessing stated
 * or saved in its sidecar; nothing is written beside the file), checked against the dataset, and
 * re-initialised for each partition from that partition's seed by PyTorch's default rule
 * (src/nn/torch-init.ts) before it trains.
 *
 * Why re-initialised: the file gives the architecture only. A pretrained weight in it would carry
 * whatever data it was trained on into every base net at once, and the certificate — which counts
 * how many training samples each partition's net depends on — would not cover that data. PyTorch's
 * rule, because the architectures come from PyTorch: each trains from the start it was designed for.
 */
import { basename } from 'node:path';
import { PoisonguardError, ShapeError } from '../../errors.js';
import { BATCH, type ClassifierGraph } from '../../graph/ir.js';
import type { InputLayout } from '../../graph/layout.js';
import { openOnnxModel } from '../../nn/onnx-model.js';
import type { Preprocessing } from '../../nn/preprocess.js';
import { reinitialiseLikeTorch } from '../../nn/torch-init.js';
import { packOnnxModel, sha256Hex } from '../../zoo/blobs.js';
import { BASE_NET_PREPROCESSING, ONNX_LEARNER_INIT } from './recipe.js';

/** A user's architecture, opened and checked. */
export interface OnnxArchitecture {
  /** The model file's name (recorded in the recipe). */
  readonly file: string;
  /** SHA-256 of what travels to a queue's workers: the file, or the file packed with its external data files. */
  readonly sha256: string;
  readonly inputLayout: InputLayout;
  /** From raw pixels to the graph's input: the stated or saved one, else {@link BASE_NET_PREPROCESSING}. */
  readonly preprocessing: Preprocessing;
  /** The classifier reading NHWC batches, with the file's weights (each partition re-initialises them). */
  readonly graph: ClassifierGraph;
  /** The model as it travels through the queue (zoo/blobs.ts's packing). */
  readonly packed: { readonly bytes: Uint8Array; readonly entry?: string };
}

/** What a user states about the architecture (the sidecar's fields the learner reads). */
export interface OnnxLearnerStatements {
  readonly inputLayout?: InputLayout;
  readonly preprocessing?: Preprocessing;
}

/** Opens the ONNX model at `path` (a file or a folder holding model.onnx) as an architecture; the graph's own checks (onnx-load.ts) apply. */
export function openOnnxArchitecture(path: string, stated: OnnxLearnerStatements = {}): OnnxArchitecture {
  const model = openOnnxModel(path, stated);
  const packed = packOnnxModel(model.file);
  const sha256 = sha256Hex(packed.bytes);
  // A file replaced between the two reads: the recipe would name bytes that were not trained.
  if (packed.entry === undefined && sha256 !== model.sha256) throw new PoisonguardError('data-format', `${model.file}: the file changed while it was read; run again`, { path: model.file });
  checkTrainable(model.graph, model.file);
  return {
    file: basename(model.file),
    sha256,
    inputLayout: model.metadata.inputLayout,
    preprocessing: model.metadata.preprocessing ?? BASE_NET_PREPROCESSING,
    graph: model.graph,
    packed,
  };
}

/** Refuses a graph that has nothing to train (no Conv, Gemm, MatMul, BatchNorm or PRelu weight). */
export function checkTrainable(graph: ClassifierGraph, file: string): void {
  if (graph.trainable.size === 0) {
    throw new PoisonguardError('invalid-option', `${file}: the graph has no weight to train (no Conv, Gemm, MatMul, BatchNormalization or PRelu weight): a base learner must learn from its partition`, { path: 'learner' });
  }
}

/** Refuses an architecture whose input is not the dataset's images or whose outputs are not its classes. */
export function checkArchitectureFits(graph: ClassifierGraph, file: string, data: { readonly name: string; readonly height: number; readonly width: number; readonly channels: number; readonly numClasses: number }): void {
  const [, h, w, c] = graph.input.shape;
  if (h !== data.height || w !== data.width || c !== data.channels) {
    throw new ShapeError(`${file}'s input`, `${data.height}x${data.width}x${data.channels} (height x width x channels of ${data.name}'s images)`, `${h}x${w}x${c}`);
  }
  const out = graph.shapes.get(graph.output)!;
  const classes = out.length === 2 && out[0] === BATCH ? out[1] : NaN;
  if (classes !== data.numClasses) {
    throw new PoisonguardError('shape-mismatch', `${file}: the graph has ${Number.isNaN(classes) ? 'no [N, classes] output' : `${classes} outputs`}, but ${data.name} has ${data.numClasses} classes`, { path: 'learner' });
  }
  checkTrainable(graph, file);
}

/** The recipe's record of the architecture (what a resumed run must match). */
export function architectureRecord(arch: OnnxArchitecture): Record<string, unknown> {
  const { summary } = reinitialiseLikeTorch(arch.graph, 0);
  return {
    file: arch.file,
    sha256: arch.sha256,
    inputLayout: arch.inputLayout,
    preprocessing: arch.preprocessing,
    init: ONNX_LEARNER_INIT,
    initialised: { tensors: summary.tensors, values: summary.values, untied: summary.untied },
    keptConstants: { tensors: summary.keptTensors, values: summary.keptValues },
  };
}
