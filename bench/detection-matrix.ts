/**
 * The detection matrix: per attack family, per detector (and the combined verdict), ROC-AUC of the
 * detector's model score between that family's infected models and the clean ones, and the true and
 * false positives at the detector's own call. Families come from each model's metadata.json (its
 * trigger kind; all-to-all and several backdoors from its backdoors list; no trigger = clean).
 *
 * Each model folder under --models is scanned (with --run) into --scans/<name> by runDetectors,
 * which writes detectors.json there and resumes an interrupted Neural Cleanse scan; models already
 * scanned with every detector asked for are read, not rescanned; a detector missing from a model's
 * file, or named by --rerun, runs alone and joins the file's results. With --audit-sample N, the
 * detectors that audit a training set get a sample of it poisoned as the model's was (trainingSample). One model at a time: the machine is
 * shared.
 *
 * Writes bench/out/detection-matrix.json; with --write-docs, replaces the section "Detection matrix:
 * TITLE" of docs/RESULTS.md.
 *
 * Run: node --import tsx bench/detection-matrix.ts --models ../runs-matrix --scans ../runs-matrix-scans \
 *        [--detectors nc,mmbd] [--run] [--rerun strip] [--audit-sample N] [--knn-reference M] [--title MNIST] [--write-docs]
 * --shard i/n: scan only the models whose index is i mod n (run n processes, one per core, then
 * once more without --run for the whole matrix).
 * --knn-reference M: knn's reference is M clean training images outside the audited sample instead
 * of the test split (GTSRB, whose test split is not like its training split: docs/DETECTORS.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { combineVerdicts } from '../src/cleanse/detectors/combine.js';
import { DETECTORS_JSON, missesOf, runDetectors, type DetectorsReport } from '../src/cleanse/detectors/run.js';
import { writeJsonAtomic } from '../src/run-files.js';
import { loadImageDataset } from '../src/data/image-registry.js';
import { subset, type ImageSet } from '../src/data/images.js';
import { Poisoner, poisonSet } from '../src/nn/attacks/poison.js';
import { readMetadata } from '../src/nn/model-io.js';
import { attacksOf } from '../src/nn/trigger.js';
import { mixSeeds, Random } from '../src/random.js';
import { packageRoot } from '../src/data/paths.js';
import { rocAuc } from '../src/zoo/metrics.js';
import { median } from '../src/cleanse/outliers.js';
import { FAMILIES, familyOf, matrixModels, targetsOf } from './matrix-families.js';
import { docPath as shown, machineInfo, replaceSection, writeBenchJson } from './record.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: '../runs-matrix' },
    scans: { type: 'string', default: '../runs-matrix-scans' },
    detectors: { type: 'string', default: 'nc,mmbd' },
    run: { type: 'boolean', default: false },
    rerun: { type: 'string', default: '' },
    'audit-sample': { type: 'string' },
    'knn-reference': { type: 'string' },
    shard: { type: 'string' },
    title: { type: 'string', default: 'MNIST' },
    'write-docs': { type: 'boolean', default: false },
  },
});

const detectors = values.detectors.split(',');
const rerun = values.rerun.split(',').filter((d) => d !== '');
const auditSample = values['audit-sample'] === undefined ? undefined : Number(values['audit-sample']);
/** knn's reference: this many clean training images outside the audited sample (default: the test split). */
const knnReference = values['knn-reference'] === undefined ? undefined : Number(values['knn-reference']);
if (knnReference !== undefined && auditSample === undefined) throw new Error('--knn-reference needs --audit-sample (the reference is drawn outside the audited sample)');
/** The draw of the training images audited (one draw for every model). */
const AUDIT_SAMPLE_SEED = 1;
/** --shard i/n: this process scans the models whose index is i mod n (one process per core; a last run without --run writes the whole matrix). */
const shard = values.shard === undefined ? undefined : values.shard.split('/').map(Number);
if (shard && !(shard.length === 2 && Number.isInteger(shard[0]) && Number.isInteger(shard[1]) && shard[0] >= 0 && shard[0] < shard[1])) throw new Error(`--shard: i/n with 0 ≤ i < n, not '${values.shard}'`);
const models = matrixModels(values.models).filter((_, i) => !shard || i % shard[1] === shard[0]);
const scanned: { name: string; family: string; targets: number[]; report: DetectorsReport }[] = [];
for (const name of models) {
  const dir = join(values.models, name);
  const out = join(values.scans, name);
  const file = join(out, DETECTORS_JSON);
  let report = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DetectorsReport) : undefined;
  // Detectors asked for and not in the file (or named by --rerun) run alone, their results merged
  // into the file's: adding a detector to a finished matrix does not redo Neural Cleanse.
  const missing = detectors.filter((d) => rerun.includes(d) || !report?.results.some((r) => r.detector === d));
  if (missing.length > 0 && values.run) {
    process.stderr.write(`${name}: scanning with ${missing.join(', ')}\n`);
    const old = report;
    const sets = auditSample ? { trainingSet: trainingSample(dir, auditSample), ...(knnReference ? { knnReference: cleanReference(dir, auditSample, knnReference) } : {}) } : {};
    const fresh = (await runDetectors({ model: dir, detectors: missing, out, seed: 1, ...sets })).report;
    report = old === undefined ? fresh : merged(old, fresh);
    writeJsonAtomic(file, report);
  }
  if (report === undefined || !detectors.every((d) => report!.results.some((r) => r.detector === d))) {
    process.stderr.write(`${name}: no complete ${DETECTORS_JSON} in ${out} (pass --run to scan it)\n`);
    continue;
  }
  scanned.push({ name, family: familyOf(dir), targets: targetsOf(dir), report });
}

