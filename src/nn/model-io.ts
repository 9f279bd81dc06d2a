/**
 * Model folders: a TF.js LayersModel (`model.json` + weight files) and poisonguard's
 * `metadata.json` beside it. Saving and loading go through this module's own Node file
 * IOHandlers. A model folder is untrusted input: the loader refuses weight paths that are absolute,
 * URLs, or lead outside the folder (`../x.bin`, symlinks), checks that the weight files hold
 * exactly the bytes the manifest declares (within {@link MAX_MODEL_BYTES}) before any tensor is
 * built, and checks each layer's weights against the manifest before TF.js allocates them. Any
 * TF.js LayersModel folder (model.json + shards) loads; metadata.json is optional for loading.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep, win32 } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

/** A named tensor, as optimizers save and restore their state. */
export type NamedTensor = { name: string; tensor: tf.Tensor };
import * as tfl from '@tensorflow/tfjs-layers';
import { DataFormatError, NotFoundError, PoisonguardError } from '../errors.js';
import type { OwnFiles } from '../outputs.js';
import { readJsonFile, writeFileAtomic } from '../run-files.js';
import { checkPreprocessing, type Preprocessing } from './preprocess.js';
import { checkAttack, checkBackdoor, isAllToAll, type Attack, type Trigger } from './trigger.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const METADATA_JSON = 'metadata.json';
/** The `format` tag of metadata.json. */
export const METADATA_FORMAT = 'poisonguard-model';
export const METADATA_VERSION = 1;

/** What poisonguard records about a model it trained (metadata.json). */
export interface ModelMetadata {
  readonly format: typeof METADATA_FORMAT;
  readonly formatVersion: typeof METADATA_VERSION;
  /** Registry name of the dataset ('mnist', 'gtsrb') or the image folder's path. */
  readonly dataset: string;
  /** Architecture name ('mnist', 'gtsrb'). */
  readonly arch: string;
  readonly numClasses: number;
  /** [height, width, channels]. */
  readonly inputShape: readonly [number, number, number];
  readonly preprocessing: Preprocessing;
  /** The planted trigger (the first backdoor's), or null for a clean model. */
  readonly trigger: Trigger | null;
  /** The backdoor's target label, or null for a clean model (and for an all-to-all backdoor). */
  readonly target: number | null;
  /** Every backdoor planted, when trigger, target and rate cannot say it (several backdoors, all-to-all); read them with attacksOf. */
  readonly backdoors?: readonly Attack[];
  /** The BadNets poisoning rate used, or null for a clean model. */
  readonly poisonRate: number | null;
  /** How many training samples were poisoned (on the fly: poisoned draws over all epochs). */
  readonly poisonedCount: number;
  /** How the backdoor was planted: 'fixed' (one subset, poisoned once; metadata without this field) or 'on-the-fly'. */
  readonly poisoning?: 'fixed' | 'on-the-fly';
  readonly seed: number;
  /** The TF.js backend that trained the model. */
  readonly backend: string;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** How each epoch's images were drawn (metadata without this field: 'permutation'). */
  readonly sampling?: 'permutation' | 'replacement';
  /** Images drawn per epoch (without this field: the training set's size). */
  readonly drawsPerEpoch?: number;
  /** Keras-style learning-rate decay per update (without this field: 0). */
  readonly learningRateDecay?: number;
  /** The engine that ran the training epochs (without this field: 'tfjs'). */
  readonly engine?: string;
  /** Test accuracy on clean images, in [0, 1]. */
  readonly cleanAccuracy: number | null;
  /** Attack success rate on the test set, in [0, 1] (the first backdoor's), or null for a clean model. */
  readonly attackSuccessRate: number | null;
  /** With several backdoors: each one's attack success rate, in the order of `backdoors`. */
  readonly attackSuccessRates?: readonly (number | null)[];
  readonly trainSeconds: number;
  readonly imagesPerSecond: number;
  /** ISO 8601 date of the end of training. */
  readonly date: string;
}

