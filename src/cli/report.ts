/** `poisonguard report`: one self-contained HTML page from a run folder. */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { OptionError } from '../errors.js';
import type { Command } from './command.js';
import { numberOption } from './command.js';

const options = {
  out: { type: 'string', value: 'FILE', help: 'Where to write the page (default: RUN_DIR/report.html).' },
  figures: { type: 'string', value: 'DIR', help: 'Also write every figure as SVG and PNG into DIR.' },
  eps: { type: 'string', value: 'E', help: 'The ε whose attack points the 2-D projection shows (default: the largest).' },
  title: { type: 'string', value: 'TEXT', help: "The page's title (default: poisonguard report: DATASET)." },
  force: { type: 'boolean', help: 'Replace an existing page (and figures of the same names in --figures).' },
} as const;

export const reportCommand: Command<typeof options> = {
  name: 'report',
  summary: 'A self-contained HTML report (text, tables, plots) of a run folder.',
  positionals: 'RUN_DIR [RUN_DIR …]',
  description: `
Reads what RUN_DIR holds — certify.json and projection.json (written by 'certify --out RUN_DIR'),
scan.json, mitigation.json, aggregation.json (written by 'certify --method dpa|fa --out RUN_DIR'), detectors.json (written by 'scan --detectors … --out RUN_DIR') —
and writes one HTML file with everything inline (no network, no scripts). RUN_DIR may also be a single JSON file, e.g. the output of 'certify --json > FILE'.
Several folders make one page, e.g. a scan folder and the mitigate command's output folder.

Example: poisonguard certify --dataset mnist17 --out runs/mnist17
         poisonguard report runs/mnist17 --figures runs/mnist17/figures`,
  options,
  async run(v, positionals, ctx) {
    if (positionals.length === 0) throw new OptionError('RUN_DIR', 'a run folder (e.g. poisonguard report runs/mnist17)', undefined);
    const runPath = positionals[0];
    const projectionEps = numberOption('eps', v.eps);
    const { readRunFolders, REPORT_HTML } = await import('../report/run-folder.js');
    const { claimOutputDir, claimOutputFile } = await import('../outputs.js');
    const { buildReport } = await import('../report/build.js');
    const run = readRunFolders(positionals);
    if (projectionEps !== undefined && !run.projection) throw new OptionError('--eps', "used with a run folder that has projection.json (written by 'certify --out DIR')", v.eps);
    if (projectionEps !== undefined && run.projection && !run.projection.attacks.some((a) => Math.abs(a.eps - projectionEps) < 1e-12)) {
      throw new OptionError('--eps', `one of the run's ε values (${run.projection.attacks.map((a) => a.eps).join(', ')})`, v.eps);
    }
    // The page (and the figures' folder) are claimed before the report is built. With --force,
    // figures of the same names are overwritten; nothing else there is touched.
    const out = claimOutputFile(v.out ?? join(statSync(runPath).isFile() ? dirname(runPath) : runPath, REPORT_HTML), { option: '--out', force: v.force });
    const figures = v.figures === undefined ? undefined : claimOutputDir(v.figures, { option: '--figures', existing: 'fresh', foreign: 'keep', force: v.force });
    const built = await buildReport(run, {
      png: v.figures !== undefined,
      ...(projectionEps !== undefined ? { projectionEps } : {}),
      ...(v.title !== undefined ? { title: v.title } : {}),
      generator: 'poisonguard report',
    });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, built.html);
    if (figures !== undefined) {
      mkdirSync(figures, { recursive: true });
      for (const [name, fig] of built.figures) {
        writeFileSync(join(figures, `${name}.svg`), fig.svg);
        if (fig.png) writeFileSync(join(figures, `${name}.png`), fig.png);
      }
      ctx.err(`wrote ${built.figures.size} figure(s) to ${v.figures}`);
    }
    ctx.out(`wrote ${out} (${(built.html.length / 1024).toFixed(0)} KB; sections: ${[run.certify && 'certify', run.aggregation && 'aggregation', run.scan && 'scan', run.mitigation && 'mitigation'].filter(Boolean).join(', ')})`);
    return 0;
  },
};
