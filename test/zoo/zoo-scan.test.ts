/**
 * A local zoo scan end to end: four tiny models (two infected, two clean) and two bad entries
 * (missing; not a model) listed in a CSV. The bad entries are named and the others scanned; zoo.json
 * holds the metrics; `zoo status` and `zoo calibrate` read the folder; the zoo's page renders in
 * headless Chromium (as the model report's test does) with its ROC curve and links to each model's
 * report.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { main } from '../../src/cli/main.js';
import { initEngine } from '../../src/nn/engine.js';
import { scanZoo } from '../../src/zoo/scan-zoo.js';
import type { ZooReport } from '../../src/zoo/zoo-json.js';
import { scratchDir } from '../helpers.js';
import { makeTinyZoo, TINY_RECIPE } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let root: string;
let out: string;
let report: ZooReport;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o: string[] = [];
  const e: string[] = [];
  const code = await main(args, { out: (l) => o.push(l), err: (l) => e.push(l), interactive: false });
  return { code, out: o.join('\n'), err: e.join('\n') };
}

before(async () => {
  await initEngine({ backend: 'wasm' });
  root = scratchDir('zoo-scan');
  const { zoo } = await makeTinyZoo(root, [
    { name: 'inf-a', target: 1 },
    { name: 'inf-b', target: 3, position: 'top-left' },
    { name: 'clean-c', target: null },
    { name: 'clean-d', target: null },
  ]);
  writeFileSync(join(root, 'notes.txt'), 'not a model');
  const csv = join(root, 'zoo.csv');
  writeFileSync(csv, 'path,infected,target\nzoo/inf-a,yes,1\nzoo/inf-b,yes,3\nzoo/clean-c,no,\nmissing-model,no,\nnotes.txt,yes,2\nzoo/clean-d,no,\n');
  out = join(root, 'out');
  report = await scanZoo({ zoo: csv, out, scan: { ...TINY_RECIPE, fast: { budget: 40 }, seed: 3, workers: 1 } });
});

test('bad entries are named and the others scanned; zoo.json has the verdicts, probabilities and TrojAI scores', () => {
  assert.deepEqual(report.failed.map((f) => f.name), ['missing-model', 'notes.txt']);
  assert.match(report.failed[0].error, /missing-model/);
  const scanned = report.models.filter((m) => m.status === 'scanned');
  assert.deepEqual(scanned.map((m) => m.name), ['inf-a', 'inf-b', 'clean-c', 'clean-d']);
  for (const m of scanned) {
    assert.ok(m.pBackdoored! > 0 && m.pBackdoored! < 1);
    assert.ok(existsSync(join(out, m.report!)), `${m.name}'s report`);
  }
  const z = JSON.parse(readFileSync(join(out, 'zoo.json'), 'utf8')) as ZooReport;
  assert.equal(z.metrics!.models, 4);
  assert.equal(z.metrics!.infected, 2);
  assert.ok(z.metrics!.rocAuc! >= 0 && z.metrics!.rocAuc! <= 1);
  const c = z.metrics!.confusion;
  assert.equal(c.infected.backdoored + c.infected.suspicious + c.infected.clean, 2);
});

test('zoo status and zoo calibrate read the folder; calibrate does not overwrite without --force', async () => {
  const s = await cli(['zoo', 'status', out]);
  assert.equal(s.code, 0, s.err);
  assert.match(s.out, /4\/4 model\(s\) finished, zoo\.json written/);
  const file = join(root, 'cal.json');
  const c = await cli(['zoo', 'calibrate', out, '--out', file, '--leave-one-out']);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /fitted on 4 model\(s\).*2 infected/);
  assert.match(c.out, /leave-one-out .*ROC-AUC/);
  const again = await cli(['zoo', 'calibrate', out, '--out', file]);
  assert.notEqual(again.code, 0);
  assert.match(again.err, /already exists; pass --force/);
  const bad = await cli(['zoo', 'scan', join(root, 'zoo.csv'), '--out', join(root, 'o2'), '--queue', 'http://localhost:6379']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--queue to be redis:\/\/HOST:PORT\[\/DB\]/);
});

test('the zoo page renders in headless Chromium: scores, ROC curve, a row per model linking to its report', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium)`, timeout: 60_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'pg-chromium-')), { executablePath: CHROMIUM, args: FLAGS, viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
    });
    await page.goto(pathToFileURL(join(out, 'zoo.html')).href, { waitUntil: 'load' });
    assert.equal((await page.locator('[data-key="models"]').innerText()).trim(), '6');
    assert.equal((await page.locator('[data-key="failed"]').innerText()).trim(), '2');
    assert.equal((await page.locator('[data-key="auc"]').innerText()).trim(), report.metrics!.rocAuc!.toFixed(3));
    const roc = page.locator('figure#roc img');
    assert.ok((await roc.evaluate((e) => (e as unknown as { naturalWidth: number }).naturalWidth)) > 0, 'the ROC curve rendered');
    const links = await page.locator('[data-key="models-table"] a').evaluateAll((els) => els.map((e) => (e as unknown as { href: string }).href));
    assert.equal(links.length, 4);
    // Each link leads to that model's report, which opens.
    await page.goto(links[0], { waitUntil: 'load' });
    assert.match(await page.locator('body').innerText(), /inf-a|Neural Cleanse/i);
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, []);
  } finally {
    await context.close();
  }
});
