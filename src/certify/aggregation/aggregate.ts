/**
 * Deep Partition Aggregation and Finite Aggregation end to end: partition the training set by
 * content, train one base classifier per subset (in parallel on worker threads, each finished one
 * saved so that an interrupted run resumes), let them vote on every test point, and certify each
 * prediction. Works for any learner: the hinge SVM on features or a network on images.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { OptionError } from '../../errors.js';
import { checkNonNegativeInt, checkOneOf, checkPositive, checkPositiveInt } from '../../options.js';
import { checkRandomCrop } from '../../nn/train-batches.js';
import type { InputLayout } from '../../graph/layout.js';
import { checkPreprocessing, describePreprocessing, type Preprocessing } from '../../nn/preprocess.js';
import { checkSeed, DEFAULT_SEED } from '../../random.js';
import { writeJsonAtomic } from '../../run-files.js';
import { WorkerPool, siblingModule } from '../../workers/pool.js';
import { CERTIFY_RECIPES, DEFAULT_RECIPE } from '../recipes.js';
import { defaultHash, loadAggregationData, numClasses, sampleSource, testLabels, trainCount, type DataRef } from './data.js';
import { partitionTrainingSet } from './partition.js';
import {
  AGGREGATION_LEARNERS,
  AGGREGATION_METHODS,
  DEFAULT_BUDGETS,
  DEFAULT_FA_SPREAD,
  defaultNetRecipe,
  DPA_BATCH_SIZE,
  DPA_EPOCHS,
  DPA_LR_FACTOR,
  DPA_SGD,
  dpaLearningRateDrops,
  LEARNER_CHOICES,
  NET_RECIPE_CROP,
  NET_RECIPE_LEARNING_RATES,
  NET_RECIPES,
  type NetRecipe,
  ONNX_LEARNER,
  PARTITION_HASHES,
  type AggregationLearner,
  type AggregationLearnerKind,
  type AggregationMethod,
  type PartitionHash,
} from './recipe.js';
import { AGGREGATION_JSON, loadPartitionPredictions, membersDigest, openStore } from './store.js';
import type { NetArch } from './net-learner.js';
import type { OnnxArchitecture } from './onnx-learner.js';
import type { AggregationQueue } from './queue-learners.js';
import { runPartitionTask, type PartitionOutcome, type PartitionTask, type PartitionTaskInit } from './task.js';
import { certifiedAccuracy, dpaRadius, faRadius, medianCertifiedRadius, voteCounts, voteWinner, type CertifiedPoint } from './vote.js';

export interface AggregationOptions {
  readonly method: AggregationMethod;
  /** k: DPA's partitions, FA's k (k·d subsets). At least 2 and at most the training set's size. */
  readonly partitions: number;
  /** FA's d (default {@link DEFAULT_FA_SPREAD}); DPA takes none. */
  readonly spread?: number;
  /**
   * Base learner (default: 'svm' for a feature dataset, the dataset's own net for 'mnist' and
   * 'gtsrb'), or the path of an ONNX image classifier (a .onnx file or a folder holding model.onnx):
   * a user-named architecture, re-initialised from each classifier's seed by PyTorch's default rule
   * and trained from scratch like the built-in nets (onnx-learner.ts).
   */
  readonly learner?: AggregationLearner | string;
  /** An ONNX learner's input layout and preprocessing when its sidecar does not say them (default NCHW, pixels/255); refused with the other learners. */
  readonly inputLayout?: InputLayout;
  readonly preprocessing?: Preprocessing;
  /** Dataset name: a binary feature dataset for the SVM (mnist17, …), an image dataset for the nets. */
  readonly dataset: string;
  readonly dataDir?: string;
  /** Content hash of the partitioning (default: the pixel sum on pixels, as both releases; SHA-256 otherwise). */
  readonly hash?: PartitionHash;
  /** Base seed: subset j's classifier is seeded seed + j (DPA's release: the partition index). Default {@link DEFAULT_SEED}. */
  readonly seed?: number;
  /** Budgets (poison points) at which certified accuracy is reported. Default {@link DEFAULT_BUDGETS}. */
  readonly budgets?: readonly number[];
  /** How the nets train (default {@link defaultNetRecipe}: DPA's release for a user's architecture, Adam for the project's nets). */
  readonly netRecipe?: NetRecipe;
  /** Random-crop padding in pixels, 0 for none (default: the recipe's, {@link NET_RECIPE_CROP}). */
  readonly crop?: number;
  /** The nets' epochs (default {@link DPA_EPOCHS}), batch size ({@link DPA_BATCH_SIZE}), learning rate (the recipe's, {@link NET_RECIPE_LEARNING_RATES}). */
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /** Worker threads (default: the number of cores; 0 trains inline). Absent with `queue`. */
  readonly workers?: number;
  /**
   * Train the base networks as jobs of this Redis queue, taken by `poisonguard worker` processes
   * (queue-learners.ts); this process partitions, saves each classifier as it arrives, and votes.
   * Not with the SVM learner (see {@link SVM_QUEUE_REASON}).
   */
  readonly queue?: AggregationQueue;
  /** Run folder: each finished classifier is saved there, and a rerun with the same recipe resumes. */
  readonly out?: string;
  /** With `out`: start over when the folder holds another recipe's classifiers. */
  readonly force?: boolean;
  readonly onProgress?: (p: AggregationProgress) => void;
}

