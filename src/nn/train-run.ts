/**
 * The whole "train a (possibly backdoored) image classifier" run behind `poisonguard train`: the
 * recipe resolved and checked (the release's generator and decay, the poisoning, the resume
 * checks), every input checked against the model before the first epoch, a checkpoint (model,
 * metadata.json, optimizer state) after every epoch, the test figures last. The epochs themselves
 * are a pluggable step ({@link TrainEngine}): the native engine on onnxruntime where it takes the
 * model ('auto', the default), TensorFlow.js's {@link trainModel} otherwise or when asked for.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadImageDataset } from '../data/image-registry.js';
import { OptionError, UnknownNameError } from '../errors.js';
import { checkOneOf, checkPositive, checkPositiveInt, checkRange } from '../options.js';
import { checkSeed, DEFAULT_SEED, Random } from '../random.js';
import { claimOutputDir } from '../outputs.js';
import { gtsrbNet, mnistNet } from './architectures.js';
import { initEngine, type BackendChoice, type EngineInfo } from './engine.js';
import { DEFAULT_MODEL_ENGINE, MODEL_ENGINES, type ModelEngineChoice } from './engine-choice.js';
import {
  loadModel,
  loadOptimizerState,
  METADATA_FORMAT,
  METADATA_JSON,
  METADATA_VERSION,
  MODEL_FOLDER_FILES,
  saveMetadata,
  saveModel,
  saveOptimizerState,
  type ModelMetadata,
  type NamedTensor,
} from './model-io.js';
import { preprocessingPreset, type Preprocessing } from './preprocess.js';
import {
  ARCH_NAMES,
  DEFAULT_BATCH_SIZE,
  DEFAULT_EPOCHS,
  DEFAULT_LEARNING_RATE,
  DEFAULT_POISONING,
  defaultGenerator,
  defaultPreprocessingPreset,
  GENERATORS,
  POISONINGS,
  RELEASE_LR_DECAY,
  type ArchName,
  type GeneratorName,
  type Poisoning,
} from './recipe.js';
import {
  checkModelFits,
  evaluateModel,
  SAMPLINGS,
  TFJS_TRAIN_ENGINE,
  type EpochSummary,
  type EvaluationResult,
  type Sampling,
  type TrainCheckpoint,
  type TrainEngine,
  type TrainProgress,
} from './train.js';
import { resolveTrainEngine } from './train-onnx.js';
import { Poisoner, poisonSet } from './attacks/poison.js';
import { isAllToAll, isCleanLabel, type Attack } from './trigger.js';

export interface TrainRunOptions {
  /** Image dataset: 'mnist', 'gtsrb', or a folder with one sub-folder per class. */
  readonly dataset: string;
  /** The dataset's folder (default: the registry's: embedded MNIST, GTSRB from the shared data folder). */
  readonly dataDir?: string;
  /** Network (default: the dataset's own net; required for a folder). */
  readonly arch?: ArchName;
  /**
   * The backdoor to plant (default: none, a clean model), or several, each with its own trigger
   * and target (see attacks/poison.ts for how they share the training images).
   */
  readonly backdoor?: Attack | readonly Attack[];
  /** How the backdoor is planted (default {@link DEFAULT_POISONING}). */
  readonly poisoning?: Poisoning;
  /** How batches are drawn (default: {@link defaultGenerator} of the dataset). */
  readonly generator?: GeneratorName;
  /** Overrides the generator's sampling ('replacement' for the release, else 'permutation'). */
  readonly sampling?: Sampling;
  /** Overrides the generator's draws per epoch (release: n/(1 − rate) in whole batches; else n). */
  readonly drawsPerEpoch?: number;
  /** Overrides the generator's learning-rate decay ({@link RELEASE_LR_DECAY} for the release, else 0). */
  readonly learningRateDecay?: number;
  /** Total epochs (default {@link DEFAULT_EPOCHS}); with `resume`, the epochs to reach. */
  readonly epochs?: number;
  /** Mini-batch size (default {@link DEFAULT_BATCH_SIZE}). */
  readonly batchSize?: number;
  /** Adam's learning rate (default {@link DEFAULT_LEARNING_RATE}). */
  readonly learningRate?: number;
  /** Seed of the weights, the draws and the poisoning (default {@link DEFAULT_SEED}). */
  readonly seed?: number;
  /** Input preprocessing saved with the model (default: {@link defaultPreprocessingPreset} of the generator). */
  readonly preprocessing?: Preprocessing;
  /** TF.js backend (default: the engine's choice). */
  readonly backend?: BackendChoice;
  /** Folder the model is written to (model.json, weights.bin, metadata.json, optimizer state). */
  readonly out: string;
  /** Write over a non-empty `out`. */
  readonly force?: boolean;
  /** Continue the training checkpointed in `out` up to `epochs`, with the same recipe. */
  readonly resume?: boolean;
  /**
   * What runs the epochs: 'auto' (default {@link DEFAULT_MODEL_ENGINE}: the native engine when
   * onnxruntime loads and the engine takes the model, else TF.js; a resume stays on the engine its
   * checkpoint was written by), 'onnx', 'tfjs', or an engine of one's own.
   */
  readonly engine?: TrainEngine | ModelEngineChoice;
  /** Called as the run goes (the library never prints). */
  readonly onProgress?: (event: TrainRunEvent) => void;
}

