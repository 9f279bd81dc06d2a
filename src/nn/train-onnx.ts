/**
 * The native trainer as a {@link TrainEngine} for tf.layers models: the model becomes the engine's
 * graph (layersToGraph), {@link trainGraph} trains its weights, and they are written back into the
 * model's variables after every epoch (so that an epoch-end checkpoint saves the trained model) and
 * at the end. Adam's state travels in checkpoints as named tensors in the graph's layouts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSet } from '../data/images.js';
import { OptionError } from '../errors.js';
import { ACC_BETA1, ACC_BETA2, type AdamState } from './adam.js';
import { DEFAULT_MODEL_ENGINE, type ModelEngineChoice } from './engine-choice.js';
import { layersToGraph, writeWeightsToLayers, type LayerWeightRef } from './layers-graph.js';
import type { NamedTensor } from './model-io.js';
import { resolveModelEngine, type ModelEngineDecision } from './onnx-gradient.js';
import { checkModelFits, TFJS_TRAIN_ENGINE, type TrainEngine, type TrainOptions, type TrainResult } from './train.js';
import { trainGraph, type GraphTrainOptions, type ZeroedWeight } from './train-native.js';

/** The name of Adam's step count in a checkpoint (TF.js's own name for it). */
const ITERATIONS = 'iter';

/** Adam's state as the named tensors a checkpoint saves (the caller disposes them). */
export function adamStateTensors(state: AdamState): NamedTensor[] {
  const out: NamedTensor[] = [{ name: ITERATIONS, tensor: tf.scalar(state.step, 'int32') }];
  for (const [name, m] of state.m) out.push({ name: `${name}/m`, tensor: tf.tensor1d(m) });
  for (const [name, v] of state.v) out.push({ name: `${name}/v`, tensor: tf.tensor1d(v) });
  out.push({ name: ACC_BETA1, tensor: tf.scalar(state.accBeta1) }, { name: ACC_BETA2, tensor: tf.scalar(state.accBeta2) });
  return out;
}

/** Adam's state back from a checkpoint's named tensors ({@link adamStateTensors}). */
export function adamStateFromTensors(tensors: readonly NamedTensor[]): AdamState {
  const scalar = (name: string): number => {
    const t = tensors.find((w) => w.name === name);
    if (t === undefined) throw new OptionError('optimizerState', `a native engine's Adam state (with '${name}')`, tensors.map((w) => w.name).slice(0, 4).join(', '));
    return t.tensor.dataSync()[0];
  };
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const w of tensors) {
    const into = w.name.endsWith('/m') ? m : w.name.endsWith('/v') ? v : undefined;
    into?.set(w.name.slice(0, -2), Float32Array.from(w.tensor.dataSync() as Float32Array));
  }
  return { step: scalar(ITERATIONS), accBeta1: scalar(ACC_BETA1), accBeta2: scalar(ACC_BETA2), m, v };
}

/** Weights held at zero, named by the model's variables along the variable's own axes. */
export interface ZeroedVariable {
  readonly variable: string;
  readonly keep: Float32Array;
  readonly axis: 'first' | 'last';
}

/** The graph's view of a zeroed variable: a Conv2D kernel's last axis (output channels) is the graph's first. */
function zeroedInGraph(refs: readonly LayerWeightRef[], z: ZeroedVariable): ZeroedWeight {
  const ref = refs.find((r) => r.name === z.variable);
  if (ref === undefined || ref.layout === 'hwcm→o1hw') throw new OptionError('zeroed', 'weights of Dense or Conv2D layers', z.variable);
  return { weight: ref.name, keep: z.keep, axis: ref.layout === 'hwio→oihw' ? (z.axis === 'last' ? 'first' : 'last') : z.axis };
}

export interface LayersTrainOptions extends TrainOptions, Pick<GraphTrainOptions, 'batchNorm' | 'threads' | 'sampleWeights'> {
  /** Variables held at zero along an axis after every update (pruned neurons). */
  readonly zeroed?: readonly ZeroedVariable[];
}

/** Trains a tf.layers model in place on the native engine ({@link trainModel}'s contract). */
export async function trainLayersNative(model: tfl.LayersModel, set: ImageSet, options: LayersTrainOptions = {}): Promise<TrainResult> {
  checkModelFits(model, set);
  const { graph, refs } = layersToGraph(model);
  const weights = new Map([...graph.weights].map(([k, w]) => [k, w.data]));
  const { optimizerState, onEpochEnd, zeroed, ...rest } = options;
  const result = await trainGraph(graph, weights, set, {
    ...rest,
    ...(optimizerState ? { optimizerState: adamStateFromTensors(optimizerState) } : {}),
    ...(zeroed ? { zeroed: zeroed.map((z) => zeroedInGraph(refs, z)) } : {}),
    onEpochEnd: async (summary, checkpoint) => {
      writeWeightsToLayers(refs, checkpoint.weights);
      await onEpochEnd?.(summary, { optimizerWeights: async () => adamStateTensors(checkpoint.optimizerState()) });
    },
  });
  writeWeightsToLayers(refs, weights);
  return result;
}

/** The native engine running a training's epochs ({@link trainLayersNative}); recorded as 'onnx'. */
export const ONNX_TRAIN_ENGINE: TrainEngine = { name: 'onnx', train: trainLayersNative };

/** The engine that will train `model`, and why ('auto' falls back to TF.js when the native engine cannot take it). */
export async function resolveTrainEngine(model: tfl.LayersModel, choice: ModelEngineChoice = DEFAULT_MODEL_ENGINE): Promise<{ engine: TrainEngine; decision: ModelEngineDecision }> {
  const decision = await resolveModelEngine(model, choice, 'training');
  return { engine: decision.engine === 'onnx' ? ONNX_TRAIN_ENGINE : TFJS_TRAIN_ENGINE, decision };
}
