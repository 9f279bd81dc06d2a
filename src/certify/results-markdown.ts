/**
 * The docs/RESULTS.md section of a certify run: recipe, clean defender, per-ε table, checks and
 * the comparison with the paper's figures. Shared by `poisonguard reproduce` and bench/certify.ts.
 */
import { portablePath } from '../data/paths.js';
import type { CertifyReport } from './certify.js';
import { certifyMarkdownTable, referenceMarkdownTable } from './format.js';
import { compareToReference, REFERENCE_TOLERANCE, type ReferenceComparison } from './reference.js';

/** The heading of a dataset's section in docs/RESULTS.md. */
export function certifySectionHeading(dataset: string): string {
  return dataset === 'mnist17' ? 'Certified defense: MNIST-1-7' : `Certified defense: ${dataset}`;
}

const FIGURE: Record<string, string> = { mnist17: 'Figure 2b', imdb: 'Figure 3', enron: 'Figure 3' };

export function certifyResultsSection(report: CertifyReport, madeBy: string): { markdown: string; comparison: ReferenceComparison[] } {
  const r = report.recipe;
  const cmp = compareToReference(report);
  const points =
    r.pointKind === 'continuous'
      ? 'the candidate attack is the bound run itself (round(εn) of its iterates sampled in release mode, all of them in paper mode)'
      : r.pointKind === 'rounded'
        ? `candidate attack points from a second run on the ${r.shrunkenPercentiles?.sphere}th/${r.shrunkenPercentiles?.slab}th-percentile set, negatives clipped and counts randomly rounded; rounded points outside F are removed by the defense and counted`
        : `candidate attack points from a second run with integer best responses (${r.integerEta}), each checked inside F`;
  const pct = Math.round(100 * REFERENCE_TOLERANCE);
  const heuristic = report.boundKind === 'heuristic';
  const lines = [
    heuristic
      ? `Recipe: ${r.name}, data-dependent defense (centroids and ${r.percentile}th-percentile radii refitted on clean + poison data): the U column is a heuristic from Algorithm 1 against both classes with the release's mass splits (ε/2 + ε/2 and random ones) on the clean set enlarged by 1/m_y per class (T = ${r.iterations} per split, η = ${r.eta}, ρ² = ${r.rho2}); the attack shown is the split whose evaluated test hinge is largest; poison points outside the refitted defense are removed before training; defender = norm-matched hinge SVM (tol ${r.svm.tol.toExponential()}); seed ${r.seed}; +1 = ${report.dataset.positive}. Data: ${report.dataset.n} train / ${report.dataset.nTest} test, d = ${report.dataset.d}. Made by \`${madeBy}\` on ${report.date.slice(0, 10)} in ${report.seconds.toFixed(0)} s.`
      : `Recipe: ${r.name}, mode ${r.mode}: U* from Algorithm 1 over the continuous ${r.percentile}th-percentile oracle sphere + slab set (T = ${r.mode === 'paper' ? 'εn' : r.iterations}, η = ${r.eta}, ρ² = ${r.rho2}${r.start === 'clean' ? ', started at the clean SVM' : ''}), the minimum of U over ${r.bound === 'iterates' ? 'its iterates' : "its iterates and the clean defender's SVM scaled into Θ"}; ${points}; defender = norm-matched hinge SVM (‖w‖² + b² ∈ [ρ², ρ² + ${r.svm.band}], dual coordinate descent, tol ${r.svm.tol.toExponential()}, at most ${r.svm.maxIter} passes); seed ${r.seed}; +1 = ${report.dataset.positive}. Data: ${report.dataset.n} train / ${report.dataset.nTest} test, d = ${report.dataset.d} (${portablePath(report.dataset.source)}). Made by \`${madeBy}\` on ${report.date.slice(0, 10)} in ${report.seconds.toFixed(0)} s.`,
    '',
    `Clean defender: weight decay ${report.clean.weightDecay.toPrecision(3)}, train hinge ${report.clean.trainHinge.toFixed(4)}, test hinge ${report.clean.testHinge.toFixed(4)}, test error ${report.clean.testError.toFixed(4)}.`,
    '',
    certifyMarkdownTable(report),
    '',
    heuristic
      ? 'Here U* and its "envelope" are the same heuristic number; neither is a certificate.'
      : '"U* envelope" is the lower envelope, over the iterates of every run of the grid, of L(θ)/n + ε·max_F ℓ(θ): each θ gives a valid bound, so it is a certificate too, never above U* and non-decreasing in ε by construction.',
    `Checks on this run: attack total train loss ≤ U* at every ε: ${report.checks.attackBelowBound ? 'yes' : 'NO'}; every candidate point inside F: ${report.checks.candidatesInF ? 'yes' : 'no (the points outside are removed by the defense, as counted in the last column)'}; U* non-decreasing: ${report.checks.boundMonotone ? 'yes' : 'NO'}.`,
  ];
  if (cmp.length > 0) {
    lines.push('', `Against the paper's ${FIGURE[report.dataset.name] ?? 'figures'} (bar: within ±${pct}%):`, '', referenceMarkdownTable(cmp), '');
    const missed = cmp.filter((c) => !c.met);
    lines.push(
      missed.length === 0
        ? `Every reference number is met within ±${pct}%.`
        : `Missed: ${missed.map((c) => `${c.what} at ε = ${c.eps} (${(100 * (c.relativeDiff ?? 0)).toFixed(1)}%)`).join('; ')}.`,
    );
  }
  return { markdown: lines.join('\n'), comparison: cmp };
}
