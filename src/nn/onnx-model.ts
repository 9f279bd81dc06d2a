/**
 * Users' own models: an ONNX file (what `torch.onnx.export` and tf2onnx write), or a folder holding
 * `model.onnx`, read into the native engine's graph. What the graph cannot say — the input layout,
 * the preprocessing from raw pixels, the clean set, class names, a known trigger — the user states
 * once; it is saved in a sidecar (`metadata.json` in a model folder, `NAME.metadata.json` beside a
 * bare `NAME.onnx`) that later commands reuse and refuse to contradict. The sidecar records the
 * SHA-256 of the file it describes, so a sidecar left beside a replaced model is not believed.
 *
 * The file is untrusted input: its size is checked before it is read (within
 * {@link DEFAULT_MAX_ONNX_BYTES}), the graph loader checks every tensor's declared size against the
 * bytes present and reads external data only from inside the model's folder.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DataFormatError, NotFoundError, OptionError, PoisonguardError } from '../errors.js';
import { BATCH, formatShape, type ClassifierGraph } from '../graph/ir.js';
import { DEFAULT_ONNX_INPUT_LAYOUT, imageShapeOf, INPUT_LAYOUTS, withNhwcInput, type InputLayout } from '../graph/layout.js';
import { DEFAULT_MAX_WEIGHT_BYTES, loadOnnxGraph } from '../graph/onnx-load.js';
import { isObject, readJsonFile, sha256Of, writeJsonAtomic } from '../run-files.js';
import { checkPreprocessing, describePreprocessing, type Preprocessing } from './preprocess.js';
import { checkBackdoor, type Trigger } from './trigger.js';

/** The model file a model folder holds. */
export const ONNX_MODEL_FILE = 'model.onnx';
/** The sidecar's name in a model folder. */
export const ONNX_SIDECAR_IN_FOLDER = 'metadata.json';
/** The `format` tag of an ONNX model's sidecar. */
export const ONNX_METADATA_FORMAT = 'poisonguard-onnx-model';
export const ONNX_METADATA_VERSION = 1;
/** Largest ONNX file read (its weights are bounded again, tensor by tensor, by the loader). */
export const DEFAULT_MAX_ONNX_BYTES = DEFAULT_MAX_WEIGHT_BYTES;

/** What poisonguard records beside a user's ONNX model. */
export interface OnnxModelMetadata {
  readonly format: typeof ONNX_METADATA_FORMAT;
  readonly formatVersion: typeof ONNX_METADATA_VERSION;
  /** SHA-256 of the ONNX file this sidecar describes. */
  readonly modelSha256: string;
  readonly inputLayout: InputLayout;
  /** From raw pixels 0..255 to the graph's input; absent until stated. */
  readonly preprocessing?: Preprocessing;
  /** The clean set: a registry name ('mnist', 'gtsrb') or an image folder's path. */
  readonly dataset?: string;
  readonly classNames?: readonly string[];
  /** A planted trigger and its target, when known (models made for experiments): evaluate's ASR, the scan's overlap. */
  readonly trigger?: Trigger | null;
  readonly target?: number | null;
  /** Read from the graph (checked against it at every load). */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly output: 'logits' | 'probabilities';
  /** Written by a mitigation beside the model it wrote: what was done (its own record, read by later mitigations). */
  readonly mitigation?: unknown;
}

/** What a user states about an ONNX model (CLI flags or library options). */
export interface OnnxStatements {
  readonly inputLayout?: InputLayout;
  readonly preprocessing?: Preprocessing;
  readonly dataset?: string;
  readonly classNames?: readonly string[];
  readonly backdoor?: { readonly trigger: Trigger; readonly target: number };
}

export interface OpenOnnxOptions {
  /** Largest file and total weight size accepted, in bytes (default {@link DEFAULT_MAX_ONNX_BYTES}). */
  readonly maxBytes?: number;
}

