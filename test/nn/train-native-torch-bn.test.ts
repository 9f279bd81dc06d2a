/**
 * Train-mode BatchNorm's running statistics on a PyTorch export against PyTorch's own
 * (test/fixtures/torch-bn, make_bn_fixture.py): after the same SGD steps on one batch, the running
 * mean and variance are torch's (the variance moved towards the unbiased batch variance, with the
 * momentum the export carries); the same file under another producer follows ONNX's definition
 * (the biased variance); a batch of one value per channel leaves an unbiased running variance as
 * it is.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageSet, type ImageSet } from '../../src/data/images.js';
import type { ClassifierGraph } from '../../src/graph/ir.js';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
import { onnx } from '../../src/graph/onnx-values.js';
import { loadOrt } from '../../src/graph/runtime.js';
import { trainGraph } from '../../src/nn/train-native.js';
import { BATCH_NORM_FIXTURES_DIR } from '../graph/torch-fixtures.js';

/** bn_running.json (fields written by make_bn_fixture.py). */
interface BatchNormRecord {
  running_mean: string;
  running_var: string;
  momentum: number;
  values_per_channel: number;
  initial: { running_mean: number[]; running_var: number[] };
  steps: { batch_mean: number[]; batch_var_biased: number[]; running_mean: number[]; running_var: number[] }[];
}
interface Fixture {
  height: number;
  width: number;
  channels: number;
  pixels_nhwc: number[];
  labels: number[];
  optimizer: { learning_rate: number; momentum: number; nesterov: boolean; weight_decay: number };
  steps: number;
  batch_norms: Record<string, BatchNormRecord>;
}

/** Float32 agreement: PyTorch accumulates in float64 and in another order than onnxruntime. */
const RELATIVE_TOLERANCE = 2e-6;

let skip: string | false = false;
const fixture = JSON.parse(readFileSync(join(BATCH_NORM_FIXTURES_DIR, 'bn_running.json'), 'utf8')) as Fixture;
const bytes = new Uint8Array(readFileSync(join(BATCH_NORM_FIXTURES_DIR, 'bn_running.onnx')));
const set: ImageSet = imageSet(Uint8Array.from(fixture.pixels_nhwc), Int32Array.from(fixture.labels), fixture.height, fixture.width, fixture.channels);
const bns = Object.entries(fixture.batch_norms);
before(async () => {
  const ort = await loadOrt();
  if ('error' in ort) skip = `onnxruntime-node is not available: ${ort.error}`;
});

/** The fixture's file with another producer_name. */
function withProducer(producer: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  model.producerName = producer;
  return onnx.ModelProto.encode(model).finish();
}

/**
 * The running statistics after each epoch of trainGraph's run of the fixture's steps on `images`
 * (the whole set as one batch, so the draw order cannot change a per-channel statistic).
 */
async function runningAfterEachEpoch(graph: ClassifierGraph, epochs: number, images = set): Promise<Map<string, Float32Array>[]> {
  const { learning_rate: learningRate, momentum, nesterov, weight_decay: weightDecay } = fixture.optimizer;
  const after: Map<string, Float32Array>[] = [];
  await trainGraph(graph, new Map(), images, {
    epochs,
    batchSize: images.count,
    learningRate,
    optimizer: { kind: 'sgd', momentum, nesterov, weightDecay },
    onEpochEnd: (_, checkpoint) => {
      after.push(new Map(bns.flatMap(([, r]) => [r.running_mean, r.running_var].map((k) => [k, Float32Array.from(checkpoint.weights.get(k)!)]))));
    },
  });
  return after;
}

/** The largest |actual − expected| relative to the largest |expected|. */
function relativeError(actual: ArrayLike<number>, expected: readonly number[]): number {
  assert.equal(actual.length, expected.length);
  const scale = Math.max(...expected.map(Math.abs));
  return Math.max(...expected.map((e, i) => Math.abs(actual[i] - e))) / scale;
}

