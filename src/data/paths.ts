/** Where the shared datasets live: $POISONGUARD_DATA, else ../shared/data beside the checkout. */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the folder holding package.json), from src/ or dist/. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/**
 * A path as it may be written in the project's documents: under the shared data folder it is
 * `../shared/data/…` (where the README puts it), under the checkout relative to it; no other
 * machine's absolute paths.
 */
export function portablePath(path: string): string {
  if (!isAbsolute(path)) return path; // a description ('embedded …') or a relative path already
  const shared = sharedDataDir();
  const under = (root: string): string | undefined => {
    const r = relative(resolve(root), resolve(path));
    return r !== '' && !r.startsWith('..') && !isAbsolute(r) ? r : undefined;
  };
  const inShared = shared === undefined ? undefined : under(shared);
  if (inShared !== undefined) return `../shared/data/${inShared}`;
  return under(packageRoot()) ?? path;
}

/** The shared data folder, or undefined when it is absent. */
export function sharedDataDir(): string | undefined {
  const candidates = [process.env.POISONGUARD_DATA, join(packageRoot(), '..', 'shared', 'data')];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return undefined;
}
