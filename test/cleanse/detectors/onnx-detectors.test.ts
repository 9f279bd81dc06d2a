/**
 * The detectors on a user's ONNX model (the committed PyTorch MNIST BatchNorm CNN): MM-BD and STRIP
 * run on the graph engine through the same entry point as a TF.js folder, and write their results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDetectors } from '../../../src/cleanse/detectors/run.js';
import { subset } from '../../../src/data/images.js';
import { loadMnist } from '../../../src/data/mnist.js';
import { PREPROCESSING_PRESETS } from '../../../src/nn/preprocess.js';
import { loadOrt } from '../../graph/ort.js';
import { TORCH_FIXTURES_DIR } from '../../graph/torch-fixtures.js';
import { scratchDir } from '../../helpers.js';

test('MM-BD and STRIP on an ONNX model: graph engine, one result each, detectors.json written', async (t) => {
  const ort = await loadOrt();
  if ('error' in ort) return t.skip(`onnxruntime-node is not available: ${ort.error}`);
  const dir = scratchDir('detectors-onnx');
  copyFileSync(join(TORCH_FIXTURES_DIR, 'bn_cnn_mnist.onnx'), join(dir, 'model.onnx'));
  const clean = subset(loadMnist().test, Int32Array.from({ length: 120 }, (_, i) => i));
  const out = join(scratchDir('detectors-onnx-out'), 'scan');
  const { report } = await runDetectors({
    model: dir,
    preprocessing: PREPROCESSING_PRESETS.mnist,
    dataset: 'mnist',
    clean,
    detectors: ['mmbd', 'strip'],
    mmbd: { starts: 2, steps: 3 },
    strip: { overlays: 4, boundaryImages: 30, auditImages: 30 },
    out,
    seed: 5,
  });
  assert.equal(report.model.kind, 'onnx');
  assert.equal(report.model.engine, 'onnx');
  assert.deepEqual(report.results.map((r) => r.detector), ['mmbd', 'strip']);
  for (const r of report.results) {
    assert.equal(r.perLabel.length, 10);
    assert.ok(r.perLabel.every(Number.isFinite), `${r.detector}: ${r.perLabel.join(', ')}`);
  }
  const saved = JSON.parse(readFileSync(join(out, 'detectors.json'), 'utf8'));
  assert.equal(saved.results[0].detector, 'mmbd');
  assert.deepEqual(saved.results[0].perLabel, report.results[0].perLabel);
});
