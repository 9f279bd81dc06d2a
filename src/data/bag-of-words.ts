/**
 * Bag-of-words rows built incrementally: {@link Counter} counts the column hits of one document
 * (a scratch array of d counts plus the list of touched columns, so a row costs its own length,
 * never d), {@link CsrBuilder} appends the sorted rows to growing CSR arrays. Nothing n x d is
 * ever allocated.
 */
import type { CsrMatrix } from './matrix.js';

/** Counts column hits of one row, then writes them sorted into a CSR builder. */
export class Counter {
  private readonly counts: Int32Array;
  private touched: Int32Array;
  size = 0;

  constructor(cols: number) {
    this.counts = new Int32Array(cols);
    this.touched = new Int32Array(256);
  }

  add(j: number): void {
    if (this.counts[j]++ === 0) {
      if (this.size === this.touched.length) {
        const t = new Int32Array(this.touched.length * 2);
        t.set(this.touched);
        this.touched = t;
      }
      this.touched[this.size++] = j;
    }
  }

  /** Appends the row to `builder` (columns ascending), marks its columns in `used`, and resets. */
  flushInto(builder: CsrBuilder, used?: Uint8Array): void {
    const cols = this.touched.subarray(0, this.size).sort();
    for (let k = 0; k < cols.length; k++) {
      const j = cols[k];
      builder.push(j, this.counts[j]);
      this.counts[j] = 0;
      if (used) used[j] = 1;
    }
    builder.endRow();
    this.size = 0;
  }
}

/** Grows CSR arrays row by row. */
export class CsrBuilder {
  private indices = new Int32Array(1 << 16);
  private values = new Float64Array(1 << 16);
  private readonly indptr: number[] = [0];
  private nnz = 0;

  constructor(readonly cols: number) {}

  push(j: number, v: number): void {
    if (this.nnz === this.indices.length) {
      const i = new Int32Array(this.indices.length * 2);
      i.set(this.indices);
      this.indices = i;
      const w = new Float64Array(this.values.length * 2);
      w.set(this.values);
      this.values = w;
    }
    this.indices[this.nnz] = j;
    this.values[this.nnz] = v;
    this.nnz++;
  }

  endRow(): void {
    this.indptr.push(this.nnz);
  }

  finish(): CsrMatrix {
    return {
      kind: 'csr',
      rows: this.indptr.length - 1,
      cols: this.cols,
      indptr: Int32Array.from(this.indptr),
      indices: this.indices.slice(0, this.nnz),
      values: this.values.slice(0, this.nnz),
    };
  }
}
