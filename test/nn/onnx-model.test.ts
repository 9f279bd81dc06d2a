/**
 * Users' ONNX models: loading with the NHWC front against PyTorch's own outputs, the sidecar (saved,
 * reused, never contradicted, never believed for another file, never replacing a file not ours),
 * the bad files refused before anything is written, evaluate against an independent onnxruntime
 * run of the original graph, and the scan of an ONNX export giving the norms of the same network
 * scanned as a TF.js folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { scanModel } from '../../src/cleanse/scan.js';
import { main } from '../../src/cli/main.js';
import { mitigateModel } from '../../src/cleanse/mitigation/mitigate.js';
import { subset } from '../../src/data/images.js';
import { evaluateModel } from '../../src/nn/train.js';
import { PoisonguardError } from '../../src/errors.js';
import { forwardProgram } from '../../src/graph/programs.js';
import { initEngine } from '../../src/nn/engine.js';
import { layersToGraph } from '../../src/nn/layers-graph.js';
import { loadModel } from '../../src/nn/model-io.js';
import { evaluateOnnxModel } from '../../src/nn/onnx-evaluate.js';
import { openOnnxModel, readOnnxMetadata, saveOnnxMetadata } from '../../src/nn/onnx-model.js';
import { PREPROCESSING_PRESETS, preprocessBatch, parsePreprocessingSpec } from '../../src/nn/preprocess.js';
import { graphScorer } from '../../src/nn/scorer.js';
import { loadMnist } from '../../src/data/mnist.js';
import { CLASSES, makeTinyBackdooredModel, TINY_RECIPE } from '../cleanse/fixture.js';
import { loadOrt, runOrt } from '../graph/ort.js';
import { TORCH_FIXTURES_DIR, torchFixtures } from '../graph/torch-fixtures.js';
import { scratchDir } from '../helpers.js';

const ortMissing = async (): Promise<string | false> => {
  const ort = await loadOrt();
  return 'error' in ort ? `onnxruntime-node is not available: ${ort.error}` : false;
};

/** A copy of a committed fixture in a scratch folder (sidecars are written beside models, never in the repository). */
function copyFixture(name: string, as = 'model.onnx'): string {
  const dir = scratchDir(`onnx-${name}`);
  copyFileSync(join(TORCH_FIXTURES_DIR, `${name}.onnx`), join(dir, as));
  return dir;
}

function throwsLine(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PoisonguardError, `a PoisonguardError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('an NCHW PyTorch export read with the NHWC front gives PyTorch its own outputs', async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  for (const { fixture } of torchFixtures().filter((f) => f.fixture.name !== 'unsupported_lstm')) {
    const dir = copyFixture(fixture.name);
    const model = openOnnxModel(dir);
    const [N, C, H, W] = fixture.x.dims;
    assert.deepEqual(model.metadata.inputShape, [H, W, C], fixture.name);
    assert.equal(model.metadata.output, fixture.output_kind, fixture.name);
    // The batch transposed to NHWC by hand: independent of the graph's Transpose.
    const nhwc = new Float32Array(N * H * W * C);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) nhwc[((n * H + h) * W + w) * C + c] = fixture.x.data[((n * C + c) * H + h) * W + w];
    const scorer = await graphScorer(model.graph);
    const out = await scorer.scores(nhwc, N);
    await scorer.dispose();
    let worst = 0;
    fixture.outputs.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(out[i] - v) / (1e-3 + Math.abs(v)))));
    assert.ok(worst < 1e-3, `${fixture.name}: outputs within 1e-3 relative of PyTorch's (worst ${worst})`);
  }
});