/** A loaded model folder. */
export interface LoadedModel {
  readonly model: tfl.LayersModel;
  /** The metadata, when the folder has a metadata.json. */
  readonly metadata?: ModelMetadata;
  readonly dir: string;
}

const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/**
 * Largest model accepted: the bytes its weight manifest may declare in all. A model folder is
 * untrusted input, and its weights become tensors; the models this project trains are a few MB.
 */
export const MAX_MODEL_BYTES = 1024 ** 3;

/** Options of {@link loadModel} and {@link fileLoadHandler}. */
export interface LoadModelOptions {
  /** Largest total weight size accepted, in bytes (default {@link MAX_MODEL_BYTES}). */
  readonly maxBytes?: number;
}

/** Saves `model` to `dir` (model.json + weights.bin) and, when given, the metadata. */
export async function saveModel(model: tfl.LayersModel, dir: string, metadata?: ModelMetadata): Promise<void> {
  await model.save(fileSaveHandler(dir));
  if (metadata) saveMetadata(dir, metadata);
}

/** Writes (replaces) a model folder's metadata.json. */
export function saveMetadata(dir: string, metadata: ModelMetadata): void {
  writeFileAtomic(join(resolve(dir), METADATA_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
}

/** Loads a model folder: the model through {@link fileLoadHandler}, and metadata.json when present. */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const root = resolve(dir);
  const metaPath = join(root, METADATA_JSON);
  const metadata = existsSync(metaPath) ? readMetadata(root) : undefined;
  const modelPath = join(root, MODEL_JSON);
  const artifacts = await fileLoadHandler(root, options).load();
  const budget = weightBudget(artifacts.weightSpecs ?? [], modelPath);
  let model: tfl.LayersModel;
  activeBudgets.add(budget);
  try {
    model = await tfl.loadLayersModel({ load: async () => artifacts });
  } catch (e) {
    // The weights of the layers built before the failure would otherwise stay allocated.
    for (const v of budget.created) if (!v.val.isDisposed) v.dispose();
    if (e instanceof PoisonguardError) throw e;
    throw new DataFormatError(modelPath, `TF.js could not build the model (${(e as Error).message}).`);
  } finally {
    activeBudgets.delete(budget);
  }
  if (metadata) {
    try {
      checkMetadataFits(metadata, model, metaPath);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return { model, dir: root, ...(metadata ? { metadata } : {}) };
}

/**
 * What the layers of a model being loaded may still allocate: the shapes its manifest declares
 * and the bytes its weight files actually hold, not yet claimed by an earlier layer.
 */
interface WeightBudget {
  readonly file: string;
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  remaining: number;
  /** The weights built so far, freed if the load fails. */
  readonly created: BuiltWeight[];
}

type BuiltWeight = { readonly val: tf.Tensor; dispose(): void };

function weightBudget(specs: readonly tf.io.WeightsManifestEntry[], file: string): WeightBudget {
  return { file, shapes: new Map(specs.map((w) => [w.name, w.shape])), remaining: specs.reduce((sum, w) => sum + weightBytes(w, file), 0), created: [] };
}

/** The budgets of the loads in progress (TF.js builds the layers synchronously inside loadLayersModel). */
const activeBudgets = new Set<WeightBudget>();

/**
 * TF.js builds every layer of a loaded model (allocating each weight from the topology's sizes,
 * e.g. a Dense layer's units) before it compares them with the weight files. This check runs
 * inside that build, before each weight's allocation, while a load is in progress: the weight must
 * have the shape its manifest entry declares and fit the bytes present that earlier weights have
 * not claimed, so a topology declaring a million units fails here instead of allocating gigabytes.
 */
function checkWeightBeforeAllocation(layer: string, weight: string, shape: readonly number[], dtype: string | undefined): WeightBudget {
  let refusal: DataFormatError | undefined;
  for (const budget of activeBudgets) {
    const bytes = shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[dtype ?? 'float32'] ?? 4);
    const key = `${layer}/${weight}`;
    const declared = budget.shapes.get(key) ?? [...budget.shapes].find(([name]) => name.endsWith(`/${key}`))?.[1];
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      refusal = new DataFormatError(budget.file, `layer '${layer}' would create weight '${weight}' of shape [${shape.join(', ')}], which is not a list of sizes.`);
    } else if (declared && (declared.length !== shape.length || declared.some((d, i) => d !== shape[i]))) {
      refusal = new DataFormatError(
        budget.file,
        `layer '${layer}' declares weight '${weight}' of shape [${shape.join(', ')}], but the weights manifest has ${key} [${declared.join(', ')}]; refused before building it.`,
        { expected: `[${declared.join(', ')}]`, received: `[${shape.join(', ')}]` },
      );
    } else if (bytes > budget.remaining) {
      refusal = new DataFormatError(
        budget.file,
        `layer '${layer}' would create weight '${weight}' of shape [${shape.join(', ')}] (${bytes} bytes), but the weight files hold only ${budget.remaining} bytes not yet used by earlier layers; refused before building it.`,
        { expected: `at most ${budget.remaining} bytes`, received: `${bytes} bytes` },
      );
    } else {
      budget.remaining -= bytes;
      return budget;
    }
  }
  throw refusal;
}

{
  // TF.js offers no hook between reading a topology and allocating its weights, so the check wraps
  // the one method every layer allocates its weights through. Outside a load it does nothing.
  const proto = tfl.layers.Layer.prototype as unknown as { addWeight: (this: { name: string }, name: string, shape: number[], dtype?: string, ...rest: unknown[]) => unknown };
  const addWeight = proto.addWeight;
  proto.addWeight = function (name, shape, dtype, ...rest) {
    const budget = activeBudgets.size > 0 ? checkWeightBeforeAllocation(this.name, name, shape, dtype) : undefined;
    const built = addWeight.call(this, name, shape, dtype, ...rest);
    budget?.created.push(built as BuiltWeight);
    return built;
  };
}

/**
 * Cross-checks metadata.json against the model it describes: the input shape, and the classes
 * (numClasses and the backdoor's target) against the output size. A contradiction is the
 * metadata's fault, and the error says so (not the data's, which is checked against the model later).
 */
export function checkMetadataFits(metadata: ModelMetadata, model: tfl.LayersModel, metaPath: string): void {
  const input = model.inputs[0]?.shape ?? [];
  const output = model.outputs[0]?.shape ?? [];
  const modelJson = join(dirname(metaPath), MODEL_JSON);
  const [h, w, c] = metadata.inputShape;
  if (input.length !== 4 || input[1] !== h || input[2] !== w || input[3] !== c) {
    throw new DataFormatError(metaPath, `inputShape [${metadata.inputShape.join(', ')}] contradicts the model's input [${input.slice(1).join(', ')}] (${modelJson}); the metadata is wrong, not the data.`);
  }
  const classes = output[output.length - 1];
  if (output.length !== 2 || classes !== metadata.numClasses) {
    throw new DataFormatError(metaPath, `numClasses ${metadata.numClasses} contradicts the model's ${output.length === 2 ? `${classes} outputs` : `output [${output.join(', ')}]`} (${modelJson}); the metadata is wrong.`);
  }
}

/** An IOHandler that writes model.json and a single weights.bin into `dir` (created if needed). */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  const root = resolve(dir);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new PoisonguardError('data-format', 'only LayersModel (JSON topology) artifacts can be saved to a folder.');
      }
      mkdirSync(root, { recursive: true });
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      writeFileAtomic(join(root, WEIGHTS_BIN), new Uint8Array(weightData));
      writeFileAtomic(join(root, MODEL_JSON), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(modelJson.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weightData.byteLength,
        },
      };
    },
  };
}

