/**
 * Conv2DBackpropInput for the wasm backend, whose own kernel is a scalar loop (≈60% of an
 * input-gradient step). The input gradient of a convolution is a convolution of dy with the
 * spatially flipped filter whose in/out channels are swapped:
 *   dx = conv2d(dy↑, W'), W'[a, b, co, ci] = W[kH−1−a, kW−1−b, ci, co],
 * where dy↑ is dy with (stride − 1) zeros inserted between its pixels (only for strides > 1), padded
 * by kH−1−padTop above and by whatever makes the output exactly the input's height below (the same
 * for the width). That runs on XNNPACK's Conv2D — or, for a 1-channel input, as a depthwise
 * convolution per dy channel plus a channel sum, since a 1-wide product wastes 7 of XNNPACK's 8 lanes.
 * Forward paddings larger than the filter (only possible with explicit padding) would need negative
 * padding here; those layouts take the matrix-product route below.
 *
 * When that full convolution wastes much work — a 'valid' 5x5 filter on an 8x8 output computes a
 * 12x12 result from mostly zero padding — the gradient runs instead as one matrix product of exactly the forward's size, cols = dy · Wᵀ
 * ([N·outH·outW, kH·kW·inC]), followed by the adjoint of patch extraction (col2im, its additions
 * in SIMD wasm, see simd.ts). A cost model picks the cheaper.
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
import { col2im, col2imRuns, type ConvGeometry } from './im2col.js';
import { simdFor } from './simd.js';
import { convGradientStrategy } from './strategy.js';
import {
  allocate,
  batchMatMul,
  conv2d,
  depthwiseConv2d,
  originalConv2DBackpropInput,
  originalSum,
  pads,
  release,
  reshape,
  transpose,
  view,
} from './wasm_calls.js';

/** Costs (ns, CPU time) measured on the wasm backend on the MNIST and GTSRB layers. */
const NS_PER_MAC = 0.062;
const NS_PER_COL2IM_ELEMENT = 2.5;
/** col2im with the SIMD additions (see simd.ts), counting the traffic of the columns too. */
const NS_PER_COL2IM_ELEMENT_SIMD = 1.25;
const NS_PER_CHANNEL_SUM = 4;
/** XNNPACK's wasm GEMM computes output channels in groups of 8. */
const GEMM_LANES = 8;

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
  if (info.dataFormat !== 'channelsLast') return originalConv2DBackpropInput(backend, inputs, attrs as unknown as NamedAttrMap);
  const g: ConvGeometry = { N, H, W, C: inC, outH: oH, outW: oW, kH, kW, sH, sW, top: info.padInfo.top, left: info.padInfo.left };
  const convPossible = top >= 0 && left >= 0 && bottom >= 0 && right >= 0;
  let strategy = convGradientStrategy();
  if (strategy === 'auto' || (strategy === 'conv' && !convPossible)) {
    const macs = kH * kW * inC * outC;
    const lanes = Math.ceil(inC / GEMM_LANES) * GEMM_LANES;
    const convCost =
      inC === 1
        ? N * H * W * outC * (NS_PER_MAC * kH * kW + NS_PER_CHANNEL_SUM)
        : NS_PER_MAC * N * H * W * kH * kW * outC * lanes;
    const col2imNs = simdFor(backend) ? NS_PER_COL2IM_ELEMENT_SIMD : NS_PER_COL2IM_ELEMENT;
    const matmulCost = N * oH * oW * (NS_PER_MAC * macs + col2imNs * kH * kW * inC);
    strategy = convPossible && convCost <= matmulCost ? 'conv' : 'matmul';
  }
  if (strategy === 'matmul') return viaMatMul(backend, dy, filter, g, outC);

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

  let dx: TensorInfo;
  if (inC === 1) {
    // A 1-channel result would be a 1-wide product for XNNPACK (8 lanes, 1 used): run instead one
    // depthwise convolution per dy channel ([kH, kW, outC, 1] is exactly a depthwise filter) and
    // sum the channels (an innermost reduction, fast on wasm).
    const perChannel = depthwiseConv2d(backend, spread, flipped.info, pads(top, bottom, left, right));
    dx = originalSum(backend, { x: perChannel }, { axis: [3], keepDims: true });
    release(backend, perChannel);
  } else {
    dx = conv2d(backend, spread, flipped.info, pads(top, bottom, left, right));
  }
  release(backend, flipped.info);
  if (spread !== dy) release(backend, spread);
  return dx;
}

function viaMatMul(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry, outC: number): TensorInfo {
  const P = g.N * g.outH * g.outW;
  const T = g.kH * g.kW * g.C;
  const w2 = reshape(backend, filter, [T, outC]);
  const wT = transpose(backend, w2, [1, 0]); // [outC, kH·kW·inC]
  const dy2 = reshape(backend, dy, [P, outC]);
  const cols = batchMatMul(backend, dy2, wT, false, false); // [P, kH·kW·inC]
  release(backend, w2, wT, dy2);
  const dx = allocate(backend, [g.N, g.H, g.W, g.C]);
  const simd = simdFor(backend);
  if (simd) {
    col2imRuns(simd.addRuns, backend.getMemoryOffset(cols.dataId), g, view(backend, dx.info), backend.getMemoryOffset(dx.info.dataId));
  } else {
    col2im(view(backend, cols), g, dx.data);
  }
  release(backend, cols);
  return dx.info;
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
