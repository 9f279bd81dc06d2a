import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { scratchDir } from '../helpers.js';

// The main job end to end (quick recipe): certify MNIST-1-7, train a BadNets MNIST model, scan
// it, write the report — the page must carry the bound table and the flagged target label.
test('demo --quick: the report holds the bound table and flags the backdoor target 7', { timeout: 30 * 60_000 }, async () => {
  const out = scratchDir('demo');
  const err: string[] = [];
  const lines: string[] = [];
  const code = await main(['demo', '--quick', '--out', out], { out: (l) => lines.push(l), err: (l) => err.push(l), interactive: false });
  assert.equal(code, 0, err.join('\n'));
  const page = join(out, 'report.html');
  assert.ok(existsSync(page));
  assert.match(lines.join('\n'), new RegExp(`Report: ${page.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const html = readFileSync(page, 'utf8');
  assert.match(html, /<strong class="num" data-key="top-bound">U\* = 0\.0\d{3}<\/strong>/);
  assert.match(html, /id="certify-table"/);
  assert.match(html, /label 7 — flagged/);
  // Re-running resumes: nothing is retrained, the scan is read back.
  const again = await main(['demo', '--quick', '--out', out], { out: () => {}, err: (l) => err.push(l), interactive: false });
  assert.equal(again, 0);
  assert.ok(err.some((l) => /model already trained/.test(l)));
});
