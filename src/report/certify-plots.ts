/**
 * The certified half's figures, on the chart helpers of charts.ts:
 *
 * - {@link certifyEpsSpec}: U*, its envelope and the attacks against ε (the paper's Figures 2–3).
 * - {@link projectionSpec}: clean data, sphere, slab and attack points in 2-D (the paper's Figure 1).
 * - {@link aggregationSpec}: an aggregation certificate's certified accuracy against poison points, with 1 − U*.
 */
import type { AggregationReport } from '../certify/aggregation/aggregate.js';
import { boundAsAccuracy } from '../certify/aggregation/bound-view.js';
import { certifiedAccuracy } from '../certify/aggregation/vote.js';
import { compareToReference } from '../certify/reference.js';
import { lineChartSpec, withConfig, type LineSeries, type VegaLiteSpec } from './charts.js';
import type { CertifyRunReport } from './inputs.js';
import type { CertifyProjection } from './projection.js';

// ---------------------------------------------------------------- certify: bound and attacks vs ε

/** Series names of the ε plot, in legend order. */
export const EPS_SERIES = {
  bound: 'U* (certified upper bound)',
  envelope: 'U* envelope (best θ of all runs)',
  attackTrain: 'candidate attack: total train loss / n',
  attackTest: 'candidate attack: test hinge',
  flipTest: 'label flip: test hinge',
  gradTest: 'gradient attack: test hinge',
  attackError: 'candidate attack: test error',
  flipError: 'label flip: test error',
  gradError: 'gradient attack: test error',
  paper: "paper's figure (reference)",
} as const;

const EPS_COLORS: Record<string, string> = {
  [EPS_SERIES.bound]: '#1f4e9c',
  [EPS_SERIES.envelope]: '#7aa6e0',
  [EPS_SERIES.attackTrain]: '#c0392b',
  [EPS_SERIES.attackTest]: '#e67e22',
  [EPS_SERIES.flipTest]: '#27ae60',
  [EPS_SERIES.attackError]: '#e67e22',
  [EPS_SERIES.flipError]: '#27ae60',
  [EPS_SERIES.gradTest]: '#8e44ad',
  [EPS_SERIES.gradError]: '#8e44ad',
};
/** U* is drawn first and wider, so that it stays visible where an attack's curve lies on top of it. */
const BOUND_WIDTH = 5;
const EPS_DASH: Record<string, number[]> = {
  [EPS_SERIES.bound]: [1, 0],
  [EPS_SERIES.envelope]: [6, 4],
  [EPS_SERIES.attackTrain]: [1, 0],
  [EPS_SERIES.attackTest]: [1, 0],
  [EPS_SERIES.flipTest]: [2, 2],
  [EPS_SERIES.attackError]: [1, 0],
  [EPS_SERIES.flipError]: [2, 2],
  [EPS_SERIES.gradTest]: [8, 3, 2, 3],
  [EPS_SERIES.gradError]: [8, 3, 2, 3],
};

interface EpsDatum {
  readonly eps: number;
  readonly value: number;
  readonly series: string;
}

/** The long-format data behind {@link certifyEpsSpec}: one datum per (ε, series). */
export function certifyEpsData(report: CertifyRunReport): { loss: EpsDatum[]; error: EpsDatum[]; paperLoss: EpsDatum[]; paperError: EpsDatum[] } {
  const rows = [...report.rows].sort((a, b) => a.eps - b.eps);
  const loss: EpsDatum[] = [];
  const error: EpsDatum[] = [];
  const push = (out: EpsDatum[], eps: number, series: string, value: number | undefined): void => {
    if (value !== undefined && Number.isFinite(value)) out.push({ eps, series, value });
  };
  for (const r of rows) {
    push(loss, r.eps, EPS_SERIES.bound, r.upperBound);
    push(loss, r.eps, EPS_SERIES.envelope, r.upperBoundEnvelope);
    push(loss, r.eps, EPS_SERIES.attackTrain, r.candidate?.totalTrainLoss);
    push(loss, r.eps, EPS_SERIES.attackTest, r.candidate?.testHinge);
    push(loss, r.eps, EPS_SERIES.flipTest, r.labelFlip?.testHinge);
    push(error, r.eps, EPS_SERIES.attackError, r.candidate?.testError);
    push(error, r.eps, EPS_SERIES.flipError, r.labelFlip?.testError);
    // The gradient-attack baseline, when the run asked for it (read loosely: older reports lack it).
    const gradient = (r as { readonly gradient?: { readonly testHinge: number; readonly testError: number } }).gradient;
    push(loss, r.eps, EPS_SERIES.gradTest, gradient?.testHinge);
    push(error, r.eps, EPS_SERIES.gradError, gradient?.testError);
  }
  // The paper's numbers that are read at an ε of the run, drawn as crosses over the curves: errors
  // on the right panel, losses on the left.
  const paper = compareToReference(report).map((c) => ({ eps: c.eps, value: c.reference, series: `${EPS_SERIES.paper}: ${c.what}` }));
  const isError = (d: EpsDatum): boolean => / error$/.test(d.series);
  return { loss, error, paperLoss: paper.filter((d) => !isError(d)), paperError: paper.filter(isError) };
}

