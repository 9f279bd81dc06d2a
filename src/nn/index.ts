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
export { squareTrigger, resolveTrigger, stamp, stampInPlace, poisonBadNets, loadPatternTrigger, describeTrigger, describeAttack, attacksOf, attackLabel, isAllToAll, DEFAULT_POISON_RATE, TRIGGER_KINDS } from './trigger.js';
export type { Trigger, SquareTrigger, PatternTrigger, BlendTrigger, SigTrigger, WanetTrigger, Backdoor, AllToAllBackdoor, Attack, AttackTarget, ResolvedTrigger, PoisonResult } from './trigger.js';
export { parseBackdoorSpec, parseAttackSpec, ATTACK_KINDS } from './backdoor-spec.js';
export { Poisoner, poisonSet } from './attacks/poison.js';
export type { PoisonSetResult, PoisonOutcome } from './attacks/poison.js';
export { DEFAULT_BLEND_ALPHA } from './attacks/blend.js';
export { DEFAULT_SIG_DELTA, DEFAULT_SIG_FREQUENCY, DEFAULT_SIG_RATE } from './attacks/sig.js';
export { DEFAULT_WANET_GRID, DEFAULT_WANET_STRENGTH, DEFAULT_WANET_CROSS_RATIO, DEFAULT_WANET_RATE } from './attacks/wanet.js';
export { preprocessingPreset, preprocessBatch, describePreprocessing, PREPROCESSING_PRESETS, DEFAULT_PREPROCESSING } from './preprocess.js';
export type { Preprocessing } from './preprocess.js';
export { reinitialiseLikeTorch, torchInitRules, untieWeights, TORCH_PRELU_INIT } from './torch-init.js';
export type { InitRule, TorchInitSummary } from './torch-init.js';