/** Everything a run resolved before its first epoch. */
export interface TrainPlan {
  /** The engine running the epochs ('onnx', 'tfjs'). */
  readonly engine: string;
  /** Why that engine (asked for, or why 'auto' chose it). */
  readonly engineReason: string;
  /** The TF.js backend holding the model. */
  readonly backend: EngineInfo;
  readonly dataset: {
    readonly name: string;
    readonly source: string;
    readonly numClasses: number;
    readonly trainCount: number;
    readonly testCount: number;
    /** [height, width, channels]. */
    readonly inputShape: readonly [number, number, number];
  };
  readonly arch: ArchName;
  readonly preprocessing: Preprocessing;
  readonly generator: GeneratorName;
  /** Whether sampling, draws or decay were set apart from the generator's. */
  readonly generatorAdjusted: boolean;
  readonly sampling: Sampling;
  readonly drawsPerEpoch: number;
  readonly learningRateDecay: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  /** The backdoors planted, or null for a clean model. */
  readonly backdoor: {
    readonly attacks: readonly Attack[];
    readonly poisoning: Poisoning;
    /** Fixed poisoning: images stamped with a trigger. */
    readonly poisonedCount?: number;
    /** Fixed poisoning: WaNet's noise-mode images (warped, true labels kept). */
    readonly noiseCount?: number;
  } | null;
  /** Set when the run continues a checkpoint. */
  readonly resume: { readonly fromEpoch: number; /** Whether the optimizer's state was saved with it (else Adam restarts). */ readonly optimizerState: boolean } | null;
  /** The model folder. */
  readonly out: string;
}

export type TrainRunEvent =
  | { readonly kind: 'start'; readonly plan: TrainPlan }
  | ({ readonly kind: 'batch' } & TrainProgress)
  | { readonly kind: 'checkpoint'; readonly epoch: number; readonly epochs: number; readonly out: string }
  | { readonly kind: 'trained'; readonly seconds: number; readonly imagesPerSecond: number }
  | { readonly kind: 'evaluating' };

export interface TrainRunReport {
  readonly plan: TrainPlan;
  /** The epochs this call ran (after a resume, only the new ones). */
  readonly history: readonly EpochSummary[];
  /** Training time of this call (checkpoints excluded). */
  readonly seconds: number;
  readonly imagesPerSecond: number;
  /** Test figures of the final model. */
  readonly evaluation: EvaluationResult;
  /** What metadata.json holds. */
  readonly metadata: ModelMetadata;
}

