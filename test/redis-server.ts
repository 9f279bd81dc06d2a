/**
 * Test helpers for the job queue: a redis-server of the test's own on a free loopback port (never a
 * system service; no persistence) and `poisonguard worker` processes run from the sources.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../src/data/paths.js';

export const REDIS_SERVER = '/usr/bin/redis-server';
/** The reason to skip a queue test, or false when redis-server is installed. */
export const redisSkip: string | false = existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is absent (install Debian's redis-server: apt-get install redis-server)`;

/** A loopback port nothing listens on (at the time of asking). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts redis-server on a free loopback port, its working folder `dir`; resolves once it accepts connections. */
export async function startRedis(dir: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, proc };
}

/** Starts `poisonguard worker` from the sources with a 2 s job lock (stalls found fast); `log()` is its stderr so far. */
export function startCliWorker(url: string, queueName: string, cacheDir: string): { proc: ChildProcess; log: () => string } {
  const entry = `import { main } from ${JSON.stringify(join(packageRoot(), 'src/cli/main.ts'))}; process.exitCode = await main(process.argv.slice(1));`;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', entry, 'worker', '--queue', url, '--queue-name', queueName, '--lock-seconds', '2', '--cache', cacheDir], {
    cwd: packageRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return { proc, log: () => log };
}
