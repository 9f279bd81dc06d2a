/**
 * The Neural Cleanse part of `poisonguard reproduce`: MNIST models trained from scratch (BadNets
 * and clean), scanned, and the infected one mitigated with every method, through the library; the
 * figures are compared with the paper's (cleanse/reference.ts, docs/RESULTS.md). A finished step
 * is not repeated when the run folder already holds its output (the scans resume label by label).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { MitigationReport } from '../cleanse/mitigation/mitigate.js';
import type { ScanReport } from '../cleanse/scan.js';
import type { ModelMetadata } from '../nn/model-io.js';
import type { CommandContext } from './command.js';

/** The reproduction's BadNets backdoor: the paper's 4x4 white square, bottom-right, target 7. */
export const REPRODUCE_BACKDOOR = 'square:size=4,pos=bottom-right,colour=white,target=7';
/** Training epochs: the full run's and --quick's. */
const EPOCHS = { full: 5, quick: 1 } as const;

export async function reproduceCleanse(v: { quick?: boolean; out?: string; seed?: string; update?: string }, ctx: CommandContext): Promise<number> {
  const { seedOption } = await import('./command.js');
  const { claimOutputDir } = await import('../outputs.js');
  const { readMetadata } = await import('../nn/model-io.js');
  const { parseBackdoorSpec } = await import('../nn/backdoor-spec.js');
  const { runTraining } = await import('./train.js');
  const { scanModel } = await import('../cleanse/scan.js');
  const { printScanSummary, scanProgressPrinter } = await import('./scan.js');
  const { MITIGATION_JSON, MITIGATION_METHODS, mitigateModel, combineReports } = await import('../cleanse/mitigation/mitigate.js');
  const { readJsonFile, reviveNumbers, writeJsonAtomic } = await import('../run-files.js');
  const { compareCleanseToReference } = await import('../cleanse/reference.js');
  const root = resolve(v.out ?? 'runs/reproduce');
  const dir = join(root, 'cleanse-mnist');
  // A reproduction folder is re-run in place, resuming what it holds; it is claimed before the work.
  mkdirSync(claimOutputDir(dir, { option: '--out', existing: 'resume' }), { recursive: true });
  const seed = seedOption('seed', v.seed) ?? 0;
  const epochs = v.quick ? EPOCHS.quick : EPOCHS.full;
  const step = (title: string): void => {
    if (!ctx.quiet) ctx.err(`\n▶ ${title}`);
  };

  const train = async (out: string, backdoor: boolean): Promise<ModelMetadata> => {
    if (existsSync(join(out, 'metadata.json'))) return readMetadata(out);
    step(`train ${backdoor ? 'a BadNets' : 'a clean'} MNIST model (${epochs} epoch(s), seed ${seed}) into ${out}`);
    const report = await runTraining({ dataset: 'mnist', ...(backdoor ? { backdoor: parseBackdoorSpec(REPRODUCE_BACKDOOR) } : {}), epochs, seed, out }, ctx);
    return report.metadata;
  };
  const infected = join(dir, 'mnist-badnets');
  const clean = join(dir, 'mnist-clean');
  const metaInfected = await train(infected, true);
  const metaClean = await train(clean, false);
  const scan = async (model: string, out: string): Promise<ScanReport> => {
    step(`scan ${model}${v.quick ? ' (fast mode)' : ''} into ${out}`);
    const report = await scanModel({ model, seed, out, ...(v.quick ? { fast: { escalate: true } } : {}), onProgress: scanProgressPrinter(ctx, 1) });
    printScanSummary(report, ctx);
    return report;
  };
  const scanB = await scan(infected, join(dir, 'scan-badnets'));
  const scanC = await scan(clean, join(dir, 'scan-clean'));
  const mitigateDir = join(dir, 'mitigate');
  let mit: MitigationReport;
  if (existsSync(join(mitigateDir, MITIGATION_JSON))) {
    // Written by an earlier run of this very step (below).
    mit = readJsonFile(join(mitigateDir, MITIGATION_JSON), reviveNumbers) as MitigationReport;
  } else {
    // Each method from the original model into mitigate/<method>; one combined mitigation.json.
    const reports: MitigationReport[] = [];
    for (const method of MITIGATION_METHODS) {
      step(`mitigate ${infected} (${method}) into ${join(mitigateDir, method)}`);
      // force: what an interrupted earlier run left there is the reproduction's own.
      const r = await mitigateModel({ model: infected, scan: join(dir, 'scan-badnets'), method, seed, out: join(mitigateDir, method), force: true });
      reports.push(r);
      if (r.nothingToMitigate) break;
    }
    mit = reports.length === 1 ? reports[0] : combineReports(reports);
    writeJsonAtomic(join(mitigateDir, MITIGATION_JSON), mit);
  }

  const checks = compareCleanseToReference({ infected: metaInfected, clean: metaClean, scanInfected: scanB, scanClean: scanC, mitigation: mit });
  const table = ['| what | measured | bar | met |', '|---|---|---|---|', ...checks.map((c) => `| ${c.what} | ${c.measured} | ${c.bar} | ${c.met ? 'yes' : '**no**'} |`)].join('\n');
  const markdown = `Made by \`poisonguard reproduce cleanse${v.quick ? ' --quick' : ''}\` (MNIST, ${epochs} epoch(s), seed ${seed}, ${v.quick ? 'fast-mode scans' : 'full-recipe scans'}; backend ${scanB.backend}).\n\n${table}`;
  ctx.out(`## Neural Cleanse: reproduction\n\n${markdown}\n`);
  writeFileSync(join(dir, 'reproduce-cleanse.md'), `## Neural Cleanse: reproduction\n\n${markdown}\n`);
  if (v.update) (await import('../report/markdown-section.js')).replaceMarkdownSection(v.update, 'Neural Cleanse: reproduction', markdown);
  const met = checks.filter((c) => c.met).length;
  ctx.out(`Summary: cleanse ${met}/${checks.length} checks met${v.quick ? ' (quick recipe)' : ''}; run folder ${dir}`);
  return 0;
}
