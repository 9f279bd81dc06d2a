/**
 * A model recording several backdoors: mitigate says that its real-trigger ASR is the first
 * backdoor's only (the other backdoor is named), and an all-to-all model has none measured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mitigateModel } from '../../src/cleanse/mitigation/mitigate.js';
import { initEngine } from '../../src/nn/engine.js';
import { squareTrigger } from '../../src/nn/trigger.js';
import { scratchDir } from '../helpers.js';
import { exactReversed, makeTrainedBackdooredDense, TARGET, TRIGGER, writeFakeScan } from './mitigation-fixture.js';

test('mitigate names the backdoors its real-trigger ASR does not cover', async () => {
  await initEngine({ backend: 'wasm' });
  const root = scratchDir('mitigation-backdoors');
  const modelDir = join(root, 'model');
  const made = await makeTrainedBackdooredDense(modelDir);
  const data = { train: made.train, test: made.test };
  const metaPath = join(modelDir, 'metadata.json');
  const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  const second = { trigger: squareTrigger({ size: 2, position: 'top-left', margin: 0 }), target: 3, rate: 0.1 };

  writeFileSync(metaPath, JSON.stringify({ ...meta, backdoors: [{ trigger: TRIGGER, target: TARGET, rate: meta.poisonRate }, second] }));
  const scanDir = join(root, 'scan');
  writeFakeScan(scanDir, modelDir, { flagged: [TARGET], trigger: exactReversed() });
  const two = await mitigateModel({ model: modelDir, scan: scanDir, method: 'filter', data, defenseImages: 200 });
  assert.ok(two.notes.some((n) => /records 2 backdoor\(s\) .*-> label 3\): the real-trigger ASR below is the first's only \(-> 1\)/.test(n)), two.notes.join('\n'));

  writeFileSync(metaPath, JSON.stringify({ ...meta, target: null, backdoors: [{ trigger: TRIGGER, mapping: 'all-to-all', rate: meta.poisonRate }] }));
  const scan2 = join(root, 'scan2');
  writeFakeScan(scan2, modelDir, { flagged: [TARGET], trigger: exactReversed() });
  const a2a = await mitigateModel({ model: modelDir, scan: scan2, method: 'filter', data, defenseImages: 200 });
  assert.ok(a2a.notes.some((n) => /records 1 backdoor\(s\) .*label y\+1 \(all-to-all\)\): the real-trigger ASR below is not measured/.test(n)), a2a.notes.join('\n'));
  assert.equal(a2a.realTrigger, null);
});
