import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageSet, type ImageSet } from '../../src/data/images.js';
import { Random } from '../../src/random.js';
import { checkAttack, isPatchTrigger, poisonBadNets, resolveTrigger, squareTrigger, stamp, type Attack, type Trigger } from '../../src/nn/trigger.js';
import { Poisoner, poisonSet } from '../../src/nn/attacks/poison.js';
import { bicubicUpsample, noisyGrid, wanetGrid, warpImage, type WanetTrigger } from '../../src/nn/attacks/wanet.js';

/** n images h×w×c of seeded random bytes, labels i mod classes. */
function noise(n: number, h: number, w: number, c: number, classes = 10, seed = 1): ImageSet {
  const rng = new Random(seed);
  const images = Uint8Array.from({ length: n * h * w * c }, () => rng.int(256));
  return imageSet(images, Int32Array.from({ length: n }, (_, i) => i % classes), h, w, c);
}

const clip = (v: number) => Math.min(255, Math.max(0, v));

test('blend: x′ = round((1 − α)·x + α·key) on every value, the key a seeded noise pattern (same seed, same key)', () => {
  for (const c of [1, 3]) {
    const set = noise(2, 5, 7, c);
    const trigger: Trigger = { kind: 'blend', alpha: 0.2, key: { noiseSeed: 9 } };
    const out = stamp(set, trigger);
    // The key by hand: one uniform integer 0..255 per value, in NHWC order, from Random(9).
    const rng = new Random(9);
    const key = Array.from({ length: 5 * 7 * c }, () => rng.int(256));
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < key.length; i++) {
        const x = set.images[n * key.length + i];
        assert.equal(out.images[n * key.length + i], Math.round(0.8 * x + 0.2 * key[i]), `image ${n} value ${i}`);
      }
    }
    assert.deepEqual(stamp(set, trigger).images, out.images);
    assert.notDeepEqual(stamp(set, { ...trigger, key: { noiseSeed: 10 } }).images, out.images);
  }
  // A key image: α = 1 replaces the image by the key.
  const rgb = Array.from({ length: 2 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const full = stamp(noise(1, 2, 3, 3), { kind: 'blend', alpha: 1, key: { height: 2, width: 3, rgb } });
  assert.deepEqual(Array.from(full.images), rgb);
  assert.throws(() => stamp(noise(1, 2, 3, 1), { kind: 'blend', alpha: 0.5, key: { height: 2, width: 3, rgb } }), /grey \(R = G = B\) on 1-channel images/);
  assert.throws(() => stamp(noise(1, 4, 4, 3), { kind: 'blend', alpha: 0.5, key: { height: 2, width: 3, rgb } }), /4x4 like the images/);
  assert.throws(() => stamp(noise(1, 2, 3, 3), { kind: 'blend', alpha: 0, key: { noiseSeed: 1 } }), /blend alpha to be in \(0, 1\]/);
});

test('sig: x′(i, j) = clip(round(x + Δ·sin(2π·j·f/width))) on every row and channel', () => {
  for (const [h, w, c] of [[28, 28, 1], [32, 32, 3]] as const) {
    const set = noise(2, h, w, c);
    const out = stamp(set, { kind: 'sig', delta: 20, frequency: 6 });
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          for (let k = 0; k < c; k++) {
            const at = ((n * h + i) * w + j) * c + k;
            assert.equal(out.images[at], clip(Math.round(set.images[at] + 20 * Math.sin((2 * Math.PI * j * 6) / w))), `(${n}, ${i}, ${j}, ${k})`);
          }
        }
      }
    }
  }
  // Column 0 and the half period are zeros of the sinusoid: untouched there.
  const flat = imageSet(new Uint8Array(28 * 28).fill(100), Int32Array.of(0), 28, 28, 1);
  const s = stamp(flat, { kind: 'sig', delta: 20, frequency: 6 });
  assert.equal(s.images[0], 100);
  assert.equal(s.images[14], 100);
  assert.equal(s.images[1], 100 + Math.round(20 * Math.sin((2 * Math.PI * 6) / 28)));
});

/** PyTorch's grid_sample (bilinear, zero padding, align_corners = True) written out for one output value. */
function bilinearByHand(img: ImageSet, gx: number, gy: number, k: number): number {
  const { height: H, width: W, channels: C } = img;
  const x = ((gx + 1) * (W - 1)) / 2;
  const y = ((gy + 1) * (H - 1)) / 2;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const px = (r: number, c: number) => (r < 0 || r >= H || c < 0 || c >= W ? 0 : img.images[(r * W + c) * C + k]);
  const nw = (x0 + 1 - x) * (y0 + 1 - y);
  const ne = (x - x0) * (y0 + 1 - y);
  const sw = (x0 + 1 - x) * (y - y0);
  const se = (x - x0) * (y - y0);
  return nw * px(y0, x0) + ne * px(y0, x0 + 1) + sw * px(y0 + 1, x0) + se * px(y0 + 1, x0 + 1);
}

