/** The package's scripts name files that exist; `npm run bench` lists the benchmarks it can run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/paths.js';

const root = packageRoot();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

test('every file a script or bin names exists', () => {
  for (const [name, script] of Object.entries(pkg.scripts)) {
    for (const file of script.match(/\b(?:bench|bin|src|test)\/[\w./-]+\.(?:ts|js)\b/g) ?? []) assert.ok(existsSync(join(root, file)), `npm run ${name}: ${file}`);
  }
  for (const file of Object.values(pkg.bin)) assert.ok(existsSync(join(root, file)), file);
});

test('npm run bench without a name lists the benchmarks; an unknown one is refused', () => {
  const list = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts'], { cwd: root, encoding: 'utf8' });
  assert.equal(list.status, 2);
  for (const name of ['certify', 'nn-engine', 'scan']) assert.match(list.stdout, new RegExp(`^  ${name} +\\S`, 'm'));
  assert.doesNotMatch(list.stdout, /^ {2}(run|record) /m, 'helpers are not benchmarks');
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'nope'], { cwd: root, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown benchmark 'nope'\. Known: .*certify/);
});
