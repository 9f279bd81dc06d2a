/**
 * The zoo's parts that need no queue: reading a zoo (folder, CSV, and the CSV's bad lines named by
 * file and line), the queue URL, packed model folders and job data as untrusted input, the metrics
 * against hand-computed values, and the calibration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readZoo } from '../../src/zoo/entries.js';
import { checkQueueName, parseQueueUrl } from '../../src/zoo/queue.js';
import { packFolder, unpackFolder } from '../../src/zoo/blobs.js';
import { checkJob } from '../../src/zoo/worker.js';
import { crossEntropy, rocAuc, rocCurve, confusion } from '../../src/zoo/metrics.js';
import { checkCalibration, fitCalibration, leaveOneOut, probability } from '../../src/zoo/calibration.js';
import { DEFAULT_CALIBRATION, DEFAULT_CALIBRATION_SOURCE } from '../../src/zoo/default-calibration.js';
import { runCli, scratchDir } from '../helpers.js';

test('a zoo folder: model folders and .onnx files, in name order; other files are not models', () => {
  const dir = scratchDir('zoo-folder');
  for (const m of ['b-model', 'a-model']) {
    mkdirSync(join(dir, m));
    writeFileSync(join(dir, m, 'model.json'), '{}');
  }
  mkdirSync(join(dir, 'not-a-model'));
  writeFileSync(join(dir, 'x.onnx'), 'x');
  writeFileSync(join(dir, 'notes.txt'), 'x');
  assert.deepEqual(readZoo(dir).map((e) => e.name), ['a-model', 'b-model', 'x']);
});

test('a zoo CSV: paths relative to it, ground truth optional; each bad line named with its file and line', () => {
  const dir = scratchDir('zoo-csv');
  const csv = join(dir, 'zoo.csv');
  writeFileSync(csv, 'path,infected,target\n# a comment\nm1,yes,7\n"m 2",no,\nsub/m1,,\n');
  const e = readZoo(csv);
  assert.deepEqual(e.map((x) => [x.name, x.infected, x.target, x.line]), [['m1', true, 7, 3], ['m_2', false, undefined, 4], ['m1-2', undefined, undefined, 5]]);
  assert.equal(e[0].path, join(dir, 'm1'));
  const bad = (text: string, re: RegExp): void => {
    writeFileSync(csv, text);
    assert.throws(() => readZoo(csv), (err: Error) => re.test(err.message) && err.message.includes(csv));
  };
  bad('path,infected\nm1,maybe\n', /line 2: infected must be yes or no/);
  bad('path,infected\nm1\n', /line 2: 1 field\(s\), the header has 2/);
  bad('model,infected\nm1,yes\n', /line 1: the header must name/);
  bad('path,target\nm1,-3\n', /line 2: target must be a label index/);
  bad('path\n"m1\n', /line 2: a quoted field is not closed/);
  bad('path,infected,target\nm1,no,3\n', /line 2: a clean model \(infected no\) with a target/);
  bad('', /empty/);
  assert.throws(() => readZoo(join(dir, 'absent.csv')), /zoo not found|absent\.csv/);
});

test('the queue URL must be redis://HOST:PORT[/DB]; queue names are key-safe', () => {
  assert.deepEqual(parseQueueUrl('redis://127.0.0.1:6379/2'), { host: '127.0.0.1', port: 6379, db: 2, url: 'redis://127.0.0.1:6379/2' });
  assert.equal(parseQueueUrl('redis://queue.lan:7000').db, 0);
  for (const u of ['http://h:6379', 'redis://h', 'redis://user:pw@h:6379', 'rediss://h:6379', 'redis://h:99999', 'h:6379']) assert.throws(() => parseQueueUrl(u), /Expected --queue to be (redis:\/\/HOST:PORT\[\/DB\]|a port in 1\.\.65535)/, u);
  assert.throws(() => checkQueueName('a:b'), /--queue-name/);
});

test('a packed model folder unpacks to the same files; a malformed or escaping one is refused', () => {
  const dir = scratchDir('zoo-pack');
  mkdirSync(join(dir, 'm'));
  writeFileSync(join(dir, 'm', 'model.json'), '{"a":1}');
  writeFileSync(join(dir, 'm', 'weights.bin'), Buffer.from([1, 2, 3]));
  const blob = packFolder(join(dir, 'm'));
  unpackFolder(blob, join(dir, 'copy'), 'test');
  assert.deepEqual(packFolder(join(dir, 'copy')), blob);
  assert.throws(() => unpackFolder(blob.subarray(0, blob.length - 1), join(dir, 'c2'), 'blob x'), /blob x: not a packed model folder \(file weights\.bin truncated\)/);
  const evil = Buffer.concat([Buffer.from('PGPACK1\n'), Buffer.from([5, 0, 0, 0]), Buffer.from('../ev'), Buffer.from([1, 0, 0, 0, 65])]);
  assert.throws(() => unpackFolder(evil, join(dir, 'c3'), 'blob y'), /file name '\.\.\/ev'/);
  assert.ok(!existsSync(join(dir, 'ev')) && !existsSync(join(dir, 'c3')));
});

test('job data that is not a well-formed chunk is refused with one line', () => {
  assert.throws(() => checkJob({ format: 'other' }), /not a poisonguard chunk job: format "other"/);
  assert.throws(() => checkJob(null), /not a poisonguard chunk job/);
  const spec = { model: { kind: 'tfjs', blob: 'a'.repeat(64) }, data: { blob: 'b'.repeat(64), count: 10, height: 8, width: 8, channels: 1 }, preprocessing: { kind: 'scale' }, recipe: {}, numClasses: 5, backend: 'wasm', modelEngine: 'onnx' };
  assert.throws(() => checkJob({ format: 'poisonguard-chunk-1', model: 'm', spec: { ...spec, model: { kind: 'tfjs', blob: '../../etc' } }, task: '{}' }), /model reference/);
  assert.throws(() => checkJob({ format: 'poisonguard-chunk-1', model: 'm', spec: { ...spec, numClasses: 1 }, task: '{}' }), /class count/);
});

test('ROC-AUC counts ties as half, cross-entropy clips, the confusion table counts verdicts by truth', () => {
  const xs = [
    { p: 0.9, infected: true },
    { p: 0.4, infected: true },
    { p: 0.4, infected: false },
    { p: 0.1, infected: false },
  ];
  // Pairs (infected, clean): (0.9,0.4) 1, (0.9,0.1) 1, (0.4,0.4) ½, (0.4,0.1) 1 → 3.5/4.
  assert.equal(rocAuc(xs), 0.875);
  assert.equal(rocAuc(xs.filter((x) => x.infected)), undefined);
  const ce = -(Math.log(0.9) + Math.log(0.4) + Math.log(0.6) + Math.log(0.9)) / 4;
  assert.ok(Math.abs(crossEntropy(xs)! - ce) < 1e-12);
  assert.ok(Math.abs(crossEntropy([{ p: 0, infected: true }])! - -Math.log(1e-12)) < 1e-9);
  assert.deepEqual(rocCurve(xs).map((p) => [p.fpr, p.tpr]), [[0, 0], [0, 0.5], [0.5, 1], [1, 1]]);
  assert.deepEqual(confusion([{ verdict: 'backdoored', infected: true }, { verdict: 'suspicious', infected: false }]), { infected: { backdoored: 1, suspicious: 0, clean: 0 }, clean: { backdoored: 0, suspicious: 1, clean: 0 } });
});

test('the calibration orders models by their statistics, stays finite on a separable zoo, and leave-one-out never sees the model it scores', () => {
  const row = (a: number, z: number, r: number, infected: boolean) => ({ features: { anomalyIndex: a, secondary: z, logNormRatio: r }, infected });
  const rows = [row(3.5, 9, 1.7, true), row(3.2, 8, 1.6, true), row(2.1, 5, 1.2, true), row(0.9, 1.4, 0.3, false), row(1.0, 1.5, 0.2, false), row(2.3, 2.0, 0.4, false)];
  const cal = fitCalibration(rows, { zoo: 't', recipe: {} });
  const p = rows.map((r) => probability(cal, r.features));
  assert.ok(p.every((x) => x > 0 && x < 1 && Number.isFinite(x)));
  assert.ok(Math.min(...p.slice(0, 3)) > Math.max(...p.slice(3)));
  const loo = leaveOneOut(rows, {});
  // The first model scored without itself differs from the in-sample fit that saw it.
  assert.notEqual(loo[0], p[0]);
  assert.throws(() => fitCalibration(rows.slice(0, 3), { zoo: 't', recipe: {} }), /at least two infected and two clean/);
  assert.throws(() => checkCalibration({ format: 'poisonguard-zoo-calibration', features: ['x'] }, 'f.json'), /f\.json.*features must be among/);
  // The shipped default is a valid calibration that records what it was fitted on.
  const d = checkCalibration(DEFAULT_CALIBRATION, DEFAULT_CALIBRATION_SOURCE);
  assert.match(d.fittedOn.zoo, /six MNIST models/);
});

test('Redis not running at start: zoo status and worker say so in one line naming the refusal, exit non-zero', async () => {
  const { createServer } = await import('node:net');
  // A port that was just free: nothing listens there.
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  for (const argv of [['zoo', 'status', '--queue', `redis://127.0.0.1:${port}`], ['worker', '--queue', `redis://127.0.0.1:${port}`, '--quiet']]) {
    const { code, err } = await runCli(argv);
    assert.notEqual(code, 0, argv.join(' '));
    // One line naming the socket's refusal (the connection timeout's message would be 'no answer').
    assert.match(err, new RegExp(`^[^\\n]*cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)\\.$`));
  }
});
