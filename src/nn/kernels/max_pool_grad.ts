/**
 * MaxPoolGrad for the wasm backend. The backend's own kernel starts its running maximum at the
 * smallest POSITIVE float, so a window whose maximum is ≤ 0 gets no gradient or a misrouted one (a
 * model that pools before its ReLU gets 55–83% relative error in every gradient), and it sends ties
 * to the last position.
 *
 * This one routes each output's gradient to the first position (row-major within the window) that
 * holds the window's maximum, like the cpu backend and TensorFlow: the running maximum starts at
 * −∞ and only a strictly greater value replaces it. Padding positions never win. Overlapping
 * windows accumulate. It is a plain loop over the heap: one read of the input, one write per output.
 */
import { backend_util, type KernelConfig, type KernelFunc, type MaxPoolGradAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, view } from './wasm_calls.js';

export function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output?: TensorInfo };
  backend: BackendWasm;
  attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth } = info;
  const { strideHeight: sH, strideWidth: sW, effectiveFilterHeight: fH, effectiveFilterWidth: fW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const out = allocate(backend, input.shape.slice());
  const dx = out.data;
  dx.fill(0); // heap memory is not cleared by the allocator
  const x = view(backend, input);
  const g = view(backend, dy);
  const rowStride = inWidth * C;
  const imageStride = inHeight * rowStride;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * imageStride;
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * sH - top;
      const hStart = Math.max(0, h0);
      const hEnd = Math.min(inHeight, h0 + fH);
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = ow * sW - left;
        const wStart = Math.max(0, w0);
        const wEnd = Math.min(inWidth, w0 + fW);
        const gBase = ((b * outHeight + oh) * outWidth + ow) * C;
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let h = hStart; h < hEnd; h++) {
            let p = xb + h * rowStride + wStart * C + c;
            for (let w = wStart; w < wEnd; w++, p += C) {
              const v = x[p];
              if (v > best) {
                best = v;
                at = p;
              }
            }
          }
          if (at >= 0) dx[at] += g[gBase + c];
        }
      }
    }
  }
  return out.info;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
