/**
 * The report's mitigation section: what the filter, pruning or unlearning did to clean accuracy and
 * to the attack's success, in words and one figure (the pruning curve).
 */
import { escapeHtml, figureHtml, pct, table } from './html-parts.js';
import type { AccuracyAsr, MitigationSummary } from './inputs.js';
import type { Figure } from './charts.js';

/** Input of the mitigation section. */
export interface MitigationSectionInput {
  readonly summary: MitigationSummary;
  readonly figures: { readonly pruning?: Figure };
}

/** One attack-success column (or plotted series) of the section: its name and its figure in an {@link AccuracyAsr}. */
export interface AsrColumn {
  readonly name: string;
  readonly value: (x: AccuracyAsr) => number | undefined;
}

/**
 * The attack-success columns of `s`, named from `name`: the one `asr` for a model with one
 * backdoor; one per backdoor when the summary lists them (and the reversed trigger's first when
 * that is what `asr` holds; when it is the real trigger's, it is backdoor 1's column already).
 */
export function asrColumns(s: MitigationSummary, name: string): AsrColumn[] {
  const listed = s.backdoors ?? [];
  if (listed.length === 0) return [{ name, value: (x) => x.asr }];
  return [
    ...(s.asrShown === 'real' ? [] : [{ name: `${name} (reversed trigger)`, value: (x: AccuracyAsr) => x.asr }]),
    ...listed.map((_, i) => ({ name: `${name}, backdoor ${i + 1}`, value: (x: AccuracyAsr) => x.asrByBackdoor?.[i] })),
  ];
}

export function mitigationSection(m: MitigationSectionInput): string {
  const s = m.summary;
  const parts: string[] = [];
  const columns = asrColumns(s, 'attack success');
  const asrCells = (x: AccuracyAsr): string[] => columns.map((c) => pct(c.value(x)));
  const accAsr = (x: AccuracyAsr | undefined): string => (x ? `accuracy ${pct(x.accuracy)}, ${columns.map((c) => `${c.name} ${pct(c.value(x))}`).join(', ')}` : '–');
  parts.push(`<section id="mitigation"><h2>Mitigation</h2>`);
  const intro: string[] = [];
  if (s.method) intro.push(`Method: <strong>${escapeHtml(s.method)}</strong>.`);
  if (s.labelReason) intro.push(`Mitigating ${escapeHtml(s.labelReason)}.`);
  else if (s.targetLabel !== undefined) intro.push(`Against the backdoor of label <strong>${s.targetLabel}</strong>.`);
  if (s.nothingToMitigate) intro.push('<strong>Nothing to mitigate:</strong> the scan flagged no label and none was given.');
  if (s.baseline) intro.push(`Before mitigation: ${accAsr(s.baseline)}.`);
  if (s.model) intro.push(`Model: <code>${escapeHtml(s.model)}</code>.`);
  if (s.asrShown) {
    intro.push(
      s.asrShown === 'real'
        ? 'Attack success rates are measured with the real trigger (recorded in the model’s metadata).'
        : s.backdoors?.length
          ? 'The first recorded backdoor has no single target (all-to-all): the “reversed trigger” figures show whether the model still answers the trigger the scan found.'
          : 'Attack success rates are measured with the reversed trigger (the real one is unknown): they show whether the model still answers the trigger the scan found.',
    );
  }
  if (s.backdoors?.length) intro.push(`The model records ${s.backdoors.length} backdoor(s), each measured with its own trigger (numbered as in the table below).`);
  if (intro.length) parts.push(`<p>${intro.join(' ')}</p>`);
  if (s.backdoors?.length) parts.push(table(['backdoor', 'trigger and label'], s.backdoors.map((b, i) => [String(i + 1), escapeHtml(b.description)])));
  for (const n of s.notes ?? []) parts.push(`<p class="note">${escapeHtml(n)}</p>`);
  if (s.filter) {
    const f = s.filter;
    parts.push(`<h3 id="mitigation-filter">Input filter</h3><p>Inputs whose activation on the neurons that the reversed trigger excites most${
      f.layer ? ` (layer <code>${escapeHtml(f.layer)}</code>${f.neurons !== undefined ? `, ${f.neurons} neurons` : ''})` : ''
    } exceeds a threshold set for a false positive rate of <strong>${pct(f.fpr, 1)}</strong> on clean inputs are rejected. ${
      f.fnrByBackdoor
        ? `Inputs with each backdoor's trigger that pass anyway: false negative rate ${f.fnrByBackdoor.map((x, i) => `<strong data-key="filter-fnr-${i + 1}">${pct(x, 1)}</strong> (backdoor ${i + 1})`).join(', ')}`
        : `Inputs with the real trigger that pass anyway: false negative rate <strong data-key="filter-fnr">${pct(f.fnr, 1)}</strong>`
    }.</p>`);
  }
  if (s.pruning) {
    const pr = s.pruning;
    parts.push(`<h3 id="mitigation-pruning">Neuron pruning</h3><p>Neurons${pr.layer ? ` of layer <code>${escapeHtml(pr.layer)}</code>` : ''} are zeroed in the order of how much more they fire on the reversed trigger than on clean inputs${
      pr.stopShare !== undefined ? `; pruning stopped at ${pct(pr.stopShare, 1)} of them` : ''
    }.</p>`);
    if (m.figures.pruning) parts.push(figureHtml(m.figures.pruning, 'accuracy and attack success rate against the share of neurons pruned', 'Clean accuracy and attack success rate as more neurons are pruned.', 'fig-mitigation-pruning'));
    parts.push(table(['share pruned', 'clean accuracy', ...columns.map((c) => c.name)], pr.points.map((p) => [pct(p.share, 1), pct(p.accuracy), ...asrCells(p)]), 'numbers'));
  }
  if (s.unlearning) {
    const u = s.unlearning;
    parts.push(`<h3 id="mitigation-unlearning">Unlearning</h3><p>Fine-tuning${u.epochs !== undefined ? ` for ${u.epochs} epoch(s)` : ''} on clean data of which ${
      u.stampedShare !== undefined ? pct(u.stampedShare, 0) : 'a share'
    } carries the reversed trigger under its true label.</p>${table(
      ['', 'clean accuracy', ...columns.map((c) => c.name)],
      [
        ['before', pct(u.before.accuracy), ...asrCells(u.before)],
        ['after', pct(u.after.accuracy), ...asrCells(u.after)],
      ],
      'numbers',
    )}`);
  }
  if (!s.filter && !s.pruning && !s.unlearning) parts.push('<p class="note">The mitigation file holds no filter, pruning or unlearning result.</p>');
  parts.push('</section>');
  return parts.join('\n');
}