/** A user's ONNX model, loaded. */
export interface OnnxModel {
  readonly kind: 'onnx';
  /** The .onnx file. */
  readonly file: string;
  /** The folder it sits in (external data is read from here only). */
  readonly dir: string;
  readonly sidecar: string;
  readonly sha256: string;
  /** The classifier reading NHWC batches (a Transpose in front of an NCHW graph). */
  readonly graph: ClassifierGraph;
  /** The sidecar's content after this load (what the user stated, merged with what was saved). */
  readonly metadata: OnnxModelMetadata;
  /** Whether {@link metadata} says more than the sidecar on disk ({@link saveOnnxMetadata} writes it). */
  readonly unsaved: boolean;
}

/** Whether `path` names an ONNX model: a `.onnx` file, or a folder holding {@link ONNX_MODEL_FILE}. */
export function isOnnxModelPath(path: string): boolean {
  const p = resolve(path);
  if (!existsSync(p)) return false;
  return statSync(p).isDirectory() ? existsSync(join(p, ONNX_MODEL_FILE)) : p.toLowerCase().endsWith('.onnx');
}

/** The model file, its folder and its sidecar for a `--model` path. */
export function onnxModelPaths(path: string): { file: string; dir: string; sidecar: string } {
  const p = resolve(path);
  if (!existsSync(p)) throw new NotFoundError(p, 'model', 'Give an ONNX file, a folder holding model.onnx, or a model folder written by poisonguard train');
  if (statSync(p).isDirectory()) {
    const file = join(p, ONNX_MODEL_FILE);
    if (!existsSync(file)) throw new NotFoundError(file, 'ONNX model file');
    return { file, dir: p, sidecar: join(p, ONNX_SIDECAR_IN_FOLDER) };
  }
  const name = basename(p).replace(/\.onnx$/i, '');
  return { file: p, dir: dirname(p), sidecar: join(dirname(p), `${name}.metadata.json`) };
}

/**
 * Loads an ONNX model and its sidecar and merges what is stated. Nothing is written: a command
 * saves the statements ({@link saveOnnxMetadata}) once it has checked them against the data.
 */
