/**
 * Fixtures of the mitigation tests: small dense models on the scan tests' 8x8 synthetic images
 * (fixture.ts: 5 classes, a 2x2 white square at the bottom-right → label 1), a model with a
 * backdoor neuron planted by hand (and one with a second, for a second square → label 3), and scan
 * folders written by hand in the shape `poisonguard scan --out` gives them (scan.json +
 * seed-0/label-NN.json), so that no scan has to run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { hashModelFolder } from '../../src/run-files.js';
import type { ImageSet } from '../../src/data/images.js';
import { METADATA_FORMAT, METADATA_VERSION, saveModel } from '../../src/nn/model-io.js';
import { DEFAULT_PREPROCESSING } from '../../src/nn/preprocess.js';
import { trainModel, evaluateModel } from '../../src/nn/train.js';
import { poisonBadNets, resolveTrigger, squareTrigger, type Trigger } from '../../src/nn/trigger.js';
import { Random } from '../../src/random.js';
import type { ReversedTrigger } from '../../src/cleanse/mitigation/reversed-trigger.js';
import { CLASSES, SIZE, syntheticSet, TARGET, TRIGGER } from './fixture.js';

export { CLASSES, SIZE, syntheticSet, TARGET, TRIGGER };

/** The backdoor neuron of the planted model (not the first, so that order alone cannot pass). */
export const PLANTED = 5;
export const HIDDEN = 8;

/**
 * flatten – dense(8, activation) 'hidden' – dense(5) 'out', weights set by hand: neuron j ≠ 5 sums
 * row j of the image × 0.05; neuron 5 has weight 1 on the four trigger pixels and bias −3, so it is
 * relu(Σ − 3): 0 on every synthetic clean image (no pixel of that corner exceeds 70/255), exactly
 * 1 on a stamped one (four pixels at 255/255).
 */
export function plantedModel(activation: 'relu' | 'linear' = 'relu'): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.flatten({ inputShape: [SIZE, SIZE, 1] }));
  model.add(tfl.layers.dense({ units: HIDDEN, activation, name: 'hidden' }));
  model.add(tfl.layers.dense({ units: CLASSES, name: 'out' }));
  const kernel = new Float32Array(SIZE * SIZE * HIDDEN);
  const bias = new Float32Array(HIDDEN);
  const trigger = resolveTrigger(TRIGGER, SIZE, SIZE, 1);
  for (let j = 0; j < HIDDEN; j++) {
    if (j === PLANTED) {
      for (let p = 0; p < SIZE * SIZE; p++) if (trigger.mask[p] > 0) kernel[p * HIDDEN + j] = 1;
      bias[j] = -3;
    } else {
      for (let c = 0; c < SIZE; c++) kernel[(j * SIZE + c) * HIDDEN + j] = 0.05;
    }
  }
  const out = new Float32Array(HIDDEN * CLASSES);
  for (let j = 0; j < HIDDEN; j++) out[j * CLASSES + (j % CLASSES)] = 1;
  out[PLANTED * CLASSES + TARGET] = 10;
  const weights = [tf.tensor2d(kernel, [SIZE * SIZE, HIDDEN]), tf.tensor1d(bias), tf.tensor2d(out, [HIDDEN, CLASSES]), tf.zeros([CLASSES])];
  model.setWeights(weights);
  for (const w of weights) w.dispose();
  return model;
}

/** The second backdoor's trigger: a 2x2 white square at rows 6–7, columns 3–4 (no class's blob there), → label 3. */
export const TRIGGER_B = squareTrigger({ size: 2, position: { x: 3, y: 6 }, colour: [255, 255, 255] });
export const TARGET_B = 3;
/** The second planted backdoor neuron of {@link plantedTwoModel}. */
export const PLANTED_B = 2;

/** The real trigger as a reversed one (what a perfect scan would find). */
export function exactReversed(label = TARGET, trigger: Trigger = TRIGGER): ReversedTrigger {
  const t = resolveTrigger(trigger, SIZE, SIZE, 1);
  return { label, height: SIZE, width: SIZE, channels: 1, maskChannels: 1, mask: t.mask, pattern: t.pattern };
}

/**
 * {@link plantedModel} with a second backdoor neuron: neuron 2 becomes relu(Σ TRIGGER_B's pixels − 3)
 * (0 on clean images, exactly 1 stamped) with weight 10 to label 3.
 */
export function plantedTwoModel(): tfl.Sequential {
  const model = plantedModel();
  const [kernel, bias, out, outBias] = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
  const trigger = resolveTrigger(TRIGGER_B, SIZE, SIZE, 1);
  for (let p = 0; p < SIZE * SIZE; p++) kernel[p * HIDDEN + PLANTED_B] = trigger.mask[p] > 0 ? 1 : 0;
  bias[PLANTED_B] = -3;
  for (let c = 0; c < CLASSES; c++) out[PLANTED_B * CLASSES + c] = c === TARGET_B ? 10 : 0;
  const weights = [tf.tensor2d(kernel, [SIZE * SIZE, HIDDEN]), tf.tensor1d(bias), tf.tensor2d(out, [HIDDEN, CLASSES]), tf.tensor1d(outBias)];
  model.setWeights(weights);
  for (const w of weights) w.dispose();
  return model;
}

