/** `poisonguard zoo scan|status|calibrate`: triage a zoo of models, locally or through a job queue on Redis. */
import { availableParallelism } from 'node:os';
import { DEFAULT_FAST_BUDGET } from '../cleanse/fast.js';
import { DEFAULT_MAX_STEPS } from '../cleanse/recipe.js';
import { DEFAULT_REPEAT } from '../cleanse/verdict.js';
import { OptionError, PoisonguardError } from '../errors.js';
import { DEFAULT_SEED } from '../random.js';
import type { Command } from './command.js';
import { intOption, seedOption, withFlagNames } from './command.js';

/** Exit status of a run stopped by Ctrl-C (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;
const SUBCOMMANDS = ['scan', 'status', 'calibrate'] as const;

const options = {
  out: { type: 'string', value: 'DIR|FILE', help: 'scan: the output folder (zoo.json, zoo.html, models/NAME/…; re-running resumes it). calibrate: the calibration JSON to write.' },
  queue: { type: 'string', value: 'redis://HOST:PORT[/DB]', help: "scan: run each label chunk as a job on this Redis (taken by 'poisonguard worker'); default: this machine's cores. status: the queue to show." },
  'queue-name': { type: 'string', value: 'NAME', help: 'The BullMQ queue (default poisonguard-zoo); one coordinator per name.' },
  calibration: { type: 'string', value: 'FILE', help: "scan: P(backdoored) from this calibration (written by 'zoo calibrate'); default: the shipped one." },
  fast: { type: 'boolean', help: `scan: fast mode for every model (rounds, retiring, a budget of ${DEFAULT_FAST_BUDGET} steps per label, escalation when unclear).` },
  budget: { type: 'string', value: 'N', help: `scan: fast mode's steps per label (default ${DEFAULT_FAST_BUDGET}).` },
  steps: { type: 'string', value: 'N', default: String(DEFAULT_MAX_STEPS), help: 'scan: maximum optimisation steps per label.' },
  seed: { type: 'string', value: 'S', default: String(DEFAULT_SEED), help: 'scan: seed of the masks, patterns and batch order.' },
  repeat: { type: 'string', value: 'R', default: String(DEFAULT_REPEAT), help: 'scan: scans per model with seeds S, S+1, ….' },
  'clean-images': { type: 'string', value: 'N', help: 'scan: N test images per model (seeded draw) instead of the whole test split.' },
  'data-dir': { type: 'string', value: 'DIR', help: "scan: the datasets' folder (as for scan)." },
  workers: { type: 'string', value: 'K', help: `scan without --queue: worker threads per model (default: the cores, here ${availableParallelism()}).` },
  'leave-one-out': { type: 'boolean', help: 'calibrate: also score each model with a calibration fitted on the others (printed, and saved in the file).' },
  force: { type: 'boolean', help: 'calibrate: replace an existing --out file.' },
  json: { type: 'boolean', help: 'Print the result (zoo.json, the calibration, the status) as JSON.' },
} as const;

export const zooCommand: Command<typeof options> = {
  name: 'zoo',
  summary: 'Triage a zoo of models: scan each (locally or through a Redis job queue), P(backdoored), ROC-AUC and cross-entropy.',
  positionals: 'scan ZOO | status [DIR] | calibrate DIR',
  description: `
zoo scan ZOO --out DIR      ZOO is a folder of model folders and .onnx files, or a CSV with a header
                            path[,infected[,target]] (paths relative to the CSV; infected yes/no).
                            Each model is scanned into DIR/models/NAME (scan.json, report.html); then
                            DIR/zoo.json and DIR/zoo.html: verdicts, P(backdoored), and with ground
                            truth (the CSV's, or a poisonguard model's metadata) ROC-AUC,
                            cross-entropy and the confusion table. A model that is missing or cannot
                            be scanned is named and the others go on. With --queue, each label chunk
                            is a BullMQ job taken by 'poisonguard worker --queue URL' on any machine;
                            results are the same bits as a local scan.
zoo status [DIR] --queue URL  Jobs waiting, running, done and failed; workers; the coordinator; with
                            DIR, each model's labels done.
zoo calibrate DIR --out FILE  Fits the logistic calibration on DIR/zoo.json's models with ground truth.

Example: poisonguard zoo scan zoo.csv --out runs/zoo --fast --queue redis://10.0.0.5:6379`,
  options,
  async run(v, positionals, ctx) {
    const [sub, ...args] = positionals;
    if (!(SUBCOMMANDS as readonly string[]).includes(sub ?? '')) throw new OptionError('zoo', `a subcommand: ${SUBCOMMANDS.join(', ')}`, sub);
    const { parseQueueUrl, checkQueueName, DEFAULT_QUEUE_NAME } = await import('../zoo/queue.js');
    const queueName = checkQueueName(v['queue-name'] ?? DEFAULT_QUEUE_NAME);
    const queueUrl = v.queue === undefined ? undefined : parseQueueUrl(v.queue);
    if (sub === 'status') return status(args, queueUrl, queueName, v.json, ctx);
    if (sub === 'calibrate') return calibrate(args, v, ctx);

    if (args.length !== 1) throw new OptionError('ZOO', 'one zoo: a folder of models or a CSV listing them', args.join(' ') || undefined);
    if (v.out === undefined) throw new OptionError('--out', 'the zoo scan\'s output folder', undefined);
    const steps = intOption('steps', v.steps)!;
    const repeat = intOption('repeat', v.repeat)!;
    const seed = seedOption('seed', v.seed)!;
    const budget = intOption('budget', v.budget);
    const workers = intOption('workers', v.workers);
    const cleanImages = intOption('clean-images', v['clean-images']);
    if (budget !== undefined && !v.fast) throw new OptionError('--budget', 'used with --fast', v.budget);
    if (workers !== undefined && queueUrl) throw new OptionError('--workers', "absent with --queue (the workers are 'poisonguard worker' processes)", v.workers);
    let calibration: { calibration: import('../zoo/calibration.js').Calibration; source: string } | undefined;
    if (v.calibration !== undefined) {
      const { readJsonFile } = await import('../run-files.js');
      const { checkCalibration } = await import('../zoo/calibration.js');
      calibration = { calibration: checkCalibration(readJsonFile(v.calibration), v.calibration), source: v.calibration };
    }
    const { scanZoo } = await import('../zoo/scan-zoo.js');
    const controller = new AbortController();
    const onSignal = (): void => {
      if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
      ctx.err('interrupt: finishing the chunks in flight and saving (press Ctrl-C again to quit at once)');
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const { progressBar } = await import('./progress.js');
    let bar: ReturnType<typeof progressBar> | undefined;
    let total = 0;
    let done = 0;
    let report;
    try {
      report = await withFlagNames({ out: '--out', maxSteps: '--steps', seed: '--seed', repeat: '--repeat', cleanImages: '--clean-images', workers: '--workers', dataDir: '--data-dir' }, () =>
        scanZoo({
          zoo: args[0],
          out: v.out!,
          scan: {
            maxSteps: steps,
            seed,
            repeat,
            fast: v.fast ? (budget !== undefined ? { budget } : true) : false,
            ...(cleanImages !== undefined ? { cleanImages } : {}),
            ...(workers !== undefined ? { workers } : {}),
            ...(v['data-dir'] !== undefined ? { dataDir: v['data-dir'] } : {}),
          },
          ...(queueUrl ? { queue: { url: queueUrl, name: queueName } } : {}),
          ...(calibration ? { calibration } : {}),
          signal: controller.signal,
          onProgress: (p) => {
            if (p.kind === 'start') {
              total = p.models;
              bar = progressBar('zoo', total, ctx.interactive, ' {model}');
              return;
            }
            if (p.kind === 'model-done' || p.kind === 'model-failed') {
              done++;
              bar?.update(done, { model: p.name });
              if (!ctx.interactive && !ctx.quiet) ctx.err(p.kind === 'model-done' ? `[${done}/${total}] ${p.name}: ${p.verdict}, P(backdoored) ${p.p.toFixed(3)}` : `[${done}/${total}] ${p.name}: failed — ${p.error}`);
              return;
            }
            if (p.kind === 'scan' && p.progress.kind === 'label-done' && !ctx.interactive && !ctx.quiet) {
              ctx.err(`${p.name}: label ${p.progress.result.label} done (norm ${p.progress.result.norm.toFixed(2)}, ${p.progress.result.steps} steps)`);
            }
          },
        }),
      );
    } catch (e) {
      if (controller.signal.aborted && e instanceof PoisonguardError && e.code === 'interrupted') {
        ctx.err(`poisonguard zoo: interrupted; every finished label is saved in ${v.out}: run the same command again to resume.`);
        return EXIT_INTERRUPTED;
      }
      throw e;
    } finally {
      bar?.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (v.json) {
      ctx.out(JSON.stringify(report, null, 2));
      return report.failed.length > 0 ? 1 : 0;
    }
    for (const m of report.models) {
      const truth = m.truth ? (m.truth.infected ? `infected${m.truth.target !== null ? `→${m.truth.target}` : ''}` : 'clean') : '?';
      ctx.out(
        m.status === 'scanned'
          ? `${m.name.padEnd(24)} ${truth.padEnd(12)} ${m.verdict!.padEnd(10)} P(backdoored) ${m.pBackdoored!.toFixed(3)}  index ${m.features!.anomalyIndex.toFixed(2)}  z ${m.features!.secondary.toFixed(2)}`
          : `${m.name.padEnd(24)} ${truth.padEnd(12)} FAILED: ${m.error}`,
      );
    }
    const mt = report.metrics;
    if (mt) {
      const c = mt.confusion;
      ctx.out(`ground truth on ${mt.models} model(s), ${mt.infected} infected: ROC-AUC ${mt.rocAuc === null ? '–' : mt.rocAuc.toFixed(3)}, cross-entropy ${mt.crossEntropy === null ? '–' : mt.crossEntropy.toFixed(3)}`);
      ctx.out(`  verdict      backdoored suspicious clean`);
      ctx.out(`  infected     ${String(c.infected.backdoored).padStart(10)} ${String(c.infected.suspicious).padStart(10)} ${String(c.infected.clean).padStart(5)}`);
      ctx.out(`  clean        ${String(c.clean.backdoored).padStart(10)} ${String(c.clean.suspicious).padStart(10)} ${String(c.clean.clean).padStart(5)}`);
    }
    if (report.failed.length > 0) ctx.out(`failed: ${report.failed.map((f) => f.name).join(', ')}`);
    ctx.out(`written to ${v.out}/zoo.json and ${v.out}/zoo.html (${report.seconds.toFixed(1)} s)`);
    // Some models could not be scanned: the summary is written, but the run did not do all it was asked.
    return report.failed.length > 0 ? 1 : 0;
  },
};

async function status(args: string[], url: import('../zoo/queue.js').QueueUrl | undefined, name: string, json: boolean, ctx: Parameters<Command['run']>[2]): Promise<number> {
  if (args.length > 1) throw new OptionError('DIR', 'at most one zoo out folder', args.join(' '));
  if (!url && args.length === 0) throw new OptionError('--queue', 'a queue (redis://HOST:PORT[/DB]) or a zoo out folder to show', undefined);
  const { zooStatus } = await import('../zoo/status.js');
  const s = await zooStatus({ ...(url ? { url } : {}), name, ...(args[0] !== undefined ? { dir: args[0] } : {}) });
  if (json) ctx.out(JSON.stringify(s, null, 2));
  else for (const line of s.lines) ctx.out(line);
  return 0;
}

async function calibrate(args: string[], v: { out?: string; force: boolean; json: boolean; 'leave-one-out': boolean }, ctx: Parameters<Command['run']>[2]): Promise<number> {
  if (args.length !== 1) throw new OptionError('DIR', "one zoo out folder (written by 'zoo scan')", args.join(' ') || undefined);
  if (v.out === undefined) throw new OptionError('--out', 'the calibration file to write', undefined);
  const { calibrateZoo } = await import('../zoo/status.js');
  const r = await calibrateZoo(args[0], v.out, { force: v.force, leaveOneOut: v['leave-one-out'] });
  if (v.json) ctx.out(JSON.stringify(r.calibration, null, 2));
  for (const line of r.lines) ctx.out(line);
  return 0;
}
