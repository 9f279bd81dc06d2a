/**
 * DPA with a user-named architecture: a tiny PyTorch net with a residual connection and BatchNorm
 * (test/fixtures/torch-learner/learner_tiny.onnx) as the base learner on a tiny image folder, end to end —
 * every point's votes, prediction and radius consistent; the same numbers inline and on worker
 * threads; an interrupted run resumed; the recipe naming the file and its SHA-256, so that another
 * file in the same run folder is refused. And the bad inputs, one line each through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certifyAggregation, type AggregationReport } from '../../../src/certify/aggregation/aggregate.js';
import { loadPartitionWeights, PARTITIONS_FOLDER } from '../../../src/certify/aggregation/store.js';
import { dpaRadius, voteWinner } from '../../../src/certify/aggregation/vote.js';
import { loadOrt } from '../../../src/graph/runtime.js';
import { sha256Hex } from '../../../src/zoo/blobs.js';
import { buildModel } from '../../graph/op-models.js';
import { LEARNER_FIXTURES_DIR, TORCH_FIXTURES_DIR } from '../../graph/torch-fixtures.js';
import { runCli, scratchDir } from '../../helpers.js';
import { writeTinyFolder } from './tiny-images.js';

const LEARNER = join(LEARNER_FIXTURES_DIR, 'learner_tiny.onnx');
const numbers = (r: AggregationReport) => ({ points: r.points, certified: r.certifiedAccuracy, median: r.medianRadius });

test('DPA with a PyTorch-exported residual BatchNorm net: votes, radii, inline = threads, resumed, the file in the recipe', async (t) => {
  const ort = await loadOrt();
  if ('error' in ort) return t.skip(`onnxruntime-node is not available: ${ort.error}`);
  const root = scratchDir('dpa-onnx');
  const data = writeTinyFolder(join(root, 'data'), 200, 50);
  const out = join(root, 'run');
  const base = { method: 'dpa', partitions: 4, dataset: data, learner: LEARNER, netRecipe: 'adam', crop: 0, epochs: 15, batchSize: 16, seed: 2, budgets: [0, 1, 2] } as const;
  const inline = await certifyAggregation({ ...base, workers: 0, out });
  assert.equal(inline.recipe.learner, 'onnx');
  const arch = inline.recipe.net!.architecture!;
  assert.equal(arch.file, 'learner_tiny.onnx');
  assert.equal(arch.sha256, sha256Hex(readFileSync(LEARNER)));
  assert.deepEqual(arch.initialised, { tensors: 21, values: (arch.initialised as { values: number }).values, untied: 0 });
  assert.equal(inline.recipe.net!.preprocessing, 'x/255 → [0, 1]');
  assert.equal(inline.points.length, 50);
  for (const p of inline.points) {
    assert.equal(p.votes.reduce((s, x) => s + x, 0), 4);
    assert.equal(p.prediction, voteWinner(p.votes));
    assert.equal(p.radius, dpaRadius(p.votes));
  }
  assert.ok(inline.baseAccuracy > 0.9, `the base nets learn from 50 images each (${inline.baseAccuracy})`);
  assert.ok(inline.cleanAccuracy > 0.9 && inline.certifiedAccuracy[1] > 0.5, `the vote is right and certified (${inline.certifiedAccuracy})`);
  // Four votes certify a radius of 2 for class 0 only: another class loses the tie-break to a smaller label.
  const unanimous = inline.points.filter((p) => p.votes[p.prediction] === 4);
  assert.ok(unanimous.length > 0 && unanimous.every((p) => p.radius === (p.prediction === 0 ? 2 : 1)));
  const weights = loadPartitionWeights(out, 1);
  assert.ok(weights.has('bn1.running_mean') && weights.has('fc2.weight'), 'saved under the graph\'s own names');
  assert.notDeepEqual(weights.get('bn1.running_mean'), new Float32Array(8), 'BatchNorm trained its running statistics');

  const threaded = await certifyAggregation({ ...base, workers: 2 });
  assert.deepEqual(numbers(threaded), numbers(inline), 'worker threads give the same numbers');

  const files = readdirSync(join(out, PARTITIONS_FOLDER)).filter((f) => f.endsWith('.json')).sort();
  rmSync(join(out, PARTITIONS_FOLDER, files[2]));
  const resumed = await certifyAggregation({ ...base, workers: 0, out });
  assert.equal(resumed.timing.resumed, 3);
  assert.equal(resumed.timing.trained, 1);
  assert.deepEqual(numbers(resumed), numbers(inline));

  // Another file (the same net exported untrained): another SHA-256, refused in the same run folder.
  const other = join(root, 'other.onnx');
  copyFileSync(join(LEARNER_FIXTURES_DIR, 'learner_tiny_fresh.onnx'), other);
  await assert.rejects(certifyAggregation({ ...base, learner: other, workers: 0, out }), /same recipe to resume, or --force .*changed: net/);
});

/** A model of 8x8 grey inputs: `classes` outputs from a Gemm, or (no weights) from average pooling alone. */
function tinyModel(classes: number, withWeights: boolean): Uint8Array {
  if (!withWeights) {
    return buildModel({
      inputs: [{ name: 'x', dims: ['N', 1, 8, 8] }],
      outputs: [{ name: 'y', dims: ['N', 5] }],
      initializers: [{ name: 'shape', dims: [2], data: [-1, 5], type: 'int64' }],
      nodes: [
        { op: 'AveragePool', inputs: ['x'], outputs: ['p'], attrs: { kernel_shape: [8, 4] } },
        { op: 'Reshape', inputs: ['p', 'shape'], outputs: ['y'] },
      ],
    });
  }
  return buildModel({
    inputs: [{ name: 'x', dims: ['N', 1, 8, 8] }],
    outputs: [{ name: 'y', dims: ['N', classes] }],
    initializers: [
      { name: 'shape', dims: [2], data: [-1, 64], type: 'int64' },
      { name: 'w', dims: [classes, 64], data: new Array(classes * 64).fill(0.01) },
    ],
    nodes: [
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'w'], outputs: ['y'], attrs: { transB: 1 } },
    ],
  });
}

