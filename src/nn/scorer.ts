/**
 * A classifier known only by its class scores — a user's ONNX model on the native engine — for the
 * steps that need nothing else (evaluation, the filter's and pruning's measurements).
 */
import type { ClassifierGraph } from '../graph/ir.js';

export interface BatchScorer {
  readonly kind: 'scorer';
  /** [height, width, channels] of one input. */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** The class scores [n, K] of n preprocessed NHWC images (logits or probabilities: only their order is used). */
  scores(x: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export function isScorer(model: object): model is BatchScorer {
  return (model as { kind?: unknown }).kind === 'scorer';
}

/** The graph's forward program on onnxruntime, as a {@link BatchScorer}. */
export async function graphScorer(graph: ClassifierGraph, options: { threads?: number } = {}): Promise<BatchScorer> {
  const { createForwardRunner, classCount } = await import('../graph/runtime.js');
  const runner = await createForwardRunner(graph, options);
  const [, H, W, C] = graph.input.shape;
  return {
    kind: 'scorer',
    inputShape: [H, W, C],
    numClasses: classCount(graph),
    async scores(x, n) {
      return (await runner.run(x, n)).out;
    },
    dispose: () => runner.dispose(),
  };
}

/** The index of each row's largest score (the first on ties, as tf.argMax). */
export function argMaxRows(scores: Float32Array, n: number): Int32Array {
  const K = scores.length / n;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (scores[i * K + k] > scores[i * K + best]) best = k;
    out[i] = best;
  }
  return out;
}
