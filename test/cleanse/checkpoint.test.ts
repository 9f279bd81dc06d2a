/** A scan folder's own files read back: a damaged one is refused naming it and saying what to do. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_JSON, claimOutFolder, labelResultFile, labelStateFile, readLabelResult, readLabelState, runFolder } from '../../src/cleanse/checkpoint.js';
import { DataFormatError } from '../../src/errors.js';
import { scratchDir } from '../helpers.js';

const identity = { modelSha256: 'ab'.repeat(32), settings: { recipe: 'r' } };
const refused = (file: string, text: RegExp) => (e: unknown) => e instanceof DataFormatError && e.message.startsWith(file) && text.test(e.message);

test('a checkpoint.json that is not JSON, or JSON but no object, is refused with the file named', () => {
  const out = scratchDir('checkpoint');
  const file = join(out, CHECKPOINT_JSON);
  writeFileSync(file, '{"format": ');
  assert.throws(() => claimOutFolder(out, identity, 'model'), refused(file, /not valid JSON \(.*\); delete the folder to start the scan over\.$/));
  // JSON null once crashed on reading its format (a TypeError, not the project's error).
  writeFileSync(file, 'null');
  assert.throws(() => claimOutFolder(out, identity, 'model'), refused(file, /not a scan checkpoint \(format null\)/));
});

test("a damaged label file or label state names the label to rerun", () => {
  const run = runFolder(scratchDir('checkpoint'), 0);
  writeFileSync(labelResultFile(run, 3), '[1,');
  assert.throws(() => readLabelResult(run, 3), refused(labelResultFile(run, 3), /; delete it to rerun label 3\.$/));
  writeFileSync(labelStateFile(run, 4), '');
  assert.throws(() => readLabelState(run, 4), refused(labelStateFile(run, 4), /; delete it to restart label 4\.$/));
  assert.equal(readLabelResult(run, 5), undefined);
});