/**
 * What the model was trained on, in miniature, for the detectors that audit a training set (STRIP
 * with a training set, spectral signatures, activation clustering): `n` images of the dataset's
 * training split (the same draw for every model), poisoned as the model's training poisoned them —
 * its recorded backdoors at their recorded rates, by the training's own poisoner. A sample of what
 * the model saw, not its exact training stream (on-the-fly poisoning stamps other images each epoch).
 */
function trainingSample(dir: string, n: number): { set: ImageSet; source: string } {
  const m = readMetadata(dir);
  const data = loadImageDataset(m.dataset, undefined, m.seed);
  const picked = subset(data.train, new Random(AUDIT_SAMPLE_SEED).sampleWithoutReplacement(data.train.count, Math.min(n, data.train.count)));
  const attacks = attacksOf(m);
  if (attacks.length === 0) return { set: picked, source: `${data.name} training split, ${picked.count} images (seed ${AUDIT_SAMPLE_SEED}), clean` };
  const poisoner = new Poisoner(attacks, m.numClasses, picked.height, picked.width, picked.channels);
  const r = poisonSet(picked, poisoner, new Random(mixSeeds(AUDIT_SAMPLE_SEED, m.seed)));
  return { set: r.set, source: `${data.name} training split, ${picked.count} images (seed ${AUDIT_SAMPLE_SEED}), poisoned with the model's recorded backdoors at their rates: ${r.poisoned.length} stamped, ${r.noise.length} noise-mode` };
}

/**
 * knn's reference when the test split is not like the training one (GTSRB): `m` clean training images
 * that are not in the audited sample (the same draw for every model), standing for a defender's
 * trusted clean images from the training source.
 */
function cleanReference(dir: string, auditN: number, m: number): { set: ImageSet; source: string } {
  const meta = readMetadata(dir);
  const data = loadImageDataset(meta.dataset, undefined, meta.seed);
  const audited = new Set(new Random(AUDIT_SAMPLE_SEED).sampleWithoutReplacement(data.train.count, Math.min(auditN, data.train.count)));
  const rest = Int32Array.from({ length: data.train.count }, (_, i) => i).filter((i) => !audited.has(i));
  const picked = Int32Array.from(new Random(AUDIT_SAMPLE_SEED + 1).sampleWithoutReplacement(rest.length, Math.min(m, rest.length)), (j) => rest[j]);
  return { set: subset(data.train, picked), source: `${data.name} training split, ${picked.length} clean images outside the audited sample (seed ${AUDIT_SAMPLE_SEED + 1})` };
}

/** The earlier report with the fresh one's detectors replacing or joining its own; the combined verdict recomputed. */
function merged(old: DetectorsReport, fresh: DetectorsReport): DetectorsReport {
  const results = [...old.results.filter((r) => !fresh.detectors.includes(r.detector)), ...fresh.results];
  const names = [...new Set([...old.detectors, ...fresh.detectors])];
  return { ...old, detectors: names, results, combined: combineVerdicts(results), ...missesOf(names), trainingSet: fresh.trainingSet ?? old.trainingSet, seconds: old.seconds + fresh.seconds, date: fresh.date };
}

