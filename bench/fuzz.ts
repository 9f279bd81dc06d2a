/**
 * The full fuzz pass over the loaders of untrusted bytes (the table in test/fuzz/formats.ts): a few
 * thousand mutated inputs per format, each format in its own process so that its peak memory is
 * its own and a hang can be stopped from outside. Prints and records the figures (inputs, outcomes
 * by kind, slowest input, peak RSS) in bench/out/fuzz.json and the "Fuzzing" section of
 * docs/RELIABILITY.md.
 *
 * Run: node --import tsx bench/fuzz.ts [--inputs 3000] [--seed 0] [--formats IDX,PNG] [--no-record]
 * (--from-json rewrites the section from the last bench/out/fuzz.json without running).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/data/paths.js';
import { FORMATS } from '../test/fuzz/formats.js';
import { runFormat, type FuzzSummary } from '../test/fuzz/harness.js';
import { machineInfo, replaceSection, writeBenchJson } from './record.js';

/** An input slower than this is a finding (a busy 2-core machine included). */
const MAX_MS_PER_INPUT = 2000;
/** No progress for this long: the child is stopped and its current input reported as a hang. */
const HANG_MS = 30_000;
/** Peak resident memory allowed to one format's process, bytes. */
const MAX_RSS = 1024 ** 3;

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '3000' },
    seed: { type: 'string', default: '0' },
    formats: { type: 'string' },
    child: { type: 'string' },
    'no-record': { type: 'boolean', default: false },
    'from-json': { type: 'boolean', default: false },
  },
});
const inputs = Number(values.inputs);
const seed = Number(values.seed);

interface ChildResult {
  summary?: FuzzSummary;
  maxRssBytes?: number;
  /** Set when the child was stopped: the input it was on. */
  hangAt?: number;
  error?: string;
}

