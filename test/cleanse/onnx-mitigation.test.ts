/**
 * Neural Cleanse's filter and pruning on users' ONNX models (PyTorch exports committed as
 * fixtures): the pruned file holds the pruned units as zero weight slices, reloads to the numbers
 * the report states and to its own pruning curve's point; the filter applied later to the same
 * images flags the share the report measured; a residual network is pruned at its last convolution,
 * saying why; the original files are never touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanModel } from '../../src/cleanse/scan.js';
import { mitigateModel } from '../../src/cleanse/mitigation/mitigate.js';
import { readFilter } from '../../src/cleanse/mitigation/filter.js';
import { applyFilterWithModel } from '../../src/cleanse/mitigation/filter-apply.js';
import { imageSet, subset, type ImageSet } from '../../src/data/images.js';
import { loadMnist } from '../../src/data/mnist.js';
import { openOnnxModel } from '../../src/nn/onnx-model.js';
import { PREPROCESSING_PRESETS } from '../../src/nn/preprocess.js';
import { graphScorer } from '../../src/nn/scorer.js';
import { evaluateModel } from '../../src/nn/train.js';
import { Random } from '../../src/random.js';
import { loadOrt } from '../graph/ort.js';
import { TORCH_FIXTURES_DIR } from '../graph/torch-fixtures.js';
import { scratchDir } from '../helpers.js';

const ortMissing = async (): Promise<string | false> => {
  const ort = await loadOrt();
  return 'error' in ort ? `onnxruntime-node is not available: ${ort.error}` : false;
};

function copyFixture(name: string): string {
  const dir = scratchDir(`onnx-mitigation-${name}`);
  copyFileSync(join(TORCH_FIXTURES_DIR, `${name}.onnx`), join(dir, 'model.onnx'));
  return dir;
}

const first = (set: ImageSet, n: number): ImageSet => subset(set, Int32Array.from({ length: n }, (_, i) => i));

/** The MNIST BatchNorm CNN, its data and a short scan of three labels (once for the file's tests). */
let mnistCase: Promise<{ dir: string; scan: string; data: { train: ImageSet; test: ImageSet; name: string } }> | undefined;
function mnistModel() {
  mnistCase ??= (async () => {
    const dir = copyFixture('bn_cnn_mnist');
    const mnist = loadMnist();
    const data = { train: first(mnist.train, 1000), test: first(mnist.test, 300), name: 'mnist (first images)' };
    const scan = scratchDir('onnx-mitigation-scan');
    await scanModel({ model: dir, preprocessing: PREPROCESSING_PRESETS.mnist, dataset: 'mnist', clean: data.test, workers: 0, labels: [0, 1, 2], batchSize: 16, miniBatches: 2, maxSteps: 2, out: scan });
    return { dir, scan, data };
  })();
  return mnistCase;
}

