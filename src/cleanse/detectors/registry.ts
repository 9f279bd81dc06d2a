/**
 * The detectors `scan --detectors` knows: what each needs, where it comes from, and the attack
 * families the literature reports it missing (the report's "what a clean verdict does not rule
 * out" section reads this table; the detection matrix of docs/RESULTS.md measures it on our nets).
 * This module loads nothing heavy, so that the CLI can check names before any model loads.
 */
import { MissingOptionError, UnknownNameError } from '../../errors.js';
import type { ReverseOptions } from '../recipe.js';
import type { DetectorNeeds } from './detector.js';

export interface DetectorInfo {
  readonly name: string;
  readonly title: string;
  readonly source: string;
  readonly needs: DetectorNeeds;
  /** Neural Cleanse variants: the recipe options that make the variant (scan.ts runs them). */
  readonly ncRecipe?: Partial<ReverseOptions>;
  /**
   * Why the detector's own call does not enter the combined verdict, when it does not (its results
   * are still reported); absent: it votes.
   */
  readonly noVote?: string;
  /** Attack families reported missed, each with where it is reported. */
  readonly misses: readonly { readonly family: string; readonly evidence: string }[];
}

const NC_MISSES: DetectorInfo['misses'] = [
  { family: 'blend', evidence: 'reported: BackdoorBench (Wu et al., NeurIPS 2022 Datasets & Benchmarks), CIFAR-10 PreAct-ResNet18, Blended ASR 100% before and after Neural Cleanse' },
  { family: 'sig', evidence: 'reported: BackdoorBench, SIG ASR 98% before and after Neural Cleanse; SIG untouched on 8 of its 20 leaderboard entries; measured (docs/RESULTS.md, MNIST): 1 of 5 SIG models called, ROC-AUC 0.74' },
  { family: 'wanet', evidence: 'reported: Nguyen & Tran (ICLR 2021) find WaNet models under the anomaly-index threshold 2; BackdoorBench, whose NC run reduces WaNet\'s ASR to 8%, disagrees; measured (docs/RESULTS.md, MNIST): 2 of 5 called, none with the target' },
  { family: 'all-to-all', evidence: 'expected: the MAD test looks for one small norm among the labels\' norms; with every label a target there is no outlier (users ask in BackdoorBench issue #2); measured (docs/RESULTS.md, MNIST): 0 of 5 called, ROC-AUC 0.36' },
  { family: 'two-trigger', evidence: 'expected: several infected labels shift the median and spread the test relies on (the paper\'s own caveat)' },
];

/** Why the training-set audits report without voting (both share the model-level test). */
const AUDIT_NO_VOTE =
  'its model-level test (a MAD test over the labels) called a clean MNIST model on its clean training set backdoored (docs/BENCHMARKS.md, "Detector cost per model: mnist"): natural differences between labels reach the threshold. Its per-sample suspects are the paper\'s method and are kept.';

const AUDIT_MISSES: DetectorInfo['misses'] = [
  { family: 'sig', evidence: 'expected: clean-label poisoning relabels nothing, so the poisoned samples may stay within their class\'s features' },
  { family: 'any (without the poisoned training set)', evidence: 'the audit reads the training set it is given: a clean copy has nothing to find' },
];

