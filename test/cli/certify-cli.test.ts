import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedMnistDir } from '../../src/data/mnist.js';
import { runCli, scratchDir } from '../helpers.js';

test('every command answers --help, derived from its option table', async () => {
  const g = await runCli(['--help']);
  assert.equal(g.code, 0);
  assert.match(g.out, /certify/);
  const c = await runCli(['certify', '--help']);
  assert.equal(c.code, 0);
  assert.match(c.out, /--eps LIST/);
  assert.match(c.out, /--mode MODE .*\(default: release\)/);
});

test('bad input: one clear line and a non-zero exit', async () => {
  const cases: [string[], RegExp][] = [
    [['certify', '--eps', '0,1.5'], /Expected eps to be in \[0, 1\), but got 1\.5\./],
    [['certify', '--eps', '0,abc'], /Expected --eps to be a comma-separated list of numbers/],
    [['certify', '--dataset', 'cifar'], /Unknown dataset 'cifar'\. Known datasets: .*mnist17/],
    [['certify', '--data-dir', '/nonexistent/mnist'], /No such MNIST directory: \/nonexistent\/mnist/],
    [['certify', '--mode', 'fast', '--eps', '0'], /Expected --mode to be one of 'release', 'paper', but got 'fast'/],
    [['certify', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate'], /unknown command 'frobnicate'\. Known commands: .*certify/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.err, re, args.join(' '));
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace without --debug');
  }
});

test('a truncated IDX file in --data-dir is named in the error', async () => {
  const dir = scratchDir('trunc');
  const src = embeddedMnistDir();
  for (const f of ['train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) copyFileSync(join(src, f), join(dir, f));
  const full = readFileSync(join(src, 'train-images-idx3-ubyte'));
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), full.subarray(0, 1000));
  const r = await runCli(['certify', '--data-dir', dir, '--eps', '0']);
  assert.equal(r.code, 1);
  assert.match(r.err, /train-images-idx3-ubyte: truncated: the header declares shape \[60000, 28, 28\]/);
});

test('certify runs end to end and writes JSON', async () => {
  const dir = scratchDir('certify');
  const table = await runCli(['certify', '--eps', '0,0.02', '--iters', '400', '--workers', '0', '--out', dir]);
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, /\| +0\.02 \| +0\.0\d{3}( c)? \|/);
  // --json means what it means in every command: the result on stdout, instead of the table.
  const r = await runCli(['certify', '--eps', '0,0.02', '--iters', '400', '--workers', '0', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.out, /\| +0\.02 \|/);
  const rep = JSON.parse(r.out);
  const saved = JSON.parse(readFileSync(join(dir, 'certify.json'), 'utf8'));
  assert.deepEqual(Object.keys(rep).sort(), Object.keys(saved).sort(), 'the same object as certify.json');
  assert.deepEqual(rep.rows.map((x: { upperBound: number }) => x.upperBound), saved.rows.map((x: { upperBound: number }) => x.upperBound));
  assert.equal(rep.kind, 'certify');
  assert.equal(rep.recipe.mode, 'release');
  assert.equal(rep.recipe.iterations, 400);
  assert.equal(rep.rows.length, 2);
});

test('certify --attack none computes the bounds alone', async () => {
  const r = await runCli(['certify', '--eps', '0,0.02', '--iters', '300', '--workers', '0', '--attack', 'none', '--bound', 'iterates', '--json']);
  assert.equal(r.code, 0, r.err);
  const rep = JSON.parse(r.out);
  assert.equal(rep.recipe.bound, 'iterates');
  for (const row of rep.rows) {
    assert.ok(Number.isFinite(row.upperBound) && row.upperBound > 0);
    assert.equal(row.candidate, undefined);
    assert.equal(row.labelFlip, undefined);
  }
  const bad = await runCli(['certify', '--eps', '0', '--iters', '10', '--workers', '0', '--bound', 'everything']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /bound/);
});

test("certify's help shows the library's defaults, and --defense data-dependent runs without --bound (the CLI no longer forces the oracle's bound on it)", async () => {
  const h = await runCli(['certify', '--help']);
  assert.match(h.out, /--attack LIST .*\(default: candidate,label-flip\)/);
  assert.match(h.out, /--defense KIND .*\(default: oracle\)/);
  assert.match(h.out, /Default iterates\+clean; iterates with the data-dependent defense/);
  const r = await runCli(['certify', '--defense', 'data-dependent', '--eps', '0,0.02', '--iters', '100', '--workers', '0', '--attack', 'none', '--json']);
  assert.equal(r.code, 0, r.err);
  const rep = JSON.parse(r.out);
  assert.equal(rep.recipe.defense, 'data-dependent');
  assert.equal(rep.recipe.bound, 'iterates');
});

test('a missing required option is named as missing, with what it wants; help marks it required', async () => {
  for (const [args, re] of [
    [['scan'], /Missing --model: model folder written by `poisonguard train`/],
    [['mitigate', '--model', 'm'], /Missing --scan: scan folder of this model/],
    [['filter', '--model', 'm', '--filter', 'f'], /Missing --input: an image/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /but got undefined/);
  }
  assert.match((await runCli(['scan', '--help'])).out, /--model PATH +Model folder .*\(required\)/);
});

test("library errors name the library's options; the CLI shows its flags", async () => {
  const { chooseLabels } = await import('../../src/cleanse/mitigation/reversed-trigger.js');
  const labelFiles = new Map([0, 1, 2, 3, 4].map((l) => [l, `label-0${l}.json`]));
  const scan = { flagged: [1, 3], verdictLabels: [], verdictStatus: 'suspicious', numClasses: 5, labelFiles } as unknown as Parameters<typeof chooseLabels>[0];
  assert.throws(() => chooseLabels(scan, [1, 1]), (e: unknown) => e instanceof Error && /^Expected label to be a list of distinct labels \(label 1 is given twice\)/.test(e.message) && !/--/.test(e.message));
  assert.throws(() => chooseLabels(scan, 9), (e: unknown) => e instanceof Error && /Expected label to be a class index in 0\.\.4/.test(e.message));
  const r = await runCli(['scan', '--model', '/nonexistent/model', '--flag-threshold', '2.5', '--decision-threshold', '2.2']);
  assert.equal(r.code, 2);
  assert.match(r.err, /Expected --decision-threshold to be a number ≥ the flag threshold 2\.5/);
});
