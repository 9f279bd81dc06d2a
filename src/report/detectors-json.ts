/** Reading detectors.json (`scan --detectors … --out DIR`) for the report: the fields its section shows are checked. */
import { DataFormatError } from '../errors.js';
import type { DetectorsReport } from '../cleanse/detectors/run.js';
import { isObject } from '../run-files.js';

/** Checks the fields the section reads; the rest of the file is kept as it is. */
export function checkDetectorsJson(file: string, x: unknown): DetectorsReport {
  const ok =
    isObject(x) &&
    x.kind === 'detectors-scan' &&
    Array.isArray(x.results) &&
    x.results.every((r) => isObject(r) && typeof r.detector === 'string' && typeof r.score === 'number' && typeof r.threshold === 'number' && typeof r.backdoored === 'boolean' && Array.isArray(r.flagged)) &&
    isObject(x.combined) &&
    typeof x.combined.status === 'string' &&
    typeof x.combined.rule === 'string' &&
    Array.isArray(x.misses) &&
    Array.isArray(x.missedByAll) &&
    Array.isArray(x.detectors);
  if (!ok) throw new DataFormatError(file, 'not a detectors report (kind "detectors-scan" with results, combined, misses, missedByAll and detectors).');
  return x as unknown as DetectorsReport;
}

