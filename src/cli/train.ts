/** `poisonguard train`: train an image classifier, optionally with a BadNets backdoor planted. */
import { OptionError } from '../errors.js';
import { DEFAULT_PREPROCESSING_PRESET, describePreprocessing, PREPROCESSING_PRESETS } from '../nn/preprocess.js';
import {
  ARCH_NAMES,
  DEFAULT_BATCH_SIZE,
  DEFAULT_EPOCHS,
  DEFAULT_LEARNING_RATE,
  DEFAULT_POISONING,
  GENERATORS,
  POISONINGS,
  RELEASE_LR_DECAY,
  RELEASE_PREPROCESSING_PRESET,
  type ArchName,
  type GeneratorName,
  type Poisoning,
} from '../nn/recipe.js';
import { DEFAULT_SEED } from '../random.js';
import { DEFAULT_POISON_RATE, DEFAULT_TRIGGER_COLOUR, DEFAULT_TRIGGER_MARGIN, DEFAULT_TRIGGER_POSITION, DEFAULT_TRIGGER_SIZE } from '../nn/trigger.js';
import { DEFAULT_BLEND_ALPHA } from '../nn/attacks/blend.js';
import { DEFAULT_SIG_DELTA, DEFAULT_SIG_FREQUENCY, DEFAULT_SIG_RATE } from '../nn/attacks/sig.js';
import { DEFAULT_WANET_CROSS_RATIO, DEFAULT_WANET_GRID, DEFAULT_WANET_RATE, DEFAULT_WANET_STRENGTH } from '../nn/attacks/wanet.js';
import { engineHelp } from '../nn/engine-choice.js';
import type { Sampling } from '../nn/train.js';
import type { TrainRunOptions, TrainRunReport } from '../nn/train-run.js';
import type { Command, CommandContext } from './command.js';
import { intOption, numberOption, seedOption, withFlagNames } from './command.js';
import { progressBar } from './progress.js';

/** Without a progress bar (a log file), a progress line at most this often, besides one per epoch. */
const LOG_INTERVAL_MS = 60_000;

/** The help's name of a square trigger's colour. */
function colourName(rgb: readonly number[]): string {
  return rgb.every((c) => c === 255) ? 'white' : rgb.every((c) => c === 0) ? 'black' : rgb.join(',');
}