export function openOnnxModel(path: string, stated: OnnxStatements = {}, options: OpenOnnxOptions = {}): OnnxModel {
  const { file, dir, sidecar } = onnxModelPaths(path);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_ONNX_BYTES;
  const bytes = readModelFile(file, maxBytes);
  const sha256 = sha256Of(bytes);
  const saved = existsSync(sidecar) ? readOnnxMetadata(sidecar) : undefined;
  if (saved && saved.modelSha256 !== sha256) {
    throw new DataFormatError(sidecar, `describes another model file (SHA-256 ${saved.modelSha256.slice(0, 12)}…, but ${basename(file)} is ${sha256.slice(0, 12)}…); move it away if the model was replaced`);
  }
  const inputLayout = agree('inputLayout', stated.inputLayout, saved?.inputLayout, sidecar) ?? DEFAULT_ONNX_INPUT_LAYOUT;
  const graph = classifierFromBytes(bytes, inputLayout, { file, dir, maxBytes });
  const [, H, W, C] = graph.input.shape;
  const inputShape: [number, number, number] = [H, W, C];
  const outShape = graph.shapes.get(graph.output)!;
  if (outShape.length !== 2 || outShape[0] !== BATCH) throw new PoisonguardError('shape-mismatch', `${file}: the output is ${formatShape(outShape)}, not class scores [N, classes]`, { path: 'model' });
  const numClasses = outShape[1];
  const backdoor = stated.backdoor;
  if (backdoor && backdoor.target >= numClasses) throw new OptionError('backdoor.target', `a class of the model (0..${numClasses - 1})`, backdoor.target);
  const preprocessing = agree('preprocessing', stated.preprocessing, saved?.preprocessing, sidecar, (p) => describePreprocessing(p, inputShape[2]));
  const dataset = agree('dataset', stated.dataset === undefined ? undefined : normaliseDataset(stated.dataset), saved?.dataset, sidecar);
  const classNames = agree('classNames', stated.classNames, saved?.classNames, sidecar, (n) => n.join(','));
  if (classNames && classNames.length !== numClasses) throw new OptionError('classNames', `${numClasses} names (the model's classes)`, classNames.length);
  const trigger = agree('backdoor.trigger', backdoor?.trigger, saved?.trigger ?? undefined, sidecar);
  const target = agree('backdoor.target', backdoor?.target, saved?.target ?? undefined, sidecar);
  const metadata: OnnxModelMetadata = {
    format: ONNX_METADATA_FORMAT,
    formatVersion: ONNX_METADATA_VERSION,
    modelSha256: sha256,
    inputLayout,
    ...(preprocessing ? { preprocessing } : {}),
    ...(dataset !== undefined ? { dataset } : {}),
    ...(classNames ? { classNames } : {}),
    ...(trigger && target !== undefined ? { trigger, target } : {}),
    inputShape,
    numClasses,
    output: graph.endsInSoftmax ? 'probabilities' : 'logits',
    ...(saved?.mitigation !== undefined ? { mitigation: saved.mitigation } : {}),
  };
  if (saved && (saved.numClasses !== numClasses || saved.inputShape.join() !== inputShape.join())) {
    throw new DataFormatError(sidecar, `says ${saved.inputShape.join('x')} inputs and ${saved.numClasses} classes, but the graph has ${inputShape.join('x')} and ${numClasses}`);
  }
  return { kind: 'onnx', file, dir, sidecar, sha256, graph, metadata, unsaved: JSON.stringify(metadata) !== JSON.stringify(saved) };
}

/**
 * Saves what was stated about a model in its sidecar: a new sidecar, or ours completed (the
 * statements never contradict it: {@link openOnnxModel} refused that). Returns the path written,
 * or undefined when there was nothing new to say.
 */
export function saveOnnxMetadata(model: OnnxModel): string | undefined {
  if (!model.unsaved) return undefined;
  // Re-read: a file put there since the load, and not ours, is refused rather than replaced.
  if (existsSync(model.sidecar)) readOnnxMetadata(model.sidecar);
  writeJsonAtomic(model.sidecar, model.metadata);
  return model.sidecar;
}

/**
 * The classifier of an ONNX file already opened once (a scan worker's copy): its graph with an NHWC
 * front, under the same size limits and checks as {@link openOnnxModel}.
 */
export function loadOnnxClassifier(file: string, inputLayout: InputLayout, maxBytes = DEFAULT_MAX_ONNX_BYTES): ClassifierGraph {
  return classifierFromBytes(readModelFile(file, maxBytes), inputLayout, { file, dir: dirname(file), maxBytes });
}

/**
 * The classifier in an ONNX ModelProto's bytes, with an NHWC front; external data only from `dir`.
 * (Also how a repaired model is read back from the bytes about to be written.)
 */
export function classifierFromBytes(bytes: Uint8Array, inputLayout: InputLayout, where: { readonly file: string; readonly dir: string; readonly maxBytes?: number }): ClassifierGraph {
  const source = loadOnnxGraph(bytes, { baseDir: where.dir, source: where.file, maxWeightBytes: where.maxBytes ?? DEFAULT_MAX_ONNX_BYTES });
  checkLayout(source, inputLayout, where.file);
  return withNhwcInput(source, inputLayout);
}

/** An ONNX file's bytes, its size checked against the limit before anything is read. */
function readModelFile(file: string, maxBytes: number): Buffer {
  const size = statSync(file).size;
  if (size > maxBytes) throw new DataFormatError(file, `${size} bytes, over the limit of ${maxBytes} bytes for a model file`);
  return readFileSync(file);
}

