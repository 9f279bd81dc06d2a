/**
 * The two network architectures of the Neural Cleanse experiments, as tf.layers Sequential models
 * (NHWC inputs). They are returned uncompiled: the caller chooses optimizer and loss.
 *
 * - {@link mnistNet}: the BadNets paper's MNIST baseline (Gu et al. 2017, Table 1), with max
 *   pooling: conv16 5x5 – maxpool 2 – conv32 5x5 – maxpool 2 – dense512 – dense(numClasses).
 * - {@link gtsrbNet}: the Neural Cleanse release's traffic-sign net (`load_traffic_sign_model` in
 *   bolunwang/backdoor, injection/gtsrb_injection_example.py): three blocks of
 *   conv 3x3 'same' – conv 3x3 'valid' – maxpool 2 – dropout 0.2, with 32, 64, 128 filters, then
 *   dense512 – dropout 0.5 – dense(numClasses).
 *
 * Both use ReLU and Keras's default initializers (Glorot-uniform kernels, zero biases), seeded per
 * layer from one seed, so the same seed gives the same weights on every backend. The last layer
 * outputs logits by default (apply softmax for probabilities, or ask for `outputActivation:
 * 'softmax'`, as in the release's saved Keras models). Dropout masks are not seeded: a seeded
 * tf.layers Dropout draws the same mask at every step.
 */
import * as tf from '@tensorflow/tfjs-layers';
import { OptionError } from '../errors.js';
import { checkOneOf, checkPositiveInt } from '../options.js';
import { checkSeed, Random, DEFAULT_SEED } from '../random.js';

/** Image shape [height, width, channels] (NHWC without the batch). */
export type ImageShape = [number, number, number];

export const OUTPUT_ACTIVATIONS = ['linear', 'softmax'] as const;
export type OutputActivation = (typeof OUTPUT_ACTIVATIONS)[number];

export interface NetOptions {
  /** Input image shape [height, width, channels]; defaults per net (MNIST 28x28x1, GTSRB 32x32x3). */
  readonly inputShape?: ImageShape;
  /** Number of classes (units of the last layer); defaults per net (MNIST 10, GTSRB 43). */
  readonly numClasses?: number;
  /** Seed of the weight initializers; the same seed gives the same model. Default 0. */
  readonly seed?: number;
  /** Activation of the last layer: 'linear' (logits, default) or 'softmax'. */
  readonly outputActivation?: OutputActivation;
}

/** MNIST defaults: 28x28 grey images, 10 digits. */
export const MNIST_INPUT_SHAPE: ImageShape = [28, 28, 1];
export const MNIST_CLASSES = 10;
/** GTSRB defaults (the release's preprocessing): 32x32 RGB, 43 sign classes. */
export const GTSRB_INPUT_SHAPE: ImageShape = [32, 32, 3];
export const GTSRB_CLASSES = 43;
export const DEFAULT_OUTPUT_ACTIVATION: OutputActivation = 'linear';

/** Name of the penultimate (dense 512) layer, where the mitigations of Neural Cleanse work. */
export const PENULTIMATE_LAYER = 'dense1';

interface Resolved {
  inputShape: ImageShape;
  numClasses: number;
  outputActivation: OutputActivation;
  /** A fresh seed for each layer's initializer, in layer order. */
  nextSeed: () => number;
}

function resolve(options: NetOptions, defaultShape: ImageShape, defaultClasses: number): Resolved {
  const inputShape = options.inputShape ?? defaultShape;
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new OptionError('inputShape', 'three positive integers [height, width, channels]', inputShape);
  }
  const numClasses = checkPositiveInt('numClasses', options.numClasses ?? defaultClasses);
  const seed = checkSeed('seed', options.seed ?? DEFAULT_SEED);
  const outputActivation = checkOneOf('outputActivation', options.outputActivation ?? DEFAULT_OUTPUT_ACTIVATION, OUTPUT_ACTIVATIONS);
  const rng = new Random(seed);
  return { inputShape: [...inputShape] as ImageShape, numClasses, outputActivation, nextSeed: () => rng.nextUint32() };
}

/** Spatial size after a 'valid' k x k convolution or a 2x2 pooling, for the input-size check. */
function afterValidConv(size: number, k: number): number {
  return size - k + 1;
}
function afterPool(size: number): number {
  return Math.floor(size / 2);
}

function checkFits(net: string, inputShape: ImageShape, size: (d: number) => number, minimum: string): void {
  const h = size(inputShape[0]);
  const w = size(inputShape[1]);
  if (h < 1 || w < 1) throw new OptionError('inputShape', `large enough for ${net} (${minimum})`, inputShape);
}

function conv(name: string, filters: number, kernelSize: number, padding: 'same' | 'valid', seed: number, inputShape?: ImageShape): tf.layers.Layer {
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize,
    padding,
    activation: 'relu',
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    biasInitializer: 'zeros',
    ...(inputShape ? { inputShape } : {}),
  });
}

function dense(name: string, units: number, activation: 'relu' | OutputActivation, seed: number): tf.layers.Layer {
  return tf.layers.dense({
    name,
    units,
    activation,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    biasInitializer: 'zeros',
  });
}

/** The MNIST net: conv16 5x5 – maxpool – conv32 5x5 – maxpool – dense512 – dense(numClasses); ReLU. */
export function mnistNet(options: NetOptions = {}): tf.Sequential {
  const r = resolve(options, MNIST_INPUT_SHAPE, MNIST_CLASSES);
  checkFits('mnistNet', r.inputShape, (d) => afterPool(afterValidConv(afterPool(afterValidConv(d, 5)), 5)), 'at least 16x16');
  const model = tf.sequential({ name: 'mnist_net' });
  model.add(conv('conv1', 16, 5, 'valid', r.nextSeed(), r.inputShape));
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }));
  model.add(conv('conv2', 32, 5, 'valid', r.nextSeed()));
  model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(dense(PENULTIMATE_LAYER, 512, 'relu', r.nextSeed()));
  model.add(dense('logits', r.numClasses, r.outputActivation, r.nextSeed()));
  return model;
}

/** Dropout rates of the release's GTSRB net. */
export const GTSRB_CONV_DROPOUT = 0.2;
export const GTSRB_DENSE_DROPOUT = 0.5;

/** The Neural Cleanse release's GTSRB net (see the module comment). */
export function gtsrbNet(options: NetOptions = {}): tf.Sequential {
  const r = resolve(options, GTSRB_INPUT_SHAPE, GTSRB_CLASSES);
  const block = (d: number): number => afterPool(afterValidConv(d, 3));
  checkFits('gtsrbNet', r.inputShape, (d) => block(block(block(d))), 'at least 22x22');
  const model = tf.sequential({ name: 'gtsrb_net' });
  [32, 64, 128].forEach((filters, i) => {
    const b = i + 1;
    model.add(conv(`conv${b}a`, filters, 3, 'same', r.nextSeed(), i === 0 ? r.inputShape : undefined));
    model.add(conv(`conv${b}b`, filters, 3, 'valid', r.nextSeed()));
    model.add(tf.layers.maxPooling2d({ name: `pool${b}`, poolSize: 2 }));
    model.add(tf.layers.dropout({ name: `dropout${b}`, rate: GTSRB_CONV_DROPOUT }));
  });
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(dense(PENULTIMATE_LAYER, 512, 'relu', r.nextSeed()));
  model.add(tf.layers.dropout({ name: 'dropout4', rate: GTSRB_DENSE_DROPOUT }));
  model.add(dense('logits', r.numClasses, r.outputActivation, r.nextSeed()));
  return model;
}
