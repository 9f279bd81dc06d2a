/**
 * What every training engine shares, so that the TensorFlow.js and the native trainer draw the very
 * same batches for a seed: the options resolved and checked, the epoch's draw order (a seeded
 * permutation or draws with replacement), the on-the-fly poisoning stream per epoch, the batch
 * assembled from the raw pixels (copied, stamped, relabelled, preprocessed), Keras's learning-rate
 * decay, and the seeds of the dropout masks per (step, layer).
 */
import type { ImageSet } from '../data/images.js';
import { OptionError, ShapeError } from '../errors.js';
import { checkOneOf, checkPositive, checkPositiveInt, checkRange } from '../options.js';
import { checkSeed, DEFAULT_SEED, mixSeeds, Random } from '../random.js';
import { DEFAULT_PREPROCESSING, preprocessInto, type Preprocessing } from './preprocess.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE } from './recipe.js';
import type { Poisoner } from './attacks/poison.js';

export type Sampling = 'permutation' | 'replacement';
export const SAMPLINGS: readonly Sampling[] = ['permutation', 'replacement'];

/** The options that decide which batches a training draws, shared by both engines (see TrainOptions). */
export interface ScheduleOptions {
  /** Passes over the training set. */
  readonly epochs?: number;
  /** Images per gradient step. */
  readonly batchSize?: number;
  /** Adam's learning rate. */
  readonly learningRate?: number;
  /** Seed of the per-epoch shuffles. */
  readonly seed?: number;
  /** The model's input preprocessing (applied to the raw pixels of each batch). */
  readonly preprocessing?: Preprocessing;
  /**
   * Epochs already done (resuming from a checkpoint): training runs epochs `startEpoch + 1 ..
   * epochs`, with the shuffles those epochs would have had in one uninterrupted run.
   */
  readonly startEpoch?: number;
  /**
   * How an epoch's images are drawn: 'permutation' (default: every image once, in a seeded random
   * order) or 'replacement' (uniform random draws, as the Neural Cleanse release's data generator).
   */
  readonly sampling?: Sampling;
  /** Images drawn per epoch with 'replacement' (default: the training set's size; the release: n/(1 − rate), in whole batches). */
  readonly drawsPerEpoch?: number;
  /** Keras's inverse-time decay of the learning rate per update, lr/(1 + decay·t) (default 0; the release's GTSRB injection: 1e-4). */
  readonly learningRateDecay?: number;
  /**
   * Random-crop augmentation, as torchvision's RandomCrop(size, padding=p): each drawn image is
   * padded with p zero pixels on every side and a window of its own size cut at a uniform offset,
   * i.e. shifted by (dy, dx) ∈ [−p, p]² with zeros where it leaves the frame (default 0: none;
   * DPA's MNIST release: 4). Applied to the raw pixels after poisoning, before preprocessing.
   */
  readonly randomCrop?: number;
  /**
   * Step decay, as torch's MultiStepLR stepped once per epoch: the rate is multiplied by `factor`
   * after each listed epoch (1-based) has ended. Absent: none. On top of `learningRateDecay`.
   */
  readonly learningRateSteps?: LearningRateSteps;
}

export interface LearningRateSteps {
  /** Epochs (1-based, ascending) after which the rate drops. */
  readonly afterEpochs: readonly number[];
  readonly factor: number;
}

/** Poisoning as the batches are drawn (TrainOptions.poisonOnTheFly): the backdoors, and the seed of the draws. */
export interface OnTheFlyPoisoning {
  readonly poisoner: Poisoner;
  readonly seed: number;
}

/** A training's options with every default filled in and checked. */
export interface TrainSchedule {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly preprocessing: Preprocessing;
  readonly sampling: Sampling;
  /** Images drawn per epoch. */
  readonly draws: number;
  /** Batches per epoch (the last one may be short). */
  readonly batches: number;
  /** Keras's inverse-time decay per update. */
  readonly decay: number;
  /** Epochs already done (resuming). */
  readonly startEpoch: number;
  /** Random-crop padding in pixels (0: no augmentation). */
  readonly randomCrop: number;
  /** Step decay (none: no epochs listed). */
  readonly steps: LearningRateSteps;
}

