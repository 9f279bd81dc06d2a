/**
 * Mitigation per attack family: for the first --per-family infected models of each family of the
 * matrix (bench/matrix-families.ts), Neural Cleanse's pruning and unlearning from the model's own
 * Neural Cleanse scan (the one the detection matrix wrote into --scans/NAME), then the patched
 * model evaluated by `poisonguard evaluate`, which measures every recorded backdoor's ASR (all of
 * them for two triggers; the y → y+1 mapping for all-to-all), beside the model's figures before.
 *
 * The label mitigated: the one the scan flagged; when the scan flagged none (the attack was
 * missed), the model's real target — what a defender would only know from elsewhere, so the row
 * shows the best case and says so; for all-to-all (every label a target) the label with the
 * smallest reversed trigger. Two triggers: both targets in one run (`mitigate --label t1,t2`), with
 * any other label the scan flagged (its verdict's, and its outlier test's below the verdict's
 * margin); a target the scan did not flag is "told". Each mitigation is written to
 * --out/NAME/METHOD and read back on a rerun (resumable).
 *
 * Writes bench/out/mitigation-matrix.json; with --write-docs, replaces the section "Mitigation per
 * attack: TITLE" of docs/RESULTS.md.
 *
 * Run: node --import tsx bench/mitigation-matrix.ts --models ../runs-matrix --scans ../runs-matrix-scans \
 *        --out ../runs-matrix-mitigated [--per-family 2] [--only NAME,NAME] [--title MNIST] [--write-docs]
 * (--only: those models only, whatever their family's count; prints their rows, never with --write-docs.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/data/paths.js';
import { MITIGATION_JSON } from '../src/cleanse/mitigation/report.js';
import type { MitigationReport } from '../src/cleanse/mitigation/report.js';
import { FAMILIES, familyOf, matrixModels, targetsOf } from './matrix-families.js';
import { cliFromSource, docPath as shown, machineInfo, replaceSection, writeBenchJson } from './record.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: '../runs-matrix' },
    scans: { type: 'string', default: '../runs-matrix-scans' },
    out: { type: 'string', default: '../runs-matrix-mitigated' },
    'per-family': { type: 'string', default: '2' },
    methods: { type: 'string', default: 'prune,unlearn' },
    only: { type: 'string' },
    title: { type: 'string', default: 'MNIST' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const perFamily = Number(values['per-family']);
const methods = values.methods.split(',');
const only = values.only?.split(',');
if (only && values['write-docs']) throw new Error('--only prints some rows; it cannot rewrite the section (drop --write-docs)');

/** `poisonguard evaluate --json`'s fields read here. */
interface Evaluation {
  readonly cleanAccuracy: number;
  readonly attackSuccessRate: number | null;
  readonly attacks?: readonly { readonly target: number | null; readonly attackSuccessRate: number }[];
}
interface ScanJson {
  readonly verdict: { readonly labels: readonly number[] };
  readonly runs: readonly { readonly labels: readonly { readonly label: number; readonly norm: number; readonly flagged?: boolean }[] }[];
}

