/**
 * Registers the project's kernels for the 'wasm' backend of TensorFlow.js 4.22 (see each file):
 * - fixes for training and input gradients: Conv2DBackpropFilter (missing), MaxPoolGrad (wrong for
 *   windows whose maximum is ≤ 0, and on ties), Conv2DBackpropInput (a slow scalar loop),
 *   BatchMatMul with a transposed or batched operand (a slow scalar loop);
 * - speed-ups found by profiling a training step: Identity (copied every tensor saved for the
 *   backward pass; now shares the buffer), Cast to the same dtype (copied), and Sum over leading
 *   axes (transposed the whole tensor).
 */
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { batchMatMulConfig } from './batch_mat_mul.js';
import { castConfig } from './cast.js';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { conv2DBackpropInputConfig } from './conv2d_backprop_input.js';
import { identityConfig } from './identity.js';
import { maxPoolGradConfig } from './max_pool_grad.js';
import { sumConfig } from './sum.js';
import { captureOriginalKernels } from './wasm_calls.js';

/** The kernels registered for 'wasm', by name. */
export const WASM_KERNEL_FIXES: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  maxPoolGradConfig,
  conv2DBackpropInputConfig,
  batchMatMulConfig,
  identityConfig,
  sumConfig,
  castConfig,
];

let registered = false;

/** Registers the fixes once; later calls do nothing. The wasm backend must be imported first. */
export function registerWasmKernelFixes(): void {
  if (registered) return;
  captureOriginalKernels();
  for (const config of WASM_KERNEL_FIXES) {
    const previous = getKernel(config.kernelName, 'wasm');
    if (previous) unregisterKernel(config.kernelName, 'wasm');
    // The backend runs the setup of registered kernels when it is activated; the replaced kernel's
    // setup binds the wasm function that the fix still calls, so it must keep running.
    registerKernel(previous?.setupFunc ? { ...config, setupFunc: previous.setupFunc } : config);
  }
  registered = true;
}
