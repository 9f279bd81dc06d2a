/**
 * `poisonguard/certify`: certified bounds for convex learners (Steinhardt et al. 2017) — the
 * sphere + slab defense, Algorithm 1, the attacks, the ε grid — and the linear learners under them.
 * Loads no TensorFlow.js. The datasets are in `poisonguard/data`.
 */
export * from '../errors.js';
export { Random, DEFAULT_SEED } from '../random.js';
export { dense, toCsr, toDense, nnz } from '../data/matrix.js';
export type { DenseMatrix, CsrMatrix, Features } from '../data/matrix.js';
export type { BinaryDataset, LabelledFeatures } from '../data/binary.js';
export type { SparseVector, PointVector } from '../data/vector.js';
export { hingeLossSum, hingeAndError } from '../linear/hinge.js';
export type { LinearModel } from '../linear/hinge.js';
export { trainSvm, trainNormMatchedSvm, primalObjective, dualObjective, SVM_DEFAULT_TOL, SVM_DEFAULT_MAX_ITER } from '../linear/svm.js';
export type { SvmOptions, SvmResult, NormMatchedOptions, NormMatchedResult } from '../linear/svm.js';
export { fitSphereSlabDefense, withRadii, inFeasibleSet, feasibleMask, defenseDistances, DEFAULT_DEFENSE_PERCENTILE } from './defense.js';
export type { ClassBall, SphereSlabDefense, DefenseOptions } from './defense.js';
export { worstPoint, worstPointOfClass } from './maximizer.js';
export type { WorstPoint } from './maximizer.js';
export { runAlgorithm1, ALGORITHM1_MODES } from './algorithm1.js';
export type { Algorithm1Mode, Algorithm1Options, Algorithm1Result, BestResponse, CandidateAttack } from './algorithm1.js';
export { stackPoison, evaluatePoison, measureDefender } from './evaluate.js';
export type { PoisonSet, AttackMetrics } from './evaluate.js';
export { labelFlipCandidates, labelFlipAttack } from './label-flip.js';
export { POINT_KINDS, CERTIFY_RECIPES, DEFAULT_RECIPE } from './recipes.js';
export type { PointKind, CertifyRecipe } from './recipes.js';
export { MNIST17_REFERENCE, IMDB_REFERENCE, ENRON_REFERENCE, REFERENCES, REFERENCE_TOLERANCE, compareToReference } from './reference.js';
export type { ReferenceValue, ReferenceComparison } from './reference.js';
export { projectOntoClass } from './projection.js';
export { gradientAttack, GRADIENT_ATTACK_DEFAULTS } from './gradient-attack.js';
export type { GradientAttackOptions, GradientAttackResult } from './gradient-attack.js';
export { clipAndRound, featureBox, integerWorstPointOfClass, integerBestResponse, XMAX_PERCENTILE } from './text-points.js';
export type { FeatureBox } from './text-points.js';
export { certify, certifyReportJson, resolveRecipe, DEFENSE_KINDS, ALGORITHM_STARTS, BOUND_CANDIDATES, CLEAN_SVM_CANDIDATE } from './certify.js';
export type { CertifyOptions, CertifyReport, CertifyRow, CertifyRecipeRecord, DefenseKind, AlgorithmStart, BoundCandidates } from './certify.js';
export { ATTACK_NAMES, DEFAULT_ATTACKS } from './eps-task.js';
export type { AttackName, EpsProgress } from './eps-task.js';
export { formatCertifyTable } from './format.js';
export { certifyAggregation, defaultLearner, checkBudgets } from './aggregation/aggregate.js';
export type { AggregationOptions, AggregationReport, AggregationRecipe, AggregationProgress } from './aggregation/aggregate.js';
export { partitionTrainingSet, contentHash, faShifts } from './aggregation/partition.js';
export type { PartitionPlan, SampleSource } from './aggregation/partition.js';
export { voteWinner, voteCounts, dpaRadius, faRadius, certifiedAccuracy, medianCertifiedRadius } from './aggregation/vote.js';
export type { CertifiedPoint, FaLayout } from './aggregation/vote.js';
export { AGGREGATION_METHODS, AGGREGATION_LEARNERS, ONNX_LEARNER, ONNX_LEARNER_INIT, BASE_NET_PREPROCESSING, PARTITION_HASHES, DEFAULT_FA_SPREAD, DEFAULT_BUDGETS, DPA_EPOCHS, DPA_BATCH_SIZE, NET_RECIPES, defaultNetRecipe, NET_RECIPE_CROP, NET_RECIPE_LEARNING_RATES, type NetRecipe } from './aggregation/recipe.js';
export type { AggregationMethod, AggregationLearner, AggregationLearnerKind, PartitionHash } from './aggregation/recipe.js';
export { formatAggregationTable } from './aggregation/format.js';
export { boundAsAccuracy, BOUND_AS_ACCURACY_ASSUMPTIONS } from './aggregation/bound-view.js';
export type { BoundRow } from './aggregation/bound-view.js';
