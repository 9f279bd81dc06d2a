/**
 * `poisonguard certify --method dpa|fa`: the aggregation certificates (Deep Partition Aggregation,
 * Finite Aggregation). The options are declared in certify.ts; this file turns them into the
 * library's and renders the progress and the result.
 */
import { MissingOptionError, OptionError } from '../errors.js';
import { PARTITION_HASHES, type NetRecipe } from '../certify/aggregation/recipe.js';
import { INPUT_LAYOUTS } from '../graph/layout.js';
import { checkOneOf } from '../options.js';
import type { CommandContext } from './command.js';
import { intOption, numberListOption, seedOption, withFlagNames } from './command.js';
import { progressBar } from './progress.js';

/** The certify options this method reads (a subset of certify.ts's table). */
export interface AggregationValues {
  readonly method: string;
  readonly dataset: string;
  readonly 'data-dir'?: string | undefined;
  readonly partitions?: string | undefined;
  readonly spread?: string | undefined;
  readonly learner?: string | undefined;
  readonly 'input-layout'?: string | undefined;
  readonly preprocess?: string | undefined;
  readonly budgets?: string | undefined;
  readonly hash?: string | undefined;
  readonly epochs?: string | undefined;
  readonly 'batch-size'?: string | undefined;
  readonly 'net-recipe'?: string | undefined;
  readonly crop?: string | undefined;
  readonly seed: string;
  readonly workers?: string | undefined;
  readonly queue?: string | undefined;
  readonly 'queue-name'?: string | undefined;
  readonly json: boolean;
  readonly out?: string | undefined;
  readonly force: boolean;
  readonly eps?: string | undefined;
  readonly iters?: string | undefined;
  readonly percentile?: string | undefined;
  readonly points?: string | undefined;
  readonly bound?: string | undefined;
}

/** The U* options that mean nothing to an aggregation certificate: given with one, they are refused rather than ignored. */
export const BOUND_ONLY_OPTIONS = ['eps', 'iters', 'percentile', 'points', 'bound'] as const;

export async function runAggregationCertify(v: AggregationValues, ctx: CommandContext): Promise<number> {
  for (const o of BOUND_ONLY_OPTIONS) if (v[o] !== undefined) throw new OptionError(`--${o}`, `absent with --method ${v.method} (it sets Steinhardt et al.'s bound)`, v[o]);
  const { certifyAggregation, checkBudgets } = await import('../certify/aggregation/aggregate.js');
  if (v.partitions === undefined) throw new MissingOptionError('--partitions', `the number k of partitions (--method ${v.method})`);
  const partitions = intOption('partitions', v.partitions)!;
  const budgets = v.budgets === undefined ? undefined : checkBudgets('--budgets', numberListOption('budgets', v.budgets)!);
  // A known learner's name or an ONNX model's path: the library tells them apart.
  const learner = v.learner;
  const inputLayout = v['input-layout'] === undefined ? undefined : checkOneOf('--input-layout', v['input-layout'], INPUT_LAYOUTS);
  const preprocessing = v.preprocess === undefined ? undefined : (await import('../nn/preprocess.js')).parsePreprocessingSpec(v.preprocess);
  const hash = v.hash === undefined ? undefined : checkOneOf('--hash', v.hash, PARTITION_HASHES);
  let queue: { url: import('../zoo/queue.js').QueueUrl; name: string } | undefined;
  if (v.queue !== undefined || v['queue-name'] !== undefined) {
    const { parseQueueUrl, checkQueueName, DEFAULT_QUEUE_NAME } = await import('../zoo/queue.js');
    if (v.queue === undefined) throw new OptionError('--queue-name', 'absent without --queue', v['queue-name']);
    queue = { url: parseQueueUrl(v.queue), name: checkQueueName(v['queue-name'] ?? DEFAULT_QUEUE_NAME) };
    if (!ctx.quiet) ctx.err(`base classifiers go to queue '${queue.name}' at ${queue.url.url}; train them with: poisonguard worker --queue ${queue.url.url}${v['queue-name'] !== undefined ? ` --queue-name ${queue.name}` : ''}`);
  }
  let outDir: string | undefined;
  if (v.out !== undefined) {
    const { claimOutputDir } = await import('../outputs.js');
    outDir = claimOutputDir(v.out, { option: '--out', existing: 'resume' });
  }
  let bar: ReturnType<typeof progressBar> | undefined;
  let lastLog = 0;
  const report = await withFlagNames({ partitions: '--partitions', spread: '--spread', learner: '--learner', inputLayout: '--input-layout', preprocessing: '--preprocess', dataset: '--dataset', epochs: '--epochs', batchSize: '--batch-size', netRecipe: '--net-recipe', crop: '--crop', seed: '--seed', workers: '--workers', out: '--out', queue: '--queue' }, () =>
    certifyAggregation({
      method: checkOneOf('--method', v.method, ['dpa', 'fa'] as const),
      partitions,
      ...(v.spread !== undefined ? { spread: intOption('spread', v.spread)! } : {}),
      ...(learner !== undefined ? { learner } : {}),
      ...(inputLayout !== undefined ? { inputLayout } : {}),
      ...(preprocessing !== undefined ? { preprocessing } : {}),
      dataset: v.dataset,
      ...(v['data-dir'] !== undefined ? { dataDir: v['data-dir'] } : {}),
      ...(hash !== undefined ? { hash } : {}),
      seed: seedOption('seed', v.seed)!,
      ...(budgets !== undefined ? { budgets } : {}),
      ...(v.epochs !== undefined ? { epochs: intOption('epochs', v.epochs)! } : {}),
      ...(v['batch-size'] !== undefined ? { batchSize: intOption('batch-size', v['batch-size'])! } : {}),
      ...(v['net-recipe'] !== undefined ? { netRecipe: v['net-recipe'] as NetRecipe } : {}),
      ...(v.crop !== undefined ? { crop: intOption('crop', v.crop)! } : {}),
      ...(v.workers !== undefined ? { workers: intOption('workers', v.workers)! } : {}),
      ...(queue !== undefined ? { queue } : {}),
      ...(outDir !== undefined ? { out: outDir, force: v.force } : {}),
      onProgress: (p) => {
        bar ??= progressBar('classifiers', p.total, ctx.interactive, ' | resumed {resumed} | last {last}s');
        bar.update(p.done, { resumed: p.resumed, last: p.lastSeconds === undefined ? '-' : p.lastSeconds.toFixed(1) });
        const now = Date.now();
        if (!ctx.interactive && !ctx.quiet && (now - lastLog > 30_000 || p.done === p.total)) {
          lastLog = now;
          ctx.err(`  ${p.done}/${p.total} classifiers (${p.resumed} from the run folder)`);
        }
      },
    }),
  );
  bar?.stop();
  if (v.json) {
    ctx.out(JSON.stringify(report));
  } else {
    const { formatAggregationTable } = await import('../certify/aggregation/format.js');
    ctx.out(formatAggregationTable(report));
  }
  if (outDir !== undefined) ctx.err(`wrote ${outDir}/aggregation.json and the ${report.recipe.classifiers} classifiers under ${outDir}/partitions (a rerun resumes)`);
  return 0;
}
