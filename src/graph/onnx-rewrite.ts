/**
 * A repaired model written back as the user gave it: the original ONNX file with some float
 * initializers replaced (pruned or fine-tuned weights), every other byte of the graph — names,
 * opset, metadata, the layout — kept, so that onnxruntime and PyTorch users load it as they loaded
 * the original. Replaced tensors are stored inline (a file that kept them as external data
 * becomes self-contained for them).
 */
import { DataFormatError } from '../errors.js';
import { UnsupportedGraphError } from './ir.js';
import { DT, onnx } from './onnx-values.js';

/**
 * `bytes` (an ONNX ModelProto) with the initializers named in `weights` set to those values. A
 * weight the file spells as an Identity of another initializer (torch.onnx.export shares equal
 * parameters so, e.g. two BatchNorm biases still at zero) or as a Constant node becomes an
 * initializer of its own, the node removed: fine-tuned, the two are no longer equal. `dimsOf`
 * gives such a weight's shape.
 */
export function replaceInitializers(bytes: Uint8Array, weights: ReadonlyMap<string, Float32Array>, file = 'model.onnx', dimsOf: (name: string) => readonly number[] | undefined = () => undefined): Uint8Array {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DataFormatError(file, `not an ONNX model (${e instanceof Error ? e.message : String(e)})`);
  }
  const byName = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  for (const [name, values] of weights) {
    let t = byName.get(name);
    if (t === undefined) {
      const nodes = model.graph?.node ?? [];
      const at = nodes.findIndex((n) => (n.output ?? [])[0] === name && (n.opType === 'Identity' || n.opType === 'Constant'));
      const dims = dimsOf(name);
      if (at < 0 || dims === undefined) throw new UnsupportedGraphError(`weight '${name}' is not an initializer of ${file} (the engine derived it), so the repaired value cannot be written back`);
      nodes.splice(at, 1);
      t = onnx.TensorProto.create({ name, dataType: DT.FLOAT, dims: [...dims] });
      model.graph!.initializer = [...(model.graph!.initializer ?? []), t];
      byName.set(name, t);
    }
    if (t.dataType !== DT.FLOAT) throw new UnsupportedGraphError(`initializer '${name}' of ${file} is not float32`);
    const count = (t.dims ?? []).reduce((p: number, d) => p * Number(d), 1);
    if (count !== values.length) throw new UnsupportedGraphError(`initializer '${name}' of ${file} holds ${count} values, the repaired weight ${values.length}`);
    const raw = new Uint8Array(values.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
    t.rawData = raw;
    t.floatData = [];
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  }
  return onnx.ModelProto.encode(model).finish();
}
