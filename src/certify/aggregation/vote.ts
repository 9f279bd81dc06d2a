/**
 * The vote of the base classifiers and the per-test-point certificates: how many poison points
 * (training samples inserted or deleted, each counting one) the vote provably withstands.
 *
 * - DPA (Levine & Feizi 2021, Theorem 1): with n_c votes for class c and the prediction c (the most
 *   votes, the smaller label on ties), the radius is ⌊(n_c − max_{c'≠c}(n_{c'} + 1[c' < c]))/2⌋: one
 *   poison point lands in one partition and moves at most one vote, closing the gap to any c' by 2.
 * - FA (Wang, Levine & Feizi 2022, Theorem 2): one poison point lands in one of k·d hash buckets and
 *   reaches the d subsets that bucket feeds; moving a subset from c to c' closes that gap by 2, from
 *   a third class by 1. The radius is the largest r such that the r buckets that close the gap most
 *   cannot close it, for every c' (the release's greedy count, which is exact for this bound).
 */
import { OptionError } from '../../errors.js';

/** The predicted class: the most votes, the smaller label on ties (DPA's tie-break). */
export function voteWinner(counts: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < counts.length; c++) if (counts[c] > counts[best]) best = c;
  return best;
}

/** Vote counts per class of one test point, from each base classifier's predicted label. */
export function voteCounts(predictions: ArrayLike<number>, numClasses: number): Int32Array {
  const counts = new Int32Array(numClasses);
  for (let j = 0; j < predictions.length; j++) {
    const p = predictions[j];
    if (!(Number.isInteger(p) && p >= 0 && p < numClasses)) throw new OptionError('predictions', `class indices in 0..${numClasses - 1}`, p);
    counts[p]++;
  }
  return counts;
}

/** The gap the attacker must close to make `other` win over `c`: n_c − n_other − 1[other < c] (≥ 0 when c wins). */
function gap(counts: ArrayLike<number>, c: number, other: number): number {
  return counts[c] - counts[other] - (other < c ? 1 : 0);
}

/** DPA's certified radius of the vote's prediction. */
export function dpaRadius(counts: ArrayLike<number>): number {
  const c = voteWinner(counts);
  let worst = Infinity;
  for (let o = 0; o < counts.length; o++) if (o !== c) worst = Math.min(worst, gap(counts, c, o));
  // One class only: nothing to flip to; the count itself bounds it (every vote would have to move).
  if (!Number.isFinite(worst)) return counts[c];
  return Math.floor(worst / 2);
}

/** What FA's bound needs of one test point besides its vote counts. */
export interface FaLayout {
  /** k·d: the number of buckets and of subsets. */
  readonly subsets: number;
  /** The d shifts: bucket h feeds subsets (h + s) mod k·d. */
  readonly shifts: readonly number[];
}

/**
 * FA's certified radius of the vote's prediction, from every subset's predicted label for this
 * test point (`subsetPredictions[j]`: subset j's classifier).
 */
export function faRadius(subsetPredictions: ArrayLike<number>, numClasses: number, layout: FaLayout): number {
  const m = layout.subsets;
  const d = layout.shifts.length;
  if (subsetPredictions.length !== m) throw new OptionError('subsetPredictions', `${m} predictions (one per subset)`, `${subsetPredictions.length}`);
  const counts = voteCounts(subsetPredictions, numClasses);
  const c = voteWinner(counts);
  // A bucket's effect on the gap to `o`: Σ over the subsets it feeds of 1 + [votes c] − [votes o] ∈ 0..2d.
  // Counting sort by effect: the greedy takes the largest effects first.
  const histogram = new Int32Array(2 * d + 1);
  let best = Infinity;
  for (let o = 0; o < numClasses; o++) {
    if (o === c) continue;
    histogram.fill(0);
    for (let h = 0; h < m; h++) {
      let delta = 0;
      for (const s of layout.shifts) {
        const p = subsetPredictions[(h + s) % m];
        delta += 1 + (p === c ? 1 : 0) - (p === o ? 1 : 0);
      }
      histogram[delta]++;
    }
    let remaining = gap(counts, c, o);
    let radius = 0;
    // Take buckets while the gap stays ≥ 0 after them (the vote still goes to c, ties included).
    outer: for (let delta = 2 * d; delta >= 0; delta--) {
      for (let n = histogram[delta]; n > 0; n--) {
        if (remaining - delta < 0) break outer;
        remaining -= delta;
        radius++;
      }
    }
    best = Math.min(best, radius);
    if (best === 0) break;
  }
  return Number.isFinite(best) ? best : m;
}

/** One test point's certificate. */
export interface CertifiedPoint {
  /** Votes per class. */
  readonly votes: readonly number[];
  readonly prediction: number;
  readonly label: number;
  /** Poison points (insertions plus deletions) the prediction provably withstands. */
  readonly radius: number;
}

/**
 * Certified accuracy at each budget r: the fraction of test points predicted correctly with a
 * radius of at least r (correct now, and provably still correct after any r insertions or deletions).
 */
export function certifiedAccuracy(points: readonly CertifiedPoint[], budgets: readonly number[]): number[] {
  return budgets.map((r) => {
    let ok = 0;
    for (const p of points) if (p.prediction === p.label && p.radius >= r) ok++;
    return points.length === 0 ? 0 : ok / points.length;
  });
}

/**
 * The median certified robustness as the DPA paper reports it: the largest budget r at which at
 * least half of the test points are certified correct (−1 when fewer than half are correct).
 */
export function medianCertifiedRadius(points: readonly CertifiedPoint[]): number {
  const certs = points.map((p) => (p.prediction === p.label ? p.radius : -1)).sort((a, b) => a - b);
  if (certs.length === 0) return -1;
  // The ⌈n/2⌉-th largest: at least half are ≥ it.
  return certs[certs.length - Math.ceil(certs.length / 2)];
}
