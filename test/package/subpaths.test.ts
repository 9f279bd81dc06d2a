/**
 * The package's subpath exports: each names a source entry that exists, and the light ones load
 * no TensorFlow.js (a certify user should not pay 2.6 s for the neural half). A child process
 * imports the entry with a module hook that lists every @tensorflow module resolved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../src/data/paths.js';
import { scratchDir } from '../helpers.js';

const root = packageRoot();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; import: string }> };

/** The source entry of a built path: ./dist/x/index.js → src/x/index.ts. */
const sourceOf = (built: string): string => join(root, built.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));

test('every subpath export has types and a source entry', () => {
  for (const sub of ['.', './certify', './cleanse', './data', './nn', './report']) assert.ok(sub in pkg.exports, sub);
  for (const [name, e] of Object.entries(pkg.exports)) {
    assert.equal(e.types, e.import.replace(/\.js$/, '.d.ts'), name);
    assert.ok(existsSync(sourceOf(e.import)), `${name}: ${e.import}`);
  }
});

/** The @tensorflow modules that importing `entry` (a source file) resolves, from a fresh process. */
function tensorflowModulesOf(entry: string): string[] {
  const dir = scratchDir('subpaths');
  const log = join(dir, 'resolved.txt');
  writeFileSync(log, '');
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes('/@tensorflow/')) appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}\n`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  execFileSync(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(register).href, '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(entry).href)});`], { cwd: root });
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

test("import('poisonguard/certify'), '/data' and '/report' load no TensorFlow.js; '/nn' does (the check sees it)", () => {
  for (const sub of ['./certify', './data', './report']) {
    assert.deepEqual(tensorflowModulesOf(sourceOf(pkg.exports[sub].import)), [], sub);
  }
  assert.ok(tensorflowModulesOf(sourceOf(pkg.exports['./nn'].import)).length > 0, 'the hook sees TensorFlow.js when it loads');
});

test('the root export is curated: no kernels or scratch buffers', async () => {
  const api = await import('../../src/index.js');
  for (const internal of ['rowAxpy', 'rowDot', 'hingeScratch', 'hingeLossGradSum', 'maximizerCache', 'dotDense', 'maskFromParams', 'siblingModule']) {
    assert.ok(!(internal in api), internal);
  }
  for (const name of ['certify', 'scanModel', 'mitigateModel', 'trainRun', 'buildReport', 'loadMnist17', 'PoisonguardError']) assert.ok(name in api, name);
});