/**
 * An IOHandler that reads a TF.js LayersModel folder, refusing unsafe weight paths and weight
 * files whose size differs from the manifest.
 */
export function fileLoadHandler(dir: string, options: LoadModelOptions = {}): tf.io.IOHandler & Required<Pick<tf.io.IOHandler, 'load'>> {
  const root = resolve(dir);
  const maxBytes = options.maxBytes ?? MAX_MODEL_BYTES;
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelPath = join(root, MODEL_JSON);
      if (!existsSync(root) || !statSync(root).isDirectory()) throw new NotFoundError(root, 'model folder');
      if (!existsSync(modelPath)) throw new NotFoundError(modelPath, 'model file', 'A model folder holds model.json and its weight files');
      const json = readJsonFile(modelPath) as Partial<tf.io.ModelJSON> | null;
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new DataFormatError(modelPath, 'expected a JSON object.');
      if (typeof json.modelTopology !== 'object' || json.modelTopology === null) {
        throw new DataFormatError(modelPath, 'no modelTopology: not a TF.js LayersModel file.');
      }
      const manifest = checkManifest(json.weightsManifest, modelPath);
      const declared = manifest.reduce((sum, group) => sum + group.weights.reduce((s, w) => s + weightBytes(w, modelPath), 0), 0);
      if (declared > maxBytes) {
        throw new DataFormatError(modelPath, `the weights manifest declares ${declared} bytes, more than the limit of ${maxBytes} bytes on a model's weights (loadModel's maxBytes option).`, {
          expected: `at most ${maxBytes} bytes`,
          received: `${declared} bytes`,
        });
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      manifest.forEach((group, g) => {
        const expected = group.weights.reduce((sum, w) => sum + weightBytes(w, modelPath), 0);
        const files = group.paths.map((p) => safeWeightPath(root, p, modelPath));
        const sizes = files.map((f) => statSync(f).size);
        const total = sizes.reduce((a, b) => a + b, 0);
        if (total !== expected) {
          const listing = group.paths.map((p, i) => `${p} (${sizes[i]} bytes)`).join(', ');
          throw new DataFormatError(
            files[files.length - 1],
            total < expected
              ? `truncated: weight group ${g} needs ${expected} bytes (${group.weights.length} tensors: ${group.weights.map((w) => `${w.name} [${w.shape.join('x')}] ${w.quantization?.dtype ?? w.dtype}`).slice(0, 4).join(', ')}${group.weights.length > 4 ? ', …' : ''}), but its files hold ${total}: ${listing}.`
              : `weight group ${g} declares ${expected} bytes, but its files hold ${total} (${total - expected} bytes too many): ${listing}.`,
            { expected: `${expected} bytes`, received: `${total} bytes` },
          );
        }
        for (const f of files) buffers.push(readFileSync(f));
        specs.push(...group.weights);
      });
      const weightData = new Uint8Array(buffers.reduce((a, b) => a + b.length, 0));
      let off = 0;
      for (const b of buffers) {
        weightData.set(b, off);
        off += b.length;
      }
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: weightData.buffer,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        ...(json.trainingConfig ? { trainingConfig: json.trainingConfig } : {}),
        ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
      };
    },
  };
}

