/**
 * The report's detectors section, from detectors.json (`scan --detectors … --out DIR`): each
 * detector's score and call, the combined verdict with its rule, and what the chosen detectors are
 * known to miss — what a clean verdict does not rule out. Rendered here so that html.ts needs no
 * knowledge of the detectors' types (detectors-json.ts reads and checks the file).
 */
import type { DetectorsReport } from '../cleanse/detectors/run.js';
import { escapeHtml } from './html-parts.js';

const num = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : String(x));

export function detectorsSectionHtml(r: DetectorsReport): string {
  const rows = r.results
    .map(
      (d) =>
        `<tr><td>${escapeHtml(d.detector)}</td><td>${num(d.score)}</td><td>${num(d.threshold)}</td><td>${d.backdoored ? '<strong>backdoored</strong>' : 'clean'}${typeof d.abstains === 'string' ? ` <small>(abstains: ${escapeHtml(d.abstains)})</small>` : ''}</td>` +
        `<td>${escapeHtml(d.flagged.join(', ') || '—')}</td><td>${escapeHtml(d.scoreMeaning)}</td><td>${d.seconds.toFixed(1)} s</td></tr>`,
    )
    .join('');
  const misses = r.detectors
    .map((d) => {
      const m = r.misses.filter((x) => x.detector === d);
      return `<li><strong>${escapeHtml(d)}</strong>: ${m.length ? m.map((x) => `${escapeHtml(x.family)} <small>(${escapeHtml(x.evidence)})</small>`).join('; ') : 'none reported'}</li>`;
    })
    .join('');
  const c = r.combined;
  return `<section id="detectors">
<h2>Detectors and the combined verdict</h2>
<p>Combined verdict: <strong>${escapeHtml(c.status)}</strong>${c.by.length ? ` (by ${escapeHtml(c.by.join(', '))}; labels ${escapeHtml(c.labels.join(', ') || 'none')})` : ''}; combined score ${num(c.score)}.</p>
<p>Rule: ${escapeHtml(c.rule)}</p>
<table><thead><tr><th>detector</th><th>score</th><th>threshold</th><th>call</th><th>flagged labels</th><th>score</th><th>time</th></tr></thead><tbody>${rows}</tbody></table>
<h3>What these detectors are known to miss</h3>
<p>A clean verdict does not rule these out. Missed by every chosen detector: <strong>${escapeHtml(r.missedByAll.join(', ') || 'none')}</strong>.</p>
<ul>${misses}</ul>
</section>`;
}
