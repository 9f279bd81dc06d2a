/**
 * Every command's output paths are claimed before the work, and nothing the project did not
 * write is destroyed: one line naming the path and the reason, a non-zero exit, and no work done
 * (no dataset loaded, no training). Scratch folders under the system's temporary directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { main } from '../../src/cli/main.js';
import { readOnlyDir } from '../helpers.js';

async function run(args: string[], quiet = false): Promise<{ code: number; out: string; err: string; seconds: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const t0 = performance.now();
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), interactive: false, quiet });
  return { code, out: out.join('\n'), err: err.join('\n'), seconds: (performance.now() - t0) / 1000 };
}

const scratch = (): string => mkdtempSync(join(tmpdir(), 'pg-out-cli-'));
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** 16x16 grey images in two class folders (a tiny training set). */
function imageFolder(): string {
  const root = scratch();
  for (const cls of [0, 1]) {
    mkdirSync(join(root, String(cls)));
    for (let k = 0; k < 12; k++) {
      const png = new PNG({ width: 16, height: 16 });
      for (let p = 0; p < 256; p++) {
        const v = (cls === 0 ? p % 16 < 8 : p % 16 >= 8) ? 200 : (k * 7 + p) % 50;
        png.data.set([v, v, v, 255], 4 * p);
      }
      writeFileSync(join(root, String(cls), `${k}.png`), PNG.sync.write(png));
    }
  }
  return root;
}

test('demo --force refuses a folder holding anything it did not write, and removes nothing', async () => {
  const out = scratch();
  writeFileSync(join(out, 'thesis.tex'), 'years of work');
  writeFileSync(join(out, 'certify.json'), '{}');
  const r = await run(['demo', '--quick', '--force', '--out', out]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, new RegExp(`^poisonguard demo: --out ${esc(out)}: holds files this command did not write \\(thesis\\.tex\\); --force removes only its own files`));
  assert.deepEqual(readdirSync(out).sort(), ['certify.json', 'thesis.tex']);
  assert.equal(readFileSync(join(out, 'thesis.tex'), 'utf8'), 'years of work');
});

test('mitigate --out: a link to the model folder, a non-empty folder without --force, a file: refused before the work', async () => {
  const d = scratch();
  const model = join(d, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'model.json'), '{"original": true}');
  symlinkSync(model, join(d, 'link'));
  const args = ['mitigate', '--model', model, '--scan', join(d, 'no-scan'), '--method', 'unlearn'];
  const viaLink = await run([...args, '--out', join(d, 'link'), '--force']);
  assert.equal(viaLink.code, 2);
  assert.match(viaLink.err, /--out \S+\/link: is the model folder \(\S+\/model, through a symbolic link\); choose another folder, the original is kept\./);
  assert.equal(readFileSync(join(model, 'model.json'), 'utf8'), '{"original": true}');

  const used = join(d, 'used');
  mkdirSync(used);
  writeFileSync(join(used, 'optimizer.json'), '{}');
  const nonEmpty = await run([...args, '--out', used]);
  assert.equal(nonEmpty.code, 2);
  assert.match(nonEmpty.err, new RegExp(`--out ${esc(used)}: is not empty \\(optimizer\\.json\\); pass --force`));

  writeFileSync(join(d, 'file'), '');
  const file = await run([...args, '--out', join(d, 'file')]);
  assert.match(file.err, /--out \S+\/file: is an existing file, but a folder is wanted\./);
});

