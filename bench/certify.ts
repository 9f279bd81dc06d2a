/**
 * Certified-defense benchmark (release recipe) on one dataset (default mnist17; also imdb, enron):
 *  1. Algorithm 1 alone, one thread, the recipe's T at ε = 0.05 (0.03 on text): ms per iteration,
 *     seconds per ε and peak resident memory;
 *  2. the whole ε grid with the defender's SVM searches and the label-flip baseline, on the
 *     default worker threads.
 * Writes bench/out/certify-<dataset>.json, the run's report to bench/out/certify-<dataset>-grid.json,
 * and the dataset's sections of docs/BENCHMARKS.md and docs/RESULTS.md.
 *
 * Run: node --import tsx bench/certify.ts [--dataset mnist17|imdb|enron] [--quick] [--no-grid]
 */
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { loadBinaryDataset } from '../src/data/registry.js';
import { packageRoot } from '../src/data/paths.js';
import { fitSphereSlabDefense } from '../src/certify/defense.js';
import { runAlgorithm1 } from '../src/certify/algorithm1.js';
import { certify } from '../src/certify/certify.js';
import { CERTIFY_RECIPES } from '../src/certify/recipes.js';
import { certifyResultsSection, certifySectionHeading } from '../src/certify/results-markdown.js';
import { machineInfo, replaceSection, writeBenchJson } from './record.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const quick = process.argv.includes('--quick');
const noGrid = process.argv.includes('--no-grid');
const name = arg('dataset') ?? 'mnist17';
const recipe = CERTIFY_RECIPES[name];
const T = quick ? 1000 : recipe.iterations;
const benchEps = recipe.pointKind === 'continuous' ? 0.05 : 0.03;
const machine = machineInfo();
const loadStart = performance.now();
const data = await loadBinaryDataset(name, undefined, 0);
const loadSeconds = (performance.now() - loadStart) / 1000;
const defense = fitSphereSlabDefense(data.train.X, data.train.y);

const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const a1 = runAlgorithm1(data.train.X, data.train.y, defense, {
  eps: benchEps,
  rho2: recipe.rho2,
  eta: recipe.eta,
  iterations: T,
  mode: 'release',
  seed: 0,
  progressEvery: 100,
  onProgress: () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)),
});
const msPerIteration = (a1.seconds * 1000) / T;
process.stderr.write(`${name}: load ${loadSeconds.toFixed(1)} s; Algorithm 1: ${msPerIteration.toFixed(2)} ms/iteration, ${a1.seconds.toFixed(1)} s for T = ${T}, peak RSS ${(peakRss / 2 ** 30).toFixed(2)} GiB\n`);
if (noGrid) {
  writeBenchJson(`certify-${name}`, { machine, T, eps: benchEps, msPerIteration, secondsPerEps: a1.seconds, peakRssBytes: peakRss, loadSeconds });
  process.exit(0);
}

const gridStart = performance.now();
const report = await certify(data, { iterations: T, seed: 0, onProgress: () => {} });
const gridSeconds = (performance.now() - gridStart) / 1000;
process.stderr.write(`grid: ${gridSeconds.toFixed(1)} s on ${report.workers} workers\n`);

const { attacks: _a, ...serializable } = report;
writeBenchJson(`certify-${name}-grid`, serializable);
writeBenchJson(`certify-${name}`, { machine, T, eps: benchEps, msPerIteration, secondsPerEps: a1.seconds, peakRssBytes: peakRss, loadSeconds, gridSeconds, workers: report.workers, rows: report.rows.map((r) => ({ eps: r.eps, msPerIteration: r.msPerIteration, algorithmSeconds: r.algorithmSeconds, evaluationSeconds: r.evaluationSeconds })) });

