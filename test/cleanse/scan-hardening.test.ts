/**
 * Bad inputs to the scan and the model folder, on the tiny backdoored model (fixture.ts): another
 * seed into the same --out folder, the worker count capped, model metadata that contradicts the
 * model, and the model hash (links, huge files).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, cpSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanModel } from '../../src/cleanse/scan.js';
import { hashModelFolder } from '../../src/run-files.js';
import { main } from '../../src/cli/main.js';
import type { ImageSet } from '../../src/data/images.js';
import { initEngine } from '../../src/nn/engine.js';
import { readMetadata } from '../../src/nn/model-io.js';
import { makeTinyBackdooredModel, TINY_RECIPE } from './fixture.js';

const scratch = (): string => mkdtempSync(join(tmpdir(), 'pg-scan-hard-'));
let modelDir: string;
let clean: ImageSet;
const quick = () => ({ model: modelDir, clean, workers: 0, ...TINY_RECIPE, maxSteps: 4, labels: [0, 1, 2] });

before(async () => {
  await initEngine({ backend: 'wasm' });
  modelDir = join(scratch(), 'tiny');
  clean = (await makeTinyBackdooredModel(modelDir)).test;
});

/** A copy of the model folder with metadata.json edited. */
function withMetadata(edit: (m: Record<string, unknown>) => void): string {
  const dir = join(scratch(), 'edited');
  cpSync(modelDir, dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
  edit(m);
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify(m));
  return dir;
}

test('another --seed into the same --out folder is refused; its scan.json stays', async () => {
  const out = scratch();
  const first = await scanModel({ ...quick(), out, seed: 0 });
  const saved = readFileSync(join(out, 'scan.json'), 'utf8');
  await assert.rejects(scanModel({ ...quick(), out, seed: 1 }), { message: /holds a scan of a different model or recipe, which cannot be resumed: seeds: \[0\] then, \[1\] now/ });
  await assert.rejects(scanModel({ ...quick(), out, seed: 0, repeat: 2 }), { message: /seeds: \[0\] then, \[0,1\] now/ });
  assert.equal(readFileSync(join(out, 'scan.json'), 'utf8'), saved);
  // The same seed resumes (nothing to run).
  const again = await scanModel({ ...quick(), out, seed: 0 });
  assert.deepEqual(again.runs[0].labels.map((l) => l.norm), first.runs[0].labels.map((l) => l.norm));
});

test('--workers is capped at the labels to run and the cores; the report says so', async () => {
  const r = await scanModel({ ...quick(), workers: 1000 });
  assert.equal(r.workersRequested, 1000);
  assert.equal(r.workers, Math.min(3, availableParallelism()));
});

test('metadata that contradicts the model is refused, blaming the metadata', async () => {
  const classes = withMetadata((m) => (m.numClasses = 7));
  await assert.rejects(scanModel({ ...quick(), model: classes }), { message: /metadata\.json: numClasses 7 contradicts the model's 5 outputs \(\S+model\.json\); the metadata is wrong\./ });
  const shape = withMetadata((m) => (m.inputShape = [10, 10, 1]));
  await assert.rejects(scanModel({ ...quick(), model: shape }), { message: /metadata\.json: inputShape \[10, 10, 1\] contradicts the model's input \[8, 8, 1\] \(\S+model\.json\); the metadata is wrong, not the data\./ });
  const err: string[] = [];
  assert.equal(await main(['evaluate', '--model', shape, '--backend', 'wasm'], { out: () => {}, err: (l) => err.push(l), interactive: false }), 1);
  assert.match(err.join('\n'), /inputShape \[10, 10, 1\] contradicts the model's input/);
  assert.doesNotMatch(err.join('\n'), /--data-dir/);
  for (const [p, re] of [
    [{ kind: 'scale', scale: 1e300, offset: 0 }, /maps pixels 0\.\.255 to \[0, 2\.55e\+302\]; a usable one maps them within ±10000, at least 0\.0001 apart/],
    [{ kind: 'scale', scale: 1e-300, offset: 0 }, /a usable one maps them within ±10000, at least 0\.0001 apart/],
    [{ kind: 'normalize', mean: [0.5], std: [1e-9] }, /maps pixels 0\.\.255 to \[-500000000, 500000000\]/],
  ] as const) {
    const bad = withMetadata((m) => (m.preprocessing = p));
    assert.throws(() => readMetadata(bad), { message: re });
  }
});

test('the model hash follows no link out of the folder, and hashes a file over 2 GiB in pieces', () => {
  const linked = join(scratch(), 'linked');
  cpSync(modelDir, linked, { recursive: true });
  const outside = join(scratch(), 'secret.bin');
  writeFileSync(outside, 'not the model');
  symlinkSync(outside, join(linked, 'extra.bin'));
  assert.throws(() => hashModelFolder(linked), { message: new RegExp(`${join(linked, 'extra.bin').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: a link leading outside the model folder`) });
  rmSync(join(linked, 'extra.bin'));
  symlinkSync(join(linked, 'weights.bin'), join(linked, 'alias.bin'));
  assert.match(hashModelFolder(linked), /^[0-9a-f]{64}$/);

  // A sparse file just over 2 GiB: one buffer of it cannot be read at all.
  const huge = join(scratch(), 'huge');
  cpSync(modelDir, huge, { recursive: true });
  const fd = openSync(join(huge, 'zeros.bin'), 'w');
  ftruncateSync(fd, 2 ** 31 + 1);
  closeSync(fd);
  try {
    assert.match(hashModelFolder(huge), /^[0-9a-f]{64}$/);
  } finally {
    rmSync(huge, { recursive: true, force: true });
  }
});
