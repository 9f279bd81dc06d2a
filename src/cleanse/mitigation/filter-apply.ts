/**
 * Applying a saved input filter (filter.ts) to new inputs: image files (PNG, PPM/PGM, JPEG) or a
 * folder of them, decoded to the model's input (no resizing; a 1-channel model gets the luminance
 * of colour files), run to the filter's layer, profiled and compared to the threshold.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { decodeImageFile, isGrey, isImageFile } from '../../data/image-files.js';
import { DataFormatError, NotFoundError, ShapeError } from '../../errors.js';
import { activationProfiles, type InputFilter } from './filter.js';
import { computeFeatures, resolveLayer } from './layers.js';

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

/** Profiles of raw images under the filter, and whether each is flagged (profile > threshold). */
export async function applyFilter(model: tfl.LayersModel, filter: InputFilter, images: Uint8Array): Promise<{ profiles: Float64Array; flagged: boolean[] }> {
  const layer = resolveLayer(model, filter.layer.name);
  if (layer.units !== filter.layer.units) throw new ShapeError(`layer '${layer.name}'`, `${filter.layer.units} units (the filter's)`, String(layer.units));
  const features = await computeFeatures(model, layer, images, filter.inputShape, filter.preprocessing);
  const profiles = activationProfiles(features.perNeuron, layer.units, filter.neurons);
  return { profiles, flagged: Array.from(profiles, (p) => p > filter.threshold) };
}