if (values['from-json']) {
  const record = JSON.parse(readFileSync(join(packageRoot(), 'bench', 'out', 'fuzz.json'), 'utf8')) as Parameters<typeof markdown>[0];
  replaceSection(join(packageRoot(), 'docs', 'RELIABILITY.md'), 'Fuzzing', markdown(record));
} else if (values.child !== undefined) {
  // One format, in this process; progress lines on stdout let the parent notice a hang.
  const format = FORMATS[Number(values.child)];
  const summary = await runFormat(format, { inputs, seed, maxMsPerInput: MAX_MS_PER_INPUT, onInput: (i) => i % 10 === 0 && process.stdout.write(`@${i}\n`) });
  process.stdout.write(`${JSON.stringify({ summary, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
} else {
  const wanted = values.formats?.split(',');
  const results: { format: string; result: ChildResult }[] = [];
  for (const [i, format] of FORMATS.entries()) {
    if (wanted && !wanted.includes(format.name)) continue;
    const result = await runChild(i);
    results.push({ format: format.name, result });
    console.log(line(format.name, result));
  }
  const failed = results.filter(({ result: r }) => !r.summary || r.summary.findings.length > 0 || (r.maxRssBytes ?? 0) > MAX_RSS);
  const record = { machine: machineInfo(), inputs, seed, maxMsPerInput: MAX_MS_PER_INPUT, maxRssBytes: MAX_RSS, results };
  if (!values['no-record']) {
    const json = writeBenchJson('fuzz', record);
    replaceSection(join(packageRoot(), 'docs', 'RELIABILITY.md'), 'Fuzzing', markdown(record));
    console.log(`recorded in ${json} and docs/RELIABILITY.md`);
  }
  if (failed.length > 0) {
    console.error(`findings in: ${failed.map((f) => f.format).join(', ')}`);
    process.exitCode = 1;
  }
}

function runChild(index: number): Promise<ChildResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(packageRoot(), 'bench', 'fuzz.ts'), '--child', String(index), '--inputs', String(inputs), '--seed', String(seed)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let current = 0;
    let out = '';
    let result: ChildResult | undefined;
    let timer = setTimeout(stop, HANG_MS);
    function stop(): void {
      result = { hangAt: current };
      child.kill('SIGKILL');
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      clearTimeout(timer);
      timer = setTimeout(stop, HANG_MS);
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const l of lines) {
        if (l.startsWith('@')) current = Number(l.slice(1));
        else if (l.startsWith('{')) result = JSON.parse(l) as ChildResult;
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise(result ?? { error: `the process ended with code ${code} before reporting` });
    });
  });
}

function kinds(s: FuzzSummary): string {
  return Object.entries(s.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

function line(name: string, r: ChildResult): string {
  if (!r.summary) return `${name}: ${r.hangAt !== undefined ? `HANG near input ${r.hangAt}` : r.error}`;
  const s = r.summary;
  const findings = s.findings.map((f) => `\n  #${f.index} [${f.mutations.join('; ')}] ${f.outcome}`).join('');
  return `${name}: ${s.inputs} inputs; ${kinds(s)}; slowest ${s.maxMs.toFixed(1)} ms; peak RSS ${mib(r.maxRssBytes ?? 0)} MiB${findings}`;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

function markdown(record: { machine: ReturnType<typeof machineInfo>; inputs: number; seed: number; results: { format: string; result: ChildResult }[] }): string {
  const rows = record.results.map(({ format, result: r }) => {
    if (!r.summary) return `| ${format} | — | ${r.hangAt !== undefined ? `hang near input ${r.hangAt}` : r.error} | — | — | — |`;
    const s = r.summary;
    const crashes = s.outcomes.crash ?? 0;
    const errors = Object.entries(s.outcomes)
      .filter(([k]) => k !== 'accepted' && k !== 'crash')
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    return `| ${format} | ${s.inputs} | ${s.outcomes.accepted ?? 0} | ${errors || '—'} | ${crashes} | ${s.maxMs.toFixed(1)} ms | ${mib(r.maxRssBytes ?? 0)} MiB |`;
  });
  const m = record.machine;
  return `Every loader of untrusted bytes is fuzzed from valid seeds made by its own encoder: each input is a
seed with one to three mutations (bit flips, changed, inserted, deleted or duplicated bytes,
truncation, binary header fields or numbers in text set toward huge values; for compressed formats
also the payload, recompressed; for tar and PNG half the inputs get their checksums repaired so that
mutations reach past them). An input passes when the loader accepts it or refuses it with the
project's own error class (\`PoisonguardError\` and its subclasses): any other exception is a crash.
Bounds: ${MAX_MS_PER_INPUT} ms per input, a hang is declared after ${HANG_MS / 1000} s without progress, and
${mib(MAX_RSS)} MiB peak RSS per format (each format runs in its own process, TF.js loaded for the model).

Last run: ${record.inputs} inputs per format, seed ${record.seed}, ${m.date.slice(0, 10)}, ${m.cpu} (${m.nproc} cores, load ${m.load[0]}), Node ${m.node}.

| Format | Inputs | Accepted | Refused (error class) | Crashes | Slowest input | Peak RSS |
|---|---:|---:|---|---:|---:|---:|
${rows.join('\n')}

What the pass found, each fixed with a regression test:
- PNG: pngjs decodes missing image rows as zeros, so a mutated PNG of about 100 bytes whose IHDR
  height a mutation had raised (still within the megapixel limit) decoded for up to 18.7 s, and the
  pass peaked at 1.4 GB RSS. The image data is now inflated up to the size the header needs, and a
  short stream is refused ("truncated: a WxH image needs N bytes of image data, its IDAT chunks
  hold M").
- No loader let another exception class through: every refusal was already the project's error.
- Beside the pass, allocations before the bytes are checked: a Netpbm header's pixels were
  allocated before the data's size was compared with the file (now after).

Bounds on allocations an input can claim (each a constant beside its loader; the first two from
issue 14's memory bombs): a model's weights are checked layer by layer against the weights
manifest and the bytes present before TF.js allocates them, within 1 GiB in all
(\`MAX_MODEL_BYTES\`, loadModel's \`maxBytes\`); images at most 64 megapixels, read from the PNG,
JPEG or PPM header before decoding (\`MAX_MEGAPIXELS\`, decodeImageFile's \`maxMegapixels\`);
gzip files at most 1 GiB inflated (\`MAX_GUNZIP_BYTES\`); npz members at most 1 GiB declared
(\`MAX_NPZ_MEMBER_BYTES\`). IDX, npy, tar, svmlight and PPM data cannot claim more than the bytes
the file holds.

Rerun: \`node --import tsx bench/fuzz.ts\` (\`--inputs N --seed S --formats IDX,PNG\`). The suite runs
the same table with 250 inputs per format (test/fuzz/loaders.test.ts). An input is reproduced from
its format, seed and index (\`fuzzInput\` in test/fuzz/harness.ts). A new loader is one entry in
test/fuzz/formats.ts.`;
}
