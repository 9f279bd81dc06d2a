/**
 * One base network of an aggregation certificate as a job of the zoo's queue (src/zoo/queue.ts),
 * both sides of it: the job's data, checked by the worker (untrusted); the training data as one
 * content-addressed blob; the result, checked by the coordinator (untrusted too).
 *
 * A classifier depends only on the data, its members, its seed, the schedule (net-learner.ts:
 * the native engine on onnxruntime, one thread) and, for a user's architecture, its ONNX model, so
 * a job carries exactly these — the data and the model as the hashes of their blobs (the model
 * packed as the zoo packs it, blobs.ts) — and its id is their hash: a job asked for twice, by a
 * rerun or a restarted coordinator, is the one job, and a worker anywhere gives the same bits as a
 * local run.
 *
 * The training data travel once: train images, train labels (one byte each: at most 256 classes,
 * as aggregate.ts requires) and test images. The test labels stay with the coordinator: a base
 * classifier only labels the test images. A net's trained weights come back as a blob of their own
 * (kept a short while: the coordinator saves them and deletes the blob), so that the job's result,
 * which BullMQ also copies into its event stream, stays small.
 */
import type { Redis } from 'ioredis';
import type { ImageDataset } from '../../data/images.js';
import { imageSet } from '../../data/images.js';
import { DataFormatError } from '../../errors.js';
import type { InputLayout } from '../../graph/layout.js';
import { checkPreprocessing } from '../../nn/preprocess.js';
import { checkRandomCrop } from '../../nn/train-batches.js';
import { checkSeed } from '../../random.js';
import { isObject } from '../../run-files.js';
import { BLOB_PREFIX, getBlob, isPlainName, isSha256Hex, MAX_BLOB_BYTES, putBlob, sha256Hex, type BlobCache } from '../../zoo/blobs.js';
import { KEEP_FINISHED_SECONDS, stableJson } from '../../zoo/queue.js';
import type { NetSchedule } from './net-learner.js';
import { NET_RECIPES, ONNX_LEARNER, type NetRecipe } from './recipe.js';
import { flattenWeights, membersDigest, splitWeights } from './store.js';
import type { PartitionOutcome, PartitionTask, PartitionTaskInit } from './task.js';

/** BullMQ job name of a base classifier. */
export const PARTITION_JOB = 'aggregation-partition';
/** Format of a base classifier job's data; a worker refuses any other. */
export const PARTITION_JOB_FORMAT = 'poisonguard-partition-1';
/**
 * A trained net's weights blob outlives the job's record (KEEP_FINISHED_SECONDS), so that a
 * coordinator that finds the job finished also finds its weights (if not, the job runs again).
 */
export const WEIGHTS_BLOB_SECONDS = 2 * KEEP_FINISHED_SECONDS;
/** Limits on what a job may ask for (a worker refuses more before allocating anything). */
const MAX_EPOCHS = 100_000;
const MAX_BATCH = 1 << 16;
const MAX_CLASSES = 256;
const MAX_TENSORS = 1000;

/** The training data, by the hash of its blob, and its shape. */
export interface PartitionDataSpec {
  readonly blob: string;
  readonly train: number;
  readonly test: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
}

/** A user's architecture: its packed ONNX model by the hash of its blob, the file in the pack when packed with external data, its layout. */
export interface PartitionModelSpec {
  readonly blob: string;
  readonly inputLayout: InputLayout;
  readonly entry?: string;
}

/** Everything but the members and the seed that determines a base net. */
export interface PartitionSpec {
  readonly data: PartitionDataSpec;
  readonly schedule: NetSchedule;
  /** With the 'onnx' learner (and only with it): the architecture. */
  readonly model?: PartitionModelSpec;
}

export interface PartitionJobData {
  readonly format: typeof PARTITION_JOB_FORMAT;
  /** The run's name (its dataset), for the workers' log. */
  readonly run: string;
  readonly spec: PartitionSpec;
  /** The subset's index in the run (for the log: the result does not depend on it). */
  readonly index: number;
  readonly seed: number;
  /** The member indices, int32 little-endian, in base64. */
  readonly members: string;
}

