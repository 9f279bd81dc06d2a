/**
 * `poisonguard/report`: plots (vega, vega-lite and resvg load only when something is rendered),
 * the HTML page and run folders. Loads no TensorFlow.js.
 */
export * from '../errors.js';
// Reports: plots (vega, vega-lite and resvg load only when something is rendered), the HTML page, run folders.
export { barChartSpec, lineChartSpec, renderPlot, renderSvg, svgToPng } from './charts.js';
export { certifyEpsSpec, projectionSpec, defaultProjectionEps, aggregationSpec } from './certify-plots.js';
export type { VegaLiteSpec, Figure, RenderOptions, BarChartOptions, LineChartOptions, LineSeries, ReferenceLine } from './charts.js';
export { projectionBasis, projectRows, projectPoint, projectCertifyRun } from './projection.js';
export type { ProjectionBasis, CertifyProjection, ProjectCertifyOptions, ProjectedClass, ProjectedPoints } from './projection.js';
export { renderReportHtml } from './html.js';
export type { ReportPage, CertifySectionInput, ScanSectionInput, MitigationSectionInput, ScanStatistics } from './html.js';
export { buildReport, scanStatistics } from './build.js';
export type { BuildReportOptions, BuiltReport } from './build.js';
export { readRunFolder, writeCertifyRun, RUN_FILES } from './run-folder.js';
export type { CertifyRunReport, ScanSummary, ScanLabel, RunContents } from './inputs.js';
