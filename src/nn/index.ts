/**
 * `poisonguard/nn`: the TensorFlow.js engine, architectures, training (the whole backdoored-model
 * pipeline, trainRun), triggers and BadNets poisoning, preprocessing, safe model load and save.
 */
export * from '../errors.js';
// Neural engine, models, image data, triggers and training
export { initEngine, BACKENDS, DEFAULT_BACKEND } from './engine.js';
export type { BackendChoice, BackendName, EngineOptions, EngineInfo } from './engine.js';
export { mnistNet, gtsrbNet, MNIST_INPUT_SHAPE, GTSRB_INPUT_SHAPE, PENULTIMATE_LAYER } from './architectures.js';
export type { NetOptions, ImageShape } from './architectures.js';
export { saveModel, loadModel, readMetadata, fileLoadHandler, fileSaveHandler, MODEL_JSON, WEIGHTS_BIN, METADATA_JSON } from './model-io.js';
export type { ModelMetadata, LoadedModel } from './model-io.js';
export { trainModel, evaluateModel, predictLabels, SAMPLINGS, UNCHANGED_STAMP } from './train.js';
export type { TrainOptions, TrainProgress, TrainResult, TrainEngine, TrainCheckpoint, EpochSummary, EvaluateOptions, EvaluationResult, Sampling } from './train.js';
export { TFJS_TRAIN_ENGINE } from './train.js';
export { trainRun } from './train-run.js';
export type { TrainRunOptions, TrainRunReport, TrainRunEvent, TrainPlan } from './train-run.js';
export { ARCH_NAMES, GENERATORS, POISONINGS } from './recipe.js';
/** The training recipe's defaults (the Neural Cleanse release's: DEFAULT_EPOCHS 10, RELEASE_LR_DECAY 1e-4, …), under one name. */
export * as trainDefaults from './recipe.js';
export type { ArchName, GeneratorName, Poisoning } from './recipe.js';
export { squareTrigger, resolveTrigger, stamp, stampInPlace, poisonBadNets, parseBackdoorSpec, loadPatternTrigger, describeTrigger, DEFAULT_POISON_RATE } from './trigger.js';
export type { Trigger, SquareTrigger, PatternTrigger, Backdoor, ResolvedTrigger, PoisonResult } from './trigger.js';
export { preprocessingPreset, preprocessBatch, describePreprocessing, PREPROCESSING_PRESETS, DEFAULT_PREPROCESSING } from './preprocess.js';
export type { Preprocessing } from './preprocess.js';