if (!quick && name !== 'mnist17') {
  replaceSection(
    join(packageRoot(), 'docs', 'BENCHMARKS.md'),
    `Certified defense on ${name}`,
    `Machine: ${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, ${machine.date.slice(0, 10)}; load average at the start ${machine.load.join(' / ')}.
Rerun: \`node --import tsx bench/certify.ts --dataset ${name}\`.

${name}: ${report.dataset.n} × ${report.dataset.d}, ${report.dataset.nnz} non-zeros (CSR, never densified); loading ${loadSeconds.toFixed(1)} s.

| what | poisonguard | goal |
|---|---|---|
| Algorithm 1, ms per iteration (one thread, ε = ${benchEps}) | **${msPerIteration.toFixed(2)}** | |
| Algorithm 1, seconds per ε (T = ${T}) | **${a1.seconds.toFixed(1)}** | ${name === 'imdb' ? '≤ 60' : ''} |
| peak resident memory during Algorithm 1 | **${(peakRss / 2 ** 30).toFixed(2)} GiB** | ${name === 'imdb' ? '≤ 2 GiB' : ''} |
| whole grid (${report.rows.length} ε values, bound run + attack run + SVM searches + label flip) | **${gridSeconds.toFixed(0)} s** on ${report.workers} worker threads | |`,
  );
  replaceSection(join(packageRoot(), 'docs', 'RESULTS.md'), certifySectionHeading(name), certifyResultsSection(report, `node --import tsx bench/certify.ts --dataset ${name}`).markdown);
}

if (!quick && name === 'mnist17') {
  const perEps = [...report.rows]
    .sort((a, b) => a.eps - b.eps)
    .map((r) => `| ${r.eps} | ${r.msPerIteration.toFixed(2)} | ${r.algorithmSeconds.toFixed(1)} | ${r.evaluationSeconds.toFixed(1)} | ${r.candidate?.svmFits ?? '-'} / ${r.labelFlip?.svmFits ?? '-'} |`)
    .join('\n');
  replaceSection(
    join(packageRoot(), 'docs', 'BENCHMARKS.md'),
    'Certified defense (Algorithm 1, defender SVM)',
    `Machine: ${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, ${machine.date.slice(0, 10)}; load average at the start ${machine.load.join(' / ')} (other jobs on the machine inflate the figures).
Rerun: \`node --import tsx bench/certify.ts\` (about 3 minutes).

MNIST-1-7, release recipe (T = ${T}, η = ${recipe.eta}, ρ² = ${recipe.rho2}), CSR features (${report.dataset.nnz} non-zeros):

| what | poisonguard | goal | numpy + OpenBLAS peer (same machine kind) |
|---|---|---|---|
| Algorithm 1, ms per iteration (one thread, ε = 0.05) | **${msPerIteration.toFixed(2)}** | ≤ 6 | 6.6 idle, 9–11 contended |
| Algorithm 1, seconds per ε (T = ${T}) | **${a1.seconds.toFixed(1)}** | | 74–91 |
| whole 9-value grid with SVM searches and label flip | **${gridSeconds.toFixed(0)} s** on ${report.workers} worker threads | < 180 s | ≈ 13 min |

Per ε inside the grid run (workers share the two cores, so per-iteration times are higher than alone):

| ε | ms / iteration | Algorithm 1 s | evaluation s (both SVM searches) | SVM fits candidate / flip |
|---|---|---|---|---|
${perEps}

Why it is fast: the sparse (CSR) matrix–vector product is the only O(nnz) pass per iteration; the
clean-loss gradient is kept incrementally (only rows whose margin crossed 1 are added or removed); the inner maximization is closed-form in
the span of (w, μ_y, v) and the poison point is never built unless it is kept; the ε values run on
worker threads; the defender's SVM is liblinear's dual coordinate descent with shrinking and warm
starts across the weight-decay bisection.`,
  );
  replaceSection(join(packageRoot(), 'docs', 'RESULTS.md'), certifySectionHeading(name), certifyResultsSection(report, 'node --import tsx bench/certify.ts').markdown);
}
console.log(JSON.stringify({ msPerIteration, secondsPerEps: a1.seconds, gridSeconds, cores: availableParallelism() }));
