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
 * How the base networks are trained:
 * - 'dpa': DPA's release (train_mnist_nin_baseline.py): SGD with Nesterov momentum 0.9 and weight
 *   decay 5e-4 on every parameter, lr 0.1 multiplied by 0.2 after the epochs {@link DPA_LR_DROPS}
 *   of 200 (placed in proportion when fewer epochs are asked), random-crop augmentation (padding
 *   4), each partition normalised by its own pixels' mean and standard deviation per channel (a
 *   user's architecture keeps its own preprocessing: its input contract);
 * - 'adam': Adam 1e-3, pixels / 255 (the project's nets as `train` trains them), with a 2-pixel
 *   random crop.
 */
export const NET_RECIPES = ['dpa', 'adam'] as const;
export type NetRecipe = (typeof NET_RECIPES)[number];

/**
 * The recipe when none is given. A user's architecture gets the published one. The project's nets
 * get Adam: they have no BatchNorm, and with the release's SGD at lr 0.1 three of eight MNIST-net
 * base classifiers (k = 1 200, 200 epochs) stayed at chance — 35.1% mean test accuracy against
 * Adam's 69.1% (measured 2026-12-06, docs/RESULTS.md).
 */
export function defaultNetRecipe(learner: 'mnist' | 'gtsrb' | typeof ONNX_LEARNER): NetRecipe {
  return learner === ONNX_LEARNER ? 'dpa' : 'adam';
}

/**
 * Random-crop padding in pixels when none is given. 'dpa': the release's RandomCrop(28, padding=4).
 * 'adam': 2, measured on the project's MNIST net at DPA's k = 1 200 (docs/RESULTS.md): the vote
 * 93.27% and median certified radius 454 against 89.63% and 389 without augmentation; a 4-pixel
 * crop did worse than 2 on the base nets (71.7% against 74.1%).
 */
export const NET_RECIPE_CROP: Readonly<Record<NetRecipe, number>> = { dpa: 4, adam: 2 };

/** DPA's 200 epochs at batch 128 (both recipes). */
export const DPA_EPOCHS = 200;
export const DPA_BATCH_SIZE = 128;
/** Each recipe's learning rate when none is given: DPA's SGD 0.1; Adam's usual 1e-3. */
export const NET_RECIPE_LEARNING_RATES: Readonly<Record<NetRecipe, number>> = { dpa: 0.1, adam: 1e-3 };
/**
 * The release lowers the rate when its 0-based epoch counter is 60, 120, 160 at an epoch's end,
 * i.e. after 1-based epochs 61, 121, 161 of 200.
 */
export const DPA_LR_DROPS: readonly number[] = [61, 121, 161];
export const DPA_LR_FACTOR = 0.2;
export const DPA_SGD = { momentum: 0.9, nesterov: true, weightDecay: 5e-4 } as const;
/** Pixels / 255: the 'adam' recipe's and a user's architecture's preprocessing unless its sidecar or the options say otherwise. */
export const BASE_NET_PREPROCESSING: Preprocessing = PREPROCESSING_PRESETS.unit;

/**
 * The epochs after which DPA's rate drops, for a run of `epochs`: the release's, placed at the same
 * fractions of the run (its 0-based counters 60, 120, 160 of 200 scaled, then made 1-based).
 */
export function dpaLearningRateDrops(epochs: number): number[] {
  const drops = DPA_LR_DROPS.map((e) => Math.floor(((e - 1) * epochs) / DPA_EPOCHS) + 1).filter((e) => e < epochs);
  return [...new Set(drops)];
}

/** Budgets (poison points: insertions plus deletions) at which the CLI prints certified accuracy when none are given. */
export const DEFAULT_BUDGETS: readonly number[] = [0, 1, 2, 5, 10, 20, 50, 100, 200, 300, 400, 500];
