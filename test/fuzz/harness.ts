/**
 * A small deterministic mutation fuzzer for the loaders of untrusted files. A format is one entry
 * of a table ({@link FuzzFormat}): valid seed inputs, the loader to run on a mutated input, and
 * optionally where its binary header fields are. Each input is a seed with one to three mutations
 * (bit flips, byte changes, insertions, deletions, truncation, duplicated ranges, header fields or
 * numbers in text set toward huge values). An input passes when the loader accepts it or refuses it
 * with the project's own error class; anything else (a TypeError, a RangeError, a failed
 * allocation), or an input slower than the per-input bound, is a finding.
 */
import { PoisonguardError } from '../../src/errors.js';
import { Random, mixSeeds } from '../../src/random.js';

/** A binary header field of a seed: byte offset, width and byte order. */
export interface HeaderField {
  readonly offset: number;
  readonly bytes: 1 | 2 | 4;
  readonly littleEndian?: boolean;
}

/** One format under test: a row of the table in formats.ts. */
export interface FuzzFormat {
  readonly name: string;
  /** Valid inputs, made by the format's own encoder or a library's. */
  readonly seeds: () => Uint8Array[] | Promise<Uint8Array[]>;
  /** Parses one input the way the project reads such a file; throws on refusal. */
  readonly load: (bytes: Uint8Array) => unknown;
  /** Header fields of a seed, to be set toward huge values. */
  readonly fields?: (seed: Uint8Array) => readonly HeaderField[];
  /** A text format: numbers and quoted strings in it are mutated as tokens too. */
  readonly text?: boolean;
  /**
   * A compressed container (gzip, zip): mutations also apply to the decompressed payload, which is
   * then compressed again, so that the inner parser sees more than corrupt streams.
   */
  readonly payload?: { readonly unwrap: (bytes: Uint8Array) => Uint8Array; readonly wrap: (inner: Uint8Array) => Uint8Array };
  /** Makes checksums right again after a mutation (applied to half the inputs), to reach past them. */
  readonly repair?: (bytes: Uint8Array) => Uint8Array;
  /** Frees what an accepted input built (e.g. a model's tensors). */
  readonly release?: (result: unknown) => void;
}

/** How one input ended: 'accepted', the project's error class name, or 'CRASH <class>: <message>'. */
export type Outcome = string;

export interface FuzzSummary {
  readonly format: string;
  readonly inputs: number;
  /** Count per outcome ('accepted', 'DataFormatError', …). */
  readonly outcomes: Record<Outcome, number>;
  /** The inputs that crashed or exceeded the time bound: index, mutations and what happened. */
  readonly findings: { index: number; mutations: string[]; outcome: string; ms: number }[];
  readonly maxMs: number;
  readonly totalMs: number;
}

const INTERESTING_UINT = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 16000, 1e6, 0x7fffffff, 0x80000000, 0xffffffff];
const INTERESTING_TEXT = ['0', '-1', '1', '65536', '1000000', '2147483648', '4294967296', '9007199254740993', '1e300', '-1e300', '1e-300', '0.5', 'NaN', 'Infinity', '-0', '1e6'];

