/** `poisonguard certify`: the certified upper bound and attacks over an ε grid. */
import { OptionError, UnknownNameError } from '../errors.js';
import { ALGORITHM1_MODES } from '../certify/algorithm1.js';
import { ALGORITHM_STARTS, BOUND_CANDIDATES, DATA_DEPENDENT_BOUND, DEFAULT_BOUND, DEFAULT_DEFENSE, DEFAULT_MODE, DEFAULT_START, DEFENSE_KINDS } from '../certify/certify.js';
import { DATA_DEPENDENT_PERCENTILE } from '../certify/data-dependent.js';
import { ATTACK_NAMES, DEFAULT_ATTACKS } from '../certify/eps-task.js';
import { CERTIFY_RECIPES, DEFAULT_RECIPE, POINT_KINDS } from '../certify/recipes.js';
import { AGGREGATION_LEARNERS, DEFAULT_BUDGETS, DEFAULT_FA_SPREAD, DPA_BATCH_SIZE, DPA_EPOCHS, DPA_LR_DROPS, DPA_LR_FACTOR, DPA_SGD, NET_RECIPE_CROP, NET_RECIPE_LEARNING_RATES, PARTITION_HASHES } from '../certify/aggregation/recipe.js';
import { DEFAULT_ONNX_INPUT_LAYOUT } from '../graph/layout.js';
import { checkOneOf } from '../options.js';
import { DEFAULT_SEED } from '../random.js';
import type { Command } from './command.js';
import { intOption, numberListOption, numberOption, seedOption } from './command.js';
import { progressBar } from './progress.js';

