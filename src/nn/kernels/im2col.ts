/**
 * Patch extraction and its adjoint for 2-D NHWC convolutions, on flat Float32Arrays: the glue that
 * lets a convolution's gradients run as one XNNPACK matrix product when that is cheaper than a
 * convolution (see the cost model in conv2d_backprop_filter.ts and conv2d_backprop_input.ts).
 */

/** Geometry of a forward convolution x [N, H, W, C] → y [N, outH, outW, ·] with a kH x kW filter. */
export interface ConvGeometry {
  N: number;
  H: number;
  W: number;
  C: number;
  outH: number;
  outW: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  top: number;
  left: number;
}

/** The range [lo, hi) of output columns whose tap `k` lands inside [0, size). */
function validRange(k: number, stride: number, pad: number, size: number, outSize: number): [number, number] {
  const lo = Math.max(0, Math.ceil((pad - k) / stride));
  const hi = Math.min(outSize, Math.floor((size - 1 - k + pad) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

/**
 * Patches, transposed: dst[t, p] with t = (kh, kw, c) in the filter's [kH, kW, C] order and
 * p = (n, oh, ow); out-of-image taps are 0. Size kH·kW·C × N·outH·outW.
 */
export function im2colTransposed(x: Float32Array, g: ConvGeometry, dst: Float32Array): void {
  const { N, H, W, C, outH, outW, kH, kW, sH, sW, top, left } = g;
  const P = N * outH * outW;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const [lo, hi] = validRange(kw, sW, left, W, outW);
      for (let c = 0; c < C; c++) {
        const rowBase = ((kh * kW + kw) * C + c) * P;
        for (let n = 0; n < N; n++) {
          for (let oh = 0; oh < outH; oh++) {
            const d = rowBase + (n * outH + oh) * outW;
            const ih = oh * sH + kh - top;
            if (ih < 0 || ih >= H) {
              dst.fill(0, d, d + outW);
              continue;
            }
            if (lo > 0) dst.fill(0, d, d + lo);
            let s = ((n * H + ih) * W + lo * sW + kw - left) * C + c;
            const step = sW * C;
            for (let ow = lo; ow < hi; ow++, s += step) dst[d + ow] = x[s];
            if (hi < outW) dst.fill(0, d + hi, d + outW);
          }
        }
      }
    }
  }
}

/**
 * The adjoint of patch extraction: dx[n, ih, iw, c] = Σ cols[p, (kh, kw, c)] over the patches and taps
 * that read (ih, iw). cols is [N·outH·outW, kH·kW·C]; dx is overwritten. For one patch and filter
 * row, the in-image taps kw form one contiguous run in both arrays (kw·C + c on each side), so the
 * work is a few long additions of runs rather than per-tap bookkeeping.
 */
export function col2im(cols: Float32Array, g: ConvGeometry, dx: Float32Array): void {
  const { N, H, W, C, outH, outW, kH, kW, sH, sW, top, left } = g;
  const T = kH * kW * C;
  dx.fill(0);
  for (let ow = 0; ow < outW; ow++) {
    // Taps kw in [kwLo, kwHi) land inside the image for this output column.
    const iw0 = ow * sW - left;
    const kwLo = Math.max(0, -iw0);
    const kwHi = Math.min(kW, W - iw0);
    if (kwHi <= kwLo) continue;
    const run = (kwHi - kwLo) * C;
    for (let n = 0; n < N; n++) {
      for (let oh = 0; oh < outH; oh++) {
        const rowBase = ((n * outH + oh) * outW + ow) * T + kwLo * C;
        const ih0 = oh * sH - top;
        const khLo = Math.max(0, -ih0);
        const khHi = Math.min(kH, H - ih0);
        for (let kh = khLo; kh < khHi; kh++) {
          const d = ((n * H + ih0 + kh) * W + iw0 + kwLo) * C;
          const s = rowBase + kh * kW * C;
          for (let j = 0; j < run; j++) dx[d + j] += cols[s + j];
        }
      }
    }
  }
}

/**
 * {@link im2colTransposed} for 1-channel inputs and unit column stride, where every (tap, image,
 * output row) is one contiguous run of the input: the copies are done by a SIMD routine on the wasm
 * heap (`xPtr`, `dstPtr` byte offsets; `dst` views the destination, for the zero borders).
 */
export function im2colTransposedRuns(copyRuns: AddRuns, xPtr: number, g: ConvGeometry, dst: Float32Array, dstPtr: number): void {
  const { N, H, W, outH, outW, kH, kW, sH, top, left } = g;
  const P = N * outH * outW;
  for (let kh = 0; kh < kH; kh++) {
    const [ohLo, ohHi] = validRange(kh, sH, top, H, outH);
    for (let kw = 0; kw < kW; kw++) {
      const [lo, hi] = validRange(kw, 1, left, W, outW);
      const rowBase = (kh * kW + kw) * P;
      for (let n = 0; n < N; n++) {
        const image = rowBase + n * outH * outW;
        if (ohLo > 0 || ohHi < outH || lo > 0 || hi < outW) dst.fill(0, image, image + outH * outW);
        if (ohHi <= ohLo || hi <= lo) continue;
        const src = (n * H + ohLo * sH + kh - top) * W + lo + kw - left;
        copyRuns(dstPtr + 4 * (image + ohLo * outW + lo), xPtr + 4 * src, hi - lo, ohHi - ohLo, 4 * outW, 4 * sH * W);
      }
    }
  }
}

/** See `transposeRuns` in simd.ts. */
export type TransposeRuns = (src: number, dst: number, rows: number, cols: number, srcRowStride: number, dstColStride: number) => void;

/**
 * {@link im2colTransposed} for any channel count: for one (tap, image, output row) the in-image
 * pixels are a [columns, C] block of the input, written transposed into C rows of the result by a
 * wasm routine. With padding, the result is zeroed first and only in-image blocks are written.
 */
export function im2colTransposedBlocks(transposeRuns: TransposeRuns, xPtr: number, g: ConvGeometry, dst: Float32Array, dstPtr: number): void {
  const { N, H, W, C, outH, outW, kH, kW, sH, sW, top, left } = g;
  const P = N * outH * outW;
  let padded = false;
  for (let kh = 0; kh < kH && !padded; kh++) {
    const [a, b] = validRange(kh, sH, top, H, outH);
    padded = a > 0 || b < outH;
  }
  for (let kw = 0; kw < kW && !padded; kw++) {
    const [a, b] = validRange(kw, sW, left, W, outW);
    padded = a > 0 || b < outW;
  }
  if (padded) dst.fill(0);
  for (let kh = 0; kh < kH; kh++) {
    const [ohLo, ohHi] = validRange(kh, sH, top, H, outH);
    for (let kw = 0; kw < kW; kw++) {
      const [lo, hi] = validRange(kw, sW, left, W, outW);
      if (hi <= lo) continue;
      const row0 = (kh * kW + kw) * C * P;
      for (let n = 0; n < N; n++) {
        for (let oh = ohLo; oh < ohHi; oh++) {
          const src = ((n * H + oh * sH + kh - top) * W + lo * sW + kw - left) * C;
          const d = row0 + (n * outH + oh) * outW + lo;
          transposeRuns(xPtr + 4 * src, dstPtr + 4 * d, hi - lo, C, 4 * sW * C, 4 * P);
        }
      }
    }
  }
}

/** Adds `count` runs of `n` floats: dst += src, then both advance by their strides (bytes). */
export type AddRuns = (dst: number, src: number, n: number, count: number, dstStride: number, srcStride: number) => void;

/**
 * {@link col2im} with the additions done by a SIMD routine on the wasm heap: `colsPtr` and `dxPtr`
 * are byte offsets of cols and dx in the memory `dx` views; dx is overwritten.
 */
export function col2imRuns(addRuns: AddRuns, colsPtr: number, g: ConvGeometry, dx: Float32Array, dxPtr: number): void {
  const { N, H, W, C, outH, outW, kH, kW, sH, sW, top, left } = g;
  const T = kH * kW * C;
  dx.fill(0);
  const dxRowBytes = W * C * 4;
  const colsRowBytes = kW * C * 4;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * sH - top;
      const khLo = Math.max(0, -ih0);
      const khHi = Math.min(kH, H - ih0);
      if (khHi <= khLo) continue;
      for (let ow = 0; ow < outW; ow++) {
        const iw0 = ow * sW - left;
        const kwLo = Math.max(0, -iw0);
        const kwHi = Math.min(kW, W - iw0);
        if (kwHi <= kwLo) continue;
        const s = ((n * outH + oh) * outW + ow) * T + (khLo * kW + kwLo) * C;
        const d = ((n * H + ih0 + khLo) * W + iw0 + kwLo) * C;
        addRuns(dxPtr + 4 * d, colsPtr + 4 * s, (kwHi - kwLo) * C, khHi - khLo, dxRowBytes, colsRowBytes);
      }
    }
  }
}
