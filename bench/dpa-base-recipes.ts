/**
 * How each way of training a DPA base net does on its own: the first N partitions of DPA's MNIST
 * split (k = 1 200, ≈ 50 images each), one net per partition and recipe, each net's accuracy on the
 * whole MNIST test set. This is what chose the project's nets' default recipe (recipe.ts,
 * defaultNetRecipe) and is the evidence docs/RESULTS.md quotes; a base net's accuracy is what the
 * vote, and so the certificate, is made of.
 *
 * Run: nice node --import tsx bench/dpa-base-recipes.ts [--partitions 8] [--epochs 200] [--learner mnist|FILE.onnx]
 *      [--variants adam:0,adam:2,adam:4,dpa:4,dpa:4:0.03,dpa:4:0.01]
 * A variant is recipe:crop[:learning rate] (the recipe's own rate when absent). One JSON object on
 * stdout and in bench/out/dpa-base-recipes.json.
 */
import { parseArgs } from 'node:util';
import { loadAggregationData, sampleSource, testLabels } from '../src/certify/aggregation/data.js';
import { trainNetPartition, type NetSchedule } from '../src/certify/aggregation/net-learner.js';
import { partitionTrainingSet } from '../src/certify/aggregation/partition.js';
import { DPA_BATCH_SIZE, DPA_EPOCHS, DPA_MNIST_PARTITIONS, NET_RECIPE_LEARNING_RATES, NET_RECIPES, ONNX_LEARNER, type NetRecipe } from '../src/certify/aggregation/recipe.js';
import { machineInfo, writeBenchJson } from './record.js';

const { values } = parseArgs({
  options: {
    partitions: { type: 'string', default: '8' },
    epochs: { type: 'string', default: String(DPA_EPOCHS) },
    learner: { type: 'string', default: 'mnist' },
    variants: { type: 'string', default: 'adam:0,adam:2,adam:4,dpa:4,dpa:4:0.03,dpa:4:0.01' },
  },
});

const n = Number(values.partitions);
const epochs = Number(values.epochs);
const variants = values.variants.split(',').map((v) => {
  const [recipe, crop, lr] = v.split(':');
  if (!(NET_RECIPES as readonly string[]).includes(recipe)) throw new Error(`variant '${v}': the recipe is one of ${NET_RECIPES.join(', ')}`);
  return { name: v, recipe: recipe as NetRecipe, crop: Number(crop ?? 0), learningRate: lr === undefined ? NET_RECIPE_LEARNING_RATES[recipe as NetRecipe] : Number(lr) };
});

const onnx = values.learner !== 'mnist';
const arch = onnx ? (await import('../src/certify/aggregation/onnx-learner.js')).openOnnxArchitecture(values.learner, {}) : undefined;
const data = await loadAggregationData({ learner: onnx ? ONNX_LEARNER : 'mnist', dataset: 'mnist', seed: 0 });
if (data.kind !== 'images') throw new Error('MNIST is an image dataset');
const labels = testLabels(data);
const plan = partitionTrainingSet(sampleSource(data), { method: 'dpa', partitions: DPA_MNIST_PARTITIONS, hash: 'pixel-sum' });

const rows: Record<string, unknown>[] = [];
for (const v of variants) {
  const accuracies: number[] = [];
  let seconds = 0;
  for (let j = 0; j < n; j++) {
    const schedule: NetSchedule = { arch: onnx ? ONNX_LEARNER : 'mnist', recipe: v.recipe, crop: v.crop, epochs, batchSize: DPA_BATCH_SIZE, learningRate: v.learningRate, ...(arch ? { preprocessing: arch.preprocessing } : {}) };
    const { model, predictions } = await trainNetPartition(data.dataset, plan.subsets[j], schedule, j, arch?.graph);
    let right = 0;
    for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) right++;
    accuracies.push(right / labels.length);
    seconds += model.trainSeconds;
  }
  const mean = accuracies.reduce((a, b) => a + b, 0) / n;
  const row = { variant: v.name, recipe: v.recipe, crop: v.crop, learningRate: v.learningRate, meanAccuracy: Number(mean.toFixed(4)), accuracies: accuracies.map((a) => Number(a.toFixed(4))), atChance: accuracies.filter((a) => a < 0.15).length, trainSecondsPerNet: Number((seconds / n).toFixed(2)) };
  rows.push(row);
  process.stderr.write(`${v.name}: mean ${(100 * mean).toFixed(2)}% (${accuracies.map((a) => (100 * a).toFixed(1)).join(' ')})\n`);
}
const result = { machine: machineInfo(), learner: values.learner, partitions: `the first ${n} of k = ${DPA_MNIST_PARTITIONS} (pixel-sum hash), seed j for partition j`, epochs, batchSize: DPA_BATCH_SIZE, testImages: labels.length, rows };
writeBenchJson('dpa-base-recipes', result);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