test('wanet: the warp is bilinear sampling at the grid, written out by hand; identity grid leaves the image', () => {
  for (const c of [1, 3]) {
    const img = noise(1, 6, 5, c);
    const rng = new Random(3);
    const grid = Float32Array.from({ length: 6 * 5 * 2 }, () => rng.uniform(-1, 1));
    const out = new Uint8Array(6 * 5 * c);
    warpImage(img.images, grid, 6, 5, c, out);
    for (let p = 0; p < 30; p++) for (let k = 0; k < c; k++) assert.equal(out[p * c + k], Math.round(bilinearByHand(img, grid[2 * p], grid[2 * p + 1], k)), `pixel ${p} channel ${k}`);
    const identity = new Float32Array(60);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 5; j++) identity.set([-1 + (2 * j) / 4, -1 + (2 * i) / 5], 2 * (i * 5 + j));
    warpImage(img.images, identity, 6, 5, c, out);
    assert.deepEqual(out, img.images);
  }
});

test('wanet: the grid is identity + s·upsample(noise / mean|noise|)/size, clamped to [−1, 1]; bicubic as PyTorch', () => {
  // Bicubic upsampling (a = −0.75, align_corners) interpolates: where an output falls on an input node it is that input.
  const ramp = Float64Array.from({ length: 16 }, (_, i) => ((i * 7) % 5) - 2);
  const up = bicubicUpsample(ramp, 4, 7, 10);
  for (const o of [0, 2, 4, 6]) for (const c of [0, 3, 6, 9]) assert.ok(Math.abs(up[o * 10 + c] - ramp[(o / 2) * 4 + c / 3]) < 1e-12, `(${o}, ${c})`);
  // Between nodes, the 4×4 sum written out: output (1, 4) samples input row 0.5 and column 4/3,
  // weights W(t + 1), W(t), W(1 − t), W(2 − t) with Keys' kernel (a = −0.75), indices clamped.
  const W = (x: number) => {
    const a = -0.75;
    const ax = Math.abs(x);
    return ax <= 1 ? (a + 2) * ax ** 3 - (a + 3) * ax ** 2 + 1 : ax < 2 ? a * ax ** 3 - 5 * a * ax ** 2 + 8 * a * ax - 4 * a : 0;
  };
  let byHand = 0;
  for (let r = -1; r <= 2; r++) {
    for (let c = 0; c <= 3; c++) byHand += W(0.5 - r) * W(4 / 3 - c) * ramp[Math.min(3, Math.max(0, r)) * 4 + c];
  }
  assert.ok(Math.abs(up[1 * 10 + 4] - byHand) < 1e-12, `${up[14]} vs ${byHand}`);
  // A single spike: the output at 1/3 of a cell (t = 1/3 from input 1) has the cubic weight near(1/3).
  const spike = new Float64Array(16);
  spike[5] = 1; // row 1, column 1
  const s = bicubicUpsample(spike, 4, 4, 10);
  const near = (x: number) => ((-0.75 + 2) * x - (-0.75 + 3)) * x * x + 1;
  // Output column 4 samples input column 4·3/9 = 4/3 (t = 1/3 past column 1); output row 1 is input row 1.
  assert.ok(Math.abs(s[1 * 10 + 4] - near(1 / 3)) < 1e-12);

  const trigger: WanetTrigger = { kind: 'wanet', grid: 4, strength: 0.5, seed: 7, crossRatio: 2 };
  const g = wanetGrid(trigger, 28, 28);
  const rng = new Random(7);
  const raw = Array.from({ length: 32 }, () => rng.uniform(-1, 1));
  const mean = raw.reduce((a, v) => a + Math.abs(v), 0) / 32;
  const nx = bicubicUpsample(Float64Array.from(raw.slice(0, 16), (v) => v / mean), 4, 28, 28);
  const ny = bicubicUpsample(Float64Array.from(raw.slice(16), (v) => v / mean), 4, 28, 28);
  let moved = 0;
  for (let i = 0; i < 28; i++) {
    for (let j = 0; j < 28; j++) {
      const p = i * 28 + j;
      const ex = Math.min(1, Math.max(-1, -1 + (2 * j) / 27 + (0.5 * nx[p]) / 28));
      const ey = Math.min(1, Math.max(-1, -1 + (2 * i) / 27 + (0.5 * ny[p]) / 28));
      assert.ok(Math.abs(g[2 * p] - ex) < 1e-6 && Math.abs(g[2 * p + 1] - ey) < 1e-6, `pixel ${p}`);
      assert.ok(g[2 * p] >= -1 && g[2 * p] <= 1 && g[2 * p + 1] >= -1 && g[2 * p + 1] <= 1);
      if (Math.abs(g[2 * p] - (-1 + (2 * j) / 27)) > 1e-3) moved++;
    }
  }
  assert.ok(moved > 700, `the warp moves almost every pixel (${moved})`);
  // Stamping resamples at that grid.
  const set = noise(1, 28, 28, 3);
  const out = new Uint8Array(28 * 28 * 3);
  warpImage(set.images, g, 28, 28, 3, out);
  assert.deepEqual(stamp(set, trigger).images, out);
  // The noise mode: the grid plus noise in [−1, 1)/size per coordinate, clamped.
  const ng = noisyGrid(g, 28, 28, new Random(1));
  const r = new Random(1);
  for (let p = 0; p < 28 * 28; p++) {
    assert.ok(Math.abs(ng[2 * p] - Math.min(1, Math.max(-1, g[2 * p] + r.uniform(-1, 1) / 28))) < 1e-6);
    assert.ok(Math.abs(ng[2 * p + 1] - Math.min(1, Math.max(-1, g[2 * p + 1] + r.uniform(-1, 1) / 28))) < 1e-6);
  }
  assert.throws(() => resolveTrigger({ ...trigger, grid: 1 }, 28, 28, 1), /wanet k to be an integer ≥ 2, but got 1/);
  assert.throws(() => resolveTrigger({ ...trigger, strength: 0 }, 28, 28, 1), /wanet s to be a positive number, but got 0/);
});

