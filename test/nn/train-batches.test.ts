import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageSet } from '../../src/data/images.js';
import { BatchAssembler, learningRateAt, resolveSchedule, shiftImage } from '../../src/nn/train-batches.js';
import { PREPROCESSING_PRESETS } from '../../src/nn/preprocess.js';
import { Random } from '../../src/random.js';

/** torchvision's RandomCrop(padding=p) written out: pad with p zeros on every side, cut the window at (top, left). */
function cropByHand(image: Uint8Array, h: number, w: number, c: number, p: number, top: number, left: number): Uint8Array {
  const H = h + 2 * p;
  const W = w + 2 * p;
  const padded = new Uint8Array(H * W * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) padded[((y + p) * W + x + p) * c + k] = image[(y * w + x) * c + k];
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = padded[((y + top) * W + x + left) * c + k];
  return out;
}

function randomSet(count: number, h: number, w: number, c: number, seed: number): ImageSet {
  const rng = new Random(seed);
  const images = new Uint8Array(count * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = 1 + rng.int(255);
  return { images, labels: Int32Array.from({ length: count }, (_, i) => i % 3), count, height: h, width: w, channels: c };
}

test('a shift is the padded crop of torchvision, every offset, grey and colour', () => {
  for (const [h, w, c, p] of [[5, 4, 1, 2], [4, 6, 3, 3]]) {
    const image = randomSet(1, h, w, c, h * w).images;
    const out = new Uint8Array(image.length);
    for (let top = 0; top <= 2 * p; top++) {
      for (let left = 0; left <= 2 * p; left++) {
        shiftImage(image, h, w, c, top - p, left - p, out);
        assert.deepEqual(out, cropByHand(image, h, w, c, p, top, left), `${h}x${w}x${c}, offset (${top - p}, ${left - p})`);
      }
    }
  }
});

test('random crop: each row is its drawn image shifted within ±p, the draw order unchanged, the same seed the same batches', () => {
  const set = randomSet(20, 6, 6, 1, 3);
  const p = 2;
  const raw = { kind: 'scale', scale: 1, offset: 0 } as const;
  const plain = new BatchAssembler(set, resolveSchedule(set, { batchSize: 8, seed: 5, preprocessing: raw }));
  const cropped = new BatchAssembler(set, resolveSchedule(set, { batchSize: 8, seed: 5, preprocessing: raw, randomCrop: p }));
  const again = new BatchAssembler(set, resolveSchedule(set, { batchSize: 8, seed: 5, preprocessing: raw, randomCrop: p }));
  const size = 36;
  const out = new Uint8Array(size);
  let moved = 0;
  for (const epoch of [1, 2]) {
    plain.beginEpoch(epoch);
    cropped.beginEpoch(epoch);
    again.beginEpoch(epoch);
    for (let b = 0; b < 3; b++) {
      const n = cropped.fill(b);
      plain.fill(b);
      again.fill(b);
      assert.deepEqual(cropped.drawn(b, n), plain.drawn(b, n), 'the crop draws from its own stream');
      assert.deepEqual(cropped.x, again.x);
      for (let r = 0; r < n; r++) {
        const source = set.images.subarray(cropped.drawn(b, n)[r] * size, (cropped.drawn(b, n)[r] + 1) * size);
        const row = Array.from(cropped.x.subarray(r * size, (r + 1) * size));
        let found = false;
        for (let dy = -p; dy <= p && !found; dy++) {
          for (let dx = -p; dx <= p && !found; dx++) {
            shiftImage(source, 6, 6, 1, dy, dx, out);
            if (row.every((v, i) => v === out[i])) found = true;
          }
        }
        assert.ok(found, `epoch ${epoch} batch ${b} row ${r}: a shift of its image`);
        if (row.some((v, i) => v !== source[i])) moved++;
      }
    }
  }
  assert.ok(moved > 20, `most rows moved (${moved} of 40)`);
  assert.throws(() => resolveSchedule(set, { randomCrop: 6 }), /randomCrop.*0\.\.5/);
  assert.throws(() => resolveSchedule(set, { randomCrop: 1.5 }), /randomCrop/);
});

test('step decay: the rate drops by the factor once each listed epoch has ended, on top of Keras decay', () => {
  const set = randomSet(10, 2, 2, 1, 1);
  const s = resolveSchedule(set, { batchSize: 4, learningRate: 0.1, epochs: 6, learningRateSteps: { afterEpochs: [2, 4], factor: 0.2 }, preprocessing: PREPROCESSING_PRESETS.unit });
  // 3 batches per epoch: steps 0–5 are epochs 1–2, 6–11 epochs 3–4, 12–17 epochs 5–6.
  const rates = Array.from({ length: 18 }, (_, step) => learningRateAt(s, step));
  rates.forEach((r, step) => assert.ok(Math.abs(r - 0.1 * 0.2 ** (step < 6 ? 0 : step < 12 ? 1 : 2)) < 1e-15, `step ${step}: ${r}`));
  const keras = resolveSchedule(set, { batchSize: 4, learningRate: 0.1, learningRateDecay: 0.5, learningRateSteps: { afterEpochs: [1], factor: 0.5 } });
  assert.ok(Math.abs(learningRateAt(keras, 4) - (0.1 / (1 + 0.5 * 4)) * 0.5) < 1e-15);
  assert.throws(() => resolveSchedule(set, { learningRateSteps: { afterEpochs: [3, 2], factor: 0.2 } }), /learningRateSteps.*ascending/);
  assert.throws(() => resolveSchedule(set, { learningRateSteps: { afterEpochs: [2], factor: 0 } }), /learningRateSteps/);
});
