/**
 * `zoo status` (the queue's jobs and workers, the coordinator, a zoo folder's progress) and
 * `zoo calibrate` (the logistic calibration fitted on a scanned zoo's ground truth).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataFormatError } from '../errors.js';
import { claimOutputFile } from '../outputs.js';
import { isObject, readJsonFile, writeJsonAtomic } from '../run-files.js';
import { fitCalibration, leaveOneOut, type Calibration, type Features } from './calibration.js';
import { crossEntropy, rocAuc } from './metrics.js';
import type { QueueUrl } from './queue.js';
import { MODELS_DIR, ZOO_JSON, type ZooReport } from './zoo-json.js';

export interface ZooStatus {
  readonly queue?: { readonly name: string; readonly url: string; readonly jobs: Readonly<Record<string, number>>; readonly workers: readonly string[]; readonly coordinator: string | null };
  readonly models?: readonly { readonly name: string; readonly labelsDone: number; readonly finished: boolean }[];
  readonly lines: readonly string[];
}

export async function zooStatus(o: { readonly url?: QueueUrl; readonly name: string; readonly dir?: string }): Promise<ZooStatus> {
  const lines: string[] = [];
  let queue: ZooStatus['queue'];
  if (o.url) {
    const { connectRedis, coordinatorKey, duplicateConnection } = await import('./queue.js');
    const redis = await connectRedis(o.url, 'zoo status');
    const { Queue } = await import('bullmq');
    const queueConnection = duplicateConnection(redis);
    const q = new Queue(o.name, { connection: queueConnection });
    try {
      const jobs = await q.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
      const workers = (await q.getWorkers()).map((w) => `${w.name || w.id} (${w.addr})`);
      const coordinator = await redis.get(coordinatorKey(o.name));
      queue = { name: o.name, url: o.url.url, jobs, workers, coordinator };
      lines.push(`queue '${o.name}' at ${o.url.url}: ${jobs.waiting + jobs.prioritized + jobs.delayed} waiting, ${jobs.active} running, ${jobs.completed} done, ${jobs.failed} failed (label chunks)`);
      lines.push(`workers: ${workers.length}${workers.length ? ` — ${workers.join(', ')}` : ''}`);
      lines.push(`coordinator: ${coordinator ?? 'none'}`);
    } finally {
      await q.close();
      for (const c of [queueConnection, redis]) await c.quit().catch(() => c.disconnect());
    }
  }
  let models: ZooStatus['models'];
  if (o.dir) {
    const dir = resolve(o.dir, MODELS_DIR);
    if (!existsSync(dir)) throw new DataFormatError(resolve(o.dir), `has no ${MODELS_DIR}/ folder: not a zoo scan's out folder.`);
    models = readdirSync(dir)
      .sort()
      .map((name) => {
        const m = join(dir, name);
        const seeds = existsSync(m) ? readdirSync(m).filter((s) => /^seed-\d+$/.test(s)) : [];
        const labelsDone = seeds.reduce((a, s) => a + readdirSync(join(m, s)).filter((f) => /^label-\d+\.json$/.test(f)).length, 0);
        return { name, labelsDone, finished: existsSync(join(m, 'scan.json')) };
      });
    const finished = models.filter((m) => m.finished).length;
    lines.push(`${resolve(o.dir)}: ${finished}/${models.length} model(s) finished${existsSync(join(resolve(o.dir), ZOO_JSON)) ? `, ${ZOO_JSON} written` : ''}`);
    for (const m of models) lines.push(`  ${m.name.padEnd(24)} ${m.finished ? 'finished' : 'running '} ${m.labelsDone} label(s) done`);
  }
  return { ...(queue ? { queue } : {}), ...(models ? { models } : {}), lines };
}

/** Reads zoo.json (untrusted: it is checked before use). */
export function readZooReport(dir: string): ZooReport {
  const file = join(resolve(dir), ZOO_JSON);
  const z = readJsonFile(file);
  if (!isObject(z) || z.kind !== 'poisonguard-zoo' || !Array.isArray(z.models)) throw new DataFormatError(file, "not a zoo scan's zoo.json.");
  return z as unknown as ZooReport;
}

export interface CalibrationFile extends Calibration {
  readonly leaveOneOut?: { readonly models: readonly { readonly name: string; readonly infected: boolean; readonly p: number }[]; readonly rocAuc: number | null; readonly crossEntropy: number | null };
}

export async function calibrateZoo(dir: string, out: string, o: { readonly force?: boolean; readonly leaveOneOut?: boolean }): Promise<{ calibration: CalibrationFile; lines: string[] }> {
  const z = readZooReport(dir);
  const path = claimOutputFile(out, { option: '--out', force: o.force ?? false });
  const known = z.models.filter((m) => m.status === 'scanned' && m.truth !== null && isObject(m.features));
  const rows = known.map((m) => ({ features: m.features as Features, infected: Boolean(m.truth!.infected) }));
  const cal = fitCalibration(rows, { zoo: z.zoo, recipe: z.scanOptions });
  const lines = [`fitted on ${rows.length} model(s) of ${z.zoo} (${rows.filter((r) => r.infected).length} infected): weights ${cal.features.map((f, j) => `${f} ${cal.weights[j].toFixed(3)}`).join(', ')}, bias ${cal.bias.toFixed(3)}`];
  let file: CalibrationFile = cal;
  if (o.leaveOneOut) {
    const ps = leaveOneOut(rows, z.scanOptions, cal.l2);
    const scored = ps.map((p, i) => ({ p, infected: rows[i].infected }));
    const auc = rocAuc(scored) ?? null;
    const ce = crossEntropy(scored) ?? null;
    file = { ...cal, leaveOneOut: { models: known.map((m, i) => ({ name: m.name, infected: rows[i].infected, p: ps[i] })), rocAuc: auc, crossEntropy: ce } };
    lines.push(`leave-one-out (each model scored by a calibration fitted on the others): ROC-AUC ${auc?.toFixed(3) ?? '–'}, cross-entropy ${ce?.toFixed(3) ?? '–'}`);
    for (const [i, m] of known.entries()) lines.push(`  ${m.name.padEnd(24)} ${rows[i].infected ? 'infected' : 'clean   '} P ${ps[i].toFixed(3)}`);
  }
  writeJsonAtomic(path, file);
  lines.push(`written to ${path}`);
  return { calibration: file, lines };
}
