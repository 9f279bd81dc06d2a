/**
 * The Neural Cleanse part of `poisonguard reproduce`: MNIST models trained from scratch (BadNets
 * and clean), scanned, and the infected one mitigated with every method; the figures are compared
 * with the paper's (docs/RESULTS.md). Each step is an ordinary command run in-process; a finished
 * step is not repeated when the run folder already holds its output.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PoisonguardError } from '../errors.js';
import type { CommandContext } from './command.js';

/** The paper's MNIST figures and the bars. */
const BARS = {
  infectedAccuracy: 0.985,
  asr: 0.99,
  anomalyIndex: 2,
  unlearnAsr: 0.07,
  unlearnAccuracyLoss: 0.03,
  pruneAsr: 0.05,
  pruneAccuracyLoss: 0.05,
  filterFnr: 0.05,
} as const;

interface Check {
  readonly what: string;
  readonly measured: string;
  readonly bar: string;
  readonly met: boolean;
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export async function reproduceCleanse(v: { quick?: boolean; out?: string; seed?: string; update?: string }, ctx: CommandContext): Promise<number> {
  const { main } = await import('./main.js');
  const root = resolve(v.out ?? 'runs/reproduce');
  const dir = join(root, 'cleanse-mnist');
  mkdirSync(dir, { recursive: true });
  const seed = v.seed ?? '0';
  const epochs = v.quick ? '1' : '5';
  const quiet = ctx.interactive ? [] : ['--quiet'];
  const run = async (args: string[]): Promise<void> => {
    ctx.err(`\n▶ poisonguard ${args.join(' ')}`);
    const code = await main([...args, ...quiet], ctx);
    if (code !== 0) throw new PoisonguardError('interrupted', `reproduce cleanse: '${args[0]}' failed (exit ${code}); run again to resume.`);
  };
  const infected = join(dir, 'mnist-badnets');
  const clean = join(dir, 'mnist-clean');
  if (!existsSync(join(infected, 'metadata.json'))) {
    await run(['train', '--dataset', 'mnist', '--backdoor', 'square:size=4,pos=bottom-right,colour=white,target=7', '--epochs', epochs, '--seed', seed, '--out', infected]);
  }
  if (!existsSync(join(clean, 'metadata.json'))) await run(['train', '--dataset', 'mnist', '--epochs', epochs, '--seed', seed, '--out', clean]);
  const scanArgs = v.quick ? ['--fast'] : [];
  await run(['scan', '--model', infected, ...scanArgs, '--seed', seed, '--out', join(dir, 'scan-badnets')]);
  await run(['scan', '--model', clean, ...scanArgs, '--seed', seed, '--out', join(dir, 'scan-clean')]);
  if (!existsSync(join(dir, 'mitigate', 'mitigation.json'))) {
    await run(['mitigate', '--model', infected, '--scan', join(dir, 'scan-badnets'), '--method', 'all', '--seed', seed, '--out', join(dir, 'mitigate')]);
  }

  const json = (p: string): any => JSON.parse(readFileSync(p, 'utf8'));
  const meta = json(join(infected, 'metadata.json'));
  const metaClean = json(join(clean, 'metadata.json'));
  const scanB = json(join(dir, 'scan-badnets', 'scan.json'));
  const scanC = json(join(dir, 'scan-clean', 'scan.json'));
  const mit = json(join(dir, 'mitigate', 'mitigation.json'));
  const outB = scanB.runs[0].outliers;
  const outC = scanC.runs[0].outliers;
  const before = mit.before.cleanAccuracy as number;
  const stop = mit.pruning.points.find((p: { share: number }) => Math.abs(p.share - mit.pruning.stopShare) < 1e-9) ?? mit.pruning.points.at(-1);
  const checks: Check[] = [
    { what: 'infected model clean accuracy (paper 98.54%)', measured: pct(meta.cleanAccuracy), bar: '≥ 98.5%', met: meta.cleanAccuracy >= BARS.infectedAccuracy },
    { what: 'infected model ASR (paper 99.90%)', measured: pct(meta.attackSuccessRate), bar: '≥ 99%', met: meta.attackSuccessRate >= BARS.asr },
    { what: 'clean model accuracy (paper 98.88%)', measured: pct(metaClean.cleanAccuracy), bar: 'reported', met: true },
    {
      what: 'scan of the infected model flags the target 7',
      measured: `flagged [${outB.flagged.join(', ')}], anomaly index ${outB.anomalyIndex.toFixed(2)}, verdict ${scanB.verdict.status}`,
      bar: 'target flagged, index > 2',
      met: outB.flagged.includes(7) && outB.anomalyIndex > BARS.anomalyIndex,
    },
    {
      what: 'scan of the clean model',
      measured: `flagged [${outC.flagged.join(', ')}], anomaly index ${outC.anomalyIndex.toFixed(2)}, verdict ${scanC.verdict.status}`,
      bar: 'not called backdoored',
      met: scanC.verdict.status !== 'backdoored',
    },
    {
      what: 'unlearning',
      measured: `ASR ${pct(mit.unlearning.after.asr)}, accuracy ${pct(mit.unlearning.after.accuracy)} (was ${pct(mit.unlearning.before.accuracy)})`,
      bar: 'ASR < 7%, ≤ 3 points lost',
      met: mit.unlearning.after.asr < BARS.unlearnAsr && mit.unlearning.before.accuracy - mit.unlearning.after.accuracy <= BARS.unlearnAccuracyLoss,
    },
    {
      what: `pruning (${pct(mit.pruning.stopShare)} of ${mit.pruning.layer} pruned)`,
      measured: `ASR ${pct(stop.asr)}, accuracy ${pct(stop.accuracy)} (was ${pct(before)})`,
      bar: 'ASR < 5%, ≤ 5 points lost',
      met: stop.asr < BARS.pruneAsr && before - stop.accuracy <= BARS.pruneAccuracyLoss,
    },
    {
      what: 'input filter',
      measured: `FNR ${pct(mit.filter.fnr)} at a test FPR of ${pct(mit.filter.measuredFpr)}`,
      bar: 'FNR ≤ 5% at 5% FPR (paper < 1.6%)',
      met: mit.filter.fnr <= BARS.filterFnr,
    },
  ];
  const table = ['| what | measured | bar | met |', '|---|---|---|---|', ...checks.map((c) => `| ${c.what} | ${c.measured} | ${c.bar} | ${c.met ? 'yes' : '**no**'} |`)].join('\n');
  const markdown = `Made by \`poisonguard reproduce cleanse${v.quick ? ' --quick' : ''}\` (MNIST, ${epochs} epoch(s), seed ${seed}, ${v.quick ? 'fast-mode scans' : 'full-recipe scans'}; backend ${scanB.backend}).\n\n${table}`;
  ctx.out(`## Neural Cleanse: reproduction\n\n${markdown}\n`);
  writeFileSync(join(dir, 'reproduce-cleanse.md'), `## Neural Cleanse: reproduction\n\n${markdown}\n`);
  if (v.update) (await import('../report/markdown-section.js')).replaceMarkdownSection(v.update, 'Neural Cleanse: reproduction', markdown);
  const met = checks.filter((c) => c.met).length;
  ctx.out(`Summary: cleanse ${met}/${checks.length} checks met${v.quick ? ' (quick recipe)' : ''}; run folder ${dir}`);
  return 0;
}
