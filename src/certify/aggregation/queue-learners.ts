/**
 * The coordinator's side of an aggregation certificate on the zoo's job queue: the base networks
 * are trained by `poisonguard worker` processes anywhere (queue-jobs.ts: what a job holds), and
 * this process saves each one into the run folder as it arrives — the same records as a local run,
 * so an interrupted queued run resumes like a local one (and either kind of run resumes the other).
 *
 * Every missing classifier is a job at once: the workers take them as fast as they can, and the
 * coordinator only waits. The first failure stops the run (the classifiers saved so far stay); the
 * jobs still queued are left for the workers, and a rerun within KEEP_FINISHED_SECONDS collects
 * their results instead of training them again.
 */
import type { ImageDataset } from '../../data/images.js';
import type { InputLayout } from '../../graph/layout.js';
import { PoisonguardError } from '../../errors.js';
import { putBlob } from '../../zoo/blobs.js';
import { openCoordinator, raceLost, REDIS_LOST_SECONDS, runJob, type CoordinatorRole, type QueueConnection, type QueueUrl } from '../../zoo/queue.js';
import type { NetSchedule } from './net-learner.js';
import { decodePartitionResult, dropWeightsBlob, packImageData, PARTITION_JOB, partitionJobData, partitionJobId, type PartitionResult, type PartitionSpec } from './queue-jobs.js';
import { savePartition } from './store.js';
import type { PartitionOutcome, PartitionTask } from './task.js';

/** Where the base classifiers are trained: a Redis URL, the queue's name, and how long Redis may not answer. */
export interface AggregationQueue {
  readonly url: QueueUrl;
  readonly name: string;
  /** Default {@link REDIS_LOST_SECONDS}. */
  readonly lostSeconds?: number;
}

// The CLI prefixes its errors with 'poisonguard certify:'; the option is what names the Redis.
const CERTIFY_ROLE: CoordinatorRole = { command: 'certify', unit: 'classifier', connecting: '--queue' };

export interface QueuedTraining {
  readonly queue: AggregationQueue;
  readonly dataset: ImageDataset;
  readonly schedule: NetSchedule;
  /** A user's architecture (the 'onnx' learner): its model packed as it travels (blobs.ts's packOnnxModel) and its layout. */
  readonly architecture?: { readonly bytes: Uint8Array; readonly entry?: string; readonly inputLayout: InputLayout };
  /** The run folder the classifiers are saved into (shown to other coordinators as the claim's owner). */
  readonly store?: string;
}

/** Trains `tasks` through the queue; `finish` gets each outcome once it is saved. */
export async function trainOnQueue(o: QueuedTraining, tasks: readonly PartitionTask[], finish: (outcome: PartitionOutcome) => void): Promise<void> {
  const conn = await openCoordinator(o.queue.url, o.queue.name, o.store ?? '(no --out)', o.queue.lostSeconds ?? REDIS_LOST_SECONDS, CERTIFY_ROLE);
  try {
    const { bytes, shape } = packImageData(o.dataset);
    const a = o.architecture;
    const model = a ? { model: { blob: await raceLost(conn, putBlob(conn.redis, a.bytes)), inputLayout: a.inputLayout, ...(a.entry !== undefined ? { entry: a.entry } : {}) } } : {};
    const spec: PartitionSpec = { data: { blob: await raceLost(conn, putBlob(conn.redis, bytes)), ...shape }, schedule: o.schedule, ...model };
    const run = o.dataset.name;
    const expect = { testCount: shape.test, numClasses: shape.numClasses };
    // After a failure the classifiers still arriving are not saved: the run stops at the first one.
    let failed = false;
    const one = async (task: PartitionTask): Promise<void> => {
      const r = await raceLost(conn, collect(conn, spec, run, task, { ...expect, members: task.members.length }));
      if (failed) return;
      const outcome = { index: task.index, predictions: r.predictions, trainSeconds: r.trainSeconds, evalSeconds: r.evalSeconds };
      if (o.store !== undefined) savePartition(o.store, { ...outcome, seed: task.seed, members: task.digest, model: { kind: 'net', arch: o.schedule.arch } }, r.weights);
      if (r.weightsBlob) await dropWeightsBlob(conn.redis, r.weightsBlob).catch(() => {});
      finish(outcome);
    };
    // Promise.all rejects at the first failure and handles the later ones.
    await Promise.all(
      tasks.map((t) =>
        one(t).catch((e: unknown) => {
          failed = true;
          throw e;
        }),
      ),
    );
  } finally {
    await conn.close();
  }
}

/** One classifier's result; a finished job whose weights blob has expired meanwhile runs once more. */
async function collect(conn: QueueConnection, spec: PartitionSpec, run: string, task: PartitionTask, expect: { testCount: number; numClasses: number; members: number }): Promise<PartitionResult> {
  const jobId = partitionJobId(spec, task);
  const where = `job ${jobId} of ${conn.name}`;
  const what = `${run}, base classifier ${task.index}`;
  const raw = await runJob(conn, PARTITION_JOB, jobId, partitionJobData(run, spec, task), what);
  try {
    return await decodePartitionResult(raw, conn.redis, expect, where);
  } catch (e) {
    if (!(e instanceof PoisonguardError && e.code === 'not-found')) throw e;
    const { Job } = await import('bullmq');
    await (await Job.fromId(conn.queue, jobId))?.remove();
    return decodePartitionResult(await runJob(conn, PARTITION_JOB, jobId, partitionJobData(run, spec, task), what), conn.redis, expect, where);
  }
}