test('the sidecar: statements saved once, reused, never contradicted, never believed for another file', async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  const dir = copyFixture('bn_cnn_mnist');
  const first = openOnnxModel(dir, { preprocessing: PREPROCESSING_PRESETS.mnist, dataset: 'mnist' });
  assert.ok(first.unsaved);
  assert.equal(existsSync(join(dir, 'metadata.json')), false, 'opening writes nothing');
  assert.equal(saveOnnxMetadata(first), join(dir, 'metadata.json'));
  const again = openOnnxModel(dir);
  assert.deepEqual(again.metadata, first.metadata, 'a later load reuses what was stated');
  assert.equal(again.unsaved, false);
  assert.equal(saveOnnxMetadata(again), undefined, 'nothing new: nothing written');
  // The library names its own options; the commands name their flags.
  throwsLine(() => openOnnxModel(dir, { preprocessing: PREPROCESSING_PRESETS.unit }), /^Expected preprocessing to be absent or the one saved in/);
  throwsLine(() => openOnnxModel(dir, { inputLayout: 'nhwc' }), /^Expected inputLayout to be/);
  throwsLine(() => openOnnxModel(dir, { classNames: ['a', 'b'] }), /^Expected classNames to be 10 names/);
  const err: string[] = [];
  const run = (args: string[]) => main(['evaluate', '--model', dir, ...args], { out: () => {}, err: (l) => err.push(l), interactive: false });
  assert.notEqual(await run(['--preprocess', 'unit']), 0);
  assert.match(err.join('\n'), /Expected --preprocess to be absent or the one saved in/);
  assert.notEqual(await run(['--class-names', 'a,b']), 0);
  assert.match(err.join('\n'), /Expected --class-names to be 10 names/);
  assert.notEqual(await run(['--trigger', 'square:target=12']), 0);
  assert.match(err.join('\n'), /Expected --trigger target to be a class of the model \(0\.\.9\)/);
  // The model replaced under its sidecar: the sidecar is not believed.
  copyFileSync(join(TORCH_FIXTURES_DIR, 'softmax_out.onnx'), join(dir, 'model.onnx'));
  throwsLine(() => openOnnxModel(dir), /describes another model file/);
  // A bare file's sidecar sits beside it, named after it; a file of that name not ours is left alone.
  const bare = copyFixture('bn_cnn_mnist', 'net.onnx');
  writeFileSync(join(bare, 'net.metadata.json'), '{"mine": true}\n');
  throwsLine(() => openOnnxModel(join(bare, 'net.onnx')), /not a poisonguard ONNX sidecar/);
  assert.equal(readFileSync(join(bare, 'net.metadata.json'), 'utf8'), '{"mine": true}\n', 'the foreign file is untouched');
});

test('bad ONNX files and statements: one line each, nothing written', async () => {
  const dir = scratchDir('onnx-bad');
  writeFileSync(join(dir, 'junk.onnx'), 'this is not a protobuf');
  throwsLine(() => openOnnxModel(join(dir, 'junk.onnx')), /not an ONNX model/);
  copyFileSync(join(TORCH_FIXTURES_DIR, 'resnet_small.onnx'), join(dir, 'big.onnx'));
  throwsLine(() => openOnnxModel(join(dir, 'big.onnx'), {}, { maxBytes: 1000 }), /over the limit of 1000 bytes/);
  // [N, 3, 32, 32] read as NHWC would have 32 channels.
  throwsLine(() => openOnnxModel(join(dir, 'big.onnx'), { inputLayout: 'nhwc' }), /32 channels; give --input-layout nchw/);
  copyFileSync(join(TORCH_FIXTURES_DIR, 'unsupported_lstm.onnx'), join(dir, 'lstm.onnx'));
  throwsLine(() => openOnnxModel(join(dir, 'lstm.onnx')), /operator LSTM/);
  throwsLine(() => openOnnxModel(join(dir, 'big.onnx'), { backdoor: { trigger: { kind: 'square', size: 2, position: 'top-left', margin: 0, colour: [255, 255, 255] }, target: 10 } }), /0\.\.9/);
  for (const name of ['junk', 'big', 'lstm']) assert.equal(existsSync(join(dir, `${name}.metadata.json`)), false, `${name}: no sidecar written`);
  assert.deepEqual(parsePreprocessingSpec('normalize:mean=0.5,0.4,0.3;std=0.2,0.2,0.25'), { kind: 'normalize', mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.25] });
  assert.deepEqual(parsePreprocessingSpec('none'), PREPROCESSING_PRESETS.unit);
  throwsLine(() => parsePreprocessingSpec('normalize:mean=0.5;std=0'), /std/);
  throwsLine(() => parsePreprocessingSpec('normalize:mean=0.5'), /both mean/);
  throwsLine(() => parsePreprocessingSpec('imagenet'), /Unknown --preprocess 'imagenet'/);
});

