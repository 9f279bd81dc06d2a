/**
 * `npm run bench -- NAME [options]` runs bench/NAME.ts with its options (each writes its JSON under
 * bench/out/ and its section of docs/BENCHMARKS.md); without a name, lists the benchmarks with the
 * first line of their comment.
 *
 * Run: npm run bench -- certify --dataset imdb
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Files of bench/ that are not benchmarks. */
const NOT_BENCHES = new Set(['run.ts', 'record.ts']);

function benchmarks(): { name: string; summary: string }[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !NOT_BENCHES.has(f))
    .sort()
    .map((f) => {
      const comment = /\/\*\*\s*\n?\s*\*?\s*([^\n]*)/.exec(readFileSync(join(here, f), 'utf8'));
      return { name: f.replace(/\.ts$/, ''), summary: (comment?.[1] ?? '').replace(/\s*\*\/\s*$/, '').trim() };
    });
}

const [name, ...args] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h') {
  process.stdout.write('Usage: npm run bench -- NAME [options]   (options: see the head of bench/NAME.ts)\n\nBenchmarks:\n');
  for (const b of benchmarks()) process.stdout.write(`  ${b.name.padEnd(10)} ${b.summary}\n`);
  process.exitCode = name === undefined ? 2 : 0;
} else if (NOT_BENCHES.has(`${name}.ts`) || !existsSync(join(here, `${name}.ts`))) {
  process.stderr.write(`bench: unknown benchmark '${name}'. Known: ${benchmarks().map((b) => b.name).join(', ')}.\n`);
  process.exitCode = 2;
} else {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`), ...args], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}
