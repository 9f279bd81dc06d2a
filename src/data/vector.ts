/**
 * A single feature vector, dense or sparse: poison points on text data are sparse integer counts
 * over a large vocabulary and must not be stored densely.
 */
export interface SparseVector {
  readonly kind: 'sparse';
  readonly dim: number;
  /** Sorted column indices. */
  readonly indices: Int32Array;
  readonly values: Float64Array;
}

export type PointVector = Float64Array | SparseVector;

export function isSparse(x: PointVector): x is SparseVector {
  return !(x instanceof Float64Array);
}

export function vectorDim(x: PointVector): number {
  return isSparse(x) ? x.dim : x.length;
}

export function vectorDot(x: PointVector, w: ArrayLike<number>): number {
  let s = 0;
  if (isSparse(x)) for (let k = 0; k < x.indices.length; k++) s += x.values[k] * w[x.indices[k]];
  else for (let j = 0; j < x.length; j++) s += x[j] * w[j];
  return s;
}

/** out += a·x. */
export function vectorAxpy(x: PointVector, a: number, out: Float64Array): void {
  if (isSparse(x)) for (let k = 0; k < x.indices.length; k++) out[x.indices[k]] += a * x.values[k];
  else for (let j = 0; j < x.length; j++) out[j] += a * x[j];
}

export function toDenseVector(x: PointVector): Float64Array {
  if (!isSparse(x)) return x;
  const out = new Float64Array(x.dim);
  for (let k = 0; k < x.indices.length; k++) out[x.indices[k]] = x.values[k];
  return out;
}

/** The non-zero entries of a dense vector. */
export function toSparseVector(x: ArrayLike<number>): SparseVector {
  let nz = 0;
  for (let j = 0; j < x.length; j++) if (x[j] !== 0) nz++;
  const indices = new Int32Array(nz);
  const values = new Float64Array(nz);
  let k = 0;
  for (let j = 0; j < x.length; j++) {
    if (x[j] !== 0) {
      indices[k] = j;
      values[k] = x[j];
      k++;
    }
  }
  return { kind: 'sparse', dim: x.length, indices, values };
}
