/**
 * Feature matrices on flat typed arrays with explicit shapes: dense (row-major) and sparse (CSR).
 * The linear learners and the certified defense accept either through {@link Features}.
 */
import { ShapeError, PoisonguardError } from '../errors.js';
import { isSparse, toDenseVector, toSparseVector, vectorDim, type PointVector } from './vector.js';

/** Row-major dense matrix. */
export interface DenseMatrix {
  readonly kind: 'dense';
  readonly rows: number;
  readonly cols: number;
  /** rows * cols values, row i at [i * cols, (i + 1) * cols). */
  readonly data: Float64Array | Float32Array;
}

/** Compressed sparse row matrix; column indices sorted within each row. */
export interface CsrMatrix {
  readonly kind: 'csr';
  readonly rows: number;
  readonly cols: number;
  /** rows + 1 offsets into `indices`/`values`. */
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly values: Float64Array | Float32Array;
}

export type Features = DenseMatrix | CsrMatrix;

export function dense(rows: number, cols: number, data?: Float64Array | Float32Array): DenseMatrix {
  const d = data ?? new Float64Array(rows * cols);
  if (d.length !== rows * cols) throw new ShapeError('dense matrix data', `${rows}x${cols} = ${rows * cols} values`, `${d.length} values`);
  return { kind: 'dense', rows, cols, data: d };
}

/** Converts a dense matrix to CSR, keeping the non-zero entries. */
export function toCsr(m: Features): CsrMatrix {
  if (m.kind === 'csr') return m;
  const { rows, cols, data } = m;
  let nnz = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
  const indptr = new Int32Array(rows + 1);
  const indices = new Int32Array(nnz);
  const values = data instanceof Float32Array ? new Float32Array(nnz) : new Float64Array(nnz);
  let k = 0;
  for (let i = 0; i < rows; i++) {
    const off = i * cols;
    for (let j = 0; j < cols; j++) {
      const v = data[off + j];
      if (v !== 0) {
        indices[k] = j;
        values[k] = v;
        k++;
      }
    }
    indptr[i + 1] = k;
  }
  return { kind: 'csr', rows, cols, indptr, indices, values };
}

/** Densifies (only for small matrices and tests). */
export function toDense(m: Features): DenseMatrix {
  if (m.kind === 'dense') return m;
  const out = new Float64Array(m.rows * m.cols);
  for (let i = 0; i < m.rows; i++) {
    for (let k = m.indptr[i]; k < m.indptr[i + 1]; k++) out[i * m.cols + m.indices[k]] = m.values[k];
  }
  return dense(m.rows, m.cols, out);
}

/** Row i as a dense Float64Array (a copy). */
export function rowDense(m: Features, i: number, out = new Float64Array(m.cols)): Float64Array {
  out.fill(0);
  if (m.kind === 'dense') {
    const off = i * m.cols;
    for (let j = 0; j < m.cols; j++) out[j] = m.data[off + j];
  } else {
    for (let k = m.indptr[i]; k < m.indptr[i + 1]; k++) out[m.indices[k]] = m.values[k];
  }
  return out;
}

/** x_i · w. */
export function rowDot(m: Features, i: number, w: ArrayLike<number>): number {
  let s = 0;
  if (m.kind === 'dense') {
    const off = i * m.cols;
    const d = m.data;
    for (let j = 0; j < m.cols; j++) s += d[off + j] * w[j];
  } else {
    const { indptr, indices, values } = m;
    for (let k = indptr[i], e = indptr[i + 1]; k < e; k++) s += values[k] * w[indices[k]];
  }
  return s;
}

/** out += a * x_i. */
export function rowAxpy(m: Features, i: number, a: number, out: Float64Array): void {
  if (m.kind === 'dense') {
    const off = i * m.cols;
    const d = m.data;
    for (let j = 0; j < m.cols; j++) out[j] += a * d[off + j];
  } else {
    const { indptr, indices, values } = m;
    for (let k = indptr[i], e = indptr[i + 1]; k < e; k++) out[indices[k]] += a * values[k];
  }
}

/** ‖x_i‖². */
export function rowNormSq(m: Features, i: number): number {
  let s = 0;
  if (m.kind === 'dense') {
    const off = i * m.cols;
    for (let j = 0; j < m.cols; j++) s += m.data[off + j] * m.data[off + j];
  } else {
    for (let k = m.indptr[i]; k < m.indptr[i + 1]; k++) s += m.values[k] * m.values[k];
  }
  return s;
}

