/**
 * Conv2DBackpropInput for the wasm backend, whose own kernel is a scalar loop (≈60% of an
 * input-gradient step). The input gradient of a convolution is a convolution of dy with the
 * spatially flipped filter whose in/out channels are swapped:
 *   dx = conv2d(dy↑, W'), W'[a, b, co, ci] = W[kH−1−a, kW−1−b, ci, co],
 * where dy↑ is dy with (stride − 1) zeros inserted between its pixels (only for strides > 1), padded
 * by kH−1−padTop above and by whatever makes the output exactly the input's height below (the same
 * for the width). That runs on XNNPACK's Conv2D.
 * Forward paddings larger than the filter (only possible with explicit padding) would need negative
 * padding here; those rare layouts go to the backend's own kernel.
 */
import {
  backend_util,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { allocate, conv2d, originalConv2DBackpropInput, pads, release, view } from './wasm_calls.js';

export function conv2DBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat ?? 'NHWC'),
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: inC, outHeight: oH, outWidth: oW, outChannels: outC } = info;
  const { filterHeight: kH, filterWidth: kW, strideHeight: sH, strideWidth: sW } = info;
  const uH = (oH - 1) * sH + 1;
  const uW = (oW - 1) * sW + 1;
  const top = kH - 1 - info.padInfo.top;
  const left = kW - 1 - info.padInfo.left;
  const bottom = H - uH - top + kH - 1;
  const right = W - uW - left + kW - 1;
  if (info.dataFormat !== 'channelsLast' || top < 0 || left < 0 || bottom < 0 || right < 0) {
    return originalConv2DBackpropInput(backend, inputs, attrs as unknown as NamedAttrMap);
  }

  // W' = the filter flipped in space, with in and out channels swapped: [kH, kW, outC, inC].
  const flipped = allocate(backend, [kH, kW, outC, inC]);
  {
    const w = view(backend, filter);
    const f = flipped.data;
    for (let a = 0; a < kH; a++) {
      for (let b = 0; b < kW; b++) {
        const srcTap = ((kH - 1 - a) * kW + (kW - 1 - b)) * inC * outC;
        const dstTap = (a * kW + b) * outC * inC;
        for (let ci = 0; ci < inC; ci++) {
          for (let co = 0; co < outC; co++) f[dstTap + co * inC + ci] = w[srcTap + ci * outC + co];
        }
      }
    }
  }

  let spread = dy;
  if (sH > 1 || sW > 1) {
    const up = allocate(backend, [N, uH, uW, outC]);
    const u = up.data;
    u.fill(0);
    const g = view(backend, dy);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < oH; i++) {
        for (let j = 0; j < oW; j++) {
          const s = ((n * oH + i) * oW + j) * outC;
          u.set(g.subarray(s, s + outC), ((n * uH + i * sH) * uW + j * sW) * outC);
        }
      }
    }
    spread = up.info;
  }

  const dx = conv2d(backend, spread, flipped.info, pads(top, bottom, left, right));
  release(backend, flipped.info);
  if (spread !== dy) release(backend, spread);
  return dx;
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