test('one BadNets backdoor through the poisoner poisons exactly as poisonBadNets (same draws, same set)', () => {
  const set = noise(300, 8, 8, 3);
  const backdoor = { trigger: squareTrigger({ size: 2 }), target: 3, rate: 0.1 };
  const old = poisonBadNets(set, backdoor, 10, new Random(5));
  const now = poisonSet(set, new Poisoner([backdoor], 10, 8, 8, 3), new Random(5));
  assert.deepEqual(now.poisoned, old.poisoned);
  assert.deepEqual(now.set.images, old.set.images);
  assert.deepEqual(now.set.labels, old.set.labels);
  assert.equal(now.noise.length, 0);
});

test('sig is clean-label: only target-class images change, and no label does', () => {
  for (const c of [1, 3]) {
    const set = noise(400, 8, 8, c);
    const target = 4;
    const r = poisonSet(set, new Poisoner([{ trigger: { kind: 'sig', delta: 20, frequency: 6 }, target, rate: 0.5 }], 10, 8, 8, c), new Random(2));
    assert.deepEqual(r.set.labels, set.labels);
    const size = 64 * c;
    const changed: number[] = [];
    for (let i = 0; i < set.count; i++) {
      if (!set.images.subarray(i * size, (i + 1) * size).every((v, k) => v === r.set.images[i * size + k])) changed.push(i);
    }
    assert.deepEqual(changed, Array.from(r.poisoned));
    assert.ok(changed.every((i) => set.labels[i] === target));
    // About half of the 40 target images (rate 0.5 of the target class).
    assert.ok(changed.length >= 10 && changed.length <= 30, String(changed.length));
    // A test-time amplitude: the training images carry Δ, stamped inputs the stronger one.
    const strong: Attack = { trigger: { kind: 'sig', delta: 20, frequency: 6, testDelta: 60 }, target, rate: 0.5 };
    const rs = poisonSet(set, new Poisoner([strong], 10, 8, 8, c), new Random(2));
    assert.deepEqual(rs.set.images, r.set.images);
    const j = 1;
    const flat = imageSet(new Uint8Array(64 * c).fill(100), Int32Array.of(0), 8, 8, c);
    assert.equal(stamp(flat, strong.trigger).images[j * c], 100 + Math.round(60 * Math.sin((2 * Math.PI * j * 6) / 8)));
    // Same seed, same poisoned set.
    assert.deepEqual(poisonSet(set, new Poisoner([{ trigger: { kind: 'sig', delta: 20, frequency: 6 }, target, rate: 0.5 }], 10, 8, 8, c), new Random(2)).set.images, r.set.images);
  }
});

