/**
 * What the report can show: one input type per section. The certify section takes the certify
 * command's own JSON; the scan and mitigation sections take summaries that the Neural Cleanse
 * commands write as `scan.json` and `mitigation.json` in a run folder. Those two are deliberately
 * loose (most fields optional): the page renders whatever is present and says what is missing.
 */
import type { CertifyReport } from '../certify/certify.js';
import type { CertifyProjection } from './projection.js';
import type { AggregationReport } from '../certify/aggregation/aggregate.js';
import type { DetectorsReport } from '../cleanse/detectors/run.js';

/** A certify report as saved to disk: everything but the attack points and the fitted defense's vectors. */
export type CertifyRunReport = Omit<CertifyReport, 'attacks' | 'fittedDefense'>;

/** One label of a Neural Cleanse scan. */
export interface ScanLabel {
  /** Class index. */
  readonly label: number;
  /** Human name of the class, e.g. "speed limit (30 km/h)". */
  readonly name?: string;
  /** ‖m‖₁ of the smallest reversed mask that sends ≥ 99% of clean inputs to this label. */
  readonly maskNorm: number;
  /** |‖m‖₁ − median| / MAD; computed by the report when absent. */
  readonly anomalyIndex?: number;
  /** Whether the outlier test flagged this label; computed by the report when absent. */
  readonly flagged?: boolean;
  /** Share of clean inputs of other labels that the reversed trigger sends to this label. */
  readonly attackSuccess?: number;
  /** False when the optimisation never reached the accuracy threshold (the mask is the last one). */
  readonly reachedThreshold?: boolean;
  /** Optimisation steps used. */
  readonly steps?: number;
  /** Jaccard overlap of the mask with the real trigger, when the model's metadata records it. */
  readonly triggerOverlap?: number;
  /** Images (PNG or JPEG), as paths relative to the run folder. */
  readonly maskImage?: string;
  readonly patternImage?: string;
  /** The pattern stamped through the mask onto a black or sample image. */
  readonly triggerImage?: string;
}

/**
 * The `scan` section: the Neural Cleanse verdict on one model. `poisonguard report` accepts
 * scan.json either in this shape or as the scan command's own report ("kind":
 * "neural-cleanse-scan"), which scan-adapter.ts converts.
 */
export interface ScanSummary {
  readonly kind?: 'scan';
  /** The model scanned (a path or a name). */
  readonly model?: string;
  readonly dataset?: string;
  /** The verdict in one sentence, e.g. "infected: label 7 is an outlier (anomaly index 5.7)". */
  readonly verdict: string;
  readonly infected?: boolean;
  /** 'backdoored', 'suspicious' or 'clean' (sets the verdict's colour); derived from `infected` when absent. */
  readonly status?: string;
  readonly labels: readonly ScanLabel[];
  /** Labels the outlier test flagged; derived from `labels` when absent. */
  readonly flagged?: readonly number[];
  /** Median of the mask norms; computed by the report when absent (mean of the middle two for an even count). */
  readonly median?: number;
  /** 1.4826 · median absolute deviation; computed by the report when absent. */
  readonly mad?: number;
  /** The model's anomaly index (that of the smallest norm). */
  readonly anomalyIndex?: number;
  /** Labels with an anomaly index above this (on the small side) are flagged. Default 2. */
  readonly anomalyThreshold?: number;
  /** The recipe used (optimizer, cost schedule, steps …), shown as a table. */
  readonly recipe?: Readonly<Record<string, unknown>>;
  readonly seed?: number;
  /** What computed the model's passes (e.g. "onnxruntime (ONNX)" or "TensorFlow.js wasm"). */
  readonly engine?: string;
  readonly seconds?: number;
  readonly date?: string;
  /** Free sentences shown under the verdict (caveats, e.g. one scan only). */
  readonly notes?: readonly string[];
  /** The trigger the model was infected with, when its metadata names it (shown beside the gallery). */
  readonly realTrigger?: { readonly description: string; readonly target?: number; readonly shape: readonly [number, number, number]; readonly spec: unknown };
}

// The mitigation's result shapes belong to their producer; the report reads mitigation.json through them.
export type { AccuracyAsr, MitigationSummary } from '../cleanse/mitigation/summary.js';
import type { MitigationSummary } from '../cleanse/mitigation/summary.js';

/** An image for the page: its bytes and type, or why it is missing. */
export type ReportImage = { readonly mime: 'image/png' | 'image/jpeg' | 'image/svg+xml'; readonly bytes: Uint8Array } | { readonly missing: string };

/** What a run folder holds, read and checked (see run-folder.ts). */
export interface RunContents {
  /** The folder, for the page's header. */
  readonly dir: string;
  readonly certify?: CertifyRunReport;
  readonly projection?: CertifyProjection;
  readonly scan?: ScanSummary;
  /** Images of the scan, by the relative path written in scan.json. */
  readonly scanImages?: ReadonlyMap<string, ReportImage>;
  readonly mitigation?: MitigationSummary;
  /** Several detectors' results and the combined verdict: detectors.json of `scan --detectors … --out DIR`. */
  readonly detectors?: DetectorsReport;
  /** An aggregation certificate (DPA / FA): aggregation.json of `certify --method dpa|fa --out DIR`. */
  readonly aggregation?: AggregationReport;
  /** File names that were read. */
  readonly files: readonly string[];
}