/** One mutation of `input` drawn from `rng`; returns the new bytes and a description. */
export function mutate(format: FuzzFormat, seed: Uint8Array, input: Uint8Array, rng: Random): [Uint8Array, string] {
  const n = input.length;
  const at = (): number => rng.int(Math.max(1, n));
  const kinds = ['flip', 'byte', 'insert', 'delete', 'truncate', 'duplicate'];
  const fields = format.fields?.(seed) ?? [];
  if (fields.length > 0) kinds.push('field', 'field');
  if (format.text) kinds.push('number', 'number', 'string');
  const kind = kinds[rng.int(kinds.length)];
  switch (kind) {
    case 'flip': {
      const out = Uint8Array.from(input);
      if (n === 0) return [out, 'flip (empty)'];
      const bits = 1 + rng.int(8);
      for (let k = 0; k < bits; k++) {
        const i = at();
        out[i] ^= 1 << rng.int(8);
      }
      return [out, `flip ${bits} bits`];
    }
    case 'byte': {
      const out = Uint8Array.from(input);
      const i = at();
      const v = [0, 0xff, 0x7f, 0x80, rng.int(256)][rng.int(5)];
      if (n > 0) out[i] = v;
      return [out, `byte ${i}=${v}`];
    }
    case 'insert': {
      const i = rng.int(n + 1);
      const len = 1 + rng.int(16);
      const extra = Uint8Array.from({ length: len }, () => rng.int(256));
      return [concat(input.subarray(0, i), extra, input.subarray(i)), `insert ${len} at ${i}`];
    }
    case 'delete': {
      const i = at();
      const len = 1 + rng.int(Math.max(1, Math.min(64, n - i)));
      return [concat(input.subarray(0, i), input.subarray(i + len)), `delete ${len} at ${i}`];
    }
    case 'truncate': {
      const len = rng.int(n + 1);
      return [input.slice(0, len), `truncate to ${len}`];
    }
    case 'duplicate': {
      const i = at();
      const len = 1 + rng.int(Math.max(1, Math.min(512, n - i)));
      const j = rng.int(n + 1);
      return [concat(input.subarray(0, j), input.subarray(i, i + len), input.subarray(j)), `duplicate ${len} from ${i} to ${j}`];
    }
    case 'field': {
      const f = fields[rng.int(fields.length)];
      if (f.offset + f.bytes > n) return [Uint8Array.from(input), 'field (past the end)'];
      const out = Uint8Array.from(input);
      const view = new DataView(out.buffer);
      const old = f.bytes === 1 ? view.getUint8(f.offset) : f.bytes === 2 ? view.getUint16(f.offset, f.littleEndian) : view.getUint32(f.offset, f.littleEndian);
      const pool = [...INTERESTING_UINT, old + 1, old - 1, old * 2, old * 256, rng.nextUint32()];
      const max = 2 ** (8 * f.bytes) - 1;
      const v = Math.max(0, Math.min(max, pool[rng.int(pool.length)]));
      if (f.bytes === 1) view.setUint8(f.offset, v);
      else if (f.bytes === 2) view.setUint16(f.offset, v, f.littleEndian);
      else view.setUint32(f.offset, v, f.littleEndian);
      return [out, `field @${f.offset}:${f.bytes} ${old}->${v}`];
    }
    case 'number':
    case 'string': {
      const text = Buffer.from(input).toString('latin1');
      const re = kind === 'number' ? /-?\d+(\.\d+)?([eE][-+]?\d+)?/g : /"[^"\n]{0,64}"/g;
      const matches = [...text.matchAll(re)];
      if (matches.length === 0) return [Uint8Array.from(input), `${kind} (none)`];
      const m = matches[rng.int(matches.length)];
      const by = kind === 'number' ? INTERESTING_TEXT[rng.int(INTERESTING_TEXT.length)] : matches[rng.int(matches.length)][0];
      const out = text.slice(0, m.index) + by + text.slice((m.index ?? 0) + m[0].length);
      return [Buffer.from(out, 'latin1'), `${kind} '${m[0]}'->'${by}' at ${m.index}`];
    }
    default:
      throw new Error(`unknown mutation ${kind}`);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The `index`-th input of a run seeded `seed`: the same pair always gives the same bytes. */
export function fuzzInput(format: FuzzFormat, seeds: readonly Uint8Array[], seed: number, index: number): { bytes: Uint8Array; mutations: string[] } {
  const rng = new Random(mixSeeds(mixSeeds(seed, hashName(format.name)), index));
  const base = seeds[rng.int(seeds.length)];
  const inner = format.payload && rng.next() < 0.5;
  let bytes = inner ? format.payload!.unwrap(base) : base;
  const seedBytes = bytes;
  const mutations: string[] = [];
  const count = 1 + rng.int(3);
  for (let k = 0; k < count; k++) {
    const [next, what] = mutate(format, seedBytes, bytes, rng);
    bytes = next;
    mutations.push(what);
  }
  if (format.repair && rng.next() < 0.5) {
    bytes = format.repair(bytes);
    mutations.push('repaired');
  }
  if (inner) {
    bytes = format.payload!.wrap(bytes);
    mutations.unshift('payload:');
  }
  return { bytes, mutations };
}

function hashName(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) >>> 0;
  return h;
}

/** How an attempt ended, by the class of what was thrown. */
export function classify(e: unknown): { outcome: Outcome; crash: boolean } {
  if (e instanceof PoisonguardError) return { outcome: e.name, crash: false };
  const name = e instanceof Error ? e.constructor.name : typeof e;
  const message = e instanceof Error ? e.message : String(e);
  return { outcome: `CRASH ${name}: ${message.slice(0, 160)}`, crash: true };
}

export interface RunOptions {
  readonly inputs: number;
  readonly seed: number;
  /** An input slower than this, in ms, is a finding. */
  readonly maxMsPerInput: number;
  /** Called before each input (the bench reports progress, to notice a hang from outside). */
  readonly onInput?: (index: number) => void;
}

/** Runs `inputs` mutated inputs of `format` through its loader. */
export async function runFormat(format: FuzzFormat, options: RunOptions): Promise<FuzzSummary> {
  const seeds = await format.seeds();
  // The seeds themselves must load: otherwise the format's entry, not the loader, is wrong.
  for (const [i, s] of seeds.entries()) {
    try {
      const result = await format.load(s);
      format.release?.(result);
    } catch (e) {
      throw new Error(`seed ${i} of ${format.name} does not load: ${(e as Error).message}`);
    }
  }
  const outcomes: Record<string, number> = {};
  const findings: FuzzSummary['findings'] = [];
  let maxMs = 0;
  let totalMs = 0;
  for (let index = 0; index < options.inputs; index++) {
    options.onInput?.(index);
    const { bytes, mutations } = fuzzInput(format, seeds, options.seed, index);
    const t0 = performance.now();
    let outcome: Outcome;
    let crash = false;
    try {
      // (not `release?.(await load())`: optional chaining would skip the load when there is no release)
      const result = await format.load(bytes);
      format.release?.(result);
      outcome = 'accepted';
    } catch (e) {
      ({ outcome, crash } = classify(e));
    }
    const ms = performance.now() - t0;
    maxMs = Math.max(maxMs, ms);
    totalMs += ms;
    const key = crash ? 'crash' : outcome;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (crash || ms > options.maxMsPerInput) findings.push({ index, mutations, outcome: crash ? outcome : `${outcome}, ${ms.toFixed(0)} ms`, ms });
  }
  return { format: format.name, inputs: options.inputs, outcomes, findings, maxMs, totalMs };
}