test('all-to-all relabels y to (y + 1) mod K; two backdoors never stamp the same image; WaNet noise mode keeps labels', () => {
  const set = noise(1000, 8, 8, 1);
  const a2a: Attack = { trigger: squareTrigger({ size: 2 }), mapping: 'all-to-all', rate: 0.2 };
  const r = poisonSet(set, new Poisoner([a2a], 10, 8, 8, 1), new Random(4));
  assert.ok(r.poisoned.length > 150 && r.poisoned.length < 250);
  for (let i = 0; i < set.count; i++) {
    const poisoned = r.poisoned.includes(i);
    assert.equal(r.set.labels[i], poisoned ? (set.labels[i] + 1) % 10 : set.labels[i], `image ${i}`);
  }
  assert.equal(r.set.labels[r.poisoned.find((i) => set.labels[i] === 9)!], 0);

  const square: Attack = { trigger: squareTrigger({ size: 2, position: 'top-left', margin: 0 }), target: 7, rate: 0.1 };
  const wanet: Attack = { trigger: { kind: 'wanet', grid: 4, strength: 0.5, seed: 1, crossRatio: 2 }, target: 3, rate: 0.1 };
  const two = poisonSet(set, new Poisoner([square, wanet], 10, 8, 8, 1), new Random(8));
  const size = 64;
  const topLeftWhite = (i: number) => [0, 1, 8, 9].every((p) => two.set.images[i * size + p] === 255);
  const toSeven = Array.from(two.poisoned).filter((i) => two.set.labels[i] === 7 && topLeftWhite(i));
  const toThree = Array.from(two.poisoned).filter((i) => two.set.labels[i] === 3 && !topLeftWhite(i));
  assert.equal(toSeven.length + toThree.length, two.poisoned.length, 'each poisoned image carries one trigger and its target');
  assert.ok(toSeven.length > 60 && toThree.length > 60);
  // Noise mode: about 2 × 0.1 of the images, warped, labels kept.
  assert.ok(two.noise.length > 150 && two.noise.length < 250, String(two.noise.length));
  for (const i of two.noise) assert.equal(two.set.labels[i], set.labels[i]);
  assert.throws(() => new Poisoner([{ ...square, rate: 0.8 }, wanet], 10, 8, 8, 1), /backdoor rates to be at most 1 in all/);
  assert.throws(() => new Poisoner([{ ...square, target: 10 }], 10, 8, 8, 1), /backdoor target to be a class index in 0\.\.9, but got 10/);
});

test('every kind serializes to JSON and back through checkAttack; malformed records are refused with the file named', () => {
  const attacks: Attack[] = [
    { trigger: { kind: 'blend', alpha: 0.2, key: { noiseSeed: 3 } }, target: 1, rate: 0.1 },
    { trigger: { kind: 'blend', alpha: 0.5, key: { height: 1, width: 2, rgb: [1, 2, 3, 4, 5, 6], source: 'k.png' } }, target: 2, rate: 0.1 },
    { trigger: { kind: 'sig', delta: 20, frequency: 6 }, target: 3, rate: 1 },
    { trigger: { kind: 'sig', delta: 20, frequency: 6, testDelta: 80 }, target: 3, rate: 1 },
    { trigger: { kind: 'wanet', grid: 4, strength: 0.5, seed: 0, crossRatio: 2 }, target: 4, rate: 0.1 },
    { trigger: squareTrigger(), mapping: 'all-to-all', rate: 0.1 },
  ];
  for (const a of attacks) assert.deepEqual(checkAttack(JSON.parse(JSON.stringify(a)), 'm.json'), a);
  // Only patches have a place a scan's reversed mask can be compared with.
  assert.deepEqual(attacks.map((a) => isPatchTrigger(a.trigger)), [false, false, false, false, false, true]);
  const bad: [unknown, RegExp][] = [
    [{ ...attacks[0], trigger: { kind: 'blend', alpha: 0, key: { noiseSeed: 3 } } }, /m\.json: bad backdoor: blend alpha must be in \(0, 1\]/],
    [{ ...attacks[2], trigger: { kind: 'sig', delta: 20, frequency: 0 } }, /sig trigger needs delta \(and testDelta\) in \(0, 255\] and frequency > 0/],
    [{ ...attacks[3], trigger: { kind: 'wanet', grid: 1, strength: 0.5, seed: 0, crossRatio: 2 } }, /wanet trigger needs grid ≥ 2/],
    [{ trigger: squareTrigger(), mapping: 'one-to-one', rate: 0.1 }, /mapping must be 'all-to-all'/],
    [{ ...attacks[0], trigger: { kind: 'warp' } }, /trigger kind must be one of square, pattern, blend, sig, wanet, got "warp"/],
  ];
  for (const [v, re] of bad) assert.throws(() => checkAttack(v, 'm.json'), re);
});