/**
 * Why the SVM learner is not queued: one SVM fit on a MNIST-1-7 partition took 27 ms at k = 20 and
 * 2 ms at k = 200 (one core, measured with this module), about what a queued job costs in round
 * trips alone (11–18 ms, docs/BENCHMARKS.md), and the workers would first need the feature matrices
 * (80 MB of float64 for MNIST-1-7). The machine's own cores finish k = 1 200 in seconds.
 */
export const SVM_QUEUE_REASON = "absent with the svm learner: an SVM fit takes milliseconds, no more than a queued job's round trip, so its partitions train on this machine's cores (--workers)";

export interface AggregationProgress {
  /** Classifiers done (trained now or found in the run folder), of `total`. */
  readonly done: number;
  readonly total: number;
  /** Of `done`, found in the run folder. */
  readonly resumed: number;
  /** Seconds the last classifier took (training + test labels). */
  readonly lastSeconds?: number;
}

/** Everything that determines the numbers; a run folder resumes only under the same recipe. */
export interface AggregationRecipe {
  readonly method: AggregationMethod;
  readonly partitions: number;
  readonly spread: number;
  /** k·d base classifiers (k for DPA). */
  readonly classifiers: number;
  readonly shifts: readonly number[];
  readonly hash: PartitionHash;
  readonly learner: AggregationLearnerKind;
  readonly dataset: string;
  readonly seed: number;
  /** What trains the base classifiers. */
  readonly engine: string;
  readonly svm?: { readonly rho2: number; readonly note: string };
  readonly net?: {
    readonly arch: string;
    readonly epochs: number;
    readonly batchSize: number;
    readonly learningRate: number;
    /** 'dpa' or 'adam' (recipe.ts's NET_RECIPES). */
    readonly recipe: NetRecipe;
    readonly optimizer: string;
    /** The rate's schedule (empty: constant). */
    readonly learningRateDrops: { readonly afterEpochs: readonly number[]; readonly factor: number } | null;
    /** Random-crop padding in pixels (0: none). */
    readonly crop: number;
    readonly preprocessing: string;
    /** A user's architecture: its file's name and SHA-256, layout, preprocessing and initialisation (onnx-learner.ts's architectureRecord). */
    readonly architecture?: Record<string, unknown>;
  };
}

export interface AggregationReport {
  readonly kind: 'aggregation';
  readonly recipe: AggregationRecipe;
  readonly dataset: { readonly name: string; readonly source: string; readonly numClasses: number; readonly n: number; readonly nTest: number; readonly classes?: readonly string[] };
  /** Every test point: votes, prediction, true label, radius. */
  readonly points: readonly CertifiedPoint[];
  /** The vote's accuracy (budget 0). */
  readonly cleanAccuracy: number;
  /** The base classifiers' mean test accuracy. */
  readonly baseAccuracy: number;
  /** The largest budget at which at least half the test points are certified correct. */
  readonly medianRadius: number;
  readonly budgets: readonly number[];
  readonly certifiedAccuracy: readonly number[];
  /** Sizes of the subsets: smallest, median, largest. */
  readonly subsetSizes: { readonly min: number; readonly median: number; readonly max: number };
  readonly timing: {
    /** Classifiers trained in this run, and their summed training and test-labelling seconds. */
    readonly trained: number;
    readonly trainSeconds: number;
    readonly evalSeconds: number;
    /** Classifiers found in the run folder. */
    readonly resumed: number;
    /** This machine's worker threads (0 with a queue or inline). */
    readonly workers: number;
    /** The queue that trained them: redis://… and its name. */
    readonly queue?: string;
    /** Wall-clock seconds of this run's training. */
    readonly wallSeconds: number;
  };
}

