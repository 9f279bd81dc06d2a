/**
 * STRIP: the entropy and the superimposition on hand-made cases, the normal boundary, the binomial
 * tail, and the detector on a toy model whose trigger survives superimposition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageSet } from '../../../src/data/images.js';
import type { DetectorModel } from '../../../src/cleanse/detectors/model.js';
import { binomialTail, meanEntropy, runStrip, stripBoundary, superimpose } from '../../../src/cleanse/detectors/strip.js';
import { Random } from '../../../src/random.js';

test('entropy in bits of hand-made predictions', () => {
  // Equal logits over 2 classes: 1 bit. Logits (0, ln 3): p = (1/4, 3/4), H = 2 − (3/4)·log2 3.
  assert.ok(Math.abs(meanEntropy(Float32Array.of(0, 0), 1, 2) - 1) < 1e-12);
  const h = 2 - 0.75 * Math.log2(3);
  assert.ok(Math.abs(meanEntropy(Float32Array.of(0, Math.log(3)), 1, 2) - h) < 1e-7);
  // Two rows: the mean; a certain prediction has entropy 0.
  assert.ok(Math.abs(meanEntropy(Float32Array.of(0, 0, 0, 0, 200, 0), 2, 3) - Math.log2(3) / 2) < 1e-7);
});

test('superimposition saturates at 255', () => {
  const out = new Float32Array(6);
  superimpose(Uint8Array.of(10, 200, 255), Uint8Array.of(20, 100, 1), out, 3);
  assert.deepEqual(Array.from(out), [0, 0, 0, 30, 255, 255]);
});

test('the boundary is the FRR quantile of a normal fit, and the binomial tail matches a by-hand sum', () => {
  const b = stripBoundary([1, 2, 3, 4, 5], 0.5);
  assert.ok(Math.abs(b.threshold - 3) < 1e-9);
  assert.ok(Math.abs(b.sd - Math.sqrt(2.5)) < 1e-12);
  // Φ⁻¹(0.01) = −2.3263478740
  assert.ok(Math.abs(stripBoundary([11, 12, 13, 14, 15], 0.01).threshold - (13 - 2.326347874 * Math.sqrt(2.5))) < 1e-8);
  assert.equal(stripBoundary([11, 12, 13, 14, 15], 0.01).rule, 'normal');
  // P(X ≥ 2), X ~ B(3, 0.1) = 3·0.01·0.9 + 0.001 = 0.028
  assert.ok(Math.abs(binomialTail(2, 3, 0.1) - 0.028) < 1e-12);
  assert.equal(binomialTail(0, 3, 0.1), 1);
});

test('a normal fit whose boundary is below 0 gives way to the clean entropies\' own lower quantile', () => {
  // Entropies crowded near 0, as on the GTSRB nets: mean 1, the normal's 1% quantile negative.
  const h = Array.from({ length: 499 }, (_, i) => (i < 300 ? 0.5 + i / 1000 : 1 + (i - 300) / 100));
  const b = stripBoundary(h, 0.01);
  assert.ok(b.normalThreshold < 0, `normal fit ${b.normalThreshold}`);
  assert.equal(b.rule, 'quantile');
  // j = ⌊500 · 0.01⌋ = 5: the 5th smallest.
  const sorted = [...h].sort((a, c) => a - c);
  assert.equal(b.threshold, sorted[4]);
  assert.equal(h.filter((x) => x < b.threshold).length, 4, 'at most FRR·(n + 1) − 1 clean entropies under it');
  // Asked for explicitly, the quantile rule holds where the normal one would not be replaced.
  const q = stripBoundary([11, 12, 13, 14, 15], 0.4, 'quantile');
  assert.equal(q.rule, 'quantile');
  assert.equal(q.threshold, 12); // j = ⌊6 · 0.4⌋ = 2
  // Too few inputs for the FRR: nothing rejected (a boundary of 0, which no entropy is under).
  assert.equal(stripBoundary([0.1, 0.2], 0.01, 'quantile').threshold, 0);
});

const SIDE = 4;
const SIZE = SIDE * SIDE;
const K = 10;
const TARGET = 2;

/**
 * Clean logits a pseudo-random function of the pixel sum (superimposing another image changes it, so
 * clean copies scatter, the same way for every input); two white corner pixels force the target.
 */
function toyModel(): DetectorModel {
  return {
    inputShape: [SIDE, SIDE, 1],
    numClasses: K,
    engine: 'tfjs',
    async logits(raw, n) {
      const z = new Float32Array(n * K);
      for (let r = 0; r < n; r++) {
        let sum = 0;
        for (let i = 0; i < SIZE; i++) sum += raw[r * SIZE + i];
        const triggered = raw[r * SIZE] >= 255 && raw[r * SIZE + 1] >= 255;
        for (let k = 0; k < K; k++) z[r * K + k] = triggered ? (k === TARGET ? 30 : 0) : 4 * Math.sin(sum * 0.37 * (k + 1));
      }
      return z;
    },
    logitGradient: async () => {
      throw new Error('unused');
    },
    features: async () => ({ units: 0, values: new Float32Array() }),
    dispose: async () => {},
  };
}

function images(count: number, seed: number, triggeredShare = 0): ImageSet {
  const rng = new Random(seed);
  const out = new Uint8Array(count * SIZE);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const level = rng.next() * 120;
    for (let i = 0; i < SIZE; i++) out[n * SIZE + i] = Math.min(255, Math.floor(level + rng.next() * 20));
    if (n < count * triggeredShare) out[n * SIZE] = out[n * SIZE + 1] = 255;
  }
  return { images: out, labels, count, height: SIDE, width: SIDE, channels: 1 };
}

test('STRIP: a training set with triggered inputs makes the model backdoored at the target; clean audits do not', async () => {
  const model = toyModel();
  const clean = images(600, 1);
  const options = { overlays: 20, boundaryImages: 150, auditImages: 200, seed: 3 };
  const poisoned = await runStrip(model, clean, images(400, 2, 0.2), options);
  assert.equal(poisoned.backdoored, true);
  assert.deepEqual(poisoned.flagged, [TARGET]);
  // 20% of the audited inputs carry the trigger: the share rejected is about that.
  assert.ok(poisoned.score > 0.15 && poisoned.score < 0.3, `score ${poisoned.score}`);
  const cleanAudit = await runStrip(model, clean, images(400, 2, 0), options);
  assert.equal(cleanAudit.backdoored, false);
  assert.ok(cleanAudit.score < poisoned.score);
  const heldOut = await runStrip(model, clean, undefined, options);
  assert.equal(heldOut.backdoored, false);
  // Only clean test images to audit: the call abstains from the combined verdict; with a training set it votes.
  assert.match(heldOut.abstains ?? '', /no training set/);
  assert.equal(poisoned.abstains, undefined);
});