const cli = (args: string[]): string => execFileSync(process.execPath, [...cliFromSource(), ...args], { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
/** `evaluate --json` of a model, kept as evaluate.json in the folders this bench writes (the matrix models carry theirs). */
const evaluate = (dir: string, keep = false): Evaluation => {
  const saved = join(dir, 'evaluate.json');
  if (existsSync(saved)) return JSON.parse(readFileSync(saved, 'utf8')) as Evaluation;
  const text = cli(['evaluate', '--model', dir, '--json', '--quiet']);
  if (keep) writeFileSync(saved, text);
  return JSON.parse(text) as Evaluation;
};
/** Each backdoor's ASR (one figure for a single backdoor). */
const asrs = (e: Evaluation): number[] => (e.attacks && e.attacks.length > 0 ? e.attacks.map((a) => a.attackSuccessRate) : e.attackSuccessRate === null ? [] : [e.attackSuccessRate]);

/** The labels to mitigate and why (see the module comment). */
function chooseLabels(dir: string, scanDir: string, family: string): { labels: number[]; how: string } {
  const scan = JSON.parse(readFileSync(join(scanDir, 'scan.json'), 'utf8')) as ScanJson;
  if (family === 'two-trigger') {
    const flagged = new Set([...scan.verdict.labels, ...scan.runs[0].labels.filter((l) => l.flagged === true).map((l) => l.label)]);
    const labels = [...new Set([...flagged, ...targetsOf(dir)])].sort((a, b) => a - b);
    const told = labels.filter((l) => !flagged.has(l));
    return { labels, how: told.length === 0 ? 'flagged' : told.length === labels.length ? 'told' : `${labels.filter((l) => flagged.has(l)).join(', ')} flagged, ${told.join(', ')} told` };
  }
  if (scan.verdict.labels.length > 0) return { labels: [scan.verdict.labels[0]], how: 'flagged' };
  if (family !== 'all-to-all') return { labels: [targetsOf(dir)[0]], how: 'told' };
  const labels = [...scan.runs[0].labels].sort((a, b) => a.norm - b.norm);
  return { labels: [labels[0].label], how: 'smallest norm' };
}

interface Row {
  readonly family: string;
  readonly name: string;
  readonly labels: readonly number[];
  readonly how: string;
  readonly before: { readonly accuracy: number; readonly asr: number[] };
  readonly after: Record<string, { readonly accuracy: number; readonly asr: number[]; readonly prunedShare?: number; readonly seconds: number }>;
}

const rows: Row[] = [];
const models = matrixModels(values.models).map((name) => ({ name, dir: join(values.models, name) }));
for (const family of FAMILIES) {
  const ofFamily = models.filter((m) => familyOf(m.dir) === family);
  for (const { name, dir } of only ? ofFamily.filter((m) => only.includes(m.name)) : ofFamily.slice(0, perFamily)) {
    const scanDir = join(values.scans, name);
    if (!existsSync(join(scanDir, 'scan.json'))) {
      process.stderr.write(`${name}: no Neural Cleanse scan in ${scanDir} (run bench/detection-matrix.ts --run first)\n`);
      continue;
    }
    const { labels, how } = chooseLabels(dir, scanDir, family);
    const before = evaluate(dir);
    const after: Row['after'] = {};
    for (const method of methods) {
      const out = join(values.out, name, method);
      if (!existsSync(join(out, MITIGATION_JSON))) {
        process.stderr.write(`${name}: ${method} of label(s) ${labels.join(', ')} (${how})\n`);
        cli(['mitigate', '--model', dir, '--scan', scanDir, '--method', method, '--label', labels.join(','), '--out', out, '--quiet']);
      }
      const m = JSON.parse(readFileSync(join(out, MITIGATION_JSON), 'utf8')) as MitigationReport;
      const e = evaluate(out, true);
      after[method] = { accuracy: e.cleanAccuracy, asr: asrs(e), ...(m.pruning?.stopShare !== undefined ? { prunedShare: m.pruning.stopShare } : {}), seconds: m.seconds };
    }
    rows.push({ family, name, labels, how, before: { accuracy: before.cleanAccuracy, asr: asrs(before) }, after });
  }
}

const machine = machineInfo();
process.stderr.write(`written ${writeBenchJson(only ? 'mitigation-matrix-only' : 'mitigation-matrix', { machine, models: values.models, methods, rows })}\n`);
const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const asrText = (a: number[]): string => (a.length === 0 ? 'n/a' : a.map(pct).join(' / '));
const table = [
  `| family | model | label(s) (how chosen) | before: acc, ASR | ${methods.map((m) => `${m}: acc, ASR`).join(' | ')} |`,
  `|---|---|---|---|${methods.map(() => '---').join('|')}|`,
  ...rows.map(
    (r) =>
      `| ${r.family} | ${r.name} | ${r.labels.join(', ')} (${r.how}) | ${pct(r.before.accuracy)}, ${asrText(r.before.asr)} | ${methods
        .map((m) => {
          const a = r.after[m];
          return `${pct(a.accuracy)}, ${asrText(a.asr)}${a.prunedShare !== undefined ? ` (${(100 * a.prunedShare).toFixed(0)}% pruned)` : ''}`;
        })
        .join(' | ')} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
if (values['write-docs']) {
  replaceSection(
    join(packageRoot(), 'docs', 'RESULTS.md'),
    `Mitigation per attack: ${values.title}`,
    [
      `Models: ${shown(values.models)}, the first ${perFamily} infected models of each family; each mitigated from its own Neural Cleanse scan (${shown(values.scans)}), defaults of \`poisonguard mitigate\` (the paper's recipe), seed 0. ASR: every recorded backdoor's, by \`poisonguard evaluate\` on the test split (two triggers: both; all-to-all: y → y+1). Label: the one the scan flagged; "told": the scan flagged none and the model's real target was given (a defender would have to know it: the best case); "smallest norm": all-to-all, nothing flagged, the label with the smallest reversed trigger; two triggers: both targets (and any other flagged label) in one run, \`--label t1,t2\`.`,
      `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.date.slice(0, 10)}. Rerun: \`node --import tsx bench/mitigation-matrix.ts --models ${shown(values.models)} --scans ${shown(values.scans)} --out ${shown(values.out)} --per-family ${perFamily} --title '${values.title}' --write-docs\`.`,
      '',
      table,
    ].join('\n'),
  );
}