/** Resolves and checks `options` against the training set (the checks both engines make before any work). */
export function resolveSchedule(
  set: ImageSet,
  options: ScheduleOptions,
): TrainSchedule {
  const epochs = checkPositiveInt('epochs', options.epochs ?? DEFAULT_EPOCHS);
  const batchSize = checkPositiveInt('batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE);
  const learningRate = checkPositive('learningRate', options.learningRate ?? DEFAULT_LEARNING_RATE);
  const seed = checkSeed('seed', options.seed ?? DEFAULT_SEED);
  const preprocessing = options.preprocessing ?? DEFAULT_PREPROCESSING;
  if (set.count === 0) throw new ShapeError('training set', 'at least 1 image', '0 images');
  const sampling = checkOneOf('sampling', options.sampling ?? 'permutation', SAMPLINGS);
  const draws = checkPositiveInt('drawsPerEpoch', options.drawsPerEpoch ?? set.count);
  if (sampling === 'permutation' && draws !== set.count) {
    throw new OptionError('drawsPerEpoch', `the training set's size (${set.count}) with 'permutation' sampling (other counts need 'replacement')`, String(draws));
  }
  const decay = checkRange('learningRateDecay', options.learningRateDecay ?? 0, 0, Infinity);
  const startEpoch = options.startEpoch ?? 0;
  if (!Number.isInteger(startEpoch) || startEpoch < 0 || startEpoch >= epochs) {
    throw new OptionError('startEpoch', `an integer in 0..${epochs - 1} (epochs already done)`, String(startEpoch));
  }
  const randomCrop = checkRandomCrop('randomCrop', options.randomCrop ?? 0, set.height, set.width);
  const steps = options.learningRateSteps ?? { afterEpochs: [], factor: 1 };
  if (!steps.afterEpochs.every((e, i) => Number.isInteger(e) && e >= 1 && (i === 0 || e > steps.afterEpochs[i - 1])) || !(steps.factor > 0)) {
    throw new OptionError('learningRateSteps', 'ascending epochs (1-based) and a positive factor', `${JSON.stringify(steps.afterEpochs)} × ${steps.factor}`);
  }
  return { epochs, batchSize, learningRate, seed, preprocessing, sampling, draws, batches: Math.ceil(draws / batchSize), decay, startEpoch, randomCrop, steps };
}

/** A random-crop padding checked against the images: a whole number of pixels under their shorter side (a shift by the whole side leaves nothing of the image). */
export function checkRandomCrop(option: string, crop: unknown, height: number, width: number): number {
  const side = Math.min(height, width);
  if (typeof crop !== 'number' || !Number.isInteger(crop) || crop < 0 || crop >= side) throw new OptionError(option, `an integer number of pixels in 0..${side - 1} (less than the image's side)`, String(crop));
  return crop;
}

/**
 * The rate of update `step` (0-based over the whole run): Keras's decay counts the updates made
 * before this one, lr/(1 + decay·step); the step decay counts the listed epochs already ended.
 */
export function learningRateAt(schedule: TrainSchedule, step: number): number {
  const base = schedule.decay > 0 ? schedule.learningRate / (1 + schedule.decay * step) : schedule.learningRate;
  const { afterEpochs, factor } = schedule.steps;
  if (afterEpochs.length === 0) return base;
  const epoch = Math.floor(step / schedule.batches) + 1;
  let drops = 0;
  while (drops < afterEpochs.length && afterEpochs[drops] < epoch) drops++;
  return base * factor ** drops;
}

/** Offset of the dropout masks' seeds from the run's seed (apart from the shuffles' and the poisoning's streams). */
const DROPOUT_SEED_OFFSET = 0xd4_0b07;

/** The seed of dropout layer `j`'s mask at update `step`: a resumed run draws the masks the uninterrupted one did. */
export function dropoutSeed(seed: number, step: number, j: number): number {
  return mixSeeds(mixSeeds(seed + DROPOUT_SEED_OFFSET, step), j);
}

/** The seed of epoch `epoch`'s random-crop offsets (a stream of its own: a crop changes neither the order nor the poisoning). */
function cropSeed(seed: number, epoch: number): number {
  return mixSeeds(seed + 0xc209, epoch - 1);
}

/**
 * Shifts an image (HWC) by (dy, dx) into `out`: out[y][x] = image[y + dy][x + dx], zero outside
 * the frame — torchvision's RandomCrop(padding=p) cutting at offset (p + dy, p + dx) of the padded image.
 */
export function shiftImage(image: Uint8Array, height: number, width: number, channels: number, dy: number, dx: number, out: Uint8Array): void {
  out.fill(0);
  const row = width * channels;
  const x0 = Math.max(0, -dx);
  const x1 = Math.min(width, width - dx);
  if (x1 <= x0) return;
  for (let y = Math.max(0, -dy); y < Math.min(height, height - dy); y++) {
    const from = (y + dy) * row + (x0 + dx) * channels;
    out.set(image.subarray(from, from + (x1 - x0) * channels), y * row + x0 * channels);
  }
}

/** The seed of epoch `epoch`'s on-the-fly poisoning draws (offset from the streams a scan uses per label). */
function poisonSeed(seed: number, epoch: number): number {
  return mixSeeds(seed + 0x51ed26, epoch - 1);
}

/**
 * The batches of a run, epoch by epoch, in buffers reused from batch to batch: `x` holds the
 * preprocessed images (NHWC), `labels` their classes (the target for a poisoned draw).
 */
export class BatchAssembler {
  /** Preprocessed images of the current batch, NHWC (the first `n` rows). */
  readonly x: Float32Array;
  readonly labels: Int32Array;
  /** Images poisoned on the fly in the current epoch. */
  poisoned = 0;
  private readonly raw: Uint8Array;
  private readonly rng: Random;
  private readonly imageSize: number;
  private order: Int32Array = new Int32Array(0);
  private poisonRng: Random | undefined;
  private cropRng: Random | undefined;
  private readonly shifted: Uint8Array;

  constructor(
    private readonly set: ImageSet,
    private readonly schedule: TrainSchedule,
    private readonly poison?: OnTheFlyPoisoning,
  ) {
    this.imageSize = set.height * set.width * set.channels;
    this.raw = new Uint8Array(schedule.batchSize * this.imageSize);
    this.x = new Float32Array(schedule.batchSize * this.imageSize);
    this.labels = new Int32Array(schedule.batchSize);
    this.shifted = new Uint8Array(schedule.randomCrop > 0 ? this.imageSize : 0);
    this.rng = new Random(schedule.seed);
    // Every epoch consumes the generator the same way, so a resumed run replays the epochs it skips.
    for (let e = 0; e < schedule.startEpoch; e++) this.drawOrder();
  }

  private drawOrder(): Int32Array {
    const { set, schedule } = this;
    return schedule.sampling === 'replacement' ? this.rng.sampleWithReplacement(set.count, schedule.draws) : this.rng.permutation(set.count);
  }

  /** Starts epoch `epoch` (1-based; epochs are started in order from startEpoch + 1). */
  beginEpoch(epoch: number): void {
    this.order = this.drawOrder();
    this.poisonRng = this.poison ? new Random(poisonSeed(this.poison.seed, epoch)) : undefined;
    this.cropRng = this.schedule.randomCrop > 0 ? new Random(cropSeed(this.schedule.seed, epoch)) : undefined;
    this.poisoned = 0;
  }

  /** The training-set indices of batch `b`'s `n` rows. */
  drawn(b: number, n: number): Int32Array {
    const start = b * this.schedule.batchSize;
    return this.order.subarray(start, start + n);
  }

  /** Fills `x` and `labels` with batch `b` of the epoch; returns its size. */
  fill(b: number): number {
    const { set, schedule, imageSize, raw, labels, order, poison } = this;
    const n = Math.min(schedule.batchSize, schedule.draws - b * schedule.batchSize);
    for (let r = 0; r < n; r++) {
      const i = order[b * schedule.batchSize + r];
      raw.set(set.images.subarray(i * imageSize, (i + 1) * imageSize), r * imageSize);
      labels[r] = set.labels[i];
    }
    if (poison) {
      for (let r = 0; r < n; r++) {
        const outcome = poison.poisoner.poisonOne(raw.subarray(r * imageSize, (r + 1) * imageSize), labels[r], this.poisonRng!);
        labels[r] = outcome.label;
        if (outcome.outcome === 'poisoned') this.poisoned++;
      }
    }
    if (this.cropRng) {
      const p = schedule.randomCrop;
      for (let r = 0; r < n; r++) {
        // Row offset first, then column (torchvision draws i, then j).
        const dy = this.cropRng.int(2 * p + 1) - p;
        const dx = this.cropRng.int(2 * p + 1) - p;
        const image = raw.subarray(r * imageSize, (r + 1) * imageSize);
        shiftImage(image, set.height, set.width, set.channels, dy, dx, this.shifted);
        image.set(this.shifted);
      }
    }
    preprocessInto(raw.subarray(0, n * imageSize), set.channels, schedule.preprocessing, this.x);
    return n;
  }
}

/** Running loss, accuracy and throughput of an epoch, as progress reports them. */
export class EpochMeter {
  private lossSum = 0;
  private correct = 0;
  seen = 0;
  private readonly start = performance.now();

  add(n: number, meanLoss: number, correct: number): void {
    this.lossSum += meanLoss * n;
    this.correct += correct;
    this.seen += n;
  }

  get loss(): number {
    return this.lossSum / this.seen;
  }

  get accuracy(): number {
    return this.correct / this.seen;
  }

  get seconds(): number {
    return (performance.now() - this.start) / 1000;
  }
}