/** Bytes of one manifest entry: the product of its shape times the stored dtype's size. */
function weightBytes(w: tf.io.WeightsManifestEntry, file: string): number {
  const stored = w.quantization?.dtype ?? w.dtype;
  const bytes = DTYPE_BYTES[stored];
  if (bytes === undefined) throw new DataFormatError(file, `weight '${w.name}' has dtype '${stored}', which a layers model cannot hold.`);
  return w.shape.reduce((a, b) => a * b, 1) * bytes;
}

function checkManifest(value: unknown, file: string): tf.io.WeightsManifestConfig {
  if (!Array.isArray(value)) throw new DataFormatError(file, 'weightsManifest must be a list of weight groups.');
  value.forEach((g: unknown, gi) => {
    const group = g as { paths?: unknown[]; weights?: unknown[] } | null;
    if (typeof group !== 'object' || group === null || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new DataFormatError(file, `weight group ${gi} needs 'paths' and 'weights' lists.`);
    }
    if (group.paths.length === 0 && group.weights.length > 0) throw new DataFormatError(file, `weight group ${gi} lists weights but no files.`);
    for (const p of group.paths) if (typeof p !== 'string') throw new DataFormatError(file, `weight group ${gi}: every path must be a string.`);
    group.weights.forEach((w: unknown, wi: number) => {
      const e = w as Partial<tf.io.WeightsManifestEntry> | null;
      const ok =
        typeof e === 'object' &&
        e !== null &&
        typeof e.name === 'string' &&
        Array.isArray(e.shape) &&
        e.shape.every((d) => Number.isInteger(d) && d >= 0) &&
        typeof e.dtype === 'string';
      if (!ok) throw new DataFormatError(file, `weight ${wi} of group ${gi} needs a name, a shape of non-negative integers and a dtype.`);
    });
  });
  return value as tf.io.WeightsManifestConfig;
}

