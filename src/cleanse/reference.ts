/**
 * Reference numbers of the Neural Cleanse paper (Wang et al., "Neural Cleanse: Identifying and
 * Mitigating Backdoor Attacks in Neural Networks", IEEE S&P 2019) for its MNIST BadNets model, the
 * bars a reproduction is held to (docs/RESULTS.md), and the comparison of a run against them.
 * Types only are imported: reading the reference loads no TensorFlow.js.
 */
import type { ModelMetadata } from '../nn/model-io.js';
import type { MitigationReport } from './mitigation/mitigate.js';
import type { ScanReport } from './scan.js';

/** The paper's MNIST figures (Table I and Section VI). */
export const NEURAL_CLEANSE_MNIST = {
  /** Clean accuracy of the infected model (Table I). */
  infectedAccuracy: 0.9854,
  /** Attack success rate of the infected model (Table I). */
  attackSuccessRate: 0.999,
  /** Clean accuracy of the clean model (Table I). */
  cleanAccuracy: 0.9888,
  /** The filter's false negative rate at a 5% false positive rate: below this (Section VI-A). */
  filterFnr: 0.016,
} as const;

/** The bars a reproduction must meet (the paper's figures, with the margins docs/RESULTS.md explains). */
export const NEURAL_CLEANSE_BARS = {
  /** Infected model's clean accuracy at least (paper 98.54%). */
  infectedAccuracy: 0.985,
  /** Infected model's ASR at least (paper 99.90%). */
  asr: 0.99,
  /** Anomaly index of the flagged target above (the paper's flag threshold). */
  anomalyIndex: 2,
  /** Unlearning: ASR below, and at most this much clean accuracy lost. */
  unlearnAsr: 0.07,
  unlearnAccuracyLoss: 0.03,
  /** Pruning: ASR below, and at most this much clean accuracy lost. */
  pruneAsr: 0.05,
  pruneAccuracyLoss: 0.05,
  /** Filter: FNR at most, at a 5% FPR (paper < 1.63%). */
  filterFnr: 0.05,
} as const;

/** The runs a Neural Cleanse reproduction compares. */
export interface CleanseReproductionRuns {
  /** The BadNets model's metadata (its test figures). */
  readonly infected: ModelMetadata;
  /** The clean model's metadata. */
  readonly clean: ModelMetadata;
  readonly scanInfected: ScanReport;
  readonly scanClean: ScanReport;
  /** The infected model mitigated with every method. */
  readonly mitigation: MitigationReport;
}

export interface CleanseCheck {
  readonly what: string;
  readonly measured: string;
  readonly bar: string;
  readonly met: boolean;
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
/** A share as a bar's percentage, without float noise (0.07 → "7"). */
const points = (x: number): string => String(Number((100 * x).toFixed(4)));

/** Each figure of the runs against its bar; a figure a run lacks is not met. */
export function compareCleanseToReference(runs: CleanseReproductionRuns, bars = NEURAL_CLEANSE_BARS): CleanseCheck[] {
  const { infected, clean, scanInfected, scanClean, mitigation: mit } = runs;
  const paper = NEURAL_CLEANSE_MNIST;
  const outB = scanInfected.runs[0].outliers;
  const outC = scanClean.runs[0].outliers;
  const before = mit.before?.cleanAccuracy ?? NaN;
  const pruning = mit.pruning;
  const stop = pruning ? (pruning.points.find((p) => Math.abs(p.share - (pruning.stopShare ?? NaN)) < 1e-9) ?? pruning.points.at(-1)) : undefined;
  const unlearning = mit.unlearning;
  const filter = mit.filter;
  const at = (x: number | null): number => x ?? NaN;
  return [
    {
      what: `infected model clean accuracy (paper ${pct(paper.infectedAccuracy)})`,
      measured: pct(infected.cleanAccuracy),
      bar: `≥ ${points(bars.infectedAccuracy)}%`,
      met: at(infected.cleanAccuracy) >= bars.infectedAccuracy,
    },
    {
      what: `infected model ASR (paper ${pct(paper.attackSuccessRate)})`,
      measured: pct(infected.attackSuccessRate),
      bar: `≥ ${points(bars.asr)}%`,
      met: at(infected.attackSuccessRate) >= bars.asr,
    },
    { what: `clean model accuracy (paper ${pct(paper.cleanAccuracy)})`, measured: pct(clean.cleanAccuracy), bar: 'reported', met: true },
    {
      what: `scan of the infected model flags the target ${infected.target}`,
      measured: `flagged [${outB.flagged.join(', ')}], anomaly index ${outB.anomalyIndex.toFixed(2)}, verdict ${scanInfected.verdict.status}`,
      bar: `target flagged, index > ${bars.anomalyIndex}`,
      met: infected.target !== null && outB.flagged.includes(infected.target) && outB.anomalyIndex > bars.anomalyIndex,
    },
    {
      what: 'scan of the clean model',
      measured: `flagged [${outC.flagged.join(', ')}], anomaly index ${outC.anomalyIndex.toFixed(2)}, verdict ${scanClean.verdict.status}`,
      bar: 'not called backdoored',
      met: scanClean.verdict.status !== 'backdoored',
    },
    {
      what: 'unlearning',
      measured: unlearning ? `ASR ${pct(unlearning.after.asr)}, accuracy ${pct(unlearning.after.accuracy)} (was ${pct(unlearning.before.accuracy)})` : 'not run',
      bar: `ASR < ${points(bars.unlearnAsr)}%, ≤ ${points(bars.unlearnAccuracyLoss)} points lost`,
      met: unlearning !== undefined && unlearning.after.asr < bars.unlearnAsr && unlearning.before.accuracy - unlearning.after.accuracy <= bars.unlearnAccuracyLoss,
    },
    {
      what: pruning ? `pruning (${pct(pruning.stopShare)} of ${pruning.layer} pruned)` : 'pruning',
      measured: stop ? `ASR ${pct(stop.asr)}, accuracy ${pct(stop.accuracy)} (was ${pct(before)})` : 'not run',
      bar: `ASR < ${points(bars.pruneAsr)}%, ≤ ${points(bars.pruneAccuracyLoss)} points lost`,
      met: stop !== undefined && stop.asr < bars.pruneAsr && before - stop.accuracy <= bars.pruneAccuracyLoss,
    },
    {
      what: 'input filter',
      measured: filter ? `FNR ${pct(filter.fnr)} at a test FPR of ${pct(filter.measuredFpr)}` : 'not run',
      bar: `FNR ≤ ${points(bars.filterFnr)}% at 5% FPR (paper < ${points(paper.filterFnr)}%)`,
      met: filter !== undefined && filter.fnr <= bars.filterFnr,
    },
  ];
}
