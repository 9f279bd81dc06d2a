/**
 * The aggregation certificates' names and defaults, each declared once beside its source:
 * Deep Partition Aggregation (Levine & Feizi, ICLR 2021; release github.com/alevine0/DPA) and
 * Finite Aggregation (Wang, Levine & Feizi, ICML 2022; release github.com/wangwenxiao/FiniteAggregation).
 */
import { PREPROCESSING_PRESETS, type Preprocessing } from '../../nn/preprocess.js';

/** 'dpa': k disjoint partitions; 'fa': k·d overlapping subsets built from k·d hash buckets, each sample in d subsets. */
export const AGGREGATION_METHODS = ['dpa', 'fa'] as const;
export type AggregationMethod = (typeof AGGREGATION_METHODS)[number];

/**
 * How a training sample's content becomes its hash:
 * - 'pixel-sum': the sum of its integer pixel values (0..255), as both releases hash images
 *   (features x/255 are turned back into pixels by round(255·x));
 * - 'sha256': the first 48 bits of SHA-256 of the sample's bytes (feature values as float64; a
 *   sparse row as (index, value) pairs), for features that are not pixels.
 */
export const PARTITION_HASHES = ['pixel-sum', 'sha256'] as const;
export type PartitionHash = (typeof PARTITION_HASHES)[number];

/**
 * Base learners: 'svm' (the project's hinge SVM on a binary feature dataset, norm-matched to the
 * certify recipe's ρ² as the defender of the U* evaluation), or a network trained from scratch on
 * the native engine ('mnist', 'gtsrb': the project's architectures of those names).
 */
export const AGGREGATION_LEARNERS = ['svm', 'mnist', 'gtsrb'] as const;
export type AggregationLearner = (typeof AGGREGATION_LEARNERS)[number];

/**
 * The learner of a user-named architecture: `learner` given as the path of an ONNX image classifier
 * (a .onnx file or a folder holding model.onnx), re-initialised per partition by PyTorch's default
 * rule (src/nn/torch-init.ts) and trained from scratch as the built-in nets are (onnx-learner.ts).
 */
export const ONNX_LEARNER = 'onnx';
export type AggregationLearnerKind = AggregationLearner | typeof ONNX_LEARNER;
/** The ONNX learner's initialisation, as the recipe records it (src/nn/torch-init.ts). */
export const ONNX_LEARNER_INIT = 'pytorch-default (kaiming_uniform a=√5, i.e. U(±1/√fan_in), weights and biases; BatchNorm 1, 0, mean 0, var 1; PReLU 0.25)';
/** What `learner` may be, for messages. */
export const LEARNER_CHOICES = `one of ${AGGREGATION_LEARNERS.map((l) => `'${l}'`).join(', ')}, or the path of an ONNX image classifier (FILE.onnx, or a folder holding model.onnx)`;

/** DPA's MNIST setting, the paper's headline (k = 1 200). */
export const DPA_MNIST_PARTITIONS = 1200;

/**
 * FA's spread d when none is given: the smaller of the two values of the FA paper's tables
 * (d = 16 and d = 32 on MNIST, CIFAR-10 and GTSRB).
 */
export const DEFAULT_FA_SPREAD = 16;

/**
 * The seed of FA's d shifts: the release draws them with Python's random.sample seeded 999999999 + 208;
 * the project's generator with the same seed draws other shifts (any d distinct shifts give a valid
 * certificate; the set is recorded with every result).
 */
export const FA_SHIFT_SEED = 999_999_999 + 208;

/**
 * The base network's schedule: DPA's MNIST release trains 200 epochs at batch 128 (SGD, Nesterov,
 * lr 0.1 decayed ×0.2 at epochs 60, 120, 160, random-crop augmentation, per-partition normalisation).
 * The native engine trains with Adam: the epochs and batch size are the release's, the learning rate
 * is Adam's usual 1e-3, no augmentation, pixels/255.
 */
export const DPA_EPOCHS = 200;
/** Pixels / 255: the project's default preprocessing, the built-in nets' and a user's architecture's unless its sidecar or the options say otherwise (DPA's release normalised by each partition's mean and std). */
export const BASE_NET_PREPROCESSING: Preprocessing = PREPROCESSING_PRESETS.unit;
export const DPA_BATCH_SIZE = 128;
export const BASE_NET_LEARNING_RATE = 1e-3;

/** Budgets (poison points: insertions plus deletions) at which the CLI prints certified accuracy when none are given. */
export const DEFAULT_BUDGETS: readonly number[] = [0, 1, 2, 5, 10, 20, 50, 100, 200, 300, 400, 500];