/** Bytes of the data blob of this shape. */
function dataBytes(d: Omit<PartitionDataSpec, 'blob'>): number {
  const size = d.height * d.width * d.channels;
  return d.train * size + d.train + d.test * size;
}

/** The data blob: train images, train labels as bytes, test images. */
export function packImageData(dataset: ImageDataset): { bytes: Uint8Array; shape: Omit<PartitionDataSpec, 'blob'> } {
  const { train, test } = dataset;
  const shape = { train: train.count, test: test.count, height: train.height, width: train.width, channels: train.channels, numClasses: dataset.numClasses };
  const bytes = new Uint8Array(dataBytes(shape));
  bytes.set(train.images, 0);
  bytes.set(Uint8Array.from(train.labels), train.images.length);
  bytes.set(test.images, train.images.length + train.count);
  return { bytes, shape };
}

/** The idempotent job id: the hash of what determines the classifier (BullMQ ids may not contain ':'). */
export function partitionJobId(spec: PartitionSpec, task: PartitionTask): string {
  return `p.${sha256Hex(Buffer.from(stableJson({ spec, seed: task.seed, members: task.digest }))).slice(0, 40)}`;
}

export function partitionJobData(run: string, spec: PartitionSpec, task: PartitionTask): PartitionJobData {
  const m = task.members;
  return { format: PARTITION_JOB_FORMAT, run, spec, index: task.index, seed: task.seed, members: Buffer.from(m.buffer, m.byteOffset, m.byteLength).toString('base64') };
}

const isCount = (x: unknown, max: number, min = 1): x is number => Number.isInteger(x) && (x as number) >= min && (x as number) <= max;

/** Checks a job's data (untrusted) and decodes its task. */
export function checkPartitionJob(data: unknown): { spec: PartitionSpec; task: PartitionTask; run: string } {
  const bad = (why: string): never => {
    throw new DataFormatError('job', `not a poisonguard base classifier job: ${why}.`);
  };
  if (!isObject(data) || data.format !== PARTITION_JOB_FORMAT) return bad(`format ${String(isObject(data) ? data.format : typeof data).slice(0, 60)}, expected ${PARTITION_JOB_FORMAT}`);
  if (typeof data.run !== 'string' || data.run.length > 200) bad('run name');
  const spec = data.spec;
  if (!isObject(spec)) return bad('no spec');
  const d = spec.data;
  if (!isObject(d) || !isSha256Hex(d.blob)) return bad('data reference');
  if (![d.train, d.height, d.width, d.channels].every((x) => isCount(x, 1 << 24)) || !isCount(d.test, 1 << 24, 0) || !isCount(d.numClasses, MAX_CLASSES, 2)) bad('data shape');
  const shape = d as unknown as PartitionDataSpec;
  // Checked before anything is fetched or allocated: the product of untrusted sizes.
  if (dataBytes(shape) > MAX_BLOB_BYTES) bad(`data of ${dataBytes(shape)} bytes, above ${MAX_BLOB_BYTES}`);
  const s = spec.schedule;
  if (!isObject(s) || (s.arch !== 'mnist' && s.arch !== 'gtsrb' && s.arch !== ONNX_LEARNER)) return bad('architecture');
  if (!isCount(s.epochs, MAX_EPOCHS) || !isCount(s.batchSize, MAX_BATCH) || typeof s.learningRate !== 'number' || !(s.learningRate > 0 && s.learningRate < 1e3)) bad('schedule');
  if (!(NET_RECIPES as readonly unknown[]).includes(s.recipe)) bad(`net recipe ${JSON.stringify(s.recipe)?.slice(0, 40)}, expected one of ${NET_RECIPES.join(', ')}`);
  // The schedule's own rule, checked before any work.
  try {
    checkRandomCrop('crop', s.crop, shape.height, shape.width);
  } catch {
    bad('crop');
  }
  const onnx = s.arch === ONNX_LEARNER;
  const model = checkModelSpec(spec.model, onnx, bad);
  let preprocessing;
  if (onnx) {
    try {
      preprocessing = checkPreprocessing(s.preprocessing, 'preprocessing');
    } catch (e) {
      bad((e as Error).message);
    }
  }
  if (Object.keys(s).length !== (onnx ? 7 : 6) || Object.keys(spec).length !== (onnx ? 3 : 2) || Object.keys(d).length !== 7) bad('unknown fields in the spec');
  if (!isCount(data.index, 1 << 30, 0)) bad('index');
  let seed = 0;
  try {
    seed = checkSeed('seed', data.seed);
  } catch {
    bad('seed');
  }
  // At most one member per training sample: the text's length is checked before it is decoded.
  if (typeof data.members !== 'string' || data.members.length > 4 * Math.ceil((4 * shape.train) / 3) + 4) return bad('members');
  const bytes = Buffer.from(data.members, 'base64');
  if (bytes.length % 4 !== 0 || bytes.toString('base64') !== data.members) bad('members are not int32 in base64');
  const members = new Int32Array(bytes.length / 4);
  for (let i = 0; i < members.length; i++) {
    members[i] = bytes.readInt32LE(4 * i);
    if (members[i] < 0 || members[i] >= shape.train) bad(`member ${members[i]} outside the ${shape.train} training samples`);
  }
  const schedule: NetSchedule = { arch: s.arch, recipe: s.recipe as NetRecipe, crop: s.crop as number, epochs: s.epochs as number, batchSize: s.batchSize as number, learningRate: s.learningRate as number, ...(preprocessing ? { preprocessing } : {}) };
  return { spec: { data: shape, schedule, ...(model ? { model } : {}) }, task: { index: data.index as number, members, digest: membersDigest(members), seed }, run: data.run as string };
}