/** Refuses a layout under which the input would have more than 4 channels while the other layout gives an image. */
function checkLayout(source: ClassifierGraph, inputLayout: InputLayout, file: string): void {
  const channels = imageShapeOf(source, inputLayout)[2];
  if (channels > 4 && imageShapeOf(source, inputLayout === 'nchw' ? 'nhwc' : 'nchw')[2] <= 4) {
    throw new PoisonguardError(
      'shape-mismatch',
      `${file}: read as ${inputLayout.toUpperCase()}, the input ${formatShape(source.input.shape)} would have ${channels} channels; give --input-layout ${inputLayout === 'nchw' ? 'nhwc' : 'nchw'} if that is its layout`,
      { path: 'inputLayout' },
    );
  }
}

/** A registry name stays as it is; a folder is recorded by its absolute path. */
function normaliseDataset(dataset: string): string {
  return existsSync(dataset) && statSync(dataset).isDirectory() ? resolve(dataset) : dataset;
}

/** The stated value, the saved one, or an error when both are there and differ. */
function agree<T>(what: string, stated: T | undefined, saved: T | undefined, sidecar: string, show: (v: T) => string = (v) => JSON.stringify(v)): T | undefined {
  if (stated !== undefined && saved !== undefined && JSON.stringify(stated) !== JSON.stringify(saved)) {
    throw new OptionError(what, `absent or the one saved in ${sidecar} (${show(saved)})`, show(stated));
  }
  return stated ?? saved;
}

/** Reads and checks an ONNX model's sidecar. */
export function readOnnxMetadata(path: string): OnnxModelMetadata {
  const m = readJsonFile(path);
  const bad = (what: string): never => {
    throw new DataFormatError(path, what);
  };
  if (!isObject(m)) return bad('expected a JSON object.');
  if (m.format !== ONNX_METADATA_FORMAT) {
    bad(`not a poisonguard ONNX sidecar (format ${JSON.stringify(m.format)}, expected '${ONNX_METADATA_FORMAT}'); it is left as it is — move it, or put the model in a folder of its own`);
  }
  if (m.formatVersion !== ONNX_METADATA_VERSION) bad(`formatVersion ${JSON.stringify(m.formatVersion)} is not supported (expected ${ONNX_METADATA_VERSION}).`);
  if (typeof m.modelSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.modelSha256)) bad("'modelSha256' must be a SHA-256 in hex.");
  if (!(INPUT_LAYOUTS as readonly unknown[]).includes(m.inputLayout)) bad(`'inputLayout' must be one of ${INPUT_LAYOUTS.join(', ')}.`);
  const shape = m.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && (d as number) > 0)) bad("'inputShape' must be [height, width, channels].");
  if (!Number.isInteger(m.numClasses) || (m.numClasses as number) < 2) bad("'numClasses' must be an integer ≥ 2.");
  if (m.output !== 'logits' && m.output !== 'probabilities') bad("'output' must be 'logits' or 'probabilities'.");
  if (m.dataset !== undefined && typeof m.dataset !== 'string') bad("'dataset' must be a string.");
  if (m.classNames !== undefined && !(Array.isArray(m.classNames) && m.classNames.every((n) => typeof n === 'string'))) bad("'classNames' must be a list of strings.");
  const preprocessing = m.preprocessing === undefined ? undefined : checkPreprocessing(m.preprocessing, path);
  let trigger: Trigger | undefined;
  if (m.trigger !== undefined && m.trigger !== null) {
    trigger = checkBackdoor({ trigger: m.trigger, target: m.target, rate: 0 }, path).trigger;
    if ((m.target as number) >= (m.numClasses as number)) bad(`target ${String(m.target)} is not a class (numClasses ${String(m.numClasses)}).`);
  }
  return { ...(m as unknown as OnnxModelMetadata), ...(preprocessing ? { preprocessing } : {}), ...(trigger ? { trigger } : {}) };
}