const options = {
  dataset: { type: 'string', required: true, value: 'NAME|DIR', help: "Image dataset: 'mnist', 'gtsrb', or a folder with one sub-folder per class." },
  arch: { type: 'string', value: 'NAME', help: `Network: ${ARCH_NAMES.map((a) => `'${a}'`).join(' or ')} (default: the dataset's own net; required for a folder).` },
  backdoor: {
    type: 'string',
    value: 'SPEC',
    multiple: true,
    help:
      `Plant a backdoor; give the flag again for another trigger with its own target. ` +
      `BadNets: square:size=4,pos=bottom-right,colour=white,target=7,rate=0.091 (defaults: ${DEFAULT_TRIGGER_SIZE}x${DEFAULT_TRIGGER_SIZE} ${colourName(DEFAULT_TRIGGER_COLOUR)}, ${DEFAULT_TRIGGER_POSITION}, margin ${DEFAULT_TRIGGER_MARGIN}, rate ≈ ${DEFAULT_POISON_RATE.toFixed(3)}; target required); ` +
      `pattern:image=FILE,mask=FILE,target=N; ` +
      `blend:target=N[,alpha=${DEFAULT_BLEND_ALPHA}][,image=FILE|seed=S] (a key image or seeded noise blended over the image); ` +
      `sig:target=N[,delta=${DEFAULT_SIG_DELTA}][,f=${DEFAULT_SIG_FREQUENCY}][,test-delta=D][,rate=${DEFAULT_SIG_RATE}] (clean-label: rate is the share of the target class poisoned, labels kept; test-delta: a stronger signal stamped at test time); ` +
      `wanet:target=N[,k=${DEFAULT_WANET_GRID}][,s=${DEFAULT_WANET_STRENGTH}][,cross=${DEFAULT_WANET_CROSS_RATIO}][,seed=S][,rate=${DEFAULT_WANET_RATE}] (warp; cross × rate more images warped with noise keep their labels); ` +
      `all-to-all[:square's keys] (label y → y+1 mod K).`,
  },
  poisoning: {
    type: 'string',
    value: 'WAY',
    default: DEFAULT_POISONING,
    help: `With --backdoor: ${POISONINGS.map((p) => `'${p}'`).join(' or ')}: on the fly as the Neural Cleanse release (each drawn image is poisoned with the rate's probability, a fresh subset every epoch), or one subset poisoned once, as in BadNets.`,
  },
  generator: {
    type: 'string',
    value: 'NAME',
    help: `How batches are drawn: ${GENERATORS.map((g) => `'${g}'`).join(' or ')}. release: the Neural Cleanse release's GTSRB injection (draws with replacement, n/(1 − rate) draws per epoch in whole batches, Keras learning-rate decay ${RELEASE_LR_DECAY}, ${RELEASE_PREPROCESSING_PRESET} pixels unless --preprocess says otherwise); shuffle: each image once per epoch, constant learning rate. Default: release for --dataset gtsrb, shuffle otherwise.`,
  },
  sampling: { type: 'string', value: 'WAY', help: "How an epoch's images are drawn: 'permutation' (each once, shuffled) or 'replacement' (uniform random draws). Default: the generator's." },
  'epoch-draws': { type: 'string', value: 'N', help: "Images drawn per epoch with --sampling replacement (default: the generator's; shuffle: the training set's size)." },
  'lr-decay': { type: 'string', value: 'D', help: `Keras's learning-rate decay per update, lr/(1 + D·t) (default: the generator's, ${RELEASE_LR_DECAY} for release, 0 for shuffle).` },
  epochs: { type: 'string', value: 'N', default: String(DEFAULT_EPOCHS), help: 'Passes over the training set.' },
  batch: { type: 'string', value: 'B', default: String(DEFAULT_BATCH_SIZE), help: 'Mini-batch size.' },
  lr: { type: 'string', value: 'LR', default: String(DEFAULT_LEARNING_RATE), help: "Adam's learning rate." },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'Seed of the weights, the shuffles, the dropout masks and the poisoning.' },
  preprocess: {
    type: 'string',
    value: 'NAME',
    help: `Input preprocessing, saved with the model: ${Object.entries(PREPROCESSING_PRESETS)
      .map(([k, p]) => `${k} (${describePreprocessing(p, 1)})`)
      .join(', ')}. Default: ${RELEASE_PREPROCESSING_PRESET} with --generator release (as the release fed GTSRB), else ${DEFAULT_PREPROCESSING_PRESET}.`,
  },
  backend: { type: 'string', value: 'NAME', help: 'TF.js backend: auto, tensorflow, wasm or cpu (auto: tensorflow if installed, else wasm, else cpu).' },
  engine: { type: 'string', value: 'NAME', help: `${engineHelp('training steps')} A resume stays on the engine its checkpoint was written by.` },
  'data-dir': { type: 'string', value: 'DIR', help: "The dataset's folder (default: embedded MNIST; GTSRB from ../shared/data or $POISONGUARD_DATA)." },
  out: { type: 'string', required: true, value: 'DIR', help: 'Folder to write the model to (model.json, weights.bin, metadata.json).' },
  force: { type: 'boolean', help: 'Overwrite a model already in --out.' },
  resume: {
    type: 'boolean',
    help: 'Continue the training checkpointed in --out (written after every epoch) up to --epochs, with the same data, trigger and seed.',
  },
} as const;

