/**
 * Cross-check of the models examples/pytorch/train_badnets.py writes: each folder's model.onnx run
 * through the graph engine (loadOnnxGraph, the forward program on onnxruntime) on the official test
 * set read by poisonguard's own loaders, preprocessed by poisonguard's preprocessing and stamped by
 * its trigger code, against what PyTorch recorded (training.json, predictions.json): clean accuracy,
 * ASR, and the images where the two predictions differ.
 *
 *   node --import tsx bench/torch/onnx-accuracy.ts [--data-dir DIR] [--threads 1] [--onnx model.onnx] MODEL_DIR...
 *
 * --onnx names the file in each folder (e.g. model-torch-default.onnx, export_default.py's export
 * with BatchNorm folded into the Convs, against the same PyTorch predictions).
 *
 * Prints one JSON document on stdout (one line per model on stderr). It is a check of the export and
 * of the data path (layout, preprocessing, trigger), not a command: `poisonguard evaluate` is the tool.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadGtsrb } from '../../src/data/gtsrb.js';
import { loadMnist } from '../../src/data/mnist.js';
import { subset, type ImageSet } from '../../src/data/images.js';
import { sharedDataDir } from '../../src/data/paths.js';
import { loadOnnxGraph } from '../../src/graph/onnx-load.js';
import { createForwardRunner } from '../../src/graph/runtime.js';
import { preprocessBatch, preprocessingPreset, type Preprocessing } from '../../src/nn/preprocess.js';
import { stamp, type Trigger } from '../../src/nn/trigger.js';

/** Images per forward call: large enough to amortise the session call, small in memory. */
const BATCH = 500;

interface TrainingJson {
  dataset: 'mnist' | 'gtsrb';
  preprocessing: { preset?: string; kind?: 'normalize'; mean?: number[]; std?: number[] };
  input: { layout: string };
  output: { classes: number };
  trigger_for_asr: { trigger: Trigger };
  training: { limit: number | null };
  test: { images: number; correct: number; accuracy: number; asr: { target: number; hits: number; of: number; rate: number } | null };
}

function preprocessingOf(info: TrainingJson): Preprocessing {
  const p = info.preprocessing;
  if (p.preset) return preprocessingPreset(p.preset);
  return { kind: 'normalize', mean: p.mean!, std: p.std! };
}

/** NHWC raw bytes of images [from, to) → preprocessed NCHW float32, the layout the PyTorch export takes. */
function nchwBatch(set: ImageSet, from: number, to: number, p: Preprocessing): Float32Array {
  const { height: h, width: w, channels: c } = set;
  const size = h * w * c;
  const nhwc = preprocessBatch(set.images.subarray(from * size, to * size), c, p);
  const out = new Float32Array(nhwc.length);
  for (let n = 0; n < to - from; n++) {
    for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[n * size + k * h * w + i] = nhwc[n * size + i * c + k];
  }
  return out;
}

async function predict(modelPath: string, set: ImageSet, p: Preprocessing, threads: number): Promise<Int32Array> {
  const graph = loadOnnxGraph(readFileSync(modelPath), { source: modelPath });
  const runner = await createForwardRunner(graph, { threads });
  const classes = graph.shapes.get(graph.output)![1];
  const pred = new Int32Array(set.count);
  try {
    for (let from = 0; from < set.count; from += BATCH) {
      const to = Math.min(set.count, from + BATCH);
      const { out } = await runner.run(nchwBatch(set, from, to, p), to - from);
      for (let n = 0; n < to - from; n++) {
        let best = 0;
        for (let k = 1; k < classes; k++) if (out[n * classes + k] > out[n * classes + best]) best = k;
        pred[from + n] = best;
      }
    }
  } finally {
    await runner.dispose();
  }
  return pred;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'data-dir': { type: 'string' }, threads: { type: 'string', default: '1' }, onnx: { type: 'string', default: 'model.onnx' } },
  });
  const dataDir = values['data-dir'] ?? sharedDataDir();
  if (!dataDir) throw new Error('no data folder: pass --data-dir (the shared data folder, holding mnist/ and gtsrb/)');
  const threads = Number(values.threads);
  const results = [];
  for (const dir of positionals) {
    const info = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8')) as TrainingJson;
    const torchPred = JSON.parse(readFileSync(join(dir, 'predictions.json'), 'utf8')) as { clean: number[]; stamped: number[] };
    if (info.input.layout !== 'nchw') throw new Error(`${dir}: input layout ${info.input.layout}, this check feeds NCHW`);
    const data = info.dataset === 'mnist' ? loadMnist(join(dataDir, 'mnist')) : loadGtsrb(join(dataDir, 'gtsrb'));
    // A model trained with --limit N was measured on the first N test images.
    const test = info.training.limit ? subset(data.test, Array.from({ length: Math.min(info.training.limit, data.test.count) }, (_, i) => i)) : data.test;
    const p = preprocessingOf(info);
    const t0 = performance.now();
    const modelPath = join(dir, values.onnx!);
    const clean = await predict(modelPath, test, p, threads);
    const stamped = await predict(modelPath, stamp(test, info.trigger_for_asr.trigger), p, threads);
    const seconds = (performance.now() - t0) / 1000;
    let correct = 0;
    let cleanDiffer = 0;
    let stampedDiffer = 0;
    for (let i = 0; i < test.count; i++) {
      if (clean[i] === test.labels[i]) correct++;
      if (clean[i] !== torchPred.clean[i]) cleanDiffer++;
      if (stamped[i] !== torchPred.stamped[i]) stampedDiffer++;
    }
    let asr = null;
    if (info.test.asr) {
      const target = info.test.asr.target;
      let hits = 0;
      let of = 0;
      for (let i = 0; i < test.count; i++) {
        if (test.labels[i] === target) continue;
        of++;
        if (stamped[i] === target) hits++;
      }
      asr = { target, hits, of, rate: hits / of, torch: info.test.asr.rate, difference_points: 100 * (hits / of - info.test.asr.rate) };
    }
    const result = {
      model: modelPath,
      images: test.count,
      accuracy: correct / test.count,
      torch_accuracy: info.test.accuracy,
      difference_points: 100 * (correct / test.count - info.test.accuracy),
      predictions_differing: { clean: cleanDiffer, stamped: stampedDiffer },
      asr,
      seconds: Math.round(seconds * 10) / 10,
    };
    results.push(result);
    process.stderr.write(
      `${modelPath}: accuracy ${(100 * result.accuracy).toFixed(2)}% (PyTorch ${(100 * info.test.accuracy).toFixed(2)}%), ` +
        `${cleanDiffer} clean / ${stampedDiffer} stamped predictions differ` +
        (asr ? `, ASR ${(100 * asr.rate).toFixed(2)}% (PyTorch ${(100 * asr.torch).toFixed(2)}%)` : '') +
        `, ${result.seconds} s\n`,
    );
  }
  process.stdout.write(`${JSON.stringify({ threads, results }, null, 2)}\n`);
}

await main();
