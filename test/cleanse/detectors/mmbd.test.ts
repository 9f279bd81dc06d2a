/**
 * MM-BD: the gamma functions against closed forms, the fit on a large seeded sample, the margin
 * gradient of both engines against finite differences, and the detector on models with and without
 * a planted margin.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { digamma, fitGamma, lnGamma, logMaxPValue, logUpperGamma, trigamma } from '../../../src/cleanse/detectors/gamma.js';
import { graphDetectorModel, tfjsDetectorModel, type DetectorModel } from '../../../src/cleanse/detectors/model.js';
import { mmbdTest, runMmbd } from '../../../src/cleanse/detectors/mmbd.js';
import { layersToGraph } from '../../../src/nn/layers-graph.js';
import { DEFAULT_PREPROCESSING, type Preprocessing } from '../../../src/nn/preprocess.js';
import { Random } from '../../../src/random.js';
import { initBoth } from '../../nn/compare.js';

before(async () => {
  await initBoth();
  await tf.setBackend('cpu');
});

test('gamma functions: closed forms', () => {
  assert.ok(Math.abs(lnGamma(5) - Math.log(24)) < 1e-12);
  assert.ok(Math.abs(lnGamma(0.5) - 0.5 * Math.log(Math.PI)) < 1e-12);
  assert.ok(Math.abs(digamma(1) + 0.5772156649015329) < 1e-12);
  assert.ok(Math.abs(trigamma(1) - Math.PI ** 2 / 6) < 1e-10);
  // Q(1, x) = e^−x; Q(2, x) = (1 + x)·e^−x, on both sides of x = a + 1 (series and continued fraction).
  for (const x of [0.3, 1.5, 4, 40, 800]) {
    assert.ok(Math.abs(logUpperGamma(1, x) + x) < 1e-9 * Math.max(1, x), `Q(1, ${x})`);
    assert.ok(Math.abs(logUpperGamma(2, x) - (Math.log1p(x) - x)) < 1e-9 * Math.max(1, x), `Q(2, ${x})`);
  }
});

test('gamma fit recovers shape, location and scale from a large sample', () => {
  // Gamma(k = 3, θ = 2) + 5 as sums of three exponentials.
  const rng = new Random(11);
  const xs = Array.from({ length: 20000 }, () => 5 + 2 * (-Math.log(1 - rng.next()) - Math.log(1 - rng.next()) - Math.log(1 - rng.next())));
  const fit = fitGamma(xs);
  assert.ok(Math.abs(fit.shape - 3) < 0.35, `shape ${fit.shape}`);
  assert.ok(Math.abs(fit.scale - 2) < 0.25, `scale ${fit.scale}`);
  assert.ok(Math.abs(fit.loc - 5) < 0.4, `loc ${fit.loc}`);
});

test('the largest-of-n p-value: 1 − F(x)^n', () => {
  const fit = { shape: 1, loc: 0, scale: 1, logLikelihood: 0 };
  // Exponential(1): F(2) = 1 − e^−2; max of 10 exceeds 2 with 1 − (1 − e^−2)^10.
  assert.ok(Math.abs(Math.exp(logMaxPValue(fit, 2, 10)) - (1 - (1 - Math.exp(-2)) ** 10)) < 1e-12);
  // Far in the tail the log stays exact: ln(10) − 100.
  assert.ok(Math.abs(logMaxPValue(fit, 100, 10) - (Math.log(10) - 100)) < 1e-9);
});

test('mmbdTest: an outlying class is flagged with a small p-value, a homogeneous set is not', () => {
  const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const clean = [10.2, 11.5, 9.8, 12.1, 10.9, 11.0, 9.5, 12.6, 10.4, 11.8];
  const a = mmbdTest(labels, clean);
  assert.deepEqual(a.flagged, []);
  assert.ok(a.details.pValue > 0.05, `p ${a.details.pValue}`);
  const infected = [...clean];
  infected[7] = 60;
  const b = mmbdTest(labels, infected);
  assert.deepEqual(b.flagged, [7]);
  assert.ok(b.details.pValue < 1e-4, `p ${b.details.pValue}`);
  assert.ok(b.score > a.score);
});

function net(seed: number, softmax = false): tfl.LayersModel {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  const m = tfl.sequential();
  // ReLU, not tanh: onnxruntime's tanh is an approximation whose error (≈1e-5) swamps a finite difference.
  m.add(tfl.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'relu', kernelInitializer: init(seed) }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 5, activation: 'relu', kernelInitializer: init(seed + 1) }));
  m.add(tfl.layers.dense({ units: 4, kernelInitializer: init(seed + 2), ...(softmax ? { activation: 'softmax' } : {}) }));
  return m;
}

const g2 = (m: tfl.LayersModel) => graphDetectorModel(layersToGraph(m).graph, NORMALIZE);

const NORMALIZE: Preprocessing = { kind: 'normalize', mean: [0.4, 0.6], std: [0.2, 0.3] };

async function checkGradient(model: DetectorModel): Promise<void> {
  const rng = new Random(3);
  const n = 2;
  const d = 6 * 6 * 2;
  const raw = Float32Array.from({ length: n * d }, () => 40 + 170 * rng.next());
  const coef = Float32Array.from({ length: n * 4 }, () => rng.uniform(-1, 1));
  const { dRaw } = await model.logitGradient(raw, n, coef);
  const f = async (x: Float32Array): Promise<number> => {
    const z = await model.logits(x, n);
    let s = 0;
    for (let i = 0; i < z.length; i++) s += coef[i] * z[i];
    return s;
  };
  const h = 0.5;
  for (const i of [0, 7, 40, 71, 72 + 13, 143]) {
    const up = raw.slice();
    const down = raw.slice();
    up[i] += h;
    down[i] -= h;
    const fd = ((await f(up)) - (await f(down))) / (2 * h);
    assert.ok(Math.abs(fd - dRaw[i]) <= 2e-3 * Math.max(1e-3, Math.abs(fd)) + 2e-5, `${model.engine} coordinate ${i}: finite difference ${fd}, gradient ${dRaw[i]}`);
  }
}

test('logit gradient in the raw domain against finite differences: graph engine and TF.js, logits and softmax outputs', async () => {
  for (const softmax of [false, true]) {
    const m = net(4, softmax);
    const g = await graphDetectorModel(layersToGraph(m).graph, NORMALIZE);
    await checkGradient(g);
    await g.dispose();
    const t = await tfjsDetectorModel(net(4, softmax), NORMALIZE);
    await checkGradient(t);
    // The two engines agree on the gradient.
    const rng = new Random(8);
    const x0 = Float32Array.from({ length: 144 }, () => 255 * rng.next());
    // Each row's coefficients sum to 0 (as a margin's): log probabilities and logits then have the same gradient.
    const c0 = Float32Array.from({ length: 8 }, () => rng.uniform(-1, 1));
    for (let r = 0; r < 2; r++) {
      const mean = (c0[4 * r] + c0[4 * r + 1] + c0[4 * r + 2] + c0[4 * r + 3]) / 4;
      for (let k = 0; k < 4; k++) c0[4 * r + k] -= mean;
    }
    const [ga, gb] = [(await g2(m).then((e) => e.logitGradient(x0, 2, c0))).dRaw, (await t.logitGradient(x0, 2, c0)).dRaw];
    for (let i = 0; i < ga.length; i++) assert.ok(Math.abs(ga[i] - gb[i]) <= 1e-4 * Math.max(...gb.map(Math.abs)), `gradient ${i}: ${ga[i]} vs ${gb[i]}`);
    // The two engines agree on the logits, up to a constant per row (a softmax model's TF.js logits are log probabilities).
    const x = Float32Array.from({ length: 72 }, (_, i) => (i * 37) % 256);
    const [a, b] = [await (await graphDetectorModel(layersToGraph(m).graph, NORMALIZE)).logits(x, 1), await t.logits(x, 1)];
    for (let k = 1; k < 4; k++) assert.ok(Math.abs(a[k] - a[0] - (b[k] - b[0])) < 1e-4, `logit ${k}: ${a[k]} vs ${b[k]}`);
    await t.dispose();
  }
});

/**
 * A linear "model" on [0, 1]^d: logits_k = Σ w_k·u. Class k's maximum margin over the domain is
 * reached at a corner; class `planted`'s weights are 8 times larger, so its margin is far beyond the others'.
 */
