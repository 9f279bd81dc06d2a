/**
 * The report as one self-contained HTML page: inline CSS, figures as data: URIs, no script, no
 * font or file fetched from anywhere. It explains each result in words a reviewer can check
 * against the numbers beside them. One section per kind of run, each rendered only when its input
 * is present: certify (bound and attacks), scan (Neural Cleanse verdict, mask norms, triggers),
 * mitigation (filter, pruning, unlearning; mitigation-section.ts). The small pieces are html-parts.ts.
 *
 * Pure: takes results and already-rendered figures, returns a string (see build.ts for the part
 * that renders figures).
 */
import { compareToReference, REFERENCE_TOLERANCE, type ReferenceComparison } from '../certify/reference.js';
import type { AttackMetrics } from '../certify/evaluate.js';
import type { AggregationReport } from '../certify/aggregation/aggregate.js';
import { learnerName } from '../certify/aggregation/format.js';
import { REAL_TRIGGER_IMAGE } from './run-folder.js';
import type { CertifyRunReport, ReportImage, ScanLabel, ScanSummary } from './inputs.js';
import type { Figure } from './charts.js';
import { escapeHtml, f4, figureHtml, g3, imageHtml, int, keyValues, pct, table, yes } from './html-parts.js';
import { mitigationSection, type MitigationSectionInput } from './mitigation-section.js';
export { escapeHtml, figureHtml } from './html-parts.js';
import type { CertifyProjection } from './projection.js';

/** Input of the certify section. */
export interface CertifySectionInput {
  readonly report: CertifyRunReport;
  readonly projection?: CertifyProjection;
  /** The ε whose attack points the projection shows. */
  readonly projectionEps?: number;
  readonly figures: { readonly eps?: Figure; readonly projection?: Figure };
}

/** Statistics of the scan's outlier test, as given in scan.json or computed from the norms. */
export interface ScanStatistics {
  readonly median: number;
  readonly mad: number;
  readonly threshold: number;
  /** Mask-norm value under which a label is flagged: median − threshold · MAD. */
  readonly normThreshold: number;
  readonly labels: readonly (ScanLabel & { readonly anomalyIndex: number; readonly flagged: boolean })[];
  readonly flagged: readonly number[];
  /** The model's anomaly index: that of the smallest norm. */
  readonly anomalyIndex: number;
}

/** Input of the scan section. */
export interface ScanSectionInput {
  readonly summary: ScanSummary;
  readonly stats: ScanStatistics;
  readonly figures: { readonly norms?: Figure };
  /** Images named in the summary, by their relative path. */
  readonly images?: ReadonlyMap<string, ReportImage>;
}

export type { MitigationSectionInput } from './mitigation-section.js';

/** Input of the aggregation-certificate section (DPA / FA), with a certify run of the same dataset when the page has one. */
export interface AggregationSectionInput {
  readonly report: AggregationReport;
  readonly bound?: CertifyRunReport;
  readonly figures: { readonly accuracy?: Figure };
}

/** Everything on the page. */
export interface ReportPage {
  readonly title?: string;
  /** Where the results came from (the run folder). */
  readonly source?: string;
  /** Files read from it. */
  readonly files?: readonly string[];
  /** ISO date of the page. */
  readonly generated: string;
  /** e.g. "poisonguard 0.1.0". */
  readonly generator?: string;
  readonly certify?: CertifySectionInput;
  readonly scan?: ScanSectionInput;
  readonly mitigation?: MitigationSectionInput;
  readonly aggregation?: AggregationSectionInput;
  /** The detectors section, rendered by detectors-section.ts. */
  readonly detectorsHtml?: string;
}

// ---------------------------------------------------------------- certify

type RowWithGradient = CertifyRunReport['rows'][number] & { readonly gradient?: AttackMetrics };

/** The command that reproduces a certify run. */
export function certifyCommandLine(r: CertifyRunReport): string {
  const parts = ['poisonguard certify', `--dataset ${r.dataset.name}`, `--eps ${[...r.rows].map((x) => x.eps).sort((a, b) => a - b).join(',')}`, `--mode ${r.recipe.mode}`];
  if (r.recipe.mode === 'release') parts.push(`--iters ${r.recipe.iterations}`);
  parts.push(`--percentile ${r.recipe.percentile}`, `--seed ${r.recipe.seed}`, '--out RUN_DIR');
  return parts.join(' ');
}

