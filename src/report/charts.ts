/**
 * The report's charts as Vega-Lite specs, rendered headlessly to SVG (vega's renderer 'none', no
 * canvas, no browser) and to PNG through @resvg/resvg-js. The spec builders are pure functions of
 * their data; vega, vega-lite and resvg load only when something is rendered. The certified half's
 * own figures are built on these in certify-plots.ts.
 *
 * - {@link barChartSpec}: bars with horizontal reference lines (Neural Cleanse mask norms with the
 *   median and the flagging threshold).
 * - {@link lineChartSpec}: several series against one x (mitigation: accuracy and ASR vs share pruned).
 */

/** A Vega-Lite specification as plain JSON. */
export type VegaLiteSpec = Record<string, unknown>;

/** A rendered plot. */
export interface Figure {
  readonly svg: string;
  /** Present when a PNG was asked for. */
  readonly png?: Uint8Array;
  /** Size of the SVG in CSS pixels. */
  readonly width: number;
  readonly height: number;
}

/** The font in every plot: DejaVu Sans is what Debian's fonts-dejavu-core installs for resvg. */
export const PLOT_FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';
/** PNG pixels per SVG pixel: 2 gives sharp images on high-density screens. */
export const DEFAULT_PNG_SCALE = 2;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CONFIG = {
  // No per-mark aria labels: they triple the size of scatter plots; the page describes each figure in words.
  aria: false,
  font: PLOT_FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 360, titleLimit: 360 },
  title: { fontSize: 14, anchor: 'start' },
};

/** A spec with the project's schema and look (font, sizes, background). */
export function withConfig(spec: VegaLiteSpec): VegaLiteSpec {
  return { $schema: SCHEMA, ...spec, config: CONFIG };
}

// ---------------------------------------------------------------- generic helpers

/** A horizontal reference line of a bar chart. */
export interface ReferenceLine {
  readonly value: number;
  /** Shown at the line's right end and in the tooltip. */
  readonly label: string;
  readonly color?: string;
  readonly dashed?: boolean;
}

/** Options of {@link barChartSpec}. */
export interface BarChartOptions {
  readonly title?: string;
  readonly subtitle?: string;
  /** One bar per entry, in this order. `highlight` marks e.g. a flagged label. */
  readonly bars: readonly { readonly label: string; readonly value: number; readonly highlight?: boolean }[];
  readonly xTitle: string;
  readonly yTitle: string;
  /** Horizontal lines, e.g. the median and the flagging threshold. */
  readonly lines?: readonly ReferenceLine[];
  /** Legend names of highlighted and other bars. */
  readonly highlightName?: string;
  readonly otherName?: string;
  /** Plot width in pixels. Default: 22 px per bar, at least 360. */
  readonly width?: number;
  readonly height?: number;
}

/** Bars with horizontal reference lines (for Neural Cleanse: mask norm per label, median, threshold). */
export function barChartSpec(o: BarChartOptions): VegaLiteSpec {
  const highlightName = o.highlightName ?? 'highlighted';
  const otherName = o.otherName ?? 'other';
  const bars = o.bars.map((b, k) => ({ label: b.label, value: b.value, kind: b.highlight ? highlightName : otherName, order: k }));
  const lines = (o.lines ?? []).map((l) => ({ value: l.value, label: l.label, color: l.color ?? '#444', dash: l.dashed === false ? 'solid' : 'dashed' }));
  const width = o.width ?? Math.max(360, 22 * bars.length);
  const layers: VegaLiteSpec[] = [
    {
      data: { values: bars },
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'label', type: 'ordinal', title: o.xTitle, sort: { field: 'order' }, axis: { labelAngle: bars.length > 12 ? -90 : 0 } },
        y: { field: 'value', type: 'quantitative', title: o.yTitle },
        color: { field: 'kind', type: 'nominal', title: null, scale: { domain: [highlightName, otherName], range: ['#c0392b', '#8fa9c8'] }, legend: { orient: 'bottom' } },
        tooltip: [
          { field: 'label', type: 'nominal' },
          { field: 'value', type: 'quantitative', format: '.4g' },
        ],
      },
    },
  ];
  if (lines.length > 0) {
    layers.push(
      {
        data: { values: lines },
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: {
          y: { field: 'value', type: 'quantitative' },
          color: { field: 'color', type: 'nominal', scale: null, legend: null },
          strokeDash: { field: 'dash', type: 'nominal', scale: { domain: ['solid', 'dashed'], range: [[1, 0], [6, 4]] }, legend: null },
          tooltip: [
            { field: 'label', type: 'nominal' },
            { field: 'value', type: 'quantitative', format: '.4g' },
          ],
        },
      },
      {
        data: { values: lines },
        mark: { type: 'text', align: 'left', baseline: 'middle', x: width + 4, fontSize: 11 },
        encoding: { y: { field: 'value', type: 'quantitative' }, text: { field: 'label' }, color: { field: 'color', type: 'nominal', scale: null, legend: null } },
      },
    );
  }
  return withConfig({
    ...(o.title ? { title: { text: o.title, ...(o.subtitle ? { subtitle: o.subtitle } : {}) } } : {}),
    width,
    height: o.height ?? 260,
    layer: layers,
    resolve: { scale: { color: 'independent' } },
  });
}

/** One series of a line chart. */
export interface LineSeries {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
  readonly color?: string;
  readonly dashed?: boolean;
}

