/** Plain-text table of a certify report (for the terminal and docs). */
import { CLEAN_SVM_CANDIDATE, type CertifyReport } from './certify.js';
import type { ReferenceComparison } from './reference.js';

const f4 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(4));
/** U*, marked when the clean SVM (not an iterate) gave it. */
const boundCell = (row: CertifyReport['rows'][number], mark: string): string => f4(row.upperBound) + (row.upperBoundFrom === CLEAN_SVM_CANDIDATE ? mark : '');

export function formatCertifyTable(r: CertifyReport): string {
  const hasGrad = r.rows.some((x) => x.gradient);
  const hasAll = r.rows.some((x) => x.candidateUnfiltered);
  const hasRemoved = r.rows.some((x) => x.candidateRemoved > 0);
  const head = ['ε', 'U*', 'U* env', 'atk train/n', 'atk test hinge', 'atk test err', 'flip test hinge', 'flip test err'];
  if (hasGrad) head.push('grad test hinge', 'grad test err');
  if (hasAll) head.push('unfiltered atk test hinge', 'unfiltered atk test err');
  if (hasRemoved) head.push('atk pts outside F');
  head.push('ms/it');
  const rows = [...r.rows]
    .sort((a, b) => a.eps - b.eps)
    .map((row) => [
      String(row.eps),
      boundCell(row, ' c'),
      f4(row.upperBoundEnvelope),
      f4(row.candidate?.totalTrainLoss),
      f4(row.candidate?.testHinge),
      f4(row.candidate?.testError),
      f4(row.labelFlip?.testHinge),
      f4(row.labelFlip?.testError),
      ...(hasGrad ? [f4(row.gradient?.testHinge), f4(row.gradient?.testError)] : []),
      ...(hasAll ? [f4(row.candidateUnfiltered?.testHinge), f4(row.candidateUnfiltered?.testError)] : []),
      ...(hasRemoved ? [`${row.candidateRemoved}/${row.candidateRemoved + row.candidateInF}`] : []),
      row.msPerIteration.toFixed(2),
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  const sep = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  const c = r.clean;
  const fromClean = r.rows.some((x) => x.upperBoundFrom === CLEAN_SVM_CANDIDATE);
  return [
    `${r.dataset.name}: n = ${r.dataset.n}, d = ${r.dataset.d}, +1 = ${r.dataset.positive}; defense ${r.recipe.defense} (${r.recipe.percentile}th percentile); recipe ${r.recipe.name}, mode ${r.recipe.mode}, T = ${r.recipe.mode === 'paper' ? 'εn' : r.recipe.iterations}, η = ${r.recipe.eta}, ρ² = ${r.recipe.rho2}, seed ${r.recipe.seed}; attack points ${r.recipe.pointKind}${r.recipe.shrunkenPercentiles ? ` (attack run on the ${r.recipe.shrunkenPercentiles.sphere}th/${r.recipe.shrunkenPercentiles.slab}th-percentile set, clipped and rounded)` : ''}${r.recipe.integerEta ? ` (integer best responses, ${r.recipe.integerEta})` : ''}`,
    `clean defender: weight decay ${c.weightDecay.toPrecision(3)}, train hinge ${f4(c.trainHinge)}, test hinge ${f4(c.testHinge)}, test error ${f4(c.testError)}`,
    '',
    line(head),
    sep,
    ...rows.map(line),
    '',
    ...(hasAll ? ['unfiltered atk: the candidate with ALL its points added, those outside F too (how the release evaluated IMDB); the defense would remove them.'] : []),
    ...(fromClean ? ["U* marked c: the clean defender's SVM (scaled into Θ) gave a smaller bound than every iterate."] : []),
    ...(r.boundKind === 'heuristic' ? ['U* here is HEURISTIC (data-dependent defense: sampled mass splits, relaxed attack model), not a certificate.'] : []),
    `checks: attack ≤ U* ${r.checks.attackBelowBound ? 'yes' : 'NO'}; candidate points in F ${r.checks.candidatesInF ? 'yes' : 'no (those outside are removed by the defense and not counted)'}; U* non-decreasing ${r.checks.boundMonotone ? 'yes' : 'NO'}; ${r.seconds.toFixed(1)} s on ${r.workers} worker(s)`,
  ].join('\n');
}

/** Markdown: the per-ε table of a run. */
export function certifyMarkdownTable(r: CertifyReport): string {
  const rows = [...r.rows].sort((a, b) => a.eps - b.eps);
  const grad = rows.some((x) => x.gradient);
  const all = rows.some((x) => x.candidateUnfiltered);
  const lines = [
    `| ε | U* | U* envelope | attack total train loss / n | attack test hinge | attack test error | label-flip test hinge | label-flip test error |${grad ? ' gradient test hinge | gradient test error |' : ''}${all ? ' unfiltered attack test hinge | unfiltered attack test error |' : ''} candidate points in F |`,
    `|---|---|---|---|---|---|---|---|${grad ? '---|---|' : ''}${all ? '---|---|' : ''}---|`,
  ];
  for (const x of rows) {
    lines.push(
      `| ${x.eps} | ${boundCell(x, ` (${CLEAN_SVM_CANDIDATE})`)} | ${f4(x.upperBoundEnvelope)} | ${f4(x.candidate?.totalTrainLoss)} | ${f4(x.candidate?.testHinge)} | ${f4(x.candidate?.testError)} | ${f4(x.labelFlip?.testHinge)} | ${f4(x.labelFlip?.testError)} |${grad ? ` ${f4(x.gradient?.testHinge)} | ${f4(x.gradient?.testError)} |` : ''}${all ? ` ${f4(x.candidateUnfiltered?.testHinge)} | ${f4(x.candidateUnfiltered?.testError)} |` : ''} ${x.candidateInF}/${x.candidateInF + x.candidateRemoved} |`,
    );
  }
  return lines.join('\n');
}

/** Markdown: each reference number, the measured one, and how far off. */
export function referenceMarkdownTable(cmp: readonly ReferenceComparison[]): string {
  const lines = ['| quantity | ε | paper | measured | off by | within ±20% |', '|---|---|---|---|---|---|'];
  for (const c of cmp) {
    lines.push(
      `| ${c.what} | ${c.eps} | ${c.reference} | ${f4(c.measured)} | ${c.relativeDiff === undefined ? '-' : `${(100 * c.relativeDiff).toFixed(1)}%`} | ${c.met ? 'yes' : '**no**'} |`,
    );
  }
  return lines.join('\n');
}
