/**
 * From what a run folder holds to the finished page: derives the scan statistics when scan.json
 * leaves them out, renders every figure (SVG, and PNG on request) and assembles the HTML.
 */
import { renderReportHtml, type ReportPage, type ScanStatistics } from './html.js';
import type { RunContents, ScanSummary } from './inputs.js';
import { detectorsSectionHtml } from './detectors-section.js';
import { asrColumns } from './mitigation-section.js';
import { barChartSpec, lineChartSpec, renderPlot, type Figure } from './charts.js';
import { aggregationSpec, certifyEpsSpec, defaultProjectionEps, projectionSpec } from './certify-plots.js';
// The scan's own definitions: one median (mean of the two middle values), one MAD, one index, one threshold.
import { anomalyIndex as indexOf, DEFAULT_FLAG_THRESHOLD, madSpread, median } from '../cleanse/outliers.js';

/**
 * The outlier test of Neural Cleanse on the mask norms; numbers present in scan.json win over the
 * computed ones, so the page shows what the scan decided.
 */
export function scanStatistics(scan: ScanSummary): ScanStatistics {
  const norms = scan.labels.map((l) => l.maskNorm);
  const threshold = scan.anomalyThreshold ?? DEFAULT_FLAG_THRESHOLD;
  const med = scan.median ?? (norms.length ? median(norms) : 0);
  const mad = scan.mad ?? (norms.length ? madSpread(norms, med) : 0);
  const labels = scan.labels.map((l) => {
    const anomalyIndex = l.anomalyIndex ?? indexOf(l.maskNorm, med, mad);
    const flagged = l.flagged ?? (scan.flagged ? scan.flagged.includes(l.label) : l.maskNorm <= med && anomalyIndex > threshold);
    return { ...l, anomalyIndex, flagged };
  });
  const flagged = scan.flagged ? [...scan.flagged] : labels.filter((l) => l.flagged).map((l) => l.label);
  const smallest = labels.reduce<(typeof labels)[number] | undefined>((a, l) => (!a || l.maskNorm < a.maskNorm ? l : a), undefined);
  return { median: med, mad, threshold, normThreshold: med - threshold * mad, labels, flagged, anomalyIndex: scan.anomalyIndex ?? smallest?.anomalyIndex ?? 0 };
}

/** Options of {@link buildReport}. */
export interface BuildReportOptions {
  /** Also render PNG versions of the figures (for docs; the page itself uses SVG). Default false. */
  readonly png?: boolean;
  /** ε whose attack the projection shows. Default: the largest with attack points. */
  readonly projectionEps?: number;
  readonly title?: string;
  readonly generator?: string;
  /** Date printed on the page. Default: now. */
  readonly generated?: string;
}

/** The page and its figures, by name (certify-eps, certify-projection, scan-norms, mitigation-pruning). */
export interface BuiltReport {
  readonly html: string;
  readonly figures: ReadonlyMap<string, Figure>;
}

export async function buildReport(run: RunContents, options: BuildReportOptions = {}): Promise<BuiltReport> {
  const render = { png: options.png ?? false };
  const figures = new Map<string, Figure>();
  const page: { -readonly [K in keyof ReportPage]: ReportPage[K] } = {
    generated: options.generated ?? new Date().toISOString(),
    source: run.dir,
    files: run.files,
    ...(options.title ? { title: options.title } : {}),
    ...(options.generator ? { generator: options.generator } : {}),
  };
  if (run.certify) {
    const eps = await renderPlot(certifyEpsSpec(run.certify), render);
    figures.set('certify-eps', eps);
    let projection: Figure | undefined;
    let projectionEps: number | undefined;
    if (run.projection) {
      projectionEps = options.projectionEps ?? defaultProjectionEps(run.projection);
      projection = await renderPlot(projectionSpec(run.projection, { eps: projectionEps }), render);
      figures.set('certify-projection', projection);
    }
    page.certify = {
      report: run.certify,
      ...(run.projection ? { projection: run.projection } : {}),
      ...(projectionEps !== undefined ? { projectionEps } : {}),
      figures: { eps, ...(projection ? { projection } : {}) },
    };
  }
  if (run.scan) {
    const stats = scanStatistics(run.scan);
    let norms: Figure | undefined;
    if (stats.labels.length > 0) {
      norms = await renderPlot(
        barChartSpec({
          title: 'Reversed-trigger mask norm per label',
          bars: [...stats.labels].sort((a, b) => a.label - b.label).map((l) => ({ label: String(l.label), value: l.maskNorm, highlight: l.flagged })),
          xTitle: 'label',
          yTitle: 'mask L1 norm ‖m‖₁',
          highlightName: 'flagged',
          otherName: 'not flagged',
          lines: [
            { value: stats.median, label: `median ${Number(stats.median.toPrecision(3))}`, color: '#333' },
            ...(stats.normThreshold > 0 ? [{ value: stats.normThreshold, label: `flag below ${Number(stats.normThreshold.toPrecision(3))}`, color: '#c0392b' }] : []),
          ],
        }),
        render,
      );
      figures.set('scan-norms', norms);
    }
    page.scan = { summary: run.scan, stats, figures: norms ? { norms } : {}, ...(run.scanImages ? { images: run.scanImages } : {}) };
  }
  if (run.mitigation) {
    let pruning: Figure | undefined;
    const points = run.mitigation.pruning?.points ?? [];
    if (points.length > 0) {
      const sorted = [...points].sort((a, b) => a.share - b.share);
      const stop = run.mitigation.pruning?.stopShare;
      pruning = await renderPlot(
        lineChartSpec({
          title: 'Neuron pruning',
          series: [
            { name: 'clean accuracy', points: sorted.map((p) => ({ x: p.share, y: p.accuracy })) },
            // One ASR line, or one per backdoor the mitigation lists (a point without its figure is left out).
            ...asrColumns(run.mitigation, 'attack success rate').map((c) => ({ name: c.name, points: sorted.flatMap((p) => (c.value(p) === undefined ? [] : [{ x: p.share, y: c.value(p)! }])) })),
          ],
          xTitle: 'share of neurons pruned',
          yTitle: 'rate',
          xFormat: '.0%',
          yFormat: '.0%',
          yDomain: [0, 1],
          ...(stop !== undefined ? { marker: { x: stop, label: 'stopped' } } : {}),
        }),
        render,
      );
      figures.set('mitigation-pruning', pruning);
    }
    page.mitigation = { summary: run.mitigation, figures: pruning ? { pruning } : {} };
  }
  if (run.aggregation) {
    // U* on the same axes when the page also holds a certify run of the same dataset (see bound-view.ts for what the reading assumes).
    const bound = run.certify && run.certify.dataset.name === run.aggregation.dataset.name ? run.certify : undefined;
    const accuracy = await renderPlot(aggregationSpec(run.aggregation, bound), render);
    figures.set('aggregation-accuracy', accuracy);
    page.aggregation = { report: run.aggregation, ...(bound ? { bound } : {}), figures: { accuracy } };
  }
  if (run.detectors) page.detectorsHtml = detectorsSectionHtml(run.detectors);
  return { html: renderReportHtml(page), figures };
}