/**
 * U*, the U* envelope, the candidate attack's total train loss and test hinge and the label-flip
 * test hinge against ε (left), and the two attacks' test error (right): the paper's Figures 2 and 3.
 */
export function certifyEpsSpec(report: CertifyRunReport, options: { readonly width?: number; readonly height?: number } = {}): VegaLiteSpec {
  const width = options.width ?? 420;
  const height = options.height ?? 300;
  const data = certifyEpsData(report);
  const lossSeries = [EPS_SERIES.bound, EPS_SERIES.envelope, EPS_SERIES.attackTrain, EPS_SERIES.attackTest, EPS_SERIES.flipTest, EPS_SERIES.gradTest].filter((s) =>
    data.loss.some((d) => d.series === s),
  );
  const errorSeries = [EPS_SERIES.attackError, EPS_SERIES.flipError, EPS_SERIES.gradError].filter((s) => data.error.some((d) => d.series === s));
  const x = { field: 'eps', type: 'quantitative', title: 'ε (poison points added, as a share of n)', axis: { format: '.2~f' } };
  const lines = (values: EpsDatum[], series: string[], yTitle: string, legendTitle: string, strokeWidth = 2, yFormat?: string): VegaLiteSpec => ({
    data: { values },
    mark: { type: 'line', point: { filled: true, size: 36 }, strokeWidth },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: true }, ...(yFormat ? { axis: { format: yFormat } } : {}) },
      color: { field: 'series', type: 'nominal', title: legendTitle, scale: { domain: series, range: series.map((s) => EPS_COLORS[s]) }, legend: { orient: 'bottom', direction: 'vertical' } },
      strokeDash: { field: 'series', type: 'nominal', title: legendTitle, scale: { domain: series, range: series.map((s) => EPS_DASH[s]) }, legend: { orient: 'bottom', direction: 'vertical' } },
      tooltip: [
        { field: 'series', type: 'nominal' },
        { field: 'eps', type: 'quantitative' },
        { field: 'value', type: 'quantitative', format: '.4f' },
      ],
    },
  });
  // Two layers on the same scales (one legend): U* wide underneath, the other series on top.
  const lossTitle = 'hinge loss (per clean point)';
  const lossLayers: VegaLiteSpec[] = [
    lines(data.loss.filter((d) => d.series === EPS_SERIES.bound), lossSeries, lossTitle, 'hinge loss', BOUND_WIDTH),
    lines(data.loss.filter((d) => d.series !== EPS_SERIES.bound), lossSeries, lossTitle, 'hinge loss'),
  ];
  const crosses = (values: EpsDatum[]): VegaLiteSpec => ({
    data: { values },
    mark: { type: 'point', shape: 'cross', size: 90, filled: true, color: '#222', opacity: 0.8 },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative' },
      shape: { datum: EPS_SERIES.paper, type: 'nominal', title: null, scale: { domain: [EPS_SERIES.paper], range: ['cross'] }, legend: { orient: 'bottom' } },
      tooltip: [
        { field: 'series', type: 'nominal' },
        { field: 'value', type: 'quantitative', format: '.3f' },
      ],
    },
  });
  if (data.paperLoss.length > 0) lossLayers.push(crosses(data.paperLoss));
  const errorLayers: VegaLiteSpec[] = [lines(data.error, errorSeries, 'test error', 'test error', 2, '.1%')];
  if (data.paperError.length > 0) errorLayers.push(crosses(data.paperError));
  return withConfig({
    title: { text: `${report.dataset.name}: certified bound and attacks against ε`, subtitle: `defense ${report.recipe.defense} sphere + slab (${report.recipe.percentile}th percentile), ${report.recipe.mode} recipe, seed ${report.recipe.seed}` },
    hconcat: [
      { width, height, title: 'Training and test hinge loss', layer: lossLayers },
      { width: Math.round(width * 0.7), height, title: 'Test error (0-1)', layer: errorLayers },
    ],
    resolve: { scale: { color: 'independent', strokeDash: 'independent', y: 'independent' }, legend: { color: 'independent', strokeDash: 'independent' } },
  });
}

