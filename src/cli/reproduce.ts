/** `poisonguard reproduce`: regenerate the tables of docs/RESULTS.md and say which reference numbers are met. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PoisonguardError, UnknownNameError } from '../errors.js';
import type { Command } from './command.js';
import { seedOption } from './command.js';
import { DEFAULT_SEED } from '../random.js';
import { progressBar } from './progress.js';

const PARTS = ['certify', 'cleanse', 'all'] as const;
/** Datasets of the certify part, and their folder under a --data-dir root. */
const CERTIFY_DATASETS: Record<string, string> = { mnist17: 'mnist', enron: 'enron1', imdb: 'imdb' };
/** --quick: a short ε grid and T (every ε·n must stay ≤ T in release mode). */
const QUICK = { eps: [0, 0.01, 0.03, 0.05], iterations: 1500, datasets: ['mnist17', 'enron'] } as const;

const options = {
  quick: { type: 'boolean', help: `Short ε grid (${QUICK.eps.join(', ')}) and T = ${QUICK.iterations}; certify on ${QUICK.datasets.join(' and ')} only; cleanse: 1 epoch and fast scans.` },
  datasets: { type: 'string', value: 'LIST', help: `Certify datasets (default: ${Object.keys(CERTIFY_DATASETS).join(',')}).` },
  'data-dir': { type: 'string', value: 'DIR', help: 'Root holding mnist/, enron1/, imdb/ (default: $POISONGUARD_DATA or ../shared/data; MNIST falls back to the embedded copy).' },
  update: { type: 'string', value: 'FILE', help: "Replace the matching sections of this markdown file (e.g. docs/RESULTS.md)." },
  out: { type: 'string', value: 'DIR', help: 'Run folder: each certify run as JSON and markdown; the cleanse models, scans and mitigation (default for cleanse: runs/reproduce).' },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'Random seed.' },
} as const;

export const reproduceCommand: Command<typeof options> = {
  name: 'reproduce',
  summary: "Regenerate the paper-reproduction tables from scratch and report which reference numbers are met.",
  positionals: 'certify|cleanse|all',
  options,
  async run(v, positionals, ctx) {
    const part = positionals[0] ?? 'all';
    if (!(PARTS as readonly string[]).includes(part)) throw new UnknownNameError('part', part, PARTS);
    if (part === 'cleanse' || part === 'all') {
      const { reproduceCleanse } = await import('./reproduce-cleanse.js');
      if (part === 'cleanse') return reproduceCleanse(v, ctx);
    }
    const { loadBinaryDataset } = await import('../data/registry.js');
    const { certify } = await import('../certify/certify.js');
    const { certifyResultsSection, certifySectionHeading } = await import('../certify/results-markdown.js');
    const { sharedDataDir } = await import('../data/paths.js');
    const { replaceMarkdownSection } = await import('../report/markdown-section.js');
    const seed = seedOption('seed', v.seed) ?? 0;
    const root = v['data-dir'] ?? sharedDataDir();
    const names = v.datasets ? v.datasets.split(',').map((s) => s.trim()) : v.quick ? [...QUICK.datasets] : Object.keys(CERTIFY_DATASETS);
    for (const n of names) if (!(n in CERTIFY_DATASETS)) throw new UnknownNameError('dataset', n, Object.keys(CERTIFY_DATASETS));
    // A reproduction folder is re-run in place (its own files are rewritten); it is claimed before the work.
    if (v.out) mkdirSync((await import('../outputs.js')).claimOutputDir(v.out, { option: '--out', existing: 'resume' }), { recursive: true });
    const summary: string[] = [];
    let met = 0;
    let total = 0;
    for (const name of names) {
      const folder = root ? join(root, CERTIFY_DATASETS[name]) : undefined;
      const dataDir = folder && existsSync(folder) ? folder : undefined;
      if (!dataDir && name !== 'mnist17') {
        summary.push(`${name}: skipped — no data folder (${folder ?? 'no --data-dir'})`);
        continue;
      }
      const data = await loadBinaryDataset(name, dataDir, seed);
      const grid = v.quick ? QUICK.eps : undefined;
      const bar = progressBar(`certify ${name}`, 1000, ctx.interactive);
      const seen = new Map<number, number>();
      const report = await certify(data, {
        eps: grid,
        iterations: v.quick ? QUICK.iterations : undefined,
        seed,
        onProgress: (p) => {
          seen.set(p.eps, p.phase === 'algorithm1' ? (0.5 * p.iteration) / Math.max(p.total, 1) : p.phase === 'attack-run' ? 0.5 + (0.4 * p.iteration) / Math.max(p.total, 1) : 0.95);
          let done = 0;
          for (const f of seen.values()) done += f;
          bar.update(Math.round((1000 * done) / (grid?.length ?? 9)));
        },
      });
      bar.stop();
      const madeBy = `poisonguard reproduce certify --datasets ${name}${v.quick ? ' --quick' : ''}`;
      const { markdown, comparison } = certifyResultsSection(report, madeBy);
      const heading = certifySectionHeading(name);
      ctx.out(`## ${heading}\n\n${markdown}\n`);
      if (v.update) replaceMarkdownSection(v.update, heading, markdown);
      if (v.out) {
        const { attacks: _a, ...rest } = report;
        writeFileSync(join(v.out, `certify-${name}.json`), `${JSON.stringify(rest, null, 2)}\n`);
        writeFileSync(join(v.out, `certify-${name}.md`), `## ${heading}\n\n${markdown}\n`);
      }
      const ok = comparison.filter((c) => c.met).length;
      met += ok;
      total += comparison.length;
      summary.push(`${name}: ${ok}/${comparison.length} reference numbers within ±20%${v.quick ? ' (quick recipe: not the paper grid)' : ''}; checks ${Object.values(report.checks).every(Boolean) ? 'pass' : 'see table'}`);
    }
    ctx.out(['Summary:', ...summary.map((s) => `  ${s}`), `  certify overall: ${met}/${total} reference numbers met`].join('\n'));
    if (part === 'all') {
      const { reproduceCleanse } = await import('./reproduce-cleanse.js');
      return reproduceCleanse(v, ctx);
    }
    if (total === 0 && names.length > 0) throw new PoisonguardError('not-found', 'no dataset could be run; pass --data-dir with the datasets.');
    return 0;
  },
};
