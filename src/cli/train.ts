/** `poisonguard train`: train an image classifier, optionally with a BadNets backdoor planted. */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { OptionError, UnknownNameError } from '../errors.js';
import { DEFAULT_PREPROCESSING_PRESET, describePreprocessing, PREPROCESSING_PRESETS } from '../nn/preprocess.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE } from '../nn/recipe.js';
import { DEFAULT_SEED } from '../random.js';
import type { Sampling, TrainCheckpoint } from '../nn/train.js';
import type { Command } from './command.js';
import { intOption, numberOption } from './command.js';
import { progressBar } from './progress.js';

/** The Neural Cleanse release's GTSRB injection: Adam(lr = 0.001, decay = 1e-4). */
const RELEASE_LR_DECAY = 1e-4;

/** Without a progress bar (a log file), a progress line at most this often, besides one per epoch. */
const LOG_INTERVAL_MS = 60_000;

/** Architectures by name; each is also the name of the dataset it was designed for. */
export const ARCH_NAMES = ['mnist', 'gtsrb'] as const;

const options = {
  dataset: { type: 'string', value: 'NAME|DIR', help: "Image dataset: 'mnist', 'gtsrb', or a folder with one sub-folder per class." },
  arch: { type: 'string', value: 'NAME', help: "Network: 'mnist' or 'gtsrb' (default: the dataset's own net; required for a folder)." },
  backdoor: {
    type: 'string',
    value: 'SPEC',
    help: 'Plant a BadNets backdoor: square:size=4,pos=bottom-right,colour=white,target=7,rate=0.091 (defaults: 4x4 white, bottom-right, margin 1, rate 0.1/1.1; target required) or pattern:image=FILE,mask=FILE,target=N.',
  },
  poisoning: {
    type: 'string',
    value: 'WAY',
    default: 'on-the-fly',
    help: "With --backdoor: 'on-the-fly' (the Neural Cleanse release: each drawn image is poisoned with the rate's probability, a fresh subset every epoch) or 'fixed' (one subset poisoned once, as in BadNets).",
  },
  generator: {
    type: 'string',
    value: 'NAME',
    help: "How batches are drawn: 'release' (the Neural Cleanse release's GTSRB injection: draws with replacement, n/(1 − rate) draws per epoch in whole batches, Keras learning-rate decay 1e-4, raw pixels unless --preprocess says otherwise) or 'shuffle' (each image once per epoch, constant learning rate). Default: release for --dataset gtsrb, shuffle otherwise.",
  },
  sampling: { type: 'string', value: 'WAY', help: "How an epoch's images are drawn: 'permutation' (default: each once, shuffled) or 'replacement' (uniform random draws)." },
  'epoch-draws': { type: 'string', value: 'N', help: "Images drawn per epoch with --sampling replacement (default: the training set's size)." },
  'lr-decay': { type: 'string', value: 'D', help: "Keras's learning-rate decay per update, lr/(1 + D·t) (default 0)." },
  epochs: { type: 'string', value: 'N', default: String(DEFAULT_EPOCHS), help: 'Passes over the training set.' },
  batch: { type: 'string', value: 'B', default: String(DEFAULT_BATCH_SIZE), help: 'Mini-batch size.' },
  lr: { type: 'string', value: 'LR', default: String(DEFAULT_LEARNING_RATE), help: "Adam's learning rate." },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'Seed of the weights, the shuffles and the poisoning.' },
  preprocess: {
    type: 'string',
    value: 'NAME',
    help: `Input preprocessing, saved with the model: ${Object.entries(PREPROCESSING_PRESETS)
      .map(([k, p]) => `${k} (${describePreprocessing(p, 1)})`)
      .join(', ')}. Default: raw with --generator release (as the release fed GTSRB), else ${DEFAULT_PREPROCESSING_PRESET}.`,
  },
  backend: { type: 'string', value: 'NAME', help: 'TF.js backend: auto, tensorflow, wasm or cpu (auto: tensorflow if installed, else wasm, else cpu).' },
  'data-dir': { type: 'string', value: 'DIR', help: "The dataset's folder (default: embedded MNIST; GTSRB from ../shared/data or $POISONGUARD_DATA)." },
  out: { type: 'string', value: 'DIR', help: 'Folder to write the model to (model.json, weights.bin, metadata.json).' },
  force: { type: 'boolean', help: 'Overwrite a model already in --out.' },
  resume: {
    type: 'boolean',
    help: 'Continue the training checkpointed in --out (written after every epoch) up to --epochs, with the same data, trigger and seed.',
  },
} as const;

