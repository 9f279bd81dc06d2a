/**
 * The defaults of Neural Cleanse's mitigations (Wang et al., IEEE S&P 2019, §VI), each named once
 * with where it comes from. Kept free of TensorFlow.js so that the CLI's help can show them cheaply.
 */
import { DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE } from '../../nn/recipe.js';

/** Layer of the filter and pruning: the second-to-last layer (paper §VI). */
export const DEFAULT_LAYER = 'penultimate';

/** Share of the ranked neurons in the filter's profile: the top 1% (paper §VI-A), at least one neuron. */
export const DEFAULT_TOP_SHARE = 0.01;
/** False positive rate the filter's threshold is set for: 5% (paper §VI-A). */
export const DEFAULT_FPR = 0.05;

/**
 * When pruning stops. The paper prunes until the model "no longer responds" to the reversed trigger;
 * 'baseline' reads that literally: stop once the defender's images stamped with the reversed trigger
 * go to the target no more often than the same images unstamped, up to chance (an exact sign test
 * at 5% on the paired predictions of the pruned model; prune.ts, triggerStillWorks).
 * A number instead stops once the stamped images' ASR is under it. The reversed trigger is the
 * SMALLEST one that works, weaker than the attacker's, so a loose stop leaves the real trigger
 * working: on our MNIST BadNets model a 1% stop left the real trigger's ASR at 5.5%, a 5% stop at 32%
 * (docs/RESULTS.md, Neural Cleanse: mitigation).
 */
export const DEFAULT_ASR_THRESHOLD = 'baseline' as const;
/** A pruning stop: 'baseline' (see {@link DEFAULT_ASR_THRESHOLD}) or an ASR in [0, 1]. */
export type PruneStop = typeof DEFAULT_ASR_THRESHOLD | number;
/** Never prune more than half of the layer (ours; the paper needed about 30% for BadNets). */
export const DEFAULT_MAX_SHARE = 0.5;
/** Spacing of the pruning curve's points, as a share of the layer (ours). */
export const DEFAULT_CURVE_STEP = 0.02;
/** Epochs of clean fine-tuning after pruning: none (the paper prunes without fine-tuning). */
export const DEFAULT_PRUNE_FINE_TUNE_EPOCHS = 0;

/** Share of the training data used for unlearning: 10% (paper §VI-C). */
export const DEFAULT_UNLEARN_SHARE = 0.1;
/** Share of the unlearning set stamped with the reversed trigger: 20% (paper §VI-C). */
export const DEFAULT_STAMPED_SHARE = 0.2;
/** Epochs of unlearning: 1 (paper §VI-C). */
export const DEFAULT_UNLEARN_EPOCHS = 1;
/** Adam's learning rate for unlearning and fine-tuning: the training recipe's 1e-3 (the paper gives none). */
export const DEFAULT_UNLEARN_LEARNING_RATE = DEFAULT_LEARNING_RATE;
/** Mini-batch size of unlearning and fine-tuning: the training recipe's (Keras default 32). */
export const DEFAULT_UNLEARN_BATCH_SIZE = DEFAULT_BATCH_SIZE;

/** Clean training images for the ranking, and as many again for the filter's calibration: 2000 each (ours; the paper does not say). */
export const DEFAULT_DEFENSE_IMAGES = 2000;
