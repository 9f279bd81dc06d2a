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