test('train: a read-only --out, a file as --out, a file in the way: one line, exit 2, before any data is loaded', async () => {
  const d = scratch();
  writeFileSync(join(d, 'file'), '');
  const cases: [string, RegExp][] = [
    [join(readOnlyDir(), 'model'), /^poisonguard train: --out \S+\/model: cannot write in \S+ \((EACCES|EPERM|EROFS)/],
    [join(d, 'file'), /^poisonguard train: --out \S+\/file: is an existing file, but a folder is wanted\.$/],
    [join(d, 'file', 'model'), /^poisonguard train: --out \S+\/file\/model: \S+\/file is a file, but a folder is wanted there\.$/],
  ];
  for (const [out, re] of cases) {
    // The dataset does not exist: loading it would be a different error.
    const r = await run(['train', '--dataset', join(d, 'no-such-data'), '--arch', 'mnist', '--backend', 'wasm', '--out', out]);
    assert.equal(r.code, 2, out);
    assert.match(r.err, re);
    assert.equal(r.err.split('\n').length, 1, r.err);
  }
});

test('certify --out, scan --out: claimed before the work; an existing certify run is not replaced without --force', async () => {
  const d = scratch();
  const file = join(d, 'old.json');
  writeFileSync(file, '{"kept": true}');
  const cases: [string[], RegExp][] = [
    [['certify', '--eps', '0', '--out', file], new RegExp(`--out ${esc(file)}: is an existing file, but a folder is wanted\\.`)],
    [['certify', '--eps', '0', '--out', join(readOnlyDir(), 'run')], /--out \S+\/run: cannot write in \S+ \((EACCES|EPERM|EROFS)/],
    [['scan', '--model', scratch(), '--out', file], new RegExp(`--out ${esc(file)}: is an existing file, but a folder is wanted\\.`)],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
    assert.doesNotMatch(r.err, /train \/ .* test/, 'no data loaded');
  }
  assert.equal(readFileSync(file, 'utf8'), '{"kept": true}');

  // An existing certify run is not replaced without --force; the folder's other files do not matter.
  const runDir = join(d, 'run');
  mkdirSync(runDir);
  writeFileSync(join(runDir, 'scan.json'), '{}');
  writeFileSync(join(runDir, 'certify.json'), '{"old": 1}');
  const again = await run(['certify', '--eps', '0', '--out', runDir]);
  assert.equal(again.code, 2);
  assert.match(again.err, new RegExp(`--out ${esc(runDir)}: already holds certify\\.json; pass --force to replace it`));
  assert.equal(readFileSync(join(runDir, 'certify.json'), 'utf8'), '{"old": 1}');
});

test('report --out onto an existing page is refused without --force', async () => {
  const d = scratch();
  const made = await run(['certify', '--eps', '0', '--iters', '50', '--attack', 'none', '--workers', '0', '--out', d]);
  assert.equal(made.code, 0, made.err);
  const page = join(d, 'page.html');
  writeFileSync(page, 'mine');
  const r = await run(['report', d, '--out', page]);
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`--out ${esc(page)}: already exists; pass --force to replace it`));
  assert.equal(readFileSync(page, 'utf8'), 'mine');
  const forced = await run(['report', d, '--out', page, '--force']);
  assert.equal(forced.code, 0, forced.err);
  assert.match(readFileSync(page, 'utf8'), /<html/);
  // The default page too.
  assert.equal((await run(['report', d])).code, 0);
  assert.equal((await run(['report', d])).code, 2);
});

test('seeds: only what the generator represents, the range named', async () => {
  for (const seed of ['4294967296', '-1', '9007199254740993', '1.5', '1e3']) {
    const r = await run(['certify', '--eps', '0', `--seed=${seed}`]);
    assert.equal(r.code, 2, seed);
    assert.match(r.err, new RegExp(`Expected --seed to be an integer in \\[0, 4294967295\\] \\(the generator's 32-bit seeds\\), but got '?${esc(seed)}'?\\.`), seed);
  }
  const repeat = await run(['scan', '--model', scratch(), '--seed', '4294967295', '--repeat', '2']);
  assert.equal(repeat.code, 2);
  assert.match(repeat.err, /Expected --repeat to be at most 1 with seed 4294967295/);
});

test('--attack none cannot be combined; --budget without --fast says so', async () => {
  const a = await run(['certify', '--eps', '0', '--attack', 'none,candidate']);
  assert.equal(a.code, 2);
  assert.match(a.err, /Expected --attack to be either 'none' \(the bounds alone\) or a list of attacks; none cannot be combined with attacks, but got 'none,candidate'\./);
  const b = await run(['scan', '--model', scratch(), '--budget', '5']);
  assert.equal(b.code, 2);
  assert.match(b.err, /Expected --budget to be used with --fast \(the budget is fast mode's step limit per label; without --fast, --steps sets it\), but got '5'\./);
});

test('-q: no progress lines when the output is not a terminal; results still print', async () => {
  const data = imageFolder();
  const common = ['train', '--dataset', data, '--arch', 'mnist', '--epochs', '2', '--backend', 'wasm'];
  const loud = await run([...common, '--out', join(scratch(), 'm')]);
  assert.equal(loud.code, 0, loud.err);
  assert.match(loud.err, /epoch 1\/2: loss/);
  const quiet = await run([...common, '-q', '--out', join(scratch(), 'm')]);
  assert.equal(quiet.code, 0, quiet.err);
  assert.equal(quiet.err, '');
  assert.match(quiet.out, /clean accuracy: /);
});
