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
 * that read (ih, iw). cols is [N·outH·outW, kH·kW·C]; dx is overwritten.
 */
export function col2im(cols: Float32Array, g: ConvGeometry, dx: Float32Array): void {
  const { N, H, W, C, outH, outW, kH, kW, sH, sW, top, left } = g;
  const T = kH * kW * C;
  dx.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const rowBase = ((n * outH + oh) * outW + ow) * T;
        for (let kh = 0; kh < kH; kh++) {
          const ih = oh * sH + kh - top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < kW; kw++) {
            const iw = ow * sW + kw - left;
            if (iw < 0 || iw >= W) continue;
            const d = ((n * H + ih) * W + iw) * C;
            const s = rowBase + (kh * kW + kw) * C;
            for (let c = 0; c < C; c++) dx[d + c] += cols[s + c];
          }
        }
      }
    }
  }
}
