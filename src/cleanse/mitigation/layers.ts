/**
 * The layer that Neural Cleanse's mitigations work on, and the model split around it.
 *
 * The paper (§VI) works on the second-to-last layer: the last Dense layer before the output layer
 * (dropout and activation layers in between are skipped, as in the release's GTSRB net:
 * dense512 – dropout – dense43). For the Trojan-attack models it moved to the last convolutional
 * layer; `'last-conv'` picks that one (a neuron is then a channel, its activation the mean over the
 * feature map). The model must be a chain of single-input layers (a Sequential model), so that it
 * can be run up to the layer (features) and from it (the head) separately: pruning curves then
 * re-run only the head on cached features.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { PoisonguardError, ShapeError, UnknownNameError } from '../../errors.js';
import { preprocessInto, type Preprocessing } from '../../nn/preprocess.js';
import { DEFAULT_LAYER } from './defaults.js';

/** The layer choices besides a layer's own name. */
export const LAYER_CHOICES = ['penultimate', 'last-conv'] as const;
export { DEFAULT_LAYER } from './defaults.js';
/** Images per forward pass (speed and memory only). */
export const FEATURE_BATCH = 256;

/** Layers without weights that sit between the second-to-last layer and the output. */
const PASS_THROUGH = new Set(['Dropout', 'Activation', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'SpatialDropout1D', 'SpatialDropout2D']);
/** Activations f with f(0) = 0: a neuron whose weights and bias are zero then outputs exactly 0. */
const ZERO_AT_ZERO = new Set(['relu', 'linear', 'tanh', 'relu6', 'elu', 'selu', 'softsign', 'leakyReLU', 'swish', 'mish', 'gelu', 'gelu_new']);

export interface MitigationLayer {
  /** Index into the chain of layers (see {@link layerChain}). */
  readonly index: number;
  readonly name: string;
  readonly kind: 'dense' | 'conv';
  /** Neurons: units of a Dense layer, filters (channels) of a Conv2D layer. */
  readonly units: number;
  /** Shape of one input's features at the layer's output ([units] or [h, w, channels]). */
  readonly featureShape: readonly number[];
}

/** The model's layers in order, without the InputLayer; throws unless they form a single chain. */
export function layerChain(model: tfl.LayersModel): tfl.layers.Layer[] {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  for (let i = 1; i < layers.length; i++) {
    const inbound = layers[i].inboundNodes.flatMap((n) => n.inboundLayers);
    if (inbound.length !== 1 || inbound[0] !== layers[i - 1]) {
      throw new PoisonguardError(
        'data-format',
        `the model is not a chain of layers (layer '${layers[i].name}' does not take its input from '${layers[i - 1].name}' alone); ` +
          'the mitigations need a Sequential model.',
      );
    }
  }
  return layers;
}

function activationOf(layer: tfl.layers.Layer): string {
  const a = (layer.getConfig() as { activation?: unknown }).activation;
  return typeof a === 'string' ? a : 'linear';
}

/** Resolves `choice` ('penultimate', 'last-conv' or a layer name) on `model`. */
export function resolveLayer(model: tfl.LayersModel, choice: string = DEFAULT_LAYER): MitigationLayer {
  const layers = layerChain(model);
  const describe = (): string => layers.map((l) => `${l.name} (${l.getClassName()})`).join(', ');
  let index: number;
  if (choice === 'penultimate') {
    let i = layers.length - 2;
    while (i >= 0 && PASS_THROUGH.has(layers[i].getClassName())) i--;
    if (i < 0 || layers[i].getClassName() !== 'Dense') {
      throw new PoisonguardError(
        'data-format',
        `the model has no dense second-to-last layer (before its output layer '${layers[layers.length - 1]?.name}' comes ` +
          `${i < 0 ? 'nothing' : `'${layers[i].name}', a ${layers[i].getClassName()}`}); the paper's mitigations work on that layer. ` +
          `Choose the layer 'last-conv' or a Dense or Conv2D layer by name. Layers: ${describe()}.`,
        { path: 'layer', expected: 'a Dense layer before the output layer', received: i < 0 ? 'none' : layers[i].getClassName() },
      );
    }
    index = i;
  } else if (choice === 'last-conv') {
    index = layers.map((l) => l.getClassName()).lastIndexOf('Conv2D');
    if (index < 0) throw new PoisonguardError('data-format', `the model has no Conv2D layer. Layers: ${describe()}.`, { path: 'layer', received: 'last-conv' });
  } else {
    index = layers.findIndex((l) => l.name === choice);
    if (index < 0) throw new UnknownNameError('layer', choice, [...LAYER_CHOICES, ...layers.map((l) => l.name)]);
  }
  const layer = layers[index];
  const cls = layer.getClassName();
  if (cls !== 'Dense' && cls !== 'Conv2D') {
    throw new PoisonguardError('data-format', `layer '${layer.name}' is a ${cls}; the mitigations prune Dense units or Conv2D channels.`, { path: 'layer', received: cls });
  }
  if (index === layers.length - 1) {
    throw new PoisonguardError('data-format', `layer '${layer.name}' is the output layer; choose a hidden layer.`, { path: 'layer', received: layer.name });
  }
  const act = activationOf(layer);
  if (!ZERO_AT_ZERO.has(act)) {
    throw new PoisonguardError('data-format', `layer '${layer.name}' has the activation '${act}', which is not 0 at 0: zeroing its weights would not silence a neuron.`, {
      path: 'layer',
      received: act,
    });
  }
  const shape = layer.outputShape as (number | null)[];
  const featureShape = shape.slice(1) as number[];
  if (featureShape.some((d) => typeof d !== 'number')) throw new ShapeError(`layer '${layer.name}' output`, 'a fixed shape', JSON.stringify(shape));
  const units = featureShape[featureShape.length - 1];
  return { index, name: layer.name, kind: cls === 'Dense' ? 'dense' : 'conv', units, featureShape };
}