// Defaults and choices come from the library (certify.ts, eps-task.ts, recipes.ts): the help cannot drift from what runs.
const options = {
  method: {
    type: 'string',
    value: 'M',
    default: 'bound',
    help: "bound: Steinhardt et al.'s U* for the SVM behind sphere + slab sanitization; dpa: Deep Partition Aggregation (Levine & Feizi 2021); fa: Finite Aggregation (Wang et al. 2022): a certified radius for every test prediction, for any learner.",
  },
  partitions: { type: 'string', value: 'K', help: 'dpa/fa: the number k of partitions (at least 2, at most the training set; DPA on MNIST: 1200).' },
  spread: { type: 'string', value: 'D', help: `fa: the spread d, each sample in d of the k·d subsets (default ${DEFAULT_FA_SPREAD}).` },
  learner: {
    type: 'string',
    value: 'L|PATH',
    help: `dpa/fa: the base learner, ${AGGREGATION_LEARNERS.join(', ')} (default: svm on a feature dataset, the dataset's own net on mnist and gtsrb), or an ONNX image classifier (FILE.onnx, or a folder holding model.onnx): its architecture, every weight re-initialised from each classifier's seed by PyTorch's default rule, trained like the built-in nets.`,
  },
  'input-layout': { type: 'string', value: 'nchw|nhwc', help: `dpa/fa with an ONNX learner: its input's layout when its sidecar does not say it (default ${DEFAULT_ONNX_INPUT_LAYOUT}, what torch.onnx.export writes).` },
  preprocess: {
    type: 'string',
    value: 'SPEC',
    help: "dpa/fa with an ONNX learner: from raw pixels to its input when its sidecar does not say it (default unit, x/255): unit, raw, mnist, inception, none, or normalize:mean=a,b,c;std=d,e,f.",
  },
  budgets: { type: 'string', value: 'LIST', help: `dpa/fa: numbers of poison points at which to print certified accuracy (default ${DEFAULT_BUDGETS.join(',')}).` },
  hash: { type: 'string', value: 'H', help: `dpa/fa: the content hash of the partitioning, ${PARTITION_HASHES.join(' or ')} (default: the pixel sum on pixels, as the releases; sha256 otherwise).` },
  epochs: { type: 'string', value: 'N', help: `dpa/fa with a net: epochs per base net (default ${DPA_EPOCHS}, DPA's).` },
  'batch-size': { type: 'string', value: 'B', help: `dpa/fa with a net: minibatch size of the base nets' training (default ${DPA_BATCH_SIZE}, DPA's); a partition smaller than B is one batch.` },
  'net-recipe': {
    type: 'string',
    value: 'R',
    help: `dpa/fa with a net: how each base net trains — dpa (DPA's release, the default with an ONNX learner: SGD with Nesterov momentum ${DPA_SGD.momentum} and weight decay ${DPA_SGD.weightDecay}, lr ${NET_RECIPE_LEARNING_RATES.dpa} ×${DPA_LR_FACTOR} after epochs ${DPA_LR_DROPS.join('/')} of ${DPA_EPOCHS} (in proportion with fewer), random crop with padding ${NET_RECIPE_CROP.dpa}, each partition normalised by its own mean and std; an ONNX learner keeps its preprocessing) or adam (the default with the mnist and gtsrb nets, which have no BatchNorm and diverge at lr ${NET_RECIPE_LEARNING_RATES.dpa}: Adam ${NET_RECIPE_LEARNING_RATES.adam}, x/255, random crop with padding ${NET_RECIPE_CROP.adam}).`,
  },
  crop: { type: 'string', value: 'P', help: `dpa/fa with a net: random-crop augmentation, each training image shifted by up to P pixels with zeros filled in (torchvision's RandomCrop(padding=P)); 0: none (default: the recipe's, ${NET_RECIPE_CROP.dpa} for dpa, ${NET_RECIPE_CROP.adam} for adam).` },
  dataset: { type: 'string', value: 'NAME', default: 'mnist17', help: 'Dataset (mnist17, or see --help of the registry).' },
  'data-dir': { type: 'string', value: 'DIR', help: "The dataset's folder or file (default: embedded MNIST / ../shared/data)." },
  defense: {
    type: 'string',
    value: 'KIND',
    default: DEFAULT_DEFENSE,
    help: `Sanitization defense: oracle (centroids of the clean data: U* is a certificate) or data-dependent (centroids of clean + poison, ${DATA_DEPENDENT_PERCENTILE}th percentile: a heuristic estimate).`,
  },
  eps: { type: 'string', value: 'LIST', help: "Comma-separated ε values in [0, 1) (default: the paper's grid)." },
  mode: { type: 'string', value: 'MODE', default: DEFAULT_MODE, help: `${ALGORITHM1_MODES.join(' or ')}; release: fixed T, sample round(εn) iterates; paper: T = εn, every iterate.` },
  iters: { type: 'string', value: 'T', help: `Iterations of Algorithm 1 in release mode (default: the recipe's, ${CERTIFY_RECIPES.mnist17.iterations} on MNIST-1-7).` },
  attack: {
    type: 'string',
    value: 'LIST',
    default: DEFAULT_ATTACKS.join(','),
    help: "Attacks to evaluate: candidate, label-flip, gradient, candidate-unfiltered (the candidate with its points outside F kept: the release's IMDB evaluation); none: the bounds alone.",
  },
  percentile: { type: 'string', value: 'P', help: `Percentile of the sphere and slab radii (default ${DEFAULT_RECIPE.percentile}; ${DATA_DEPENDENT_PERCENTILE} with the data-dependent defense).` },
  start: {
    type: 'string',
    value: 'THETA',
    default: DEFAULT_START,
    help: "Algorithm 1's first iterate: zero (the paper's and the release's) or clean (the clean defender's SVM scaled into Θ: U* is then at most its bound from the start; still a certificate).",
  },
  bound: {
    type: 'string',
    value: 'SET',
    help: `The θs U* is the minimum over: iterates+clean (Algorithm 1's iterates and the clean defender's SVM scaled into Θ: one more valid bound, so still a certificate) or iterates (the paper's). Default ${DEFAULT_BOUND}; ${DATA_DEPENDENT_BOUND} with the data-dependent defense.`,
  },
  points: {
    type: 'string',
    value: 'KIND',
    help: "Candidate attack points: continuous (closed-form best responses), rounded (a run on a shrunken set, clipped and randomly rounded: the release's IMDB recipe) or integer (integer best responses inside F: the release's Enron recipe). Default: the dataset recipe's.",
  },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'Random seed.' },
  workers: { type: 'string', value: 'K', help: 'Worker threads (default: number of cores; 0 = inline). Absent with --queue.' },
  queue: {
    type: 'string',
    value: 'redis://HOST:PORT[/DB]',
    help: "dpa/fa with a net: train each base classifier as a job on this Redis, taken by 'poisonguard worker' processes on any machine (the training data travel once; no shared files). Not with --learner svm: an SVM fit takes milliseconds, no more than a job's round trip.",
  },
  'queue-name': { type: 'string', value: 'NAME', help: 'dpa/fa: the BullMQ queue (default poisonguard-zoo, the one workers take by default); one coordinator per name.' },
  json: { type: 'boolean', help: 'Print the full result (certify.json) to stdout instead of the table; --out DIR writes it to a file.' },
  out: { type: 'string', value: 'DIR', help: "Write a run folder (certify.json, projection.json) for 'poisonguard report DIR'." },
  force: { type: 'boolean', help: 'Replace the certify files of an existing --out run.' },
} as const;

