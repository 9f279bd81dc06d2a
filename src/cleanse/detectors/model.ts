/**
 * What the detectors beside Neural Cleanse ask of a model, whatever its kind: logits of raw images,
 * the input gradient of a linear function of the logits (MM-BD's margin), and the second-to-last
 * layer's activations (spectral signatures, activation clustering). Everything is in the raw pixel
 * domain (0..255, NHWC), so that a detector never sees the model's preprocessing: the affine
 * preprocessing is applied here and the chain rule carries the gradient back through it.
 *
 * Two engines, as the scan's: the graph engine on onnxruntime (a user's ONNX model, or a TF.js model
 * the engine takes — scan-model.ts decides which), and TensorFlow.js for the rest.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ClassifierGraph } from '../../graph/ir.js';
import { affine, preprocessInto, type Preprocessing } from '../../nn/preprocess.js';
import type { ScanModel } from '../scan-model.js';

/** Images per forward or backward pass (memory only: the results do not depend on it). */
export const DETECTOR_BATCH = 128;

export interface DetectorModel {
  /** [height, width, channels] of one input. */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** Which engine runs the passes. */
  readonly engine: 'onnx' | 'tfjs';
  /**
   * Logits [n, K] of n raw images (floats in 0..255, NHWC). A TF.js model ending in softmax gives
   * log probabilities, which differ from its logits by a constant per row: differences of logits
   * (margins) and softmax are the same.
   */
  logits(raw: Float32Array, n: number): Promise<Float32Array>;
  /**
   * The logits and d(Σ coefficients·logits)/d(raw) for n raw images; `coefficients` is [n, K]. With
   * rows summing to 0 (a margin's +1 and −1) the log probabilities of a softmax model give the same gradient.
   */
  logitGradient(raw: Float32Array, n: number, coefficients: Float32Array): Promise<{ logits: Float32Array; dRaw: Float32Array }>;
  /** The second-to-last layer's activations of n raw images: n × units (a convolution's: the mean over its map). */
  features(raw: Uint8Array, n: number): Promise<{ units: number; values: Float32Array }>;
  dispose(): Promise<void>;
}

/** Multiplies a preprocessed-domain gradient by the preprocessing's per-channel slope, in place. */
function toRawGradient(dx: Float32Array, a: Float64Array, channels: number): Float32Array {
  for (let i = 0; i < dx.length; i++) dx[i] *= a[i % channels];
  return dx;
}

function preprocessFloats(raw: Float32Array, channels: number, p: Preprocessing): Float32Array {
  const { a, b } = affine(p, channels);
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i] * a[i % channels] + b[i % channels];
  return out;
}