/** The flag of each library option, to name it in errors. */
const FLAGS: Readonly<Partial<Record<keyof TrainRunOptions, string>>> = {
  dataset: '--dataset',
  dataDir: '--data-dir',
  arch: '--arch',
  backdoor: '--backdoor',
  poisoning: '--poisoning',
  generator: '--generator',
  sampling: '--sampling',
  drawsPerEpoch: '--epoch-draws',
  learningRateDecay: '--lr-decay',
  epochs: '--epochs',
  batchSize: '--batch',
  learningRate: '--lr',
  seed: '--seed',
  preprocessing: '--preprocess',
  backend: '--backend',
  engine: '--engine',
  out: '--out',
  force: '--force',
  resume: '--resume',
};

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
    const seed = seedOption('seed', v.seed)!;
    if (epochs <= 0) throw new OptionError('--epochs', 'a positive integer', v.epochs);
    if (batchSize <= 0) throw new OptionError('--batch', 'a positive integer', v.batch);
    if (!(learningRate > 0)) throw new OptionError('--lr', 'a positive number', v.lr);
    const drawsPerEpoch = intOption('epoch-draws', v['epoch-draws']);
    const learningRateDecay = numberOption('lr-decay', v['lr-decay']);
    const { preprocessingPreset } = await import('../nn/preprocess.js');
    const { parseAttackSpec } = await import('../nn/backdoor-spec.js');
    const backdoors = (v.backdoor ?? []).map((spec) => parseAttackSpec(spec));
    // Names (architecture, generator, poisoning, sampling) are checked by the library, before any work.
    const trainOptions: TrainRunOptions = {
      dataset: v.dataset,
      ...(v['data-dir'] !== undefined ? { dataDir: v['data-dir'] } : {}),
      ...(v.arch !== undefined ? { arch: v.arch as ArchName } : {}),
      ...(backdoors.length > 0 ? { backdoor: backdoors.length === 1 ? backdoors[0] : backdoors } : {}),
      poisoning: v.poisoning as Poisoning,
      ...(v.generator !== undefined ? { generator: v.generator as GeneratorName } : {}),
      ...(v.sampling !== undefined ? { sampling: v.sampling as Sampling } : {}),
      ...(drawsPerEpoch !== undefined ? { drawsPerEpoch } : {}),
      ...(learningRateDecay !== undefined ? { learningRateDecay } : {}),
      ...(v.preprocess !== undefined ? { preprocessing: preprocessingPreset(v.preprocess) } : {}),
      ...(v.backend !== undefined ? { backend: v.backend as never } : {}),
      ...(v.engine !== undefined ? { engine: v.engine as never } : {}),
      epochs,
      batchSize,
      learningRate,
      seed,
      out: v.out,
      force: v.force,
      resume: v.resume,
    };
    await withFlagNames(FLAGS, () => runTraining(trainOptions, ctx));
    return 0;
  },
};

