/**
 * A bounded fuzz pass over every loader of untrusted bytes (the full pass, thousands of inputs per
 * format, is bench/fuzz.ts): each mutated input is accepted or refused with the project's own
 * error, within a time bound, and the whole file stays under a memory bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataFormatError } from '../../src/errors.js';
import { FORMATS } from './formats.js';
import { fuzzInput, runFormat, type FuzzFormat } from './harness.js';

/** Mutated inputs per format: enough to catch a regression, small enough for the suite. */
const INPUTS = 250;
/** Slowest accepted time per input, ms: the seeds are tiny, so anything slow is a hang in the making. */
const MAX_MS_PER_INPUT = 2000;
/** Peak resident memory of this test process, bytes (TF.js and the decoders included). */
const MAX_RSS = 1024 ** 3;

test('the harness is deterministic and reports what is not the project\'s error as a crash', async () => {
  const seeds = [Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 1, 7, 9])];
  const format: FuzzFormat = {
    name: 'probe',
    seeds: () => seeds,
    fields: () => [{ offset: 4, bytes: 4 }],
    // A careless parser: trusts the length at byte 4 (a RangeError past the end) and throws a TypeError on byte 8.
    load: (b) => {
      if (b.length < 9) throw new DataFormatError('probe', 'short');
      if (b[8] !== 7) throw new TypeError('not 7');
      return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint8(8 + new DataView(b.buffer, b.byteOffset).getUint32(4));
    },
  };
  assert.deepEqual(fuzzInput(format, seeds, 3, 17), fuzzInput(format, seeds, 3, 17));
  assert.notDeepEqual(fuzzInput(format, seeds, 3, 17).bytes, fuzzInput(format, seeds, 4, 17).bytes);
  const summary = await runFormat(format, { inputs: 200, seed: 0, maxMsPerInput: MAX_MS_PER_INPUT });
  const crashes = new Set(summary.findings.map((f) => f.outcome.replace(/:.*/, '')));
  assert.deepEqual([...crashes].sort(), ['CRASH RangeError', 'CRASH TypeError']);
  assert.equal(summary.outcomes.crash, summary.findings.length);
  assert.ok(summary.outcomes.DataFormatError > 0);
});

for (const format of FORMATS) {
  test(`fuzz ${format.name}: ${INPUTS} mutated inputs, only the project's errors, none slow`, { timeout: 60_000 }, async () => {
    const summary = await runFormat(format, { inputs: INPUTS, seed: 0, maxMsPerInput: MAX_MS_PER_INPUT });
    assert.deepEqual(
      summary.findings.map((f) => `#${f.index} [${f.mutations.join('; ')}]: ${f.outcome}`),
      [],
      `${format.name}: crashes or slow inputs (rerun one with fuzzInput(format, seeds, 0, index))`,
    );
    // Mutations must exercise both sides, or the seeds or mutators are broken.
    assert.ok((summary.outcomes.accepted ?? 0) > 0 && (summary.outcomes.accepted ?? 0) < INPUTS, JSON.stringify(summary.outcomes));
  });
}

test('the fuzz pass stays under the memory bound', () => {
  const peak = process.resourceUsage().maxRSS * 1024;
  assert.ok(peak < MAX_RSS, `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB exceeds ${(MAX_RSS / 2 ** 20).toFixed(0)} MiB`);
});