// ---------------------------------------------------------------- certify: the Figure-1 view

const CLASS_COLORS = ['#3b6fb6', '#e08a1e'] as const;
const ATTACK_COLORS = ['#0b2a5c', '#a3300b'] as const;
const CIRCLE_POINTS = 180;

/** The ε whose attack the projection shows by default: the largest with any attack points. */
export function defaultProjectionEps(p: CertifyProjection): number | undefined {
  const withPoints = p.attacks.filter((a) => a.x.length > 0).map((a) => a.eps);
  return withPoints.length ? Math.max(...withPoints) : undefined;
}

/**
 * Clean points, each class's sphere (dashed circle), slab (dashed vertical lines) and feasible set
 * F_y = sphere ∩ slab (solid outline), and the candidate attack of one ε, in the plane of v and the
 * top principal direction orthogonal to v. Both axes share one scale so that circles stay round.
 */
export function projectionSpec(p: CertifyProjection, options: { readonly eps?: number; readonly size?: number } = {}): VegaLiteSpec {
  const size = options.size ?? 460;
  const eps = options.eps ?? defaultProjectionEps(p);
  const attack = eps === undefined ? undefined : p.attacks.find((a) => Math.abs(a.eps - eps) < 1e-12);
  const [pos, neg] = p.classes;
  const className = (label: number): string => `${label > 0 ? '+1' : '−1'}: ${label > 0 ? pos.name : neg.name}`;
  const fName = (label: number): string => `F for ${className(label)}`;
  const attackName = (label: number): string => `attack point labelled ${label > 0 ? '+1' : '−1'}`;

  const clean = p.clean.x.map((x, k) => ({ x, y: p.clean.y[k], group: className(p.clean.label[k]), inF: p.clean.inF[k] ? 'inside F' : 'outside F' }));
  const attacks = attack ? attack.x.map((x, k) => ({ x, y: attack.y[k], group: attackName(attack.label[k]) })) : [];
  const sphere: { x: number; y: number; group: string; order: number }[] = [];
  const feasible: { x: number; y: number; group: string; order: number }[] = [];
  const slabs: { x: number; group: string }[] = [];
  for (const c of p.classes) {
    const [cx, cy] = c.center;
    for (let k = 0; k <= CIRCLE_POINTS; k++) {
      const t = (2 * Math.PI * k) / CIRCLE_POINTS;
      const px = cx + c.sphereRadius * Math.cos(t);
      const py = cy + c.sphereRadius * Math.sin(t);
      sphere.push({ x: px, y: py, group: className(c.label), order: k });
      // Clamping the circle into the band traces the boundary of disc ∩ band exactly.
      feasible.push({ x: Math.min(Math.max(px, cx - c.slabRadius), cx + c.slabRadius), y: py, group: fName(c.label), order: k });
    }
    slabs.push({ x: cx - c.slabRadius, group: className(c.label) }, { x: cx + c.slabRadius, group: className(c.label) });
  }
  // One square domain for both axes, covering every circle and point.
  const xs = [...sphere.map((s) => s.x), ...clean.map((c) => c.x), ...attacks.map((a) => a.x)];
  const ys = [...sphere.map((s) => s.y), ...clean.map((c) => c.y), ...attacks.map((a) => a.y)];
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0) * 1.06;
  const xd = [(x0 + x1) / 2 - span / 2, (x0 + x1) / 2 + span / 2];
  const yd = [(y0 + y1) / 2 - span / 2, (y0 + y1) / 2 + span / 2];
  const X = { field: 'x', type: 'quantitative', title: 'axis 1: along v (slab direction)', scale: { domain: xd, nice: false, zero: false } };
  const Y = { field: 'y', type: 'quantitative', title: 'axis 2: top principal direction ⊥ v', scale: { domain: yd, nice: false, zero: false } };
  const legendColor = (title: string, labels: string[], colors: readonly string[]) => ({
    field: 'group',
    type: 'nominal',
    title,
    scale: { domain: labels, range: colors },
    legend: { orient: 'bottom', direction: 'vertical' },
  });
  const groupColor = (labels: string[], colors: readonly string[]) => ({ field: 'group', type: 'nominal', scale: { domain: labels, range: colors }, legend: null });
  const shareX = ((100 * p.variance.x) / p.variance.total).toFixed(1);
  const shareY = ((100 * p.variance.y) / p.variance.total).toFixed(1);
  const layers: VegaLiteSpec[] = [
    {
      data: { values: slabs },
      mark: { type: 'rule', strokeDash: [3, 3], strokeWidth: 1, clip: true },
      encoding: { x: { ...X, title: X.title }, color: groupColor([className(1), className(-1)], CLASS_COLORS) },
    },
    {
      data: { values: sphere },
      mark: { type: 'line', strokeDash: [5, 4], strokeWidth: 1.2, clip: true },
      encoding: { x: X, y: Y, order: { field: 'order', type: 'quantitative' }, detail: { field: 'group' }, color: groupColor([className(1), className(-1)], CLASS_COLORS) },
    },
    {
      data: { values: clean },
      mark: { type: 'circle', size: 10, clip: true },
      encoding: {
        x: X,
        y: Y,
        color: legendColor('clean training point', [className(1), className(-1)], CLASS_COLORS),
        opacity: {
          field: 'inF',
          type: 'ordinal',
          sort: ['inside F', 'outside F'],
          title: 'in the full space',
          scale: { domain: ['inside F', 'outside F'], range: [0.55, 0.18] },
          legend: { orient: 'bottom', direction: 'vertical' },
        },
      },
    },
    {
      data: { values: feasible },
      mark: { type: 'line', strokeWidth: 2.2, clip: true },
      encoding: { x: X, y: Y, order: { field: 'order', type: 'quantitative' }, detail: { field: 'group' }, color: groupColor([fName(1), fName(-1)], CLASS_COLORS) },
    },
  ];
  if (attacks.length > 0) {
    layers.push({
      data: { values: attacks },
      mark: { type: 'point', shape: 'diamond', filled: true, size: 60, stroke: 'white', strokeWidth: 0.6, clip: true },
      encoding: {
        x: X,
        y: Y,
        // Only the labels the attack uses (on MNIST-1-7 it often puts every point in one class).
        color: legendColor(
          `candidate attack, ε = ${attack?.eps}`,
          ([1, -1] as const).filter((l) => attack?.label.includes(l)).map(attackName),
          ([1, -1] as const).flatMap((l, k) => (attack?.label.includes(l) ? [ATTACK_COLORS[k]] : [])),
        ),
      },
    });
  }
  const attackText = attack
    ? `candidate attack at ε = ${attack.eps}: ${attack.total} points${attack.x.length < attack.total ? ` (${attack.x.length} shown)` : ''}`
    : 'no attack points';
  return withConfig({
    title: {
      text: `${p.dataset}: clean data, defense and attack in 2-D`,
      subtitle: [`${p.clean.x.length} of ${p.clean.total} clean points; ${attackText}`, `axes hold ${shareX}% and ${shareY}% of the clean variance; solid: F = sphere ∩ slab, dashed: sphere and slab`],
    },
    width: size,
    height: size,
    layer: layers,
    resolve: { scale: { color: 'independent' } },
  });
}