/** Trains a model as `options` say and writes it to `options.out`; see the module comment. */
export async function trainRun(options: TrainRunOptions): Promise<TrainRunReport> {
  const epochs = checkPositiveInt('epochs', options.epochs ?? DEFAULT_EPOCHS);
  const batchSize = checkPositiveInt('batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE);
  const learningRate = checkPositive('learningRate', options.learningRate ?? DEFAULT_LEARNING_RATE);
  const seed = checkSeed('seed', options.seed ?? DEFAULT_SEED);
  const arch = options.arch ?? ((ARCH_NAMES as readonly string[]).includes(options.dataset) ? (options.dataset as ArchName) : undefined);
  if (arch === undefined) throw new OptionError('arch', `given when the dataset is a folder (one of ${ARCH_NAMES.join(', ')})`, undefined);
  if (!(ARCH_NAMES as readonly string[]).includes(arch)) throw new UnknownNameError('architecture', arch, ARCH_NAMES);
  const generator = options.generator ?? defaultGenerator(options.dataset);
  if (!(GENERATORS as readonly string[]).includes(generator)) throw new UnknownNameError('generator', generator, GENERATORS);
  const release = generator === 'release';
  const poisoning = options.poisoning ?? DEFAULT_POISONING;
  if (!(POISONINGS as readonly string[]).includes(poisoning)) throw new UnknownNameError('poisoning', poisoning, POISONINGS);
  const sampling = checkOneOf('sampling', options.sampling ?? (release ? 'replacement' : 'permutation'), SAMPLINGS);
  const learningRateDecay = checkRange('learningRateDecay', options.learningRateDecay ?? (release ? RELEASE_LR_DECAY : 0), 0, Infinity);
  const preprocessing = options.preprocessing ?? preprocessingPreset(defaultPreprocessingPreset(generator));
  const engineChoice = options.engine ?? DEFAULT_MODEL_ENGINE;
  let engine: TrainEngine = typeof engineChoice === 'object' ? engineChoice : TFJS_TRAIN_ENGINE;
  let engineReason = typeof engineChoice === 'object' ? 'given' : '';
  if (typeof engineChoice === 'string' && !(MODEL_ENGINES as readonly string[]).includes(engineChoice)) throw new UnknownNameError('engine', engineChoice, MODEL_ENGINES);
  const { resume = false, force = false } = options;
  const attacks: readonly Attack[] = options.backdoor === undefined ? [] : 'trigger' in options.backdoor ? [options.backdoor] : options.backdoor;
  // The first backdoor is the one metadata.json's trigger, target and rate describe (older readers know only one).
  const backdoor = attacks[0];
  if (resume && force) throw new OptionError('resume', 'not combined with force (one continues the model in out, the other replaces it)', true);
  const trained = existsSync(join(resolve(options.out), METADATA_JSON));
  if (resume && !trained) throw new OptionError('resume', `used with a model folder written by a training run (with ${METADATA_JSON})`, options.out);
  // Claimed before any data is loaded: a folder that cannot be used costs nothing; with force,
  // only a model folder's own files are replaced.
  const out = claimOutputDir(options.out, {
    option: 'out',
    existing: resume ? 'resume' : 'fresh',
    force,
    own: MODEL_FOLDER_FILES,
    foreign: 'keep',
    hint: trained ? ', {resume} to continue its training' : '',
  });

  const backend = await initEngine(options.backend !== undefined ? { backend: options.backend } : {});
  const data = loadImageDataset(options.dataset, options.dataDir, seed);
  const { train, test } = data;
  const inputShape = [train.height, train.width, train.channels] as const;
  // The release draws n/(1 − rate) images per epoch (so that about n keep their own label), in
  // whole batches. Only dirty-label backdoors relabel draws: a clean-label one (SIG, whose rate is
  // a share of its target class, up to 1) adds none, and several dirty-label ones add their sum.
  const relabelled = attacks.filter((a) => !isCleanLabel(a.trigger)).reduce((sum, a) => sum + a.rate, 0);
  if (release && relabelled >= 1) throw new OptionError('backdoor', "dirty-label rates summing to less than 1 with the release's generator (it draws n/(1 − their sum) images per epoch)", relabelled);
  const drawsPerEpoch = checkPositiveInt('drawsPerEpoch', options.drawsPerEpoch ?? (release ? Math.floor(train.count / (1 - relabelled) / batchSize) * batchSize : train.count));
  if (sampling === 'permutation' && drawsPerEpoch !== train.count) {
    throw new OptionError('drawsPerEpoch', `the training set's size (${train.count}) with 'permutation' sampling (other counts need 'replacement')`, String(drawsPerEpoch));
  }
  let trainSet = train;
  let fixedPoisoned: number | undefined;
  let fixedNoise: number | undefined;
  const poisoner = backdoor ? new Poisoner(attacks, data.numClasses, train.height, train.width, train.channels) : undefined;
  if (poisoner && poisoning === 'fixed') {
    // The poisoning draws from its own stream so that the model's weights do not depend on it.
    const poisoned = poisonSet(train, poisoner, new Random(seed).fork());
    trainSet = poisoned.set;
    fixedPoisoned = poisoned.poisoned.length;
    fixedNoise = poisoned.noise.length;
  }
  // Written only when trigger, target and rate cannot say it all: several backdoors, or all-to-all.
  const backdoorList = attacks.length > 1 || (backdoor && isAllToAll(backdoor)) ? { backdoors: attacks } : {};

  const recipeOf = (): Partial<ModelMetadata> => ({
    dataset: data.name,
    arch,
    seed,
    batchSize,
    learningRate,
    preprocessing,
    trigger: backdoor?.trigger ?? null,
    target: backdoor && !isAllToAll(backdoor) ? backdoor.target : null,
    poisonRate: backdoor?.rate ?? null,
    ...backdoorList,
    ...(backdoor ? { poisoning } : {}),
    sampling,
    drawsPerEpoch,
    learningRateDecay,
    engine: engine.name,
  });
  const chooseEngine = async (choice: ModelEngineChoice): Promise<void> => {
    const chosen = await resolveTrainEngine(model, choice);
    engine = chosen.engine;
    engineReason = chosen.decision.reason;
  };
  let model: tfl.LayersModel;
  let startEpoch = 0;
  let previousSeconds = 0;
  let poisonedCount = fixedPoisoned ?? 0;
  let optimizerState: NamedTensor[] | undefined;
  if (resume) {
    const loaded = await loadModel(out);
    model = loaded.model;
    try {
      const m = loaded.metadata;
      if (!m) throw new OptionError('resume', `used with a model folder written by a training run (with ${METADATA_JSON})`, out);
      // 'auto' continues on the checkpoint's engine (a checkpoint resumes only on the engine that wrote it).
      // (An engine of one's own recorded there: 'auto' resolves as for a new run, and the check below refuses it.)
      const recorded = (m.engine ?? 'tfjs') as ModelEngineChoice;
      if (typeof engineChoice === 'string') await chooseEngine(engineChoice === 'auto' && MODEL_ENGINES.includes(recorded) ? recorded : engineChoice);
      checkSameRecipe(m, recipeOf(), train.count);
      if (m.epochs >= epochs) throw new OptionError('epochs', `more than the ${m.epochs} epochs the model in ${out} already has`, epochs);
      startEpoch = m.epochs;
      previousSeconds = m.trainSeconds;
      if (poisoning === 'on-the-fly') poisonedCount = m.poisonedCount;
    } catch (e) {
      model.dispose();
      throw e;
    }
  } else {
    const build = arch === 'mnist' ? mnistNet : gtsrbNet;
    model = build({ inputShape: [...inputShape], numClasses: data.numClasses, seed });
    try {
      if (typeof engineChoice === 'string') await chooseEngine(engineChoice);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  try {
    // Every input checked against the model before the first epoch (a test set that does not fit
    // would otherwise fail only after the training, with nothing saved).
    checkModelFits(model, trainSet);
    checkModelFits(model, test, 'test set');
    if (resume) optimizerState = loadOptimizerState(out, startEpoch);
    const plan: TrainPlan = {
      engine: engine.name,
      engineReason,
      backend,
      dataset: { name: data.name, source: data.source, numClasses: data.numClasses, trainCount: train.count, testCount: test.count, inputShape },
      arch,
      preprocessing,
      generator,
      generatorAdjusted: options.sampling !== undefined || options.drawsPerEpoch !== undefined || options.learningRateDecay !== undefined,
      sampling,
      drawsPerEpoch,
      learningRateDecay,
      epochs,
      batchSize,
      learningRate,
      seed,
      backdoor: backdoor
        ? { attacks, poisoning, ...(fixedPoisoned !== undefined ? { poisonedCount: fixedPoisoned } : {}), ...(fixedNoise ? { noiseCount: fixedNoise } : {}) }
        : null,
      resume: resume ? { fromEpoch: startEpoch, optimizerState: optimizerState !== undefined } : null,
      out,
    };
    options.onProgress?.({ kind: 'start', plan });

    const metadata = (epoch: number, trainSeconds: number, evaluation?: EvaluationResult): ModelMetadata =>
      ({
        format: METADATA_FORMAT,
        formatVersion: METADATA_VERSION,
        ...recipeOf(),
        numClasses: data.numClasses,
        inputShape,
        poisonedCount,
        backend: backend.backend,
        epochs: epoch,
        cleanAccuracy: evaluation?.cleanAccuracy ?? null,
        attackSuccessRate: evaluation?.attackSuccessRate ?? null,
        ...(evaluation?.attacks ? { attackSuccessRates: evaluation.attacks.map((a) => a.attackSuccessRate) } : {}),
        trainSeconds: round(trainSeconds, 1),
        imagesPerSecond: Math.round((epoch * drawsPerEpoch) / trainSeconds),
        date: new Date().toISOString(),
      }) as ModelMetadata;
    let trainSeconds = previousSeconds;
    let last: ModelMetadata | undefined;
    const saveCheckpoint = async (epoch: number, checkpoint: TrainCheckpoint): Promise<void> => {
      // The model first, then the optimizer state tagged with this epoch: a state left from an
      // earlier epoch (an interruption in between) is not used by a resume.
      last = metadata(epoch, trainSeconds);
      await saveModel(model, out, last);
      const weights = await checkpoint.optimizerWeights();
      try {
        await saveOptimizerState(out, epoch, weights);
      } finally {
        for (const w of weights) w.tensor.dispose();
      }
    };
    let result;
    try {
      result = await engine.train(model, trainSet, {
        epochs,
        batchSize,
        learningRate,
        seed,
        preprocessing,
        startEpoch,
        sampling,
        drawsPerEpoch,
        learningRateDecay,
        ...(optimizerState ? { optimizerState } : {}),
        ...(poisoner && poisoning === 'on-the-fly' ? { poisonOnTheFly: { poisoner, seed } } : {}),
        onProgress: (p) => options.onProgress?.({ kind: 'batch', ...p }),
        // A checkpoint after every epoch, the last one included and before the test figures, so
        // that a long run survives an interruption, and a failure while evaluating loses nothing.
        onEpochEnd: async (e, checkpoint) => {
          trainSeconds += e.seconds;
          if (backdoor && poisoning === 'on-the-fly') poisonedCount += e.poisoned;
          await saveCheckpoint(e.epoch, checkpoint);
          options.onProgress?.({ kind: 'checkpoint', epoch: e.epoch, epochs, out });
        },
      });
    } finally {
      for (const w of optimizerState ?? []) w.tensor.dispose();
    }
    options.onProgress?.({ kind: 'trained', seconds: result.seconds, imagesPerSecond: result.imagesPerSecond });
    options.onProgress?.({ kind: 'evaluating' });
    const evaluation = await evaluateModel(model, test, { preprocessing, ...(backdoor ? { backdoor: attacks } : {}) });
    const final = metadata(last!.epochs, trainSeconds, evaluation);
    saveMetadata(out, final);
    return { plan, history: result.history, seconds: result.seconds, imagesPerSecond: result.imagesPerSecond, evaluation, metadata: final };
  } finally {
    model.dispose();
  }
}

/** What a resume must share with its checkpoint, with the value metadata.json holds when the field is absent (older folders). */
const RESUME_FIELDS: readonly { readonly key: keyof ModelMetadata; readonly what: string; readonly absent?: (trainCount: number) => unknown }[] = [
  { key: 'dataset', what: 'dataset' },
  { key: 'arch', what: 'architecture' },
  { key: 'seed', what: 'seed' },
  { key: 'batchSize', what: 'batch size' },
  { key: 'learningRate', what: 'learning rate' },
  { key: 'preprocessing', what: 'preprocessing' },
  { key: 'trigger', what: 'trigger' },
  { key: 'target', what: 'target' },
  { key: 'poisonRate', what: 'poisoning rate' },
  { key: 'backdoors', what: 'backdoors' },
  { key: 'poisoning', what: 'poisoning', absent: () => 'fixed' },
  { key: 'sampling', what: 'sampling', absent: () => 'permutation' },
  { key: 'drawsPerEpoch', what: 'draws per epoch', absent: (n) => n },
  { key: 'learningRateDecay', what: 'learning-rate decay', absent: () => 0 },
  { key: 'engine', what: 'training engine', absent: () => 'tfjs' },
];

/** The library option each resume field comes from, to name it in the error. */
const OPTION_OF: Partial<Record<keyof ModelMetadata, string>> = { poisonRate: 'backdoor', trigger: 'backdoor', target: 'backdoor', backdoors: 'backdoor' };

function checkSameRecipe(saved: ModelMetadata, now: Partial<ModelMetadata>, trainCount: number): void {
  // Compared as JSON values (what metadata.json holds), whatever the key order.
  const asJson = (x: unknown): unknown => JSON.parse(JSON.stringify(x ?? null));
  for (const { key, what, absent } of RESUME_FIELDS) {
    // A clean model records no poisoning: nothing to compare.
    if (key === 'poisoning' && now.poisoning === undefined) continue;
    const before = saved[key] ?? absent?.(trainCount);
    if (!isDeepStrictEqual(asJson(before), asJson(now[key]))) {
      throw new OptionError(
        OPTION_OF[key] ?? key,
        `the checkpoint's ${what} (${JSON.stringify(before ?? null)}) to resume it (use the options it was trained with; starting over needs force)`,
        JSON.stringify(now[key] ?? null),
      );
    }
  }
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

