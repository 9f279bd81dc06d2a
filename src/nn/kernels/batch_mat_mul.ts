/**
 * BatchMatMul for the wasm backend. The backend's own kernel takes XNNPACK's fast path only for
 * 2-D products (batch 1) with neither operand transposed, and falls back to a scalar loop otherwise —
 * which is every dense layer's gradient (dW = xᵀ·dy, dx = dy·Wᵀ). This kernel brings every product
 * to that fast path:
 * - A·Bᵀ is computed either as A·(Bᵀ) with B transposed explicitly, or — when B is the larger
 *   operand, as W is in dx = dy·Wᵀ — as (B·Aᵀ)ᵀ: transposing A and the small result instead of the
 *   large weights. (The backend re-packs its right operand on every call, so each transposed or
 *   packed element costs about the same.)
 * - Aᵀ·B transposes A explicitly.
 * - Batched products run as one 2-D product per batch element, on views of the operands.
 */
import { broadcast_util, util, type BatchMatMulAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, batchMatMul as originalBatchMatMul, release, reshape, transpose, view } from './wasm_calls.js';

/** A·B of two rank-2 operands on the fast path (transposes made explicit as needed). */
function matMul2D(backend: BackendWasm, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  if (!transposeA && !transposeB) return originalBatchMatMul(backend, a, b, false, false);
  if (!transposeA && transposeB) {
    const [m] = a.shape;
    const [n] = b.shape;
    // Elements transposed or packed: A·(Bᵀ) → 2|B|; (B·Aᵀ)ᵀ → 2|A| + |out|.
    if (2 * util.sizeFromShape(a.shape) + m * n < 2 * util.sizeFromShape(b.shape)) {
      const aT = transpose(backend, a, [1, 0]);
      const outT = originalBatchMatMul(backend, b, aT, false, false); // [n, m]
      const out = transpose(backend, outT, [1, 0]);
      release(backend, aT, outT);
      return out;
    }
  }
  const a2 = transposeA ? transpose(backend, a, [1, 0]) : a;
  const b2 = transposeB ? transpose(backend, b, [1, 0]) : b;
  const out = originalBatchMatMul(backend, a2, b2, false, false);
  if (a2 !== a) release(backend, a2);
  if (b2 !== b) release(backend, b2);
  return out;
}

export function batchMatMul(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: BackendWasm; attrs: BatchMatMulAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const aRows = a.shape[aRank - 2];
  const aCols = a.shape[aRank - 1];
  const bRows = b.shape[bRank - 2];
  const bCols = b.shape[bRank - 1];
  const batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  const m = transposeA ? aCols : aRows;
  const n = transposeB ? bRows : bCols;
  const inner = transposeA ? aRows : aCols;
  const innerB = transposeB ? bCols : bRows;
  if (inner !== innerB || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return originalBatchMatMul(backend, a, b, transposeA, transposeB); // its own checks and messages
  }
  const outShape = [...broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n];

  if (batchA === 1 && batchB === 1) {
    const a2 = reshape(backend, a, [aRows, aCols]);
    const b2 = reshape(backend, b, [bRows, bCols]);
    const out = matMul2D(backend, a2, b2, transposeA, transposeB);
    release(backend, a2, b2);
    return { ...out, shape: outShape };
  }

  // Batched: one fast 2-D product per batch element (batch dims broadcast when one side is 1).
  const batch = Math.max(batchA, batchB);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1) || util.sizeFromShape(outShape.slice(0, -2)) !== batch) {
    return originalBatchMatMul(backend, a, b, transposeA, transposeB);
  }
  const result = allocate(backend, outShape);
  for (let i = 0; i < batch; i++) {
    const ai = slab(backend, a, batchA === 1 ? 0 : i, aRows, aCols);
    const bi = slab(backend, b, batchB === 1 ? 0 : i, bRows, bCols);
    const oi = matMul2D(backend, ai, bi, transposeA, transposeB);
    view(backend, result.info).set(view(backend, oi), i * m * n);
    release(backend, ai, bi, oi);
  }
  return result.info;
}

/** Batch element `i` of a [..., rows, cols] operand, as a new rank-2 tensor. */
function slab(backend: BackendWasm, x: TensorInfo, i: number, rows: number, cols: number): TensorInfo {
  const out = allocate(backend, [rows, cols]);
  out.data.set(view(backend, x).subarray(i * rows * cols, (i + 1) * rows * cols));
  return out.info;
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as KernelFunc,
};
