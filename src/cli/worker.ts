/** `poisonguard worker`: takes a zoo scan's label chunks and a certificate's base networks from a Redis job queue (src/zoo/worker.ts). */
import type { Command } from './command.js';
import { intOption } from './command.js';
import { OptionError } from '../errors.js';

const options = {
  queue: { type: 'string', required: true, value: 'redis://HOST:PORT[/DB]', help: 'The Redis of the zoo scan or the certify run.' },
  'queue-name': { type: 'string', value: 'NAME', help: 'The BullMQ queue (default poisonguard-zoo).' },
  concurrency: { type: 'string', value: 'N', default: '1', help: 'Jobs run at once, each on a worker thread (one per core is the most that helps).' },
  cache: { type: 'string', value: 'DIR', help: 'Where models received from the queue are kept (default: a folder under the system temp folder; training data are kept in memory).' },
  'lock-seconds': { type: 'string', value: 'S', help: "How long a job's lock lasts unrenewed: a killed worker's job is taken again after about twice this (default 30; every worker of a queue should use the same)." },
} as const;

export const workerCommand: Command<typeof options> = {
  name: 'worker',
  summary: "Take a zoo scan's label chunks and certify --method dpa|fa's base networks from a Redis job queue (run on any number of machines).",
  description: `
Connects to the queue and runs its jobs with the local commands' own code until stopped (Ctrl-C or
SIGTERM: the jobs in flight finish first): a 'zoo scan --queue' label chunk (each model and clean
set received once, by hash, and cached), or a 'certify --method dpa|fa --queue' base network (the
training data received once, by hash; the trained net's weights go back to the coordinator, which
saves them). A job of any other form fails with its reason and the worker goes on. A worker killed
outright loses its job: another worker takes it again once its lock has lapsed. No shared file
system and no dataset are needed on the worker's machine.

Example: poisonguard worker --queue redis://10.0.0.5:6379 --concurrency 16`,
  options,
  async run(v, _pos, ctx) {
    const { parseQueueUrl, checkQueueName, DEFAULT_QUEUE_NAME } = await import('../zoo/queue.js');
    const url = parseQueueUrl(v.queue);
    const name = checkQueueName(v['queue-name'] ?? DEFAULT_QUEUE_NAME);
    const concurrency = intOption('concurrency', v.concurrency)!;
    if (concurrency < 1 || concurrency > 1024) throw new OptionError('--concurrency', 'an integer in 1..1024', v.concurrency);
    const lockSeconds = intOption('lock-seconds', v['lock-seconds']);
    if (lockSeconds !== undefined && (lockSeconds < 1 || lockSeconds > 3600)) throw new OptionError('--lock-seconds', 'an integer in 1..3600', v['lock-seconds']);
    const { runWorker } = await import('../zoo/worker.js');
    const stop = new AbortController();
    const onSignal = (): void => {
      if (stop.signal.aborted) process.exit(130);
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const s = await runWorker({
        url,
        name,
        concurrency,
        ...(v.cache !== undefined ? { cacheDir: v.cache } : {}),
        ...(lockSeconds !== undefined ? { lockSeconds } : {}),
        signal: stop.signal,
        log: ctx.quiet ? () => {} : ctx.err,
      });
      ctx.out(`worker stopped: ${s.chunks} chunk(s) and ${s.classifiers} base classifier(s) done, ${s.failed} failed`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return 0;
  },
};
