import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fitSphereSlabDefense } from '../../src/certify/defense.js';
import type { BinaryDataset } from '../../src/data/binary.js';
import { dense, toCsr } from '../../src/data/matrix.js';
import { PoisonguardError } from '../../src/errors.js';
import { Random } from '../../src/random.js';
import { buildReport, scanStatistics } from '../../src/report/build.js';
import { median } from '../../src/cleanse/outliers.js';
import { certifyHeadline, escapeHtml, renderReportHtml } from '../../src/report/html.js';
import { readRunFolder, writeCertifyRun } from '../../src/report/run-folder.js';
import { runCli, scratchDir } from '../helpers.js';
import { cleanseScanReport, mnist17Report, writeFixtureRun } from './fixtures.js';

/** Anything that would make the browser fetch a resource or run code. */
function externalReferences(html: string): string[] {
  const found: string[] = [];
  for (const re of [/<script\b/gi, /\b(?:src|href|srcset|action)\s*=\s*["']?(?!data:|#)[^"'\s>]+/gi, /url\(\s*["']?(?!data:)[^)]+\)/gi, /@import\b/gi, /<link\b/gi, /<iframe\b/gi]) {
    for (const m of html.match(re) ?? []) found.push(m);
  }
  return found;
}

test('the certify page is self-contained and carries the key numbers', async () => {
  const dir = writeFixtureRun(join(scratchDir('report-html'), 'run'));
  const built = await buildReport(readRunFolder(dir), { generated: '2026-01-01T00:00:00Z' });
  const html = built.html;
  assert.deepEqual(externalReferences(html), []);
  assert.match(html, /<title>poisonguard report: mnist17<\/title>/);
  assert.match(html, /U\* = 0\.0629/);
  assert.match(html, /No attacker adding ε·n points inside the feasible set can push the training hinge loss above U\*/);
  assert.match(html, /13\u202f007/, 'n, with a thin space');
  assert.match(html, /--seed 0 --out RUN_DIR/);
  assert.match(html, /14 of 14<\/strong> lie within ±20%/, 'comparison with the paper');
  assert.equal((html.match(/<img src="data:image\/svg\+xml;base64,/g) ?? []).length, 2, 'ε plot and projection');
  assert.doesNotMatch(html, /undefined|NaN/);
  assert.deepEqual([...built.figures.keys()], ['certify-eps', 'certify-projection']);
  assert.ok(html.length < 1_500_000, `${html.length} bytes`);
});

test('the headline names the largest ε, where U* saturates, and how tight it is', () => {
  const h = certifyHeadline(mnist17Report());
  assert.equal(h.top.eps, 0.3);
  assert.equal(h.saturation, 0.03, 'U*(0.03) = 0.0623 ≥ 0.99 · 0.0629 = 0.06227');
  assert.match(h.sentences.join(' '), /0\.0626 \(99\.5% of U\*\), so the bound is nearly tight/);
  assert.match(h.sentences.join(' '), /0\.97% on clean data, 2\.87% under that attack/);
});

test('scan statistics: median, MAD and flags as Neural Cleanse defines them (hand-computed)', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([2, 8, 10, 12]), 9, 'even count: mean of the middle two');
  // norms 8, 10, 12, 10, 2: median 10; |x − 10| = 2, 0, 2, 0, 8 → median 2; MAD = 1.4826 · 2 = 2.9652.
  // Label 4: |2 − 10| / 2.9652 = 2.698 > 2 and below the median → flagged. Label 2: 0.674, above the median.
  const s = scanStatistics({ verdict: 'x', labels: [8, 10, 12, 10, 2].map((maskNorm, label) => ({ label, maskNorm })) });
  assert.equal(s.median, 10);
  assert.ok(Math.abs(s.mad - 2.9652) < 1e-12);
  assert.ok(Math.abs(s.labels[4].anomalyIndex - 8 / 2.9652) < 1e-12);
  assert.deepEqual(s.flagged, [4]);
  assert.ok(Math.abs(s.anomalyIndex - 2.698) < 1e-3);
  assert.ok(Math.abs(s.normThreshold - (10 - 2 * 2.9652)) < 1e-12);
  // What scan.json says wins over what the report would compute.
  const given = scanStatistics({ verdict: 'x', labels: [{ label: 0, maskNorm: 1, flagged: false }, { label: 1, maskNorm: 5 }], flagged: [], median: 3, mad: 1 });
  assert.deepEqual(given.flagged, []);
  assert.equal(given.labels[0].flagged, false);
});

test('scan and mitigation sections render from their files; text is escaped; a missing image is named', async () => {
  const dir = writeFixtureRun(join(scratchDir('report-html-nc'), 'run'), { scan: true, mitigation: true });
  const scan = JSON.parse(readFileSync(join(dir, 'scan.json'), 'utf8'));
  scan.verdict = 'Infected <script>alert(1)</script>';
  scan.labels[3].maskImage = 'triggers/nope.png';
  scan.labels[4].maskImage = '../../etc/passwd.png';
  writeFileSync(join(dir, 'scan.json'), JSON.stringify(scan));
  const built = await buildReport(readRunFolder(dir));
  const html = built.html;
  assert.deepEqual(externalReferences(html), []);
  assert.match(html, /Infected &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /data-key="flagged">7</);
  assert.match(html, /triggers\/nope\.png: no such file/);
  assert.match(html, /\.\.\/\.\.\/etc\/passwd\.png: outside the run folder/);
  assert.equal((html.match(/<img class="pixel" src="data:image\/png;base64,/g) ?? []).length, 18, '10 labels × 2 images, minus the two bad ones');
  assert.match(html, /id="mitigation"/);
  assert.match(html, /false negative rate <strong data-key="filter-fnr">1\.2%<\/strong>/);
  assert.deepEqual([...built.figures.keys()], ['certify-eps', 'certify-projection', 'scan-norms', 'mitigation-pruning']);
});

test('a page with only a scan says what is not in the run', () => {
  const html = renderReportHtml({ generated: 'now', scan: { summary: { verdict: 'Clean.', labels: [] }, stats: scanStatistics({ verdict: 'Clean.', labels: [] }), figures: {} } });
  assert.match(html, /Not in this run: certify, mitigation\./);
  assert.doesNotMatch(html, /id="certify"/);
  assert.equal(escapeHtml(`a<b>"c"&'d'`), 'a&lt;b&gt;&quot;c&quot;&amp;&#39;d&#39;');
});

test('certify --out writes a run folder that reads back (CSR data, defense refitted and checked)', () => {
  const rng = new Random(4);
  const n = 120;
  const d = 10;
  const data = new Float64Array(n * d);
  const y = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3 ? 1 : -1;
    for (let j = 0; j < d; j++) data[i * d + j] = Math.max(0, rng.normal() + (j < 3 ? y[i] : 0));
  }
  const X = toCsr(dense(n, d, data));
  const ds: BinaryDataset = { name: 'toy', source: 'test', positive: 'a', negative: 'b', features: 'f', train: { X, y }, test: { X, y } };
  const def = fitSphereSlabDefense(X, y);
  const report = {
    ...mnist17Report(),
    dataset: { ...mnist17Report().dataset, name: 'toy', n, d },
    defense: { kind: 'oracle' as const, percentile: 70, positive: { sphereRadius: def.positive.sphereRadius, slabRadius: def.positive.slabRadius }, negative: { sphereRadius: def.negative.sphereRadius, slabRadius: def.negative.slabRadius } },
    attacks: [{ eps: 0.3, X: [def.positive.centroid, def.negative.centroid], y: Int8Array.from([1, -1]) }],
    fittedDefense: def,
  };
  const dir = join(scratchDir('report-out'), 'run');
  const files = writeCertifyRun(dir, ds, report);
  const back = readRunFolder(dir);
  assert.equal(back.certify!.dataset.name, 'toy');
  assert.equal(back.projection!.attacks[0].x.length, 2);
  assert.equal(back.projection!.clean.x.length, n);
  const saved = JSON.parse(readFileSync(files.report, 'utf8'));
  assert.ok(!('attacks' in saved) && !('fittedDefense' in saved), 'attack points and the defense vectors stay out of certify.json');
  // The projection uses the run's own defense (no refit); data of another run, or a report without its defense, is refused.
  assert.equal(back.projection!.classes[0].sphereRadius, def.positive.sphereRadius);
  assert.throws(() => writeCertifyRun(dir, { ...ds, train: { X: toCsr(dense(n - 1, d, data.subarray(0, (n - 1) * d))), y: y.subarray(0, n - 1) } }, report), /the run's training data/);
  assert.throws(() => writeCertifyRun(dir, ds, { ...report, fittedDefense: undefined }), /with its fitted defense/);
});

test('user errors: one clear line, the right exit code', async () => {
  const base = scratchDir('report-errors');
  const empty = join(base, 'empty');
  mkdirSync(empty);
  const bad = join(base, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'certify.json'), '{"kind": "certify", "rows": [');
  const norows = join(base, 'norows');
  mkdirSync(norows);
  writeFileSync(join(norows, 'certify.json'), JSON.stringify({ ...mnist17Report(), rows: [] }));
  const badscan = join(base, 'badscan');
  mkdirSync(badscan);
  writeFileSync(join(badscan, 'scan.json'), JSON.stringify({ verdict: 'x', labels: [{ label: 0 }] }));
  const cases: [string[], number, RegExp][] = [
    [['report'], 2, /Expected RUN_DIR to be a run folder/],
    [['report', bad, bad], 1, /bad\/certify\.json: not valid JSON/],
    [['report', join(base, 'nope')], 1, /No such run folder: .*nope\. Run 'poisonguard certify --out DIR' to make one\./],
    [['report', empty], 1, /nothing to report; expected certify\.json, scan\.json or mitigation\.json/],
    [['report', bad], 1, /bad\/certify\.json: not valid JSON/],
    [['report', norows], 1, /certify\.json: the certify report has no rows/],
    [['report', badscan], 1, /scan\.json: expected "labels\[0\]\.maskNorm" to be a number, but it is missing/],
  ];
  for (const [args, code, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.err.split('\n').length, 1, 'one line');
  }
  assert.throws(() => readRunFolder(empty), (e: unknown) => e instanceof PoisonguardError && e.code === 'not-found');
});

test('report command: writes the page and the figures, and accepts a single certify JSON', async () => {
  const base = scratchDir('report-cli');
  const dir = writeFixtureRun(join(base, 'run'), { projection: false });
  const r = await runCli(['report', dir, '--figures', join(base, 'fig')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*run\/report\.html \(\d+ KB; sections: certify\)/);
  const png = readFileSync(join(base, 'fig', 'certify-eps.png'));
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /No projection of the data in this run folder/);
  const noProjection = await runCli(['report', dir, '--eps', '0.05']);
  assert.equal(noProjection.code, 2);
  assert.match(noProjection.err, /Expected --eps to be used with a run folder that has projection\.json/);
  const single = await runCli(['report', join(dir, 'certify.json'), '--out', join(base, 'single.html')]);
  assert.equal(single.code, 0, single.err);
  assert.match(readFileSync(join(base, 'single.html'), 'utf8'), /U\* = 0\.0629/);
});

test("the scan command's own scan.json is read: verdict, flags, MAD statistics, overlap, image paths", async () => {
  const dir = join(scratchDir('report-cleanse'), 'run');
  mkdirSync(join(dir, 'seed-0'), { recursive: true });
  writeFileSync(join(dir, 'scan.json'), JSON.stringify(cleanseScanReport()));
  const run = readRunFolder(dir);
  const s = run.scan!;
  assert.equal(s.verdict, 'Backdoored: label 1 (recommendation: repair).');
  assert.equal(s.status, 'backdoored');
  assert.deepEqual(s.flagged, [1, 3]);
  assert.equal(s.median, 7.698);
  assert.equal(s.mad, 0.2326);
  assert.equal(s.labels[1].maskImage, 'seed-0/label-01-mask.png');
  assert.equal(s.labels[1].triggerOverlap, 0.8);
  assert.match(s.notes!.join(' '), /2 scans \(seeds 0, 1\): the model's anomaly index is 23\.20 ± 0\.50/);
  // The images were not written: the page says so instead of failing.
  assert.match(JSON.stringify(run.scanImages!.get('seed-0/label-01-mask.png')), /no such file/);
  const html = (await buildReport(run)).html;
  assert.match(html, /class="summary alert"/);
  assert.match(html, /overlap with the real trigger \(Jaccard\)/);
  // The trigger recorded with the model is drawn beside the reversed ones.
  assert.equal(run.scan!.realTrigger?.description, '2x2 square, bottom-right');
  assert.ok('bytes' in run.scanImages!.get('(real trigger)')!);
  assert.deepEqual(externalReferences(html), []);
  assert.doesNotMatch(html, /Fast mode escalated/);
  // A fast scan that escalated says so, with the fast phase's verdict.
  const escalation = { fastVerdict: { status: 'suspicious', reason: 'r' }, fastRuns: [], labels: [{ seed: 0, label: 2 }, { seed: 0, label: 4 }], missing: [] };
  writeFileSync(join(dir, 'scan.json'), JSON.stringify({ ...cleanseScanReport(), escalation }));
  const escalated = readRunFolder(dir).scan!;
  assert.match(escalated.notes!.join(' '), /Fast mode escalated: .* the verdict was suspicious, so the 2 budget-stopped label\(s\) continued with the full recipe/);
  assert.match((await buildReport(readRunFolder(dir))).html, /Fast mode escalated/);
  // … and when a clean answer near the flag threshold asked for it, says that too.
  writeFileSync(join(dir, 'scan.json'), JSON.stringify({ ...cleanseScanReport(), escalation: { ...escalation, fastVerdict: { status: 'clean', reason: 'r' }, why: 'near-threshold' } }));
  assert.match(readRunFolder(dir).scan!.notes!.join(' '), /the verdict was clean with an anomaly index near the flag threshold, so/);
  // The engine that ran the model: ONNX, TF.js with the reason, or TF.js for scans that predate the field.
  const engineOf = (extra: object): string | undefined => {
    writeFileSync(join(dir, 'scan.json'), JSON.stringify({ ...cleanseScanReport(), backend: 'wasm', ...extra }));
    return readRunFolder(dir).scan!.engine;
  };
  assert.match(engineOf({ modelEngine: { engine: 'onnx', reason: 'x' } })!, /^onnxruntime \(ONNX\) for the model/);
  assert.equal(engineOf({ modelEngine: { engine: 'tfjs', reason: 'asked for' } }), 'TensorFlow.js wasm (asked for)');
  assert.equal(engineOf({}), 'TensorFlow.js wasm');
  assert.match((await buildReport(readRunFolder(dir))).html, /<td>engine<\/td>|engine<\/t[hd]>/);
  // A scan report without runs is named as such.
  writeFileSync(join(dir, 'scan.json'), JSON.stringify({ ...cleanseScanReport(), runs: [] }));
  assert.throws(() => readRunFolder(dir), /scan\.json: the scan report has no runs/);
});

test('end to end on MNIST-1-7: certify --out, then report', { timeout: 120_000 }, async () => {
  const base = scratchDir('report-e2e');
  const dir = join(base, 'run');
  // The smallest run that still has an attack: one ε, 400 iterations, no label-flip baseline.
  const c = await runCli(['certify', '--eps', '0.03', '--iters', '400', '--attack', 'candidate', '--workers', '0', '--out', dir]);
  assert.equal(c.code, 0, c.err);
  assert.match(c.err, /make the page with: poisonguard report /);
  const projection = JSON.parse(readFileSync(join(dir, 'projection.json'), 'utf8'));
  assert.equal(projection.clean.x.length, 1000);
  assert.equal(projection.attacks[0].total, 390, 'round(0.03 · 13007)');
  assert.ok(readFileSync(join(dir, 'projection.json')).length < 100_000);
  const r = await runCli(['report', dir]);
  assert.equal(r.code, 0, r.err);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /<title>poisonguard report: mnist17<\/title>/);
  assert.match(html, /The diamonds are the candidate attack at ε = 0\.03/);
  assert.match(html, /data-key="top-bound">U\* = 0\.0\d{3}</);
  assert.deepEqual(externalReferences(html), []);
});

test('several run folders make one page; the same section twice is refused', async () => {
  const base = scratchDir('report-multi');
  const certifyDir = writeFixtureRun(join(base, 'certify'));
  const ncDir = join(base, 'nc');
  writeFixtureRun(ncDir, { scan: true, mitigation: true });
  const scanDir = join(base, 'scan');
  mkdirSync(scanDir);
  writeFileSync(join(scanDir, 'scan.json'), readFileSync(join(ncDir, 'scan.json')));
  const mitDir = join(base, 'mit');
  mkdirSync(mitDir);
  writeFileSync(join(mitDir, 'mitigation.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(ncDir, 'mitigation.json'), 'utf8')), method: 'prune', labelReason: 'label 7 (flagged by the scan)', asrShown: 'real' }));
  const r = await runCli(['report', certifyDir, scanDir, mitDir, '--out', join(base, 'all.html')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /sections: certify, scan, mitigation/);
  const html = readFileSync(join(base, 'all.html'), 'utf8');
  assert.match(html, /Method: <strong>prune<\/strong>\. Mitigating label 7 \(flagged by the scan\)\./);
  assert.match(html, /measured with the real trigger/);
  const dup = await runCli(['report', certifyDir, ncDir]);
  assert.equal(dup.code, 2);
  assert.match(dup.err, /both hold a certify result; give one of them\./);
  // A mitigation folder alone: the page shows the scan recorded in its mitigation.json (alone, and beside a certify run).
  const followed = join(base, 'mit-follows');
  mkdirSync(followed);
  writeFileSync(join(followed, 'mitigation.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(mitDir, 'mitigation.json'), 'utf8')), scan: scanDir }));
  for (const args of [[followed], [certifyDir, followed]]) {
    const f = await runCli(['report', ...args, '--out', join(base, 'followed.html'), '--force']);
    assert.equal(f.code, 0, f.err);
    assert.match(f.out, /sections: .*scan, mitigation/, args.join(' '));
  }
});

test('report --eps picks the attack shown in the projection, and rejects an ε the run does not have', async () => {
  const base = scratchDir('report-eps');
  const dir = writeFixtureRun(join(base, 'run'));
  const ok = await runCli(['report', dir, '--eps', '0.05', '--out', join(base, 'a.html')]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(readFileSync(join(base, 'a.html'), 'utf8'), /The diamonds are the candidate attack at ε = 0\.05/);
  const bad = await runCli(['report', dir, '--eps', '0.07']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /Expected --eps to be one of the run's ε values \(0, 0\.05, 0\.3\), but got '0\.07'\./);
});
