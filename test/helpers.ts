/** Shared test helpers: the shared data folder and a scratch folder under test-output/. */
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedDataDir, packageRoot } from '../src/data/paths.js';

/** Path of a shared dataset folder, or undefined (the test then skips with a message). */
export function sharedData(sub: string): string | undefined {
  const d = sharedDataDir();
  return d ? join(d, sub) : undefined;
}

/** A fresh scratch folder under test-output/ (ignored by git). */
export function scratchDir(name: string): string {
  const base = join(packageRoot(), 'test-output');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, `${name}-`));
}

/** A folder nothing can be written into, also for root (whom permission bits do not stop: /sys refuses). */
export function readOnlyDir(): string {
  if (process.getuid?.() === 0) return '/sys/poisonguard-read-only';
  const d = join(mkdtempSync(join(tmpdir(), 'pg-read-only-')), 'read-only');
  mkdirSync(d);
  chmodSync(d, 0o555);
  return d;
}

/** Runs the CLI in this process; its exit code and what it printed (stdout and stderr lines joined). */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  // Imported here so that tests which never run the CLI do not load it.
  const { main } = await import('../src/cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), interactive: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
