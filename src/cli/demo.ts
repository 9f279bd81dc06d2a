/**
 * `poisonguard demo` (what `npm start` runs): both halves of the tool on the embedded MNIST, in a
 * few minutes on 2 cores — certify MNIST-1-7 on a short ε grid, train a small BadNets MNIST model,
 * scan it with Neural Cleanse (fast mode) and write one HTML report of everything.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, CommandContext } from './command.js';
import { seedOption } from './command.js';
import { DEFAULT_SEED } from '../random.js';

/** The demo's recipe: short, so that it fits in a few minutes; every step says what it ran. */
export const DEMO_RECIPE = {
  /** A short ε grid of the certified bound, and a T that covers ε·n at its largest ε. */
  eps: '0,0.01,0.03,0.05',
  iterations: 1000,
  /** BadNets: the Neural Cleanse 4x4 white square, bottom-right, target 7, rate 0.1/1.1. */
  backdoor: 'square:size=4,pos=bottom-right,colour=white,target=7',
  epochs: 1,
  /** Clean images the scan draws from the test split. */
  cleanImages: 2000,
  /** Quick mode (tests): fewer of everything. */
  quick: { eps: '0,0.02,0.05', iterations: 700, epochs: 1, cleanImages: 1000, maxSteps: 120 },
} as const;

/** The model's sub-folder of the demo's run folder. */
const DEMO_MODEL_DIR = 'model';

const options = {
  out: { type: 'string', value: 'DIR', default: 'runs/demo', help: 'Run folder for everything the demo writes.' },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'Random seed of every step.' },
  quick: { type: 'boolean', help: 'A smaller run (fewer iterations, images and scan steps), for tests.' },
  force: { type: 'boolean', help: "Start over when --out already holds a demo run: removes the demo's own files only, and refuses a folder that holds anything else." },
} as const;

export const demoCommand: Command<typeof options> = {
  name: 'demo',
  summary: 'Both halves on embedded MNIST: certify MNIST-1-7, train a BadNets model, scan it, write the HTML report.',
  description: `
Runs, in order, what these commands do (each step says what it runs):
  1. certify --dataset mnist17 --eps ${DEMO_RECIPE.eps} --iters ${DEMO_RECIPE.iterations} --out DIR
  2. train --dataset mnist --backdoor ${DEMO_RECIPE.backdoor} --epochs ${DEMO_RECIPE.epochs} --out DIR/model
  3. scan --model DIR/model --fast --clean-images ${DEMO_RECIPE.cleanImages} --out DIR
  4. report DIR --out DIR/report.html
Re-running resumes a finished or interrupted run (the scan resumes label by label); --force restarts.`,
  options,
  async run(v, _pos, ctx) {
    const seed = seedOption('seed', v.seed) ?? 0;
    const q = v.quick ? DEMO_RECIPE.quick : undefined;
    // --force removes only what a demo run writes, and nothing at all when the folder holds
    // anything else: the folder may be someone's, given by mistake.
    const { claimOutputDir, ownFiles } = await import('../outputs.js');
    const { CERTIFY_RUN_FILES, REPORT_HTML } = await import('../report/run-folder.js');
    const { SCAN_FOLDER_FILES } = await import('../cleanse/scan.js');
    const { MODEL_FOLDER_FILES } = await import('../nn/model-io.js');
    const own = ownFiles(CERTIFY_RUN_FILES, SCAN_FOLDER_FILES, { files: [REPORT_HTML], dirs: [{ name: DEMO_MODEL_DIR, holds: MODEL_FOLDER_FILES }] });
    const out = claimOutputDir(v.out, { option: '--out', existing: 'resume', force: v.force, own, foreign: 'refuse' });
    const started = performance.now();
    const step = async <T>(title: string, what: string, work: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      if (!ctx.quiet) ctx.err(`\n▶ ${title}\n  ${what}`);
      const result = await work();
      if (!ctx.quiet) ctx.err(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      return result;
    };
    const eps = (q?.eps ?? DEMO_RECIPE.eps).split(',').map(Number);
    const iterations = q?.iterations ?? DEMO_RECIPE.iterations;
    await step('1/4 certified bound on MNIST-1-7 (Steinhardt et al. 2017)', `certify mnist17, ε ${eps.join(', ')}, T = ${iterations}, seed ${seed}, into ${out}`, async () => {
      const { loadBinaryDataset } = await import('../data/registry.js');
      const { certify } = await import('../certify/certify.js');
      const { formatCertifyTable } = await import('../certify/format.js');
      const { writeCertifyRun } = await import('../report/run-folder.js');
      const data = await loadBinaryDataset('mnist17', undefined, seed);
      const report = await certify(data, { eps, iterations, seed });
      ctx.out(formatCertifyTable(report));
      const files = writeCertifyRun(out, data, report);
      ctx.err(`wrote ${files.report} and ${files.projection}`);
    });
    const modelDir = join(out, DEMO_MODEL_DIR);
    const epochs = q?.epochs ?? DEMO_RECIPE.epochs;
    if (!existsSync(join(modelDir, 'metadata.json'))) {
      await step('2/4 train an MNIST model with a BadNets backdoor (target 7)', `train mnist, backdoor ${DEMO_RECIPE.backdoor}, ${epochs} epoch(s), seed ${seed}, into ${modelDir}`, async () => {
        const { parseBackdoorSpec } = await import('../nn/backdoor-spec.js');
        const { runTraining } = await import('./train.js');
        await runTraining({ dataset: 'mnist', backdoor: parseBackdoorSpec(DEMO_RECIPE.backdoor), epochs, seed, out: modelDir }, ctx);
      });
    } else ctx.err(`\n▶ 2/4 model already trained in ${modelDir}`);
    const cleanImages = q?.cleanImages ?? DEMO_RECIPE.cleanImages;
    await step('3/4 Neural Cleanse scan of every label (fast mode)', `scan ${modelDir}, fast mode, ${cleanImages} clean images${q ? `, at most ${q.maxSteps} steps` : ''}, seed ${seed}, into ${out}`, async () => {
      const { scanModel } = await import('../cleanse/scan.js');
      const { printScanSummary, scanProgressPrinter } = await import('./scan.js');
      const report = await scanModel({
        model: modelDir,
        fast: { escalate: true },
        cleanImages,
        seed,
        out,
        ...(q ? { maxSteps: q.maxSteps } : {}),
        onProgress: scanProgressPrinter(ctx, 1),
      });
      printScanSummary(report, ctx);
    });
    const page = join(out, 'report.html');
    await step('4/4 HTML report', `report ${out} into ${page}`, async () => {
      const { readRunFolders } = await import('../report/run-folder.js');
      const { buildReport } = await import('../report/build.js');
      const built = await buildReport(readRunFolders([out]), { generator: 'poisonguard report' });
      writeFileSync(page, built.html);
    });
    ctx.out(`\nDemo finished in ${((performance.now() - started) / 1000).toFixed(0)} s. Report: ${page}`);
    return 0;
  },
};
