/**
 * The report in a real browser: Debian's chromium driven by playwright-core. The page must render,
 * log no console error, fetch nothing, and show the key numbers; a screenshot is kept under
 * test-output/ for a person to look at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { main } from '../../src/cli/main.js';
import { scratchDir } from '../helpers.js';
import { writeFixtureRun } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
/** The flags that work on this kind of machine (see the ecosystem notes). */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('the report renders in headless Chromium with its key numbers and no console error', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (install Debian chromium: apt-get install chromium)`, timeout: 60_000 }, async () => {
  const dir = scratchDir('report-browser');
  const run = writeFixtureRun(join(dir, 'run'), { scan: true, mitigation: true });
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['report', run, '--out', join(dir, 'report.html')], { out: (l) => out.push(l), err: (l) => err.push(l), interactive: false });
  assert.equal(code, 0, err.join('\n'));

  const { chromium } = await import('playwright-core');
  // A fresh profile each time; playwright passes it as --user-data-dir.
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
    await page.goto(pathToFileURL(join(dir, 'report.html')).href, { waitUntil: 'load' });

    const text = await page.locator('body').innerText();
    assert.match(text, /poisonguard report: mnist17/);
    assert.equal((await page.locator('[data-key="top-bound"]').innerText()).trim(), 'U* = 0.0629');
    assert.match(text, /no attacker adding ε·n points inside the feasible set can push the training hinge loss above U\*/i);
    assert.match(text, /--seed 0/);
    assert.equal((await page.locator('[data-key="flagged"]').innerText()).trim(), '7');
    assert.match(text, /Mitigation/);

    // Every figure decoded to a real image with a size.
    type Img = { alt: string; naturalWidth: number; complete: boolean };
    const imgs = await page.locator('img').evaluateAll((els) => els.map((e) => ({ alt: (e as unknown as Img).alt, w: (e as unknown as Img).naturalWidth, ok: (e as unknown as Img).complete })));
    assert.ok(imgs.length >= 5, `figures and trigger images: ${imgs.length}`);
    for (const i of imgs) assert.ok(i.ok && i.w > 0, `image '${i.alt}' did not render`);

    const shot = await page.screenshot({ fullPage: true });
    writeFileSync(join(dir, 'report.png'), shot);
    assert.ok(shot.length > 10_000);
    assert.deepEqual(problems, [], 'console errors or warnings');
    assert.deepEqual(requests, [], 'the page fetched something');
  } finally {
    await context.close();
  }
});