/** A job's model reference: present exactly with the 'onnx' learner; a blob hash, a layout, a plain file name as entry. */
function checkModelSpec(m: unknown, onnx: boolean, bad: (why: string) => never): PartitionModelSpec | undefined {
  if (m === undefined && !onnx) return undefined;
  if (m === undefined || !onnx) return bad(onnx ? 'an ONNX architecture without its model' : 'a model with a built-in architecture');
  if (!isObject(m) || !isSha256Hex(m.blob) || (m.inputLayout !== 'nchw' && m.inputLayout !== 'nhwc')) return bad('model reference');
  if (m.entry !== undefined && (typeof m.entry !== 'string' || m.entry.length > 200 || !isPlainName(m.entry))) bad('packed model entry');
  if (Object.keys(m).length !== (m.entry === undefined ? 2 : 3)) bad('unknown fields in the model reference');
  return m as unknown as PartitionModelSpec;
}

/**
 * The worker threads' init for a spec: the data from the blob (checked against its shape), a
 * user's architecture from its blob (checked against the data as the coordinator checked it), the
 * model handed back.
 */
export async function partitionInit(spec: PartitionSpec, cache: BlobCache): Promise<PartitionTaskInit> {
  const d = spec.data;
  const bytes = await cache.data(d.blob);
  if (bytes.length !== dataBytes(d)) throw new DataFormatError('job', `the training data hold ${bytes.length} bytes, not those of ${d.train} + ${d.test} images of ${d.height}×${d.width}×${d.channels}.`);
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trainBytes = d.train * d.height * d.width * d.channels;
  const labels = Int32Array.from(view.subarray(trainBytes, trainBytes + d.train));
  if (labels.some((y) => y >= d.numClasses)) throw new DataFormatError('job', `a training label at or above the ${d.numClasses} classes.`);
  const dataset: ImageDataset = {
    name: `blob ${d.blob.slice(0, 12)}`,
    source: 'the job queue',
    numClasses: d.numClasses,
    train: imageSet(view.subarray(0, trainBytes), labels, d.height, d.width, d.channels),
    // The test labels are the coordinator's (see the module comment); a base classifier never reads them.
    test: imageSet(view.subarray(trainBytes + d.train), new Int32Array(d.test), d.height, d.width, d.channels),
  };
  let architecture;
  if (spec.model) {
    const { loadOnnxClassifier } = await import('../../nn/onnx-model.js');
    const { checkArchitectureFits } = await import('./onnx-learner.js');
    const path = await cache.model(spec.model.blob, 'onnx', spec.model.entry);
    architecture = loadOnnxClassifier(path, spec.model.inputLayout);
    checkArchitectureFits(architecture, `the job's model (blob ${spec.model.blob.slice(0, 12)}…)`, { name: "the job's data", height: d.height, width: d.width, channels: d.channels, numClasses: d.numClasses });
  }
  return { data: { inline: { kind: 'images', dataset } }, schedule: spec.schedule, ...(architecture ? { architecture } : {}), returnModel: true };
}

