/**
 * Identity for the wasm backend, sharing the input's buffer instead of copying it.
 *
 * tfjs-core clones (runs Identity on) every tensor it saves for the backward pass, and the wasm
 * backend's Identity copies the data: a full copy of every activation of every layer at every
 * training step (≈10% of a step on the MNIST net). Tensors are immutable and no wasm kernel writes
 * into its inputs, so sharing the buffer with a reference count — what the cpu backend does — is
 * safe; the buffer is freed when the last tensor using it is disposed.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export function identity(args: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { x } = args.inputs;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: KernelConfig = {
  kernelName: 'Identity',
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelFunc,
};
