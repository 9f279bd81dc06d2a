/** A tiny image folder for the aggregation tests of network learners (no TF.js needed to make it). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Random } from '../../../src/random.js';

const SIZE = 8;
const CLASSES = 5;
/** Top-left corners of each class's bright 3x3 blob (test/cleanse/fixture.ts's synthetic set). */
const BLOBS: readonly [number, number][] = [
  [0, 0],
  [0, 5],
  [5, 0],
  [2, 2],
  [0, 2],
];

/** An image folder (train/ and test/, one sub-folder per class) of 8x8 grey images: a blob at a class's place, on noise. */
export function writeTinyFolder(root: string, train: number, testCount: number): string {
  const rng = new Random(5);
  for (const [split, count] of [['train', train], ['test', testCount]] as const) {
    for (let n = 0; n < count; n++) {
      const y = n % CLASSES;
      const px = new Uint8Array(SIZE * SIZE);
      for (let p = 0; p < px.length; p++) px[p] = Math.floor(rng.next() * 70);
      const [r0, c0] = BLOBS[y];
      for (let r = r0; r < r0 + 3; r++) for (let c = c0; c < c0 + 3; c++) px[r * SIZE + c] = 180 + Math.floor(rng.next() * 75);
      const dir = join(root, split, String(y));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${n}.pgm`), Buffer.concat([Buffer.from(`P5 ${SIZE} ${SIZE} 255\n`), Buffer.from(px)]));
    }
  }
  return root;
}

