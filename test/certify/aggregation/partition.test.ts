/** Partitioning by content: the same subsets whatever the order of the training set, and untouched by added samples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentHash, partitionTrainingSet, type SampleSource } from '../../../src/certify/aggregation/partition.js';
import { PARTITION_HASHES, type AggregationMethod } from '../../../src/certify/aggregation/recipe.js';
import { Random } from '../../../src/random.js';

interface Item {
  readonly bytes: Uint8Array;
  readonly label: number;
}

function items(n: number, seed: number): Item[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => ({ bytes: Uint8Array.from({ length: 16 }, () => rng.nextUint32() & 0xff), label: rng.nextUint32() % 3 }));
}

const source = (list: readonly Item[]): SampleSource => ({ count: list.length, bytes: (i) => list[i].bytes, label: (i) => list[i].label });

/** Each subset as the list of its members' content, in training order. */
function contents(list: readonly Item[], method: AggregationMethod, hash: (typeof PARTITION_HASHES)[number]): string[][] {
  const plan = partitionTrainingSet(source(list), { method, partitions: 7, ...(method === 'fa' ? { spread: 3 } : {}), hash });
  return plan.subsets.map((m) => [...m].map((i) => `${Buffer.from(list[i].bytes).toString('hex')}/${list[i].label}`));
}

for (const hash of PARTITION_HASHES) {
  for (const method of ['dpa', 'fa'] as const) {
    test(`${method}, ${hash}: reordering the training set gives the same subsets in the same training order`, () => {
      const list = items(300, 1);
      // Duplicates too: identical samples must not make the order depend on indices.
      list.push(list[5], list[17], { bytes: list[9].bytes, label: (list[9].label + 1) % 3 });
      const shuffled = [...list];
      const rng = new Random(99);
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rng.nextUint32() % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      const a = contents(list, method, hash);
      assert.deepEqual(contents(shuffled, method, hash), a);
      assert.equal(a.flat().length, method === 'fa' ? 3 * list.length : list.length, 'every sample in 1 (DPA) or d (FA) subsets');
      assert.ok(a.filter((s) => s.length > 0).length >= (method === 'fa' ? 18 : 6), 'the hash spreads the samples');
    });

    test(`${method}, ${hash}: adding samples leaves every old sample in its subsets`, () => {
      const old = items(200, 2);
      const added = items(150, 3);
      const before = contents(old, method, hash);
      const after = contents([...added.slice(0, 70), ...old, ...added.slice(70)], method, hash);
      for (let j = 0; j < before.length; j++) {
        const now = after[j];
        // The old members are still there, in the same relative order.
        let at = 0;
        for (const s of before[j]) {
          at = now.indexOf(s, at);
          assert.ok(at >= 0, `subset ${j} lost ${s}`);
          at++;
        }
      }
    });
  }
}

test('the pixel-sum hash is the sum of the bytes (both releases), sha256 depends on every byte', () => {
  const src = source([{ bytes: Uint8Array.of(1, 2, 250), label: 0 }, { bytes: Uint8Array.of(250, 2, 1), label: 0 }]);
  assert.equal(contentHash(src, 0, 'pixel-sum'), 253);
  assert.equal(contentHash(src, 1, 'pixel-sum'), 253);
  assert.notEqual(contentHash(src, 0, 'sha256'), contentHash(src, 1, 'sha256'));
});