/** The key sentences of the certify result, also used by tests and the terminal. */
export function certifyHeadline(r: CertifyRunReport): { top: RowWithGradient; saturation?: number; sentences: string[] } {
  const rows = [...r.rows].sort((a, b) => a.eps - b.eps) as RowWithGradient[];
  const top = rows[rows.length - 1];
  const s: string[] = [];
  const ds = r.dataset;
  if (r.boundKind === 'heuristic') {
    s.push(
      `At ε = ${top.eps} (${int(top.poisonCount)} poison points added to n = ${int(ds.n)} clean points), against the data-dependent sphere + slab defense (centroids refitted on clean + poison data), the attack model estimates the worst training hinge loss at <strong class="num" data-key="top-bound">U = ${f4(top.upperBound)}</strong> per clean point. This number is a heuristic estimate (sampled mass splits and a relaxation), not a certificate; the clean model's training hinge loss is ${f4(r.clean.trainHinge)}.`,
    );
  } else {
    s.push(
      `At ε = ${top.eps} (${int(top.poisonCount)} poison points added to n = ${int(ds.n)} clean points), no attacker who places its points inside the ${r.recipe.defense} sphere + slab feasible set can push the training hinge loss above <strong class="num" data-key="top-bound">U* = ${f4(top.upperBound)}</strong> per clean point; the clean model's training hinge loss is ${f4(r.clean.trainHinge)}.`,
    );
  }
  let saturation: number | undefined;
  if (rows.length > 2 && top.eps > 0) {
    const sat = rows.find((x) => x.upperBound >= 0.99 * top.upperBound);
    if (sat && sat.eps < top.eps) {
      saturation = sat.eps;
      s.push(`U* reaches 99% of that value already at ε = ${sat.eps}: beyond it, more poison points inside the defense buy the attacker almost nothing.`);
    }
  }
  if (top.candidate && top.eps > 0) {
    const ratio = top.candidate.totalTrainLoss / top.upperBound;
    s.push(
      `The candidate attack that Algorithm 1 builds at the same time reaches a training loss of ${f4(top.candidate.totalTrainLoss)} (${(100 * ratio).toFixed(1)}% of U*)${
        ratio >= 0.9 ? ', so the bound is nearly tight: the worst case lies between these two numbers' : ', so the worst case lies somewhere between these two numbers'
      }. Test error of the defender's model: ${pct(r.clean.testError)} on clean data, ${pct(top.candidate.testError)} under that attack (test hinge ${f4(r.clean.testHinge)} → ${f4(top.candidate.testHinge)}).`,
    );
  }
  if (top.labelFlip && top.eps > 0) {
    s.push(`The label-flip baseline reaches a test error of ${pct(top.labelFlip.testError)} (test hinge ${f4(top.labelFlip.testHinge)}).`);
  }
  return { top, saturation, sentences: s };
}

function certifyTable(r: CertifyRunReport): string {
  const rows = [...r.rows].sort((a, b) => a.eps - b.eps) as RowWithGradient[];
  const hasFlip = rows.some((x) => x.labelFlip);
  const hasGrad = rows.some((x) => x.gradient);
  const head = ['ε', 'poison points', 'U*', 'U* envelope', 'attack total train loss / n', 'attack test hinge', 'attack test error'];
  if (hasFlip) head.push('label flip test hinge', 'label flip test error');
  if (hasGrad) head.push('gradient attack test hinge', 'gradient attack test error');
  head.push('candidate points in F');
  const body = rows.map((x) => {
    const cells = [String(x.eps), int(x.poisonCount), `<strong>${f4(x.upperBound)}</strong>`, f4(x.upperBoundEnvelope), f4(x.candidate?.totalTrainLoss), f4(x.candidate?.testHinge), pct(x.candidate?.testError)];
    if (hasFlip) cells.push(f4(x.labelFlip?.testHinge), pct(x.labelFlip?.testError));
    if (hasGrad) cells.push(f4(x.gradient?.testHinge), pct(x.gradient?.testError));
    cells.push(`${int(x.candidateInF)} / ${int(x.poisonCount)}`);
    return cells;
  });
  return table(head, body, 'numbers');
}

