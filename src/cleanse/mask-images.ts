/** PNG images of a reversed trigger: the mask, the pattern and mask × pattern (the release's "fusion"). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { LabelResult } from './label-result.js';

/** Encodes H×W×c values in 0..255 (c = 1 grey, 3 RGB) as an RGBA PNG. */
export function encodePng(values: ArrayLike<number>, H: number, W: number, c: number): Buffer {
  const png = new PNG({ width: W, height: H });
  for (let p = 0; p < H * W; p++) {
    for (let k = 0; k < 3; k++) {
      const v = values[p * c + (c === 1 ? 0 : k)];
      png.data[4 * p + k] = Math.max(0, Math.min(255, Math.round(v)));
    }
    png.data[4 * p + 3] = 255;
  }
  return PNG.sync.write(png);
}

/** File names of a label's images, relative to its run folder. */
export function labelImageFiles(label: number): { mask: string; pattern: string; fusion: string } {
  const base = `label-${pad(label)}`;
  return { mask: `${base}-mask.png`, pattern: `${base}-pattern.png`, fusion: `${base}-fusion.png` };
}

export function pad(label: number): string {
  return String(label).padStart(2, '0');
}

/** Writes the three PNGs of a label into `dir`; returns their names. */
export function writeLabelImages(dir: string, r: LabelResult, channels: number): { mask: string; pattern: string; fusion: string } {
  const [H, W, mc] = r.maskShape;
  const files = labelImageFiles(r.label);
  writeFileSync(join(dir, files.mask), encodePng(r.mask.map((m) => 255 * m), H, W, mc));
  writeFileSync(join(dir, files.pattern), encodePng(r.pattern, H, W, channels));
  const fusion = new Float32Array(H * W * channels);
  for (let p = 0; p < H * W; p++) {
    for (let k = 0; k < channels; k++) fusion[p * channels + k] = r.mask[p * mc + (mc === 1 ? 0 : k)] * r.pattern[p * channels + k];
  }
  writeFileSync(join(dir, files.fusion), encodePng(fusion, H, W, channels));
  return files;
}