/** Options of {@link lineChartSpec}. */
export interface LineChartOptions {
  readonly title?: string;
  readonly subtitle?: string;
  readonly series: readonly LineSeries[];
  readonly xTitle: string;
  readonly yTitle: string;
  /** d3 formats of the axis labels, e.g. '.0%'. */
  readonly xFormat?: string;
  readonly yFormat?: string;
  readonly yDomain?: readonly [number, number];
  /** A vertical marker, e.g. where pruning stopped. */
  readonly marker?: { readonly x: number; readonly label: string };
  readonly width?: number;
  readonly height?: number;
}

const SERIES_COLORS = ['#1f4e9c', '#c0392b', '#27ae60', '#8e44ad', '#e67e22', '#16a085'];

/** Several series against one x (for mitigation: accuracy and ASR against the share pruned). */
export function lineChartSpec(o: LineChartOptions): VegaLiteSpec {
  const names = o.series.map((s) => s.name);
  const values = o.series.flatMap((s) => s.points.map((p) => ({ x: p.x, y: p.y, series: s.name })));
  const colors = o.series.map((s, k) => s.color ?? SERIES_COLORS[k % SERIES_COLORS.length]);
  const dashes = o.series.map((s) => (s.dashed ? [6, 4] : [1, 0]));
  const width = o.width ?? 420;
  const layers: VegaLiteSpec[] = [
    {
      data: { values },
      mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 2 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: o.xTitle, ...(o.xFormat ? { axis: { format: o.xFormat } } : {}) },
        y: {
          field: 'y',
          type: 'quantitative',
          title: o.yTitle,
          ...(o.yFormat ? { axis: { format: o.yFormat } } : {}),
          ...(o.yDomain ? { scale: { domain: [...o.yDomain] } } : {}),
        },
        color: { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: colors }, legend: { orient: 'bottom' } },
        strokeDash: { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: dashes }, legend: { orient: 'bottom' } },
        tooltip: [
          { field: 'series', type: 'nominal' },
          { field: 'x', type: 'quantitative', format: '.3g' },
          { field: 'y', type: 'quantitative', format: '.4g' },
        ],
      },
    },
  ];
  if (o.marker) {
    layers.push(
      { data: { values: [o.marker] }, mark: { type: 'rule', strokeDash: [3, 3], color: '#555' }, encoding: { x: { field: 'x', type: 'quantitative' } } },
      {
        data: { values: [o.marker] },
        // At the bottom of the plot, where accuracy curves (near 100%) do not run.
        mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 4, y: (o.height ?? 280) - 4, fontSize: 11, color: '#555' },
        encoding: { x: { field: 'x', type: 'quantitative' }, text: { field: 'label' } },
      },
    );
  }
  return withConfig({
    ...(o.title ? { title: { text: o.title, ...(o.subtitle ? { subtitle: o.subtitle } : {}) } } : {}),
    width,
    height: o.height ?? 280,
    layer: layers,
  });
}

// ---------------------------------------------------------------- rendering

/** Options of {@link renderPlot}. */
export interface RenderOptions {
  /** Also render a PNG. Default false. */
  readonly png?: boolean;
  /** PNG pixels per SVG pixel. Default 2. */
  readonly pngScale?: number;
}

/** Compiles a Vega-Lite spec and renders it to SVG headlessly (no canvas, no browser). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  // Silent loggers: a library does not write to the terminal (vega-lite would print its warnings).
  const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0], { logger: vega.logger(vega.None) }).spec;
  // A loader that refuses every URL: the specs carry their data inline, and a report must not
  // reach the network.
  const loader = vega.loader();
  loader.load = async (uri: string) => {
    throw new Error(`plots load no external data (asked for ${uri})`);
  };
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader, logLevel: vega.None });
  try {
    return compactSvg(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Rounds the geometry of an SVG to 1/100 px (vega writes 15 digits), which halves the size of
 * scatter plots. Only geometry attributes are touched, never text.
 */
export function compactSvg(svg: string): string {
  return svg.replace(/ (transform|d|x|y|x1|x2|y1|y2)="([^"]*)"/g, (_m, name: string, value: string) => ` ${name}="${value.replace(/(\d+\.\d{2})\d+/g, '$1')}"`);
}

/** Rasterizes an SVG to PNG with resvg, using the machine's fonts (DejaVu Sans on Debian). */
export async function svgToPng(svg: string, scale = DEFAULT_PNG_SCALE): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return new Uint8Array(r.render().asPng());
}

/** Size of an SVG from its width/height attributes (what vega writes). */
export function svgSize(svg: string): { width: number; height: number } {
  const head = svg.slice(0, 400);
  const w = /\bwidth="([\d.]+)"/.exec(head);
  const h = /\bheight="([\d.]+)"/.exec(head);
  return { width: w ? Number(w[1]) : 0, height: h ? Number(h[1]) : 0 };
}

/** Renders a spec to an SVG (and a PNG when asked). */
export async function renderPlot(spec: VegaLiteSpec, options: RenderOptions = {}): Promise<Figure> {
  const svg = await renderSvg(spec);
  const png = options.png ? await svgToPng(svg, options.pngScale ?? DEFAULT_PNG_SCALE) : undefined;
  return { svg, ...(png ? { png } : {}), ...svgSize(svg) };
}
