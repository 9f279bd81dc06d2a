/**
 * Conv2DBackpropFilter for the wasm backend, which has none (training any conv net fails there).
 *
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·s + kh − padTop, ow·s + kw − padLeft, ci] · dy[n, oh, ow, co]
 *
 * Two exact formulations, both on XNNPACK, chosen per shape by a cost model:
 * - 'conv': conv2d(X', F') with X' = x transposed to [inC, H, W, N] (input channels become the batch,
 *   the batch becomes the channels), F' = dy transposed to [outH, outW, N, outC] as the filter,
 *   dilation = the forward stride, the forward padding; the output [inC, ≥kH, ≥kW, outC] is cropped
 *   and transposed to [kH, kW, inC, outC]. No patch copy, but the backend re-packs the filter
 *   (= dy) through a slow strided transpose on every call (≈10 ns per element of dy).
 * - 'matmul': dW as [kH·kW·inC, outC] = Pᵀ · dy, with Pᵀ the transposed patch matrix (built by
 *   small wasm routines, simd.ts, or in JS without them) and dy read as [N·outH·outW, outC] in
 *   place; the product lands directly in the filter's layout. The backend packs dy (≈4 ns/element).
 */
import { backend_util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { im2colTransposed, im2colTransposedBlocks, im2colTransposedRuns, type ConvGeometry } from './im2col.js';
import { simdFor } from './simd.js';
import { convGradientStrategy } from './strategy.js';
import { allocate, batchMatMul, conv2d, pads, release, reshape, transpose, view } from './wasm_calls.js';

/**
 * Per-element costs (ns, CPU time) measured on the wasm backend on the MNIST and GTSRB layers, for
 * the choice of formulation; the multiply-adds are the same in both and left out.
 */
const NS_PER_FILTER_PACK_ELEMENT = 10;
const NS_PER_TRANSPOSED_ELEMENT = 4;
/** Patch copies: few channels read almost contiguously; many channels read with a large stride. */
const NS_PER_PATCH_ELEMENT_FEW_CHANNELS = 1.5;
const NS_PER_PATCH_ELEMENT = 4;
const FEW_CHANNELS = 4;
/** 1-channel inputs with unit column stride: patch rows are contiguous runs, copied in SIMD. */
const NS_PER_PATCH_ELEMENT_SIMD_RUNS = 0.3;
/** Other inputs with the wasm block transpose: ≈ this / (output columns) ns per element. */
const NS_PATCH_BLOCK_SCALE = 14;
const NS_PER_WEIGHT_PACK_ELEMENT = 4;

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
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
  const g: ConvGeometry = {
    N: info.batchSize,
    H: info.inHeight,
    W: info.inWidth,
    C: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    kH: info.filterHeight,
    kW: info.filterWidth,
    sH: info.strideHeight,
    sW: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
  const P = g.N * g.outH * g.outW;
  const taps = g.kH * g.kW * g.C;
  const outC = info.outChannels;
  let strategy = convGradientStrategy();
  if (strategy === 'auto') {
    const convCost = NS_PER_FILTER_PACK_ELEMENT * P * outC + NS_PER_TRANSPOSED_ELEMENT * (g.N * g.H * g.W * g.C + P * outC);
    const simd = simdFor(backend) !== undefined;
    const patchNs = !simd
      ? g.C <= FEW_CHANNELS
        ? NS_PER_PATCH_ELEMENT_FEW_CHANNELS
        : NS_PER_PATCH_ELEMENT
      : g.C === 1 && g.sW === 1
        ? NS_PER_PATCH_ELEMENT_SIMD_RUNS
        : NS_PATCH_BLOCK_SCALE / g.outW;
    const matmulCost = patchNs * P * taps + NS_PER_WEIGHT_PACK_ELEMENT * P * outC;
    strategy = matmulCost < convCost ? 'matmul' : 'conv';
  }
  return strategy === 'matmul' ? viaMatMul(backend, x, dy, g, outC) : viaConv(backend, x, dy, g, outC);
}

function viaMatMul(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry, outC: number): TensorInfo {
  const P = g.N * g.outH * g.outW;
  const taps = g.kH * g.kW * g.C;
  const patches = allocate(backend, [taps, P]);
  const simd = simdFor(backend);
  const at = (info: TensorInfo): number => backend.getMemoryOffset(info.dataId);
  if (simd && g.C === 1 && g.sW === 1) {
    im2colTransposedRuns(simd.copyRuns, at(x), g, view(backend, patches.info), at(patches.info));
  } else if (simd) {
    im2colTransposedBlocks(simd.transposeRuns, at(x), g, view(backend, patches.info), at(patches.info));
  } else {
    im2colTransposed(view(backend, x), g, patches.data);
  }
  const dy2 = reshape(backend, dy, [P, outC]);
  const out = batchMatMul(backend, patches.info, dy2, false, false);
  release(backend, patches.info, dy2);
  return { ...out, shape: [g.kH, g.kW, g.C, outC] };
}

function viaConv(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry, outC: number): TensorInfo {
  const { H, W, C, outH, outW, kH, kW, sH, sW, top, left } = g;
  // Pad the far side only as much as the last tap needs; the forward pad may be larger.
  const bottom = Math.max(0, (outH - 1) * sH + kH - H - top);
  const right = Math.max(0, (outW - 1) * sW + kW - W - left);
  const xT = transpose(backend, x, [3, 1, 2, 0]); // [inC, H, W, N]
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [outH, outW, N, outC]
  const raw = conv2d(backend, xT, dyT, pads(top, bottom, left, right), [sH, sW]); // [inC, rH, rW, outC]
  release(backend, xT, dyT);
  const [, rH, rW] = raw.shape;

  // Crop to [inC, kH, kW, outC] and transpose to [kH, kW, inC, outC] in one pass.
  const out = allocate(backend, [kH, kW, C, outC]);
  const src = view(backend, raw);
  const dst = out.data;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      for (let ci = 0; ci < C; ci++) {
        const s = ((ci * rH + kh) * rW + kw) * outC;
        dst.set(src.subarray(s, s + outC), ((kh * kW + kw) * C + ci) * outC);
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