/** Runs {@link trainRun} with the command's progress lines and summary (also used by `demo` and `reproduce`). */
export async function runTraining(options: TrainRunOptions, ctx: CommandContext): Promise<TrainRunReport> {
  const { trainRun } = await import('../nn/train-run.js');
  const { describeAttack } = await import('../nn/trigger.js');
  let bar: ReturnType<typeof progressBar> | undefined;
  let lastLog = performance.now();
  const report = await trainRun({
    ...options,
    onProgress: (e) => {
      switch (e.kind) {
        case 'start': {
          const p = e.plan;
          const d = p.dataset;
          const b = p.backend;
          ctx.out(`backend: ${b.backend} (TF.js ${b.tfjsVersion}, ${b.threads} thread${b.threads === 1 ? '' : 's'})`);
          ctx.out(
            `dataset: ${d.name}: ${d.trainCount} train / ${d.testCount} test, ${d.inputShape.join('x')}, ` +
              `${d.numClasses} classes (${d.source}); preprocessing ${describePreprocessing(p.preprocessing, d.inputShape[2])}`,
          );
          ctx.out(
            `generator: ${p.generator}${p.generatorAdjusted ? ' (adjusted)' : ''}: ` +
              `${p.sampling === 'replacement' ? `${p.drawsPerEpoch} draws with replacement per epoch` : 'each image once per epoch, shuffled'}; learning-rate decay ${p.learningRateDecay}`,
          );
          const bd = p.backdoor;
          if (bd) {
            const noise = bd.noiseCount ? `, ${bd.noiseCount} more warped with noise keeping their labels (WaNet's noise mode)` : '';
            const fixed = `${bd.poisonedCount} of ${d.trainCount} training images poisoned (fixed)${noise}`;
            for (const a of bd.attacks) {
              const of = a.trigger.kind === 'sig' ? ' of the target class' : '';
              const head = `backdoor: ${describeAttack(a)}, rate ${round(a.rate, 4)}${of}`;
              if (bd.poisoning === 'on-the-fly') {
                ctx.out(`${head}: each drawn training image${of} poisoned with that probability (on the fly${of ? '' : `, ≈${Math.round(a.rate * p.drawsPerEpoch)} per epoch`})`);
              } else {
                ctx.out(bd.attacks.length === 1 ? `${head}: ${fixed}` : head);
              }
            }
            if (bd.poisoning === 'fixed' && bd.attacks.length > 1) ctx.out(`  ${fixed}`);
          }
          if (p.resume) {
            ctx.out(
              `resuming after epoch ${p.resume.fromEpoch} of ${p.epochs} from ${p.out}` +
                (p.resume.optimizerState ? ' (with the optimizer state)' : ' (no optimizer state saved with it: Adam restarts with zero moments)'),
            );
          }
          ctx.out(`engine: ${p.engine === 'onnx' ? 'onnxruntime (native graph engine)' : p.engine === 'tfjs' ? 'TF.js' : p.engine} (${p.engineReason})`);
          ctx.out(`training the ${p.arch} net: ${p.epochs} epochs, batch ${p.batchSize}, Adam lr ${p.learningRate}, seed ${p.seed}`);
          bar = progressBar('train', p.epochs * Math.ceil(p.drawsPerEpoch / p.batchSize), ctx.interactive, ' | epoch {epoch} loss {loss} acc {acc} {ips} img/s');
          break;
        }
        case 'batch': {
          bar?.update((e.epoch - 1) * e.batches + e.batch, { epoch: `${e.epoch}/${e.epochs}`, loss: e.loss.toFixed(4), acc: pct(e.accuracy), ips: Math.round(e.imagesPerSecond) });
          if (ctx.interactive || ctx.quiet) break;
          const now = performance.now();
          if (e.batch === e.batches || now - lastLog >= LOG_INTERVAL_MS) {
            lastLog = now;
            const where = e.batch === e.batches ? '' : ` batch ${e.batch}/${e.batches}`;
            ctx.err(`epoch ${e.epoch}/${e.epochs}${where}: loss ${e.loss.toFixed(4)}, train accuracy ${pct(e.accuracy)}, ${Math.round(e.imagesPerSecond)} img/s`);
          }
          break;
        }
        case 'checkpoint':
          if (!ctx.interactive && !ctx.quiet && e.epoch < e.epochs) ctx.err(`checkpoint after epoch ${e.epoch} written to ${e.out}`);
          break;
        case 'trained':
          bar?.stop();
          ctx.out(`trained in ${e.seconds.toFixed(1)} s (${Math.round(e.imagesPerSecond)} img/s)`);
          break;
        case 'evaluating':
          break;
      }
    },
  });
  const ev = report.evaluation;
  ctx.out(`clean accuracy: ${pct(ev.cleanAccuracy)} (${ev.count} test images)`);
  if (ev.attacks) {
    for (const [i, a] of ev.attacks.entries()) {
      ctx.out(`attack success rate of backdoor ${i + 1}: ${a.attackSuccessRate === null ? 'n/a' : pct(a.attackSuccessRate)} (${a.attackCount} stamped test images${a.target === null ? '' : ' of other labels'})`);
    }
  } else if (report.plan.backdoor) {
    const allToAll = report.plan.backdoor.attacks.some((a) => 'mapping' in a);
    ctx.out(`attack success rate: ${pct(ev.attackSuccessRate ?? 0)} (${ev.attackCount} stamped test images${allToAll ? ', each to be sent to its label + 1' : ' of other labels'})`);
    if (ev.attackUnchanged) {
      const { unchangedLine } = await import('./evaluate.js');
      const { UNCHANGED_STAMP } = await import('../nn/train.js');
      ctx.out(unchangedLine(ev.attackUnchanged, ev.attackSuccessRateChanged ?? null, UNCHANGED_STAMP));
    }
  }
  ctx.out(`model written to ${report.plan.out}`);
  return report;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
