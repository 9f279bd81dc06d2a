/** `certify --method dpa|fa`: the table of certified accuracy, the JSON, the run folder, and bad input refused in one line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, scratchDir } from '../helpers.js';

test('certify --method dpa prints certified accuracy at the budgets; --json prints every point; --out writes the run folder', async () => {
  const dir = scratchDir('dpa-cli');
  const r = await runCli(['certify', '--method', 'dpa', '--partitions', '10', '--dataset', 'mnist17', '--budgets', '0,3,5', '--workers', '0', '--out', dir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /DPA, k = 10; learner svm; mnist17: 13007 train/);
  assert.match(r.out, /\| +0 \| +9\d\.\d\d% \|/);
  assert.match(r.out, /\| +5 \| +\d+\.\d\d% \|/);
  assert.ok(existsSync(join(dir, 'aggregation.json')) && existsSync(join(dir, 'partitions', '00009.json')));
  const j = await runCli(['certify', '--method', 'fa', '--partitions', '4', '--spread', '2', '--dataset', 'mnist17', '--workers', '0', '--json', '--quiet']);
  assert.equal(j.code, 0, j.err);
  const rep = JSON.parse(j.out);
  assert.equal(rep.kind, 'aggregation');
  assert.equal(rep.points.length, 2163);
  assert.deepEqual(Object.keys(rep.points[0]).sort(), ['label', 'prediction', 'radius', 'votes']);
  assert.equal(rep.recipe.classifiers, 8);
  const saved = JSON.parse(readFileSync(join(dir, 'aggregation.json'), 'utf8'));
  assert.equal(saved.recipe.partitions, 10);
});

test('certify --method dpa|fa: bad input is one clear line and a non-zero exit', async () => {
  const base = ['certify', '--method', 'dpa', '--dataset', 'mnist17', '--workers', '0'];
  const cases: [string[], RegExp][] = [
    [[...base, '--partitions', '1'], /Expected --partitions to be an integer of at least 2/],
    [[...base, '--partitions', '13008'], /at most the training set's size \(13007\), but got 13008/],
    [[...base, '--partitions', '2.5'], /Expected --partitions to be an integer/],
    [[...base, '--partitions', '4', '--learner', 'resnet'], /Expected --learner to be one of 'svm', 'mnist', 'gtsrb', or the path of an ONNX image classifier \(FILE\.onnx, or a folder holding model\.onnx\), but got 'resnet'/],
    [[...base, '--partitions', '4', '--budgets', '0,-1'], /Expected --budgets to be a list of non-negative integers/],
    [[...base, '--partitions', '4', '--budgets', '0,x'], /Expected --budgets to be a comma-separated list of numbers/],
    [[...base, '--partitions', '4', '--budgets', '2.5'], /non-negative integers/],
    [[...base], /Missing --partitions/],
    [[...base, '--partitions', '4', '--eps', '0.1'], /Expected --eps to be absent with --method dpa/],
    [['certify', '--partitions', '4'], /Expected --partitions to be absent with --method bound/],
    [[...base, '--partitions', '4', '--net-recipe', 'adam'], /Expected --net-recipe to be absent with the svm learner/],
    [[...base, '--partitions', '4', '--crop', '2'], /Expected --crop to be absent with the svm learner/],
    [[...base, '--partitions', '4', '--batch-size', '32'], /Expected --batch-size to be absent with the svm learner/],
    [['certify', '--method', 'dpa', '--dataset', 'mnist', '--learner', 'mnist', '--partitions', '4', '--batch-size', '0'], /Expected --batch-size to be a positive integer/],
    [['certify', '--batch-size', '32'], /Expected --batch-size to be absent with --method bound/],
    [['certify', '--method', 'dpa', '--dataset', 'mnist', '--learner', 'mnist', '--partitions', '4', '--net-recipe', 'rmsprop'], /Expected --net-recipe to be one of 'dpa', 'adam', but got 'rmsprop'/],
    [['certify', '--method', 'dpa', '--dataset', 'mnist', '--learner', 'mnist', '--partitions', '4', '--crop', '28'], /Expected --crop to be an integer number of pixels in 0\.\.27/],
    [['certify', '--crop', '2'], /Expected --crop to be absent with --method bound/],
    [['certify', '--method', 'knn', '--partitions', '4'], /Expected --method to be one of 'bound', 'dpa', 'fa', but got 'knn'/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.err, re, args.join(' '));
    assert.equal(r.err.split('\n').length, 1, `one line: ${r.err}`);
  }
});