export function metadataFor(model: { cleanAccuracy: number; asr: number | null }, trigger = true): Parameters<typeof saveModel>[2] {
  return {
    format: METADATA_FORMAT,
    formatVersion: METADATA_VERSION,
    dataset: 'synthetic',
    arch: 'tiny-dense',
    numClasses: CLASSES,
    inputShape: [SIZE, SIZE, 1],
    preprocessing: DEFAULT_PREPROCESSING,
    trigger: trigger ? TRIGGER : null,
    target: trigger ? TARGET : null,
    poisonRate: trigger ? 0.15 : null,
    poisonedCount: 0,
    seed: 1,
    backend: tf.getBackend(),
    epochs: 6,
    batchSize: 32,
    learningRate: 0.01,
    cleanAccuracy: model.cleanAccuracy,
    attackSuccessRate: model.asr,
    trainSeconds: 0,
    imagesPerSecond: 0,
    date: new Date().toISOString(),
  };
}

/**
 * A dense net trained with BadNets on synthetic images; saved to `dir`. Returns the data. With
 * `two`, a second backdoor (TRIGGER_B → label 3, 15% more poisoned) is planted too, and the
 * metadata names that one as the model's trigger (so that the real-trigger ASR measures it).
 */
export async function makeTrainedBackdooredDense(dir: string, two = false): Promise<{ train: ImageSet; test: ImageSet; accuracy: number; asr: number; asrB?: number }> {
  const rng = new Random(11);
  const train = syntheticSet(1500, rng);
  const test = syntheticSet(400, rng);
  const backdoor = { trigger: TRIGGER, target: TARGET, rate: 0.15 };
  const second = { trigger: TRIGGER_B, target: TARGET_B, rate: 0.15 };
  const first = poisonBadNets(train, backdoor, CLASSES, new Random(12));
  const poisoned = two ? poisonBadNets(first.set, second, CLASSES, new Random(13)) : first;
  const model = tfl.sequential();
  model.add(tfl.layers.flatten({ inputShape: [SIZE, SIZE, 1] }));
  model.add(tfl.layers.dense({ units: 32, activation: 'relu', name: 'hidden', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }));
  model.add(tfl.layers.dense({ units: CLASSES, name: 'out', kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }));
  await trainModel(model, poisoned.set, { epochs: 6, batchSize: 32, learningRate: 0.01, seed: 1, preprocessing: DEFAULT_PREPROCESSING });
  const ev = await evaluateModel(model, test, { preprocessing: DEFAULT_PREPROCESSING, backdoor });
  const evB = two ? await evaluateModel(model, test, { preprocessing: DEFAULT_PREPROCESSING, backdoor: second }) : undefined;
  const meta = metadataFor({ cleanAccuracy: ev.cleanAccuracy, asr: evB ? evB.attackSuccessRate : ev.attackSuccessRate });
  await saveModel(model, dir, two ? { ...meta!, trigger: TRIGGER_B, target: TARGET_B, backdoors: [second, backdoor] } : meta);
  model.dispose();
  return { train, test, accuracy: ev.cleanAccuracy, asr: ev.attackSuccessRate ?? 0, ...(evB ? { asrB: evB.attackSuccessRate ?? 0 } : {}) };
}

/**
 * Writes a scan folder for the model in `modelDir` by hand: scan.json (flagging `flagged`) and
 * label files with `trigger` (or the label's own in `triggers`) for every label in `labels`. `sha256`
 * overrides the model's hash.
 */
export function writeFakeScan(dir: string, modelDir: string, options: { flagged: number[]; trigger: ReversedTrigger; sha256?: string; labels?: number[]; triggers?: ReadonlyMap<number, ReversedTrigger> }): void {
  mkdirSync(join(dir, 'seed-0'), { recursive: true });
  const labels = options.labels ?? Array.from({ length: CLASSES }, (_, i) => i);
  const file = (l: number): string => `seed-0/label-${String(l).padStart(2, '0')}.json`;
  for (const l of labels) {
    writeFileSync(
      join(dir, file(l)),
      JSON.stringify({ label: l, norm: 4, maskShape: [SIZE, SIZE, 1], mask: Array.from((options.triggers?.get(l) ?? options.trigger).mask), pattern: Array.from((options.triggers?.get(l) ?? options.trigger).pattern) }),
    );
  }
  const scan = {
    kind: 'neural-cleanse-scan',
    model: { dir: modelDir, sha256: options.sha256 ?? hashModelFolder(modelDir), arch: 'tiny', numClasses: CLASSES, inputShape: [SIZE, SIZE, 1] },
    runs: [{ seed: 0, labels: labels.map((l) => ({ label: l, norm: l === TARGET ? 4 : 20, flagged: options.flagged.includes(l), files: { json: file(l) } })) }],
    verdict: { status: options.flagged.length > 0 ? 'backdoored' : 'clean', labels: options.flagged },
  };
  writeFileSync(join(dir, 'scan.json'), JSON.stringify(scan));
}
