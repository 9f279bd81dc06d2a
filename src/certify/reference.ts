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
  { what: 'U*', eps: [0.05, 0.1, 0.2, 0.3], value: 0.063, pick: (r, e) => row(r, e)?.upperBound },
  { what: 'candidate attack test hinge', eps: [0.05, 0.1, 0.2, 0.3], value: 0.068, pick: (r, e) => row(r, e)?.candidate?.testHinge },
  { what: 'label-flip test hinge', eps: [0.1, 0.2, 0.3], value: 0.043, pick: (r, e) => row(r, e)?.labelFlip?.testHinge },
];

export const REFERENCES: Readonly<Record<string, readonly ReferenceValue[]>> = { mnist17: MNIST17_REFERENCE };

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
  const refs = REFERENCES[report.dataset.name] ?? [];
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
