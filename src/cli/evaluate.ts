/** `poisonguard evaluate`: clean accuracy and attack success rate of a saved model. */
import { OptionError } from '../errors.js';
import { DEFAULT_EVAL_BATCH_SIZE } from '../nn/recipe.js';
import type { Command, CommandContext } from './command.js';
import { intOption, withFlagNames } from './command.js';
import { ONNX_MODEL_OPTIONS, ONNX_STATEMENT_FLAGS, onnxOnlyFlagsGiven, onnxStatements } from './model-options.js';
import { progressBar } from './progress.js';

const options = {
  model: {
    type: 'string',
    required: true,
    value: 'PATH',
    help: 'Model folder written by `poisonguard train` (model.json, weights, metadata.json), or an ONNX model: a .onnx file or a folder holding model.onnx.',
  },
  dataset: { type: 'string', value: 'NAME|DIR', help: "ONNX models: the clean test set — 'mnist', 'gtsrb' or an image folder; saved in the sidecar." },
  ...ONNX_MODEL_OPTIONS,
  'data-dir': { type: 'string', value: 'DIR', help: "The dataset's folder (default: where metadata.json's dataset lives: embedded MNIST, ../shared/data, the image folder's path)." },
  batch: { type: 'string', value: 'B', help: `Inference batch size (speed only; default ${DEFAULT_EVAL_BATCH_SIZE}).` },
  backend: { type: 'string', value: 'NAME', help: 'TF.js backend: auto, tensorflow, wasm or cpu (auto: tensorflow if installed, else wasm, else cpu).' },
  json: { type: 'boolean', help: 'Print the result as JSON.' },
} as const;