export const DETECTORS: Readonly<Record<string, DetectorInfo>> = {
  nc: {
    name: 'nc',
    title: 'Neural Cleanse (L1 norm, shared H×W mask: the paper and the release)',
    source: 'Wang et al., IEEE S&P 2019',
    needs: 'clean-images',
    ncRecipe: {},
    misses: NC_MISSES,
  },
  'nc-l2': {
    name: 'nc-l2',
    title: 'Neural Cleanse with an L2 mask norm (IBM ART)',
    source: 'Wang et al., IEEE S&P 2019; IBM ART',
    needs: 'clean-images',
    ncRecipe: { norm: 'l2' },
    misses: NC_MISSES,
  },
  'nc-full': {
    name: 'nc-full',
    title: 'Neural Cleanse with a full H×W×C mask (a port variant)',
    source: 'Wang et al., IEEE S&P 2019; ports',
    needs: 'clean-images',
    ncRecipe: { maskShape: 'full' },
    misses: NC_MISSES,
  },
  mmbd: {
    name: 'mmbd',
    title: 'MM-BD, maximum margin per class',
    source: 'Wang, Xiang, Miller & Kesidis, IEEE S&P 2024',
    needs: 'nothing',
    misses: [
      { family: 'all-to-all', evidence: 'measured (docs/RESULTS.md, MNIST): 0 of 5 all-to-all models called (p 0.13–0.30): every class is a target, none stands out' },
      { family: 'wanet', evidence: 'measured (docs/RESULTS.md, MNIST): 1 of 5 WaNet models called, with the wrong label; the largest margin was the target in none' },
      { family: 'two-trigger (the second target)', evidence: 'measured (docs/RESULTS.md, MNIST): 5 of 5 called, but one target named each time: the null is fitted to all classes but the largest' },
    ],
  },
  strip: {
    name: 'strip',
    title: 'STRIP, entropy under superimposition',
    source: 'Gao et al., ACSAC 2019',
    needs: 'clean-images',
    misses: [
      { family: 'wanet', evidence: 'reported: Nguyen & Tran (ICLR 2021) find WaNet inputs\' STRIP entropy in the range of clean inputs\'; measured (docs/RESULTS.md, MNIST, on a poisoned training sample): 1 of 5 called, ROC-AUC 0.62' },
      { family: 'all-to-all', evidence: 'measured (docs/RESULTS.md, MNIST, on a poisoned training sample): 0 of 5 called, ROC-AUC 0.16; GTSRB: 0 of 5 (0.51)' },
      { family: 'sig', evidence: 'measured (docs/RESULTS.md, MNIST, on a poisoned training sample): 2 of 5 called, ROC-AUC 0.74; GTSRB: 3 of 5 (0.90)' },
      { family: 'blend (GTSRB)', evidence: 'measured (docs/RESULTS.md, "Detection matrix: GTSRB", quantile boundary): 3 of 5 blend models called, ROC-AUC 0.60; 1 of 10 clean GTSRB models called' },
      { family: 'any (without triggered inputs)', evidence: 'an input filter: its model-level score needs triggered inputs among those audited (--train-data); on held-out clean test images it sees nothing' },
    ],
  },
  spectral: {
    name: 'spectral',
    title: 'spectral signatures on the training set',
    source: 'Tran, Li & Madry, NeurIPS 2018',
    needs: 'training-set',
    noVote: AUDIT_NO_VOTE,
    misses: AUDIT_MISSES,
  },
  ac: {
    name: 'ac',
    title: 'activation clustering on the training set',
    source: 'Chen et al., 2018 (arXiv:1811.03728)',
    needs: 'training-set',
    noVote: AUDIT_NO_VOTE,
    misses: AUDIT_MISSES,
  },
  knn: {
    name: 'knn',
    title: 'reference-distance audit of the training set (k-NN distance to the label\'s clean images)',
    source: 'this project (k-NN distance: Sun et al., ICML 2022; conformal threshold: Bates et al., Ann. Statist. 2023)',
    needs: 'training-set',
    misses: [
      { family: 'any (without the poisoned training set)', evidence: 'the audit reads the training set it is given: a clean copy has nothing to find' },
      { family: 'blend (when the net maps blended images among its target\'s clean ones)', evidence: 'measured (docs/RESULTS.md, "Detection matrix: GTSRB"): 4 of 5 blend models called; on the fifth (target 1, ASR 97%) 1.4% of the target\'s audited samples lay beyond the threshold, as on a clean model' },
      { family: 'any (a test split unlike the training split)', evidence: 'measured (docs/DETECTORS.md): on a clean GTSRB net, against its test split, 5.6% of the clean training samples exceeded the threshold and knn called the model backdoored; against other clean training images (--knn-reference) 0.9%, not called. Its tolerated rate (3%) is set from clean MNIST nets (0.5–1.4%)' },
    ],
  },
};

export const DETECTOR_NAMES: readonly string[] = Object.keys(DETECTORS);

/** Neural Cleanse (the paper) and MM-BD (blend and SIG, which NC misses, for a sixth of NC's time: docs/RESULTS.md's matrix). */
export const DEFAULT_DETECTORS: readonly string[] = ['nc', 'mmbd'];
/** Added when the training set is given: the reference-distance audit (WaNet and all-to-all, which the others miss; seconds per model). */
export const DEFAULT_AUDIT_DETECTORS: readonly string[] = ['knn'];

/** The detectors a `--detectors` list names ('all': every one whose data is at hand). */
export function parseDetectors(spec: string, trainingSetGiven: boolean, option = '--detectors'): string[] {
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new UnknownNameError('detector', spec, [...DETECTOR_NAMES, 'all']);
  if (names.includes('all')) {
    if (names.length > 1) throw new UnknownNameError('detector', spec, [...DETECTOR_NAMES, 'all (alone)']);
    return DETECTOR_NAMES.filter((n) => trainingSetGiven || DETECTORS[n].needs !== 'training-set');
  }
  const out: string[] = [];
  for (const n of names) {
    if (!Object.hasOwn(DETECTORS, n)) throw new UnknownNameError('detector', n, [...DETECTOR_NAMES, 'all']);
    if (!out.includes(n)) out.push(n);
  }
  const needsTraining = out.filter((n) => DETECTORS[n].needs === 'training-set');
  if (needsTraining.length > 0 && !trainingSetGiven) {
    throw new MissingOptionError('--train-data', `the training set, which ${needsTraining.join(' and ')} audit${needsTraining.length === 1 ? 's' : ''} (given in ${option})`);
  }
  return out;
}
