/**
 * The scan command in a real process. Ctrl-C with worker threads holding engines: once, the scan
 * saves and exits 130; twice, it quits at once and still cleanly (no abort of the process by a
 * worker terminated under a live onnxruntime session: exit 134 and "terminate called"), 130.
 * And the data of a model trained on an image folder that has since moved (--data-dir).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/paths.js';
import { initEngine } from '../../src/nn/engine.js';
import { makeTinyBackdooredModel, SIZE } from '../cleanse/fixture.js';
import { scratchDir } from '../helpers.js';

let modelDir: string;
let dataDir: string;

before(async () => {
  await initEngine({ backend: 'wasm' });
  const root = scratchDir('scan-interrupt');
  modelDir = join(root, 'model');
  const { test: images } = await makeTinyBackdooredModel(modelDir);
  // The clean images as a folder dataset (<split>/<label>/<n>.pgm), which the CLI reads; the scan uses the test split.
  dataDir = join(root, 'data');
  const size = SIZE * SIZE;
  for (const split of ['train', 'test']) {
    for (let n = 0; n < images.count; n++) {
      const dir = join(dataDir, split, String(images.labels[n]));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${n}.pgm`), Buffer.concat([Buffer.from(`P5 ${SIZE} ${SIZE} 255\n`), Buffer.from(images.images.subarray(n * size, (n + 1) * size))]));
    }
  }
});

/** Runs the scan CLI from the sources; sends SIGINT `times` times, each once stderr shows what it waits for. */
function interruptedScan(times: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const out = join(scratchDir('scan-interrupt-out'), 'scan');
  const entry = `import { main } from ${JSON.stringify(join(packageRoot(), 'src/cli/main.ts'))}; process.exitCode = await main(process.argv.slice(1));`;
  const args = ['scan', '--model', modelDir, '--dataset', dataDir, '--workers', '2', '--steps', '1000', '--out', out];
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', entry, ...args], { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = 0;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    // First once the labels run (a step line), then once the first interrupt was taken.
    const ready = sent === 0 ? /step \d+\/1000/.test(stderr) : /interrupt: finishing/.test(stderr);
    if (sent < times && ready) {
      sent++;
      child.kill('SIGINT');
    }
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

test('one Ctrl-C: the scan saves what it has and exits 130', async () => {
  const r = await interruptedScan(1);
  assert.match(r.stderr, /Scan interrupted; .*run the same command again to resume/);
  assert.equal(r.code, 130, r.stderr.slice(-2000));
});

test('two Ctrl-C: the scan quits at once, cleanly, with 130', async () => {
  for (let run = 0; run < 3; run++) {
    const r = await interruptedScan(2);
    assert.doesNotMatch(r.stderr, /terminate called/);
    assert.match(r.stderr, /interrupt: quitting/);
    assert.equal(r.code, 130, `run ${run}: exit ${r.code} (${r.signal}); ${r.stderr.slice(-2000)}`);
  }
});

test('a model trained on an image folder that has moved is scanned with --data-dir, as evaluate and mitigate accept', async () => {
  const moved = join(scratchDir('scan-moved'), 'model');
  cpSync(modelDir, moved, { recursive: true });
  const metaFile = join(moved, 'metadata.json');
  writeFileSync(metaFile, JSON.stringify({ ...JSON.parse(readFileSync(metaFile, 'utf8')), dataset: '/nonexistent/where-it-was-trained' }));
  const { scanModel } = await import('../../src/cleanse/scan.js');
  const report = await scanModel({ model: moved, dataDir, workers: 0, maxSteps: 1, engine: 'tfjs' });
  assert.equal(report.dataset.cleanImages, 200);
  assert.equal(report.runs[0].labels.length, 5);
});
