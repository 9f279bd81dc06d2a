import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { readMetadata } from '../../src/nn/model-io.js';
import { attacksOf } from '../../src/nn/trigger.js';
import { parseAttackSpec } from '../../src/nn/backdoor-spec.js';
import { runCli, scratchDir } from '../helpers.js';

/** 16x16 colour images in three class folders, each class bright in its own third of the width. */
function folder(): string {
  const root = scratchDir('cli-attacks');
  for (const cls of [0, 1, 2]) {
    mkdirSync(join(root, String(cls)));
    for (let k = 0; k < 20; k++) {
      const png = new PNG({ width: 16, height: 16 });
      for (let p = 0; p < 256; p++) {
        const third = Math.floor(((p % 16) * 3) / 16);
        const v = third === cls ? 170 + ((k * 13 + p) % 70) : (k * 7 + p) % 60;
        png.data.set([v, (v + 20) % 256, v, 255], 4 * p);
      }
      writeFileSync(join(root, String(cls), `${k}.png`), PNG.sync.write(png));
    }
  }
  return root;
}

const common = (data: string) => ['--dataset', data, '--arch', 'mnist', '--epochs', '1', '--backend', 'wasm', '--seed', '2'];

test('two backdoors in one model: both recorded in metadata.json (read back equal), an ASR for each from train and evaluate', async () => {
  const data = folder();
  const out = join(scratchDir('cli-attacks'), 'two');
  const specs = ['square:size=3,target=1,rate=0.2', 'blend:target=2,alpha=0.3,seed=5,rate=0.2'];
  const r = await runCli(['train', ...common(data), '--poisoning', 'fixed', '--backdoor', specs[0], '--backdoor', specs[1], '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /backdoor: 3x3 white square at bottom-right \(margin 1\) -> label 1, rate 0\.2\n/);
  assert.match(r.out, /backdoor: blend of uniform noise \(seed 5\) at alpha 0\.3 -> label 2, rate 0\.2\n {2}\d+ of 48 training images poisoned \(fixed\)/);
  assert.match(r.out, /attack success rate of backdoor 1: [\d.]+% \(\d+ stamped test images of other labels\)/);
  assert.match(r.out, /attack success rate of backdoor 2: /);
  const meta = readMetadata(out);
  assert.deepEqual(attacksOf(meta), specs.map((s) => parseAttackSpec(s)));
  assert.equal(meta.target, 1, "trigger and target are the first backdoor's");
  assert.equal(meta.trigger?.kind, 'square');
  assert.equal(meta.attackSuccessRates?.length, 2);
  assert.equal(meta.attackSuccessRate, meta.attackSuccessRates![0]);
  const e = await runCli(['evaluate', '--model', out, '--backend', 'wasm', '--json']);
  assert.equal(e.code, 0, e.err);
  const json = JSON.parse(e.out);
  assert.deepEqual(json.attacks.map((a: { attackSuccessRate: number }) => a.attackSuccessRate), meta.attackSuccessRates);
  assert.deepEqual(json.attacks.map((a: { target: number }) => a.target), [1, 2]);
});

test('all-to-all, sig and wanet train on colour images; all-to-all stamps every test image and records no single target', async () => {
  const data = folder();
  const a2a = join(scratchDir('cli-attacks'), 'a2a');
  const r = await runCli(['train', ...common(data), '--backdoor', 'all-to-all:size=3,rate=0.2', '--out', a2a]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /backdoor: 3x3 white square at bottom-right \(margin 1\) -> label y\+1 \(all-to-all\), rate 0\.2/);
  const meta = JSON.parse(readFileSync(join(a2a, 'metadata.json'), 'utf8'));
  assert.equal(meta.target, null);
  assert.deepEqual(meta.backdoors, [{ trigger: meta.trigger, mapping: 'all-to-all', rate: 0.2 }]);
  const e = await runCli(['evaluate', '--model', a2a, '--backend', 'wasm']);
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /attack success rate: [\d.]+% \(.* -> label y\+1 \(all-to-all\); 12 stamped test images, each to be sent to its label \+ 1\)/);

  for (const spec of ['sig:target=0', 'wanet:target=2,k=3,s=1,seed=4']) {
    const out = join(scratchDir('cli-attacks'), spec.split(':')[0]);
    const t = await runCli(['train', ...common(data), '--poisoning', 'fixed', '--backdoor', spec, '--out', out]);
    assert.equal(t.code, 0, t.err);
    assert.equal(readMetadata(out).trigger?.kind, spec.split(':')[0]);
    assert.match(t.out, /attack success rate: [\d.]+% \(\d+ stamped test images of other labels\)/);
    if (spec.startsWith('sig')) assert.match(t.out, /sinusoid delta 20, f 6 \(clean-label\) -> label 0, rate 1 of the target class: \d+ of 48/);
    else assert.match(t.out, /WaNet warp k 3, s 1 \(grid seed 4, noise mode x2\) -> label 2, rate 0\.1: \d+ of 48 training images poisoned \(fixed\), \d+ more warped with noise keeping their labels/);
  }
});

test('bad --backdoor specs: one clear line naming the flag, exit 2, nothing trained', async () => {
  const data = folder();
  const cases: [string[], RegExp][] = [
    [['blob:target=1'], /Unknown --backdoor trigger kind 'blob'\. Known --backdoor trigger kinds: square, pattern, blend, sig, wanet, all-to-all\./],
    [['blend:target=1,alpha=0'], /Expected --backdoor alpha to be a number in \(0, 1\], but got '0'/],
    [['blend:target=1,alpha=1.5'], /Expected --backdoor alpha to be a number in \(0, 1\], but got '1\.5'/],
    [['wanet:target=1,k=1'], /Expected --backdoor k to be an integer ≥ 2 \(the control grid size\), but got '1'/],
    [['wanet:target=1,s=0'], /Expected --backdoor s to be a positive number \(the warping strength\), but got '0'/],
    [['wanet:target=1,rate=0.5'], /Expected --backdoor rate to be at most 1\/\(1 \+ cross\) = 0\.333/],
    [['sig:target=1,delta=-3'], /Expected --backdoor delta to be a number in \(0, 255\]/],
    [['sig:target=1,f=0'], /Expected --backdoor f to be a positive number/],
    [['sig:target=1,test-delta=300'], /Expected --backdoor test-delta to be a number in \(0, 255\]/],
    [['all-to-all:target=1'], /Expected --backdoor key to be one of size, pos, margin, x, y, colour, rate for a all-to-all trigger, but got 'target'/],
    [['blend:alpha=0.1'], /Missing --backdoor target/],
    [['square:target=3'], /Expected backdoor target to be a class index in 0\.\.2, but got 3/],
    [['square:target=1,rate=0.7', 'blend:target=2,rate=0.5'], /Expected backdoor rates to be at most 1 in all/],
  ];
  for (const [specs, re] of cases) {
    const out = join(scratchDir('cli-attacks'), 'bad');
    const r = await runCli(['train', ...common(data), ...specs.flatMap((s) => ['--backdoor', s]), '--out', out]);
    assert.equal(r.code, 2, `${specs.join(' ')}: ${r.err}`);
    assert.match(r.err, re, specs.join(' '));
    assert.equal(r.err.split('\n').length, 1, `one line: ${r.err}`);
    assert.ok(!existsSync(join(out, 'metadata.json')));
  }
});
