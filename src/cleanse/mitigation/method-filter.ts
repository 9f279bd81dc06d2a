/**
 * The filter mitigation's run (Neural Cleanse §VI-A; filter.ts): per mitigated label, a profile of
 * the neurons its reversed trigger excites most, thresholds set on the defender's calibration images
 * for the chosen FPR (several labels: together, flagged when any profile is exceeded), and the
 * figures through the filter on the test split. Writes filter.json; the model is unchanged.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../../data/images.js';
import { writeJsonAtomic } from '../../run-files.js';
import { activationProfiles, CURVE_FPRS, filterCurveAny, filterProfiles, flaggedAny, makeFilter, profileNeurons } from './filter.js';
import { byBackdoor, type Metrics } from './measure.js';
import type { MethodResult, ProbedContext } from './method-context.js';
import type { MitigationRecipe } from './recipe.js';

export const FILTER_JSON = 'filter.json';

/** Runs the filter mitigation (see the module comment). */
export async function runFilter(ctx: ProbedContext<Extract<MitigationRecipe, { method: 'filter' }>>): Promise<MethodResult> {
  const { fpr, topShare } = ctx.recipe;
  const { probe, layer: L, sets, before, beforePred, progress, notes } = ctx;
  const neurons = ctx.rankingByLabel.map((r) => profileNeurons(r.order, topShare));
  // Per label, the profiles of a set's images (one pass through the model per set).
  const profilesOf = (perNeuron: Float32Array): Float64Array[] => neurons.map((n) => activationProfiles(perNeuron, L.units, n));
  const cal = profilesOf(await probe.perNeuron(ctx.calibrationSet.images, (n) => progress({ phase: 'calibrate', done: n, total: ctx.calibrationSet.count })));
  let done = 0;
  const feat = async (s: ImageSet): Promise<Float64Array[]> => {
    const f = await probe.perNeuron(s.images, (n) => progress({ phase: 'features', done: done + n, total: ctx.evalTotal }));
    done += s.count;
    return profilesOf(f);
  };
  const cleanP = await feat(sets.clean);
  const realP = sets.real ? await feat(sets.real) : null;
  const othersP: Float64Array[][] = [];
  for (const o of sets.others) othersP.push(await feat(o.set));
  const revP: Float64Array[][] = [];
  for (const r of sets.reversed) revP.push(await feat(r));
  const filter = makeFilter({
    model: { dir: ctx.net.path, sha256: ctx.sha },
    labels: ctx.labels,
    layer: L,
    neurons,
    topShare,
    calibration: cal,
    fpr,
    preprocessing: ctx.net.records.preprocessing,
    inputShape: ctx.net.inputShape,
  });
  const profiles = filterProfiles(filter);
  const t = profiles.map((p) => p.threshold);
  const curve = filterCurveAny(cal, cleanP, realP, revP, [...new Set([...CURVE_FPRS, fpr])].sort((a, b) => a - b));
  const flagged = (p: Float64Array[]): Uint8Array => flaggedAny(p, t);
  const share = (f: Uint8Array): number => (f.length === 0 ? 0 : f.reduce((a, b) => a + b, 0) / f.length);
  const realFlags = realP ? flagged(realP) : null;
  const otherFlags = othersP.map(flagged);
  const revFlags = revP.map(flagged);
  const fnrReal = realFlags ? 1 - share(realFlags) : null;
  const fnrByLabel = revFlags.map((f) => 1 - share(f));
  const fnrReversed = Math.max(...fnrByLabel);
  // Through the filter: a rejected input is neither classified correctly nor attacked.
  const passed = (f: Uint8Array, hit: (i: number) => boolean): number => {
    let k = 0;
    for (let i = 0; i < f.length; i++) if (!f[i] && hit(i)) k++;
    return f.length > 0 ? k / f.length : 0;
  };
  const cleanFlags = flagged(cleanP);
  const byLabel = revFlags.map((f, j) => passed(f, (i) => beforePred.reversed[j][i] === sets.reversedTargets[j]));
  const asrReal = realFlags && beforePred.real ? passed(realFlags, (i) => beforePred.real![i] === sets.realTarget) : null;
  const others = otherFlags.map((f, j) => passed(f, (i) => beforePred.others[j][i] === sets.others[j].expected[i]));
  const after: Metrics = {
    cleanAccuracy: passed(cleanFlags, (i) => beforePred.clean[i] === sets.clean.labels[i]),
    asrReal,
    asrReversed: Math.max(...byLabel),
    asrReversedByLabel: byLabel,
    ...(others.length > 0 ? { asrByBackdoor: byBackdoor(asrReal, others) } : {}),
  };
  // Of the stamped inputs the backdoor captures, the share that passes: the ASR through the filter over the ASR before.
  const successful = (a: number | null, b: number | null | undefined): number | null => (a !== null && b ? a / b : null);
  const fnrSuccessful = successful(after.asrReal, before.asrReal);
  // Every recorded backdoor's, when the real trigger's figures do not say them all.
  const listed =
    others.length > 0
      ? {
          fnrByBackdoor: byBackdoor(fnrReal, otherFlags.map((f) => 1 - share(f))),
          fnrSuccessfulByBackdoor: after.asrByBackdoor!.map((a, j) => successful(a, before.asrByBackdoor![j])),
        }
      : {};
  if (!realP) notes.push(`The model records no ${others.length > 0 ? 'single-target ' : ''}real trigger: the FNR shown is that of the reversed trigger${others.length > 0 ? "; each backdoor's is listed by backdoor" : ''}.`);
  let file: string | undefined;
  if (ctx.out) {
    mkdirSync(ctx.out, { recursive: true });
    file = join(ctx.out, FILTER_JSON);
    writeJsonAtomic(file, filter);
  }
  return {
    after,
    filter: {
      fpr,
      fnr: fnrReal ?? fnrReversed,
      fnrReversed,
      fnrReversedByLabel: fnrByLabel,
      fnrSuccessful,
      ...listed,
      measuredFpr: share(cleanFlags),
      threshold: t[0],
      neurons: neurons[0].length,
      neuronIndices: neurons[0],
      profiles: profiles.map((p) => ({ label: p.label, neuronIndices: p.neurons, threshold: p.threshold })),
      layer: L.name,
      calibrationImages: ctx.calibrationSet.count,
      curve,
      ...(file ? { file } : {}),
    },
    ...(file ? { output: { filter: file } } : {}),
  };
}
