/**
 * Runs chunks of label optimisation on one engine: in the main thread (workers: 0) or inside a
 * scan worker, where each thread initialises its own engine and loads its own copy of the model.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { BackendChoice } from '../nn/engine.js';
import type { InputGradientModel } from '../nn/onnx-gradient.js';
import type { Preprocessing } from '../nn/preprocess.js';
import type { ReverseRecipe } from './recipe.js';
import type { ScanModelRef } from './scan-model.js';
import { runLabelSteps, type CleanImages, type LabelState, type StepProgress } from './reverse.js';

export interface RunnerInit {
  readonly model: ScanModelRef;
  readonly data: CleanImages;
  readonly preprocessing: Preprocessing;
  readonly recipe: ReverseRecipe;
  readonly numClasses: number;
  readonly backend: BackendChoice;
  /** Where the model's passes run (decided once by the scan: onnx-gradient.ts resolveModelEngine). */
  readonly modelEngine: 'onnx' | 'tfjs';
}

export interface ChunkTask {
  readonly state: LabelState;
  /** Steps to run at most in this chunk. */
  readonly steps: number;
  /** The label's step limit, when not the recipe's (fast mode's escalation continues past its budget). */
  readonly maxSteps?: number;
}

/**
 * Where a scan's label chunks run: this machine's worker threads by default, or elsewhere (the
 * zoo's job queue, src/zoo/) through scanModel's `labelEngines`. A chunk's result depends on
 * its task and the runner's init only, so any engine that runs {@link createLabelRunner}'s code
 * gives the same bits.
 */
export interface LabelEngines {
  exec(task: ChunkTask, onStep: (p: StepProgress) => void): Promise<LabelState>;
  close(): Promise<void>;
  /** Abandons the chunks in flight (the scan's halt signal). */
  halt(): void;
}

/** Starts the engines of a scan: the runner's init, and how many chunks the scan keeps in flight. */
export type LabelEngineFactory = (init: RunnerInit, lanes: number) => Promise<LabelEngines>;

export interface LabelRunner {
  /** The backend in use. */
  readonly backend: string;
  /** `signal` abandons the chunk at the next mini-batch (the state is then mid-step: discard it). */
  run(task: ChunkTask, onStep?: (p: StepProgress) => void, signal?: AbortSignal): Promise<LabelState>;
  dispose(): Promise<void>;
}

/** Initialises the engine (unless `initEngineHere` is false) and loads the model. */
export async function createLabelRunner(init: RunnerInit, initEngineHere = true): Promise<LabelRunner> {
  const { initEngine } = await import('../nn/engine.js');
  const tf = await import('@tensorflow/tfjs-core');
  const backend = initEngineHere ? (await initEngine({ backend: init.backend })).backend : tf.getBackend();
  let m: tfl.LayersModel | undefined;
  let gradient: InputGradientModel | undefined;
  let softmaxOutput: boolean;
  if (init.model.kind === 'onnx') {
    const { loadOnnxClassifier } = await import('../nn/onnx-model.js');
    const { createInputGradientRunner } = await import('../graph/runtime.js');
    const graph = loadOnnxClassifier(init.model.file, init.model.inputLayout, init.model.maxBytes);
    gradient = await createInputGradientRunner(graph, init.recipe.loss);
    softmaxOutput = graph.endsInSoftmax;
  } else {
    const { loadModel } = await import('../nn/model-io.js');
    m = (await loadModel(init.model.dir)).model;
    if (init.modelEngine === 'onnx') {
      const { createInputGradientModel } = await import('../nn/onnx-gradient.js');
      const created = await createInputGradientModel(m, init.recipe.loss);
      if ('unavailable' in created) throw new Error(`the ONNX engine failed in a scan worker: ${created.unavailable}`);
      gradient = created;
    }
    const { endsInSoftmax } = await import('./batch-engines.js');
    softmaxOutput = endsInSoftmax(m);
  }
  const { height, width, channels } = init.data;
  return {
    backend,
    run(task, onStep, signal) {
      const recipe = task.maxSteps === undefined ? init.recipe : { ...init.recipe, maxSteps: task.maxSteps };
      const ctx = {
        ...(m ? { model: m } : {}),
        softmaxOutput,
        inputShape: [height, width, channels] as const,
        data: init.data,
        preprocessing: init.preprocessing,
        recipe,
        numClasses: init.numClasses,
        ...(gradient ? { gradient } : {}),
      };
      return runLabelSteps(ctx, task.state, task.steps, onStep, signal);
    },
    async dispose() {
      await gradient?.dispose();
      m?.dispose();
    },
  };
}