/** A worker's result text: predictions inline, the weights as a blob. */
export async function encodePartitionResult(redis: Redis, o: PartitionOutcome): Promise<string> {
  let weights: { blob: string; tensors: { name: string; length: number }[] } | undefined;
  if (o.weights) {
    const { flat, tensors } = flattenWeights(o.weights);
    weights = { blob: await putBlob(redis, new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength), WEIGHTS_BLOB_SECONDS), tensors };
  }
  return JSON.stringify({ predictions: Buffer.from(o.predictions).toString('base64'), trainSeconds: o.trainSeconds, evalSeconds: o.evalSeconds, model: o.model, ...(weights ? { weights } : {}) });
}

/** A decoded, checked result; `weightsBlob` is to be deleted once saved. */
export interface PartitionResult {
  readonly predictions: Uint8Array;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  readonly weights?: Map<string, Float32Array>;
  readonly weightsBlob?: string;
}

/**
 * Reads a job's result (untrusted) for a subset of `members` samples: a label below `numClasses` for
 * each of `testCount` test points, and a net's weights (none for an empty subset) fetched and checked.
 */
export async function decodePartitionResult(raw: unknown, redis: Redis, expect: { testCount: number; numClasses: number; members: number }, where: string): Promise<PartitionResult> {
  const bad = (why: string): never => {
    throw new DataFormatError(where, `a base classifier result ${why}.`);
  };
  let text = raw;
  // BullMQ hands a string return value back either as is or JSON-encoded once more.
  if (typeof text === 'string' && text.startsWith('"')) text = JSON.parse(text) as unknown;
  if (typeof text !== 'string') return bad('that is not text');
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (e) {
    return bad(`that is not JSON (${(e as Error).message})`);
  }
  if (!isObject(r) || typeof r.predictions !== 'string' || r.predictions.length > 4 * Math.ceil(expect.testCount / 3) + 4) return bad('without its predictions');
  const predictions = new Uint8Array(Buffer.from(r.predictions, 'base64'));
  if (predictions.length !== expect.testCount || predictions.some((p) => p >= expect.numClasses)) bad(`whose predictions are not ${expect.testCount} labels below ${expect.numClasses}`);
  const seconds = [r.trainSeconds, r.evalSeconds];
  if (!seconds.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) bad('without its timing');
  const base = { predictions, trainSeconds: r.trainSeconds as number, evalSeconds: r.evalSeconds as number };
  if (expect.members === 0) return r.weights === undefined ? base : bad('with weights for an empty subset');
  const w = r.weights;
  if (!isObject(w) || !isSha256Hex(w.blob) || !Array.isArray(w.tensors) || w.tensors.length === 0 || w.tensors.length > MAX_TENSORS) return bad('without its weights');
  const tensors = w.tensors as unknown[];
  if (!tensors.every((t) => isObject(t) && typeof t.name === 'string' && t.name.length > 0 && t.name.length <= 200 && isCount(t.length, MAX_BLOB_BYTES / 4))) bad('with a malformed tensor list');
  const list = tensors as { name: string; length: number }[];
  if (new Set(list.map((t) => t.name)).size !== list.length) bad('with a tensor named twice');
  const bytes = await getBlob(redis, w.blob);
  if (bytes.length % 4 !== 0) bad('whose weights are not float32');
  const flat = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { ...base, weights: splitWeights(flat, list, where), weightsBlob: w.blob };
}

/** Deletes a saved result's weights blob (it served its one reader). */
export async function dropWeightsBlob(redis: Redis, sha: string): Promise<void> {
  await redis.del(BLOB_PREFIX + sha);
}