test('pruning an ONNX model: zero weight slices in the written file, which reloads to the numbers reported and to its curve', async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  const { dir, scan, data } = await mnistModel();
  const originalBytes = readFileSync(join(dir, 'model.onnx'));
  const out = join(scratchDir('onnx-prune-out'), 'pruned');
  const report = await mitigateModel({ model: dir, scan, label: 0, method: 'prune', data, out, defenseImages: 200, asrThreshold: 0.05, maxShare: 0.3, curveStep: 0.25 });
  assert.deepEqual(readFileSync(join(dir, 'model.onnx')), originalBytes, 'the original file is untouched');
  assert.equal(report.backend, 'onnxruntime');
  const original = openOnnxModel(dir);
  const gemms = original.graph.nodes.filter((n) => n.op === 'Gemm');
  assert.equal(report.layer?.name, gemms.at(-1)!.inputs[0], "the default layer: the last Gemm's input");
  assert.equal(report.layer?.kind, 'dense');
  const pruned = report.pruning!.pruned;
  const units = report.layer!.units;
  assert.equal(pruned.length, Math.round(report.pruning!.stopShare! * units));
  assert.ok(pruned.length > 0, 'units were pruned');

  const written = openOnnxModel(out);
  assert.equal(written.unsaved, false, 'the written sidecar describes the written file');
  const record = written.metadata.mitigation as { method: string; pruned: { layer: string; neurons: number[] } };
  assert.equal(record.method, 'prune');
  assert.deepEqual(record.pruned.neurons, pruned);
  // The layer's units come from the first Gemm (32 rows of 200): the pruned rows and biases are zero, the others as they were.
  const [, w, b] = gemms[0].inputs;
  const W = written.graph.weights.get(w)!.data;
  const W0 = original.graph.weights.get(w)!.data;
  const inputs = W.length / units;
  for (let u = 0; u < units; u++) {
    const row = W.subarray(u * inputs, (u + 1) * inputs);
    if (pruned.includes(u)) {
      assert.ok(row.every((v) => v === 0), `row ${u} zeroed`);
      assert.equal(written.graph.weights.get(b)!.data[u], 0);
    } else assert.deepEqual(row, W0.subarray(u * inputs, (u + 1) * inputs), `row ${u} kept`);
  }
  // The written file, measured independently, gives the accuracy reported, which is the curve's at the same count.
  const e = await evaluateModel(await graphScorer(written.graph), data.test, { preprocessing: PREPROCESSING_PRESETS.mnist });
  assert.equal(e.cleanAccuracy, report.after!.cleanAccuracy);
  const point = report.pruning!.points.find((p) => p.pruned === pruned.length)!;
  assert.equal(point.cleanAccuracy, report.after!.cleanAccuracy, 'the head with the units masked and the written file agree');
  assert.equal(point.asrReversed, report.after!.asrReversed);
  await assert.rejects(mitigateModel({ model: dir, scan, label: 0, method: 'prune', data, out }), /is not empty/);
});

test("the filter of an ONNX model, applied later to the test images, flags the share the mitigation measured", async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  const { dir, scan, data } = await mnistModel();
  const out = scratchDir('onnx-filter-out');
  const report = await mitigateModel({ model: dir, scan, label: 0, method: 'filter', data, out, force: true, defenseImages: 200, layer: 'last-conv' });
  assert.equal(report.layer?.kind, 'conv');
  const filter = readFilter(join(out, 'filter.json'));
  assert.equal(filter.layer.name, report.layer!.name);
  const applied = await applyFilterWithModel(dir, filter, data.test.images);
  const flagged = applied.flagged.filter(Boolean).length / applied.flagged.length;
  assert.equal(flagged, report.filter!.measuredFpr);
  await assert.rejects(applyFilterWithModel(dir, filter, data.test.images, 'cpu'), /absent for an ONNX model/);
  const other = copyFixture('resnet_small');
  await assert.rejects(applyFilterWithModel(other, filter, data.test.images), /made for another model/);
});

test("a residual network is pruned at its main branch's last convolution, with the reason in the notes", async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  const dir = copyFixture('resnet_small');
  const rng = new Random(5);
  const synthetic = (n: number): ImageSet =>
    imageSet(Uint8Array.from({ length: n * 32 * 32 * 3 }, () => rng.int(256)), Int32Array.from({ length: n }, () => rng.int(10)), 32, 32, 3);
  const data = { train: synthetic(120), test: synthetic(60), name: 'synthetic' };
  const scan = scratchDir('onnx-mitigation-resnet-scan');
  await scanModel({ model: dir, preprocessing: PREPROCESSING_PRESETS.unit, clean: data.test, workers: 0, labels: [1, 2, 3], batchSize: 8, miniBatches: 1, maxSteps: 1, out: scan });
  const report = await mitigateModel({ model: dir, scan, label: 3, method: 'prune', data, defenseImages: 40, asrThreshold: 0.5, maxShare: 0.1, curveStep: 0.5 });
  assert.equal(report.layer?.kind, 'conv');
  // The main branch's last convolution, not the 1x1 downsample the export writes after it.
  assert.equal(report.layer?.name, '/layer2/conv2/Conv_output_0');
  assert.ok(report.notes.some((n) => /cannot be pruned in the weights .*residual connection.*last convolution/.test(n)), report.notes.join(' | '));
  await assert.rejects(mitigateModel({ model: dir, scan, label: 3, method: 'prune', data, layer: 'nope' }), /Unknown layer 'nope'.*penultimate, last-conv/);
});
