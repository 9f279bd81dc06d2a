/**
 * `poisonguard/cleanse`: Neural Cleanse (Wang et al., IEEE S&P 2019) — the scan (trigger reverse
 * engineering, outlier tests, verdict) and the mitigations (input filter, pruning, unlearning).
 * Loads TensorFlow.js (the trigger search and the mitigations run on it).
 */
export * from '../errors.js';
// Neural Cleanse detection (scan)
export { resolveReverseRecipe, LOSS_KINDS, NORMS, MASK_SHAPES } from './recipe.js';
export type { ReverseOptions, ReverseRecipe, LossKind, NormKind, MaskShape } from './recipe.js';
/** The Neural Cleanse release's defaults (DEFAULT_LEARNING_RATE 0.1, …), under one name. */
export * as cleanseDefaults from './recipe.js';
export * from './cost-schedule.js';
export { madDetector, zscoreDetector, outlierDetector, median, madSpread, anomalyIndex, OUTLIER_DETECTORS, DEFAULT_DETECTOR, MAD_CONSISTENCY, DEFAULT_FLAG_THRESHOLD } from './outliers.js';
export type { OutlierDetector, OutlierReport } from './outliers.js';
export * from './verdict.js';
export * from './fast.js';
export { labelResult, quantizedNorm, spatialMask, triggerOverlap, JACCARD_MASK_THRESHOLD } from './label-result.js';
export type { LabelResult, TriggerOverlap } from './label-result.js';
export { createLabelState, runLabelSteps } from './reverse.js';
export type { CleanImages, LabelState, ReverseContext, StepProgress, StepRecord } from './reverse.js';
export { scanModel, resolveScanPlan, CHECKPOINT_STEPS, SCAN_JSON } from './scan.js';
export type { ScanOptions, ScanPlan, ScanProgress, ScanReport, ScanRun, LabelSummary } from './scan.js';
// Neural Cleanse mitigation (input filter, neuron pruning, unlearning)
export { mitigateModel, recordedPruning, MITIGATION_METHODS, MITIGATION_JSON, FILTER_JSON, DEFAULT_DEFENSE_IMAGES } from './mitigation/mitigate.js';
export type { MitigateOptions, MitigateProgress, MitigationReport, MitigationMethod, MitigationRecord } from './mitigation/mitigate.js';
export { rankNeurons } from './mitigation/ranking.js';
export type { NeuronRanking } from './mitigation/ranking.js';
export { resolveLayer, layerChain, computeFeatures, LAYER_CHOICES } from './mitigation/layers.js';
export type { MitigationLayer, Features as LayerFeatures } from './mitigation/layers.js';
export { activationProfiles, profileNeurons, thresholdForFpr, jointThresholds, filterCurve, filterCurveAny, filterProfiles, makeFilter, readFilter, DEFAULT_FPR, DEFAULT_TOP_SHARE } from './mitigation/filter.js';
export type { InputFilter, SingleLabelFilter, MultiLabelFilter, FilterProfile, FilterCurvePoint } from './mitigation/filter.js';
export { applyFilter, readInputs, inputFiles } from './mitigation/filter-apply.js';
export { prune, searchPruning, pruningCurve, triggerStillWorks, binomialUpperTail, DEFAULT_ASR_THRESHOLD, DEFAULT_MAX_SHARE } from './mitigation/prune.js';
export type { PrunedWeights, PruningPoint, PruneSearch, PruneStop } from './mitigation/prune.js';
export { unlearningSet, fineTune, DEFAULT_UNLEARN_SHARE, DEFAULT_STAMPED_SHARE } from './mitigation/unlearn.js';
export { readScanSource, readReversedTrigger, checkScanModel, chooseLabels, stampReversed } from './mitigation/reversed-trigger.js';
export type { ReversedTrigger, ScanSource } from './mitigation/reversed-trigger.js';
export type { Metrics as MitigationMetrics } from './mitigation/measure.js';
/** The mitigations' defaults (DEFAULT_FPR 0.05, DEFAULT_TOP_SHARE 0.01, …), under one name. */
export * as mitigationDefaults from './mitigation/defaults.js';
export { resolveMitigationRecipe, optionsForMethod, METHOD_OPTIONS } from './mitigation/recipe.js';
export type { MitigationRecipe, MitigationRecipeOptions, FineTuneRecipe } from './mitigation/recipe.js';
export type { AccuracyAsr, MitigationSummary } from './mitigation/summary.js';
