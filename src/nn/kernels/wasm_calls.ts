/**
 * Calls into the wasm backend's own (XNNPACK) kernels from inside a kernel, on TensorInfo only:
 * no tf.Tensor is created, and the caller disposes of every intermediate with {@link release}.
 *
 * The functions are captured from the kernel registry when the fixes are registered (see
 * `register.ts`), before any of them is overridden, so that a replaced kernel can still reach the
 * original it wraps (BatchMatMul calls the original non-transposed BatchMatMul).
 */
import { getKernel, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The wasm kernels the fixes are built from. */
const WRAPPED = ['Conv2D', 'Transpose', 'BatchMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Sum', 'DepthwiseConv2dNative', 'Cast'] as const;
type WrappedName = (typeof WRAPPED)[number];

const originals = new Map<WrappedName, KernelFunc>();

/** Remembers the wasm backend's own kernel functions; idempotent (the first capture wins). */
export function captureOriginalKernels(): void {
  for (const name of WRAPPED) {
    if (originals.has(name)) continue;
    const config = getKernel(name, 'wasm');
    if (config) originals.set(name, config.kernelFunc);
  }
}

function original(name: WrappedName): KernelFunc {
  const f = originals.get(name);
  if (!f) throw new Error(`The wasm backend has no ${name} kernel to build on (was captureOriginalKernels called?).`);
  return f;
}

function call(name: WrappedName, backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo {
  return original(name)({ inputs, backend, attrs }) as TensorInfo;
}

/** Explicit padding [[0,0],[top,bottom],[left,right],[0,0]] of a 2-D convolution. */
export type Pads = [[0, 0], [number, number], [number, number], [0, 0]];

export function pads(top: number, bottom: number, left: number, right: number): Pads {
  return [[0, 0], [top, bottom], [left, right], [0, 0]];
}

/** NHWC convolution with the wasm (XNNPACK) Conv2D; filter [kH, kW, inC, outC]. */
export function conv2d(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  pad: Pads | 'valid',
  dilations: [number, number] = [1, 1],
  strides: [number, number] = [1, 1],
): TensorInfo {
  return call('Conv2D', backend, { x, filter }, { strides, pad, dilations, dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as NamedAttrMap);
}

/** NHWC depthwise convolution with the wasm (XNNPACK) kernel; filter [kH, kW, C, multiplier]. */
export function depthwiseConv2d(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, pad: Pads): TensorInfo {
  return call('DepthwiseConv2dNative', backend, { x, filter }, { strides: [1, 1], pad, dilations: [1, 1], dataFormat: 'NHWC' } as unknown as NamedAttrMap);
}

export function transpose(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return call('Transpose', backend, { x }, { perm });
}

/** The original BatchMatMul; fast only when neither operand is transposed. */
export function batchMatMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  return call('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
}

/** The original, slow but correct, Conv2DBackpropInput (for layouts the fast path does not cover). */
export function originalConv2DBackpropInput(backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo {
  return call('Conv2DBackpropInput', backend, inputs, attrs);
}

/** The original Sum (innermost-axes reductions, via a transpose otherwise). */
export function originalSum(backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo {
  return call('Sum', backend, inputs, attrs);
}

/** The original Cast (a copy, converting the values). */
export function originalCast(backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo {
  return call('Cast', backend, inputs, attrs);
}

/** A view of the same data under another shape (shares the buffer; release it like any output). */
export function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

/** Disposes of intermediates. */
export function release(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** A new float32 output and a Float32Array view of it on the wasm heap (valid until the next allocation). */
export function allocate(backend: BackendWasm, shape: number[]): { info: TensorInfo; data: Float32Array } {
  const info = backend.makeOutput(shape, 'float32');
  return { info, data: backend.typedArrayFromHeap(info) as Float32Array };
}

/** The float32 data of an input, as a view of the wasm heap (valid until the next allocation). */
export function view(backend: BackendWasm, x: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(x) as Float32Array;
}
