import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkPreprocessing,
  DEFAULT_PREPROCESSING,
  describePreprocessing,
  intensityRange,
  preprocessBatch,
  preprocessingPreset,
} from '../../src/nn/preprocess.js';
import { UnknownNameError } from '../../src/errors.js';

test('presets map 0..255 onto their ranges; normalize works per channel', () => {
  assert.deepEqual(DEFAULT_PREPROCESSING, { kind: 'scale', scale: 1 / 255, offset: 0 });
  assert.deepEqual(intensityRange(preprocessingPreset('unit'), 1), { lo: [0], hi: [1] });
  assert.deepEqual(intensityRange(preprocessingPreset('raw'), 3), { lo: [0, 0, 0], hi: [255, 255, 255] });
  const incep = intensityRange(preprocessingPreset('inception'), 1);
  assert.ok(Math.abs(incep.lo[0] + 1) < 1e-12 && Math.abs(incep.hi[0] - 1) < 1e-12);
  assert.equal(describePreprocessing(preprocessingPreset('mnist'), 1), 'x/255 − 0.5 → [-0.5, 0.5]');
  // (x/255 − mean)/std: x = 51 → 0.2; channel 0: (0.2 − 0.5)/0.25 = −1.2; channel 1: (0.2 − 0)/0.5 = 0.4.
  const norm = { kind: 'normalize', mean: [0.5, 0], std: [0.25, 0.5] } as const;
  const out = preprocessBatch(Uint8Array.from([51, 51, 255, 0]), 2, norm);
  const expected = [-1.2, 0.4, 2, 0];
  out.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `${i}: ${v}`));
  assert.throws(() => preprocessBatch(new Uint8Array(3), 3, norm), /one per channel/);
  assert.throws(() => preprocessingPreset('imagenet'), UnknownNameError);
});

test('preprocessing read from metadata is validated', () => {
  assert.deepEqual(checkPreprocessing({ kind: 'scale', scale: 2, offset: -1 }, 'm.json'), { kind: 'scale', scale: 2, offset: -1 });
  assert.throws(() => checkPreprocessing({ kind: 'scale', scale: 0, offset: 0 }, 'm.json'), /m\.json: bad preprocessing: scale must be a non-zero finite number/);
  assert.throws(() => checkPreprocessing({ kind: 'normalize', mean: [0], std: [0] }, 'm.json'), /std must be a list of positive numbers/);
  assert.throws(() => checkPreprocessing({ kind: 'zscore' }, 'm.json'), /kind must be 'scale' or 'normalize'/);
});
