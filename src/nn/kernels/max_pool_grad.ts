/**
 * MaxPoolGrad for the wasm backend. The backend's own kernel starts its running maximum at the
 * smallest POSITIVE float, so a window whose maximum is ≤ 0 gets no gradient or a misrouted one (a
 * model that pools before its ReLU gets 55–83% relative error in every gradient), and it sends ties
 * to the last position.
 *
 * This one routes each output's gradient to the first position (row-major within the window) that
 * holds the window's maximum, like the cpu backend and TensorFlow: the running maximum starts at
 * −∞ and only a strictly greater value replaces it. Padding positions never win. Overlapping
 * windows accumulate. The common 2x2, stride-2 pool runs four channels at a time in SIMD wasm
 * (simd.ts); other shapes are plain loops over the heap.
 */
import { backend_util, type KernelConfig, type KernelFunc, type MaxPoolGradAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdFor } from './simd.js';
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
  const x = view(backend, input);
  const g = view(backend, dy);
  if (fH === 2 && fW === 2 && sH === 2 && sW === 2 && top === 0 && left === 0 && 2 * outHeight <= inHeight && 2 * outWidth <= inWidth) {
    const simd = C % 4 === 0 ? simdFor(backend) : undefined;
    if (simd) {
      // Rows or columns left over by an odd size belong to no window; the routine writes only windows.
      if (outHeight * 2 !== inHeight || outWidth * 2 !== inWidth) dx.fill(0);
      const at = (info: TensorInfo): number => backend.getMemoryOffset(info.dataId);
      simd.maxPoolGrad2x2(at(input), at(dy), at(out.info), batchSize, inHeight, inWidth, outHeight, outWidth, C);
    } else {
      pool2x2(x, g, dx, batchSize, inHeight, inWidth, C, outHeight, outWidth);
    }
    return out.info;
  }
  dx.fill(0); // heap memory is not cleared by the allocator
  const rowStride = inWidth * C;
  const imageStride = inHeight * rowStride;
  // Per output pixel: the running maximum and its position for all channels at once, so that the
  // innermost loop walks the contiguous channels.
  const best = new Float32Array(C);
  const at = new Int32Array(C);
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
        best.fill(-Infinity);
        at.fill(-1);
        for (let h = hStart; h < hEnd; h++) {
          for (let w = wStart; w < wEnd; w++) {
            const p = xb + h * rowStride + w * C;
            for (let c = 0; c < C; c++) {
              const v = x[p + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = p + c;
              }
            }
          }
        }
        const gBase = ((b * outHeight + oh) * outWidth + ow) * C;
        for (let c = 0; c < C; c++) if (at[c] >= 0) dx[at[c]] += g[gBase + c];
      }
    }
  }
  return out.info;
}

/**
 * The common 2x2, stride-2, unpadded case, unrolled (≈2x faster than the general loop): each window
 * is written whole, the gradient at its first maximum and zeros elsewhere.
 */
function pool2x2(
  x: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  batchSize: number,
  inHeight: number,
  inWidth: number,
  C: number,
  outHeight: number,
  outWidth: number,
): void {
  // Rows or columns left over by an odd size belong to no window.
  if (outHeight * 2 !== inHeight || outWidth * 2 !== inWidth) dx.fill(0);
  const rowStride = inWidth * C;
  const imageStride = inHeight * rowStride;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const row = b * imageStride + 2 * oh * rowStride;
      for (let ow = 0; ow < outWidth; ow++) {
        const p = row + 2 * ow * C;
        const gBase = ((b * outHeight + oh) * outWidth + ow) * C;
        for (let c = 0; c < C; c++) {
          const i0 = p + c;
          const i1 = i0 + C;
          const i2 = i0 + rowStride;
          const i3 = i2 + C;
          const v0 = x[i0];
          const v1 = x[i1];
          const v2 = x[i2];
          const v3 = x[i3];
          // As in the cpu backend: start at −∞, only a strictly greater value wins (NaN never does).
          let m = -Infinity;
          let at = -1;
          if (v0 > m) {
            m = v0;
            at = i0;
          }
          if (v1 > m) {
            m = v1;
            at = i1;
          }
          if (v2 > m) {
            m = v2;
            at = i2;
          }
          if (v3 > m) {
            at = i3;
          }
          dx[i0] = 0;
          dx[i1] = 0;
          dx[i2] = 0;
          dx[i3] = 0;
          if (at >= 0) dx[at] = g[gBase + c];
        }
      }
    }
  }
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
