/**
 * The svmlight / LIBSVM text format: one example per line, `label index:value index:value …`,
 * optionally followed by `# comment`. Read into CSR with each row's columns sorted.
 *
 * Accepted: indices in any order within a line (they are sorted; LIBSVM itself asks for ascending
 * order, but scikit-learn's writer and hand-made files do not always keep it), a `qid:<n>` token
 * (ignored), blank and comment-only lines (skipped). Rejected, with the file and the 1-based line:
 * an index that is not a non-negative integer, an index below the base (0 in a 1-based file), an
 * index at or beyond `cols`, a repeated index, a value that is not a finite number, a label that
 * is not a number or not a binary label.
 *
 * Labels: ±1 and 0/1 (0 → −1) are taken as they are; with `positiveAbove` the label is a score —
 * the aclImdb `labeledBow.feat` files store the star rating (1..10) — and becomes +1 when it is
 * above the threshold, −1 otherwise.
 */
import { existsSync, readFileSync } from 'node:fs';
import { DataFormatError, NotFoundError, OptionError } from '../errors.js';
import { checkFinite, checkPositiveInt } from '../options.js';
import type { LabelledFeatures } from './binary.js';
import type { CsrMatrix } from './matrix.js';

/** The largest column index a CSR matrix holds (Int32Array indices). */
export const MAX_SVMLIGHT_COLUMN = 2 ** 31 - 1;

/** Options of {@link parseSvmlight}. */
export interface SvmlightOptions {
  /** Index of the first feature: 1 in LIBSVM files (the default), 0 in aclImdb's `*.feat` files. */
  readonly indexBase?: 0 | 1;
  /** Number of columns; by default the largest index seen + 1 (after the base shift). */
  readonly cols?: number;
  /** Treat the label as a score: +1 when it is strictly above this value, −1 otherwise. */
  readonly positiveAbove?: number;
}

/** A parsed svmlight file. */
export interface SvmlightData extends LabelledFeatures {
  readonly X: CsrMatrix;
  /** The labels exactly as written in the file (e.g. the ratings of `labeledBow.feat`). */
  readonly rawLabels: Float64Array;
}

/** LIBSVM's convention: feature indices start at 1. */
export const DEFAULT_SVMLIGHT_INDEX_BASE = 1;

/** Reads an svmlight file; see {@link parseSvmlight}. */
export function readSvmlightFile(path: string, options: SvmlightOptions = {}): SvmlightData {
  if (!existsSync(path)) throw new NotFoundError(path, 'svmlight file');
  return parseSvmlight(readFileSync(path, 'utf8'), path, options);
}

