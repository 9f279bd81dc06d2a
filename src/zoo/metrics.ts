/**
 * Scoring a zoo against its ground truth as TrojAI does: ROC-AUC of P(backdoored) and the mean
 * cross-entropy (probabilities clipped to [1e-12, 1 − 1e-12], so one confident miss costs about
 * 27.6 nats rather than infinity); and the confusion table of the scan's own verdicts.
 */

/** Probabilities are clipped this far from 0 and 1 before the logarithm. */
export const CE_CLIP = 1e-12;

export interface Scored {
  readonly p: number;
  readonly infected: boolean;
}

/** Area under the ROC curve (Mann–Whitney: ties count half); undefined without both classes. */
export function rocAuc(xs: readonly Scored[]): number | undefined {
  const pos = xs.filter((x) => x.infected);
  const neg = xs.filter((x) => !x.infected);
  if (pos.length === 0 || neg.length === 0) return undefined;
  let wins = 0;
  for (const a of pos) for (const b of neg) wins += a.p > b.p ? 1 : a.p === b.p ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

/** Mean binary cross-entropy in nats. */
export function crossEntropy(xs: readonly Scored[]): number | undefined {
  if (xs.length === 0) return undefined;
  let s = 0;
  for (const { p, infected } of xs) {
    const q = Math.min(1 - CE_CLIP, Math.max(CE_CLIP, p));
    s -= infected ? Math.log(q) : Math.log(1 - q);
  }
  return s / xs.length;
}

/** The ROC curve's points (false-positive rate, true-positive rate), thresholds from high to low. */
export function rocCurve(xs: readonly Scored[]): { fpr: number; tpr: number; threshold: number }[] {
  const P = xs.filter((x) => x.infected).length;
  const N = xs.length - P;
  if (P === 0 || N === 0) return [];
  const thresholds = [...new Set(xs.map((x) => x.p))].sort((a, b) => b - a);
  const pts = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  for (const t of thresholds) {
    const tp = xs.filter((x) => x.infected && x.p >= t).length;
    const fp = xs.filter((x) => !x.infected && x.p >= t).length;
    pts.push({ fpr: fp / N, tpr: tp / P, threshold: t });
  }
  return pts;
}

export type VerdictStatus = 'backdoored' | 'suspicious' | 'clean';

/** Rows: the truth; columns: the verdict. */
export interface Confusion {
  readonly infected: Readonly<Record<VerdictStatus, number>>;
  readonly clean: Readonly<Record<VerdictStatus, number>>;
}

export function confusion(xs: readonly { readonly verdict: VerdictStatus; readonly infected: boolean }[]): Confusion {
  const row = (): Record<VerdictStatus, number> => ({ backdoored: 0, suspicious: 0, clean: 0 });
  const t = { infected: row(), clean: row() };
  for (const x of xs) t[x.infected ? 'infected' : 'clean'][x.verdict]++;
  return t;
}
