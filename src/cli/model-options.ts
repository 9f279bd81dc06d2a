/**
 * The options that describe a user's ONNX model, shared by every command that takes `--model`:
 * what the graph cannot say, stated once and saved in the model's sidecar (onnx-model.ts).
 */
import { OptionError } from '../errors.js';
import { DEFAULT_ONNX_INPUT_LAYOUT } from '../graph/layout.js';
import type { OnnxStatements } from '../nn/onnx-model.js';
import type { OptionTable } from './command.js';

export const ONNX_MODEL_OPTIONS = {
  'input-layout': {
    type: 'string',
    value: 'nchw|nhwc',
    help: `ONNX models: the input's layout (default ${DEFAULT_ONNX_INPUT_LAYOUT}, what torch.onnx.export writes); saved in the model's sidecar.`,
  },
  preprocess: {
    type: 'string',
    value: 'SPEC',
    help: "ONNX models: from raw pixels to the graph's input — unit (x/255), raw, mnist, inception, none (normalisation inside the graph: x/255 fed), or normalize:mean=a,b,c;std=d,e,f (torchvision's Normalize); saved in the sidecar.",
  },
  trigger: {
    type: 'string',
    value: 'SPEC',
    help: 'ONNX models: a known planted trigger, for the attack success rate — square:size=4,pos=bottom-right,target=7 or pattern:image=P.png,mask=M.png,target=7; saved in the sidecar.',
  },
  'class-names': { type: 'string', value: 'A,B,…', help: "ONNX models: the classes' names, in output order; saved in the sidecar." },
} as const satisfies OptionTable;

/** The flag of each statement's library option (OnnxStatements), to name it in errors. */
export const ONNX_STATEMENT_FLAGS: Readonly<Record<string, string>> = {
  inputLayout: '--input-layout',
  preprocessing: '--preprocess',
  dataset: '--dataset',
  classNames: '--class-names',
  'backdoor.trigger': '--trigger',
  'backdoor.target': '--trigger target',
};

type Values = { readonly [K in keyof typeof ONNX_MODEL_OPTIONS]?: string | undefined } & { readonly dataset?: string | undefined };

/** What the flags state about an ONNX model. */
export async function onnxStatements(v: Values): Promise<OnnxStatements> {
  const layout = v['input-layout'];
  if (layout !== undefined && layout !== 'nchw' && layout !== 'nhwc') throw new OptionError('--input-layout', 'nchw or nhwc', layout);
  const { parsePreprocessingSpec } = await import('../nn/preprocess.js');
  const { parseBackdoorSpec } = await import('../nn/backdoor-spec.js');
  const backdoor = v.trigger === undefined ? undefined : parseBackdoorSpec(v.trigger, '--trigger');
  const names = v['class-names']?.split(',').map((n) => n.trim());
  if (names?.some((n) => n === '')) throw new OptionError('--class-names', 'a comma-separated list of non-empty names', v['class-names']);
  return {
    ...(layout !== undefined ? { inputLayout: layout } : {}),
    ...(v.preprocess !== undefined ? { preprocessing: parsePreprocessingSpec(v.preprocess) } : {}),
    ...(v.dataset !== undefined ? { dataset: v.dataset } : {}),
    ...(names ? { classNames: names } : {}),
    ...(backdoor ? { backdoor: { trigger: backdoor.trigger, target: backdoor.target } } : {}),
  };
}

/** The flags above given for a model that is not ONNX (their values come from its metadata.json instead). */
export function onnxOnlyFlagsGiven(v: Values): string[] {
  return (Object.keys(ONNX_MODEL_OPTIONS) as (keyof typeof ONNX_MODEL_OPTIONS)[]).filter((k) => v[k] !== undefined).map((k) => `--${k}`);
}