/** Runs the chain up to and including `upTo` (inference mode). */
export function forwardTo(layers: readonly tfl.layers.Layer[], x: tf.Tensor, upTo: number): tf.Tensor {
  let y = x;
  for (let i = 0; i <= upTo; i++) y = layers[i].apply(y, { training: false }) as tf.Tensor;
  return y;
}

/** Runs the chain after `from` on features (inference mode). */
export function forwardFrom(layers: readonly tfl.layers.Layer[], features: tf.Tensor, from: number): tf.Tensor {
  let y = features;
  for (let i = from + 1; i < layers.length; i++) y = layers[i].apply(y, { training: false }) as tf.Tensor;
  return y;
}

/** Features of raw images at a layer: the full output, and per neuron (conv: mean over the map). */
export interface Features {
  readonly count: number;
  /** count × prod(featureShape) (present only when asked for). */
  readonly full?: Float32Array;
  /** count × units. */
  readonly perNeuron: Float32Array;
}

/** Computes the features of `count` raw NHWC images (uint8) at `layer`. */
export async function computeFeatures(
  model: tfl.LayersModel,
  layer: MitigationLayer,
  images: Uint8Array,
  shape: readonly [number, number, number],
  preprocessing: Preprocessing,
  keepFull = false,
  onBatch?: (done: number) => void,
): Promise<Features> {
  const layers = layerChain(model);
  const [H, W, C] = shape;
  const size = H * W * C;
  const count = images.length / size;
  const featureSize = layer.featureShape.reduce((a, b) => a * b, 1);
  const perNeuron = new Float32Array(count * layer.units);
  const full = keepFull ? new Float32Array(count * featureSize) : undefined;
  const floats = new Float32Array(Math.min(FEATURE_BATCH, Math.max(count, 1)) * size);
  for (let start = 0; start < count; start += FEATURE_BATCH) {
    const n = Math.min(FEATURE_BATCH, count - start);
    preprocessInto(images.subarray(start * size, (start + n) * size), C, preprocessing, floats);
    const kept = tf.tidy(() => {
      const x = tf.tensor4d(floats.subarray(0, n * size), [n, H, W, C]);
      const out = forwardTo(layers, x, layer.index);
      const per = layer.kind === 'conv' ? tf.mean(out, [1, 2]) : out;
      return keepFull ? [per, out] : [per];
    });
    const p = kept[0];
    const f = keepFull ? kept[1] : undefined;
    perNeuron.set(await p.data(), start * layer.units);
    if (f && full) full.set(await f.data(), start * featureSize);
    for (const t of kept) t.dispose();
    onBatch?.(start + n);
  }
  return { count, perNeuron, ...(full ? { full } : {}) };
}

/**
 * Predicted labels from cached features with the neurons of `keep` (1 = kept, 0 = pruned) applied:
 * the head of the chain runs on features·keep, which equals the output of the model whose pruned
 * neurons have zero weights and bias.
 */
export async function predictFromFeatures(
  model: tfl.LayersModel,
  layer: MitigationLayer,
  full: Float32Array,
  count: number,
  keep: Float32Array,
): Promise<Int32Array> {
  const layers = layerChain(model);
  const featureSize = layer.featureShape.reduce((a, b) => a * b, 1);
  const out = new Int32Array(count);
  const keepT = tf.tensor1d(keep);
  try {
    for (let start = 0; start < count; start += FEATURE_BATCH) {
      const n = Math.min(FEATURE_BATCH, count - start);
      const pred = tf.tidy(() => {
        const f = tf.tensor(full.subarray(start * featureSize, (start + n) * featureSize), [n, ...layer.featureShape]);
        return tf.argMax(forwardFrom(layers, tf.mul(f, keepT), layer.index) as tf.Tensor2D, -1);
      });
      out.set(await pred.data(), start);
      pred.dispose();
    }
  } finally {
    keepT.dispose();
  }
  return out;
}