/** Runs `f` over batches of at most {@link DETECTOR_BATCH} images and concatenates the rows. */
async function batched(n: number, rowSize: (count: number) => number, f: (start: number, count: number) => Promise<Float32Array>): Promise<Float32Array> {
  if (n <= DETECTOR_BATCH) return f(0, n);
  const parts: Float32Array[] = [];
  for (let s = 0; s < n; s += DETECTOR_BATCH) parts.push(await f(s, Math.min(DETECTOR_BATCH, n - s)));
  const out = new Float32Array(rowSize(n));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The graph engine's detector model (onnxruntime). */
export async function graphDetectorModel(graph: ClassifierGraph, preprocessing: Preprocessing): Promise<DetectorModel> {
  const { createForwardRunner, createLogitGradientRunner, classCount } = await import('../../graph/runtime.js');
  const { resolveOnnxLayer } = await import('../mitigation/onnx-net.js');
  const [, H, W, C] = graph.input.shape as number[];
  const K = classCount(graph);
  const size = H * W * C;
  const { a } = affine(preprocessing, C);
  const layer = resolveOnnxLayer(graph, 'penultimate', 'filter').layer;
  // A model ending in softmax: its logits are the softmax's input, read as an activation (the log of
  // onnxruntime's softmax is off by ≈1e-5, enough to bend a finite difference).
  const logitsValue = graph.endsInSoftmax ? graph.nodes[graph.nodes.length - 1].inputs[0] : undefined;
  const forward = await createForwardRunner(graph, { activations: logitsValue && logitsValue !== layer.name ? [layer.name, logitsValue] : [layer.name] });
  const gradient = await createLogitGradientRunner(graph);
  return {
    inputShape: [H, W, C],
    numClasses: K,
    engine: 'onnx',
    logits: (raw, n) =>
      batched(n, (m) => m * K, async (s, m) => {
        const r = await forward.run(preprocessFloats(raw.subarray(s * size, (s + m) * size), C, preprocessing), m);
        return (logitsValue ? r.activations[logitsValue] : r.out).slice();
      }),
    async logitGradient(raw, n, coefficients) {
      const r = await gradient.run(preprocessFloats(raw.subarray(0, n * size), C, preprocessing), n, coefficients);
      return { logits: r.out.slice(), dRaw: toRawGradient(r.dx.slice(), a, C) };
    },
    async features(raw, n) {
      const units = layer.units;
      const spatial = layer.featureShape.slice(1).reduce((p, d) => p * d, 1);
      const values = await batched(n, (m) => m * units, async (s, m) => {
        const x = preprocessInto(raw.subarray(s * size, (s + m) * size), C, preprocessing, new Float32Array(m * size));
        const act = (await forward.run(x, m)).activations[layer.name];
        if (layer.kind === 'dense') return act.slice();
        // [m, channels, h, w] (the graph's layout): a channel's activation is the mean over its map.
        const per = new Float32Array(m * units);
        for (let i = 0; i < m * units; i++) {
          let sum = 0;
          for (let k = 0; k < spatial; k++) sum += act[i * spatial + k];
          per[i] = sum / spatial;
        }
        return per;
      });
      return { units, values };
    },
    async dispose() {
      await forward.dispose();
      await gradient.dispose();
    },
  };
}

/** The TensorFlow.js detector model, for TF.js models the graph engine does not take. */
export async function tfjsDetectorModel(model: tfl.LayersModel, preprocessing: Preprocessing): Promise<DetectorModel> {
  const tf = await import('@tensorflow/tfjs-core');
  const { endsInSoftmax } = await import('../batch-engines.js');
  const { resolveLayer, computeFeatures } = await import('../mitigation/layers.js');
  const [, H, W, C] = model.inputs[0].shape as number[];
  const K = model.outputs[0].shape[1] as number;
  const size = H * W * C;
  const softmax = endsInSoftmax(model);
  const { a, b } = affine(preprocessing, C);
  const aT = tf.tensor1d(Float32Array.from(a));
  const bT = tf.tensor1d(Float32Array.from(b));
  const logitsOf = (raw: import('@tensorflow/tfjs-core').Tensor4D) => {
    const out = model.apply(tf.add(tf.mul(raw, aT), bT), { training: false }) as import('@tensorflow/tfjs-core').Tensor2D;
    return softmax ? tf.log(tf.maximum(out, 1.1754943508222875e-38)) : out;
  };
  const layer = resolveLayer(model, 'penultimate');
  return {
    inputShape: [H, W, C],
    numClasses: K,
    engine: 'tfjs',
    logits: (raw, n) =>
      batched(n, (m) => m * K, async (s, m) => {
        const t = tf.tidy(() => logitsOf(tf.tensor4d(raw.subarray(s * size, (s + m) * size), [m, H, W, C])));
        const v = (await t.data()) as Float32Array;
        t.dispose();
        return v;
      }),
    async logitGradient(raw, n, coefficients) {
      const [lg, dx] = tf.tidy(() => {
        const x = tf.tensor4d(raw.subarray(0, n * size), [n, H, W, C]);
        const coef = tf.tensor2d(coefficients, [n, K]);
        const f = (xi: import('@tensorflow/tfjs-core').Tensor) => tf.sum(tf.mul(logitsOf(xi as import('@tensorflow/tfjs-core').Tensor4D), coef));
        return [logitsOf(x), tf.grad(f)(x)];
      });
      const out = { logits: (await lg.data()) as Float32Array, dRaw: (await dx.data()) as Float32Array };
      lg.dispose();
      dx.dispose();
      return out;
    },
    async features(raw, n) {
      const f = await computeFeatures(model, layer, raw.subarray(0, n * size), [H, W, C], preprocessing);
      return { units: layer.units, values: f.perNeuron };
    },
    async dispose() {
      aT.dispose();
      bT.dispose();
      model.dispose();
    },
  };
}

/** The detector model of a scan's model, on the engine the scan decided for it. */
export async function openDetectorModel(model: ScanModel): Promise<DetectorModel> {
  if (model.ref.kind === 'onnx') {
    const { loadOnnxClassifier } = await import('../../nn/onnx-model.js');
    return graphDetectorModel(loadOnnxClassifier(model.ref.file, model.ref.inputLayout, model.ref.maxBytes), model.preprocessing);
  }
  const { loadModel } = await import('../../nn/model-io.js');
  const loaded = (await loadModel(model.ref.dir)).model;
  if (model.modelEngine.engine === 'onnx') {
    const { layersToGraph } = await import('../../nn/layers-graph.js');
    try {
      return await graphDetectorModel(layersToGraph(loaded).graph, model.preprocessing);
    } finally {
      loaded.dispose();
    }
  }
  return tfjsDetectorModel(loaded, model.preprocessing);
}
