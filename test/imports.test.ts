import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../src/data/paths.js';

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []));
}

/** The modules a file loads at run time (static and dynamic relative imports; `import type` and `export type` excluded unless `types`). */
function runtimeImports(file: string, types = false): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.[^']+)'/gm)) if (types || !m[1]) specs.push(m[2]);
  for (const m of text.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)) specs.push(m[1]);
  return specs.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

/** Every circle of imports among the modules under src/ (with `types`, type-only imports count too). */
function circlesUnderSrc(types: boolean): string[] {
  const root = join(packageRoot(), 'src');
  const graph = new Map(sources(root).map((f) => [f, runtimeImports(f, types)]));
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      circles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(root, p)).join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const g of graph.get(f) ?? []) if (graph.has(g)) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  return circles;
}

test('the modules under src/ load one another without a circle', () => {
  assert.deepEqual(circlesUnderSrc(false), []);
});

test("no circle either through type imports: a type lives with the module that produces it", () => {
  assert.deepEqual(circlesUnderSrc(true), []);
});