/** 'bound' is the certified-defense bound U*; the aggregation certificates are in certify/aggregation/. */
const CERTIFY_METHODS = ['bound', 'dpa', 'fa'] as const;
const AGGREGATION_ONLY_OPTIONS = ['partitions', 'spread', 'learner', 'input-layout', 'preprocess', 'budgets', 'hash', 'epochs', 'batch-size', 'net-recipe', 'crop', 'queue', 'queue-name'] as const;

export const certifyCommand: Command<typeof options> = {
  name: 'certify',
  summary: 'Certified upper bound on poisoning loss (Steinhardt et al. 2017) with candidate and label-flip attacks; --method dpa|fa: per-prediction certificates by partition aggregation.',
  description: `
For each ε, Algorithm 1 computes U*, an upper bound on the training hinge loss (units of n) that any
attacker adding εn points inside the sphere + slab feasible set can force, and a candidate attack;
the defender's norm-matched SVM is retrained on clean + poison data to measure each attack.

Example: poisonguard certify --dataset mnist17 --eps 0,0.01,0.05,0.3 --out runs/mnist17
         poisonguard report runs/mnist17

--method dpa|fa trains one base classifier per content-hash partition (--partitions k; FA: k·d
overlapping subsets, --spread d) and certifies every test prediction: the number of training
samples an attacker may insert or delete without changing it. --out DIR saves each finished
classifier there, and the same command resumes an interrupted run. With --queue, the base nets
are jobs on Redis taken by 'poisonguard worker --queue URL' on any machine; this process saves
each one into --out as it arrives (a queued run and a local one resume each other) and votes.
         poisonguard certify --method dpa --partitions 50 --dataset mnist17 --learner svm
         poisonguard certify --method dpa --partitions 1200 --dataset mnist --out runs/dpa-mnist
         poisonguard certify --method dpa --partitions 1200 --dataset mnist --out runs/dpa-mnist --queue redis://10.0.0.5:6379
--learner FILE.onnx takes the architecture of a user's classifier (exported from PyTorch, say):
each base classifier re-initialises its weights from its own seed (PyTorch's default rule; no
weight of the file is used) and trains from scratch; the recipe records the file's SHA-256.
         poisonguard certify --method dpa --partitions 50 --dataset mnist --learner resnet_mini.onnx --epochs 15`,
  options,
  async run(v, _pos, ctx) {
    const method = checkOneOf('--method', v.method, CERTIFY_METHODS);
    if (method !== 'bound') return (await import('./certify-aggregation.js')).runAggregationCertify({ ...v, method }, ctx);
    for (const o of AGGREGATION_ONLY_OPTIONS) if (v[o] !== undefined) throw new OptionError(`--${o}`, 'absent with --method bound (it sets DPA or FA)', v[o]);
    const { loadBinaryDataset, binaryDatasetNames } = await import('../data/registry.js');
    const { certify } = await import('../certify/certify.js');
    const { formatCertifyTable } = await import('../certify/format.js');
    const seed = seedOption('seed', v.seed)!;
    if (!binaryDatasetNames().includes(v.dataset)) throw new UnknownNameError('dataset', v.dataset, binaryDatasetNames());
    // 'none': the bounds alone (no attack runs, no SVM retraining).
    const attacks = v.attack.trim() === 'none' ? [] : v.attack.split(',').map((a) => a.trim());
    if (attacks.includes('none')) throw new OptionError('--attack', "either 'none' (the bounds alone) or a list of attacks; none cannot be combined with attacks", v.attack);
    for (const a of attacks) if (!(ATTACK_NAMES as readonly string[]).includes(a)) throw new UnknownNameError('attack', a, ATTACK_NAMES);
    if (v.points !== undefined && !(POINT_KINDS as readonly string[]).includes(v.points)) throw new UnknownNameError('point kind', v.points, POINT_KINDS);
    const pointKind = v.points === undefined ? undefined : checkOneOf('--points', v.points, POINT_KINDS);
    const eps = numberListOption('eps', v.eps);
    // The run folder is claimed before the work: a folder that cannot be used costs nothing, and an existing run is not replaced without --force.
    const { claimOutputDir } = await import('../outputs.js');
    const { CERTIFY_RUN_FILES } = await import('../report/run-folder.js');
    const outDir = v.out === undefined ? undefined : claimOutputDir(v.out, { option: '--out', existing: 'shared', own: CERTIFY_RUN_FILES, force: v.force });
    const data = await loadBinaryDataset(v.dataset, v['data-dir'], seed);
    ctx.err(`${data.name}: ${data.train.X.rows} train / ${data.test.X.rows} test, d = ${data.train.X.cols}; +1 = ${data.positive}, -1 = ${data.negative}; source: ${data.source}`);
    const bars = new Map<number, number>();
    let bar: ReturnType<typeof progressBar> | undefined;
    let lastLog = 0;
    const report = await certify(data, {
      eps,
      mode: checkOneOf('--mode', v.mode, ALGORITHM1_MODES),
      iterations: intOption('iters', v.iters),
      percentile: numberOption('percentile', v.percentile),
      defense: checkOneOf('--defense', v.defense, DEFENSE_KINDS),
      ...(pointKind !== undefined ? { pointKind } : {}),
      start: checkOneOf('--start', v.start, ALGORITHM_STARTS),
      ...(v.bound !== undefined ? { bound: checkOneOf('--bound', v.bound, BOUND_CANDIDATES) } : {}),
      attacks: attacks.map((a) => checkOneOf('--attack', a, ATTACK_NAMES)),
      seed,
      workers: intOption('workers', v.workers),
      onProgress: (p) => {
        bars.set(p.eps, p.phase === 'algorithm1' ? (0.5 * p.iteration) / Math.max(p.total, 1) : p.phase === 'attack-run' ? 0.5 + (0.4 * p.iteration) / Math.max(p.total, 1) : 0.95);
        const nEps = (eps ?? []).length || 9;
        let done = 0;
        for (const f of bars.values()) done += f;
        if (!bar) bar = progressBar('certify', 1000, ctx.interactive, ' | ε={eps} {phase} U*={u}');
        bar.update(Math.round((1000 * done) / nEps), { eps: p.eps, phase: p.phase, u: Number.isFinite(p.upperBound) ? p.upperBound.toFixed(4) : '-' });
        const now = Date.now();
        if (!ctx.interactive && !ctx.quiet && p.phase !== 'algorithm1' && p.phase !== 'attack-run' && now - lastLog > 0) {
          lastLog = now;
          ctx.err(`  ε=${p.eps}: Algorithm 1 done${Number.isFinite(p.upperBound) ? ` (U* = ${p.upperBound.toFixed(4)})` : ''}, evaluating ${p.phase}`);
        }
      },
    });
    bar?.stop();
    if (v.json) {
      const { certifyReportJson } = await import('../certify/certify.js');
      ctx.out(JSON.stringify(certifyReportJson(report), null, 2));
    } else {
      ctx.out(formatCertifyTable(report));
    }
    if (outDir) {
      const { writeCertifyRun } = await import('../report/run-folder.js');
      const files = writeCertifyRun(outDir, data, report);
      ctx.err(`wrote ${files.report} and ${files.projection}; make the page with: poisonguard report ${v.out}`);
    }
    // Rounded text points and the data-dependent attack may leave F: those are dropped and counted.
    const pointsMayLeave = report.recipe.pointKind === 'rounded' || report.boundKind === 'heuristic';
    const ok = report.checks.attackBelowBound && (report.checks.candidatesInF || pointsMayLeave);
    if (!ok) ctx.err('warning: an invariant failed (see "checks" above); the bound or the SVM did not converge as expected.');
    return 0;
  },
};
