/** Shared by the benchmarks: machine description and replacing one section of docs/BENCHMARKS.md. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { packageRoot } from '../src/data/paths.js';
import { replaceMarkdownSection } from '../src/report/markdown-section.js';

export function machineInfo(): { nproc: number; cpu: string; node: string; date: string; load: number[] } {
  return { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString(), load: loadavg().map((x) => Number(x.toFixed(2))) };
}

/** Replaces the body of the `## heading` section of a markdown file (up to the next `## `). */
export const replaceSection = replaceMarkdownSection;

export function writeBenchJson(name: string, data: unknown): string {
  const dir = join(packageRoot(), 'bench', 'out');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/**
 * A path as the docs show it: relative to this checkout when it is a neighbour (../models/…), as
 * given otherwise (/tmp/…): the documents name no developer machine's absolute paths.
 */
export function docPath(p: string): string {
  const r = relative(process.cwd(), resolve(p));
  return r.startsWith(`..${sep}..`) || isAbsolute(r) ? p : r;
}

/**
 * The PyTorch peer's environment: Debian's python3-torch calls the BLAS libblas.so.3 resolves to;
 * `blasDir` (e.g. OpenBLAS's folder) gives it another without changing the machine's default, on one
 * thread so that the threads a measurement adds are torch's own (set_num_threads).
 */
export function peerEnv(blasDir: string | undefined): NodeJS.ProcessEnv {
  return blasDir ? { ...process.env, LD_LIBRARY_PATH: blasDir, OPENBLAS_NUM_THREADS: '1' } : process.env;
}

/** Node arguments that run the CLI from this checkout's source (bin/ runs dist/, which may be older); append the CLI's own arguments. */
export function cliFromSource(): string[] {
  const entry = `import { main } from ${JSON.stringify(join(packageRoot(), 'src/cli/main.ts'))}; process.exitCode = await main(process.argv.slice(1));`;
  return ['--import', 'tsx', '--input-type=module', '-e', entry];
}
