/** Shared by the benchmarks: machine description and replacing one section of docs/BENCHMARKS.md. */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/data/paths.js';

export function machineInfo(): { nproc: number; cpu: string; node: string; date: string; load: number[] } {
  return { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString(), load: loadavg().map((x) => Number(x.toFixed(2))) };
}

/** Replaces the body of the `## heading` section of a markdown file (up to the next `## `). */
export function replaceSection(file: string, heading: string, body: string): void {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start < 0) {
    writeFileSync(file, `${text.trimEnd()}\n\n## ${heading}\n\n${body.trim()}\n`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const out = [...lines.slice(0, start + 1), '', body.trim(), '', ...lines.slice(end)];
  writeFileSync(file, `${out.join('\n').trimEnd()}\n`);
}

export function writeBenchJson(name: string, data: unknown): string {
  const dir = join(packageRoot(), 'bench', 'out');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