/**
 * Certified accuracy of an aggregation certificate against the number of poison points, with a
 * certify run's U* read as 1 − U* at εn points when one is given (src/certify/aggregation/bound-view.ts).
 */
export function aggregationSpec(r: AggregationReport, bound?: CertifyRunReport): VegaLiteSpec {
  const top = Math.max(1, ...r.points.map((p) => p.radius)) + 1;
  const grid = [...new Set(Array.from({ length: 101 }, (_, i) => Math.round((i * top) / 100)))];
  const acc = certifiedAccuracy(r.points, grid);
  const name = r.recipe.method === 'dpa' ? `DPA, k = ${r.recipe.partitions}` : `FA, k = ${r.recipe.partitions}, d = ${r.recipe.spread}`;
  const series: LineSeries[] = [{ name: `${name} (${r.recipe.learner})`, points: grid.map((x, i) => ({ x, y: acc[i] })) }];
  if (bound) series.push({ name: '1 − U*', dashed: true, color: '#555', points: boundAsAccuracy(bound.rows, bound.dataset.n).filter((p) => p.points <= top).map((p) => ({ x: p.points, y: p.accuracy })) });
  return lineChartSpec({ title: 'Certified accuracy against poison points', series, xTitle: 'poison points (insertions + deletions)', yTitle: 'certified accuracy', yFormat: '.0%', yDomain: [0, 1] });
}
