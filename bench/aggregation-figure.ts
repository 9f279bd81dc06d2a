/**
 * The picture of docs/RESULTS.md: certified accuracy against the number of poison points for
 * aggregation runs (aggregation.json files), with U* of a certify run (certify --json) on the same
 * axes as 1 − U* (see src/certify/aggregation/bound-view.ts for what that conversion assumes).
 *
 * Run: node --import tsx bench/aggregation-figure.ts --run LABEL=runs/a/aggregation.json [--run …]
 *        --bound runs/certify-mnist17.json --max 1000 --out docs/images/aggregation-mnist17
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { boundAsAccuracy, type BoundRow } from '../src/certify/aggregation/bound-view.js';
import { certifiedAccuracy, type CertifiedPoint } from '../src/certify/aggregation/vote.js';
import { lineChartSpec, renderSvg, svgToPng, type LineSeries } from '../src/report/charts.js';

const { values } = parseArgs({ options: { run: { type: 'string', multiple: true, default: [] }, bound: { type: 'string' }, max: { type: 'string', default: '1000' }, out: { type: 'string' }, title: { type: 'string', default: 'MNIST-1-7: certified accuracy against poison points' }, budgets: { type: 'string', default: '0,100,200,300,400,450,480' } } });
const max = Number(values.max);
const grid = Array.from({ length: 101 }, (_, i) => Math.round((i * max) / 100));
const series: LineSeries[] = [];
let n = 0;
for (const spec of values.run) {
  const at = spec.lastIndexOf('=');
  const [label, file] = [spec.slice(0, at), spec.slice(at + 1)];
  const r = JSON.parse(readFileSync(file, 'utf8')) as { points: CertifiedPoint[]; dataset: { n: number } };
  n = r.dataset.n;
  const acc = certifiedAccuracy(r.points, grid);
  series.push({ name: label, points: grid.map((x, i) => ({ x, y: acc[i] })) });
}
if (values.bound !== undefined) {
  const c = JSON.parse(readFileSync(values.bound, 'utf8')) as { rows: BoundRow[]; dataset: { n: number } };
  const pts = boundAsAccuracy(c.rows, c.dataset.n).filter((p) => p.points <= max);
  series.push({ name: '1 − U* (SVM, sphere + slab)', points: pts.map((p) => ({ x: p.points, y: p.accuracy })), dashed: true, color: '#555' });
}
const spec = lineChartSpec({
  title: values.title,
  subtitle: `n = ${n} training points; dashed: U* read as accuracy, 1 − U* (assumptions in the text)`,
  series,
  xTitle: 'poison points (DPA/FA: insertions + deletions; U*: insertions)',
  yTitle: 'certified accuracy',
  yFormat: '.0%',
  yDomain: [0, 1],
  width: 560,
  height: 300,
});
const svg = await renderSvg(spec);
if (values.out !== undefined) {
  writeFileSync(`${values.out}.svg`, svg);
  writeFileSync(`${values.out}.png`, await svgToPng(svg));
}
// A markdown table of every run at the chosen budgets (the figure's numbers, for the text).
const budgets = values.budgets.split(',').map(Number);
const rows = [`| run | ${budgets.join(' | ')} |`, `|---|${budgets.map(() => '---:').join('|')}|`];
for (const spec of values.run) {
  const at = spec.lastIndexOf('=');
  const [label, file] = [spec.slice(0, at), spec.slice(at + 1)];
  const r = JSON.parse(readFileSync(file, 'utf8')) as { points: CertifiedPoint[] };
  rows.push(`| ${label} | ${certifiedAccuracy(r.points, budgets).map((a) => `${(100 * a).toFixed(2)}%`).join(' | ')} |`);
}
process.stdout.write(`${rows.join('\n')}\n`);
