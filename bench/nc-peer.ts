/**
 * Neural Cleanse on a model trained in PyTorch, side by side in one run: `poisonguard scan` on its
 * ONNX export (the native engine) and the PyTorch recipe (bench/torch/nc_scan.py) on its state_dict,
 * same labels, same release recipe, same cores. Each side is a whole command, timed from outside
 * (wall clock, and user + system CPU of the process and its threads from /usr/bin/time), so start-up
 * and data loading count on both sides; `--repeat N` alternates which side goes first.
 *
 * The model folder is what examples/pytorch/train_badnets.py writes (model.onnx, model.pt,
 * training.json). The two sides draw their random starts and batches from different generators, so
 * their step counts differ: the comparison is per step (31 mini-batches of 32), plus the totals.
 *
 * Run: node --import tsx bench/nc-peer.ts --model ../models/gtsrb-resnet-badnets [--labels 0,1,2,33]
 *        [--steps 1000] [--threads 2] [--repeat 1] [--python /usr/bin/python3] [--peer-blas DIR] [--write-docs]
 * Writes bench/out/nc-peer.json; --write-docs replaces the section "Neural Cleanse beside PyTorch:
 * MODEL" of docs/BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/data/paths.js';
import { cliFromSource, machineInfo, peerEnv, replaceSection, writeBenchJson } from './record.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: resolve(packageRoot(), '..', 'models', 'gtsrb-resnet-badnets') },
    labels: { type: 'string', default: '0,1,2,33' },
    steps: { type: 'string', default: '1000' },
    threads: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '1' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'peer-blas': { type: 'string' },
    'write-docs': { type: 'boolean', default: false },
  },
});

interface Side {
  side: 'poisonguard' | 'pytorch';
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMB: number;
  steps: number;
  /** Wall and CPU milliseconds per step, whole command over steps run. */
  msPerStep: number;
  cpuMsPerStep: number;
  labels: { label: number; steps: number; norm: number | null; stop: string }[];
}

const model = resolve(values.model!);
const training = JSON.parse(readFileSync(join(model, 'training.json'), 'utf8')) as { dataset: string; preprocessing: { spec?: string; kind: string } };
const threads = Number(values.threads);
const machine = machineInfo();

