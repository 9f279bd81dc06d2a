/**
 * The model's output and input gradient on onnxruntime's CPU kernels (the optional package
 * `onnxruntime-node`, whose native library ships inside the npm package): the fast path of the
 * trigger search. See onnx-export.ts for the graph.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { PoisonguardError } from '../errors.js';
import { UnsupportedGraphError, type ClassifierGraph } from '../graph/ir.js';
import type { InputGradientLoss } from '../graph/programs.js';
import { createInputGradientRunner, loadOrt, ONNXRUNTIME_PACKAGE, type InputGradientRunner } from '../graph/runtime.js';
import { layersToGraph } from './layers-graph.js';

export { ONNXRUNTIME_PACKAGE } from '../graph/runtime.js';

import { MODEL_ENGINES, type ModelEngineChoice, type ModelEngineName } from './engine-choice.js';

export { MODEL_ENGINES, type ModelEngineChoice } from './engine-choice.js';

/** The ONNX engine of a trigger search: the graph runtime's input-gradient runner (NHWC inputs). */
export type InputGradientModel = InputGradientRunner;
export type { InputGradientResult } from '../graph/runtime.js';

/** The model as the engine's graph, or why the engine cannot take it. */
function graphOf(model: tfl.LayersModel): ClassifierGraph | { unavailable: string } {
  try {
    return layersToGraph(model).graph;
  } catch (e) {
    if (e instanceof UnsupportedGraphError) return { unavailable: e.message };
    throw e;
  }
}

/**
 * The ONNX engine for `model`, or the reason it cannot be used (onnxruntime-node missing, or a
 * layer the engine does not know). One compute thread: scans run one engine per worker thread.
 */
export async function createInputGradientModel(model: tfl.LayersModel, loss: InputGradientLoss): Promise<InputGradientModel | { unavailable: string }> {
  const ort = await loadOrt();
  if ('error' in ort) return { unavailable: `${ONNXRUNTIME_PACKAGE} could not be loaded (${ort.error})` };
  const graph = graphOf(model);
  if ('unavailable' in graph) return graph;
  return createInputGradientRunner(graph, loss);
}

/** Which engine a scan's labels (or a training) will use, and why (decided once, before the work starts). */
export interface ModelEngineDecision {
  readonly engine: ModelEngineName;
  readonly reason: string;
}

/**
 * 'auto': the ONNX engine when onnxruntime-node loads and the engine takes the model, else TensorFlow.js;
 * 'onnx': the ONNX engine or an error saying why not; 'tfjs': TensorFlow.js.
 */
export async function resolveModelEngine(model: tfl.LayersModel, choice: ModelEngineChoice, work = 'scan'): Promise<ModelEngineDecision> {
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
    const graph = graphOf(model);
    if ('unavailable' in graph) why = graph.unavailable;
  }
  if (why === undefined) return { engine: 'onnx', reason: choice === 'onnx' ? 'asked for' : `${ONNXRUNTIME_PACKAGE} loaded and the engine takes the model` };
  if (choice === 'onnx') {
    throw new PoisonguardError('invalid-option', `The ONNX engine cannot run this ${work}: ${why}. Use the engine 'tfjs' (or 'auto').`, { path: 'engine', received: choice });
  }
  return { engine: 'tfjs', reason: `the ONNX engine is unavailable: ${why}` };
}
