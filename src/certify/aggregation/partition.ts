/**
 * Deterministic partitioning by content: each training sample's subset depends on its own bytes
 * only, never on its index or on the other samples, so an attacker who inserts or deletes a sample
 * changes that sample's subset(s) and no other (the premise of both certificates). Inside a subset
 * the samples are put in an order that depends on their content only (as DPA's release sorts each
 * partition), so that a seeded training gives the same model whatever the order of the training set.
 */
import { createHash } from 'node:crypto';
import { OptionError } from '../../errors.js';
import { checkPositiveInt } from '../../options.js';
import { Random } from '../../random.js';
import { FA_SHIFT_SEED, type AggregationMethod, type PartitionHash } from './recipe.js';

/** The training set as the partitioner sees it: each sample's bytes and label. */
export interface SampleSource {
  readonly count: number;
  /** Sample i's content as bytes (pixels, or feature values as float64). */
  bytes(i: number): Uint8Array;
  /** Sample i's class index. */
  label(i: number): number;
  /** Sample i's pixel sum (the 'pixel-sum' hash), when its content is pixels. */
  pixelSum?(i: number): number;
}

/** Largest hash value kept from SHA-256: 48 bits, exact in a double. */
const SHA_BYTES = 6;

/** Sample i's content hash (a non-negative integer). */
export function contentHash(source: SampleSource, i: number, kind: PartitionHash): number {
  if (kind === 'pixel-sum') {
    if (source.pixelSum) return source.pixelSum(i);
    let s = 0;
    for (const b of source.bytes(i)) s += b;
    return s;
  }
  const digest = createHash('sha256').update(source.bytes(i)).digest();
  return digest.readUIntBE(0, SHA_BYTES);
}

/** How the training set was split: which samples each base classifier trains on, in training order. */
export interface PartitionPlan {
  readonly method: AggregationMethod;
  /** k. */
  readonly partitions: number;
  /** d (1 for DPA). */
  readonly spread: number;
  readonly hash: PartitionHash;
  /** FA's shifts (DPA: [0]). */
  readonly shifts: readonly number[];
  /** Members of each subset (k for DPA, k·d for FA), sorted by content. */
  readonly subsets: readonly Int32Array[];
}

/** FA's d distinct shifts in [0, k·d), drawn from a fixed seed ({@link FA_SHIFT_SEED}). */
export function faShifts(subsets: number, spread: number): number[] {
  const rng = new Random(FA_SHIFT_SEED);
  const chosen = new Set<number>();
  const out: number[] = [];
  while (out.length < spread) {
    const s = Math.floor(rng.next() * subsets);
    if (!chosen.has(s)) {
      chosen.add(s);
      out.push(s);
    }
  }
  return out;
}

/** Orders samples by content (bytes, then label): the same multiset of samples always trains in the same order. */
function compareContent(source: SampleSource): (a: number, b: number) => number {
  return (a, b) => {
    const x = source.bytes(a);
    const y = source.bytes(b);
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
    if (x.length !== y.length) return x.length - y.length;
    return source.label(a) - source.label(b);
  };
}

/**
 * Splits the training set: DPA puts sample i in partition hash(i) mod k; FA puts it in bucket
 * h = hash(i) mod k·d and in the d subsets (h + s) mod k·d, s over the shifts.
 */
export function partitionTrainingSet(source: SampleSource, options: { method: AggregationMethod; partitions: number; spread?: number; hash: PartitionHash }): PartitionPlan {
  const k = checkPositiveInt('partitions', options.partitions);
  const d = options.method === 'fa' ? checkPositiveInt('spread', options.spread ?? 1) : 1;
  if (options.method === 'dpa' && options.spread !== undefined && options.spread !== 1) throw new OptionError('spread', "1 with DPA (the spread d is Finite Aggregation's)", options.spread);
  const m = k * d;
  const shifts = options.method === 'fa' ? faShifts(m, d) : [0];
  const members: number[][] = Array.from({ length: m }, () => []);
  for (let i = 0; i < source.count; i++) {
    const h = contentHash(source, i, options.hash) % m;
    for (const s of shifts) members[(h + s) % m].push(i);
  }
  const order = compareContent(source);
  const subsets = members.map((list) => Int32Array.from(list.sort(order)));
  return { method: options.method, partitions: k, spread: d, hash: options.hash, shifts, subsets };
}
