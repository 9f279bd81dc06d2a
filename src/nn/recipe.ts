/**
 * The training recipe of the Neural Cleanse release's infected models (BadNets injection), as
 * defaults. Kept free of TensorFlow.js so that the CLI's option table can show them cheaply.
 */
import { DEFAULT_PREPROCESSING_PRESET, type PreprocessingPreset } from './preprocess.js';

/** Epochs of the release's GTSRB recipe. */
export const DEFAULT_EPOCHS = 10;
/** Mini-batch size: 32, the Keras default that the release's training used. */
export const DEFAULT_BATCH_SIZE = 32;
/** Adam learning rate of the release (Keras default 1e-3). */
export const DEFAULT_LEARNING_RATE = 1e-3;
/** Batch size for inference only (no effect on the results, only on speed and memory). */
export const DEFAULT_EVAL_BATCH_SIZE = 256;

/** The Neural Cleanse release's GTSRB injection: Adam(lr = 0.001, decay = 1e-4). */
export const RELEASE_LR_DECAY = 1e-4;

/** Architectures by name; each is also the name of the dataset it was designed for. */
export const ARCH_NAMES = ['mnist', 'gtsrb'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

/**
 * How batches are drawn. 'release': the Neural Cleanse release's GTSRB injection (draws with
 * replacement, n/(1 − rate) draws per epoch in whole batches, Keras learning-rate decay
 * {@link RELEASE_LR_DECAY}, raw pixels unless told otherwise). 'shuffle': each image once per
 * epoch, constant learning rate.
 */
export const GENERATORS = ['release', 'shuffle'] as const;
export type GeneratorName = (typeof GENERATORS)[number];

/** The default generator of a dataset: the release's for GTSRB (the model the release infected), else shuffling. */
export function defaultGenerator(dataset: string): GeneratorName {
  return dataset === 'gtsrb' ? 'release' : 'shuffle';
}

/**
 * How a backdoor is planted: 'on-the-fly' (the Neural Cleanse release: each drawn image is poisoned
 * with the rate's probability, a fresh subset every epoch) or 'fixed' (one subset poisoned once, as in BadNets).
 */
export const POISONINGS = ['on-the-fly', 'fixed'] as const;
export type Poisoning = (typeof POISONINGS)[number];
export const DEFAULT_POISONING: Poisoning = 'on-the-fly';

/** The release fed GTSRB raw pixels (0..255) to its network. */
export const RELEASE_PREPROCESSING_PRESET: PreprocessingPreset = 'raw';

/** The default preprocessing preset of a generator: the release's raw pixels with its generator, else the default. */
export function defaultPreprocessingPreset(generator: GeneratorName): PreprocessingPreset {
  return generator === 'release' ? RELEASE_PREPROCESSING_PRESET : DEFAULT_PREPROCESSING_PRESET;
}

/** The engine that runs the training epochs when none is given: the native one where it takes the model (engine-choice.ts). */
export { DEFAULT_MODEL_ENGINE as DEFAULT_TRAIN_ENGINE } from './engine-choice.js';
