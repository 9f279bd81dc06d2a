import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSvmlight, parseSvmlight, readSvmlightFile } from '../../src/data/svmlight.js';
import { toDense } from '../../src/data/matrix.js';
import { DataFormatError, NotFoundError, OptionError } from '../../src/errors.js';
import { scratchDir } from '../helpers.js';

test('svmlight: 1-based rows, comments, blank lines, qid and unsorted indices', () => {
  const text = ['# a header comment', '+1 3:0.5 1:2 # trailing comment', '', '-1 qid:7 2:-1.5e1', '0 4:3'].join('\n');
  const d = parseSvmlight(text, 'x.svm');
  assert.equal(d.X.rows, 3);
  assert.equal(d.X.cols, 4); // largest index 4, 1-based
  assert.deepEqual(Array.from(d.X.indptr), [0, 2, 3, 4]);
  assert.deepEqual(Array.from(d.X.indices), [0, 2, 1, 3]); // row 0 sorted: 1:2 before 3:0.5
  assert.deepEqual(Array.from(d.X.values), [2, 0.5, -15, 3]);
  assert.deepEqual(Array.from(d.y), [1, -1, -1]); // 0 → −1
  assert.deepEqual(Array.from(d.rawLabels), [1, -1, 0]);
});

test('svmlight: labeledBow.feat style — 0-based indices, ratings turned into ±1 by a threshold', () => {
  const d = parseSvmlight('9 0:9 1:1 5:4\n2 3:1\n7 0:2\n', 'labeledBow.feat', { indexBase: 0, positiveAbove: 5, cols: 10 });
  assert.equal(d.X.cols, 10);
  assert.deepEqual(Array.from(d.y), [1, -1, 1]);
  assert.deepEqual(Array.from(d.rawLabels), [9, 2, 7]);
  assert.deepEqual(Array.from(toDense(d.X).data.subarray(0, 10)), [9, 1, 0, 0, 0, 4, 0, 0, 0, 0]);
});

test('svmlight: encode then parse gives the same matrix', () => {
  const src = parseSvmlight('1 1:1 4:2.25\n-1\n-1 2:3\n', 'a');
  const back = parseSvmlight(encodeSvmlight(src.X, src.y), 'b');
  assert.deepEqual(back.X, { ...src.X, cols: 4 });
  assert.deepEqual(Array.from(back.y), Array.from(src.y));
  const zero = parseSvmlight(encodeSvmlight(src.X, src.y, 0), 'c', { indexBase: 0 });
  assert.deepEqual(Array.from(zero.X.indices), Array.from(src.X.indices));
});

test('svmlight: each kind of bad line is refused with the file and the 1-based line', () => {
  const bad: [string, RegExp][] = [
    ['1 1:1\n1 a:2', /f\.svm \(at 2\): line 2: the feature index 'a' is not an integer/],
    ['1 1:1\n\n1 -3:2', /line 3: the feature index -3 is negative/],
    ['1 0:2', /line 1: the feature index 0 is below 1, the first index of a 1-based file/],
    ['1 2:x', /line 1: the value 'x' of feature 2 is not a finite number/],
    ['1 2:', /line 1: '2:' is not an index:value pair/],
    ['1 5', /line 1: '5' is not an index:value pair/],
    ['1 2:1 2:3', /line 1: the feature index 2 appears twice/],
    ['1 3:1 1:1 3:2', /line 1: the feature index 3 appears twice/],
    ['# c\nyes 1:1', /line 2: the label 'yes' is not a finite number/],
    ['1 1:1\n3 1:1', /line 2: the label 3 is not a binary label .* pass positiveAbove/],
    ['1 1:inf', /line 1: the value 'inf' of feature 1 is not a finite number/],
  ];
  for (const [text, message] of bad) {
    assert.throws(
      () => parseSvmlight(text, 'f.svm'),
      (e: unknown) => e instanceof DataFormatError && message.test(e.message) && e.details.path === 'f.svm',
      `expected ${message} for ${JSON.stringify(text)}`,
    );
  }
  assert.throws(() => parseSvmlight('1 11:1', 'f.svm', { cols: 10 }), /line 1: the feature index 11 is beyond the 10 columns/);
  assert.throws(() => parseSvmlight('1 1:1', 'f.svm', { indexBase: 2 as 0 }), (e: unknown) => e instanceof OptionError && /indexBase/.test(e.message));
});

test('svmlight: a file on disk, and a missing one', () => {
  const dir = scratchDir('svmlight');
  const path = join(dir, 'train.svm');
  writeFileSync(path, '1 1:1\n1 2:x\n');
  assert.throws(() => readSvmlightFile(path), (e: unknown) => e instanceof DataFormatError && e.message.startsWith(`${path} (at 2): line 2:`) && e.details.position === 2);
  assert.throws(() => readSvmlightFile(join(dir, 'nope.svm')), NotFoundError);
});
