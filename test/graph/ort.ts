/**
 * Runs an ONNX model on onnxruntime-node's CPU kernels (float32 in and out) for tests that compare
 * it with the float64 reference. onnxruntime-node is an optional dependency: `loadOrt` says why it
 * is missing so a test can skip with that reason.
 */
import type * as OrtTypes from 'onnxruntime-node';

export { loadOrt } from '../../src/graph/runtime.js';
import { loadOrt } from '../../src/graph/runtime.js';

export interface OrtFeed {
  data: ArrayLike<number>;
  dims: number[];
  /** 'float' (default) is fed as float32; 'int64' as BigInt64. */
  type?: 'float' | 'int64';
}

/**
 * One run of `bytes` on onnxruntime (one thread); every output as float64 numbers with its dims.
 * Graph optimisations are off unless asked for ('all' is what the engine's sessions use).
 */
export async function runOrt(
  bytes: Uint8Array,
  feeds: Record<string, OrtFeed>,
  outputs?: string[],
  optimization: 'disabled' | 'all' = 'disabled',
): Promise<Record<string, { data: Float64Array; dims: number[] }>> {
  const ort = await loadOrt();
  if ('error' in ort) throw new Error(`onnxruntime-node is not available: ${ort.error}`);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: optimization });
  try {
    const input: Record<string, OrtTypes.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      input[name] =
        f.type === 'int64'
          ? new ort.Tensor('int64', BigInt64Array.from(Array.from(f.data, (v) => BigInt(v))), f.dims)
          : new ort.Tensor('float32', Float32Array.from(f.data), f.dims);
    }
    const result = await session.run(input, outputs ?? session.outputNames);
    const out: Record<string, { data: Float64Array; dims: number[] }> = {};
    for (const [name, t] of Object.entries(result)) {
      const d = t.data as ArrayLike<number | bigint>;
      out[name] = { data: Float64Array.from(Array.from(d, (v) => Number(v))), dims: [...t.dims] };
    }
    return out;
  } finally {
    await session.release();
  }
}
