/**
 * Training on both engines: full MNIST, the MNIST net, same seed — test accuracy and images/s (wall and per core).
 *
 * Each engine trains through `trainRun` (what `poisonguard train --engine E` runs) into a folder
 * under the system's temporary folder; "per core" divides the images by the process's CPU time
 * during the epochs (robust to other jobs on a shared machine), "wall" by the elapsed time.
 * Prints one JSON object. Options: --epochs N (default 2), --engines onnx,tfjs, --seed S (default 1).
 *
 * Run: nice node --import tsx bench/train-engines.ts --epochs 2 > /tmp/train-engines.json
 */
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { trainRun } from '../src/nn/train-run.js';

const { values } = parseArgs({ options: { epochs: { type: 'string', default: '2' }, engines: { type: 'string', default: 'onnx,tfjs' }, seed: { type: 'string', default: '1' } } });
const epochs = Number(values.epochs);
const seed = Number(values.seed);
const results: Record<string, unknown>[] = [];
const loadAtStart = loadavg();
for (const engine of values.engines.split(',')) {
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpuSeconds = 0;
  const out = join(mkdtempSync(join(tmpdir(), 'train-engines-')), engine);
  const report = await trainRun({
    dataset: 'mnist',
    epochs,
    seed,
    engine: engine as 'onnx' | 'tfjs',
    backend: 'wasm',
    out,
    onProgress: (e) => {
      if (e.kind === 'start') cpuStart = process.cpuUsage();
      if (e.kind === 'trained') {
        const u = process.cpuUsage(cpuStart);
        cpuSeconds = (u.user + u.system) / 1e6;
      }
    },
  });
  const images = report.history.length * report.plan.drawsPerEpoch;
  results.push({
    engine: report.plan.engine,
    reason: report.plan.engineReason,
    epochs,
    images,
    trainSeconds: Number(report.seconds.toFixed(1)),
    imagesPerSecondWall: Math.round(report.imagesPerSecond),
    // CPU time includes the epoch-end checkpoints (a small share).
    imagesPerSecondPerCore: Math.round(images / cpuSeconds),
    testAccuracy: report.evaluation.cleanAccuracy,
    epochLoss: report.history.map((h) => Number(h.loss.toFixed(4))),
    out,
  });
}
process.stdout.write(
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, loadAtStart, loadAtEnd: loadavg(), seed, results }, null, 2)}\n`,
);
