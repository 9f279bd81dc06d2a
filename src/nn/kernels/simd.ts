/**
 * A tiny hand-assembled WebAssembly module with 128-bit SIMD loops that run on the wasm backend's
 * own memory (imported, so no copies): the inner loops the kernels would otherwise run in JS at
 * ≈2 ns per float. It is built from the bytes below at first use; when the backend's memory is not
 * reachable or the runtime lacks SIMD, `simdFor` returns undefined and callers keep their JS loops.
 *
 * Exports (pointers are byte offsets into the backend's memory):
 * - addRuns(dst, src, n, count, dstStride, srcStride): `count` times, dst[0..n) += src[0..n) as
 *   float32, then dst += dstStride and src += srcStride (bytes). The additions of col2im, and of
 *   row sums (dstStride 0).
 * - copyRuns(…): the same with dst[0..n) = src[0..n). The copies of im2col for 1-channel inputs.
 * - transposeRuns(src, dst, rows, cols, srcRowStride, dstColStride): dst[c·dstColStride + 4r] =
 *   src[r·srcRowStride + 4c] (float32, byte strides): one patch row of im2col written transposed.
 * - maxPoolGrad2x2(x, dy, dx, N, inH, inW, outH, outW, C): the gradient of a 2x2, stride-2,
 *   unpadded max pool over NHWC float32 data with C a multiple of 4, four channels at a time. Each
 *   window's dy goes to its first maximum in row-major order, with the cpu backend's rule (running
 *   maximum from −∞, strictly greater wins, so NaN never wins); every position of every window is
 *   written (positions outside all windows are not touched).
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The functions of the SIMD module. */
export interface Simd {
  addRuns(dst: number, src: number, n: number, count: number, dstStride: number, srcStride: number): void;
  copyRuns(dst: number, src: number, n: number, count: number, dstStride: number, srcStride: number): void;
  transposeRuns(src: number, dst: number, rows: number, cols: number, srcRowStride: number, dstColStride: number): void;
  maxPoolGrad2x2(x: number, dy: number, dx: number, N: number, inH: number, inW: number, outH: number, outW: number, C: number): void;
}

// Opcodes used below.
const BLOCK = 0x02;
const LOOP = 0x03;
const VOID = 0x40;
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const GET = 0x20;
const SET = 0x21;
const I32_CONST = 0x41;
const I32_GE_S = 0x4e;
const I32_ADD = 0x6a;
const I32_AND = 0x71;
const I32_SHL = 0x74;
const F32_LOAD = [0x2a, 0x02, 0x00];
const F32_STORE = [0x38, 0x02, 0x00];
const F32_ADD = 0x92;
const V128_LOAD = [0xfd, 0x00, 0x00, 0x00];
const V128_STORE = [0xfd, 0x0b, 0x00, 0x00];
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const I32_MUL = 0x6c;
const F32_CONST_NEG_INF = [0x43, 0x00, 0x00, 0x80, 0xff];
const F32X4_SPLAT = [0xfd, 0x13];
const F32X4_GT = [0xfd, 0x44];
const V128_AND = [0xfd, 0x4e];
const V128_ANDNOT = [0xfd, 0x4f];
const V128_OR = [0xfd, 0x50];
const V128_BITSELECT = [0xfd, 0x52];
const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