/**
 * The absolute path of weight file `p` of the folder `root`, or an 'unsafe-path' error when `p` is
 * absolute, a URL, or leads outside the folder (also through a symlink); a missing file is a
 * NotFoundError naming model.json.
 */
export function safeWeightPath(root: string, p: string, modelPath: string): string {
  const refuse = (why: string): never => {
    throw new PoisonguardError('unsafe-path', `${modelPath}: refusing weight path '${p}': ${why}. Weight files must sit inside the model folder.`, {
      path: p,
      expected: 'a relative path inside the model folder',
      received: p,
    });
  };
  if (p === '' || p.includes('\0')) refuse('empty or contains a NUL byte');
  if (isAbsolute(p) || win32.isAbsolute(p)) refuse('it is absolute');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(p)) refuse('it is a URL');
  const full = resolve(root, p);
  const rel = relative(root, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) refuse('it resolves outside the model folder');
  if (!existsSync(full)) throw new NotFoundError(full, 'weight file', `${modelPath} lists '${p}'; the model folder is incomplete`);
  const real = realpathSync(full);
  const realRel = relative(realpathSync(root), real);
  if (realRel === '' || realRel === '..' || realRel.startsWith(`..${sep}`) || isAbsolute(realRel)) refuse('it is a link to a file outside the model folder');
  if (!statSync(real).isFile()) refuse('it is not a regular file');
  return full;
}

/** Reads and checks metadata.json of a model folder. */
export function readMetadata(dir: string): ModelMetadata {
  const path = join(resolve(dir), METADATA_JSON);
  if (!existsSync(path)) throw new NotFoundError(path, 'model metadata file');
  const m = readJsonFile(path) as Record<string, unknown> | null;
  const bad = (what: string): never => {
    throw new DataFormatError(path, what);
  };
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return bad('expected a JSON object.');
  if (m.format !== METADATA_FORMAT) bad(`format must be '${METADATA_FORMAT}', got ${JSON.stringify(m.format)}.`);
  if (m.formatVersion !== METADATA_VERSION) bad(`formatVersion ${JSON.stringify(m.formatVersion)} is not supported (expected ${METADATA_VERSION}).`);
  for (const key of ['dataset', 'arch', 'backend', 'date'] as const) if (typeof m[key] !== 'string') bad(`'${key}' must be a string.`);
  for (const key of ['numClasses', 'seed', 'epochs', 'batchSize', 'poisonedCount'] as const) {
    if (!Number.isInteger(m[key])) bad(`'${key}' must be an integer, got ${JSON.stringify(m[key])}.`);
  }
  if (m.engine !== undefined && typeof m.engine !== 'string') bad(`'engine' must be a string, got ${JSON.stringify(m.engine)}.`);
  const shape = m.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    bad(`'inputShape' must be [height, width, channels], got ${JSON.stringify(shape)}.`);
  }
  const preprocessing = checkPreprocessing(m.preprocessing, path);
  let trigger: Trigger | null = null;
  let backdoors: Attack[] | undefined;
  if (m.backdoors !== undefined) {
    if (!Array.isArray(m.backdoors) || m.backdoors.length === 0) bad(`'backdoors' must be a non-empty list, got ${JSON.stringify(m.backdoors)}.`);
    backdoors = (m.backdoors as unknown[]).map((b, i) => {
      const attack = checkAttack(b, `${path} backdoors[${i}]`);
      if (!isAllToAll(attack) && attack.target >= (m.numClasses as number)) bad(`backdoors[${i}]: target ${attack.target} is not a class (numClasses ${m.numClasses}).`);
      return attack;
    });
    if (m.trigger === null || m.trigger === undefined) bad("'trigger' must be the first backdoor's when 'backdoors' is given.");
  }
  if (m.trigger !== null && m.trigger !== undefined) {
    const first = backdoors?.[0];
    // An all-to-all backdoor has no target: its trigger is checked as the first backdoor's.
    trigger = first && isAllToAll(first) && m.target === null ? first.trigger : checkBackdoor({ trigger: m.trigger, target: m.target, rate: m.poisonRate }, path).trigger;
    if (m.target !== null && (m.target as number) >= (m.numClasses as number)) bad(`target ${m.target} is not a class (numClasses ${m.numClasses}).`);
  }
  return { ...(m as unknown as ModelMetadata), preprocessing, trigger, ...(backdoors ? { backdoors } : {}) };
}

