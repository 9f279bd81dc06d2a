/**
 * BatchMatMul for the wasm backend. The backend's own kernel takes XNNPACK's fast path only when
 * neither operand is transposed and falls back to a scalar loop otherwise — which is every dense
 * layer's gradient (dW = xᵀ·dy, dx = dy·Wᵀ). Transposing the operand explicitly first (a cheap,
 * linear pass) and then multiplying without transposes is many times faster.
 */
import { type BatchMatMulAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { batchMatMul as originalBatchMatMul, release, transpose } from './wasm_calls.js';

/** Swaps the last two axes. */
function swapLastTwo(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return transpose(backend, x, perm);
}

export function batchMatMul(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: BackendWasm; attrs: BatchMatMulAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { transposeA, transposeB } = attrs;
  if (!transposeA && !transposeB) return originalBatchMatMul(backend, inputs.a, inputs.b, false, false);
  const a = transposeA ? swapLastTwo(backend, inputs.a) : inputs.a;
  const b = transposeB ? swapLastTwo(backend, inputs.b) : inputs.b;
  const out = originalBatchMatMul(backend, a, b, false, false);
  if (a !== inputs.a) release(backend, a);
  if (b !== inputs.b) release(backend, b);
  return out;
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as KernelFunc,
};
