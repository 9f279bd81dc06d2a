/**
 * Reference numbers of the certified-defense paper (Steinhardt, Koh & Liang 2017), read off its
 * figures (±0.005 on losses, ±0.003 on errors), and the comparison of a run against them.
 */
import type { CertifyReport } from './certify.js';

export interface ReferenceValue {
  /** What is compared, in words. */
  readonly what: string;
  /** ε values it applies to (the figure's value is read at each). */
  readonly eps: readonly number[];
  readonly value: number;
  /** Picks the measured number from a run's row, or undefined when the run lacks it. */
  readonly pick: (r: CertifyReport, eps: number) => number | undefined;
}

const row = (r: CertifyReport, eps: number) => r.rows.find((x) => Math.abs(x.eps - eps) < 1e-12);

/** MNIST-1-7, oracle sphere + slab, Figure 2b. */
export const MNIST17_REFERENCE: readonly ReferenceValue[] = [
  { what: 'clean train hinge', eps: [0], value: 0.03, pick: (r) => r.clean.trainHinge },
  { what: 'clean test hinge', eps: [0], value: 0.035, pick: (r) => r.clean.testHinge },
  { what: 'U*', eps: [0], value: 0.033, pick: (r, e) => row(r, e)?.upperBound },
  { what: 'U*', eps: [0.05, 0.1, 0.2, 0.3], value: 0.063, pick: (r, e) => row(r, e)?.upperBound },
  { what: 'candidate attack test hinge', eps: [0.05, 0.1, 0.2, 0.3], value: 0.068, pick: (r, e) => row(r, e)?.candidate?.testHinge },
  { what: 'label-flip test hinge', eps: [0.1, 0.2, 0.3], value: 0.043, pick: (r, e) => row(r, e)?.labelFlip?.testHinge },
  { what: 'gradient attack test hinge', eps: [0.1, 0.2, 0.3], value: 0.053, pick: (r, e) => row(r, e)?.gradient?.testHinge },
];

const perEps = (what: string, values: Record<number, number>, pick: (r: CertifyReport, eps: number) => number | undefined): ReferenceValue[] =>
  Object.entries(values).map(([e, value]) => ({ what, eps: [Number(e)], value, pick }));

/** IMDB, oracle sphere + slab, Figure 3. */
export const IMDB_REFERENCE: readonly ReferenceValue[] = [
  { what: 'clean test error', eps: [0], value: 0.119, pick: (r) => r.clean.testError },
  ...perEps('U*', { 0: 0.24, 0.01: 0.65, 0.02: 0.79, 0.03: 0.87, 0.04: 0.925, 0.05: 0.963 }, (r, e) => row(r, e)?.upperBound),
  ...perEps('candidate attack test error', { 0.01: 0.144, 0.02: 0.191, 0.03: 0.229, 0.04: 0.246, 0.05: 0.26 }, (r, e) => row(r, e)?.candidate?.testError),
  ...perEps('candidate attack test hinge', { 0.01: 0.42, 0.02: 0.51, 0.03: 0.58, 0.04: 0.61, 0.05: 0.64 }, (r, e) => row(r, e)?.candidate?.testHinge),
];

/** Enron, oracle sphere + slab, Figure 3. */
export const ENRON_REFERENCE: readonly ReferenceValue[] = [
  { what: 'clean train hinge', eps: [0], value: 0.09, pick: (r) => r.clean.trainHinge },
  { what: 'clean test hinge', eps: [0], value: 0.155, pick: (r) => r.clean.testHinge },
  ...perEps('U*', { 0: 0.09, 0.01: 0.27, 0.02: 0.31, 0.03: 0.33, 0.04: 0.338, 0.05: 0.347 }, (r, e) => row(r, e)?.upperBound),
  ...perEps('candidate attack test hinge', { 0.01: 0.17, 0.02: 0.19, 0.03: 0.205, 0.04: 0.215, 0.05: 0.22 }, (r, e) => row(r, e)?.candidate?.testHinge),
  ...perEps('candidate attack total train loss', { 0.01: 0.143, 0.02: 0.174, 0.03: 0.196, 0.04: 0.21, 0.05: 0.22 }, (r, e) => row(r, e)?.candidate?.totalTrainLoss),
];

export const REFERENCES: Readonly<Record<string, readonly ReferenceValue[]>> = { mnist17: MNIST17_REFERENCE, imdb: IMDB_REFERENCE, enron: ENRON_REFERENCE };

export interface ReferenceComparison {
  readonly what: string;
  readonly eps: number;
  readonly reference: number;
  readonly measured: number | undefined;
  /** (measured − reference) / reference. */
  readonly relativeDiff: number | undefined;
  /** |relativeDiff| ≤ tolerance. */
  readonly met: boolean;
}

/** Tolerance of the reproduction bar: ±20%. */
export const REFERENCE_TOLERANCE = 0.2;

export function compareToReference(report: CertifyReport, tolerance = REFERENCE_TOLERANCE): ReferenceComparison[] {
  // The figures' numbers are for the oracle defense.
  const refs = report.recipe.defense === 'oracle' ? (REFERENCES[report.dataset.name] ?? []) : [];
  const out: ReferenceComparison[] = [];
  for (const ref of refs) {
    for (const eps of ref.eps) {
      const measured = ref.pick(report, eps);
      if (measured === undefined) continue;
      const relativeDiff = (measured - ref.value) / ref.value;
      out.push({ what: ref.what, eps, reference: ref.value, measured, relativeDiff, met: Math.abs(relativeDiff) <= tolerance });
    }
  }
  return out;
}