function referenceSection(r: CertifyRunReport, cmp: readonly ReferenceComparison[]): string {
  if (cmp.length === 0) {
    return `<p>The paper gives no numbers for <code>${escapeHtml(r.dataset.name)}</code> at the ε values of this run, so there is nothing to compare against.</p>`;
  }
  const met = cmp.filter((c) => c.met).length;
  const rows = cmp.map((c) => [
    escapeHtml(c.what),
    String(c.eps),
    String(c.reference),
    f4(c.measured),
    c.relativeDiff === undefined ? '–' : `${c.relativeDiff >= 0 ? '+' : ''}${(100 * c.relativeDiff).toFixed(1)}%`,
    c.met ? '<span class="ok">yes</span>' : '<span class="bad">no</span>',
  ]);
  return `<p>Numbers read off the paper's figure for this dataset (Steinhardt, Koh &amp; Liang, NeurIPS 2017, Figures 2–3; read to about ±0.005 on losses), against this run.
<strong>${met} of ${cmp.length}</strong> lie within ±${Math.round(100 * REFERENCE_TOLERANCE)}% of the paper's value.</p>
${table(['quantity', 'ε', 'paper', 'this run', 'difference', `within ±${Math.round(100 * REFERENCE_TOLERANCE)}%`], rows, 'numbers')}`;
}

function certifyRecipe(r: CertifyRunReport): string {
  const rec = r.recipe;
  const d = r.defense;
  const rows: [string, string][] = [
    ['dataset', `<code>${escapeHtml(r.dataset.name)}</code>: ${escapeHtml(r.dataset.source)}`],
    ['labels', `+1 = ${escapeHtml(r.dataset.positive)}, −1 = ${escapeHtml(r.dataset.negative)}`],
    ['features', `${escapeHtml(r.dataset.features)}; n = ${int(r.dataset.n)} train, ${int(r.dataset.nTest)} test, d = ${int(r.dataset.d)}`],
    ['recipe', `${escapeHtml(rec.name)}, mode <code>${escapeHtml(rec.mode)}</code> (${rec.mode === 'paper' ? 'T = εn, every iterate is a poison point' : `T = ${int(rec.iterations)} iterations, round(εn) of the iterates sampled as poison points`})`],
    ['Algorithm 1', `step size η = ${rec.eta}, parameter ball ‖w‖² + b² ≤ ρ² = ${rec.rho2}`],
    [
      'defense',
      `${escapeHtml(d.kind)} sphere + slab, radii at the ${d.percentile}th percentile of the clean class's distances: +1 sphere ${g3(d.positive.sphereRadius)}, slab ${g3(d.positive.slabRadius)}; −1 sphere ${g3(d.negative.sphereRadius)}, slab ${g3(d.negative.slabRadius)}`,
    ],
    [
      "defender's SVM",
      `hinge loss with intercept, weight decay searched until ‖w‖² + b² lies within ${rec.svm.band} above ρ² (range ${rec.svm.range.join(' – ')}), tolerance ${rec.svm.tol}; on clean data: weight decay ${g3(r.clean.weightDecay)}, train hinge ${f4(r.clean.trainHinge)}, test hinge ${f4(r.clean.testHinge)}, test error ${pct(r.clean.testError)}`,
    ],
    ['seed', `<code>${rec.seed}</code>`],
    ['run', `${r.seconds.toFixed(1)} s on ${r.workers} worker thread(s), ${escapeHtml(r.date)}`],
    ['reproduce', `<code>${escapeHtml(certifyCommandLine(r))}</code>`],
  ];
  return keyValues(rows);
}

