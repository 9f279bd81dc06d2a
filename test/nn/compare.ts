/** Runs the same computation on the cpu and wasm backends and compares the results. */
import * as tf from '@tensorflow/tfjs-core';
import { Random } from '../../src/random.js';
import { initEngine } from '../../src/nn/engine.js';

let ready: Promise<void> | undefined;

/** Initializes wasm (with the fixes) and cpu once. */
export function initBoth(): Promise<void> {
  ready ??= (async () => {
    await initEngine({ backend: 'cpu' });
    await initEngine({ backend: 'wasm' });
  })();
  return ready;
}

/** Standard normal values (seeded). */
export function randn(rng: Random, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Runs `f` on `backend` and returns the data of its outputs; every tensor is disposed. */
export async function runOn(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const data = list.map((t) => t.dataSync() as Float32Array);
  tf.dispose(list);
  return data;
}

/** max |a − b| / max |b| (0 when both are 0). */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) diff = d; // NaN propagates
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Runs `f` on wasm and cpu; returns the worst relative error over its outputs (cpu = reference). */
export async function compareBackends(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const ref = await runOn('cpu', f);
  const got = await runOn('wasm', f);
  let worst = 0;
  ref.forEach((r, i) => {
    const e = relativeError(got[i], r);
    worst = Number.isNaN(e) || e > worst ? e : worst;
  });
  return worst;
}
