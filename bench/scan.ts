/**
 * Neural Cleanse scan benchmark on an MNIST model folder (e.g. one written by
 * `poisonguard train --dataset mnist --backdoor square:target=7`):
 *  1. one label's optimisation on this thread, on each model engine (TensorFlow.js, and ONNX when
 *     onnxruntime-node loads): ms per step (31 mini-batches of 32) and per mini-batch;
 *  2. with --full, the whole scan with the release recipe on the default worker threads (and with
 *     --fast, the fast mode too) on --engine (default auto): wall time, steps, verdict.
 * Writes bench/out/scan.json; with --write-docs, replaces the section "Neural Cleanse scan bench:
 * MODEL" of docs/BENCHMARKS.md (one per model folder name) with these figures. With --out DIR the
 * scans write to DIR/full and DIR/fast and resume from them (a GTSRB full scan takes hours); the
 * wall time of a resumed scan counts only its last invocation, so the table also gives the labels'
 * optimisation seconds summed over all invocations.
 *
 * Run: node --import tsx bench/scan.ts --model /work/runs/mnist-badnets [--steps 20] [--full] [--fast] [--engine auto|onnx|tfjs] [--out DIR] [--write-docs]
 */
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { resolveReverseRecipe } from '../src/cleanse/recipe.js';
import { createLabelState, runLabelSteps } from '../src/cleanse/reverse.js';
import { scanModel, type ScanReport } from '../src/cleanse/scan.js';
import { loadImageDataset } from '../src/data/image-registry.js';
import { packageRoot } from '../src/data/paths.js';
import { initEngine } from '../src/nn/engine.js';
import { loadModel, readMetadata } from '../src/nn/model-io.js';
import { createInputGradientModel, type ModelEngineChoice } from '../src/nn/onnx-gradient.js';
import { machineInfo, replaceSection, writeBenchJson } from './record.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: '/work/runs/mnist-badnets' },
    steps: { type: 'string', default: '20' },
    label: { type: 'string', default: '0' },
    full: { type: 'boolean', default: false },
    out: { type: 'string' },
    fast: { type: 'boolean', default: false },
    engine: { type: 'string', default: 'auto' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const machine = machineInfo();
const steps = Number(values.steps);
const engine = await initEngine({ backend: 'auto' });
const metadata = readMetadata(values.model);
const { model } = await loadModel(values.model);
const data = loadImageDataset(metadata.dataset, undefined, metadata.seed);
const [H, W, C] = metadata.inputShape;
const recipe = resolveReverseRecipe();
const ctx = { model, data: { images: data.test.images, count: data.test.count, height: H, width: W, channels: C }, preprocessing: metadata.preprocessing, recipe, numClasses: metadata.numClasses };
// One label on each engine, from the same start.
const onnx = await createInputGradientModel(model, recipe.loss);
const single: { engine: string; msPerStep: number; cpuMsPerStep: number }[] = [];
for (const gradient of 'unavailable' in onnx ? [undefined] : [onnx, undefined]) {
  const state = createLabelState(Number(values.label), 1, recipe, H, W, C);
  const c = gradient ? { ...ctx, gradient } : ctx;
  await runLabelSteps(c, state, 1); // warm-up: kernels compiled, first allocations
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await runLabelSteps(c, state, steps);
  // CPU time of this thread's work: the fair figure on a shared machine, where wall time includes waiting.
  const cpu = process.cpuUsage(cpu0);
  single.push({ engine: gradient ? 'onnx' : engine.backend, msPerStep: (performance.now() - t0) / steps, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps });
}
if (!('unavailable' in onnx)) await onnx.dispose();
model.dispose();
for (const r of single) {
  process.stderr.write(
    `one label, ${r.engine}, one thread: ${r.msPerStep.toFixed(0)} ms per step wall, ${r.cpuMsPerStep.toFixed(0)} ms CPU ` +
      `(${(r.cpuMsPerStep / recipe.miniBatches).toFixed(1)} ms CPU per mini-batch); load ${machine.load.join(' / ')}; tensors left ${tf.memory().numTensors}\n`,
  );
}
if ('unavailable' in onnx) process.stderr.write(`ONNX engine not measured: ${onnx.unavailable}\n`);

const scans: { mode: string; report: Omit<ScanReport, 'runs'> & { runs: unknown } }[] = [];
// CPU seconds of this process (with its worker threads) during each scan.
const cpuSeconds = new Map<string, number>();
for (const mode of values.full ? (values.fast ? ['full', 'fast'] : ['full']) : []) {
  const cpu0 = process.cpuUsage();
  const report = await scanModel({ model: values.model, fast: mode === 'fast', engine: values.engine as ModelEngineChoice, ...(values.out ? { out: join(values.out, mode) } : {}) });
  const cpu = process.cpuUsage(cpu0);
  cpuSeconds.set(mode, (cpu.user + cpu.system) / 1e6);
  const run = report.runs[0];
  process.stderr.write(`${mode} scan (${report.modelEngine.engine}): ${report.seconds.toFixed(0)} s, ${run.steps} steps, anomaly index ${run.outliers.anomalyIndex.toFixed(2)} (label ${run.outliers.minLabel}), verdict ${report.verdict.status}\n`);
  scans.push({ mode, report });
}
writeBenchJson('scan', { machine, model: values.model, backend: engine.backend, single, steps, scans });

if (values['write-docs']) {
  const rows = scans
    .map(({ mode, report }) => {
      const run = (report as ScanReport).runs[0];
      return `| ${mode} (${(report as ScanReport).modelEngine.engine}) | ${report.seconds.toFixed(0)} s | ${cpuSeconds.get(mode)!.toFixed(0)} s | ${run.labelSeconds.toFixed(0)} s | ${run.steps} | ${run.msPerStep.toFixed(0)} | ${run.outliers.anomalyIndex.toFixed(2)} (label ${run.outliers.minLabel}), z ${run.secondary.anomalyIndex.toFixed(2)} | ${report.verdict.status}${report.escalation ? ' (escalated)' : ''} |`;
    })
    .join('\n');
  replaceSection(
    join(packageRoot(), 'docs', 'BENCHMARKS.md'),
    `Neural Cleanse scan bench: ${basename(values.model)}`,
    `Machine: ${machine.nproc} cores (${machine.cpu}), Node ${machine.node}, ${machine.date.slice(0, 10)}; load average at the start ${machine.load.join(' / ')}.
Rerun: \`node --import tsx bench/scan.ts --model ${values.model} --full --fast${values.out ? ` --out ${values.out}` : ''} --write-docs\`.

One label, this thread, ${steps} steps (PyTorch 1.13 peer, one thread: ${metadata.dataset === 'gtsrb' ? '1.7–2.0 s' : '≈ 190 ms'} per step):
${single.map((r) => `- ${r.engine === 'onnx' ? 'ONNX engine (onnxruntime CPU)' : `TensorFlow.js ${r.engine}`}: **${r.msPerStep.toFixed(0)} ms per step** of 31 mini-batches of 32 (wall), ${r.cpuMsPerStep.toFixed(0)} ms of CPU (${(r.cpuMsPerStep / recipe.miniBatches).toFixed(1)} ms per mini-batch)`).join('\n')}

| scan | wall time | CPU time | labels' seconds (all invocations) | steps (all labels) | ms per step per worker | anomaly index (label), second statistic | verdict |
|---|---|---|---|---|---|---|---|
${rows || '| (run with --full) | | | | | | | |'}
${
  metadata.dataset === 'gtsrb'
    ? '| PyTorch 1.13 peer, full, one thread (peers.md) | ≈ 2 h (estimate: ≈ 100 steps per label at 1.7–2.0 s) | | | ≈ 4 300 | 1 700–2 000 | release model: 3.65 (33) | |'
    : '| PyTorch 1.13 peer, full, one thread (peers.md) | 134–154 s | ≈ same | | ≈ 500–1 000 | ≈ 190 | 5.66 (7) on its infected model | |'
}`,
  );
}