/** The optimizer's state saved beside a training checkpoint (so that a resumed run continues Adam exactly). */
export const OPTIMIZER_JSON = 'optimizer.json';
export const OPTIMIZER_BIN = 'optimizer.bin';
const OPTIMIZER_FORMAT = 'poisonguard-optimizer';

/** Everything a model folder written by the project holds (what `--force` may remove there). */
export const MODEL_FOLDER_FILES: OwnFiles = { files: [MODEL_JSON, WEIGHTS_BIN, METADATA_JSON, OPTIMIZER_JSON, OPTIMIZER_BIN] };

interface OptimizerManifest {
  readonly format: typeof OPTIMIZER_FORMAT;
  /** The epoch of the checkpoint this state belongs to. */
  readonly epoch: number;
  /** TF.js weight specs of optimizer.bin (tf.io.encodeWeights). */
  readonly specs: tf.io.WeightsManifestEntry[];
}

/** Writes an optimizer's weights (tf.io.encodeWeights: optimizer.bin + optimizer.json) in `dir`. */
export async function saveOptimizerState(dir: string, epoch: number, weights: readonly NamedTensor[]): Promise<void> {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const { data, specs } = await tf.io.encodeWeights([...weights]);
  const manifest: OptimizerManifest = { format: OPTIMIZER_FORMAT, epoch, specs };
  writeFileAtomic(join(root, OPTIMIZER_BIN), new Uint8Array(data));
  writeFileAtomic(join(root, OPTIMIZER_JSON), `${JSON.stringify(manifest)}\n`);
}

/**
 * The optimizer state saved in `dir` for the checkpoint of `epoch`: the tensors (the caller owns
 * them), or undefined when the folder has none or it belongs to another epoch; a state whose file
 * does not match its manifest is a DataFormatError.
 */
export function loadOptimizerState(dir: string, epoch: number): NamedTensor[] | undefined {
  const root = resolve(dir);
  const jsonPath = join(root, OPTIMIZER_JSON);
  const binPath = join(root, OPTIMIZER_BIN);
  if (!existsSync(jsonPath) || !existsSync(binPath)) return undefined;
  const m = readJsonFile(jsonPath) as Partial<OptimizerManifest> | null;
  if (typeof m !== 'object' || m === null || m.format !== OPTIMIZER_FORMAT || !Number.isInteger(m.epoch)) {
    throw new DataFormatError(jsonPath, `not a ${OPTIMIZER_FORMAT} manifest.`);
  }
  if (m.epoch !== epoch) return undefined;
  // The same checks as a model's weights: well-formed entries, and exactly the bytes they declare.
  const specs = checkManifest([{ paths: [OPTIMIZER_BIN], weights: m.specs }], jsonPath)[0].weights;
  const bytes = readFileSync(binPath);
  const expected = specs.reduce((sum, w) => sum + weightBytes(w, jsonPath), 0);
  if (bytes.length !== expected) {
    throw new DataFormatError(binPath, `holds ${bytes.length} bytes, the manifest declares ${expected}.`, { expected: `${expected} bytes`, received: `${bytes.length} bytes` });
  }
  const tensors = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), specs);
  return specs.map((w) => ({ name: w.name, tensor: tensors[w.name] }));
}
