/** The aggregation certificate as text for the terminal: a summary and certified accuracy per budget. */
import type { AggregationRecipe, AggregationReport } from './aggregate.js';

/** The learner as people read it: its name, or a user's architecture's file name. */
export function learnerName(recipe: AggregationRecipe): string {
  const file = recipe.net?.architecture?.file;
  return typeof file === 'string' ? file : recipe.learner;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export function formatAggregationTable(r: AggregationReport): string {
  const { recipe } = r;
  const name = recipe.method === 'dpa' ? `DPA, k = ${recipe.partitions}` : `FA, k = ${recipe.partitions}, d = ${recipe.spread} (${recipe.classifiers} classifiers)`;
  const a = recipe.net?.architecture;
  const learner = a ? `${learnerName(recipe)} (SHA-256 ${String(a.sha256).slice(0, 12)}…, re-initialised per classifier)` : recipe.learner;
  const lines = [
    `${name}; learner ${learner}; ${r.dataset.name}: ${r.dataset.n} train (subsets of ${r.subsetSizes.min}–${r.subsetSizes.max}), ${r.dataset.nTest} test`,
    `clean accuracy of the vote ${pct(r.cleanAccuracy)} (base classifiers ${pct(r.baseAccuracy)} on average); median certified radius ${r.medianRadius}`,
    '',
    '| poison points | certified accuracy |',
    '|---:|---:|',
    ...r.budgets.map((b, i) => `| ${String(b).padStart(13)} | ${pct(r.certifiedAccuracy[i]).padStart(18)} |`),
    '',
    'A test point counts at budget r when the vote is right and no r training samples inserted or deleted, chosen in any way, can change it.',
  ];
  return lines.join('\n');
}
