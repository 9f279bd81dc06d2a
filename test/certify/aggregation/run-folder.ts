/** What the aggregation tests compare between two runs: the certificate's numbers and every saved classifier. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AggregationReport } from '../../../src/certify/aggregation/aggregate.js';
import { PARTITIONS_FOLDER } from '../../../src/certify/aggregation/store.js';

export const numbers = (r: AggregationReport) => ({ points: r.points, certified: r.certifiedAccuracy, median: r.medianRadius });

/** Every file of a run folder's classifiers (records without their timing; weights as bytes). */
export function classifiers(out: string): Map<string, unknown> {
  const m = new Map<string, unknown>();
  const dir = join(out, PARTITIONS_FOLDER);
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.json')) {
      const { trainSeconds: _t, evalSeconds: _e, ...rest } = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
      m.set(f, rest);
    } else m.set(f, readFileSync(join(dir, f)));
  }
  return m;
}
