/** Where the shared datasets live: $POISONGUARD_DATA, else ../shared/data beside the checkout. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the folder holding package.json), from src/ or dist/. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** The shared data folder, or undefined when it is absent. */
export function sharedDataDir(): string | undefined {
  const candidates = [process.env.POISONGUARD_DATA, join(packageRoot(), '..', 'shared', 'data')];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return undefined;
}
