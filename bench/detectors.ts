/**
 * Each detector's cost per model beside Neural Cleanse's: every detector named runs alone on each
 * model (through runDetectors, as `scan --detectors NAME` does), and its wall time and this
 * process's CPU time (worker threads included) are recorded with its score and call. The training-set
 * audits read --train-data (a clean copy of the training set times them; their answers on it say
 * nothing about the model). Runs one detector at a time: the machine is shared.
 *
 * Writes bench/out/detectors.json; with --write-docs, replaces the section "Detector cost per
 * model: TITLE" of docs/BENCHMARKS.md.
 *
 * Run: node --import tsx bench/detectors.ts --model runs/mnist-badnets --model runs/mnist-clean \
 *        [--detectors nc,nc-l2,nc-full,mmbd,strip,spectral,ac] [--train-data mnist] [--labels 0,1] [--title mnist] [--write-docs]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runDetectors } from '../src/cleanse/detectors/run.js';
import { DETECTORS } from '../src/cleanse/detectors/registry.js';
import { packageRoot } from '../src/data/paths.js';
import { docPath as shown, machineInfo, replaceSection, writeBenchJson } from './record.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true, default: [] },
    detectors: { type: 'string', default: 'nc,nc-l2,nc-full,mmbd,strip,spectral,ac' },
    'train-data': { type: 'string' },
    labels: { type: 'string' },
    title: { type: 'string', default: 'mnist' },
    'write-docs': { type: 'boolean', default: false },
  },
});
if (values.model.length === 0) throw new Error('give at least one --model (a model folder or ONNX file)');
const machine = machineInfo();
const names = values.detectors.split(',');
const labels = values.labels?.split(',').map(Number);
const rows: { model: string; detector: string; wallSeconds: number; cpuSeconds: number; score: number; threshold: number; backdoored: boolean; flagged: readonly number[]; engine: string | null; labels: number }[] = [];
for (const model of values.model) {
  for (const detector of names) {
    if (DETECTORS[detector].needs === 'training-set' && values['train-data'] === undefined) continue;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const { report } = await runDetectors({
      model,
      detectors: [detector],
      seed: 1,
      ...(labels ? { labels } : {}),
      ...(values['train-data'] !== undefined ? { trainData: values['train-data'] } : {}),
    });
    const cpu = process.cpuUsage(cpu0);
    const r = report.results[0];
    rows.push({
      model,
      detector,
      wallSeconds: (performance.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      score: r.score,
      threshold: r.threshold,
      backdoored: r.backdoored,
      flagged: r.flagged,
      engine: report.model.engine,
      labels: r.labels.length,
    });
    process.stderr.write(`${model} ${detector}: ${rows.at(-1)!.wallSeconds.toFixed(1)} s wall, ${rows.at(-1)!.cpuSeconds.toFixed(1)} s CPU, score ${r.score.toFixed(3)} (${r.backdoored ? 'backdoored' : 'clean'})\n`);
  }
}
const file = writeBenchJson('detectors', { machine, title: values.title, trainData: values['train-data'] ?? null, rows });
process.stderr.write(`written ${file}\n`);

if (values['write-docs']) {
  const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
  const nc = new Map(rows.filter((r) => r.detector === 'nc').map((r) => [r.model, r.cpuSeconds]));
  const lines = [
    '',
    `Machine: ${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, ${machine.date.slice(0, 10)}; load average at the start ${machine.load.join(' / ')} (a shared machine: wall times vary with the load; CPU time is the fairer figure).`,
    `Rerun: \`node --import tsx bench/detectors.ts ${values.model.map((m) => `--model ${shown(m)}`).join(' ')} --detectors ${values.detectors}${values['train-data'] ? ` --train-data ${values['train-data']}` : ''}${values.labels ? ` --labels ${values.labels}` : ''} --title ${values.title} --write-docs\`.`,
    'Each detector alone, seed 1, default recipe; Neural Cleanse on the default worker threads, the others on this thread. "× NC" is CPU time over Neural Cleanse\'s on the same model.',
    values['train-data'] ? `The audits (spectral, ac) read the clean training split of ${values['train-data']}: their times are real, their answers say nothing about the model.` : '',
    '',
    '| model | detector | labels | engine | wall time | CPU time | × NC | score (threshold) | call | flagged |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${shown(r.model)} | ${r.detector} | ${r.labels} | ${r.engine ?? '—'} | ${fmt(r.wallSeconds, 1)} s | ${fmt(r.cpuSeconds, 1)} s | ${nc.has(r.model) ? fmt(r.cpuSeconds / nc.get(r.model)!) : '—'} | ${fmt(r.score, 3)} (${fmt(r.threshold, 3)}) | ${r.backdoored ? 'backdoored' : 'clean'} | ${r.flagged.join(', ') || '—'} |`,
    ),
    '',
  ];
  replaceSection(join(packageRoot(), 'docs', 'BENCHMARKS.md'), `Detector cost per model: ${values.title}`, lines.filter((l, i) => l !== '' || i === 0 || i === lines.length - 1 || lines[i - 1] !== '').join('\n'));
}