function certifyChecks(r: CertifyRunReport): string {
  const rows = r.rows as RowWithGradient[];
  const unconverged = rows.filter((x) => x.candidate && !x.candidate.svmConverged).map((x) => x.eps);
  const items: [string, string, string][] = [
    [yes(r.checks.attackBelowBound), 'attack ≤ U*', "For every ε the candidate attack's total training loss is at most U*. A bound that an actual attack exceeded would be wrong."],
    [yes(r.checks.candidatesInF), 'candidate points in F', 'Every poison point of the candidate attack lies inside the feasible set, so the defense would keep it.'],
    [yes(r.checks.boundMonotone), 'U* non-decreasing in ε', 'More poison can only help the attacker; each ε is a separate run, so this checks the runs against each other.'],
    [
      yes(unconverged.length === 0),
      "defender's SVM converged",
      unconverged.length === 0 ? 'Every retrained SVM met its tolerance.' : `The SVM did not reach its tolerance at ε = ${unconverged.join(', ')}; those attack numbers are less precise.`,
    ],
  ];
  return table(['result', 'check', 'what it means'], items.map(([a, b, c]) => [a, b, c]));
}

function certifySection(c: CertifySectionInput): string {
  const r = c.report;
  const head = certifyHeadline(r);
  const cmp = compareToReference(r);
  const parts: string[] = [];
  parts.push(`<section id="certify"><h2>Certified defense: how much can poisoning hurt a linear SVM?</h2>`);
  parts.push(`<div class="summary">${head.sentences.map((s) => `<p>${s}</p>`).join('')}</div>`);
  parts.push(`<h3 id="certify-meaning">What U* means</h3>
<p>The attacker adds ε·n points of its choice to the n clean training points; the defender first removes every point outside a
<em>feasible set</em> F (per class: a sphere around the class centroid and a slab along the line between the two centroids), then
trains a hinge-loss linear SVM. <strong>No attacker adding ε·n points inside the feasible set can push the training hinge loss above U*</strong>
(measured per clean point). U* comes from Algorithm 1 of Steinhardt, Koh &amp; Liang (NeurIPS 2017): every model θ it visits gives
an upper bound L(θ; clean)/n + ε·max<sub>F</sub> ℓ(θ), and U* is the smallest of them.</p>
<ul>
<li><strong>It bounds loss, not error.</strong> U* bounds the hinge loss; the 0-1 error is bounded only through hinge ≥ 0-1. It carries over to the test loss under the paper's two assumptions: training and test loss are close, and the clean outliers that the defense removes do not matter much.</li>
<li><strong>The defense is an oracle.</strong> Its centroids and radii come from the clean data. A real defender estimates them on poisoned data, which the attacker can move: that setting is weaker than this one.</li>
<li><strong>The attacks are lower bounds.</strong> The candidate attack (the points Algorithm 1 visits) and the label-flip baseline are concrete attacks: the true worst case lies between the strongest attack and U*.</li>
<li><strong>U* envelope</strong> takes the best model of every run of the grid at each ε; it is also a valid bound, never above U*, and concave in ε.</li>
</ul>`);
  parts.push(`<h3 id="certify-table">Results for every ε</h3>${certifyTable(r)}
<p class="note">Losses are hinge losses per clean point; “total train loss / n” counts the poison points' loss too (the quantity U* bounds). Errors are on the ${int(r.dataset.nTest)} test points.</p>`);
  parts.push('<h3 id="certify-plots">Plots</h3>');
  if (c.figures.eps) {
    parts.push(
      figureHtml(
        c.figures.eps,
        `U* and attacks against epsilon for ${r.dataset.name}`,
        `Left: U* (upper bound), its envelope, and the candidate attack's training and test loss and the label-flip baseline's test loss against ε, in the style of the paper's Figures 2 and 3; crosses are the paper's numbers where it gives them. Right: test error of the two attacks.`,
        'fig-certify-eps',
      ),
    );
  }
  if (c.figures.projection && c.projection) {
    const p = c.projection;
    parts.push(
      figureHtml(
        c.figures.projection,
        `clean data, sphere, slab and attack points of ${r.dataset.name} in two dimensions`,
        `The paper's Figure 1 on real data. Horizontal: the direction v between the class centroids (the slab's direction); vertical: the direction of largest spread of the clean data orthogonal to v (${((100 * p.variance.y) / p.variance.total).toFixed(1)}% of the clean variance). Because both axes are orthonormal, each class's sphere shows as a circle of its true radius and its slab as a vertical band of its true width; the solid outline is the feasible set F = sphere ∩ slab. Points shown faint lie outside F in the full ${int(r.dataset.d)}-dimensional space even when they look inside here.${
          c.projectionEps !== undefined ? ` The diamonds are the candidate attack at ε = ${c.projectionEps}: they sit on the edge of F that faces the other class.` : ''
        }`,
        'fig-certify-projection',
      ),
    );
  } else {
    parts.push(`<p class="note">No projection of the data in this run folder (projection.json, written by <code>poisonguard certify --out DIR</code>).</p>`);
  }
  parts.push(`<h3 id="certify-reference">Comparison with the paper</h3>${referenceSection(r, cmp)}`);
  parts.push(`<h3 id="certify-recipe">Recipe and seed</h3>${certifyRecipe(r)}`);
  parts.push(`<h3 id="certify-checks">Checks</h3>${certifyChecks(r)}`);
  parts.push('</section>');
  return parts.join('\n');
}