function linearModel(K: number, d: number, planted: number | null, seed: number): DetectorModel {
  const rng = new Random(seed);
  const w = Float32Array.from({ length: K * d }, () => rng.uniform(-1, 1));
  if (planted !== null) for (let i = 0; i < d; i++) w[planted * d + i] *= 8;
  const logits = (raw: Float32Array, n: number): Float32Array => {
    const z = new Float32Array(n * K);
    for (let r = 0; r < n; r++) for (let k = 0; k < K; k++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += (w[k * d + i] * raw[r * d + i]) / 255;
      z[r * K + k] = s;
    }
    return z;
  };
  return {
    inputShape: [1, d, 1],
    numClasses: K,
    engine: 'tfjs',
    logits: async (raw, n) => logits(raw, n),
    async logitGradient(raw, n, coef) {
      const dRaw = new Float32Array(n * d);
      for (let r = 0; r < n; r++) for (let k = 0; k < K; k++) for (let i = 0; i < d; i++) dRaw[r * d + i] += (coef[r * K + k] * w[k * d + i]) / 255;
      return { logits: logits(raw, n), dRaw };
    },
    features: async () => ({ units: 0, values: new Float32Array() }),
    dispose: async () => {},
  };
}

test('MM-BD flags the class with a planted margin, with a small p-value; the same model without it is not flagged', async () => {
  const recipe = { starts: 4, steps: 200, learningRate: 0.05, seed: 2 };
  const infected = await runMmbd(linearModel(10, 30, 6, 9), recipe);
  assert.deepEqual(infected.flagged, [6]);
  assert.equal(infected.backdoored, true);
  const p = (infected.details as { pValue: number }).pValue;
  assert.ok(p < 1e-3, `p ${p}`);
  const margin6 = infected.perLabel[6];
  assert.ok(infected.perLabel.every((m, i) => i === 6 || m < margin6 / 3), `margins ${infected.perLabel.map((m) => m.toFixed(1)).join(' ')}`);
  const clean = await runMmbd(linearModel(10, 30, null, 9), recipe);
  assert.deepEqual(clean.flagged, []);
  assert.ok(clean.score < infected.score);
  // Seeded: the same seed gives the same statistics.
  const again = await runMmbd(linearModel(10, 30, 6, 9), recipe);
  assert.deepEqual(again.perLabel, infected.perLabel);
});
