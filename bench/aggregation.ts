/**
 * Seconds per DPA base model and for the whole ensemble (MNIST, the MNIST net, DPA's schedule: 200 epochs at batch 128).
 *
 * Two measurements, one JSON object on stdout and bench/out/aggregation.json:
 * - `--from DIR`: a finished `certify --method dpa --out DIR` run: each model's training and
 *   test-labelling seconds (as its worker measured them, one onnxruntime thread each) and the
 *   ensemble's wall time with the run's workers;
 * - `--models N --workers 1,2`: the first N partitions of k (default 1200) trained afresh through the
 *   same worker module with 1 and then 2 worker threads: seconds per model, wall seconds, and the
 *   whole ensemble's time extrapolated to k models (N/W models per worker, k/N times over).
 *
 * Run: nice -n 10 node --import tsx bench/aggregation.ts --models 24 --workers 1,2 [--from runs/dpa-mnist-1200]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAggregationData, sampleSource } from '../src/certify/aggregation/data.js';
import { partitionTrainingSet } from '../src/certify/aggregation/partition.js';
import { defaultNetRecipe, DPA_BATCH_SIZE, DPA_EPOCHS, NET_RECIPE_CROP, NET_RECIPE_LEARNING_RATES, NET_RECIPES, type NetRecipe } from '../src/certify/aggregation/recipe.js';
import { AGGREGATION_JSON, membersDigest, PARTITIONS_FOLDER } from '../src/certify/aggregation/store.js';
import type { PartitionOutcome, PartitionTask, PartitionTaskInit } from '../src/certify/aggregation/task.js';
import { WorkerPool } from '../src/workers/pool.js';
import { machineInfo, writeBenchJson } from './record.js';

const { values } = parseArgs({
  options: {
    from: { type: 'string' },
    models: { type: 'string', default: '0' },
    workers: { type: 'string', default: '1,2' },
    partitions: { type: 'string', default: '1200' },
    epochs: { type: 'string', default: String(DPA_EPOCHS) },
    recipe: { type: 'string', default: defaultNetRecipe('mnist') },
  },
});
const netRecipe = values.recipe as NetRecipe;
if (!NET_RECIPES.includes(netRecipe)) throw new Error(`--recipe: one of ${NET_RECIPES.join(', ')}`);
const learningRate = NET_RECIPE_LEARNING_RATES[netRecipe];

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, mean: round(mean), median: round(s[Math.floor(s.length / 2)] ?? NaN), min: round(s[0] ?? NaN), max: round(s[s.length - 1] ?? NaN) };
};
const round = (x: number) => Number(x.toFixed(3));

const result: Record<string, unknown> = { machine: machineInfo(), recipe: { dataset: 'mnist', learner: 'mnist', netRecipe, epochs: Number(values.epochs), batchSize: DPA_BATCH_SIZE, learningRate, engine: 'onnx (1 thread per model)' } };

if (values.from !== undefined) {
  const dir = join(values.from, PARTITIONS_FOLDER);
  const records = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { trainSeconds: number; evalSeconds: number });
  const report = JSON.parse(readFileSync(join(values.from, AGGREGATION_JSON), 'utf8')) as { timing: { wallSeconds: number; workers: number; trained: number; resumed: number } };
  result.run = {
    folder: values.from,
    models: records.length,
    trainSeconds: stats(records.map((r) => r.trainSeconds)),
    evalSeconds: stats(records.map((r) => r.evalSeconds)),
    perModelSeconds: stats(records.map((r) => r.trainSeconds + r.evalSeconds)),
    ensembleWallSeconds: round(report.timing.wallSeconds),
    workers: report.timing.workers,
    trainedInLastRun: report.timing.trained,
    resumedInLastRun: report.timing.resumed,
  };
}

const models = Number(values.models);
if (models > 0) {
  const k = Number(values.partitions);
  const ref = { learner: 'mnist', dataset: 'mnist', seed: 0 } as const;
  const data = await loadAggregationData(ref);
  const plan = partitionTrainingSet(sampleSource(data), { method: 'dpa', partitions: k, hash: 'pixel-sum' });
  const init: PartitionTaskInit = { data: ref, rho2: 1, schedule: { arch: 'mnist', recipe: netRecipe, crop: NET_RECIPE_CROP[netRecipe], epochs: Number(values.epochs), batchSize: DPA_BATCH_SIZE, learningRate } };
  const tasks: PartitionTask[] = plan.subsets.slice(0, models).map((members, index) => ({ index, members, digest: membersDigest(members), seed: index }));
  const fresh: Record<string, unknown>[] = [];
  for (const w of values.workers.split(',').map(Number)) {
    const pool = new WorkerPool<PartitionTaskInit, PartitionTask, PartitionOutcome>(new URL('../src/certify/aggregation/aggregation-worker.ts', import.meta.url), init, w);
    // Warm-up: each worker loads MNIST and starts its engine before the clock starts.
    await Promise.all(Array.from({ length: w }, (_, i) => pool.run({ ...tasks[i], index: -1 - i })));
    const t0 = performance.now();
    const outcomes = await Promise.all(tasks.map((t) => pool.run(t)));
    const wall = (performance.now() - t0) / 1000;
    await pool.close();
    const per = outcomes.map((o) => o.trainSeconds + o.evalSeconds);
    fresh.push({
      workers: w,
      models,
      perModelSeconds: stats(per),
      trainSeconds: stats(outcomes.map((o) => o.trainSeconds)),
      evalSeconds: stats(outcomes.map((o) => o.evalSeconds)),
      wallSeconds: round(wall),
      wallPerModel: round(wall / models),
      ensembleExtrapolatedSeconds: round((wall / models) * k),
    });
    process.stderr.write(`${w} worker(s): ${models} models in ${wall.toFixed(1)} s\n`);
  }
  result.fresh = { partitions: k, subsetSizes: stats(plan.subsets.map((s) => s.length)), runs: fresh };
}
result.loadAtEnd = machineInfo().load;
writeBenchJson('aggregation', result);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
