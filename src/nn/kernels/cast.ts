/**
 * Cast for the wasm backend, sharing the buffer when the dtype does not change. tfjs-core's ReLU
 * gradient casts the activation to float32 (a no-op for float32 activations), and the backend's Cast
 * copies the whole tensor every time; like Identity (identity.ts), the result can share the input's
 * reference-counted buffer. Real conversions go to the backend's kernel.
 */
import type { CastAttrs, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { originalCast } from './wasm_calls.js';

export function cast(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: CastAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (attrs.dtype !== x.dtype) return originalCast(backend, inputs, attrs as unknown as NamedAttrMap);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const castConfig: KernelConfig = {
  kernelName: 'Cast',
  backendName: 'wasm',
  kernelFunc: cast as unknown as KernelFunc,
};
