/**
 * One base classifier's work, the same on a worker thread and inline: train on the subset, label
 * the test set, save both to the run folder (when there is one) — or, for a queue's worker, which
 * has no run folder, hand the model back for the coordinator to save.
 */
import type { ClassifierGraph } from '../../graph/ir.js';
import type { AggregationData, DataRef } from './data.js';
import type { NetSchedule } from './net-learner.js';
import { savePartition } from './store.js';
import { predictSvm, trainSvmPartition } from './svm-learner.js';

export interface PartitionTaskInit {
  /** The data by name (loaded in each thread), or the data itself (a queue's worker received it from Redis). */
  readonly data: DataRef | { readonly inline: AggregationData };
  /** The SVM's ρ² (svm learner; a net takes none). */
  readonly rho2?: number;
  /** The net's schedule (network learners). */
  readonly schedule?: NetSchedule;
  /** A user's architecture (the 'onnx' learner): its graph, re-initialised for each classifier. */
  readonly architecture?: ClassifierGraph;
  /** The run folder to save each finished classifier into. */
  readonly store?: string;
  /** Return the model with the outcome (a queue's worker: the coordinator saves it). */
  readonly returnModel?: boolean;
}

export interface PartitionTask {
  readonly index: number;
  readonly members: Int32Array;
  /** Digest of `members`, saved with the model. */
  readonly digest: string;
  readonly seed: number;
}

export interface PartitionOutcome {
  readonly index: number;
  readonly predictions: Uint8Array;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  /** With `returnModel`: the record's model and a net's weights (none for an empty partition), as {@link savePartition} takes them. */
  readonly model?: Record<string, unknown>;
  readonly weights?: Map<string, Float32Array>;
}

export async function runPartitionTask(init: PartitionTaskInit, data: AggregationData, task: PartitionTask): Promise<PartitionOutcome> {
  if (data.kind === 'features') {
    const t0 = performance.now();
    const model = trainSvmPartition(data.dataset, task.members, init.rho2!, task.seed);
    const t1 = performance.now();
    const predictions = predictSvm(data.dataset, model);
    const outcome = { index: task.index, predictions, trainSeconds: (t1 - t0) / 1000, evalSeconds: (performance.now() - t1) / 1000 };
    const record = { kind: 'svm', w: Buffer.from(model.w.buffer, model.w.byteOffset, model.w.byteLength).toString('base64'), b: model.b, weightDecay: model.weightDecay, matched: model.matched };
    if (init.store !== undefined) savePartition(init.store, { ...outcome, seed: task.seed, members: task.digest, model: record });
    return init.returnModel ? { ...outcome, model: record } : outcome;
  }
  // The engine (TF.js for the initial weights, onnxruntime) loads only where a net trains.
  const { trainNetPartition } = await import('./net-learner.js');
  const { model, predictions } = await trainNetPartition(data.dataset, task.members, init.schedule!, task.seed, init.architecture);
  const outcome = { index: task.index, predictions, trainSeconds: model.trainSeconds, evalSeconds: model.evalSeconds };
  const record = { kind: 'net', arch: init.schedule!.arch };
  const weights = model.weights.size > 0 ? model.weights : undefined;
  if (init.store !== undefined) savePartition(init.store, { ...outcome, seed: task.seed, members: task.digest, model: record }, weights);
  return init.returnModel ? { ...outcome, model: record, ...(weights ? { weights } : {}) } : outcome;
}
