/**
 * The zoo's page (zoo.html): the scores against the ground truth (ROC curve, ROC-AUC,
 * cross-entropy, the confusion table of the verdicts), then one row per model with its verdict,
 * statistics and P(backdoored), linking to the model's own report. Self-contained like the model
 * report (same style sheet and security policy): it opens offline and loads nothing.
 */
import { CSS } from '../report/html.js';
import { escapeHtml, figureHtml } from '../report/html-parts.js';
import { lineChartSpec, renderPlot } from '../report/charts.js';
import type { ZooReport } from './zoo-json.js';

function num(x: number | null | undefined, d = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
}

export async function zooHtml(z: ZooReport): Promise<string> {
  const sections: string[] = [];
  const scanned = z.models.filter((m) => m.status === 'scanned');
  const m = z.metrics;
  const verdictCount = (v: string): number => scanned.filter((x) => x.verdict === v).length;
  sections.push(
    `<section id="summary"><h2>Summary</h2><div class="summary"><p><strong data-key="models">${z.models.length}</strong> model(s): <strong data-key="scanned">${scanned.length}</strong> scanned, ` +
      `<strong data-key="failed">${z.failed.length}</strong> failed; verdicts: ${verdictCount('backdoored')} backdoored, ${verdictCount('suspicious')} suspicious, ${verdictCount('clean')} clean.</p>` +
      (m
        ? `<p>Against the ground truth of ${m.models} model(s) (${m.infected} infected): ROC-AUC <strong data-key="auc">${num(m.rocAuc)}</strong>, cross-entropy <strong data-key="ce">${num(m.crossEntropy)}</strong> (TrojAI's two scores; the best round 1–4 entries reached AUC 0.89–0.91 and CE 0.30–0.32).</p>`
        : '<p>No ground truth: give a CSV with an <code>infected</code> column, or scan poisonguard-trained models (their metadata says whether a trigger was planted).</p>') +
      `<p>P(backdoored) from the calibration: ${escapeHtml(z.calibration.source)}, fitted on ${escapeHtml(z.calibration.fittedOn.zoo)} (${z.calibration.fittedOn.models} models, ${z.calibration.fittedOn.infected} infected; features ${z.calibration.features.map((f) => escapeHtml(f)).join(', ')}).</p></div></section>`,
  );
  if (m && m.roc.length > 0) {
    const fig = await renderPlot(
      lineChartSpec({
        title: 'ROC curve of P(backdoored)',
        series: [
          { name: 'zoo', points: m.roc.map((p) => ({ x: p.fpr, y: p.tpr })) },
          { name: 'chance', points: [{ x: 0, y: 0 }, { x: 1, y: 1 }], dashed: true, color: '#999999' },
        ],
        xTitle: 'false-positive rate (clean models flagged)',
        yTitle: 'true-positive rate (infected models found)',
        yDomain: [0, 1],
        width: 380,
        height: 300,
      }),
    );
    const c = m.confusion;
    const row = (name: string, r: Record<string, number>): string => `<tr><th>${name}</th><td>${r.backdoored}</td><td>${r.suspicious}</td><td>${r.clean}</td></tr>`;
    sections.push(
      `<section id="scores"><h2>Scores</h2>${figureHtml(fig, 'ROC curve', `ROC-AUC ${num(m.rocAuc)} over ${m.models} models.`, 'roc')}` +
        `<table data-key="confusion"><caption>Verdicts (columns) against the ground truth (rows)</caption><thead><tr><th></th><th>backdoored</th><th>suspicious</th><th>clean</th></tr></thead><tbody>${row('infected', c.infected)}${row('clean', c.clean)}</tbody></table></section>`,
    );
  }
  const rows = z.models.map((x) => {
    const name = x.report ? `<a href="${escapeHtml(x.report)}">${escapeHtml(x.name)}</a>` : escapeHtml(x.name);
    const truth = x.truth ? `${x.truth.infected ? `infected${x.truth.target !== null ? ` → ${x.truth.target}` : ''}` : 'clean'}` : '?';
    if (x.status === 'failed') return `<tr class="failed"><td>${name}</td><td>${escapeHtml(truth)}</td><td colspan="6">failed: ${escapeHtml(x.error)}</td></tr>`;
    const f = x.features!;
    return `<tr data-model="${escapeHtml(x.name)}"><td>${name}</td><td>${escapeHtml(truth)}</td><td>${escapeHtml(x.verdict)}${x.flagged?.length ? ` (${x.flagged.join(', ')})` : ''}</td><td>${num(x.pBackdoored)}</td><td>${num(f.anomalyIndex, 2)}</td><td>${num(f.secondary, 2)}</td><td>${num(f.logNormRatio, 2)}</td><td>${num(x.scanSeconds, 0)}</td></tr>`;
  });
  sections.push(
    `<section id="models"><h2>Models</h2><table data-key="models-table"><thead><tr><th>model</th><th>truth</th><th>verdict (labels)</th><th>P(backdoored)</th><th>anomaly index</th><th>second statistic</th><th>ln(median/min norm)</th><th>seconds</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>poisonguard zoo: ${escapeHtml(z.zoo)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>poisonguard zoo: ${escapeHtml(z.zoo)}</h1>
<p>Generated ${escapeHtml(z.date)} by poisonguard zoo scan${z.queue ? ` through the queue '${escapeHtml(z.queue.name)}' at ${escapeHtml(z.queue.url)}` : ' on this machine'}, in ${num(z.seconds, 0)} s.</p>
</header>
<main>
${sections.join('\n')}
</main>
<footer>Backdoor scan: Wang et al., “Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks”, IEEE S&amp;P 2019. Scores as in the TrojAI rounds (ROC-AUC, cross-entropy). This page is self-contained: it loads nothing from the network.</footer>
</body>
</html>
`;
}
