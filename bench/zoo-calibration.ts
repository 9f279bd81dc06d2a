/**
 * The shipped default calibration of `zoo scan` (src/zoo/default-calibration.ts), fitted on the
 * project's own scanned models: the six MNIST models of docs/RESULTS.md ("fast and full scans of six
 * MNIST models"), each as fast mode answers today (the fast + escalation rows where fast mode
 * escalated). Their statistics are copied from that table: the anomaly index, the second statistic
 * (z) and the ten norms, from which the norm ratio is computed as the zoo computes it.
 *
 *   node --import tsx bench/zoo-calibration.ts           # prints the fit and its in-sample scores
 *   node --import tsx bench/zoo-calibration.ts --write   # rewrites src/zoo/default-calibration.ts
 */
import { writeFileSync } from 'node:fs';
import { fitCalibration, leaveOneOut, normRatio, probability } from '../src/zoo/calibration.js';
import { crossEntropy, rocAuc } from '../src/zoo/metrics.js';
import { DEFAULT_FAST_BUDGET } from '../src/cleanse/fast.js';

const ROWS = [
  { model: 'badnets-s0 fast', infected: true, anomalyIndex: 3.25, secondary: 8.54, norms: [81.7, 120.2, 70.8, 61.3, 91.9, 70.6, 94.7, 14.7, 75.5, 91.8] },
  { model: 'badnets-s1 fast', infected: true, anomalyIndex: 3.53, secondary: 10.03, norms: [78.3, 128.3, 80.3, 13.3, 97.1, 87.8, 112.8, 95.1, 69.6, 108.2] },
  { model: 'badnets-s2 fast + escalation', infected: true, anomalyIndex: 2.08, secondary: 5.21, norms: [25.4, 114.6, 65.8, 77.5, 101.8, 66.5, 93.9, 108.7, 62.8, 96.2] },
  { model: 'clean-s0 fast', infected: false, anomalyIndex: 0.89, secondary: 1.36, norms: [89.1, 133.3, 69.1, 71.8, 99.6, 71.0, 107.8, 103.2, 75.5, 91.4] },
  { model: 'clean-s1 fast', infected: false, anomalyIndex: 0.93, secondary: 1.52, norms: [97.2, 123.0, 75.3, 79.5, 119.1, 75.7, 104.8, 101.0, 84.1, 109.3] },
  { model: 'clean-s2 fast + escalation', infected: false, anomalyIndex: 2.3, secondary: 2.04, norms: [79.3, 110.9, 59.4, 77.3, 87.2, 83.6, 92.6, 109.6, 60.6, 88.4] },
];

const rows = ROWS.map((r) => ({ infected: r.infected, features: { anomalyIndex: r.anomalyIndex, secondary: r.secondary, logNormRatio: normRatio(r.norms) } }));
const recipe = { scan: `fast mode (budget ${DEFAULT_FAST_BUDGET} steps, escalation on), the release's recipe otherwise`, dataset: 'MNIST', models: 'two conv nets trained 2–5 epochs, BadNets 4x4 and 5x5 squares (targets 7, 3, 0) and clean' };
const cal = fitCalibration(rows, { zoo: 'docs/RESULTS.md: six MNIST models (three BadNets, three clean)', recipe, date: '2026-12-05' });
const p = rows.map((r) => probability(cal, r.features));
const loo = leaveOneOut(rows, recipe);
const scored = (ps: number[]) => ps.map((q, i) => ({ p: q, infected: rows[i].infected }));
console.log(ROWS.map((r, i) => `${r.model.padEnd(30)} p ${p[i].toFixed(3)}  leave-one-out ${loo[i].toFixed(3)}`).join('\n'));
console.log(`in sample: ROC-AUC ${rocAuc(scored(p))}, CE ${crossEntropy(scored(p))!.toFixed(3)}; leave-one-out: ROC-AUC ${rocAuc(scored(loo))}, CE ${crossEntropy(scored(loo))!.toFixed(3)}`);
if (process.argv.includes('--write')) {
  writeFileSync(
    new URL('../src/zoo/default-calibration.ts', import.meta.url),
    `/**
 * The calibration \`zoo scan\` uses without --calibration: fitted by bench/zoo-calibration.ts on the
 * project's own scanned models (fittedOn says which, and with what recipe). Regenerate it with
 * \`node --import tsx bench/zoo-calibration.ts --write\`, not by hand.
 */
export const DEFAULT_CALIBRATION_SOURCE = 'shipped default (bench/zoo-calibration.ts)';

export const DEFAULT_CALIBRATION: unknown = ${JSON.stringify(cal, null, 2)};
`,
  );
  console.log('wrote src/zoo/default-calibration.ts');
}
