/**
 * Reads the `scan.json` that `poisonguard scan --out DIR` writes ("kind": "neural-cleanse-scan")
 * into the report's {@link ScanSummary}. The scan's own types live in src/cleanse; this reads the
 * JSON structurally so that the report keeps working while that format grows, and names the
 * missing key when it cannot.
 */
import { DataFormatError } from '../errors.js';
import type { ScanLabel, ScanSummary } from './inputs.js';
import { isObject, type Json } from '../run-files.js';

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);

function field(file: string, obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (!isObject(cur) && !Array.isArray(cur)) throw new DataFormatError(file, `expected "${path}" in the scan report, but it is missing.`);
    cur = (cur as Json)[key];
  }
  if (cur === undefined) throw new DataFormatError(file, `expected "${path}" in the scan report, but it is missing.`);
  return cur;
}

const STATUS_TEXT: Record<string, string> = {
  backdoored: 'Backdoored',
  suspicious: 'Suspicious',
  clean: 'No backdoor found',
};

/** Whether a parsed scan.json is the scan command's own report. */
export function isCleanseScanReport(x: unknown): boolean {
  return isObject(x) && x.kind === 'neural-cleanse-scan';
}

/** The report's view of a Neural Cleanse scan report; the table and gallery show its first scan (seed). */
export function scanSummaryFromCleanse(file: string, x: unknown): ScanSummary {
  const verdict = field(file, x, 'verdict') as Json;
  const runs = field(file, x, 'runs');
  if (!Array.isArray(runs) || runs.length === 0) throw new DataFormatError(file, 'the scan report has no runs.');
  const run = runs[0] as Json;
  const outliers = field(file, run, 'outliers') as Json;
  const rawLabels = field(file, run, 'labels');
  if (!Array.isArray(rawLabels)) throw new DataFormatError(file, 'expected "runs[0].labels" to be an array.');
  const labels: ScanLabel[] = rawLabels.map((l, i) => {
    if (!isObject(l) || num(l.label) === undefined || num(l.norm) === undefined) {
      throw new DataFormatError(file, `runs[0].labels[${i}] needs a numeric "label" and "norm".`);
    }
    const files = isObject(l.files) ? l.files : {};
    const overlap = isObject(l.overlap) ? num(l.overlap.jaccard) : undefined;
    return {
      label: l.label as number,
      maskNorm: l.norm as number,
      ...(num(l.anomalyIndex) !== undefined ? { anomalyIndex: l.anomalyIndex as number } : {}),
      ...(typeof l.flagged === 'boolean' ? { flagged: l.flagged } : {}),
      ...(num(l.accuracy) !== undefined ? { attackSuccess: l.accuracy as number } : {}),
      ...(typeof l.reachedThreshold === 'boolean' ? { reachedThreshold: l.reachedThreshold } : {}),
      ...(num(l.steps) !== undefined ? { steps: l.steps as number } : {}),
      ...(overlap !== undefined ? { triggerOverlap: overlap } : {}),
      ...(str(files.mask) ? { maskImage: files.mask as string } : {}),
      ...(str(files.pattern) ? { patternImage: files.pattern as string } : {}),
      ...(str(files.fusion) ? { triggerImage: files.fusion as string } : {}),
    };
  });
  const status = str(verdict.status) ?? 'unknown';
  const infectedLabels = Array.isArray(verdict.labels) ? (verdict.labels as number[]) : [];
  const headline = `${STATUS_TEXT[status] ?? status}${infectedLabels.length ? `: label ${infectedLabels.join(', ')}` : ''}${
    str(verdict.recommendation) ? ` (recommendation: ${verdict.recommendation})` : ''
  }.`;
  const notes: string[] = [];
  if (str(verdict.reason)) notes.push(verdict.reason as string);
  const spread = isObject(x) && isObject(x.spread) && isObject(x.spread.anomalyIndex) ? (x.spread.anomalyIndex as Json) : undefined;
  if (runs.length > 1 && spread) {
    const f = (v: unknown) => (num(v) ?? NaN).toFixed(2);
    notes.push(
      `${runs.length} scans (seeds ${runs.map((r) => (r as Json).seed).join(', ')}): the model's anomaly index is ${f(spread.mean)} ± ${f(spread.sd)} (${f(spread.min)} – ${f(spread.max)}). The table and the gallery show the first scan (seed ${run.seed}).`,
    );
  }
  const esc = isObject(x) && isObject(x.escalation) ? (x.escalation as Json) : undefined;
  if (esc && isObject(esc.fastVerdict) && Array.isArray(esc.labels)) {
    notes.push(
      `Fast mode escalated: with every label stopped at its step budget the verdict was ${str(esc.fastVerdict.status) ?? '?'}${esc.why === 'near-threshold' ? ' with an anomaly index near the flag threshold' : ''}, so the ${esc.labels.length} budget-stopped label(s) ` +
        `continued with the full recipe to their own early stop before this verdict was taken.`,
    );
  }
  if (str(verdict.rule)) notes.push(`Rule: ${verdict.rule}`);
  const detector = str(outliers.detector);
  if (detector && detector !== 'mad') notes.push(`Outlier test: ${detector} (the centre and spread below are that test's, not the median and MAD).`);
  const x0 = x as Json;
  const model = isObject(x0.model) ? x0.model : {};
  const dataset = isObject(x0.dataset) ? x0.dataset : {};
  const recipe = isObject(x0.recipe) ? x0.recipe : {};
  return {
    kind: 'scan',
    verdict: headline,
    status,
    infected: verdict.backdoored === true,
    labels,
    ...(Array.isArray(outliers.flagged) ? { flagged: outliers.flagged as number[] } : {}),
    ...(num(outliers.centre) !== undefined ? { median: outliers.centre as number } : {}),
    ...(num(outliers.spread) !== undefined ? { mad: outliers.spread as number } : {}),
    ...(num(outliers.anomalyIndex) !== undefined ? { anomalyIndex: outliers.anomalyIndex as number } : {}),
    ...(num(outliers.threshold) !== undefined ? { anomalyThreshold: outliers.threshold as number } : {}),
    ...(str(model.dir) ? { model: `${model.dir}${str(model.arch) ? ` (${model.arch})` : ''}` } : {}),
    ...(str(dataset.name) ? { dataset: dataset.name as string } : {}),
    recipe,
    ...(num(run.seed) !== undefined ? { seed: run.seed as number } : {}),
    ...engineOf(x0),
    ...(num(x0.seconds) !== undefined ? { seconds: x0.seconds as number } : {}),
    ...(str(x0.date) ? { date: x0.date as string } : {}),
    ...(isObject(model.trigger) && Array.isArray(model.inputShape) && model.inputShape.length === 3
      ? {
          realTrigger: {
            description: describeRealTrigger(model.trigger),
            ...(num(model.target) !== undefined ? { target: model.target as number } : {}),
            shape: model.inputShape as [number, number, number],
            spec: model.trigger,
          },
        }
      : {}),
    notes,
  };
}

function describeRealTrigger(t: Json): string {
  if (t.kind === 'square') return `${String(t.size)}x${String(t.size)} square, ${String(t.position ?? 'custom position')}`;
  return String(t.kind ?? 'trigger');
}

/** The engine line of a scan.json (absent in scans from before the ONNX engine: TF.js then). */
function engineOf(x: Json): { engine?: string } {
  const me = isObject(x.modelEngine) ? x.modelEngine : undefined;
  const backend = str(x.backend) ? (x.backend as string) : undefined;
  if (me && me.engine === 'onnx') return { engine: 'onnxruntime (ONNX) for the model; mask, pattern and Adam on plain arrays' };
  if (backend) return { engine: `TensorFlow.js ${backend}${me && str(me.reason) ? ` (${me.reason as string})` : ''}` };
  return {};
}