test("a PyTorch export's BatchNorms carry torch's training: unbiased running variance, the exported momentum", () => {
  const graph = loadOnnxGraph(bytes, { source: 'bn_running.onnx' });
  const nodes = graph.nodes.filter((n) => n.op === 'BatchNormalization');
  assert.equal(nodes.length, bns.length);
  for (const [, r] of bns) {
    const node = nodes.find((n) => n.inputs[3] === r.running_mean)!;
    // torch.onnx.export writes 1 − torch's momentum, as float32: read back as the decimal written.
    assert.equal(node.attrs.momentum, 1 - r.momentum);
    assert.equal(node.attrs.runningVariance, 'unbiased');
  }
  const other = loadOnnxGraph(withProducer('tf2onnx'));
  for (const node of other.nodes.filter((n) => n.op === 'BatchNormalization')) assert.equal(node.attrs.runningVariance, 'biased');
});

test("trainGraph's running mean and variance after PyTorch's SGD steps are PyTorch's (BatchNorm2d, BatchNorm1d after a Linear)", async (t) => {
  if (skip) return t.skip(skip);
  const after = await runningAfterEachEpoch(loadOnnxGraph(bytes), fixture.steps);
  for (const [name, r] of bns) {
    r.steps.forEach((step, s) => {
      const mean = relativeError(after[s].get(r.running_mean)!, step.running_mean);
      const variance = relativeError(after[s].get(r.running_var)!, step.running_var);
      assert.ok(mean < RELATIVE_TOLERANCE && variance < RELATIVE_TOLERANCE, `${name} after step ${s + 1}: running mean off by ${mean.toExponential(2)}, variance by ${variance.toExponential(2)} (relative)`);
    });
    // The biased batch variance would miss torch's by more than the tolerance: the check can fail.
    const first = r.steps[0];
    const biased = first.batch_var_biased.map((v, i) => (1 - r.momentum) * r.initial.running_var[i] + r.momentum * v);
    assert.ok(relativeError(after[0].get(r.running_var)!, biased) > 10 * RELATIVE_TOLERANCE, `${name}: n = ${r.values_per_channel} does not tell the two variances apart`);
  }
});

test('another producer\'s BatchNorms move the running variance towards the biased batch variance (ONNX\'s definition)', async (t) => {
  if (skip) return t.skip(skip);
  const [after] = await runningAfterEachEpoch(loadOnnxGraph(withProducer('tf2onnx')), 1);
  for (const [name, r] of bns) {
    const first = r.steps[0];
    const expected = first.batch_var_biased.map((v, i) => (1 - r.momentum) * r.initial.running_var[i] + r.momentum * v);
    const variance = relativeError(after.get(r.running_var)!, expected);
    assert.ok(variance < RELATIVE_TOLERANCE, `${name}: running variance off by ${variance.toExponential(2)} (relative)`);
    assert.ok(relativeError(after.get(r.running_mean)!, first.running_mean) < RELATIVE_TOLERANCE, `${name}: running mean`);
  }
});

test('a batch of one value per channel leaves an unbiased running variance as it is (torch refuses it), and moves the mean', async (t) => {
  if (skip) return t.skip(skip);
  const size = fixture.height * fixture.width * fixture.channels;
  const one = imageSet(Uint8Array.from(fixture.pixels_nhwc.slice(0, size)), Int32Array.from(fixture.labels.slice(0, 1)), fixture.height, fixture.width, fixture.channels);
  const [after] = await runningAfterEachEpoch(loadOnnxGraph(bytes), 1, one);
  const { bn1d, bn2d } = fixture.batch_norms;
  // BatchNorm1d after a Linear: one image is one value per channel.
  assert.deepEqual([...after.get(bn1d.running_var)!], bn1d.initial.running_var.map(Math.fround));
  assert.ok(relativeError(after.get(bn1d.running_mean)!, bn1d.initial.running_mean) > 1e-3);
  // BatchNorm2d: one image's 64 positions per channel.
  assert.ok(relativeError(after.get(bn2d.running_var)!, bn2d.initial.running_var) > 1e-3);
});