/** Parses svmlight text; `name` is used in error messages. */
export function parseSvmlight(text: string, name: string, options: SvmlightOptions = {}): SvmlightData {
  const base = options.indexBase ?? DEFAULT_SVMLIGHT_INDEX_BASE;
  if (base !== 0 && base !== 1) throw new OptionError('indexBase', '0 or 1', base);
  if (options.cols !== undefined) checkPositiveInt('cols', options.cols);
  if (options.positiveAbove !== undefined) checkFinite('positiveAbove', options.positiveAbove);

  const labels: number[] = [];
  const ys: number[] = [];
  const indptr: number[] = [0];
  let indices = new Int32Array(1024);
  let values = new Float64Array(1024);
  let nnz = 0;
  let maxCol = -1;
  const rowIdx: number[] = [];
  const rowVal: number[] = [];

  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const lineNo = ln + 1;
    let line = lines[ln];
    const hash = line.indexOf('#');
    if (hash >= 0) line = line.slice(0, hash);
    const tokens = line.trim().split(/\s+/);
    if (tokens.length === 1 && tokens[0] === '') continue;
    const fail = (problem: string, received?: string): never => {
      throw new DataFormatError(name, `line ${lineNo}: ${problem}`, { position: lineNo, received });
    };

    const parsed = parseNumber(tokens[0]);
    if (parsed === undefined) fail(`the label '${tokens[0]}' is not a finite number.`, tokens[0]);
    const label = parsed as number;
    if (options.positiveAbove !== undefined) ys.push(label > options.positiveAbove ? 1 : -1);
    else if (label === 1 || label === -1) ys.push(label);
    else if (label === 0) ys.push(-1);
    else fail(`the label ${label} is not a binary label (-1/+1 or 0/1); pass positiveAbove to turn scores such as ratings into labels.`, tokens[0]);
    labels.push(label);

    rowIdx.length = 0;
    rowVal.length = 0;
    for (let t = 1; t < tokens.length; t++) {
      const tok = tokens[t];
      const colon = tok.indexOf(':');
      if (colon <= 0 || colon === tok.length - 1) fail(`'${tok}' is not an index:value pair.`, tok);
      const idxText = tok.slice(0, colon);
      if (idxText === 'qid') continue;
      const valText = tok.slice(colon + 1);
      if (!/^[+-]?\d+$/.test(idxText)) fail(`the feature index '${idxText}' is not an integer.`, tok);
      const raw = Number(idxText);
      if (raw < 0) fail(`the feature index ${raw} is negative.`, tok);
      if (raw < base) fail(`the feature index ${raw} is below ${base}, the first index of a ${base}-based file (pass indexBase: 0 for 0-based files).`, tok);
      const col = raw - base;
      // Columns are stored as 32-bit integers: a larger index would wrap around silently.
      if (col > MAX_SVMLIGHT_COLUMN) fail(`the feature index ${idxText} is too large (at most ${MAX_SVMLIGHT_COLUMN + base} in a ${base}-based file: columns are 32-bit integers).`, tok);
      if (options.cols !== undefined && col >= options.cols) {
        fail(`the feature index ${raw} is beyond the ${options.cols} columns of the data (${base}-based indices).`, tok);
      }
      const value = parseNumber(valText);
      if (value === undefined) fail(`the value '${valText}' of feature ${raw} is not a finite number.`, tok);
      rowIdx.push(col);
      rowVal.push(value as number);
    }

    const order = sortedOrder(rowIdx);
    for (let k = 1; k < order.length; k++) {
      if (rowIdx[order[k]] === rowIdx[order[k - 1]]) fail(`the feature index ${rowIdx[order[k]] + base} appears twice.`, String(rowIdx[order[k]] + base));
    }
    if (nnz + order.length > indices.length) {
      const cap = Math.max(indices.length * 2, nnz + order.length);
      indices = grow(indices, cap);
      values = grow(values, cap);
    }
    for (const k of order) {
      indices[nnz] = rowIdx[k];
      values[nnz] = rowVal[k];
      nnz++;
      if (rowIdx[k] > maxCol) maxCol = rowIdx[k];
    }
    indptr.push(nnz);
  }

  const rows = labels.length;
  const cols = options.cols ?? maxCol + 1;
  const rawLabels = Float64Array.from(labels);
  const y = Int8Array.from(ys);
  const X: CsrMatrix = {
    kind: 'csr',
    rows,
    cols,
    indptr: Int32Array.from(indptr),
    indices: indices.slice(0, nnz),
    values: values.slice(0, nnz),
  };
  return { X, y, rawLabels };
}

/** A finite decimal number as LIBSVM writes them (no hex, no empty string, no inf/nan). */
function parseNumber(s: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

function sortedOrder(cols: readonly number[]): number[] {
  const order = cols.map((_, k) => k);
  let sorted = true;
  for (let k = 1; k < cols.length; k++) {
    if (cols[k] <= cols[k - 1]) {
      sorted = false;
      break;
    }
  }
  if (!sorted) order.sort((a, b) => cols[a] - cols[b]);
  return order;
}

function grow<T extends Int32Array | Float64Array>(a: T, cap: number): T {
  const out = new (a.constructor as new (n: number) => T)(cap);
  out.set(a);
  return out;
}

/** Writes labelled CSR rows as svmlight text (used by tests; `indexBase` as when reading). */
export function encodeSvmlight(X: CsrMatrix, labels: ArrayLike<number>, indexBase: 0 | 1 = DEFAULT_SVMLIGHT_INDEX_BASE): string {
  const out: string[] = [];
  for (let i = 0; i < X.rows; i++) {
    const parts = [String(labels[i])];
    for (let k = X.indptr[i]; k < X.indptr[i + 1]; k++) parts.push(`${X.indices[k] + indexBase}:${X.values[k]}`);
    out.push(parts.join(' '));
  }
  return `${out.join('\n')}\n`;
}
