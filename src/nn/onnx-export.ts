/**
 * A tf.layers model as the ONNX program that computes, in one run, the model's output on a batch
 * AND the gradient of the Neural Cleanse classification loss with respect to the (preprocessed)
 * input: the TensorFlow.js front-end (layers-graph.ts) feeding the graph engine's input-gradient
 * program (graph/programs.ts).
 *
 * Why: onnxruntime's CPU kernels (MLAS: AVX2/AVX-512 FMA) run these convolutions several times
 * faster per core than TensorFlow.js's WebAssembly backend (docs/BENCHMARKS.md).
 *
 * Graph inputs: `x` [N, H, W, C] (NHWC, as TensorFlow.js feeds the model), `target` [N, K] (one-hot),
 * `scale` [1] (1/N: the loss is a mean over the batch). Outputs: `out` [N, K] (what the model
 * outputs: logits, or probabilities when it ends in softmax) and `dx` [N, H, W, C].
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { inputGradientProgram, type InputGradientLoss } from '../graph/programs.js';
import { layersToGraph } from './layers-graph.js';

export type { InputGradientLoss } from '../graph/programs.js';

/** A model the engine cannot take (a layer or setting it does not know). */
export { UnsupportedGraphError as UnsupportedModelError } from '../graph/ir.js';

/**
 * Writes the model as an ONNX ModelProto (bytes) computing `out` and `dx` (see the module comment).
 * Throws UnsupportedGraphError for a model it cannot write.
 */
export function exportInputGradientModel(model: tfl.LayersModel, loss: InputGradientLoss): Uint8Array {
  return inputGradientProgram(layersToGraph(model).graph, loss);
}