/** addRuns (or copyRuns): params d, s, n, count, dStride, sStride; locals i, k, n4, off. */
function runsBody(add: boolean): number[] {
  const [d, s, n, count, dStride, sStride, i, k, n4, off] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const code = [
    // n4 = n & ~3
    GET, n, I32_CONST, 0x7c /* -4 */, I32_AND, SET, n4,
    BLOCK, VOID,
    LOOP, VOID,
    GET, k, GET, count, I32_GE_S, BR_IF, 1,
    I32_CONST, 0, SET, i,
    // vector part
    BLOCK, VOID,
    LOOP, VOID,
    GET, i, GET, n4, I32_GE_S, BR_IF, 1,
    GET, i, I32_CONST, 2, I32_SHL, SET, off,
    GET, d, GET, off, I32_ADD,
    ...(add ? [GET, d, GET, off, I32_ADD, ...V128_LOAD] : []),
    GET, s, GET, off, I32_ADD, ...V128_LOAD,
    ...(add ? F32X4_ADD : []),
    ...V128_STORE,
    GET, i, I32_CONST, 4, I32_ADD, SET, i,
    BR, 0,
    END,
    END,
    // scalar tail
    BLOCK, VOID,
    LOOP, VOID,
    GET, i, GET, n, I32_GE_S, BR_IF, 1,
    GET, i, I32_CONST, 2, I32_SHL, SET, off,
    GET, d, GET, off, I32_ADD,
    ...(add ? [GET, d, GET, off, I32_ADD, ...F32_LOAD] : []),
    GET, s, GET, off, I32_ADD, ...F32_LOAD,
    ...(add ? [F32_ADD] : []),
    ...F32_STORE,
    GET, i, I32_CONST, 1, I32_ADD, SET, i,
    BR, 0,
    END,
    END,
    // next run
    GET, d, GET, dStride, I32_ADD, SET, d,
    GET, s, GET, sStride, I32_ADD, SET, s,
    GET, k, I32_CONST, 1, I32_ADD, SET, k,
    BR, 0,
    END,
    END,
    END,
  ]; // prettier-ignore
  const locals = vector([[4, I32]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** `for (i = 0; i < limit; i += step) body` with i and limit locals (step a small constant). */
function forLoop(i: number, limit: number, step: number, body: number[], init: number[] = [I32_CONST, 0]): number[] {
  return [
    ...init, SET, i,
    BLOCK, VOID, LOOP, VOID,
    GET, i, GET, limit, I32_GE_S, BR_IF, 1,
    ...body,
    GET, i, I32_CONST, step, I32_ADD, SET, i,
    BR, 0,
    END, END,
  ]; // prettier-ignore
}

/** maxPoolGrad2x2: params x, g, dx, N, inH, inW, outH, outW, C (see the module comment). */
function maxPoolGrad2x2Body(): number[] {
  const [x, g, dx, N, inH, inW, outH, outW, C] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [b, oh, ow, c, cBytes, inRow, rowOff, o0, q, winOff] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const [v0, v1, v2, v3, m, gt0, gt1, gt2, gt3, gv, ninf] = [19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
  const load = (base: number, ...extra: number[]): number[] => [
    GET, base, GET, o0, I32_ADD, ...extra.flatMap((e) => [GET, e, I32_ADD]), ...V128_LOAD,
  ]; // prettier-ignore
  const addr = (base: number, ...extra: number[]): number[] => [GET, base, GET, o0, I32_ADD, ...extra.flatMap((e) => [GET, e, I32_ADD])];
  const inner = [
    GET, winOff, GET, c, I32_ADD, SET, o0,
    ...load(x), SET, v0,
    ...load(x, cBytes), SET, v1,
    ...load(x, inRow), SET, v2,
    ...load(x, inRow, cBytes), SET, v3,
    GET, q, ...V128_LOAD, SET, gv,
    // running maximum from −∞; gtK = "position K is strictly greater than everything before it"
    GET, v0, GET, ninf, ...F32X4_GT, SET, gt0,
    GET, v0, GET, ninf, GET, gt0, ...V128_BITSELECT, SET, m,
    GET, v1, GET, m, ...F32X4_GT, SET, gt1,
    GET, v1, GET, m, GET, gt1, ...V128_BITSELECT, SET, m,
    GET, v2, GET, m, ...F32X4_GT, SET, gt2,
    GET, v2, GET, m, GET, gt2, ...V128_BITSELECT, SET, m,
    GET, v3, GET, m, ...F32X4_GT, SET, gt3,
    // winner 3: gt3
    ...addr(dx, inRow, cBytes), GET, gv, GET, gt3, ...V128_AND, ...V128_STORE,
    // winner 2: gt2 & ~gt3
    ...addr(dx, inRow), GET, gv, GET, gt2, GET, gt3, ...V128_ANDNOT, ...V128_AND, ...V128_STORE,
    // winner 1: gt1 & ~gt2 & ~gt3
    ...addr(dx, cBytes), GET, gv, GET, gt1, GET, gt2, ...V128_ANDNOT, GET, gt3, ...V128_ANDNOT, ...V128_AND, ...V128_STORE,
    // winner 0: gt0 & ~(gt1 | gt2 | gt3)
    ...addr(dx), GET, gv, GET, gt0, GET, gt1, GET, gt2, ...V128_OR, GET, gt3, ...V128_OR, ...V128_ANDNOT, ...V128_AND, ...V128_STORE,
    GET, q, I32_CONST, 16, I32_ADD, SET, q,
  ]; // prettier-ignore
  const perColumn = [
    GET, rowOff, GET, ow, I32_CONST, 1, I32_SHL, GET, cBytes, I32_MUL, I32_ADD, SET, winOff,
    ...forLoop(c, cBytes, 16, inner),
  ]; // prettier-ignore
  const perRow = [
    GET, b, GET, inH, I32_MUL, GET, oh, I32_CONST, 1, I32_SHL, I32_ADD, GET, inRow, I32_MUL, SET, rowOff,
    ...forLoop(ow, outW, 1, perColumn),
  ]; // prettier-ignore
  const code = [
    GET, C, I32_CONST, 2, I32_SHL, SET, cBytes,
    GET, inW, GET, cBytes, I32_MUL, SET, inRow,
    ...F32_CONST_NEG_INF, ...F32X4_SPLAT, SET, ninf,
    GET, g, SET, q,
    ...forLoop(b, N, 1, forLoop(oh, outH, 1, perRow)),
    END,
  ]; // prettier-ignore
  const locals = vector([[10, I32], [11, V128]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** transposeRuns: params src, dst, rows, cols, srcRowStride, dstColStride; locals r, c, sp, dp. */
function transposeRunsBody(): number[] {
  const [src, dst, rows, cols, srcRowStride, dstColStride, r, c, sp, dp] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const inner = [
    GET, dp, GET, sp, ...F32_LOAD, ...F32_STORE,
    GET, sp, I32_CONST, 4, I32_ADD, SET, sp,
    GET, dp, GET, dstColStride, I32_ADD, SET, dp,
  ]; // prettier-ignore
  const perRow = [
    GET, src, GET, r, GET, srcRowStride, I32_MUL, I32_ADD, SET, sp,
    GET, dst, GET, r, I32_CONST, 2, I32_SHL, I32_ADD, SET, dp,
    ...forLoop(c, cols, 1, inner),
  ]; // prettier-ignore
  const code = [...forLoop(r, rows, 1, perRow), END];
  const body = [...vector([[4, I32]]), ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array {
  const addRunsType = [0x60, ...vector(Array.from({ length: 6 }, () => [I32])), 0x00];
  const poolType = [0x60, ...vector(Array.from({ length: 9 }, () => [I32])), 0x00];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector([addRunsType, poolType])),
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vector([[0x00], [0x01], [0x00], [0x00]])),
    ...section(7, vector([
      [...name('addRuns'), 0x00, 0x00],
      [...name('maxPoolGrad2x2'), 0x00, 0x01],
      [...name('copyRuns'), 0x00, 0x02],
      [...name('transposeRuns'), 0x00, 0x03],
    ])),
    ...section(10, vector([runsBody(true), maxPoolGrad2x2Body(), runsBody(false), transposeRunsBody()])),
  ]; // prettier-ignore
  return new Uint8Array(bytes);
}

/** The parts of the WebAssembly API used here (the project's TypeScript lib has no DOM types). */
interface WasmApi {
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const cache = new WeakMap<object, Simd | null>();

/** The SIMD helpers bound to the backend's memory, or undefined when unavailable. */
export function simdFor(backend: BackendWasm): Simd | undefined {
  const memory = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm?.memory;
  if (!(memory instanceof wasmApi.Memory)) return undefined;
  let simd = cache.get(memory);
  if (simd === undefined) {
    try {
      const instance = new wasmApi.Instance(new wasmApi.Module(moduleBytes()), { env: { memory } });
      simd = instance.exports as unknown as Simd;
    } catch {
      simd = null;
    }
    cache.set(memory, simd);
  }
  return simd ?? undefined;
}
