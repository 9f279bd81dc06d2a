/**
 * The model's output and input gradient on onnxruntime's CPU kernels (the optional package
 * `onnxruntime-node`, whose native library ships inside the npm package): the fast path of the
 * trigger search. See onnx-export.ts for the graph.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { PoisonguardError } from '../errors.js';
import { exportInputGradientModel, UnsupportedModelError, type InputGradientLoss } from './onnx-export.js';
import { loadOrt, ONNXRUNTIME_PACKAGE } from '../graph/runtime.js';

export { ONNXRUNTIME_PACKAGE } from '../graph/runtime.js';

/** Where the model's forward and backward passes run during a trigger search. */
export const MODEL_ENGINES = ['auto', 'onnx', 'tfjs'] as const;
export type ModelEngineChoice = (typeof MODEL_ENGINES)[number];

/** One batch's results. */
export interface InputGradientResult {
  /** The model's output [N, K] (logits, or probabilities when it ends in softmax). */
  readonly out: Float32Array;
  /** d(classification loss)/d(input) [N, H, W, C]. */
  readonly dx: Float32Array;
}

export interface InputGradientModel {
  /** `x`: N preprocessed images (NHWC); `target`: the class every image should reach. */
  run(x: Float32Array, batch: number, target: number): Promise<InputGradientResult>;
  dispose(): Promise<void>;
}

/**
 * The ONNX engine for `model`, or the reason it cannot be used (onnxruntime-node missing, or a
 * layer the exporter does not know). One compute thread: scans run one engine per worker thread.
 */
export async function createInputGradientModel(model: tfl.LayersModel, loss: InputGradientLoss): Promise<InputGradientModel | { unavailable: string }> {
  const ort = await loadOrt();
  if ('error' in ort) return { unavailable: `${ONNXRUNTIME_PACKAGE} could not be loaded (${ort.error})` };
  let bytes: Uint8Array;
  try {
    bytes = exportInputGradientModel(model, loss);
  } catch (e) {
    if (e instanceof UnsupportedModelError) return { unavailable: e.message };
    throw e;
  }
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const [, H, W, C] = model.inputs[0].shape as number[];
  const K = (model.outputs[0].shape as number[])[1];
  const imageSize = H * W * C;
  return {
    async run(x, batch, target) {
      if (x.length !== batch * imageSize) {
        throw new PoisonguardError('shape-mismatch', `The ONNX engine got ${x.length} input values for ${batch} images of ${H}x${W}x${C}.`, { path: 'x' });
      }
      if (!Number.isInteger(target) || target < 0 || target >= K) {
        throw new PoisonguardError('shape-mismatch', `Target ${target} is not a class of this model (0..${K - 1}).`, { path: 'target' });
      }
      const onehot = new Float32Array(batch * K);
      for (let i = 0; i < batch; i++) onehot[i * K + target] = 1;
      const result = await session.run({
        x: new ort.Tensor('float32', x, [batch, H, W, C]),
        target: new ort.Tensor('float32', onehot, [batch, K]),
        scale: new ort.Tensor('float32', Float32Array.of(1 / batch), [1]),
      });
      const out = result.out.data as Float32Array;
      const dx = result.dx.data as Float32Array;
      return { out, dx };
    },
    dispose: () => session.release(),
  };
}

/** Which engine a scan's labels will use, and why (decided once, before the workers start). */
export interface ModelEngineDecision {
  readonly engine: 'onnx' | 'tfjs';
  readonly reason: string;
}

/**
 * 'auto': the ONNX engine when onnxruntime-node loads and the model exports, else TensorFlow.js;
 * 'onnx': the ONNX engine or an error saying why not; 'tfjs': TensorFlow.js.
 */
export async function resolveModelEngine(model: tfl.LayersModel, loss: InputGradientLoss, choice: ModelEngineChoice): Promise<ModelEngineDecision> {
  if (!(MODEL_ENGINES as readonly string[]).includes(choice)) {
    throw new PoisonguardError('unknown-name', `Unknown model engine '${String(choice)}'; expected one of ${MODEL_ENGINES.join(', ')}.`, {
      path: 'engine',
      expected: MODEL_ENGINES.join(' | '),
      received: choice,
    });
  }
  if (choice === 'tfjs') return { engine: 'tfjs', reason: 'asked for' };
  let why: string | undefined;
  const ort = await loadOrt();
  if ('error' in ort) why = `${ONNXRUNTIME_PACKAGE} could not be loaded (${ort.error})`;
  else {
    try {
      exportInputGradientModel(model, loss);
    } catch (e) {
      if (!(e instanceof UnsupportedModelError)) throw e;
      why = e.message;
    }
  }
  if (why === undefined) return { engine: 'onnx', reason: choice === 'onnx' ? 'asked for' : `${ONNXRUNTIME_PACKAGE} loaded and the model exports` };
  if (choice === 'onnx') {
    throw new PoisonguardError('invalid-option', `The ONNX engine cannot run this scan: ${why}. Use the engine 'tfjs' (or 'auto').`, { path: 'engine', received: choice });
  }
  return { engine: 'tfjs', reason: `the ONNX engine is unavailable: ${why}` };
}