test('evaluate on an ONNX model: the accuracy of an independent onnxruntime run of the original NCHW graph', async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  const dir = copyFixture('bn_cnn_mnist');
  const e = await evaluateOnnxModel(dir, { preprocessing: PREPROCESSING_PRESETS.mnist, dataset: 'mnist', backdoor: { trigger: { kind: 'square', size: 4, position: 'bottom-right', margin: 1, colour: [255, 255, 255] }, target: 7 } });
  assert.equal(e.sidecarWritten, true);
  assert.equal(readOnnxMetadata(join(dir, 'metadata.json')).target, 7);
  // The original NCHW graph on onnxruntime, fed by hand: no sidecar, layout front or scorer involved.
  const { test: mnistTest } = loadMnist();
  const n = mnistTest.count;
  const x = preprocessBatch(mnistTest.images, 1, PREPROCESSING_PRESETS.mnist);
  const out = await runOrt(readFileSync(join(dir, 'model.onnx')), { input: { data: x, dims: [n, 1, 28, 28] } });
  const scores = Object.values(out)[0].data;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (scores[i * 10 + k] > scores[i * 10 + best]) best = k;
    if (best === mnistTest.labels[i]) correct++;
  }
  assert.equal(e.result.count, n);
  assert.equal(Math.round(e.result.cleanAccuracy * n), correct, 'the same predictions as the independent run');
  // Later runs reuse the sidecar; the batch size changes nothing.
  const again = await evaluateOnnxModel(dir, {}, { batchSize: 77 });
  assert.equal(again.sidecarWritten, false);
  assert.deepEqual(again.result, e.result);
});

test("the scan of a model's ONNX export gives the norms of the same network scanned as a TF.js folder", async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  await initEngine({ backend: 'cpu' });
  const folder = scratchDir('onnx-scan-tf');
  const { test: clean } = await makeTinyBackdooredModel(folder);
  const { model } = await loadModel(folder);
  const exported = scratchDir('onnx-scan-export');
  // The engine's own forward program is an ONNX file with an NHWC input.
  writeFileSync(join(exported, 'model.onnx'), forwardProgram(layersToGraph(model as tfl.LayersModel).graph));
  model.dispose();
  const common = { clean, workers: 0, labels: [0, 1, 2, 3, 4], ...TINY_RECIPE, maxSteps: 6, seed: 3 };
  const a = await scanModel({ model: folder, engine: 'onnx', ...common });
  const b = await scanModel({ model: exported, inputLayout: 'nhwc', preprocessing: PREPROCESSING_PRESETS.unit, ...common });
  assert.equal(b.model.kind, 'onnx');
  assert.equal(b.model.numClasses, CLASSES);
  for (let l = 0; l < CLASSES; l++) {
    const na = a.runs[0].labels[l].norm;
    const nb = b.runs[0].labels[l].norm;
    assert.ok(Math.abs(na - nb) <= 1e-4 * Math.max(1, na), `label ${l}: ${na} vs ${nb}`);
  }
  await assert.rejects(scanModel({ model: exported, engine: 'tfjs', ...common }), /'onnx' or 'auto' for an ONNX model/);
});

