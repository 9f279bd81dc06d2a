import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../src/random.js';

test('the same seed gives the same stream; another seed another one', () => {
  const a = new Random(42);
  const b = new Random(42);
  const c = new Random(43);
  const sa = Array.from({ length: 20 }, () => a.next());
  const sb = Array.from({ length: 20 }, () => b.next());
  const sc = Array.from({ length: 20 }, () => c.next());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  for (const v of sa) assert.ok(v >= 0 && v < 1);
});

test('uniform and normal moments are right on 100k draws', () => {
  const r = new Random(7);
  let s = 0;
  let s2 = 0;
  let ns = 0;
  let ns2 = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const u = r.next();
    s += u;
    s2 += u * u;
    const z = r.normal();
    ns += z;
    ns2 += z * z;
  }
  assert.ok(Math.abs(s / n - 0.5) < 0.01);
  assert.ok(Math.abs(s2 / n - 1 / 3) < 0.01);
  assert.ok(Math.abs(ns / n) < 0.02);
  assert.ok(Math.abs(ns2 / n - 1) < 0.02);
});

test('sampling without replacement gives distinct indices; permutation is a permutation', () => {
  const r = new Random(1);
  const s = r.sampleWithoutReplacement(100, 60);
  assert.equal(new Set(s).size, 60);
  const p = Array.from(r.permutation(50)).sort((x, y) => x - y);
  assert.deepEqual(p, Array.from({ length: 50 }, (_, i) => i));
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 50_000; i++) counts[r.int(5)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400);
});