export const evaluateCommand: Command<typeof options> = {
  name: 'evaluate',
  summary: "A saved model's clean test accuracy and, when it records a trigger, its attack success rate.",
  description: `
The dataset, preprocessing and trigger come from the model's metadata.json; the attack success
rate is the share of test images whose label is not the target that go to the target once stamped.

An ONNX model runs on the native engine; what its graph cannot say (--input-layout, --preprocess,
--dataset, --trigger, --class-names) is stated once and saved in its sidecar (metadata.json in its
folder, NAME.metadata.json beside NAME.onnx), which later commands reuse.

Examples:
  poisonguard evaluate --model runs/mnist-badnets
  poisonguard evaluate --model resnet.onnx --dataset gtsrb --preprocess normalize:mean=0.34,0.31,0.32;std=0.27,0.26,0.27 --trigger square:size=4,target=33`,
  options,
  async run(v, _pos, ctx) {
    const batchSize = intOption('batch', v.batch);
    if (batchSize !== undefined && batchSize <= 0) throw new OptionError('--batch', 'a positive integer', v.batch);
    const { isOnnxModelPath } = await import('../nn/onnx-model.js');
    if (isOnnxModelPath(v.model)) return evaluateOnnx(v, batchSize, ctx);
    const onnxOnly = [...onnxOnlyFlagsGiven(v), ...(v.dataset !== undefined ? ['--dataset'] : [])];
    if (onnxOnly.length > 0) throw new OptionError(onnxOnly[0], `absent for a poisonguard model folder (its metadata.json says it)`, v[onnxOnly[0].slice(2) as 'dataset']);
    const { readMetadata, loadModel } = await import('../nn/model-io.js');
    const metadata = readMetadata(v.model);
    const { initEngine } = await import('../nn/engine.js');
    const engine = await initEngine({ ...(v.backend !== undefined ? { backend: v.backend as never } : {}) });
    if (!v.json) ctx.out(`backend: ${engine.backend} (TF.js ${engine.tfjsVersion})`);
    const { model, dir } = await loadModel(v.model);
    const { loadModelDataset } = await import('../data/image-registry.js');
    const data = loadModelDataset(metadata.dataset, v['data-dir'], metadata.seed);
    const { test } = data;
    const [h, w, c] = metadata.inputShape;
    if (test.height !== h || test.width !== w || test.channels !== c) {
      throw new OptionError('--data-dir', `a dataset of ${h}x${w}x${c} images like the model's`, `${test.height}x${test.width}x${test.channels} images`);
    }
    const { attacksOf, describeAttack } = await import('../nn/trigger.js');
    const attacks = attacksOf(metadata);
    const { evaluateModel, UNCHANGED_STAMP } = await import('../nn/train.js');
    const bar = progressBar('evaluate', test.count * (1 + attacks.length), ctx.interactive);
    const start = performance.now();
    const result = await evaluateModel(model, test, {
      preprocessing: metadata.preprocessing,
      ...(attacks.length > 0 ? { backdoor: attacks } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
      onProgress: (done, total) => bar.update(Math.min(done, total)),
    });
    bar.stop();
    const seconds = (performance.now() - start) / 1000;
    model.dispose();
    if (v.json) {
      ctx.out(JSON.stringify({ model: dir, dataset: data.name, backend: engine.backend, ...result, seconds: Number(seconds.toFixed(2)) }, null, 2));
      return 0;
    }
    ctx.out(`model: ${dir} (${metadata.arch} net, trained on ${metadata.dataset}, seed ${metadata.seed}, ${metadata.epochs} epochs)`);
    ctx.out(`clean accuracy: ${pct(result.cleanAccuracy)} (${result.count} test images)`);
    if (attacks.length > 0) {
      const figures = result.attacks ?? [result];
      for (const [i, a] of attacks.entries()) {
        const f = figures[i];
        const images = 'mapping' in a ? `${f.attackCount} stamped test images, each to be sent to its label + 1` : `${f.attackCount} stamped test images of other labels`;
        ctx.out(`attack success rate${attacks.length > 1 ? ` of backdoor ${i + 1}` : ''}: ${f.attackSuccessRate === null ? 'n/a' : pct(f.attackSuccessRate)} (${describeAttack(a)}; ${images})`);
        if (f.attackUnchanged !== undefined && f.attackUnchanged > 0) ctx.out(unchangedLine(f.attackUnchanged, f.attackSuccessRateChanged ?? null, UNCHANGED_STAMP));
      }
    } else {
      ctx.out('no trigger recorded in metadata.json (a clean model): no attack success rate.');
    }
    ctx.out(`evaluated in ${seconds.toFixed(1)} s`);
    return 0;
  },
};

async function evaluateOnnx(v: Parameters<typeof evaluateCommand.run>[0], batchSize: number | undefined, ctx: CommandContext): Promise<number> {
  if (v.backend !== undefined) throw new OptionError('--backend', 'absent for an ONNX model (it runs on the native engine)', v.backend);
  const { evaluateOnnxModel } = await import('../nn/onnx-evaluate.js');
  // The total is known once the model and data are loaded: the bar starts with the first batch.
  let bar: ReturnType<typeof progressBar> | undefined;
  const start = performance.now();
  const statements = await onnxStatements(v);
  const e = await withFlagNames(ONNX_STATEMENT_FLAGS, () => evaluateOnnxModel(v.model, statements, {
    ...(v['data-dir'] !== undefined ? { dataDir: v['data-dir'] } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
    onProgress: (done, total) => {
      bar ??= progressBar('evaluate', total, ctx.interactive);
      bar.update(Math.min(done, total));
    },
  }));
  bar?.stop();
  const seconds = (performance.now() - start) / 1000;
  const r = e.result;
  if (v.json) {
    ctx.out(JSON.stringify({ model: e.file, modelSha256: e.sha256, dataset: e.dataset.name, engine: e.engine, metadata: e.metadata, ...r, seconds: Number(seconds.toFixed(2)) }, null, 2));
    return 0;
  }
  const { describePreprocessing } = await import('../nn/preprocess.js');
  const m = e.metadata;
  ctx.out(`model: ${e.file} (ONNX, ${m.inputLayout.toUpperCase()} ${m.inputShape.join('x')} input, ${m.numClasses} classes, ${m.output}; native engine)`);
  ctx.out(`preprocessing: ${describePreprocessing(m.preprocessing!, m.inputShape[2])}; clean set: ${e.dataset.name}`);
  ctx.out(`clean accuracy: ${pct(r.cleanAccuracy)} (${r.count} test images)`);
  if (r.attackSuccessRate !== null || m.trigger) {
    const { describeTrigger } = await import('../nn/trigger.js');
    ctx.out(`attack success rate: ${r.attackSuccessRate === null ? 'n/a' : pct(r.attackSuccessRate)} (${describeTrigger(m.trigger!)} -> label ${m.target}; ${r.attackCount} stamped test images of other labels)`);
    const { UNCHANGED_STAMP } = await import('../nn/train.js');
    if (r.attackUnchanged !== undefined && r.attackUnchanged > 0) ctx.out(unchangedLine(r.attackUnchanged, r.attackSuccessRateChanged ?? null, UNCHANGED_STAMP));
  } else {
    ctx.out('no trigger given (--trigger) or saved: no attack success rate.');
  }
  if (e.sidecarWritten) ctx.out(`saved what was stated in ${e.sidecar}`);
  ctx.out(`evaluated in ${seconds.toFixed(1)} s`);
  return 0;
}

/** The stamped images the stamp leaves as they were (a white square on a white corner), and the ASR on the others. */
export function unchangedLine(unchanged: number, asrChanged: number | null, threshold: number): string {
  return (
    `  of them ${unchanged} barely changed by the stamp (mean change < ${threshold}/255 over the trigger's pixels: no model can tell them from the clean image); ` +
    `attack success rate on the others: ${asrChanged === null ? 'n/a' : pct(asrChanged)}`
  );
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}