test('unlearning an ONNX model writes an ONNX file that reloads to the numbers reported; the original is untouched', async (t) => {
  const skip = await ortMissing();
  if (skip) return t.skip(skip);
  const dir = copyFixture('bn_cnn_mnist');
  const originalBytes = readFileSync(join(dir, 'model.onnx'));
  const mnist = loadMnist();
  const data = { train: subset(mnist.train, Int32Array.from({ length: 1000 }, (_, i) => i)), test: subset(mnist.test, Int32Array.from({ length: 300 }, (_, i) => i)), name: 'mnist (first images)' };
  const scanDir = scratchDir('onnx-unlearn-scan');
  await scanModel({ model: dir, preprocessing: PREPROCESSING_PRESETS.mnist, dataset: 'mnist', clean: data.test, workers: 0, labels: [0, 1, 2], batchSize: 16, miniBatches: 2, maxSteps: 2, out: scanDir });
  const out = join(scratchDir('onnx-unlearn-out'), 'repaired');
  const report = await mitigateModel({ model: dir, scan: scanDir, label: 0, method: 'unlearn', data, out });
  assert.equal(report.trainingEngine?.engine, 'onnx');
  assert.deepEqual(readFileSync(join(dir, 'model.onnx')), originalBytes, 'the original file is untouched');
  const repaired = openOnnxModel(out);
  assert.equal(repaired.unsaved, false, 'the written sidecar describes the written file');
  // Fine-tuned: trainable weights moved, BatchNorm's running statistics (frozen) did not.
  const original = openOnnxModel(dir);
  let moved = 0;
  for (const [name, w] of repaired.graph.weights) {
    const differs = w.data.some((v, i) => v !== original.graph.weights.get(name)!.data[i]);
    if (original.graph.trainable.has(name)) moved += differs ? 1 : 0;
    else assert.equal(differs, false, `${name} (not trained) unchanged`);
  }
  assert.equal(moved, original.graph.trainable.size, 'every trainable weight was fine-tuned');
  // The written file, measured independently of the mitigation, gives the accuracy reported.
  const e = await evaluateModel(await graphScorer(repaired.graph), data.test, { preprocessing: PREPROCESSING_PRESETS.mnist });
  assert.equal(e.cleanAccuracy, report.after!.cleanAccuracy);
  await assert.rejects(mitigateModel({ model: dir, scan: scanDir, label: 0, method: 'unlearn', data, out }), /is not empty \(metadata\.json, mitigation\.json, model\.onnx\)/);
});

test('a weight the file shares through an Identity (torch.onnx.export ties equal parameters) is written back as its own initializer', async () => {
  const { onnx } = await import('../../src/graph/onnx-values.js');
  const { replaceInitializers } = await import('../../src/graph/onnx-rewrite.js');
  const model = onnx.ModelProto.decode(readFileSync(join(TORCH_FIXTURES_DIR, 'bn_cnn_mnist.onnx')));
  const shared = model.graph!.initializer![0];
  model.graph!.node = [onnx.NodeProto.create({ opType: 'Identity', input: [shared.name!], output: ['tied'] }), ...(model.graph!.node ?? [])];
  const count = (shared.dims ?? []).reduce((p: number, d) => p * Number(d), 1);
  const values = Float32Array.from({ length: count }, (_, i) => i / 7);
  const out = onnx.ModelProto.decode(replaceInitializers(onnx.ModelProto.encode(model).finish(), new Map([['tied', values]]), 'm.onnx', () => (shared.dims ?? []).map(Number)));
  assert.equal(out.graph!.node!.some((n) => n.output?.[0] === 'tied'), false, 'the Identity is gone');
  const tied = out.graph!.initializer!.find((t) => t.name === 'tied')!;
  assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(tied.rawData!).buffer)), Array.from(values));
  assert.deepEqual(out.graph!.initializer!.find((t) => t.name === shared.name)!.rawData, shared.rawData, 'the original stays');
  assert.throws(() => replaceInitializers(onnx.ModelProto.encode(model).finish(), new Map([['nowhere', values]]), 'm.onnx'), /not an initializer of m\.onnx/);
});
