/**
 * The unlearning mitigation's run (Neural Cleanse §VI-C; unlearn.ts): fine-tuning on a share of the
 * training data of which a share carries a reversed trigger under its true label (several labels:
 * that share split across their triggers), neurons an earlier pruning silenced held at zero, and the
 * model written.
 */
import type { MethodResult, MethodContext } from './method-context.js';
import type { MitigationRecipe } from './recipe.js';
import { unlearningSummary } from './report.js';
import { unlearningSet } from './unlearn.js';

/** Runs the unlearning mitigation (see the module comment). */
export async function runUnlearn(ctx: MethodContext<Extract<MitigationRecipe, { method: 'unlearn' }>>): Promise<MethodResult> {
  const { recipe, net, progress, notes } = ctx;
  const { share: unlearnShare, stampedShare, epochs, learningRate, batchSize, seed } = recipe;
  const ul = unlearningSet(ctx.train, ctx.reversed, ctx.rng, unlearnShare, stampedShare);
  const prior = net.records.pruned;
  if (prior) notes.push(`${prior.neurons.length} neurons of layer ${prior.layer} pruned by an earlier mitigation are kept at zero during unlearning.`);
  const trainingEngine = await net.fineTune(ul.set, {
    ...(ctx.engine !== undefined ? { engine: ctx.engine } : {}),
    epochs,
    learningRate,
    batchSize,
    seed,
    onProgress: (p) => progress({ phase: 'fine-tune', done: (p.epoch - 1) * p.batches + p.batch, total: p.epochs * p.batches }),
  });
  const finished = await net.finish(ctx.sets, (dn) => progress({ phase: 'evaluate-after', done: dn, total: ctx.evalTotal }));
  const after = finished.after;
  const result: MethodResult = {
    after,
    unlearning: unlearningSummary(ul, ctx.labels, { before: ctx.before, after, asrShown: ctx.asrShown }, recipe, prior?.neurons.length ?? 0),
    trainingEngine,
  };
  if (!ctx.out) return result;
  const written = await finished.save(ctx.out, {
    method: 'unlearn',
    label: ctx.labels[0],
    labels: ctx.labels,
    scan: ctx.scanDir,
    source: { dir: net.path, sha256: ctx.sha },
    pruned: prior,
    details: {
      images: ul.set.count,
      stamped: ul.stamped.length,
      ...(ctx.labels.length > 1 ? { stampedByLabel: ul.stampedBy.map((b) => ({ label: b.label, stamped: b.stamped.length })) } : {}),
      epochs,
      learningRate,
      batchSize,
      unlearnShare,
      stampedShare,
      engine: trainingEngine.engine,
    },
    previous: net.records.previous,
    date: new Date().toISOString(),
  });
  return { ...result, output: { model: written } };
}