// ---------------------------------------------------------------- aggregation certificates (DPA, FA)

function aggregationSection(a: AggregationSectionInput): string {
  const r = a.report;
  const rc = r.recipe;
  const name = rc.method === 'dpa' ? 'Deep Partition Aggregation' : 'Finite Aggregation';
  const half = r.budgets.map((b, i) => [b, r.certifiedAccuracy[i]] as const);
  const parts: string[] = [];
  parts.push(`<section id="aggregation"><h2>Per-prediction certificate: ${name}</h2>`);
  parts.push(`<div class="summary"><p>The vote of ${int(rc.classifiers)} ${escapeHtml(learnerName(rc))} classifiers is right on <strong>${pct(r.cleanAccuracy)}</strong> of the ${int(r.dataset.nTest)} test points. Half of the test points are right and stay right against any <strong>${int(Math.max(0, r.medianRadius))}</strong> poison points (the median certified radius).</p></div>`);
  parts.push(`<h3 id="aggregation-meaning">What this certificate means</h3>
<p>The training set was split into ${rc.method === 'dpa' ? `${int(rc.partitions)} disjoint partitions` : `${int(rc.classifiers)} overlapping subsets (k = ${int(rc.partitions)}, each sample in d = ${int(rc.spread)} of them)`} by a hash of each sample's content, one classifier was trained on each, and they vote (the smaller label wins a tie).
An attacker who inserts or deletes one training sample changes ${rc.method === 'dpa' ? 'one partition, hence at most one vote' : `the ${int(rc.spread)} subsets fed by that sample's hash bucket`}.
<strong>A test point certified for r keeps its prediction whatever r training samples are inserted or deleted</strong> — any samples, no sanitizer, no assumption on the data or the learner.
Certified accuracy at r counts the points that are right and certified for r (${rc.method === 'dpa' ? 'Levine &amp; Feizi, ICLR 2021' : 'Wang, Levine &amp; Feizi, ICML 2022'}).</p>
<ul><li><strong>Per point, not on average.</strong> Unlike U*, which bounds the training loss of a linear SVM against inserted points that pass a sanitizer, and speaks of test error only on average and under the paper's train–test assumption.</li>
<li><strong>The price is accuracy.</strong> Each classifier sees about ${int(Math.round(r.dataset.n / rc.partitions))} samples, and no radius exceeds about k/2.</li></ul>`);
  parts.push(`<h3 id="aggregation-table">Certified accuracy</h3>${table(['poison points', 'certified accuracy'], half.map(([b, x]) => [int(b), pct(x)]))}`);
  if (a.figures.accuracy) {
    const boundText = a.bound ? ' The dashed line is 1 − U* of the certify run on the same page at εn inserted points: what U* says about test error only if the clean training loss stands for the test loss, for points that pass the sphere + slab sanitizer, on average over the test set.' : '';
    parts.push(figureHtml(a.figures.accuracy, 'certified accuracy against poison points', `Share of test points right and certified for each number of poison points.${boundText}`, 'fig-aggregation'));
  }
  parts.push(
    `<h3 id="aggregation-recipe">Recipe and seed</h3>${keyValues([
      ['method', escapeHtml(rc.method)],
      ['k, d, classifiers', `${int(rc.partitions)}, ${int(rc.spread)}, ${int(rc.classifiers)}`],
      ['hash', escapeHtml(rc.hash)],
      ['learner', escapeHtml(rc.net?.architecture ? `${learnerName(rc)} (SHA-256 ${String(rc.net.architecture.sha256)}; re-initialised per classifier: ${String(rc.net.architecture.init)})` : rc.learner)],
      ...(rc.net ? ([['training', escapeHtml(netTraining(rc.net))]] as [string, string][]) : []),
      ['engine', escapeHtml(rc.engine)],
      ['seed', `${int(rc.seed)} (classifier j: seed + j)`],
      ['base-classifier accuracy', pct(r.baseAccuracy)],
    ])}`,
  );
  parts.push('</section>');
  return parts.join('\n');
}

/** How the base nets trained, in one line (run folders made before the recipes were named lack some fields). */
function netTraining(net: NonNullable<AggregationReport['recipe']['net']>): string {
  const drops = net.learningRateDrops ? ` ×${net.learningRateDrops.factor} after epochs ${net.learningRateDrops.afterEpochs.join(', ')}` : '';
  const crop = net.crop === undefined ? '' : net.crop > 0 ? `, random crop (padding ${net.crop})` : ', no augmentation';
  return `${net.recipe ? `${net.recipe}: ` : ''}${net.optimizer}, lr ${net.learningRate}${drops}, ${net.epochs} epochs at batch ${net.batchSize}${crop}; preprocessing ${net.preprocessing}`;
}

// ---------------------------------------------------------------- scan (Neural Cleanse)

function scanSection(s: ScanSectionInput): string {
  const sum = s.summary;
  const st = s.stats;
  const infected = sum.infected ?? st.flagged.length > 0;
  const tone = sum.status === 'suspicious' ? 'warn' : sum.status === 'clean' ? 'clear' : sum.status === 'backdoored' || infected ? 'alert' : 'clear';
  const labelName = (l: ScanLabel): string => (l.name ? `${l.label} (${escapeHtml(l.name)})` : String(l.label));
  const parts: string[] = [];
  parts.push(`<section id="scan"><h2>Backdoor scan (Neural Cleanse)</h2>`);
  parts.push(
    `<div class="summary ${tone}"><p class="verdict" data-key="verdict">${escapeHtml(sum.verdict)}</p><p>Flagged label(s): <strong data-key="flagged">${
      st.flagged.length ? st.flagged.map(String).join(', ') : 'none'
    }</strong>; anomaly index of the model ${g3(st.anomalyIndex)} (flagged above ${st.threshold}).${sum.model ? ` Model: <code>${escapeHtml(sum.model)}</code>.` : ''}${
      sum.dataset ? ` Data: <code>${escapeHtml(sum.dataset)}</code>.` : ''
    }</p>${(sum.notes ?? []).map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('')}</div>`,
  );
  parts.push(`<h3 id="scan-meaning">How to read it</h3>
<p>For every label, the scan searches for the smallest trigger (a mask and a pattern stamped onto clean images) that sends almost all
clean images to that label. A label that a backdoor already leads to needs a much smaller mask than the others. The scan measures each mask
by its L1 norm ‖m‖₁ and flags the labels whose norm lies far below the others: anomaly index = |‖m‖₁ − median| / MAD, with
MAD = 1.4826 · median absolute deviation; labels below the median with an index above ${st.threshold} are flagged (Wang et al., IEEE S&amp;P 2019).
A single scan can flag a clean model's label by chance (indices just above 2 happen); a trustworthy verdict needs a large index or repeated scans.</p>`);
  if (s.figures.norms) {
    parts.push(
      figureHtml(
        s.figures.norms,
        'mask norm of every label with the median and the flagging threshold',
        `‖m‖₁ of the reversed trigger of every label. Dashed lines: the median (${g3(st.median)}) and the flagging threshold median − ${st.threshold}·MAD (${g3(st.normThreshold)}); red bars are flagged labels.`,
        'fig-scan-norms',
      ),
    );
  }
  const hasAsr = st.labels.some((l) => l.attackSuccess !== undefined);
  const hasReached = st.labels.some((l) => l.reachedThreshold !== undefined);
  const hasOverlap = st.labels.some((l) => l.triggerOverlap !== undefined);
  const head = ['label', '‖m‖₁', 'anomaly index', 'flagged'];
  if (hasAsr) head.push('reversed trigger success');
  if (hasReached) head.push('reached 99%');
  if (hasOverlap) head.push('overlap with the real trigger (Jaccard)');
  const rows = [...st.labels]
    .sort((a, b) => a.label - b.label)
    .map((l) => {
      const cells = [labelName(l), g3(l.maskNorm), l.anomalyIndex.toFixed(2), l.flagged ? '<span class="bad">flagged</span>' : ''];
      if (hasAsr) cells.push(pct(l.attackSuccess, 1));
      if (hasReached) cells.push(l.reachedThreshold === false ? '<span class="bad">no</span>' : 'yes');
      if (hasOverlap) cells.push(l.triggerOverlap === undefined ? '–' : l.triggerOverlap.toFixed(2));
      return cells;
    });
  parts.push(`<h3 id="scan-table">Every label</h3>${table(head, rows, 'numbers')}`);
  const withImages = st.labels.filter((l) => l.maskImage || l.patternImage || l.triggerImage);
  if (withImages.length > 0) {
    const ordered = [...withImages].sort((a, b) => Number(b.flagged) - Number(a.flagged) || a.maskNorm - b.maskNorm);
    const cards = ordered.map((l) => {
      const imgs = (
        [
          ['mask', l.maskImage],
          ['pattern', l.patternImage],
          ['trigger', l.triggerImage],
        ] as const
      )
        .filter(([, p]) => p)
        .map(([what, p]) => `<div><div class="cap">${what}</div>${imageHtml(s.images?.get(p!), `${what} of label ${l.label}`)}</div>`)
        .join('');
      return `<div class="card${l.flagged ? ' flagged' : ''}"><div class="title">label ${labelName(l)}${l.flagged ? ' — flagged' : ''}</div><div class="imgs">${imgs}</div><div class="cap">‖m‖₁ ${g3(l.maskNorm)}, index ${l.anomalyIndex.toFixed(2)}</div></div>`;
    });
    const real = sum.realTrigger;
    const realImg = real ? s.images?.get(REAL_TRIGGER_IMAGE) : undefined;
    if (real && realImg) {
      cards.unshift(
        `<div class="card real"><div class="title">real trigger${real.target !== undefined ? ` → label ${real.target}` : ''}</div><div class="imgs"><div><div class="cap">${escapeHtml(real.description)}</div>${imageHtml(realImg, 'the real trigger')}</div></div><div class="cap">from the model's metadata</div></div>`,
      );
    }
    parts.push(`<h3 id="scan-gallery">Reversed triggers</h3><p>Flagged labels first, then by mask norm${real && realImg ? ', after the trigger the model was really infected with' : ''}. A real backdoor's mask is small and sits where the trigger was stamped.</p><div class="gallery">${cards.join('')}</div>`);
  }
  const recipe: [string, string][] = Object.entries(sum.recipe ?? {}).map(([k, v]) => [escapeHtml(k), `<code>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</code>`]);
  if (sum.seed !== undefined) recipe.push(['seed', `<code>${sum.seed}</code>`]);
  if (sum.engine !== undefined) recipe.push(['engine', escapeHtml(sum.engine)]);
  if (sum.seconds !== undefined) recipe.push(['run', `${sum.seconds.toFixed(1)} s${sum.date ? `, ${escapeHtml(sum.date)}` : ''}`]);
  recipe.push(['statistics', `median ${g3(st.median)}, MAD ${g3(st.mad)}, threshold ${st.threshold}`]);
  parts.push(`<h3 id="scan-recipe">Recipe and seed</h3>${keyValues(recipe)}`);
  parts.push('</section>');
  return parts.join('\n');
}

// ---------------------------------------------------------------- mitigation


// ---------------------------------------------------------------- page

export const CSS = `
:root { --ink: #1d232b; --muted: #5b6672; --line: #d9dee4; --ok: #1e7b3c; --bad: #b0261b; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 "DejaVu Sans", Verdana, Arial, sans-serif; color: var(--ink); background: white; }
header { padding: 24px 32px 12px; border-bottom: 1px solid var(--line); background: var(--bg); }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 2px 0; color: var(--muted); font-size: 13px; }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 14px; }
nav a { margin-right: 18px; color: #1f4e9c; text-decoration: none; }
main { padding: 8px 32px 48px; max-width: 1280px; }
section { margin-top: 28px; }
h2 { font-size: 21px; border-bottom: 2px solid var(--ink); padding-bottom: 4px; }
h3 { font-size: 17px; margin-top: 26px; }
.summary { background: var(--bg); border-left: 4px solid #1f4e9c; padding: 10px 16px; }
.summary.alert { border-left-color: var(--bad); }
.summary.clear { border-left-color: var(--ok); }
.summary.warn { border-left-color: #d68910; }
.verdict { font-size: 18px; font-weight: bold; }
.note { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--bg); }
table.numbers td { text-align: right; font-variant-numeric: tabular-nums; }
table.numbers td:first-child { text-align: left; }
table.kv th { background: var(--bg); white-space: nowrap; }
.ok { color: var(--ok); font-weight: bold; }
.bad { color: var(--bad); font-weight: bold; }
.missing { color: var(--bad); font-size: 12px; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; background: var(--bg); padding: 0 3px; }
figure { margin: 18px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; max-width: 960px; margin-top: 4px; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid var(--line); padding: 8px; }
.card.flagged { border: 2px solid var(--bad); }
.card .title { font-weight: bold; font-size: 13px; }
.card .imgs { display: flex; gap: 6px; }
.cap { font-size: 11px; color: var(--muted); }
img.pixel { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid var(--line); background: #000; }
footer { padding: 16px 32px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); }
`;

/** The whole page. */
export function renderReportHtml(page: ReportPage): string {
  const sections: string[] = [];
  const nav: string[] = [];
  if (page.certify) {
    sections.push(certifySection(page.certify));
    nav.push('<a href="#certify">Certified defense</a>');
  }
  if (page.aggregation) {
    sections.push(aggregationSection(page.aggregation));
    nav.push('<a href="#aggregation">Per-prediction certificate</a>');
  }
  if (page.scan) {
    sections.push(scanSection(page.scan));
    nav.push('<a href="#scan">Backdoor scan</a>');
  }
  if (page.detectorsHtml) {
    sections.push(page.detectorsHtml);
    nav.push('<a href="#detectors">Detectors</a>');
  }
  if (page.mitigation) {
    sections.push(mitigationSection(page.mitigation));
    nav.push('<a href="#mitigation">Mitigation</a>');
  }
  const dataset = page.certify?.report.dataset.name ?? page.aggregation?.report.dataset.name ?? page.scan?.summary.dataset;
  const title = page.title ?? `poisonguard report${dataset ? `: ${dataset}` : ''}`;
  const absent = [!page.certify && 'certify', !page.scan && 'scan', !page.mitigation && 'mitigation'].filter(Boolean);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
${page.source ? `<p>Run folder: <code>${escapeHtml(page.source)}</code>${page.files?.length ? ` (${page.files.map((f) => escapeHtml(f)).join(', ')})` : ''}</p>` : ''}
<p>Generated ${escapeHtml(page.generated)}${page.generator ? ` by ${escapeHtml(page.generator)}` : ''}.${absent.length ? ` Not in this run: ${absent.join(', ')}.` : ''}</p>
</header>
<nav>${nav.join('')}</nav>
<main>
${sections.join('\n')}
</main>
<footer>Certified defense: Steinhardt, Koh &amp; Liang, “Certified Defenses for Data Poisoning Attacks”, NeurIPS 2017. Per-prediction certificates: Levine &amp; Feizi, “Deep Partition Aggregation”, ICLR 2021; Wang, Levine &amp; Feizi, “Finite Aggregation”, ICML 2022. Backdoor scan: Wang et al., “Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks”, IEEE S&amp;P 2019. This page is self-contained: it loads nothing from the network.</footer>
</body>
</html>
`;
}
