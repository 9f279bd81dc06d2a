/** The combined verdict's rule (combine.ts): the union of the voting detectors' calls, the audits reporting without voting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMBINED_RULE, combineVerdicts } from '../../../src/cleanse/detectors/combine.js';
import type { DetectorResult } from '../../../src/cleanse/detectors/detector.js';

const result = (detector: string, score: number, threshold: number, flagged: number[], details?: Record<string, unknown>): DetectorResult => ({
  detector,
  statistic: 's',
  labels: [0, 1, 2],
  perLabel: [0, 0, 0],
  flagged,
  score,
  scoreMeaning: 'm',
  threshold,
  backdoored: score > threshold,
  recipe: {},
  seed: 1,
  seconds: 0,
  ...(details ? { details } : {}),
});

test('one voting detector over its threshold makes the model backdoored; its labels are the union of the callers\'', () => {
  const v = combineVerdicts([result('nc', 1.5, 3, [], { verdict: 'clean' }), result('mmbd', 20, 10, [2]), result('strip', 0.5, 1, [])]);
  assert.equal(v.status, 'backdoored');
  assert.deepEqual(v.by, ['mmbd']);
  assert.deepEqual(v.labels, [2]);
  assert.equal(v.score, 2, 'the largest score over its own threshold: mmbd 20 / 10');
});

test('the training-set audits report but do not vote, and the rule says so by name', () => {
  const v = combineVerdicts([result('nc', 1, 3, [], { verdict: 'clean' }), result('spectral', 9, 3, [4]), result('ac', 9, 3, [5])]);
  assert.equal(v.status, 'clean');
  assert.deepEqual(v.by, []);
  assert.equal(v.score, 1 / 3, 'the audits\' scores are not the combined score either');
  assert.match(COMBINED_RULE, /spectral and ac report but do not vote/);
});

test("no call but Neural Cleanse's verdict suspicious: suspicious; a caller's own detector votes", () => {
  assert.equal(combineVerdicts([result('nc', 2.5, 3, [], { verdict: 'suspicious' })]).status, 'suspicious');
  assert.deepEqual(combineVerdicts([result('my-detector', 5, 1, [0])]).by, ['my-detector']);
});

test('a result that abstains (STRIP with only clean test images to audit) stays out of the verdict and the score', () => {
  const strip = { ...result('strip', 0.03, 0.01, [6]), abstains: 'no training set to audit' };
  const v = combineVerdicts([result('nc', 1, 3, [], { verdict: 'clean' }), strip]);
  assert.equal(v.status, 'clean');
  assert.equal(v.score, 1 / 3);
  assert.match(COMBINED_RULE, /abstains/);
});