test('bad input: not ONNX, input or classes not the dataset\'s, nothing to train, neither a learner nor a file — one line each, non-zero exit', async () => {
  const root = scratchDir('dpa-onnx-bad');
  const data = writeTinyFolder(join(root, 'data'), 20, 5);
  const write = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(root, name), bytes);
    return join(root, name);
  };
  const cases: [string, RegExp][] = [
    [write('junk.onnx', Buffer.from('this is not a protobuf of a model, just text\n')), /junk\.onnx: not an ONNX model/],
    [join(TORCH_FIXTURES_DIR, 'resnet_small.onnx'), /resnet_small\.onnx's input: expected shape 8x8x1 \(height x width x channels of .*\), but got 32x32x3/],
    [write('three.onnx', tinyModel(3, true)), /three\.onnx: the graph has 3 outputs, but .* has 5 classes/],
    [write('pool.onnx', tinyModel(5, false)), /pool\.onnx: the graph has no weight to train/],
    ['resnet18', /--learner to be one of 'svm', 'mnist', 'gtsrb', or the path of an ONNX image classifier .*but got 'resnet18'/],
    [root, /No such ONNX model file: .*model\.onnx/],
  ];
  for (const [learner, pattern] of cases) {
    const r = await runCli(['certify', '--method', 'dpa', '--partitions', '2', '--dataset', data, '--learner', learner, '--workers', '0', '--epochs', '1']);
    assert.notEqual(r.code, 0, learner);
    assert.match(r.err, pattern);
    assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
  }
  const layout = await runCli(['certify', '--method', 'dpa', '--partitions', '2', '--dataset', 'mnist17', '--learner', 'svm', '--input-layout', 'nhwc']);
  assert.match(layout.err, /--input-layout to be absent with the 'svm' learner/);
  const bound = await runCli(['certify', '--dataset', 'mnist17', '--preprocess', 'unit']);
  assert.match(bound.err, /--preprocess to be absent with --method bound/);
});
