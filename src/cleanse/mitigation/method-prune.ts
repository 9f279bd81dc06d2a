/**
 * The pruning mitigation's run (Neural Cleanse §VI-B; prune.ts): neurons zeroed in the order of the
 * ranking under every reversed trigger until none of them works on the defender's images any more
 * (or the maximum share), the accuracy/ASR curve on the test split, optional clean fine-tuning with
 * the pruned neurons held at zero, and the pruned model written.
 */
import { subset, type ImageSet } from '../../data/images.js';
import type { ModelEngineDecision } from '../../nn/onnx-gradient.js';
import type { MethodResult, ProbedContext } from './method-context.js';
import { curveCounts, pruningCurve, searchPruning } from './prune.js';
import type { MitigationRecipe } from './recipe.js';
import { stampReversed } from './reversed-trigger.js';

/** Runs the pruning mitigation (see the module comment). */
export async function runPrune(ctx: ProbedContext<Extract<MitigationRecipe, { method: 'prune' }>>): Promise<MethodResult> {
  const { recipe, probe: P, layer: L, sets, net, progress, notes, asrShown } = ctx;
  const { asrThreshold, maxShare, curveStep, fineTuneEpochs, seed } = recipe;
  const rankOrder = ctx.ranking.order;
  // Per reversed trigger: the defender's images of other labels, unstamped and stamped with it.
  const unstamped = ctx.reversed.map((t) => otherLabels(ctx.rankSet, t.label));
  const stamped = unstamped.map((u, j) => ({ ...u, images: stampReversed(u.images, ctx.reversed[j]) }));
  const searchTotal = (asrThreshold === 'baseline' ? 2 : 1) * stamped.reduce((a, s) => a + s.count, 0);
  let cached = 0;
  const cache = async (s: ImageSet, target: number) => {
    const c = { cached: await P.cache(s.images, (n) => progress({ phase: 'features', done: cached + n, total: searchTotal })), expected: target };
    cached += s.count;
    return c;
  };
  const defense = [];
  const baselineSets = [];
  // In the order a single trigger always had them: stamped, then unstamped.
  for (let j = 0; j < stamped.length; j++) defense.push(await cache(stamped[j], ctx.labels[j]));
  if (asrThreshold === 'baseline') for (let j = 0; j < unstamped.length; j++) baselineSets.push(await cache(unstamped[j], ctx.labels[j]));
  const search = await searchPruning(P, rankOrder, defense, asrThreshold, maxShare, (k, max) => progress({ phase: 'prune-search', done: k, total: max }), asrThreshold === 'baseline' ? baselineSets : undefined);
  const counts = curveCounts(L.units, curveStep, maxShare, search.pruned);
  const points = await pruningCurve(
    P,
    rankOrder,
    {
      clean: { images: sets.clean.images, expected: sets.clean.labels },
      real: sets.real ? { images: sets.real.images, expected: sets.realTarget! } : null,
      others: sets.others.map((o) => ({ images: o.set.images, expected: o.expected })),
      reversed: sets.reversed.map((r, j) => ({ images: r.images, expected: sets.reversedTargets[j] })),
    },
    counts,
    (n) => progress({ phase: 'prune-curve', done: n, total: ctx.evalTotal }),
  );
  const neurons = rankOrder.slice(0, search.pruned);
  net.prune(L, neurons);
  if (!search.reachedThreshold) {
    const still = search.byTrigger.length > 1 ? search.byTrigger.map((b) => `label ${b.target}: ${(100 * b.asr).toFixed(1)}%${b.baseline !== null ? ` against ${(100 * b.baseline).toFixed(1)}% unstamped` : ''}`).join('; ') : null;
    notes.push(
      (still
        ? `A reversed trigger still worked (ASR on the defender's images, ${still})`
        : `The reversed trigger still worked (ASR ${(100 * search.asr).toFixed(1)}% on the defender's images` + (search.baseline !== null ? ` against ${(100 * search.baseline).toFixed(1)}% of them unstamped` : '') + ')') +
        ` at the maximum share ${(100 * maxShare).toFixed(0)}%: the model is pruned that far, the goal is missed.`,
    );
  }
  let trainingEngine: ModelEngineDecision | undefined;
  if (recipe.fineTune) {
    const { share, learningRate, batchSize } = recipe.fineTune;
    const ft = subset(ctx.train, ctx.rng.sampleWithoutReplacement(ctx.train.count, Math.max(1, Math.round(share * ctx.train.count))));
    trainingEngine = await net.fineTune(ft, {
      ...(ctx.engine !== undefined ? { engine: ctx.engine } : {}),
      epochs: fineTuneEpochs,
      learningRate,
      batchSize,
      seed,
      onProgress: (p) => progress({ phase: 'fine-tune', done: (p.epoch - 1) * p.batches + p.batch, total: p.epochs * p.batches }),
    });
  }
  const finished = await net.finish(sets, (dn) => progress({ phase: 'evaluate-after', done: dn, total: ctx.evalTotal }));
  const prior = net.records.pruned;
  const keptNeurons = prior && prior.layer === L.name ? [...new Set([...prior.neurons, ...neurons])] : neurons;
  const result: MethodResult = {
    after: finished.after,
    pruning: {
      layer: L.name,
      points: points.map((p) => ({ ...p, accuracy: p.cleanAccuracy, asr: (asrShown === 'real' ? p.asrReal : p.asrReversed) ?? 0 })),
      stopShare: search.share,
      pruned: neurons,
      asrThreshold,
      maxShare,
      reachedThreshold: search.reachedThreshold,
      searchAsr: search.asr,
      searchBaseline: search.baseline,
      searchByLabel: search.byTrigger.map((b) => ({ label: b.target, asr: b.asr, baseline: b.baseline })),
      fineTuneEpochs,
    },
    ...(trainingEngine ? { trainingEngine } : {}),
  };
  if (!ctx.out) return result;
  const written = await finished.save(ctx.out, {
    method: 'prune',
    label: ctx.labels[0],
    labels: ctx.labels,
    scan: ctx.scanDir,
    source: { dir: net.path, sha256: ctx.sha },
    pruned: { layer: L.name, neurons: keptNeurons },
    details: { pruned: neurons.length, share: search.share, asrThreshold, maxShare, reachedThreshold: search.reachedThreshold, fineTuneEpochs, ...(trainingEngine ? { engine: trainingEngine.engine } : {}) },
    previous: net.records.previous,
    date: new Date().toISOString(),
  });
  return { ...result, output: { model: written } };
}

/** The images of `set` whose label is not `label`. */
function otherLabels(set: ImageSet, label: number): ImageSet {
  const idx: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.labels[i] !== label) idx.push(i);
  return subset(set, idx);
}
