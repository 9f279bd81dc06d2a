/**
 * Conv2DBackpropFilter for the wasm backend, which has none (training any conv net fails there).
 *
 * The filter gradient is itself a convolution, so it runs on the fast XNNPACK Conv2D:
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·s + kh − padTop, ow·s + kw − padLeft, ci] · dy[n, oh, ow, co]
 * is conv2d(X', F') with X' = x transposed to [inC, H, W, N] (input channels become the batch, the
 * batch becomes the channels), F' = dy transposed to [outH, outW, N, outC] as the filter, dilation =
 * the forward stride and the forward padding; its output [inC, ≥kH, ≥kW, outC] is cropped to the
 * filter size and transposed back to [kH, kW, inC, outC].
 */
import { backend_util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, conv2d, pads, release, transpose, view } from './wasm_calls.js';

export function conv2DBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`Conv2DBackpropFilter on wasm supports only NHWC, but got ${dataFormat}.`);
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight: kH, filterWidth: kW, strideHeight: sH, strideWidth: sW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Pad the far side only as much as the last tap needs; the forward pad may be larger.
  const bottom = Math.max(0, (outHeight - 1) * sH + kH - inHeight - top);
  const right = Math.max(0, (outWidth - 1) * sW + kW - inWidth - left);

  const xT = transpose(backend, x, [3, 1, 2, 0]); // [inC, H, W, N]
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [outH, outW, N, outC]
  const raw = conv2d(backend, xT, dyT, pads(top, bottom, left, right), [sH, sW]); // [inC, rH, rW, outC]
  release(backend, xT, dyT);
  const [, rH, rW] = raw.shape;

  // Crop to [inC, kH, kW, outC] and transpose to [kH, kW, inC, outC] in one pass.
  const out = allocate(backend, [kH, kW, inChannels, outChannels]);
  const src = view(backend, raw);
  const dst = out.data;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      for (let ci = 0; ci < inChannels; ci++) {
        const s = ((ci * rH + kh) * rW + kw) * outChannels;
        dst.set(src.subarray(s, s + outChannels), ((kh * kW + kw) * inChannels + ci) * outChannels);
      }
    }
  }
  release(backend, raw);
  return out.info;
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
