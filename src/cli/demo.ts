/**
 * `poisonguard demo` (what `npm start` runs): both halves of the tool on the embedded MNIST, in a
 * few minutes on 2 cores — certify MNIST-1-7 on a short ε grid, train a small BadNets MNIST model,
 * scan it with Neural Cleanse (fast mode) and write one HTML report of everything.
 */
import { mkdirSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PoisonguardError } from '../errors.js';
import type { Command, CommandContext } from './command.js';
import { intOption } from './command.js';

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

const options = {
  out: { type: 'string', value: 'DIR', default: 'runs/demo', help: 'Run folder for everything the demo writes.' },
  seed: { type: 'string', value: 'S', default: '0', help: 'Random seed of every step.' },
  quick: { type: 'boolean', help: 'A smaller run (fewer iterations, images and scan steps), for tests.' },
  force: { type: 'boolean', help: 'Start over when --out already holds a demo run.' },
} as const;

export const demoCommand: Command<typeof options> = {
  name: 'demo',
  summary: 'Both halves on embedded MNIST: certify MNIST-1-7, train a BadNets model, scan it, write the HTML report.',
  description: `
Runs, in order (each step is an ordinary command, printed before it runs):
  1. certify --dataset mnist17 --eps ${DEMO_RECIPE.eps} --iters ${DEMO_RECIPE.iterations} --out DIR
  2. train --dataset mnist --backdoor ${DEMO_RECIPE.backdoor} --epochs ${DEMO_RECIPE.epochs} --out DIR/model
  3. scan --model DIR/model --fast --clean-images ${DEMO_RECIPE.cleanImages} --out DIR
  4. report DIR --out DIR/report.html
Re-running resumes a finished or interrupted run (the scan resumes label by label); --force restarts.`,
  options,
  async run(v, _pos, ctx) {
    const { main } = await import('./main.js');
    const out = resolve(v.out);
    const seed = String(intOption('seed', v.seed) ?? 0);
    const q = v.quick ? DEMO_RECIPE.quick : undefined;
    if (v.force && existsSync(out)) rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const started = performance.now();
    const quiet = ctx.interactive ? [] : ['--quiet'];
    const step = async (title: string, args: string[]): Promise<void> => {
      const t0 = performance.now();
      ctx.err(`\n▶ ${title}\n  poisonguard ${args.join(' ')}`);
      const code = await main([...args, ...quiet], ctx);
      if (code !== 0) throw new PoisonguardError('interrupted', `demo step '${args[0]}' failed (exit ${code}); fix the cause above and run the demo again to resume.`);
      ctx.err(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    };
    await step('1/4 certified bound on MNIST-1-7 (Steinhardt et al. 2017)', [
      'certify', '--dataset', 'mnist17', '--eps', q?.eps ?? DEMO_RECIPE.eps, '--iters', String(q?.iterations ?? DEMO_RECIPE.iterations), '--seed', seed, '--out', out,
    ]);
    const modelDir = join(out, 'model');
    if (!existsSync(join(modelDir, 'metadata.json'))) {
      await step('2/4 train an MNIST model with a BadNets backdoor (target 7)', [
        'train', '--dataset', 'mnist', '--backdoor', DEMO_RECIPE.backdoor, '--epochs', String(q?.epochs ?? DEMO_RECIPE.epochs), '--seed', seed, '--out', modelDir,
      ]);
    } else ctx.err(`\n▶ 2/4 model already trained in ${modelDir}`);
    await step('3/4 Neural Cleanse scan of every label (fast mode)', [
      'scan', '--model', modelDir, '--fast', '--clean-images', String(q?.cleanImages ?? DEMO_RECIPE.cleanImages), '--seed', seed, '--out', out,
      ...(q ? ['--steps', String(q.maxSteps)] : []),
    ]);
    const page = join(out, 'report.html');
    await step('4/4 HTML report', ['report', out, '--out', page]);
    ctx.out(`\nDemo finished in ${((performance.now() - started) / 1000).toFixed(0)} s. Report: ${page}`);
    return 0;
  },
};

export type { CommandContext };
