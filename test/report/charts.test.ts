import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChartSpec, compactSvg, lineChartSpec, renderPlot } from '../../src/report/charts.js';
import { certifyEpsData, certifyEpsSpec, projectionSpec } from '../../src/report/certify-plots.js';
import { mnist17Report, syntheticProjection } from './fixtures.js';

/**
 * Items (path, line, rect) in each of vega's groups of one mark type (e.g. 'mark-symbol'), in
 * document order; a line mark split by series gives one group per series.
 */
function markItems(svg: string, markClass: string, layer?: string): number[] {
  const counts: number[] = [];
  const re = new RegExp(`<g class="${markClass} role-mark([^"]*)"[^>]*>`, 'g');
  for (let m = re.exec(svg); m; m = re.exec(svg)) {
    if (layer && !m[1].includes(layer)) continue;
    const end = svg.indexOf('</g>', m.index);
    counts.push((svg.slice(m.index, end).match(/<(path|line|rect) /g) ?? []).length);
  }
  return counts;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const pngSize = (png: Uint8Array) => {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
};

test('the ε plot holds one point per (ε, series) and the paper crosses', async () => {
  const r = mnist17Report();
  const d = certifyEpsData(r);
  // 9 ε × 5 loss series; 9 ε × 2 error series; the paper: clean train and test hinge at ε = 0,
  // 5 U* (ε = 0 too) + 4 attack test hinge + 3 label flip; no error numbers for MNIST-1-7.
  assert.equal(d.loss.length, 45);
  assert.equal(d.error.length, 18);
  assert.equal(d.paperLoss.length, 14);
  assert.equal(d.paperError.length, 0);
  const fig = await renderPlot(certifyEpsSpec(r), { png: true });
  assert.match(fig.svg, /^<svg /);
  assert.match(fig.svg, /certified bound and attacks against ε/);
  // Line marks: one group per series (5 on the left, 2 on the right); the points on the lines;
  // the 14 paper crosses.
  assert.deepEqual(markItems(fig.svg, 'mark-line'), [1, 1, 1, 1, 1, 1, 1]);
  const symbols = markItems(fig.svg, 'mark-symbol');
  // U* is its own (wider) layer: 9 points, then 4 × 9 for the other loss series.
  assert.ok(symbols.includes(9) && symbols.includes(36) && symbols.includes(18) && symbols.includes(14), `symbol groups ${symbols}`);
  assert.doesNotMatch(fig.svg, /NaN/);
  // PNG: the signature, and 2 pixels per SVG pixel.
  assert.deepEqual(Array.from(fig.png!.subarray(0, 8)), PNG_SIGNATURE);
  const size = pngSize(fig.png!);
  assert.equal(size.width, 2 * Math.round(fig.width));
  assert.equal(size.height, 2 * Math.round(fig.height));
  assert.ok(fig.png!.length > 20_000 && fig.png!.length < 600_000, `PNG of ${fig.png!.length} bytes`);
});

test('the projection shows every sampled clean point, both circles, four slab lines and the attack', async () => {
  const p = syntheticProjection();
  const fig = await renderPlot(projectionSpec(p, { eps: 0.05 }));
  assert.deepEqual(markItems(fig.svg, 'mark-rule'), [4]);
  // Circles and F outlines: one line path per class each.
  assert.deepEqual(markItems(fig.svg, 'mark-line'), [1, 1, 1, 1]);
  const symbols = markItems(fig.svg, 'mark-symbol');
  assert.ok(symbols.includes(300), `clean points: ${symbols}`);
  assert.ok(symbols.includes(20), `attack points at ε = 0.05: ${symbols}`);
  assert.match(fig.svg, /candidate attack at ε = 0\.05: 20 points/);
  // Square plot area: both axes share one scale, so circles stay round.
  const spec = projectionSpec(p) as { width: number; height: number };
  assert.equal(spec.width, spec.height);
});

test('bar chart: one bar per label, reference lines with their labels', async () => {
  const fig = await renderPlot(
    barChartSpec({
      bars: [10, 12, 3, 11].map((value, i) => ({ label: String(i), value, highlight: i === 2 })),
      xTitle: 'label',
      yTitle: 'norm',
      lines: [
        { value: 10.5, label: 'median 10.5' },
        { value: 6, label: 'flag below 6', color: '#c0392b' },
      ],
    }),
    { png: true },
  );
  assert.deepEqual(markItems(fig.svg, 'mark-rect'), [4]);
  assert.deepEqual(markItems(fig.svg, 'mark-rule', 'layer_1'), [2]);
  assert.match(fig.svg, />median 10\.5</);
  assert.match(fig.svg, />flag below 6</);
  assert.deepEqual(Array.from(fig.png!.subarray(0, 8)), PNG_SIGNATURE);
});

test('line chart: one line per series and the marker', async () => {
  const fig = await renderPlot(
    lineChartSpec({
      series: [
        { name: 'accuracy', points: [0, 0.1, 0.2].map((x) => ({ x, y: 0.98 - x / 10 })) },
        { name: 'ASR', points: [0, 0.1, 0.2].map((x) => ({ x, y: 1 - 4 * x })) },
      ],
      xTitle: 'share pruned',
      yTitle: 'rate',
      xFormat: '.0%',
      marker: { x: 0.2, label: 'stopped' },
    }),
  );
  assert.deepEqual(markItems(fig.svg, 'mark-line'), [1, 1]);
  assert.deepEqual(markItems(fig.svg, 'mark-rule'), [1]);
  assert.match(fig.svg, />stopped</);
  assert.match(fig.svg, />20%</);
});

test('compactSvg rounds geometry and leaves text alone', () => {
  const s = '<path transform="translate(1.23456,7.891011)" d="M0.123456,1L2.5,3"/><text x="3.14159">0.062876</text>';
  assert.equal(compactSvg(s), '<path transform="translate(1.23,7.89)" d="M0.12,1L2.5,3"/><text x="3.14">0.062876</text>');
});

test('a run with the gradient attack gets its curves too', async () => {
  const r = mnist17Report();
  const rows = r.rows.map((row) => ({ ...row, gradient: { ...row.candidate!, testHinge: 0.05, testError: 0.02, rounds: 3, removed: 0 } }));
  const d = certifyEpsData({ ...r, rows });
  assert.equal(d.loss.length, 54);
  assert.equal(d.error.length, 27);
  const fig = await renderPlot(certifyEpsSpec({ ...r, rows }));
  assert.match(fig.svg, /gradient attack: test hinge/);
  assert.equal(markItems(fig.svg, 'mark-line').length, 9);
});

test("the paper's error numbers go to the error panel (IMDB, Figure 3)", () => {
  const r = mnist17Report();
  const rows = r.rows.filter((x) => x.eps <= 0.05);
  const d = certifyEpsData({ ...r, dataset: { ...r.dataset, name: 'imdb' }, rows });
  // IMDB: clean test error at ε = 0 and the attack's test error at .01 … .05 → 6 on the right;
  // U* at 0 … .05 and attack test hinge at .01 … .05 → 11 on the left.
  assert.equal(d.paperError.length, 6);
  assert.equal(d.paperLoss.length, 11);
  assert.ok(d.paperError.every((p) => p.value < 0.3));
});
