/** poisonguard's public API. */
export * from './errors.js';
export { Random, DEFAULT_SEED } from './random.js';
export * from './data/matrix.js';
export type { BinaryDataset, LabelledFeatures } from './data/binary.js';
export { loadMnist, embeddedMnistDir } from './data/mnist.js';
export { loadMnist17 } from './data/mnist17.js';
export type { ImageDataset, ImageSet } from './data/images.js';
export { readIdxFile, parseIdx } from './data/idx.js';
export { BINARY_DATASETS, loadBinaryDataset, binaryDatasetNames } from './data/registry.js';
export * from './linear/hinge.js';
export * from './linear/svm.js';
export * from './certify/defense.js';
export * from './certify/maximizer.js';
export * from './certify/algorithm1.js';
export * from './certify/evaluate.js';
export * from './certify/label-flip.js';
export * from './certify/recipes.js';
export * from './certify/reference.js';
export { certify, resolveRecipe, DEFENSE_KINDS } from './certify/certify.js';
export type { CertifyOptions, CertifyReport, CertifyRow, CertifyRecipeRecord, DefenseKind } from './certify/certify.js';
export type { AttackName, EpsProgress } from './certify/eps-task.js';
export { formatCertifyTable } from './certify/format.js';
// Neural Cleanse detection (scan)
export { resolveReverseRecipe, LOSS_KINDS, NORMS, MASK_SHAPES } from './cleanse/recipe.js';
export type { ReverseOptions, ReverseRecipe, LossKind, NormKind, MaskShape } from './cleanse/recipe.js';
/** The Neural Cleanse release's defaults (DEFAULT_LEARNING_RATE 0.1, …), under one name. */
export * as cleanseDefaults from './cleanse/recipe.js';
export * from './cleanse/cost-schedule.js';
export { madDetector, zscoreDetector, outlierDetector, OUTLIER_DETECTORS, DEFAULT_DETECTOR, MAD_CONSISTENCY, DEFAULT_FLAG_THRESHOLD } from './cleanse/outliers.js';
export type { OutlierDetector, OutlierReport } from './cleanse/outliers.js';
export * from './cleanse/verdict.js';
export * from './cleanse/fast.js';
export { labelResult, quantizedNorm, spatialMask, triggerOverlap, JACCARD_MASK_THRESHOLD } from './cleanse/label-result.js';
export type { LabelResult, TriggerOverlap } from './cleanse/label-result.js';
export { createLabelState, runLabelSteps, maskFromParams, patternFromParams, endsInSoftmax } from './cleanse/reverse.js';
export type { CleanImages, LabelState, ReverseContext, StepProgress, StepRecord } from './cleanse/reverse.js';
export { scanModel, CHECKPOINT_STEPS, SCAN_JSON } from './cleanse/scan.js';
export type { ScanOptions, ScanProgress, ScanReport, ScanRun, LabelSummary } from './cleanse/scan.js';
