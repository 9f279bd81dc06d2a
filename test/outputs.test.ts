/**
 * Output paths claimed before the work (src/outputs.ts): the reasons a path is refused, and that
 * --force removes only files the project recognises as its own. Every folder is a scratch folder
 * under the system's temporary directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimOutputDir, claimOutputFile, OutputPathError, type OwnFiles } from '../src/outputs.js';
import { MODEL_FOLDER_FILES } from '../src/nn/model-io.js';
import { mitigationFolderFiles } from '../src/cleanse/mitigation/mitigate.js';
import { readOnlyDir } from './helpers.js';

const scratch = (): string => mkdtempSync(join(tmpdir(), 'pg-outputs-'));

test('a file where a folder is wanted, a folder where a file is wanted, a file in the way: refused, naming the path', () => {
  const d = scratch();
  const file = join(d, 'f.json');
  writeFileSync(file, '{}');
  assert.throws(() => claimOutputDir(file, { option: '--out', existing: 'fresh' }), (e: Error) => e instanceof OutputPathError && e.message === `--out ${file}: is an existing file, but a folder is wanted.`);
  assert.throws(() => claimOutputFile(d, { option: '--json' }), { message: `--json ${d}: is a folder, but a file is wanted.` });
  assert.throws(() => claimOutputDir(join(file, 'sub'), { option: '--out', existing: 'fresh' }), { message: `--out ${join(file, 'sub')}: ${file} is a file, but a folder is wanted there.` });
  assert.throws(() => claimOutputFile(file, { option: '--json' }), { message: `--json ${file}: already exists; pass --force to replace it, or choose another file.` });
  assert.equal(claimOutputFile(file, { option: '--json', force: true }), file);
});

test('a folder that cannot be written is refused before anything is written', () => {
  const ro = readOnlyDir();
  assert.throws(() => claimOutputDir(join(ro, 'model'), { option: '--out', existing: 'fresh' }), (e: Error) => /^--out \S+\/model: cannot write in \S+ \((EACCES|EPERM|EROFS)/.test(e.message));
  assert.throws(() => claimOutputFile(join(ro, 'r.json'), { option: '--json' }), { message: /^--json \S+r\.json: cannot write in \S+ \((EACCES|EPERM|EROFS)/ });
});

const own: OwnFiles = { files: ['certify.json', 'scan.json'], dirs: [{ name: /^seed-\d+$/, holds: { files: [/^label-\d+\.json$/] } }, { name: 'model', holds: MODEL_FOLDER_FILES }] };

test('--force removes only recognised files; with foreign: refuse, anything else stops it and nothing is removed', () => {
  const d = scratch();
  writeFileSync(join(d, 'certify.json'), '{}');
  mkdirSync(join(d, 'seed-0'));
  writeFileSync(join(d, 'seed-0', 'label-00.json'), '{}');
  // A user's file inside a folder whose name the project uses: that folder is not the project's.
  mkdirSync(join(d, 'model'));
  writeFileSync(join(d, 'model', 'model.json'), '{}');
  writeFileSync(join(d, 'model', 'thesis.tex'), 'mine');
  assert.throws(
    () => claimOutputDir(d, { option: '--out', existing: 'resume', force: true, own, foreign: 'refuse' }),
    { message: `--out ${d}: holds files this command did not write (model); --force removes only its own files: move them away or choose another folder.` },
  );
  assert.deepEqual(readdirSync(d).sort(), ['certify.json', 'model', 'seed-0']);
  assert.ok(existsSync(join(d, 'model', 'thesis.tex')));

  const e = scratch();
  writeFileSync(join(e, 'certify.json'), '{}');
  mkdirSync(join(e, 'seed-3'));
  writeFileSync(join(e, 'seed-3', 'label-01.json'), '{}');
  writeFileSync(join(e, 'scan.json.tmp-123'), '{');
  claimOutputDir(e, { option: '--out', existing: 'resume', force: true, own, foreign: 'refuse' });
  assert.deepEqual(readdirSync(e), []);
});

test('a link to a project folder is not followed by --force', () => {
  const d = scratch();
  const elsewhere = scratch();
  writeFileSync(join(elsewhere, 'label-00.json'), '{}');
  symlinkSync(elsewhere, join(d, 'seed-0'));
  assert.throws(() => claimOutputDir(d, { option: '--out', existing: 'resume', force: true, own, foreign: 'refuse' }), /did not write \(seed-0\)/);
  assert.ok(existsSync(join(elsewhere, 'label-00.json')));
});

test("'fresh' refuses a non-empty folder without --force; with --force and foreign: keep, stale model files go and the user's stay", () => {
  const d = scratch();
  for (const f of ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'mitigation.json', 'notes.txt']) writeFileSync(join(d, f), 'x');
  const claim = { option: '--out', existing: 'fresh' as const, own: mitigationFolderFiles(MODEL_FOLDER_FILES), foreign: 'keep' as const };
  assert.throws(() => claimOutputDir(d, claim), { message: `--out ${d}: is not empty (mitigation.json, model.json, notes.txt and 3 more); pass --force to replace the files this command writes there, or choose a new folder.` });
  claimOutputDir(d, { ...claim, force: true });
  assert.deepEqual(readdirSync(d), ['notes.txt']);
});

test("'shared' refuses only the command's own files", () => {
  const d = scratch();
  writeFileSync(join(d, 'scan.json'), '{}');
  const claim = { option: '--out', existing: 'shared' as const, own: { files: ['certify.json', 'projection.json'] } };
  assert.equal(claimOutputDir(d, claim), d);
  writeFileSync(join(d, 'certify.json'), '{}');
  assert.throws(() => claimOutputDir(d, claim), { message: `--out ${d}: already holds certify.json; pass --force to replace it, or choose another folder.` });
});

test('the output is compared with protected folders by real path', () => {
  const d = scratch();
  const model = join(d, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'model.json'), '{}');
  symlinkSync(model, join(d, 'link'));
  const claim = { option: '--out', existing: 'fresh' as const, force: true, own: MODEL_FOLDER_FILES, foreign: 'keep' as const, notOver: [{ path: model, what: 'the model folder' }] };
  assert.throws(() => claimOutputDir(join(d, 'link'), claim), /--out \S+\/link: is the model folder \(\S+\/model, through a symbolic link\); choose another folder, the original is kept\./);
  assert.throws(() => claimOutputDir(join(d, 'link', 'sub'), claim), /is inside the model folder/);
  assert.ok(existsSync(join(model, 'model.json')));
});