export const trainCommand: Command<typeof options> = {
  name: 'train',
  summary: 'Train an image classifier (MNIST, GTSRB or a folder), optionally with a BadNets backdoor.',
  description: `
Trains with Adam and softmax cross-entropy, reports clean test accuracy and, with --backdoor, the
attack success rate (share of test images of other labels sent to the target once stamped), and
writes a TF.js model folder with metadata.json (dataset, preprocessing, trigger, figures).

Example: poisonguard train --dataset mnist --backdoor square:target=7 --epochs 3 --out runs/mnist-badnets`,
  options,
  async run(v, _pos, ctx) {
    const epochs = intOption('epochs', v.epochs)!;
    const batchSize = intOption('batch', v.batch)!;
    const learningRate = numberOption('lr', v.lr)!;
    const seed = intOption('seed', v.seed)!;
    if (epochs <= 0) throw new OptionError('--epochs', 'a positive integer', v.epochs);
    if (batchSize <= 0) throw new OptionError('--batch', 'a positive integer', v.batch);
    if (!(learningRate > 0)) throw new OptionError('--lr', 'a positive number', v.lr);
    if (v.dataset === undefined) throw new OptionError('--dataset', "given: 'mnist', 'gtsrb' or a folder", undefined);
    if (v.out === undefined) throw new OptionError('--out', 'given: the folder to write the model to', undefined);
    const arch = v.arch ?? ((ARCH_NAMES as readonly string[]).includes(v.dataset) ? v.dataset : undefined);
    if (arch === undefined) throw new OptionError('--arch', `given when --dataset is a folder (one of ${ARCH_NAMES.join(', ')})`, undefined);
    if (!(ARCH_NAMES as readonly string[]).includes(arch)) throw new UnknownNameError('architecture', arch, ARCH_NAMES);
    const outDir = resolve(v.out);
    if (v.resume && v.force) throw new OptionError('--resume', 'not combined with --force (one continues the model in --out, the other replaces it)', 'both');
    if (!v.resume && existsSync(outDir) && readdirSync(outDir).length > 0 && !v.force) {
      const hint = existsSync(join(outDir, 'metadata.json')) ? ', --resume to continue its training' : '';
      throw new OptionError('--out', `a new or empty folder (or pass --force to overwrite${hint})`, v.out);
    }
    const GENERATORS = ['release', 'shuffle'] as const;
    const generator = v.generator ?? (v.dataset === 'gtsrb' ? 'release' : 'shuffle');
    if (!(GENERATORS as readonly string[]).includes(generator)) throw new UnknownNameError('generator', generator, GENERATORS);
    const release = generator === 'release';
    const { preprocessingPreset } = await import('../nn/preprocess.js');
    const preprocessing = preprocessingPreset(v.preprocess ?? (release ? 'raw' : DEFAULT_PREPROCESSING_PRESET));
    const { parseBackdoorSpec, poisonBadNets, describeTrigger, checkBackdoorFits, resolveTrigger } = await import('../nn/trigger.js');
    const backdoor = v.backdoor !== undefined ? parseBackdoorSpec(v.backdoor) : undefined;
    const POISONING = ['on-the-fly', 'fixed'] as const;
    if (!(POISONING as readonly string[]).includes(v.poisoning)) throw new UnknownNameError('poisoning', v.poisoning, POISONING);
    const poisoning = v.poisoning as (typeof POISONING)[number];
    // Sampling, draws and decay are checked by trainModel, before any training.
    const sampling = (v.sampling ?? (release ? 'replacement' : 'permutation')) as Sampling;
    const learningRateDecay = numberOption('lr-decay', v['lr-decay']) ?? (release ? RELEASE_LR_DECAY : 0);

    const { initEngine } = await import('../nn/engine.js');
    const engine = await initEngine({ ...(v.backend !== undefined ? { backend: v.backend as never } : {}) });
    ctx.out(`backend: ${engine.backend} (TF.js ${engine.tfjsVersion}, ${engine.threads} thread${engine.threads === 1 ? '' : 's'})`);

    const { loadImageDataset } = await import('../data/image-registry.js');
    const data = loadImageDataset(v.dataset, v['data-dir'], seed);
    const { train, test } = data;
    ctx.out(
      `dataset: ${data.name}: ${train.count} train / ${test.count} test, ${train.height}x${train.width}x${train.channels}, ` +
        `${data.numClasses} classes (${data.source}); preprocessing ${describePreprocessing(preprocessing, train.channels)}`,
    );
    // The release draws n/(1 − rate) images per epoch (so that about n are clean), in whole batches.
    const epochDraws =
      intOption('epoch-draws', v['epoch-draws']) ??
      (release ? Math.floor(train.count / (1 - (backdoor?.rate ?? 0)) / batchSize) * batchSize : train.count);
    ctx.out(
      `generator: ${generator}${v.sampling || v['epoch-draws'] || v['lr-decay'] ? ' (adjusted)' : ''}: ` +
        `${sampling === 'replacement' ? `${epochDraws} draws with replacement per epoch` : 'each image once per epoch, shuffled'}; learning-rate decay ${learningRateDecay}`,
    );
    const { Random } = await import('../random.js');
    let trainSet = train;
    let poisonedCount = 0;
    let poisonOnTheFly: { trigger: ReturnType<typeof resolveTrigger>; target: number; rate: number; seed: number } | undefined;
    if (backdoor) {
      checkBackdoorFits(backdoor, data.numClasses, train.height, train.width, train.channels);
      if (poisoning === 'fixed') {
        // The poisoning draws from its own stream so that the model's weights do not depend on it.
        const poisoned = poisonBadNets(train, backdoor, data.numClasses, new Random(seed).fork());
        trainSet = poisoned.set;
        poisonedCount = poisoned.poisoned.length;
        ctx.out(
          `backdoor: ${describeTrigger(backdoor.trigger)} -> label ${backdoor.target}, rate ${round(backdoor.rate, 4)}: ` +
            `${poisonedCount} of ${train.count} training images poisoned (fixed)`,
        );
      } else {
        poisonOnTheFly = { trigger: resolveTrigger(backdoor.trigger, train.height, train.width, train.channels), target: backdoor.target, rate: backdoor.rate, seed };
        ctx.out(
          `backdoor: ${describeTrigger(backdoor.trigger)} -> label ${backdoor.target}, rate ${round(backdoor.rate, 4)}: ` +
            `each drawn training image poisoned with that probability (on the fly, ≈${Math.round(backdoor.rate * epochDraws)} per epoch)`,
        );
      }
    }

    const { saveModel, loadModel, saveOptimizerState, loadOptimizerState, METADATA_FORMAT, METADATA_VERSION } = await import('../nn/model-io.js');
    let model: Awaited<ReturnType<typeof loadModel>>['model'];
    let startEpoch = 0;
    let previousSeconds = 0;
    let optimizerState: ReturnType<typeof loadOptimizerState>;
    if (v.resume) {
      const loaded = await loadModel(outDir);
      model = loaded.model;
      const m = loaded.metadata;
      if (!m) throw new OptionError('--resume', `a model folder written by 'poisonguard train' (with metadata.json) in --out`, v.out);
      const same = (what: string, saved: unknown, now: unknown) => {
        // Compared as JSON values (what metadata.json holds), whatever the key order.
        const asJson = (x: unknown): unknown => JSON.parse(JSON.stringify(x ?? null));
        if (!isDeepStrictEqual(asJson(saved), asJson(now))) {
          model.dispose();
          throw new OptionError('--resume', `the checkpoint's ${what} (${JSON.stringify(saved)}); use the options it was trained with, or --force to start over`, JSON.stringify(now));
        }
      };
      same('dataset', m.dataset, data.name);
      same('architecture', m.arch, arch);
      same('seed', m.seed, seed);
      same('batch size', m.batchSize, batchSize);
      same('learning rate', m.learningRate, learningRate);
      same('preprocessing', m.preprocessing, preprocessing);
      same('trigger', m.trigger, backdoor?.trigger ?? null);
      same('target', m.target, backdoor?.target ?? null);
      same('poisoning rate', m.poisonRate, backdoor?.rate ?? null);
      if (backdoor) same('poisoning', m.poisoning ?? 'fixed', poisoning);
      same('sampling', m.sampling ?? 'permutation', sampling);
      same('draws per epoch', m.drawsPerEpoch ?? train.count, epochDraws);
      same('learning-rate decay', m.learningRateDecay ?? 0, learningRateDecay);
      if (m.epochs >= epochs) {
        model.dispose();
        throw new OptionError('--epochs', `more than the ${m.epochs} epochs the model in --out already has`, String(epochs));
      }
      startEpoch = m.epochs;
      previousSeconds = m.trainSeconds;
      if (poisoning === 'on-the-fly') poisonedCount = m.poisonedCount;
      optimizerState = loadOptimizerState(outDir, m.epochs);
      ctx.out(
        `resuming after epoch ${startEpoch} of ${epochs} from ${outDir}` +
          (optimizerState ? ' (with the optimizer state)' : ' (no optimizer state saved with it: Adam restarts with zero moments)'),
      );
    } else {
      const { mnistNet, gtsrbNet } = await import('../nn/architectures.js');
      const build = arch === 'mnist' ? mnistNet : gtsrbNet;
      model = build({ inputShape: [train.height, train.width, train.channels], numClasses: data.numClasses, seed });
    }
    const { trainModel, evaluateModel, UNCHANGED_STAMP } = await import('../nn/train.js');
    ctx.out(`training the ${arch} net: ${epochs} epochs, batch ${batchSize}, Adam lr ${learningRate}, seed ${seed}`);
    const batches = Math.ceil(epochDraws / batchSize);
    let lastLog = performance.now();
    const bar = progressBar('train', epochs * batches, ctx.interactive, ' | epoch {epoch} loss {loss} acc {acc} {ips} img/s');
    type Metadata = Parameters<typeof saveModel>[2] & {};
    const metadata = (fields: Pick<Metadata, 'epochs' | 'cleanAccuracy' | 'attackSuccessRate' | 'trainSeconds' | 'imagesPerSecond'>): Metadata => ({
      format: METADATA_FORMAT,
      formatVersion: METADATA_VERSION,
      dataset: data.name,
      arch,
      numClasses: data.numClasses,
      inputShape: [train.height, train.width, train.channels],
      preprocessing,
      trigger: backdoor?.trigger ?? null,
      target: backdoor?.target ?? null,
      poisonRate: backdoor?.rate ?? null,
      poisonedCount,
      ...(backdoor ? { poisoning } : {}),
      seed,
      backend: engine.backend,
      batchSize,
      learningRate,
      sampling,
      drawsPerEpoch: epochDraws,
      learningRateDecay,
      date: new Date().toISOString(),
      ...fields,
    });
    let trainSeconds = previousSeconds;
    const saveOptimizer = async (epoch: number, checkpoint: TrainCheckpoint) => {
      const weights = await checkpoint.optimizerWeights();
      try {
        await saveOptimizerState(outDir, epoch, weights);
      } finally {
        for (const w of weights) w.tensor.dispose();
      }
    };
    let result: Awaited<ReturnType<typeof trainModel>>;
    try {
      result = await trainModel(model, trainSet, {
      epochs,
      batchSize,
      learningRate,
      seed,
      preprocessing,
      startEpoch,
      sampling,
      drawsPerEpoch: epochDraws,
      learningRateDecay,
      ...(optimizerState ? { optimizerState } : {}),
      ...(poisonOnTheFly ? { poisonOnTheFly } : {}),
      onProgress: (p) => {
        bar.update((p.epoch - 1) * p.batches + p.batch, {
          epoch: `${p.epoch}/${p.epochs}`,
          loss: p.loss.toFixed(4),
          acc: pct(p.accuracy),
          ips: Math.round(p.imagesPerSecond),
        });
        if (ctx.interactive) return;
        const now = performance.now();
        if (p.batch === p.batches || now - lastLog >= LOG_INTERVAL_MS) {
          lastLog = now;
          const where = p.batch === p.batches ? '' : ` batch ${p.batch}/${p.batches}`;
          ctx.err(`epoch ${p.epoch}/${p.epochs}${where}: loss ${p.loss.toFixed(4)}, train accuracy ${pct(p.accuracy)}, ${Math.round(p.imagesPerSecond)} img/s`);
        }
      },
      // A checkpoint after every epoch but the last, so that a long run can be evaluated (or
      // survive an interruption) before it ends; its metadata has no test figures yet.
      onEpochEnd: async (e, checkpoint) => {
        trainSeconds += e.seconds;
        if (poisonOnTheFly) poisonedCount += e.poisoned;
        if (e.epoch === epochs) {
          // The final model keeps its optimizer state too, so that it can be trained further with --resume.
          await saveOptimizer(e.epoch, checkpoint);
          return;
        }
        // The model first, then the optimizer state tagged with this epoch: a state left from an
        // earlier epoch (an interruption in between) is not used by --resume.
        await saveModel(model, outDir, metadata({ epochs: e.epoch, cleanAccuracy: null, attackSuccessRate: null, trainSeconds: round(trainSeconds, 1), imagesPerSecond: Math.round((e.epoch * epochDraws) / trainSeconds) }));
        await saveOptimizer(e.epoch, checkpoint);
        if (!ctx.interactive) ctx.err(`checkpoint after epoch ${e.epoch} written to ${outDir}`);
      },
      });
    } finally {
      for (const w of optimizerState ?? []) w.tensor.dispose();
    }
    bar.stop();
    ctx.out(`trained in ${result.seconds.toFixed(1)} s (${Math.round(result.imagesPerSecond)} img/s)`);

    const evaluation = await evaluateModel(model, test, { preprocessing, ...(backdoor ? { backdoor } : {}) });
    ctx.out(`clean accuracy: ${pct(evaluation.cleanAccuracy)} (${evaluation.count} test images)`);
    if (backdoor) {
      ctx.out(`attack success rate: ${pct(evaluation.attackSuccessRate ?? 0)} (${evaluation.attackCount} stamped test images of other labels)`);
      if (evaluation.attackUnchanged) {
        const { unchangedLine } = await import('./evaluate.js');
        ctx.out(unchangedLine(evaluation.attackUnchanged, evaluation.attackSuccessRateChanged ?? null, UNCHANGED_STAMP));
      }
    }
    await saveModel(
      model,
      outDir,
      metadata({
        epochs,
        cleanAccuracy: evaluation.cleanAccuracy,
        attackSuccessRate: evaluation.attackSuccessRate,
        trainSeconds: round(trainSeconds, 1),
        imagesPerSecond: Math.round((epochs * epochDraws) / trainSeconds),
      }),
    );
    model.dispose();
    ctx.out(`model written to ${outDir}`);
    return 0;
  },
};

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
