/**
 * U* on the aggregation certificates' axes. The two promise different things:
 *
 * - DPA / FA: for each test point, that no r insertions or deletions of training samples, of any
 *   content, change its prediction. Certified accuracy at r counts the points that are right and
 *   certified for r. No assumption on the data or the attacker.
 * - U* (Steinhardt et al.): that no εn inserted points inside the sphere + slab feasible set can push
 *   the defender's hinge loss on the clean training points above U* (in units of n): the poisoned
 *   SVM minimises the loss on clean + poison, so its clean part is at most the minimum, which U*
 *   bounds. It says something about test error only under the paper's assumption that the clean
 *   training loss stands for the test loss (train–test concentration), and through hinge ≥ 0-1:
 *   test error ≲ U*, i.e. accuracy ≳ 1 − U*, on average over the test set, not per point. Deletions
 *   are outside its threat model, and the oracle defense is fitted on the clean data.
 */

/** One ε of a certify run: the bound U* (hinge, units of n). */
export interface BoundRow {
  readonly eps: number;
  readonly upperBound: number;
}

/** The accuracy U* implies at m = εn inserted points, under the assumptions above: max(0, 1 − U*). */
export function boundAsAccuracy(rows: readonly BoundRow[], n: number): { points: number; accuracy: number }[] {
  return rows.map((r) => ({ points: Math.round(r.eps * n), accuracy: Math.max(0, 1 - r.upperBound) }));
}

/** The assumptions under which {@link boundAsAccuracy} holds, for figures and reports. */
export const BOUND_AS_ACCURACY_ASSUMPTIONS =
  '1 − U*: insertions only, inside the oracle sphere + slab set; assumes the clean training hinge stands for the test hinge, and uses 0-1 ≤ hinge; an average over the test set, not per point';