/** The learner a dataset takes when none is named. */
export function defaultLearner(dataset: string): AggregationLearner {
  return dataset === 'mnist' || dataset === 'gtsrb' ? dataset : 'svm';
}

/** Checks a budget list: non-negative integers. */
export function checkBudgets(option: string, budgets: readonly number[]): number[] {
  if (budgets.length === 0) throw new OptionError(option, 'a non-empty list of non-negative integers', '');
  return budgets.map((b) => {
    if (!Number.isInteger(b) || b < 0) throw new OptionError(option, 'a list of non-negative integers (numbers of poison points)', budgets.join(','));
    return b;
  });
}

export async function certifyAggregation(options: AggregationOptions): Promise<AggregationReport> {
  const method = checkOneOf('method', options.method, AGGREGATION_METHODS);
  const named = options.learner ?? defaultLearner(options.dataset);
  const isFile = !(AGGREGATION_LEARNERS as readonly string[]).includes(named);
  if (isFile && !existsSync(named)) throw new OptionError('learner', LEARNER_CHOICES, named);
  const learner: AggregationLearnerKind = isFile ? ONNX_LEARNER : (named as AggregationLearner);
  for (const o of ['inputLayout', 'preprocessing'] as const) if (!isFile && options[o] !== undefined) throw new OptionError(o, `absent with the '${learner}' learner (it states an ONNX architecture's)`, options[o]);
  const k = options.partitions;
  if (!Number.isInteger(k) || k < 2) throw new OptionError('partitions', 'an integer of at least 2 (one partition certifies nothing)', k);
  if (method === 'dpa' && options.spread !== undefined) throw new OptionError('spread', "absent with DPA (d is Finite Aggregation's)", options.spread);
  const d = method === 'fa' ? checkPositiveInt('spread', options.spread ?? DEFAULT_FA_SPREAD) : 1;
  const seed = checkSeed('seed', options.seed ?? DEFAULT_SEED);
  const budgets = checkBudgets('budgets', options.budgets ?? DEFAULT_BUDGETS);
  const isNet = learner !== 'svm';
  const queue = options.queue;
  if (queue && !isNet) throw new OptionError('queue', SVM_QUEUE_REASON, queue.url.url);
  if (queue && options.workers !== undefined) throw new OptionError('workers', "absent with a queue (the base classifiers train in 'poisonguard worker' processes: give them --concurrency)", options.workers);
  const workers = queue ? 0 : checkNonNegativeInt('workers', options.workers ?? availableParallelism());
  const epochs = checkPositiveInt('epochs', options.epochs ?? DPA_EPOCHS);
  const batchSize = checkPositiveInt('batchSize', options.batchSize ?? DPA_BATCH_SIZE);
  if (!isNet && options.netRecipe !== undefined) throw new OptionError('netRecipe', 'absent with the svm learner (it trains networks)', options.netRecipe);
  if (!isNet && options.crop !== undefined) throw new OptionError('crop', 'absent with the svm learner (it augments images for networks)', options.crop);
  if (!isNet && options.batchSize !== undefined) throw new OptionError('batchSize', 'absent with the svm learner (it sets the networks\' minibatches)', options.batchSize);
  const netRecipe = checkOneOf('netRecipe', options.netRecipe ?? defaultNetRecipe(isFile ? ONNX_LEARNER : (learner as 'mnist' | 'gtsrb')), NET_RECIPES);
  const crop = options.crop ?? NET_RECIPE_CROP[netRecipe];
  const learningRate = checkPositive('learningRate', options.learningRate ?? NET_RECIPE_LEARNING_RATES[netRecipe]);
  if (options.hash !== undefined) checkOneOf('hash', options.hash, PARTITION_HASHES);
  let arch: OnnxArchitecture | undefined;
  if (isFile) {
    const { openOnnxArchitecture } = await import('./onnx-learner.js');
    const { INPUT_LAYOUTS } = await import('../../graph/layout.js');
    arch = openOnnxArchitecture(named, {
      ...(options.inputLayout !== undefined ? { inputLayout: checkOneOf('inputLayout', options.inputLayout, INPUT_LAYOUTS) } : {}),
      ...(options.preprocessing !== undefined ? { preprocessing: checkPreprocessing(options.preprocessing, 'preprocessing') } : {}),
    });
  }

  const ref: DataRef = { learner, dataset: options.dataset, ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}), seed };
  const data = await loadAggregationData(ref);
  const n = trainCount(data);
  if (k > n) throw new OptionError('partitions', `at most the training set's size (${n})`, k);
  // Checked before any net trains (the schedule checks it again in each worker).
  if (data.kind === 'images') checkRandomCrop('crop', crop, data.dataset.train.height, data.dataset.train.width);
  let architecture: Record<string, unknown> | undefined;
  if (arch && data.kind === 'images') {
    const { architectureRecord, checkArchitectureFits } = await import('./onnx-learner.js');
    const { train } = data.dataset;
    checkArchitectureFits(arch.graph, arch.file, { name: options.dataset, height: train.height, width: train.width, channels: train.channels, numClasses: data.dataset.numClasses });
    architecture = architectureRecord(arch);
  }
  const hash = options.hash ?? defaultHash(data);
  const plan = partitionTrainingSet(sampleSource(data), { method, partitions: k, ...(method === 'fa' ? { spread: d } : {}), hash });
  const K = numClasses(data);
  // Each classifier's test labels are kept as bytes (10 000 MNIST test points × 1 200 classifiers).
  if (K > 256) throw new OptionError('dataset', 'at most 256 classes (the base classifiers\' labels are stored as bytes)', `${K} classes`);
  const labels = testLabels(data);
  const rho2 = (CERTIFY_RECIPES[options.dataset] ?? DEFAULT_RECIPE).rho2;
  const recipe: AggregationRecipe = {
    method,
    partitions: k,
    spread: d,
    classifiers: plan.subsets.length,
    shifts: plan.shifts,
    hash,
    learner,
    dataset: options.dataset,
    seed,
    engine: isNet ? 'onnx (native engine on onnxruntime, 1 thread per classifier)' : 'linear SVM (dual coordinate descent)',
    ...(isNet
      ? { net: { arch: learner, epochs, batchSize, learningRate, ...describeNetRecipe(netRecipe, epochs), crop, preprocessing: arch ? describePreprocessing(arch.preprocessing, data.kind === 'images' ? data.dataset.train.channels : 1) : netRecipe === 'dpa' ? "(x/255 − mean)/std per channel, each partition's own pixels' mean and std (n − 1)" : 'pixels / 255', ...(architecture ? { architecture } : {}) } }
      : { svm: { rho2, note: "norm-matched to the certify recipe's ρ² (the U* defender); a one-class or empty subset votes its class (empty: class 0)" } }),
  };

  const schedule = { arch: learner as NetArch, recipe: netRecipe, crop, epochs, batchSize, learningRate, ...(arch ? { preprocessing: arch.preprocessing } : {}) };
  const init: PartitionTaskInit = { data: ref, rho2, ...(isNet ? { schedule } : {}), ...(arch ? { architecture: arch.graph } : {}), ...(options.out !== undefined ? { store: options.out } : {}) };
  if (options.out !== undefined) openStore(options.out, { ...recipe, dataDir: options.dataDir ?? null }, options.force ?? false);

  const predictions: Uint8Array[] = new Array(plan.subsets.length);
  const tasks: PartitionTask[] = [];
  let resumed = 0;
  plan.subsets.forEach((members, index) => {
    const digest = membersDigest(members);
    const saved = options.out !== undefined ? loadPartitionPredictions(options.out, index, digest, labels.length) : undefined;
    if (saved) {
      predictions[index] = saved.predictions;
      resumed++;
    } else tasks.push({ index, members, digest, seed: (seed + index) >>> 0 });
  });
  const total = plan.subsets.length;
  let done = resumed;
  let trainSeconds = 0;
  let evalSeconds = 0;
  options.onProgress?.({ done, total, resumed });
  const finish = (o: PartitionOutcome): void => {
    predictions[o.index] = o.predictions;
    trainSeconds += o.trainSeconds;
    evalSeconds += o.evalSeconds;
    done++;
    options.onProgress?.({ done, total, resumed, lastSeconds: o.trainSeconds + o.evalSeconds });
  };
  const t0 = performance.now();
  const threads = Math.min(workers, tasks.length);
  if (queue && tasks.length > 0) {
    if (data.kind !== 'images') throw new Error('a queue trains networks only');
    const { trainOnQueue } = await import('./queue-learners.js');
    const model = arch ? { architecture: { ...arch.packed, inputLayout: arch.inputLayout } } : {};
    await trainOnQueue({ queue, dataset: data.dataset, schedule, ...model, ...(options.out !== undefined ? { store: options.out } : {}) }, tasks, finish);
  } else if (threads === 0) {
    for (const t of tasks) finish(await runPartitionTask(init, data, t));
  } else {
    const pool = new WorkerPool<PartitionTaskInit, PartitionTask, PartitionOutcome>(siblingModule(import.meta.url, 'aggregation-worker'), init, threads);
    let failed = false;
    try {
      await Promise.all(
        tasks.map((t) =>
          pool.run(t).then(finish, (e: unknown) => {
            failed = true;
            throw e;
          }),
        ),
      );
    } finally {
      await pool.close({ abort: failed });
    }
  }
  const wallSeconds = (performance.now() - t0) / 1000;

  const points: CertifiedPoint[] = [];
  const column = new Uint8Array(total);
  let baseCorrect = 0;
  for (let t = 0; t < labels.length; t++) {
    for (let j = 0; j < total; j++) {
      column[j] = predictions[j][t];
      if (column[j] === labels[t]) baseCorrect++;
    }
    const votes = voteCounts(column, K);
    const prediction = voteWinner(votes);
    const radius = method === 'dpa' ? dpaRadius(votes) : faRadius(column, K, { subsets: total, shifts: plan.shifts });
    points.push({ votes: [...votes], prediction, label: labels[t], radius });
  }
  const sizes = plan.subsets.map((s) => s.length).sort((a, b) => a - b);
  const trained = tasks.length;
  const report: AggregationReport = {
    kind: 'aggregation',
    recipe,
    dataset: {
      name: options.dataset,
      source: data.dataset.source,
      numClasses: K,
      n,
      nTest: labels.length,
      ...(data.kind === 'features' ? { classes: [data.dataset.negative, data.dataset.positive] } : {}),
    },
    points,
    cleanAccuracy: certifiedAccuracy(points, [0])[0],
    baseAccuracy: baseCorrect / Math.max(1, labels.length * total),
    medianRadius: medianCertifiedRadius(points),
    budgets,
    certifiedAccuracy: certifiedAccuracy(points, budgets),
    subsetSizes: { min: sizes[0], median: sizes[Math.floor(sizes.length / 2)], max: sizes[sizes.length - 1] },
    timing: { trained, trainSeconds, evalSeconds, resumed, workers: threads, wallSeconds, ...(queue ? { queue: `${queue.url.url} queue '${queue.name}'` } : {}) },
  };
  if (options.out !== undefined) writeJsonAtomic(join(options.out, AGGREGATION_JSON), report);
  return report;
}

/** The recipe's training as a result records it (net-learner.ts applies it). */
function describeNetRecipe(recipe: NetRecipe, epochs: number): { recipe: NetRecipe; optimizer: string; learningRateDrops: { afterEpochs: number[]; factor: number } | null } {
  if (recipe === 'adam') return { recipe, optimizer: 'adam', learningRateDrops: null };
  const { momentum, nesterov, weightDecay } = DPA_SGD;
  return {
    recipe,
    optimizer: `sgd (momentum ${momentum}${nesterov ? ', Nesterov' : ''}, weight decay ${weightDecay})`,
    learningRateDrops: { afterEpochs: dpaLearningRateDrops(epochs), factor: DPA_LR_FACTOR },
  };
}