/** Runs `cmd` under /usr/bin/time; returns its stdout and the wall, CPU and peak RSS of the process. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { stdout: string; wall: number; cpu: number; rssMB: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '@@time %e %U %S %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26, env });
  const line = r.stderr.split('\n').find((l) => l.startsWith('@@time '));
  if (r.status !== 0 || !line) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const [wall, user, sys, rssKB] = line.slice(7).split(' ').map(Number);
  return { stdout: r.stdout, wall, cpu: user + sys, rssMB: rssKB / 1024 };
}

function poisonguard(): Side {
  const out = mkdtempSync(join(tmpdir(), 'pg-nc-peer-'));
  try {
    // 'inside': the graph normalises, the scan feeds x/255 ('none'); otherwise the spec training.json names.
    const pre = training.preprocessing.kind === 'inside' ? 'none' : (training.preprocessing.spec ?? training.preprocessing.kind);
    const args = [...cliFromSource(), 'scan', '--model', join(model, 'model.onnx'), '--dataset', training.dataset, '--preprocess', pre, '--labels', values.labels!, '--steps', values.steps!, '--workers', String(threads), '--out', join(out, 'scan'), '--quiet'];
    const t = timed(process.execPath, args);
    const dir = join(out, 'scan', 'seed-0');
    const labels = readdirSync(dir)
      .filter((f) => /^label-\d+\.json$/.test(f))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { label: number; steps: number; norm: number; reachedThreshold: boolean; stopReason: string })
      .map((l) => ({ label: l.label, steps: l.steps, norm: l.reachedThreshold ? l.norm : null, stop: l.stopReason }));
    return side('poisonguard', t, labels);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function pytorch(): Side {
  const env = peerEnv(values['peer-blas']);
  const args = [join(packageRoot(), 'bench', 'torch', 'nc_scan.py'), '--model', model, '--labels', values.labels!, '--steps', values.steps!, '--threads', String(threads)];
  const t = timed(values.python!, args, env);
  const doc = JSON.parse(t.stdout) as { labels: { label: number; steps: number; bestNorm: number | null; stop: string }[]; torch: string };
  torchVersion = doc.torch;
  return side('pytorch', t, doc.labels.map((l) => ({ label: l.label, steps: l.steps, norm: l.bestNorm, stop: l.stop })));
}

function side(name: Side['side'], t: { wall: number; cpu: number; rssMB: number }, labels: Side['labels']): Side {
  const steps = labels.reduce((s, l) => s + l.steps, 0);
  return { side: name, wallSeconds: t.wall, cpuSeconds: t.cpu, peakRssMB: t.rssMB, steps, msPerStep: (1000 * t.wall) / steps, cpuMsPerStep: (1000 * t.cpu) / steps, labels };
}

let torchVersion = '?';
const runs: Side[][] = [];
for (let i = 0; i < Number(values.repeat); i++) {
  const order = i % 2 === 0 ? [poisonguard, pytorch] : [pytorch, poisonguard];
  const pair = order.map((f) => {
    const r = f();
    process.stderr.write(`${r.side}: ${r.steps} steps, ${r.wallSeconds.toFixed(1)} s wall, ${r.cpuSeconds.toFixed(1)} s CPU, ${r.msPerStep.toFixed(0)} ms/step\n`);
    return r;
  });
  runs.push(pair.sort((a, b) => a.side.localeCompare(b.side)));
}
const loadAtEnd = machineInfo().load;
const file = writeBenchJson('nc-peer', { machine, model, labels: values.labels, steps: Number(values.steps), threads, torch: torchVersion, peerBlas: values['peer-blas'] ?? null, runs, loadAtEnd });
process.stderr.write(`written to ${file}\n`);

const f1 = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 }).replace(/,/g, ' ');
const f0 = (x: number) => Math.round(x).toLocaleString('en-US').replace(/,/g, ' ');
const rows = runs.flatMap((pair, i) => {
  const [pg, pt] = pair;
  return pair.map((s) => {
    const norms = s.labels.map((l) => `${l.label}: ${l.norm === null ? '—' : f0(l.norm)} (${l.steps})`).join(', ');
    const speed = s === pg ? ` | **${(pt.msPerStep / pg.msPerStep).toFixed(2)}x** | ${(pt.cpuMsPerStep / pg.cpuMsPerStep).toFixed(2)}x` : ' | | ';
    return `| ${i + 1} | ${s.side} | ${s.steps} | ${f1(s.wallSeconds)} | ${f1(s.cpuSeconds)} | ${f0(s.msPerStep)} | ${f0(s.cpuMsPerStep)}${speed} | ${f0(s.peakRssMB)} | ${norms} |`;
  });
});
const table = [
  `Machine: ${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, PyTorch ${torchVersion}${values['peer-blas'] ? ` (BLAS from ${values['peer-blas']})` : ''}; ${machine.date.slice(0, 16).replace('T', ' ')} UTC; load average ${machine.load.join(' / ')} at the start, ${loadAtEnd.join(' / ')} at the end.`,
  `Model: ${basename(model)} (ONNX export for poisonguard, state_dict for PyTorch); labels ${values.labels}; the release recipe, at most ${values.steps} steps per label; ${threads} thread(s) a side (poisonguard: --workers ${threads}, a label per worker; PyTorch: set_num_threads(${threads}), the labels in turn).`,
  '',
  '| run | side | steps | wall s | CPU s | wall ms/step | CPU ms/step | speed vs PyTorch (wall) | by CPU | peak RSS MB | label: best mask L1 (steps) |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
].join('\n');
console.log(table);
if (values['write-docs']) replaceSection(join(packageRoot(), 'docs', 'BENCHMARKS.md'), `Neural Cleanse beside PyTorch: ${basename(model)}`, table + `\n\nRerun: \`node --import tsx bench/nc-peer.ts --model ${values.model} --labels ${values.labels} --threads ${threads} --repeat ${values.repeat}${values['peer-blas'] ? ` --peer-blas ${values['peer-blas']}` : ''} --write-docs\`.`);