/** out[i] = x_i · w + b for every row. */
export function matVec(m: Features, w: ArrayLike<number>, b: number, out: Float64Array): Float64Array {
  if (m.kind === 'dense') {
    const { rows, cols, data } = m;
    for (let i = 0; i < rows; i++) {
      let s = b;
      const off = i * cols;
      for (let j = 0; j < cols; j++) s += data[off + j] * w[j];
      out[i] = s;
    }
  } else {
    const { rows, indptr, indices, values } = m;
    for (let i = 0; i < rows; i++) {
      let s = b;
      for (let k = indptr[i], e = indptr[i + 1]; k < e; k++) s += values[k] * w[indices[k]];
      out[i] = s;
    }
  }
  return out;
}

/** Rows `idx` of m, in that order, as a new matrix of the same kind. */
export function selectRows(m: Features, idx: ArrayLike<number>): Features {
  const n = idx.length;
  if (m.kind === 'dense') {
    const Ctor = m.data instanceof Float32Array ? Float32Array : Float64Array;
    const out = new Ctor(n * m.cols);
    for (let r = 0; r < n; r++) out.set(m.data.subarray(idx[r] * m.cols, (idx[r] + 1) * m.cols), r * m.cols);
    return dense(n, m.cols, out);
  }
  let nnz = 0;
  for (let r = 0; r < n; r++) nnz += m.indptr[idx[r] + 1] - m.indptr[idx[r]];
  const indptr = new Int32Array(n + 1);
  const indices = new Int32Array(nnz);
  const values = m.values instanceof Float32Array ? new Float32Array(nnz) : new Float64Array(nnz);
  let k = 0;
  for (let r = 0; r < n; r++) {
    const s = m.indptr[idx[r]];
    const e = m.indptr[idx[r] + 1];
    indices.set(m.indices.subarray(s, e), k);
    values.set(m.values.subarray(s, e), k);
    k += e - s;
    indptr[r + 1] = k;
  }
  return { kind: 'csr', rows: n, cols: m.cols, indptr, indices, values };
}

/** Stacks a matrix and extra rows, dense or sparse (e.g. clean data and poison points). */
export function appendRows(m: Features, extra: readonly PointVector[]): Features {
  for (const r of extra) if (vectorDim(r) !== m.cols) throw new ShapeError('appended row', `${m.cols} columns`, `${vectorDim(r)}`);
  if (m.kind === 'dense') {
    const out = new Float64Array((m.rows + extra.length) * m.cols);
    out.set(m.data);
    extra.forEach((r, i) => out.set(toDenseVector(r), (m.rows + i) * m.cols));
    return dense(m.rows + extra.length, m.cols, out);
  }
  const sparse = extra.map((r) => (isSparse(r) ? r : toSparseVector(r)));
  let add = 0;
  for (const r of sparse) add += r.indices.length;
  const nnzAll = m.indices.length + add;
  const indptr = new Int32Array(m.rows + extra.length + 1);
  indptr.set(m.indptr);
  const indices = new Int32Array(nnzAll);
  indices.set(m.indices);
  const values = new Float64Array(nnzAll);
  values.set(m.values);
  let k = m.indices.length;
  sparse.forEach((r, i) => {
    indices.set(r.indices, k);
    values.set(r.values, k);
    k += r.indices.length;
    indptr[m.rows + i + 1] = k;
  });
  return { kind: 'csr', rows: m.rows + extra.length, cols: m.cols, indptr, indices, values };
}

/** Throws when any value is NaN or infinite, naming the first bad entry. */
export function assertFinite(m: Features, what: string): void {
  const vals = m.kind === 'dense' ? m.data : m.values;
  for (let k = 0; k < vals.length; k++) {
    if (!Number.isFinite(vals[k])) {
      let row: number;
      if (m.kind === 'dense') row = Math.floor(k / m.cols);
      else {
        row = 0;
        while (m.indptr[row + 1] <= k) row++;
      }
      throw new PoisonguardError('not-finite', `${what}: row ${row} contains ${vals[k]}; features must be finite numbers.`, {
        path: what,
        position: row,
        received: vals[k],
      });
    }
  }
}

/** Number of stored entries. */
export function nnz(m: Features): number {
  return m.kind === 'dense' ? m.rows * m.cols : m.indices.length;
}
