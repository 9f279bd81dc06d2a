/**
 * Applying a saved input filter (filter.ts) to new inputs: image files (PNG, PPM/PGM, JPEG) or a
 * folder of them, decoded to the model's input (no resizing; a 1-channel model gets the luminance
 * of colour files), run to the filter's layer, profiled and compared to the threshold. The model is
 * a TF.js folder or a user's ONNX file, as the filter was made for.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeImageFile, isGrey, isImageFile } from '../../data/image-files.js';
import { DataFormatError, NotFoundError, OptionError, ShapeError } from '../../errors.js';
import type { BackendChoice } from '../../nn/engine.js';
import { activationProfiles, checkFilterModel, filterProfiles, flaggedAny, type InputFilter } from './filter.js';
import { computeFeatures, resolveLayer } from './layers.js';
import type { LayerProbe } from './net.js';

/** Image files of `input`: the file itself, or a folder's image files (sorted, not recursive). */
export function inputFiles(input: string): string[] {
  const p = resolve(input);
  if (!existsSync(p)) throw new NotFoundError(p, 'input image or folder');
  if (statSync(p).isFile()) return [p];
  const files = readdirSync(p)
    .filter((f) => isImageFile(f) && statSync(join(p, f)).isFile())
    .sort()
    .map((f) => join(p, f));
  if (files.length === 0) throw new NotFoundError(p, 'image in the folder', 'Expected .png, .jpg, .jpeg, .ppm, .pgm or .pnm files');
  return files;
}

/** Decodes files into raw NHWC bytes of shape [H, W, C]; refuses images of another size. */
export function readInputs(files: readonly string[], shape: readonly [number, number, number]): Uint8Array {
  const [H, W, C] = shape;
  const out = new Uint8Array(files.length * H * W * C);
  files.forEach((file, n) => {
    const img = decodeImageFile(file);
    if (img.height !== H || img.width !== W) throw new ShapeError(file, `${H}x${W} pixels (the model's input; images are not resized)`, `${img.height}x${img.width}`);
    const base = n * H * W * C;
    const grey = C === 1 && isGrey(img);
    for (let p = 0; p < H * W; p++) {
      const [r, g, b] = [img.rgb[3 * p], img.rgb[3 * p + 1], img.rgb[3 * p + 2]];
      if (C === 3) out.set([r, g, b], base + 3 * p);
      else if (C === 1) out[base + p] = grey ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b); // ITU-R BT.601 luma
      else throw new DataFormatError(file, `the model takes ${C} channels; image files give 1 or 3.`);
    }
  });
  return out;
}

/** What a filter says of each input. */
export interface FilterResult {
  /** Per input, the (first label's) profile: the only one of a one-label filter. */
  readonly profiles: Float64Array;
  /** Per label of the filter: its profiles and threshold. */
  readonly byLabel: readonly { readonly label: number; readonly threshold: number; readonly profiles: Float64Array }[];
  /** Per input: some label's profile above its threshold. */
  readonly flagged: boolean[];
}

/** Profiles of raw images under the filter, and whether each is flagged (some label's profile > its threshold). */
export async function applyFilter(probe: Pick<LayerProbe, 'layer' | 'perNeuron'>, filter: InputFilter, images: Uint8Array): Promise<FilterResult> {
  const { layer } = probe;
  if (layer.units !== filter.layer.units) throw new ShapeError(`layer '${layer.name}'`, `${filter.layer.units} units (the filter's)`, String(layer.units));
  const features = await probe.perNeuron(images);
  const byLabel = filterProfiles(filter).map((p) => ({ label: p.label, threshold: p.threshold, profiles: activationProfiles(features, layer.units, p.neurons) }));
  const flagged = flaggedAny(
    byLabel.map((b) => b.profiles),
    byLabel.map((b) => b.threshold),
  );
  return { profiles: byLabel[0].profiles, byLabel, flagged: Array.from(flagged, (f) => f === 1) };
}

/**
 * Applies `filter` to raw images with the model it was made for: a TF.js model folder (on
 * `backend`) or an ONNX file (on the native engine), checked by its SHA-256 first.
 */
export async function applyFilterWithModel(modelPath: string, filter: InputFilter, images: Uint8Array, backend?: BackendChoice): Promise<FilterResult> {
  const { isOnnxModelPath, openOnnxModel } = await import('../../nn/onnx-model.js');
  if (isOnnxModelPath(modelPath)) {
    if (backend !== undefined) throw new OptionError('backend', 'absent for an ONNX model (it runs on the native engine)', backend);
    const model = openOnnxModel(modelPath);
    checkFilterModel(filter, model.sha256, model.file);
    const { onnxNet } = await import('./onnx-net.js');
    const probe = await onnxNet(model).probe(filter.layer.name, 'filter');
    try {
      return await applyFilter(probe, filter, images);
    } finally {
      await probe.dispose();
    }
  }
  const dir = resolve(modelPath);
  const { hashModelFolder } = await import('../../run-files.js');
  const { loadModel } = await import('../../nn/model-io.js');
  const { initEngine } = await import('../../nn/engine.js');
  await initEngine({ ...(backend !== undefined ? { backend } : {}) });
  const { model } = await loadModel(dir);
  try {
    checkFilterModel(filter, hashModelFolder(dir), dir);
    const layer = resolveLayer(model, filter.layer.name);
    return await applyFilter({ layer, perNeuron: async (x) => (await computeFeatures(model, layer, x, filter.inputShape, filter.preprocessing)).perNeuron }, filter, images);
  } finally {
    model.dispose();
  }
}