/** right: models called backdoored whose flagged labels are all targets of theirs. */
type Cell = { auc: number | undefined; tp: number; right: number; infected: number; fp: number; clean: number };
const columns = [...detectors, 'combined'];
const scoreOf = (r: DetectorsReport, d: string): { score: number; call: boolean; flagged: readonly number[] } => {
  if (d === 'combined') return { score: r.combined.score, call: r.combined.backdoored, flagged: r.combined.labels };
  const x = r.results.find((y) => y.detector === d)!;
  return { score: x.score, call: x.backdoored, flagged: x.flagged };
};
const clean = scanned.filter((s) => s.family === 'clean');
const matrix: Record<string, Record<string, Cell>> = {};
for (const family of FAMILIES) {
  const infected = scanned.filter((s) => s.family === family);
  if (infected.length === 0) continue;
  matrix[family] = {};
  for (const d of columns) {
    const pos = infected.map((s) => ({ ...scoreOf(s.report, d), targets: s.targets }));
    const neg = clean.map((s) => scoreOf(s.report, d));
    matrix[family][d] = {
      auc: rocAuc([...pos.map((x) => ({ p: x.score, infected: true })), ...neg.map((x) => ({ p: x.score, infected: false }))]),
      tp: pos.filter((x) => x.call).length,
      right: pos.filter((x) => x.call && x.flagged.length > 0 && x.flagged.every((l) => x.targets.includes(l))).length,
      infected: pos.length,
      fp: neg.filter((x) => x.call).length,
      clean: neg.length,
    };
  }
}
const machine = machineInfo();
const file = writeBenchJson('detection-matrix', { machine, models: values.models, detectors, scanned: scanned.map((s) => ({ name: s.name, family: s.family, seconds: Object.fromEntries(s.report.results.map((r) => [r.detector, r.seconds])) })), matrix });
process.stderr.write(`written ${file}\n`);

const rows = Object.entries(matrix).map(
  ([family, cells]) =>
    `| ${family} (${cells[columns[0]].infected}) | ${columns.map((d) => `${cells[d].auc === undefined ? '—' : cells[d].auc.toFixed(2)} (${cells[d].tp}/${cells[d].infected}${family === 'all-to-all' ? '' : `, ${cells[d].right} right`})`).join(' | ')} |`,
);
const fpRow = `| clean (${clean.length}): false positives | ${columns.map((d) => `${clean.filter((s) => scoreOf(s.report, d).call).length}/${clean.length}`).join(' | ')} |`;
const table = [`| family (infected models) | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`, ...rows, fpRow].join('\n');
/** Each detector's own seconds per model as detectors.json records them (its run alone, forward passes included; wall time on whatever else the machine ran). */
const secondsOf = (d: string): number[] => scanned.map((s) => s.report.results.find((r) => r.detector === d)?.seconds).filter((x): x is number => x !== undefined);
const timing = `Seconds per model (each detector's own, from detectors.json: median [min–max] over the ${scanned.length} models): ${detectors
  .map((d) => {
    const t = secondsOf(d);
    return t.length === 0 ? `${d} —` : `${d} ${median(t).toFixed(1)} [${Math.min(...t).toFixed(1)}–${Math.max(...t).toFixed(1)}]`;
  })
  .join('; ')}.`;
process.stdout.write(`${table}\n\n${timing}\n`);
if (values['write-docs']) {
  replaceSection(
    join(packageRoot(), 'docs', 'RESULTS.md'),
    `Detection matrix: ${values.title}`,
    [
      `Models: ${shown(values.models)} (${scanned.length} scanned: ${clean.length} clean). Cells: ROC-AUC of the detector's model score, infected models of the family against the clean ones, and (true positives / infected models at the detector's own call, and how many of those flagged only target labels: "right"); the last row counts clean models called backdoored. Combined: the verdict of detectors.json (backdoored when any voting detector says so; score the largest voting score over its threshold; docs/DETECTORS.md).`,
      `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.date.slice(0, 10)}. Rerun: \`node --import tsx bench/detection-matrix.ts --models ${shown(values.models)} --scans ${shown(values.scans)} --detectors ${values.detectors} --run${auditSample ? ` --audit-sample ${auditSample}` : ''}${knnReference ? ` --knn-reference ${knnReference}` : ''} --title '${values.title}' --write-docs\`.`,
      '',
      table,
      '',
      timing,
    ].join('\n'),
  );
}
