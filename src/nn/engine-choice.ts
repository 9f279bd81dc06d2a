/**
 * Where a model's forward and backward passes run, as the commands choose it (`--engine`): the
 * native graph engine on onnxruntime ('onnx'), TensorFlow.js ('tfjs'), or 'auto' (the native engine
 * when onnxruntime loads and the engine takes the model, else TensorFlow.js, with the reason
 * recorded). Kept free of TensorFlow.js so that the CLI's help can show it cheaply.
 */
export const MODEL_ENGINES = ['auto', 'onnx', 'tfjs'] as const;
export type ModelEngineChoice = (typeof MODEL_ENGINES)[number];
/** An engine that runs (what a result records). */
export type ModelEngineName = Exclude<ModelEngineChoice, 'auto'>;
/** Every neural command's default: the native engine where it can run. */
export const DEFAULT_MODEL_ENGINE: ModelEngineChoice = 'auto';

/** The `--engine` option's help for a command whose model runs `what` (e.g. 'forward and backward passes'). */
export function engineHelp(what: string): string {
  return `Where the model's ${what} run: auto (default: onnxruntime's CPU kernels when the native engine takes the model, else TF.js, with the reason recorded), onnx or tfjs.`;
}
